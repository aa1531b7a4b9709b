"""The committed state of an output directory, recorded in its ``_SUCCESS`` file.

A job commit cannot replace a directory's files atomically (object stores have no directory rename), so a
``ppml-enc`` write publishes in three steps: (1) rename the new part files in next to the old ones, (2) replace
``_SUCCESS`` with a manifest naming the files of the new state (and the old files it replaces), (3) delete the
replaced files. Readers read what the manifest names, so a crash after any step shows either the old or the new
state, never both and never neither. Hadoop's S3A committers use the same trick (a JSON ``_SUCCESS``); an empty
``_SUCCESS`` (Spark, BigDL) or none means "no manifest": every data file is read, as before.

Rules for files the manifest does not name: uncommitted ``ppml-enc`` part files (``part-NNNNN-<32 hex job id>.``,
left by a step-1 crash or a failed job) and files the manifest lists as replaced are skipped; any other file was
added by someone else after the commit (a user, another tool) and is read, as Spark would.

A partitioned table (``partitionBy``) has one manifest, in its root, naming files below its ``key=value``
directories (``mode=AIR/part-...``); reading one such directory alone is decided by the root's manifest.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import IntegrityError

if TYPE_CHECKING:  # pragma: no cover
    from . import FileStatus, FileSystem

SUCCESS = "_SUCCESS"
MANIFEST_KEY = "ppml-az-commit"
MAX_MANIFEST_BYTES = 64 << 20  # bounded read: a manifest names at most a few hundred thousand files
PART_NAME = re.compile(r"^part-\d{5,}-[0-9a-f]{32}\.")


@dataclass(frozen=True)
class Manifest:
    """Relative names (``/``-separated, below the directory) of the committed data files and of replaced ones."""

    files: tuple[str, ...]
    replaced: tuple[str, ...] = ()

    def to_bytes(self) -> bytes:
        body = {MANIFEST_KEY: 1, "files": list(self.files), "replaced": list(self.replaced)}
        return json.dumps(body, separators=(",", ":")).encode("utf-8")

    @classmethod
    def parse(cls, data: bytes, where: str) -> Manifest | None:
        """``None`` for an empty or foreign ``_SUCCESS``; IntegrityError for a damaged manifest of ours."""
        if not data.strip():
            return None
        try:
            body = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None  # not ours (another committer's _SUCCESS): no manifest
        if not isinstance(body, dict) or MANIFEST_KEY not in body:
            return None
        files, replaced = body.get("files"), body.get("replaced", [])
        if not isinstance(files, list) or not isinstance(replaced, list) or not _names(files + replaced):
            raise IntegrityError(f"{where}: damaged commit manifest (files/replaced must be lists of names)")
        return cls(tuple(files), tuple(replaced))


def _names(values: list[object]) -> bool:
    return all(isinstance(v, str) and v and ".." not in v.split("/") for v in values)


def read_manifest(fs: FileSystem, directory: str) -> Manifest | None:
    """The directory's manifest, if it has one of ours."""
    path = fs.join(directory, SUCCESS)
    if not fs.exists(path):
        return None
    if fs.size(path) > MAX_MANIFEST_BYTES:
        raise IntegrityError(f"{path}: commit manifest larger than {MAX_MANIFEST_BYTES} bytes")
    return Manifest.parse(fs.read_bytes(path), path)


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


def committed(fs: FileSystem, directory: str, statuses: list[FileStatus]) -> list[FileStatus]:
    """The files of ``directory``'s committed state among ``statuses`` (its listing); all of them without a
    manifest. A file the manifest names but the listing lacks is an error: the table lost data. Below a
    partitioned table's root the root's manifest decides, for the names under this directory."""
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
    return [
        status
        for name, status in by_name.items()
        if name in listed or (name not in replaced and not is_uncommitted_part(name))
    ]
