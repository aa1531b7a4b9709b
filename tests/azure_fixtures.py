"""Pytest fixtures for the Azure parts: the Key Vault emulator and Azurite (Blob API) on 127.0.0.1.

Registered from conftest.py with ``pytest_plugins = ["azure_fixtures"]``. Azurite comes from npm: ``./dev test``
installs it into .tools and exports PPML_AZ_AZURITE (path of the ``azurite`` launcher); the ``azurite-blob``
launcher next to it is started here with in-memory storage and stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kv_emulator import KeyVaultEmulator

# Azurite's documented development account (public, the same in every Azurite installation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def kv_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyVaultEmulator]:
    emulator = KeyVaultEmulator(tmp_path_factory.mktemp("kv")).start()
    yield emulator
    emulator.stop()


@pytest.fixture()
def kv(kv_emulator: KeyVaultEmulator) -> Iterator[KeyVaultEmulator]:
    """The session's emulator with faults cleared and call counts reset for this test."""
    kv_emulator.reset_faults()
    kv_emulator.reset_counts()
    yield kv_emulator
    kv_emulator.reset_faults()


def _azurite_blob_launcher() -> str | None:
    configured = os.environ.get("PPML_AZ_AZURITE")
    candidates = []
    if configured:
        launcher = Path(configured)
        candidates += [launcher.with_name("azurite-blob"), launcher]
    candidates.append(_REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob")
    for candidate in candidates:
        if candidate.exists() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("azurite-blob")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Azurite:
    endpoint: str  # blob endpoint, e.g. http://127.0.0.1:PORT/devstoreaccount1
    account: str = AZURITE_ACCOUNT
    key: str = AZURITE_KEY

    @property
    def host(self) -> str:
        return f"{self.account}.dfs.core.windows.net"

    def options(self) -> dict[str, str]:
        """Storage options the way Spark users of the ABFS driver write them, plus the emulator endpoint."""
        return {
            "azureBlobEndpoint": self.endpoint,
            f"spark.hadoop.fs.azure.account.key.{self.host}": self.key,
        }

    def url(self, container: str, path: str = "") -> str:
        return f"abfss://{container}@{self.host}/{path.lstrip('/')}"

    def service(self):  # type: ignore[no-untyped-def]
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(self.endpoint, credential={"account_name": self.account, "account_key": self.key})

    def new_container(self) -> str:
        name = "t" + uuid.uuid4().hex[:20]
        self.service().create_container(name)
        return name


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    launcher = _azurite_blob_launcher()
    if launcher is None:
        pytest.skip(
            "Azurite not found: run `./dev test` (installs azurite@3.35.0 from npm into .tools and sets "
            "PPML_AZ_AZURITE) or `npm install --prefix .tools azurite@3.35.0`"
        )
    port = _free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    log = open(workdir / "azurite.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            launcher,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.flush()
                raise RuntimeError(f"Azurite exited with {process.returncode}: {(workdir / 'azurite.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("Azurite did not open its port within 60 s") from None
                time.sleep(0.2)
        yield Azurite(f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()


@pytest.fixture()
def container(azurite: Azurite) -> str:
    """A fresh, empty container for one test."""
    return azurite.new_container()
