"""Key management: wrap and unwrap data keys under a primary key. Pure Python, no Spark.

A backend is built from :class:`KmsSettings` (plain strings, picklable, never a credential), so each Spark
worker can build its own client. ``unwrap_cached`` keeps one unwrap per (process, primary key, wrapped key).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import ConfigError
from ..options import as_options

LOCAL = "local"
AZURE = "AzureKeyManagementService"
_KMS_ALIASES = {
    "local": LOCAL,
    "simple": LOCAL,
    "azure": AZURE,
    "azurekeymanagementservice": AZURE,
    "azurekms": AZURE,
}


def normalize_kms_type(name: str | None) -> str:
    key = (name or "").strip().lower()
    if key not in _KMS_ALIASES:
        raise ConfigError(f"unknown kms {name!r}; use 'local' or 'azure' (AzureKeyManagementService)")
    return _KMS_ALIASES[key]


@dataclass(frozen=True)
class WrappedKey:
    """A data key wrapped by a primary key, plus what is needed to find that primary key again."""

    kms_type: str
    key_id: str
    algorithm: str
    ciphertext: bytes


class KeyManagementService(Protocol):
    kms_type: str

    @property
    def key_id(self) -> str:
        """Identifier of the primary key (Key Vault key URL with version, or local key fingerprint)."""
        ...

    def generate_data_key(self, bigdl_compatible: bool = False) -> tuple[bytes, WrappedKey]:
        """A fresh 32-byte data key and its wrapped form (BigDL-compatible wrap algorithm if asked)."""
        ...

    def unwrap(self, wrapped: WrappedKey) -> bytes: ...


@dataclass(frozen=True)
class KmsSettings:
    """Plain settings a worker can rebuild a KMS client from. No secrets: credentials come from the environment.

    ``options`` carries backend options with the data source's names (``primaryKeyPath``, ``vault``,
    ``primaryKeyId``, ``primaryKeyName``, ``clientId``, ``vaultUrl``...).
    """

    kms_type: str
    options: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> KmsSettings:
        opts = as_options(options)  # the data source's and the CLI's Options: any case, BigDL's aliases
        kms = opts.get_str("kms")
        if not kms:
            raise ConfigError("option 'kms' is required: 'local' (with primaryKeyPath) or 'azure'")
        kept = tuple(sorted((k, v) for k, v in opts.items() if _is_kms_option(k)))
        return cls(normalize_kms_type(kms), kept)

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.options:
            if key.lower() == name.lower():
                return value
        return default


def _is_kms_option(name: str) -> bool:
    """Storage settings (account keys, SAS tokens) share the options map but never belong in KMS settings."""
    lowered = name.lower()
    return lowered not in ("kms", "kmstype", "kms_type") and not lowered.startswith(("fs.azure", "spark.hadoop."))


_cache_lock = threading.Lock()
_unwrap_cache: dict[tuple[str, str, bytes], bytes] = {}
_kms_cache: dict[KmsSettings, KeyManagementService] = {}
unwrap_calls = 0  # KMS unwraps made by this process (tests and benchmarks read it)


def build_kms(settings: KmsSettings) -> KeyManagementService:
    """Construct (once per process and settings) the backend the settings name."""
    with _cache_lock:
        cached = _kms_cache.get(settings)
    if cached is not None:
        return cached
    kms: KeyManagementService
    if settings.kms_type == LOCAL:
        from .local import LocalKms

        path = settings.get("primaryKeyPath") or settings.get("primaryKey")
        if not path:
            raise ConfigError("kms=local needs option primaryKeyPath (create one with `ppml-az keys create`)")
        kms = LocalKms.load(path)
    elif settings.kms_type == AZURE:
        try:
            from .azure import AzureKms  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:  # pragma: no cover - present once the Azure backend lands
            raise ConfigError(f"Azure Key Vault backend unavailable: {exc}") from None
        kms = AzureKms.from_settings(settings)
    else:
        raise ConfigError(f"unknown kms {settings.kms_type!r}")
    with _cache_lock:
        _kms_cache.setdefault(settings, kms)
        return _kms_cache[settings]


def unwrap_cached(kms: KeyManagementService, wrapped: WrappedKey) -> bytes:
    """Unwrap through the KMS at most once per process for a given (kms, key id, wrapped key)."""
    global unwrap_calls
    cache_key = (wrapped.kms_type, wrapped.key_id, wrapped.ciphertext)
    with _cache_lock:
        hit = _unwrap_cache.get(cache_key)
    if hit is not None:
        return hit
    plaintext = kms.unwrap(wrapped)
    with _cache_lock:
        unwrap_calls += 1
        _unwrap_cache[cache_key] = plaintext
    call_log = os.environ.get("PPML_AZ_KMS_CALL_LOG")
    if call_log:  # test hook: count unwraps across worker processes (pid and key id only, never key bytes)
        with open(call_log, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {wrapped.key_id}\n")
    return plaintext


def new_data_key() -> bytes:
    return os.urandom(32)


__all__ = [
    "AZURE",
    "LOCAL",
    "KeyManagementService",
    "KmsSettings",
    "WrappedKey",
    "build_kms",
    "new_data_key",
    "normalize_kms_type",
    "unwrap_cached",
]
