"""Partitioned writes (issue 12, item 3, write side): ppml-enc with option ``partitionBy`` writes the layout
Spark's own ``partitionBy`` writes (the same key=value directories, escaped as Spark escapes them), and reading
it back through ppml-enc gives what Spark's native writer + reader round trip gives on the plaintext.

Spark's ``DataFrameWriter.partitionBy`` itself cannot reach a Python data source (see the first test), so the
columns go in the data source's option, as PPMLContext's ``partitionBy`` passes them."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyspark.sql.datasource import EqualTo
from pyspark.sql.types import StructType

from bigdl_ppml_az.datasource.reader import PpmlEncParquetReader
from bigdl_ppml_az.datasource.writer import PpmlEncWriter
from bigdl_ppml_az.errors import ConfigError
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.options import Options
from bigdl_ppml_az.storage import LocalFileSystem
from pushdown_support import PUSHDOWN_PLAN_SHARED, assert_pushfilters_refused
from test_datasource_support import assert_same, kms_options, ppml_read

# partition values Spark escapes or treats specially: separators, '=', '%', control and non-ASCII characters,
# leading space, empty string and null (both the default partition)
SPECIAL = ["AIR", "a/b", "x=y", "%41", "q?#*", "\x01tab\t", "é 中", " lead", "", None, "[1]{2}^"]
SCHEMA = "id INT, name STRING, amount DOUBLE, s STRING, n INT, d DATE"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("part-write")
    key = root / "primary.key"
    LocalKms.create(key)
    rows = [
        (i, f"name{i}", i * 0.5, SPECIAL[i % len(SPECIAL)], None if i % 7 == 3 else i % 3,
         dt.date(2026, 11, 1 + i % 4))
        for i in range(120)
    ]  # fmt: skip
    df = spark.createDataFrame(rows, SCHEMA).repartition(2)
    # Spark lists more than this many directories with a distributed job (hundreds of tasks): list in the driver
    spark.conf.set("spark.sql.sources.parallelPartitionDiscovery.threshold", "100000")
    yield {"root": root, "key": key, "df": df.cache()}
    spark.conf.unset("spark.sql.sources.parallelPartitionDiscovery.threshold")


def save(df: Any, key: Path, path: Path, mode: str = "overwrite", **options: str) -> None:
    writer = df.write.format("ppml-enc").mode(mode)
    for name, value in kms_options(key, **options).items():
        writer = writer.option(name, value)
    writer.save(str(path))


def native_save(df: Any, fmt: str, path: Path, cols: list[str], mode: str = "overwrite", **options: str) -> None:
    df.write.format(fmt).mode(mode).options(**options).partitionBy(*cols).save(str(path))


def data_dirs(root: Path) -> set[str]:
    """Relative directories holding data files (hidden files and Spark's .crc ignored)."""
    found = set()
    for directory, _dirs, files in os.walk(root):
        if any(not f.startswith(("_", ".")) for f in files):
            found.add(os.path.relpath(directory, root))
    return found


def test_sparks_partitionby_cannot_reach_a_python_data_source(env: dict[str, Any], tmp_path: Path) -> None:
    """Why the columns travel in option partitionBy: Spark's check fails before the data source is called."""
    with pytest.raises(Exception, match="partitioning or clustering columns do not match"):
        env["df"].write.format("ppml-enc").mode("overwrite").partitionBy("s").options(
            **kms_options(env["key"])
        ).save(str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "fmt,cols",
    [("csv", ["s", "n"]), ("json", ["d"]), ("parquet", ["n", "s"])],
)
def test_round_trip_matches_sparks_native_writer_and_reader(
    spark: Any, env: dict[str, Any], tmp_path: Path, fmt: str, cols: list[str]
) -> None:
    ours, theirs = tmp_path / "enc", tmp_path / "plain"
    header = {"header": "true"} if fmt == "csv" else {}
    # (CSV without the double column: ppml-enc's CSV writer prints 0.0 as 0, a gap of textwrite, not of layout)
    df = env["df"].drop("amount") if fmt == "csv" else env["df"]
    save(df, env["key"], ours, format=fmt, partitionBy=",".join(cols), **header)
    native_save(df, fmt, theirs, cols, **header)
    assert data_dirs(ours) == data_dirs(theirs)  # the same key=value directories, escaped as Spark escapes
    assert len(data_dirs(ours)) > 3
    back = ppml_read(spark, env["key"], fmt=fmt, **header).load(str(ours))
    assert_same(back, spark.read.format(fmt).options(**header).load(str(theirs)), ordered=False)
    if fmt == "parquet":  # the partition columns are not in the files
        part = next(p for p in ours.rglob("part-*"))
        blob = part.read_bytes()
        assert blob[:8] == b"PPMLGCM1" and b"name1" not in blob


def test_overwrite_static_dynamic_and_append_as_spark(spark: Any, env: dict[str, Any], tmp_path: Path) -> None:
    """Each step's table equals Spark's after the same step on plaintext Parquet, directories included."""
    df = env["df"].where("s IN ('AIR', 'a/b', 'x=y')")
    ours, theirs = tmp_path / "enc", tmp_path / "plain"
    steps = [
        ("overwrite", df.where("s = 'AIR'"), {}),
        ("append", df.where("s = 'a/b'"), {}),
        ("overwrite", df.where("s = 'x=y'"), {}),  # static: the whole table is replaced
        ("append", df.where("s = 'AIR'"), {}),
        ("overwrite", df.where("s = 'AIR' AND id > 50"), {"partitionOverwriteMode": "dynamic"}),
        ("overwrite", df.where("s = 'a/b'"), {"partitionOverwriteMode": "DYNAMIC"}),
    ]
    for mode, part, extra in steps:
        save(part, env["key"], ours, mode=mode, format="parquet", partitionBy="s", **extra)
        native_save(part, "parquet", theirs, ["s"], mode=mode, **extra)
        assert data_dirs(ours) == data_dirs(theirs), (mode, extra)
        back = ppml_read(spark, env["key"], fmt="parquet").load(str(ours))
        assert_same(back, spark.read.parquet(str(theirs)), ordered=False)
    manifest = json.loads((ours / "_SUCCESS").read_text())
    assert {n.split("/")[0] for n, _, _ in manifest["files"]} == {"s=AIR", "s=x%3Dy", "s=a%2Fb"}
    assert not (ours / "_temporary").exists()


def test_a_failed_job_leaves_the_table_as_it_was(spark: Any, env: dict[str, Any], tmp_path: Path) -> None:
    from pyspark.sql import functions as F  # noqa: N812

    @F.udf("int")
    def fail_on_77(value: int) -> int:
        if value == 77:
            raise ValueError("task failure injected by the test")
        return value

    out = tmp_path / "t"
    save(env["df"].where("n = 1"), env["key"], out, format="csv", partitionBy="n")
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    failing = env["df"].withColumn("id", fail_on_77("id"))
    with pytest.raises(Exception, match="task failure injected"):
        save(failing, env["key"], out, format="csv", partitionBy="n,s")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    fresh = tmp_path / "fresh"
    with pytest.raises(Exception, match="task failure injected"):
        save(failing, env["key"], fresh, format="csv", partitionBy="n,s")
    assert [p for p in fresh.rglob("*") if p.is_file() and not p.name.startswith(".")] == []


def test_a_failed_task_attempt_deletes_every_part_it_wrote(env: dict[str, Any], tmp_path: Path) -> None:
    """In-process task: two directories opened, then the input fails: no temporary part survives."""
    schema = StructType.fromDDL("id INT, s STRING")
    options = Options({**kms_options(env["key"]), "path": str(tmp_path / "t"), "partitionBy": "s"})
    writer = PpmlEncWriter(options, schema, overwrite=True)

    def batches() -> Any:
        yield pa.record_batch({"id": pa.array([1, 2], pa.int32()), "s": ["A", "B"]})
        raise OSError("input lost")

    with pytest.raises(OSError, match="input lost"):
        writer.write(batches())
    assert [p.name for p in (tmp_path / "t").rglob("part-*")] == []
    writer.abort([])
    assert not (tmp_path / "t" / "_temporary").exists()


def test_many_directories_per_task_stay_bounded_and_complete(spark: Any, env: dict[str, Any], tmp_path: Path) -> None:
    """More directories than open files in one task: evicted directories get further part files, no row lost."""
    from bigdl_ppml_az.datasource.writer import MAX_OPEN_FILES

    keys = MAX_OPEN_FILES * 2
    df = spark.range(0, 400, numPartitions=1).selectExpr("CAST(id AS INT) AS id", f"CAST(id % {keys} AS INT) AS k")
    out = tmp_path / "many"
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "100")  # four batches, each with every key
    try:
        save(df, env["key"], out, format="csv", partitionBy="k")
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert len(data_dirs(out)) == MAX_OPEN_FILES * 2
    assert any(".c001." in p.name for p in out.rglob("part-*"))
    back = ppml_read(spark, env["key"], schema="id STRING, k INT").load(str(out))
    assert_same(back.selectExpr("CAST(id AS INT) AS id", "k"), df, ordered=False)


def test_pruning_opens_only_the_matching_directory(spark: Any, env: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "pruned"
    df = env["df"].where("s IN ('AIR', 'x=y', 'q?#*')").select("id", "name", "s")
    save(df, env["key"], out, format="csv", header="true", partitionBy="s")
    schema = "id STRING, name STRING, s STRING"
    # planning: only s=AIR's files are opened (headers probed), nothing of the other directories
    opened: list[str] = []
    original = LocalFileSystem.open_read

    def counting(fs: LocalFileSystem, path: str) -> Any:
        opened.append(path)
        return original(fs, path)

    options = {k.lower(): v for k, v in kms_options(env["key"], header="true", pushFilters="true").items()}
    reader = PpmlEncParquetReader({**options, "path": str(out)}, StructType.fromDDL(schema))
    list(reader.pushFilters([EqualTo(("s",), "AIR")]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LocalFileSystem, "open_read", counting)
        planned = {s.path for p in reader.partitions() for s in p.splits}  # type: ignore[attr-defined]
    assert planned and all("/s=AIR/" in p for p in planned)
    # the commit manifest and s=AIR's files only (small files are probed by their task, so planning opens the first)
    assert str(out / "_SUCCESS") in opened and set(opened) - {str(out / "_SUCCESS")} <= planned
    assert set(opened) - {str(out / "_SUCCESS")}
    # the query itself: every file outside s=AIR is replaced by garbage; the pruned query never notices
    for part in out.rglob("part-*"):
        if part.parent.name != "s=AIR":
            part.write_bytes(os.urandom(part.stat().st_size))
    with filter_pushdown(spark):
        read = ppml_read(spark, env["key"], schema=schema, header="true", pushFilters="true").load(str(out))
        if PUSHDOWN_PLAN_SHARED:  # refused on this PySpark (see the next test); pruning checked in-process above
            assert_pushfilters_refused(read.where("s = 'AIR'"))
            return
        assert_same(read.where("s = 'AIR'"), df.where("s = 'AIR'").selectExpr("CAST(id AS STRING) id", "name", "s"),
                    ordered=False)  # fmt: skip
        full = ppml_read(spark, env["key"], schema=schema, header="true", pushFilters="true").load(str(out))
        with pytest.raises(Exception, match="neither the ppml-gcm magic"):
            full.collect()  # a scan that opens the damaged files fails: the check above could fail


def test_a_dataframe_reused_after_a_pruned_query_reads_everything(
    spark: Any, env: dict[str, Any], tmp_path: Path
) -> None:
    """PySpark 4.3 keeps the read plan made after pushFilters on the DataFrame's data source, so a later
    unfiltered query of the same DataFrame read only the pruned directories (seen: 10 rows instead of all).
    There ppml-enc refuses pushFilters=true; where the plan is scan-scoped the reuse must read everything."""
    out = tmp_path / "reused"
    df = env["df"].where("s IN ('AIR', 'x=y')").select("id", "s")
    save(df, env["key"], out, format="csv", partitionBy="s")
    with filter_pushdown(spark):
        read = ppml_read(spark, env["key"], schema="id STRING, s STRING", pushFilters="true").load(str(out))
        if PUSHDOWN_PLAN_SHARED:
            assert_pushfilters_refused(read.where("s = 'AIR'"))
            assert_pushfilters_refused(read)
            return
        assert read.where("s = 'AIR'").count() == df.where("s = 'AIR'").count()
        assert read.count() == df.count()


@contextmanager
def filter_pushdown(spark: Any) -> Iterator[None]:
    """Spark refuses Python readers that push filters unless this session conf is on."""
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")
    try:
        yield
    finally:
        spark.conf.unset("spark.sql.python.filterPushdown.enabled")


def test_one_directory_read_alone_follows_the_roots_manifest(spark: Any, env: dict[str, Any], tmp_path: Path) -> None:
    """t/s=AIR read alone: an uncommitted part left there by a crashed job stays invisible."""
    out = tmp_path / "t"
    df = env["df"].where("s = 'AIR'").select("id", "s")
    save(df, env["key"], out, format="csv", partitionBy="s")
    leaf = out / "s=AIR"
    first = next(leaf.glob("part-*"))
    shutil.copy(first, leaf / first.name.replace(first.name[11:43], "f" * 32))  # a crashed job's part
    alone = ppml_read(spark, env["key"], schema="id STRING").load(str(leaf))
    assert alone.count() == df.count()


def test_bigdl_mode_writes_a_meta_per_directory(spark: Any, env: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "bigdl"
    df = env["df"].where("s IN ('AIR', 'a/b')").select("id", "name", "s")
    save(df, env["key"], out, format="csv", cryptoMode="aes/cbc/pkcs5padding", partitionBy="s")
    metas = sorted(p.relative_to(out).as_posix() for p in out.rglob(".meta"))
    assert metas == [".meta", "s=AIR/.meta", "s=a%2Fb/.meta"]
    assert len({(out / m).read_bytes() for m in metas}) == 1  # one job data key
    back = ppml_read(spark, env["key"], schema="id STRING, name STRING, s STRING").load(str(out))
    assert_same(back, df.selectExpr("CAST(id AS STRING) id", "name", "s"), ordered=False)
    save(df, env["key"], out, mode="append", format="csv", cryptoMode="aes/cbc/pkcs5padding", partitionBy="s")
    assert len({p.read_bytes() for p in out.rglob(".meta")}) == 1  # appends keep the directory key
    for leaf in ("s=AIR", "s=a%2Fb"):  # each directory alone: BigDL's reader finds its key in .meta
        alone = ppml_read(spark, env["key"], schema="id STRING, name STRING").load(str(out / leaf))
        assert alone.count() == 2 * df.where(f"s = '{leaf[2:].replace('%2F', '/')}'").count()


def test_parquet_modular_encryption_partitioned(spark: Any, env: dict[str, Any], tmp_path: Path) -> None:
    out, plain = tmp_path / "pme", tmp_path / "plain"
    df = env["df"].drop("d")
    save(df, env["key"], out, format="parquet", cryptoMode="aes_gcm_v1", partitionBy="n")
    native_save(df, "parquet", plain, ["n"])
    assert data_dirs(out) == data_dirs(plain)
    assert all(p.read_bytes()[:4] == b"PARE" for p in out.rglob("part-*"))  # each file its own PME keys
    back = ppml_read(spark, env["key"], fmt="parquet", cryptoMode="aes_gcm_v1").load(str(out))
    assert_same(back, spark.read.parquet(str(plain)), ordered=False)


def test_ppml_context_partition_by_goes_through_ppml_enc(spark: Any, env: dict[str, Any], tmp_path: Path) -> None:
    from bigdl_ppml_az.ppml_context import CryptoMode, PPMLContext

    ctx = PPMLContext("t", {"kms_type": "local", "primary_key_material": str(env["key"])}, spark=spark)
    assert ctx.native is False
    df = env["df"].select("id", "name", "n")
    out, plain = tmp_path / "ctx", tmp_path / "plain"
    ctx.write(df, CryptoMode.PPML_GCM).mode("overwrite").partitionBy("n").option("header", "true").csv(str(out))
    assert ctx.last_path == "ppml-enc"
    native_save(df, "csv", plain, ["n"], header="true")
    assert data_dirs(out) == data_dirs(plain)
    back = ctx.read(CryptoMode.PPML_GCM).option("header", "true").csv(str(out))
    assert_same(back, spark.read.option("header", "true").csv(str(plain)), ordered=False)


@pytest.mark.parametrize(
    "options,match",
    [
        ({"partitionBy": "nope"}, "column nope is not in the data"),
        ({"partitionBy": "id,name,amount,s,n,d"}, "cannot use all columns"),
        ({"partitionBy": "s,S"}, "appears twice"),
        ({"partitionBy": "amount"}, "column amount is double.*cast the column to string"),
        ({"partitionBy": "[s"}, "not a JSON list"),
        ({"partitionBy": "s", "format": "text"}, "format=text writes one string column"),
        ({"partitionBy": "s", "partitionOverwriteMode": "sometimes"}, "partitionOverwriteMode=sometimes"),
    ],
)
def test_refusals_name_the_option(env: dict[str, Any], tmp_path: Path, options: dict[str, str], match: str) -> None:
    schema = StructType.fromDDL(SCHEMA)
    given = Options({**kms_options(env["key"]), "path": str(tmp_path / "t"), **options})
    with pytest.raises(ConfigError, match=match):
        PpmlEncWriter(given, schema, overwrite=True)
    assert not (tmp_path / "t").exists()


def test_sparks_json_encoding_of_partition_columns_is_accepted(env: dict[str, Any], tmp_path: Path) -> None:
    schema = StructType.fromDDL(SCHEMA)
    given = Options({**kms_options(env["key"]), "path": str(tmp_path / "t"), "__partition_columns": '["S","n"]'})
    writer = PpmlEncWriter(given, schema, overwrite=True)
    assert writer.partition_by == ("s", "n") and writer.data_columns == ("id", "name", "amount", "d")
    writer.abort([])
