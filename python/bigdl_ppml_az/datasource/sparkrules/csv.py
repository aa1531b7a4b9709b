"""Spark's CSV line-mode rules, in Python: the exact-semantics reader for inputs pyarrow reads differently.

Spark (``multiLine=false``) reads a CSV file as Hadoop lines (ended by ``\\n``, ``\\r`` or ``\\r\\n``), drops the
lines whose Java ``trim()`` is empty (and, with ``comment``, lines starting with it), takes the first remaining
line of the file as the header, and tokenizes every other line on its own with univocity's parser:

* a value starts quoted only when its first character is the quote (no leading-whitespace skip on read);
* inside quotes, ``escape`` + quote is a quote and ``escape`` + ``escape`` is one ``escape`` (``escape`` equal to
  ``quote``: doubled quotes); any other character, a newline-free line's end included, is kept;
* after the closing quote, further quotes and then whitespace (any character up to U+0020) are skipped; if a
  separator or the line end follows, the value is what was inside the quotes plus those further quotes
  (``"ab"",`` reads ``ab"``). Otherwise the quote was unescaped and, as univocity's ``STOP_AT_DELIMITER``, the
  value becomes quote + what was parsed + quote + the raw rest up to the next separator;
* an unquoted value runs to the next separator with every character kept (quotes and backslashes included);
* a quote left open at the line end closes there (line mode never joins lines).

Null semantics: an unquoted empty value is null; a value equal to ``nullValue`` (quoted or not) is null; a quoted
empty value is ``""`` unless ``nullValue`` is empty. The parser here only makes string tokens; types, ``mode``
and the corrupt-record column are applied by :mod:`.parsing` exactly as on the pyarrow path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ...errors import ConfigError, MalformedRecordError
from ..options import ReadSettings

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
    return bool(pc.match_substring_regex(pa.array([chunk], pa.binary()), pattern)[0].as_py())


def needs_exact(chunk: bytes, settings: ReadSettings, first: bool) -> bool:
    """Whether pyarrow's CSV reader could give another answer than Spark's line mode for these bytes.

    pyarrow agrees with Spark on lines without quotes, escapes, lone ``\\r``, blank or whitespace-only lines and a
    BOM, for a one-character separator and no ``comment``; anything else goes to :func:`tokenize_lines`.
    """
    if not settings.arrow_syntax or settings.comment:
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
                if stop == n and step > 1 and value.endswith(quote):
                    value += quote  # univocity's multi-character-separator parser doubles a quote ending the line
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
    columns, ragged = python_columns(lines.to_pylist(), LineTokenizer(settings), width, settings.null_value)
    return [pa.array(c, pa.string()) for c in columns], pa.array(ragged, pa.bool_())


def python_columns(
    lines: Iterable[str], tokenizer: LineTokenizer, width: int, null_value: str
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


def checked_multiline(pieces: Iterator[bytes], settings: ReadSettings, path: str) -> Iterator[bytes]:
    """The decrypted pieces of a multiLine file, refused (by option name) as soon as they hold bytes that
    pyarrow's multi-line reader would read differently from Spark: ppml-enc has no exact multi-line reader yet,
    so such files fail instead of coming back different."""
    why = multiline_refusal(settings)
    pattern = _multiline_pattern(settings)
    quote = (settings.quote or "").encode("utf-8")
    carry, first, quotes = b"", True, 0
    for piece in pieces:
        refuse_nul_quote(piece, settings)
        quotes += piece.count(quote) if quote else 0
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
    if quotes % 2:  # accepted files hold quotes only around values: an odd count is a quote open at the end
        raise ConfigError(
            f"option multiLine=true: {path} ends inside a quoted value, which ppml-enc's multi-line reader does "
            "not read as Spark does (Spark keeps the last line end in the value); close the quote, or read the "
            "file with Spark's reader"
        )


__all__ = ["LineTokenizer", "checked_multiline", "first_line", "header_tokens", "java_blank", "multiline_refusal",
           "needs_exact", "python_columns", "records", "refuse_nul_quote", "split_lines", "tokenize_lines"]  # fmt: skip
