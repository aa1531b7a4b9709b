"""BigDL PPML key files: the primary key file and the data key file that BigDL's key tools write.

* AzureKeyManagementService primary key file: the Key Vault key id (URL), as text.
* Data key file: Base64 of the wrapped data key bytes (RSA-OAEP for Azure; our AES-GCM wrap for local).
* The data key *string* BigDL uses for its formats is Base64 of the unwrapped bytes.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from ..errors import KeyFileError, OutputExistsError


def _read_text(path: str | os.PathLike[str], what: str) -> str:
    """Key files are small: read at most 64 KiB, regular files only (no FIFO hang, no /dev/zero exhaustion)."""
    from .resolve import read_local_sidecar

    try:
        data = read_local_sidecar(os.fspath(path))
        if data is None:
            raise KeyFileError(f"{path}: {what} not found")
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise KeyFileError(f"{path}: cannot read {what} ({type(exc).__name__})") from None
    if not text:
        raise KeyFileError(f"{path}: {what} is empty")
    return text


def read_primary_key_id(path: str | os.PathLike[str]) -> str:
    """Key Vault key id from a BigDL AzureKeyManagementService primary key file."""
    return _read_text(path, "primary key file")


def read_data_key_file(path: str | os.PathLike[str]) -> bytes:
    """Wrapped data key bytes from a BigDL data key file (Base64 text)."""
    text = _read_text(path, "data key file")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise KeyFileError(f"{path}: data key file is not Base64 text") from None


def read_data_key_plaintext(path: str | os.PathLike[str]) -> str:
    """A data key *string* the user already holds (BigDL primary_key_plaintext era, recovered keys)."""
    return _read_text(path, "plaintext data key file")


def write_data_key_file(path: str | os.PathLike[str], wrapped: bytes, force: bool = False) -> None:
    target = Path(path)
    if target.exists() and not force:
        raise OutputExistsError(f"{target}: data key file exists; refusing to overwrite")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(wrapped).decode("ascii"))
