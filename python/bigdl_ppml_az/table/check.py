"""Whole-table checks: what ``ppml-az table verify`` and ``ppml-az table seal`` do.

A read authenticates only what it decrypts, and the per-file check before a read (``integrity.check_file``)
pins a file by its commitment: a few bytes (envelope, streaming header, final tag; BigDL's header and HMAC; a
PME footer), not every byte. A segment flipped in the middle of a large ppml-gcm part keeps its commitment and
fails only when that segment is decrypted. :func:`verify_table` therefore decrypts every unit of every file
(plaintext is discarded as it is produced, never written anywhere), after checking the manifest's MAC, the
head store's version and the set of files, so a table that passes verification reads without an integrity
error.

:func:`seal_table` gives a directory written without a table manifest (by BigDL, ``ppml-az encrypt`` or a
``ppml-enc`` version before table manifests) its first one: every file is authenticated the same way first,
so a seal never vouches for data that does not authenticate. Files are not rewritten.

Also here: what ``ppml-az inspect`` says about a file's integrity and its table, from its header and the
manifest's public fields only (no key is used, so nothing there is verified).
"""

from __future__ import annotations

import posixpath
import secrets
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlparse

from ..errors import (
    ConfigError,
    IntegrityError,
    PpmlError,
    StorageError,
    UnknownFormatError,
    WrongKeyError,
    with_source,
)
from ..formats import HEAD_SIZE, Codec, DataKey, ObjectInfo, detect, iter_plaintext, open_reader, pme, ppml_gcm
from ..formats import probe as probe_header
from ..kms import KmsSettings, build_kms, generate_data_key, unwrap_cached
from ..kms.resolve import fs_sidecar_reader, resolve_wrapped_key
from ..storage import FileStatus, FileSystem, LocalFileSystem, expand_paths, filesystem_for
from ..storage.manifest import (
    SUCCESS,
    FileEntry,
    Manifest,
    governing_manifest,
    manifest_bytes,
    read_manifest,
    relative_name,
    write_manifest,
)
from .integrity import UnboundFileWarning, check_file, commitment_of, new_table_id, signed, verify
from .versions import advance, check_read_version

if TYPE_CHECKING:  # pragma: no cover
    from .heads import HeadStore

TEMP_DIR = "_temporary"  # where ppml-enc stages its commits too; hidden from listings
Progress = Callable[[int, int], None]
"""Called with (files done, files in total): once before the first file and after each one."""


@dataclass(frozen=True)
class TableReport:
    """What a verify or a seal found. ``head_store``/``head_version``: the configured store's description and the
    version it records for the table (None when no store is configured, or it has no record)."""

    path: str
    table_id: str
    version: int
    files: int
    total_bytes: int
    head_store: str | None = None
    head_version: int | None = None
    modes: tuple[str, ...] = ()
    partial: tuple[str, ...] = ()  # files whose format leaves part of the content unauthenticated (PME CTR)
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------- verify


def verify_table(path: str, options: Mapping[str, str], progress: Progress | None = None) -> TableReport:
    """Check the table at ``path`` completely: manifest MAC, head store version (and ``expectVersion``), the set
    of files, and every byte of every file. Raises the first problem as a :class:`PpmlError` naming its file."""
    fs, root = _directory(path, options)
    settings = KmsSettings.from_options(options)
    success = fs.join(root, SUCCESS)
    manifest = _sealed_manifest(fs, root)
    assert manifest.table is not None
    table = manifest.table
    verify(manifest, settings, success)
    check_read_version(root, table.table_id, table.version, manifest.sha256, options)
    store, head_version = _head(_store(options), table.table_id)
    statuses = expand_paths([root], options)  # a named file missing, or a file not named: IntegrityError here
    for status in statuses:
        if status.table is None or status.table.manifest_sha256 != manifest.sha256:
            raise IntegrityError(f"{success}: the table manifest changed while it was verified; run verify again")
    modes: set[str] = set()
    partial: list[str] = []
    unbound = 0
    _report(progress, 0, len(statuses))
    for done, status in enumerate(statuses, 1):
        info = _probe(fs, status)
        with warnings.catch_warnings():  # counted below instead: one note, not a warning per table
            warnings.simplefilter("ignore", UnboundFileWarning)
            with _open(fs, status.path) as source:
                check_file(fs, status, info, source, settings)
        if info.envelope is not None and info.envelope.table is None:
            unbound += 1
        if not _authenticate(fs, status, info, settings):
            partial.append(status.path)
        modes.add(_mode_label(info))
        _report(progress, done, len(statuses))
    notes: list[str] = []
    if store is not None and head_version is None:
        notes.append(f"the head store ({store}) has no record of this table: rollback to an older version is not "
                     "detected until a write or a seal records it")  # fmt: skip
    elif store is not None and head_version is not None and head_version < table.version:
        notes.append(f"the head store ({store}) records version {head_version}, older than this version "
                     f"{table.version} (a commit did not advance it)")  # fmt: skip
    if store is None:
        notes.append("no head store configured (--head-store): a rollback of the whole table is not detected")
    if unbound:
        notes.append(f"{unbound} ppml-gcm file(s) predate table binding: the manifest pins their content, their "
                     "headers do not name this table")  # fmt: skip
    return TableReport(
        root, table.table_id, table.version, len(statuses), sum(s.size for s in statuses), store, head_version,
        tuple(sorted(modes)), tuple(partial), tuple(notes),
    )  # fmt: skip


def _sealed_manifest(fs: FileSystem, root: str) -> Manifest:
    """The table manifest of ``root``; a commit record or no manifest is an error that says what to do."""
    manifest = read_manifest(fs, root)  # a damaged table manifest raises here, naming _SUCCESS
    if manifest is not None and manifest.table is not None:
        return manifest
    if manifest is None:
        _refuse_partition(fs, root, "verify")
    what = "its _SUCCESS is a commit record (file names, no MAC)" if manifest else "it has no table manifest"
    raise IntegrityError(
        f"{fs.join(root, SUCCESS)}: not a sealed table ({what}), so nothing authenticates its set of files. If "
        "ppml-enc wrote it, its manifest was removed or replaced: restore _SUCCESS from a backup; otherwise seal "
        f"it once: ppml-az table seal {root}"
    )


def _refuse_partition(fs: FileSystem, root: str, command: str) -> None:
    """A directory inside a table (``t/mode=AIR``, or ``t/sub`` of a sealed tree): its files belong to the table
    at ``t`` and are checked from there; sealing it separately would nest a second table inside the first."""
    found = governing_manifest(fs, root)
    if found is not None and found[1].table is not None and found[0].rstrip("/") != root.rstrip("/"):
        outer = found[0]
    elif found is None and (enclosing := enclosing_table(fs, root)) is not None:
        outer = enclosing[0]
    else:
        return
    if command == "seal":
        raise ConfigError(f"{root}: is a directory inside the table at {outer}, sealed with it; check it with "
                          f"ppml-az table verify {outer}")  # fmt: skip
    raise ConfigError(f"{root}: is a directory inside the table at {outer}; verify the table: "
                      f"ppml-az table verify {outer}")  # fmt: skip


MAX_DEPTH = 32  # directory levels looked through for a table root above a path


def enclosing_table(fs: FileSystem, path: str) -> tuple[str, Manifest] | None:
    """The nearest directory above ``path`` with a table manifest that names ``path`` (a file) or files below it
    (a directory): a table sealed or written at a higher level than a read of ``path`` alone would look. The
    search stops at the first manifest of any kind, or at the top of the file system or container."""
    target = path.rstrip("/")
    current = target
    for _ in range(MAX_DEPTH):
        parent = posixpath.dirname(current)
        _, sep, rest = parent.partition("://")
        if not parent or parent == current or (sep and "/" not in rest.strip("/")):
            return None
        try:
            manifest = read_manifest(fs, parent)
        except PpmlError:
            return None
        if manifest is not None:
            if manifest.table is None:
                return None
            name = target[len(parent.rstrip("/")) + 1 :]
            if name in set(manifest.files) or any(n.startswith(name + "/") for n in manifest.files):
                return parent, manifest
            return None
        current = parent
    return None


def _store(options: Mapping[str, str]) -> HeadStore | None:
    """The configured head store (built from the options, no network), None without one."""
    from .heads import head_store_for, option

    if not (option(options, "tableHeadStore") or "").strip():
        return None
    return head_store_for(options)


def _head(store: HeadStore | None, table_id: str) -> tuple[str | None, int | None]:
    """(description, recorded version) of ``store`` for the table; (None, None) without a store."""
    if store is None:
        return None, None
    head = store.get(table_id)
    return store.describe(), (head.version if head is not None else None)


# ---------------------------------------------------------------------------------------------- seal


def seal_table(
    path: str, options: Mapping[str, str], progress: Progress | None = None, *, replace_unverified: bool = False
) -> TableReport:
    """Give the directory ``path`` (no table manifest yet) a table manifest, version 1, after authenticating every
    file it holds (only the committed ones under a commit record). Refuses plaintext files, files whose header
    binds them to a table, and a directory whose table manifest verifies ("already sealed"). A table manifest
    that does not verify is replaced only with ``replace_unverified`` (after the operator checked the files)."""
    fs, root = _directory(path, options)
    settings = KmsSettings.from_options(options)
    head_store = _store(options)  # a misconfigured head store fails now, before any file is read
    success = fs.join(root, SUCCESS)
    _refuse_partition(fs, root, "seal")
    existing, unverified = _existing(fs, root, settings, replace_unverified)
    before = manifest_bytes(fs, success)
    # a commit record says which files are committed; a manifest that does not verify cannot: take them all
    statuses = fs.list_files(root) if unverified else expand_paths([root], options)
    if not statuses:
        raise StorageError(f"{root}: no data files to seal (hidden files like .meta are skipped)")
    _refuse_nested_tables(fs, root, statuses)
    entries: list[FileEntry] = []
    modes: set[str] = set()
    partial: list[str] = []
    _report(progress, 0, len(statuses))
    for done, status in enumerate(statuses, 1):
        info = _probe(fs, status)
        env = info.envelope
        if env is not None and env.table is not None:
            raise IntegrityError(
                f"{status.path}: was written into table {env.table} (as {env.path}); seal adopts only files written "
                "outside tables. Restore that table's _SUCCESS from a backup, or copy the rows with ppml-enc"
            )
        size, commitment = commitment_of(fs, status.path, info.mode)
        if not _authenticate(fs, status, info, settings):
            partial.append(status.path)
        if commitment_of(fs, status.path, info.mode) != (size, commitment):
            raise IntegrityError(f"{status.path}: changed while it was sealed; check it and run seal again")
        entries.append(FileEntry(_name(root, status.path), size, commitment))
        modes.add(_mode_label(info))
        _report(progress, done, len(statuses))
    if manifest_bytes(fs, success) != before:
        raise IntegrityError(f"{success}: changed while the table was sealed (another job wrote it); run seal again")
    replaced = list(existing.replaced) if existing is not None and existing.table is None else []
    material, wrapped = generate_data_key(build_kms(settings))  # the MAC key: fresh, wrapped for this manifest
    manifest = signed(
        table_id=new_table_id(), version=1, parent=None, entries=entries, replaced=replaced, wrapped=wrapped,
        material=material,
    )  # fmt: skip
    assert manifest.table is not None
    temp_root = fs.join(root, TEMP_DIR)
    temp = fs.join(temp_root, f"seal-{secrets.token_hex(8)}")
    try:
        write_manifest(fs, root, manifest, temp)
    finally:
        with suppress(PpmlError, OSError):  # best effort: a leftover temp dir is hidden from readers
            fs.delete(temp)
            if not fs.list_files(temp_root):
                fs.delete(temp_root)
    advance(manifest.table.table_id, 1, manifest.sha256, None, options)
    store, head_version = _head(head_store, manifest.table.table_id)
    notes: list[str] = []
    if replaced:
        notes.append(f"{len(replaced)} replaced file(s) of an unfinished commit stay outside the table; delete them")
    if store is None:
        notes.append("no head store configured (--head-store): a rollback of the whole table is not detected")
    nested = [e.name for e in entries if any("=" not in part for part in e.name.split("/")[:-1])]
    if nested:
        notes.append(
            f"{len(nested)} file(s) in subdirectories that are not key=value partitions (e.g. {nested[0]}): "
            "read the table from its root; a read of such a subdirectory alone does not see the manifest"
        )
    return TableReport(
        root, manifest.table.table_id, 1, len(entries), sum(e.size for e in entries), store, head_version,
        tuple(sorted(modes)), tuple(partial), tuple(notes),
    )  # fmt: skip


def _refuse_nested_tables(fs: FileSystem, root: str, statuses: list[FileStatus]) -> None:
    """A table below ``root`` (``data/t1`` when sealing ``data``) keeps its own manifest: one table per seal."""
    below: set[str] = set()
    base = root.rstrip("/") + "/"
    for status in statuses:
        directory = posixpath.dirname(status.path)
        while directory.startswith(base) and directory not in below:
            below.add(directory)
            directory = posixpath.dirname(directory)
    for directory in sorted(below):
        try:
            manifest = read_manifest(fs, directory)
        except IntegrityError:
            manifest = None  # a damaged table manifest: its files are refused or authenticated like any other
        if manifest is not None and manifest.table is not None:
            raise ConfigError(
                f"{directory}: is a table of its own (table {manifest.table.table_id}) inside {root}; seal and verify "
                "tables one by one"
            )


def _existing(
    fs: FileSystem, root: str, settings: KmsSettings, replace_unverified: bool
) -> tuple[Manifest | None, bool]:
    """The directory's manifest and whether it is a table manifest that does not verify (to be replaced)."""
    success = fs.join(root, SUCCESS)
    try:
        existing = read_manifest(fs, root)
    except IntegrityError as exc:  # a damaged table manifest
        if not replace_unverified:
            raise IntegrityError(f"{exc} (seal --force replaces it, after you checked the files)") from None
        return None, True
    if existing is None or existing.table is None:
        return existing, False
    try:
        verify(existing, settings, success)
    except IntegrityError as exc:
        if not replace_unverified:
            raise IntegrityError(f"{exc} (--force seals the current files anyway, after you checked them)") from None
        return existing, True
    raise ConfigError(
        f"{root}: already sealed, version {existing.table.version} (table {existing.table.table_id}); check it with "
        f"ppml-az table verify {root}"
    )


def _name(root: str, path: str) -> str:
    name = relative_name(root, path)
    if name == posixpath.basename(path) and not path.startswith(root.rstrip("/") + "/"):
        raise StorageError(f"{path}: listed outside the table directory {root}")
    return name


# ---------------------------------------------------------------------------------------------- files


def _directory(path: str, options: Mapping[str, str]) -> tuple[FileSystem, str]:
    """The file system and the table directory (``file:`` URLs as local paths, so listed names match)."""
    fs = filesystem_for(path, options)
    root = path.rstrip("/") or "/"
    if isinstance(fs, LocalFileSystem) and root.startswith("file:"):
        root = urlparse(root).path.rstrip("/") or "/"
    if not fs.exists(root):
        raise StorageError(f"{path}: no such directory")
    if not fs.is_dir(root):
        raise ConfigError(f"{path}: is a file; ppml-az table takes a table directory")
    return fs, root


@contextmanager
def _open(fs: FileSystem, path: str) -> Iterator[BinaryIO]:
    try:
        with fs.open_read(path) as handle:
            yield handle
    except OSError as exc:
        raise StorageError(f"{path}: {exc.strerror or type(exc).__name__}") from None


def _probe(fs: FileSystem, status: FileStatus) -> ObjectInfo:
    """The header of one file, its format detected; plaintext and headerless files are refused (nothing to
    authenticate them with)."""
    with _open(fs, status.path) as source:
        head = ppml_gcm.read_exact(source, 0, min(status.size, HEAD_SIZE)) if status.size else b""
        codec = detect(head)
        if codec is None:
            what = "plaintext Parquet" if head.startswith(b"PAR1") else "plaintext, or no encrypted format we know"
            raise UnknownFormatError(
                f"{status.path}: {what} (BigDL nativeaescbc has neither a header nor a MAC); a table holds "
                "authenticated encrypted files only: encrypt it (ppml-az encrypt) or remove it"
            )
        if not codec.reads_head:
            return codec.probe(None, status.size, status.path)
        return probe_header(source, status.size, status.path, codec.name)


def _authenticate(fs: FileSystem, status: FileStatus, info: ObjectInfo, settings: KmsSettings) -> bool:
    """Decrypt every unit of the file, discarding the plaintext: every MAC and tag it has is checked. False
    when the format leaves part of the content unauthenticated (PME ``aes_gcm_ctr_v1`` page data)."""
    codec = info.codec
    if not codec.encrypted or not codec.authenticated:
        raise IntegrityError(f"{status.path}: {codec.title} cannot be authenticated (no MAC); re-encrypt it")
    if not codec.wraps_bytes:
        return _authenticate_parquet(fs, status, settings)
    key = _data_key(fs, info, status.path, settings)
    with _open(fs, status.path) as source:
        reader = open_reader(info, source, key, verify=True, name=status.path)
        for _ in iter_plaintext(reader, status.path):
            pass
    return True


def _data_key(fs: FileSystem, info: ObjectInfo, path: str, settings: KmsSettings) -> DataKey:
    wrapped = resolve_wrapped_key(
        info, path, kms_type=settings.kms_type, data_key_path=settings.get("dataKeyPath"),
        read_sidecar=fs_sidecar_reader(fs),
    )  # fmt: skip
    try:
        return DataKey(unwrap_cached(build_kms(settings), wrapped))
    except PpmlError as exc:
        raise with_source(exc, path) from None
    except Exception as exc:  # KMS client failures: name the file, never echo key bytes
        raise WrongKeyError(f"{path}: data key could not be unwrapped ({type(exc).__name__})") from None


PME_CTR = "AES_GCM_CTR_V1"


def _authenticate_parquet(fs: FileSystem, status: FileStatus, settings: KmsSettings) -> bool:
    """Parquet Modular Encryption: open the encrypted footer (AES-GCM) and read every row group, which decrypts
    and authenticates every page header and page (page data only under ``aes_gcm_v1``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..kms import pme_client

    with _open(fs, status.path) as source:
        algorithm = _pme_algorithm(source, status.size)
        try:
            properties = pme_client.decryption_properties(settings)
            source.seek(0)
            parquet = pq.ParquetFile(pa.PythonFile(source, mode="r"), decryption_properties=properties)
        except PpmlError as exc:
            raise with_source(exc, status.path) from None
        except Exception as exc:  # noqa: BLE001 - pyarrow and KMS callbacks raise anything
            raise IntegrityError(
                f"{status.path}: Parquet Modular Encryption footer did not decrypt or authenticate "
                f"({type(exc).__name__}): modified, or another primary key"
            ) from None
        try:
            for _ in parquet.iter_batches(batch_size=1 << 16, use_threads=False):
                pass
        except PpmlError as exc:
            raise with_source(exc, status.path) from None
        except (OSError, pa.ArrowException) as exc:
            raise IntegrityError(
                f"{status.path}: a Parquet Modular Encryption page did not decrypt or authenticate "
                f"({type(exc).__name__}): the file was modified"
            ) from None
    return algorithm != PME_CTR


def _pme_algorithm(source: BinaryIO, size: int) -> str | None:
    """``AES_GCM_V1`` or ``AES_GCM_CTR_V1`` from the FileCryptoMetaData that opens an encrypted footer (Thrift
    compact: field 1 is the algorithm union, whose field 1 is GCM and field 2 GCM-CTR); None if unrecognised."""
    if size < 12:
        return None
    source.seek(size - 8)
    tail = source.read(8)
    footer = int.from_bytes(tail[:4], "little")
    if len(tail) != 8 or tail[4:] != pme.ENCRYPTED_FOOTER_MAGIC or footer + 12 > size:
        return None
    source.seek(size - 8 - footer)
    first = source.read(2)
    if len(first) != 2 or first[0] != 0x1C:
        return None
    return {0x1C: "AES_GCM_V1", 0x2C: PME_CTR}.get(first[1])


def _mode_label(info: ObjectInfo) -> str:
    """PME files are detected by their magic, which both PME modes share: name the family."""
    return "parquet-modular-encryption" if not info.codec.wraps_bytes else info.mode


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


# ---------------------------------------------------------------------------------------------- inspect


def integrity_of(codec: Codec) -> str:
    """What a format can detect, in words (for ``ppml-az inspect``): a property of the format, not a check."""
    if not codec.encrypted:
        return "none (not encrypted)"
    if not codec.authenticated:
        return "none: no MAC, modified data decrypts silently"
    if codec.integrity:
        return codec.integrity
    return f"authenticated on read ({codec.title})"


def table_facts(
    fs: FileSystem, path: str, info: ObjectInfo, manifests: dict[str, object] | None = None
) -> dict[str, object]:
    """Where ``path`` stands in a table, from its header's binding and the public fields of the table manifest
    that governs it (or of a table sealed at a higher level that names it); empty when neither places it in a
    table. The manifest's MAC is not checked (that needs the KMS): ``manifestVerified`` is always False and
    ``verifyWith`` names the command that checks it. ``manifests``: a cache of manifests by directory, shared
    by the files of one listing."""
    env = info.envelope
    directory = posixpath.dirname(path.rstrip("/"))
    cache: dict[str, object] = manifests if manifests is not None else {}
    if directory not in cache:
        try:
            cache[directory] = governing_manifest(fs, directory) if directory else None
        except PpmlError as exc:  # a damaged table manifest: say so, inspect still describes the file
            cache[directory] = exc
    found = cache[directory]
    facts: dict[str, object] = {}
    if env is not None and env.table is not None:
        facts.update({"table": env.table, "tablePath": env.path})
    if isinstance(found, PpmlError):
        facts.update({"tableManifestError": str(found), "manifestVerified": False})
        return facts
    if found is None and directory:
        found = enclosing_table(fs, path)  # per file: it must name this file
        if found is not None:
            facts["note"] = f"a read of {directory} alone does not see this table's manifest: read {found[0]}"
    if not (isinstance(found, tuple) and found[1].table is not None):
        if facts:  # bound to a table, but no table manifest here: reads refuse it
            facts.update({"tableRoot": None, "namedByManifest": False, "manifestVerified": False})
        return facts
    root, manifest = found
    table_id, version = manifest.table.table_id, manifest.table.version
    base = root.rstrip("/") + "/"
    name = path[len(base) :] if path.startswith(base) else posixpath.basename(path)
    facts.setdefault("table", table_id)
    facts.setdefault("tablePath", name)
    if facts["table"] != table_id:
        facts["manifestTable"] = table_id
    facts.update(
        {
            "tableRoot": root,
            "manifestVersion": version,
            "namedByManifest": name in set(manifest.files),
            "manifestVerified": False,
            "verifyWith": f"ppml-az table verify {root}",
        }
    )
    return facts


__all__ = [
    "Progress",
    "TableReport",
    "enclosing_table",
    "integrity_of",
    "seal_table",
    "table_facts",
    "verify_table",
]
