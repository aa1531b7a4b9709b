"""Parquet Modular Encryption: Spark (the shim's JVM KmsClient) and pyarrow (our pyarrow KmsClient) read each
other's files, with the local KMS and with the Key Vault emulator; pruning and pushdown stay Spark's own.
All Spark jobs of this module run in one child session (a session start costs ~20 s), the one
tests/shim_session.py shares with test_shim_codec.py and test_shim_guard.py.
"""

from __future__ import annotations

import datetime
import email.utils
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attacker_server import AttackerServer, crafted_pme_file
from bigdl_ppml_az.jvm import pme
from bigdl_ppml_az.kms.local import LocalKms
from test_shim_codec import shim_jar  # noqa: F401  (the jar fixture)

N = 5000


def _spark_rows(n: int) -> list[list[object]]:
    return [[i, f"rowmark{i}"] for i in range(n) if i % 7 == 0]


def _pyarrow_table(n: int) -> pa.Table:
    ids = pa.array(range(n), pa.int64())
    return pa.table({"id": ids, "x": [i * 2 for i in range(n)], "s": [f"rowmark{i}" for i in range(n)]})


def _check_encrypted(path: Path) -> None:
    files = [path] if path.is_file() else sorted(path.glob("*.parquet"))
    assert files
    for f in files:
        blob = f.read_bytes()
        assert blob[:4] == b"PARE" and blob[-4:] == b"PARE"  # encrypted footer, not PAR1
        assert b"rowmark" not in blob
        with pytest.raises(Exception, match="(?i)encrypt|decrypt|key"):
            pq.read_table(f)


@dataclass
class PmeRun:
    base: Path
    local: dict[str, str]
    azure: dict[str, str]
    results: dict[str, Any]
    output: str
    kv_calls: dict[str, int]


def pme_section(base: Path, config: pytest.Config) -> Any:
    """This module's files and jobs for the shared child session (tests/shim_session.py), which runs them last.
    The Key Vault emulator is this run's own (its call counts and faults are this module's), stopped when the
    pytest session ends (the Spark -> pyarrow checks call it from the tests)."""
    from bigdl_ppml_az.kms.azure import create_primary_key
    from kv_emulator import KeyVaultEmulator
    from shim_session import Section

    (base / "kv").mkdir()
    kv_emulator = KeyVaultEmulator(base / "kv").start()
    config.add_cleanup(kv_emulator.stop)
    key = base / "keys" / "primary.key"
    LocalKms.create(key)
    local = {"kms": "local", "primaryKeyPath": str(key)}
    azure = kv_emulator.options()
    create_primary_key(kv_emulator.url, "pme-footer", options=azure)
    jobs: list[dict[str, Any]] = []
    for label, options, footer in (("local", local, "ppml-footer"), ("azure", azure, "pme-footer")):
        from_arrow = base / f"{label}_from_arrow.parquet"
        props = pme.encryption_properties(options, "aes_gcm_ctr_v1", footer)
        pq.write_table(_pyarrow_table(N), from_arrow, encryption_properties=props)
        from_spark = str(base / f"{label}_from_spark")
        jobs += [
            {
                "id": f"{label}:write",
                "op": "pme_write",
                "kms": options,
                "n": N,
                "mode": "aes_gcm_v1",
                "footer": footer,
                "out": from_spark,
            },
            {"id": f"{label}:read_spark", "op": "pme_read", "kms": options, "path": from_spark},
            {"id": f"{label}:read_arrow", "op": "pme_read", "kms": options, "path": str(from_arrow)},
        ]
    # Attacks on the JVM client: a footer naming a foreign host, and a vault URL over plain http
    attacker = AttackerServer(kv_emulator)
    crafted = crafted_pme_file(base / "evil" / "part-0.parquet", f"{attacker.url}/keys/steal/{'0' * 32}")
    jobs.append({"id": "jvm_foreign_key_url", "op": "pme_read", "kms": azure, "path": str(crafted)})
    # (another token: parquet-mr caches one KmsClient per token and instance id, so this one is built afresh)
    plain_http = {
        "parquet.encryption.kms.instance.url": f"http://127.0.0.1:{attacker.port}",
        "parquet.encryption.key.access.token": "another-token-for-a-fresh-client",
    }
    jobs.append(
        {"id": "jvm_http_vault", "op": "pme_read", "kms": azure, "path": str(crafted), "hadoop": plain_http}
    )
    other = base / "keys" / "other.key"
    LocalKms.create(other)
    jobs.append(
        {
            "id": "wrongkey",
            "op": "pme_read",
            "kms": {"kms": "local", "primaryKeyPath": str(other)},
            "path": str(base / "local_from_arrow.parquet"),
        }
    )
    truststore = base / "kv-trust.p12"  # the JVM trusts the emulator's throwaway CA
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
    # The JVM local KMS on hostile inputs (issue 10, item 9): bounded, regular-file-only key reads; short blobs
    fifo = base / "keys" / "fifo"
    os.mkfifo(fifo)
    big = base / "keys" / "big.key"
    big.write_bytes(os.urandom(64))
    jobs.append(
        {
            "id": "jvm_local_key",
            "op": "jvm_local_key",
            "good": str(key),
            "paths": {
                "good": str(key),
                "zero": "/dev/zero",
                "fifo": str(fifo),
                "big": str(big),
                "missing": str(base / "keys" / "none"),
            },
        }
    )
    calls: dict[str, int] = {}

    def before() -> None:
        kv_emulator.reset_counts()
        # The first two Key Vault calls of the run are throttled with an HTTP-date Retry-After (RFC 9110), which
        # the JVM client must parse (it used to accept only delta-seconds and failed the job). The guard and codec
        # jobs that run before this module's make no Key Vault calls.
        soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)
        when = email.utils.format_datetime(soon, usegmt=True)
        kv_emulator.inject(retry_after=when)
        kv_emulator.fail_next(429, 429)

    def after(results: dict[str, Any]) -> None:
        kv_emulator.reset_faults()
        calls.update(kv_emulator.calls)
        attacker.stop()
        results["attacker_contacts"] = {"ok": True, "count": attacker.contacts, "port": attacker.port}

    return Section(
        "pme", "codec", jobs, conf={"spark.driver.extraJavaOptions": java_opts}, before=before, after=after,
        context=(base, local, azure, calls),
    )  # fmt: skip


@pytest.fixture(scope="module")
def pme_run(request: pytest.FixtureRequest, shim_jar: str, tmp_path_factory: pytest.TempPathFactory) -> PmeRun:  # noqa: F811
    """This module's jobs ran (last) in the child session shared with test_shim_codec and test_shim_guard; the
    output searched for the access token is that whole session's."""
    from shim_session import shim_session

    shared = shim_session(request, shim_jar, tmp_path_factory)
    base, local, azure, calls = shared.sections["pme"].context
    return PmeRun(base, local, azure, shared.results["pme"], shared.output, calls)


def _check_roundtrip(run: PmeRun, label: str, options: dict[str, str]) -> None:
    for job in ("write", "read_spark", "read_arrow"):
        assert run.results[f"{label}:{job}"]["ok"], run.results[f"{label}:{job}"]
    # Spark -> pyarrow
    from_spark = run.base / f"{label}_from_spark"
    _check_encrypted(from_spark)
    table = pq.read_table(from_spark, decryption_properties=pme.decryption_properties(options))
    assert table.sort_by("id").column("id").to_pylist() == list(range(N))
    assert table.sort_by("id").column("s").to_pylist() == [f"rowmark{i}" for i in range(N)]
    # pyarrow -> Spark, with Spark's own pruning and pushdown
    _check_encrypted(run.base / f"{label}_from_arrow.parquet")
    assert run.results[f"{label}:read_arrow"]["rows"] == _spark_rows(N)
    assert run.results[f"{label}:read_spark"]["rows"] == _spark_rows(N)
    plan = run.results[f"{label}:read_arrow"]["plan"]
    assert "ReadSchema: struct<id:bigint,s:string>" in plan  # column x pruned
    assert "PushedFilters: [IsNotNull(id)]" in plan


def test_pme_local_kms_roundtrip(pme_run: PmeRun) -> None:
    _check_roundtrip(pme_run, "local", pme_run.local)


def test_pme_key_vault_emulator_roundtrip(pme_run: PmeRun) -> None:
    _check_roundtrip(pme_run, "azure", pme_run.azure)
    # The JVM client calls wrapKey in the vault (azure-keyvault-keys may wrap locally with the public key);
    # both sides unwrap there.
    assert pme_run.kv_calls.get("wrapKey", 0) >= 1 and pme_run.kv_calls.get("unwrapKey", 0) >= 2, pme_run.kv_calls


def test_pme_access_token_stays_out_of_logs(pme_run: PmeRun) -> None:
    from kv_emulator import EMULATOR_TOKEN

    assert EMULATOR_TOKEN not in pme_run.output


def test_pme_wrong_local_key_fails(pme_run: PmeRun) -> None:
    result = pme_run.results["wrongkey"]
    assert not result["ok"] and "does not unwrap with primary key" in result["error"]


def test_jvm_client_refuses_a_footer_key_url_outside_the_vault(pme_run: PmeRun) -> None:
    result = pme_run.results["jvm_foreign_key_url"]
    port = pme_run.results["attacker_contacts"]["port"]
    assert not result["ok"], result
    assert "outside the configured vault" in result["error"] and f"127.0.0.1:{port}" in result["error"], result
    assert pme_run.results["attacker_contacts"]["count"] == 0  # no connection, no token, no wrapped key


def test_jvm_client_refuses_a_plain_http_vault(pme_run: PmeRun) -> None:
    result = pme_run.results["jvm_http_vault"]
    assert not result["ok"] and "must be https://" in result["error"], result
    assert pme_run.results["attacker_contacts"]["count"] == 0


def test_jvm_local_kms_refuses_hostile_key_files_and_blobs(pme_run: PmeRun) -> None:
    result = pme_run.results["jvm_local_key"]
    assert result["ok"], result
    errors = result["errors"]
    assert errors["good"] == "ok"
    for label in ("zero", "fifo"):
        assert "not a regular file" in errors[label], errors
    assert "exactly 32 bytes" in errors["big"] and "not a regular file" in errors["missing"], errors
    assert "too short" in errors["short"] and "not Base64" in errors["not_base64"], errors


def test_jvm_client_honours_http_date_retry_after(pme_run: PmeRun) -> None:
    assert pme_run.kv_calls, "the run made no Key Vault calls"
    assert pme_run.results["azure:write"]["ok"], pme_run.results["azure:write"]
