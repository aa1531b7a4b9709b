"""The CSV fast path's shortcuts keep their answers: each is checked against the slower form it replaced.

The read path of TPC-H-like CSV was made cheaper (issue 20, Measure) by three shortcuts whose correctness rests
on facts about pyarrow; these tests pin the facts, so that a pyarrow upgrade that changes them fails here
instead of changing answers silently.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql.types import DateType, StructField, StructType

from bigdl_ppml_az.datasource.lines import arrow_view
from bigdl_ppml_az.datasource.options import ReadSettings
from bigdl_ppml_az.datasource.parsing import _ISO_DATE, CsvParser
from bigdl_ppml_az.datasource.sparkrules.csv import _has_blank_line

_DATEISH = st.text(alphabet="0123456789-+ T:.\n\t/x\u0661\uff11", max_size=14)


@settings(max_examples=3000, deadline=None)
@given(st.lists(_DATEISH | st.sampled_from(["2020-01-01", "0000-02-29", "2021-02-29", "9999-12-31"]), max_size=5))
def test_pyarrow_date_cast_takes_only_the_iso_shape(values: list[str]) -> None:
    """parsing.Converter casts date strings without the _ISO_DATE regex pass when the cast succeeds: so the cast
    must never accept a value outside that shape (else a value Spark parses by its own rules would be cast)."""
    try:
        pa.array(values, pa.string()).cast(pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return
    assert all(re.fullmatch(_ISO_DATE.strip("^$"), v, flags=re.ASCII) for v in values), values


def _blank_line_reference(chunk: bytes) -> bool:
    """The form before the shortcut (Python's ``re`` over a copy without the closing line end)."""
    body = chunk[:-1] if chunk.endswith(b"\n") else chunk
    rest = re.compile(rb"[\x00-\x09\x0b-\x20]*(?:\n|$)")
    if not body or rest.match(body):
        return True
    return any(rest.match(body, m.start() + 1) for m in re.finditer(rb"\n[\x00-\x20]", body))


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=40) | st.text(alphabet="a, \t\r\n\x00\x1f\x20\x21", max_size=40).map(str.encode))
def test_blank_line_check_equals_its_definition(chunk: bytes) -> None:
    assert _has_blank_line(chunk) == _blank_line_reference(chunk)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([r"\n[\x00-\x20]", r'"\s', r"\A(?:[^,\n]*,)*[^,\n]*\n?\z", "a|b"]))
def test_zero_copy_view_matches_as_a_copied_array(data: bytes, pattern: str) -> None:
    copied = pc.match_substring_regex(pa.array([data], pa.binary()), pattern)[0].as_py()
    assert pc.match_substring_regex(arrow_view(data), pattern)[0].as_py() == copied


def test_header_only_chunk_gives_no_rows_and_a_record_after_it_does() -> None:
    schema = StructType([StructField("d", DateType())])
    parser = CsvParser(ReadSettings.from_options({"format": "csv", "header": "true"}), schema, "f.csv")
    assert list(parser.parse(b"d\r\n\r\n\n", True)) == []
    rows = [r for b in parser.parse(b"d\n\r\n2020-01-02\n", True) for r in b.to_pylist()]
    assert [str(r["d"]) for r in rows] == ["2020-01-02"]
