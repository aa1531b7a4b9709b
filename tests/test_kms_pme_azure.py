"""Parquet Modular Encryption on Azure through the kms adapter: footer key ids pinned to the configured vault
(issue 10 item 1) and option names case-insensitive (issue 9: PME-on-Azure options were lost when lower-cased).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from attacker_server import AttackerServer, crafted_pme_file
from bigdl_ppml_az.errors import WrongKeyError
from bigdl_ppml_az.jvm import pme
from bigdl_ppml_az.kms.azure import create_primary_key
from kv_emulator import KeyVaultEmulator

FOREIGN_VERSION = "0123456789abcdef0123456789abcdef"


@pytest.fixture()
def attacker(kv: KeyVaultEmulator) -> Iterator[AttackerServer]:
    server = AttackerServer(kv)
    yield server
    server.stop()


@pytest.fixture()
def crafted(tmp_path: Path, attacker: AttackerServer) -> Path:
    return crafted_pme_file(tmp_path / "evil" / "part-0.parquet", f"{attacker.url}/keys/steal/{FOREIGN_VERSION}")


def test_pyarrow_client_refuses_a_foreign_key_url_before_any_request(
    kv: KeyVaultEmulator, attacker: AttackerServer, crafted: Path
) -> None:
    with pytest.raises(Exception) as error:  # pyarrow re-raises the client's error
        pq.read_table(crafted, decryption_properties=pme.decryption_properties(kv.options()))
    text = str(error.value)
    assert f"127.0.0.1:{attacker.port}" in text and "outside the configured vault" in text, text
    assert attacker.contacts == 0, attacker.requests
    # the same pin for plain http and for a look-alike host
    kms_client = pme.kms_client(kv.options())
    for foreign in (f"http://{kv.url[len('https://'):]}/keys/k/{FOREIGN_VERSION}", "https://evil.example/keys/k/v"):
        with pytest.raises(WrongKeyError, match="outside the configured vault"):
            kms_client.unwrap_key("AAAA", foreign)


def test_ppml_enc_read_of_a_crafted_pme_file_names_the_file_and_host_and_sends_nothing(
    spark: Any, kv: KeyVaultEmulator, attacker: AttackerServer, crafted: Path
) -> None:
    with pytest.raises(Exception) as error:
        options = {**kv.options(), "cryptoMode": "aes_gcm_v1", "format": "parquet"}
        spark.read.format("ppml-enc").options(**options).load(str(crafted)).collect()
    text = str(error.value)
    assert "part-0.parquet" in text and f"127.0.0.1:{attacker.port}" in text, text[-3000:]
    assert "outside the configured vault" in text
    assert attacker.contacts == 0, attacker.requests


def test_pme_on_azure_options_are_case_insensitive(spark: Any, kv: KeyVaultEmulator, tmp_path: Path) -> None:
    create_primary_key(kv.url, "ppml-footer", 2048, options=kv.options())
    mixed = {
        "KMS": "azure",
        "VaultURL": kv.url,
        "CREDENTIAL": "emulator",
        "ConnectionVerify": str(kv.ca_path),
        "verifychallengeresource": "FALSE",
        "ClientID": "00000000-0000-0000-0000-0000000000c1",
        "KmsRetryBackoff": "0.05",
        "CryptoMode": "aes_gcm_v1",
        "Format": "parquet",
    }
    out = str(tmp_path / "pme-mixed")
    df = spark.range(0, 500).selectExpr("id", "concat('row', id) AS s")
    kv.reset_counts()
    df.write.format("ppml-enc").options(**mixed).mode("overwrite").save(out)
    back = spark.read.format("ppml-enc").options(**mixed).load(out)
    assert sorted(r.id for r in back.select("id").collect()) == list(range(500))
    assert kv.calls["unwrapKey"] >= 1, dict(kv.calls)  # keys really went through the configured vault
    for part in Path(out).glob("part-*"):
        assert part.read_bytes()[-4:] == b"PARE"  # encrypted footer
    # the same options reach the JVM side's settings (vault, credential, client id) whatever their case
    settings = pme.hadoop_settings(mixed)
    assert settings["parquet.encryption.kms.instance.url"] == kv.url
    assert settings["parquet.encryption.kms.instance.id"] == "azure"
