"""The committed state of an output directory, recorded in its ``_SUCCESS`` file.

A job commit cannot replace a directory's files atomically (object stores have no directory rename), so a
``ppml-enc`` write publishes in three steps: (1) rename the new part files in next to the old ones, (2) replace
``_SUCCESS`` with a manifest naming the files of the new state (and the old files it replaces), (3) delete the
replaced files. Readers read what the manifest names, so a crash after any step shows either the old or the new
state, never both and never neither. Hadoop's S3A committers use the same trick (a JSON ``_SUCCESS``).

Two manifest shapes. A **table manifest** (``ppml-az-table``, written by every encrypted ``ppml-enc`` write)
also carries the table's random id, a version that grows by one per commit, its parent's SHA-256, a wrapped
key and per file its size and a commitment to its content (``Codec.commitment``), all under a MAC
(``bigdl_ppml_az.table``, which holds the keys; this module only parses). For a table manifest the rules are
strict: exactly the manifest's files are read; a listed file the manifest does not name is an integrity error
(unless it is an uncommitted part or a replaced file of a commit in progress), and so is a named file that is
missing. A **commit record** (``ppml-az-commit``: plaintext writes, and tables written before table manifests)
names files only; an empty ``_SUCCESS`` (Spark, BigDL) or none means "no manifest": every data file is read.

A partitioned table (``partitionBy``) has one manifest, in its root, naming files below its ``key=value``
directories (``mode=AIR/part-...``); reading one such directory alone is decided by the root's manifest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import IntegrityError
from ..safeio import loads_bounded

if TYPE_CHECKING:  # pragma: no cover
    from . import FileStatus, FileSystem

SUCCESS = "_SUCCESS"
MANIFEST_KEY = "ppml-az-commit"
TABLE_KEY = "ppml-az-table"
TABLE_FORMAT = 1
TABLE_ID = re.compile(r"^[0-9a-f]{32}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_NAME = 4096
MAX_MANIFEST_BYTES = 64 << 20  # bounded read: a manifest names at most a few hundred thousand files
PART_NAME = re.compile(r"^part-\d{5,}-[0-9a-f]{32}\.")


@dataclass(frozen=True)
class FileEntry:
    """One file of a table version: its name below the root, size and content commitment (32 bytes)."""

    name: str
    size: int
    commitment: bytes = field(repr=False)


@dataclass(frozen=True)
class TableState:
    """What a table manifest adds to a commit record: identity, version chain, the MAC key (wrapped) and MAC."""

    table_id: str
    version: int
    parent: str | None  # SHA-256 (hex) of the parent version's manifest bytes; None for version 1
    key: dict[str, str] = field(repr=False)  # kms, keyId, wrapAlgorithm, wrappedKey (Base64): the MAC key, wrapped
    entries: tuple[FileEntry, ...] = field(repr=False)
    mac: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class Manifest:
    """Relative names (``/``-separated, below the directory) of the committed data files and of replaced ones;
    ``table`` for a table manifest. ``sha256``: of the bytes it was parsed from (what a head store records)."""

    files: tuple[str, ...]
    replaced: tuple[str, ...] = ()
    table: TableState | None = None
    sha256: str = ""

    def signed_body(self) -> bytes:
        """The canonical bytes a table manifest's MAC covers: everything but the MAC, sorted, compact, ASCII."""
        assert self.table is not None
        t = self.table
        body = {
            TABLE_KEY: TABLE_FORMAT,
            "table": t.table_id,
            "version": t.version,
            "parent": t.parent,
            "key": dict(t.key),
            "files": [[e.name, e.size, e.commitment.hex()] for e in t.entries],
            "replaced": list(self.replaced),
        }
        return _canonical(body)

    def to_bytes(self) -> bytes:
        if self.table is None:
            body = {MANIFEST_KEY: 1, "files": list(self.files), "replaced": list(self.replaced)}
            return json.dumps(body, separators=(",", ":")).encode("utf-8")
        body = json.loads(self.signed_body())
        body["mac"] = self.table.mac.hex()
        return _canonical(body)

    @classmethod
    def parse(cls, data: bytes, where: str) -> Manifest | None:
        """``None`` for an empty or foreign ``_SUCCESS``; IntegrityError for a damaged manifest of ours.
        A table manifest is parsed, not verified: its MAC needs the KMS (``bigdl_ppml_az.table``)."""
        if not data.strip():
            return None
        try:
            body = loads_bounded(data, f"{where}: commit manifest", IntegrityError)
        except (UnicodeDecodeError, ValueError):
            return None  # not ours (another committer's _SUCCESS): no manifest
        if isinstance(body, dict) and TABLE_KEY in body:
            return _parse_table(body, where, hashlib.sha256(data).hexdigest())
        if not isinstance(body, dict) or MANIFEST_KEY not in body:
            return None
        files, replaced = body.get("files"), body.get("replaced", [])
        if not isinstance(files, list) or not isinstance(replaced, list) or not _names(files + replaced):
            raise IntegrityError(f"{where}: damaged commit manifest (files/replaced must be lists of names)")
        return cls(tuple(files), tuple(replaced), sha256=hashlib.sha256(data).hexdigest())


def _canonical(body: object) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _parse_table(body: dict[str, object], where: str, sha256: str) -> Manifest:
    """A table manifest's fields, each checked for type and bounds (the file is hostile until its MAC checks)."""

    def damaged(what: str) -> IntegrityError:
        return IntegrityError(
            f"{where}: damaged table manifest ({what}); restore it from a backup, or re-seal the table"
        )

    if body.get(TABLE_KEY) != TABLE_FORMAT:
        raise damaged(f"unknown format {str(body.get(TABLE_KEY))[:20]!r}")
    table_id, version, parent = body.get("table"), body.get("version"), body.get("parent")
    if not isinstance(table_id, str) or not TABLE_ID.match(table_id):
        raise damaged("table id")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version < 1 << 62:
        raise damaged("version")
    if not (parent is None or (isinstance(parent, str) and SHA256_HEX.match(parent))):
        raise damaged("parent hash")
    key = body.get("key")
    if not isinstance(key, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in key.items()):
        raise damaged("key")
    if set(key) != {"kms", "keyId", "wrapAlgorithm", "wrappedKey"}:
        raise damaged("key fields")
    try:
        base64.b64decode(key["wrappedKey"], validate=True)
        mac = bytes.fromhex(str(body.get("mac", "")))
    except (binascii.Error, ValueError):
        raise damaged("key or MAC encoding") from None
    files, replaced = body.get("files"), body.get("replaced", [])
    if not isinstance(files, list) or not isinstance(replaced, list) or not _names(replaced):
        raise damaged("files/replaced")
    entries: list[FileEntry] = []
    for item in files:
        if not (isinstance(item, list) and len(item) == 3 and _names(item[:1])):
            raise damaged("file entry")
        name, size, commitment = item
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(commitment, str):
            raise damaged(f"file entry {str(name)[:60]}")
        if not SHA256_HEX.match(commitment):
            raise damaged(f"commitment of {name[:60]}")
        entries.append(FileEntry(name, size, bytes.fromhex(commitment)))
    names = tuple(e.name for e in entries)
    if len(set(names)) != len(names):
        raise damaged("a file is named twice")
    state = TableState(table_id, version, parent, dict(key), tuple(entries), mac)
    return Manifest(names, tuple(replaced), state, sha256)


def _names(values: list[object]) -> bool:
    return all(
        isinstance(v, str) and v and len(v) <= MAX_NAME and ".." not in v.split("/") and not v.startswith("/")
        and "\x00" not in v
        for v in values
    )


def manifest_bytes(fs: FileSystem, path: str) -> bytes | None:
    """The bytes of the ``_SUCCESS`` file at ``path`` (None when there is none), read only up to a bound."""
    if not fs.exists(path):
        return None
    if fs.size(path) > MAX_MANIFEST_BYTES:
        raise IntegrityError(f"{path}: commit manifest larger than {MAX_MANIFEST_BYTES} bytes")
    return fs.read_bytes(path)


def read_manifest(fs: FileSystem, directory: str) -> Manifest | None:
    """The directory's manifest, if it has one of ours."""
    path = fs.join(directory, SUCCESS)
    data = manifest_bytes(fs, path)
    return None if data is None else Manifest.parse(data, path)


def write_manifest(fs: FileSystem, directory: str, manifest: Manifest, temp_dir: str) -> None:
    """Replace ``_SUCCESS`` in one step: write a temporary file, then rename it over the old one."""
    temp = fs.join(temp_dir, SUCCESS)
    with fs.open_write(temp) as handle:
        handle.write(manifest.to_bytes())
    fs.rename(temp, fs.join(directory, SUCCESS))


def relative_name(directory: str, path: str) -> str:
    base = directory.rstrip("/") + "/"
    return path[len(base) :] if path.startswith(base) else posixpath.basename(path)


def is_uncommitted_part(name: str) -> bool:
    """A ``ppml-enc`` part file name (``part-00003-<job id>.csv.enc``): only a manifest makes it visible."""
    return PART_NAME.match(posixpath.basename(name)) is not None


MAX_PARTITION_DEPTH = 32  # key=value levels looked through for a table root's manifest


def governing_manifest(fs: FileSystem, directory: str) -> tuple[str, Manifest] | None:
    """The manifest that decides ``directory``'s files, and the directory holding it: its own, or for a
    ``key=value`` directory of a partitioned table (``t/mode=AIR``, read alone), the table root's."""
    current = directory.rstrip("/")
    for _ in range(MAX_PARTITION_DEPTH + 1):
        manifest = read_manifest(fs, current)
        if manifest is not None:
            return current, manifest
        parent, name = posixpath.split(current)
        if "=" not in name or not parent or parent == current:
            return None
        current = parent
    return None


@dataclass(frozen=True)
class TableRef:
    """Where a listed file sits in a table: what a task needs to check it against the authenticated manifest.
    ``manifest_sha256`` pins the exact manifest bytes the driver planned from (tasks verify their MAC)."""

    root: str
    manifest_sha256: str
    table_id: str
    version: int
    name: str  # relative path below root


def committed(fs: FileSystem, directory: str, statuses: list[FileStatus]) -> list[FileStatus]:
    """The files of ``directory``'s committed state among ``statuses`` (its listing); all of them without a
    manifest. A file the manifest names but the listing lacks is an error: the table lost data. Below a
    partitioned table's root the root's manifest decides, for the names under this directory. Under a table
    manifest every returned status carries its :class:`TableRef` and a file the manifest does not name is an
    error (see the module docstring)."""
    found = governing_manifest(fs, directory)
    if found is None:
        return statuses
    root, manifest = found
    below = directory.rstrip("/")
    prefix = below[len(root) + 1 :] + "/" if below != root else ""  # "mode=AIR/" for t/mode=AIR
    by_name = {prefix + relative_name(directory, s.path): s for s in statuses}
    missing = [name for name in manifest.files if name.startswith(prefix) and name not in by_name]
    if missing:
        raise IntegrityError(
            f"{fs.join(root, missing[0])}: named by the commit manifest {fs.join(root, SUCCESS)} "
            f"but missing ({len(missing)} file(s) missing); the table lost data"
        )
    listed, replaced = set(manifest.files), set(manifest.replaced)
    if manifest.table is None:
        return [
            status
            for name, status in by_name.items()
            if name in listed or (name not in replaced and not is_uncommitted_part(name))
        ]
    extra = [n for n in by_name if n not in listed and n not in replaced and not is_uncommitted_part(n)]
    if extra:
        raise IntegrityError(
            f"{fs.join(root, extra[0])}: not part of table {manifest.table.table_id} (its authenticated manifest "
            f"{fs.join(root, SUCCESS)}, version {manifest.table.version}, does not name it; {len(extra)} such "
            "file(s)); a file was added, moved or renamed in the table: remove it, or rewrite the table"
        )
    return [bound(status, root, manifest, name) for name, status in by_name.items() if name in listed]


def bound(status: FileStatus, root: str, manifest: Manifest, name: str) -> FileStatus:
    """``status`` carrying its place in the table of ``manifest`` (a table manifest)."""
    from dataclasses import replace

    assert manifest.table is not None
    ref = TableRef(root, manifest.sha256, manifest.table.table_id, manifest.table.version, name)
    return replace(status, table=ref)


def committed_file(fs: FileSystem, path: str, status: FileStatus) -> FileStatus:
    """A single file named directly (``load("t/part-0.csv.enc")``): bound to its table when a table manifest
    governs its directory and names it; a file such a manifest does not name is an error, as in a listing."""
    directory = posixpath.dirname(path.rstrip("/"))
    if not directory:
        return status
    found = governing_manifest(fs, directory)
    if found is None or found[1].table is None:
        return status
    root, manifest = found
    name = path[len(root.rstrip("/")) + 1 :]
    if name in set(manifest.files):
        return bound(status, root, manifest, name)
    if name in set(manifest.replaced) or is_uncommitted_part(name):
        raise IntegrityError(f"{path}: not a committed file of its table (an uncommitted or replaced part)")
    assert manifest.table is not None
    raise IntegrityError(
        f"{path}: not part of table {manifest.table.table_id} (its authenticated manifest {fs.join(root, SUCCESS)}"
        " does not name it); a file was added, moved or renamed in the table"
    )
