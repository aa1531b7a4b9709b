"""BigDL PPML ``nativeaescbc`` as a codec: IV | AES-CBC-PKCS5, no header and no MAC (layout in :mod:`.bigdl`).

Headerless, so it cannot be detected and must be named; its data key comes from outside the file (BigDL's
``.meta`` or a data key file). Unauthenticated: opening one warns with :class:`UnauthenticatedWarning`.
Read-only: we decrypt BigDL's data but do not produce new unauthenticated files.
"""

from __future__ import annotations

import warnings
from typing import BinaryIO

from ..errors import IntegrityError, UnknownFormatError
from . import bigdl
from .codec import (
    BIGDL_COMPAT,
    KEY_BESIDE,
    Codec,
    DataKey,
    ObjectInfo,
    PlaintextReader,
    UnauthenticatedWarning,
    UnitLayout,
    block_layout,
    detect,
    register,
)


class NativeCodec(Codec):
    name = "nativeaescbc"
    title = "BigDL nativeaescbc"
    aliases = ("native_aes_cbc",)
    suffix = ".nativecbc"
    authenticated = False
    detectable = False
    key_reference = KEY_BESIDE
    key_compat = BIGDL_COMPAT

    def probe(self, source: BinaryIO | None, size: int, name: str, head: bytes | None = None) -> ObjectInfo:
        if head is None:
            assert source is not None
            head = bigdl.read_exact(source, 0, min(size, 512))
        found = detect(head)
        if found is not None:
            raise UnknownFormatError(f"crypto mode {self.name} was forced, but this is a {found.name} file")
        if size < bigdl.IV_SIZE + bigdl.BLOCK or (size - bigdl.IV_SIZE) % bigdl.BLOCK:
            raise IntegrityError("size does not fit nativeaescbc (IV plus whole AES blocks)")
        return ObjectInfo(self.name, size, b"", None)

    def describe(self, info: ObjectInfo) -> dict[str, object]:
        return {
            "format": self.name,
            "fileSize": info.file_size,
            "cipher": "AES-CBC-PKCS5, no MAC (BigDL nativeaescbc)",
            "authenticated": False,
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
        warnings.warn(
            f"{name or 'object'}: nativeaescbc has no integrity protection; modified data decrypts silently",
            UnauthenticatedWarning,
            stacklevel=3,
        )
        return bigdl.native_reader(source, info.file_size, key.as_bigdl_string(), unit_size or bigdl.DEFAULT_UNIT_SIZE)

    def unit_layout(self, info: ObjectInfo, max_partition_bytes: int) -> UnitLayout:
        return block_layout(info.file_size - bigdl.IV_SIZE, max_partition_bytes, self.splittable)

    def shim_key(self, info: ObjectInfo, key: DataKey) -> tuple[str, bytes | None, bytes] | None:
        return "native", None, key.as_bigdl_string().encode("utf-8")


CODEC = register(NativeCodec())
