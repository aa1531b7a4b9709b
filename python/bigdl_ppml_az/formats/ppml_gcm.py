"""ppml-gcm: a JSON envelope followed by a Tink AES256_GCM_HKDF streaming-AEAD payload.

Layout (docs/FORMATS.md has the full byte table)::

    "PPMLGCM1" | u32be L | L bytes of JSON (the envelope)          <- associated data = all of these bytes
    0x28 | salt[32] | nonce_prefix[7]                              <- Tink streaming header (40 bytes)
    segment 0 (segment_size - 40 bytes incl. 16-byte tag)
    segment 1.. (segment_size bytes each, the last one shorter)

Segment i is AES-256-GCM under HKDF-SHA256(data key, salt, info=envelope bytes) with the 12-byte nonce
nonce_prefix || u32be(i) || last-flag. The file size alone tells where every segment starts, so any run of
segments can be decrypted on its own (that is what lets one file split across many Spark partitions), while
the per-segment index and last flag make truncation, reordering and appending detectable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import IntegrityError, UnknownFormatError
from ..safeio import loads_bounded
from .codec import (
    KEY_IN_HEADER,
    Codec,
    DataKey,
    KeyRef,
    ObjectInfo,
    PlaintextReader,
    UnitLayout,
    WrappedKeyLike,
    Writer,
    register,
)

MAGIC = b"PPMLGCM1"
FORMAT_VERSION = 1
DEFAULT_SEGMENT_SIZE = 1 << 20
MIN_SEGMENT_SIZE = 4096
MAX_SEGMENT_SIZE = 4 << 20
MAX_ENVELOPE_JSON = 64 << 10
KEY_SIZE = 32
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
TAG_SIZE = 16
TINK_HEADER_SIZE = 1 + SALT_SIZE + NONCE_PREFIX_SIZE  # 40: Tink's header-length byte counts itself


@dataclass(frozen=True)
class Envelope:
    """Public metadata of one encrypted object. Holds no secret: the data key is wrapped by the KMS."""

    kms_type: str
    key_id: str
    wrap_algorithm: str
    wrapped_key: bytes
    segment_size: int = DEFAULT_SEGMENT_SIZE
    content_type: str | None = None
    plaintext_length: int | None = None
    version: int = FORMAT_VERSION
    table: str | None = None  # the table this file belongs to (its random id), when written into one
    path: str | None = None  # its relative path in that table: a copy read at another path fails

    def __post_init__(self) -> None:
        if not MIN_SEGMENT_SIZE <= self.segment_size <= MAX_SEGMENT_SIZE:
            raise ValueError(
                f"segment size {self.segment_size} is outside [{MIN_SEGMENT_SIZE}, {MAX_SEGMENT_SIZE}] bytes"
            )

    def to_bytes(self) -> bytes:
        """Serialise as magic | u32be length | JSON; these exact bytes are the associated data."""
        fields: dict[str, object] = {
            "version": self.version,
            "kms": self.kms_type,
            "keyId": self.key_id,
            "wrapAlgorithm": self.wrap_algorithm,
            "wrappedKey": base64.b64encode(self.wrapped_key).decode("ascii"),
            "segmentSize": self.segment_size,
        }
        if self.content_type is not None:
            fields["contentType"] = self.content_type
        if self.plaintext_length is not None:
            fields["plaintextLength"] = self.plaintext_length
        if self.table is not None:
            fields["table"] = self.table
            fields["path"] = self.path
        body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return MAGIC + struct.pack(">I", len(body)) + body

    @classmethod
    def from_json(cls, body: bytes) -> Envelope:
        if len(body) > MAX_ENVELOPE_JSON:
            raise IntegrityError(f"ppml-gcm envelope length {len(body)} is implausible (file damaged?)")
        try:
            fields = loads_bounded(body, "ppml-gcm envelope", IntegrityError)
            if not isinstance(fields, dict):
                raise TypeError("not an object")
            envelope = cls(
                kms_type=str(fields["kms"]),
                key_id=str(fields["keyId"]),
                wrap_algorithm=str(fields["wrapAlgorithm"]),
                wrapped_key=base64.b64decode(fields["wrappedKey"], validate=True),
                segment_size=int(fields["segmentSize"]),
                content_type=fields.get("contentType"),
                plaintext_length=fields.get("plaintextLength"),
                version=int(fields["version"]),
                table=fields.get("table"),
                path=fields.get("path"),
            )
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"ppml-gcm envelope is malformed ({type(exc).__name__})") from None
        length, content = envelope.plaintext_length, envelope.content_type
        if (length is not None and (not isinstance(length, int) or length < 0)) or not isinstance(content, str | None):
            raise IntegrityError("ppml-gcm envelope is malformed (plaintextLength or contentType)")
        if envelope.table is not None and not (isinstance(envelope.table, str) and isinstance(envelope.path, str)):
            raise IntegrityError("ppml-gcm envelope is malformed (table or path)")
        if envelope.version != FORMAT_VERSION:
            raise UnknownFormatError(f"ppml-gcm envelope version {envelope.version} is not supported")
        return envelope


def envelope_for(
    wrapped: WrappedKeyLike,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    content_type: str | None = None,
    plaintext_length: int | None = None,
    binding: tuple[str, str] | None = None,
) -> Envelope:
    """The envelope recording how to unwrap ``wrapped`` again: every writer builds its header this way.
    ``binding``: (table id, relative path) of a file written into a table, authenticated with the header."""
    return Envelope(
        kms_type=wrapped.kms_type,
        key_id=wrapped.key_id,
        wrap_algorithm=wrapped.algorithm,
        wrapped_key=wrapped.ciphertext,
        segment_size=segment_size,
        content_type=content_type,
        plaintext_length=plaintext_length,
        table=binding[0] if binding else None,
        path=binding[1] if binding else None,
    )


def envelope_length(prefix: bytes) -> int:
    """Total envelope length (magic + length + JSON) from the first 12 bytes of an object."""
    if not prefix.startswith(MAGIC):
        raise UnknownFormatError("not a ppml-gcm object (magic PPMLGCM1 missing)")
    if len(prefix) < len(MAGIC) + 4:
        raise IntegrityError("ppml-gcm object is truncated inside its envelope")
    (json_len,) = struct.unpack(">I", prefix[len(MAGIC) : len(MAGIC) + 4])
    if json_len > MAX_ENVELOPE_JSON:
        raise IntegrityError(f"ppml-gcm envelope length {json_len} is implausible (file damaged?)")
    return len(MAGIC) + 4 + json_len


def parse_envelope(head: bytes) -> tuple[Envelope, bytes]:
    """Parse the envelope at the start of ``head``; return it and its raw bytes (the associated data)."""
    total = envelope_length(head[:12])
    if len(head) < total:
        raise IntegrityError("ppml-gcm object is truncated inside its envelope")
    raw = bytes(head[:total])
    return Envelope.from_json(raw[12:]), raw


@dataclass(frozen=True)
class Layout:
    """Where each segment of one ppml-gcm object lies, derived from the envelope length and file size only."""

    payload_offset: int  # envelope length: the Tink header starts here
    segment_size: int
    file_size: int

    def __post_init__(self) -> None:
        payload = self.file_size - self.payload_offset
        if payload < TINK_HEADER_SIZE + TAG_SIZE:
            raise IntegrityError("ppml-gcm object is truncated (shorter than header plus one tag)")
        last_len = self.segment_end(self.segment_count - 1) - self.segment_start(self.segment_count - 1)
        if last_len < TAG_SIZE:
            raise IntegrityError("ppml-gcm object is truncated or has trailing bytes (last segment too short)")

    @property
    def segment_count(self) -> int:
        payload = self.file_size - self.payload_offset
        return max(1, -(-payload // self.segment_size))

    def segment_start(self, index: int) -> int:
        """Absolute file offset of segment ``index``'s ciphertext."""
        if index == 0:
            return self.payload_offset + TINK_HEADER_SIZE
        return self.payload_offset + index * self.segment_size

    def segment_end(self, index: int) -> int:
        return min(self.payload_offset + (index + 1) * self.segment_size, self.file_size)

    def plaintext_start(self, index: int) -> int:
        """Plaintext offset of the first byte of segment ``index``."""
        first = self.segment_size - TINK_HEADER_SIZE - TAG_SIZE
        return 0 if index == 0 else first + (index - 1) * (self.segment_size - TAG_SIZE)

    @property
    def plaintext_size(self) -> int:
        last = self.segment_count - 1
        return self.plaintext_start(last) + self.segment_end(last) - self.segment_start(last) - TAG_SIZE


class SegmentCipher:
    """Per-object AES-GCM segment cipher: HKDF-derived key, nonce prefix, and segment nonces."""

    def __init__(self, data_key: bytes, associated_data: bytes, tink_header: bytes) -> None:
        if len(data_key) != KEY_SIZE:
            raise ValueError(f"ppml-gcm data keys are {KEY_SIZE} bytes, got {len(data_key)}")
        if len(tink_header) != TINK_HEADER_SIZE or tink_header[0] != TINK_HEADER_SIZE:
            raise IntegrityError("ppml-gcm streaming header is damaged")
        salt = tink_header[1 : 1 + SALT_SIZE]
        self._nonce_prefix = tink_header[1 + SALT_SIZE :]
        segment_key = HKDF(algorithm=SHA256(), length=KEY_SIZE, salt=salt, info=associated_data).derive(data_key)
        self._aead = AESGCM(segment_key)

    def _nonce(self, index: int, last: bool) -> bytes:
        return self._nonce_prefix + struct.pack(">IB", index, 1 if last else 0)

    def encrypt(self, index: int, plaintext: bytes, last: bool) -> bytes:
        return self._aead.encrypt(self._nonce(index, last), plaintext, None)

    def encrypt_into(self, index: int, plaintext: memoryview, out: bytearray, last: bool) -> int:
        """Encrypt into ``out`` (reused by the caller); return the ciphertext length (plaintext + tag)."""
        size = len(plaintext) + TAG_SIZE
        nonce = self._nonce(index, last)
        if hasattr(self._aead, "encrypt_into"):  # cryptography >= 46: no per-segment allocation
            self._aead.encrypt_into(nonce, plaintext, None, memoryview(out)[:size])
        else:  # pragma: no cover - older cryptography
            out[:size] = self._aead.encrypt(nonce, bytes(plaintext), None)
        return size

    def decrypt(self, index: int, ciphertext: bytes, last: bool) -> bytes:
        try:
            return self._aead.decrypt(self._nonce(index, last), ciphertext, None)
        except InvalidTag:
            raise IntegrityError(
                f"segment {index} failed authentication: the file was modified, truncated or reordered, "
                "or the data key is wrong"
            ) from None


def new_tink_header() -> bytes:
    """A fresh streaming header: random salt (so a fresh segment key) and random nonce prefix."""
    return bytes([TINK_HEADER_SIZE]) + os.urandom(SALT_SIZE) + os.urandom(NONCE_PREFIX_SIZE)


class EncryptingWriter:
    """File-like writer: ``write()`` plaintext, ``close()`` to seal; memory bounded by one segment.

    The last segment must carry the last flag, so a full segment is only sealed once more plaintext arrives.
    Plaintext and ciphertext live in two buffers allocated once: re-allocating 1 MiB per segment cost more
    than the encryption itself (allocator mmap/munmap churn, measured with bench/cli_throughput.py).
    """

    def __init__(self, sink: BinaryIO, data_key: bytes, envelope: Envelope) -> None:
        self._sink = sink
        header = envelope.to_bytes()
        tink_header = new_tink_header()
        self._cipher = SegmentCipher(data_key, header, tink_header)
        self._capacity = envelope.segment_size - TINK_HEADER_SIZE - TAG_SIZE  # first segment is shorter
        self._full_capacity = envelope.segment_size - TAG_SIZE
        self._plain = bytearray(self._full_capacity)
        self._out = bytearray(envelope.segment_size)
        self._fill = 0
        self._index = 0
        self._closed = False
        self.bytes_in = 0
        self.bytes_out = len(header) + len(tink_header)
        sink.write(header)
        sink.write(tink_header)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed EncryptingWriter")
        view = memoryview(data).cast("B")
        written = len(view)
        while len(view):
            room = self._capacity - self._fill
            if room == 0:
                self._seal(last=False)
                continue
            take = min(room, len(view))
            self._plain[self._fill : self._fill + take] = view[:take]
            self._fill += take
            view = view[take:]
        self.bytes_in += written
        return written

    def _seal(self, last: bool) -> None:
        if self._index >= 1 << 32:
            raise ValueError("ppml-gcm objects are limited to 2**32 segments")
        size = self._cipher.encrypt_into(self._index, memoryview(self._plain)[: self._fill], self._out, last)
        self._sink.write(memoryview(self._out)[:size])
        self.bytes_out += size
        self._fill = 0
        self._index += 1
        self._capacity = self._full_capacity

    def close(self) -> None:
        """Seal the final segment (possibly empty). Does not close the sink."""
        if not self._closed:
            self._seal(last=True)
            self._closed = True

    def __enter__(self) -> EncryptingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


def read_exact(source: BinaryIO, offset: int, length: int) -> bytes:
    source.seek(offset)
    data = source.read(length)
    if len(data) != length:
        raise IntegrityError(f"expected {length} bytes at offset {offset}, got {len(data)} (file truncated?)")
    return data


class Decryptor:
    """Random-access decryption of one ppml-gcm object opened as a seekable binary file.

    Opening authenticates the final segment (whose nonce carries the last-segment flag) before any plaintext is
    handed out, so a file cut at a segment boundary fails at open, not after its first rows were returned; the
    segment key is derived from the envelope, so this also authenticates the header. The final segment's
    plaintext is kept (one segment at most) so reading it again costs nothing.
    """

    def __init__(self, source: BinaryIO, file_size: int, data_key: bytes, head: bytes | None = None) -> None:
        if head is None:
            head = read_exact(source, 0, min(file_size, 12))
            head += read_exact(source, len(head), max(0, min(file_size, envelope_length(head)) - len(head)))
        self.envelope, self.associated_data = parse_envelope(head)
        self.layout = Layout(len(self.associated_data), self.envelope.segment_size, file_size)
        tink_header = read_exact(source, self.layout.payload_offset, TINK_HEADER_SIZE)
        self._cipher = SegmentCipher(data_key, self.associated_data, tink_header)
        self._source = source
        last = self.layout.segment_count - 1
        self._final: bytes = self._decrypt(last)

    def segment(self, index: int) -> bytes:
        if index == self.layout.segment_count - 1:
            return self._final
        return self._decrypt(index)

    def _decrypt(self, index: int) -> bytes:
        layout = self.layout
        if not 0 <= index < layout.segment_count:
            raise IndexError(f"segment {index} out of range 0..{layout.segment_count - 1}")
        start, end = layout.segment_start(index), layout.segment_end(index)
        ciphertext = read_exact(self._source, start, end - start)
        return self._cipher.decrypt(index, ciphertext, last=index == layout.segment_count - 1)

    def iter_segments(self, first: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Plaintext of segments ``first`` .. ``stop - 1`` (to the end when stop is None), in order."""
        stop = self.layout.segment_count if stop is None else min(stop, self.layout.segment_count)
        for index in range(first, stop):
            yield self.segment(index)


def encrypt_stream(
    source: BinaryIO, sink: BinaryIO, data_key: bytes, envelope: Envelope, chunk_size: int = 1 << 20
) -> int:
    """Encrypt everything readable from ``source`` into ``sink``; return ciphertext bytes written."""
    writer = EncryptingWriter(sink, data_key, envelope)
    while chunk := source.read(chunk_size):
        writer.write(chunk)
    writer.close()
    return writer.bytes_out


class _GcmUnits:
    """A Decryptor as a PlaintextReader: units are segments."""

    def __init__(self, decryptor: Decryptor) -> None:
        self._decryptor = decryptor

    @property
    def unit_count(self) -> int:
        return self._decryptor.layout.segment_count

    def plaintext_start(self, unit: int) -> int:
        return self._decryptor.layout.plaintext_start(unit)

    def iter_units(self, first: int = 0, stop: int | None = None) -> Iterator[bytes]:
        return self._decryptor.iter_segments(first, stop)


class PpmlGcmCodec(Codec):
    """ppml-gcm: authenticated, splittable at segments, key wrapped in the envelope."""

    name = "ppml-gcm"
    title = "ppml-gcm"
    aliases = ("ppml_gcm", "ppmlgcm")
    suffix = ".ppmlgcm"
    part_suffix = "enc"
    writable = True
    key_reference = KEY_IN_HEADER
    key_size = KEY_SIZE
    verify_tail = True
    has_segment_size = True
    integrity = "every segment authenticated on read (AES-GCM; truncation and reordering detected)"

    def detect(self, head: bytes) -> bool:
        return head.startswith(MAGIC)

    def probe(self, source: BinaryIO | None, size: int, name: str, head: bytes | None = None) -> ObjectInfo:
        assert source is not None
        if head is None:
            head = read_exact(source, 0, min(size, 512))
        total = envelope_length(head[:12])
        if total > len(head):
            head += read_exact(source, len(head), min(total, size) - len(head))
        envelope, raw = parse_envelope(head)
        key_ref = KeyRef(envelope.wrapped_key, envelope.kms_type, envelope.key_id, envelope.wrap_algorithm)
        return ObjectInfo(self.name, size, raw, key_ref, envelope.segment_size, envelope)

    def describe(self, info: ObjectInfo) -> dict[str, object]:
        out: dict[str, object] = {"format": self.name, "fileSize": info.file_size}
        env = info.envelope
        if env is not None:
            layout = Layout(len(info.head), env.segment_size, info.file_size)
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
                    "table": env.table,
                    "tablePath": env.path,
                }
            )
        return out

    def commitment(self, info: ObjectInfo, source: BinaryIO) -> bytes:
        """SHA-256 of the envelope, the streaming header (salt, nonce prefix) and the final tag: the salt makes
        every segment key unique to this file and the final tag ends its authenticated chain, so a file with the
        same commitment under an unforged key is this file (manifests pin files this way)."""
        layout = Layout(len(info.head), _segment_size(info), info.file_size)
        digest = hashlib.sha256(info.head)
        digest.update(read_exact(source, layout.payload_offset, TINK_HEADER_SIZE))
        digest.update(read_exact(source, info.file_size - TAG_SIZE, TAG_SIZE))
        return digest.digest()

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
            raise ValueError("ppml-gcm needs a data key")
        return _GcmUnits(Decryptor(source, info.file_size, key.material, info.head))

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
        envelope = envelope_for(wrapped, segment_size or DEFAULT_SEGMENT_SIZE, content_type, plaintext_length, binding)
        return EncryptingWriter(sink, key.material, envelope)

    def unit_layout(self, info: ObjectInfo, max_partition_bytes: int) -> UnitLayout:
        assert info.segment_size is not None
        layout = Layout(len(info.head), info.segment_size, info.file_size)
        count = layout.segment_count
        per_split = max(1, min(count, max_partition_bytes // info.segment_size))
        first = layout.plaintext_start(1) if count > 1 else layout.plaintext_size
        return UnitLayout(0, count, per_split, first, info.segment_size - TAG_SIZE)

    def shim_key(self, info: ObjectInfo, key: DataKey) -> tuple[str, bytes | None, bytes] | None:
        if info.envelope is None:
            return None
        return "gcm", info.envelope.wrapped_key, key.material


def _segment_size(info: ObjectInfo) -> int:
    if info.segment_size is None:
        raise IntegrityError("ppml-gcm object without a segment size")
    return info.segment_size


CODEC = register(PpmlGcmCodec())
