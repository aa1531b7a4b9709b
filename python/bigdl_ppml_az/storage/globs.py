"""Load-path globs as Spark expands them (Hadoop's ``Globber``), for every storage scheme.

Spark treats a load path as a pattern when it holds any of ``{}[]*?\\`` (``SparkHadoopUtil.isGlobPath``) and
expands it with Hadoop's glob rules, component by component:

* ``*`` any run of characters and ``?`` one character, both within one path component;
* ``[...]`` a character class, ``[!...]`` or ``[^...]`` its complement;
* ``{a,b}`` alternatives (nested allowed; an alternative may hold ``/``: the pattern is first expanded into one
  pattern per alternative, as Hadoop's ``GlobExpander`` does);
* ``\\`` escapes the next character; a component without any unescaped wildcard is a literal name, unescaped.

So ``x{00-1}.csv`` names ``x00-1.csv`` (not a file literally called ``x{00-1}.csv``; that one is
``x\\{00-1\\}.csv``). A pattern matching nothing is an error, as Spark's ``PATH_NOT_FOUND`` is. Python's ``glob``
and ``fnmatch`` differ on every one of these points (no braces, ``[!`` only, escapes by brackets), hence this
module. The rules are Hadoop's (``GlobPattern``, ``GlobExpander``, ``Globber``); the code is ours.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ..errors import StorageError

GLOB_CHARS = frozenset("{}[]*?\\")


def is_glob(path: str) -> bool:
    """Spark's test (``SparkHadoopUtil.isGlobPath``): any glob character at all, escaped or not."""
    return any(ch in GLOB_CHARS for ch in path)


def expand_slash_braces(pattern: str) -> list[str]:
    """One pattern per alternative of every ``{...}`` group that holds a ``/`` (innermost first, left to right);
    groups without ``/`` stay for :func:`component_regex`. Escaped braces are not groups."""
    start = _slash_group(pattern)
    if start is None:
        return [pattern]
    end, alternatives = _group(pattern, start)
    expanded: list[str] = []
    for alternative in alternatives:
        for result in expand_slash_braces(pattern[:start] + alternative + pattern[end + 1 :]):
            if result not in expanded:
                expanded.append(result)
    return expanded


def _slash_group(pattern: str) -> int | None:
    """Index of the first ``{`` whose group holds an unescaped ``/`` at any depth."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "{":
            end, _ = _group(pattern, i)
            if "/" in _unescaped(pattern[i + 1 : end]):
                return i
        i += 1
    return None


def _group(pattern: str, start: int) -> tuple[int, list[str]]:
    """End index of the group opened at ``start`` and its top-level alternatives (raw text)."""
    depth, i, piece_start = 0, start, start + 1
    alternatives: list[str] = []
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                alternatives.append(pattern[piece_start:i])
                return i, alternatives
        elif ch == "," and depth == 1:
            alternatives.append(pattern[piece_start:i])
            piece_start = i + 1
        i += 1
    raise StorageError(f"{pattern}: unclosed group '{{' in the path pattern")


def _unescaped(text: str) -> str:
    """``text`` with escaped characters removed (for structure checks only)."""
    return re.sub(r"\\.", "", text)


def unescape(component: str) -> str:
    return re.sub(r"\\(.)", r"\1", component)


def component_regex(component: str, pattern: str = "") -> re.Pattern[str] | None:
    """The regular expression of one path component, or None when it has no wildcard (a literal name).

    Translation as Hadoop's ``GlobPattern.set``: ``*`` -> ``.*``, ``?`` -> ``.``, ``{`` -> ``(?:``, ``,`` inside a
    group -> ``|``, ``[!`` -> ``[^``, regex metacharacters that are not glob syntax escaped, ``\\x`` kept."""
    out: list[str] = []
    wildcard = False
    sets = curly = 0
    i = 0
    while i < len(component):
        ch = component[i]
        if ch == "\\":  # kept as a regex escape, as Hadoop does (so ``\d`` is a digit there too)
            if i + 1 >= len(component):
                raise StorageError(f"{pattern or component}: missing escaped character at the end of the pattern")
            escaped = component[i + 1]
            out.append("\\" + escaped if escaped.isalnum() else re.escape(escaped))
            i += 2
            continue
        if ch in ".$()|+":
            out.append("\\" + ch)
        elif ch == "*":
            out.append(".*")
            wildcard = True
        elif ch == "?":
            out.append(".")
            wildcard = True
        elif ch == "{":
            out.append("(?:")
            curly += 1
            wildcard = True
        elif ch == "," and curly:
            out.append("|")
        elif ch == "}" and curly:
            out.append(")")
            curly -= 1
        elif ch == "[":
            if sets:
                raise StorageError(f"{pattern or component}: unclosed character class in the path pattern")
            sets += 1
            wildcard = True
            out.append("[")
        elif ch == "^":
            out.append("^" if sets else "\\^")
        elif ch == "!":
            out.append("^" if sets and component[i - 1] == "[" else "!")
        elif ch == "]":
            sets = 0
            out.append("]")
        else:
            out.append(ch)
        i += 1
    if sets:
        raise StorageError(f"{pattern or component}: unclosed character class in the path pattern")
    if curly:
        raise StorageError(f"{pattern or component}: unclosed group '{{' in the path pattern")
    try:  # compiled even without a wildcard: Hadoop refuses ``a\1.csv`` ("Illegal file pattern") either way
        compiled = re.compile("".join(out), re.DOTALL)
    except re.error as exc:
        raise StorageError(f"{pattern or component}: illegal file pattern ({exc.msg})") from None
    return compiled if wildcard else None


def expand(
    pattern: str,
    root: str,
    components: list[str],
    children: Callable[[str], Iterable[str]],
    exists: Callable[[str], bool],
    join: Callable[[str, str], str],
) -> list[str]:
    """Paths matching ``components`` below ``root`` (the part of ``pattern`` before its path), walking one
    component at a time: a literal component is appended (unescaped), a wildcard one is matched against the
    names ``children(directory)`` returns. Sorted, as Hadoop's globStatus returns them."""
    current = [root]
    for component in components:
        regex = component_regex(component, pattern)
        following: list[str] = []
        for base in current:
            if regex is None:
                following.append(join(base, unescape(component)))
            else:
                following.extend(join(base, name) for name in sorted(children(base)) if regex.fullmatch(name))
        current = following
        if not current:
            return []
    return sorted(path for path in current if exists(path))
