"""Local KMS and BigDL key files: real key files on disk, real AES-GCM wrapping."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from bigdl_ppml_az.errors import ConfigError, KeyFileError, OutputExistsError, WrongKeyError
from bigdl_ppml_az.kms import LOCAL, KmsSettings, WrappedKey, build_kms, generate_data_key, unwrap_cached
from bigdl_ppml_az.kms.bigdl_keys import (
    read_data_key_file,
    read_data_key_plaintext,
    read_primary_key_id,
    write_data_key_file,
)
from bigdl_ppml_az.kms.local import KEY_SIZE, LocalKms, fingerprint
from unwrap_log import count_unwraps


def test_create_writes_32_random_bytes_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "primary.key"
    kms = LocalKms.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes()
    assert len(key) == KEY_SIZE
    other = tmp_path / "other.key"
    LocalKms.create(other)
    assert other.read_bytes() != key
    assert kms.key_id == fingerprint(key)


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "primary.key"
    LocalKms.create(path)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="refusing to overwrite"):
        LocalKms.create(path)
    assert path.read_bytes() == before


def test_create_exist_ok_reuses_the_key_and_never_overwrites(tmp_path: Path) -> None:
    """A script run twice (the README's snippet): the second run gets the same key, the file is untouched."""
    path = tmp_path / "primary.key"
    first = LocalKms.create(path, exist_ok=True)
    before = path.read_bytes()
    second = LocalKms.create(path, exist_ok=True)
    assert path.read_bytes() == before and second.key_id == first.key_id
    assert second.unwrap(first.wrap(b"k" * 32)) == b"k" * 32
    (tmp_path / "short.key").write_bytes(b"x" * 5)  # what is there is checked, as load does
    with pytest.raises(KeyFileError, match="exactly 32 bytes"):
        LocalKms.create(tmp_path / "short.key", exist_ok=True)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.key"
    with pytest.raises(KeyFileError, match="missing.key: primary key file not found"):
        LocalKms.load(missing)
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 31)
    with pytest.raises(KeyFileError, match=r"short.key: a local primary key file holds exactly 32 bytes"):
        LocalKms.load(short)
    with pytest.raises(KeyFileError):
        LocalKms.load(tmp_path)  # a directory is not a key file


def test_wrap_unwrap_round_trip_and_fresh_nonce(local_key: Path) -> None:
    kms = LocalKms.load(local_key)
    data_key, wrapped = generate_data_key(kms)
    assert len(data_key) == 32
    assert wrapped.kms_type == LOCAL and wrapped.key_id == kms.key_id
    assert data_key not in wrapped.ciphertext
    assert kms.unwrap(wrapped) == data_key
    again = kms.wrap(data_key)
    assert again.ciphertext != wrapped.ciphertext  # random nonce per wrap
    assert kms.unwrap(again) == data_key
    # a second process loading the same file unwraps too
    assert LocalKms.load(local_key).unwrap(wrapped) == data_key


def test_wrong_primary_key_is_wrong_key_error(tmp_path: Path) -> None:
    first = LocalKms.create(tmp_path / "a.key")
    second = LocalKms.create(tmp_path / "b.key")
    _, wrapped = generate_data_key(first)
    with pytest.raises(WrongKeyError) as info:
        second.unwrap(wrapped)
    assert first.key_id in str(info.value) and second.key_id in str(info.value)
    # the key id check is not the only defence: a forged key id still fails authentication
    forged = WrappedKey(LOCAL, second.key_id, wrapped.algorithm, wrapped.ciphertext)
    with pytest.raises(WrongKeyError, match="does not unwrap"):
        second.unwrap(forged)


@pytest.mark.parametrize("position", [0, 12, 30, -1])
def test_tampered_wrapped_key_is_wrong_key_error(local_key: Path, position: int) -> None:
    kms = LocalKms.load(local_key)
    _, wrapped = generate_data_key(kms)
    blob = bytearray(wrapped.ciphertext)
    blob[position] ^= 0x01
    with pytest.raises(WrongKeyError):
        kms.unwrap(WrappedKey(wrapped.kms_type, wrapped.key_id, wrapped.algorithm, bytes(blob)))
    with pytest.raises(WrongKeyError):
        kms.unwrap(WrappedKey(wrapped.kms_type, wrapped.key_id, wrapped.algorithm, wrapped.ciphertext[:-1]))


def test_key_id_is_stable_and_does_not_reveal_the_key(local_key: Path) -> None:
    key = local_key.read_bytes()
    key_id = LocalKms.load(local_key).key_id
    assert key_id == LocalKms.load(local_key).key_id
    assert key_id.startswith("local:")
    for form in (key.hex(), base64.b64encode(key).decode(), key.hex()[:16]):
        assert form not in key_id
    assert LocalKms(b"\x01" * 32).key_id != LocalKms(b"\x02" * 32).key_id


def test_unwrap_cached_calls_the_kms_once_per_wrapped_key(local_key: Path) -> None:
    kms = LocalKms.load(local_key)
    real_calls = 0
    real_unwrap = kms.unwrap

    def counting_unwrap(wrapped: WrappedKey) -> bytes:  # counts calls into the real backend
        nonlocal real_calls
        real_calls += 1
        return real_unwrap(wrapped)

    kms.unwrap = counting_unwrap  # type: ignore[method-assign]
    first_key, first = generate_data_key(kms)
    second_key, second = generate_data_key(kms)
    with count_unwraps() as unwraps:
        for _ in range(5):
            assert unwrap_cached(kms, first) == first_key
        assert unwrap_cached(kms, second) == second_key
        assert unwrap_cached(kms, second) == second_key
    assert real_calls == 2
    assert len(unwraps) == 2


def test_build_kms_from_settings(local_key: Path) -> None:
    settings = KmsSettings.from_options({"kms": "local", "primaryKeyPath": str(local_key)})
    kms = build_kms(settings)
    assert kms.kms_type == LOCAL and kms.key_id == LocalKms.load(local_key).key_id
    assert build_kms(settings) is kms
    with pytest.raises(ConfigError, match="primaryKeyPath"):
        build_kms(KmsSettings.from_options({"kms": "local"}))
    with pytest.raises(ConfigError, match="unknown kms"):
        KmsSettings.from_options({"kms": "vaultless"})


def test_bigdl_data_key_file_round_trip(local_key: Path, tmp_path: Path) -> None:
    kms = LocalKms.load(local_key)
    data_key, wrapped = generate_data_key(kms, compat="bigdl")
    path = tmp_path / "keys" / "dataKey"
    write_data_key_file(path, wrapped.ciphertext)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert base64.b64decode(text) == wrapped.ciphertext
    assert base64.b64encode(data_key).decode() not in text
    assert read_data_key_file(path) == wrapped.ciphertext
    restored = WrappedKey(kms.kms_type, kms.key_id, "", read_data_key_file(path))
    assert kms.unwrap(restored) == data_key
    with pytest.raises(OutputExistsError):
        write_data_key_file(path, b"other")
    write_data_key_file(path, b"other", force=True)
    assert read_data_key_file(path) == b"other"


def test_bigdl_key_file_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="data key file not found"):
        read_data_key_file(tmp_path / "nope")
    bad = tmp_path / "bad"
    bad.write_text("not base64 !!!")
    with pytest.raises(KeyFileError, match="not Base64"):
        read_data_key_file(bad)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(KeyFileError, match="empty"):
        read_primary_key_id(empty)
    key_id_file = tmp_path / "primaryKey"
    key_id_file.write_text("https://v.vault.azure.net/keys/k/0123\n")
    assert read_primary_key_id(key_id_file) == "https://v.vault.azure.net/keys/k/0123"
    plain = tmp_path / "plain"
    plain.write_text(" c2VjcmV0 \n")
    assert read_data_key_plaintext(plain) == "c2VjcmV0"


def test_kms_settings_keep_storage_secrets_out() -> None:
    """Storage credentials share the option map with KMS options; they must not ride along or print."""
    from bigdl_ppml_az.kms import KmsSettings

    secret = "c2VjcmV0LWFjY291bnQta2V5"
    settings = KmsSettings.from_options(
        {
            "kms": "local",
            "primaryKeyPath": "/keys/primary",
            "fs.azure.account.key.acct.dfs.core.windows.net": secret,
            "spark.hadoop.fs.azure.sas.fixed.token": secret,
        }
    )
    assert settings.get("primaryKeyPath") == "/keys/primary"
    assert secret not in repr(settings) and secret not in str(settings.options)


def test_key_file_replaced_at_the_same_path_is_used_afresh(tmp_path: Path) -> None:
    """A long-lived worker builds its backend once per settings; a key file replaced at the same path (the wrong
    key now) must not keep unwrapping with the old key's cached backend."""
    from bigdl_ppml_az.errors import WrongKeyError as _WrongKey
    from bigdl_ppml_az.kms import KmsSettings, build_kms, generate_data_key, unwrap_cached

    path = tmp_path / "primary.key"
    LocalKms.create(path)
    settings = KmsSettings.from_options({"kms": "local", "primaryKeyPath": str(path)})
    _, wrapped = generate_data_key(build_kms(settings))
    assert len(unwrap_cached(build_kms(settings), wrapped)) == 32
    path.unlink()
    LocalKms.create(path)  # another key, same path
    with pytest.raises(_WrongKey):
        unwrap_cached(build_kms(settings), wrapped)
