"""ppml-enc's CSV and JSON output, decrypted, against Spark's own writers: byte for byte, same DataFrame, same options.

Generated cases (hypothesis, fixed seed): a small DataFrame of the types a CSV or JSON file holds, with the hard
values (quotes, escapes, separators, line ends, whitespace, NUL, unicode, NaN/Infinity/-0.0, integer-valued
doubles beyond 2**53, tiny decimals, years 1 and 9999, microseconds) and an option set drawn from every writer
option ppml-enc accepts. Spark writes each case with ``df.coalesce(1).write`` (jobs run concurrently on the one
session: Spark's writer is the cost); our side formats the same rows in-process with ``textwrite.encode`` on the
Arrow batch a Python data source receives, and a sample goes through ``df.write.format("ppml-enc")`` and
``filecrypt`` decryption. ``PPML_AZ_FIDELITY_WRITE_CASES`` sets the count of the slow run.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import shutil
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.datasource import textwrite
from bigdl_ppml_az.datasource.options import WriteSettings
from bigdl_ppml_az.errors import ConfigError
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.options import Options
from fidelity_support import TOKENS, without_local_constants

CI_CASES = 520
THREADS = 4
UTC = datetime.UTC

STRINGS = TOKENS + [
    " ", "  ", " x ", "\tx", "x\t", "a\nb", "x\r\ny", "\r", "\n", "\x00", "a\x00", "\x00b", "'", "''", "'a'",
    "a'b", "#", ";x", "|", "||", "a||b", "ab", "b\\", "\\", '""', '"x"', "x y z", "NA", "EMPTY", "\\N",
    "\u2028", "😀", "ü\tß", "\x01\x1f\x7f",
]  # fmt: skip
DOUBLES = [0.0, -0.0, 1.0, -1.5, 0.1, 1e7, 9999999.0, 1e-3, 0.00099, 1e-5, 1e10, 1e16, 2.0**53, 2.0**53 + 2,
           4.2799438236085128e16, 2.0**63, 2.0**64, 1e23, 2e23, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
           math.nan, math.inf, -math.inf, 123456789.0, 1.2345678901234567]  # fmt: skip


def _float32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0] if math.isfinite(x) and abs(x) < 3.4e38 else x


def _bits_double(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


_double = st.one_of(st.sampled_from(DOUBLES), st.integers(0, (1 << 64) - 1).map(_bits_double),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(-(10**18), 10**18).map(float))  # fmt: skip
_string = st.one_of(st.sampled_from(STRINGS), st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]),
                                                      max_size=6))  # fmt: skip
_date = st.dates(datetime.date(1, 1, 1), datetime.date(9999, 12, 31))
_ntz = st.datetimes(datetime.datetime(1, 1, 2), datetime.datetime(9999, 12, 30))

# Spark SQL type -> value strategy
TYPES: dict[str, Any] = {
    "STRING": _string,
    "INT": st.integers(-(1 << 31), (1 << 31) - 1),
    "BIGINT": st.integers(-(1 << 63), (1 << 63) - 1),
    "SMALLINT": st.integers(-(1 << 15), (1 << 15) - 1),
    "TINYINT": st.integers(-128, 127),
    "DOUBLE": _double,
    "FLOAT": _double.map(_float32),
    "DECIMAL(10,2)": st.decimals(-(10**8) + 1, 10**8 - 1, places=2, allow_nan=False),
    "DECIMAL(38,18)": st.decimals(-(10**6), 10**6, places=18, allow_nan=False),
    "DECIMAL(5,0)": st.decimals(-99999, 99999, places=0, allow_nan=False),
    "BOOLEAN": st.booleans(),
    "DATE": _date,
    "TIMESTAMP": _ntz.map(lambda d: d.replace(tzinfo=UTC)),
    "TIMESTAMP_NTZ": _ntz,
    "BINARY": st.binary(max_size=4),
}
JSON_ONLY: dict[str, Any] = {
    "ARRAY<INT>": st.lists(st.one_of(st.none(), st.integers(-5, 5)), max_size=3),
    "STRUCT<a: STRING, b: DOUBLE>": st.fixed_dictionaries({"a": st.one_of(st.none(), _string),
                                                           "b": st.one_of(st.none(), _double)}),  # fmt: skip
    # one key: Spark's order of a Python dict's keys is its own, so a second key would test the harness
    "MAP<STRING, INT>": st.dictionaries(_string, st.one_of(st.none(), st.integers(-5, 5)), max_size=1),
    "ARRAY<STRUCT<d: DATE, s: STRING>>": st.lists(st.fixed_dictionaries({"d": st.one_of(st.none(), _date),
                                                                         "s": st.one_of(st.none(), _string)}),
                                                  max_size=2),
}  # fmt: skip

CSV_OPTIONS: dict[str, list[str]] = {
    "header": ["true", "false"],
    "sep": [",", ";", "\t", "|", "||", " ", "ab"],
    "quote": ['"', "'", ""],
    "escape": ["\\", '"', "'", ""],
    "charToEscapeQuoteEscaping": ["#", "\\", ""],
    "escapeQuotes": ["true", "false"],
    "quoteAll": ["true", "false"],
    "nullValue": ["", "NA", "null", '"', "\\N", " "],
    "emptyValue": ["", "EMPTY", '""', " "],
    "ignoreLeadingWhiteSpace": ["true", "false"],
    "ignoreTrailingWhiteSpace": ["true", "false"],
    "lineSep": ["\n", "\r\n", "\r", "|", "ab"],
    "comment": ["#", ";", ""],
    "timeZone": ["UTC", "America/Los_Angeles", "+05:30", "Asia/Kolkata"],
    "encoding": ["UTF-8", "utf8"],
    "compression": ["none", "uncompressed"],
}
JSON_OPTIONS: dict[str, list[str]] = {
    "ignoreNullFields": ["true", "false"],
    "lineSep": ["\n", "\r\n", "|", "ab"],
    "timeZone": ["UTC", "America/Los_Angeles", "+05:30"],
    "encoding": ["UTF-8"],
    "compression": ["none"],
}


@dataclass
class WriteCase:
    """One DataFrame (Spark DDL schema and rows) and the writer options both sides get."""

    fmt: str
    schema: list[tuple[str, str]]
    rows: list[tuple[Any, ...]]
    options: dict[str, str] = field(default_factory=dict)

    @property
    def ddl(self) -> str:
        return ", ".join(f"`{name}` {kind}" for name, kind in self.schema)


_NAMES = st.sampled_from(["a", "b", "c d", " e", "f ", "'g'", "a,b", 'q"', "#h", "x|y", "é", ""])


@st.composite
def write_groups(draw: Any) -> list[WriteCase]:
    """Cases sharing a schema and option set (so Spark writes them in one job), each with its own rows."""
    fmt = draw(st.sampled_from(["csv", "csv", "csv", "json"]))
    pool = list(TYPES) + (list(JSON_ONLY) if fmt == "json" else [])
    kinds = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=5))
    names = draw(st.lists(_NAMES, min_size=len(kinds), max_size=len(kinds), unique_by=lambda n: n.lower().strip()))
    if fmt == "json":
        names = [n.strip() or f"c{i}" for i, n in enumerate(names)]
        names = [n if names.count(n) == 1 else f"{n}{i}" for i, n in enumerate(names)]
    strategies = [st.one_of(st.none(), {**TYPES, **JSON_ONLY}[k]) for k in kinds]
    table = CSV_OPTIONS if fmt == "csv" else JSON_OPTIONS
    chosen = draw(st.lists(st.sampled_from(sorted(table)), max_size=6, unique=True))
    options = {name: draw(st.sampled_from(table[name])) for name in chosen}
    schema = list(zip(names, kinds, strict=True))
    row_sets = draw(st.lists(st.lists(st.tuples(*strategies), min_size=1, max_size=5), min_size=GROUP, max_size=GROUP))
    return [WriteCase(fmt, schema, rows, options) for rows in row_sets]


GROUP = 13  # cases per Spark write job


def generated(count: int, seed_value: int = 11) -> list[list[WriteCase]]:
    out: list[list[WriteCase]] = []

    @seed(seed_value)
    @settings(max_examples=-(-count // GROUP), database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(write_groups())
    def collect(group: list[WriteCase]) -> None:
        out.append(group)

    with without_local_constants():
        collect()
    return out


# ------------------------------------------------------------------------------------------------ both sides


def _one_file(directory: Path) -> bytes:
    parts = sorted(p for p in directory.iterdir() if p.is_file() and p.name.startswith("part-"))
    return b"".join(p.read_bytes() for p in parts)


def spark_bytes(spark: Any, case: WriteCase, out: Path) -> bytes | str:
    """Spark's writer output for the case, or its error class when Spark refuses."""
    try:
        df = spark.createDataFrame(case.rows, case.ddl).coalesce(1)
        df.write.options(**case.options).mode("overwrite").format(case.fmt).save(str(out))
    except Exception as exc:  # Spark refuses some option sets (e.g. quote == sep); ours must refuse too
        return f"error: {str(exc).splitlines()[0][:200]}"
    data = _one_file(out)
    shutil.rmtree(out, ignore_errors=True)
    return data


def arrow_batch(spark: Any, case: WriteCase) -> pa.RecordBatch:
    """The Arrow batch a Python data source's writer receives for these rows (session time zone UTC)."""
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import _parse_datatype_string

    struct_type = _parse_datatype_string(case.ddl)
    schema = to_arrow_schema(struct_type, timezone="UTC", prefers_large_types=False)
    columns = list(zip(*case.rows, strict=True)) if case.rows else [[] for _ in case.schema]
    arrays = [pa.array(list(col), type=f.type) for col, f in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def our_bytes(spark: Any, case: WriteCase) -> bytes | str:
    try:
        write = WriteSettings.from_options(Options({**case.options, "format": case.fmt}).check("write"))
        batch = arrow_batch(spark, case)
        out: list[bytes] = []
        textwrite.encode(write, out.append, batch, iter([batch]))
    except ConfigError as exc:
        return f"error: {exc}"
    return b"".join(out)


def spark_group_bytes(spark: Any, group: list[WriteCase], out: Path) -> list[bytes | str]:
    """Spark's output for every case of a group from one write job: partitionBy a case number, rows kept in
    order (sorted by case and row number before the write, so the writer does not re-sort)."""
    first = group[0]
    rows = [(c, r, *row) for c, case in enumerate(group) for r, row in enumerate(case.rows)]
    try:
        df = spark.createDataFrame(rows, "`__case` INT, `__row` INT, " + first.ddl).coalesce(1)
        df = df.sortWithinPartitions("__case", "__row").drop("__row")
        df.write.options(**first.options).partitionBy("__case").mode("overwrite").format(first.fmt).save(str(out))
    except Exception as exc:
        return [f"error: {str(exc).splitlines()[0][:200]}"] * len(group)
    data: list[bytes | str] = [_one_file(out / f"__case={c}") for c in range(len(group))]
    shutil.rmtree(out, ignore_errors=True)
    return data


def compare(spark: Any, groups: list[list[WriteCase]], tmp: Path) -> list[tuple[WriteCase, Any, Any]]:
    with ThreadPoolExecutor(THREADS) as pool:
        theirs = list(pool.map(lambda ig: spark_group_bytes(spark, ig[1], tmp / f"g{ig[0]}"), enumerate(groups)))
    diffs = []
    for group, outputs in zip(groups, theirs, strict=True):
        for case, spark_out in zip(group, outputs, strict=True):
            ours = our_bytes(spark, case)
            both_refuse = isinstance(spark_out, str) and isinstance(ours, str)
            if not both_refuse and ours != spark_out and not jdk17_double_gap(spark_out, ours):
                diffs.append((case, spark_out, ours))
    return diffs


_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:E-?\d+)?")


def jdk17_double_gap(theirs: Any, ours: Any) -> bool:
    """The one known difference (docs/FIDELITY.md): JDK 17's Double.toString is not the shortest for subnormals
    and a few values such as 2e23 (``1.9999999999999998E23``), where ppml-enc writes the shortest digits. True
    only when the outputs differ in numbers alone and every differing pair is the same double."""
    if not (isinstance(theirs, bytes) and isinstance(ours, bytes)):
        return False
    if _NUMBER.sub(b"#", theirs) != _NUMBER.sub(b"#", ours):
        return False
    pairs = zip(_NUMBER.findall(theirs), _NUMBER.findall(ours), strict=True)
    differing = [(a, b) for a, b in pairs if a != b]
    return bool(differing) and all(float(a) == float(b) and (b"E" in a) for a, b in differing)


def _report(diffs: list[tuple[WriteCase, Any, Any]], total: int) -> str:
    lines = [f"{len(diffs)} of {total} write cases differ from Spark's writer (differing lines):"]
    for case, theirs, ours in diffs[:60]:
        if isinstance(theirs, bytes) and isinstance(ours, bytes):
            pairs = [(a, b) for a, b in zip(theirs.split(b"\n"), ours.split(b"\n"), strict=False) if a != b][:2]
            lines.append(f"  {case.fmt} {case.options} spark/ours: {pairs!r}")
        else:
            lines.append(f"  {case!r}\n    spark: {theirs!r}\n    ours:  {ours!r}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ tests


def test_generated_writes_are_spark_bytes(spark: Any, tmp_path: Path) -> None:
    groups = generated(CI_CASES)
    total = sum(len(g) for g in groups)
    assert total >= 500
    diffs = compare(spark, groups, tmp_path)
    assert not diffs, _report(diffs, total)


@pytest.mark.slow
def test_generated_writes_long_run(spark: Any, tmp_path: Path) -> None:
    count = int(os.environ.get("PPML_AZ_FIDELITY_WRITE_CASES", "5000"))
    groups = generated(count, seed_value=12)
    diffs = compare(spark, groups, tmp_path)
    assert not diffs, _report(diffs, sum(len(g) for g in groups))


REGRESSIONS = [
    # univocity keeps what a trimmed value left, then appends emptyValue: " " -> ` \"\` (sic)
    WriteCase("csv", [("a", "STRING"), ("b", "STRING")], [(" ", "  x")], {"ignoreLeadingWhiteSpace": "false"}),
    # a one-column row that is empty text is skipped
    WriteCase("csv", [("a", "STRING")], [(None,), ("x",), ("",), (" ",)], {}),
    # '#' quotes only in the first column; a set comment replaces it
    WriteCase("csv", [("a", "STRING"), ("b", "STRING")], [("#a", "#b")], {}),
    WriteCase("csv", [("a", "STRING"), ("b", "STRING")], [("#a", ";b")], {"comment": ";"}),
    # header names: 'x' loses its quotes; names equal but for case/space are not trimmed
    WriteCase("csv", [("'ab'", "INT"), (" 'cd' ", "INT"), ("x", "INT"), (" X ", "INT")], [(1, 2, 3, 4)],
              {"header": "true"}),  # fmt: skip
    # JDK 17 prints integer-valued doubles and floats with their integer digits
    WriteCase("csv", [("d", "DOUBLE"), ("f", "FLOAT")], [(4.2799438236085128e16, _float32(149528887296.0))], {}),
    WriteCase("json", [("d", "DOUBLE"), ("f", "FLOAT")], [(math.nan, _float32(123456789.0)), (-0.0, -math.inf)], {}),
    # lineSep chars trigger quoting and replace newlines inside quoted values
    WriteCase("csv", [("a", "STRING"), ("b", "STRING")], [("l\nm", "b\\")], {"lineSep": "ab"}),
    # local mean time offsets carry seconds
    WriteCase("csv", [("t", "TIMESTAMP")], [(datetime.datetime(1800, 7, 2, 10, 57, 3, tzinfo=UTC),)],
              {"timeZone": "America/Los_Angeles"}),  # fmt: skip
    WriteCase("csv", [("b", "BINARY"), ("d", "DECIMAL(10,8)")], [(b"", Decimal("0E-8")), (b"\n\xff", Decimal("1E-8"))],
              {}),  # fmt: skip
    WriteCase("json", [("m", "MAP<STRING, INT>"), ("s", "STRING")], [({"k": None}, "\x01\x1f\x7f\u2028/")],
              {"ignoreNullFields": "false"}),  # fmt: skip
]


def test_write_regressions_are_spark_bytes(spark: Any, tmp_path: Path) -> None:
    diffs = compare(spark, [[case] for case in REGRESSIONS], tmp_path)
    assert not diffs, _report(diffs, len(REGRESSIONS))


SAMPLE = 6


def test_ppml_enc_writer_output_decrypts_to_spark_bytes(spark: Any, tmp_path: Path) -> None:
    """The real path: df.write.format("ppml-enc") in Spark's Python workers, decrypted, equals Spark's output."""
    cases = [group[0] for group in generated(SAMPLE * GROUP, seed_value=13)] + REGRESSIONS[:3]
    key = tmp_path / "primary.key"
    kms = LocalKms.create(key)
    checked = 0
    for i, case in enumerate(cases):
        theirs = spark_bytes(spark, case, tmp_path / f"spark{i}")
        if isinstance(theirs, str):
            continue
        df = spark.createDataFrame(case.rows, case.ddl).coalesce(1)
        writer = df.write.format("ppml-enc").option("kms", "local").option("primaryKeyPath", str(key))
        writer.option("format", case.fmt).options(**case.options).mode("overwrite").save(str(tmp_path / f"enc{i}"))
        filecrypt.decrypt_path(str(tmp_path / f"enc{i}"), str(tmp_path / f"ours{i}"), kms)
        assert _one_file(tmp_path / f"ours{i}") == theirs, case
        checked += 1
    assert checked >= SAMPLE


@pytest.mark.parametrize(
    ("options", "named"),
    [({"encoding": "UTF-16"}, "encoding=UTF-16"), ({"charset": "latin1"}, "charset=latin1"),
     ({"compression": "gzip"}, "compression=gzip"), ({"codec": "snappy"}, "codec=snappy"),
     ({"lineSep": "abc"}, "lineSep"), ({"timeZone": "Mars/Base"}, "timeZone=Mars/Base"),
     ({"sep": "\\u0001"}, "sep=\\u0001")],
)  # fmt: skip
def test_write_options_we_cannot_match_are_refused_by_name(options: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        WriteSettings.from_options(Options(options).check("write"))
    assert named in str(info.value)


@pytest.mark.parametrize("name", ["charToEscapeQuoteEscaping"])  # the others are read options too now (issue 20)
def test_write_only_options_are_refused_on_reads(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        Options({name: "x"}).check("read")
    assert f"option {name}: Spark's CSV option" in str(info.value) and "not supported by ppml-enc on reads" in str(
        info.value
    )
