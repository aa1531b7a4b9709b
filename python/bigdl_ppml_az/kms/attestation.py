"""Attestation evidence providers for Secure Key Release, and MAA token checks.

A provider turns *runtime data* (the JSON key set holding a worker's ephemeral public key) into a Microsoft Azure
Attestation token whose ``x-ms-runtime`` claim carries that key set, so Key Vault wraps the released key to it.
Providers are small registered units chosen with option ``attestation``:

* ``sgx-gramine``: Gramine's ``/dev/attestation`` (write SHA-256 of the runtime data to ``user_report_data``,
  read the DCAP quote from ``quote``), then MAA ``attest/SgxEnclave`` with the quote and the runtime data.
* ``sevsnp-sidecar``: Microsoft's SKR sidecar (confidential containers on AKS / ACI) at ``http://localhost:8080``:
  ``POST /attest/maa`` with the runtime data; the sidecar fetches the SNP report and talks to MAA.
* ``none``: no evidence; an unsigned token for development against the emulator. The backend refuses it unless
  the key's release policy names the authority ``none`` (Key Vault itself never accepts such a token).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol
from urllib.parse import urlparse

from ..errors import ConfigError, KmsError
from . import _jose

MAA_API_VERSION = "2022-08-01"
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_QUOTE_BYTES = 64 * 1024
DEFAULT_GRAMINE_DEVICE = "/dev/attestation"
DEFAULT_SIDECAR = "http://localhost:8080"


class EvidenceProvider(Protocol):
    name: ClassVar[str]
    OPTIONS: ClassVar[frozenset[str]]

    @property
    def identity(self) -> str:
        """What decides the evidence (device, endpoint, MAA instance): part of the backend's identity."""
        ...

    def attestation_token(self, runtime_data: bytes) -> str:
        """An MAA token (JWT) whose x-ms-runtime claim is ``runtime_data`` (JSON)."""
        ...


ProviderFactory = Callable[[Mapping[str, str]], EvidenceProvider]
PROVIDERS: dict[str, ProviderFactory] = {}
PROVIDER_OPTIONS: dict[str, frozenset[str]] = {}  # option names each provider reads (data source spelling)
_ALIASES: dict[str, str] = {}


def register_provider(name: str, *aliases: str) -> Callable[[Any], Any]:
    """Class decorator: make a provider selectable with ``attestation=<name or alias>``."""

    def decorate(cls: Any) -> Any:
        PROVIDERS[name] = cls.from_options
        PROVIDER_OPTIONS[name] = frozenset(cls.OPTIONS)
        for alias in (name, *aliases):
            _ALIASES[alias.lower()] = name
        return cls

    return decorate


def provider_name(value: str | None) -> str:
    key = (value or "").strip().lower()
    if key not in _ALIASES:
        raise ConfigError(
            f"option attestation={value or ''}: unknown evidence provider; use one of {', '.join(sorted(PROVIDERS))}"
        )
    return _ALIASES[key]


def build_provider(options: Mapping[str, str]) -> EvidenceProvider:
    lowered = {k.lower(): v for k, v in options.items() if v not in (None, "")}
    return PROVIDERS[provider_name(lowered.get("attestation"))](lowered)


# ---- HTTP -----------------------------------------------------------------------------------------------
def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    return context


def http_json(
    url: str, body: dict[str, Any] | None, *, ca_bundle: str | None, timeout: float, what: str
) -> dict[str, Any]:
    """POST (or GET when ``body`` is None) JSON; bounded response; errors name the endpoint and the service message."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    context = _ssl_context(ca_bundle) if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            raw = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc.read(16 * 1024))
        raise KmsError(f"{what} at {_origin(url)} failed with HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KmsError(f"cannot reach {what} at {_origin(url)}: {reason}") from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise KmsError(f"{what} at {_origin(url)}: response larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise KmsError(f"{what} at {_origin(url)}: response is not JSON") from None
    if not isinstance(parsed, dict):
        raise KmsError(f"{what} at {_origin(url)}: response is not a JSON object")
    return parsed


def _error_detail(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace").strip()[:300] or "no detail"
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("code") or err)[:300]
        if err:
            return str(err)[:300]
    return json.dumps(body)[:300]


def _origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def maa_url(endpoint: str | None, option: str = "maaEndpoint") -> str:
    if not endpoint:
        raise ConfigError(f"option {option} is required: the https URL of your Azure Attestation provider")
    text = endpoint.strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    if not text.startswith("https://"):
        raise ConfigError(f"option {option}={endpoint}: must be an https URL")
    return text


def _token_from(response: dict[str, Any], what: str) -> str:
    token = response.get("token")
    if not isinstance(token, str) or token.count(".") != 2:
        raise KmsError(f"{what} answered without an attestation token")
    return token


# ---- providers ----------------------------------------------------------------------------------------------
@register_provider("sgx-gramine", "gramine", "sgx")
class GramineSgxProvider:
    """SGX enclave under Gramine: the quote comes from the (configurable) ``/dev/attestation`` directory."""

    name: ClassVar[str] = "sgx-gramine"
    OPTIONS: ClassVar[frozenset[str]] = frozenset(
        ["attestationDevice", "maaEndpoint", "maaCaBundle", "attestationTimeout"]
    )

    def __init__(self, device: str, maa: str, ca_bundle: str | None, timeout: float) -> None:
        self.device, self.maa, self.ca_bundle, self.timeout = device, maa, ca_bundle, timeout

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> GramineSgxProvider:
        return cls(
            options.get("attestationdevice") or DEFAULT_GRAMINE_DEVICE,
            maa_url(options.get("maaendpoint")),
            options.get("maacabundle") or options.get("connectionverify"),
            float(options.get("attestationtimeout") or 30),
        )

    @property
    def identity(self) -> str:
        return f"sgx-gramine:{self.device}:{self.maa}"

    def quote(self, runtime_data: bytes) -> bytes:
        """Bind SHA-256(runtime data) as report data and read the quote Gramine generates for it."""
        report_path = os.path.join(self.device, "user_report_data")
        quote_path = os.path.join(self.device, "quote")
        if not os.path.exists(report_path):
            raise KmsError(
                f"option attestation=sgx-gramine: {report_path} not found; run inside a Gramine SGX enclave with "
                "sgx.remote_attestation = \"dcap\" (or set attestationDevice)"
            )
        report_data = hashlib.sha256(runtime_data).digest() + bytes(32)
        fd = os.open(report_path, os.O_WRONLY)
        try:
            # One report-data/quote exchange at a time on a device shared by processes; Gramine's pseudo-files
            # are per enclave and need no lock (they may refuse one).
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, report_data)
            with open(quote_path, "rb") as handle:
                quote = handle.read(MAX_QUOTE_BYTES + 1)
        finally:
            os.close(fd)
        if not quote or len(quote) > MAX_QUOTE_BYTES:
            raise KmsError(f"{quote_path}: no quote (or larger than {MAX_QUOTE_BYTES} bytes)")
        return quote

    def attestation_token(self, runtime_data: bytes) -> str:
        quote = self.quote(runtime_data)
        body = {"quote": _jose.b64url(quote), "runtimeData": {"data": _jose.b64url(runtime_data), "dataType": "JSON"}}
        url = f"{self.maa}/attest/SgxEnclave?api-version={MAA_API_VERSION}"
        return _token_from(http_json(url, body, ca_bundle=self.ca_bundle, timeout=self.timeout, what="MAA"), "MAA")


@register_provider("sevsnp-sidecar", "sevsnp", "skr-sidecar")
class SevSnpSidecarProvider:
    """AMD SEV-SNP confidential containers: the SKR sidecar fetches the SNP report and exchanges it at MAA."""

    name: ClassVar[str] = "sevsnp-sidecar"
    OPTIONS: ClassVar[frozenset[str]] = frozenset(["sidecarEndpoint", "maaEndpoint", "attestationTimeout"])

    def __init__(self, endpoint: str, maa: str, timeout: float) -> None:
        self.endpoint, self.maa, self.timeout = endpoint, maa, timeout

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> SevSnpSidecarProvider:
        endpoint = (options.get("sidecarendpoint") or DEFAULT_SIDECAR).rstrip("/")
        host = urlparse(endpoint).hostname or ""
        if urlparse(endpoint).scheme != "http" or host not in ("localhost", "127.0.0.1", "::1"):
            raise ConfigError(
                f"option sidecarEndpoint={endpoint}: the SKR sidecar must be http on localhost (same pod / group)"
            )
        return cls(endpoint, maa_url(options.get("maaendpoint")), float(options.get("attestationtimeout") or 30))

    @property
    def identity(self) -> str:
        return f"sevsnp-sidecar:{self.endpoint}:{self.maa}"

    def attestation_token(self, runtime_data: bytes) -> str:
        body = {"maa_endpoint": urlparse(self.maa).netloc, "runtime_data": base64.b64encode(runtime_data).decode()}
        response = http_json(f"{self.endpoint}/attest/maa", body, ca_bundle=None, timeout=self.timeout,
                             what="SKR sidecar")
        return _token_from(response, "SKR sidecar")


@register_provider("none", "dev")
class NoEvidenceProvider:
    """Development only: an unsigned token carrying the runtime key. Only an emulator policy can admit it."""

    name: ClassVar[str] = "none"
    OPTIONS: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> NoEvidenceProvider:
        return cls()

    @property
    def identity(self) -> str:
        return "none"

    def attestation_token(self, runtime_data: bytes) -> str:
        now = int(time.time())
        claims = {"iss": "none", "iat": now, "nbf": now, "exp": now + 3600, "x-ms-attestation-type": "none",
                  "x-ms-runtime": json.loads(runtime_data)}
        head = _jose.b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{head}.{_jose.b64url(json.dumps(claims).encode())}."


# ---- MAA token checks (diagnosis and `ppml-az keys policy check`) ----------------------------------------------
def token_claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of an attestation token, unverified."""
    try:
        jws = _jose.parse_jws(token, "attestation token")
    except _jose.JoseError as exc:
        raise KmsError(str(exc)) from None
    return jws.header, jws.payload


def verify_maa_token(token: str, *, ca_bundle: str | None, timeout: float = 30, now: float | None = None) -> str:
    """Empty string when the token verifies against its issuer's ``/certs`` and is within nbf/exp, else why not."""
    try:
        jws = _jose.parse_jws(token, "attestation token")
    except _jose.JoseError as exc:
        return str(exc)
    claims = jws.payload
    issuer = str(claims.get("iss", ""))
    current = time.time() if now is None else now
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp < current:
        return f"attestation token expired at {_when(exp)} (now {_when(current)}); attest again"
    nbf = claims.get("nbf")
    if isinstance(nbf, (int, float)) and nbf > current + 300:
        return f"attestation token not valid before {_when(nbf)}"
    if jws.header.get("alg") == "none" or issuer == "none":
        return "attestation token is unsigned (attestation=none)"
    if not issuer.startswith("https://"):
        return f"attestation token issuer {issuer!r} is not an https attestation provider"
    try:
        jwks = http_json(f"{issuer.rstrip('/')}/certs", None, ca_bundle=ca_bundle, timeout=timeout,
                         what="MAA signing keys")
    except KmsError as exc:
        return str(exc)
    return verify_token_with_jwks(jws, issuer, jwks)


def verify_token_with_jwks(jws: _jose.Jws, issuer: str, jwks: dict[str, Any]) -> str:
    """Empty string when a key of ``jwks`` with the token's ``kid`` verifies it, else why not.

    The header's ``kid`` selects the key (MAA always sets it); a token whose ``kid`` the JWKS does not list is
    refused even if another listed key would verify it. Keys come from their ``x5c`` leaf (see
    :func:`_jose.signing_key_from_jwk`).
    """
    kid = jws.header.get("kid")
    if not isinstance(kid, str) or not kid:
        return "attestation token has no kid header naming its signing key"
    listed = jwks.get("keys")
    keys = [k for k in (listed if isinstance(listed, list) else []) if isinstance(k, dict) and k.get("kid") == kid]
    if not keys:
        return f"attestation token is signed by key {kid!r}, which {issuer}/certs does not list"
    problems = []
    for key in keys:
        try:
            _jose.verify_rs256(jws, _jose.signing_key_from_jwk(key), "attestation token")
            return ""
        except _jose.JoseError as exc:
            problems.append(str(exc))
    if any("does not verify" not in p for p in problems):
        return next(p for p in problems if "does not verify" not in p)
    return f"attestation token signature does not verify with {issuer}/certs key {kid!r} (signed by an unknown key)"


def same_authority(a: str, b: str) -> bool:
    """MAA instance URLs compared as Key Vault compares a token's iss with a policy authority."""
    return a.strip().rstrip("/").lower() == b.strip().rstrip("/").lower()


def check_token_binding(token: str, maa: str | None, runtime_jwk: dict[str, Any]) -> None:
    """Before a release: the token comes from the configured MAA instance and carries this worker's runtime key.

    Key Vault would refuse another issuer only if the policy does not name it; a token wrapped to another runtime
    key would release a key this worker cannot open. Both are refused here, before any release.
    """
    _, claims = token_claims(token)
    issuer = str(claims.get("iss", ""))
    if maa is not None and not same_authority(issuer, maa):
        raise KmsError(f"attestation token issuer {issuer!r} is not the configured maaEndpoint {maa}: refusing to "
                       "use a token from another attestation provider")
    runtime = claims.get("x-ms-runtime")
    keys = runtime.get("keys") if isinstance(runtime, dict) else None
    for key in keys if isinstance(keys, list) else []:
        if (isinstance(key, dict) and key.get("kid") == runtime_jwk["kid"] and key.get("n") == runtime_jwk["n"]
                and key.get("e") == runtime_jwk["e"]):
            return
    raise KmsError("attestation token does not carry this worker's runtime key in x-ms-runtime.keys; the evidence "
                   "provider attested other runtime data")


def _when(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "never (no exp claim)"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))


__all__ = [
    "DEFAULT_GRAMINE_DEVICE",
    "DEFAULT_SIDECAR",
    "PROVIDERS",
    "EvidenceProvider",
    "build_provider",
    "check_token_binding",
    "http_json",
    "maa_url",
    "provider_name",
    "register_provider",
    "same_authority",
    "token_claims",
    "verify_maa_token",
    "verify_token_with_jwks",
]
