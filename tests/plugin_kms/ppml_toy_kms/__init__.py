"""A third-party KMS backend for bigdl-ppml-az, as a user's own package would write one.

AES-256-GCM key wrapping under a 32-byte key read from the file named by option ``toyKeyFile`` (or the
environment variable ``TOY_KMS_KEY_FILE``). It imports only the public protocol types of bigdl_ppml_az.kms.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bigdl_ppml_az.errors import ConfigError, KeyFileError, WrongKeyError
from bigdl_ppml_az.kms import KmsSettings, WrappedKey

ALGORITHM = "TOY-AES-256-GCM"


class ToyAesKms:
    kms_type = "toy-aes"
    aliases = ("toyaes", "toy")
    option_names = ("toyKeyFile",)

    def __init__(self, key: bytes, source: str) -> None:
        if len(key) != 32:
            raise KeyFileError(f"{source}: a toy-aes key file holds exactly 32 bytes")
        self._aead = AESGCM(key)
        self._key_id = "toy:" + hashlib.sha256(b"toy-aes key id\0" + key).hexdigest()[:24]
        self._source = source

    @classmethod
    def from_settings(cls, settings: KmsSettings) -> ToyAesKms:
        path = settings.get("toyKeyFile") or os.environ.get("TOY_KMS_KEY_FILE")
        if not path:
            raise ConfigError("kms=toy-aes needs option toyKeyFile (or TOY_KMS_KEY_FILE)")
        with open(path, "rb") as handle:
            return cls(handle.read(33), path)

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def identity(self) -> str:
        return f"toy-aes|{self._key_id}"

    def __repr__(self) -> str:
        return f"ToyAesKms(key_id={self._key_id!r})"

    def wrap(self, data_key: bytes, *, compat: str = "") -> WrappedKey:
        nonce = os.urandom(12)
        blob = nonce + self._aead.encrypt(nonce, data_key, self._key_id.encode())
        return WrappedKey(self.kms_type, self._key_id, ALGORITHM, blob)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        if wrapped.key_id and wrapped.key_id != self._key_id:
            raise WrongKeyError(
                f"data key was wrapped by toy key {wrapped.key_id}, but {self._source} is {self._key_id}"
            )
        try:
            return self._aead.decrypt(wrapped.ciphertext[:12], wrapped.ciphertext[12:], self._key_id.encode())
        except (InvalidTag, ValueError):
            raise WrongKeyError(f"data key does not unwrap with toy key {self._source} (wrong key?)") from None
