"""The crypto-mode interface and its registry: each mode is one :class:`Codec` in one module.

A codec knows everything about its layout: how to recognise it from the first bytes, what its header says
(``probe``/``describe``), how to decrypt byte ranges (``open_reader``), how to write it (``open_writer``), how a
file cuts into independently decryptable units (``unit_layout``) and where its wrapped data key lives
(``key_reference``). Callers (data source, ``filecrypt``, CLI, JVM helpers) ask the codec instead of comparing
mode names, so adding a mode is one new module plus its registration in ``formats/__init__.py``.

This module imports no mode module: those import it and call :func:`register` on import.

Adding a mode: write ``formats/<mode>.py`` with a ``Codec`` subclass (flags plus the methods they promise) and
``CODEC = register(...)``, import it in ``formats/__init__.py``, and ``tests/test_codec_registry.py`` runs its
generic suite over it (a read-only mode also needs a test writer there). The JVM shim is separate (Scala).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, ClassVar, Protocol, overload

from .._registry import Registry, spelling
from ..errors import IntegrityError, UnknownFormatError, WrongKeyError

if TYPE_CHECKING:
    from .ppml_gcm import Envelope

AUTO = "auto"
HEAD_SIZE = 512  # bytes read to detect a layout (BigDL's header is 400; longer envelopes are read on demand)

# Where a codec's wrapped data key lives (Codec.key_reference).
KEY_IN_HEADER = "header"  # the file's own header (ppml-gcm envelope, BigDL's 400-byte header)
KEY_BESIDE = "beside"  # outside the file: BigDL ``.meta`` next to it or a BigDL data key file (nativeaescbc)
KEY_IN_FOOTER = "parquet-footer"  # Parquet Modular Encryption: wrapped keys in the Parquet footer metadata
KEY_NONE = "none"  # not encrypted

# KMS wrap profiles a writer asks for (Codec.key_compat): "" is the KMS default; "bigdl" is BigDL's wrap
# algorithm (RSA-OAEP on Azure Key Vault), so BigDL PPML can unwrap what we write.
DEFAULT_COMPAT = ""
BIGDL_COMPAT = "bigdl"

CBC_BLOCK = 16
MAX_BLOCK_UNIT = 1 << 20  # largest CBC/plaintext unit the planner cuts (a multiple of CBC_BLOCK)
DEFAULT_UNIT_SIZE = 1 << 20


class UnauthenticatedWarning(UserWarning):
    """Decrypting a format without integrity protection (BigDL nativeaescbc): tampering goes unnoticed."""


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
        """BigDL's data key string: Base64 of the key bytes, unless the string itself was given."""
        return self.bigdl_string if self.bigdl_string is not None else base64.b64encode(self.material).decode()

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
    """Public facts about one encrypted object, read from its header on the driver (small and picklable:
    the codec is looked up by ``mode``, not stored)."""

    mode: str
    file_size: int
    head: bytes = field(repr=False)  # envelope (ppml-gcm) or 400-byte header (common); b"" for nativeaescbc
    key_ref: KeyRef | None  # None: key comes from options (nativeaescbc) or the user
    segment_size: int | None = None
    envelope: Envelope | None = field(default=None, repr=False)

    @property
    def codec(self) -> Codec:
        return codec_for(self.mode)

    @property
    def splittable(self) -> bool:
        """Whether units may be decrypted by different tasks (common needs a whole-file MAC pass first)."""
        return self.codec.splittable

    def describe(self) -> dict[str, object]:
        """Metadata safe to print: never the data key, never the wrapped key bytes."""
        return self.codec.describe(self)


class PlaintextReader(Protocol):
    """Random access to the plaintext of one object in independently decryptable units."""

    @property
    def unit_count(self) -> int: ...

    def plaintext_start(self, unit: int) -> int: ...

    def iter_units(self, first: int = 0, stop: int | None = None) -> Iterator[bytes]: ...


class Writer(Protocol):
    """Streaming encryptor of one object: ``write()`` plaintext, ``close()`` seals (does not close the sink)."""

    bytes_in: int
    bytes_out: int

    def write(self, data: bytes | bytearray | memoryview) -> int: ...

    def close(self) -> None: ...


class WrappedKeyLike(Protocol):
    """What a KMS hands back for a wrapped data key (``kms.WrappedKey``); formats does not import kms."""

    @property
    def kms_type(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    @property
    def ciphertext(self) -> bytes: ...


@dataclass(frozen=True)
class UnitLayout:
    """How one object cuts into units for splitting, by arithmetic (no per-unit list: a crafted header that
    declares billions of units costs the planner nothing): unit 0 holds ``first_len`` plaintext bytes, every
    later unit ``stride`` bytes, and one split reads ``per_split`` units."""

    unit_size: int  # the reader's unit size (CBC/plaintext bytes); 0 when the format fixes it (GCM segments)
    count: int  # number of units (at least 1)
    per_split: int  # units one task reads; equal to the count when the codec is not splittable
    first_len: int  # plaintext bytes of unit 0
    stride: int  # plaintext bytes of each later unit (the last may be shorter)

    def start(self, unit: int) -> int:
        """Plaintext offset of ``unit``'s first byte; ``start(0) == 0``."""
        return 0 if unit <= 0 else self.first_len + (unit - 1) * self.stride

    @property
    def starts(self) -> Sequence[int]:
        """Lazy view of every unit's start (tests and tools; the planner calls :meth:`start`)."""
        return _Starts(self)


class _Starts(Sequence[int]):
    def __init__(self, layout: UnitLayout) -> None:
        self._layout = layout

    def __len__(self) -> int:
        return self._layout.count

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> list[int]: ...

    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            return [self._layout.start(i) for i in range(*index.indices(self._layout.count))]
        if index < 0:
            index += self._layout.count
        if not 0 <= index < self._layout.count:
            raise IndexError(index)
        return self._layout.start(index)


def block_unit_size(max_partition_bytes: int) -> int:
    """CBC/plaintext unit size for a split target: whole 16-byte blocks, at most 1 MiB."""
    return max(CBC_BLOCK, min(MAX_BLOCK_UNIT, max_partition_bytes - max_partition_bytes % CBC_BLOCK))


def block_layout(payload: int, max_partition_bytes: int, splittable: bool) -> UnitLayout:
    """Units of ``block_unit_size`` over ``payload`` ciphertext (or plaintext) bytes."""
    unit = block_unit_size(max_partition_bytes)
    count = max(1, -(-payload // unit))
    per_split = max(1, min(count, max_partition_bytes // unit)) if splittable else count
    return UnitLayout(unit, count, per_split, unit, unit)


class Codec:
    """One crypto mode. Subclasses set the class attributes and implement what their flags promise."""

    name: ClassVar[str]  # canonical mode name, as users and BigDL write it
    title: ClassVar[str]  # for messages: "BigDL aes/cbc/pkcs5padding"
    aliases: ClassVar[tuple[str, ...]] = ()  # other accepted spellings (matched case-insensitively)
    suffix: ClassVar[str] = ""  # file suffix of the JVM shim codec (".ppmlgcm"); "" = no shim codec
    part_suffix: ClassVar[str] = ""  # suffix of ppml-enc part files ("enc"); "" = none (PME parts are .parquet)
    encrypted: ClassVar[bool] = True
    authenticated: ClassVar[bool] = True
    splittable: ClassVar[bool] = True  # units of one file may go to different tasks
    writable: ClassVar[bool] = False  # offered for writing (CLI encrypt, ppml-enc writes)
    wraps_bytes: ClassVar[bool] = True  # False: encryption inside the content format, done by its library (PME)
    reads_head: ClassVar[bool] = True  # probe reads the first bytes (False: nothing to read: plain, PME)
    detectable: ClassVar[bool] = True  # detect() can recognise it (False: headerless, must be named)
    content_formats: ClassVar[tuple[str, ...] | None] = None  # content formats it can hold; None: any
    write_formats: ClassVar[tuple[str, ...] | None] = None  # content formats it can write; None: as above
    key_reference: ClassVar[str] = KEY_IN_HEADER
    key_compat: ClassVar[str] = DEFAULT_COMPAT  # KMS wrap profile its writer must ask for
    key_size: ClassVar[int | None] = None  # required unwrapped key length in bytes; None: any BigDL key string
    directory_meta: ClassVar[bool] = False  # writers also put BigDL ``.meta`` in the directory (and reuse it)
    whole_file_mac: ClassVar[bool] = False  # a MAC over the whole file is checked first (verify=False skips)
    verify_tail: ClassVar[bool] = False  # a split stopping early authenticates the last unit (truncation)
    has_segment_size: ClassVar[bool] = False  # the writer takes a segment size
    integrity: ClassVar[str] = ""  # what a read of this layout detects, in words (``ppml-az inspect``)

    def detect(self, head: bytes) -> bool:
        """Whether ``head`` (the first bytes of a file) is this layout."""
        return False

    def probe(self, source: BinaryIO | None, size: int, name: str, head: bytes | None = None) -> ObjectInfo:
        """Read this layout's header; ``head`` is the first bytes when the caller already has them."""
        raise NotImplementedError

    def describe(self, info: ObjectInfo) -> dict[str, object]:
        """For ``inspect``: public facts from the header only, never key bytes (wrapped or not), and no claim that
        the file is authentic: nothing was checked (``ppml-az inspect`` says what the format can detect)."""
        return {"format": self.name, "fileSize": info.file_size}

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
        """Random access to the plaintext in units of ``unit_size`` (CBC/plaintext; 0: the default)."""
        raise UnknownFormatError(f"cannot decrypt crypto mode {self.name} byte by byte")

    def open_sample(
        self, info: ObjectInfo, source: BinaryIO, key: DataKey | None, *, verify: bool = True, name: str = ""
    ) -> PlaintextReader:
        """A reader for a driver-side sample (schema inference) that is never a padding oracle.

        Authenticated codecs: as :meth:`open_reader` (a whole-file MAC is verified before any decryption).
        CBC codecs without a checked MAC override this so the padded final block is never decrypted.
        """
        return self.open_reader(info, source, key, verify=verify, name=name)

    def commitment(self, info: ObjectInfo, source: BinaryIO) -> bytes:
        """32 bytes that pin this file's content for a table manifest, computed from public bytes only (no key).

        Default: SHA-256 of the whole file (formats without a MAC over their content). Authenticated formats
        override this with a few small reads (their MAC or final tag already pins the content)."""
        digest = hashlib.sha256()
        source.seek(0)
        remaining = info.file_size
        while remaining > 0:
            chunk = source.read(min(remaining, 1 << 20))
            if not chunk:
                raise IntegrityError(f"file ends {remaining} bytes before its listed size (truncated?)")
            digest.update(chunk)
            remaining -= len(chunk)
        return digest.digest()

    def check_wrapped_key(self, wrapped: bytes, key_id: str = "") -> None:
        """Raise when this layout cannot record ``wrapped`` (called before anything is written); default: any."""

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
        """Encrypt into ``sink`` under ``key``, recording ``wrapped`` where this layout keeps its key.
        ``binding`` (table id, relative path): recorded authenticated where the layout has room (ppml-gcm)."""
        raise UnknownFormatError(f"crypto mode {self.name} cannot be written byte by byte")

    def unit_layout(self, info: ObjectInfo, max_partition_bytes: int) -> UnitLayout:
        """Where the units of ``info`` start and how many one task of ``max_partition_bytes`` reads."""
        raise UnknownFormatError(f"crypto mode {self.name} has no byte-level units")

    def shim_key(self, info: ObjectInfo, key: DataKey) -> tuple[str, bytes | None, bytes] | None:
        """How the JVM shim's codec finds this object's key: (kind, public reference or None, key bytes).

        None: there is no shim codec for this mode.
        """
        return None

    def __repr__(self) -> str:
        return f"<codec {self.name}>"


def _unknown_mode(name: str | None, known: list[str]) -> str:
    return f"unknown crypto mode {name!r}; use one of: {known_names()}"


# One codec per crypto mode, in registration (and detection) order; ``auto`` is a name but no codec.
REGISTRY: Registry[Codec] = Registry(
    noun="crypto mode",
    kind="crypto mode",
    option="cryptoMode",
    unknown=_unknown_mode,
    unknown_error=UnknownFormatError,
    reserved=(AUTO, ""),
    reserved_why=" (it means: detect each file's mode)",
)


def register(codec: Codec) -> Codec:
    """Add a codec under its name and aliases; a name already taken by another codec is a RegistryError."""
    REGISTRY.register(codec.name, codec, codec.aliases)
    return codec


def known_names() -> str:
    return ", ".join(sorted({*REGISTRY.ordered_names(), AUTO}))


def normalize_mode(name: str | None) -> str:
    """Canonical crypto-mode name from any spelling users know (BigDL's included, case-insensitive)."""
    if spelling(name or AUTO) in (AUTO, ""):
        return AUTO
    return REGISTRY.normalize(name)


def codec_for(name: str) -> Codec:
    """The codec for a mode name or alias; ``auto`` is not a codec (detect the file's one instead)."""
    canonical = normalize_mode(name)
    if canonical == AUTO:
        raise UnknownFormatError(f"crypto mode auto names no layout; use one of: {known_names()}")
    return REGISTRY.get(canonical)


def all_codecs() -> tuple[Codec, ...]:
    """Every registered codec, in registration (and detection) order."""
    return REGISTRY.values()


def detect(head: bytes) -> Codec | None:
    """The codec whose layout ``head`` starts with, or None (plaintext, headerless or unknown data)."""
    return next((c for c in REGISTRY.values() if c.detectable and c.detect(head)), None)


def encrypted(name: str) -> bool:
    """Whether data in crypto mode ``name`` may be encrypted: False only for a mode that is plaintext."""
    canonical = normalize_mode(name)
    return canonical == AUTO or REGISTRY.get(canonical).encrypted


def write_codec(name: str | None, default: str) -> Codec:
    """The codec to write with: ``auto``/unset means ``default``."""
    canonical = normalize_mode(name)
    return codec_for(default if canonical == AUTO else canonical)


def named(exc: Exception, name: str) -> Exception:
    """``exc`` with the object's name in front (non-integrity errors from a key become WrongKeyError)."""
    cls = type(exc) if isinstance(exc, (IntegrityError, WrongKeyError)) else WrongKeyError
    return cls(f"{name}: {exc}" if name else str(exc))
