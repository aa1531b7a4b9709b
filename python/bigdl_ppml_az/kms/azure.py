"""Azure Key Vault KMS (BigDL's ``AzureKeyManagementService``): RSA primary key in Key Vault, RSA-OAEP wrapping.

Data keys are 32 random bytes wrapped with RSA-OAEP-256 (RSA-OAEP, i.e. SHA-1, when writing BigDL-compatible
data, which is what BigDL's own Azure KMS used). Unwrapping always happens in Key Vault: the private key never
leaves it. Everything goes through ``azure-keyvault-keys`` (KeyClient, CryptographyClient) with azure-core's
RetryPolicy, so throttling (429 + Retry-After) and transient 5xx are retried, while 401/403/404 fail at once
with a :class:`KmsError` that names the key and what to grant or fix.

Options (from :class:`KmsSettings`; plain strings, so each Spark worker builds its own client):

* ``vault``: vault name (``https://<name>.vault.azure.net``) or URL; ``vaultUrl`` is an alias.
* ``primaryKeyId`` (key URL, with or without version), ``primaryKeyName``, or ``primaryKeyPath`` (a BigDL /
  ``ppml-az keys create`` primary key file holding the key id). For reading ppml-gcm data only ``vault`` is
  needed: the envelope names the key version that wrapped each data key.
* ``clientId``: client id of a user-assigned managed identity (as on AKS); otherwise DefaultAzureCredential
  reads its usual environment (AZURE_CLIENT_ID, AZURE_TENANT_ID, workload identity, az login...).
* ``credential``: ``default`` | ``managed-identity`` | ``workload-identity`` | ``azure-cli`` | ``environment``,
  or ``emulator`` (tests only: a fixed fake token, accepted only for loopback vault URLs).
* ``connectionVerify``: CA bundle path for the vault's TLS certificate (emulators, TLS-inspecting proxies).
* ``verifyChallengeResource``: ``false`` to accept a bearer challenge whose resource is not the vault's domain
  (emulators and private endpoints with custom DNS).
* ``kmsRetryTotal`` (default 10), ``kmsRetryBackoff`` seconds (default 0.8), ``kmsRetryBackoffMax`` (60),
  ``kmsTimeout`` seconds to wait for each Key Vault answer (default 60; a timed-out call is retried).

Environment fallbacks for the same settings (used by the CLI): ``PPML_AZ_KV_CREDENTIAL``,
``PPML_AZ_KV_CA_BUNDLE``, ``PPML_AZ_KV_VERIFY_CHALLENGE_RESOURCE``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import RetryPolicy
from azure.keyvault.keys import KeyClient, KeyVaultKey, KeyVaultKeyIdentifier
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm

from ..errors import ConfigError, KmsError, WrongKeyError
from . import AZURE, BIGDL_COMPAT, KmsSettings, WrappedKey
from .bigdl_keys import read_primary_key_id
from .registry import AZURE_ALIASES

RSA_OAEP_256 = KeyWrapAlgorithm.rsa_oaep_256.value
RSA_OAEP = KeyWrapAlgorithm.rsa_oaep.value  # SHA-1 OAEP: what BigDL's AzureKeyManagementService wrapped with
DEFAULT_KEY_SIZE = 3072
EMULATOR_TOKEN = "ppml-az-kv-emulator-token"  # the fixed fake bearer token of credential=emulator (tests only)
_RETRY_METHODS = frozenset(["GET", "POST", "PATCH"])  # wrap/unwrap/get are idempotent; create is only retried on 5xx
_PERMISSIONS = "get, wrapKey, unwrapKey"
_CREDENTIAL_KINDS = ("default", "managed-identity", "workload-identity", "azure-cli", "environment", "emulator")


def vault_url_for(vault: str) -> str:
    """``https://<name>.vault.azure.net`` for a bare vault name; a URL is kept (without trailing slash)."""
    vault = vault.strip()
    if not vault:
        raise ConfigError("option 'vault' is empty; give the Key Vault name or URL")
    if "://" in vault:
        parsed = urlparse(vault)
        if parsed.scheme != "https" or not parsed.netloc:
            raise ConfigError(f"vault URL {vault!r} must be https://<host>[:port]")
        return f"https://{parsed.netloc}".lower()
    if not all(ch.isalnum() or ch == "-" for ch in vault):
        raise ConfigError(f"vault name {vault!r} is not a Key Vault name (letters, digits, '-') nor an https URL")
    return f"https://{vault.lower()}.vault.azure.net"


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _EmulatorCredential:
    """Fixed fake token for the test Key Vault emulator. Never valid against Azure; refused for non-loopback URLs."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(EMULATOR_TOKEN, int(time.time()) + 3600)


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"expected true or false, got {value!r}")


def _number(settings: _Options, name: str, default: float) -> float:
    raw = settings.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"option {name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"option {name} must not be negative, got {raw!r}")
    return value


class _Options:
    """Case-insensitive view of the backend options, with the environment fallbacks the CLI relies on."""

    _ENV = {
        "credential": "PPML_AZ_KV_CREDENTIAL",
        "connectionverify": "PPML_AZ_KV_CA_BUNDLE",
        "verifychallengeresource": "PPML_AZ_KV_VERIFY_CHALLENGE_RESOURCE",
    }

    def __init__(self, options: Mapping[str, str]) -> None:
        self._values = {key.lower(): value for key, value in options.items() if value is not None}

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._values.get(name.lower())
        if value is None and name.lower() in self._ENV:
            value = os.environ.get(self._ENV[name.lower()])
        return default if value is None or value == "" else value


def build_credential(kind: str | None, client_id: str | None, vault_url: str) -> tuple[TokenCredential, str]:
    """The token credential to use and a description of it for error messages (never a secret)."""
    kind = (kind or "default").strip().lower()
    if kind not in _CREDENTIAL_KINDS:
        raise ConfigError(f"unknown credential {kind!r}; use one of: {', '.join(_CREDENTIAL_KINDS)}")
    if kind == "emulator":
        if not _is_loopback(vault_url):
            raise ConfigError("credential=emulator is for the local test Key Vault emulator only (loopback URLs)")
        return _EmulatorCredential(), "the test emulator token"
    from azure import identity

    identity_text = f" (managed identity client id {client_id})" if client_id else ""
    if kind == "managed-identity":
        return identity.ManagedIdentityCredential(client_id=client_id), f"ManagedIdentityCredential{identity_text}"
    if kind == "workload-identity":
        kwargs = {"client_id": client_id} if client_id else {}
        return identity.WorkloadIdentityCredential(**kwargs), "WorkloadIdentityCredential"
    if kind == "azure-cli":
        return identity.AzureCliCredential(), "AzureCliCredential (az login)"
    if kind == "environment":
        return identity.EnvironmentCredential(), "EnvironmentCredential (AZURE_CLIENT_ID/AZURE_TENANT_ID/...)"
    credential = identity.DefaultAzureCredential(managed_identity_client_id=client_id)
    return credential, f"DefaultAzureCredential{identity_text}"


def _sdk_kwargs(
    retry: tuple[int, float, float], timeout: float, verify_challenge: bool, connection_verify: str | None
) -> dict[str, Any]:
    total, backoff, backoff_max = retry
    kwargs: dict[str, Any] = {
        "retry_policy": RetryPolicy(retry_total=total, retry_backoff_factor=backoff, retry_backoff_max=backoff_max),
        "verify_challenge_resource": verify_challenge,
        "connection_timeout": timeout,
        "read_timeout": timeout,
    }
    if connection_verify:
        kwargs["connection_verify"] = connection_verify
    return kwargs


def client_kwargs(options: Mapping[str, str]) -> dict[str, Any]:
    """Key Vault SDK client settings (retry policy, timeouts, CA bundle, challenge check) from the KMS's option
    names and environment fallbacks, so other Key Vault clients (the table head store) behave like the KMS."""
    opts = _Options(options)
    retry = (
        int(_number(opts, "kmsRetryTotal", 10)),
        _number(opts, "kmsRetryBackoff", 0.8),
        _number(opts, "kmsRetryBackoffMax", 60.0),
    )
    verify = _flag(opts.get("verifyChallengeResource"), True)
    return _sdk_kwargs(retry, _number(opts, "kmsTimeout", 60.0), verify, opts.get("connectionVerify"))


def credential_for(options: Mapping[str, str], vault_url: str) -> tuple[TokenCredential, str]:
    """:func:`build_credential` from the KMS's option names (``credential``, ``clientId``) and their fallbacks."""
    opts = _Options(options)
    return build_credential(opts.get("credential"), opts.get("clientId"), vault_url)


class AzureKms:
    """Key Vault backend. Clients are built lazily and per process; instances are cached by ``build_kms``."""

    kms_type = AZURE
    aliases = AZURE_ALIASES
    option_names = (
        "vault",
        "vaultUrl",
        "vaultName",
        "azureVault",
        "primaryKeyId",
        "primaryKeyName",
        "primaryKeyPath",
        "primaryKey",
        "clientId",
        "credential",
        "connectionVerify",
        "verifyChallengeResource",
        "kmsRetryTotal",
        "kmsRetryBackoff",
        "kmsRetryBackoffMax",
        "kmsTimeout",
    )

    def __init__(
        self,
        vault_url: str,
        key_id: str | None = None,
        key_name: str | None = None,
        *,
        client_id: str | None = None,
        credential_kind: str | None = None,
        connection_verify: str | None = None,
        verify_challenge_resource: bool = True,
        retry_total: int = 10,
        retry_backoff: float = 0.8,
        retry_backoff_max: float = 60.0,
        timeout: float = 60.0,
    ) -> None:
        self.vault_url = vault_url
        self._key_id = key_id
        self._key_name = key_name
        self._client_id = client_id
        self._credential_kind = credential_kind
        self._connection_verify = connection_verify
        self._verify_challenge = verify_challenge_resource
        self._retry = (retry_total, retry_backoff, retry_backoff_max)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._credential: TokenCredential | None = None
        self.credential_source = ""
        self._key_client: KeyClient | None = None
        self._crypto_clients: dict[str, CryptographyClient] = {}
        self._key: KeyVaultKey | None = None
        self._pme_backends: dict[str, AzureKms] = {}

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: KmsSettings) -> AzureKms:
        return cls.from_options(dict(settings.options))

    @classmethod
    def portable_options(cls, options: Mapping[str, str]) -> dict[str, str]:
        """``options`` with a primary key file replaced by the key id it holds, so workers need no copy of it."""
        out = dict(options)
        path = next((v for k, v in options.items() if k.lower() in ("primarykeypath", "primarykey")), None)
        if path:
            key_id = read_primary_key_id(path)
            out = {k: v for k, v in out.items() if k.lower() not in ("primarykeypath", "primarykey")}
            out["primaryKeyId" if "://" in key_id else "primaryKeyName"] = key_id
        return out

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> AzureKms:
        """Build from data source / CLI options (see the module docstring); no network calls happen here."""
        opts = _Options(options)
        key_id = opts.get("primaryKeyId")
        key_path = opts.get("primaryKeyPath") or opts.get("primaryKey")
        key_name = opts.get("primaryKeyName")
        if not key_id and key_path:
            key_id = read_primary_key_id(key_path)
            if "://" not in key_id:  # a file holding just the key name: use the latest version in 'vault'
                key_id, key_name = None, key_name or key_id
        vault = opts.get("vault") or opts.get("vaultUrl") or opts.get("vaultName") or opts.get("azureVault")
        parsed_id: KeyVaultKeyIdentifier | None = None
        if key_id:
            parsed_id = _parse_key_id(key_id, key_path or "primaryKeyId")
        if vault:
            vault_url = vault_url_for(vault)
            if parsed_id is not None and not _same_vault(parsed_id.vault_url, vault_url):
                raise ConfigError(
                    f"primary key {key_id} is not in vault {vault_url}; give a key of that vault or drop 'vault'"
                )
        elif parsed_id is not None:
            vault_url = vault_url_for(parsed_id.vault_url)
        elif key_path and key_name:
            raise ConfigError(f"{key_path}: holds the key name {key_name!r}, not a key id; also give option 'vault'")
        else:
            raise ConfigError(
                "kms=azure needs option 'vault' (Key Vault name or URL) or 'primaryKeyId'/'primaryKeyPath' "
                "(a primary key file from `ppml-az keys create --kms azure`)"
            )
        return cls(
            vault_url,
            key_id=parsed_id.source_id if parsed_id else None,
            key_name=key_name,
            client_id=opts.get("clientId"),
            credential_kind=opts.get("credential"),
            connection_verify=opts.get("connectionVerify"),
            verify_challenge_resource=_flag(opts.get("verifyChallengeResource"), True),
            retry_total=int(_number(opts, "kmsRetryTotal", 10)),
            retry_backoff=_number(opts, "kmsRetryBackoff", 0.8),
            retry_backoff_max=_number(opts, "kmsRetryBackoffMax", 60.0),
            timeout=_number(opts, "kmsTimeout", 60.0),
        )

    def _client_kwargs(self) -> dict[str, Any]:
        return _sdk_kwargs(self._retry, self._timeout, self._verify_challenge, self._connection_verify)

    def _get_credential(self) -> TokenCredential:
        if self._credential is None:
            self._credential, self.credential_source = build_credential(
                self._credential_kind, self._client_id, self.vault_url
            )
        return self._credential

    def _keys(self) -> KeyClient:
        with self._lock:
            if self._key_client is None:
                self._key_client = KeyClient(self.vault_url, self._get_credential(), **self._client_kwargs())
            return self._key_client

    def _crypto(self, key_id: str) -> CryptographyClient:
        with self._lock:
            client = self._crypto_clients.get(key_id)
            if client is None:
                if self._key is not None and self._key.id == key_id:
                    client = CryptographyClient(self._key, self._get_credential(), **self._client_kwargs())
                else:
                    client = CryptographyClient(key_id, self._get_credential(), **self._client_kwargs())
                self._crypto_clients[key_id] = client
            return client

    # ---- primary key ----------------------------------------------------------------------------------------
    def _primary(self) -> KeyVaultKey:
        """The configured primary key (latest version when no version was given), fetched once."""
        if self._key is not None:
            return self._key
        if self._key_id:
            ident = KeyVaultKeyIdentifier(self._key_id)
            name, version = ident.name, ident.version
        elif self._key_name:
            name, version = self._key_name, None
        else:
            raise ConfigError(
                f"no primary key configured for vault {self.vault_url}: give option primaryKeyName, "
                "primaryKeyId or primaryKeyPath (needed to write; reading ppml-gcm data needs only 'vault')"
            )
        label = self._key_id or f"{self.vault_url}/keys/{name}"
        try:
            key = self._keys().get_key(name, version or None, retry_on_methods=_RETRY_METHODS)
        except AzureError as exc:
            raise self._error(exc, "get", label) from None
        if key.properties.enabled is False:
            raise KmsError(f"Key Vault key {key.id} is disabled; enable it or configure another primary key")
        self._key = key
        return key

    @property
    def key_id(self) -> str:
        """Full key URL with version (resolved through Key Vault when only a name or unversioned id is known)."""
        if self._key_id and KeyVaultKeyIdentifier(self._key_id).version:
            return self._key_id
        return str(self._primary().id)

    @property
    def identity(self) -> str:
        """Vault, configured key, credential kind and client id: what decides which data keys this can unwrap."""
        kind = (self._credential_kind or os.environ.get("PPML_AZ_KV_CREDENTIAL") or "default").strip().lower()
        key = self._key_id or (f"name:{self._key_name}" if self._key_name else "")
        return f"azure|{self.vault_url}|{key}|{kind}|{self._client_id or ''}"

    def __repr__(self) -> str:
        return f"AzureKms(vault_url={self.vault_url!r}, key={self._key_id or self._key_name!r})"

    def key_url(self, master: str, source: str = "") -> str:
        """A Key Vault key URL for ``master`` (a key name, ``name/version`` or a URL), pinned to this vault.

        ``master`` may come from an untrusted file (a PME footer): a URL outside the configured vault, or not
        https, is refused here, before any network call, naming ``source`` and the foreign host.
        """
        where = f"{source}: " if source else ""
        master = master.strip()
        if "://" not in master:
            if not master or not all(ch.isalnum() or ch in "-/" for ch in master) or master.count("/") > 1:
                raise WrongKeyError(f"{where}key id {master!r} is not a Key Vault key name or name/version")
            return f"{self.vault_url}/keys/{master}"
        parsed = urlparse(master)
        if parsed.scheme.lower() != "https" or not _same_vault(master, self.vault_url):
            raise WrongKeyError(
                f"{where}key id names host {parsed.scheme}://{parsed.netloc}, outside the configured vault "
                f"{self.vault_url}; refused (set option vault to that key's vault if you trust this file)"
            )
        return str(_parse_key_id(master, source or "key id").source_id)

    def for_key(self, key_url: str) -> AzureKms:
        """The same vault and credential settings with another primary key of this vault (PME master keys)."""
        pinned = self.key_url(key_url)
        return AzureKms(
            self.vault_url,
            key_id=pinned,
            client_id=self._client_id,
            credential_kind=self._credential_kind,
            connection_verify=self._connection_verify,
            verify_challenge_resource=self._verify_challenge,
            retry_total=self._retry[0],
            retry_backoff=self._retry[1],
            retry_backoff_max=self._retry[2],
            timeout=self._timeout,
        )

    def pme_master_key(self, master: str, source: str = "") -> tuple[AzureKms, str, str]:
        """For the PME adapter: (backend for that key, its pinned URL, RSA-OAEP-256); foreign URLs refused."""
        url = self.key_url(master, source)
        with self._lock:
            backend = self._pme_backends.get(url)
        if backend is None:
            backend = self.for_key(url)
            with self._lock:
                backend = self._pme_backends.setdefault(url, backend)
        return backend, url, RSA_OAEP_256

    # ---- data keys -----------------------------------------------------------------------------------------
    def wrap(self, data_key: bytes, *, compat: str = "") -> WrappedKey:
        """RSA-OAEP-256, or RSA-OAEP (SHA-1) with ``compat="bigdl"``: what BigDL's Azure KMS wrapped with."""
        if compat not in ("", BIGDL_COMPAT):
            raise ConfigError(f"unknown wrap compatibility {compat!r}; use '' or {BIGDL_COMPAT!r}")
        return self.wrap_with(data_key, RSA_OAEP if compat == BIGDL_COMPAT else RSA_OAEP_256)

    def wrap_with(self, data_key: bytes, algorithm: str) -> WrappedKey:
        key = self._primary()
        key_id = str(key.id)
        try:
            result = self._crypto(key_id).wrap_key(
                KeyWrapAlgorithm(algorithm), data_key, retry_on_methods=_RETRY_METHODS
            )
        except AzureError as exc:
            raise self._error(exc, "wrapKey", key_id) from None
        return WrappedKey(AZURE, key_id, algorithm, bytes(result.encrypted_key))

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        """Unwrap in Key Vault with the key version recorded in ``wrapped`` (or the configured key for BigDL data)."""
        if wrapped.kms_type and wrapped.kms_type != AZURE:
            raise WrongKeyError(
                f"data key was wrapped by kms {wrapped.kms_type} (key {wrapped.key_id}), not Azure Key Vault; "
                "read it with that kms"
            )
        key_id = self._unwrap_key_id(wrapped.key_id)
        algorithm = wrapped.algorithm or RSA_OAEP
        if algorithm not in (RSA_OAEP, RSA_OAEP_256):
            raise WrongKeyError(f"unsupported wrap algorithm {algorithm!r} for Key Vault key {key_id}")
        try:
            result = self._crypto(key_id).unwrap_key(
                KeyWrapAlgorithm(algorithm), wrapped.ciphertext, retry_on_methods=_RETRY_METHODS
            )
        except AzureError as exc:
            raise self._error(exc, "unwrapKey", key_id) from None
        return bytes(result.key)

    def _unwrap_key_id(self, recorded: str | None) -> str:
        if not recorded:
            return self.key_id
        ident = _parse_key_id(recorded, "the data key's header")
        if not _same_vault(ident.vault_url, self.vault_url):
            # Never send a token or wrapped key to a vault named only by the (untrusted) file.
            raise WrongKeyError(
                f"data key was wrapped by key {recorded}, which is not in the configured vault {self.vault_url}; "
                "set option vault to that key's vault"
            )
        return str(ident.source_id)

    # ---- errors --------------------------------------------------------------------------------------------
    def _error(self, exc: AzureError, operation: str, key_id: str) -> Exception:
        """One clear, secret-free error per failure class; permanent ones were not retried by the pipeline."""
        source = self.credential_source or "the configured credential"
        if isinstance(exc, ClientAuthenticationError) and exc.response is None:  # the credential got no token
            return KmsError(f"cannot authenticate to Key Vault {self.vault_url} with {source}: {_first_line(exc)}")
        if isinstance(exc, ResourceNotFoundError):
            return KmsError(
                f"Key Vault key {key_id} not found (deleted, or wrong vault/name/version); "
                "recover it or use the key that wrapped this data"
            )
        if isinstance(exc, HttpResponseError) and exc.status_code is not None:
            code, inner = _service_codes(exc)
            status = exc.status_code
            if status == 403 and inner in ("KeyDisabled", "KeyExpired", "KeyNotYetValid"):
                state = {"KeyDisabled": "disabled", "KeyExpired": "expired", "KeyNotYetValid": "not yet valid"}[inner]
                return KmsError(
                    f"Key Vault key {key_id} is {state}; {operation} refused. Re-enable it or use another key"
                )
            if status == 403:
                return KmsError(
                    f"permission denied on Key Vault key {key_id} for {operation} using {source}: "
                    f"grant the identity {_PERMISSIONS} on the key ({code or 'Forbidden'})"
                )
            if status == 401:
                return KmsError(f"Key Vault {self.vault_url} rejected the token from {source} (401)")
            if status == 400 and operation == "unwrapKey":
                return WrongKeyError(
                    f"Key Vault key {key_id} could not unwrap this data key ({code or 'BadParameter'}): "
                    "wrong key or algorithm, or the wrapped key is damaged"
                )
            return KmsError(
                f"Key Vault {operation} on {key_id} failed with HTTP {status} ({code or 'error'}) "
                f"after {self._retry[0]} retries"
            )
        if isinstance(exc, ServiceRequestError):
            return KmsError(f"cannot reach Key Vault {self.vault_url}: {_first_line(exc)}")
        if isinstance(exc, ServiceResponseError):
            return KmsError(
                f"Key Vault {self.vault_url} did not answer {operation} on {key_id} within {self._timeout:g} s "
                f"({self._retry[0]} retries); raise kmsTimeout or check the network"
            )
        return KmsError(f"Key Vault {operation} on {key_id} failed: {_first_line(exc)}")

    def __reduce__(self) -> Any:
        raise TypeError("AzureKms holds a credential and clients; pickle its KmsSettings and call build_kms instead")

    def close(self) -> None:
        with self._lock:
            clients: list[Any] = list(self._crypto_clients.values())
            if self._key_client is not None:
                clients.append(self._key_client)
            self._crypto_clients.clear()
            self._key_client = None
        for client in clients:
            client.close()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _service_codes(exc: HttpResponseError) -> tuple[str | None, str | None]:
    """(error code, inner error code) from a Key Vault error body."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    inner = getattr(error, "innererror", None) or {}
    inner_code = inner.get("code") if isinstance(inner, Mapping) else None
    if code is None and exc.response is not None:
        try:
            body = json.loads(exc.response.text())
        except Exception:  # noqa: BLE001 - a non-JSON error body just has no codes
            body = {}
        err = body.get("error", {}) if isinstance(body, dict) else {}
        code = err.get("code")
        inner_code = (err.get("innererror") or {}).get("code")
    return code, inner_code


def _parse_key_id(key_id: str, source: str) -> KeyVaultKeyIdentifier:
    try:
        ident = KeyVaultKeyIdentifier(key_id.strip())
    except (ValueError, TypeError):
        raise ConfigError(
            f"{source}: {key_id!r} is not a Key Vault key id (https://<vault>.vault.azure.net/keys/<name>/<version>)"
        ) from None
    if urlparse(ident.source_id).scheme != "https":
        raise ConfigError(f"{source}: Key Vault key id {key_id!r} must be an https URL")
    return ident


def _same_vault(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        parsed = urlparse(url)
        port = parsed.port or 443
        return f"{(parsed.hostname or '').lower()}:{port}"

    return norm(a) == norm(b)


def create_primary_key(
    vault: str,
    name: str,
    key_size: int = DEFAULT_KEY_SIZE,
    client_id: str | None = None,
    *,
    options: Mapping[str, str] | None = None,
) -> str:
    """Create an RSA key (``key_size`` bits) in ``vault`` that may wrap/unwrap keys; return its full key id.

    ``options`` takes the same extra settings as the data source (credential, connectionVerify, ...); the
    CLI passes none and relies on DefaultAzureCredential and the PPML_AZ_KV_* environment.
    """
    if key_size not in (2048, 3072, 4096):
        raise ConfigError(f"RSA key size {key_size} is not one Key Vault supports (2048, 3072, 4096)")
    if not name or not all(ch.isalnum() or ch == "-" for ch in name):
        raise ConfigError(f"Key Vault key name {name!r} may contain only letters, digits and '-'")
    merged = dict(options or {})
    merged["vault"] = vault
    if client_id:
        merged["clientId"] = client_id
    kms = AzureKms.from_options(merged)
    try:
        key = kms._keys().create_rsa_key(name, size=key_size, key_operations=["wrapKey", "unwrapKey"])
    except AzureError as exc:
        raise kms._error(exc, "create", f"{kms.vault_url}/keys/{name}") from None
    finally:
        kms.close()
    return str(key.id)


__all__ = [
    "DEFAULT_KEY_SIZE",
    "RSA_OAEP",
    "RSA_OAEP_256",
    "AzureKms",
    "build_credential",
    "client_kwargs",
    "create_primary_key",
    "credential_for",
    "vault_url_for",
]
