"""Secure Key Release for the Key Vault emulator (kv_emulator.py): ``POST /keys/{name}[/{version}]/release``.

What the real service does, with real cryptography: the target token must come from an authority of the key's
release policy, verify with that authority's signing keys (fetched from ``{authority}/certs`` over TLS), be within
nbf/exp, and its claims must satisfy the policy (``anyOf``/``allOf`` nesting, ``claim`` with ``equals``,
``notEquals``, ``less``, ``lessOrEquals``, ``greater``, ``greaterOrEquals``, ``exists``). The key is then wrapped
to the first RSA key of the token's ``x-ms-runtime.keys`` (``CKM_RSA_AES_KEY_WRAP`` / ``RSA_AES_KEY_WRAP_256|384``:
RSA-OAEP of a fresh AES-256 key, then AES key wrap with padding of the PKCS#8 private key) and returned in a
JWS signed by a release-signing certificate (``x5c``) issued by ``release_ca_path``'s CA.

This evaluator is deliberately separate from bigdl_ppml_az.kms.skr_policy, so tests compare two readings of
the grammar. Extension for development only: an authority named ``none`` admits unsigned tokens
(``attestation=none``); Azure has no such authority.
"""

from __future__ import annotations

import base64
import collections
import datetime
import json
import os
import ssl
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from cryptography.x509.oid import NameOID

_ENC = {"CKM_RSA_AES_KEY_WRAP": hashes.SHA1, "RSA_AES_KEY_WRAP_256": hashes.SHA256,
        "RSA_AES_KEY_WRAP_384": hashes.SHA384}


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int(value: int) -> str:
    return _b64u(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _forbidden(message: str) -> Exception:
    from kv_emulator import KvError

    return KvError(403, "Forbidden", message, "AccessDenied" if "permission" in message else "ReleasePolicyNotMet")


def _signing_chain(directory: Path) -> tuple[Path, rsa.RSAPrivateKey, list[str]]:
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kv emulator release CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kv emulator key release signing")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    path = directory / "release-ca.pem"
    path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in (leaf, ca)]
    return path, key, chain


class KeyRelease:
    def __init__(self, owner: Any, workdir: Path) -> None:
        self.owner = owner
        self.release_ca_path, self._signing_key, self._chain = _signing_chain(workdir / "kv-release")
        self.authority_cas: list[str] = []  # CA bundles to trust when fetching an authority's /certs
        self.jwks_fetches = 0
        self.released_to: collections.Counter[str] = collections.Counter()  # runtime key kid -> releases
        self.substitute_key: rsa.RSAPrivateKey | None = None  # tests: release another key than the one named
        self._lock = threading.Lock()

    # ---- policy -------------------------------------------------------------------------------------------
    def check_policy(self, release_policy: dict[str, Any]) -> None:
        from kv_emulator import KvError

        try:
            policy = json.loads(_unb64u(str(release_policy.get("data", ""))))
        except ValueError:
            raise KvError(400, "BadParameter", "release_policy.data is not base64url JSON") from None
        if not isinstance(policy, dict) or not isinstance(policy.get("anyOf"), list) or "version" not in policy:
            raise KvError(400, "BadParameter", "release policy needs version and anyOf")

    @staticmethod
    def _holds(cond: dict[str, Any], claims: dict[str, Any]) -> tuple[bool, str]:
        for kind in ("allOf", "anyOf", "allof", "anyof"):
            if kind in cond:
                results = [KeyRelease._holds(c, claims) for c in cond[kind]]
                if kind.lower() == "allof":
                    bad = [why for ok, why in results if not ok]
                    return (not bad, bad[0] if bad else "")
                return (any(ok for ok, _ in results), "; ".join(why for ok, why in results if not ok))
        name = cond["claim"]
        present = name in claims
        value = claims.get(name)
        for op, want in cond.items():
            if op == "claim":
                continue
            if op == "exists":
                ok = present == bool(want)
            elif not present:
                ok = False
            elif op == "equals":
                ok = value == want and type(value) is type(want)
            elif op == "notEquals":
                ok = value != want
            else:
                numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (value, want))
                ok = numeric and {"less": value < want, "lessOrEquals": value <= want, "greater": value > want,
                                  "greaterOrEquals": value >= want}[op]
            if not ok:
                return False, f"claim {name} does not satisfy {op} {json.dumps(want)}"
        return True, ""

    # ---- release ------------------------------------------------------------------------------------------
    def _jwks(self, authority: str) -> dict[str, Any]:
        context = ssl.create_default_context()
        for ca in self.authority_cas:
            context.load_verify_locations(ca)
        with urllib.request.urlopen(f"{authority.rstrip('/')}/certs", timeout=10, context=context) as resp:  # noqa: S310
            with self._lock:
                self.jwks_fetches += 1
            return json.loads(resp.read(1024 * 1024))

    def release(self, key: Any, body: dict[str, Any]) -> dict[str, Any]:
        if not key.exportable or not key.release_policy:
            raise _forbidden(f"Key {key.name} is not exportable; only exportable keys with a policy can be released.")
        if not key.enabled:
            from kv_emulator import KvError

            raise KvError(403, "Forbidden", "Operation release is not allowed on a disabled key.", "KeyDisabled")
        token = str(body.get("target", ""))
        parts = token.split(".")
        if len(parts) != 3:
            raise _forbidden("Target environment attestation token is not a JWT.")
        header, claims = json.loads(_unb64u(parts[0])), json.loads(_unb64u(parts[1]))
        policy = json.loads(_unb64u(key.release_policy["data"]))
        issuer = str(claims.get("iss", "")).rstrip("/").lower()
        branches = [b for b in policy["anyOf"] if str(b.get("authority", "")).rstrip("/").lower() == issuer]
        if not branches:
            raise _forbidden(f"Attestation token issuer {claims.get('iss')} is not an authority of the release policy.")
        if issuer == "none":
            if header.get("alg") != "none":
                raise _forbidden("authority none admits only unsigned development tokens")
        else:
            if header.get("alg") != "RS256":
                raise _forbidden("Target environment attestation token is not signed with RS256.")
            jwks = self._jwks(str(branches[0]["authority"]))
            signing = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")]
            verified = False
            for jwk in signing:
                public = rsa.RSAPublicNumbers(int.from_bytes(_unb64u(jwk["e"]), "big"),
                                              int.from_bytes(_unb64u(jwk["n"]), "big")).public_key()
                try:
                    public.verify(_unb64u(parts[2]), f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(),
                                  hashes.SHA256())
                    verified = True
                except InvalidSignature:
                    pass
            if not verified:
                raise _forbidden("Target environment attestation token signature cannot be verified by its authority.")
        now = time.time()
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < now:
            raise _forbidden("Target environment attestation token has expired.")
        if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] > now + 300:
            raise _forbidden("Target environment attestation token is not yet valid.")
        reasons = []
        for branch in branches:
            rule = "allOf" if "allOf" in branch else "anyOf"
            ok, why = self._holds({rule: branch[rule]}, claims)
            if ok:
                break
            reasons.append(why)
        else:
            raise _forbidden(f"Release policy not satisfied: {reasons[0]}")
        runtime = [k for k in (claims.get("x-ms-runtime") or {}).get("keys", []) if k.get("kty") == "RSA"]
        if not runtime:
            raise _forbidden("Attestation token carries no RSA key in x-ms-runtime.keys to wrap the key to.")
        target = rsa.RSAPublicNumbers(int.from_bytes(_unb64u(runtime[0]["e"]), "big"),
                                      int.from_bytes(_unb64u(runtime[0]["n"]), "big")).public_key()
        enc = str(body.get("enc") or "CKM_RSA_AES_KEY_WRAP")
        if enc not in _ENC:
            from kv_emulator import KvError

            raise KvError(400, "BadParameter", f"Invalid enc {enc}")
        digest = _ENC[enc]
        aes = os.urandom(32)
        exported = self.substitute_key or key.private
        der = exported.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        ciphertext = target.encrypt(aes, padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None))
        ciphertext += aes_key_wrap_with_padding(aes, der)
        key_hsm = {"schema_version": "1.0", "header": {"kid": runtime[0].get("kid"), "alg": "dir", "enc": enc},
                   "ciphertext": _b64u(ciphertext), "generator": "ppml-az kv emulator"}
        with self._lock:
            self.released_to[str(runtime[0].get("kid"))] += 1
        base = self.owner.url
        numbers = key.private.public_key().public_numbers()
        payload = {
            "request": {"api-version": "7.4", "enc": enc, "kid": f"{base}/keys/{key.name}/{key.version}",
                        "nonce": body.get("nonce")},
            "response": {"key": {
                "key": {"kid": f"{base}/keys/{key.name}/{key.version}", "kty": key.kty, "key_ops": key.ops,
                        "n": _int(numbers.n), "e": _int(numbers.e), "key_hsm": _b64u(json.dumps(key_hsm).encode())},
                "attributes": {"enabled": key.enabled, "exportable": True, "created": key.created},
                "release_policy": key.release_policy,
            }},
        }
        head = _b64u(json.dumps({"alg": "RS256", "x5c": self._chain, "kid": "release-signing"}).encode())
        pay = _b64u(json.dumps(payload).encode())
        signature = self._signing_key.sign(f"{head}.{pay}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return {"value": f"{head}.{pay}.{_b64u(signature)}"}
