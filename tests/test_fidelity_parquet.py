"""ppml-enc reads Parquet as ``spark.read.parquet`` does: generated directories (``fidelity/parquet_cases.py``)
written by pyarrow, encrypted whole-file (ppml-gcm, as ``ppml-az encrypt`` does), read by Spark on the
plaintext (the oracle) and by ppml-enc on the ciphertext. Schemas (names, types, nullability at every level)
and each file's rows (in order) must be equal, or both reads must fail.

The ppml-enc side runs the data source's driver and worker code in this process (``schema()``, then
``read(split)`` for every split); a sample also goes through ``spark.read.format("ppml-enc")``. The oracle
batches: one schema job per case (none when a schema is given), then one read job over every case with the
same schema and options, split back per file by ``_metadata.file_path``
(``test_batched_oracle_equals_per_case_oracle`` checks that batching changes no answer).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.datasource.sparkrules.parquet import ParquetRefusedError
from bigdl_ppml_az.kms.local import LocalKms
from fidelity.parquet_cases import ParquetCase, ParquetFileSpec, generate, write_case

CI_CASES = int(os.environ.get("PPML_AZ_PARQUET_CASES", "1000"))
SLOW_CASES = int(os.environ.get("PPML_AZ_PARQUET_SLOW_CASES", "10000"))

Outcome = tuple[str, Any]  # (schema json, {file name: rows}) or ("error", "")


@pytest.fixture()
def key(tmp_path: Path) -> Path:
    path = tmp_path / "primary.key"
    LocalKms.create(path)
    return path


def norm(value: Any, t: Any) -> Any:
    """A value of Spark type ``t`` as both sides compare it (Spark's Rows and dicts, pyarrow's dicts and pairs)."""
    from pyspark.sql import types as T

    if value is None:
        return None
    if isinstance(t, T.StructType):
        values = list(value.values()) if isinstance(value, dict) else list(value)
        return tuple(norm(v, f.dataType) for v, f in zip(values, t.fields, strict=True))
    if isinstance(t, T.ArrayType):
        return [norm(v, t.elementType) for v in value]
    if isinstance(t, T.MapType):
        pairs = list(value.items()) if isinstance(value, dict) else list(value)
        return sorted(((repr(norm(k, t.keyType)), norm(v, t.valueType)) for k, v in pairs), key=lambda kv: kv[0])
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.UTC).replace(tzinfo=None)
    if isinstance(value, Decimal):  # the scale is the type's (compared with the schema); PySpark's nested
        return ("dec", str(value.normalize()) if value else "0")  # decimals may print 6.00E-13 for 6E-13
    return value


def _schema_text(schema: Any) -> str:
    return json.dumps(schema.jsonValue(), sort_keys=True)


def write_all(cases: list[ParquetCase], root: Path, key: Path) -> tuple[list[Path], Path]:
    plain = root / "plain"
    dirs = []
    for i, case in enumerate(cases):
        d = plain / f"c{i:05d}"
        write_case(case, d)
        dirs.append(d)
    enc = root / "enc"
    if enc.exists():
        shutil.rmtree(enc)
    filecrypt.encrypt_path(str(plain), str(enc), LocalKms.load(key), crypto_mode="ppml-gcm", segment_size=4096)
    return dirs, enc


def ppml_in_process(case: ParquetCase, path: Path, key: Path) -> Outcome:
    """ppml-enc's driver and worker code on the encrypted directory, in this process; rows per file."""
    from pyspark.sql.datasource import DataSource
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import _parse_datatype_string

    from bigdl_ppml_az.datasource.planning import FilePartition
    from bigdl_ppml_az.datasource.source import PpmlEncDataSource

    options = {"kms": "local", "primaryKeyPath": str(key), "format": "parquet", "path": str(path), **case.options}
    try:
        if case.schema is not None and case.schema not in _DDL:
            _DDL[case.schema] = _parse_datatype_string(case.schema)
        with _as_in_a_worker():
            source: DataSource = PpmlEncDataSource({k.lower(): v for k, v in options.items()})
            schema = source.schema() if case.schema is None else _DDL[case.schema]
            reader = source.reader(schema)
            rows: dict[str, list[Any]] = {f.name: [] for f in case.files}
            for partition in reader.partitions():
                splits = partition.splits if isinstance(partition, FilePartition) else [partition]
                for split in splits:
                    name = Path(split.path).name
                    for batch in reader.read(split):
                        assert isinstance(batch, pa.RecordBatch)
                        assert batch.schema.names == schema.names
                        assert batch.schema == to_arrow_schema(schema, timezone="UTC"), (batch.schema, schema)
                        for r in batch.to_pylist():
                            rows[name].append(tuple(norm(v, f.dataType) for v, f in zip(r.values(), schema.fields,
                                                                                             strict=True)))
        return _schema_text(schema), rows
    except ParquetRefusedError as exc:  # Spark answers here, ppml-enc says it cannot: counted, not compared
        return "refused", str(exc).split(": ", 1)[-1][:60]
    except Exception as exc:  # noqa: BLE001 - any failure: the oracle must fail too
        return "error", f"{type(exc).__name__}: {str(exc)[:300]}"


_DDL: dict[str, Any] = {}


@contextlib.contextmanager
def _as_in_a_worker() -> Iterator[None]:
    """No active SparkSession, as in the Python worker where a data source's schema() and read() run (code that
    looks for a session would otherwise make JVM calls here that the real worker never makes)."""
    from pyspark.sql import SparkSession

    original = SparkSession.getActiveSession
    SparkSession.getActiveSession = classmethod(lambda cls: None)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        SparkSession.getActiveSession = original  # type: ignore[method-assign]


def _spark_schema(spark: Any, case: ParquetCase, path: Path) -> Any:
    """The schema ``spark.read.parquet`` reports, without a Spark job: Spark's own footer conversion
    (``ParquetToSparkSchemaConverter``) of the first file (Spark's listing order is the name order here), or of
    every file merged by Spark's ``StructType.merge`` (mergeSchema), made nullable as Spark's file sources do.
    ``test_fast_oracle_schema_equals_spark_read`` checks it against ``spark.read.parquet(...).schema``."""
    from pyspark.sql.types import StructType, _parse_datatype_string

    if case.schema is not None:
        if case.schema not in _DDL:
            _DDL[case.schema] = _parse_datatype_string(case.schema)
        return _DDL[case.schema]
    jvm = spark._jvm
    session = spark._jsparkSession
    converter = jvm.org.apache.spark.sql.execution.datasources.parquet.ParquetToSparkSchemaConverter(
        session.sessionState().conf())
    conf = spark._jsc.hadoopConfiguration()
    no_filter = jvm.org.apache.parquet.format.converter.ParquetMetadataConverter.NO_FILTER
    merge = case.options.get("mergeSchema", "false").lower() == "true"
    files = sorted(path.glob("*.parquet"))
    merged = None
    for f in files if merge else files[:1]:
        footer = jvm.org.apache.parquet.hadoop.ParquetFileReader.readFooter(conf, jvm.org.apache.hadoop.fs.Path(
            str(f)), no_filter)  # fmt: skip
        schema = converter.convert(footer.getFileMetaData().getSchema())
        merged = schema if merged is None else merged.merge(schema, False)
    assert merged is not None
    result = StructType.fromJson(json.loads(merged.asNullable().json()))
    names = [n.lower() for n in result.names]
    if len(set(names)) != len(names):  # DataSource's duplicate check (spark.sql.caseSensitive=false)
        raise ValueError("COLUMN_ALREADY_EXISTS")
    return result


def _spark_read_schema(spark: Any, case: ParquetCase, path: Path) -> Any:
    reader = spark.read.options(**case.options)
    if case.schema is not None:
        reader = reader.schema(case.schema)
    return reader.parquet(str(path)).schema


def _rows_by_file(df: Any, schema: Any, names: dict[str, tuple[int, str]]) -> dict[int, dict[str, list[Any]]]:
    out: dict[int, dict[str, list[Any]]] = {}
    for r in df.select("*", "_metadata.file_path").collect():
        case, name = names[r[-1].rsplit("/", 2)[-2] + "/" + r[-1].rsplit("/", 1)[-1]]
        out.setdefault(case, {}).setdefault(name, []).append(
            tuple(norm(v, f.dataType) for v, f in zip(r[:-1], schema.fields, strict=True)))
    return out


def oracle_single(spark: Any, case: ParquetCase, path: Path) -> Outcome:
    try:
        reader = spark.read.options(**case.options)
        if case.schema is not None:
            reader = reader.schema(case.schema)
        df = reader.parquet(str(path))
        schema = df.schema
        names = {f"{path.name}/{f.name}": (0, f.name) for f in case.files}
        rows = {f.name: [] for f in case.files} | _rows_by_file(df, schema, names).get(0, {})
        return _schema_text(schema), rows
    except Exception:  # noqa: BLE001
        return "error", ""


def oracle_all(spark: Any, cases: list[ParquetCase], dirs: list[Path], threads: int = 4, batch: bool = True
               ) -> list[Outcome]:  # fmt: skip
    """Spark's answers: schemas case by case (concurrent jobs on one session), then one read job per group of
    cases with the same schema and options (``batch``), split back by file; a failing group case by case."""
    out: list[Outcome | None] = [None] * len(cases)
    schemas: list[Any] = [None] * len(cases)

    def schema_of(i: int) -> None:
        try:
            schemas[i] = _spark_schema(spark, cases[i], dirs[i])
        except Exception:  # noqa: BLE001
            out[i] = ("error", "")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(schema_of, range(len(cases))))
    groups: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(schemas):
        if out[i] is None:
            groups.setdefault((s.json(), json.dumps(cases[i].options, sort_keys=True)), []).append(i)

    def single(i: int) -> None:
        out[i] = oracle_single(spark, cases[i], dirs[i])

    def group(members: list[int]) -> None:
        if not batch or len(members) == 1:
            for i in members:
                single(i)
            return
        first = cases[members[0]]
        schema = schemas[members[0]]
        names = {f"{dirs[i].name}/{f.name}": (i, f.name) for i in members for f in cases[i].files}
        try:
            df = spark.read.options(**first.options).schema(schema).parquet(*[str(dirs[i]) for i in members])
            found = _rows_by_file(df, schema, names)
        except Exception:  # noqa: BLE001 - one file fails the job: ask case by case
            for i in members:
                single(i)
            return
        text = _schema_text(schema)
        for i in members:
            out[i] = (text, {f.name: [] for f in cases[i].files} | found.get(i, {}))

    with ThreadPoolExecutor(threads) as pool:
        for job in [pool.submit(group, m) for m in sorted(groups.values(), key=len, reverse=True)]:
            job.result()
    assert all(o is not None for o in out)
    return out  # type: ignore[return-value]


def differences(spark: Any, cases: list[ParquetCase], root: Path, key: Path, batch: bool = True,
                through_spark: bool = False) -> tuple[list[str], dict[str, int]]:  # fmt: skip
    """Every case where ppml-enc's answer is not Spark's, and counts: both answered alike, both failed, refused
    by ppml-enc by name (:class:`ParquetRefusedError`: never compared, listed in docs/FIDELITY.md)."""
    dirs, enc = write_all(cases, root, key)
    ours = [(spark_ppml(spark, c, enc / d.name, key) if through_spark else ppml_in_process(c, enc / d.name, key))
            for c, d in zip(cases, dirs, strict=True)]  # fmt: skip
    theirs = oracle_all(spark, cases, dirs, batch=batch)
    if through_spark:  # compared as one multiset of rows per case (see spark_ppml)
        theirs = [o if o[0] == "error" else (o[0], {"*": sorted((r for rows in o[1].values() for r in rows), key=repr)})
                  for o in theirs]  # fmt: skip
    found = []
    counts = {"answered": 0, "both_failed": 0, "refused": 0}
    for i, (mine, spark_says) in enumerate(zip(ours, theirs, strict=True)):
        if mine[0] == "refused":
            counts["refused"] += 1
        elif mine[0] == "error" and spark_says[0] == "error":
            counts["both_failed"] += 1
        elif mine == spark_says:
            counts["answered"] += 1
        else:
            found.append(f"case c{i:05d} {cases[i].describe()}\n  spark:    {str(spark_says)[:1500]}\n"
                         f"  ppml-enc: {str(mine)[:1500]}")  # fmt: skip
    return found, counts


def spark_ppml(spark: Any, case: ParquetCase, path: Path, key: Path) -> Outcome:
    """ppml-enc through Spark itself (Python data source, worker processes)."""
    try:
        reader = spark.read.format("ppml-enc").option("kms", "local").option("primaryKeyPath", str(key))
        if case.schema is not None:
            reader = reader.schema(case.schema)
        df = reader.option("format", "parquet").options(**case.options).load(str(path))
        schema = df.schema  # a Python data source has no _metadata column: all rows, in a canonical order
        rows = [tuple(norm(v, f.dataType) for v, f in zip(r, schema.fields, strict=True)) for r in df.collect()]
        return _schema_text(schema), {"*": sorted(rows, key=repr)}
    except Exception as exc:  # noqa: BLE001
        return ("refused", "") if "ParquetRefusedError" in str(exc) else ("error", "")


def test_generated_parquet_matches_spark(spark: Any, tmp_path: Path, key: Path) -> None:
    started = time.monotonic()
    cases = generate(CI_CASES, seed=20)
    found, counts = differences(spark, cases, tmp_path, key)
    print(f"{len(cases)} generated Parquet cases: {counts}, {len(found)} differences, "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
    assert found == [], "\n".join(found[:5])
    assert counts["answered"] >= len(cases) // 2


@pytest.mark.slow
def test_generated_parquet_matches_spark_long(spark: Any, tmp_path: Path, key: Path) -> None:
    started = time.monotonic()
    cases = generate(SLOW_CASES, seed=20261207)
    found, counts = differences(spark, cases, tmp_path, key)
    print(f"{len(cases)} generated Parquet cases: {counts}, {len(found)} differences, "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
    (tmp_path / "differences.txt").write_text("\n".join(found), encoding="utf-8")
    assert found == [], "\n".join(found[:5])


def test_batched_oracle_equals_per_case_oracle(spark: Any, tmp_path: Path, key: Path) -> None:
    """Batching the oracle (one read job over many cases of one schema) gives, case by case, what one read per
    case gives."""
    cases = generate(60, seed=5)
    dirs, _ = write_all(cases, tmp_path, key)
    assert oracle_all(spark, cases, dirs, threads=2, batch=True) == oracle_all(spark, cases, dirs, threads=2,
                                                                               batch=False)  # fmt: skip


def test_fast_oracle_schema_equals_spark_read(spark: Any, tmp_path: Path, key: Path) -> None:
    """The oracle's schema without a job is the schema spark.read.parquet reports (or both fail)."""
    cases = generate(80, seed=9)
    dirs, _ = write_all(cases, tmp_path, key)
    checked = 0
    for case, d in zip(cases, dirs, strict=True):
        try:
            fast = _schema_text(_spark_schema(spark, case, d))
        except Exception:  # noqa: BLE001
            fast = "error"
        try:
            slow = _schema_text(_spark_read_schema(spark, case, d))
        except Exception:  # noqa: BLE001
            slow = "error"
        assert fast == slow, case.describe()
        checked += fast != "error"
    assert checked >= 40


def test_generated_sample_through_the_data_source(spark: Any, tmp_path: Path, key: Path) -> None:
    """A sample through spark.read.format("ppml-enc") (Python workers, Spark's Arrow checks on the batches)."""
    import bigdl_ppml_az

    bigdl_ppml_az.register(spark)
    cases = generate(25, seed=7)
    found, counts = differences(spark, cases, tmp_path, key, through_spark=True)
    assert found == [], "\n".join(found[:3])
    assert counts["answered"] >= 10


def _file(name: str, table: pa.Table, **writer: Any) -> ParquetFileSpec:
    return ParquetFileSpec(name, table, writer)


def test_issue_classes(spark: Any, tmp_path: Path, key: Path) -> None:
    """The classes issue 20 lists: required column with nulls in another file, ID/id, uint64, list of nulls,
    INT96 outside the nanosecond range, float16, mergeSchema."""
    req = pa.table({"id": pa.array([1, 2], pa.int32())}, schema=pa.schema([pa.field("id", pa.int32(), False)]))
    cases = [
        ParquetCase([_file("part-0.parquet", req), _file("part-1.parquet", pa.table({"id": pa.array([None, 3],
                                                                                                   pa.int32())}))]),
        ParquetCase([_file("part-0.parquet", pa.table({"ID": [1]})), _file("part-1.parquet", pa.table({"id": [2]}))]),
        ParquetCase([_file("part-0.parquet", pa.table({"ID": [1]})), _file("part-1.parquet", pa.table({"id": [2]}))],
                    schema="id bigint"),
        ParquetCase([_file("part-0.parquet", pa.table({"u": pa.array([0, 2**64 - 1, None], pa.uint64())}))]),
        ParquetCase([_file("part-0.parquet", pa.table({"l": pa.array([[None], [], None], pa.list_(pa.null()))}))]),
        ParquetCase([_file("part-0.parquet", pa.table({"t": pa.array([datetime.datetime(1000, 1, 1),
                                                                       datetime.datetime(9000, 1, 1)],
                                                                      pa.timestamp("us"))}),
                           use_deprecated_int96_timestamps=True)]),
        ParquetCase([_file("part-0.parquet", pa.table({"h": pa.array([1.5], pa.float16())}))]),
        ParquetCase([_file("part-0.parquet", pa.table({"a": [1], "b": ["x"]})),
                     _file("part-1.parquet", pa.table({"c": [1.5], "A": [2]}))], {"mergeSchema": "true"}),
    ]  # fmt: skip
    found, counts = differences(spark, cases, tmp_path, key, batch=False)
    assert found == [], "\n".join(found)
    assert counts == {"answered": 7, "both_failed": 1, "refused": 0}


def test_refusals_name_the_cause(tmp_path: Path, key: Path) -> None:
    """Files Spark refuses are refused with Spark's reason in one line, naming the file."""
    cases = {
        "PARQUET_TYPE_ILLEGAL": pa.table({"h": pa.array([1.5], pa.float16())}),
        "UNSUPPORTED_TIME_TYPE": pa.table({"t": pa.array([1], pa.time64("us"))}),
        "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION": pa.table({"d": pa.array([Decimal(1)], pa.decimal256(40, 0))}),
        "COLUMN_ALREADY_EXISTS": pa.table({"id": [1], "ID": [2]}),
    }
    for i, table in enumerate(cases.values()):
        d = tmp_path / "plain" / f"c{i}"
        d.mkdir(parents=True)
        pq.write_table(table, d / "part-0.parquet")
    enc = tmp_path / "enc"
    filecrypt.encrypt_path(str(tmp_path / "plain"), str(enc), LocalKms.load(key), crypto_mode="ppml-gcm")
    for i, cause in enumerate(cases):
        kind, message = ppml_in_process(ParquetCase([_file("part-0.parquet", pa.table({}))]), enc / f"c{i}", key)
        assert kind == "error" and cause in message and "part-0.parquet" in message and "\n" not in message, message
