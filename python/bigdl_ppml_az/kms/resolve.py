"""One key resolver: which wrapped data key an encrypted object needs, from its header or its sidecar files.

Rule (the same for the data source, ``filecrypt``/the CLI, the JVM helpers and the TPC-H reference):

* ppml-gcm envelope: everything is in the header: kms type, key id, wrap algorithm, wrapped bytes. A header
  naming another kms than the configured one is refused here, before any KMS call.
* BigDL common header: only the wrapped bytes. The kms is the configured one, the key id is ``""`` and the
  algorithm ``""``, meaning "the configured primary key, with the algorithm BigDL used for this backend"
  (BigDL never recorded either). The backend's ``identity`` (in the unwrap cache key) tells configurations
  apart, so the empty key id never lets one primary key's cached data key serve another.
* No key reference (nativeaescbc): the BigDL data key file of option ``dataKeyPath`` when given, else the
  ``.meta`` file BigDL writes next to its part files; same empty key id and algorithm as above.

Pure: no storage, no Spark. Sidecar files are read through a caller's callable, capped at
:data:`MAX_SIDECAR_BYTES`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from collections.abc import Callable
from typing import BinaryIO, Protocol
from urllib.parse import urlparse

from ..errors import ConfigError, KeyFileError, UnknownFormatError, WrongKeyError
from ..formats import KEY_BESIDE, ObjectInfo
from . import WrappedKey
from .registry import normalize_kms_type

MAX_SIDECAR_BYTES = 64 * 1024
META_FILE = ".meta"  # BigDL's per-directory data key file (same name as formats.bigdl.META_FILE)

SidecarReader = Callable[[str], "bytes | None"]
"""Reads a sidecar file (``.meta``) of at most ``limit`` bytes; returns None when it does not exist."""


def read_local_sidecar(path: str, limit: int = MAX_SIDECAR_BYTES) -> bytes | None:
    """A local sidecar file, only if it is a regular file, at most ``limit`` bytes (longer: an error)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise KeyFileError(f"{path}: not a regular file")
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0 and (chunk := os.read(fd, remaining)):
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise KeyFileError(f"{path}: larger than {limit} bytes; not a key file")
    return data


class _SidecarFs(Protocol):
    def exists(self, path: str) -> bool: ...
    def size(self, path: str) -> int: ...
    def open_read(self, path: str) -> BinaryIO: ...


def fs_sidecar_reader(fs: _SidecarFs) -> SidecarReader:
    """Bounded sidecar reads through a storage file system (any object with exists/size/open_read); local paths
    go through :func:`read_local_sidecar` (regular files only)."""

    def read(path: str) -> bytes | None:
        scheme = urlparse(path).scheme
        if scheme in ("", "file"):
            return read_local_sidecar(urlparse(path).path if scheme == "file" else path)
        if not fs.exists(path):
            return None
        if fs.size(path) > MAX_SIDECAR_BYTES:
            raise KeyFileError(f"{path}: larger than {MAX_SIDECAR_BYTES} bytes; not a key file")
        with fs.open_read(path) as handle:
            data = handle.read(MAX_SIDECAR_BYTES + 1)
        if len(data) > MAX_SIDECAR_BYTES:
            raise KeyFileError(f"{path}: larger than {MAX_SIDECAR_BYTES} bytes; not a key file")
        return data

    return read


def parent_of(path: str) -> str:
    cut = path.rstrip("/").rfind("/")
    if cut < 0:
        return "."
    return path[:cut] if cut > 0 and not path[:cut].endswith(":/") else path[: cut + 1]


def meta_path(directory: str) -> str:
    return directory.rstrip("/") + "/" + META_FILE


def parse_meta(data: bytes, source: str) -> bytes:
    """Wrapped key bytes from a BigDL ``.meta`` (JSON ``{"encryptedDataKey": "<Base64>"}``)."""
    if len(data) > MAX_SIDECAR_BYTES:
        raise KeyFileError(f"{source}: larger than {MAX_SIDECAR_BYTES} bytes; not a BigDL .meta file")
    try:
        text = json.loads(data.decode("utf-8"))["encryptedDataKey"]
        if not isinstance(text, str):
            raise TypeError
        return base64.b64decode(text, validate=True)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError, binascii.Error):
        raise KeyFileError(f"{source}: not a BigDL .meta file (JSON with a Base64 encryptedDataKey)") from None


def meta_wrapped_key(directory: str, read_sidecar: SidecarReader) -> bytes | None:
    """Wrapped key from ``<directory>/.meta`` when it exists (BigDL output directories)."""
    meta = meta_path(directory)
    data = read_sidecar(meta)
    return None if data is None else parse_meta(data, meta)


def _stores_key_in_sidecar(info: ObjectInfo) -> bool:
    """The codec says where its key lives: beside the file (``.meta`` or a BigDL data key file)."""
    return info.codec.key_reference == KEY_BESIDE


def resolve_wrapped_key(
    info: ObjectInfo,
    path: str,
    *,
    kms_type: str,
    data_key_path: str | None = None,
    read_sidecar: SidecarReader | None = None,
) -> WrappedKey:
    """The wrapped data key of one probed object (``formats.ObjectInfo``); see the module docstring."""
    ref = getattr(info, "key_ref", None)
    if ref is not None and ref.kms_type:
        try:
            recorded = normalize_kms_type(ref.kms_type)
        except ConfigError:
            recorded = ref.kms_type
        if recorded != kms_type:
            raise WrongKeyError(
                f"{path}: data key was wrapped by kms {ref.kms_type} (key {ref.key_id or '?'}), but kms {kms_type} "
                "is configured; read it with that kms"
            )
        return WrappedKey(recorded, ref.key_id or "", ref.wrap_algorithm or "", ref.wrapped_key)
    if ref is not None:
        return WrappedKey(kms_type, "", "", ref.wrapped_key)
    if not _stores_key_in_sidecar(info):
        raise UnknownFormatError(f"{path}: no data key reference in crypto mode {getattr(info, 'mode', '?')}")
    if data_key_path:
        from .bigdl_keys import read_data_key_file

        return WrappedKey(kms_type, "", "", read_data_key_file(data_key_path))
    directory = parent_of(path)
    wrapped = meta_wrapped_key(directory, read_sidecar) if read_sidecar is not None else None
    if wrapped is None:
        raise KeyFileError(
            f"{path}: nativeaescbc files carry no key; found neither option dataKeyPath nor {meta_path(directory)} "
            "(BigDL writes .meta next to its part files)"
        )
    return WrappedKey(kms_type, "", "", wrapped)


__all__ = [
    "MAX_SIDECAR_BYTES",
    "SidecarReader",
    "fs_sidecar_reader",
    "meta_wrapped_key",
    "parse_meta",
    "read_local_sidecar",
    "resolve_wrapped_key",
]
