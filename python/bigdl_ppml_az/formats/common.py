"""BigDL PPML ``aes/cbc/pkcs5padding`` ("common") as a codec; the byte layout lives in :mod:`.bigdl`.

Authenticated by an HMAC over the whole ciphertext, checked before the first plaintext byte, so one file is one
unit of work (not splittable). The wrapped key is in the 400-byte header; writers also leave BigDL's ``.meta``
in the output directory and reuse its key when appending, as BigDL does.
"""

from __future__ import annotations

import base64
import hashlib
from typing import BinaryIO

from ..errors import IntegrityError, UnknownFormatError
from . import bigdl
from .codec import (
    BIGDL_COMPAT,
    KEY_IN_HEADER,
    Codec,
    DataKey,
    KeyRef,
    ObjectInfo,
    PlaintextReader,
    UnitLayout,
    WrappedKeyLike,
    Writer,
    block_layout,
    register,
)


class CommonCodec(Codec):
    name = "aes/cbc/pkcs5padding"
    title = "BigDL aes/cbc/pkcs5padding"
    aliases = ("common", "aes_cbc_pkcs5padding")
    suffix = ".cbc"
    part_suffix = "cbc"
    splittable = False
    writable = True
    write_formats = ("csv", "json", "text")
    key_reference = KEY_IN_HEADER
    key_compat = BIGDL_COMPAT
    directory_meta = True
    whole_file_mac = True
    integrity = "HMAC-SHA256 over the ciphertext, checked before decrypting (IV not covered)"

    def detect(self, head: bytes) -> bool:
        return bigdl.looks_like_common(head)

    def probe(self, source: BinaryIO | None, size: int, name: str, head: bytes | None = None) -> ObjectInfo:
        if head is None:
            assert source is not None
            head = bigdl.read_exact(source, 0, min(size, bigdl.COMMON_HEADER_SIZE))
        if not self.detect(head):
            raise UnknownFormatError(f"not a {self.title} file")
        header = bigdl.CommonHeader.parse(head[: bigdl.COMMON_HEADER_SIZE])
        try:
            wrapped = base64.b64decode(header.encrypted_key, validate=True)
        except ValueError:
            wrapped = header.encrypted_key.encode("utf-8")
        return ObjectInfo(self.name, size, head[: bigdl.COMMON_HEADER_SIZE], KeyRef(wrapped))

    def describe(self, info: ObjectInfo) -> dict[str, object]:
        return {
            "format": self.name,
            "fileSize": info.file_size,
            "cipher": "AES-128-CBC-PKCS5 + HMAC-SHA256 (BigDL common)",
            "ciphertextSize": info.file_size - bigdl.COMMON_HEADER_SIZE - bigdl.MAC_SIZE,
        }

    def open_reader(
        self,
        info: ObjectInfo,
        source: BinaryIO,
        key: DataKey | None,
        *,
        verify: bool = True,
        name: str = "",
        unit_size: int = 0,
    ) -> PlaintextReader:
        if key is None:
            raise ValueError(f"{self.name} needs a data key")
        if verify:
            bigdl.verify_common_mac(source, info.file_size, key.as_bigdl_string())
        return bigdl.common_reader(source, info.file_size, key.as_bigdl_string(), unit_size or bigdl.DEFAULT_UNIT_SIZE)

    def open_sample(
        self, info: ObjectInfo, source: BinaryIO, key: DataKey | None, *, verify: bool = True, name: str = ""
    ) -> PlaintextReader:
        """MAC first (every tampered ciphertext is the same integrity error); verify=False withholds the final block.

        The IV is not covered by BigDL's MAC: in a file of under 16 plaintext bytes it steers the padding, an
        inherent limit of the format (docs/SECURITY.md)."""
        if verify:
            return self.open_reader(info, source, key, verify=True, name=name)
        if key is None:
            raise ValueError(f"{self.name} needs a data key")
        return bigdl.common_reader(source, info.file_size, key.as_bigdl_string(), withhold_final_block=True)

    def check_wrapped_key(self, wrapped: bytes, key_id: str = "") -> None:
        bigdl.check_common_key_fits(wrapped, key_id)  # BigDL's 400-byte header: RSA-2048 wraps at most

    def open_writer(
        self,
        sink: BinaryIO,
        key: DataKey,
        wrapped: WrappedKeyLike,
        *,
        segment_size: int = 0,
        content_type: str | None = None,
        plaintext_length: int | None = None,
        binding: tuple[str, str] | None = None,
    ) -> Writer:
        """BigDL's layout has no room for a table binding: a table's manifest pins these files instead."""
        return bigdl.CommonWriter(sink, key.as_bigdl_string(), base64.b64encode(wrapped.ciphertext).decode("ascii"))

    def commitment(self, info: ObjectInfo, source: BinaryIO) -> bytes:
        """SHA-256 of the 400-byte header (the IV included, which BigDL's MAC leaves out) and the trailing
        HMAC over the ciphertext: pinning both pins the whole file."""
        if info.file_size < bigdl.COMMON_HEADER_SIZE + bigdl.MAC_SIZE:
            raise IntegrityError(f"{self.title} file is truncated (shorter than header plus MAC)")
        mac = bigdl.read_exact(source, info.file_size - bigdl.MAC_SIZE, bigdl.MAC_SIZE)
        return hashlib.sha256(info.head + mac).digest()

    def unit_layout(self, info: ObjectInfo, max_partition_bytes: int) -> UnitLayout:
        payload = info.file_size - bigdl.COMMON_HEADER_SIZE - bigdl.MAC_SIZE
        return block_layout(payload, max_partition_bytes, self.splittable)

    def shim_key(self, info: ObjectInfo, key: DataKey) -> tuple[str, bytes | None, bytes] | None:
        header = bigdl.CommonHeader.parse(info.head)
        return "cbc", header.encrypted_key.encode("utf-8"), key.as_bigdl_string().encode("utf-8")


CODEC = register(CommonCodec())
