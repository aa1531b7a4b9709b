"""``ppml-az`` command line. Each command group lives in its own module exposing ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from .. import __version__
from ..errors import PpmlError

COMMAND_MODULES = ("keys", "crypt", "table", "bundle", "tpch", "demo", "shim", "submit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    except KeyboardInterrupt:
        print("ppml-az: interrupted", file=sys.stderr)
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
