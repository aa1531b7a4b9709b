"""Authenticated table manifests: the MAC that makes a table's set of files trustworthy, and the checks a task
runs on each file before reading it.

A table manifest (``storage.manifest``) carries a wrapped key. Its MAC key is HKDF-SHA256 of the unwrapped key
(info ``ppml-az table manifest v1``), and the MAC is HMAC-SHA256 over the manifest's canonical bytes. The key is
the write job's data key where the writer has it (so a read unwraps nothing extra: the files of that job need
the same key), else a fresh key wrapped for the manifest alone. Only whoever can wrap under the primary key
can produce a manifest that verifies; with a local key that is whoever holds the key file, with an RSA key in
Key Vault whoever holds its *public* key (docs/SECURITY.md says what follows).

Verification happens where the keys are: in the tasks (``keyDelivery=executor`` leaves the driver without
keys). The driver plans from the manifest bytes it read and records their SHA-256 in every split; a task reads
the manifest again (once per process), checks those bytes hash to the planned value, verifies the MAC, and
then checks its own file: named by the manifest, same size, same content commitment, and, for files that
record it (ppml-gcm), the table id and relative path in their authenticated header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import warnings
from base64 import b64decode, b64encode
from dataclasses import replace
from typing import BinaryIO

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import IntegrityError, PpmlError, WrongKeyError, with_source
from ..formats import ObjectInfo
from ..kms import KmsSettings, WrappedKey, build_kms, unwrap_cached
from ..storage import FileStatus, FileSystem
from ..storage.manifest import SUCCESS, FileEntry, Manifest, TableRef, TableState, manifest_bytes

MAC_INFO = b"ppml-az table manifest v1"


class UnboundFileWarning(UserWarning):
    """A file written before table manifests: nothing binds it to its table or path (seal the table)."""


def new_table_id() -> str:
    """A table's identity: 128 random bits, fixed at its first write."""
    return secrets.token_hex(16)


def _mac_key(material: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=MAC_INFO).derive(material)


def mac_of(manifest: Manifest, material: bytes) -> bytes:
    return hmac.new(_mac_key(material), manifest.signed_body(), hashlib.sha256).digest()


def wrapped_dict(wrapped: WrappedKey) -> dict[str, str]:
    return {
        "kms": wrapped.kms_type,
        "keyId": wrapped.key_id,
        "wrapAlgorithm": wrapped.algorithm,
        "wrappedKey": b64encode(wrapped.ciphertext).decode("ascii"),
    }


def wrapped_of(manifest: Manifest) -> WrappedKey:
    assert manifest.table is not None
    key = manifest.table.key
    return WrappedKey(key["kms"], key["keyId"], key["wrapAlgorithm"], b64decode(key["wrappedKey"]))


def signed(
    *,
    table_id: str,
    version: int,
    parent: str | None,
    entries: list[FileEntry],
    replaced: list[str],
    wrapped: WrappedKey,
    material: bytes,
) -> Manifest:
    """A new table manifest, MAC'd under ``material`` (the unwrapped form of ``wrapped``)."""
    state = TableState(table_id, version, parent, wrapped_dict(wrapped), tuple(entries))
    unsigned = Manifest(tuple(e.name for e in entries), tuple(replaced), state)
    mac = mac_of(unsigned, material)
    final = replace(unsigned, table=replace(state, mac=mac))
    return replace(final, sha256=hashlib.sha256(final.to_bytes()).hexdigest())


def verify(manifest: Manifest, kms_settings: KmsSettings, where: str) -> None:
    """Check a table manifest's MAC (unwrapping its key through the KMS, cached per process); IntegrityError
    naming ``where`` when it does not verify."""
    assert manifest.table is not None
    try:
        material = unwrap_cached(build_kms(kms_settings), wrapped_of(manifest))
    except PpmlError as exc:
        raise with_source(exc, where) from None
    except Exception as exc:  # KMS client failures: name the manifest, never echo key bytes
        raise WrongKeyError(f"{where}: the manifest's key could not be unwrapped ({type(exc).__name__})") from None
    if not hmac.compare_digest(mac_of(manifest, material), manifest.table.mac):
        raise IntegrityError(
            f"{where}: table manifest does not verify (modified, or written under another primary key); the "
            "table's list of files cannot be trusted. Restore _SUCCESS from a backup, or re-seal after checking "
            "every file (ppml-az table seal)"
        )


class _Verified:
    """Per-process cache of verified manifests by (root, SHA-256): a task verifies each manifest once, and the
    entries are looked up by name without scanning."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], tuple[Manifest, dict[str, FileEntry]]] = {}

    def get(self, fs: FileSystem, ref: TableRef, kms_settings: KmsSettings) -> tuple[Manifest, dict[str, FileEntry]]:
        key = (ref.root, ref.manifest_sha256)
        with self._lock:
            hit = self._items.get(key)
        if hit is not None:
            return hit
        path = fs.join(ref.root, SUCCESS)
        data = manifest_bytes(fs, path)
        if data is None:
            raise IntegrityError(f"{path}: table manifest vanished while this read ran; run the query again")
        if hashlib.sha256(data).hexdigest() != ref.manifest_sha256:
            raise IntegrityError(
                f"{path}: the table manifest changed while this read ran (planned from version {ref.version}); "
                "run the query again"
            )
        manifest = Manifest.parse(data, path)
        if manifest is None or manifest.table is None:
            raise IntegrityError(f"{path}: table manifest vanished while this read ran; run the query again")
        verify(manifest, kms_settings, path)
        entries = {e.name: e for e in manifest.table.entries}
        with self._lock:
            if len(self._items) > 64:  # bounded: a long-lived worker reads many tables
                self._items.clear()
            self._items[key] = (manifest, entries)
        return manifest, entries


VERIFIED = _Verified()


def check_file(
    fs: FileSystem, status: FileStatus, info: ObjectInfo, source: BinaryIO, kms_settings: KmsSettings | None
) -> None:
    """Before any row of ``status`` is read: it belongs where it was found.

    In a table (``status.table``): the manifest verifies, names this file with this size and content
    commitment, and a header that records a table id and path records this table and this path. Outside a
    table: a file whose header says it belongs to a table is refused (its manifest was removed, emptied or
    replaced, or the file was copied out of its table)."""
    ref = status.table
    env = info.envelope
    if ref is None:
        if env is not None and env.table is not None:
            raise IntegrityError(
                f"{status.path}: belongs to table {env.table} (as {env.path}) but is read without that table's "
                "authenticated manifest: _SUCCESS is missing, empty, foreign or replaced, or the file was copied "
                "out of its table. Restore the manifest, or read the file inside its table"
            )
        if env is not None:
            _warn_once(
                "outside",
                f"{status.path}: read outside any table (written by ppml-az encrypt, or before table manifests): "
                "a deleted, swapped or added file would go unnoticed; `ppml-az table seal DIR` binds a directory's "
                "files to a table without rewriting them",
            )
        return
    if kms_settings is None:
        raise IntegrityError(f"{status.path}: is part of an encrypted table but the read names no KMS")
    manifest, entries = VERIFIED.get(fs, ref, kms_settings)
    entry = entries.get(ref.name)
    if entry is None:
        raise IntegrityError(f"{status.path}: not named by the verified manifest of table {ref.table_id}")
    if entry.size != info.file_size:
        raise IntegrityError(
            f"{status.path}: is {info.file_size} bytes but table {ref.table_id} version {ref.version} recorded "
            f"{entry.size}; the file was replaced or modified"
        )
    if not hmac.compare_digest(info.codec.commitment(info, source), entry.commitment):
        raise IntegrityError(
            f"{status.path}: content differs from what table {ref.table_id} version {ref.version} recorded for "
            f"{ref.name} (swapped, replaced or copied from elsewhere)"
        )
    if env is not None and env.table is not None and (env.table, env.path) != (ref.table_id, ref.name):
        raise IntegrityError(
            f"{status.path}: was written as {env.path} of table {env.table}, not as {ref.name} of table "
            f"{ref.table_id} (moved, swapped or copied between tables)"
        )
    if env is not None and env.table is None:
        _warn_unbound(ref)


_warned: set[str] = set()


def _warn_unbound(ref: TableRef) -> None:
    _warn_once(
        ref.table_id,
        f"table {ref.table_id}: holds files written before tables bound files to their place; the manifest pins "
        "their content, but their headers do not name their table and path",
    )


def _warn_once(topic: str, message: str) -> None:
    """One warning per topic and process (a read of 30,000 files warns once)."""
    if topic not in _warned:
        _warned.add(topic)
        warnings.warn(message, UnboundFileWarning, stacklevel=4)


def commitment_of(fs: FileSystem, path: str, mode: str, *, unbound_only: bool = False) -> tuple[int, bytes]:
    """(size, commitment) of a file just written (or found, when sealing), from its public bytes.

    ``unbound_only``: the file is about to be adopted into a table from a directory without a verified table
    manifest (an append to an old directory); a file whose header names a table means that table's manifest
    was removed or garbled, and adopting its files (or files injected next to them) would launder them."""
    from ..formats import codec_for, probe

    size = fs.size(path)
    with fs.open_read(path) as source:
        codec = codec_for(mode)
        info = probe(source, size, path, mode) if codec.reads_head else codec.probe(None, size, path)
        env = info.envelope
        if unbound_only and env is not None and env.table is not None:
            raise IntegrityError(
                f"{path}: belongs to table {env.table} but its directory has no table manifest that verifies "
                "(removed, emptied or garbled _SUCCESS); restore the manifest before writing to this table"
            )
        return size, info.codec.commitment(info, source)


__all__ = [
    "UnboundFileWarning",
    "check_file",
    "commitment_of",
    "mac_of",
    "new_table_id",
    "signed",
    "verify",
    "wrapped_of",
]
