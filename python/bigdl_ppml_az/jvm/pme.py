"""Parquet Modular Encryption with our KMS, on both sides: Spark (the shim's JVM KmsClient) and pyarrow.

This module sets the JVM/Hadoop side up; the pyarrow side is :mod:`bigdl_ppml_az.kms.pme_client` (an adapter
over the configured KMS backend), re-exported here for scripts. Both wrap PME's key-encryption keys the same
way, so files written by one are read by the other:

* ``kms=local``: the local primary key file (AES-256-GCM wrap, exactly ``LocalKms.wrap``); the JVM gets the
  file *path* (``fs.ppml.local.primaryKeyPath``), never the key.
* ``kms=azure``: Key Vault ``wrapkey``/``unwrapkey`` (RSA-OAEP-256) on the key named by PME's master key id
  (a key name, ``name/version`` or a full key URL *inside the configured vault*: the JVM client refuses any
  other host and any non-https URL). The JVM authorises with the access token PME passes in
  ``parquet.encryption.key.access.token``; the driver obtains it from azure-identity (same credential options
  as the Azure KMS: ``credential``, ``clientId``...). That Hadoop setting's name contains "token", so Spark
  redacts it.
* ``kms=azure-skr``: writers wrap locally with the primary key's public key (RSA-OAEP-256, no release); each
  executor JVM attests and has the primary key released once per process and key, then unwraps (the shim's
  ``Skr.scala``; options under ``fs.ppml.skr.*``, see :func:`bigdl_ppml_az.jvm.keys.skr_hadoop_settings`). The
  driver only obtains the Key Vault token, as for ``azure``.
* Other (plug-in) backends have no JVM client: refused with a clear message.

Option names are case-insensitive (the data source lower-cases them). Crypto modes keep BigDL's names:
``aes_gcm_v1`` (AES_GCM_V1) and ``aes_gcm_ctr_v1`` (AES_GCM_CTR_V1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError
from ..formats import normalize_mode
from ..kms import AZURE, LOCAL, KmsSettings, build_kms, pme_client
from ..kms.azure_skr import SKR
from ..kms.pme_client import DEFAULT_MASTER_KEY, PmeKmsClient
from .keys import LOCAL_PRIMARY_KEY_PATH, SKR_ACCESS_TOKEN, hadoop_conf, skr_hadoop_settings

CRYPTO_FACTORY = "org.apache.parquet.crypto.keytools.PropertiesDrivenCryptoFactory"
KMS_CLIENT = "bigdlppmlaz.PpmlKmsClient"
ACCESS_TOKEN = "parquet.encryption.key.access.token"
VAULT_SCOPE = "https://vault.azure.net/.default"


def algorithm(mode: str) -> str:
    """PME algorithm name for a BigDL crypto mode (aes_gcm_v1 / aes_gcm_ctr_v1)."""
    return pme_client.pme_algorithm(normalize_mode(mode))


def _settings(options: Mapping[str, str] | KmsSettings) -> KmsSettings:
    return options if isinstance(options, KmsSettings) else KmsSettings.from_options(options)


def vault_url(options: Mapping[str, str] | KmsSettings) -> str:
    from ..kms.azure import vault_url_for

    settings = _settings(options)
    vault = settings.get("vault") or settings.get("vaultUrl") or settings.get("vaultName")
    if not vault:
        raise ConfigError("kms=azure with Parquet Modular Encryption needs option vault (name or URL)")
    return vault_url_for(vault)


def access_token(options: Mapping[str, str] | KmsSettings) -> str:
    """A Key Vault bearer token from azure-identity (or the emulator credential in tests), for the JVM client."""
    from ..kms.azure import build_credential

    settings = _settings(options)
    url = vault_url(settings)
    credential, _ = build_credential(settings.get("credential"), settings.get("clientId"), url)
    return str(credential.get_token(VAULT_SCOPE).token)


def _local_hadoop(settings: KmsSettings) -> dict[str, str]:
    path = settings.get("primaryKeyPath") or settings.get("primaryKey")
    if not path:
        raise ConfigError("kms=local needs option primaryKeyPath (create one with `ppml-az keys create`)")
    return {"parquet.encryption.kms.instance.id": "local", LOCAL_PRIMARY_KEY_PATH: str(path)}


def _azure_hadoop(settings: KmsSettings) -> dict[str, str]:
    return {
        "parquet.encryption.kms.instance.id": "azure",
        "parquet.encryption.kms.instance.url": vault_url(settings),
        ACCESS_TOKEN: access_token(settings),
    }


def _skr_hadoop(settings: KmsSettings) -> dict[str, str]:
    skr = skr_hadoop_settings(settings)
    return skr | {
        "parquet.encryption.kms.instance.id": SKR,
        "parquet.encryption.kms.instance.url": vault_url(settings),
        ACCESS_TOKEN: skr[SKR_ACCESS_TOKEN],
    }


# Backends the JVM PpmlKmsClient implements (by canonical registry name); the Scala side refuses any other id.
_JVM_BACKENDS: dict[str, Callable[[KmsSettings], dict[str, str]]] = {
    LOCAL: _local_hadoop,
    AZURE: _azure_hadoop,
    SKR: _skr_hadoop,
}


def hadoop_settings(options: Mapping[str, str]) -> dict[str, str]:
    """Hadoop settings that let Spark's Parquet reader/writer use our KmsClient (the token only for azure)."""
    settings = _settings(options)
    make = _JVM_BACKENDS.get(settings.kms_type)
    if make is None:
        raise ConfigError(
            f"option kms={settings.kms_type}: the JVM Parquet Modular Encryption client supports only "
            f"{' and '.join(_JVM_BACKENDS)}; read this data with spark.read.format('ppml-enc') instead"
        )
    return {"parquet.crypto.factory.class": CRYPTO_FACTORY, "parquet.encryption.kms.client.class": KMS_CLIENT} | make(
        settings
    )


def configure_session(spark: Any, options: Mapping[str, str]) -> None:
    """Set the PME settings in the session's Hadoop configuration (reads and writes after this use them)."""
    conf = hadoop_conf(spark)
    for key, value in hadoop_settings(options).items():
        if value:
            conf.set(key, value)
        else:
            conf.unset(key)  # an azure-skr option not given: no stale value from an earlier configuration


def write_options(
    mode: str = "aes_gcm_v1", footer_key: str = DEFAULT_MASTER_KEY, column_keys: Mapping[str, list[str]] | None = None
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


# ---- pyarrow side: the kms adapter ---------------------------------------------------------------------------


def crypto_factory(options: Mapping[str, str]) -> Any:
    return pme_client.crypto_factory(_settings(options))


def encryption_properties(
    options: Mapping[str, str],
    mode: str = "aes_gcm_v1",
    footer_key: str = DEFAULT_MASTER_KEY,
    column_keys: Mapping[str, list[str]] | None = None,
) -> Any:
    """``pq.write_table(..., encryption_properties=...)`` matching :func:`write_options`."""
    return pme_client.encryption_properties(
        _settings(options), normalize_mode(mode), footer_key, dict(column_keys) if column_keys else None
    )


def decryption_properties(options: Mapping[str, str]) -> Any:
    """``pq.read_table(..., decryption_properties=...)`` for files written by Spark or pyarrow."""
    return pme_client.decryption_properties(_settings(options))


def kms_client(options: Mapping[str, str]) -> PmeKmsClient:
    return PmeKmsClient(build_kms(_settings(options)))


__all__ = [
    "ACCESS_TOKEN",
    "DEFAULT_MASTER_KEY",
    "algorithm",
    "configure_session",
    "crypto_factory",
    "decryption_properties",
    "encryption_properties",
    "hadoop_settings",
    "kms_client",
    "write_options",
]
