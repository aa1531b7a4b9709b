"""A Microsoft Azure Attestation (MAA) emulator for tests: HTTPS on 127.0.0.1, real signatures.

Evidence is a *simulated quote* (format below) signed with a test quoting key (ECDSA P-256) instead of Intel's
DCAP certificate chain; everything after that is what MAA does: check the quote signature, check that the first
32 bytes of its report data are SHA-256 of the runtime data, and issue an RS256 JWT with MAA's claim names
(``x-ms-sgx-mrenclave``, ``x-ms-sgx-mrsigner``, ``x-ms-sgx-product-id``, ``x-ms-sgx-svn``,
``x-ms-sgx-is-debuggable``, ``x-ms-runtime``, ``x-ms-attestation-type``, ``iss``, ``iat``, ``nbf``, ``exp``), its
signing keys as a JWKS at ``/certs`` in the shape of MAA's (the REST spec example ``Get_Certs.json``,
tests/fixtures/skr/): ``{"keys": [{"x5c": [self-signed certificate], "kid": base64 SHA-256 of it, "kty": "RSA"}]}``,
with no ``n``/``e``. ``attest/SevSnpVm`` takes the request body of the REST spec example ``AttestSevSnpVm.json``:
``report`` = base64url of JSON ``{"SnpReport": base64url(report), "VcekCertChain": base64url(PEM), ...}``, plus
``runtimeData`` and an optional ``nonce`` (echoed as the ``nonce`` claim); a bare base64url report (the older
emulator form) is still accepted.

Simulated quote (laid out like an SGX DCAP v3 quote, so report data sits where a real quote has it)::

    header   48 bytes  u16 version=3, u16 key type=2, u32 tee (0 = SGX, 0x81 = simulated SEV-SNP), 4 reserved,
                       16 bytes QE vendor id, 20 bytes user data = b"ppml-az-test-quote"
    body    384 bytes  attributes flags (u64 at 48: bit 1 = debug), mrenclave (32 at 64), mrsigner (32 at 128),
                       isvprodid (u16 at 256), isvsvn (u16 at 258), vmpl (u32 at 260), report data (64 at 320)
                       (SEV-SNP: the mrenclave slot holds the host data)
    u32 length + DER ECDSA-P256/SHA-256 signature over header + body
"""

from __future__ import annotations

import base64
import collections
import datetime
import hashlib
import json
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from bigdl_ppml_az.kms._jose import b64url, rsa_public_jwk, sign_rs256, unb64url
from kv_emulator import _QuietServer, make_tls_files, serve_https

HEADER = 48
BODY = 384
TEE_SGX = 0
TEE_SEVSNP = 0x81
QUOTE_USER_DATA = b"ppml-az-test-quote".ljust(20, b"\0")


@dataclass(frozen=True)
class Measurements:
    mrenclave: bytes = bytes.fromhex("11" * 32)
    mrsigner: bytes = bytes.fromhex("22" * 32)
    isvprodid: int = 7
    isvsvn: int = 3
    debug: bool = False
    vmpl: int = 0


class QuotingKey:
    """The test stand-in for a platform's quoting enclave: signs simulated quotes."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())

    @property
    def public(self) -> ec.EllipticCurvePublicKey:
        return self.private.public_key()

    def quote(self, report_data: bytes, m: Measurements, tee: int = TEE_SGX) -> bytes:
        if len(report_data) != 64:
            raise ValueError("report data is 64 bytes")
        header = struct.pack("<HHI4x16s20s", 3, 2, tee, bytes(16), QUOTE_USER_DATA)
        body = bytearray(BODY)
        struct.pack_into("<Q", body, 48, 2 if m.debug else 0)
        body[64:96] = m.mrenclave
        body[128:160] = m.mrsigner
        struct.pack_into("<HHI", body, 256, m.isvprodid, m.isvsvn, m.vmpl)
        body[320:384] = report_data
        signed = header + bytes(body)
        signature = self.private.sign(signed, ec.ECDSA(hashes.SHA256()))
        return signed + struct.pack("<I", len(signature)) + signature


class AttestationError(Exception):
    pass


def _self_signed(key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def snp_evidence(report: bytes, vcek_chain_pem: bytes) -> bytes:
    """The SEV-SNP ``report`` of MAA's ``attest/SevSnpVm`` body before base64url: JSON of the SNP report and the
    VCEK chain, each base64url, as in the REST spec example (``AttestSevSnpVm.json``)."""
    document = {"SnpReport": b64url(report), "VcekCertChain": b64url(vcek_chain_pem)}
    return json.dumps(document, indent=4).encode()


def snp_report_from_evidence(evidence: bytes) -> bytes:
    """The report bytes of a ``report`` field: the published JSON shape, or a bare report (older emulator form)."""
    if evidence.lstrip()[:1] != b"{":
        return evidence
    try:
        document = json.loads(evidence)
        report = unb64url(str(document["SnpReport"]))
        chain = unb64url(str(document["VcekCertChain"]))
    except (ValueError, KeyError, TypeError):
        raise AttestationError("report is not JSON {SnpReport, VcekCertChain} of base64url fields") from None
    if b"-----BEGIN CERTIFICATE-----" not in chain:
        raise AttestationError("VcekCertChain holds no PEM certificate")
    return report


def parse_quote(quote: bytes, trusted: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    if len(quote) < HEADER + BODY + 4:
        raise AttestationError("quote is too short")
    version, key_type, tee = struct.unpack_from("<HHI", quote, 0)
    if version != 3 or key_type != 2 or quote[28:48] != QUOTE_USER_DATA:
        raise AttestationError("not a ppml-az simulated quote (version/key type/user data)")
    (length,) = struct.unpack_from("<I", quote, HEADER + BODY)
    signature = quote[HEADER + BODY + 4 : HEADER + BODY + 4 + length]
    try:
        trusted.verify(signature, quote[: HEADER + BODY], ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AttestationError("quote signature does not verify with the trusted quoting key") from None
    body = quote[HEADER : HEADER + BODY]
    (flags,) = struct.unpack_from("<Q", body, 48)
    prodid, svn, vmpl = struct.unpack_from("<HHI", body, 256)
    return {
        "tee": tee,
        "debug": bool(flags & 2),
        "mrenclave": body[64:96].hex(),
        "mrsigner": body[128:160].hex(),
        "isvprodid": prodid,
        "isvsvn": svn,
        "vmpl": vmpl,
        "report_data": body[320:384],
    }


class MaaEmulator:
    """``url`` is the attestation provider (the token's ``iss``); ``ca_path`` its TLS CA."""

    def __init__(self, workdir: Path, quoting: QuotingKey, name: str = "maa") -> None:
        self.ca_path, self._cert, self._key = make_tls_files(workdir / f"{name}-tls")
        self.quoting = quoting
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signing_cert = _self_signed(self.signing_key, f"ppml-az MAA emulator {name} token signing")
        der = self.signing_cert.public_bytes(serialization.Encoding.DER)
        self.kid = base64.b64encode(hashlib.sha256(der).digest()).decode()  # MAA's kids look like this
        self.rogue_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._lock = threading.Lock()
        self.calls: collections.Counter[str] = collections.Counter()
        self.reset()
        self._server: _QuietServer | None = None
        self.url = ""

    def reset(self) -> None:
        with self._lock:
            self.ttl = 3600.0  # seconds until exp; negative: issue already-expired tokens
            self.sign_with_unknown_key = False
            self.header_kid: str | None = None  # tests: a kid the JWKS does not list
            self.jwks_with_ne = False  # tests: also serve n/e (older emulator shape)
            self.jwks_bad_ne = False  # tests: serve n/e of another key next to the x5c
            self.calls.clear()

    def start(self) -> MaaEmulator:
        emulator = self

        class Handler(_MaaHandler):
            owner = emulator

        self._server, self.url, _ = serve_https(Handler, self._cert, self._key, "maa-emulator")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def jwks(self) -> dict[str, Any]:
        """The published shape: x5c, kid, kty (no n/e), unless a test asks for n/e as well."""
        jwk: dict[str, Any] = {
            "x5c": [base64.b64encode(self.signing_cert.public_bytes(serialization.Encoding.DER)).decode()],
            "kid": self.kid,
            "kty": "RSA",
        }
        with self._lock:
            with_ne, bad_ne = self.jwks_with_ne, self.jwks_bad_ne
        if with_ne or bad_ne:
            numbers = rsa_public_jwk((self.rogue_key if bad_ne else self.signing_key).public_key(), self.kid, ())
            jwk.update({"n": numbers["n"], "e": numbers["e"]})
        return {"keys": [jwk]}

    def attest(self, evidence: bytes, runtime: dict[str, Any], tee: int, nonce: str | None = None) -> str:
        info = parse_quote(evidence, self.quoting.public)
        if info["tee"] != tee:
            raise AttestationError(f"evidence is for tee {info['tee']:#x}, not this endpoint's")
        data = unb64url(str(runtime.get("data", "")))
        if info["report_data"][:32] != hashlib.sha256(data).digest():
            raise AttestationError("report data in the quote does not match SHA-256 of the runtime data")
        now = int(time.time())
        with self._lock:
            ttl, rogue, header_kid = self.ttl, self.sign_with_unknown_key, self.header_kid
        claims: dict[str, Any] = {"iss": self.url, "iat": now, "nbf": now, "exp": int(now + ttl),
                                  "jti": uuid.uuid4().hex, "x-ms-ver": "1.0"}
        if tee == TEE_SGX:
            claims.update({
                "x-ms-attestation-type": "sgx",
                "x-ms-sgx-mrenclave": info["mrenclave"],
                "x-ms-sgx-mrsigner": info["mrsigner"],
                "x-ms-sgx-product-id": info["isvprodid"],
                "x-ms-sgx-svn": info["isvsvn"],
                "x-ms-sgx-is-debuggable": info["debug"],
            })
        else:
            claims.update({
                "x-ms-attestation-type": "sevsnpvm",
                "x-ms-compliance-status": "azure-compliant-uvm",
                "x-ms-sevsnpvm-hostdata": info["mrenclave"],
                "x-ms-sevsnpvm-is-debuggable": info["debug"],
                "x-ms-sevsnpvm-vmpl": info["vmpl"],
            })
        if nonce is not None:
            claims["nonce"] = nonce
        if str(runtime.get("dataType", "")).lower() == "json":
            claims["x-ms-runtime"] = json.loads(data)
        else:
            claims["x-ms-sgx-ehd"] = b64url(data)
        header = {"typ": "JWT", "kid": header_kid or self.kid, "jku": f"{self.url}/certs"}
        return sign_rs256(header, claims, self.rogue_key if rogue else self.signing_key)


class _MaaHandler(BaseHTTPRequestHandler):
    owner: MaaEmulator
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
        path = self.path.partition("?")[0]
        with self.owner._lock:
            self.owner.calls["certs" if path == "/certs" else "get"] += 1
        if path == "/certs":
            self._send(200, self.owner.jwks())
        elif path == "/.well-known/openid-configuration":
            self._send(200, {"issuer": self.owner.url, "jwks_uri": f"{self.owner.url}/certs"})
        else:
            self._send(404, {"error": {"code": "NotFound", "message": path}})

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.partition("?")[0]
        length = min(int(self.headers.get("Content-Length") or 0), 1024 * 1024)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"error": {"code": "InvalidParameter", "message": "body is not JSON"}})
            return
        endpoints = {"/attest/SgxEnclave": ("quote", TEE_SGX), "/attest/SevSnpVm": ("report", TEE_SEVSNP)}
        if path not in endpoints:
            self._send(404, {"error": {"code": "NotFound", "message": path}})
            return
        field, tee = endpoints[path]
        with self.owner._lock:
            self.owner.calls["attest"] += 1
        try:
            evidence = unb64url(str(body.get(field, "")))
            if tee == TEE_SEVSNP:
                evidence = snp_report_from_evidence(evidence)
            nonce = body.get("nonce")
            token = self.owner.attest(evidence, body.get("runtimeData") or {}, tee,
                                      str(nonce) if nonce is not None else None)
        except (AttestationError, ValueError) as exc:
            self._send(400, {"error": {"code": "InvalidParameter", "message": str(exc)}})
            return
        self._send(200, {"token": token})
