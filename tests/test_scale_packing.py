"""Scale (issue 12): small files and splits packed into tasks as Spark packs them, headers probed by a bounded
thread pool in file order, errors naming the file inside a packed task, and planning memory bounded by the
number of splits (never by what a header declares)."""

from __future__ import annotations

import os
import pickle
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from pyspark.sql.types import StringType, StructField, StructType

from bigdl_ppml_az.datasource.options import ReadSettings
from bigdl_ppml_az.datasource.planning import FilePartition, FileSplit, Packing, pack, plan, plan_splits
from bigdl_ppml_az.datasource.reader import PpmlEncReader
from bigdl_ppml_az.formats import ppml_gcm
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.storage import LocalFileSystem
from test_datasource_support import assert_same, encrypt, kms_options, ppml_read, write_csv

SCHEMA = "id INT, name STRING, amount DOUBLE, flag BOOLEAN, day DATE, ts TIMESTAMP, note STRING"
FILES = 40


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """40 small CSV part files (20 rows each) and their ppml-gcm copy."""
    root = tmp_path_factory.mktemp("scale")
    key = root / "primary.key"
    kms = LocalKms.create(key)
    plain = root / "plain"
    for i in range(FILES):
        write_csv(plain / f"part-{i:05d}.csv", 20, start=i * 20)
    return {"key": key, "plain": plain, "enc": encrypt(kms, plain, root / "enc")}


def options_for(key: Path, path: Path, **extra: str) -> dict[str, str]:
    return {k.lower(): v for k, v in {**kms_options(key, header="true"), "path": str(path), **extra}.items()}


def all_strings() -> StructType:
    return StructType([StructField(n, StringType()) for n in ["id", "name", "amount", "flag", "day", "ts", "note"]])


def test_small_files_pack_like_sparks_reader(spark: Any, small: dict[str, Path]) -> None:
    """Same task count as Spark's CSV reader on the plaintext copy (minPartitions = the session's default
    parallelism, which a Python data source cannot see), every file read exactly once, same rows."""
    parallelism = str(spark.sparkContext.defaultParallelism)
    theirs = spark.read.option("header", "true").schema(SCHEMA).csv(str(small["plain"]))
    ours = ppml_read(spark, small["key"], schema=SCHEMA, header="true", minPartitions=parallelism).load(
        str(small["enc"])
    )
    assert ours.rdd.getNumPartitions() == theirs.rdd.getNumPartitions() < FILES
    assert_same(ours, theirs, ordered=False)
    reader = PpmlEncReader(options_for(small["key"], small["enc"], minpartitions="2"), all_strings())
    partitions = reader.partitions()
    assert all(isinstance(p, FilePartition) for p in partitions)
    paths = [s.path for p in partitions for s in p.splits]  # type: ignore[attr-defined]
    assert sorted(paths) == sorted(str(f) for f in small["enc"].iterdir() if not f.name.startswith((".", "_")))
    assert len(paths) == FILES
    assert max(len(p.splits) for p in partitions) > 1  # type: ignore[attr-defined]


def test_open_cost_and_max_partition_bytes_bound_each_task(small: dict[str, Path]) -> None:
    """Spark's rule: a task closes when the next split would pass maxSplitBytes, each split costing its size
    plus openCostInBytes; openCostInBytes >= maxPartitionBytes means one file per task."""
    one_each = plan(options_for(small["key"], small["enc"]), _settings(openCostInBytes="128m"), [str(small["enc"])])
    assert len(one_each) == FILES and all(len(p.splits) == 1 for p in one_each)
    settings = _settings(openCostInBytes="2k", maxPartitionBytes="16k", minPartitions="1")
    splits, lengths, target = plan_splits(options_for(small["key"], small["enc"]), settings, [str(small["enc"])])
    assert target == 16 << 10  # min(maxPartitionBytes, max(openCost, total / 1))
    by_split = {id(s): n for s, n in zip(splits, lengths, strict=True)}
    tasks = pack(splits, lengths, Packing(16 << 10, 2 << 10, 1), target)
    for task in tasks:
        costs = [by_split[id(s)] + (2 << 10) for s in task.splits]
        assert sum(costs) - (2 << 10) <= target or len(task.splits) == 1
    for first, second in zip(tasks, tasks[1:], strict=False):  # the next split did not fit
        cost = sum(by_split[id(s)] + (2 << 10) for s in first.splits)
        assert cost + by_split[id(second.splits[0])] > target
    assert 1 < len(tasks) < FILES


def test_pack_spreads_a_small_table_over_min_partitions() -> None:
    """maxSplitBytes = min(maxPartitionBytes, max(openCost, totalBytes / minPartitions)), as Spark computes it."""
    packing = Packing(max_partition_bytes=128 << 20, open_cost_bytes=4 << 20, min_partitions=4)
    sizes = [1000] * 100
    assert packing.max_split_bytes(sizes) == (100 * (1000 + (4 << 20))) // 4
    assert Packing(128 << 20, 4 << 20, 1).max_split_bytes([10 << 30]) == 128 << 20
    assert Packing(128 << 20, 4 << 20, 64).max_split_bytes([1000]) == 4 << 20


def test_failing_file_in_packed_task_names_that_file(spark: Any, small: dict[str, Path], tmp_path: Path) -> None:
    """One task reads several files; a tampered one fails the read and the error names it, not a neighbour."""
    table = tmp_path / "table"
    table.mkdir()
    for f in sorted(small["enc"].iterdir())[:6]:
        (table / f.name).write_bytes(f.read_bytes())
    victim = sorted(table.iterdir())[3]
    blob = bytearray(victim.read_bytes())
    blob[-5] ^= 1  # inside the last segment's tag: authentication fails
    victim.write_bytes(bytes(blob))
    df = ppml_read(spark, small["key"], schema=SCHEMA, header="true").load(str(table))
    assert df.rdd.getNumPartitions() < 6
    with pytest.raises(Exception, match="failed authentication") as info:
        df.collect()
    message = str(info.value)
    assert victim.name in message
    assert all(other.name not in message for other in table.iterdir() if other != victim)


def test_packed_partitions_are_small_and_picklable(small: dict[str, Path]) -> None:
    partitions = plan(options_for(small["key"], small["enc"]), _settings(), [str(small["enc"])])
    for partition in partitions:
        data = pickle.dumps(partition)
        assert len(data) < 2048 * len(partition.splits)  # a few hundred bytes of header facts per split
        assert pickle.loads(data).splits == partition.splits
        assert "wrapped" not in repr(partition) and "key" not in repr(partition).lower()


class _CountingOpens:
    """Wraps LocalFileSystem.open_read: records the most opens in flight at once (each held 30 ms)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.paths: list[str] = []
        self.original = LocalFileSystem.open_read

    def __call__(self, fs: LocalFileSystem, path: str) -> BinaryIO:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.paths.append(path)
        try:
            time.sleep(0.03)
            return self.original(fs, path)
        finally:
            with self.lock:
                self.active -= 1


@pytest.mark.parametrize("threads", [1, 4])
def test_header_probes_respect_the_thread_bound(
    small: dict[str, Path], monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    counter = _CountingOpens()
    def open_read(fs: LocalFileSystem, path: str) -> BinaryIO:
        return counter(fs, path)

    monkeypatch.setattr(LocalFileSystem, "open_read", open_read)
    # Files that fit in one split are probed by their task (tests/test_scale_planning.py); with a 128-byte
    # split target every file here needs its layout, so the driver probes all of them.
    settings = _settings(planningThreads=str(threads), maxPartitionBytes="128")
    options = options_for(small["key"], small["enc"], planningthreads=str(threads), maxpartitionbytes="128")
    splits, _, _ = plan_splits(options, settings, [str(small["enc"])])
    assert len(counter.paths) == FILES  # one probe per file
    assert counter.peak <= threads
    if threads > 1:
        assert counter.peak > 1  # really concurrent
    listed = sorted(str(f) for f in small["enc"].iterdir() if not f.name.startswith((".", "_")))
    assert [s.path for s in splits] == listed  # file order kept whatever finished first


def test_one_bad_header_fails_planning_with_its_name(small: dict[str, Path], tmp_path: Path) -> None:
    table = tmp_path / "table"
    table.mkdir()
    for f in sorted(small["enc"].iterdir())[:12]:
        (table / f.name).write_bytes(f.read_bytes())
    victim = sorted(table.iterdir())[7]
    victim.write_bytes(ppml_gcm.MAGIC + b"\x00\x00\x00\x10{not an envelope" + os.urandom(200))
    # Larger than the split target, so probed while planning (a small file's bad header fails its task instead:
    # tests/test_scale_planning.py).
    options = options_for(small["key"], table, planningthreads="4", maxpartitionbytes="128")
    reader = PpmlEncReader(options, all_strings())
    with pytest.raises(Exception) as info:
        reader.partitions()
    assert victim.name in str(info.value)
    assert str(info.value).count(str(table)) == 1  # one file named, one line


def test_planning_memory_is_bounded_by_splits_not_declared_size(tmp_path: Path) -> None:
    """A ppml-gcm file of 64 GiB (sparse: its size is all the planner sees) with 4 KiB segments declares 16M
    segments; planning must hold one record per 128 MiB split, not one entry per segment."""
    key = tmp_path / "primary.key"
    kms = LocalKms.create(key)
    plain = write_csv(tmp_path / "p" / "a.csv", 50)
    enc = tmp_path / "enc"
    part = encrypt(kms, plain, enc / "a.csv.enc", segment_size=4096)
    os.truncate(part, 64 << 30)
    options = options_for(key, enc)
    tracemalloc.start()
    try:
        splits, _, _ = plan_splits(options, _settings(), [str(enc)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(splits) == (64 << 30) // (128 << 20)  # 512 splits of 32768 segments
    assert peak < 8 << 20, f"planning peaked at {peak} bytes"
    assert isinstance(splits[0], FileSplit) and splits[-1].end is None


def _settings(**options: str) -> ReadSettings:
    return ReadSettings.from_options({"header": "true", **options})
