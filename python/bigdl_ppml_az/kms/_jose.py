"""Minimal JOSE for Secure Key Release: base64url, compact JWS (RS256 only), RSA JWKs, x5c chain checks.

Written on ``cryptography`` alone so the worker path has no extra dependency (JOSE parsing is hand-written because
it is a few lines for the one algorithm used; the x5c chain check is cryptography's X.509 server verifier).
Only what MAA tokens and Key Vault release responses use is supported; anything else (``alg`` other than RS256,
oversized tokens) is refused.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    ServerVerifier,
    Store,
    VerificationError,
)

MAX_TOKEN_CHARS = 256 * 1024  # a release response carries a wrapped 4096-bit key and a chain: well below this


class JoseError(ValueError):
    """A token is malformed, unsigned where a signature is due, or its signature does not verify."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    if not isinstance(text, str):
        raise JoseError("expected a base64url string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise JoseError("not base64url") from None


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def rsa_public_jwk(key: rsa.RSAPublicKey, kid: str, key_ops: tuple[str, ...] = ("encrypt",)) -> dict[str, Any]:
    numbers = key.public_numbers()
    return {"kid": kid, "kty": "RSA", "key_ops": list(key_ops), "e": b64url(_int_bytes(numbers.e)),
            "n": b64url(_int_bytes(numbers.n))}


def rsa_public_from_jwk(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    """RSA public key of a JWK from ``n``/``e`` (the ephemeral key's form; see :func:`signing_key_from_jwk`)."""
    if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "RSA-HSM"):
        raise JoseError("JWK is not an RSA key")
    try:
        n = int.from_bytes(unb64url(str(jwk["n"])), "big")
        e = int.from_bytes(unb64url(str(jwk["e"])), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    except (KeyError, ValueError) as exc:
        raise JoseError(f"JWK has no valid RSA n/e ({type(exc).__name__})") from None


def signing_key_from_jwk(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    """Public key of a signing JWK as MAA's ``/certs`` serves it.

    MAA lists keys as ``{kid, kty, x5c}`` (sometimes with ``alg``/``use``) and no ``n``/``e``: the key is the one
    of the ``x5c`` leaf. When ``n``/``e`` are present as well, they must be that same key.
    """
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
        raise JoseError(f"JWKS key {jwk.get('kid') if isinstance(jwk, dict) else None!r} is not an RSA key")
    kid = jwk.get("kid")
    x5c = jwk.get("x5c")
    if x5c is None:
        return rsa_public_from_jwk(jwk)
    if not isinstance(x5c, list) or not x5c or not isinstance(x5c[0], str):
        raise JoseError(f"JWKS key {kid!r}: x5c is not a list of certificates")
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(x5c[0], validate=True))
    except ValueError:
        raise JoseError(f"JWKS key {kid!r}: x5c[0] is not a base64 DER certificate") from None
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise JoseError(f"JWKS key {kid!r}: x5c certificate does not hold an RSA key")
    if ("n" in jwk or "e" in jwk) and rsa_public_from_jwk(jwk).public_numbers() != public.public_numbers():
        raise JoseError(f"JWKS key {kid!r}: n/e do not match its x5c certificate")
    return public


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an RSA JWK (used as the ephemeral key's kid)."""
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True)
class Jws:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse_jws(token: str, what: str) -> Jws:
    """Split and decode a compact JWS without verifying it (bounded size; header and payload must be JSON)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise JoseError(f"{what} is not a compact JWS of at most {MAX_TOKEN_CHARS} characters")
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise JoseError(f"{what} is not a compact JWS (expected 3 dot-separated parts)")
    try:
        header = json.loads(unb64url(parts[0]))
        payload = json.loads(unb64url(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise JoseError(f"{what}: header or payload is not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise JoseError(f"{what}: header and payload must be JSON objects")
    return Jws(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), unb64url(parts[2]))


def verify_rs256(jws: Jws, key: rsa.RSAPublicKey, what: str) -> None:
    if jws.header.get("alg") != "RS256":
        raise JoseError(f"{what}: signature algorithm {jws.header.get('alg')!r} is not RS256")
    try:
        key.verify(jws.signature, jws.signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise JoseError(f"{what}: signature does not verify") from None


def sign_rs256(header: dict[str, Any], payload: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    """Compact RS256 JWS (the emulators use this; the library only verifies)."""
    head = b64url(json.dumps({**header, "alg": "RS256"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    signature = key.sign(f"{head}.{body}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64url(signature)}"


def _fail(what: str, message: str) -> JoseError:
    return JoseError(f"{what}: {message}")


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _extension(cert: x509.Certificate, kind: type[Any]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


MAX_CHAIN_DEPTH = 8  # intermediates the verifier may use between leaf and root; x5c holds at most 8 certificates


def _signing_key_usage(policy: Policy, cert: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    """Extension-policy hook for the leaf's key usage, called by the verifier during path validation.

    The Web PKI default only forbids keyCertSign on a leaf (restated here: this hook replaces the default one); this
    key signs the release JWS, so, when the leaf has a key usage at all, it must also allow digitalSignature
    (RFC 5280 4.2.1.3). Stricter than Go's x509.Verify in the SKR sidecar, which ignores leaf key usage.
    """
    if usage is None:
        return
    if usage.key_cert_sign:
        raise ValueError("EE keyUsage must not assert keyCertSign")
    if not usage.digital_signature:
        raise ValueError("key usage lacks digitalSignature")


def _verifier(roots: list[x509.Certificate], host: str, now: datetime.datetime) -> ServerVerifier:
    try:
        subject: DNSName | IPAddress = IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        subject = DNSName(host)
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(x509.KeyUsage, Criticality.AGNOSTIC,
                                                                    _signing_key_usage)
    return (PolicyBuilder().store(Store(roots)).time(now).max_chain_depth(MAX_CHAIN_DEPTH)
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
            .build_server_verifier(subject))


def verify_x5c(chain_b64: Any, roots: list[x509.Certificate], what: str, *, host: str,
               now: datetime.datetime | None = None) -> x509.Certificate:
    """Check that ``x5c`` (leaf first, standard base64 DER) is a signing chain for ``host``; return the leaf.

    The check is ``cryptography``'s X.509 server verifier (``cryptography.x509.verification``: RFC 5280 path
    validation under the CA/Browser Forum Web PKI profile, the profile Go's ``x509.Verify`` applies in Microsoft's
    SKR sidecar, which verifies the release with the endpoint's DNS name): path building from the leaf through the
    other ``x5c`` certificates to one of ``roots``, every signature, validity at ``now``, CA basic constraints and
    path length, name constraints, critical extensions, key sizes, extended key usage serverAuth, and the leaf's
    subjectAltName against ``host`` (RFC 6125 wildcards; no CN fallback). Our only addition is, through the
    verifier's extension policy, that a leaf key usage must allow digitalSignature (see
    :func:`_signing_key_usage`). When the verifier refuses, :func:`_diagnose` turns its reason into one line
    naming the certificate; that is wording only, never a second gate.

    ``host`` is required: the vault or Managed HSM host actually called (the only caller, ``azure_skr``, takes it
    from the key id). A chain is only meaningful for a name: without one any site's certificate would pass, so an
    empty host is refused rather than skipping the name check.
    """
    if not isinstance(chain_b64, list) or not chain_b64 or len(chain_b64) > 8:
        raise _fail(what, "header has no x5c certificate chain")
    if not isinstance(host, str) or not host:
        raise _fail(what, "no vault host to check the signing certificate against")
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(str(c), validate=True)) for c in chain_b64]
    except ValueError:
        raise _fail(what, "x5c holds a certificate that is not base64 DER") from None
    current = now or datetime.datetime.now(datetime.UTC)
    try:
        verifier = _verifier(roots, host, current)
    except ValueError as exc:
        raise _fail(what, f"cannot check the signing certificate for host {host!r} ({exc})") from None
    try:
        verifier.verify(chain[0], chain[1:])
    except VerificationError as exc:
        raise _fail(what, _diagnose(str(exc), chain, roots, host, current)) from exc
    return chain[0]


def _diagnose(reason: str, chain: list[x509.Certificate], roots: list[x509.Certificate], host: str,
              now: datetime.datetime) -> str:
    """One line saying what the verifier refused, naming the certificate (diagnostics only: the verifier decided).

    The verifier's text ("validation failed: candidates exhausted: <why> (encountered processing <Certificate...>)")
    is shortened to ``<why>``; for the common refusals the chain is inspected to name the certificate at fault.
    """
    why = reason.removeprefix("validation failed: ")
    why = why.removeprefix("candidates exhausted: ").split(" (encountered processing ")[0].strip()
    why = why.removeprefix("Python extension validator failed: ValueError: ")  # our key usage hook's own words
    leaf = chain[0]
    if "not valid at validation time" in why:
        for cert in chain:
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                return (f"certificate {_name(cert)} is outside its validity period "
                        f"({cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})")
    if "no matching subjectAltName" in why or "has no subjectAltName" in why:
        san = _extension(leaf, x509.SubjectAlternativeName)
        names = [str(n.value) for n in san] if san is not None else []
        held = ", ".join(names) if names else "no subjectAltName"
        return f"signing certificate {_name(leaf)} ({held}) is not for host {host}"
    if "digitalSignature" in why:
        return f"signing certificate {_name(leaf)}: key usage lacks digitalSignature"
    if "EKU" in why:
        return f"signing certificate {_name(leaf)}: extended key usage lacks serverAuth"
    if "basicConstraints" in why:
        for child, parent in zip(chain, chain[1:], strict=False):
            constraints = _extension(parent, x509.BasicConstraints)
            if child.issuer == parent.subject and (constraints is None or not constraints.ca):
                return f"issuer {_name(parent)} of {_name(child)} is not a CA (basic constraints)"
    if "path length" in why:
        for below, cert in enumerate(chain[1:]):
            constraints = _extension(cert, x509.BasicConstraints)
            if constraints is not None and constraints.path_length is not None and below > constraints.path_length:
                return (f"issuer {_name(cert)} allows {constraints.path_length} intermediate CAs below it, "
                        f"not {below} (path length)")
    if not any(cert.issuer == root.subject or cert == root for cert in chain for root in roots):
        return f"signing certificate {_name(leaf)} does not chain to a trusted root"
    return f"signing chain of {_name(leaf)} refused by the X.509 verifier: {why}"


def load_pem_bundle(path: str) -> list[x509.Certificate]:
    with open(path, "rb") as handle:
        data = handle.read(8 * 1024 * 1024)
    certs = x509.load_pem_x509_certificates(data)
    if not certs:
        raise ValueError(f"{path}: no PEM certificates")
    return certs


__all__ = [
    "Jws",
    "JoseError",
    "b64url",
    "jwk_thumbprint",
    "load_pem_bundle",
    "parse_jws",
    "rsa_public_from_jwk",
    "rsa_public_jwk",
    "sign_rs256",
    "signing_key_from_jwk",
    "unb64url",
    "verify_rs256",
    "verify_x5c",
]
