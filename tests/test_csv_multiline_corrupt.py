"""multiLine CSV records: the corrupt-record column holds Spark's raw record text, and the header is the first
record, line breaks inside its quoted values included (issue 20, part 4).

Spark puts univocity's parsed content of a malformed record there, without its line end: the bytes as they are in
the file, quotes kept, a CRLF inside a quoted value kept as CRLF (the value itself reads ``\\n``). Spark's reader
on the plaintext is the oracle; ppml-enc reads the encrypted copy (``fidelity_support.differences``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from fidelity_support import Case, differences, generate

pytest.importorskip("pyspark.sql.datasource")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SCHEMA = "a int, b string, c int, _corrupt_record string"
MIDDLE = "a int, _corrupt_record string, b string, c int"

HAND = [
    b'a,b,c\n1,"x\ny",2\nzz,"q",3\n4,"p, r",\n6,"m"\n',  # quoted newline; a bad int; a short record
    b'a,b,c\r\nzz,"x\r\ny",3\r\n1,2,3\r\nq,,\r\n',  # CRLF kept in the raw text, "\n" in the value
    b'"a\nb",b,c\nzz,"x\n\ny",3\n1,2\n# c\nww\n',  # a quoted header; an empty line inside a value
    b"\n\na,b,c\n\n1,2,3\nx,y,z\n\n7,8\n",  # empty lines before and between records
    b'1,"two\nlines",3,4\n5,six,7\n',  # a record too long
    b'0,2013-111_11 12:13:14\n1,1983-08-04\n',  # Spark's value-malformed.csv shape
    b'x,"",\n"",,\n',  # quoted empty values
]


def _hand_cases() -> list[Case]:
    cases = []
    for data in HAND:
        for header, schema in (("true", SCHEMA), ("false", MIDDLE)):
            cases.append(Case(data, {"multiLine": "true", "header": header, "mode": "PERMISSIVE"}, "csv", schema))
        cases.append(Case(data, {"multiLine": "true", "comment": "#", "columnNameOfCorruptRecord": "bad"}, "csv",
                          "a int, b string, bad string"))  # fmt: skip
        cases.append(Case(data, {"multiLine": "true", "mode": "DROPMALFORMED"}, "csv", SCHEMA))
        # no schema: the header (or the column count) is the first record, which may hold a quoted line break
        cases.append(Case(data, {"multiLine": "true", "header": "true", "inferSchema": "true"}))
        cases.append(Case(data, {"multiLine": "true", "inferSchema": "true"}))
    # many streaming blocks: malformed rows found in one block and placed in a later one, texts in step
    body = ["id,text"] + [f'{i},"line one {i}\nline, two"' if i % 2 else f"{i},single" for i in range(3000)]
    body[1000] = "999,too,many"
    body[2001] = "x2000,"
    many = ("\n".join(body) + "\n").encode()
    for schema in ("id int, text string, _corrupt_record string", "id int, text string"):
        cases.append(Case(many, {"multiLine": "true", "header": "true", "chunkBytes": "8k"}, "csv", schema))
    return cases


_FIELD = st.sampled_from(["1", "22", "x", "", '"q"', '"a\nb"', '"c,d"', '""', "-3", "#h", "a b"])


@st.composite
def _records(draw: Any) -> Case:
    crlf = draw(st.booleans())
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        width = draw(st.integers(1, 4))
        lines.append(",".join(draw(_FIELD) for _ in range(width)))
        if draw(st.integers(0, 5)) == 0:
            lines.append("")
    end = "\r\n" if crlf else "\n"
    text = end.join(line.replace("\r\n", end).replace("\n", end) for line in lines)
    if draw(st.booleans()):
        text += end
    options = {"multiLine": "true", "header": draw(st.sampled_from(["true", "false"])),
               "mode": draw(st.sampled_from(["PERMISSIVE", "DROPMALFORMED"]))}  # fmt: skip
    if draw(st.booleans()):
        options["comment"] = "#"
    return Case(text.encode(), options, "csv", draw(st.sampled_from([SCHEMA, MIDDLE])))


def _check(spark: Any, tmp_path: Path, key: Path, cases: list[Case]) -> None:
    found, refused = differences(spark, cases, tmp_path, key)
    print(f"{len(cases)} multiLine corrupt-record cases, {refused} refused by name, {len(found)} differences")
    assert found == [], "\n".join(found[:3])
    assert refused <= len(cases) // 4, f"{refused} of {len(cases)} refused"  # whitespace-only lines are refused


def test_multiline_corrupt_record_text_is_sparks(spark: Any, tmp_path: Path, local_key: Path) -> None:
    _check(spark, tmp_path, local_key, _hand_cases())


@pytest.mark.slow
def test_multiline_corrupt_record_text_generated(spark: Any, tmp_path: Path, local_key: Path) -> None:
    """``PPML_AZ_MULTILINE_CASES`` generated files (default 300)."""
    count = int(os.environ.get("PPML_AZ_MULTILINE_CASES", "300"))
    _check(spark, tmp_path, local_key, generate(_records(), count, seed=20))
