"""Scale (issue 12, item 2): planning many small files costs the listing, not a request per file.

Storage requests are counted by a loopback proxy between the Azure SDK and Azurite (``http_proxy``), in the
driver and in Spark's worker processes alike. A file that fits in one split is planned from its listing (size
and ETag) and its task reads and checks the header through the same open file; larger files are probed on the
driver with one ranged read each. Errors the driver used to raise for small files (foreign header, mixed crypto
modes or formats) now fail the task, still naming the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql.types import StringType, StructField, StructType

from bigdl_ppml_az.datasource.options import ReadSettings
from bigdl_ppml_az.datasource.planning import FileSplit, plan_splits, resolve_split
from bigdl_ppml_az.datasource.reader import PREFETCH_FILES, PpmlEncReader
from bigdl_ppml_az.kms import KmsSettings
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.storage import LocalFileSystem, open_status
from emulators import Azurite
from http_proxy import CountingProxy
from test_datasource_support import assert_same, encrypt, kms_options, ppml_read, write_csv

SCHEMA = "id INT, name STRING, amount DOUBLE, flag BOOLEAN, day DATE, ts TIMESTAMP, note STRING"
NAMES = ["id", "name", "amount", "flag", "day", "ts", "note"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small tables (6 and 30 files of 10 rows; 30 more spread over 5 subdirectories) and a mixed one (two
    files of 2,000 rows with 4 KiB segments, four small ones), each as plaintext and as ppml-gcm."""
    root = tmp_path_factory.mktemp("planning")
    key = root / "primary.key"
    kms = LocalKms.create(key)
    out: dict[str, Path] = {"key": key}
    layouts: dict[str, list[tuple[str, int]]] = {
        "few": [(f"part-{i:05d}.csv", 10) for i in range(6)],
        "many": [(f"part-{i:05d}.csv", 10) for i in range(30)],
        "nested": [(f"d{i % 5}/part-{i:05d}.csv", 10) for i in range(30)],
        "mixed": [(f"part-{i:05d}.csv", 2000 if i in (0, 3) else 10) for i in range(6)],
    }
    for name, files in layouts.items():
        plain = root / name / "plain"
        for index, (relative, rows) in enumerate(files):
            write_csv(plain / relative, rows, start=index * 2000)
        out[f"{name}-plain"] = plain
        out[name] = encrypt(kms, plain, root / name / "enc", segment_size=4096)
    return out


@pytest.fixture(scope="module")
def remote(tables: dict[str, Path], azurite: Azurite) -> Iterator[dict[str, Any]]:
    """The encrypted tables uploaded to one Azurite container, and a counting proxy in front of Azurite."""
    container = azurite.new_container()
    client = azurite.service().get_container_client(container)
    for name in ("few", "many", "nested", "mixed"):
        for part in sorted(p for p in tables[name].rglob("*") if p.is_file()):
            client.upload_blob(f"{name}/{part.relative_to(tables[name]).as_posix()}", part.read_bytes())
    port = int(azurite.endpoint.split(":")[2].split("/")[0])
    with CountingProxy(port) as proxy:
        storage = {**azurite.options(), "azureBlobEndpoint": proxy.endpoint(azurite.endpoint)}
        yield {"proxy": proxy, "storage": storage, "url": lambda name: azurite.url(container, name)}


def _options(key: Path, path: str, **extra: str) -> dict[str, str]:
    return {k.lower(): v for k, v in {**kms_options(key, header="true"), "path": path, **extra}.items()}


def _strings() -> StructType:
    return StructType([StructField(n, StringType()) for n in NAMES])


def _plan(remote: dict[str, Any], key: Path, name: str, **extra: str) -> tuple[list[Any], list[Any]]:
    """Splits of ``partitions()`` for one table and the storage requests planning made."""
    proxy: CountingProxy = remote["proxy"]
    options = _options(key, remote["url"](name), **{k.lower(): v for k, v in remote["storage"].items()}, **extra)
    proxy.reset()
    partitions = PpmlEncReader(options, _strings()).partitions()
    return [s for p in partitions for s in p.splits], proxy.requests  # type: ignore[attr-defined]


def test_planning_requests_do_not_grow_with_the_file_count(remote: dict[str, Any], tables: dict[str, Path]) -> None:
    """6, 30, and 30 files in 5 subdirectories: the same requests (listing pages, directory and manifest
    checks, one read of the first file's header), no properties request or read per file."""
    seen = {}
    for name, count in (("few", 6), ("many", 30), ("nested", 30)):
        splits, requests = _plan(remote, tables["key"], name)
        assert len(splits) == count and sum(s.info is None for s in splits) == count - 1
        reads = [r for r in requests if r.kind == "read"]
        assert len(reads) == 1 and reads[0].path.endswith("/part-00000.csv")  # the first file fixes the mode
        assert not [r for r in requests if r.kind == "properties" and "/part-" in r.path]
        pages = [r for r in requests if r.kind == "list" and "maxresults" not in r.query]
        assert len(pages) == 1 and pages[0].query["prefix"] == [f"{name}/"]  # one recursive listing, one page
        assert all(r.query["maxresults"] == ["1"] for r in requests if r.kind == "list" and r not in pages)
        seen[name] = sorted((r.method, r.kind) for r in requests)
    assert seen["few"] == seen["many"] == seen["nested"]
    assert len(seen["many"]) <= 8


def test_large_files_are_probed_with_one_request_each(remote: dict[str, Any], tables: dict[str, Path]) -> None:
    """Files larger than maxPartitionBytes are cut by their unit layout, so the driver reads their header: one
    ranged GET per such file (size and ETag from the listing), none for the small ones."""
    splits, requests = _plan(remote, tables["key"], "mixed", maxPartitionBytes="32k")
    large = {s.path for s in splits if s.info is not None}
    assert {Path(p).name for p in large} == {"part-00000.csv", "part-00003.csv"}
    assert all(sum(s.path == p for s in splits) > 1 for p in large)  # really cut into several splits
    reads = sorted(Path(r.path).name for r in requests if r.kind == "read")
    assert reads == ["part-00000.csv", "part-00003.csv"]
    assert not [r for r in requests if r.kind == "properties" and "/part-" in r.path]


def test_spark_read_makes_one_request_per_small_file(
    spark: Any, remote: dict[str, Any], tables: dict[str, Path]
) -> None:
    """The whole query: Spark's answer on the plaintext copy, and one ranged GET per file in the tasks (header,
    rows and tag in one response) plus the planner's one probe; no properties request for any data file."""
    proxy: CountingProxy = remote["proxy"]
    theirs = spark.read.option("header", "true").schema(SCHEMA).csv(str(tables["many-plain"]))
    ours = ppml_read(spark, tables["key"], schema=SCHEMA, header="true", **remote["storage"])
    proxy.reset()
    assert_same(ours.load(remote["url"]("many")), theirs, ordered=False)
    requests = proxy.requests
    reads = [Path(r.path).name for r in requests if r.kind == "read"]
    assert sorted(set(reads)) == sorted(p.name for p in tables["many"].iterdir())
    assert len(reads) == 31 and reads.count("part-00000.csv") == 2  # Spark planned once: one probe, one task read
    assert not [r for r in requests if r.kind == "properties" and "/part-" in r.path]


def test_a_task_fetches_its_small_remote_files_ahead(remote: dict[str, Any], tables: dict[str, Path]) -> None:
    """One task of 30 small files (minPartitions=1): their GETs overlap (a few in flight, bounded), each file is
    fetched once, and every row arrives."""
    proxy: CountingProxy = remote["proxy"]
    storage = {k.lower(): v for k, v in remote["storage"].items()}
    options = _options(tables["key"], remote["url"]("many"), minpartitions="1", **storage)
    reader = PpmlEncReader(options, _strings())
    (task,) = reader.partitions()
    proxy.delay = 0.05  # so fetches surely overlap
    proxy.reset()
    try:
        rows = sum(batch.num_rows for batch in reader.read(task))
    finally:
        proxy.delay = 0.0
    assert rows == 30 * 10
    reads = [r for r in proxy.requests if r.kind == "read"]
    assert len(reads) == len({r.path for r in reads}) == 30
    assert 1 < proxy.peak <= PREFETCH_FILES


def test_mixed_table_reads_like_spark(spark: Any, remote: dict[str, Any], tables: dict[str, Path]) -> None:
    """Cut large files and whole small files in one read give Spark's rows."""
    theirs = spark.read.option("header", "true").schema(SCHEMA).csv(str(tables["mixed-plain"]))
    ours = ppml_read(spark, tables["key"], schema=SCHEMA, header="true", maxPartitionBytes="32k", **remote["storage"])
    assert_same(ours.load(remote["url"]("mixed")), theirs, ordered=False)


def test_task_builds_the_split_the_driver_would_have(tables: dict[str, Path]) -> None:
    """A small file's split resolved in the task equals the split of the full driver-side probe."""
    options = _options(tables["key"], str(tables["mixed"]), maxpartitionbytes="32k")
    settings = ReadSettings.from_options(options)
    probed, lengths_probed, _ = plan_splits(options, settings, [str(tables["mixed"])], probe_all=True)
    deferred, lengths, _ = plan_splits(options, settings, [str(tables["mixed"])])
    assert lengths == lengths_probed
    assert sum(s.info is None for s in deferred) == 4 and all(s.info is not None for s in probed)
    fs = LocalFileSystem()
    resolved = []
    for split in deferred:
        if split.info is None:
            with open_status(fs, split.status) as source:
                split = resolve_split(split, source, fs, settings, KmsSettings.from_options(options))
        resolved.append(split)
    assert resolved == probed


def _copy_table(source: Path, target: Path, count: int | None = None) -> list[Path]:
    target.mkdir()
    for f in sorted(source.iterdir())[:count]:
        (target / f.name).write_bytes(f.read_bytes())
    return sorted(target.iterdir())


@pytest.mark.parametrize("bad", ["plaintext", "foreign"])
def test_small_file_with_a_bad_header_fails_its_task_naming_it(
    spark: Any, tables: dict[str, Path], tmp_path: Path, bad: str
) -> None:
    files = _copy_table(tables["many"], tmp_path / "t", 8)
    victim = files[5]
    if bad == "plaintext":
        victim.write_bytes((tables["many-plain"] / victim.name).read_bytes())
    else:  # the right magic, then an envelope that is not JSON
        victim.write_bytes(b"PPMLGCM1\x00\x00\x00\x10{not an envelope" + bytes(300))
    options = _options(tables["key"], str(tmp_path / "t"))
    assert len(PpmlEncReader(options, _strings()).partitions()) >= 1  # planning does not read it
    with pytest.raises(Exception) as info:
        ppml_read(spark, tables["key"], schema=SCHEMA, header="true").load(str(tmp_path / "t")).collect()
    message = str(info.value)
    assert victim.name in message
    assert all(f.name not in message for f in files if f != victim)


def test_mixed_crypto_modes_fail_naming_a_file(spark: Any, tables: dict[str, Path], tmp_path: Path) -> None:
    """A BigDL aes/cbc/pkcs5padding file among ppml-gcm files: small, so its task finds the mismatch."""
    files = _copy_table(tables["few"], tmp_path / "t")
    victim = files[4]
    victim.unlink()
    encrypt(LocalKms.load(tables["key"]), tables["few-plain"] / victim.name, victim, mode="aes/cbc/pkcs5padding")
    with pytest.raises(Exception, match="mixed crypto modes") as info:
        ppml_read(spark, tables["key"], schema=SCHEMA, header="true").load(str(tmp_path / "t")).collect()
    assert victim.name in str(info.value)


def test_mixed_content_formats_fail_naming_a_file(spark: Any, tables: dict[str, Path], tmp_path: Path) -> None:
    """A small file whose envelope says it holds Parquet, in a CSV read."""
    files = _copy_table(tables["few"], tmp_path / "t")
    plain = tmp_path / "x.parquet"
    plain.write_bytes((tables["few-plain"] / files[2].name).read_bytes())
    victim = tmp_path / "t" / "part-00002.parquet"
    files[2].unlink()
    encrypt(LocalKms.load(tables["key"]), plain, victim)
    with pytest.raises(Exception, match="holds parquet") as info:
        ppml_read(spark, tables["key"], schema=SCHEMA, header="true").load(str(tmp_path / "t")).collect()
    assert victim.name in str(info.value)


def test_driver_key_delivery_still_probes_every_file(tables: dict[str, Path]) -> None:
    """keyDelivery=driver ships unwrapped keys in the splits, so every header is read while planning."""
    options = _options(tables["key"], str(tables["few"]), keydelivery="driver", allowinsecurekeydelivery="true")
    splits, _, _ = plan_splits(options, ReadSettings.from_options(options), [str(tables["few"])])
    assert len(splits) == 6
    assert all(isinstance(s, FileSplit) and s.info is not None and s.key is not None for s in splits)
