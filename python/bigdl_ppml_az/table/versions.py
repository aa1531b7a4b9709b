"""Table versions against rollback: what a read and a write check against the table head store.

A table manifest verifies by its MAC, but an older manifest of the same table verifies too: putting back a
whole older copy of a table (rollback) is invisible to the storage alone. A head store outside the storage
(``tableHeadStore``: a local file, Azure Key Vault secrets, plug-ins) records each table's newest version and
manifest hash; a read of an older version fails naming both versions. Without a head store whole-table
rollback is not detected; ``expectVersion`` lets a job pin the version it was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import IntegrityError
from ..options import as_options

if TYPE_CHECKING:  # pragma: no cover
    from .heads import HeadStore, TableHead


def _store(options: Mapping[str, str]) -> HeadStore | None:
    """The configured head store; the registry is imported only when the option is given."""
    if not any(k.lower() == "tableheadstore" and str(v).strip() for k, v in options.items()):
        return None
    from .heads import head_store_for

    return head_store_for(options)


def expected_version(options: Mapping[str, str]) -> int | None:
    """Option ``expectVersion``: the table version a read must find (a positive integer)."""
    value = as_options(options).get_int("expectVersion")
    return value or None


def check_read_version(root: str, table_id: str, version: int, sha256: str, options: Mapping[str, str]) -> None:
    """Fail when the manifest found is older than the head store's, or not the version the job expects."""
    expected = expected_version(options)
    if expected is not None and expected != version:
        raise IntegrityError(
            f"{root}: table {table_id} is at version {version}, but expectVersion={expected}; "
            + ("it was rolled back, or " if version < expected else "")
            + "another job committed since the version was recorded"
        )
    store = _store(options)
    if store is None:
        return
    head = store.get(table_id)
    if head is None:
        return  # a table the store has not seen yet (written without the store): nothing to compare
    if head.version > version:
        raise IntegrityError(
            f"{root}: table {table_id} was rolled back: the storage holds version {version}, the head store "
            f"({store.describe()}) records version {head.version}. Restore the newest version, or if the rollback "
            "was intended, write the table anew"
        )
    if head.version == version and head.manifest_sha256 != sha256:
        raise IntegrityError(
            f"{root}: table {table_id} version {version} is not the version the head store ({store.describe()}) "
            "recorded (another manifest with the same version number)"
        )


def check_write_base(root: str, table_id: str, version: int, options: Mapping[str, str]) -> TableHead | None:
    """Before a commit builds on version ``version``: the head store must not know a newer one (the base was
    rolled back). Returns the head to pass as ``expected`` when advancing."""
    store = _store(options)
    if store is None:
        return None
    head = store.get(table_id)
    if head is not None and head.version > version:
        raise IntegrityError(
            f"{root}: table {table_id} was rolled back: the storage holds version {version}, the head store "
            f"({store.describe()}) records version {head.version}; this write would build on the old version. "
            "Restore the newest version first"
        )
    return head


def advance(table_id: str, version: int, sha256: str, expected: TableHead | None, options: Mapping[str, str]) -> None:
    """Record a committed version in the head store (when one is configured)."""
    store = _store(options)
    if store is not None:
        from .heads import TableHead

        store.advance(table_id, TableHead(version, sha256), expected=expected)


__all__ = ["advance", "check_read_version", "check_write_base", "expected_version"]
