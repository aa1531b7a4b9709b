"""Parquet Modular Encryption with our KMS, on both sides: Spark (the shim's JVM KmsClient) and pyarrow.

Both clients wrap PME's key-encryption keys the same way, so files written by one are read by the other:

* ``kms=local``: the local primary key file (AES-256-GCM wrap, exactly ``LocalKms.wrap``); the JVM gets the
  file *path* (``fs.ppml.local.primaryKeyPath``), never the key.
* ``kms=azure``: Key Vault ``wrapkey``/``unwrapkey`` (RSA-OAEP-256) on the key named by PME's master key id
  (a key name, ``name/version`` or a full key URL). The JVM authorises with the access token PME passes in
  ``parquet.encryption.key.access.token``; the driver obtains it from azure-identity (same credential options
  as the Azure KMS: ``credential``, ``clientId``...). That Hadoop setting's name contains "token", so Spark
  redacts it.

Crypto modes keep BigDL's names: ``aes_gcm_v1`` (AES_GCM_V1) and ``aes_gcm_ctr_v1`` (AES_GCM_CTR_V1).
Column pruning and predicate pushdown stay Spark's own (the JVM Parquet reader does the decryption).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any

import pyarrow.parquet.encryption as pe

from ..errors import ConfigError
from ..formats import AES_GCM_CTR_V1, AES_GCM_V1, normalize_mode
from ..kms import AZURE, LOCAL, KmsSettings, WrappedKey
from .keys import LOCAL_PRIMARY_KEY_PATH, hadoop_conf

CRYPTO_FACTORY = "org.apache.parquet.crypto.keytools.PropertiesDrivenCryptoFactory"
KMS_CLIENT = "bigdlppmlaz.PpmlKmsClient"
DEFAULT_MASTER_KEY = "ppml-footer"  # local KMS: any name works, all names map to the one primary key
ACCESS_TOKEN = "parquet.encryption.key.access.token"
VAULT_SCOPE = "https://vault.azure.net/.default"
_ALGORITHMS = {AES_GCM_V1: "AES_GCM_V1", AES_GCM_CTR_V1: "AES_GCM_CTR_V1"}


def algorithm(mode: str) -> str:
    """PME algorithm name for a BigDL crypto mode (aes_gcm_v1 / aes_gcm_ctr_v1)."""
    canonical = normalize_mode(mode)
    if canonical not in _ALGORITHMS:
        raise ConfigError(f"crypto mode {mode!r} is not Parquet Modular Encryption; use aes_gcm_v1 or aes_gcm_ctr_v1")
    return _ALGORITHMS[canonical]


def _settings(options: Mapping[str, str]) -> KmsSettings:
    return KmsSettings.from_options(options)


def vault_url(options: Mapping[str, str]) -> str:
    from ..kms.azure import vault_url_for

    vault = options.get("vault") or options.get("vaultUrl") or options.get("vaultName")
    if not vault:
        raise ConfigError("kms=azure with Parquet Modular Encryption needs option vault (name or URL)")
    return vault_url_for(vault)


def access_token(options: Mapping[str, str]) -> str:
    """A Key Vault bearer token from azure-identity (or the emulator credential in tests)."""
    from ..kms.azure import build_credential

    url = vault_url(options)
    credential, _ = build_credential(options.get("credential"), options.get("clientId"), url)
    return str(credential.get_token(VAULT_SCOPE).token)


def hadoop_settings(options: Mapping[str, str]) -> dict[str, str]:
    """Hadoop settings that let Spark's Parquet reader/writer use our KmsClient (the token only for azure)."""
    settings = _settings(options)
    out = {
        "parquet.crypto.factory.class": CRYPTO_FACTORY,
        "parquet.encryption.kms.client.class": KMS_CLIENT,
    }
    if settings.kms_type == LOCAL:
        path = settings.get("primaryKeyPath") or settings.get("primaryKey")
        if not path:
            raise ConfigError("kms=local needs option primaryKeyPath (create one with `ppml-az keys create`)")
        out.update({"parquet.encryption.kms.instance.id": "local", LOCAL_PRIMARY_KEY_PATH: str(path)})
    else:
        out.update(
            {
                "parquet.encryption.kms.instance.id": "azure",
                "parquet.encryption.kms.instance.url": vault_url(options),
                ACCESS_TOKEN: access_token(options),
            }
        )
    return out


def configure_session(spark: Any, options: Mapping[str, str]) -> None:
    """Set the PME settings in the session's Hadoop configuration (reads and writes after this use them)."""
    conf = hadoop_conf(spark)
    for key, value in hadoop_settings(options).items():
        conf.set(key, value)


def write_options(
    mode: str = AES_GCM_V1, footer_key: str = DEFAULT_MASTER_KEY, column_keys: Mapping[str, list[str]] | None = None
) -> dict[str, str]:
    """``df.write.options(**...)`` for encrypted Parquet: every column under ``footer_key`` unless
    ``column_keys`` maps master key ids to column lists (then other columns stay plaintext, as PME does).
    """
    out = {"parquet.encryption.algorithm": algorithm(mode), "parquet.encryption.footer.key": footer_key}
    if column_keys:
        out["parquet.encryption.column.keys"] = ";".join(f"{k}:{','.join(cols)}" for k, cols in column_keys.items())
    else:
        out["parquet.encryption.uniform.key"] = footer_key
        del out["parquet.encryption.footer.key"]
    return out


# ---- pyarrow side --------------------------------------------------------------------------------------------


class _StaticToken:
    """azure-core TokenCredential over the token PME hands the KMS client."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 600)


class PyarrowKmsClient(pe.KmsClient):
    """pyarrow's KmsClient for our KMS; wraps exactly as the JVM's bigdlppmlaz.PpmlKmsClient does."""

    def __init__(self, config: pe.KmsConnectionConfig) -> None:
        pe.KmsClient.__init__(self)
        custom = dict(config.custom_kms_conf)
        self._kind = (config.kms_instance_id or "").lower()
        if self._kind == "local":
            from ..kms.local import LocalKms

            path = custom.get("primaryKeyPath")
            if not path:
                raise ConfigError("kms=local needs primaryKeyPath in custom_kms_conf")
            self._local = LocalKms.load(path)
        else:
            self._vault = config.kms_instance_url.rstrip("/")
            self._token = config.key_access_token
            self._verify = custom.get("connectionVerify")
            self._challenge = custom.get("verifyChallengeResource", "true").lower() != "false"
            self._clients: dict[str, Any] = {}

    def _crypto(self, master: str) -> Any:
        from azure.keyvault.keys.crypto import CryptographyClient

        url = master if master.startswith("https://") else f"{self._vault}/keys/{master}"
        if url not in self._clients:
            kwargs: dict[str, Any] = {"verify_challenge_resource": self._challenge}
            if self._verify:
                kwargs["connection_verify"] = self._verify
            self._clients[url] = CryptographyClient(url, _StaticToken(self._token), **kwargs)
        return self._clients[url]

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        if self._kind == "local":
            return base64.b64encode(self._local.wrap(bytes(key_bytes)).ciphertext).decode("ascii")
        from azure.keyvault.keys.crypto import KeyWrapAlgorithm

        result = self._crypto(master_key_identifier).wrap_key(KeyWrapAlgorithm.rsa_oaep_256, bytes(key_bytes))
        return base64.b64encode(result.encrypted_key).decode("ascii")

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        blob = base64.b64decode(wrapped_key)
        if self._kind == "local":
            return self._local.unwrap(WrappedKey(LOCAL, "", "", blob))
        from azure.keyvault.keys.crypto import KeyWrapAlgorithm

        return bytes(self._crypto(master_key_identifier).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, blob).key)


def crypto_factory() -> pe.CryptoFactory:
    return pe.CryptoFactory(PyarrowKmsClient)


def kms_connection_config(options: Mapping[str, str]) -> pe.KmsConnectionConfig:
    """pyarrow connection config equivalent to :func:`hadoop_settings` (fetches a token for azure)."""
    settings = _settings(options)
    if settings.kms_type == LOCAL:
        path = settings.get("primaryKeyPath") or settings.get("primaryKey")
        if not path:
            raise ConfigError("kms=local needs option primaryKeyPath")
        return pe.KmsConnectionConfig(kms_instance_id="local", custom_kms_conf={"primaryKeyPath": str(path)})
    assert settings.kms_type == AZURE
    custom = {k: v for k, v in options.items() if k in ("connectionVerify", "verifyChallengeResource")}
    return pe.KmsConnectionConfig(
        kms_instance_id="azure",
        kms_instance_url=vault_url(options),
        key_access_token=access_token(options),
        custom_kms_conf=custom,
    )


def encryption_properties(
    options: Mapping[str, str],
    mode: str = AES_GCM_V1,
    footer_key: str = DEFAULT_MASTER_KEY,
    column_keys: Mapping[str, list[str]] | None = None,
) -> Any:
    """``pq.write_table(..., encryption_properties=...)`` matching :func:`write_options`."""
    config = pe.EncryptionConfiguration(
        footer_key=footer_key,
        encryption_algorithm=algorithm(mode),
        column_keys=dict(column_keys or {}),
        uniform_encryption=not column_keys,
    )
    return crypto_factory().file_encryption_properties(kms_connection_config(options), config)


def decryption_properties(options: Mapping[str, str]) -> Any:
    """``pq.read_table(..., decryption_properties=...)`` for files written by Spark or pyarrow."""
    return crypto_factory().file_decryption_properties(kms_connection_config(options), pe.DecryptionConfiguration())
