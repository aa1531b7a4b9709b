"""Parquet Modular Encryption (``aes_gcm_v1``, ``aes_gcm_ctr_v1``) as Parquet-only codecs: metadata only.

pyarrow (``datasource/pme.py``) and Spark's own Parquet reader (``jvm/pme.py``) encrypt and decrypt: the keys
live in the Parquet footer, wrapped through the KMS. These codecs say so through their flags
(``wraps_bytes=False``, ``content_formats=("parquet",)``, ``key_reference=KEY_IN_FOOTER``) so callers need not
know the mode names. Files with an encrypted footer start and end with the magic ``PARE``.
"""

from __future__ import annotations

from typing import BinaryIO

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

    def detect(self, head: bytes) -> bool:
        """An encrypted-footer PME file; both modes look alike (the algorithm is in the footer)."""
        return head.startswith(ENCRYPTED_FOOTER_MAGIC)

    def probe(self, source: BinaryIO | None, size: int, name: str, head: bytes | None = None) -> ObjectInfo:
        return ObjectInfo(self.name, size, b"", None)

    def describe(self, info: ObjectInfo) -> dict[str, object]:
        return {"format": self.name, "fileSize": info.file_size, "algorithm": self.algorithm, "authenticated": True}


AES_GCM_V1 = register(PmeCodec("aes_gcm_v1", "AES_GCM_V1"))
AES_GCM_CTR_V1 = register(PmeCodec("aes_gcm_ctr_v1", "AES_GCM_CTR_V1"))
