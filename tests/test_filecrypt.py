"""filecrypt: whole files and directory trees through real files, real keys and real ciphers."""

from __future__ import annotations

import base64
import json
import os
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.errors import (
    ConfigError,
    IntegrityError,
    OutputExistsError,
    UnknownFormatError,
    WrongKeyError,
)
from bigdl_ppml_az.formats import COMMON, NATIVE, PPML_GCM, UnauthenticatedWarning, bigdl, ppml_gcm
from bigdl_ppml_az.kms import generate_data_key
from bigdl_ppml_az.kms.bigdl_keys import write_data_key_file
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.storage import StorageError

SEGMENT = 4096


def make_tree(root: Path) -> dict[str, bytes]:
    """Nested dirs, an empty file, a multi-segment file and Hadoop metadata files that must be skipped."""
    files = {
        "lineitem.tbl": b"1|155190|7706|1|17|21168.23|0.04|0.02|N|O|\n" * 300,
        "part/a.csv": b"id,name\n1,alice\n2,bob\n",
        "part/deeper/empty.txt": b"",
        "part/deeper/blob.bin": os.urandom(5 * SEGMENT + 123),
        "exact.bin": os.urandom(SEGMENT - ppml_gcm.TINK_HEADER_SIZE - ppml_gcm.TAG_SIZE),
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "_SUCCESS").write_bytes(b"")
    (root / "part" / ".hidden").write_bytes(b"metadata")
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith((".", "_"))
    }


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if "ppml-az-tmp" in p.name]


@pytest.fixture()
def kms(local_key: Path) -> LocalKms:
    return LocalKms.load(local_key)


@pytest.mark.parametrize("mode", [PPML_GCM, COMMON])
@pytest.mark.parametrize("jobs", [1, 2])
def test_tree_round_trip(tmp_path: Path, kms: LocalKms, mode: str, jobs: int) -> None:
    src, enc, dec = tmp_path / "in", tmp_path / "enc", tmp_path / "dec"
    files = make_tree(src)
    result = filecrypt.encrypt_path(
        str(src), str(enc), kms, crypto_mode=mode, segment_size=SEGMENT, jobs=jobs, progress=False
    )
    assert len(result.files) == len(files) and result.bytes_in == sum(map(len, files.values()))
    assert result.key_id == kms.key_id
    assert set(read_tree(enc)) == set(files)  # mirrored names, metadata files skipped
    assert not (enc / "_SUCCESS").exists() and not (enc / "part" / ".hidden").exists()
    for name, data in files.items():
        ciphertext = (enc / name).read_bytes()
        if len(data) >= 32:
            assert data[:32] not in ciphertext
        info = filecrypt.inspect_file(str(enc / name))
        assert info["format"] == mode
    back = filecrypt.decrypt_path(str(enc), str(dec), kms, jobs=jobs, progress=False)
    assert read_tree(dec) == files
    assert back.bytes_out == sum(map(len, files.values()))
    assert not leftovers(tmp_path)


def test_ppml_gcm_files_share_the_wrapped_key_but_not_segment_keys(tmp_path: Path, kms: LocalKms) -> None:
    src, enc = tmp_path / "in", tmp_path / "enc"
    make_tree(src)
    filecrypt.encrypt_path(str(src), str(enc), kms, segment_size=SEGMENT, progress=False)
    wrapped, tink_headers = set(), set()
    for path in sorted(p for p in enc.rglob("*") if p.is_file()):
        blob = path.read_bytes()
        envelope, raw = ppml_gcm.parse_envelope(blob)
        assert envelope.segment_size == SEGMENT
        assert envelope.plaintext_length == (tmp_path / "in" / path.relative_to(enc)).stat().st_size
        wrapped.add(envelope.wrapped_key)
        tink_headers.add(blob[len(raw) : len(raw) + ppml_gcm.TINK_HEADER_SIZE])
    assert len(wrapped) == 1  # one data key per run, wrapped once
    assert len(tink_headers) == 5  # a fresh salt and nonce prefix per file
    assert filecrypt.inspect_file(str(enc / "lineitem.tbl"))["contentType"] == "csv"
    assert filecrypt.inspect_file(str(enc / "part" / "a.csv"))["contentType"] == "csv"
    assert filecrypt.inspect_file(str(enc / "exact.bin"))["contentType"] is None


def test_common_mode_writes_bigdl_meta_in_every_output_dir(tmp_path: Path, kms: LocalKms) -> None:
    src, enc = tmp_path / "in", tmp_path / "enc"
    make_tree(src)
    filecrypt.encrypt_path(str(src), str(enc), kms, crypto_mode="aes/cbc/pkcs5padding", progress=False)
    metas = sorted(str(p.parent.relative_to(enc)) for p in enc.rglob(".meta"))
    assert metas == sorted([".", "part", "part/deeper"])
    key = json.loads((enc / ".meta").read_text())["encryptedDataKey"]
    header = bigdl.CommonHeader.parse((enc / "part" / "a.csv").read_bytes()[: bigdl.COMMON_HEADER_SIZE])
    assert header.encrypted_key == key
    assert len(base64.b64decode(key)) == filecrypt.inspect_file(str(enc / "part" / "a.csv"))["wrappedKeyLength"]


def test_bigdl_data_key_file_is_reused_like_bigdl(tmp_path: Path, kms: LocalKms) -> None:
    _, wrapped = generate_data_key(kms, compat="bigdl")
    data_key_path = tmp_path / "dataKey"
    write_data_key_file(data_key_path, wrapped.ciphertext)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.csv").write_bytes(b"a,b\n1,2\n")
    for run in ("one", "two"):
        out = tmp_path / run
        filecrypt.encrypt_path(
            str(tmp_path / "in"), str(out), kms, crypto_mode=COMMON, data_key_file=str(data_key_path), progress=False
        )
        meta = json.loads((out / ".meta").read_text())
        assert meta["encryptedDataKey"] == data_key_path.read_text()
    gcm = tmp_path / "gcm"
    filecrypt.encrypt_path(str(tmp_path / "in"), str(gcm), kms, data_key_file=str(data_key_path), progress=False)
    envelope, _ = ppml_gcm.parse_envelope((gcm / "x.csv").read_bytes())
    assert envelope.wrapped_key == wrapped.ciphertext
    for run in ("one", "two", "gcm"):
        filecrypt.decrypt_path(str(tmp_path / run), str(tmp_path / f"{run}.dec"), kms, progress=False)
        assert (tmp_path / f"{run}.dec" / "x.csv").read_bytes() == b"a,b\n1,2\n"


def test_single_file_and_directory_target(tmp_path: Path, kms: LocalKms) -> None:
    plain = tmp_path / "one.json"
    plain.write_bytes(b'{"a": 1}\n' * 1000)
    filecrypt.encrypt_path(str(plain), str(tmp_path / "one.enc"), kms, progress=False)
    (tmp_path / "outdir").mkdir()
    filecrypt.decrypt_path(str(tmp_path / "one.enc"), str(tmp_path / "outdir"), kms, progress=False)
    assert (tmp_path / "outdir" / "one.enc").read_bytes() == plain.read_bytes()
    with pytest.raises(ConfigError, match="must not be the input"):
        filecrypt.encrypt_path(str(plain), str(tmp_path), kms, force=True, progress=False)
    with pytest.raises(ConfigError, match="must not be the input or lie inside it"):
        filecrypt.encrypt_path(str(tmp_path / "outdir"), str(tmp_path / "outdir" / "x"), kms, progress=False)


def test_refuses_to_overwrite_unless_forced(tmp_path: Path, kms: LocalKms) -> None:
    src, enc = tmp_path / "in", tmp_path / "enc"
    make_tree(src)
    filecrypt.encrypt_path(str(src), str(enc), kms, progress=False)
    before = (enc / "part" / "a.csv").read_bytes()
    with pytest.raises(OutputExistsError, match=f"{enc}: output directory is not empty"):
        filecrypt.encrypt_path(str(src), str(enc), kms, progress=False)
    assert (enc / "part" / "a.csv").read_bytes() == before
    filecrypt.encrypt_path(str(src), str(enc), kms, force=True, progress=False)
    assert (enc / "part" / "a.csv").read_bytes() != before  # fresh data key and salt
    single = tmp_path / "single.enc"
    single.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match=f"{single}: output file exists"):
        filecrypt.encrypt_path(str(src / "part" / "a.csv"), str(single), kms, progress=False)
    assert single.read_bytes() == b"keep me"
    (tmp_path / "afile").write_bytes(b"")
    with pytest.raises(OutputExistsError, match="is a file"):
        filecrypt.encrypt_path(str(src), str(tmp_path / "afile"), kms, progress=False)


def test_common_meta_with_another_key_is_not_overwritten(tmp_path: Path, kms: LocalKms) -> None:
    plain = tmp_path / "x.csv"
    plain.write_bytes(b"1,2\n")
    out = tmp_path / "out"
    filecrypt.encrypt_path(str(plain), str(out / "x.csv"), kms, crypto_mode=COMMON, progress=False)
    meta = (out / ".meta").read_bytes()
    other = LocalKms.create(tmp_path / "other.key")  # same KMS: the directory's key is reused (test_cli_first_hour)
    with pytest.raises(OutputExistsError, match="holds the data key of the files already in that directory"):
        filecrypt.encrypt_path(str(plain), str(out / "y.csv"), other, crypto_mode=COMMON, progress=False)
    assert (out / ".meta").read_bytes() == meta and not (out / "y.csv").exists()


@pytest.mark.parametrize("mode", [PPML_GCM, COMMON])
def test_tampered_file_leaves_no_partial_output(tmp_path: Path, kms: LocalKms, mode: str) -> None:
    src, enc, dec = tmp_path / "in", tmp_path / "enc", tmp_path / "dec"
    files = make_tree(src)
    filecrypt.encrypt_path(str(src), str(enc), kms, crypto_mode=mode, segment_size=SEGMENT, progress=False)
    victim = enc / "part" / "deeper" / "blob.bin"
    blob = bytearray(victim.read_bytes())
    blob[3 * SEGMENT + 7] ^= 0x40  # a late segment: earlier segments would decrypt fine
    victim.write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match="blob.bin"):
        filecrypt.decrypt_path(str(enc), str(dec), kms, jobs=1, progress=False)
    assert not (dec / "part" / "deeper" / "blob.bin").exists()
    assert not leftovers(tmp_path)
    for name, data in read_tree(dec).items():  # whatever finished before the failure is complete
        assert data == files[name]
    if mode == COMMON:  # the explicit opt-out salvages what it can
        salvaged = tmp_path / "salvaged"
        result = filecrypt.decrypt_path(str(enc), str(salvaged), kms, verify=False, progress=False)
        assert any("skipped" in note for note in result.notes)
        got = (salvaged / "part" / "deeper" / "blob.bin").read_bytes()
        assert len(got) == len(files["part/deeper/blob.bin"]) and got != files["part/deeper/blob.bin"]


def test_truncated_file_fails_in_parallel_run(tmp_path: Path, kms: LocalKms) -> None:
    src, enc, dec = tmp_path / "in", tmp_path / "enc", tmp_path / "dec"
    make_tree(src)
    filecrypt.encrypt_path(str(src), str(enc), kms, segment_size=SEGMENT, progress=False)
    victim = enc / "lineitem.tbl"
    victim.write_bytes(victim.read_bytes()[:-1])
    with pytest.raises(IntegrityError, match="lineitem.tbl"):
        filecrypt.decrypt_path(str(enc), str(dec), kms, jobs=2, progress=False)
    assert not (dec / "lineitem.tbl").exists() and not leftovers(tmp_path)


def test_wrong_primary_key_names_both_key_ids(tmp_path: Path, kms: LocalKms) -> None:
    other = LocalKms.create(tmp_path / "other.key")
    (tmp_path / "x.csv").write_bytes(b"1\n")
    filecrypt.encrypt_path(str(tmp_path / "x.csv"), str(tmp_path / "x.enc"), kms, progress=False)
    with pytest.raises(WrongKeyError) as info:
        filecrypt.decrypt_path(str(tmp_path / "x.enc"), str(tmp_path / "x.out"), other, progress=False)
    assert kms.key_id in str(info.value) and other.key_id in str(info.value)
    assert not (tmp_path / "x.out").exists()
    filecrypt.encrypt_path(str(tmp_path / "x.csv"), str(tmp_path / "x.cbc"), kms, crypto_mode=COMMON, progress=False)
    with pytest.raises(WrongKeyError, match="x.cbc"):
        filecrypt.decrypt_path(str(tmp_path / "x.cbc"), str(tmp_path / "x.out"), other, progress=False)


def test_plaintext_input_and_missing_input(tmp_path: Path, kms: LocalKms) -> None:
    src = tmp_path / "in"
    make_tree(src)
    with pytest.raises(UnknownFormatError, match="not an encrypted file"):
        filecrypt.decrypt_path(str(src), str(tmp_path / "out"), kms, progress=False)
    assert not (tmp_path / "out").exists()  # probing happens before any output is written
    with pytest.raises(StorageError, match="nothere: input not found"):
        filecrypt.encrypt_path(str(tmp_path / "nothere"), str(tmp_path / "out"), kms, progress=False)
    (tmp_path / "onlymeta").mkdir()
    (tmp_path / "onlymeta" / ".meta").write_text("{}")
    with pytest.raises(StorageError, match="no data files"):
        filecrypt.decrypt_path(str(tmp_path / "onlymeta"), str(tmp_path / "out"), kms, progress=False)
    with pytest.raises(ConfigError, match="segment size"):
        filecrypt.encrypt_path(str(src), str(tmp_path / "out"), kms, segment_size=100, progress=False)


def test_data_key_plaintext_decrypts_bigdl_common_data_without_kms(tmp_path: Path) -> None:
    """Data written the way BigDL writes it, decrypted with nothing but the data key string."""
    key_string = base64.b64encode(os.urandom(32)).decode()
    encrypted_key = base64.b64encode(os.urandom(256)).decode()  # an RSA-wrapped key we cannot unwrap
    parts = {"part-00000.csv": b"a,b\n" + b"1,2\n" * 5000, "part-00001.csv": b"3,4\n"}
    table = tmp_path / "bigdl" / "table"
    table.mkdir(parents=True)
    for name, data in parts.items():
        with open(table / name, "wb") as sink:
            writer = bigdl.CommonWriter(sink, key_string, encrypted_key)
            writer.write(data)
            writer.close()
    (table / "_SUCCESS").write_bytes(b"")
    result = filecrypt.decrypt_path(str(table), str(tmp_path / "out"), data_key_plaintext=key_string, progress=False)
    assert read_tree(tmp_path / "out") == parts
    assert any("no BigDL .meta" in note for note in result.notes)
    with pytest.raises((WrongKeyError, IntegrityError)):
        filecrypt.decrypt_path(
            str(table),
            str(tmp_path / "wrong"),
            data_key_plaintext=base64.b64encode(os.urandom(32)).decode(),
            progress=False,
        )
    assert not list((tmp_path / "wrong").rglob("*.csv"))
    with pytest.raises(ConfigError, match="--data-key-plaintext-file"):
        filecrypt.decrypt_path(str(table), str(tmp_path / "nokey"), progress=False)


def write_native(path: Path, key: bytes, data: bytes) -> None:
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    path.write_bytes(iv + encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize())


def test_nativeaescbc_needs_the_forced_mode(tmp_path: Path, kms: LocalKms) -> None:
    key = os.urandom(32)
    data = os.urandom(3 * 1024 * 1024 + 5)
    native = tmp_path / "native"
    native.mkdir()
    write_native(native / "part-0", key, data)
    with pytest.raises(UnknownFormatError, match="nativeaescbc"):
        filecrypt.decrypt_path(str(native), str(tmp_path / "o0"), data_key_plaintext="x", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnauthenticatedWarning)
        result = filecrypt.decrypt_path(
            str(native),
            str(tmp_path / "o1"),
            crypto_mode="nativeaescbc",
            data_key_plaintext=base64.b64encode(key).decode(),
            progress=False,
        )
        assert (tmp_path / "o1" / "part-0").read_bytes() == data
        assert result.mode == NATIVE and any("no MAC" in note for note in result.notes)
        # the BigDL way: the data key file wrapped by the primary key
        data_key_path = tmp_path / "dataKey"
        write_data_key_file(data_key_path, kms.wrap(key).ciphertext)
        filecrypt.decrypt_path(
            str(native), str(tmp_path / "o2"), kms, crypto_mode=NATIVE, data_key_file=str(data_key_path), progress=False
        )
    assert (tmp_path / "o2" / "part-0").read_bytes() == data
    with pytest.raises(ConfigError, match="nativeaescbc files carry no key"):
        filecrypt.decrypt_path(str(native), str(tmp_path / "o3"), kms, crypto_mode=NATIVE, progress=False)


def test_progress_callback_counts_every_input_byte(tmp_path: Path, kms: LocalKms) -> None:
    src = tmp_path / "in"
    make_tree(src)
    seen: list[int] = []
    result = filecrypt.encrypt_path(str(src), str(tmp_path / "enc"), kms, jobs=2, progress=seen.append)
    assert sum(seen) == result.bytes_in
    seen.clear()
    filecrypt.decrypt_path(str(tmp_path / "enc"), str(tmp_path / "dec"), kms, jobs=2, progress=seen.append)
    assert sum(seen) == sum(p.stat().st_size for p in (tmp_path / "enc").rglob("*") if p.is_file())


def test_content_type_guess() -> None:
    assert filecrypt.content_type_for("a/b/lineitem.tbl") == "csv"
    assert filecrypt.content_type_for("x.CSV") == "csv"
    assert filecrypt.content_type_for("x.json") == "json"
    assert filecrypt.content_type_for("x.parquet") == "parquet"
    assert filecrypt.content_type_for("x.txt") == "text"
    assert filecrypt.content_type_for("part-00000") is None
