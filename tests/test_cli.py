"""``ppml-az`` end to end in subprocesses: keys, encrypt, inspect, decrypt, and one-line errors for bad input."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bigdl_ppml_az.formats import bigdl, ppml_gcm
from bigdl_ppml_az.kms import WrappedKey
from bigdl_ppml_az.kms.local import LocalKms

MODULE = [sys.executable, "-m", "bigdl_ppml_az"]
SCRIPT = Path(sys.executable).parent / "ppml-az"


def run(*args: str | Path, script: bool = False, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = ([str(SCRIPT)] if script else MODULE) + [str(a) for a in args]
    full_env = dict(os.environ, COLUMNS="120", **(env or {}))
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=full_env)


def ok(*args: str | Path, script: bool = False, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = run(*args, script=script, env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done


def secret_forms(secret: bytes) -> list[str]:
    return [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode(),
    ]


def assert_no_secret(text: str, *secrets: bytes) -> None:
    for secret in secrets:
        for form in secret_forms(secret):
            assert form not in text
        assert secret.decode("latin-1") not in text


def write_tree(root: Path) -> dict[str, bytes]:
    files = {
        "orders.tbl": b"1|36901|O|173665.47|1996-01-02|5-LOW|Clerk#000000951|0|nstructions|\n" * 200,
        "nested/deeper/people.csv": b"name,age\nalice,31\nbob,29\n",
        "nested/empty.txt": b"",
        "nested/random.bin": os.urandom(20_000),
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "_SUCCESS").write_bytes(b"")
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith((".", "_"))
    }


@dataclass
class Setup:
    root: Path
    primary: Path
    data_key: Path
    plain: Path
    files: dict[str, bytes]
    encrypted: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    root = tmp_path_factory.mktemp("cli")
    primary, data_key = root / "keys" / "primaryKey", root / "keys" / "dataKey"
    done = ok("keys", "create", "--kms", "local", "--primary-key", primary, "--data-key", data_key, script=True)
    assert "created primary key file" in done.stdout
    files = write_tree(root / "plain")
    encrypted = root / "enc"
    ok("encrypt", "--kms", "local", "--primary-key", primary, "--segment-size", "4KiB", root / "plain", encrypted)
    return Setup(root, primary, data_key, root / "plain", files, encrypted)


def test_keys_create_files(setup: Setup) -> None:
    assert stat.S_IMODE(setup.primary.stat().st_mode) == 0o600
    assert len(setup.primary.read_bytes()) == 32
    assert stat.S_IMODE(setup.data_key.stat().st_mode) == 0o600
    kms = LocalKms.load(setup.primary)
    wrapped = base64.b64decode(setup.data_key.read_text())
    assert len(kms.unwrap(WrappedKey(kms.kms_type, kms.key_id, "", wrapped))) == 32


def test_encrypt_inspect_decrypt_round_trip(setup: Setup) -> None:
    assert set(read_tree(setup.encrypted)) == set(setup.files)
    assert not (setup.encrypted / "_SUCCESS").exists()
    target = setup.encrypted / "nested" / "random.bin"
    done = ok("inspect", target, script=True)
    info = json.loads(done.stdout)
    kms = LocalKms.load(setup.primary)
    assert info["path"] == str(target)
    assert info["format"] == "ppml-gcm" and info["keyId"] == kms.key_id and info["kms"] == "local"
    assert info["segmentSize"] == 4096 and info["plaintextSize"] == 20_000 and info["segments"] == 5
    envelope, _ = ppml_gcm.parse_envelope(target.read_bytes())
    assert info["wrappedKeyLength"] == len(envelope.wrapped_key)
    data_key = kms.unwrap(WrappedKey(envelope.kms_type, envelope.key_id, envelope.wrap_algorithm, envelope.wrapped_key))
    assert_no_secret(done.stdout, setup.primary.read_bytes(), data_key, envelope.wrapped_key)

    listing = json.loads(ok("inspect", setup.encrypted).stdout)
    assert sorted(Path(item["path"]).name for item in listing) == [
        "empty.txt",
        "orders.tbl",
        "people.csv",
        "random.bin",
    ]

    out = setup.root / "dec"
    done = ok("decrypt", "--kms", "local", "--primary-key", setup.primary, setup.encrypted, out, script=True)
    assert "decrypted 4 file(s)" in done.stdout
    assert_no_secret(done.stdout + done.stderr, setup.primary.read_bytes(), data_key)
    assert read_tree(out) == setup.files


def test_bigdl_style_flags_common_mode_and_plaintext_key(setup: Setup) -> None:
    out = setup.root / "bigdl-enc"
    done = ok(
        "encrypt",
        "--kmsType",
        "local",
        "--primaryKeyPath",
        setup.primary,
        "--dataKeyPath",
        setup.data_key,
        "--crypto-mode",
        "AES/CBC/PKCS5Padding",
        "--progress",
        setup.plain,
        out,
    )
    assert "encrypting" in done.stderr  # rich progress bar, forced on although stderr is a pipe
    assert json.loads((out / ".meta").read_text())["encryptedDataKey"] == setup.data_key.read_text()
    info = json.loads(ok("inspect", out / "orders.tbl").stdout)
    assert info["format"] == "aes/cbc/pkcs5padding" and info["metaFile"] is True
    # decrypt with only the data key string, as a BigDL user holding it would
    kms = LocalKms.load(setup.primary)
    wrapped = base64.b64decode(setup.data_key.read_text())
    key_string = bigdl.key_string_from_bytes(kms.unwrap(WrappedKey(kms.kms_type, kms.key_id, "", wrapped)))
    key_file = setup.root / "keys" / "plain-data-key"
    key_file.write_text(key_string + "\n")
    dec = setup.root / "bigdl-dec"
    done = ok("decrypt", "--data-key-plaintext-file", key_file, out, dec)
    assert key_string not in done.stdout + done.stderr
    assert read_tree(dec) == setup.files


def tampered_copy(setup: Setup) -> Path:
    victim = setup.root / "tampered" / "random.bin"
    victim.parent.mkdir(exist_ok=True)
    blob = bytearray((setup.encrypted / "nested" / "random.bin").read_bytes())
    blob[-100] ^= 1
    victim.write_bytes(bytes(blob))
    return victim


BAD_INPUTS = {
    "missing key file": (
        lambda s: ["encrypt", "--kms", "local", "--primary-key", s.root / "nokey", s.plain, s.root / "o1"],
        "nokey: primary key file not found",
    ),
    "wrong key": (
        lambda s: ["decrypt", "--kms", "local", "--primary-key", s.root / "other.key", s.encrypted, s.root / "o2"],
        "but the configured KMS is local primary key",
    ),
    "tampered file": (
        lambda s: ["decrypt", "--kms", "local", "--primary-key", s.primary, tampered_copy(s), s.root / "o3"],
        "failed authentication",
    ),
    "plaintext input": (
        lambda s: ["decrypt", "--kms", "local", "--primary-key", s.primary, s.plain, s.root / "o4"],
        "not an encrypted file we know",
    ),
    "output exists": (
        lambda s: ["encrypt", "--kms", "local", "--primary-key", s.primary, s.plain, s.encrypted],
        "output directory is not empty",
    ),
    "bad segment size": (
        lambda s: [
            "encrypt",
            "--kms",
            "local",
            "--primary-key",
            s.primary,
            "--segment-size",
            "lots",
            s.plain,
            s.root / "o5",
        ],
        "--segment-size 'lots' is not a size",
    ),
    "segment size out of range": (
        lambda s: [
            "encrypt",
            "--kms",
            "local",
            "--primary-key",
            s.primary,
            "--segment-size",
            "8MiB",
            s.plain,
            s.root / "o6",
        ],
        "must be between 4KiB and 4MiB",
    ),
    "missing input": (
        lambda s: ["encrypt", "--kms", "local", "--primary-key", s.primary, s.root / "absent", s.root / "o7"],
        "absent: input not found",
    ),
    "no kms": (
        lambda s: ["encrypt", "--primary-key", s.primary, s.plain, s.root / "o8"],
        "--kms is required",
    ),
    "unknown kms": (
        lambda s: ["encrypt", "--kms", "vault9", "--primary-key", s.primary, s.plain, s.root / "o9"],
        "unknown kms 'vault9'",
    ),
    "key file exists": (
        lambda s: ["keys", "create", "--kms", "local", "--primary-key", s.primary],
        "refusing to overwrite a key file",
    ),
    "zero jobs": (
        lambda s: ["encrypt", "--kms", "local", "--primary-key", s.primary, "--jobs", "0", s.plain, s.root / "o10"],
        "--jobs 0: must be at least 1",
    ),
    "inspect plaintext": (
        lambda s: ["inspect", s.plain / "orders.tbl"],
        "orders.tbl: not an encrypted file we know",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_line_error(setup: Setup, case: str) -> None:
    if not (setup.root / "other.key").exists():
        LocalKms.create(setup.root / "other.key")
    build, message = BAD_INPUTS[case]
    done = run(*build(setup), script=case.startswith(("missing", "wrong")))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ppml-az: error: "), done.stderr
    assert message in lines[0]
    assert not list(setup.root.glob("o[0-9]*"))  # nothing written for any failing command


def test_usage_errors_exit_2(setup: Setup) -> None:
    done = run("encrypt", "--kms", "local")
    assert done.returncode == 2 and "usage:" in done.stderr and "Traceback" not in done.stderr
    done = run("decrypt", "--jobs", "many", "a", "b")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_azure_key_vault_end_to_end(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """keys create / encrypt / decrypt against the Key Vault emulator, through the real azure-keyvault-keys client."""
    try:
        kv = request.getfixturevalue("kv")
    except pytest.FixtureLookupError:
        pytest.skip("the Key Vault emulator fixture (tests/azure_fixtures.py) is not registered")
    env = {
        "PPML_AZ_KV_CREDENTIAL": "emulator",
        "PPML_AZ_KV_CA_BUNDLE": str(kv.ca_path),
        "PPML_AZ_KV_VERIFY_CHALLENGE_RESOURCE": "false",
    }
    primary, data_key = tmp_path / "primaryKey", tmp_path / "dataKey"
    name = f"cli-{os.getpid()}"
    ok(
        "keys",
        "create",
        "--kms",
        "azure",
        "--vault",
        kv.url,
        "--name",
        name,
        "--key-size",
        "2048",
        "--primary-key",
        primary,
        "--data-key",
        data_key,
        env=env,
    )
    key_id = primary.read_text().strip()
    assert key_id.startswith(f"{kv.url}/keys/{name}/")
    files = write_tree(tmp_path / "plain")

    ok(
        "encrypt",
        "--kms",
        "AzureKeyManagementService",
        "--primary-key",
        primary,
        tmp_path / "plain",
        tmp_path / "gcm",
        env=env,
    )
    info = json.loads(ok("inspect", tmp_path / "gcm" / "orders.tbl").stdout)
    assert info["kms"] == "AzureKeyManagementService" and info["keyId"] == key_id
    ok("decrypt", "--kms", "azure", "--vault", kv.url, tmp_path / "gcm", tmp_path / "gcm.dec", env=env)
    assert read_tree(tmp_path / "gcm.dec") == files

    ok(
        "encrypt",
        "--kmsType",
        "AzureKeyManagementService",
        "--primaryKeyPath",
        primary,
        "--dataKeyPath",
        data_key,
        "--crypto-mode",
        "aes/cbc/pkcs5padding",
        tmp_path / "plain",
        tmp_path / "cbc",
        env=env,
    )
    assert json.loads((tmp_path / "cbc" / ".meta").read_text())["encryptedDataKey"] == data_key.read_text()
    ok("decrypt", "--kms", "azure", "--primary-key", primary, tmp_path / "cbc", tmp_path / "cbc.dec", env=env)
    assert read_tree(tmp_path / "cbc.dec") == files

    other = tmp_path / "otherKey"
    ok("keys", "create", "--kms", "azure", "--vault", kv.url, "--name", name + "-b", "--primary-key", other, env=env)
    done = run("decrypt", "--kms", "azure", "--primary-key", other, tmp_path / "gcm", tmp_path / "x", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert key_id in done.stderr and other.read_text().strip() in done.stderr


def test_abfss_round_trip_through_azurite(request: pytest.FixtureRequest, setup: Setup) -> None:
    """Encrypt a local tree into abfss:// (Azurite, Blob API), inspect it there, decrypt it back."""
    try:
        container = request.getfixturevalue("container")
        azurite = request.getfixturevalue("azurite")
    except pytest.FixtureLookupError:
        pytest.skip("the Azurite fixture (tests/azure_fixtures.py) is not registered")
    conf: list[str | Path] = []
    for key, value in azurite.options().items():
        conf += ["--conf", f"{key}={value}"]
    remote = azurite.url(container, "warehouse/enc")
    kms_flags: list[str | Path] = ["--kms", "local", "--primary-key", setup.primary]
    ok("encrypt", *kms_flags, *conf, "--segment-size", "4KiB", setup.plain, remote)
    info = json.loads(ok("inspect", *conf, remote + "/nested/random.bin").stdout)
    assert info["format"] == "ppml-gcm" and info["plaintextSize"] == 20_000
    assert azurite.key not in json.dumps(info)
    done = run("encrypt", *kms_flags, *conf, setup.plain, remote)
    assert done.returncode == 1 and "output directory is not empty" in done.stderr
    out = setup.root / "from-azure"
    ok("decrypt", *kms_flags, *conf, remote, out)
    assert read_tree(out) == setup.files
    # remote to remote, then remote plaintext back to a local encrypted tree
    remote_plain = azurite.url(container, "warehouse/plain")
    ok("decrypt", *kms_flags, *conf, remote, remote_plain)
    ok("encrypt", *kms_flags, *conf, remote_plain, setup.root / "azure-reenc")
    ok("decrypt", *kms_flags, setup.root / "azure-reenc", setup.root / "azure-redec")
    assert read_tree(setup.root / "azure-redec") == setup.files
