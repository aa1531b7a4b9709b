"""ppml-enc's Parquet output against Spark's own Parquet writer: the same DataFrame when Spark reads either.

Seeded generated DataFrames (``random``, fixed seeds) over every Spark type Parquet holds: boolean, tinyint,
smallint, int, bigint, float and double (NaN, -0.0, infinities, extremes), decimals of precision 1..38 (9/10/18/19
always among them), strings (empty, non-BMP, NUL), binary, dates (years 1 and 9999, before 1582), timestamps (in
session time zones other than UTC) and timestamp_ntz at their extremes, arrays, maps and structs nested two deep,
nulls everywhere, non-nullable fields, field metadata, column names with spaces, dots, unicode and mixed case,
empty DataFrames and empty partitions, ``partitionBy``, several tasks.

For each case: ``df.write.parquet(A)`` (Spark's writer) and ``df.write.format("ppml-enc")`` with
``format=parquet`` to B, under ppml-gcm (B decrypted with ``filecrypt.decrypt_path``) or Parquet Modular Encryption
(each part decrypted by pyarrow and its Arrow table, footer keys included, written back as plain Parquet). Then
``spark.read.parquet(A)`` and ``spark.read.parquet(B plain)`` must have equal schemas (names, types, nullability,
field metadata) and equal rows as multisets (compared as ``to_json`` text: NaN and -0.0 exactly, microseconds);
``spark.read.format("ppml-enc")`` on B must give the same rows and schema (field metadata aside: see
``test_ppml_enc_read_keeps_field_metadata``). Inputs Spark's writer refuses must be refused by ppml-enc too (a
one-line error naming the column). ``PPML_AZ_PARQUET_WRITE_CASES`` sets the slow run's count.
"""

from __future__ import annotations

import datetime as dt
import decimal
import glob
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.datasource.sparkrules import parquetwrite
from bigdl_ppml_az.kms import KmsSettings, build_kms
from bigdl_ppml_az.kms.local import LocalKms

CI_CASES = 5  # per run: ppml-gcm and PME (4-13 s a case on the shared 2-core machine)
UTC = dt.UTC
ZONES = ["UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham"]
NAMES = ["a", "B", "c d", "e.f", "ü", "Mixed Case", "日本", "x_1", "tab\tname", "Ab", "n,m;x", "longer name here"]
DECIMALS = [(1, 0), (1, 1), (9, 2), (9, 9), (10, 0), (10, 3), (18, 4), (18, 18), (19, 0), (19, 7), (28, 10),
            (38, 0), (38, 18), (38, 38), (5, 2)]  # fmt: skip
ATOMIC = ["boolean", "tinyint", "smallint", "int", "bigint", "float", "double", "decimal", "string", "binary",
          "date", "timestamp", "timestamp_ntz"]  # fmt: skip


# ---------------------------------------------------------------------------------------------- generation
def _spark_type(kind: str, rng: random.Random) -> Any:
    from pyspark.sql import types as T

    simple = {
        "boolean": T.BooleanType(), "tinyint": T.ByteType(), "smallint": T.ShortType(), "int": T.IntegerType(),
        "bigint": T.LongType(), "float": T.FloatType(), "double": T.DoubleType(), "string": T.StringType(),
        "binary": T.BinaryType(), "date": T.DateType(), "timestamp": T.TimestampType(),
        "timestamp_ntz": T.TimestampNTZType(),
    }  # fmt: skip
    if kind == "decimal":
        return T.DecimalType(*rng.choice(DECIMALS))
    return simple[kind]


def _metadata(rng: random.Random) -> dict[str, Any]:
    return rng.choice([{}, {}, {"comment": "a column"}, {"k": 1, "nested": {"x": [1, 2]}}, {"ü": "😀"}])


def _names(rng: random.Random, count: int) -> list[str]:
    names: list[str] = []
    for name in rng.sample(NAMES, len(NAMES)):
        if name.lower() not in {n.lower() for n in names}:
            names.append(name)
        if len(names) == count:
            break
    return names


def _data_type(rng: random.Random, depth: int) -> Any:
    from pyspark.sql import types as T

    roll = rng.random()
    if depth >= 2 or roll < 0.6:
        return _spark_type(rng.choice(ATOMIC), rng)
    if roll < 0.73:
        return T.ArrayType(_data_type(rng, depth + 1), rng.random() < 0.7)
    if roll < 0.86:
        key = _spark_type(rng.choice(["string", "int", "date", "bigint"]), rng)
        return T.MapType(key, _data_type(rng, depth + 1), rng.random() < 0.7)
    return T.StructType(
        [T.StructField(n, _data_type(rng, depth + 1), rng.random() < 0.75, _metadata(rng))
         for n in _names(rng, rng.randint(1, 3))]
    )  # fmt: skip


def _int_value(bits: int, rng: random.Random) -> int:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return rng.choice([low, high, 0, -1, 1, rng.randint(low, high)])


def _float32(x: float) -> float:
    import struct

    return struct.unpack("<f", struct.pack("<f", x))[0]


def _value(dtype: Any, rng: random.Random, nullable: bool) -> Any:
    from pyspark.sql import types as T

    if nullable and rng.random() < 0.2:
        return None
    if isinstance(dtype, T.BooleanType):
        return rng.random() < 0.5
    if isinstance(dtype, T.ByteType):
        return _int_value(8, rng)
    if isinstance(dtype, T.ShortType):
        return _int_value(16, rng)
    if isinstance(dtype, T.IntegerType):
        return _int_value(32, rng)
    if isinstance(dtype, T.LongType):
        return _int_value(64, rng)
    if isinstance(dtype, T.FloatType):
        return rng.choice([math.nan, -0.0, 0.0, math.inf, -math.inf, _float32(3.4028234663852886e38),
                           _float32(1e-45), _float32(rng.uniform(-1e6, 1e6)), 1.5])  # fmt: skip
    if isinstance(dtype, T.DoubleType):
        return rng.choice([math.nan, -0.0, 0.0, math.inf, -math.inf, 5e-324, 1.7976931348623157e308, 0.1,
                           rng.uniform(-1e300, 1e300), 2.0**53 + 2])  # fmt: skip
    if isinstance(dtype, T.DecimalType):
        p, s = dtype.precision, dtype.scale
        unscaled = rng.choice([10**p - 1, -(10**p - 1), 0, 1, -1, rng.randint(-(10**p - 1), 10**p - 1)])
        return Decimal(unscaled).scaleb(-s, decimal.Context(prec=80))  # exact: 38 digits
    if isinstance(dtype, T.StringType):
        return rng.choice(["", "😀", "a b", "\x00", "ü\tß", "x" * 40, "日本語", "𝄞 clef", str(rng.random())])
    if isinstance(dtype, T.BinaryType):
        return rng.choice([b"", b"\x00\xff", bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 9)))])
    if isinstance(dtype, T.DateType):
        return rng.choice([dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1582, 10, 4), dt.date(1582, 10, 15),
                           dt.date(1000, 2, 28), dt.date(1970, 1, 1), dt.date(1900, 1, 1),
                           dt.date(1, 1, 1) + dt.timedelta(days=rng.randint(0, 3_652_058))])  # fmt: skip
    if isinstance(dtype, T.TimestampType):
        return rng.choice([dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                           dt.datetime(1582, 10, 10, 12, tzinfo=UTC), dt.datetime(1969, 12, 31, 23, 59, 59, 999999,
                                                                                   tzinfo=UTC),
                           dt.datetime(1, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=rng.randint(0, 315_537_897_599_999_999))])  # fmt: skip # noqa: E501
    if isinstance(dtype, T.TimestampNTZType):
        return rng.choice([dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999), dt.datetime(1500, 3, 1),
                           dt.datetime(1, 1, 1) + dt.timedelta(microseconds=rng.randint(0, 315_537_897_599_999_999))])  # fmt: skip # noqa: E501
    if isinstance(dtype, T.ArrayType):
        return [_value(dtype.elementType, rng, dtype.containsNull) for _ in range(rng.randint(0, 3))]
    if isinstance(dtype, T.MapType):
        out = {}
        for _ in range(rng.randint(0, 3)):
            key = _value(dtype.keyType, rng, False)
            out[key] = _value(dtype.valueType, rng, dtype.valueContainsNull)
        return out
    if isinstance(dtype, T.StructType):
        return tuple(_value(f.dataType, rng, f.nullable) for f in dtype.fields)
    raise AssertionError(dtype)


@dataclass
class Case:
    number: int
    schema: Any
    rows: list[tuple[Any, ...]]
    mode: str  # ppml-gcm or aes_gcm_v1 / aes_gcm_ctr_v1
    zone: str
    tasks: int
    partition_by: str | None = None
    notes: list[str] = field(default_factory=list)


def generate(seed: int, count: int) -> list[Case]:
    from pyspark.sql import types as T

    rng = random.Random(seed)
    cases = []
    for number in range(count):
        names = _names(rng, rng.randint(1, 5))
        fields = [T.StructField(n, _data_type(rng, 0), rng.random() < 0.8, _metadata(rng)) for n in names]
        partition_by = None
        if len(fields) > 1 and rng.random() < 0.2:  # a partition column Spark and ppml-enc both write as text
            fields.append(T.StructField("part", rng.choice([T.IntegerType(), T.StringType()]), True))
            partition_by = "part"
        schema = T.StructType(fields)
        size = rng.choice([0, 1, 2, 5, 9])
        rows = []
        for _ in range(size):
            row = [_value(f.dataType, rng, f.nullable) for f in schema.fields]
            if partition_by:
                row[-1] = rng.choice([1, 2, None]) if isinstance(fields[-1].dataType, T.IntegerType) else \
                    rng.choice(["x", "y z", None])  # fmt: skip
            rows.append(tuple(row))
        if partition_by and rows and all(r[-1] is None for r in rows):  # see test_all_null_partition_column
            rows[0] = (*rows[0][:-1], 1 if isinstance(fields[-1].dataType, T.IntegerType) else "x")
        mode = rng.choice(["ppml-gcm", "ppml-gcm", "aes_gcm_v1", "aes_gcm_ctr_v1"])
        cases.append(Case(number, schema, rows, mode, rng.choice(ZONES), rng.choice([1, 2, 3]), partition_by))
    return cases


# ---------------------------------------------------------------------------------------------- comparison
def canonical(df: Any) -> list[str]:
    """Rows as ``to_json`` text, sorted: NaN, -0.0, microseconds and bytes (base64) written exactly."""
    from pyspark.sql import functions as F

    options = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
               "timestampNTZFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS", "ignoreNullFields": "false"}  # fmt: skip
    columns = [F.col("`" + n.replace("`", "``") + "`") for n in df.columns]
    return sorted(r[0] for r in df.select(F.to_json(F.struct(*columns), options)).collect())


def _without_metadata(schema: Any) -> Any:
    from pyspark.sql import types as T

    def strip(dtype: Any) -> Any:
        if isinstance(dtype, T.StructType):
            return T.StructType([T.StructField(f.name, strip(f.dataType), f.nullable) for f in dtype.fields])
        if isinstance(dtype, T.ArrayType):
            return T.ArrayType(strip(dtype.elementType), dtype.containsNull)
        if isinstance(dtype, T.MapType):
            return T.MapType(strip(dtype.keyType), strip(dtype.valueType), dtype.valueContainsNull)
        return dtype

    return strip(schema)


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    for line in text.splitlines():
        if "Error:" in line and ("format=parquet" in line or "column" in line):
            return line.strip()[:300]
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _kms_options(key: Path) -> dict[str, str]:
    return {"kms": "local", "primaryKeyPath": str(key)}


def _ppml_write(df: Any, case: Case, key: Path, out: str) -> None:
    writer = df.write.mode("overwrite").format("ppml-enc").option("format", "parquet").option("cryptoMode", case.mode)
    for name, value in _kms_options(key).items():
        writer = writer.option(name, value)
    if case.partition_by:
        writer = writer.option("partitionBy", case.partition_by)
    writer.save(out)


def _ppml_read(spark: Any, case: Case, key: Path, path: str) -> Any:
    reader = spark.read.format("ppml-enc").option("format", "parquet").option("cryptoMode", case.mode)
    for name, value in _kms_options(key).items():
        reader = reader.option(name, value)
    return reader.load(path)


def _plaintext_copy(case: Case, key: Path, source: str, out: str) -> None:
    """B decrypted: ppml-gcm with the library's decrypt; PME part files opened with pyarrow's decryption and
    their tables (footer key-value metadata kept) written back as plain Parquet in Spark's layout."""
    settings = KmsSettings.from_options(_kms_options(key))
    if case.mode == "ppml-gcm":
        filecrypt.decrypt_path(source, out, build_kms(settings))
        return
    from bigdl_ppml_az.jvm import pme

    properties = pme.decryption_properties(_kms_options(key))
    for part in glob.glob(f"{source}/**/*.parquet", recursive=True):
        target = Path(out) / os.path.relpath(part, source)
        target.parent.mkdir(parents=True, exist_ok=True)
        table = pq.ParquetFile(part, decryption_properties=properties).read()
        pq.write_table(table, target, **parquetwrite.WRITER_OPTIONS)


@dataclass
class Outcome:
    kind: str  # alike, both_failed, refused_alike, difference
    detail: str = ""


def run_case(spark: Any, case: Case, key: Path, root: Path) -> Outcome:
    spark.conf.set("spark.sql.session.timeZone", case.zone)
    base = root / f"case-{case.number}"
    shutil.rmtree(base, ignore_errors=True)
    a, b, plain = str(base / "A"), str(base / "B"), str(base / "P")
    df = spark.createDataFrame(case.rows, case.schema).repartition(case.tasks)
    spark_error = ours_error = None
    try:
        (df.write.partitionBy(case.partition_by) if case.partition_by else df.write).parquet(a)
        expected_df = spark.read.parquet(a)
        expected_schema, expected_rows = expected_df.schema, canonical(expected_df)
    except Exception as exc:  # noqa: BLE001 - Spark's own refusal is half of an outcome
        spark_error = exc
    try:
        _ppml_write(df, case, key, b)
        _plaintext_copy(case, key, b, plain)
        got_df = spark.read.parquet(plain)
        got_schema, got_rows = got_df.schema, canonical(got_df)
        enc_df = _ppml_read(spark, case, key, b)
        enc_schema, enc_rows = enc_df.schema, canonical(enc_df)
    except Exception as exc:  # noqa: BLE001
        ours_error = exc
    if spark_error is not None or ours_error is not None:
        if spark_error is not None and ours_error is not None:
            return Outcome("both_failed", _one_line(ours_error))
        if spark_error is not None:
            return Outcome("difference", f"Spark failed, ppml-enc did not: {_one_line(spark_error)}")
        assert ours_error is not None
        return Outcome("difference", f"ppml-enc failed, Spark did not: {_one_line(ours_error)}")
    problems = []
    if got_schema.json() != expected_schema.json():
        problems.append(f"schema (decrypted B): {got_schema.simpleString()} vs {expected_schema.simpleString()}")
    if got_rows != expected_rows:
        problems.append(f"rows (decrypted B): {got_rows[:3]} vs {expected_rows[:3]}")
    if _without_metadata(enc_schema) != _without_metadata(expected_schema):
        problems.append(f"schema (ppml-enc read): {enc_schema.simpleString()} vs {expected_schema.simpleString()}")
    if enc_rows != expected_rows:
        problems.append(f"rows (ppml-enc read): {enc_rows[:3]} vs {expected_rows[:3]}")
    shutil.rmtree(base, ignore_errors=True)
    return Outcome("difference", "; ".join(problems)) if problems else Outcome("alike")


def run_cases(spark: Any, cases: list[Case], key: Path, root: Path) -> dict[str, list[str]]:
    outcomes: dict[str, list[str]] = {}
    zone = spark.conf.get("spark.sql.session.timeZone")
    started = time.perf_counter()
    try:
        for case in cases:
            outcome = run_case(spark, case, key, root)
            what = f"case {case.number} ({case.mode}, {case.zone}, {case.schema.simpleString()[:200]})"
            what += f": {outcome.detail}"
            outcomes.setdefault(outcome.kind, []).append(what)
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)
    counts = {kind: len(items) for kind, items in sorted(outcomes.items())}
    print(f"\nparquet write fidelity: {len(cases)} cases {counts} in {time.perf_counter() - started:.0f} s")
    for line in outcomes.get("both_failed", [])[:5]:
        print("  both failed:", line[:400])
    return outcomes


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pqwrite-key") / "primary.key"
    LocalKms.create(path)
    return path


def _check(outcomes: dict[str, list[str]]) -> None:
    differences = outcomes.get("difference", [])
    assert not differences, f"{len(differences)} differences:\n" + "\n".join(differences[:10])


def test_generated_cases(spark: Any, key: Path, tmp_path: Path) -> None:
    _check(run_cases(spark, generate(20261207, CI_CASES), key, tmp_path))


@pytest.mark.slow
def test_generated_cases_long(spark: Any, key: Path, tmp_path: Path) -> None:
    count = int(os.environ.get("PPML_AZ_PARQUET_WRITE_CASES", "300"))
    _check(run_cases(spark, generate(7, count), key, tmp_path))


# ---------------------------------------------------------------------------------------------- targeted cases
def _case(schema: Any, rows: list[tuple[Any, ...]], mode: str = "ppml-gcm", **extra: Any) -> Case:
    return Case(0, schema, rows, mode, extra.pop("zone", "UTC"), extra.pop("tasks", 2), **extra)


@pytest.mark.parametrize("mode", ["ppml-gcm", "aes_gcm_v1"])
def test_null_struct_with_required_child_and_spark_footer(spark: Any, key: Path, tmp_path: Path, mode: str) -> None:
    """A null struct whose child is non-nullable (pyarrow refused Spark's batch: 'declared non-nullable but
    contains nulls'), an empty partition, field metadata; the footer carries Spark's schema and decimals are
    INT32/INT64/FIXED_LEN_BYTE_ARRAY as in Spark's own file."""
    from pyspark.sql import types as T

    schema = T.StructType([
        T.StructField("id", T.IntegerType(), False, {"comment": "key"}),
        T.StructField("s", T.StructType([T.StructField("a", T.IntegerType(), False)]), True),
        T.StructField("d9", T.DecimalType(9, 2)), T.StructField("d18", T.DecimalType(18, 0)),
        T.StructField("d38", T.DecimalType(38, 38)),
    ])  # fmt: skip
    rows = [(1, None, Decimal("1.25"), Decimal(7), Decimal("0.1")), (2, (5,), None, None, None)]
    case = _case(schema, rows, mode, tasks=3)
    assert run_case(spark, case, key, tmp_path / "keep").kind == "alike"
    out = tmp_path / "footer"
    _ppml_write(spark.createDataFrame(rows, schema).coalesce(1), case, key, str(out / "B"))
    _plaintext_copy(case, key, str(out / "B"), str(out / "P"))
    [part] = glob.glob(f"{out}/P/*.parquet")
    meta = pq.ParquetFile(part).metadata
    assert meta.metadata[parquetwrite.ROW_METADATA.encode()] == schema.json().encode()
    assert meta.metadata[parquetwrite.SPARK_VERSION.encode()].decode()[0].isdigit()
    physical = [meta.schema.column(i).physical_type for i in range(meta.num_columns)]
    assert physical == ["INT32", "INT32", "INT32", "INT64", "FIXED_LEN_BYTE_ARRAY"]


def test_empty_dataframe_leaves_one_file_with_the_schema(spark: Any, key: Path, tmp_path: Path) -> None:
    """As Spark: an empty job writes one Parquet file (task 0's) so the schema can be read back."""
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField("x y", T.TimestampNTZType()), T.StructField("m", T.MapType(
        T.StringType(), T.ArrayType(T.DecimalType(19, 4))))])  # fmt: skip
    case = _case(schema, [], tasks=3)
    assert run_case(spark, case, key, tmp_path).kind == "alike"


@pytest.mark.parametrize(
    ("ddl", "named"),
    [("a int, A string", "appears twice"), ("a int, s struct<>", "struct<>"),
     ("a int, i interval day to second", "interval day to second")],
)  # fmt: skip
def test_refused_by_name(spark: Any, key: Path, tmp_path: Path, ddl: str, named: str) -> None:
    """Inputs ppml-enc cannot write as Spark does fail before any task, with one line naming the column."""
    from pyspark.sql.types import _parse_datatype_string

    schema = _parse_datatype_string(ddl)
    df = spark.createDataFrame([], schema)
    with pytest.raises(Exception) as info:
        _ppml_write(df, _case(schema, []), key, str(tmp_path / "B"))
    line = next(x for x in str(info.value).splitlines() if "format=parquet" in x)
    assert named in line and "column" in line
    assert not list((tmp_path / "B").glob("part-*")) if (tmp_path / "B").exists() else True


def test_spark_refuses_what_ppml_enc_refuses(spark: Any, key: Path, tmp_path: Path) -> None:
    """Duplicate names (ignoring case) and an empty struct: Spark's own Parquet writer fails too."""
    from pyspark.sql.types import _parse_datatype_string

    for number, ddl in enumerate(["a int, A string", "a int, s struct<>"]):
        schema = _parse_datatype_string(ddl)
        outcome = run_case(spark, Case(number, schema, [], "ppml-gcm", "UTC", 1), key, tmp_path)
        assert outcome.kind == "both_failed", outcome


def test_ppml_enc_read_keeps_field_metadata(spark: Any, key: Path, tmp_path: Path) -> None:
    """Spark takes the schema (types, field metadata) from the Spark schema in the footer (sparkrules/parquet.py
    footer_schema); so does ppml-enc, for its own files and for Spark's read as plaintext."""
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField("a", T.IntegerType(), True, {"comment": "x"}),
                           T.StructField("s", T.StructType([T.StructField("b", T.LongType(), True, {"k": 1})]))])
    case = _case(schema, [(1, (2,))])
    _ppml_write(spark.createDataFrame(case.rows, schema), case, key, str(tmp_path / "B"))
    read = _ppml_read(spark, case, key, str(tmp_path / "B"))
    assert read.schema.fields[0].metadata == {"comment": "x"}
    spark.createDataFrame(case.rows, schema).write.parquet(str(tmp_path / "A"))
    plain = spark.read.format("ppml-enc").option("format", "parquet").option("cryptoMode", "plain_text")
    assert plain.load(str(tmp_path / "A")).schema == spark.read.parquet(str(tmp_path / "A")).schema


def test_a_footer_type_ppml_enc_cannot_read_is_refused_by_name(spark: Any, tmp_path: Path) -> None:
    """Spark writes ANSI intervals to Parquet as integers and reads them back as intervals from its footer;
    ppml-enc cannot produce intervals, so it refuses the column by name instead of returning the integers."""
    spark.sql("SELECT 1 AS id, INTERVAL '2' YEAR AS span").write.parquet(str(tmp_path / "A"))
    assert "interval" in spark.read.parquet(str(tmp_path / "A")).schema["span"].dataType.simpleString()
    plain = spark.read.format("ppml-enc").option("format", "parquet").option("cryptoMode", "plain_text")
    with pytest.raises(Exception) as caught:
        plain.load(str(tmp_path / "A")).collect()
    assert "ParquetRefusedError" in str(caught.value) and "column span" in str(caught.value)


def test_all_null_partition_column(spark: Any, key: Path, tmp_path: Path) -> None:
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField("a", T.IntegerType()), T.StructField("part", T.StringType())])
    case = _case(schema, [(1, None), (2, None)], partition_by="part")
    outcome = run_case(spark, case, key, tmp_path)
    assert outcome.kind == "alike", outcome
