"""Storage: list, ranged-read and write objects on local paths, ``file://`` and (see ``azure``) ``abfss://``.

A :class:`FileSystem` is built from a path and plain string options (picklable), so each Spark worker builds
its own. Readers get seekable binary files, so formats can read any range. Writers write to a temporary name
and publish by rename; the data source's job commit decides when outputs become visible.
"""

from __future__ import annotations

import glob as globmod
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import BinaryIO, Protocol, cast
from urllib.parse import urlparse

from ..errors import ConfigError, StorageError


@dataclass(frozen=True)
class FileStatus:
    """A listed file. ``etag``: the version the listing saw, where the store reports one (Azure), so a later
    open can skip asking for the size again and read exactly that version (see :func:`open_status`)."""

    path: str
    size: int
    etag: str | None = None


def is_hidden(name: str) -> bool:
    """Hadoop's rule: names starting with '_' or '.' are metadata (``_SUCCESS``, ``.meta``), not data."""
    return name.startswith(("_", "."))


class FileSystem(Protocol):
    def list_files(self, path: str) -> list[FileStatus]:
        """The file itself, or every non-hidden file below a directory (recursively), sorted by path."""
        ...

    def glob(self, pattern: str) -> list[str]: ...

    def exists(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...

    def size(self, path: str) -> int: ...

    def open_read(self, path: str) -> BinaryIO: ...

    # Optional: ``open_listed(status, buffer_size=None) -> BinaryIO`` opens a file from its listing (size and
    # version known) without a metadata request; :func:`open_status` uses it where a file system has it.

    def open_write(self, path: str) -> BinaryIO:
        """Create or replace ``path`` (parents created)."""
        ...

    def read_bytes(self, path: str) -> bytes: ...

    def rename(self, src: str, dst: str) -> None: ...

    def delete(self, path: str) -> None:
        """Delete a file or a whole directory tree; missing paths are fine."""
        ...

    def join(self, base: str, *parts: str) -> str: ...


class LocalFileSystem:
    """Local disk (plain paths and ``file://`` URLs)."""

    @staticmethod
    def _local(path: str) -> str:
        return urlparse(path).path if path.startswith("file:") else path

    def list_files(self, path: str) -> list[FileStatus]:
        local = self._local(path)
        if os.path.isfile(local):
            return [FileStatus(path, os.path.getsize(local))]
        if not os.path.isdir(local):
            _refuse_bad_link(local, path)
            raise StorageError(f"{path}: no such file or directory")
        found: list[FileStatus] = []
        for root, dirs, files in os.walk(local):  # does not follow directory links, so no cycles
            dirs[:] = sorted(d for d in dirs if not is_hidden(d))
            for name in sorted(files):
                if not is_hidden(name):
                    full = os.path.join(root, name)
                    found.append(FileStatus(full, _data_file_size(full)))
        return sorted(found, key=lambda status: status.path)

    def glob(self, pattern: str) -> list[str]:
        return sorted(globmod.glob(self._local(pattern)))

    def exists(self, path: str) -> bool:
        return os.path.exists(self._local(path))

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(self._local(path))

    def size(self, path: str) -> int:
        try:
            return os.path.getsize(self._local(path))
        except FileNotFoundError:
            raise StorageError(f"{path}: no such file") from None

    def open_read(self, path: str) -> BinaryIO:
        """Regular files only: a FIFO or device would block or never end (opened non-blocking, then checked)."""
        try:
            fd = os.open(self._local(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            _refuse_bad_link(self._local(path), path)
            raise StorageError(f"{path}: no such file") from None
        except PermissionError:
            raise StorageError(f"{path}: permission denied") from None
        except OSError as exc:
            raise StorageError(f"{path}: cannot open ({exc.strerror or type(exc).__name__})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise StorageError(f"{path}: not a regular file (a FIFO, device or socket?); give files or directories")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def open_write(self, path: str) -> BinaryIO:
        local = self._local(path)
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        return open(local, "wb")  # noqa: SIM115 - caller owns the handle

    def read_bytes(self, path: str) -> bytes:
        with self.open_read(path) as handle:
            return handle.read()

    def rename(self, src: str, dst: str) -> None:
        target = self._local(dst)
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._local(src), target)

    def delete(self, path: str) -> None:
        local = self._local(path)
        if os.path.isdir(local) and not os.path.islink(local):
            shutil.rmtree(local, ignore_errors=True)
        elif os.path.lexists(local):
            os.remove(local)

    def join(self, base: str, *parts: str) -> str:
        return os.path.join(base, *parts)


def _refuse_bad_link(local: str, shown: str) -> None:
    """A symbolic link whose target is missing or loops: one clear error naming it."""
    if not os.path.islink(local):
        return
    try:
        os.stat(local)
    except FileNotFoundError:
        raise StorageError(f"{shown}: dangling symbolic link (its target {os.readlink(local)} is missing)") from None
    except OSError:
        raise StorageError(f"{shown}: symbolic link loop; fix or remove the link") from None


def _data_file_size(full: str) -> int:
    """Size of a listed file; a dangling link, a link loop or a vanished file is an error naming it."""
    try:
        info = os.stat(full)
    except OSError:
        _refuse_bad_link(full, full)
        raise StorageError(f"{full}: cannot read this file (removed during the listing?)") from None
    return info.st_size


FileSystemFactory = Callable[[str, Mapping[str, str]], "FileSystem"]
ENTRY_POINT_GROUP = "bigdl_ppml_az.storage"

# URL scheme -> factory, or "module:attribute" imported on first use (the Azure SDK loads only for abfss paths).
_SCHEMES: dict[str, FileSystemFactory | str] = {
    "": lambda path, options: LocalFileSystem(),
    "file": lambda path, options: LocalFileSystem(),
    "abfs": "bigdl_ppml_az.storage.azure:filesystem_for_path",
    "abfss": "bigdl_ppml_az.storage.azure:filesystem_for_path",
}
_plugins_loaded = False


def register_scheme(schemes: Iterable[str], factory: FileSystemFactory | str) -> None:
    """Serve paths with these URL schemes by ``factory(path, options)`` (or a lazy ``"module:attribute"``).

    A storage scheme is one module calling this; plug-in packages do it from an entry point in the
    ``bigdl_ppml_az.storage`` group (the entry point's object is called with no arguments, on first use).
    """
    for scheme in schemes:
        _SCHEMES[scheme.lower()] = factory


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        entry.load()()


def is_remote(path: str) -> bool:
    """Not a local path: any URL scheme but ``file`` (a one-letter scheme is a Windows drive)."""
    scheme = urlparse(path).scheme
    return scheme not in ("", "file") and len(scheme) > 1


def has_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def filesystem_for(path: str, options: Mapping[str, str] | None = None) -> FileSystem:
    """The file system serving ``path``; options carry credentials *names* and endpoints, never secrets logged."""
    scheme = urlparse(path).scheme.lower()
    if len(scheme) == 1 and os.name == "nt":
        scheme = ""
    if scheme not in _SCHEMES:
        _load_plugins()
    factory = _SCHEMES.get(scheme)
    if factory is None:
        known = ", ".join(f"{s}://" for s in sorted(_SCHEMES) if s)
        raise ConfigError(f"{path}: unsupported scheme {scheme!r}; use a local path or one of {known}")
    if isinstance(factory, str):
        module_name, _, attribute = factory.partition(":")
        try:
            factory = getattr(import_module(module_name), attribute)
        except ImportError as exc:  # pragma: no cover - the backend's SDK is missing from the environment
            raise ConfigError(f"{path}: support for {scheme}:// is unavailable ({exc})") from None
        _SCHEMES[scheme] = factory
    assert callable(factory)
    return factory(path, dict(options or {}))


def open_status(fs: FileSystem, status: FileStatus, buffer_size: int | None = None) -> BinaryIO:
    """Open a listed file. On object stores every request is a round trip: a file system with ``open_listed``
    (Azure) opens from the listing's size and ETag without asking again; others open by path. ``buffer_size``
    bounds the first read where the file system honours it (header probes need only the first bytes)."""
    opener = getattr(fs, "open_listed", None)
    if opener is not None and status.etag is not None:
        return cast(BinaryIO, opener(status, buffer_size))
    return fs.open_read(status.path)


def expand_paths(paths: list[str], options: Mapping[str, str] | None = None) -> list[FileStatus]:
    """Files named by ``paths`` (files, directories, globs), in order, without duplicates; errors name the path.

    A directory with a commit manifest (``_SUCCESS`` written by a ``ppml-enc`` job) yields its committed files.
    """
    seen: set[str] = set()
    result: list[FileStatus] = []
    for path in paths:
        fs = filesystem_for(path, options)
        targets = fs.glob(path) if has_glob(path) else [path]
        if not targets:
            raise StorageError(f"{path}: the pattern matched no files")
        for target in targets:
            statuses = fs.list_files(target)
            if fs.is_dir(target):  # an output directory's committed state (see storage.manifest)
                from .manifest import committed

                statuses = committed(fs, target, statuses)
            for status in statuses:
                if status.path not in seen:
                    seen.add(status.path)
                    result.append(status)
    return result


__all__ = [
    "FileStatus",
    "FileSystem",
    "LocalFileSystem",
    "StorageError",
    "expand_paths",
    "filesystem_for",
    "has_glob",
    "is_hidden",
    "is_remote",
    "open_status",
    "register_scheme",
]
