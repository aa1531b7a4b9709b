"""``azure-skr``: Azure Key Vault / Managed HSM Secure Key Release, keys only for attested workers.

The primary key is an *exportable* RSA-HSM key with a release policy. Writers wrap data keys locally with its
public key (RSA-OAEP-256; no release, no attestation). A worker that must unwrap:

1. generates an ephemeral RSA key pair in memory and puts its public key (a JWK set) in the *runtime data*;
2. obtains attestation evidence binding that runtime data from the provider of option ``attestation``
   (``sgx-gramine``, ``sevsnp-sidecar``, ``none``; see :mod:`.attestation`) and an MAA token for it;
3. calls Key Vault ``release`` with the token; Key Vault checks the token against the key's policy and returns a
   signed JWS holding the key wrapped to the ephemeral public key (``RSA_AES_KEY_WRAP_256`` by default:
   RSA-OAEP of a temporary AES key, then AES key wrap with padding, RFC 5649, of the PKCS#8 private key);
4. verifies that JWS (certificate chain to ``releaseTrustRoots``, RS256 signature, names the requested key id,
   carries the public key it claims), unwraps the private key, and unwraps data keys locally.

The released key stays in this process's memory, at most until the attestation token's ``exp``; there is at
most one release per (process, backend identity, key version, token lifetime). It never enters a log, a
pickle, or an error message.

Options: all of kms=azure (``vault``, ``primaryKeyId``/``primaryKeyName``/``primaryKeyPath``, ``clientId``,
``credential``, ``connectionVerify``, ``verifyChallengeResource``, ``kmsRetry*``, ``kmsTimeout``), plus
``attestation`` (required), ``maaEndpoint``, the provider's options, ``releaseTrustRoots`` (PEM bundle the
release response's signing chain must reach; default: ``connectionVerify``, else the system CA store),
``releaseAlgorithm`` (``RSA_AES_KEY_WRAP_256`` | ``RSA_AES_KEY_WRAP_384`` | ``CKM_RSA_AES_KEY_WRAP``),
``runtimeKeySize`` (ephemeral RSA bits, default 2048: the size Microsoft's SKR sidecar generates and assumes).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlparse

from azure.core.exceptions import AzureError, HttpResponseError
from azure.keyvault.keys import KeyVaultKey, KeyVaultKeyIdentifier
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from ..errors import ConfigError, KmsError, WrongKeyError
from . import AZURE, KmsSettings, WrappedKey, _jose, attestation, skr_policy
from .azure import _RETRY_METHODS, RSA_OAEP, RSA_OAEP_256, AzureKms, _Options, _same_vault
from .registry import SKR_ALIASES

SKR = "azure-skr"
SKR_LOGGER = "bigdl_ppml_az.kms.skr"  # a child of kms.UNWRAP_LOGGER; records carry no ``key_id`` attribute
ALIASES = (SKR, *SKR_ALIASES)  # every spelling of kms=azure-skr; the aliases are defined in kms.registry
DEFAULT_RELEASE_ALGORITHM = "RSA_AES_KEY_WRAP_256"
DEFAULT_RUNTIME_KEY_SIZE = 2048  # what the SKR sidecar and Microsoft's samples generate; see docs/ATTESTATION.md
MANAGED_HSM_SUFFIX = ".managedhsm.azure.net"
_RELEASE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RSA_AES_KEY_WRAP_256": hashes.SHA256,
    "RSA_AES_KEY_WRAP_384": hashes.SHA384,
    "CKM_RSA_AES_KEY_WRAP": hashes.SHA1,
}
_WRAP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {RSA_OAEP_256: hashes.SHA256, RSA_OAEP: hashes.SHA1}
_AZURE_OPTIONS = frozenset(
    ["vault", "vaultUrl", "primaryKeyId", "primaryKeyName", "primaryKeyPath", "clientId", "credential",
     "connectionVerify", "verifyChallengeResource", "kmsRetryTotal", "kmsRetryBackoff", "kmsRetryBackoffMax",
     "kmsTimeout"]
)
_MIN_LIFETIME = 30.0  # a token closer than this to exp is not worth a release: attest again

_lock = threading.Lock()
_key_locks: dict[tuple[str, str], threading.Lock] = {}
_released: dict[tuple[str, str], _Released] = {}
_log = logging.getLogger(SKR_LOGGER)


def _record(call: str, key_id: str) -> None:
    """One DEBUG record per attestation and per Key Vault release: the observation point for tests and
    measurements (``skr_call`` is "attestation" or "release"). Only the key's id, never key material."""
    if _log.isEnabledFor(logging.DEBUG):
        extra = {"skr_call": call, "kms_type": SKR, "skr_key_id": key_id}
        _log.debug("skr %s pid=%d key_id=%s", call, os.getpid(), key_id, extra=extra)


class _Released:
    """A released private key and when it must be forgotten. Never printable, never picklable."""

    __slots__ = ("expires_at", "key_id", "private_key")

    def __init__(self, key_id: str, private_key: rsa.RSAPrivateKey, expires_at: float) -> None:
        self.key_id, self.private_key, self.expires_at = key_id, private_key, expires_at

    def __repr__(self) -> str:
        until = time.strftime("%H:%M:%S", time.gmtime(self.expires_at))
        return f"<released key {self.key_id} (in memory until {until} UTC)>"

    def __reduce__(self) -> Any:
        raise TypeError("a released key never leaves the process that attested for it")


@dataclass(frozen=True)
class _Ephemeral:
    private_key: rsa.RSAPrivateKey
    kid: str
    runtime_data: bytes
    jwk: dict[str, Any]


def _ephemeral(bits: int) -> _Ephemeral:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    jwk = _jose.rsa_public_jwk(key.public_key(), "")
    jwk["kid"] = _jose.jwk_thumbprint(jwk)
    runtime = json.dumps({"keys": [jwk]}, separators=(",", ":"), sort_keys=True).encode()
    return _Ephemeral(key, str(jwk["kid"]), runtime, jwk)


def forget_released_keys() -> None:
    """Drop every released key of this process (tests; a long-lived driver after a job)."""
    with _lock:
        _released.clear()


class AzureSkrKms:
    """Secure Key Release backend; build it with :meth:`from_settings` (cached per process by ``build_kms``)."""

    kms_type = SKR
    name: ClassVar[str] = SKR
    aliases: ClassVar[tuple[str, ...]] = ALIASES
    # Workers cannot unwrap a driver-made data key without attesting, so ppml-gcm writers make one per task.
    per_task_data_keys: ClassVar[bool] = True
    OPTIONS: ClassVar[frozenset[str]] = (
        _AZURE_OPTIONS
        | frozenset(["attestation", "maaEndpoint", "releaseTrustRoots", "releaseAlgorithm", "runtimeKeySize"])
        | frozenset().union(*attestation.PROVIDER_OPTIONS.values())
    )
    option_names: ClassVar[tuple[str, ...]] = tuple(sorted(OPTIONS))

    def __init__(
        self,
        kv: AzureKms,
        provider: attestation.EvidenceProvider | None,
        *,
        provider_error: str = "",
        trust_roots: str | None = None,
        release_algorithm: str = DEFAULT_RELEASE_ALGORITHM,
        runtime_key_size: int = DEFAULT_RUNTIME_KEY_SIZE,
        maa_ca_bundle: str | None = None,
        identity_parts: tuple[str, ...] = (),
    ) -> None:
        self._kv = kv
        self._provider = provider
        self._provider_error = provider_error
        self._trust_roots_path = trust_roots
        self._roots: list[x509.Certificate] | None = None
        self._release_algorithm = release_algorithm
        self._runtime_bits = runtime_key_size
        self._maa_ca = maa_ca_bundle
        self._identity = "|".join((SKR, kv.vault_url, *identity_parts, provider.identity if provider else "-"))

    # ---- construction ---------------------------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: KmsSettings) -> AzureSkrKms:
        return cls.from_options(dict(settings.options))

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> AzureSkrKms:
        """No network here. ``attestation`` may be absent for writers (wrapping needs no evidence)."""
        opts = _Options(options)
        kv = AzureKms.from_options(options)
        provider: attestation.EvidenceProvider | None = None
        provider_error = ""
        if opts.get("attestation"):
            provider = attestation.build_provider({k: v for k, v in options.items() if v is not None})
        else:
            provider_error = (
                "option attestation is required to read with kms=azure-skr: sgx-gramine (Gramine SGX enclave), "
                "sevsnp-sidecar (confidential containers) or none (development)"
            )
        algorithm = (opts.get("releaseAlgorithm") or DEFAULT_RELEASE_ALGORITHM).upper()
        if algorithm not in _RELEASE_HASHES:
            raise ConfigError(f"option releaseAlgorithm={algorithm}: use one of {', '.join(_RELEASE_HASHES)}")
        bits_text = opts.get("runtimeKeySize") or str(DEFAULT_RUNTIME_KEY_SIZE)
        if bits_text not in ("2048", "3072", "4096"):
            raise ConfigError(f"option runtimeKeySize={bits_text}: use 2048, 3072 or 4096")
        key_ref = opts.get("primaryKeyId") or opts.get("primaryKeyName") or opts.get("primaryKeyPath") or ""
        identity_parts = (key_ref, opts.get("credential") or "default", opts.get("clientId") or "")
        return cls(
            kv,
            provider,
            provider_error=provider_error,
            trust_roots=opts.get("releaseTrustRoots") or opts.get("connectionVerify"),
            release_algorithm=algorithm,
            runtime_key_size=int(bits_text),
            maa_ca_bundle=opts.get("maaCaBundle") or opts.get("connectionVerify"),
            identity_parts=identity_parts,
        )

    @property
    def identity(self) -> str:
        """Vault, key, credential and evidence source: what decides which keys this backend can unwrap."""
        return self._identity

    @property
    def key_id(self) -> str:
        return self._kv.key_id

    def __repr__(self) -> str:
        return f"AzureSkrKms({self._kv.vault_url})"

    def __reduce__(self) -> Any:
        raise TypeError("AzureSkrKms holds clients and released keys; pickle its KmsSettings and call build_kms")

    def close(self) -> None:
        self._kv.close()

    # ---- wrapping (public key only) -------------------------------------------------------------------------
    def _primary_public(self) -> tuple[str, rsa.RSAPublicKey]:
        key = self._kv._primary()
        _require_releasable(key)
        n, e = getattr(key.key, "n", None), getattr(key.key, "e", None)
        if not n or not e:
            raise KmsError(f"Key Vault key {key.id} is not an RSA key; azure-skr needs an exportable RSA-HSM key")
        public = rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big")).public_key()
        return str(key.id), public

    def wrap(self, data_key: bytes, *, compat: str = "") -> WrappedKey:
        """RSA-OAEP-256 under the primary key's public key (RSA-OAEP for ``compat="bigdl"``), locally."""
        algorithm = RSA_OAEP if compat.lower() == "bigdl" else RSA_OAEP_256
        key_id, public = self._primary_public()
        digest = _WRAP_HASHES[algorithm]
        ciphertext = public.encrypt(data_key, padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None))
        return WrappedKey(SKR, key_id, algorithm, ciphertext)

    def pme_master_key(self, master: str, source: str = "") -> tuple[AzureSkrKms, str, str]:
        """For the PME adapter (``kms/pme_client.py``): (this backend, its configured key, RSA-OAEP-256).

        :meth:`wrap` always uses the configured key with RSA-OAEP-256, whatever master key id PME names, so the
        unwrap must say that algorithm; without this the adapter unwrapped with none given, i.e. RSA-OAEP (SHA-1),
        and every Parquet Modular Encryption read of an azure-skr write failed. The master id in a file is
        untrusted and names no other key here."""
        return self, "", RSA_OAEP_256

    # ---- unwrapping (released key) ---------------------------------------------------------------------------
    def unwrap(self, wrapped: WrappedKey) -> bytes:
        if wrapped.kms_type and wrapped.kms_type not in (SKR, AZURE):
            raise WrongKeyError(
                f"data key was wrapped by kms {wrapped.kms_type} (key {wrapped.key_id}), not Azure Key Vault; "
                "read it with that kms"
            )
        algorithm = wrapped.algorithm or RSA_OAEP
        if algorithm not in _WRAP_HASHES:
            raise WrongKeyError(f"unsupported wrap algorithm {algorithm!r} for kms=azure-skr")
        key_id = self._kv._unwrap_key_id(wrapped.key_id or None)
        released = self._released_key(key_id)
        digest = _WRAP_HASHES[algorithm]
        try:
            return released.private_key.decrypt(
                wrapped.ciphertext, padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)
            )
        except ValueError:
            raise WrongKeyError(
                f"released key {key_id} could not unwrap this data key: wrong key or algorithm, or the wrapped key "
                "is damaged"
            ) from None

    def _released_key(self, key_id: str) -> _Released:
        slot = (self._identity, key_id)
        with _lock:
            hit = _released.get(slot)
            if hit is not None and hit.expires_at - _MIN_LIFETIME > time.time():
                return hit
            key_lock = _key_locks.setdefault(slot, threading.Lock())
        with key_lock:  # one release per slot at a time: concurrent tasks wait for the first
            with _lock:
                hit = _released.get(slot)
                if hit is not None and hit.expires_at - _MIN_LIFETIME > time.time():
                    return hit
                _released.pop(slot, None)
            released = self._release(key_id)
            with _lock:
                _released[slot] = released
            return released

    def _release(self, key_id: str) -> _Released:
        if self._provider is None:
            raise ConfigError(self._provider_error)
        ident = KeyVaultKeyIdentifier(key_id)
        if self._provider.name == "none":
            self._refuse_unattested_unless_allowed(ident)
        ephemeral = _ephemeral(self._runtime_bits)
        token = self._provider.attestation_token(ephemeral.runtime_data)
        _record("attestation", key_id)
        if self._provider.name != "none":
            attestation.check_token_binding(token, getattr(self._provider, "maa", None), ephemeral.jwk)
        _, claims = attestation.token_claims(token)
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)):
            raise KmsError("attestation token has no exp claim; the released key's lifetime could not be bounded")
        nonce = secrets.token_urlsafe(16)
        try:  # retried like every other Key Vault call (408, 429, 500, 502, 503, 504), POST included
            result = self._kv._keys().release_key(
                ident.name, token, version=ident.version or None, algorithm=self._release_algorithm,
                nonce=nonce, retry_on_methods=_RETRY_METHODS,
            )
        except HttpResponseError as exc:
            raise self._refused(exc, key_id, token) from None
        except AzureError as exc:
            raise self._kv._error(exc, "release", key_id) from None
        _record("release", key_id)
        log = os.environ.get("PPML_AZ_SKR_CALL_LOG")
        if log:  # test hook: releases across worker processes (pid and key id only)
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()} release {key_id}\n")
        private = self._open_release(str(result.value), key_id, ephemeral, nonce)
        return _Released(key_id, private, float(exp))

    def _refuse_unattested_unless_allowed(self, ident: KeyVaultKeyIdentifier) -> None:
        policy = self._policy_of(ident)
        if policy is None or not skr_policy.allows_unattested(policy):
            raise ConfigError(
                f"option attestation=none: the release policy of key {ident.source_id} admits no unattested "
                "release (no authority \"none\"); use attestation=sgx-gramine or sevsnp-sidecar"
            )

    def _policy_of(self, ident: KeyVaultKeyIdentifier) -> dict[str, Any] | None:
        try:
            key = self._kv._keys().get_key(ident.name, ident.version or None)
        except AzureError:
            return None
        policy = key.properties.release_policy
        if policy is None or not policy.encoded_policy:
            return None
        try:
            return skr_policy.parse_policy(policy.encoded_policy, f"release policy of {key.id}")
        except ConfigError:
            return None

    def _refused(self, exc: HttpResponseError, key_id: str, token: str) -> KmsError:
        """Name what did not match: the token itself (signature, issuer, expiry) or the first failing claim."""
        service = _service_message(exc)
        status = exc.status_code
        if status in (401,) or (status == 403 and "permission" in service.lower()):
            return KmsError(
                f"permission denied on Key Vault key {key_id} for release using "
                f"{self._kv.credential_source or 'the configured credential'}: grant the identity keys/release "
                f"(role {release_role(self._kv.vault_url)}); {service}"
            )
        reason = ""
        if status in (400, 403):
            reason = attestation.verify_maa_token(token, ca_bundle=self._maa_ca)
            if not reason:
                policy = self._policy_of(KeyVaultKeyIdentifier(key_id))
                if policy is not None:
                    _, claims = attestation.token_claims(token)
                    reason = skr_policy.evaluate(policy, claims, str(claims.get("iss", ""))).reason
        detail = reason or service
        return KmsError(f"Key Vault refused to release key {key_id} to this worker (HTTP {status}): {detail}")

    def _trusted_roots(self) -> list[x509.Certificate]:
        if self._roots is None:
            path = self._trust_roots_path or ssl.get_default_verify_paths().cafile
            if not path:
                raise ConfigError(
                    "option releaseTrustRoots is required: no system CA bundle to check the release signature with"
                )
            try:
                self._roots = _jose.load_pem_bundle(path)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"option releaseTrustRoots={path}: cannot load PEM certificates ({exc})") from None
        return self._roots

    def _open_release(self, value: str, key_id: str, ephemeral: _Ephemeral, nonce: str | None = None
                      ) -> rsa.RSAPrivateKey:
        """Verify the release JWS and unwrap the key it carries; any mismatch is refused before the key is used."""
        what = f"release response for {key_id}"
        try:
            jws = _jose.parse_jws(value, what)
            host = urlparse(KeyVaultKeyIdentifier(key_id).vault_url).hostname or ""
            leaf = _jose.verify_x5c(jws.header.get("x5c"), self._trusted_roots(), what, host=host)
            public = leaf.public_key()
            if not isinstance(public, rsa.RSAPublicKey):
                raise _jose.JoseError(f"{what}: signing certificate is not RSA")
            _jose.verify_rs256(jws, public, what)
            key = ((jws.payload.get("response") or {}).get("key") or {}).get("key") or {}
            if not isinstance(key, dict) or not _same_key_id(str(key.get("kid", "")), key_id):
                raise _jose.JoseError(f"{what}: names key {key.get('kid')!r}, not the requested {key_id}")
            echoed = (jws.payload.get("request") or {}).get("nonce")
            if nonce is not None and echoed is not None and echoed != nonce:
                raise _jose.JoseError(f"{what}: answers another request (nonce differs): a replayed response")
            expected_public = _jose.rsa_public_from_jwk(key)
            hsm = json.loads(_jose.unb64url(str(key.get("key_hsm", ""))))
        except (_jose.JoseError, ValueError, AttributeError) as exc:
            raise KmsError(f"refusing the key release: {exc}") from None
        header = hsm.get("header") if isinstance(hsm, dict) else None
        if not isinstance(header, dict) or header.get("kid") != ephemeral.kid:
            raise KmsError(f"refusing the key release: {what} is wrapped to another runtime key (a replayed or "
                           "redirected response)")
        algorithm = str(header.get("enc", ""))
        if algorithm != self._release_algorithm:
            raise KmsError(f"refusing the key release: {what} uses {algorithm!r}, not {self._release_algorithm}")
        try:
            blob = _jose.unb64url(str(hsm.get("ciphertext", "")))
            size = ephemeral.private_key.key_size // 8
            digest = _RELEASE_HASHES[algorithm]
            aes_key = ephemeral.private_key.decrypt(
                blob[:size], padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)
            )
            der = aes_key_unwrap_with_padding(aes_key, blob[size:])
            private = serialization.load_der_private_key(der, password=None)
        except (ValueError, InvalidUnwrap, TypeError, _jose.JoseError):
            raise KmsError(f"refusing the key release: {what} does not unwrap with this worker's runtime key") from None
        if not isinstance(private, rsa.RSAPrivateKey) or (
            private.public_key().public_numbers() != expected_public.public_numbers()
        ):
            raise KmsError(f"refusing the key release: the key in {what} does not match the key it names")
        return private


def release_role(vault_url: str) -> str:
    """The built-in role that grants ``release``: Managed HSM has its own (local RBAC) role name."""
    host = (urlparse(vault_url).hostname or "").lower()
    if host.endswith(MANAGED_HSM_SUFFIX):
        return "Managed HSM Crypto Service Release User"
    return "Key Vault Crypto Service Release User"


def _same_key_id(a: str, b: str) -> bool:
    try:
        x, y = KeyVaultKeyIdentifier(a), KeyVaultKeyIdentifier(b)
    except (ValueError, TypeError):
        return False
    return _same_vault(x.vault_url, y.vault_url) and x.name == y.name and (x.version or "") == (y.version or "")


def _require_releasable(key: KeyVaultKey) -> None:
    if key.properties.exportable is not True or key.properties.release_policy is None:
        raise KmsError(
            f"Key Vault key {key.id} is not exportable with a release policy, so no enclave could ever unwrap data "
            "wrapped to it; create the key with `ppml-az keys create --kms azure-skr` (or use kms=azure)"
        )


def _service_message(exc: HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None)
    if not message and exc.response is not None:
        try:
            body = json.loads(exc.response.text())
            message = (body.get("error") or {}).get("message")
        except Exception:  # noqa: BLE001 - a non-JSON body just has no message
            message = None
    text = str(message or exc.reason or exc).strip()
    return text.splitlines()[0][:400] if text else f"HTTP {exc.status_code}"





def create_release_key(
    vault: str,
    name: str,
    policy: dict[str, Any],
    *,
    key_size: int = 3072,
    options: Mapping[str, str] | None = None,
    immutable: bool = False,
) -> str:
    """Create an exportable RSA-HSM key with ``policy`` as its release policy; return its key id.

    Its key operations are only ``wrapKey``/``encrypt``: even an identity granted ``unwrapKey`` cannot unwrap
    with it inside Key Vault, so the release policy is the only way to the private key.
    """
    from azure.keyvault.keys import KeyReleasePolicy

    if key_size not in (2048, 3072, 4096):
        raise ConfigError(f"--key-size {key_size}: Key Vault RSA keys are 2048, 3072 or 4096 bits")
    if not name or not all(ch.isalnum() or ch == "-" for ch in name):
        raise ConfigError(f"Key Vault key name {name!r} may contain only letters, digits and '-'")
    skr_policy.parse_policy(policy, "release policy")
    kms = AzureKms.from_options({**dict(options or {}), "vault": vault})
    encoded = json.dumps(policy, separators=(",", ":")).encode()
    try:
        key = kms._keys().create_rsa_key(
            name,
            size=key_size,
            hardware_protected=True,
            exportable=True,
            release_policy=KeyReleasePolicy(
                encoded, content_type="application/json; charset=utf-8", immutable=immutable
            ),
            key_operations=["wrapKey", "encrypt"],
        )
    except HttpResponseError as exc:
        if exc.status_code == 400:
            raise KmsError(
                f"Key Vault {kms.vault_url} refused an exportable RSA-HSM key ({_service_message(exc)}): Secure Key "
                "Release needs a Premium vault or a Managed HSM"
            ) from None
        raise kms._error(exc, "create", f"{kms.vault_url}/keys/{name}") from None
    except AzureError as exc:
        raise kms._error(exc, "create", f"{kms.vault_url}/keys/{name}") from None
    finally:
        kms.close()
    return str(key.id)


def release_policy_of(options: Mapping[str, str]) -> tuple[str, dict[str, Any] | None]:
    """(key id, release policy or None) of the key the options name."""
    kms = AzureKms.from_options(options)
    try:
        key = kms._primary()
        policy = key.properties.release_policy
        if policy is None or not policy.encoded_policy:
            return str(key.id), None
        return str(key.id), skr_policy.parse_policy(policy.encoded_policy, f"release policy of {key.id}")
    finally:
        kms.close()


__all__ = [
    "ALIASES",
    "DEFAULT_RELEASE_ALGORITHM",
    "SKR",
    "SKR_LOGGER",
    "AzureSkrKms",
    "create_release_key",
    "forget_released_keys",
    "release_policy_of",
    "release_role",
]
