"""Does a wrapped data key fit BigDL's ``aes/cbc/pkcs5padding`` layout? Checked before anything is written.

BigDL's 400-byte part-file header holds two i32 lengths, the encrypted data key *string* (Base64 of the wrapped
key) and a 16-byte IV, so the string may be at most 376 characters: the 256-byte RSA-OAEP output of a 2048-bit
Key Vault key (344 characters) fits, a 3072-bit key (512 characters) and a 4096-bit key (684) do not. Local
keys (60-byte AES-GCM wraps) always fit.
"""

from __future__ import annotations

import base64

from .errors import ConfigError
from .formats.bigdl import COMMON_HEADER_SIZE, IV_SIZE

MAX_ENCRYPTED_KEY_CHARS = COMMON_HEADER_SIZE - 8 - IV_SIZE  # 376
BIGDL_RSA_BITS = 2048


def encrypted_key_chars(wrapped: bytes) -> int:
    return len(base64.b64encode(wrapped))


def check_common_key_fits(wrapped: bytes, key_id: str = "") -> None:
    """Raise a one-line ConfigError saying what to do when ``wrapped`` cannot go into a BigDL header."""
    chars = encrypted_key_chars(wrapped)
    if chars <= MAX_ENCRYPTED_KEY_CHARS:
        return
    bits = len(wrapped) * 8
    what = f"primary key {key_id}" if key_id else "the primary key"
    raise ConfigError(
        f"crypto mode aes/cbc/pkcs5padding: {what} wraps data keys into {len(wrapped)} bytes (an RSA-{bits} key), "
        f"whose Base64 ({chars} characters) does not fit BigDL's 400-byte header (at most {MAX_ENCRYPTED_KEY_CHARS}, "
        f"a {BIGDL_RSA_BITS}-bit RSA key); nothing was written. Create a BigDL-compatible key with `ppml-az keys "
        "create --kms azure --bigdl ...` (2048-bit), or keep this key and use --crypto-mode ppml-gcm"
    )


__all__ = ["BIGDL_RSA_BITS", "MAX_ENCRYPTED_KEY_CHARS", "check_common_key_fits", "encrypted_key_chars"]
