"""``./dev emulators`` (docs/AZURE.md): start it like a user, take only the settings it prints, and use them for
one encrypted write and read through ``ppml-az`` against the Key Vault emulator and Azurite; then Ctrl-C."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from emulators import azurite_blob_launcher

REPO = Path(__file__).resolve().parent.parent
EXPORT = re.compile(r"^export ([A-Z_]+)=(.*)$")
OPTION = re.compile(r"^\s*\.option\('([^']+)', '([^']*)'\)$")


def test_dev_emulators_runs_the_emulator_script() -> None:
    done = subprocess.run(
        [str(REPO / "dev"), "emulators", "--blob-port", "10000"],
        env={**os.environ, "PPML_AZ_DRY_RUN": "1"}, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split()[-3:] == [str(REPO / "tests" / "emulators.py"), "--blob-port", "10000"]


def _read_settings(process: subprocess.Popen[str]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    exports: dict[str, str] = {}
    options: dict[str, str] = {}
    lines: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 90
    for line in process.stdout:
        line = line.rstrip("\n")
        lines.append(line)
        if (match := EXPORT.match(line)) is not None:
            exports[match[1]] = shlex.split(match[2])[0]
        elif (match := OPTION.match(line)) is not None:
            options[match[1]] = match[2]
        if line.startswith("ready") or time.monotonic() > deadline:
            break
    assert lines and lines[-1].startswith("ready"), "\n".join(lines)
    return exports, options, lines


def _port_open(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=1):  # type: ignore[arg-type]
            return True
    except OSError:
        return False


def _ppml_az(env: dict[str, str], *args: object) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bigdl_ppml_az", *map(str, args)], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_printed_settings_are_enough_for_an_encrypted_round_trip(tmp_path: Path) -> None:
    if azurite_blob_launcher() is None:
        pytest.skip("Azurite not installed (./dev test installs it)")
    # Nothing Azure-related from this test process leaks into the commands: only what the emulators print.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PPML_AZ_KV", "PPML_AZ_BLOB", "AZURE_"))}
    process = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "emulators.py")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=base,
    )  # fmt: skip
    try:
        exports, options, lines = _read_settings(process)
        vault, root = exports.pop("KV_URL"), exports.pop("ABFSS_ROOT")
        assert vault.startswith("https://127.0.0.1:") and root.startswith("abfss://data@devstoreaccount1.")
        # Every printed variable is one the docs name, and the docs name every printed variable.
        doc = (REPO / "docs" / "AZURE.md").read_text()
        for name in [*exports, *options]:
            assert f"`{name}`" in doc, f"{name} is printed by ./dev emulators but not explained in docs/AZURE.md"
        assert options["connectionVerify"] == exports["PPML_AZ_KV_CA_BUNDLE"]
        assert options["vault"] == vault and options["azureBlobEndpoint"] == exports["PPML_AZ_BLOB_ENDPOINT"]

        env = {**base, **exports}
        keys = tmp_path / "keys"
        _ppml_az(env, "keys", "create", "--kms", "azure", "--vault", vault, "--name", "try-it", "--key-size", "2048",
                 "--primary-key", keys / "primaryKey")  # fmt: skip
        plain = tmp_path / "plain"
        (plain / "sub").mkdir(parents=True)
        (plain / "people.csv").write_text("name,age,job\nJorge,30,Developer\nBob,32,Developer\n")
        (plain / "sub" / "random.bin").write_bytes(os.urandom(50_000))
        target = root + "people-enc"
        _ppml_az(env, "encrypt", "--kms", "azure", "--primary-key", keys / "primaryKey", plain, target)
        inspected = _ppml_az(env, "inspect", target + "/people.csv")
        assert "ppml-gcm" in inspected and vault in inspected and "Developer" not in inspected
        out = tmp_path / "out"
        _ppml_az(env, "decrypt", "--kms", "azure", "--vault", vault, target, out)
        assert (out / "people.csv").read_bytes() == (plain / "people.csv").read_bytes()
        assert (out / "sub" / "random.bin").read_bytes() == (plain / "sub" / "random.bin").read_bytes()
        assert _port_open(vault) and _port_open(exports["PPML_AZ_BLOB_ENDPOINT"])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest, errors = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert process.returncode == 0, errors
    assert "stopping the emulators" in rest
    assert not _port_open(vault) and not _port_open(exports["PPML_AZ_BLOB_ENDPOINT"])
