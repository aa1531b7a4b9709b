"""Storage: list, ranged-read and write objects on local paths, ``file://`` and (see ``azure``) ``abfss://``.

A :class:`FileSystem` is built from a path and plain string options (picklable), so each Spark worker builds
its own. Readers get seekable binary files, so formats can read any range. Writers write to a temporary name
and publish by rename; the data source's job commit decides when outputs become visible.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast
from urllib.parse import urlparse

from .._registry import Registry
from ..errors import ConfigError, StorageError
from . import globs

if TYPE_CHECKING:  # pragma: no cover
    from .manifest import TableRef


@dataclass(frozen=True)
class FileStatus:
    """A listed file. ``etag``: the version the listing saw, where the store reports one (Azure), so a later
    open can skip asking for the size again and read exactly that version (see :func:`open_status`)."""

    path: str
    size: int
    etag: str | None = None
    table: TableRef | None = None  # its place in a table, when a table manifest governs it (storage.manifest)


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

    # Optional: ``check_no_links(root, path) -> None`` refuses symbolic links below an output root (local disk;
    # object stores have none), called through :func:`check_no_links`.
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
        """Spark's (Hadoop's) glob rules (:mod:`.globs`), walking only the directories the pattern can reach."""
        found: list[str] = []
        for expanded in globs.expand_slash_braces(pattern):
            local = self._local(expanded)
            absolute = local.startswith("/")
            matched = globs.expand(
                expanded,
                "/" if absolute else "",
                [part for part in local.split("/") if part],
                children=lambda directory: os.listdir(directory or ".") if os.path.isdir(directory or ".") else [],
                exists=os.path.lexists,
                join=lambda base, name: os.path.join(base, name) if base else name,
            )
            found.extend(path for path in matched if path not in found)
        return sorted(found)

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
        """Create or truncate ``path`` (parents created), never through a link at its last component: a planted
        ``.meta`` or part-name link would otherwise redirect the write to a file outside the table."""
        local = self._local(path)
        _refuse_nul(path, local)
        _make_parent(local, path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(local, flags, 0o666)  # the kernel applies the umask, as open() does
        except OSError as exc:
            raise _explain(exc, path, local) or _failed(exc, path, "write") from None
        return os.fdopen(fd, "wb")

    def read_bytes(self, path: str) -> bytes:
        with self.open_read(path) as handle:
            return handle.read()

    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst`` (parents created); a link at ``dst`` is replaced itself, never followed."""
        source, target = self._local(src), self._local(dst)
        _refuse_nul(src, source)
        _refuse_nul(dst, target)
        _make_parent(target, dst)
        try:
            os.replace(source, target)
        except FileNotFoundError:
            if not os.path.lexists(source):
                raise StorageError(f"{src}: no such file") from None
            raise StorageError(f"{dst}: cannot rename {src} to it (its directory vanished?)") from None
        except OSError as exc:
            raise _explain(exc, dst, target) or _explain(exc, src, source) or _failed(exc, dst, "rename onto") from None

    def check_no_links(self, root: str, path: str) -> None:
        """Refuse ``path`` if it, or any directory between ``root`` and it, is a symbolic link.

        Someone who can write to an output could plant a link (``.meta``, ``_temporary``, a ``key=value``
        directory) so that a write lands outside the table. ``root`` itself and the components above it may be
        links the user made (``/tmp`` on macOS) and are not checked. Missing components are fine (created later).
        """
        base, local = self._local(root).rstrip("/"), self._local(path)
        _refuse_nul(path, local)
        if local.rstrip("/") == base:
            return
        if not local.startswith(base + "/"):
            raise StorageError(f"{path}: not below the output {root}; ppml-enc writes only inside its output")
        shown_prefix = path[: len(path) - len(local)] if path.endswith(local) else ""
        current = base
        for name in local[len(base) + 1 :].split("/"):
            if name in ("", "."):
                continue
            if name == "..":
                raise StorageError(f"{path}: holds '..'; ppml-enc writes only inside its output {root}")
            current = f"{current}/{name}"
            try:
                info = os.lstat(current)
            except OSError:  # missing, below a file, or a name too long: nothing below it, no link to follow
                return  # (the write that follows reports the real problem)
            if stat.S_ISLNK(info.st_mode):
                raise StorageError(f"{shown_prefix}{current}: {LINK_REFUSED}")

    def delete(self, path: str) -> None:
        local = self._local(path)
        if os.path.isdir(local) and not os.path.islink(local):
            shutil.rmtree(local, ignore_errors=True)
        elif os.path.lexists(local):
            os.remove(local)

    def join(self, base: str, *parts: str) -> str:
        return os.path.join(base, *parts)


LINK_REFUSED = "is a symbolic link; ppml-enc does not write through links inside an output (remove it)"
NAME_SHOWN = 40  # characters of an over-long name shown in an error


def _truncated(text: str) -> str:
    """``text`` quoted, cut to :data:`NAME_SHOWN` characters: error messages stay one readable line."""
    return repr(text if len(text) <= NAME_SHOWN else text[:NAME_SHOWN] + "...")


def _refuse_nul(shown: str, local: str) -> None:
    """A NUL makes the OS call raise a bare ValueError ("embedded null byte"): one clear error instead."""
    if "\x00" in local:
        raise StorageError(f"{_truncated(shown)}: holds a NUL character, which no file system accepts in a name; "
                           "remove it from the path")  # fmt: skip


def _make_parent(local: str, shown: str) -> None:
    try:
        Path(local).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _explain(exc, shown, local) or _failed(exc, shown, "create its directory") from None


def _explain(exc: OSError, shown: str, local: str) -> StorageError | None:
    """One clear error for an OS error if its cause is found in ``local`` (shown as ``shown``), else None."""
    code = exc.errno
    if code in (errno.ELOOP, errno.EMLINK) and os.path.islink(local):  # O_NOFOLLOW met a link (EMLINK: BSD)
        return StorageError(f"{shown}: {LINK_REFUSED}")
    if code == errno.ENAMETOOLONG:
        return _too_long(local)
    if code in (errno.ENOTDIR, errno.EEXIST):
        blocker = _non_directory_ancestor(local)
        if blocker is None:
            return None
        kind = "is a file, not a directory" if os.path.isfile(blocker) else "exists but is not a directory"
        return StorageError(
            f"{blocker}: {kind}, so {_truncated(shown)} cannot be created below it; remove it or choose another path"
        )
    if code == errno.EISDIR and os.path.isdir(local):
        return StorageError(f"{shown}: is a directory; remove it or choose another path")
    if code in (errno.EACCES, errno.EPERM):
        return StorageError(f"{shown}: permission denied")
    return None


def _failed(exc: OSError, shown: str, action: str) -> StorageError:
    """The error when :func:`_explain` found no cause: the OS's reason, the path cut short if over-long."""
    if exc.errno == errno.ENAMETOOLONG:
        return StorageError(f"{_truncated(shown)}: the path is longer than this file system allows; use a shorter one")
    return StorageError(f"{shown}: cannot {action} ({exc.strerror or type(exc).__name__})")


def _too_long(local: str) -> StorageError | None:
    """Name the first path component longer than the file system's limit, cut short (never the whole name)."""
    limit = _name_max(local)
    names = local.split("/")
    for index, name in enumerate(names):
        size = len(os.fsencode(name))
        if size > limit:
            parent = "/".join(names[:index]) or ("/" if local.startswith("/") else ".")
            return StorageError(
                f"{parent}: the name {_truncated(name)} is {size} bytes, longer than the {limit} bytes this file "
                "system allows in one name; use shorter names"
            )
    return None


def _name_max(local: str) -> int:
    """The file system's longest name (``NAME_MAX``) at the nearest existing ancestor; 255 where unknown."""
    directory = os.path.dirname(os.path.abspath(local))
    while directory and not os.path.isdir(directory):
        directory = os.path.dirname(directory)
    try:
        return int(os.pathconf(directory or "/", "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _non_directory_ancestor(local: str) -> str | None:
    """The first ancestor of ``local`` that exists but is not a directory (a file where a directory is due)."""
    current = os.path.abspath(local)
    ancestors = []
    while True:
        parent = os.path.dirname(current)
        if parent == current:
            break
        ancestors.append(parent)
        current = parent
    for directory in reversed(ancestors):
        if os.path.lexists(directory) and not os.path.isdir(directory):
            return directory
    return None


def check_no_links(fs: FileSystem, root: str, path: str) -> None:
    """Refuse a write to ``path`` through a symbolic link below the output ``root`` (see
    :meth:`LocalFileSystem.check_no_links`); object stores have no links, so for them this does nothing."""
    method = getattr(fs, "check_no_links", None)
    if method is not None:
        method(root, path)


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


def _load_entry_point(register_schemes: Any) -> None:
    register_schemes()  # a storage plug-in's entry point is a function that calls register_scheme


def _local(path: str, options: Mapping[str, str]) -> FileSystem:
    return LocalFileSystem()


# URL scheme -> factory, or "module:attribute" imported on first use (the Azure SDK loads only for abfss paths).
# Each scheme is its own canonical name (no aliases), so registering a scheme again replaces its factory.
REGISTRY: Registry[FileSystemFactory] = Registry(
    noun="storage scheme",
    kind="storage scheme",
    group=ENTRY_POINT_GROUP,
    on_entry_point=_load_entry_point,
    unknown=lambda name, known: (
        f"unsupported scheme {name!r}; use a local path or one of {', '.join(f'{s}://' for s in known if s)}"
    ),
    builtins={
        "": (_local, ()),
        "file": (_local, ()),
        "abfs": ("bigdl_ppml_az.storage.azure:filesystem_for_path", ()),
        "abfss": ("bigdl_ppml_az.storage.azure:filesystem_for_path", ()),
    },
)


def register_scheme(schemes: Iterable[str], factory: FileSystemFactory | str) -> None:
    """Serve paths with these URL schemes by ``factory(path, options)`` (or a lazy ``"module:attribute"``).

    A storage scheme is one module calling this; plug-in packages do it from an entry point in the
    ``bigdl_ppml_az.storage`` group (the entry point's object is called with no arguments, on first use).
    """
    for scheme in schemes:
        REGISTRY.register(scheme.lower(), factory)


def is_remote(path: str) -> bool:
    """Not a local path: any URL scheme but ``file`` (a one-letter scheme is a Windows drive)."""
    scheme = urlparse(path).scheme
    return scheme not in ("", "file") and len(scheme) > 1


def has_glob(path: str) -> bool:
    """Spark's test for a load path that is a pattern (see :mod:`.globs`)."""
    return globs.is_glob(path)


def filesystem_for(path: str, options: Mapping[str, str] | None = None) -> FileSystem:
    """The file system serving ``path``; options carry credentials *names* and endpoints, never secrets logged."""
    scheme = urlparse(path).scheme.lower()
    if len(scheme) == 1 and os.name == "nt":
        scheme = ""
    try:
        factory = REGISTRY.get(scheme)
    except ConfigError as exc:  # unknown scheme, or its SDK is missing from the environment
        raise ConfigError(f"{path}: {exc}") from None
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
            from .manifest import committed, committed_file

            if fs.is_dir(target):  # an output directory's committed state (see storage.manifest)
                statuses = committed(fs, target, statuses)
            elif len(statuses) == 1:  # one file of a table, named directly
                statuses = [committed_file(fs, target, statuses[0])]
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
    "check_no_links",
    "expand_paths",
    "filesystem_for",
    "has_glob",
    "is_hidden",
    "is_remote",
    "open_status",
    "register_scheme",
]
