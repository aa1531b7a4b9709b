"""Table head stores: the newest version of every table, recorded outside the table's storage (rollback anchors).

Why: a table's authenticated manifest proves that a version is genuine, not that it is the newest one. Whoever
controls the storage can put back a complete older copy of a table, and every file of it still authenticates. A
head store keeps, per table id, the newest committed version and the SHA-256 of its manifest somewhere that
attacker cannot write: a local JSON file (development) or Azure Key Vault secrets (production). A commit
advances the head; a read that finds an older version than the head fails.

Options (names in any case; plain strings, so a store pickles to Spark workers and builds its clients there):

* ``tableHeadStore``: ``none`` (or absent/empty: no rollback protection), ``local``, ``azure-keyvault``, or a
  plug-in's name or alias.
* ``local``: ``tableHeadPath``. ``azure-keyvault``: ``tableHeadVault`` (or the KMS's ``vault``) plus the KMS's
  credential and connection options; see :mod:`.local` and :mod:`.azure`.

Backends are registered by import path, so naming ``local`` never imports the Azure SDK. Plug-ins are found once
per process through the entry-point group ``bigdl_ppml_az.table_heads``: each entry point's object is a class
with the class attributes ``store_type`` (canonical name), ``aliases`` and ``option_names``, a classmethod
``from_options(options)`` and the :class:`HeadStore` methods. A plug-in may also call :func:`register_store`.

Table ids come from manifests an attacker can replace, so every backend checks them with :func:`check_table_id`
before using one in a file key or a secret name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ..._registry import ClassRegistry
from ...errors import IntegrityError

ENTRY_POINT_GROUP = "bigdl_ppml_az.table_heads"
STORE_OPTION = "tableHeadStore"
TABLE_ID_LENGTH = 32
_TABLE_ID = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NO_STORE = ("", "none")


# ---- values ----------------------------------------------------------------------------------------------------


def check_table_id(table_id: object) -> str:
    """``table_id`` if it is exactly 32 lowercase hex characters; else IntegrityError (it came from a file)."""
    if isinstance(table_id, str) and _TABLE_ID.fullmatch(table_id):
        return table_id
    shown = repr(table_id)
    shown = shown if len(shown) <= 48 else shown[:45] + "..."
    raise IntegrityError(
        f"table id {shown} is not {TABLE_ID_LENGTH} lowercase hex characters; "
        "the table's manifest was modified or is not a ppml-az table"
    )


@dataclass(frozen=True)
class TableHead:
    """A table's newest committed version and the SHA-256 (lowercase hex) of that version's manifest bytes."""

    version: int
    manifest_sha256: str

    def __post_init__(self) -> None:
        if type(self.version) is not int or self.version < 0:  # bool is an int: refused too
            raise ValueError(f"TableHead.version must be a whole number >= 0, got {self.version!r}")
        if not isinstance(self.manifest_sha256, str) or not _SHA256.fullmatch(self.manifest_sha256):
            raise ValueError("TableHead.manifest_sha256 must be 64 lowercase hex characters (hashlib hexdigest)")

    @property
    def label(self) -> str:
        """``version N (sha 0123456789ab...)``: enough to tell heads apart in a message."""
        return f"version {self.version} (sha {self.manifest_sha256[:12]}...)"

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "manifestSha256": self.manifest_sha256}

    @classmethod
    def from_json(cls, value: object, where: str) -> TableHead:
        """A stored ``{"version": n, "manifestSha256": hex}``; anything else is IntegrityError naming ``where``."""
        if isinstance(value, dict) and set(value) == {"version", "manifestSha256"}:
            try:
                return cls(value["version"], value["manifestSha256"])
            except ValueError:
                pass
        raise IntegrityError(
            f'{where}: not a table head ({{"version": n, "manifestSha256": hex}} expected); '
            "it was changed outside ppml-az: restore it from a backup"
        )


def _label(head: TableHead | None) -> str:
    return head.label if head is not None else "no version"


def check_advance(
    table_id: str, stored: TableHead | None, head: TableHead, expected: TableHead | None, store: str
) -> None:
    """The one rule every backend applies before recording ``head``: never backwards or sideways.

    ``expected`` (when given) is the head the committing writer started from; a stored head that differs means
    another writer committed in between, or the store's record and the table disagree. A stored version at or
    above ``head.version`` is refused even without ``expected``.
    """
    if expected is not None and stored != expected:
        raise IntegrityError(
            f"table {table_id}: head store {store} holds {_label(stored)}, this commit expected "
            f"{expected.label}; another writer committed in between, or the table was rolled back"
        )
    if stored is not None and stored.version >= head.version:
        raise IntegrityError(
            f"table {table_id}: head store {store} holds {stored.label}, not older than this commit's "
            f"{head.label}; heads only move forward: another writer committed first, or the table was rolled back"
        )


def option(options: Mapping[str, str], name: str) -> str | None:
    """Option ``name`` in any case; None when absent or empty."""
    wanted = name.lower()
    for key, value in options.items():
        if str(key).lower() == wanted and value is not None and str(value) != "":
            return str(value)
    return None


# ---- protocols -------------------------------------------------------------------------------------------------


class HeadStore(Protocol):
    """Where the newest version of each table is anchored. Instances pickle; network clients are built lazily."""

    store_type: str

    def get(self, table_id: str) -> TableHead | None:
        """The recorded head of ``table_id``, or None if this store has never seen the table."""
        ...

    def advance(self, table_id: str, head: TableHead, *, expected: TableHead | None) -> None:
        """Record ``head`` as the newest; IntegrityError (see :func:`check_advance`) instead of going back."""
        ...

    def describe(self) -> str:
        """Where the heads live, for messages (never a secret)."""
        ...


class HeadStoreBackend(Protocol):
    """A backend class: what the registry needs before any instance exists."""

    store_type: str
    aliases: tuple[str, ...]
    option_names: tuple[str, ...]

    def from_options(self, options: Mapping[str, str]) -> HeadStore: ...


# ---- registry --------------------------------------------------------------------------------------------------

# The one definition of the built-in stores' aliases (the registry needs them before it imports a store).
LOCAL_ALIASES = ("file",)
AZURE_ALIASES = ("azure", "keyvault", "akv")

# canonical name -> (import path "module:Class", aliases). Imported on first use.
_BUILTINS: dict[str, tuple[HeadStoreBackend | str, tuple[str, ...]]] = {
    "local": ("bigdl_ppml_az.table.heads.local:LocalHeadStore", LOCAL_ALIASES),
    "azure-keyvault": ("bigdl_ppml_az.table.heads.azure:KeyVaultHeadStore", AZURE_ALIASES),
}
S = TypeVar("S")

def _unknown(name: str | None, known: list[str]) -> str:
    return (
        f"option {STORE_OPTION}={name}: unknown head store; use none or one of: {', '.join(known)} "
        f"(a plug-in registers in the entry-point group {ENTRY_POINT_GROUP})"
    )


REGISTRY: ClassRegistry[HeadStoreBackend] = ClassRegistry(
    group=ENTRY_POINT_GROUP,
    name_attr="store_type",
    required=("from_options", "get", "advance", "describe"),
    builtins=_BUILTINS,
    noun="head store",
    kind="head store",
    title="head store",
    option=STORE_OPTION,
    unknown=_unknown,
    reserved=_NO_STORE,
    reserved_why=f" ({STORE_OPTION}=none turns it off)",
)


def register_store(cls: S) -> S:
    """Register a head store class (usable as a decorator); entry points need not call it, the registry does."""
    return REGISTRY.register_class(cls)


def refresh_plugins() -> None:
    """Look at the entry points again (a long-lived process that pip-installed a plug-in after first use)."""
    REGISTRY.refresh()


def normalize_store_type(name: str | None) -> str:
    """Canonical store name for a name or alias (``akv`` -> ``azure-keyvault``); ConfigError for unknown ones."""
    return REGISTRY.normalize(name)


def store_class_for(name: str) -> HeadStoreBackend:
    """The backend class for a name or alias, imported on first use."""
    return REGISTRY.get(name)


def known_stores() -> list[str]:
    """Canonical names with their aliases, for messages and ``--help`` (plug-ins included)."""
    return REGISTRY.known()


def canonical_names() -> list[str]:
    return REGISTRY.canonical_names()


def head_store_option_names() -> frozenset[str]:
    """Lower-cased option names any registered store accepts (for the options' unknown-option check)."""
    return REGISTRY.option_names((STORE_OPTION,))


def head_store_for(options: Mapping[str, str]) -> HeadStore | None:
    """The head store ``tableHeadStore`` names, built from ``options`` (no network); None when it is off."""
    name = (option(options, STORE_OPTION) or "").strip()
    if name.lower() in _NO_STORE:
        return None
    return store_class_for(name).from_options(options)


__all__ = [
    "AZURE_ALIASES",
    "ENTRY_POINT_GROUP",
    "LOCAL_ALIASES",
    "STORE_OPTION",
    "TABLE_ID_LENGTH",
    "HeadStore",
    "HeadStoreBackend",
    "TableHead",
    "canonical_names",
    "check_advance",
    "check_table_id",
    "head_store_for",
    "head_store_option_names",
    "known_stores",
    "normalize_store_type",
    "option",
    "refresh_plugins",
    "register_store",
    "store_class_for",
]
