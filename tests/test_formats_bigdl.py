"""BigDL legacy layouts: known-answer vectors built from the documented bytes, tamper checks, CBC random access.

The vectors are assembled here straight from the byte layout in docs/FORMATS.md (struct + cryptography's AES-CBC
+ hmac), never through our writer, and once through the ``openssl`` command line as a fully separate
implementation of AES-CBC-PKCS5 and HMAC-SHA256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import shutil
import struct
import subprocess
import warnings

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from bigdl_ppml_az.errors import IntegrityError, UnknownFormatError, WrongKeyError
from bigdl_ppml_az.formats import (
    COMMON,
    NATIVE,
    DataKey,
    UnauthenticatedWarning,
    bigdl,
    iter_plaintext,
    open_reader,
    probe,
)

IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
KEY_BYTES = hashlib.sha256(b"bigdl-ppml-az test data key").digest()
KEY44 = base64.b64encode(KEY_BYTES).decode()  # the normal BigDL case: Base64 of 32 bytes
ENCRYPTED_KEY = base64.b64encode(hashlib.sha512(b"pretend RSA-OAEP output").digest() * 4).decode()  # 344 chars
PLAINTEXT = b"".join(b"%d,name-%d,%d.%02d\n" % (i, i, i * 7, i % 100) for i in range(40))


def cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def common_vector(key_string: str, plaintext: bytes, iv: bytes = IV, encrypted_key: str = ENCRYPTED_KEY) -> bytes:
    """A BigDL common part file built from the documented layout (not from our writer)."""
    secret = key_string.encode("utf-8")
    hmac_key = secret[0:16]  # Java Arrays.copyOfRange(secret, 0, 16)
    aes_key = secret[16:32] + bytes(max(0, 32 - len(secret)))  # Arrays.copyOfRange(secret, 16, 32) zero-fills
    ek = encrypted_key.encode("utf-8")
    header = struct.pack(">i", len(ek)) + struct.pack(">i", len(iv)) + ek + iv
    header += b"\x80" * (400 - len(header))
    ciphertext = cbc_encrypt(aes_key, iv, plaintext)
    return header + ciphertext + hmac.new(hmac_key, ciphertext, hashlib.sha256).digest()


def native_vector(key_string: str, plaintext: bytes, iv: bytes = IV) -> bytes:
    return iv + cbc_encrypt(base64.b64decode(key_string), iv, plaintext)


def read_all(blob: bytes, key_string: str, mode: str = "auto", verify: bool = True, unit_size: int = 0) -> bytes:
    source = io.BytesIO(blob)
    info = probe(source, len(blob), "mem://part-0", mode)
    reader = open_reader(info, source, DataKey.from_bigdl_string(key_string), verify, "mem://part-0", unit_size)
    return b"".join(iter_plaintext(reader, "mem://part-0"))


def write_common(key_string: str, plaintext: bytes, iv: bytes | None = IV, chunks: list[int] | None = None) -> bytes:
    sink = io.BytesIO()
    writer = bigdl.CommonWriter(sink, key_string, ENCRYPTED_KEY, iv=iv)
    pos = 0
    for size in chunks or []:
        writer.write(plaintext[pos : pos + size])
        pos += size
    writer.write(plaintext[pos:])
    writer.close()
    assert writer.bytes_out == len(sink.getvalue()) and writer.bytes_in == len(plaintext)
    return sink.getvalue()


NON_ASCII_KEY = "schlüssel-ключ-鍵-ppml-az-🔑-2026"  # 16-byte boundary falls inside a multi-byte character


def test_non_ascii_key_is_split_on_utf8_bytes() -> None:
    raw = NON_ASCII_KEY.encode("utf-8")
    assert len(raw) >= 32 and len(NON_ASCII_KEY) < 32
    hmac_key, aes_key = bigdl.common_keys(NON_ASCII_KEY)
    assert (hmac_key, aes_key) == (raw[:16], raw[16:32])
    with pytest.raises(UnicodeDecodeError):
        raw[:16].decode("utf-8")  # really cuts a character in half


@pytest.mark.parametrize("key_string", [KEY44, NON_ASCII_KEY, "0123456789abcdef0123456789abcdef"])
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, len(PLAINTEXT)])
def test_common_known_answer(key_string: str, size: int) -> None:
    plaintext = PLAINTEXT[:size]
    vector = common_vector(key_string, plaintext)
    assert len(vector) == 400 + (size // 16 + 1) * 16 + 32
    assert read_all(vector, key_string) == plaintext
    assert write_common(key_string, plaintext) == vector  # our writer, same IV: byte-identical
    info = probe(io.BytesIO(vector), len(vector), "x")
    assert info.mode == COMMON
    assert info.key_ref is not None and info.key_ref.wrapped_key == base64.b64decode(ENCRYPTED_KEY)


@pytest.mark.parametrize("key_string", ["0123456789abcdefXYZW", "0123456789abcdef"])
def test_short_key_strings_zero_pad_like_java(key_string: str) -> None:
    """16..31 byte strings: BigDL zero-fills the AES key (16 bytes: an all-zero AES key). We read those files."""
    vector = common_vector(key_string, PLAINTEXT)
    assert bigdl.common_keys(key_string)[1] == key_string.encode()[16:].ljust(16, b"\0")
    assert read_all(vector, key_string) == PLAINTEXT
    with pytest.raises(WrongKeyError, match="shorter than 32"):
        bigdl.CommonWriter(io.BytesIO(), key_string, ENCRYPTED_KEY)  # we refuse to create weak files


def test_key_strings_shorter_than_16_bytes_are_refused() -> None:
    """Java's copyOfRange(secret, 16, 32) throws for them, so BigDL can never have written such a file."""
    with pytest.raises(WrongKeyError, match="at least 16"):
        bigdl.common_keys("short-key")
    hmac_key = b"short-key".ljust(16, b"\0")
    ciphertext = cbc_encrypt(bytes(16), IV, PLAINTEXT)
    blob = bigdl.CommonHeader(ENCRYPTED_KEY, IV).to_bytes() + ciphertext
    blob += hmac.new(hmac_key, ciphertext, hashlib.sha256).digest()
    with pytest.raises(WrongKeyError, match="mem://part-0"):
        read_all(blob, "short-key")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
def test_common_against_openssl() -> None:
    """A second, wholly separate implementation of AES-128-CBC-PKCS5 and HMAC-SHA256."""
    secret = KEY44.encode()
    ciphertext = subprocess.run(
        ["openssl", "enc", "-aes-128-cbc", "-K", secret[16:32].hex(), "-iv", IV.hex()],
        input=PLAINTEXT,
        capture_output=True,
        check=True,
    ).stdout
    mac_hex = subprocess.run(
        ["openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", f"hexkey:{secret[:16].hex()}", "-r"],
        input=ciphertext,
        capture_output=True,
        check=True,
    ).stdout.split()[0]
    assert write_common(KEY44, PLAINTEXT)[400:] == ciphertext + bytes.fromhex(mac_hex.decode())


@settings(max_examples=25, deadline=None)
@given(size=st.integers(0, 300), cuts=st.lists(st.integers(0, 70), max_size=8))
def test_common_writer_chunking_is_invisible(size: int, cuts: list[int]) -> None:
    plaintext = (PLAINTEXT * 2)[:size]
    assert write_common(KEY44, plaintext, chunks=cuts) == common_vector(KEY44, plaintext)


def test_common_writer_random_iv() -> None:
    a, b = write_common(KEY44, PLAINTEXT, iv=None), write_common(KEY44, PLAINTEXT, iv=None)
    assert a[:8] == b[:8] and a != b
    assert read_all(a, KEY44) == read_all(b, KEY44) == PLAINTEXT
    with pytest.raises(ValueError, match="IV"):
        bigdl.CommonWriter(io.BytesIO(), KEY44, ENCRYPTED_KEY, iv=b"short")
    with pytest.raises(ValueError, match="400-byte header"):
        bigdl.CommonWriter(io.BytesIO(), KEY44, "k" * 380)


# ---------------------------------------------------------------- tamper


def flip(blob: bytes, offset: int, bit: int = 0) -> bytes:
    damaged = bytearray(blob)
    damaged[offset] ^= 1 << bit
    return bytes(damaged)


def test_every_flipped_bit_in_ciphertext_or_mac_is_caught() -> None:
    vector = common_vector(KEY44, PLAINTEXT[:100])
    for offset in range(400, len(vector)):
        for bit in range(8):
            with pytest.raises(IntegrityError, match="mem://part-0"):
                read_all(flip(vector, offset, bit), KEY44)


def test_verify_opt_out_salvages_a_damaged_mac() -> None:
    vector = common_vector(KEY44, PLAINTEXT)
    damaged = vector[:-32] + bytes(32)
    with pytest.raises(IntegrityError, match="HMAC"):
        read_all(damaged, KEY44)
    assert read_all(damaged, KEY44, verify=False) == PLAINTEXT


def test_iv_is_not_covered_by_the_mac() -> None:
    """Documented weakness of the BigDL layout: the IV sits in the unauthenticated header, so flipping IV bit k
    flips plaintext bit k of the first block and the HMAC still verifies. Nothing a reader can do about it."""
    vector = common_vector(KEY44, PLAINTEXT)
    iv_offset = 8 + len(ENCRYPTED_KEY)
    forged = flip(vector, iv_offset + 2, 0)
    got = read_all(forged, KEY44)
    assert got != PLAINTEXT
    assert got[16:] == PLAINTEXT[16:] and got[2] == PLAINTEXT[2] ^ 1


def test_header_damage_is_not_silent() -> None:
    vector = common_vector(KEY44, PLAINTEXT)
    with pytest.raises(UnknownFormatError):
        read_all(flip(vector, 399), KEY44)  # 0x80 filler
    with pytest.raises(UnknownFormatError):
        read_all(flip(vector, 7, 3), KEY44)  # IV length field
    with pytest.raises(UnknownFormatError):
        read_all(flip(vector, 3, 7), KEY44)  # key length field (now too long)


def test_truncated_common_files_fail() -> None:
    vector = common_vector(KEY44, PLAINTEXT)
    for cut in [
        0,
        1,
        8,
        399,
        400,
        401,
        416,
        432,
        len(vector) - 33,
        len(vector) - 32,
        len(vector) - 16,
        len(vector) - 1,
    ]:
        with pytest.raises((IntegrityError, UnknownFormatError)):
            read_all(vector[:cut], KEY44)
    for cut in range(400, len(vector), 16):  # block-aligned cuts, MAC check skipped: still refused
        with pytest.raises((IntegrityError, WrongKeyError)):
            read_all(vector[:cut], KEY44, verify=False)


def test_wrong_common_key() -> None:
    vector = common_vector(KEY44, PLAINTEXT)
    other = base64.b64encode(bytes(32)).decode()
    with pytest.raises(IntegrityError, match="data key is wrong"):
        read_all(vector, other)
    with pytest.raises(WrongKeyError, match="padding"):
        read_all(vector, other, verify=False)
    same_mac_key = KEY44[:16] + other[16:]  # MAC passes, AES key differs: the padding check catches it
    with pytest.raises(WrongKeyError, match="padding"):
        read_all(vector, same_mac_key)


def test_verify_common_mac_directly() -> None:
    vector = common_vector(KEY44, PLAINTEXT)
    bigdl.verify_common_mac(io.BytesIO(vector), len(vector), KEY44, chunk=48)
    with pytest.raises(IntegrityError):
        bigdl.verify_common_mac(io.BytesIO(flip(vector, 500)), len(vector), KEY44, chunk=48)
    with pytest.raises(IntegrityError, match="truncated"):
        bigdl.verify_common_mac(io.BytesIO(vector), len(vector) + 10, KEY44)


# ---------------------------------------------------------------- nativeaescbc


@pytest.mark.parametrize("key_bytes", [KEY_BYTES, KEY_BYTES[:16], KEY_BYTES[:24]])
@pytest.mark.parametrize("size", [0, 15, 16, len(PLAINTEXT)])
def test_native_known_answer_warns(key_bytes: bytes, size: int) -> None:
    key_string = base64.b64encode(key_bytes).decode()
    vector = native_vector(key_string, PLAINTEXT[:size])
    with pytest.warns(UnauthenticatedWarning, match="no integrity"):
        assert read_all(vector, key_string, mode="nativeaescbc") == PLAINTEXT[:size]


def test_native_needs_explicit_mode_and_a_fitting_size() -> None:
    vector = native_vector(KEY44, PLAINTEXT)
    with pytest.raises(UnknownFormatError, match="mem://part-0.*nativeaescbc"):
        read_all(vector, KEY44)
    for cut in (0, 16, 17, len(vector) - 1):
        with pytest.raises(IntegrityError, match="nativeaescbc"):
            probe(io.BytesIO(vector[:cut]), cut, "x", NATIVE)


def test_native_wrong_or_malformed_key() -> None:
    vector = native_vector(KEY44, PLAINTEXT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnauthenticatedWarning)
        with pytest.raises(WrongKeyError, match="padding"):
            read_all(vector, base64.b64encode(bytes(32)).decode(), mode=NATIVE)
        with pytest.raises(WrongKeyError, match="Base64"):
            read_all(vector, "not base64 !!", mode=NATIVE)
        with pytest.raises(WrongKeyError, match="20 bytes"):
            read_all(vector, base64.b64encode(bytes(20)).decode(), mode=NATIVE)


def test_native_tampering_goes_unnoticed_except_by_chance() -> None:
    """Why the warning exists: a flipped ciphertext bit in block 0 decrypts without any error."""
    vector = native_vector(KEY44, PLAINTEXT)
    with pytest.warns(UnauthenticatedWarning):
        got = read_all(flip(vector, 16 + 3), KEY44, mode=NATIVE)
    assert got != PLAINTEXT and got[32:] == PLAINTEXT[32:] and got[16 + 3] == PLAINTEXT[16 + 3] ^ 1


# ---------------------------------------------------------------- random access


@pytest.mark.parametrize("unit_size", [16, 32, 64])
@pytest.mark.parametrize("mode", [COMMON, NATIVE])
@pytest.mark.parametrize("size", [len(PLAINTEXT), 320, 321])
def test_cbc_random_access_from_every_unit(unit_size: int, mode: str, size: int) -> None:
    plaintext = (PLAINTEXT * 2)[:size]
    vector = common_vector(KEY44, plaintext) if mode == COMMON else native_vector(KEY44, plaintext)
    source = io.BytesIO(vector)
    info = probe(source, len(vector), "x", mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnauthenticatedWarning)
        reader = open_reader(info, source, DataKey.from_bigdl_string(KEY44), unit_size=unit_size)
    count = reader.unit_count
    assert count == -(-(size // 16 + 1) * 16 // unit_size)
    for first in range(count):
        assert b"".join(reader.iter_units(first)) == plaintext[reader.plaintext_start(first) :], first
        for stop in range(first + 1, count + 1):
            end = reader.plaintext_start(stop) if stop < count else len(plaintext)
            got = b"".join(reader.iter_units(first, stop))
            assert got == plaintext[reader.plaintext_start(first) : end], (first, stop)


def test_unit_size_must_be_whole_blocks() -> None:
    vector = common_vector(KEY44, PLAINTEXT)
    source = io.BytesIO(vector)
    info = probe(source, len(vector), "x")
    with pytest.raises(ValueError, match="multiple of 16"):
        open_reader(info, source, DataKey.from_bigdl_string(KEY44), unit_size=40)


# ---------------------------------------------------------------- .meta and key strings


def test_meta_round_trip_and_errors() -> None:
    sink = io.BytesIO()
    bigdl.write_meta(sink, ENCRYPTED_KEY)
    assert bigdl.read_meta(sink.getvalue()) == ENCRYPTED_KEY
    assert sink.getvalue() == b'{"encryptedDataKey": "' + ENCRYPTED_KEY.encode() + b'"}'
    for bad in (b"", b"[]", b'{"other": 1}', b"\xff"):
        with pytest.raises(UnknownFormatError, match=".meta"):
            bigdl.read_meta(bad)


def test_data_key_string_is_base64_of_the_key_bytes() -> None:
    assert bigdl.key_string_from_bytes(KEY_BYTES) == KEY44 and len(KEY44) == 44
    key = DataKey(KEY_BYTES)
    assert key.as_bigdl_string() == KEY44
    assert DataKey.from_bigdl_string(KEY44).material == KEY_BYTES
    assert DataKey.from_bigdl_string(NON_ASCII_KEY).as_bigdl_string() == NON_ASCII_KEY
    assert "redacted" in repr(key) and KEY44 not in repr(key)


def test_single_block_file_iv_reaches_the_padding_check_despite_the_mac() -> None:
    """For a one-block file (plaintext <= 15 bytes) the unauthenticated IV controls the padding bytes: the MAC
    verifies and the padding check then answers, which is a padding oracle (docs/FORMATS.md, caveats)."""
    vector = common_vector(KEY44, b"ok")
    iv_offset = 8 + len(ENCRYPTED_KEY)
    bigdl.verify_common_mac(io.BytesIO(flip(vector, iv_offset + 15, 4)), len(vector), KEY44)  # MAC still fine
    with pytest.raises(WrongKeyError, match="padding"):
        read_all(flip(vector, iv_offset + 15, 4), KEY44)
