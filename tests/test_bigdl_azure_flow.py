"""The guide's Azure flow on the BigDL layout, against the Key Vault emulator: key creation, encryption, inspect.

A default (3072-bit) Key Vault key cannot go into BigDL's 400-byte header: encrypt must say so before writing
anything (no ``.meta`` left behind); ``keys create --bigdl`` makes a 2048-bit key that fits; ``inspect`` of a
directory with nothing to inspect is an error; ``keys export-bigdl-data-key`` is guarded.
"""

from __future__ import annotations

import base64
import stat
import uuid
from pathlib import Path

import pytest

from bigdl_ppml_az import cli
from bigdl_ppml_az.errors import ConfigError
from bigdl_ppml_az.formats.bigdl import MAX_ENCRYPTED_KEY_CHARS, check_common_key_fits
from kv_emulator import KeyVaultEmulator


@pytest.fixture()
def kv_env(kv: KeyVaultEmulator, monkeypatch: pytest.MonkeyPatch) -> KeyVaultEmulator:
    monkeypatch.setenv("PPML_AZ_KV_CREDENTIAL", "emulator")
    monkeypatch.setenv("PPML_AZ_KV_CA_BUNDLE", str(kv.ca_path))
    monkeypatch.setenv("PPML_AZ_KV_VERIFY_CHALLENGE_RESOURCE", "false")
    return kv


def _create(kv: KeyVaultEmulator, keys: Path, *extra: str) -> int:
    name = "bigdl-" + uuid.uuid4().hex[:8]
    return cli.main(["keys", "create", "--kmsType", "AzureKeyManagementService", "--vaultName", kv.url,
                     "--name", name, "--primaryKeyPath", str(keys / "primaryKey"), "--dataKeyPath",
                     str(keys / "dataKey"), *extra])  # fmt: skip


def _plain(tmp_path: Path) -> Path:
    source = tmp_path / "plain"
    source.mkdir()
    (source / "people.csv").write_text("name,age,job\nJack,25,Developer\nLisa,41,Manager\n")
    return source


def _encrypt(kv: KeyVaultEmulator, keys: Path, source: Path, out: Path, *extra: str) -> int:
    return cli.main(["encrypt", "--kms", "azure", "--vault", kv.url, "--primary-key", str(keys / "primaryKey"),
                     "--crypto-mode", "aes/cbc/pkcs5padding", *extra, str(source), str(out)])  # fmt: skip


def test_fit_limit_is_bigdls_header() -> None:
    assert MAX_ENCRYPTED_KEY_CHARS == 376
    check_common_key_fits(b"\x01" * 256)  # RSA-2048: 344 Base64 characters
    with pytest.raises(ConfigError, match=r"384 bytes \(an RSA-3072 key\).*512 characters.*create --kms azure --bigdl"):
        check_common_key_fits(b"\x01" * 384, "https://v/keys/k/1")


def test_default_key_refused_before_anything_is_written(
    kv_env: KeyVaultEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    assert _create(kv_env, keys) == 0  # the default: 3072 bits
    source, out = _plain(tmp_path), tmp_path / "encrypted"
    assert _encrypt(kv_env, keys, source, out) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err  # one line
    assert "does not fit BigDL's 400-byte header" in err and "--bigdl" in err and "ppml-gcm" in err
    assert not out.exists() or not any(out.rglob("*"))  # no .meta, no part
    # the data key file made next to that key cannot be used with the BigDL layout either
    assert _encrypt(kv_env, keys, source, out, "--data-key", str(keys / "dataKey")) == 1
    assert "does not fit" in capsys.readouterr().err
    # the same key works with ppml-gcm
    assert cli.main(["encrypt", "--kms", "azure", "--vault", kv_env.url, "--primary-key", str(keys / "primaryKey"),
                     str(source), str(tmp_path / "gcm")]) == 0  # fmt: skip


def test_bigdl_key_fits_and_round_trips(
    kv_env: KeyVaultEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    assert _create(kv_env, keys, "--bigdl") == 0
    key_id = (keys / "primaryKey").read_text().strip()
    assert kv_env.private_key(key_id).key_size == 2048
    source, out = _plain(tmp_path), tmp_path / "encrypted"
    assert _encrypt(kv_env, keys, source, out, "--data-key", str(keys / "dataKey")) == 0
    assert (out / ".meta").exists() and (out / "people.csv").read_bytes()[:4] != b"name"
    capsys.readouterr()
    assert cli.main(["inspect", str(out)]) == 0
    assert "aes/cbc/pkcs5padding" in capsys.readouterr().out
    back = tmp_path / "back"
    assert cli.main(["decrypt", "--kms", "azure", "--vault", kv_env.url, "--primary-key", str(keys / "primaryKey"),
                     str(out), str(back)]) == 0  # fmt: skip
    assert (back / "people.csv").read_bytes() == (source / "people.csv").read_bytes()

    # export: refused without an explicit destination; --output makes a 0600 file; --stdout prints
    export = ["keys", "export-bigdl-data-key", "--kms", "azure", "--vault", kv_env.url, "--primary-key",
              str(keys / "primaryKey"), "--data-key", str(keys / "dataKey")]  # fmt: skip
    capsys.readouterr()
    assert cli.main(export) == 1
    captured = capsys.readouterr()
    assert "emits a secret" in captured.err and captured.out == ""
    assert cli.main([*export, "--output", str(tmp_path / "dk.txt")]) == 0
    key_string = (tmp_path / "dk.txt").read_text().strip()
    assert stat.S_IMODE((tmp_path / "dk.txt").stat().st_mode) == 0o600
    assert len(base64.b64decode(key_string)) == 32
    assert key_string not in capsys.readouterr().err
    assert cli.main([*export, "--output", str(tmp_path / "dk.txt")]) == 1  # never overwritten
    capsys.readouterr()
    assert cli.main([*export, "--i-understand-this-prints-a-secret"]) == 0
    assert capsys.readouterr().out.strip() == key_string
    # the exported string decrypts the BigDL data without any KMS
    again = tmp_path / "again"
    assert cli.main(["decrypt", "--data-key-plaintext-file", str(tmp_path / "dk.txt"), str(out), str(again)]) == 0
    assert (again / "people.csv").read_bytes() == (source / "people.csv").read_bytes()


def test_bigdl_with_other_key_size_refused(
    kv_env: KeyVaultEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _create(kv_env, tmp_path / "keys", "--bigdl", "--key-size", "3072") == 1
    assert "--key-size 3072 with --bigdl" in capsys.readouterr().err
    assert not (tmp_path / "keys" / "primaryKey").exists()


def test_inspect_of_directory_with_nothing_inspectable_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leftover = tmp_path / "leftover"
    leftover.mkdir()
    (leftover / ".meta").write_text('{"encryptedDataKey": "AAAA"}')
    assert cli.main(["inspect", str(leftover)]) == 1
    captured = capsys.readouterr()
    assert "no data files to inspect" in captured.err and captured.out == ""


def test_ppml_enc_write_refuses_a_key_that_does_not_fit_before_any_task(
    spark: object, kv: KeyVaultEmulator, tmp_path: Path
) -> None:
    from bigdl_ppml_az.kms.azure import create_primary_key

    key_id = create_primary_key(kv.url, "big-" + uuid.uuid4().hex[:8], key_size=3072, options=kv.options())
    df = spark.createDataFrame([("Jack", 25)], "name STRING, age INT")  # type: ignore[attr-defined]
    out = tmp_path / "out"
    with pytest.raises(Exception, match="does not fit BigDL's 400-byte header"):  # at planning, on the driver
        df.write.format("ppml-enc").options(**kv.options(primaryKeyId=key_id)).option(
            "cryptoMode", "aes/cbc/pkcs5padding"
        ).mode("append").save(str(out))
    assert not out.exists() or not any(p.name.startswith("part-") for p in out.rglob("*"))
