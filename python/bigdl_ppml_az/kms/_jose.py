"""Minimal JOSE for Secure Key Release: base64url, compact JWS (RS256 only), RSA JWKs, x5c chain checks.

Written on ``cryptography`` alone so the worker path has no extra dependency. Only what MAA tokens and Key
Vault release responses use is supported; anything else (``alg`` other than RS256, oversized tokens) is refused.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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
    if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "RSA-HSM"):
        raise JoseError("JWK is not an RSA key")
    try:
        n = int.from_bytes(unb64url(str(jwk["n"])), "big")
        e = int.from_bytes(unb64url(str(jwk["e"])), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    except (KeyError, ValueError) as exc:
        raise JoseError(f"JWK has no valid RSA n/e ({type(exc).__name__})") from None


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


def verify_x5c(chain_b64: Any, roots: list[x509.Certificate], what: str) -> x509.Certificate:
    """Check that ``x5c`` (leaf first, standard base64 DER) chains to one of ``roots``; return the leaf.

    Each certificate must be within its validity period and directly signed by the next one; the last one
    must be a trusted root or be signed by one.
    """
    if not isinstance(chain_b64, list) or not chain_b64 or len(chain_b64) > 8:
        raise JoseError(f"{what}: header has no x5c certificate chain")
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(str(c), validate=True)) for c in chain_b64]
    except ValueError:
        raise JoseError(f"{what}: x5c holds a certificate that is not base64 DER") from None
    now = datetime.datetime.now(datetime.UTC)
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise JoseError(f"{what}: certificate {cert.subject.rfc4514_string()} is outside its validity period")
    try:
        for child, parent in zip(chain, chain[1:], strict=False):
            child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        raise JoseError(f"{what}: x5c is not a chain (a certificate is not signed by the next)") from None
    top = chain[-1]
    for root in roots:
        if top == root:
            return chain[0]
        try:
            top.verify_directly_issued_by(root)
            return chain[0]
        except (ValueError, TypeError, InvalidSignature):
            continue
    raise JoseError(f"{what}: signing certificate {chain[0].subject.rfc4514_string()} does not chain to a trusted root")


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
    "unb64url",
    "verify_rs256",
    "verify_x5c",
]
