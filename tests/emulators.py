"""Try the Azure features on one machine: the Key Vault emulator and Azurite on 127.0.0.1 (``./dev emulators``).

Starts ``tests/kv_emulator.py`` (HTTPS, real RSA keys in memory, a throwaway CA) and Azurite's Blob service
(in-memory storage), creates one container, prints every setting a client needs (environment variables for
``ppml-az``, options for ``spark.read.format("ppml-enc")``, the Azurite connection string), then runs until
Ctrl-C (SIGINT) or SIGTERM. docs/AZURE.md explains each printed setting. The pytest fixtures in
``azure_fixtures.py`` start Azurite with the same function.

Run it as ``./dev emulators`` (installs Azurite from npm into .tools first) or, with Azurite installed,
``python tests/emulators.py [--blob-port N] [--container NAME] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent))  # kv_emulator, when run as a script

from kv_emulator import KeyVaultEmulator  # noqa: E402 - after the path set-up above

# Azurite's documented development account (public, the same in every Azurite installation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
REPO = Path(__file__).resolve().parent.parent
AZURITE_MISSING = (
    "Azurite not found: run `./dev emulators` or `./dev test` (they install azurite@3.35.0 from npm into .tools), "
    "or `npm install --prefix .tools azurite@3.35.0`, or set PPML_AZ_AZURITE to the azurite launcher"
)


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

    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.key};"
            f"BlobEndpoint={self.endpoint};"
        )

    def url(self, container: str, path: str = "") -> str:
        return f"abfss://{container}@{self.host}/{path.lstrip('/')}"

    def service(self):  # type: ignore[no-untyped-def]
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(self.endpoint, credential={"account_name": self.account, "account_key": self.key})

    def new_container(self, name: str | None = None) -> str:
        name = name or "t" + uuid.uuid4().hex[:20]
        self.service().create_container(name)
        return name


def azurite_blob_launcher() -> str | None:
    """The ``azurite-blob`` launcher: next to $PPML_AZ_AZURITE, in .tools (``./dev``), or on PATH."""
    configured = os.environ.get("PPML_AZ_AZURITE")
    candidates = []
    if configured:
        launcher = Path(configured)
        candidates += [launcher.with_name("azurite-blob"), launcher]
    candidates.append(REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob")
    for candidate in candidates:
        if candidate.exists() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("azurite-blob")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_azurite(launcher: str, workdir: Path, port: int = 0) -> Iterator[Azurite]:
    """Azurite's Blob service on 127.0.0.1 with in-memory storage, stopped (by its PID) on exit."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "azurite.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [launcher, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence", "--silent",
             "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
            stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    log.flush()
                    raise RuntimeError(f"Azurite exited with {process.returncode}: {log_path.read_text()}")
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


def settings_text(kv: KeyVaultEmulator, azurite: Azurite, container: str) -> str:
    """Every setting the two emulators need, as shell exports and ppml-enc options (docs/AZURE.md)."""
    env = {
        "PPML_AZ_KV_CREDENTIAL": "emulator",
        "PPML_AZ_KV_CA_BUNDLE": str(kv.ca_path),
        "PPML_AZ_KV_VERIFY_CHALLENGE_RESOURCE": "false",
        "PPML_AZ_BLOB_ENDPOINT": azurite.endpoint,
        "AZURE_STORAGE_ACCOUNT": azurite.account,
        "AZURE_STORAGE_KEY": azurite.key,
    }
    shell = {"KV_URL": kv.url, "ABFSS_ROOT": azurite.url(container)}
    options = {**kv.options(), **azurite.options()}
    options.pop("kmsRetryBackoff", None)  # a test speed-up, not a setting the emulator needs
    lines = [
        f"Key Vault emulator  {kv.url}  (HTTPS; CA certificate {kv.ca_path})",
        f"Azurite Blob API    {azurite.endpoint}  (account {azurite.account}, container {container})",
        "",
        "# ppml-az reads these from the environment (paste into a shell):",
        *(f"export {name}={shlex.quote(value)}" for name, value in env.items()),
        "# other tools (az storage --connection-string, Azure Storage Explorer):",
        f"export AZURE_STORAGE_CONNECTION_STRING={shlex.quote(azurite.connection_string())}",
        "# shell variables for the example commands in docs/AZURE.md (nothing reads them):",
        *(f"export {name}={shlex.quote(value)}" for name, value in shell.items()),
        "",
        '# spark.read / df.write .format("ppml-enc") options:',
        *(f"  .option({name!r}, {value!r})" for name, value in options.items()),
        "",
        "ready; press Ctrl-C to stop",
    ]
    return "\n".join(lines)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev emulators", description=__doc__.split("\n\n")[0])
    parser.add_argument("--blob-port", type=int, default=0, help="Azurite's Blob port (default: a free port)")
    parser.add_argument("--container", default="data", help="container to create in Azurite (default data)")
    parser.add_argument("--workdir", help="TLS files and Azurite's log (default: a temporary directory, removed)")
    args = parser.parse_args(argv)
    launcher = azurite_blob_launcher()
    if launcher is None:
        print(f"emulators: error: {AZURITE_MISSING}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _stop)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ppml-az-emulators-"))
    kv = KeyVaultEmulator(workdir).start()
    try:
        with running_azurite(launcher, workdir / "azurite", args.blob_port) as azurite:
            azurite.new_container(args.container)
            print(settings_text(kv, azurite, args.container), flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping the emulators", flush=True)
    finally:
        kv.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
