"""Format detection: probe() on plaintext, junk and every encrypted layout; forced modes; mode spellings."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bigdl_ppml_az.errors import IntegrityError, UnknownFormatError
from bigdl_ppml_az.formats import (
    AES_GCM_CTR_V1,
    AES_GCM_V1,
    AUTO,
    COMMON,
    NATIVE,
    PLAIN,
    PPML_GCM,
    DataKey,
    ObjectInfo,
    bigdl,
    normalize_mode,
    ppml_gcm,
    probe,
)

KEY = os.urandom(32)
KEY_STRING = base64.b64encode(KEY).decode()
CSV = b"id,name,age\n1,alice,31\n2,bob,27\n"


def gcm_bytes(plaintext: bytes = CSV) -> bytes:
    sink = io.BytesIO()
    env = ppml_gcm.Envelope("local", "local:abc", "AES-256-GCM", b"wrapped", 4096, content_type="csv")
    ppml_gcm.encrypt_stream(io.BytesIO(plaintext), sink, KEY, env)
    return sink.getvalue()


def common_bytes(plaintext: bytes = CSV) -> bytes:
    sink = io.BytesIO()
    with bigdl.CommonWriter(sink, KEY_STRING, base64.b64encode(b"wrapped").decode()) as writer:
        writer.write(plaintext)
    return sink.getvalue()


def native_bytes(plaintext: bytes = CSV) -> bytes:
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(KEY), modes.CBC(iv)).encryptor()
    return iv + enc.update(padder.update(plaintext) + padder.finalize()) + enc.finalize()


def parquet_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]}), path)
    return path.read_bytes()


def run_probe(data: bytes, mode: str = AUTO, name: str = "abfss://c@a.dfs.core.windows.net/t/part-0") -> ObjectInfo:
    return probe(io.BytesIO(data), len(data), name, mode)


def test_detects_each_encrypted_format() -> None:
    gcm = run_probe(gcm_bytes())
    assert gcm.mode == PPML_GCM and gcm.splittable and gcm.segment_size == 4096
    assert gcm.describe()["plaintextSize"] == len(CSV) and "authenticated" not in gcm.describe()
    common = run_probe(common_bytes())
    assert common.mode == COMMON and not common.splittable
    assert common.key_ref is not None and common.key_ref.wrapped_key == b"wrapped"
    assert common.describe()["ciphertextSize"] == 48
    native = run_probe(native_bytes(), NATIVE)
    assert native.mode == NATIVE and native.key_ref is None and native.describe()["authenticated"] is False


def test_describe_never_shows_key_material() -> None:
    for info in (run_probe(gcm_bytes()), run_probe(common_bytes())):
        text = repr(info) + repr(info.describe())
        assert "d3JhcHBlZA" not in text and "b'wrapped'" not in text
        assert KEY_STRING not in text


@pytest.mark.parametrize(
    "what,data",
    [
        ("csv", CSV),
        ("empty", b""),
        ("random", os.urandom(1000)),
        ("one byte", b"P"),
        ("json", b'{"a": 1}\n{"a": 2}\n'),
        ("magic only", ppml_gcm.MAGIC[:6]),
    ],
)
def test_plaintext_and_junk_are_unknown(what: str, data: bytes) -> None:
    with pytest.raises(UnknownFormatError, match=r"abfss://c@a\.dfs\.core\.windows\.net/t/part-0: ") as err:
        run_probe(data)
    if what in ("csv", "json"):  # plaintext: say so, and how to read it; no cipher-mode hint
        assert "looks like plaintext text" in str(err.value) and "plain_text" in str(err.value)
        assert "nativeaescbc" not in str(err.value)
    else:  # random or truncated bytes: says what to do for headerless data
        assert "nativeaescbc" in str(err.value) and "plaintext" not in str(err.value)


def test_plaintext_parquet_is_named(tmp_path: Path) -> None:
    with pytest.raises(UnknownFormatError, match="part-0: not an encrypted file we know: this looks like plaintext P"):
        run_probe(parquet_bytes(tmp_path))


def test_damaged_envelope_is_integrity_not_unknown() -> None:
    data = gcm_bytes()
    with pytest.raises(IntegrityError, match="part-0: .*truncated"):
        run_probe(data[:10])
    with pytest.raises(IntegrityError, match="part-0: .*truncated"):
        run_probe(data[:40])


@pytest.mark.parametrize(
    "forced,builder,expected",
    [
        (PPML_GCM, common_bytes, "expected ppml-gcm"),
        (COMMON, gcm_bytes, "expected aes/cbc/pkcs5padding"),
        (PPML_GCM, native_bytes, "expected ppml-gcm"),
        (COMMON, native_bytes, "expected aes/cbc/pkcs5padding"),
        (NATIVE, gcm_bytes, "this is a ppml-gcm file"),
        (NATIVE, common_bytes, "this is a aes/cbc/pkcs5padding file"),
    ],
)
def test_forced_mode_that_does_not_match(forced: str, builder: Callable[[], bytes], expected: str) -> None:
    data = builder()
    with pytest.raises(UnknownFormatError, match=f"part-0: .*{expected}"):
        run_probe(data, forced)


@pytest.mark.parametrize("forced", [PLAIN, AES_GCM_V1, AES_GCM_CTR_V1])
def test_non_file_modes_are_refused(forced: str) -> None:
    with pytest.raises(UnknownFormatError, match="not a whole-file encryption format"):
        run_probe(CSV, forced)


def test_forced_matching_modes_work() -> None:
    assert run_probe(gcm_bytes(), "PPML-GCM").mode == PPML_GCM
    assert run_probe(common_bytes(), "AES/CBC/PKCS5Padding").mode == COMMON


@pytest.mark.parametrize(
    "spelling,canonical",
    [
        ("AES/CBC/PKCS5Padding", COMMON),
        ("aes/cbc/pkcs5padding", COMMON),
        (" AES_CBC_PKCS5PADDING ", COMMON),
        ("common", COMMON),
        ("nativeAesCbc", NATIVE),
        ("NATIVE_AES_CBC", NATIVE),
        ("plain_text", PLAIN),
        ("PLAIN_TEXT", PLAIN),
        ("AES_GCM_V1", AES_GCM_V1),
        ("aes_gcm_ctr_v1", AES_GCM_CTR_V1),
        ("ppml_gcm", PPML_GCM),
        (None, AUTO),
        ("", AUTO),
        ("Auto", AUTO),
    ],
)
def test_normalize_mode_spellings(spelling: str | None, canonical: str) -> None:
    assert normalize_mode(spelling) == canonical


def test_unknown_mode_lists_the_known_ones() -> None:
    with pytest.raises(UnknownFormatError, match="aes/cbc/pkcs5padding.*ppml-gcm"):
        normalize_mode("AES/GCM/NoPadding")


def test_data_key_helpers_for_probed_objects() -> None:
    info = run_probe(common_bytes())
    assert info.key_ref is not None
    assert DataKey(KEY).as_bigdl_string() == KEY_STRING
