"""Encrypted file formats: pure byte-level code, no Spark and no I/O policy.

Every encrypted object says what it is in its first bytes (ppml-gcm magic, BigDL's 400-byte header); only
``nativeaescbc`` has no header and must be named by the caller. ``probe()`` reads the header of an open,
seekable file into an :class:`ObjectInfo` (small, picklable, no secrets); ``open_reader()`` turns it plus the
unwrapped :class:`DataKey` into a random-access :class:`PlaintextReader` whose *units* (GCM segments or runs of
CBC blocks) can be decrypted independently, which is what splits a file across Spark partitions.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from ..errors import IntegrityError, UnknownFormatError, WrongKeyError
from . import bigdl, ppml_gcm

PPML_GCM = "ppml-gcm"
COMMON = "aes/cbc/pkcs5padding"
NATIVE = "nativeaescbc"
PLAIN = "plain_text"
AES_GCM_V1 = "aes_gcm_v1"  # Parquet Modular Encryption (handled by the Parquet/JVM path, not here)
AES_GCM_CTR_V1 = "aes_gcm_ctr_v1"
AUTO = "auto"

_ALIASES = {
    "auto": AUTO,
    "": AUTO,
    "ppml-gcm": PPML_GCM,
    "ppml_gcm": PPML_GCM,
    "ppmlgcm": PPML_GCM,
    "aes/cbc/pkcs5padding": COMMON,
    "common": COMMON,
    "aes_cbc_pkcs5padding": COMMON,
    "nativeaescbc": NATIVE,
    "native_aes_cbc": NATIVE,
    "plain_text": PLAIN,
    "plaintext": PLAIN,
    "plain": PLAIN,
    "aes_gcm_v1": AES_GCM_V1,
    "aes_gcm_ctr_v1": AES_GCM_CTR_V1,
}
WRITABLE_MODES = (PPML_GCM, COMMON)


class UnauthenticatedWarning(UserWarning):
    """Decrypting a format without integrity protection (BigDL nativeaescbc): tampering goes unnoticed."""


def normalize_mode(name: str | None) -> str:
    """Canonical crypto-mode name from any spelling users know (BigDL's included, case-insensitive)."""
    key = (name or "auto").strip().lower()
    if key not in _ALIASES:
        known = ", ".join(sorted({PPML_GCM, COMMON, NATIVE, PLAIN, AES_GCM_V1, AES_GCM_CTR_V1, AUTO}))
        raise UnknownFormatError(f"unknown crypto mode {name!r}; use one of: {known}")
    return _ALIASES[key]


@dataclass(frozen=True, repr=False)
class DataKey:
    """Unwrapped data key. BigDL layouts use the key *string* (Base64 of the bytes unless given directly)."""

    material: bytes
    bigdl_string: str | None = None

    @classmethod
    def from_bigdl_string(cls, key_string: str) -> DataKey:
        key_string = key_string.strip()
        try:
            material = base64.b64decode(key_string, validate=True)
        except ValueError:
            material = b""
        return cls(material, key_string)

    def as_bigdl_string(self) -> str:
        return self.bigdl_string if self.bigdl_string is not None else bigdl.key_string_from_bytes(self.material)

    def __repr__(self) -> str:
        return "DataKey(<redacted>)"


@dataclass(frozen=True)
class KeyRef:
    """What the KMS must unwrap for one object. BigDL headers record only the wrapped key, not the KMS."""

    wrapped_key: bytes = field(repr=False)  # not secret, but keep it out of logs and explain() output
    kms_type: str | None = None
    key_id: str | None = None
    wrap_algorithm: str | None = None


@dataclass(frozen=True)
class ObjectInfo:
    """Public facts about one encrypted object, read from its header on the driver."""

    mode: str
    file_size: int
    head: bytes = field(repr=False)  # envelope (ppml-gcm) or 400-byte header (common); b"" for nativeaescbc
    key_ref: KeyRef | None  # None: key comes from options (nativeaescbc) or the user
    segment_size: int | None = None
    envelope: ppml_gcm.Envelope | None = field(default=None, repr=False)

    @property
    def splittable(self) -> bool:
        """Whether units may be decrypted by different tasks (common needs a whole-file MAC pass first)."""
        return self.mode in (PPML_GCM, NATIVE)

    def describe(self) -> dict[str, object]:
        """Metadata safe to print: never the data key, never the wrapped key bytes."""
        out: dict[str, object] = {"format": self.mode, "fileSize": self.file_size}
        if self.envelope is not None:
            env = self.envelope
            layout = ppml_gcm.Layout(len(self.head), env.segment_size, self.file_size)
            out.update(
                {
                    "formatVersion": env.version,
                    "kms": env.kms_type,
                    "keyId": env.key_id,
                    "wrapAlgorithm": env.wrap_algorithm,
                    "segmentSize": env.segment_size,
                    "segments": layout.segment_count,
                    "plaintextSize": layout.plaintext_size,
                    "contentType": env.content_type,
                    "authenticated": True,
                }
            )
        elif self.mode == COMMON:
            out.update(
                {
                    "cipher": "AES-128-CBC-PKCS5 + HMAC-SHA256 (BigDL common)",
                    "ciphertextSize": self.file_size - bigdl.COMMON_HEADER_SIZE - bigdl.MAC_SIZE,
                    "authenticated": True,
                }
            )
        elif self.mode == NATIVE:
            out.update({"cipher": "AES-CBC-PKCS5, no MAC (BigDL nativeaescbc)", "authenticated": False})
        return out


class PlaintextReader(Protocol):
    """Random access to the plaintext of one object in independently decryptable units."""

    @property
    def unit_count(self) -> int: ...

    def plaintext_start(self, unit: int) -> int: ...

    def iter_units(self, first: int = 0, stop: int | None = None) -> Iterator[bytes]: ...


class _GcmUnits:
    def __init__(self, decryptor: ppml_gcm.Decryptor) -> None:
        self._decryptor = decryptor

    @property
    def unit_count(self) -> int:
        return self._decryptor.layout.segment_count

    def plaintext_start(self, unit: int) -> int:
        return self._decryptor.layout.plaintext_start(unit)

    def iter_units(self, first: int = 0, stop: int | None = None) -> Iterator[bytes]:
        return self._decryptor.iter_segments(first, stop)


def _is_probably_parquet(head: bytes) -> bool:
    return head.startswith(b"PAR1")


def probe(source: BinaryIO, file_size: int, name: str, mode: str = AUTO) -> ObjectInfo:
    """Read the header of ``source`` and say what it is; ``mode`` forces a layout (required for nativeaescbc).

    Raises UnknownFormatError naming ``name`` when the bytes are plaintext or of no known format.
    """
    mode = normalize_mode(mode)
    try:
        head = ppml_gcm.read_exact(source, 0, min(file_size, 512))
        if mode in (AUTO, PPML_GCM) and head.startswith(ppml_gcm.MAGIC):
            total = ppml_gcm.envelope_length(head[:12])
            if total > len(head):
                head += ppml_gcm.read_exact(source, len(head), min(total, file_size) - len(head))
            envelope, raw = ppml_gcm.parse_envelope(head)
            key_ref = KeyRef(envelope.wrapped_key, envelope.kms_type, envelope.key_id, envelope.wrap_algorithm)
            return ObjectInfo(PPML_GCM, file_size, raw, key_ref, envelope.segment_size, envelope)
        if mode in (AUTO, COMMON) and bigdl.looks_like_common(head):
            header = bigdl.CommonHeader.parse(head[: bigdl.COMMON_HEADER_SIZE])
            try:
                wrapped = base64.b64decode(header.encrypted_key, validate=True)
            except ValueError:
                wrapped = header.encrypted_key.encode("utf-8")
            return ObjectInfo(COMMON, file_size, head[: bigdl.COMMON_HEADER_SIZE], KeyRef(wrapped))
        if mode == NATIVE:
            if head.startswith(ppml_gcm.MAGIC) or bigdl.looks_like_common(head):
                found = PPML_GCM if head.startswith(ppml_gcm.MAGIC) else COMMON
                raise UnknownFormatError(f"crypto mode nativeaescbc was forced, but this is a {found} file")
            if file_size < bigdl.IV_SIZE + bigdl.BLOCK or (file_size - bigdl.IV_SIZE) % bigdl.BLOCK:
                raise IntegrityError("size does not fit nativeaescbc (IV plus whole AES blocks)")
            return ObjectInfo(NATIVE, file_size, b"", None)
    except (UnknownFormatError, IntegrityError) as exc:
        raise type(exc)(f"{name}: {exc}") from None
    if mode not in (AUTO, PPML_GCM, COMMON, NATIVE):
        raise UnknownFormatError(f"{name}: crypto mode {mode} is not a whole-file encryption format")
    hint = "a plaintext Parquet file" if _is_probably_parquet(head) else "not an encrypted file we know"
    wanted = "" if mode == AUTO else f" (expected {mode})"
    raise UnknownFormatError(
        f"{name}: {hint}{wanted}; it has neither the ppml-gcm magic nor a BigDL header. "
        "For headerless BigDL nativeaescbc data pass crypto mode nativeaescbc."
    )


def open_reader(
    info: ObjectInfo, source: BinaryIO, key: DataKey, verify: bool = True, name: str = "", unit_size: int = 0
) -> PlaintextReader:
    """Random-access plaintext reader. For BigDL common with ``verify`` the whole-file HMAC is checked first.

    nativeaescbc has no MAC at all: opening it emits :class:`UnauthenticatedWarning`.
    """
    if unit_size < 0 or unit_size % bigdl.BLOCK:
        raise ValueError(f"unit_size must be a non-negative multiple of {bigdl.BLOCK}, got {unit_size}")
    try:
        if info.mode == PPML_GCM:
            return _GcmUnits(ppml_gcm.Decryptor(source, info.file_size, key.material, info.head))
        size = unit_size or bigdl.DEFAULT_UNIT_SIZE
        if info.mode == COMMON:
            if verify:
                bigdl.verify_common_mac(source, info.file_size, key.as_bigdl_string())
            return bigdl.common_reader(source, info.file_size, key.as_bigdl_string(), size)
        if info.mode == NATIVE:
            warnings.warn(
                f"{name or 'object'}: nativeaescbc has no integrity protection; modified data decrypts silently",
                UnauthenticatedWarning,
                stacklevel=2,
            )
            return bigdl.native_reader(source, info.file_size, key.as_bigdl_string(), size)
    except (IntegrityError, WrongKeyError, ValueError) as exc:
        raise _named(exc, name) from None
    raise UnknownFormatError(f"{name}: cannot decrypt crypto mode {info.mode}")


def iter_plaintext(reader: PlaintextReader, name: str = "", first: int = 0, stop: int | None = None) -> Iterator[bytes]:
    """``reader.iter_units`` with errors prefixed by the object's name."""
    try:
        yield from reader.iter_units(first, stop)
    except (IntegrityError, WrongKeyError) as exc:
        raise _named(exc, name) from None


def _named(exc: Exception, name: str) -> Exception:
    cls = type(exc) if isinstance(exc, (IntegrityError, WrongKeyError)) else WrongKeyError
    return cls(f"{name}: {exc}" if name else str(exc))


__all__ = [
    "AES_GCM_CTR_V1",
    "AES_GCM_V1",
    "AUTO",
    "COMMON",
    "NATIVE",
    "PLAIN",
    "PPML_GCM",
    "WRITABLE_MODES",
    "DataKey",
    "KeyRef",
    "ObjectInfo",
    "PlaintextReader",
    "UnauthenticatedWarning",
    "bigdl",
    "iter_plaintext",
    "normalize_mode",
    "open_reader",
    "ppml_gcm",
    "probe",
]
