"""Local KMS for development and tests: a 32-byte primary key in a 0600 file, AES-256-GCM key wrapping."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ConfigError, KeyFileError, OutputExistsError, WrongKeyError
from . import LOCAL, KmsSettings, WrappedKey

KEY_SIZE = 32
NONCE_SIZE = 12
WRAP_ALGORITHM = "AES-256-GCM"


def fingerprint(primary_key: bytes) -> str:
    """Key id of a local primary key: a one-way hash, so it identifies the key without revealing it."""
    return "local:" + hashlib.sha256(b"bigdl-ppml-az local key id\0" + primary_key).hexdigest()[:32]


def read_key_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file (never a FIFO or device: no hang, no unbounded read)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise KeyFileError(f"{path}: not a regular file")
        chunks: list[bytes] = []
        remaining = limit
        while remaining > 0 and (chunk := os.read(fd, remaining)):
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class LocalKms:
    """AES-256-GCM wrapping under a 32-byte key file; ``identity`` is the key content's fingerprint."""

    kms_type = LOCAL
    aliases = ("simple",)
    option_names = ("primaryKeyPath", "primaryKey")

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
    def from_settings(cls, settings: KmsSettings) -> LocalKms:
        path = settings.get("primaryKeyPath") or settings.get("primaryKey")
        if not path:
            raise ConfigError("kms=local needs option primaryKeyPath (create one with `ppml-az keys create`)")
        return cls.load(path)

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> LocalKms:
        """Write a new random primary key to ``path`` (mode 0600); refuse to overwrite an existing file."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        key = os.urandom(KEY_SIZE)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise OutputExistsError(f"{target}: primary key file exists; refusing to overwrite a key") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return cls(key, str(target))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LocalKms:
        try:
            key = read_key_file(path, KEY_SIZE + 1)
        except FileNotFoundError:
            raise KeyFileError(f"{path}: primary key file not found (create one with `ppml-az keys create`)") from None
        except OSError as exc:
            raise KeyFileError(f"{path}: cannot read primary key file ({exc.strerror})") from None
        return cls(key, str(path))

    def wrap(self, data_key: bytes, *, compat: str = "") -> WrappedKey:
        """AES-256-GCM whatever ``compat`` says: BigDL had no local KMS, so there is no other algorithm."""
        nonce = os.urandom(NONCE_SIZE)
        ciphertext = nonce + self._aead.encrypt(nonce, data_key, self._key_id.encode("utf-8"))
        return WrappedKey(LOCAL, self._key_id, WRAP_ALGORITHM, ciphertext)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        if wrapped.key_id and wrapped.key_id != self._key_id:
            raise WrongKeyError(
                f"data key was wrapped by primary key {wrapped.key_id}, but {self.source} is {self._key_id}"
            )
        blob = wrapped.ciphertext
        try:
            return self._aead.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], self._key_id.encode("utf-8"))
        except (InvalidTag, ValueError):
            raise WrongKeyError(f"data key does not unwrap with primary key {self.source} (wrong key?)") from None
