"""Secure Key Release test environment: MAA emulators, a simulated Gramine device, a simulated SKR sidecar.

The simulated Gramine ``/dev/attestation`` is a directory whose ``user_report_data`` and ``quote`` are FIFOs served
by a thread: it reads the 64 bytes a process writes to ``user_report_data`` and answers the next read of ``quote``
with a quote over exactly those bytes (signed by the test quoting key, with the measurements the "enclave" has).
So the report data in the quote is what the provider wrote, as on real hardware; ``tamper`` makes the device
bind other report data (an enclave that does not hold the runtime key). Processes share the device here (real
Gramine gives each enclave its own); the provider's lock on ``user_report_data`` keeps exchanges whole.

The simulated sidecar speaks the SKR sidecar's ``POST /attest/maa`` (``{"maa_endpoint", "runtime_data"}`` ->
``{"token"}``): it signs a simulated SEV-SNP report whose report data is SHA-256 of the runtime data and whose
host data is the container policy's, and exchanges it at the MAA emulator's ``attest/SevSnpVm`` with the body
shape of the REST spec example (``report`` = base64url of JSON ``{SnpReport, VcekCertChain}``, ``runtimeData``,
``nonce``). ``debug``/``vmpl`` make it a debuggable guest or another VMPL; ``maa_override`` makes it attest at
another MAA instance than the one it is asked for.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.kms._jose import b64url
from maa_emulator import TEE_SEVSNP, Measurements, QuotingKey, snp_evidence


class SimulatedGramineDevice:
    def __init__(self, directory: Path, quoting: QuotingKey, measurements: Measurements) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.report_path, self.quote_path = directory / "user_report_data", directory / "quote"
        os.mkfifo(self.report_path)
        os.mkfifo(self.quote_path)
        (directory / "attestation_type").write_text("dcap")
        self.quoting = quoting
        self.measurements = measurements
        self.tamper = False
        self.quotes = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, name="gramine-device", daemon=True)
        self._thread.start()

    def reset(self, measurements: Measurements) -> None:
        self.measurements, self.tamper = measurements, False

    def _serve(self) -> None:
        while not self._stop:
            with open(self.report_path, "rb") as handle:  # blocks until a process opens it to write
                report_data = handle.read(64)
            if self._stop:
                return
            if len(report_data) != 64:
                continue
            bound = hashlib.sha256(b"not the runtime data").digest() + bytes(32) if self.tamper else report_data
            quote = self.quoting.quote(bound, self.measurements)
            self.quotes += 1
            with open(self.quote_path, "wb") as handle:  # blocks until that process opens quote to read
                handle.write(quote)

    def stop(self) -> None:
        self._stop = True
        for path, flags in ((self.report_path, os.O_WRONLY), (self.quote_path, os.O_RDONLY)):
            with contextlib.suppress(OSError):
                os.close(os.open(path, flags | os.O_NONBLOCK))
        self._thread.join(timeout=5)


class SimulatedSidecar:
    """``http://127.0.0.1:PORT`` with the SKR sidecar's ``/status`` and ``/attest/maa``."""

    def __init__(self, quoting: QuotingKey, hostdata: bytes, maa_ca: str) -> None:
        self.quoting, self.hostdata, self.maa_ca = quoting, hostdata, maa_ca
        self.calls = 0
        self.debug, self.vmpl, self.maa_override = False, 0, ""
        self._vcek_pem = _test_vcek_chain(quoting)
        sidecar = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._send(200, {"message": "STATUS OK"})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path != "/attest/maa":
                    self._send(404, {"error": f"{self.path} not simulated"})
                    return
                sidecar.calls += 1
                try:
                    token = sidecar.attest(str(body["maa_endpoint"]), base64.b64decode(body["runtime_data"]))
                except Exception as exc:  # noqa: BLE001 - the sidecar answers every failure 403 with a message
                    self._send(403, {"error": f"attest/maa failed: {exc}"})
                    return
                self._send(200, {"token": token})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="skr-sidecar", daemon=True).start()

    def attest(self, maa_endpoint: str, runtime_data: bytes) -> str:
        report = self.quoting.quote(
            hashlib.sha256(runtime_data).digest() + bytes(32),
            dataclasses.replace(Measurements(), mrenclave=self.hostdata, debug=self.debug, vmpl=self.vmpl),
            tee=TEE_SEVSNP,
        )
        body = {"report": b64url(snp_evidence(report, self._vcek_pem)),
                "runtimeData": {"data": b64url(runtime_data), "dataType": "JSON"},
                "nonce": b64url(os.urandom(12))}
        endpoint = self.maa_override or maa_endpoint
        request = urllib.request.Request(
            f"https://{endpoint}/attest/SevSnpVm?api-version=2022-08-01",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        context = ssl.create_default_context(cafile=self.maa_ca)
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
                return str(json.loads(response.read())["token"])
        except urllib.error.HTTPError as exc:
            raise RuntimeError(exc.read().decode()) from None

    def reset(self) -> None:
        self.debug, self.vmpl, self.maa_override = False, 0, ""

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _test_vcek_chain(quoting: QuotingKey) -> bytes:
    """A stand-in VCEK certificate (PEM) for the test quoting key: the shape of the field, not AMD's chain."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ppml-az test SEV-VCEK")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(quoting.public)
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(quoting.private, hashes.SHA384())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


MEASURED = Measurements()
WRONG_MRENCLAVE = dataclasses.replace(MEASURED, mrenclave=bytes.fromhex("33" * 32))
WRONG_SIGNER = dataclasses.replace(MEASURED, mrsigner=bytes.fromhex("44" * 32))
HOSTDATA = bytes.fromhex("5a" * 32)


@dataclasses.dataclass
class SkrEnv:
    kv: Any  # KeyVaultEmulator
    maa: Any  # MaaEmulator (the trusted authority)
    other_maa: Any  # another issuer, not in any policy
    quoting: QuotingKey
    device: SimulatedGramineDevice
    sidecar: SimulatedSidecar
    bundle: Path  # CA bundle: Key Vault TLS + both MAA TLS
    key_id: str

    def options(self, **extra: str) -> dict[str, str]:
        base = {
            "kms": "azure-skr",
            "vault": self.kv.url,
            "credential": "emulator",
            "connectionVerify": str(self.bundle),
            "verifyChallengeResource": "false",
            "kmsRetryBackoff": "0.05",
            "kmsRetryTotal": "2",
            "attestation": "sgx-gramine",
            "attestationDevice": str(self.device.directory),
            "maaEndpoint": self.maa.url,
            "releaseTrustRoots": str(self.kv.release.release_ca_path),
            "runtimeKeySize": "2048",
            "primaryKeyId": self.key_id,
        }
        base.update(extra)
        return base

    def policy(self) -> dict[str, Any]:
        from bigdl_ppml_az.kms.skr_policy import build_policy

        return build_policy(
            self.maa.url,
            sgx_mrenclave=MEASURED.mrenclave.hex(),
            sgx_mrsigner=MEASURED.mrsigner.hex(),
            sgx_isvprodid=MEASURED.isvprodid,
        )

    def create_key(self, name: str, policy: dict[str, Any] | None = None) -> str:
        from bigdl_ppml_az.kms.azure_skr import create_release_key

        return create_release_key(
            self.kv.url, name, policy or self.policy(), key_size=2048, options=self.kv_options()
        )

    def kv_options(self) -> dict[str, str]:
        return {"credential": "emulator", "connectionVerify": str(self.bundle), "verifyChallengeResource": "false"}

    def reset(self) -> None:
        from bigdl_ppml_az.kms import azure_skr

        azure_skr.forget_released_keys()
        self.device.reset(MEASURED)
        self.maa.reset()
        self.other_maa.reset()
        self.kv.reset_faults()
        self.kv.reset_counts()
        self.kv.release.reset()
        self.sidecar.reset()


def start_skr_env(kv: Any, root: Path) -> SkrEnv:
    from maa_emulator import MaaEmulator

    quoting = QuotingKey()
    maa = MaaEmulator(root, quoting, "maa").start()
    other = MaaEmulator(root, quoting, "other-maa").start()
    bundle = root / "ca-bundle.pem"
    bundle.write_bytes(b"".join(Path(p).read_bytes() for p in (kv.ca_path, maa.ca_path, other.ca_path)))
    kv.release.authority_cas = [str(maa.ca_path), str(other.ca_path)]
    device = SimulatedGramineDevice(root / "attestation", quoting, MEASURED)
    sidecar = SimulatedSidecar(quoting, HOSTDATA, str(bundle))
    env = SkrEnv(kv, maa, other, quoting, device, sidecar, bundle, "")
    env.key_id = env.create_key("skr-primary")
    return env


def stop_skr_env(env: SkrEnv) -> None:
    env.device.stop()
    env.sidecar.stop()
    env.maa.stop()
    env.other_maa.stop()


@pytest.fixture(scope="module", name="skr_module")
def skr_module_fixture(kv_emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SkrEnv]:
    env = start_skr_env(kv_emulator, tmp_path_factory.mktemp("skr"))
    yield env
    stop_skr_env(env)


@pytest.fixture(name="skr")
def skr_fixture(skr_module: SkrEnv) -> Iterator[SkrEnv]:
    """The module's SKR environment with released keys forgotten and emulator knobs and counts reset."""
    skr_module.reset()
    yield skr_module
    skr_module.reset()


def secret_forms(env: SkrEnv, key_id: str) -> list[str]:
    """Fragments of a primary key's private key that must never leak: DER hex and Base64 (standard and URL-safe),
    a PEM line, and the leading digits of d and p (hex and decimal)."""
    from cryptography.hazmat.primitives import serialization

    private = env.kv.private_key(key_id)
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    numbers = private.private_numbers()
    return [der[40:104].hex(), base64.b64encode(der[48:96]).decode(), pem.splitlines()[3],
            format(numbers.d, "x")[:48], str(numbers.d)[:48], format(numbers.p, "x")[:48],
            base64.urlsafe_b64encode(der[48:96]).decode().rstrip("=")]

