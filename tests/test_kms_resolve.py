"""The one key resolver (kms/resolve.py): the rule per layout, and that every caller follows it."""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path

import pytest

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.datasource.keys import wrapped_key_for
from bigdl_ppml_az.errors import KeyFileError, UnknownFormatError, WrongKeyError
from bigdl_ppml_az.formats import KeyRef, ObjectInfo, probe
from bigdl_ppml_az.jvm.keys import _wrapped as jvm_wrapped
from bigdl_ppml_az.kms import KmsSettings, WrappedKey, build_kms, generate_data_key
from bigdl_ppml_az.kms.bigdl_keys import write_data_key_file
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.kms.resolve import MAX_SIDECAR_BYTES, read_local_sidecar, resolve_wrapped_key
from bigdl_ppml_az.storage import LocalFileSystem
from bigdl_ppml_az.tpch.reference import _kms_key as tpch_key


def _probe(path: Path) -> ObjectInfo:
    with path.open("rb") as handle:
        return probe(handle, path.stat().st_size, str(path))


@pytest.fixture()
def setup(tmp_path: Path, local_key: Path) -> dict[str, object]:
    plain = tmp_path / "plain" / "a.csv"
    plain.parent.mkdir()
    plain.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(50)))
    options = {"kms": "local", "primaryKeyPath": str(local_key)}
    kms = build_kms(KmsSettings.from_options(options))
    filecrypt.encrypt_path(str(plain.parent), str(tmp_path / "gcm"), kms, crypto_mode="ppml-gcm")
    filecrypt.encrypt_path(str(plain.parent), str(tmp_path / "cbc"), kms, crypto_mode="aes/cbc/pkcs5padding")
    return {"root": tmp_path, "options": options, "kms": kms}


def test_envelope_and_bigdl_header_rule(setup: dict[str, object]) -> None:
    root, options, kms = Path(str(setup["root"])), dict(setup["options"]), setup["kms"]  # type: ignore[call-overload]
    settings = KmsSettings.from_options(options)
    gcm, cbc = root / "gcm" / "a.csv", root / "cbc" / "a.csv"
    gcm_info, cbc_info = _probe(gcm), _probe(cbc)
    fs = LocalFileSystem()
    from_gcm = resolve_wrapped_key(gcm_info, str(gcm), kms_type="local")
    assert gcm_info.key_ref is not None and from_gcm.key_id == kms.key_id != ""  # type: ignore[attr-defined]
    assert from_gcm == WrappedKey("local", kms.key_id, "AES-256-GCM", gcm_info.key_ref.wrapped_key)  # type: ignore[attr-defined]
    from_cbc = resolve_wrapped_key(cbc_info, str(cbc), kms_type="local")
    assert cbc_info.key_ref is not None
    assert from_cbc == WrappedKey("local", "", "", cbc_info.key_ref.wrapped_key)  # BigDL: key id "" by rule
    # every caller follows the same rule
    for info, path, expected in ((gcm_info, gcm, from_gcm), (cbc_info, cbc, from_cbc)):
        assert wrapped_key_for(info, str(path), settings, fs) == expected
        assert jvm_wrapped(info, str(path), settings) == expected
        material = kms.unwrap(expected)  # type: ignore[attr-defined]
        assert tpch_key(info, options, str(path)).material == material
        resolver = filecrypt._KeyResolver(kms, None, None)  # type: ignore[arg-type]
        assert resolver.key_for(info, str(path)).material == material


def test_envelope_of_another_kms_is_refused_before_any_unwrap(setup: dict[str, object]) -> None:
    root = Path(str(setup["root"]))
    info = _probe(root / "gcm" / "a.csv")
    with pytest.raises(WrongKeyError, match="wrapped by kms local .* but kms AzureKeyManagementService is configured"):
        resolve_wrapped_key(info, "x", kms_type="AzureKeyManagementService")


def _native_info() -> ObjectInfo:
    return ObjectInfo("nativeaescbc", 64, b"", None)


def test_nativeaescbc_data_key_file_then_meta(tmp_path: Path, local_key: Path) -> None:
    kms = LocalKms.load(local_key)
    _, wrapped = generate_data_key(kms, compat="bigdl")
    key_file = tmp_path / "dataKey"
    write_data_key_file(key_file, wrapped.ciphertext)
    part = tmp_path / "out" / "part-0"
    part.parent.mkdir()
    part.write_bytes(b"x" * 64)
    by_file = resolve_wrapped_key(_native_info(), str(part), kms_type="local", data_key_path=str(key_file))
    assert by_file == WrappedKey("local", "", "", wrapped.ciphertext)
    with pytest.raises(KeyFileError, match="found neither option dataKeyPath nor"):
        resolve_wrapped_key(_native_info(), str(part), kms_type="local", read_sidecar=read_local_sidecar)
    meta = {"encryptedDataKey": base64.b64encode(wrapped.ciphertext).decode()}
    (part.parent / ".meta").write_text(json.dumps(meta))
    by_meta = resolve_wrapped_key(_native_info(), str(part), kms_type="local", read_sidecar=read_local_sidecar)
    assert by_meta == by_file
    assert kms.unwrap(by_meta) == kms.unwrap(wrapped)
    with pytest.raises(UnknownFormatError):
        resolve_wrapped_key(ObjectInfo("ppml-gcm", 64, b"", None), str(part), kms_type="local")


@pytest.mark.parametrize("content", ["nested", "huge", "not-json", "fifo"])
def test_bad_meta_is_one_clear_error_promptly(tmp_path: Path, content: str) -> None:
    meta = tmp_path / ".meta"
    if content == "nested":
        meta.write_text("[" * 50_000 + "]" * 50_000)
    elif content == "huge":
        meta.write_bytes(b" " * (MAX_SIDECAR_BYTES + 10))
    elif content == "not-json":
        meta.write_text('{"encryptedDataKey": 12}')
    else:
        os.mkfifo(meta)
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            part = str(tmp_path / "part-0")
            resolve_wrapped_key(_native_info(), part, kms_type="local", read_sidecar=read_local_sidecar)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading .meta hung"
    assert len(outcome) == 1 and isinstance(outcome[0], KeyFileError), outcome
    assert str(meta) in str(outcome[0])


def test_keyref_without_kms_uses_the_configured_kms() -> None:
    info = ObjectInfo("aes/cbc/pkcs5padding", 500, b"", KeyRef(b"w" * 60))
    assert resolve_wrapped_key(info, "p", kms_type="toy") == WrappedKey("toy", "", "", b"w" * 60)
