"""Partition discovery and pruning (issue 12, item 3): key=value directories of an encrypted table read as
Spark's own CSV reader reads the plaintext copy of the same layout (columns, types, basePath, rows), and
pushed filters on partition columns keep the planner from opening other directories."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql.datasource import EqualTo, GreaterThan, In, IsNull
from pyspark.sql.types import StructType

from bigdl_ppml_az.datasource.partitions import discover, keeps
from bigdl_ppml_az.datasource.reader import PpmlEncParquetReader
from bigdl_ppml_az.errors import ConfigError
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.storage import FileStatus, LocalFileSystem
from pushdown_support import PUSHDOWN_PLAN_SHARED, assert_pushfilters_refused
from test_datasource_support import assert_same, encrypt, kms_options, ppml_read, write_csv

DAYS = ["2026-11-01", "2026-11-02", "__HIVE_DEFAULT_PARTITION__"]
MODES = ["AIR", "RAIL"]


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """plain/dt=<date>/mode=<str>/n=<int>/part-*.csv (one default partition), and its ppml-gcm copy."""
    root = tmp_path_factory.mktemp("parts")
    key = root / "primary.key"
    kms = LocalKms.create(key)
    plain = root / "plain"
    start = 0
    for day in DAYS:
        for mode in MODES:
            for n in (1, 20):
                for part in range(2):
                    write_csv(plain / f"dt={day}" / f"mode={mode}" / f"n={n}" / f"part-{part}.csv", 15, start=start)
                    start += 15
    return {"key": key, "plain": plain, "enc": encrypt(kms, plain, root / "enc")}


@pytest.fixture
def filter_pushdown(spark: Any) -> Iterator[None]:
    """Spark refuses Python readers that push filters unless this session conf is on."""
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")
    try:
        yield
    finally:
        spark.conf.unset("spark.sql.python.filterPushdown.enabled")


def spark_csv(spark: Any, path: Path, **options: str) -> Any:
    return spark.read.options(header="true", **options).csv(str(path))


def test_discovered_columns_and_types_match_sparks_reader(spark: Any, table: dict[str, Path]) -> None:
    ours = ppml_read(spark, table["key"], header="true").load(str(table["enc"]))
    theirs = spark_csv(spark, table["plain"])
    assert ours.schema.simpleString().endswith(",dt:date,mode:string,n:int>")
    assert_same(ours, theirs, ordered=False)


def test_inferred_data_types_and_partitions_together(spark: Any, table: dict[str, Path]) -> None:
    ours = ppml_read(spark, table["key"], header="true", inferSchema="true").load(str(table["enc"]))
    assert_same(ours, spark_csv(spark, table["plain"], inferSchema="true"), ordered=False)


def test_base_path_rule(spark: Any, table: dict[str, Path]) -> None:
    """Reading one directory: without basePath it is the root (no dt column); with it, dt is a column."""
    leaf = "dt=2026-11-02"
    ours = ppml_read(spark, table["key"], header="true").load(str(table["enc"] / leaf))
    assert_same(ours, spark_csv(spark, table["plain"] / leaf), ordered=False)
    assert "dt" not in ours.columns
    ours = ppml_read(spark, table["key"], header="true", basePath=str(table["enc"])).load(str(table["enc"] / leaf))
    theirs = spark_csv(spark, table["plain"] / leaf, basePath=str(table["plain"]))
    assert_same(ours, theirs, ordered=False)
    assert "dt" in ours.columns


def test_pruning_matches_spark_and_opens_only_matching_directories(
    spark: Any, table: dict[str, Path], filter_pushdown: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for where in ("dt = '2026-11-01'", "mode = 'RAIL' AND n > 5", "dt IS NULL", "n IN (20)"):
        ours = ppml_read(spark, table["key"], header="true", pushFilters="true").load(str(table["enc"])).where(where)
        if PUSHDOWN_PLAN_SHARED:  # refused on this PySpark; the pruning itself is checked in-process below
            assert_pushfilters_refused(ours)
            continue
        assert_same(ours, spark_csv(spark, table["plain"]).where(where), ordered=False)
    opened: list[str] = []
    original = LocalFileSystem.open_read

    def counting(fs: LocalFileSystem, path: str) -> Any:
        opened.append(path)
        return original(fs, path)

    monkeypatch.setattr(LocalFileSystem, "open_read", counting)
    schema = ppml_read(spark, table["key"], header="true").load(str(table["enc"])).schema
    reader = _reader(table, schema)
    handed_back = list(reader.pushFilters([EqualTo(("dt",), dt.date(2026, 11, 1)), GreaterThan(("n",), 5)]))
    assert len(handed_back) == 2  # Spark still evaluates them
    opened.clear()
    partitions = reader.partitions()
    paths = {s.path for p in partitions for s in p.splits}  # type: ignore[attr-defined]
    assert len(paths) == 4 and all("/dt=2026-11-01/" in p and "/n=20/" in p for p in paths)
    # no other file's header was read (files that fit one split are probed by their task, so only the first)
    assert opened and set(opened) <= paths


def test_pruning_on_a_null_partition(table: dict[str, Path], spark: Any) -> None:
    schema = ppml_read(spark, table["key"], header="true").load(str(table["enc"])).schema
    reader = _reader(table, schema)
    list(reader.pushFilters([IsNull(("dt",)), In(("mode",), ("AIR",))]))
    paths = {s.path for p in reader.partitions() for s in p.splits}  # type: ignore[attr-defined]
    assert len(paths) == 4 and all("__HIVE_DEFAULT_PARTITION__/mode=AIR/" in p for p in paths)


def _reader(table: dict[str, Path], schema: StructType) -> PpmlEncParquetReader:
    options = {k.lower(): v for k, v in kms_options(table["key"], header="true", pushFilters="true").items()}
    return PpmlEncParquetReader({**options, "path": str(table["enc"])}, schema)


def _discover(*dirs: str) -> Any:
    files = [FileStatus(f"/t/{d}/part-{i}.csv", 10) for i, d in enumerate(dirs)]
    return discover(files, ["/t"], None)


def test_partition_type_inference_rules() -> None:
    """Spark's inferPartitionColumnValue and the widening of a column's values."""
    cases = {
        ("1", "20"): "int",
        ("1", "3000000000"): "bigint",
        ("1", "123456789012345678901234"): "decimal(24,0)",
        ("1", "2.5"): "double",
        ("2026-11-01", "2026-11-02"): "date",
        ("2026-11-01 10:00:00", "2026-11-02 11:30:00"): "timestamp",
        ("2026-11-01", "x"): "string",
        ("1", "2026-11-01"): "string",
        ("1", "__HIVE_DEFAULT_PARTITION__"): "int",
        ("__HIVE_DEFAULT_PARTITION__",): "void",  # Spark 4: a column of nulls only is void
    }
    for values, expected in cases.items():
        found = _discover(*(f"k={v}" for v in values))
        assert found.types[0].simpleString() == expected, values
    escaped = _discover("ts=2026-11-01 10%3A00%3A00")
    assert escaped.types[0].simpleString() == "timestamp"
    assert list(escaped.values.values()) == [("2026-11-01 10:00:00",)]
    assert _discover("k=__HIVE_DEFAULT_PARTITION__").values["/t/k=__HIVE_DEFAULT_PARTITION__/part-0.csv"] == (None,)
    assert discover([FileStatus("/t/k=1/a", 1)], ["/t"], None, infer_types=False).types[0].simpleString() == "string"


def test_data_column_named_like_a_partition_is_refused(spark: Any, table: dict[str, Path], tmp_path: Path) -> None:
    """write_csv's files have a ``day`` column: a day=... directory above them is refused with one clear line."""
    clash = tmp_path / "clash"
    (clash / "day=2026-11-01").mkdir(parents=True)
    source = next((table["enc"] / "dt=2026-11-01" / "mode=AIR" / "n=1").iterdir())
    (clash / "day=2026-11-01" / source.name).write_bytes(source.read_bytes())
    with pytest.raises(Exception, match="column day is both in the files and a key=value partition directory"):
        ppml_read(spark, table["key"], header="true").load(str(clash)).schema  # noqa: B018


def test_conflicting_layouts_and_base_path_errors() -> None:
    with pytest.raises(ConfigError, match="conflicting directory structures"):
        _discover("a=1/b=2", "b=2/a=1")
    with pytest.raises(ConfigError, match="option basePath=/elsewhere"):
        discover([FileStatus("/t/k=1/a", 1)], ["/t"], "/elsewhere")


def test_keeps_is_conservative() -> None:
    row = {"day": dt.date(2026, 11, 1), "n": 20, "price": Decimal("3")}
    assert keeps([EqualTo(("day",), dt.date(2026, 11, 1))], row)
    assert not keeps([EqualTo(("day",), dt.date(2026, 11, 2))], row)
    assert not keeps([GreaterThan(("n",), 20)], row)
    assert keeps([EqualTo(("other",), 1)], row)  # not a partition column: undecided, kept
    assert keeps([EqualTo(("n",), "x")], row)  # incomparable literal: undecided, kept
    assert not keeps([IsNull(("n",))], row)
