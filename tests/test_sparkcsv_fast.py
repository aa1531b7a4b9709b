"""The vectorised exact CSV reader gives, token for token, what the per-line reader gives.

``sparkcsv.tokenize_lines`` shares lines out to pyarrow's CSV reader, ``pyarrow.compute.split_pattern`` and
``LineTokenizer``; :func:`per_line` below is the exact reader as it was before (Spark's line rules from
``sparkcsv.records``, then ``LineTokenizer`` and the null rules line by line), kept here as the reference.
Generated chunks carry every hard part: quotes (closed, open, unescaped, doubled), escapes, whitespace after
a closing quote, blank, whitespace-only and comment lines, CR/LF/CRLF, a BOM, non-ASCII and invalid UTF-8, no
final newline, ragged rows, ``nullValue`` quoted and not, multi-character separators, every
``unescapedQuoteHandling`` mode.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st

from bigdl_ppml_az.datasource.options import ReadSettings
from bigdl_ppml_az.datasource.sparkrules import csv as sparkcsv
from bigdl_ppml_az.errors import ConfigError, MalformedRecordError


def per_line(
    chunk: bytes, options: ReadSettings, width: int, skip_header: bool, drop_line: str | None = None
) -> tuple[list[list[str | None]], list[bool], list[str]]:
    """The reference: the exact reader before vectorisation, one line at a time."""
    tokenizer = sparkcsv.LineTokenizer(options)
    columns: list[list[str | None]] = [[] for _ in range(width)]
    ragged: list[bool] = []
    texts: list[str] = []
    lines: Iterator[str] = sparkcsv.records(chunk.decode("utf-8", "replace"), options, skip_header)
    if drop_line is not None:
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
            null = value == options.null_value or (not quoted and value == "")
            columns[index].append(None if null else value)
    return columns, ragged, texts


def fast(
    chunk: bytes, options: ReadSettings, width: int, skip_header: bool, drop_line: str | None = None
) -> tuple[list[list[str | None]], list[bool], list[str]]:
    columns, ragged, texts = sparkcsv.tokenize_lines(chunk, options, width, skip_header, drop_line)
    assert all(c.type == pa.string() and len(c) == len(texts) for c in columns)
    assert ragged.type == pa.bool_() and texts.type == pa.string()
    return [c.to_pylist() for c in columns], ragged.to_pylist(), texts.to_pylist()


SEPS = [",", ";", "\t", "|", "::", "ab", "§"]
QUOTES = ['"', "'", None, "é"]
ESCAPES = ["\\", '"', "'", None]
NULLS = ["", "NULL", "n", "a", 'a"b']
COMMENTS = [None, "#", "!"]
QUOTE_MODES = ["STOP_AT_DELIMITER", "STOP_AT_DELIMITER", "STOP_AT_CLOSING_QUOTE", "BACK_TO_DELIMITER", "SKIP_VALUE",
               "RAISE_ERROR"]  # unescapedQuoteHandling (Spark's default drawn more often)  # fmt: skip


@st.composite
def option_sets(draw: st.DrawFn) -> ReadSettings:
    sep = draw(st.sampled_from(SEPS))
    quote = draw(st.sampled_from([q for q in QUOTES if q is None or q not in sep]))
    escape = draw(st.sampled_from([e for e in ESCAPES if e is None or e not in sep]))
    modes = QUOTE_MODES if len(sep) == 1 else QUOTE_MODES[:1]  # other modes refuse a multi-character sep
    return ReadSettings(
        quote_handling=draw(st.sampled_from(modes)),
        header=draw(st.booleans()),
        sep=sep,
        quote=quote,
        escape=escape,
        null_value=draw(st.sampled_from(NULLS)),
        comment=draw(st.sampled_from([c for c in COMMENTS if c is None or c not in sep])),
    )


def field(options: ReadSettings) -> st.SearchStrategy[str]:
    """One value as it appears in a line: plain, quoted (well or badly), with the option set's specials.

    Drawn from ready-made shapes (one or two glued together) rather than character by character: hypothesis
    spends most of this test's time drawing, and shapes reach the hard cases more often."""
    q, e, s, n = options.quote or '"', options.escape or "\\", options.sep, options.null_value
    shapes = [
        "", "x", "yz", " ", "\t", "é€", "\x00", "\x0b", "\ufeff", "1.5", n, "#", "NA", s[0], q, e, e + q, "a" + q + "b",
        q + "x" + q, q + q, q + s + q, q + "a" + q + q + "b" + q, q + e + q + "c" + q, q + e + e + q, q + n + q,
        q + "x" + q + " ", q + "x" + q + "\t ", q + "x" + q + "y", q + "x", q + " " + s, "x" + e, q + "\ufeff" + q,
    ]  # fmt: skip
    return st.lists(st.sampled_from(shapes), min_size=1, max_size=2).map("".join)


@functools.cache
def line_lists(options: ReadSettings, width: int) -> st.SearchStrategy[list[str]]:
    """Up to 10 lines: records of about ``width`` fields, blank and whitespace-only lines, comments (cached:
    building strategies for every example costs more than drawing from them)."""
    values = field(options)
    counts = [width, width, width, max(width - 1, 1), width + 1, 1]
    records = {n: st.lists(values, min_size=n, max_size=n).map(options.sep.join) for n in set(counts)}
    others = ["", " ", "\t", " \t\x00", "\x0b", "\u3000", "#c", "!c" + options.sep, " #c"]  # blank or comment
    line = st.one_of(st.sampled_from(counts).flatmap(records.__getitem__), st.sampled_from(others))
    return st.lists(line, max_size=10)


@st.composite
def chunks(draw: st.DrawFn) -> tuple[bytes, ReadSettings, int, bool, str | None]:
    options = draw(option_sets())
    width = draw(st.integers(0, 5))
    lines = draw(line_lists(options, width))
    ends = draw(st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=len(lines), max_size=len(lines)))
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    if lines and draw(st.booleans()):
        text = text.rstrip("\r\n")  # no final line end
    if draw(st.integers(0, 4)) == 0:
        text = "\ufeff" + text
    data = text.encode("utf-8")
    if data and draw(st.integers(0, 9)) == 0:  # invalid UTF-8 somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82"])) + data[at:]
    drop_line = draw(st.sampled_from([None, *lines[:2]]))
    return data, options, width, options.header, drop_line


@seed(20261201)
@settings(max_examples=2000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(chunks())
def test_vectorised_reader_equals_per_line_reader(case: tuple[bytes, ReadSettings, int, bool, str | None]) -> None:
    assert _outcome(fast, case) == _outcome(per_line, case)


def _outcome(reader: Any, case: tuple[bytes, ReadSettings, int, bool, str | None]) -> Any:
    """The reader's tokens, or the refusal or failure it raised (both readers must raise on the same chunks)."""
    try:
        return reader(*case)
    except ConfigError as exc:
        return "refused", str(exc)
    except MalformedRecordError as exc:  # unescapedQuoteHandling=RAISE_ERROR
        return "failed", str(exc)


LINEITEM = (
    b"l_orderkey,l_quantity,l_comment\n"
    b'1,17,"egular courts above the"\n'
    b'2,36,"ly final, dependencies"\n'
    b'3,8,"riously. regular, express dep"\n'
)


@pytest.mark.parametrize(
    ("chunk", "options"),
    [
        (LINEITEM, ReadSettings(header=True, comment="#")),  # the benchmark's exact-path variant
        (b'a,b\n"x",\n', ReadSettings(header=True, null_value="x")),  # quoted nullValue: per-line tokenizer
        (b"a;;b\n;\n", ReadSettings(sep=";;")),  # multi-character sep: split_pattern
        (b'1,"a""b",c\n1,"a",b,c\n\xef\xbb\xbf"q",2,3\n', ReadSettings(escape='"')),  # ragged quoted row
    ],
)
def test_each_path_agrees_on_typical_chunks(chunk: bytes, options: ReadSettings) -> None:
    for width in (2, 3):
        assert fast(chunk, options, width, options.header) == per_line(chunk, options, width, options.header)


def test_lines_are_shared_out_as_documented() -> None:
    """Clean quoted lines go to pyarrow, quote-free ones of another width to split_pattern, the rest per line:
    if every line fell to LineTokenizer the speed would be gone without any answer changing."""
    options = ReadSettings(comment="#")
    lines = pa.array(['1,"a, b"', "1,2,3", '1,"a"b', "1,\\x"])
    kind, has_quote = sparkcsv._line_kinds(lines, options)
    assert kind.tolist() == [sparkcsv._ARROW, sparkcsv._ARROW, sparkcsv._OTHER, sparkcsv._OTHER]
    assert has_quote.tolist() == [True, False, True, False]
    columns, parsed = sparkcsv._parse_arrow(lines[:2], options, 2, None)
    assert parsed.tolist() == [True, False]  # three fields: handed back (to split_pattern, having no quote)
    assert [c.to_pylist() for c in columns] == [["1"], ["a, b"]]


@seed(20261202)
@settings(max_examples=1500, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(chunks())
@example((b'"x\ny"\n', ReadSettings(), 1, False, None))  # a quoted value across lines: not well quoted
@example((b'"a,"b\n1,2\n', ReadSettings(), 2, False, None))
@example((b'a,"b"\r\n"c""d",e\n', ReadSettings(escape='"'), 2, False, None))
@example((b'a,"b"\r\n"c""d",e\n', ReadSettings(), 2, False, None))
@example((b'a,"b"\r\n"c",d', ReadSettings(), 2, False, None))
def test_whole_chunk_quote_check_equals_the_line_by_line_check(
    case: tuple[bytes, ReadSettings, int, bool, str | None],
) -> None:
    """needs_exact's one-match check of a chunk says what the check of each line on its own says."""
    chunk, options = case[0], case[1]
    if not options.quote or not options.arrow_syntax:
        return
    lines = pa.array(chunk.split(b"\n"), pa.binary())
    pattern = sparkcsv._well_quoted(options.sep, options.quote, options.escape)
    by_line = bool(pc.all(pc.match_substring_regex(lines, pattern)).as_py())
    assert sparkcsv._all_well_quoted(chunk, options) == by_line
