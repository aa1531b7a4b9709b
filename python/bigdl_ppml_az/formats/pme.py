"""Parquet Modular Encryption (``aes_gcm_v1``, ``aes_gcm_ctr_v1``) as Parquet-only codecs: metadata only.

pyarrow (``datasource/pme.py``) and Spark's own Parquet reader (``jvm/pme.py``) encrypt and decrypt: the keys
live in the Parquet footer, wrapped through the KMS. These codecs say so through their flags
(``wraps_bytes=False``, ``content_formats=("parquet",)``, ``key_reference=KEY_IN_FOOTER``) so callers need not
know the mode names. Files with an encrypted footer start and end with the magic ``PARE``.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from ..errors import IntegrityError
from .codec import KEY_IN_FOOTER, Codec, ObjectInfo, register

ENCRYPTED_FOOTER_MAGIC = b"PARE"


class PmeCodec(Codec):
    title = "Parquet Modular Encryption"
    wraps_bytes = False
    reads_head = False
    writable = True
    content_formats = ("parquet",)
    key_reference = KEY_IN_FOOTER

    def __init__(self, name: str, algorithm: str) -> None:
        self.name = name  # type: ignore[misc]  # one class, two registered modes
        self.algorithm = algorithm  # Parquet's name, as EncryptionConfiguration and Spark take it
        self.integrity = (  # type: ignore[misc]  # per registered mode
            "footer and page headers authenticated on read (AES-GCM); page data AES-CTR, not authenticated"
            if algorithm.endswith("CTR_V1")
            else "footer and every page authenticated on read (AES-GCM)"
        )

    def detect(self, head: bytes) -> bool:
        """An encrypted-footer PME file; both modes look alike (the algorithm is in the footer).

        ``PARE`` alone is also how a text line may start (``PARENT_ID,...``): the bytes after it must be binary
        (a module length or a Thrift page header, both with control bytes), so plaintext read as such passes."""
        return head.startswith(ENCRYPTED_FOOTER_MAGIC) and (
            len(head) <= len(ENCRYPTED_FOOTER_MAGIC) or _binary(head[len(ENCRYPTED_FOOTER_MAGIC) : 64])
        )

    def probe(self, source: BinaryIO | None, size: int, name: str, head: bytes | None = None) -> ObjectInfo:
        return ObjectInfo(self.name, size, b"", None)

    def describe(self, info: ObjectInfo) -> dict[str, object]:
        return {"format": self.name, "fileSize": info.file_size, "algorithm": self.algorithm}

    def commitment(self, info: ObjectInfo, source: BinaryIO) -> bytes:
        """SHA-256 of the footer region (crypto metadata and encrypted footer, its length and magic): the footer
        holds the file's unique AAD that authenticates every page, so it pins the file (a few small reads)."""
        size = info.file_size
        if size < 12:
            raise IntegrityError("Parquet file is truncated (shorter than its magic and footer length)")
        source.seek(size - 8)
        tail = source.read(8)
        if len(tail) != 8 or tail[4:] not in (ENCRYPTED_FOOTER_MAGIC, b"PAR1"):
            raise IntegrityError("Parquet file does not end with its footer magic (truncated or not Parquet)")
        footer = int.from_bytes(tail[:4], "little")
        if footer + 8 + 4 > size:
            raise IntegrityError(f"Parquet footer length {footer} is larger than the file (damaged)")
        source.seek(size - 8 - footer)
        region = source.read(footer + 8)
        if len(region) != footer + 8:
            raise IntegrityError("Parquet file is shorter than its listed size (truncated?)")
        return hashlib.sha256(region).digest()


def _binary(data: bytes) -> bool:
    """Control bytes other than tab, newline, carriage return and form feed: not text."""
    return any(b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D) for b in data)


AES_GCM_V1 = register(PmeCodec("aes_gcm_v1", "AES_GCM_V1"))
AES_GCM_CTR_V1 = register(PmeCodec("aes_gcm_ctr_v1", "AES_GCM_CTR_V1"))
