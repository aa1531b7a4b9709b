"""Minimal JOSE for Secure Key Release: base64url, compact JWS (RS256 only), RSA JWKs, x5c chain checks.

Written on ``cryptography`` alone so the worker path has no extra dependency. Only what MAA tokens and Key
Vault release responses use is supported; anything else (``alg`` other than RS256, oversized tokens) is refused.
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
from cryptography.x509.oid import ExtendedKeyUsageOID

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


def _is_ca(cert: x509.Certificate) -> tuple[bool, int | None]:
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        return False, None
    return True, constraints.path_length


def host_matches(cert: x509.Certificate, host: str) -> tuple[bool, list[str]]:
    """Does the certificate name ``host`` (RFC 6125)? Returns (match, the names it holds, for the error).

    Only subjectAltName counts (no CN fallback). An IP host must be an IP address entry. A DNS pattern matches
    case-insensitively, exactly, or with ``*`` as the whole left-most label standing for exactly one non-empty
    label, and only when at least two labels follow it (``*.vault.azure.net``, never ``*.net`` or ``f*.x.com``).
    Hand-written because ``cryptography`` verifies chains but leaves name matching to the TLS layer.
    """
    san = _extension(cert, x509.SubjectAlternativeName)
    if san is None:
        return False, []
    dns = [str(n).lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)]
    ips = san.get_values_for_type(x509.IPAddress)
    names = dns + [str(ip) for ip in ips]
    target = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(target.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return any(ip == address for ip in ips), names
    labels = target.split(".")
    for pattern in dns:
        if pattern == target:
            return True, names
        parts = pattern.split(".")
        if parts[0] != "*" or len(parts) < 3 or len(parts) != len(labels) or "*" in ".".join(parts[1:]):
            continue
        if labels[0] and parts[1:] == labels[1:]:
            return True, names
    return False, names


def verify_x5c(chain_b64: Any, roots: list[x509.Certificate], what: str, *, host: str | None = None,
               now: datetime.datetime | None = None) -> x509.Certificate:
    """Check that ``x5c`` (leaf first, standard base64 DER) is a signing chain for ``host``; return the leaf.

    Each certificate must be within its validity period and directly signed by the next one, which must be a CA
    (basic constraints, path length respected); the last one must be a trusted root or be signed by one. The leaf
    must allow digital signatures (key usage, when present; extended key usage, when present, must allow server
    authentication, as Go's verifier in Microsoft's SKR sidecar requires) and, when ``host`` is given, name that
    host (the vault or Managed HSM actually called; see :func:`host_matches`).
    """
    if not isinstance(chain_b64, list) or not chain_b64 or len(chain_b64) > 8:
        raise _fail(what, "header has no x5c certificate chain")
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(str(c), validate=True)) for c in chain_b64]
    except ValueError:
        raise _fail(what, "x5c holds a certificate that is not base64 DER") from None
    current = now or datetime.datetime.now(datetime.UTC)
    for cert in chain:
        if not cert.not_valid_before_utc <= current <= cert.not_valid_after_utc:
            raise _fail(what, f"certificate {_name(cert)} is outside its validity period "
                              f"({cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})")
    for depth, (child, parent) in enumerate(zip(chain, chain[1:], strict=False)):
        _check_issued(child, parent, depth, what)
    top = chain[-1]
    anchored = any(top == root for root in roots)
    if not anchored:
        for root in roots:
            try:
                _check_issued(top, root, len(chain) - 1, what)
            except JoseError:
                continue
            anchored = True
            break
    if not anchored:
        raise _fail(what, f"signing certificate {_name(chain[0])} does not chain to a trusted root")
    leaf = chain[0]
    usage = _extension(leaf, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        raise _fail(what, f"signing certificate {_name(leaf)}: key usage lacks digitalSignature")
    extended = _extension(leaf, x509.ExtendedKeyUsage)
    if extended is not None and not ({ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
                                     & set(extended)):
        raise _fail(what, f"signing certificate {_name(leaf)}: extended key usage lacks serverAuth")
    if host is not None:
        ok, names = host_matches(leaf, host)
        if not ok:
            held = ", ".join(names) if names else "no subjectAltName"
            raise _fail(what, f"signing certificate {_name(leaf)} ({held}) is not for host {host}")
    return leaf


def _check_issued(child: x509.Certificate, parent: x509.Certificate, below: int, what: str) -> None:
    """``parent`` signed ``child`` and may issue certificates (CA, with ``below`` CA certificates under it)."""
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        raise _fail(what, f"x5c is not a chain (certificate {_name(child)} is not signed by "
                          f"{_name(parent)})") from None
    ca, path_length = _is_ca(parent)
    if not ca:
        raise _fail(what, f"issuer {_name(parent)} of {_name(child)} is not a CA (basic constraints)")
    if path_length is not None and below > path_length:
        raise _fail(what, f"issuer {_name(parent)} allows {path_length} intermediate CAs below it, not {below}")


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
    "host_matches",
    "unb64url",
    "verify_rs256",
    "verify_x5c",
]
