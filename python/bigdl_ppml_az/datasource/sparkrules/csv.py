"""Spark's CSV line-mode rules, in Python: the exact-semantics reader for inputs pyarrow reads differently.

Spark (``multiLine=false``) reads a CSV file as Hadoop lines (ended by ``\\n``, ``\\r`` or ``\\r\\n``), drops the
lines whose Java ``trim()`` is empty (and, with ``comment``, lines starting with it), takes the first remaining
line of the file as the header, and tokenizes every other line on its own with univocity's parser:

* a value starts quoted only when its first character is the quote (no leading-whitespace skip on read);
* an unquoted value runs to the next separator with every character kept (quotes and backslashes included), in
  every ``unescapedQuoteHandling`` mode;
* a quoted value follows univocity 2.9.1's ``CsvParser`` state machine (:class:`_UnivocityLine`, one-character
  ``sep`` without whitespace trimming): inside quotes ``escape`` + quote is a quote; a quote that closes the
  value but is followed by neither a separator nor whitespace is an unescaped quote, read by the mode:
  ``STOP_AT_DELIMITER`` (Spark's default) keeps quote + content + quote + the raw rest up to the next
  separator, ``STOP_AT_CLOSING_QUOTE`` keeps the quote and reads on as quoted content up to a closing quote,
  ``BACK_TO_DELIMITER`` drops it and reads on as quoted content (a later unescaped quote splits what was read
  at its separators), ``SKIP_VALUE`` makes the value null, ``RAISE_ERROR`` fails the read (Spark fails it in
  every ``mode``); a quoted value left open at the line end closes there (line mode never joins lines);
* a multi-character ``sep`` or ``ignoreLeading/TrailingWhiteSpace`` (default mode only: the other modes refuse
  them) take the older rules of :meth:`LineTokenizer._tokens`: after the closing quote, further quotes and then
  whitespace are skipped; if a separator or the line end follows, the value is what was inside the quotes plus
  those further quotes; otherwise it becomes quote + what was parsed + quote + the raw rest up to the separator.

Null semantics: an unquoted empty value is null; a value equal to ``nullValue`` (quoted or not) is null; a quoted
empty value is ``""`` unless ``nullValue`` is empty. The parser here only makes string tokens; types, ``mode``
and the corrupt-record column are applied by :mod:`.parsing` exactly as on the pyarrow path.
"""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ...errors import ConfigError, MalformedRecordError
from ..lines import arrow_view
from ..options import SINGLE_BYTE_CHARSETS, ReadSettings

BOM = "\ufeff"
DEFAULT_SPECIALS = ("NaN", "Inf", "-Inf")  # Spark's nanValue, positiveInf, negativeInf
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


def _quoted_line(sep: str, quote: str, escape: str | None, breaks: str) -> str:
    """RE2 pattern of one line whose every quoted value is closed right before a separator or the line end and
    holds no escape (doubled quotes when ``escape`` equals ``quote``); ``breaks``: the characters no value holds."""
    s, q = re.escape(sep), re.escape(quote)
    inner = f"(?:[^{q}{breaks}]|{q}{q})*" if escape == quote else f"[^{q}{breaks}]*"
    field = f"(?:{q}{inner}{q}|[^{q}{s}{breaks}]*)"
    return f"{field}(?:{s}{field})*\\r?"


@functools.lru_cache(maxsize=16)
def _well_quoted(sep: str, quote: str, escape: str | None) -> str:
    """RE2 pattern of a line (no ``\\n`` in it) on which pyarrow and Spark agree (:func:`_quoted_line`)."""
    return "^" + _quoted_line(sep, quote, escape, "\\r") + "$"


@functools.lru_cache(maxsize=16)
def _well_quoted_chunk(sep: str, quote: str, escape: str | None) -> str:
    """:func:`_well_quoted` for every line of a chunk in one RE2 match of the whole chunk: no split into a
    million-element array (about half the check's cost on quoted data such as TPC-H comments)."""
    line = _quoted_line(sep, quote, escape, "\\r\\n")
    return f"\\A(?:{line}\\n)*{line}\\z"


def _all_well_quoted(chunk: bytes, settings: ReadSettings) -> bool:
    """Whether every line of the chunk matches :func:`_well_quoted` (``tests/test_sparkcsv_fast.py`` checks the
    whole-chunk match against the line-by-line one)."""
    pattern = _well_quoted_chunk(settings.sep, settings.quote or "", settings.escape)
    return bool(pc.match_substring_regex(arrow_view(chunk), pattern)[0].as_py())


def needs_exact(chunk: bytes, settings: ReadSettings, first: bool) -> bool:
    """Whether pyarrow's CSV reader could give another answer than Spark's line mode for these bytes.

    pyarrow agrees with Spark on lines without quotes, escapes, lone ``\\r``, blank or whitespace-only lines and a
    BOM, for a one-character separator and no ``comment``; anything else goes to :func:`tokenize_lines`.
    """
    if not settings.arrow_syntax or settings.comment or settings.token_rules:
        return True
    if settings.number_specials != DEFAULT_SPECIALS:  # pyarrow's float parser has its own nan/inf spellings
        return True
    if settings.escape and settings.escape != settings.quote and settings.escape.encode("utf-8") in chunk:
        return True
    if settings.quote and settings.quote.encode("utf-8") in chunk:
        if not _all_well_quoted(chunk, settings):
            return True
        quoted_null = (settings.quote + settings.null_value + settings.quote).encode("utf-8")
        if settings.null_value and quoted_null in chunk:  # Spark nulls it, pyarrow keeps quoted values
            return True
    if chunk.startswith(b"\xef\xbb\xbf"):  # at a file start (a chunk inside a file starts with a line)
        return True
    if b"\r" in chunk and _LONE_CR.search(chunk):
        return True
    return _has_blank_line(chunk)


def _has_blank_line(chunk: bytes) -> bool:
    """A line that Java's ``trim()`` empties (the line end that closes the chunk opens no line). One RE2 scan
    for a line start below U+0021 first (no copy of the chunk; Python's ``re`` scan cost ten times more CPU on
    TPC-H), the lines it finds checked one by one only when there are any."""
    end = len(chunk) - 1 if chunk.endswith(b"\n") else len(chunk)
    if end <= 0 or _BLANK_REST.match(chunk, 0, end):
        return True
    if not pc.match_substring_regex(arrow_view(chunk), _LOW_AFTER_LINE_END.pattern.decode("ascii"))[0].as_py():
        return False
    return any(_BLANK_REST.match(chunk, m.start() + 1, end) for m in _LOW_AFTER_LINE_END.finditer(chunk, 0, end))


class LineTokenizer:
    """One line -> (tokens, quoted flags), by the rules in the module docstring."""

    def __init__(self, settings: ReadSettings) -> None:
        self.sep = settings.sep
        self.quote = settings.quote or ""
        self.escape = settings.escape or ""
        self._special = re.compile("[" + re.escape(self.quote + self.escape) + "]") if self.quote else re.compile("$^")
        self.trim_leading = settings.trim_leading
        self.trim_trailing = settings.trim_trailing
        self.max_chars = settings.max_chars
        self.mode = settings.quote_handling
        self.comment = settings.comment or _NUL

    def tokens(self, line: str) -> list[tuple[str, bool]]:
        out = self._tokens(line)
        if self.max_chars >= 0 and any(len(v) > self.max_chars for v, _ in out):
            # univocity's value buffer overflows; Spark fails the read (MALFORMED_CSV_RECORD) in every mode
            raise MalformedRecordError(f"CSV: a value is longer than maxCharsPerColumn={self.max_chars} characters")
        return out

    def skipped(self, line: str) -> list[int]:
        """The positions of the values ``SKIP_VALUE`` skips in a line (Java nulls: Spark's header check fails on
        one, see :func:`check_header`)."""
        if self.mode != "SKIP_VALUE" or not self.quote or self.quote not in line:
            return []
        parser = _UnivocityLine(line, self.sep, self.quote, self.escape or _NUL, self.comment, self.mode)
        parser.run()
        return parser.skipped

    def _tokens(self, line: str) -> list[tuple[str, bool]]:
        sep, quote = self.sep, self.quote
        lead, trail = self.trim_leading, self.trim_trailing
        if not quote or quote not in line:
            values = line.split(sep)
            if lead or trail:
                values = [_trim(v, lead, trail) for v in values]
            return [(v, False) for v in values]
        if len(sep) == 1 and not (lead or trail):  # univocity's rules, every unescapedQuoteHandling mode
            # the values before the first quote are unquoted: split, and the state machine takes the rest
            cut = line.rfind(sep, 0, line.find(quote)) + 1
            head = [(v, False) for v in line[: cut - 1].split(sep)] if cut else []
            rest = _UnivocityLine(line[cut:], sep, quote, self.escape or _NUL, self.comment, self.mode, bool(cut))
            return head + rest.run()
        out: list[tuple[str, bool]] = []
        n, i, step = len(line), 0, len(sep)
        while True:
            if lead:  # univocity skips whitespace (U+0001-U+0020) before a value, never the separator itself
                while i < n and "\x00" < line[i] <= " " and not line.startswith(sep, i):
                    i += 1
            if i < n and line[i] == quote:
                value, quoted, i = self._quoted(line, i)
            else:
                stop = line.find(sep, i)
                stop = n if stop < 0 else stop
                value, quoted, i = line[i:stop], False, stop
                if stop == n and step > 1 and value.endswith(quote):
                    value += quote  # univocity's multi-character-separator parser doubles a quote ending the line
            if trail and not quoted:
                value = _trim(value, False, True)
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
                    if j + 1 < n:  # an escape ending the line inside quotes is dropped ('ab\ reads ab)
                        buf.append(escape)
                    j += 1
                continue
            if escape == quote and j + 1 < n and line[j + 1] == quote:
                buf.append(quote)
                j += 2
                continue
            k = j + 1  # a closing quote; more quotes, then univocity's whitespace (<= U+0020), may follow
            while k < n and line[k] == quote:
                k += 1
            extra = k - j - 1
            while k < n and line[k] <= " " and not line.startswith(sep, k):
                k += 1
            if k >= n or line.startswith(sep, k):
                return "".join(buf) + quote * extra, True, k  # "ab"", -> ab" (the quotes after the first kept)
            if len(sep) > 1 and line[k] == sep[0]:
                raise ConfigError(
                    f"option sep={sep!r}: a quoted value is followed by only part of the separator, which Spark's "
                    "CSV parser (univocity, multi-character separators) reads in ways ppml-enc does not reproduce; "
                    "write such files with a one-character sep, or read them with Spark's reader"
                )
            stop = line.find(sep, j + 1)  # unescaped quote: STOP_AT_DELIMITER
            stop = n if stop < 0 else stop
            return quote + "".join(buf) + quote + line[j + 1 : stop], False, stop
        if start + 1 == n:
            return quote, False, n  # a lone quote at the line end is a literal quote (univocity)
        return "".join(buf), True, n


class _EndOfLine(Exception):
    """The line's end, where univocity's reader throws EOFException (a line holds no line break)."""


@functools.lru_cache(maxsize=64)
def _stop_pattern(stops: str) -> re.Pattern[str]:
    return re.compile("[" + re.escape(stops) + "]")


class _Done(Exception):
    """The record ended without reaching the line's end handling (a separator ends the line)."""


_NUL = "\x00"  # univocity's "no character" (and Spark's quote/escape when the option is empty)


class _UnivocityLine:
    """Spark's CSV tokenizer (univocity 2.9.1's ``CsvParser``, one-character ``sep``, no whitespace trimming) on
    one line, in every ``unescapedQuoteHandling`` mode (the other modes refuse the other settings).

    Hand-written: no Python library has univocity 2.9.1's rules, and they are a state machine whose every step
    shows in the answer (which quote is kept, where a value ends), so this follows its states one character at
    a time: ``ch`` is the character at hand, ``prev`` the one before it inside the value (NUL at a value's
    start), ``buf`` the value so far (None while a value is skipped), ``stray`` whether an unescaped quote was
    met in the value. Tokens are ``(text, quoted)``; ``("", False)`` is Spark's null and ``("", True)`` an
    empty string."""

    def __init__(self, line: str, sep: str, quote: str, escape: str, comment: str, mode: str,
                 after: bool = False) -> None:  # fmt: skip
        self.line, self.at = line, 0
        self.after = after  # the line holds values before this part (univocity's column > 0)
        self.sep, self.quote, self.escape, self.comment, self.mode = sep, quote, escape, comment, mode
        self.escape2 = _NUL if quote == escape else escape  # univocity's charToEscapeQuoteEscaping default
        self.to_sep = mode in ("STOP_AT_DELIMITER", "SKIP_VALUE", "BACK_TO_DELIMITER")
        self.ch = self.prev = _NUL
        self.stray = self.quoted = False
        self.buf: list[str] | None = []
        self.out: list[tuple[str, bool]] = []
        self.skipped: list[int] = []  # tokens that are Java nulls (SKIP_VALUE), not nullValue

    def run(self) -> list[tuple[str, bool]]:
        try:
            self.ch = self._next()
            self._record()
        except _EndOfLine:
            self._at_end()
        except _Done:
            pass
        return self.out

    def _next(self) -> str:
        if self.at >= len(self.line):
            raise _EndOfLine
        self.at += 1
        return self.line[self.at - 1]

    def _fail(self, what: str) -> None:
        raise MalformedRecordError(
            f"CSV: unescaped quote {what} (unescapedQuoteHandling=RAISE_ERROR): Spark fails the read"
        )

    def _value(self) -> None:
        """The value so far ends: a skipped one is null, an empty one that began with a quote is Spark's
        emptyValue (what Spark gives, however the quotes closed)."""
        if self.buf is None:
            self.skipped.append(len(self.out))
            self.out.append(("", False))
        else:
            self.out.append(("".join(self.buf), self.quoted))
        self.buf = []

    def _filled(self) -> bool:
        """Whether the value so far holds a character (univocity's appender length > 0)."""
        return self.buf is not None and any(self.buf)

    def _null(self) -> None:
        self.out.append(("", False))

    @staticmethod
    def _blank(ch: str) -> bool:
        return _NUL < ch <= " "

    def _append_until(self, ch: str, stops: str) -> str:
        """Characters from ``ch`` (the one at hand) up to one of ``stops`` into the value (kept there if the
        line ends first); returns the stop character. One regex search, not a Python loop per character."""
        if ch in stops:
            return ch
        line, start = self.line, self.at - 1
        if len(stops) == 1:
            end = line.find(stops, self.at)
        else:
            found = _stop_pattern(stops).search(line, self.at)
            end = -1 if found is None else found.start()
        if self.buf is not None:
            self.buf.append(line[start:] if end < 0 else line[start:end])
        if end < 0:
            self.at = len(line)
            raise _EndOfLine
        self.at = end + 1
        return line[end]

    def _record(self) -> None:
        sep, quote = self.sep, self.quote
        while True:
            if self.ch == sep:
                self._null()
            else:
                self.stray, self.prev, self.quoted = False, _NUL, self.ch == quote
                if self.ch == quote:
                    if self._clean_quoted():
                        continue
                    self._quoted()
                    if not (self.stray and self.mode == "BACK_TO_DELIMITER" and not self._filled()):
                        self._value()
                else:
                    self.ch = self._append_until(self.ch, sep)
                    self._value()
            self.ch = self._next()

    def _clean_quoted(self) -> bool:
        """univocity's shortcut: a quoted value closed right before a separator, without escapes, read at once
        (an empty one is an empty string, not null). False: the character-wise parse takes it."""
        line, quote, escape, start = self.line, self.quote, self.escape, self.at
        i = line.find(quote, start)
        if i < 0 or line[i - 1] == escape or i + 1 >= len(line) or line[i + 1] != self.sep:
            return False
        j = line.find(escape, start, i)
        while j >= 0:  # an escape before a quote or before the escape's escape: the slow parse
            if line[j + 1] in (quote, self.escape2):
                return False
            j = line.find(escape, j + 1, i)
        self.out.append((line[start:i], True))
        self.at = i + 1
        self.ch = self._next()  # the separator
        try:
            self.ch = self._next()
        except _EndOfLine:
            self._null()
            raise _Done from None
        return True

    def _quoted(self) -> None:
        quote, escape, sep = self.quote, self.escape, self.sep
        if self.prev != _NUL and self.to_sep:
            if self.mode == "SKIP_VALUE":
                self._skip()
                return
            assert self.buf is not None
            self.buf.insert(0, quote)
            self.ch = self._next()
            self.ch = self._append_until(self.ch, sep)
            return
        self.ch = self._next()
        while True:
            ch = self.ch
            if self.prev == quote and (self._blank(ch) or ch == sep):
                break
            if ch != quote and ch != escape:
                if self.prev == quote:
                    self._stray_quote()
                    return
                if self.prev == escape and escape != _NUL:
                    self._add(escape)
                self.ch = self._append_until(ch, quote + escape + self.escape2)
                self.prev = self.ch
                self.ch = self._next()
            else:
                self._quote_or_escape()
                self.prev = self.ch
                self.ch = self._next()
                if self.stray and self.ch == sep:
                    return
        if self.ch != sep and self._blank(self.ch):
            blanks = []
            while True:
                blanks.append(self.ch)
                self.ch = self._next()
                if not (self._blank(self.ch) and self.ch != sep):
                    break
            if self.ch != sep and self.mode != "RAISE_ERROR":
                if self.buf is not None:
                    self.buf.append(quote)
                    self.buf.extend(blanks)
                if self.to_sep or (self.ch != quote and self.ch != escape):
                    self._add(self.ch)
                self.prev = self.ch
                self._quoted()
        if self.ch != sep:
            self._fail("after a quoted value")

    def _add(self, ch: str) -> None:
        if self.buf is not None:
            self.buf.append(ch)

    def _skip(self) -> None:
        self.buf = None
        self.ch = self._append_until(self.ch, self.sep)

    def _stray_quote(self) -> None:
        """A quote closed the value but no separator follows (univocity's handleUnescapedQuote)."""
        self.stray = True
        mode = self.mode
        if mode == "BACK_TO_DELIMITER":
            assert self.buf is not None
            *values, rest = "".join(self.buf).split(self.sep)  # the separators met inside the quotes end values
            self.out.extend((value, True) for value in values)
            self.buf = [rest, self.ch]
            self.prev = _NUL
            self._quoted()
        elif mode in ("STOP_AT_CLOSING_QUOTE", "STOP_AT_DELIMITER"):
            self._add(self.quote)
            self._add(self.ch)
            self.prev = self.ch
            self._quoted()
        elif mode == "SKIP_VALUE":
            self._skip()
        else:
            self._fail("inside a quoted value")

    def _stray_in_value(self) -> None:
        """univocity's handleUnescapedQuoteInValue."""
        if self.mode in ("BACK_TO_DELIMITER", "STOP_AT_CLOSING_QUOTE", "STOP_AT_DELIMITER"):
            self._add(self.quote)
            self.prev = self.ch
            self._escaped_value()
        elif self.mode == "SKIP_VALUE":
            self._skip()
        else:
            self._fail("inside a value")

    def _escaped_value(self) -> None:
        """univocity's parseValueProcessingEscape."""
        quote, escape = self.quote, self.escape
        while self.ch != self.sep:
            ch = self.ch
            if ch != quote and ch != escape:
                if self.prev == quote:
                    self._stray_in_value()
                    return
                self._add(ch)
            else:
                self._quote_or_escape()
            self.prev = self.ch
            self.ch = self._next()

    def _quote_or_escape(self) -> None:
        """univocity's processQuoteEscape: the character at hand is the quote or the escape."""
        ch, prev, quote, escape = self.ch, self.prev, self.quote, self.escape
        if ch == escape and prev == self.escape2 and self.escape2 != _NUL:
            self._add(escape)
            self.ch = _NUL
        elif prev == escape:
            if ch == quote:
                self._add(quote)
                self.ch = _NUL
            else:
                self._add(prev)
        elif ch == quote and prev == quote:
            self._add(quote)
        elif prev == quote:
            self._stray_in_value()

    def _at_end(self) -> None:
        """univocity's consumeValueOnEOF and handleEOF: the value the line's end left open."""
        ch, prev, quote = self.ch, self.prev, self.quote
        if ch == quote and prev == quote:
            consume = True
        else:
            if ch == quote and not self.stray:
                self._add(quote)
            consume = prev != _NUL and ch != self.sep and ch != self.comment
        self.ch = self.prev = _NUL
        if self.out or self.after or consume:
            if self._filled() or consume:
                self._value()
            else:
                self._null()
        elif self.buf is not None and not self._filled():
            self._null()
        else:
            self._value()


_WHITESPACE = "".join(chr(c) for c in range(1, 0x21))  # what univocity's ignore*Whitespaces skip


def _trim(value: str, leading: bool, trailing: bool) -> str:
    if leading:
        value = value.lstrip(_WHITESPACE)
    return value.rstrip(_WHITESPACE) if trailing else value


def token_value(value: str, quoted: bool, settings: ReadSettings) -> str | None:
    """Spark's value of one token: an unquoted empty value and a value equal to ``nullValue`` are null; a
    quoted empty value is ``emptyValue`` (which is then null if it equals ``nullValue``)."""
    if not value:
        if not quoted:
            return None
        value = settings.empty_value
    return None if value == settings.null_value else value


def header_line(text: str, settings: ReadSettings) -> str | None:
    """The line Spark's reader takes as a file's header (``CSVExprUtils.extractHeader``): the first one that
    is neither blank (Java ``trim``) nor a comment."""
    return next(records(text, settings, False), None)


def check_header(text: str, settings: ReadSettings, names: list[str], path: str) -> None:
    """``enforceSchema=false``: Spark's ``CSVHeaderChecker`` on a file's first chunk: the header's tokens must be
    the schema's column names (but the corrupt-record column), in order, ignoring case (the default
    ``spark.sql.caseSensitive=false``); else the read fails. With ``unescapedQuoteHandling=SKIP_VALUE`` it runs
    whatever ``enforceSchema``: Spark's comparison meets a skipped header value as a Java null and fails
    (NullPointerException) when the header has the schema's width and the names before it match."""
    line = header_line(text, settings)
    if line is None:
        return
    tokenizer = LineTokenizer(settings)
    tokens = tokenizer.tokens(line)
    skipped = tokenizer.skipped(line)
    header = [settings.empty_value if quoted and not v else v for v, quoted in tokens]
    header = [settings.null_value if v == "" else v for v in header]
    checked = not settings.enforce_schema  # otherwise only a SKIP_VALUE'd header value fails (when reached)
    if len(header) != len(names):
        if not checked:
            return
        raise MalformedRecordError(
            f"{path}: CSV header does not conform to the schema (enforceSchema=false): number of column in CSV "
            f"header is not equal to number of fields in the schema (header length: {len(header)}, schema size: "
            f"{len(names)})"
        )
    for index, (found, expected) in enumerate(zip(header, names, strict=True)):
        if index in skipped:
            raise MalformedRecordError(
                f"{path}: CSV header value {index + 1} is skipped by unescapedQuoteHandling=SKIP_VALUE, which "
                "fails Spark's header check; fix the header's quotes or read with another mode"
            )
        if found.lower() != expected.lower():
            if not checked:
                return
            raise MalformedRecordError(
                f"{path}: CSV header does not conform to the schema (enforceSchema=false): column {index + 1} of "
                "the header is not the schema's column name there; fix the header or the schema, or drop "
                "enforceSchema=false"
            )


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
) -> tuple[list[pa.Array], pa.Array, pa.Array]:
    """String columns (Spark's null rules applied), a per-row wrong-width flag, and each record's raw text.

    The answer is, token for token, :func:`records` + :class:`LineTokenizer` per line (the property test in
    ``tests/test_sparkcsv_fast.py`` compares them); only the work is shared out per line, so that clean lines
    never reach a Python loop:

    * no escape character, and either no quote or every quoted value closed right before a separator or the
      line end (no quoted ``nullValue``), one ASCII ``sep``: pyarrow's CSV reader gives ``LineTokenizer``'s
      tokens for such lines (the premise of :func:`needs_exact`), so it parses them; the ones without
      ``width`` fields it hands back;
    * no quote and no escape character (other separators, ragged rows): ``LineTokenizer`` would just split on
      ``sep``, which ``pyarrow.compute.split_pattern`` does for all of them at once;
    * anything else (unescaped or open quotes, escapes, whitespace after a quote, ragged quoted rows):
      ``LineTokenizer``, one line at a time.
    """
    lines, body = _record_lines(chunk, settings, skip_header, drop_line)
    if not len(lines):
        return [pa.array([], pa.string()) for _ in range(width)], pa.array([], pa.bool_()), lines
    kind, has_quote = _line_kinds(lines, settings)
    parts: list[tuple[np.ndarray, list[pa.Array], pa.Array]] = []
    rows = np.flatnonzero(kind == _ARROW)
    if len(rows) and width:
        whole = body if len(rows) == len(lines) else None
        columns, parsed = _parse_arrow(_subset(lines, rows), settings, width, whole)
        rows, refused = rows[parsed], rows[~parsed]
        if len(rows):
            parts.append((rows, columns, pa.array(np.zeros(len(rows), bool))))
    else:
        refused = rows
    kind[refused] = np.where(has_quote[refused], _OTHER, _SPLIT)  # handed back: ragged (or no columns)
    for which, tokenize in ((_SPLIT, _split_plain), (_OTHER, _tokenize_each)):
        rows = np.flatnonzero(kind == which)
        if len(rows):
            parts.append((rows, *tokenize(_subset(lines, rows), settings, width)))
    if len(parts) == 1:
        _, columns, ragged = parts[0]
    else:  # back to line order: concatenate the parts, then take by each line's position in the concatenation
        where = np.empty(len(lines), np.int64)
        where[np.concatenate([p[0] for p in parts])] = np.arange(len(lines))
        order = pa.array(where)
        columns = [pa.concat_arrays([p[1][i] for p in parts]).take(order) for i in range(width)]
        ragged = pa.concat_arrays([p[2] for p in parts]).take(order)
    return columns, ragged, lines


_ARROW, _SPLIT, _OTHER = 0, 1, 2
_BLANK_LINE = r"^[\x00-\x20]*$"  # Java's trim() empties it (RE2)
_BOM_BYTES = BOM.encode("utf-8")


def _subset(lines: pa.Array, rows: np.ndarray) -> pa.Array:
    return lines if len(rows) == len(lines) else lines.take(pa.array(rows))


def _record_lines(
    chunk: bytes, settings: ReadSettings, skip_header: bool, drop_line: str | None
) -> tuple[pa.Array, pa.Buffer | None]:
    """:func:`records` as one Arrow string array (Hadoop lines minus blank and comment lines, and the header);
    and, when no other line was left out, the same lines as the chunk's bytes, each ended by ``\\n``."""
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:  # the same replacement characters as the per-line reader's decode
        chunk = chunk.decode("utf-8", "replace").encode("utf-8")
    if chunk.startswith(_BOM_BYTES):
        chunk = chunk[len(_BOM_BYTES) :]
    if b"\r" in chunk:  # \r\n first, so that it stays one line end
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if len(chunk) >= 1 << 31:  # Arrow strings have 32-bit offsets; chunks are ~chunkBytes, cut at line ends
        raise MalformedRecordError(
            "CSV: more than 2 GiB without a line end in one chunk; lower chunkBytes or check the file's line ends"
        )
    ended = chunk.endswith(b"\n")
    data = pa.py_buffer(chunk)  # one string holding the chunk (but its last line end), without a copy
    bounds = pa.py_buffer(np.array([0, len(chunk) - ended], np.int32))
    text = pa.Array.from_buffers(pa.string(), 1, [None, bounds, data])
    lines = pc.split_pattern(text, "\n").flatten()
    drop = _blank(lines)
    if settings.comment:
        drop |= pc.starts_with(lines, settings.comment).to_numpy(zero_copy_only=False)
    body = data if ended and not drop.any() and drop_line is None else None
    if drop.any():
        lines = lines.filter(pa.array(~drop))
    if skip_header and len(lines):
        if body is not None:
            body = body.slice(int(_raw(lines)[0][1]) + 1)  # line 1 starts after line 0 and its line end
        lines = lines.slice(1)
    if drop_line is not None:  # Spark's inference drops every line equal to the header line
        lines = lines.filter(pc.not_equal(lines, drop_line))
    return lines, body


def _raw(lines: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The offsets and UTF-8 bytes of a string array without nulls, as numpy views (no copy)."""
    _, offsets_buf, data_buf = lines.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32)[lines.offset : lines.offset + len(lines) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return offsets, data


def _blank(lines: pa.Array) -> np.ndarray:
    """Which lines Java's ``trim()`` empties; only lines that are empty or start with a character up to
    U+0020 can be, so the regex runs on those alone."""
    offsets, data = _raw(lines)
    starts = offsets[:-1]
    maybe = offsets[1:] == starts
    maybe[~maybe] = data[starts[~maybe]] <= 0x20
    out = np.zeros(len(lines), bool)
    rows = np.flatnonzero(maybe)
    if len(rows):
        out[rows] = pc.match_substring_regex(_subset(lines, rows), _BLANK_LINE).to_numpy(zero_copy_only=False)
    return out


def _found(lines: pa.Array, char: str) -> tuple[np.ndarray, np.ndarray]:
    """Where an ASCII ``char`` is in the lines' bytes, and in which line (numpy on the buffer: several times
    faster than ``pc.match_substring``, which would run over every line of the chunk)."""
    offsets, data = _raw(lines)
    at = np.flatnonzero(data[offsets[0] : offsets[-1]] == ord(char)) + offsets[0]
    return at, np.searchsorted(offsets, at, side="right") - 1


def _lines_with(lines: pa.Array, needle: str) -> np.ndarray:
    """Which lines hold ``needle``."""
    if len(needle) != 1 or not needle.isascii():
        return pc.match_substring(lines, needle).to_numpy(zero_copy_only=False)
    out = np.zeros(len(lines), bool)
    out[_found(lines, needle)[1]] = True
    return out


def _quotes_at_field_ends(lines: pa.Array, sep: str, at: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Lines whose quotes (at ``at``, in ``line``) pair up as opening quote right at a value's start and
    closing quote right before a separator or the line end (ASCII ``sep``): a cheap sufficient test for
    :func:`_well_quoted`, whose regex is left for the rest (doubled quotes, say)."""
    offsets, data = _raw(lines)
    first = np.flatnonzero(np.r_[True, line[1:] != line[:-1]]) if len(at) else np.zeros(0, np.int64)
    rank = np.arange(len(at)) - np.repeat(first, np.diff(np.r_[first, len(at)]))  # quote's index in its line
    opening = (at == offsets[line]) | (data[np.maximum(at - 1, 0)] == ord(sep))
    closing = (at + 1 == offsets[line + 1]) | (data[np.minimum(at + 1, len(data) - 1)] == ord(sep))
    good = np.where(rank % 2 == 0, opening, closing)
    out = np.bincount(line, minlength=len(lines)) % 2 == 0
    out[line[~good]] = False
    return out


def _line_kinds(lines: pa.Array, settings: ReadSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per line, which tokenizer of :func:`tokenize_lines` may take it first; and which lines hold a quote."""
    quote, escape, sep = settings.quote or "", settings.escape or "", settings.sep
    arrow_sep = len(sep) == 1 and sep.isascii() and sep not in (quote, escape, "\n", "\r")
    arrow = arrow_sep and (not quote or (len(quote) == 1 and quote.isascii()))
    kind = np.full(len(lines), _ARROW if arrow else _SPLIT, np.int8)
    if settings.token_rules:  # trimming, emptyValue, a length limit: LineTokenizer's rules for every line
        kind[:] = _OTHER
        return kind, _lines_with(lines, quote) if quote else np.zeros(len(lines), bool)
    if escape and escape != quote:
        kind[_lines_with(lines, escape)] = _OTHER
    has_quote = np.zeros(len(lines), bool)
    if quote and arrow:
        at, line = _found(lines, quote)
        has_quote[line] = True
        quoted = np.flatnonzero(has_quote & (kind == _ARROW))
        kind[quoted[~_arrow_reads_quotes(lines, quoted, settings, at, line)]] = _OTHER
    elif quote:
        has_quote = _lines_with(lines, quote)
        kind[has_quote] = _OTHER
    if arrow:
        bom = pc.starts_with(lines, BOM).to_numpy(zero_copy_only=False) & (kind == _ARROW)
        kind[bom] = np.where(has_quote[bom], _OTHER, _SPLIT)  # pyarrow's reader would drop a BOM at its start
    return kind, has_quote


def _arrow_reads_quotes(
    lines: pa.Array, quoted: np.ndarray, settings: ReadSettings, at: np.ndarray, line: np.ndarray
) -> np.ndarray:
    """For the ``quoted`` lines (quote at ``at`` in ``line``), whether pyarrow reads them as Spark does: quoted
    values closed right before a separator or the line end, and no quoted value equal to ``nullValue``."""
    quote, null_value = settings.quote or "", settings.null_value
    if not len(quoted) or quote in null_value:  # a doubled quote could make a value equal to nullValue
        return np.zeros(len(quoted), bool)
    simple = _quotes_at_field_ends(lines, settings.sep, at, line)[quoted]
    candidates = _subset(lines, quoted)
    rest = np.flatnonzero(~simple)
    if len(rest):
        pattern = _well_quoted(settings.sep, quote, settings.escape)
        simple[rest] = pc.match_substring_regex(_subset(candidates, rest), pattern).to_numpy(zero_copy_only=False)
    if null_value:  # Spark nulls a quoted nullValue, pyarrow keeps it
        simple &= ~_lines_with(candidates, quote + null_value + quote)
    return simple


def _null_rule(values: pa.Array, null_value: str) -> pa.Array:
    """Unquoted values: empty or equal to ``nullValue`` is null."""
    empty = pc.equal(values, "")
    if null_value:
        empty = pc.or_(empty, pc.equal(values, null_value))
    return pc.if_else(empty, pa.scalar(None, values.type), values)


def _split_plain(lines: pa.Array, settings: ReadSettings, width: int) -> tuple[list[pa.Array], pa.Array]:
    """Lines without quote or escape: split on ``sep``; missing fields null, extra ones dropped (ragged)."""
    parts = pc.split_pattern(lines, settings.sep)
    values = _null_rule(parts.values, settings.null_value)
    offsets = parts.offsets.to_numpy()
    starts, lengths = offsets[:-1].astype(np.int64), np.diff(offsets)
    columns = []
    for i in range(width):
        missing = lengths <= i
        index = pa.array(starts + i, mask=missing) if missing.any() else pa.array(starts + i)
        columns.append(values.take(index))
    return columns, pa.array(lengths != width)


def _parse_arrow(
    lines: pa.Array, settings: ReadSettings, width: int, data: pa.Buffer | None
) -> tuple[list[pa.Array], np.ndarray]:
    """Lines pyarrow reads as Spark does, parsed by pyarrow's CSV reader with Spark's null rules; and which of
    them it parsed (lines without ``width`` fields it hands back). ``data``: the same lines as bytes, if at
    hand. Every line ends with ``\\n``: at the very end pyarrow reads `"",` as two empty strings, not "" and null."""
    if data is None:
        ended = pa.concat_arrays([lines, pa.array([""], lines.type)])
        data = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(ended)], pa.int32()), ended), "\n")[0]
        data = data.as_buffer()
    refused: list[int] = []

    def on_invalid(row: Any) -> str:
        refused.append(int(row.number) - 1)
        return "skip"

    names = [f"c{i}" for i in range(width)]
    try:
        table = _read_strings(data, settings, names, on_invalid)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # not expected; the slower readers take them all
        return [], np.zeros(len(lines), bool)
    parsed = np.ones(len(lines), bool)
    parsed[refused] = False
    if table.num_rows != int(parsed.sum()) or min(refused, default=0) < 0:
        raise AssertionError("pyarrow's CSV reader lost count of the lines it refused")  # never seen; not silent
    return [c.combine_chunks() for c in table.columns], parsed


def _read_strings(data: pa.Buffer, settings: ReadSettings, names: list[str], on_invalid: Any) -> pa.Table:
    """pyarrow's CSV reader over whole lines, every column a string, Spark's null rules for clean lines."""
    return pacsv.read_csv(
        pa.BufferReader(data),
        pacsv.ReadOptions(column_names=names, use_threads=False, block_size=max(1 << 20, data.size + 1)),
        pacsv.ParseOptions(
            delimiter=settings.sep,
            quote_char=settings.quote or False,
            double_quote=settings.escape == settings.quote,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid,
        ),
        pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            null_values=sorted({"", settings.null_value}),
            strings_can_be_null=True,
            quoted_strings_can_be_null=settings.null_value == "",
        ),
    )


def _tokenize_each(lines: pa.Array, settings: ReadSettings, width: int) -> tuple[list[pa.Array], pa.Array]:
    """:class:`LineTokenizer` line by line (the rules' reference; used for the lines nothing faster takes)."""
    columns, ragged = python_columns(lines.to_pylist(), LineTokenizer(settings), width, settings.null_value,
                                     settings.empty_value)  # fmt: skip
    return [pa.array(c, pa.string()) for c in columns], pa.array(ragged, pa.bool_())


def python_columns(
    lines: Iterable[str], tokenizer: LineTokenizer, width: int, null_value: str, empty_value: str = ""
) -> tuple[list[list[str | None]], list[bool]]:
    """Record lines -> string columns by Spark's null rules, and which rows had another field count."""
    columns: list[list[str | None]] = [[] for _ in range(width)]
    ragged: list[bool] = []
    for line in lines:
        tokens = tokenizer.tokens(line)
        ragged.append(len(tokens) != width)
        for index in range(width):
            if index >= len(tokens):
                columns[index].append(None)
                continue
            value, quoted = tokens[index]
            if quoted and value == "":
                value = empty_value  # Spark's emptyValue (read default "")
            if value == null_value or (not quoted and value == ""):
                columns[index].append(None)
            else:
                columns[index].append(value)
    return columns, ragged


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
    if line is None:
        return None
    return [settings.empty_value if quoted and not value else value for value, quoted in
            LineTokenizer(settings).tokens(line)]  # fmt: skip


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
    return None


def refuse_line_sep(data: bytes, settings: ReadSettings) -> None:
    """``lineSep=\\n``: Spark then ends lines at ``\\n`` only (``\\r`` is data), which is its default rule on
    bytes without ``\\r``; bytes holding one are refused, naming the option."""
    if settings.line_sep is not None and b"\r" in data:
        raise ConfigError(
            "option lineSep='\\n': this file holds \\r characters, which Spark then keeps inside values and "
            "ppml-enc's reader would take as line ends; remove lineSep (\\r, \\n and \\r\\n all end lines) "
            "or read the file with Spark's reader"
        )


def to_utf8(data: bytes, settings: ReadSettings, file_start: bool = False) -> bytes:
    """The bytes in UTF-8 for the tokenizers: a single-byte ``encoding`` (US-ASCII, ISO-8859-1) is decoded first,
    as Spark decodes before tokenizing (Java's decoder: an unmappable byte reads as U+FFFD). Line ends are the
    same bytes in these charsets, so chunks cut at ``\\n`` stay whole lines. UTF-16 and UTF-32 (line mode): see
    :func:`java_decode_lines`. ``file_start``: ``data`` starts the file, where Hadoop's line reader drops the
    bytes of a UTF-8 byte-order mark whatever the charset (the UTF-8 case is left to :func:`records`)."""
    if file_start and settings.encoding != "utf-8" and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if settings.encoding in WIDE_CHARSETS:
        return java_decode_lines(data, settings.encoding, settings.line_sep is not None).encode("utf-8")
    codec = SINGLE_BYTE_CHARSETS.get(settings.encoding)
    return data if codec is None else data.decode(codec, "replace").encode("utf-8")


# Spark's charset name -> (Python codec without BOM, BOMs Java's decoder reads as a byte order at a line start)
WIDE_CHARSETS: dict[str, tuple[str, dict[bytes, str]]] = {
    "utf-16": ("utf-16-be", {b"\xfe\xff": "utf-16-be", b"\xff\xfe": "utf-16-le"}),
    "utf-16be": ("utf-16-be", {}),
    "utf-16le": ("utf-16-le", {}),
    "utf-32": ("utf-32-be", {b"\x00\x00\xfe\xff": "utf-32-be", b"\xff\xfe\x00\x00": "utf-32-le"}),
}
_HADOOP_LINE = re.compile(rb"\r\n|\r|\n")


def java_decode_lines(data: bytes, charset: str, lf_only: bool) -> str:
    """Spark's line mode with a UTF-16/UTF-32 ``encoding``: Hadoop cuts the BYTES into lines (``\\n``, ``\\r``,
    ``\\r\\n``; ``\\n`` only with ``lineSep``), then each line is decoded on its own (``new String(bytes,
    charset)``: Java's ``UTF-16``/``UTF-32`` read a byte-order mark at the start of each line, default big-endian).
    A trailing incomplete code unit reads as one U+FFFD, as in Java, and so does a UTF-32 unit beyond U+10FFFF;
    surrogates Python refuses (unpaired in UTF-16, any in UTF-32), which Java replaces by its own rules, are
    refused naming the option. The lines
    come back joined by ``\\n``; decoding makes no line break (a 0x0A or 0x0D byte always ends a line).
    Hand-written: Python's codecs detect a BOM only at the start of a stream, and replace other units."""
    default, boms = WIDE_CHARSETS[charset]
    unit = 4 if "32" in charset else 2
    lines = data.split(b"\n") if lf_only else _HADOOP_LINE.split(data)
    out = []
    for line in lines:
        codec = default
        for bom, chosen in boms.items():
            if line.startswith(bom):
                codec, line = chosen, line[len(bom) :]
                break
        whole = len(line) - len(line) % unit
        try:
            text = line[:whole].decode(codec)
        except UnicodeDecodeError:
            text = _java_utf32(line[:whole], codec) if unit == 4 else None
        if text is None:
            raise ConfigError(
                f"option encoding={charset}: a line is not valid {charset.upper()} (a surrogate code unit where "
                "none belongs), which Spark's Java decoder replaces in ways ppml-enc does not reproduce; "
                "check the encoding option, or read the file with Spark's reader"
            )
        out.append(text + "\ufffd" if whole < len(line) else text)
    return "\n".join(out)


def _java_utf32(data: bytes, codec: str) -> str | None:
    """Java's UTF-32 decoding of units Python refuses: beyond U+10FFFF reads U+FFFD; None (refused) for a surrogate,
    which Java reads as ``?`` alone and joins with a following one into a pair (checked against Java in
    ``tests/test_csv_wide_charsets.py``)."""
    order: Literal["big", "little"] = "big" if codec.endswith("be") else "little"
    out = []
    for at in range(0, len(data), 4):
        point = int.from_bytes(data[at : at + 4], order)
        if 0xD800 <= point <= 0xDFFF:
            return None
        out.append("\ufffd" if point > 0x10FFFF else chr(point))
    return "".join(out)


def refuse_nul_quote(data: bytes, settings: ReadSettings) -> None:
    """Spark reads ``quote=""`` as the quote character U+0000 (``CSVOptions.getChar``), and univocity then reads
    values that start with U+0000 in ways ppml-enc does not reproduce (``\\0(x,y`` gives ``\\0\\0(x``), so bytes
    holding U+0000 are refused with quoting off."""
    if settings.quote is None and b"\x00" in data:
        raise ConfigError(
            "option quote='': Spark then takes U+0000 as the quote character, and this file holds U+0000 "
            "bytes, which Spark's CSV parser reads in ways ppml-enc does not reproduce; set a quote character, "
            "or read the file with Spark's reader"
        )


def _multiline_lines(pieces: Iterator[bytes], settings: ReadSettings, path: str,
                     texts: RecordTexts | None = None) -> Iterator[bytes]:  # fmt: skip
    """Spark's multi-line rules that hold outside quoted values, applied to the bytes before pyarrow reads them:

    * empty lines at the file start are dropped (univocity skips empty lines; pyarrow would take the first one
      as the header);
    * a file whose first line ends with CRLF: univocity detects CRLF as the line separator and normalizes it to
      ``\\n`` inside quoted values too, so every CRLF becomes ``\\n``; a file mixing CRLF with other line ends
      is refused;
    * ``comment``: univocity skips lines starting with it outside quoted values. Whether a line starts inside
      one is the parity of the quotes before it, which holds for the files :func:`checked_multiline` accepts
      (no escape character, no quote inside a value: each quote opens or closes one).


    ``texts``, when given, collects each record's raw text (for the corrupt-record column)."""
    quote = (settings.quote or "").encode("utf-8")
    comment = (settings.comment or "").encode("utf-8")
    carry, start, crlf, inside = b"", True, None, False
    pieces = iter(pieces)
    while True:
        piece = next(pieces, None)
        if piece is not None:
            carry += piece
            cut = carry.rfind(b"\n")
            if cut < 0:
                continue
            block, carry = carry[: cut + 1], carry[cut + 1 :]
        else:
            block, carry = carry, b""
        if crlf is None and b"\n" in block:
            at = block.index(b"\n")
            crlf = at > 0 and block[at - 1 : at] == b"\r"
        if texts is not None:
            texts.feed(block, piece is None)
        if crlf:
            pairs = block.count(b"\r\n")
            if block.count(b"\r") != pairs or block.count(b"\n") != pairs:
                raise ConfigError(
                    f"option multiLine=true: {path} mixes CRLF with other line ends, which Spark's multi-line "
                    "parser (one detected line separator) reads in ways ppml-enc does not reproduce; use one kind "
                    "of line end, or read it with Spark's reader"
                )
            block = block.replace(b"\r\n", b"\n")
        if start:
            block = block.lstrip(b"\n")
            start = not block
        if comment and block:
            kept = []
            for line in block.splitlines(keepends=True):
                if inside or not line.startswith(comment):
                    kept.append(line)
                    inside ^= bool(quote) and line.count(quote) % 2 == 1
            block = b"".join(kept)
        if block:
            yield block
        if piece is None:
            return



def multiline_header(data: bytes, settings: ReadSettings) -> tuple[list[str] | None, bytes]:
    """multiLine schema inference: the first record's tokens (as :func:`header_tokens` gives a line's) and the
    bytes left for type inference (without that record when it is the header)."""
    rest = b"".join(_without_header(iter([data]), settings, True))
    head = data[: len(data) - len(rest)].lstrip(b"\n")  # empty lines before the first record, then the record
    if not head:
        return None, b""
    record = (head[:-1] if head.endswith(b"\n") else head).decode("utf-8", "replace")
    tokens = [settings.empty_value if quoted and not value else value for value, quoted in
              LineTokenizer(settings).tokens(record)]  # fmt: skip
    return tokens, rest if settings.header else data


class RecordTexts:
    """The raw text of each multiLine record, in order, as Spark puts it in the corrupt-record column.

    Spark takes univocity's ``currentParsedContent()`` without its line end: the record's bytes as they are in
    the file (quotes kept, a CRLF inside a quoted value kept as CRLF although the value reads ``\n``). Records
    are cut as :func:`_multiline_lines` cuts them on the bytes :func:`checked_multiline` accepts (each quote opens
    or closes a value, so a line end outside quotes is where the parity of the quotes before it is even); empty
    lines and ``comment`` lines between records are no records (univocity skips them)."""

    def __init__(self, settings: ReadSettings, skip_header: bool) -> None:
        self._quote = (settings.quote or "").encode("utf-8")
        self._comment = (settings.comment or "").encode("utf-8")
        self._codec = SINGLE_BYTE_CHARSETS.get(settings.encoding, "utf-8")
        self._skip = skip_header
        self._pending = b""
        self._inside = False
        self.texts: collections.deque[str] = collections.deque()

    def feed(self, block: bytes, last: bool) -> None:
        """A block of whole raw lines (the file's last block may end without a line end)."""
        for line in block.splitlines(keepends=True):
            between = not self._pending and not self._inside
            if between and (line in (b"\n", b"\r\n") or (self._comment and line.startswith(self._comment))):
                continue
            self._pending += line
            if self._quote and line.count(self._quote) % 2:
                self._inside = not self._inside
            if not self._inside:
                self._emit()
        if last and self._pending:
            self._emit()

    def _emit(self) -> None:
        raw, self._pending = self._pending, b""
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if self._skip:
            self._skip = False
            return
        self.texts.append(raw.decode(self._codec, "replace"))

    def take(self, count: int) -> list[str]:
        """The next ``count`` records' texts (fewer if the file held fewer)."""
        return [self.texts.popleft() for _ in range(min(count, len(self.texts)))]


def checked_multiline(pieces: Iterator[bytes], settings: ReadSettings, path: str,
                      texts: RecordTexts | None = None, header: bool = False) -> Iterator[bytes]:  # fmt: skip
    """The decrypted pieces of a multiLine file, refused (by option name) as soon as they hold bytes that
    pyarrow's multi-line reader would read differently from Spark: ppml-enc has no exact multi-line reader yet,
    so such files fail instead of coming back different. ``texts``: see :class:`RecordTexts`; ``header``: the
    header record is left out."""
    for piece in _without_header(_checked(pieces, settings, path, texts), settings, header):
        yield to_utf8(piece, settings)


def _without_header(blocks: Iterator[bytes], settings: ReadSettings, header: bool) -> Iterator[bytes]:
    """Blocks of whole lines without the first record (the header): pyarrow's ``skip_rows`` skips one physical
    line, which would cut a header holding a quoted line break in two. After the checks, so that the header's
    bytes are checked too (a quote inside one of its fields would move every record boundary)."""
    quote = (settings.quote or "").encode("utf-8")
    inside = False
    for block in blocks:
        if header:
            at = 0
            while header and at < len(block):
                end = block.find(b"\n", at)
                end = len(block) if end < 0 else end + 1
                line = block[at:end]
                at = end
                if not inside and line == b"\n":
                    continue  # an empty line before it
                inside ^= bool(quote) and line.count(quote) % 2 == 1
                header = inside  # its lines run until its quotes are closed
            block = block[at:]
        if block:
            yield block


def _checked(pieces: Iterator[bytes], settings: ReadSettings, path: str, texts: RecordTexts | None
             ) -> Iterator[bytes]:  # fmt: skip
    why = multiline_refusal(settings)
    pattern = _multiline_pattern(settings)
    quote = (settings.quote or "").encode("utf-8")
    carry, first, quotes = b"", True, 0
    for piece in _multiline_lines(_refused_bytes(pieces, settings), settings, path, texts):
        quotes += piece.count(quote) if quote else 0
        if first and piece[:3] == b"\xef\xbb\xbf":
            why = why or "a byte-order mark at the file start"
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
    if quotes % 2:  # accepted files hold quotes only around values: an odd count is a quote open at the end
        raise ConfigError(
            f"option multiLine=true: {path} ends inside a quoted value, which ppml-enc's multi-line reader does "
            "not read as Spark does (Spark keeps the last line end in the value); close the quote, or read the "
            "file with Spark's reader"
        )


def _refused_bytes(pieces: Iterator[bytes], settings: ReadSettings) -> Iterator[bytes]:
    for piece in pieces:
        refuse_nul_quote(piece, settings)
        refuse_line_sep(piece, settings)
        yield piece

__all__ = ["DEFAULT_SPECIALS", "LineTokenizer", "RecordTexts", "check_header", "checked_multiline", "first_line",
           "header_line", "header_tokens", "java_blank", "java_decode_lines", "multiline_header",
           "multiline_refusal", "needs_exact", "python_columns", "records", "refuse_line_sep", "refuse_nul_quote",
           "split_lines", "to_utf8", "token_value", "tokenize_lines"]  # fmt: skip
