"""BigDL PPML's legacy layouts: ``aes/cbc/pkcs5padding`` ("common") and ``nativeaescbc``.

common part file::

    i32be n | i32be 16 | n bytes: encrypted data key string (UTF-8) | IV[16] | 0x80 padding up to 400 bytes
    AES-128-CBC-PKCS5 ciphertext
    HMAC-SHA256(ciphertext)[32]

BigDL's data key is a *string* (Base64 of the unwrapped key bytes); its UTF-8 bytes [0:16] are the HMAC key
and [16:32] the AES key, zero-padded when the string is shorter (Java ``Arrays.copyOfRange``). The output
directory also holds ``.meta`` = ``{"encryptedDataKey": "<encrypted data key string>"}``.

nativeaescbc: IV[16] | AES-CBC-PKCS5 ciphertext, key = Base64-decoded data key string, no MAC.

CBC can be decrypted from any block boundary: block k only needs ciphertext block k-1 as its IV. We read in
*units* of whole blocks, so a reader may start at any unit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..errors import ConfigError, IntegrityError, UnknownFormatError, WrongKeyError
from ..safeio import MAX_META_FILE, loads_bounded
from .ppml_gcm import read_exact

COMMON_HEADER_SIZE = 400
IV_SIZE = 16
BLOCK = 16
MAC_SIZE = 32
META_FILE = ".meta"
DEFAULT_UNIT_SIZE = 1 << 20  # ciphertext bytes per random-access unit; a multiple of BLOCK


def key_string_from_bytes(data_key: bytes) -> str:
    """BigDL's data key string: Base64 of the unwrapped data key bytes."""
    return base64.b64encode(data_key).decode("ascii")


MIN_COMMON_KEY_BYTES = 16  # Java Arrays.copyOfRange(secret, 16, 32) throws for shorter strings
STRONG_COMMON_KEY_BYTES = 32  # shorter strings leave the tail of the AES key zero


def common_keys(key_string: str) -> tuple[bytes, bytes]:
    """(hmac_key, aes_key) exactly as BigDL derives them: UTF-8 bytes [0:16] and [16:32], zero-padded.

    Strings of 16..31 bytes give a partly (16 bytes: wholly) zero AES key, as in BigDL. Shorter strings make
    BigDL itself fail (``copyOfRange`` beyond the array end), so no such file can exist: we refuse them.
    """
    raw = key_string.encode("utf-8")
    if len(raw) < MIN_COMMON_KEY_BYTES:
        raise WrongKeyError(
            f"BigDL data key string is {len(raw)} bytes; aes/cbc/pkcs5padding needs at least "
            f"{MIN_COMMON_KEY_BYTES} (BigDL's own key strings are 44 Base64 characters)"
        )
    hmac_key = raw[0:16]
    aes_key = raw[16:32].ljust(16, b"\0")
    return hmac_key, aes_key


def native_key(key_string: str) -> bytes:
    try:
        key = base64.b64decode(key_string, validate=True)
    except binascii.Error:
        raise WrongKeyError("nativeaescbc needs a Base64 data key string") from None
    if len(key) not in (16, 24, 32):
        raise WrongKeyError(f"nativeaescbc data key decodes to {len(key)} bytes; AES needs 16, 24 or 32")
    return key


# The encrypted data key string (Base64 of the wrapped key) fits in 400 - 8 - 16 = 376 characters: the 256-byte
# RSA-OAEP wrap of a 2048-bit key (344 characters) fits, 3072-bit (512) and 4096-bit (684) keys do not.


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


@dataclass(frozen=True)
class CommonHeader:
    encrypted_key: str  # the encrypted data key string (Base64 of the wrapped key bytes)
    iv: bytes

    def to_bytes(self) -> bytes:
        key_bytes = self.encrypted_key.encode("utf-8")
        head = struct.pack(">ii", len(key_bytes), len(self.iv)) + key_bytes + self.iv
        if len(head) > COMMON_HEADER_SIZE:
            raise ValueError("encrypted data key string too long for BigDL's 400-byte header")
        return head.ljust(COMMON_HEADER_SIZE, b"\x80")

    @classmethod
    def parse(cls, head: bytes) -> CommonHeader:
        if len(head) < COMMON_HEADER_SIZE:
            raise UnknownFormatError("too short for a BigDL aes/cbc/pkcs5padding file (400-byte header)")
        key_len, iv_len = struct.unpack(">ii", head[:8])
        if iv_len != IV_SIZE or not 0 < key_len <= COMMON_HEADER_SIZE - 8 - IV_SIZE:
            raise UnknownFormatError("not a BigDL aes/cbc/pkcs5padding file (header lengths do not fit)")
        key_end = 8 + key_len
        if any(b != 0x80 for b in head[key_end + IV_SIZE : COMMON_HEADER_SIZE]):
            raise UnknownFormatError("not a BigDL aes/cbc/pkcs5padding file (header padding is not 0x80)")
        try:
            encrypted_key = head[8:key_end].decode("utf-8")
        except UnicodeDecodeError:
            raise UnknownFormatError("not a BigDL aes/cbc/pkcs5padding file (key string is not UTF-8)") from None
        return cls(encrypted_key, bytes(head[key_end : key_end + IV_SIZE]))


def looks_like_common(head: bytes) -> bool:
    try:
        CommonHeader.parse(head[:COMMON_HEADER_SIZE])
    except UnknownFormatError:
        return False
    return True


def write_meta(directory_writer: BinaryIO, encrypted_key: str) -> None:
    directory_writer.write(json.dumps({"encryptedDataKey": encrypted_key}).encode("utf-8"))


def read_meta(data: bytes) -> str:
    """The encrypted data key string of a ``.meta``; size and nesting are capped before parsing."""
    if len(data) > MAX_META_FILE:
        raise UnknownFormatError(f".meta is {len(data)} bytes, larger than the {MAX_META_FILE}-byte limit")
    try:
        return str(loads_bounded(data, ".meta", UnknownFormatError)["encryptedDataKey"])  # type: ignore[index]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise UnknownFormatError('.meta is not {"encryptedDataKey": "..."}') from None


class CommonWriter:
    """Streaming writer of one BigDL common part file: header, CBC ciphertext, then the HMAC trailer."""

    def __init__(self, sink: BinaryIO, key_string: str, encrypted_key: str, iv: bytes | None = None) -> None:
        """``iv`` exists for known-answer tests only; leave it None (a fresh random IV per file)."""
        if len(key_string.encode("utf-8")) < STRONG_COMMON_KEY_BYTES:
            raise WrongKeyError(
                "refusing to write aes/cbc/pkcs5padding with a data key string shorter than "
                f"{STRONG_COMMON_KEY_BYTES} bytes: part of the AES key would be zero (use a 44-character Base64 key)"
            )
        hmac_key, aes_key = common_keys(key_string)
        if iv is None:
            iv = os.urandom(IV_SIZE)
        elif len(iv) != IV_SIZE:
            raise ValueError(f"IV must be {IV_SIZE} bytes")
        self._sink = sink
        self._encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
        self._padder = padding.PKCS7(128).padder()
        self._mac = hmac.new(hmac_key, digestmod=hashlib.sha256)
        self._closed = False
        self.bytes_in = 0
        header = CommonHeader(encrypted_key, iv).to_bytes()
        sink.write(header)
        self.bytes_out = len(header)

    def _emit(self, ciphertext: bytes) -> None:
        if ciphertext:
            self._mac.update(ciphertext)
            self._sink.write(ciphertext)
            self.bytes_out += len(ciphertext)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed CommonWriter")
        self._emit(self._encryptor.update(self._padder.update(bytes(data))))
        self.bytes_in += len(data)
        return len(data)

    def close(self) -> None:
        if self._closed:
            return
        self._emit(self._encryptor.update(self._padder.finalize()) + self._encryptor.finalize())
        trailer = self._mac.digest()
        self._sink.write(trailer)
        self.bytes_out += len(trailer)
        self._closed = True

    def __enter__(self) -> CommonWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


class CbcReader:
    """Random-access AES-CBC-PKCS5 decryption of the ciphertext region [start, end) of a seekable file.

    ``unit`` i covers ciphertext bytes [start + i*unit_size, ...); decrypting it needs only the 16 bytes before
    it (or the IV for unit 0), so units may be read in any order. Padding is checked on the final unit.
    """

    def __init__(
        self,
        source: BinaryIO,
        key: bytes,
        iv: bytes,
        start: int,
        end: int,
        unit_size: int = DEFAULT_UNIT_SIZE,
        *,
        withhold_final_block: bool = False,
    ) -> None:
        """``withhold_final_block``: never decrypt the padded final block (its plaintext is dropped and its
        padding never checked), so a caller that must not act as a padding oracle (schema inference over
        unauthenticated data) reveals nothing about it."""
        if (end - start) <= 0 or (end - start) % BLOCK:
            raise IntegrityError(
                f"CBC ciphertext length {end - start} is not a positive multiple of 16 (file truncated?)"
            )
        if unit_size <= 0 or unit_size % BLOCK:
            raise ValueError("unit_size must be a positive multiple of 16")
        self._source, self._key, self._iv = source, key, iv
        self.start, self.end, self.unit_size = start, end, unit_size
        self._withhold = withhold_final_block

    @property
    def unit_count(self) -> int:
        return -(-(self.end - self.start) // self.unit_size)

    def plaintext_start(self, unit: int) -> int:
        return unit * self.unit_size

    def iter_units(self, first: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Plaintext of units ``first`` .. ``stop - 1``; padding is removed from the file's last unit."""
        stop = self.unit_count if stop is None else min(stop, self.unit_count)
        if first >= stop:
            return
        offset = self.start + first * self.unit_size
        iv = self._iv if first == 0 else read_exact(self._source, offset - BLOCK, BLOCK)
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).decryptor()
        for unit in range(first, stop):
            length = min(self.unit_size, self.end - offset)
            plaintext = decryptor.update(read_exact(self._source, offset, length))
            offset += length
            if unit == self.unit_count - 1:
                if self._withhold:  # drop the final block unchecked: padding validity must not show
                    plaintext = (plaintext + decryptor.finalize())[:-BLOCK]
                else:
                    plaintext = _unpad(plaintext + decryptor.finalize())
            yield plaintext


MAC_FAILED = (
    "HMAC-SHA256 check failed: the file was modified or truncated, or the data key is wrong "
    "(use verify=False / --no-verify only to salvage damaged legacy data)"
)


def _unpad(data: bytes) -> bytes:
    pad = data[-1] if data else 0
    if not 1 <= pad <= BLOCK or len(data) < pad or not hmac.compare_digest(data[-pad:], bytes([pad]) * pad):
        raise WrongKeyError("bad CBC padding: the data key is wrong or the file is damaged")
    return data[:-pad]


def verify_common_mac(source: BinaryIO, file_size: int, key_string: str, chunk: int = 1 << 20) -> None:
    """Streaming check of the HMAC trailer in constant time; raise IntegrityError on mismatch."""
    hmac_key, _ = common_keys(key_string)
    if file_size < COMMON_HEADER_SIZE + BLOCK + MAC_SIZE:
        raise IntegrityError("BigDL aes/cbc/pkcs5padding file is truncated")
    mac = hmac.new(hmac_key, digestmod=hashlib.sha256)
    offset, end = COMMON_HEADER_SIZE, file_size - MAC_SIZE
    source.seek(offset)
    while offset < end:
        data = source.read(min(chunk, end - offset))
        if not data:
            raise IntegrityError("BigDL aes/cbc/pkcs5padding file is truncated")
        mac.update(data)
        offset += len(data)
    expected = read_exact(source, end, MAC_SIZE)
    if not hmac.compare_digest(mac.digest(), expected):
        raise IntegrityError(MAC_FAILED)


def common_reader(
    source: BinaryIO,
    file_size: int,
    key_string: str,
    unit_size: int = DEFAULT_UNIT_SIZE,
    *,
    withhold_final_block: bool = False,
) -> CbcReader:
    header = CommonHeader.parse(read_exact(source, 0, COMMON_HEADER_SIZE))
    _, aes_key = common_keys(key_string)
    return CbcReader(
        source,
        aes_key,
        header.iv,
        COMMON_HEADER_SIZE,
        file_size - MAC_SIZE,
        unit_size,
        withhold_final_block=withhold_final_block,
    )


def native_reader(
    source: BinaryIO,
    file_size: int,
    key_string: str,
    unit_size: int = DEFAULT_UNIT_SIZE,
    *,
    withhold_final_block: bool = False,
) -> CbcReader:
    iv = read_exact(source, 0, IV_SIZE)
    return CbcReader(
        source, native_key(key_string), iv, IV_SIZE, file_size, unit_size, withhold_final_block=withhold_final_block
    )
