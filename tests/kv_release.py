"""Secure Key Release for the Key Vault emulator (kv_emulator.py): ``POST /keys/{name}[/{version}]/release``.

What the real service does, with real cryptography: the target token must come from an authority of the key's
release policy, verify with that authority's signing keys (fetched from ``{authority}/certs`` over TLS), be within
nbf/exp, and its claims must satisfy the policy (``anyOf``/``allOf`` nesting, ``claim`` with ``equals``,
``notEquals``, ``less``, ``lessOrEquals``, ``greater``, ``greaterOrEquals``, ``exists``). The key is then wrapped
to the first RSA key of the token's ``x-ms-runtime.keys`` (``CKM_RSA_AES_KEY_WRAP`` / ``RSA_AES_KEY_WRAP_256|384``:
RSA-OAEP of a fresh AES-256 key, then AES key wrap with padding of the PKCS#8 private key) and returned in a
JWS signed by a release-signing certificate (``x5c``: leaf for the emulator's host, intermediate CA) chaining to
``release_ca_path``'s root CA. The authority's signing keys are read as MAA publishes them: ``x5c`` (key of the
leaf) with optional ``n``/``e``, selected by the token's ``kid``. Policies are read as Key Vault accepts them in
Microsoft's examples: versions ``0.2``/``1.0.0``/none, ``{"claim", "condition", "value"}``, dotted claim names,
``"equals": "false"`` against a boolean claim and ``"0"`` against a number. Knobs for attack tests:
``chain_variant`` (see :class:`_SigningChains`), ``replay_next`` (answer the next release with an earlier
response), ``substitute_key``.

This evaluator is deliberately separate from bigdl_ppml_az.kms.skr_policy, so tests compare two readings of
the grammar. Extension for development only: an authority named ``none`` admits unsigned tokens
(``attestation=none``); Azure has no such authority.
"""

from __future__ import annotations

import base64
import collections
import datetime
import ipaddress
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
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


_DAY = datetime.timedelta(days=1)
CHAIN_VARIANTS = ("good", "foreign", "other-host", "wrong-host", "non-ca-issuer", "expired", "key-usage",
                  "client-auth-only", "path-length")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _usage(*, sign: bool = False, cert_sign: bool = False, encipher: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=encipher,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def _cert(subject: str, key: rsa.RSAPrivateKey, issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None, *,
          ca: bool, path_length: int | None = None, hosts: tuple[str, ...] = (), usage: x509.KeyUsage | None = None,
          eku: tuple[x509.ObjectIdentifier, ...] | None = None, not_before: datetime.datetime | None = None,
          not_after: datetime.datetime | None = None,
          extra: tuple[tuple[x509.ExtensionType, bool], ...] = ()) -> x509.Certificate:
    """A certificate in the Web PKI shape real Key Vault signing chains have (RFC 5280 + CA/B Forum profile, the
    one cryptography's server verifier and Go's x509.Verify apply): subject/authority key identifiers, critical
    basic constraints and key usage, and on leaves a subjectAltName and extended key usage (default serverAuth +
    clientAuth, as Azure's TLS leaves carry). ``extra``: further (extension, critical) pairs for forgeries."""
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (_name(subject), key)
    builder = (
        x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - datetime.timedelta(minutes=5)).not_valid_after(not_after or now + _DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if not ca:
        purposes = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH) if eku is None else eku
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(purposes)), critical=False)
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _der_b64(*certs: x509.Certificate) -> list[str]:
    return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certs]


class _SigningChains:
    """Release-signing chains: a root CA (``release-ca.pem``, the trust root tests configure) -> intermediate CA ->
    leaf for the emulator's host (127.0.0.1 and localhost; key usage digitalSignature), and forged variants.

    ``x5c`` is leaf first without the root, as TLS servers send chains. Forgeries (``chain_variant``): ``foreign``
    (a chain to another root), ``other-host`` (a genuine-looking leaf of the trusted CA for a public site),
    ``wrong-host`` (a leaf of the trusted CA for other vaults' names),
    ``non-ca-issuer`` (a leaf for this host issued by an ordinary leaf of the trusted CA), ``expired``,
    ``key-usage`` (keyEncipherment only), ``client-auth-only`` (extended key usage clientAuth, no serverAuth),
    ``path-length`` (the intermediate, pathLenConstraint 0, issued a further CA that issued the leaf).
    """

    HOSTS = ("127.0.0.1", "localhost")

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        root_key, inter_key = _new_key(), _new_key()
        root = _cert("kv emulator release root CA", root_key, None, ca=True, path_length=1,
                     usage=_usage(cert_sign=True))
        self._inter = _cert("kv emulator release CA", inter_key, (root.subject, root_key), ca=True, path_length=0,
                            usage=_usage(cert_sign=True))
        self._signer = (self._inter.subject, inter_key)
        self.root_path = directory / "release-ca.pem"
        self.root_path.write_bytes(root.public_bytes(serialization.Encoding.PEM))
        self._chains: dict[str, tuple[rsa.RSAPrivateKey, list[str]]] = {}
        self._lock = threading.Lock()

    def get(self, variant: str) -> tuple[rsa.RSAPrivateKey, list[str]]:
        """(signing key, x5c) of a variant; forgeries are made on first use (key generation is slow)."""
        with self._lock:
            if variant not in self._chains:
                self._chains[variant] = self._make(variant)
            return self._chains[variant]

    def _leaf(self, variant: str, issuer: tuple[x509.Name, rsa.RSAPrivateKey], *extra: x509.Certificate,
              **kwargs: Any) -> tuple[rsa.RSAPrivateKey, list[str]]:
        key = _new_key()
        kwargs.setdefault("hosts", self.HOSTS)
        kwargs.setdefault("usage", _usage(sign=True))
        cert = _cert(f"kv emulator key release signing ({variant})", key, issuer, ca=False, **kwargs)
        return key, _der_b64(cert, *extra)

    def _make(self, variant: str) -> tuple[rsa.RSAPrivateKey, list[str]]:
        now = datetime.datetime.now(datetime.UTC)
        if variant == "good":
            return self._leaf(variant, self._signer, self._inter)
        if variant == "foreign":
            foreign_key = _new_key()
            foreign = _cert("another CA", foreign_key, None, ca=True, usage=_usage(cert_sign=True))
            return self._leaf(variant, (foreign.subject, foreign_key), foreign)
        if variant == "other-host":
            return self._leaf(variant, self._signer, self._inter, hosts=("www.example.com",))
        if variant == "wrong-host":  # a genuine-looking Key Vault signing leaf, but for other vaults
            hosts = ("myvault.vault.azure.net", "*.vault.azure.net")
            return self._leaf(variant, self._signer, self._inter, hosts=hosts)
        if variant == "non-ca-issuer":
            plain_key = _new_key()
            plain = _cert("an ordinary leaf of the trusted CA", plain_key, self._signer, ca=False,
                          hosts=("www.example.org",), usage=_usage(sign=True, cert_sign=True))
            return self._leaf(variant, (plain.subject, plain_key), plain, self._inter)
        if variant == "expired":
            return self._leaf(variant, self._signer, self._inter, not_before=now - 3 * _DAY, not_after=now - _DAY)
        if variant == "key-usage":
            return self._leaf(variant, self._signer, self._inter, usage=_usage(encipher=True))
        if variant == "client-auth-only":
            return self._leaf(variant, self._signer, self._inter, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
        if variant == "path-length":
            sub_key = _new_key()
            sub = _cert("a CA below the path length limit", sub_key, self._signer, ca=True,
                        usage=_usage(cert_sign=True))
            return self._leaf(variant, (sub.subject, sub_key), sub, self._inter)
        raise ValueError(f"unknown chain variant {variant!r}; one of {', '.join(CHAIN_VARIANTS)}")


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class KeyRelease:
    def __init__(self, owner: Any, workdir: Path) -> None:
        self.owner = owner
        self._chains = _SigningChains(workdir / "kv-release")
        self.release_ca_path = self._chains.root_path
        self.authority_cas: list[str] = []  # CA bundles to trust when fetching an authority's /certs
        self.jwks_fetches = 0
        self.released_to: collections.Counter[str] = collections.Counter()  # runtime key kid -> releases
        self._lock = threading.Lock()
        self.responses: list[str] = []  # every release response value, in order (tests replay them)
        self.reset()

    def reset(self) -> None:
        self.substitute_key: rsa.RSAPrivateKey | None = None  # tests: release another key than the one named
        self.chain_variant = "good"
        self.replay_next: str | None = None

    # ---- policy -------------------------------------------------------------------------------------------
    def check_policy(self, release_policy: dict[str, Any]) -> None:
        from kv_emulator import KvError

        try:
            policy = json.loads(_unb64u(str(release_policy.get("data", ""))))
        except ValueError:
            raise KvError(400, "BadParameter", "release_policy.data is not base64url JSON") from None
        if not isinstance(policy, dict) or not isinstance(policy.get("anyOf"), list):
            raise KvError(400, "BadParameter", "release policy needs anyOf")
        if policy.get("version", "1.0.0") not in ("0.2", "1.0.0", "1.0.1", "1.0.2"):
            raise KvError(400, "BadParameter", f"release policy version {policy.get('version')!r} is not supported")

    @staticmethod
    def _claim(claims: dict[str, Any], name: str) -> tuple[bool, Any]:
        if name in claims:
            return True, claims[name]
        node: Any = claims
        for part in name.split("."):
            if not isinstance(node, dict) or part not in node:
                return False, None
            node = node[part]
        return True, node

    @staticmethod
    def _same(value: Any, want: Any) -> bool:
        """Both sides as text, the way a string policy value meets a typed claim: booleans as true/false,
        numbers by value; objects and arrays never match."""

        def canon(v: Any) -> tuple[str, Any]:
            if isinstance(v, bool):
                return ("bool", v)
            if isinstance(v, (int, float)):
                return ("num", float(v))
            if isinstance(v, str):
                return ("str", v)
            return ("other", id(v))

        (kind_a, a), (kind_b, b) = canon(value), canon(want)
        if kind_a == kind_b:
            return bool(a == b) and kind_a != "other"
        if "str" not in (kind_a, kind_b) or "other" in (kind_a, kind_b):
            return False
        text, (kind, typed) = (a, (kind_b, b)) if kind_a == "str" else (b, (kind_a, a))
        if kind == "bool":
            return str(text).lower() == ("true" if typed else "false")
        try:
            return float(str(text)) == typed and str(text).strip().lower() not in ("nan", "inf", "-inf")
        except ValueError:
            return False

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
        present, value = KeyRelease._claim(claims, name)
        if "condition" in cond:  # {"claim", "condition": "equals", "value"}: the REST spec example's form
            cond = {"claim": name, str(cond["condition"]): cond.get("value")}
        for op, want in cond.items():
            if op == "claim":
                continue
            if op == "exists":
                ok = present == bool(want)
            elif not present:
                ok = False
            elif op == "equals":
                ok = KeyRelease._same(value, want)
            elif op == "notEquals":
                ok = not KeyRelease._same(value, want)
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
            signing = [k for k in jwks.get("keys", []) if header.get("kid") and k.get("kid") == header.get("kid")]
            verified = False
            for jwk in signing:
                public = self._jwk_key(jwk)
                if public is None:
                    continue
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
        with self._lock:
            variant = self.chain_variant
            replay, self.replay_next = self.replay_next, None
        signing_key, chain = self._chains.get(variant)
        head = _b64u(json.dumps({"alg": "RS256", "x5c": chain, "kid": "release-signing"}).encode())
        pay = _b64u(json.dumps(payload).encode())
        signature = signing_key.sign(f"{head}.{pay}".encode(), padding.PKCS1v15(), hashes.SHA256())
        value = replay or f"{head}.{pay}.{_b64u(signature)}"
        with self._lock:
            self.responses.append(value)
        return {"value": value}

    @staticmethod
    def _jwk_key(jwk: dict[str, Any]) -> rsa.RSAPublicKey | None:
        """An authority's signing key: the x5c leaf's key (n/e, if also given, must be the same key)."""
        from_ne = None
        if "n" in jwk and "e" in jwk:
            from_ne = rsa.RSAPublicNumbers(int.from_bytes(_unb64u(jwk["e"]), "big"),
                                           int.from_bytes(_unb64u(jwk["n"]), "big")).public_key()
        if not jwk.get("x5c"):
            return from_ne
        public = x509.load_der_x509_certificate(base64.b64decode(jwk["x5c"][0])).public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            return None
        if from_ne is not None and from_ne.public_numbers() != public.public_numbers():
            return None
        return public
