"""``ppml-az`` command line. Each command group lives in its own module exposing ``register(subparsers)``."""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from .. import __version__
from ..errors import PpmlError

COMMAND_MODULES = ("keys", "crypt", "table", "bundle", "tpch", "demo", "shim", "submit")


_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


def _key(flag: str) -> str:
    """A flag as compared for suggestions: case, dashes, underscores ignored (``--primarykey`` ~ ``--primary-key``)."""
    return flag.lstrip("-").replace("-", "").replace("_", "").lower()


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose unknown flags get the usage of the command they were given to and a suggestion.

    argparse hands a subcommand's unknown arguments up to the top-level parser, which prints the top-level usage
    and no hint. Here the (sub)command that saw them reports them itself, with the closest of its own flags
    (difflib, as the data source does for options): ``--primarykey`` -> ``did you mean --primary-key?``. Hidden
    aliases (BigDL's spellings) count as matches but the suggestion names the documented flag.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> Any:
        self._given = list(sys.argv[1:] if args is None else args)
        self._extras: list[str] | None = None
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self._extras = extras
            if self._is_subcommand():
                self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def _is_subcommand(self) -> bool:
        return self.prog != "ppml-az"

    def error(self, message: str) -> NoReturn:
        extras = getattr(self, "_extras", None)
        if extras is not None:  # what argparse left over: the unknown flags are among them
            unknown = [e.split("=", 1)[0] for e in extras if e.startswith("--")]
        else:  # another error (a missing argument) may come from a misspelt flag: name that first
            unknown = self._unknown_flags()
        if unknown:
            message = f"unrecognized argument{'s' if len(unknown) > 1 else ''}: {' '.join(unknown)}"
        hints = [h for h in (self.suggest(flag) for flag in unknown) if h]
        choice = _INVALID_CHOICE.search(message)
        if choice and not unknown:
            close = difflib.get_close_matches(choice[1], [c.strip("'") for c in choice[2].split(", ")], n=1)
            hints += [f"did you mean {close[0]}?"] if close else []
        super().error("; ".join([message, *hints]))

    def _flags(self) -> dict[str, str]:
        """Every option string of this parser -> the documented flag it stands for."""
        visible: dict[str, str] = {}
        for action in self._actions:
            longs = [o for o in action.option_strings if o.startswith("--")]
            if longs and action.help != argparse.SUPPRESS:
                visible.setdefault(action.dest, longs[0])
        flags: dict[str, str] = {}
        for action in self._actions:
            for option in action.option_strings:
                flags[option] = visible.get(action.dest, option)
        return flags

    def _unknown_flags(self) -> list[str]:
        """Flags among the given arguments that are none of this parser's (nor an abbreviation argparse takes).

        With a trailing ``REMAINDER`` (submit's application arguments) or subcommands, only the part before the
        first positional is ours; an unknown flag is assumed to take a value there."""
        flags = self._flags()
        takes_value = {o for a in self._actions if a.nargs != 0 for o in a.option_strings}
        remainder = any(a.nargs in (argparse.REMAINDER, argparse.PARSER) for a in self._actions)
        unknown: list[str] = []
        tokens = iter(getattr(self, "_given", []))
        for token in tokens:
            if token == "--":
                break
            if not token.startswith("-"):
                if remainder:
                    break
                continue
            name = token.split("=", 1)[0]
            known = name in flags or any(f.startswith(name) for f in flags if name.startswith("--"))
            if not known and name.startswith("--"):
                unknown.append(name)
            if "=" not in token and (not known or name in takes_value) and remainder:
                next(tokens, None)  # its value
        return unknown

    def suggest(self, flag: str) -> str:
        """``did you mean --primary-key?`` for a misspelt flag of this parser (empty when nothing is close)."""
        flags = self._flags()
        by_key: dict[str, str] = {}
        for option, documented in flags.items():
            if option.startswith("--"):
                by_key.setdefault(_key(option), documented)
        close = difflib.get_close_matches(_key(flag), list(by_key), n=1, cutoff=0.75)
        return f"did you mean {by_key[close[0]]}?" if close else ""


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="ppml-az",
        description="Encrypt, decrypt and inspect data for encrypted Spark on Azure (BigDL PPML compatible).",
    )
    parser.add_argument("--version", action="version", version=f"ppml-az {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    warnings.formatwarning = _one_line_warning
    try:
        return int(args.func(args) or 0)
    except PpmlError as exc:
        print(f"ppml-az: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        done, total, hint = (getattr(exc, name, None) for name in ("done", "total", "hint"))
        if done is None:
            print("ppml-az: interrupted", file=sys.stderr)
        elif hint:  # filecrypt.Interrupted from a command that can resume
            print(f"ppml-az: interrupted; {hint} ({done} of {total} files done)", file=sys.stderr)
        else:
            print(f"ppml-az: interrupted ({done} of {total} files done)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ppml-az inspect DIR | head`: the reader left; not an error worth a traceback
        sys.stderr.close()
        return 0
    except OSError as exc:  # a path the checks above did not foresee: still one line naming it, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"ppml-az: error: {where}{exc.strerror or type(exc).__name__}", file=sys.stderr)
        return 1


def _one_line_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """Warnings on the command line are one line each, like errors (no source file and line)."""
    return f"ppml-az: warning: {message}\n"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
