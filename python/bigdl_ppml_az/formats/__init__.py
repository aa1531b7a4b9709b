"""Encrypted file formats: pure byte-level code, no Spark and no I/O policy.

Each crypto mode is one registered :class:`~.codec.Codec` (``ppml_gcm``, ``common``, ``native``, ``plain``,
``pme``); importing this package registers them all. Every encrypted object says what it is in its first bytes
(ppml-gcm magic, BigDL's 400-byte header); only ``nativeaescbc`` has no header and must be named by the caller.
``probe()`` reads the header of an open, seekable file into an :class:`ObjectInfo` (small, picklable, no
secrets); ``open_reader()`` turns it plus the unwrapped :class:`DataKey` into a random-access
:class:`PlaintextReader` whose *units* (GCM segments or runs of CBC blocks) can be decrypted independently,
which is what splits a file across Spark partitions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from ..errors import IntegrityError, UnknownFormatError, WrongKeyError
from . import bigdl, common, native, plain, pme, ppml_gcm
from .codec import (
    AUTO,
    BIGDL_COMPAT,
    DEFAULT_COMPAT,
    HEAD_SIZE,
    KEY_BESIDE,
    KEY_IN_FOOTER,
    KEY_IN_HEADER,
    KEY_NONE,
    Codec,
    DataKey,
    KeyRef,
    ObjectInfo,
    PlaintextReader,
    UnauthenticatedWarning,
    UnitLayout,
    Writer,
    all_codecs,
    codec_for,
    detect,
    encrypted,
    named,
    normalize_mode,
    register,
    write_codec,
)

# Canonical names, for callers that pass a mode as a value (defaults, options); compare codecs, not these.
PPML_GCM = ppml_gcm.CODEC.name
COMMON = common.CODEC.name
NATIVE = native.CODEC.name
PLAIN = plain.CODEC.name
AES_GCM_V1 = pme.AES_GCM_V1.name  # Parquet Modular Encryption (handled by the Parquet/JVM path, not here)
AES_GCM_CTR_V1 = pme.AES_GCM_CTR_V1.name
DEFAULT_WRITE_MODE = PPML_GCM
WRITABLE_MODES = tuple(c.name for c in all_codecs() if c.writable and c.wraps_bytes)  # file by file


def _is_probably_parquet(head: bytes) -> bool:
    return head.startswith(b"PAR1")


def _is_probably_text(head: bytes) -> bool:
    """UTF-8 without control bytes other than tab/CR/LF: ciphertext (random bytes) practically never is.

    Only chooses the hint of an error: the file is refused either way. A multi-byte character cut at the end of
    ``head`` is allowed."""
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n" for ch in text.lstrip("\ufeff"))


def refuse_ciphertext_as_plaintext(head: bytes, name: str, mode: str, action: str = "", advice: str = "") -> None:
    """Raise when a read in ``mode`` would hand the bytes of an encrypted file (``head``: its first bytes) back as
    plaintext. The one rule every front end calls: a file that says it is encrypted (ppml-gcm magic, BigDL's
    header, PME's ``PARE``) is never data, whatever crypto mode was set (BigDL habit: ``plain_text`` for all).

    Costs one :func:`detect` over bytes the caller already read; modes that decrypt (auto included) pass.
    ``action``/``advice`` replace what the message says is wrong and what to do (``ppml-az encrypt``).
    """
    if encrypted(mode):
        return
    found = detect(head)
    if found is None:
        return
    modes = " or ".join(c.name for c in all_codecs() if c.detectable and c.detect(head))  # PME: two alike
    what = found.title if found.title == modes else f"{found.title}, crypto mode {modes}"
    if not advice:
        drop = f"drop the crypto mode (or set it to {AUTO} or {modes})" if found.reads_head else f"set it to {modes}"
        advice = f"{drop} and give the KMS key"
    action = action or f"crypto mode {normalize_mode(mode)} would return its ciphertext as rows"
    raise UnknownFormatError(f"{name}: is encrypted ({what}, detected from its first bytes) but {action}; {advice}")


def probe(source: BinaryIO, file_size: int, name: str, mode: str = AUTO) -> ObjectInfo:
    """Read the header of ``source`` and say what it is; ``mode`` forces a layout (required for nativeaescbc).

    Raises UnknownFormatError naming ``name`` when the bytes are plaintext or of no known format, or when a
    plaintext ``mode`` meets an encrypted file (:func:`refuse_ciphertext_as_plaintext`).
    """
    mode = normalize_mode(mode)
    forced = None if mode == AUTO else codec_for(mode)
    try:
        head = ppml_gcm.read_exact(source, 0, min(file_size, HEAD_SIZE))
    except (UnknownFormatError, IntegrityError) as exc:
        raise type(exc)(f"{name}: {exc}") from None
    refuse_ciphertext_as_plaintext(head, name, mode)
    try:
        if forced is not None and forced.reads_head and (not forced.detectable or forced.detect(head)):
            return forced.probe(source, file_size, name, head)
        if forced is None:
            for codec in all_codecs():
                if codec.reads_head and codec.detectable and codec.detect(head):
                    return codec.probe(source, file_size, name, head)
    except (UnknownFormatError, IntegrityError) as exc:
        raise type(exc)(f"{name}: {exc}") from None
    if forced is not None and not forced.reads_head:
        raise UnknownFormatError(f"{name}: crypto mode {mode} is not a whole-file encryption format")
    wanted = "" if forced is None else f" (expected {mode})"
    truncated_magic = ppml_gcm.MAGIC.startswith(head)
    if _is_probably_parquet(head) or (_is_probably_text(head) and not truncated_magic):
        kind = "Parquet" if _is_probably_parquet(head) else "text (CSV, JSON or lines)"
        raise UnknownFormatError(
            f"{name}: not an encrypted file we know{wanted}: this looks like plaintext {kind}. To read unencrypted "
            "files pass crypto mode plain_text (cryptoMode=plain_text), or encrypt them first (ppml-az encrypt)"
        )
    raise UnknownFormatError(
        f"{name}: not an encrypted file we know{wanted}; it has neither the ppml-gcm magic nor a BigDL header. "
        "For headerless BigDL nativeaescbc data pass crypto mode nativeaescbc."
    )


def open_reader(
    info: ObjectInfo, source: BinaryIO, key: DataKey | None, verify: bool = True, name: str = "", unit_size: int = 0
) -> PlaintextReader:
    """Random-access plaintext reader. For BigDL common with ``verify`` the whole-file HMAC is checked first.

    nativeaescbc has no MAC at all: opening it emits :class:`UnauthenticatedWarning`.
    """
    if unit_size < 0 or unit_size % bigdl.BLOCK:
        raise ValueError(f"unit_size must be a non-negative multiple of {bigdl.BLOCK}, got {unit_size}")
    codec = info.codec
    if not codec.wraps_bytes:
        raise UnknownFormatError(f"{name}: cannot decrypt crypto mode {info.mode}")
    try:
        return codec.open_reader(info, source, key, verify=verify, name=name, unit_size=unit_size)
    except (IntegrityError, WrongKeyError, ValueError) as exc:
        raise named(exc, name) from None


def open_sample(
    info: ObjectInfo, source: BinaryIO, key: DataKey | None, verify: bool = True, name: str = ""
) -> PlaintextReader:
    """Like :func:`open_reader`, for a bounded driver-side sample that must never act as a padding oracle."""
    codec = info.codec
    if not codec.wraps_bytes:
        raise UnknownFormatError(f"{name}: cannot decrypt crypto mode {info.mode}")
    try:
        return codec.open_sample(info, source, key, verify=verify, name=name)
    except (IntegrityError, WrongKeyError, ValueError) as exc:
        raise named(exc, name) from None


def iter_plaintext(reader: PlaintextReader, name: str = "", first: int = 0, stop: int | None = None) -> Iterator[bytes]:
    """``reader.iter_units`` with errors prefixed by the object's name."""
    try:
        yield from reader.iter_units(first, stop)
    except (IntegrityError, WrongKeyError) as exc:
        raise named(exc, name) from None


__all__ = [
    "AES_GCM_CTR_V1",
    "AES_GCM_V1",
    "AUTO",
    "BIGDL_COMPAT",
    "COMMON",
    "DEFAULT_COMPAT",
    "DEFAULT_WRITE_MODE",
    "HEAD_SIZE",
    "KEY_BESIDE",
    "KEY_IN_FOOTER",
    "KEY_IN_HEADER",
    "KEY_NONE",
    "NATIVE",
    "PLAIN",
    "PPML_GCM",
    "WRITABLE_MODES",
    "Codec",
    "DataKey",
    "KeyRef",
    "ObjectInfo",
    "PlaintextReader",
    "UnauthenticatedWarning",
    "UnitLayout",
    "Writer",
    "all_codecs",
    "bigdl",
    "codec_for",
    "detect",
    "encrypted",
    "iter_plaintext",
    "normalize_mode",
    "open_reader",
    "open_sample",
    "ppml_gcm",
    "probe",
    "refuse_ciphertext_as_plaintext",
    "register",
    "write_codec",
]
