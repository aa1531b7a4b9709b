"""ppml-gcm: round trips at every segment boundary, random access, and a tamper matrix (pure Python, no Spark)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import struct
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from bigdl_ppml_az.errors import IntegrityError, UnknownFormatError, WrongKeyError
from bigdl_ppml_az.formats import DataKey, iter_plaintext, open_reader, ppml_gcm, probe
from bigdl_ppml_az.kms import WrappedKey, generate_data_key
from bigdl_ppml_az.kms.local import LocalKms

SEG = 4096
HEADER = ppml_gcm.TINK_HEADER_SIZE
TAG = ppml_gcm.TAG_SIZE
FIRST = SEG - HEADER - TAG  # plaintext capacity of segment 0
LATER = SEG - TAG  # plaintext capacity of segments 1..
KEY = bytes(range(32))
PPML_ERRORS = (IntegrityError, WrongKeyError, UnknownFormatError)


def envelope(
    segment_size: int = SEG, content_type: str | None = None, plaintext_length: int | None = None
) -> ppml_gcm.Envelope:
    return ppml_gcm.Envelope(
        "local", "local:test", "AES-256-GCM", b"wrapped-key-bytes", segment_size, content_type, plaintext_length
    )


def encrypt(
    plaintext: bytes, key: bytes = KEY, env: ppml_gcm.Envelope | None = None, chunks: list[int] | None = None
) -> bytes:
    sink = io.BytesIO()
    writer = ppml_gcm.EncryptingWriter(sink, key, env or envelope())
    view, pos = memoryview(plaintext), 0
    for size in chunks or []:
        writer.write(view[pos : pos + size])
        pos += size
    writer.write(view[pos:])
    writer.close()
    assert writer.bytes_out == len(sink.getvalue())
    assert writer.bytes_in == len(plaintext)
    return sink.getvalue()


def decrypt(blob: bytes, key: bytes = KEY) -> bytes:
    source = io.BytesIO(blob)
    info = probe(source, len(blob), "mem://x")
    return b"".join(iter_plaintext(open_reader(info, source, DataKey(key), name="mem://x"), "mem://x"))


def segments_of(plaintext: bytes, segment_size: int = SEG) -> list[bytes]:
    """The plaintext of each segment, computed from the spec (not from Layout)."""
    first = segment_size - HEADER - TAG
    out = [plaintext[:first]]
    rest = plaintext[first:]
    while rest:
        out.append(rest[: segment_size - TAG])
        rest = rest[segment_size - TAG :]
    return out


def boundary_sizes(segment_size: int) -> list[int]:
    first, later = segment_size - HEADER - TAG, segment_size - TAG
    return [
        0,
        1,
        first - 1,
        first,
        first + 1,
        first + later - 1,
        first + later,
        first + later + 1,
        first + 3 * later + 7,
    ]


@pytest.mark.parametrize("size", boundary_sizes(SEG))
def test_round_trip_at_segment_boundaries(size: int) -> None:
    plaintext = os.urandom(size)
    blob = encrypt(plaintext)
    expected_segments = segments_of(plaintext)
    assert len(blob) == len(envelope().to_bytes()) + HEADER + len(plaintext) + TAG * len(expected_segments)
    assert decrypt(blob) == plaintext
    source = io.BytesIO(blob)
    info = probe(source, len(blob), "x")
    assert info.describe()["plaintextSize"] == size
    assert info.describe()["segments"] == len(expected_segments)
    assert list(open_reader(info, source, DataKey(KEY)).iter_units()) == expected_segments


@pytest.mark.parametrize("size", boundary_sizes(ppml_gcm.DEFAULT_SEGMENT_SIZE)[:6])
def test_round_trip_default_segment_size(size: int) -> None:
    plaintext = os.urandom(size)
    env = envelope(ppml_gcm.DEFAULT_SEGMENT_SIZE)
    blob = encrypt(plaintext, env=env)
    assert decrypt(blob) == plaintext
    layout = ppml_gcm.Layout(len(env.to_bytes()), env.segment_size, len(blob))
    assert layout.segment_count == len(segments_of(plaintext, env.segment_size))


@settings(max_examples=40, deadline=None)
@given(
    size=st.one_of(st.integers(0, 4 * SEG), st.sampled_from(boundary_sizes(SEG))),
    cuts=st.lists(st.integers(0, 3 * SEG), max_size=12),
    seed=st.binary(min_size=8, max_size=8),
)
def test_streaming_writes_in_random_chunks(size: int, cuts: list[int], seed: bytes) -> None:
    plaintext = (seed * (size // 8 + 1))[:size]
    blob = encrypt(plaintext, chunks=cuts)
    assert decrypt(blob) == plaintext
    # chunking must not change the layout: same length as a one-shot write
    assert len(blob) == len(encrypt(plaintext))


def test_encrypt_stream_and_envelope_fields() -> None:
    plaintext = os.urandom(3 * SEG)
    env = envelope(content_type="csv", plaintext_length=len(plaintext))
    sink = io.BytesIO()
    written = ppml_gcm.encrypt_stream(io.BytesIO(plaintext), sink, KEY, env, chunk_size=1000)
    blob = sink.getvalue()
    assert written == len(blob)
    info = probe(io.BytesIO(blob), len(blob), "x")
    assert info.envelope == env
    assert info.key_ref is not None and info.key_ref.wrapped_key == b"wrapped-key-bytes"
    assert info.describe()["contentType"] == "csv"
    assert decrypt(blob) == plaintext


def test_random_access_every_segment_range() -> None:
    plaintext = os.urandom(FIRST + 4 * LATER + 123)
    blob = encrypt(plaintext)
    decryptor = ppml_gcm.Decryptor(io.BytesIO(blob), len(blob), KEY)
    layout = decryptor.layout
    count = layout.segment_count
    assert count == 6
    assert layout.plaintext_size == len(plaintext)
    for i in range(count):
        for j in range(i, count + 1):
            end = layout.plaintext_start(j) if j < count else len(plaintext)
            got = b"".join(decryptor.iter_segments(i, j))
            assert got == plaintext[layout.plaintext_start(i) : end], (i, j)


# ---------------------------------------------------------------- tamper matrix


def attempt(blob: bytes, key: bytes = KEY) -> tuple[list[bytes], Exception | None]:
    """Consume a full read; return the segments that came out and the error that stopped it."""
    yielded: list[bytes] = []
    try:
        source = io.BytesIO(blob)
        info = probe(source, len(blob), "mem://victim")
        reader = open_reader(info, source, DataKey(key), name="mem://victim")
        for unit in iter_plaintext(reader, "mem://victim"):
            yielded.append(unit)
    except PPML_ERRORS as exc:
        return yielded, exc
    return yielded, None


def assert_rejected(blob: bytes, original: list[bytes], key: bytes = KEY, what: str = "") -> None:
    """The read fails with a PpmlError, and every segment it yielded first is exactly the original one."""
    yielded, error = attempt(blob, key)
    assert error is not None, f"tampering not detected: {what}"
    assert "mem://victim" in str(error), what
    assert len(yielded) < len(original), what
    for index, segment in enumerate(yielded):
        assert segment == original[index], f"{what}: segment {index} yielded altered plaintext"


@pytest.fixture(scope="module")
def victim() -> tuple[bytes, bytes, list[bytes]]:
    """A 4-segment object (last one partial) and the plaintext of each segment."""
    plaintext = os.urandom(FIRST + 2 * LATER + 1000)
    return encrypt(plaintext), plaintext, segments_of(plaintext)


def flip(blob: bytes, offset: int, bit: int) -> bytes:
    damaged = bytearray(blob)
    damaged[offset] ^= 1 << bit
    return bytes(damaged)


def test_flip_every_bit_of_envelope_and_tink_header(victim: tuple[bytes, bytes, list[bytes]]) -> None:
    blob, _, original = victim
    header_end = len(envelope().to_bytes()) + HEADER
    errors: set[type] = set()
    for offset in range(header_end):
        for bit in range(8):
            yielded, error = attempt(flip(blob, offset, bit))
            assert error is not None, f"flip at byte {offset} bit {bit} not detected"
            assert yielded == [], f"flip at byte {offset} bit {bit} yielded plaintext"
            errors.add(type(error))
    assert errors <= {IntegrityError, UnknownFormatError}
    assert IntegrityError in errors and UnknownFormatError in errors  # magic damage is "unknown format"


def test_flip_bits_in_segment_bodies_and_tags(victim: tuple[bytes, bytes, list[bytes]]) -> None:
    blob, _, original = victim
    env_len = len(envelope().to_bytes())
    layout = ppml_gcm.Layout(env_len, SEG, len(blob))
    for index in range(layout.segment_count):
        start, end = layout.segment_start(index), layout.segment_end(index)
        body_end = end - TAG
        offsets = {start, start + 1, (start + body_end) // 2, body_end - 1, *range(body_end, end)}
        for offset in sorted(offsets):
            damaged = flip(blob, offset, offset % 8)
            assert_rejected(damaged, original, what=f"flip in segment {index} at {offset}")
            yielded, _ = attempt(damaged)
            # the good segments before it, never the damaged one; nothing at all when the final segment is
            # damaged, because opening authenticates the final segment first (issue 10, item 4)
            assert len(yielded) == (0 if index == layout.segment_count - 1 else index)


def test_truncation_anywhere(victim: tuple[bytes, bytes, list[bytes]]) -> None:
    blob, _, original = victim
    env_len = len(envelope().to_bytes())
    boundaries = [env_len + HEADER] + [env_len + k * SEG for k in range(1, 4)]
    cuts = set(range(0, len(blob), 97))
    for b in boundaries:
        cuts.update(b + d for d in (-17, -16, -15, -1, 0, 1, 15, 16, 17))
    cuts.update(range(env_len - 2, env_len + HEADER + 2))
    cuts.update(range(0, 14))
    for cut in sorted(c for c in cuts if 0 <= c < len(blob)):
        assert_rejected(blob[:cut], original, what=f"truncated to {cut}")


def split_segments(blob: bytes) -> tuple[bytes, list[bytes]]:
    layout = ppml_gcm.Layout(len(envelope().to_bytes()), SEG, len(blob))
    head = blob[: layout.segment_start(0)]
    return head, [blob[layout.segment_start(i) : layout.segment_end(i)] for i in range(layout.segment_count)]


def test_reorder_drop_duplicate_segments(victim: tuple[bytes, bytes, list[bytes]]) -> None:
    blob, _, original = victim
    head, segs = split_segments(blob)
    middle = segs[1:3]
    cases: dict[str, list[bytes]] = {
        "swap 1,2": [segs[0], segs[2], segs[1], segs[3]],
        "swap 2,3 (last)": [segs[0], segs[1], segs[3], segs[2]],
        "drop 1": [segs[0], *segs[2:]],
        "drop last": segs[:-1],
        "duplicate 1": [segs[0], segs[1], *middle, segs[3]],
        "duplicate 2 at end": [*segs, segs[2]],
        "duplicate last": [*segs, segs[3]],
    }
    for what, arrangement in cases.items():
        assert_rejected(head + b"".join(arrangement), original, what=what)
    # segment 0 is shorter (it shares the first SEG bytes with the Tink header): moving it is caught too
    assert_rejected(head + segs[1][: len(segs[0])] + b"".join(segs[1:]), original, what="segment 1 head as 0")


@pytest.mark.parametrize("full_last", [False, True])
@pytest.mark.parametrize("extra", [1, 15, 16, 17, SEG])
def test_appended_bytes(extra: int, full_last: bool) -> None:
    plaintext = os.urandom(FIRST + LATER if full_last else FIRST + 500)
    blob = encrypt(plaintext)
    original = segments_of(plaintext)
    assert_rejected(blob + os.urandom(extra), original, what=f"append {extra}")
    assert_rejected(blob + b"\0" * extra, original, what=f"append {extra} zeros")


def test_appended_valid_segment_from_same_key(victim: tuple[bytes, bytes, list[bytes]]) -> None:
    """Splicing the tail of another object with the same key fails: salt differs, and last flags differ."""
    blob, _, original = victim
    _, other_segs = split_segments(encrypt(os.urandom(FIRST + 2 * LATER + 1000)))
    head, segs = split_segments(blob)
    assert_rejected(head + b"".join(segs[:-1]) + other_segs[-1], original, what="foreign last segment")


def test_wrong_data_key_yields_nothing(victim: tuple[bytes, bytes, list[bytes]]) -> None:
    blob, _, _ = victim
    yielded, error = attempt(blob, key=bytes(32))
    assert isinstance(error, IntegrityError) and yielded == []
    yielded, error = attempt(blob, key=b"short")
    assert isinstance(error, WrongKeyError) and yielded == []


def test_wrong_primary_key_cannot_unwrap(tmp_path: os.PathLike[str]) -> None:
    owner = LocalKms.create(os.path.join(tmp_path, "a.key"))
    stranger = LocalKms.create(os.path.join(tmp_path, "b.key"))
    data_key, wrapped = generate_data_key(owner)
    env = ppml_gcm.Envelope(wrapped.kms_type, wrapped.key_id, wrapped.algorithm, wrapped.ciphertext, SEG)
    blob = encrypt(b"secret,row\n" * 1000, key=data_key, env=env)
    info = probe(io.BytesIO(blob), len(blob), "x")
    assert info.key_ref is not None
    ref = WrappedKey(
        info.key_ref.kms_type or "",
        info.key_ref.key_id or "",
        info.key_ref.wrap_algorithm or "",
        info.key_ref.wrapped_key,
    )
    assert decrypt(blob, owner.unwrap(ref)) == b"secret,row\n" * 1000
    with pytest.raises(WrongKeyError):
        stranger.unwrap(ref)  # caught by the key id
    with pytest.raises(WrongKeyError):
        stranger.unwrap(WrappedKey(ref.kms_type, "", ref.algorithm, ref.ciphertext))  # caught by AES-GCM
    with pytest.raises(WrongKeyError):
        owner.unwrap(WrappedKey(ref.kms_type, ref.key_id, ref.algorithm, flip(ref.ciphertext, 20, 3)))


# ---------------------------------------------------------------- envelope


def with_json(body: bytes, tail: bytes = b"") -> bytes:
    return ppml_gcm.MAGIC + struct.pack(">I", len(body)) + body + tail


def fields() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(envelope().to_bytes()[12:])
    return loaded


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b"{}",
        json.dumps({**fields(), "wrappedKey": "***"}).encode(),
        json.dumps({**fields(), "segmentSize": 10}).encode(),
        json.dumps({**fields(), "segmentSize": "big"}).encode(),
    ],
)
def test_bad_envelope_json(body: bytes) -> None:
    blob = with_json(body, os.urandom(200))
    with pytest.raises(IntegrityError, match="mem://e"):
        probe(io.BytesIO(blob), len(blob), "mem://e")


def test_unknown_version() -> None:
    blob = with_json(json.dumps({**fields(), "version": 2}).encode(), os.urandom(200))
    with pytest.raises(UnknownFormatError, match="version 2"):
        probe(io.BytesIO(blob), len(blob), "x")


def test_oversize_and_overlong_envelope_length() -> None:
    blob = ppml_gcm.MAGIC + struct.pack(">I", ppml_gcm.MAX_ENVELOPE_JSON + 1) + b"{}" * 100
    with pytest.raises(IntegrityError, match="implausible"):
        probe(io.BytesIO(blob), len(blob), "x")
    blob = ppml_gcm.MAGIC + struct.pack(">I", 5000) + b"{}" * 100  # longer than the file
    with pytest.raises(IntegrityError, match="truncated"):
        probe(io.BytesIO(blob), len(blob), "x")


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.update(keyId="local:other"),
        lambda f: f.update(kms="AzureKeyManagementService"),
        lambda f: f.update(contentType="parquet"),
        lambda f: f.update(plaintextLength=1),
        lambda f: f.pop("contentType"),
    ],
)
def test_envelope_metadata_is_authenticated(change: Callable[[dict[str, object]], object]) -> None:
    """A well-formed but edited envelope parses, and then fails authentication (it is the HKDF info)."""
    plaintext = os.urandom(FIRST + 100)
    env = envelope(content_type="csv")
    blob = encrypt(plaintext, env=env)
    old = env.to_bytes()
    values = json.loads(old[12:])
    change(values)
    body = json.dumps(values, sort_keys=True, separators=(",", ":")).encode()
    forged = ppml_gcm.MAGIC + struct.pack(">I", len(body)) + body + blob[len(old) :]
    probe(io.BytesIO(forged), len(forged), "x")  # parses fine
    yielded, error = attempt(forged)
    assert isinstance(error, IntegrityError) and yielded == []


def test_layout_offsets_follow_the_spec() -> None:
    layout = ppml_gcm.Layout(100, SEG, 100 + 3 * SEG + 50)
    assert layout.segment_count == 4
    assert [layout.segment_start(i) for i in range(4)] == [140, 100 + SEG, 100 + 2 * SEG, 100 + 3 * SEG]
    assert [layout.plaintext_start(i) for i in range(4)] == [0, FIRST, FIRST + LATER, FIRST + 2 * LATER]
    assert layout.plaintext_size == FIRST + 2 * LATER + 50 - TAG
    with pytest.raises(IntegrityError):
        ppml_gcm.Layout(100, SEG, 100 + SEG + 15)  # a last segment shorter than a tag
    with pytest.raises(IntegrityError):
        ppml_gcm.Layout(100, SEG, 100 + HEADER + TAG - 1)


def test_envelope_bytes_follow_the_doc() -> None:
    env = envelope(content_type="csv", plaintext_length=12)
    body = (
        '{"contentType":"csv","keyId":"local:test","kms":"local","plaintextLength":12,'
        '"segmentSize":4096,"version":1,"wrapAlgorithm":"AES-256-GCM","wrappedKey":"'
        + base64.b64encode(b"wrapped-key-bytes").decode()
        + '"}'
    ).encode()
    assert env.to_bytes() == b"PPMLGCM1" + len(body).to_bytes(4, "big") + body
    blob = encrypt(b"x", env=env)
    assert blob[len(body) + 12] == 40  # Tink header length byte


def test_local_key_id_and_wrap_follow_the_doc(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "p.key")
    kms = LocalKms.create(path)
    with open(path, "rb") as handle:
        primary = handle.read()
    assert len(primary) == 32 and os.stat(path).st_mode & 0o777 == 0o600
    expected_id = "local:" + hashlib.sha256(b"bigdl-ppml-az local key id\0" + primary).hexdigest()[:32]
    assert kms.key_id == expected_id
    data_key, wrapped = generate_data_key(kms)
    blob = wrapped.ciphertext
    assert len(blob) == 60 and wrapped.algorithm == "AES-256-GCM"
    assert AESGCM(primary).decrypt(blob[:12], blob[12:], expected_id.encode()) == data_key
