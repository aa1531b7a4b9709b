"""``tableHeadStore=azure-keyvault``: table heads as Azure Key Vault secrets (production).

One secret per table, named ``ppml-table-<table id>``, whose value is ``{"version": n, "manifestSha256": hex}``
(content type ``application/json``); every advance adds a secret version, so Key Vault keeps the history. The
identity needs the secrets ``get`` and ``set`` permissions (the "Key Vault Secrets Officer" role) on the vault;
readers that only check heads need ``get``.

Options: ``tableHeadVault`` (Key Vault name or https URL; when absent the KMS's ``vault`` is used, also under its
aliases), and the KMS's ``clientId``, ``credential``, ``connectionVerify``, ``verifyChallengeResource``,
``kmsRetryTotal``, ``kmsRetryBackoff``, ``kmsRetryBackoffMax`` and ``kmsTimeout`` with the same meanings and
environment fallbacks (:func:`bigdl_ppml_az.kms.azure.client_kwargs`, :func:`~bigdl_ppml_az.kms.azure.credential_for`).
Throttling (429) and transient 5xx are retried by azure-core; 401/403 fail at once with a :class:`KmsError`.

Key Vault secrets have no compare-and-swap, so :meth:`KeyVaultHeadStore.advance` is read-check-write: it reads
the current head, applies :func:`~bigdl_ppml_az.table.heads.check_advance` and then sets the new value. Two
writers committing the same table at the same moment can both pass the check, and the last ``set`` wins: the
head then names one of the two commits while the storage may hold the other. That never lets an older version
pass as current (both candidates are newer than the head they read); it can make the table fail its head check
on read (same version, other manifest hash) until an operator repairs it. Serialize writers of one table (one
writing job per table, as Spark's own file commit protocol assumes) when that matters.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.secrets import SecretClient

from ...errors import ConfigError, IntegrityError, KmsError
from ...kms.azure import client_kwargs, credential_for, vault_url_for
from ...safeio import loads_bounded
from . import AZURE_ALIASES, TableHead, check_advance, check_table_id, option

SECRET_PREFIX = "ppml-table-"
CONTENT_TYPE = "application/json"
VAULT_OPTION = "tableHeadVault"
MAX_SECRET_VALUE = 64 << 10  # our values are ~100 characters; Key Vault allows 25 KiB
_VAULT_NAMES = (VAULT_OPTION, "vault", "vaultUrl", "vaultName", "azureVault")
_PERMISSIONS = "secrets get and set"


def secret_name(table_id: str) -> str:
    """``ppml-table-<id>`` after checking the id (it comes from a manifest an attacker may have replaced)."""
    return SECRET_PREFIX + check_table_id(table_id)


class KeyVaultHeadStore:
    """Heads as Key Vault secrets. Holds plain option strings; the SecretClient is built lazily, per process."""

    store_type = "azure-keyvault"
    aliases = AZURE_ALIASES
    option_names = (
        *_VAULT_NAMES,
        "clientId",
        "credential",
        "connectionVerify",
        "verifyChallengeResource",
        "kmsRetryTotal",
        "kmsRetryBackoff",
        "kmsRetryBackoffMax",
        "kmsTimeout",
    )

    def __init__(self, vault_url: str, options: Mapping[str, str]) -> None:
        self.vault_url = vault_url
        self._options = dict(options)
        self._lock = threading.Lock()
        self._client: SecretClient | None = None
        self.credential_source = ""

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> KeyVaultHeadStore:
        """Keep only this store's options (never storage secrets); check them now, connect on first use."""
        picked = {name: value for name in cls.option_names if (value := option(options, name)) is not None}
        vault = next((picked[name] for name in _VAULT_NAMES if name in picked), None)
        if vault is None:
            raise ConfigError(
                f"option tableHeadStore=azure-keyvault needs option {VAULT_OPTION} (or vault): the name or https "
                "URL of the Key Vault that holds the table heads"
            )
        client_kwargs(picked)  # a bad number or flag is a ConfigError here, not on a worker
        return cls(vault_url_for(vault), picked)

    def __reduce__(self) -> tuple[Any, ...]:
        return (KeyVaultHeadStore, (self.vault_url, self._options))

    def describe(self) -> str:
        return f"Key Vault {self.vault_url} (secrets {SECRET_PREFIX}<table id>)"

    def __repr__(self) -> str:
        return f"KeyVaultHeadStore({self.vault_url!r})"

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # ---- HeadStore --------------------------------------------------------------------------------------------
    def get(self, table_id: str) -> TableHead | None:
        name = secret_name(table_id)
        try:
            secret = self._secrets().get_secret(name)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise self._error(exc, "get", name) from None
        return self._parse(secret.value, name)

    def advance(self, table_id: str, head: TableHead, *, expected: TableHead | None) -> None:
        """Read-check-write (no compare-and-swap in Key Vault: see the module docstring)."""
        name = secret_name(table_id)
        check_advance(table_id, self.get(table_id), head, expected, self.describe())
        value = json.dumps(head.to_json(), sort_keys=True)
        try:
            self._secrets().set_secret(name, value, content_type=CONTENT_TYPE)
        except AzureError as exc:
            raise self._error(exc, "set", name) from None

    # ---- helpers ----------------------------------------------------------------------------------------------
    def _secrets(self) -> SecretClient:
        with self._lock:
            if self._client is None:
                credential, self.credential_source = credential_for(self._options, self.vault_url)
                self._client = SecretClient(self.vault_url, credential, **client_kwargs(self._options))
            return self._client

    def _parse(self, value: str | None, name: str) -> TableHead:
        where = f"Key Vault secret {self.vault_url}/secrets/{name}"
        document: object = None
        if value is not None and len(value) <= MAX_SECRET_VALUE:
            try:
                document = loads_bounded(value.encode("utf-8"), where, IntegrityError)
            except ValueError:
                document = None
        return TableHead.from_json(document, where)

    def _error(self, exc: AzureError, operation: str, name: str) -> KmsError:
        """One line naming the vault and the secret, and what to do; never a token or a secret value."""
        vault, source = self.vault_url, self.credential_source or "the configured credential"
        if isinstance(exc, ClientAuthenticationError) and exc.response is None:  # the credential got no token
            return KmsError(
                f"cannot authenticate to Key Vault {vault} with {source} to {operation} secret {name}: "
                f"{_first_line(exc)}"
            )
        if isinstance(exc, HttpResponseError) and exc.status_code is not None:
            code = getattr(getattr(exc, "error", None), "code", None)
            if exc.status_code == 403:
                return KmsError(
                    f"permission denied to {operation} secret {name} in Key Vault {vault} using {source} "
                    f"({code or 'Forbidden'}): grant the identity {_PERMISSIONS} on the vault"
                )
            if exc.status_code == 401:
                return KmsError(
                    f"Key Vault {vault} rejected the token from {source} to {operation} secret {name} (401)"
                )
            return KmsError(
                f"Key Vault {vault}: {operation} of secret {name} failed with HTTP {exc.status_code} "
                f"({code or 'error'}), retries included"
            )
        if isinstance(exc, ServiceRequestError):
            return KmsError(f"cannot reach Key Vault {vault} to {operation} secret {name}: {_first_line(exc)}")
        if isinstance(exc, ServiceResponseError):
            return KmsError(
                f"Key Vault {vault} did not answer the {operation} of secret {name} in time (retries included); "
                "raise kmsTimeout or check the network"
            )
        return KmsError(f"Key Vault {vault}: {operation} of secret {name} failed: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "message", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


__all__ = ["CONTENT_TYPE", "SECRET_PREFIX", "VAULT_OPTION", "KeyVaultHeadStore", "secret_name"]
