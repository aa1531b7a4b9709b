"""pyarrow's Parquet Modular Encryption ``KmsClient`` as a thin adapter over a :class:`KeyManagementService`.

PME asks the KMS to wrap and unwrap its key-encryption keys under a "master key identifier". The adapter
hands that to the configured backend, so PME gets the backend's retries, error mapping and vault pinning:

* A backend with ``pme_master_key(master, source)`` (Azure) maps the identifier to one of its keys, and refuses
  an identifier outside its configured vault before any network call. The identifier of a file being read
  comes from its footer, which whoever wrote the file controls: without this pin, a crafted file would make
  the reader send its Key Vault bearer token to any host.
* Any other backend (local, plug-ins) has one primary key: every identifier maps to it.

Wrapped keys are Base64 of the backend's wrapped bytes, exactly what the JVM's ``bigdlppmlaz.PpmlKmsClient``
writes (local: nonce || AES-256-GCM; Azure: RSA-OAEP-256 ciphertext), so files interoperate.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import pyarrow.parquet.encryption as pe

from ..errors import WrongKeyError
from . import KeyManagementService, KmsSettings, WrappedKey, build_kms, unwrap_cached

DEFAULT_MASTER_KEY = "ppml-footer"  # local KMS: any name works, all names map to the one primary key
PME_ALGORITHMS = {"aes_gcm_v1": "AES_GCM_V1", "aes_gcm_ctr_v1": "AES_GCM_CTR_V1"}


def pme_algorithm(mode: str) -> str:
    """PME algorithm name for a canonical BigDL crypto mode name (``aes_gcm_v1`` / ``aes_gcm_ctr_v1``)."""
    from ..errors import ConfigError

    try:
        return PME_ALGORITHMS[mode.strip().lower()]
    except KeyError:
        raise ConfigError(
            f"crypto mode {mode!r} is not Parquet Modular Encryption; use aes_gcm_v1 or aes_gcm_ctr_v1"
        ) from None


class PmeKmsClient(pe.KmsClient):
    """Wrap/unwrap PME key-encryption keys through ``kms`` (one instance per pyarrow crypto factory)."""

    def __init__(self, kms: KeyManagementService) -> None:
        pe.KmsClient.__init__(self)
        self._kms = kms

    def _backend(self, master: str) -> tuple[KeyManagementService, str, str]:
        """(backend to wrap with, key id and algorithm to unwrap with) for a master key identifier."""
        pin = getattr(self._kms, "pme_master_key", None)
        if pin is None:
            return self._kms, "", ""
        backend, key_id, algorithm = pin(master, "")
        return backend, key_id, algorithm

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        backend, _, _ = self._backend(master_key_identifier)
        return base64.b64encode(backend.wrap(bytes(key_bytes)).ciphertext).decode("ascii")

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        backend, key_id, algorithm = self._backend(master_key_identifier)  # the pin runs before any KMS call
        try:
            blob = base64.b64decode(wrapped_key, validate=True)
        except (binascii.Error, ValueError):
            raise WrongKeyError("Parquet Modular Encryption key material holds no Base64 wrapped key") from None
        return unwrap_cached(backend, WrappedKey(backend.kms_type, key_id, algorithm, blob))


def crypto_factory(settings: KmsSettings) -> pe.CryptoFactory:
    """A pyarrow crypto factory whose KMS clients are adapters over ``build_kms(settings)``."""

    def make_client(config: pe.KmsConnectionConfig) -> PmeKmsClient:
        return PmeKmsClient(build_kms(settings))

    return pe.CryptoFactory(make_client)


def connection_config(settings: KmsSettings) -> pe.KmsConnectionConfig:
    """The connection config PME records in key material; credentials stay in the backend, not here."""
    return pe.KmsConnectionConfig(kms_instance_id=settings.kms_type)


def encryption_properties(
    settings: KmsSettings,
    mode: str = "aes_gcm_v1",
    footer_key: str = DEFAULT_MASTER_KEY,
    column_keys: dict[str, list[str]] | None = None,
) -> Any:
    """``pq.write_table(..., encryption_properties=...)``: every column under ``footer_key`` unless given."""
    config = pe.EncryptionConfiguration(
        footer_key=footer_key,
        encryption_algorithm=pme_algorithm(mode),
        column_keys=dict(column_keys or {}),
        uniform_encryption=not column_keys,
    )
    return crypto_factory(settings).file_encryption_properties(connection_config(settings), config)


def decryption_properties(settings: KmsSettings) -> Any:
    """``pq.read_table(..., decryption_properties=...)`` for files written by Spark or pyarrow."""
    return crypto_factory(settings).file_decryption_properties(
        connection_config(settings), pe.DecryptionConfiguration()
    )


__all__ = [
    "DEFAULT_MASTER_KEY",
    "PME_ALGORITHMS",
    "PmeKmsClient",
    "connection_config",
    "crypto_factory",
    "decryption_properties",
    "encryption_properties",
    "pme_algorithm",
]
