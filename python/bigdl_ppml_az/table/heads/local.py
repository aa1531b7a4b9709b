"""``tableHeadStore=local``: table heads in one JSON file on a local disk (development and single-host setups).

The file (option ``tableHeadPath``) must live outside the storage the tables are on, or whoever rolls back the
tables can roll it back too. Layout: ``{"tables": {"<table id>": {"version": n, "manifestSha256": "<hex>"}}}``.

* Reads are bounded: a symbolic link, anything but a regular file, or a file over 16 MiB is refused before it
  is parsed (the path may be shared with other users of the host).
* Updates are atomic and serialized: an exclusive ``flock`` on the sibling ``<file>.lock`` is held across
  read-check-write, the new content goes to a temporary file in the same directory (mode 0600), is fsynced and
  renamed over the old file. Two processes advancing the same table can never both win or lose an update. The
  lock file stays in place (removing it would let a third process lock a different file).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from ...errors import ConfigError, IntegrityError, StorageError
from ...safeio import loads_bounded, read_regular
from . import LOCAL_ALIASES, TableHead, check_advance, check_table_id, option

MAX_HEAD_FILE = 16 << 20
PATH_OPTION = "tableHeadPath"
_WHAT = "table head file"


class LocalHeadStore:
    """Heads of all tables in the JSON file ``path``; holds only the path, so it pickles to any process."""

    store_type = "local"
    aliases = LOCAL_ALIASES
    option_names = (PATH_OPTION,)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> LocalHeadStore:
        path = option(options, PATH_OPTION)
        if path is None or not path.strip():
            raise ConfigError(
                f"option tableHeadStore=local needs option {PATH_OPTION}: a local JSON file, outside the tables' "
                "storage, that records each table's newest version"
            )
        if "://" in path:
            raise ConfigError(f"option {PATH_OPTION}={path}: not a local file path; give a path on this host's disk")
        return cls(path)

    def describe(self) -> str:
        return f"local file {self.path}"

    def __repr__(self) -> str:
        return f"LocalHeadStore({str(self.path)!r})"

    # ---- HeadStore --------------------------------------------------------------------------------------------
    def get(self, table_id: str) -> TableHead | None:
        table_id = check_table_id(table_id)
        return self._head(self._tables(), table_id)

    def advance(self, table_id: str, head: TableHead, *, expected: TableHead | None) -> None:
        table_id = check_table_id(table_id)
        with self._locked():
            tables = self._tables()
            check_advance(table_id, self._head(tables, table_id), head, expected, self.describe())
            self._write({"tables": {**tables, table_id: head.to_json()}})

    # ---- reading ----------------------------------------------------------------------------------------------
    def _head(self, tables: Mapping[str, object], table_id: str) -> TableHead | None:
        entry = tables.get(table_id)
        return None if entry is None else TableHead.from_json(entry, f"{self.path}: table {table_id}")

    def _tables(self) -> dict[str, object]:
        """The ``tables`` object of the file; {} while the file does not exist."""
        data = self._read_bytes()
        if data is None:
            return {}
        try:
            document = loads_bounded(data, f"{self.path}: {_WHAT}", IntegrityError)
        except ValueError:  # not UTF-8 or not JSON
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("tables"), dict):
            raise IntegrityError(
                f'{self.path}: not a {_WHAT} ({{"tables": {{...}}}} expected); restore it from a backup '
                f"or point {PATH_OPTION} at the right file"
            )
        return dict(document["tables"])

    def _read_bytes(self) -> bytes | None:
        """The file's bytes, or None when it does not exist; never follows a symbolic link, never blocks."""
        if not os.path.lexists(self.path):
            return None
        return read_regular(self.path, MAX_HEAD_FILE, _WHAT, StorageError, follow_links=False)

    # ---- writing ----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive lock on ``<file>.lock`` (created 0600 with the parent directories) for read-check-write."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StorageError(
                f"{lock_path}: cannot create the lock of {_WHAT} {self.path} ({exc.strerror or type(exc).__name__})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the only descriptor releases the lock

    def _write(self, document: dict[str, object]) -> None:
        """Replace the file atomically: temporary file (0600) in the same directory, fsync, rename, fsync dir."""
        data = json.dumps(document, indent=1, sort_keys=True).encode("utf-8") + b"\n"
        try:
            fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
            self._sync_directory()
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot write {_WHAT} ({exc.strerror or type(exc).__name__})") from None

    def _sync_directory(self) -> None:
        """Make the rename durable (a crash must not bring back the previous head)."""
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = ["MAX_HEAD_FILE", "PATH_OPTION", "LocalHeadStore"]
