"""ppml-enc reads and writes on abfss:// (Azurite) with Key Vault keys (emulator), including faults."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

import pytest

from azure_fixtures import Azurite
from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.formats import COMMON, PPML_GCM, probe
from bigdl_ppml_az.kms import KmsSettings, build_kms, generate_data_key
from bigdl_ppml_az.kms.azure import AzureKms, create_primary_key
from bigdl_ppml_az.kms.bigdl_keys import write_data_key_file
from bigdl_ppml_az.storage import filesystem_for
from kv_emulator import KeyVaultEmulator

pytest.importorskip("pyspark.sql.datasource")
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

SCHEMA = "name STRING, age INT, job STRING"
JOBS = ("Developer", "Tester", "Manager")


def _people(count: int, start: int = 0) -> list[tuple[str, int, str]]:
    return [(f"person{i}", 18 + i % 50, JOBS[i % 3]) for i in range(start, start + count)]


def _csv(rows: list[tuple[str, int, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "age", "job"])
    writer.writerows(rows)
    return out.getvalue().encode()


def _options(kv: KeyVaultEmulator, azurite: Azurite, **extra: str) -> dict[str, str]:
    return {**kv.options(), **azurite.options(), **extra}


def _new_key(kv: KeyVaultEmulator) -> str:
    return create_primary_key(kv.url, "ds-" + uuid.uuid4().hex[:10], 2048, options=kv.options())


def _read(spark: Any, path: str, options: dict[str, str], **extra: str) -> Any:
    reader = spark.read.format("ppml-enc").options(**options).option("format", "csv").option("header", "true")
    return reader.options(**extra).schema(SCHEMA).load(path)


def _rows(df: Any) -> list[tuple[str, int, str]]:
    return sorted((r["name"], r["age"], r["job"]) for r in df.collect())


def _encrypt_file(kms: AzureKms, azurite: Azurite, tmp_path: Path, target: str, rows: list[Any], **kw: Any) -> None:
    """One file encrypted by our CLI code path (a fresh data key per call) straight into Azurite."""
    local = tmp_path / f"src-{uuid.uuid4().hex[:8]}.csv"
    local.write_bytes(_csv(rows))
    filecrypt.encrypt_path(str(local), target, kms, options=azurite.options(), jobs=1, **kw)


def test_write_and_read_multi_file_directory(
    spark: Any, kv: KeyVaultEmulator, azurite: Azurite, container: str
) -> None:
    options = _options(kv, azurite, primaryKeyId=_new_key(kv))
    rows = _people(300)
    target = azurite.url(container, "people")
    df = spark.createDataFrame(rows, SCHEMA).repartition(3)
    df.write.format("ppml-enc").options(**options).option("format", "csv").option("header", "true").mode(
        "overwrite"
    ).save(target)
    fs = filesystem_for(target, options)
    parts = fs.list_files(target)
    assert len(parts) == 3
    assert fs.exists(azurite.url(container, "people/_SUCCESS"))
    assert not fs.exists(azurite.url(container, "people/_temporary"))
    for part in parts:
        with fs.open_read(part.path) as handle:
            assert probe(handle, part.size, part.path).mode == PPML_GCM
        assert b"person1," not in fs.read_bytes(part.path)
    assert _rows(_read(spark, target, options)) == sorted(rows)


def test_split_large_file_reads_every_row(
    spark: Any, kv: KeyVaultEmulator, azurite: Azurite, container: str, tmp_path: Path
) -> None:
    options = _options(kv, azurite, primaryKeyId=_new_key(kv))
    kms = build_kms(KmsSettings.from_options(options))
    assert isinstance(kms, AzureKms)
    rows = _people(60_000)
    target = azurite.url(container, "big/people.csv")
    _encrypt_file(kms, azurite, tmp_path, target, rows, segment_size=64 << 10)
    assert filesystem_for(target, options).size(target) > 1 << 20
    df = _read(spark, target, options, maxPartitionBytes="128k")
    assert df.rdd.getNumPartitions() >= 6
    assert df.count() == len(rows)
    total = df.agg({"age": "sum"}).collect()[0][0]
    assert total == sum(r[1] for r in rows)
    assert _rows(df.where("name = 'person59999' or name = 'person0'")) == sorted([rows[0], rows[-1]])


def test_bigdl_layout_on_adls_with_bigdl_key_files(
    spark: Any, kv: KeyVaultEmulator, azurite: Azurite, container: str, tmp_path: Path
) -> None:
    key_id = _new_key(kv)
    primary, data_key = tmp_path / "primaryKey", tmp_path / "dataKey"
    primary.write_text(key_id)
    kms = AzureKms.from_options({**kv.options(), "primaryKeyPath": str(primary)})
    _, wrapped = generate_data_key(kms, compat="bigdl")
    write_data_key_file(data_key, wrapped.ciphertext)
    options = _options(kv, azurite, primaryKeyPath=str(primary), dataKeyPath=str(data_key))
    rows = _people(500)
    target = azurite.url(container, "bigdl/people.csv")
    spark.createDataFrame(rows, SCHEMA).repartition(2).write.format("ppml-enc").options(**options).option(
        "cryptoMode", "aes/cbc/pkcs5padding"
    ).option("format", "csv").option("header", "true").mode("overwrite").save(target)
    fs = filesystem_for(target, options)
    assert fs.exists(azurite.url(container, "bigdl/people.csv/.meta"))
    for part in fs.list_files(target):
        with fs.open_read(part.path) as handle:
            assert probe(handle, part.size, part.path).mode == COMMON
    back = _read(spark, target, options, cryptoMode="aes/cbc/pkcs5padding")
    assert _rows(back) == sorted(rows)


def test_throttled_and_failing_kms_still_returns_every_row(
    spark: Any, kv: KeyVaultEmulator, azurite: Azurite, container: str, tmp_path: Path
) -> None:
    options = _options(kv, azurite, primaryKeyId=_new_key(kv))
    kms = build_kms(KmsSettings.from_options(options))
    assert isinstance(kms, AzureKms)
    expected: list[tuple[str, int, str]] = []
    for index in range(6):  # six files, six data keys: every worker process must unwrap each
        rows = _people(200, start=index * 200)
        expected += rows
        _encrypt_file(kms, azurite, tmp_path, azurite.url(container, f"faulty/part-{index}.csv"), rows)
    kv.reset_counts()
    kv.inject(rate=0.3, statuses=(429, 503))  # 429s carry Retry-After: 1, as Key Vault's do
    rows_back = _rows(_read(spark, azurite.url(container, "faulty"), options))
    assert rows_back == sorted(expected)
    assert sum(kv.faults.values()) > 0 and kv.calls["unwrapKey"] >= 6


def test_disabled_key_gives_one_clear_error(
    spark: Any, kv: KeyVaultEmulator, azurite: Azurite, container: str, tmp_path: Path
) -> None:
    key_id = _new_key(kv)
    options = _options(kv, azurite, primaryKeyId=key_id)
    kms = build_kms(KmsSettings.from_options(options))
    assert isinstance(kms, AzureKms)
    target = azurite.url(container, "disabled/people.csv")
    _encrypt_file(kms, azurite, tmp_path, target, _people(100))
    kv.set_enabled(key_id.split("/keys/")[1].split("/")[0], False)
    kv.reset_counts()
    with pytest.raises(Exception, match="is disabled; unwrapKey refused") as info:
        _read(spark, target, options).collect()
    assert key_id in str(info.value)
    assert kv.calls["unwrapKey"] <= 2  # failed fast: no retries of a permanent 403
