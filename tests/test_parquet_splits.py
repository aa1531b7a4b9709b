"""A large Parquet file wrapped whole (ppml-gcm, plaintext) is read by several tasks, each row group by one.

Spark cuts a Parquet file into byte ranges and gives each row group to the range holding its midpoint;
``ppml-enc`` does the same (planning.parquet_splits, parquet.range_skipper), so a big file no longer runs on one
core. What must hold: the same rows as Spark's reader, every row group exactly once, and a damaged file still
refused by every task (each split opens the whole file and authenticates the footer's final segment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bigdl_ppml_az.datasource.source import PpmlEncDataSource
from bigdl_ppml_az.filecrypt import encrypt_path
from bigdl_ppml_az.kms.local import LocalKms


def _write(directory: Path, rows: int = 20_000, groups: int = 20) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.table({
        "id": pa.array(range(rows), pa.int64()),
        "name": pa.array([f"row {i:07d} " + "x" * (i % 17) for i in range(rows)]),
        "value": pa.array([i * 0.5 for i in range(rows)]),
    })
    path = directory / "big.parquet"
    pq.write_table(table, path, row_group_size=rows // groups, use_dictionary=["name"])
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("pqsplits")
    key = root / "primary.key"
    kms = LocalKms.create(key)
    plain = _write(root / "plain")
    encrypt_path(str(plain.parent), str(root / "enc"), kms, crypto_mode="ppml-gcm", segment_size=16 << 10)
    options = {"format": "parquet", "kms": "local", "primaryKeyPath": str(key), "maxPartitionBytes": "80k"}
    return {"plain": plain.parent, "enc": root / "enc", "options": options}


def test_a_large_file_is_read_by_several_tasks_each_row_group_once(spark: Any, files: dict[str, Any]) -> None:
    reader = PpmlEncDataSource({**files["options"], "path": str(files["enc"])})
    partitions = reader.reader(reader.schema()).partitions()
    assert len(partitions) >= 3, partitions
    df = spark.read.format("ppml-enc").options(**files["options"]).load(str(files["enc"]))
    assert df.rdd.getNumPartitions() == len(partitions)
    expected = spark.read.parquet(str(files["plain"]))
    assert df.schema == expected.schema
    got = df.collect()
    assert len(got) == expected.count() == 20_000  # no row group twice, none missing
    assert sorted(got) == sorted(expected.collect())
    per_task = df.rdd.glom().map(len).collect()
    assert sum(1 for n in per_task if n) >= 3, per_task  # the work is spread, not one task reading everything


def test_every_range_refuses_a_truncated_file(spark: Any, files: dict[str, Any], tmp_path: Path) -> None:
    """Cutting the last segment off: a split whose range holds no row group still opens the footer, and every
    task fails authenticating, instead of the later ranges returning nothing."""
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    data = (files["enc"] / "big.parquet").read_bytes()
    (damaged / "big.parquet").write_bytes(data[: len(data) - 5000])
    df = spark.read.format("ppml-enc").options(**files["options"]).schema("id long, name string, value double")
    with pytest.raises(Exception) as caught:
        df.load(str(damaged)).collect()
    assert "IntegrityError" in str(caught.value) or "truncated" in str(caught.value)


def test_plaintext_parquet_through_ppml_enc_is_cut_the_same_way(spark: Any, files: dict[str, Any]) -> None:
    options = {"format": "parquet", "cryptoMode": "plain_text", "maxPartitionBytes": "80k"}
    df = spark.read.format("ppml-enc").options(**options).load(str(files["plain"]))
    assert df.rdd.getNumPartitions() >= 3
    assert sorted(df.collect()) == sorted(spark.read.parquet(str(files["plain"])).collect())
