"""ppml-gcm payloads are exactly Tink AES256_GCM_HKDF streaming AEAD: the ``tink`` package reads ours, we read its.

Our data key becomes the key_value of a Tink AesGcmHkdfStreamingKey (HKDF-SHA256, 32-byte derived key, the
object's ciphertext segment size); the associated data is the envelope bytes; the payload is everything after
the envelope.
"""

from __future__ import annotations

import io
import os

import pytest

tink = pytest.importorskip("tink")
from tink import secret_key_access, streaming_aead  # noqa: E402
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2  # noqa: E402

from bigdl_ppml_az.errors import IntegrityError  # noqa: E402
from bigdl_ppml_az.formats import ppml_gcm  # noqa: E402

streaming_aead.register()

SEG = 4096
MIB = ppml_gcm.DEFAULT_SEGMENT_SIZE
TYPE_URL = "type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey"


def tink_primitive(data_key: bytes, segment_size: int) -> streaming_aead.StreamingAead:
    """A Tink StreamingAead holding exactly our raw data key."""
    params = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingParams(
        ciphertext_segment_size=segment_size, derived_key_size=32, hkdf_hash_type=common_pb2.SHA256
    )
    key = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey(version=0, params=params, key_value=data_key)
    keyset = tink_pb2.Keyset(
        primary_key_id=1,
        key=[
            tink_pb2.Keyset.Key(
                key_data=tink_pb2.KeyData(
                    type_url=TYPE_URL,
                    value=key.SerializeToString(),
                    key_material_type=tink_pb2.KeyData.SYMMETRIC,
                ),
                status=tink_pb2.ENABLED,
                key_id=1,
                output_prefix_type=tink_pb2.RAW,
            )
        ],
    )
    handle = tink.proto_keyset_format.parse(keyset.SerializeToString(), secret_key_access.TOKEN)
    return handle.primitive(streaming_aead.StreamingAead)


class _Sink(io.BytesIO):
    """Tink closes its destination; keep the bytes readable afterwards."""

    def close(self) -> None:
        self.value = self.getvalue()
        super().close()


def envelope(segment_size: int) -> ppml_gcm.Envelope:
    return ppml_gcm.Envelope("local", "local:interop", "AES-256-GCM", os.urandom(60), segment_size, content_type="csv")


def sizes(segment_size: int) -> list[int]:
    first, later = segment_size - 56, segment_size - 16
    return [0, 1, first - 1, first, first + 1, first + later, first + later + 1, first + 2 * later + 99]


CASES = [(SEG, n) for n in sizes(SEG)] + [(MIB, n) for n in (0, 1, MIB - 56, MIB - 55, 2 * MIB + 3)]


@pytest.mark.parametrize("segment_size,size", CASES)
def test_tink_decrypts_ours(segment_size: int, size: int) -> None:
    data_key, plaintext, env = os.urandom(32), os.urandom(size), envelope(segment_size)
    sink = io.BytesIO()
    ppml_gcm.encrypt_stream(io.BytesIO(plaintext), sink, data_key, env)
    blob = sink.getvalue()
    ad = env.to_bytes()
    assert blob.startswith(ad)
    primitive = tink_primitive(data_key, segment_size)
    with primitive.new_decrypting_stream(io.BytesIO(blob[len(ad) :]), ad) as stream:
        assert stream.read() == plaintext


@pytest.mark.parametrize("segment_size,size", CASES)
def test_we_decrypt_tinks(segment_size: int, size: int) -> None:
    data_key, plaintext, env = os.urandom(32), os.urandom(size), envelope(segment_size)
    ad = env.to_bytes()
    sink = _Sink()
    with tink_primitive(data_key, segment_size).new_encrypting_stream(sink, ad) as stream:
        view = memoryview(plaintext)
        while view:  # uneven writes
            stream.write(view[:1000])
            view = view[1000:]
    blob = ad + sink.value
    decryptor = ppml_gcm.Decryptor(io.BytesIO(blob), len(blob), data_key)
    assert decryptor.envelope == env
    assert b"".join(decryptor.iter_segments()) == plaintext
    # random access on Tink's ciphertext: each segment alone
    layout = decryptor.layout
    for index in range(layout.segment_count):
        start = layout.plaintext_start(index)
        end = layout.plaintext_start(index + 1) if index + 1 < layout.segment_count else len(plaintext)
        assert decryptor.segment(index) == plaintext[start:end]


def test_same_length_as_tink() -> None:
    data_key, plaintext, env = os.urandom(32), os.urandom(3 * SEG), envelope(SEG)
    ours = io.BytesIO()
    ppml_gcm.encrypt_stream(io.BytesIO(plaintext), ours, data_key, env)
    theirs = _Sink()
    with tink_primitive(data_key, SEG).new_encrypting_stream(theirs, env.to_bytes()) as stream:
        stream.write(plaintext)
    assert len(ours.getvalue()) == len(env.to_bytes()) + len(theirs.value)


def test_tink_rejects_a_changed_envelope() -> None:
    """The envelope is the associated data: Tink refuses the payload under any other envelope."""
    data_key, env = os.urandom(32), envelope(SEG)
    sink = io.BytesIO()
    ppml_gcm.encrypt_stream(io.BytesIO(b"a,b\n1,2\n"), sink, data_key, env)
    payload = sink.getvalue()[len(env.to_bytes()) :]
    other = ppml_gcm.Envelope(env.kms_type, "local:someone-else", env.wrap_algorithm, env.wrapped_key, SEG, "csv")
    with (
        pytest.raises(tink.TinkError),
        tink_primitive(data_key, SEG).new_decrypting_stream(io.BytesIO(payload), other.to_bytes()) as stream,
    ):
        stream.read()


def test_we_reject_tink_ciphertext_under_another_envelope() -> None:
    data_key, env = os.urandom(32), envelope(SEG)
    sink = _Sink()
    with tink_primitive(data_key, SEG).new_encrypting_stream(sink, env.to_bytes()) as stream:
        stream.write(os.urandom(5000))
    other = envelope(SEG)  # different wrapped key bytes, same length
    blob = other.to_bytes() + sink.value
    with pytest.raises(IntegrityError):  # opening authenticates the final segment, so it fails already there
        ppml_gcm.Decryptor(io.BytesIO(blob), len(blob), data_key).segment(0)
