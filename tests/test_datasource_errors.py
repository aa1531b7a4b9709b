"""Bad input: every error names the file, no rows of a damaged file are returned, no key material leaks."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.formats import COMMON, ppml_gcm, probe
from bigdl_ppml_az.kms import WrappedKey
from bigdl_ppml_az.kms.local import LocalKms
from test_datasource_support import encrypt, encrypt_native, ppml_read, write_csv

SCHEMA = "id INT, name STRING, amount DOUBLE, flag BOOLEAN, day DATE, ts TIMESTAMP, note STRING"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ds-errors")
    key = root / "primary.key"
    kms = LocalKms.create(key)
    other = root / "other.key"
    LocalKms.create(other)
    write_csv(root / "plain" / "a.csv", 2000)
    return {
        "root": root,
        "key": key,
        "other": other,
        "plain": root / "plain",
        "gcm": encrypt(kms, root / "plain", root / "gcm"),
        "common": encrypt(kms, root / "plain", root / "common", mode=COMMON),
    }


def key_forms(key: Path, encrypted: Path) -> list[str]:
    """The data key of ``encrypted`` as raw text, hex and Base64: none may appear in any output."""
    with encrypted.open("rb") as handle:
        info = probe(handle, encrypted.stat().st_size, str(encrypted))
    assert info.key_ref is not None and info.envelope is not None
    ref = info.key_ref
    material = LocalKms.load(key).unwrap(WrappedKey(ref.kms_type or "", ref.key_id or "", "", ref.wrapped_key))
    return [material.hex(), material.hex().upper(), base64.b64encode(material).decode(), material.decode("latin-1")]


def failure(df: Any) -> str:
    with pytest.raises(Exception) as info:
        df.collect()
    return str(info.value)


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_wrong_primary_key(spark: Any, env: dict[str, Path]) -> None:
    message = failure(ppml_read(spark, env["other"], schema=SCHEMA).load(str(env["gcm"])))
    assert "a.csv" in message and "primary key" in message
    for form in key_forms(env["key"], env["gcm"] / "a.csv"):
        assert form not in message


@pytest.mark.parametrize("layout", ["gcm", "common"])
def test_tampered_file_returns_no_rows(spark: Any, env: dict[str, Path], tmp_path: Path, layout: str) -> None:
    bad = copy_tree(env[layout], tmp_path / layout)
    target = bad / "a.csv"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    df = ppml_read(spark, env["key"], schema=SCHEMA, header="true").load(str(bad))
    message = failure(df.limit(1))  # not even limit() gets a row of a tampered file
    assert "a.csv" in message
    assert "authentication" in message or "HMAC" in message


def test_truncated_file_detected_before_any_row(spark: Any, env: dict[str, Path], tmp_path: Path) -> None:
    bad = copy_tree(env["gcm"], tmp_path / "trunc")
    target = bad / "a.csv"
    data = target.read_bytes()
    with target.open("rb") as handle:
        info = probe(handle, len(data), "a.csv")
    assert info.segment_size is not None
    layout = ppml_gcm.Layout(len(info.head), info.segment_size, len(data))
    target.write_bytes(data[: layout.segment_end(layout.segment_count - 2)])  # drop the last segment exactly
    df = ppml_read(spark, env["key"], schema=SCHEMA, header="true", maxPartitionBytes="8k").load(str(bad))
    assert "a.csv" in failure(df.limit(1))


def test_plaintext_file_in_encrypted_directory(spark: Any, env: dict[str, Path], tmp_path: Path) -> None:
    mixed = copy_tree(env["gcm"], tmp_path / "mixed")
    shutil.copy(env["plain"] / "a.csv", mixed / "z-plain.csv")
    message = failure(ppml_read(spark, env["key"], schema=SCHEMA).load(str(mixed)))
    assert "z-plain.csv" in message and "not an encrypted file" in message


def test_mixed_crypto_modes_and_formats(spark: Any, env: dict[str, Path], tmp_path: Path) -> None:
    mixed = copy_tree(env["gcm"], tmp_path / "modes")
    shutil.copy(env["common"] / "a.csv", mixed / "b.csv")
    message = failure(ppml_read(spark, env["key"], schema=SCHEMA).load(str(mixed)))
    assert "mixed crypto modes" in message and "b.csv" in message
    message = failure(ppml_read(spark, env["key"], fmt="parquet", schema=SCHEMA).load(str(env["gcm"])))
    assert "a.csv" in message and "mixed formats" in message


def test_native_without_meta(spark: Any, env: dict[str, Path], tmp_path: Path) -> None:
    native = encrypt_native(LocalKms.load(env["key"]), env["plain"] / "a.csv", tmp_path / "native")
    (native / ".meta").unlink()
    message = failure(ppml_read(spark, env["key"], schema=SCHEMA, cryptoMode="nativeaescbc").load(str(native)))
    assert "a.csv" in message and ".meta" in message


def test_missing_kms_option_is_clear(spark: Any, env: dict[str, Path]) -> None:
    with pytest.raises(Exception) as info:
        spark.read.format("ppml-enc").schema(SCHEMA).load(str(env["gcm"])).collect()
    assert "option 'kms' is required" in str(info.value)


def test_explain_and_errors_hold_no_key_material(spark: Any, env: dict[str, Path], capsys: Any) -> None:
    df = ppml_read(
        spark, env["key"], schema=SCHEMA, keyDelivery="driver", allowInsecureKeyDelivery="true", header="true"
    ).load(str(env["gcm"]))
    df.explain(True)
    explained = capsys.readouterr().out
    assert "ppml-enc" in explained or "PythonDataSource" in explained or "BatchEvalPython" in explained
    assert df.count() == 2000
    for form in key_forms(env["key"], env["gcm"] / "a.csv"):
        assert form not in explained


def test_driver_delivery_refused_without_secure_transport(spark: Any, env: dict[str, Path]) -> None:
    with pytest.raises(Exception) as info:
        ppml_read(spark, env["key"], schema=SCHEMA, keyDelivery="driver").load(str(env["gcm"])).collect()
    assert "spark.network.crypto.enabled" in str(info.value)


def test_driver_key_delivery_needs_secure_transport(
    spark: Any, env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """keyDelivery=driver puts data keys into task descriptions: refused unless the transport is confirmed secure."""
    from bigdl_ppml_az.datasource.options import SECURE_TRANSPORT_ENV, check_driver_delivery

    with pytest.raises(Exception, match="spark.authenticate=true and spark.network.crypto.enabled=true"):
        ppml_read(spark, env["key"], schema=SCHEMA, header="true", keyDelivery="driver").load(str(env["gcm"])).count()
    monkeypatch.delenv(SECURE_TRANSPORT_ENV, raising=False)
    with pytest.raises(Exception, match=SECURE_TRANSPORT_ENV):
        check_driver_delivery({"keyDelivery": "driver"})
    monkeypatch.setenv(SECURE_TRANSPORT_ENV, "1")
    check_driver_delivery({"keyDelivery": "driver"})  # confirmed by the launcher: accepted
    monkeypatch.delenv(SECURE_TRANSPORT_ENV)
    check_driver_delivery({"keyDelivery": "driver", "allowInsecureKeyDelivery": "true"})
