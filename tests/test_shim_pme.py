"""Parquet Modular Encryption: Spark (the shim's JVM KmsClient) and pyarrow (our pyarrow KmsClient) read each
other's files, with the local KMS and with the Key Vault emulator; pruning and pushdown stay Spark's own.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bigdl_ppml_az.jvm import pme
from test_shim_codec import run_spark, shim_jar  # noqa: F401  (shared child runner and jar fixture)


def _spark_rows(n: int) -> list[list[object]]:
    return [[i, f"rowmark{i}"] for i in range(n) if i % 7 == 0]


def _pyarrow_table(n: int) -> pa.Table:
    return pa.table(
        {"id": pa.array(range(n), pa.int64()), "x": [i * 2 for i in range(n)], "s": [f"rowmark{i}" for i in range(n)]}
    )


def _check_encrypted(path: Path) -> None:
    files = [path] if path.is_file() else sorted(path.glob("*.parquet"))
    assert files
    for f in files:
        blob = f.read_bytes()
        assert blob[:4] == b"PARE" and blob[-4:] == b"PARE"  # encrypted footer, not PAR1
        assert b"rowmark" not in blob
        with pytest.raises(Exception, match="(?i)encrypt|decrypt|key"):
            pq.read_table(f)


def _roundtrip(jar: str, tmp_path: Path, options: dict[str, str], footer: str, conf: dict[str, str]) -> None:
    n = 5000
    from_spark, from_arrow = tmp_path / "from_spark", tmp_path / "from_arrow.parquet"
    pq.write_table(
        _pyarrow_table(n),
        from_arrow,
        encryption_properties=pme.encryption_properties(options, "aes_gcm_ctr_v1", footer),
    )
    jobs = [
        {
            "id": "write",
            "op": "pme_write",
            "kms": options,
            "n": n,
            "mode": "aes_gcm_v1",
            "footer": footer,
            "out": str(from_spark),
        },
        {"id": "read_spark", "op": "pme_read", "kms": options, "path": str(from_spark)},
        {"id": "read_arrow", "op": "pme_read", "kms": options, "path": str(from_arrow)},
    ]
    results, output = run_spark(jar, tmp_path, jobs, conf=conf)
    for job in ("write", "read_spark", "read_arrow"):
        assert results[job]["ok"], results[job]
    # Spark -> pyarrow
    _check_encrypted(from_spark)
    table = pq.read_table(from_spark, decryption_properties=pme.decryption_properties(options))
    assert sorted(table.column("id").to_pylist()) == list(range(n))
    assert table.sort_by("id").column("s").to_pylist() == [f"rowmark{i}" for i in range(n)]
    # pyarrow -> Spark, with Spark's own pruning and pushdown
    _check_encrypted(from_arrow)
    assert results["read_arrow"]["rows"] == _spark_rows(n)
    assert results["read_spark"]["rows"] == _spark_rows(n)
    plan = results["read_arrow"]["plan"]
    assert "ReadSchema: struct<id:bigint,s:string>" in plan  # column x pruned
    assert "PushedFilters: [IsNotNull(id)]" in plan
    token = options.get("_token")
    if token:
        assert token not in output


def test_pme_local_kms_roundtrip(shim_jar: str, tmp_path: Path, local_key: Path) -> None:  # noqa: F811
    options = {"kms": "local", "primaryKeyPath": str(local_key)}
    _roundtrip(shim_jar, tmp_path, options, "ppml-footer", {})


def test_pme_wrong_local_key_fails(shim_jar: str, tmp_path: Path, local_key: Path) -> None:  # noqa: F811
    from bigdl_ppml_az.kms.local import LocalKms

    path = tmp_path / "t.parquet"
    pq.write_table(
        _pyarrow_table(100),
        path,
        encryption_properties=pme.encryption_properties({"kms": "local", "primaryKeyPath": str(local_key)}),
    )
    other = tmp_path / "other.key"
    LocalKms.create(other)
    jobs = [{"id": "r", "op": "pme_read", "kms": {"kms": "local", "primaryKeyPath": str(other)}, "path": str(path)}]
    results, _ = run_spark(shim_jar, tmp_path, jobs)
    assert not results["r"]["ok"] and "does not unwrap with primary key" in results["r"]["error"]


@pytest.fixture(scope="module")
def kv_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from kv_emulator import KeyVaultEmulator

    emulator = KeyVaultEmulator(tmp_path_factory.mktemp("kv-pme")).start()
    yield emulator
    emulator.stop()


def test_pme_key_vault_emulator_roundtrip(shim_jar: str, tmp_path: Path, kv_emulator) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from bigdl_ppml_az.kms.azure import create_primary_key

    options = kv_emulator.options()
    create_primary_key(kv_emulator.url, "pme-footer", options=options)
    truststore = tmp_path / "kv-trust.p12"
    subprocess.run(
        [
            "keytool",
            "-importcert",
            "-noprompt",
            "-alias",
            "kvca",
            "-file",
            str(kv_emulator.ca_path),
            "-keystore",
            str(truststore),
            "-storetype",
            "PKCS12",
            "-storepass",
            "changeit",
        ],
        check=True,
        capture_output=True,
    )
    java_opts = f"-Djavax.net.ssl.trustStore={truststore} -Djavax.net.ssl.trustStorePassword=changeit"
    kv_emulator.reset_counts()
    _roundtrip(shim_jar, tmp_path, options, "pme-footer", {"spark.driver.extraJavaOptions": java_opts})
    calls = dict(kv_emulator.calls)
    # The JVM client calls wrapKey in the vault (azure-keyvault-keys may wrap locally with the public key);
    # both sides unwrap there: Spark reads two files sets, pyarrow one.
    assert calls.get("wrapKey", 0) >= 1 and calls.get("unwrapKey", 0) >= 3, calls
