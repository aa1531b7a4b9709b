"""Spark's CSV line-mode rules, in Python: the exact-semantics reader for inputs pyarrow reads differently.

Spark (``multiLine=false``) reads a CSV file as Hadoop lines (ended by ``\\n``, ``\\r`` or ``\\r\\n``), drops the
lines whose Java ``trim()`` is empty (and, with ``comment``, lines starting with it), takes the first remaining
line of the file as the header, and tokenizes every other line on its own with univocity's parser:

* a value starts quoted only when its first character is the quote (no leading-whitespace skip on read);
* inside quotes, ``escape`` + quote is a quote and ``escape`` + ``escape`` is one ``escape`` (``escape`` equal to
  ``quote``: doubled quotes); any other character, a newline-free line's end included, is kept;
* after the closing quote, spaces and tabs are skipped; if a separator or the line end follows, the value is what
  was inside the quotes. Otherwise the quote was unescaped and, as univocity's ``STOP_AT_DELIMITER``, the value
  becomes quote + what was parsed + quote + the raw rest up to the next separator;
* an unquoted value runs to the next separator with every character kept (quotes and backslashes included);
* a quote left open at the line end closes there (line mode never joins lines).

Null semantics: an unquoted empty value is null; a value equal to ``nullValue`` (quoted or not) is null; a quoted
empty value is ``""`` unless ``nullValue`` is empty. The parser here only makes string tokens; types, ``mode``
and the corrupt-record column are applied by :mod:`.parsing` exactly as on the pyarrow path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from .options import ReadSettings

BOM = "\ufeff"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LONE_CR = re.compile(rb"\r(?!\n)")
_LOW_AFTER_LINE_END = re.compile(rb"\n[\x00-\x20]")  # a line starting with a character Java's trim drops
_BLANK_REST = re.compile(rb"[\x00-\x09\x0b-\x20]*(?:\n|$)")  # ... and holding nothing else


_TRIM = "".join(chr(c) for c in range(0x21))  # what Java's String.trim() drops: U+0000..U+0020


def java_blank(line: str) -> bool:
    """Java's ``line.trim().isEmpty()`` (Spark skips such lines)."""
    return not line.strip(_TRIM)


def split_lines(text: str) -> list[str]:
    """Hadoop's line rule: ``\\n``, ``\\r`` and ``\\r\\n`` end lines; a final line without an end still counts."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


@functools.lru_cache(maxsize=16)
def _well_quoted(sep: str, quote: str, escape: str | None) -> str:
    """RE2 pattern of a line whose every quoted value is closed right before a separator or the line end and
    holds no escape (doubled quotes when ``escape`` equals ``quote``): on such lines pyarrow and Spark agree."""
    s, q = re.escape(sep), re.escape(quote)
    inner = f"(?:[^{q}\\r]|{q}{q})*" if escape == quote else f"[^{q}\\r]*"
    field = f"(?:{q}{inner}{q}|[^{q}{s}\\r]*)"
    return f"^{field}(?:{s}{field})*\\r?$"


def needs_exact(chunk: bytes, settings: ReadSettings, first: bool) -> bool:
    """Whether pyarrow's CSV reader could give another answer than Spark's line mode for these bytes.

    pyarrow agrees with Spark on lines without quotes, escapes, lone ``\\r``, blank or whitespace-only lines and a
    BOM, for a one-character separator and no ``comment``; anything else goes to :func:`tokenize_lines`.
    """
    if len(settings.sep) != 1 or settings.comment:
        return True
    if settings.escape and settings.escape != settings.quote and settings.escape.encode("utf-8") in chunk:
        return True
    if settings.quote and settings.quote.encode("utf-8") in chunk:
        lines = pa.array(chunk.split(b"\n"), pa.binary())  # (bytes.split beats pyarrow split_pattern here)
        pattern = _well_quoted(settings.sep, settings.quote, settings.escape)
        if not pc.all(pc.match_substring_regex(lines, pattern)).as_py():
            return True
        quoted_null = (settings.quote + settings.null_value + settings.quote).encode("utf-8")
        if settings.null_value and quoted_null in chunk:  # Spark nulls it, pyarrow keeps quoted values
            return True
    if chunk.startswith(b"\xef\xbb\xbf"):  # at a file start (a chunk inside a file starts with a line)
        return True
    if b"\r" in chunk and _LONE_CR.search(chunk):
        return True
    body = chunk[:-1] if chunk.endswith(b"\n") else chunk
    return _has_blank_line(body)


def _has_blank_line(body: bytes) -> bool:
    """A line that Java's ``trim()`` empties, found with one literal-prefix scan (fast on clean data)."""
    if not body or _BLANK_REST.match(body):
        return True
    return any(_BLANK_REST.match(body, m.start() + 1) for m in _LOW_AFTER_LINE_END.finditer(body))


class LineTokenizer:
    """One line -> (tokens, quoted flags), by the rules in the module docstring."""

    def __init__(self, settings: ReadSettings) -> None:
        self.sep = settings.sep
        self.quote = settings.quote or ""
        self.escape = settings.escape or ""
        self._special = re.compile("[" + re.escape(self.quote + self.escape) + "]") if self.quote else re.compile("$^")

    def tokens(self, line: str) -> list[tuple[str, bool]]:
        sep, quote = self.sep, self.quote
        if not quote or quote not in line:
            return [(v, False) for v in line.split(sep)]
        out: list[tuple[str, bool]] = []
        n, i, step = len(line), 0, len(sep)
        while True:
            if i < n and line[i] == quote:
                value, quoted, i = self._quoted(line, i)
            else:
                stop = line.find(sep, i)
                stop = n if stop < 0 else stop
                value, quoted, i = line[i:stop], False, stop
            out.append((value, quoted))
            if i < n and line.startswith(sep, i):
                i += step
                continue
            return out

    def _quoted(self, line: str, start: int) -> tuple[str, bool, int]:
        quote, escape, sep = self.quote, self.escape, self.sep
        n, j = len(line), start + 1
        buf: list[str] = []
        special = self._special
        while True:
            found = special.search(line, j)
            if found is None:
                buf.append(line[j:])
                break
            k = found.start()
            if k > j:
                buf.append(line[j:k])
            j = k
            if escape != quote and line[j] == escape:
                if j + 1 < n and line[j + 1] in (quote, escape):
                    buf.append(line[j + 1])
                    j += 2
                else:
                    buf.append(escape)
                    j += 1
                continue
            if escape == quote and j + 1 < n and line[j + 1] == quote:
                buf.append(quote)
                j += 2
                continue
            k = j + 1  # a closing quote: spaces and tabs may follow before the separator or the line end
            while k < n and line[k] in " \t" and not line.startswith(sep, k):
                k += 1
            if k >= n or line.startswith(sep, k):
                return "".join(buf), True, k
            stop = line.find(sep, j + 1)  # unescaped quote: STOP_AT_DELIMITER
            stop = n if stop < 0 else stop
            return quote + "".join(buf) + quote + line[j + 1 : stop], False, stop
        if start + 1 == n:
            return quote, False, n  # a lone quote at the line end is a literal quote (univocity)
        return "".join(buf), True, n


def records(text: str, settings: ReadSettings, skip_header: bool) -> Iterator[str]:
    """The record lines of a chunk of whole lines, as Spark's line mode sees them (header dropped if asked)."""
    if text.startswith(BOM):
        text = text[1:]
    comment = settings.comment
    header_pending = skip_header
    for line in split_lines(text):
        if java_blank(line) or (comment and line.startswith(comment)):
            continue
        if header_pending:
            header_pending = False
            continue
        yield line


def tokenize_lines(
    chunk: bytes, settings: ReadSettings, width: int, skip_header: bool, drop_line: str | None = None
) -> tuple[list[pa.Array], list[bool], list[str]]:
    """String columns (Spark's null rules applied), a per-row wrong-width flag, and each record's raw text."""
    tokenizer = LineTokenizer(settings)
    null_value = settings.null_value
    columns: list[list[str | None]] = [[] for _ in range(width)]
    ragged: list[bool] = []
    texts: list[str] = []
    lines: Iterator[str] = records(chunk.decode("utf-8", "replace"), settings, skip_header)
    if drop_line is not None:  # Spark's inference drops every line equal to the header line
        lines = (line for line in lines if line != drop_line)
    for line in lines:
        tokens = tokenizer.tokens(line)
        ragged.append(len(tokens) != width)
        texts.append(line)
        for index in range(width):
            if index >= len(tokens):
                columns[index].append(None)
                continue
            value, quoted = tokens[index]
            if value == null_value or (not quoted and value == ""):
                columns[index].append(None)
            else:
                columns[index].append(value)
    return [pa.array(c, pa.string()) for c in columns], ragged, texts


def first_line(text: str, settings: ReadSettings) -> str | None:
    """The line Spark's schema inference takes as the first: it skips lines that SQL ``trim`` (spaces only, not
    tabs) leaves empty, and comment lines, so a tab-only line counts here although reads skip it."""
    if text.startswith(BOM):
        text = text[1:]
    for line in split_lines(text):
        if line.strip(" ") and not (settings.comment and line.startswith(settings.comment)):
            return line
    return None


def header_tokens(text: str, settings: ReadSettings) -> list[str] | None:
    """The first line's raw tokens (header names, or the column count without a header)."""
    line = first_line(text, settings)
    return None if line is None else [value for value, _ in LineTokenizer(settings).tokens(line)]


def _multiline_pattern(settings: ReadSettings) -> str:
    """RE2 pattern of the bytes on which pyarrow's multi-line CSV reader and univocity's (Spark, multiLine=true)
    may disagree: a quote inside a field (neither opening nor closing it: ``a"b``, ``"a""b"``, ``"ab" ,``), the
    escape character, any ``\\r`` (univocity takes the first line's ending as the only one: CR is data after
    LF lines), a line of only whitespace or control characters (univocity keeps it as a
    record; pyarrow does not)."""
    sep, quote = re.escape(settings.sep), re.escape(settings.quote or "")
    parts = ["\\r", "(?:^|\\n)[\\x00-\\x09\\x0b\\x0c\\x0e-\\x20]+(?:\\r?\\n|\\z)"]
    if quote:
        parts.append(f"[^{sep}\\n]{quote}[^{sep}\\r\\n]")
    if settings.escape and settings.escape != settings.quote:
        parts.append(re.escape(settings.escape))
    return "|".join(parts)


def multiline_refusal(settings: ReadSettings) -> str | None:
    """Why multiLine=true cannot give Spark's answer with these options (None: it can, on clean bytes)."""
    if len(settings.sep) != 1:
        return f"sep={settings.sep!r} (more than one character)"
    if settings.comment:
        return f"comment={settings.comment!r}"
    return None


def checked_multiline(pieces: Iterator[bytes], settings: ReadSettings, path: str) -> Iterator[bytes]:
    """The decrypted pieces of a multiLine file, refused (by option name) as soon as they hold bytes that
    pyarrow's multi-line reader would read differently from Spark: ppml-enc has no exact multi-line reader yet,
    so such files fail instead of coming back different."""
    why = multiline_refusal(settings)
    pattern = _multiline_pattern(settings)
    carry, first = b"", True
    for piece in pieces:
        if first and piece[:3] == b"\xef\xbb\xbf" or first and piece[:1] in (b"\r", b"\n"):
            why = why or "a byte-order mark or blank line at the file start"
        first = first and not piece
        window = carry + piece
        if why is None and pc.match_substring_regex(pa.array([window], pa.binary()), pattern)[0].as_py():
            why = "quotes inside fields, an escape character, a CR or a whitespace-only line"
        if why is not None:
            raise ConfigError(
                f"option multiLine=true: {path} has {why}, which ppml-enc's multi-line reader does not read as "
                "Spark does; use multiLine=false if no value holds a line break, or read it with Spark's reader"
            )
        carry = window[-2:]
        yield piece


__all__ = ["LineTokenizer", "checked_multiline", "first_line", "header_tokens", "java_blank", "multiline_refusal",
           "needs_exact", "records", "split_lines", "tokenize_lines"]  # fmt: skip
