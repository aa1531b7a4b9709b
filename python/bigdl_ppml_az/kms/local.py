"""Local KMS for development and tests: a 32-byte primary key in a 0600 file, AES-256-GCM key wrapping."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ConfigError, KeyFileError, OutputExistsError, WrongKeyError
from ..safeio import MAX_KEY_FILE, check_private, read_regular
from . import LOCAL, KmsSettings, WrappedKey
from .registry import LOCAL_ALIASES

KEY_SIZE = 32
NONCE_SIZE = 12
WRAP_ALGORITHM = "AES-256-GCM"


def fingerprint(primary_key: bytes) -> str:
    """Key id of a local primary key: a one-way hash, so it identifies the key without revealing it."""
    return "local:" + hashlib.sha256(b"bigdl-ppml-az local key id\0" + primary_key).hexdigest()[:32]


class LocalKms:
    """AES-256-GCM wrapping under a 32-byte key file; ``identity`` is the key content's fingerprint."""

    kms_type = LOCAL
    aliases = LOCAL_ALIASES
    option_names = ("primaryKeyPath", "primaryKey", "strictPermissions")

    def __init__(self, primary_key: bytes, source: str = "<memory>") -> None:
        if len(primary_key) != KEY_SIZE:
            raise KeyFileError(f"{source}: a local primary key file holds exactly {KEY_SIZE} bytes")
        self._aead = AESGCM(primary_key)
        self._key_id = fingerprint(primary_key)
        self.source = source

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def identity(self) -> str:
        """The key content decides what unwraps: same bytes under another path unwrap the same data keys."""
        return f"local|{self._key_id}"

    def __repr__(self) -> str:
        return f"LocalKms(key_id={self._key_id!r}, source={self.source!r})"

    @classmethod
    def cache_token(cls, settings: KmsSettings) -> tuple[int, ...] | None:
        """Changes when the key file is replaced or rewritten (see ``kms.build_kms``)."""
        path = settings.get("primaryKeyPath") or settings.get("primaryKey")
        try:
            info = os.stat(path) if path else None
        except OSError:
            return None
        return None if info is None else (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)

    @classmethod
    def from_settings(cls, settings: KmsSettings) -> LocalKms:
        path = settings.get("primaryKeyPath") or settings.get("primaryKey")
        if not path:
            raise ConfigError("kms=local needs option primaryKeyPath (create one with `ppml-az keys create`)")
        strict = (settings.get("strictPermissions") or "").strip().lower() == "true"
        return cls.load(path, strict_permissions=strict)

    @classmethod
    def create(cls, path: str | os.PathLike[str], exist_ok: bool = False) -> LocalKms:
        """Write a new random primary key to ``path`` (mode 0600). An existing file is never overwritten: it is
        an error, or with ``exist_ok=True`` (a script run twice) the key already there, loaded and checked as
        :meth:`load` does."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        key = os.urandom(KEY_SIZE)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if exist_ok:
                return cls.load(target)
            raise OutputExistsError(
                f"{target}: primary key file exists; refusing to overwrite a key (LocalKms.load reads it, "
                "LocalKms.create(path, exist_ok=True) reuses it)"
            ) from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return cls(key, str(target))

    @classmethod
    def load(cls, path: str | os.PathLike[str], strict_permissions: bool = False) -> LocalKms:
        if not os.path.exists(path):
            raise KeyFileError(f"{path}: primary key file not found (create one with `ppml-az keys create`)")
        check_private(path, "primary key file", strict_permissions)  # warn like ssh; refuse when strict
        return cls(read_regular(path, MAX_KEY_FILE, "primary key file"), str(path))  # bounded, regular files only

    def wrap(self, data_key: bytes, *, compat: str = "") -> WrappedKey:
        """AES-256-GCM whatever ``compat`` says: BigDL had no local KMS, so there is no other algorithm."""
        nonce = os.urandom(NONCE_SIZE)
        ciphertext = nonce + self._aead.encrypt(nonce, data_key, self._key_id.encode("utf-8"))
        return WrappedKey(LOCAL, self._key_id, WRAP_ALGORITHM, ciphertext)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        if wrapped.key_id and wrapped.key_id != self._key_id:
            raise WrongKeyError(
                f"data key was wrapped by primary key {wrapped.key_id}, but {self.source} is {self._key_id}; "
                "pass the primary key file the data was encrypted with"
            )
        blob = wrapped.ciphertext
        try:
            return self._aead.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], self._key_id.encode("utf-8"))
        except (InvalidTag, ValueError):
            raise WrongKeyError(f"data key does not unwrap with primary key {self.source} (wrong key?)") from None
