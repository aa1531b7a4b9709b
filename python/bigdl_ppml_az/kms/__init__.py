"""Key management: wrap and unwrap data keys under a primary key. Pure Python, no Spark.

A backend is one class registered by name (see :mod:`.registry` and docs/KMS.md): built-ins ``local`` and
``azure`` (``AzureKeyManagementService``), plus any class a user's package declares in the entry-point group
``bigdl_ppml_az.kms``. A backend is built from :class:`KmsSettings` (plain strings, picklable, never a
credential), so each Spark worker can build its own client. :func:`unwrap_cached` keeps one unwrap per
(process, backend identity, wrapped key): a cached data key is only handed to a request whose KMS settings are
the ones that unwrapped it.

Every KMS unwrap emits one DEBUG record on the logger ``bigdl_ppml_az.kms`` (pid and key id, never key bytes);
``azure-skr`` also emits one per attestation and per Key Vault release on its child ``bigdl_ppml_az.kms.skr``
(attribute ``skr_call``; key id only). Tests and benchmarks count those records instead of reading a global
counter.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..errors import ConfigError
from ..options import as_options

LOCAL = "local"
AZURE = "AzureKeyManagementService"
BIGDL_COMPAT = "bigdl"  # wrap() compat value: the wrap algorithm BigDL PPML used for this backend
UNWRAP_LOGGER = "bigdl_ppml_az.kms"

log = logging.getLogger(UNWRAP_LOGGER)


@dataclass(frozen=True)
class WrappedKey:
    """A data key wrapped by a primary key, plus what is needed to find that primary key again."""

    kms_type: str
    key_id: str
    algorithm: str
    ciphertext: bytes = field(repr=False)


@dataclass(frozen=True)
class KmsSettings:
    """Plain settings a worker can rebuild a KMS client from. No secrets: credentials come from the environment.

    ``kms_type`` is the backend's canonical registry name. ``options`` carries backend options with the data
    source's names (``primaryKeyPath``, ``vault``, ``primaryKeyId``, ``clientId``...); lookups ignore case.
    """

    kms_type: str
    options: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> KmsSettings:
        opts = as_options(options)  # the data source's and the CLI's Options: any case, BigDL's aliases
        kms = opts.get_str("kms")
        if not kms:
            raise ConfigError("option 'kms' is required: 'local' (with primaryKeyPath), 'azure' or a plug-in backend")
        kept = tuple(sorted((k, str(v)) for k, v in opts.items() if _is_kms_option(k) and v is not None))
        return cls(normalize_kms_type(kms), kept)

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.options:
            if key.lower() == name.lower():
                return value
        return default

    def as_dict(self) -> dict[str, str]:
        return dict(self.options)


def _is_kms_option(name: str) -> bool:
    """Storage settings (account keys, SAS tokens) share the options map but never belong in KMS settings."""
    lowered = name.lower()
    return lowered not in ("kms", "kmstype", "kms_type") and not lowered.startswith(("fs.azure", "spark.hadoop."))


@runtime_checkable
class KeyManagementService(Protocol):
    """What every backend does. Construction: a ``from_settings(settings)`` classmethod (see :class:`KmsBackend`)."""

    kms_type: str

    @property
    def key_id(self) -> str:
        """Stable identifier of the primary key (recorded in ppml-gcm envelopes)."""
        ...

    @property
    def identity(self) -> str:
        """Fingerprint of everything that decides which keys this instance can unwrap (cache key; no secrets)."""
        ...

    def wrap(self, data_key: bytes, *, compat: str = "") -> WrappedKey:
        """Wrap ``data_key``; ``compat="bigdl"`` uses the algorithm BigDL PPML used (a property of the format)."""
        ...

    def unwrap(self, wrapped: WrappedKey) -> bytes: ...


from .registry import (  # noqa: E402 - the registry needs the types above
    KmsBackend,
    backend_for,
    kms_option_names,
    known_backends,
    normalize_kms_type,
    register_backend,
)

_cache_lock = threading.Lock()
_unwrap_cache: dict[tuple[str, str, str, str, bytes], bytes] = {}
_kms_cache: dict[tuple[KmsSettings, object], KeyManagementService] = {}


def build_kms(settings: KmsSettings) -> KeyManagementService:
    """Construct (once per process and settings) the backend the settings name.

    A backend whose key material lives in a file says how to notice that the file changed (``cache_token``,
    e.g. the key file's inode, size and mtime): a key file replaced at the same path builds a new backend, so a
    reused worker never keeps using the old key (and its identity, which keys the unwrap cache).
    """
    backend = backend_for(settings.kms_type)
    token_of = getattr(backend, "cache_token", None)
    cache_key = (settings, token_of(settings) if token_of is not None else None)
    with _cache_lock:
        cached = _kms_cache.get(cache_key)
    if cached is not None:
        return cached
    kms = backend.from_settings(settings)
    with _cache_lock:
        _kms_cache.setdefault(cache_key, kms)
        return _kms_cache[cache_key]


def unwrap_cached(kms: KeyManagementService, wrapped: WrappedKey) -> bytes:
    """Unwrap through ``kms`` at most once per process for a given (backend identity, wrapped key).

    The backend's ``identity`` is part of the cache key, so a request configured with another primary key,
    vault, key or credential never receives a data key that a different configuration unwrapped: its own
    backend is asked, and refuses.
    """
    cache_key = (kms.identity, wrapped.kms_type, wrapped.key_id, wrapped.algorithm, wrapped.ciphertext)
    with _cache_lock:
        hit = _unwrap_cache.get(cache_key)
    if hit is not None:
        return hit
    plaintext = kms.unwrap(wrapped)
    with _cache_lock:
        _unwrap_cache[cache_key] = plaintext
    if not log.isEnabledFor(logging.DEBUG):
        return plaintext
    key_id = wrapped.key_id or _configured_key_id(kms)
    log.debug(
        "unwrap pid=%d kms=%s key_id=%s",
        os.getpid(),
        kms.kms_type,
        key_id,
        extra={"kms_type": kms.kms_type, "key_id": key_id},
    )
    return plaintext


def _configured_key_id(kms: KeyManagementService) -> str:
    try:
        return kms.key_id
    except Exception:  # noqa: BLE001 - a log line must not fail an unwrap that succeeded
        return "?"


def new_data_key() -> bytes:
    return os.urandom(32)


def generate_data_key(kms: KeyManagementService, *, compat: str = "") -> tuple[bytes, WrappedKey]:
    """A fresh 32-byte data key and its wrapped form (``compat="bigdl"`` for BigDL-format output)."""
    data_key = new_data_key()
    return data_key, kms.wrap(data_key, compat=compat)


__all__ = [
    "AZURE",
    "BIGDL_COMPAT",
    "LOCAL",
    "UNWRAP_LOGGER",
    "KeyManagementService",
    "KmsBackend",
    "KmsSettings",
    "WrappedKey",
    "backend_for",
    "build_kms",
    "generate_data_key",
    "kms_option_names",
    "known_backends",
    "new_data_key",
    "normalize_kms_type",
    "register_backend",
    "unwrap_cached",
]
