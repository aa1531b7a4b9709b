"""Bounded, non-blocking reads of small files a user or an attacker controls (key files, ``.meta``, envelopes).

Why: reading a key file whole lets ``--primary-key /dev/zero`` exhaust memory, and opening a FIFO blocks
forever; a deeply nested JSON document makes ``json.loads`` raise ``RecursionError``. Everything here fails
promptly with one :class:`~.errors.PpmlError` line naming the file. No Spark imports (used by ``kms`` and
``formats``).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import warnings
from typing import BinaryIO

from .errors import KeyFileError, PpmlError

MAX_KEY_FILE = 64 << 10  # primary key / data key / key id files: a few hundred bytes in practice
MAX_META_FILE = 64 << 10  # BigDL ``.meta``: {"encryptedDataKey": "..."} (an RSA-4096 wrap is ~700 characters)
MAX_JSON_DEPTH = 32  # envelopes and .meta are flat objects; anything deeper is not ours


class InsecurePermissionsWarning(UserWarning):
    """A primary key file can be read by other users (group or world), as ssh warns for private keys."""


def read_regular(
    path: str | os.PathLike[str], limit: int, what: str, error: type[PpmlError] = KeyFileError,
    *, follow_links: bool = True,
) -> bytes:
    """The bytes of a *regular* local file of at most ``limit`` bytes; anything else is ``error`` naming it.

    Opened with ``O_NONBLOCK`` so a FIFO cannot block the open, then checked with ``fstat`` on the open handle
    (no race between check and read); devices, FIFOs, sockets and directories are refused before any read.
    ``follow_links=False``: a symbolic link is refused too (files whose place is the point, like a head store).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links:
            raise error(
                f"{path}: {what} is a symbolic link; refused (it could point anywhere): give the real path"
            ) from None
        raise error(f"{path}: cannot open {what} ({exc.strerror or type(exc).__name__})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path}: {what} is not a regular file ({_kind(info.st_mode)}); give the path of a file")
        if info.st_size > limit:
            raise error(f"{path}: {what} is {info.st_size} bytes, larger than the {limit}-byte limit; wrong file?")
        with os.fdopen(fd, "rb", closefd=True) as handle:
            fd = -1
            return read_capped(handle, limit, f"{path}: {what}", error)
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or type(exc).__name__})") from None
    finally:
        if fd >= 0:
            os.close(fd)


def read_capped(handle: BinaryIO, limit: int, what: str, error: type[PpmlError] = KeyFileError) -> bytes:
    """At most ``limit`` bytes from an open stream; a longer stream is ``error`` (never read beyond limit+1)."""
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise error(f"{what} is larger than the {limit}-byte limit; wrong file?")
    return bytes(data)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def json_depth_exceeds(data: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON ``data`` nests objects/arrays deeper than ``limit`` (brackets inside strings ignored)."""
    if data.count(b"[") + data.count(b"{") <= limit:  # fast path: cannot be deeper than its bracket count
        return False
    depth, in_string, escaped = 0, False, False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def loads_bounded(data: bytes, what: str, error: type[PpmlError], limit: int = MAX_JSON_DEPTH) -> object:
    """``json.loads`` after a depth check, so hostile nesting is one ``error`` line, never a RecursionError."""
    if json_depth_exceeds(data, limit):
        raise error(f"{what} nests deeper than {limit} levels; not a file we wrote (damaged or hostile)")
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise error(f"{what} nests too deeply") from None


def check_private(path: str | os.PathLike[str], what: str, strict: bool) -> None:
    """Warn (or with ``strict`` refuse) when ``path`` is readable by group or others, as ssh does for keys."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # the read that follows reports a missing or unreadable file
    if not stat.S_ISREG(mode) or not mode & 0o077:
        return
    message = (
        f"{path}: {what} is accessible by other users (mode {stat.S_IMODE(mode):04o}); "
        f"run `chmod 600 {path}`"
    )
    if strict:
        raise KeyFileError(message + " (refused: strict permissions are on)")
    warnings.warn(message, InsecurePermissionsWarning, stacklevel=3)


__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_KEY_FILE",
    "MAX_META_FILE",
    "InsecurePermissionsWarning",
    "check_private",
    "json_depth_exceeds",
    "loads_bounded",
    "read_capped",
    "read_regular",
]
