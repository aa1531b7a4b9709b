"""``ppml-az`` straight to and from ADLS (Azurite) with Key Vault keys (emulator), in subprocesses like a user."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from azure_fixtures import Azurite
from kv_emulator import KeyVaultEmulator


def _env(kv: KeyVaultEmulator, azurite: Azurite) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PPML_AZ_KV_CREDENTIAL": "emulator",
            "PPML_AZ_KV_CA_BUNDLE": str(kv.ca_path),
            "PPML_AZ_KV_VERIFY_CHALLENGE_RESOURCE": "false",
            "PPML_AZ_BLOB_ENDPOINT": azurite.endpoint,
            "AZURE_STORAGE_ACCOUNT": azurite.account,
            "AZURE_STORAGE_KEY": azurite.key,
        }
    )
    return env


def _run(env: dict[str, str], *args: object, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "bigdl_ppml_az", *map(str, args)], env=env, capture_output=True, text=True, timeout=120
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("mode", ["ppml-gcm", "aes/cbc/pkcs5padding"])
def test_encrypt_tree_into_adls_and_decrypt_back(
    kv: KeyVaultEmulator, azurite: Azurite, container: str, tmp_path: Path, mode: str
) -> None:
    env = _env(kv, azurite)
    keys = tmp_path / "keys"
    name = "cli-" + uuid.uuid4().hex[:8]
    # the guide's key generation step, as one command: Key Vault key + primary key file + BigDL data key file
    _run(env, "keys", "create", "--kmsType", "AzureKeyManagementService", "--vaultName", kv.url, "--name", name,
         "--key-size", "2048", "--primaryKeyPath", keys / "primaryKey", "--dataKeyPath", keys / "dataKey")  # fmt: skip
    assert (keys / "primaryKey").read_text().startswith(f"{kv.url}/keys/{name}/")
    source = tmp_path / "plain"
    (source / "sub").mkdir(parents=True)
    (source / "people.csv").write_text("name,age,job\nJack,25,Developer\n")
    (source / "sub" / "big.bin").write_bytes(os.urandom(3 << 20))
    target = azurite.url(container, "encrypted/run1")
    _run(env, "encrypt", "--kms", "azure", "--primary-key", keys / "primaryKey", "--data-key", keys / "dataKey",
         "--crypto-mode", mode, source, target)  # fmt: skip
    blobs = sorted(b.name for b in azurite.service().get_container_client(container).list_blobs())
    data = [b for b in blobs if not b.rsplit("/", 1)[1].startswith((".", "_"))]
    assert data == ["encrypted/run1/people.csv", "encrypted/run1/sub/big.bin"]
    if mode != "ppml-gcm":  # BigDL layout: every output directory holds .meta with the encrypted data key
        assert {"encrypted/run1/.meta", "encrypted/run1/sub/.meta"} <= set(blobs)
    assert not any(".ppml-az-tmp" in name for name in blobs)  # temporaries were renamed away
    stored = azurite.service().get_blob_client(container, "encrypted/run1/people.csv").download_blob().readall()
    assert b"Developer" not in stored
    inspected = _run(env, "inspect", azurite.url(container, "encrypted/run1/people.csv")).stdout
    assert ("ppml-gcm" if mode == "ppml-gcm" else "aes/cbc/pkcs5padding") in inspected
    out = tmp_path / "decrypted"
    _run(env, "decrypt", "--kms", "azure", "--primary-key", keys / "primaryKey", "--data-key", keys / "dataKey",
         target, out)  # fmt: skip
    assert _tree(out) == _tree(source)
    assert kv.calls["unwrapKey"] >= 1


def test_cli_storage_error_names_the_path_and_credential_source(
    kv: KeyVaultEmulator, azurite: Azurite, container: str, tmp_path: Path
) -> None:
    env = _env(kv, azurite)
    env["AZURE_STORAGE_KEY"] = "d3JvbmcgYWNjb3VudCBrZXkgZm9yIGF6dXJpdGU="
    done = _run(env, "decrypt", "--kms", "azure", "--vault", kv.url, azurite.url(container, "x"), tmp_path / "o",
                ok=False)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("ppml-az: error: ") and len(done.stderr.strip().splitlines()) == 1
    assert azurite.url(container, "x") in done.stderr
    assert "AZURE_STORAGE_KEY" in done.stderr and env["AZURE_STORAGE_KEY"] not in done.stderr
