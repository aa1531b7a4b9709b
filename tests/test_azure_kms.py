"""Azure Key Vault KMS through the real azure-keyvault-keys client, against the HTTPS Key Vault emulator."""

from __future__ import annotations

import base64
import pickle
import time
import uuid
from pathlib import Path

import pytest
from azure.keyvault.keys import KeyClient
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from bigdl_ppml_az.errors import ConfigError, KmsError, WrongKeyError
from bigdl_ppml_az.kms import AZURE, KmsSettings, WrappedKey, build_kms, generate_data_key, unwrap_cached
from bigdl_ppml_az.kms.azure import (
    RSA_OAEP,
    RSA_OAEP_256,
    AzureKms,
    _EmulatorCredential,
    create_primary_key,
    vault_url_for,
)
from bigdl_ppml_az.kms.bigdl_keys import read_data_key_file, read_primary_key_id, write_data_key_file
from kv_emulator import KeyVaultEmulator
from unwrap_log import count_unwraps


def _oaep(digest: type[hashes.HashAlgorithm]) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)


def _new_key(kv: KeyVaultEmulator, size: int = 2048) -> str:
    return create_primary_key(kv.url, "k-" + uuid.uuid4().hex[:12], size, options=kv.options())


def _kms(kv: KeyVaultEmulator, **extra: str) -> AzureKms:
    return AzureKms.from_options(kv.options(**extra))


def test_vault_names_and_urls() -> None:
    assert vault_url_for("myKeyVault") == "https://mykeyvault.vault.azure.net"
    assert vault_url_for("https://myvault.vault.azure.net/") == "https://myvault.vault.azure.net"
    with pytest.raises(ConfigError, match="https"):
        vault_url_for("http://127.0.0.1:1234")
    with pytest.raises(ConfigError, match="not a Key Vault name"):
        vault_url_for("my vault")
    with pytest.raises(ConfigError, match="needs option 'vault'"):
        AzureKms.from_options({})


def test_emulator_credential_refuses_real_vaults() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        AzureKms.from_options({"vault": "myvault", "credential": "emulator"})._keys()


def test_create_key_default_size_is_3072(kv: KeyVaultEmulator) -> None:
    key_id = create_primary_key(kv.url, "default-size-" + uuid.uuid4().hex[:8], options=kv.options())
    assert key_id.startswith(kv.url + "/keys/default-size-")
    assert kv.private_key(key_id).key_size == 3072
    assert kv.calls["create"] == 1


def test_challenge_handshake_then_bearer_token(kv: KeyVaultEmulator) -> None:
    from azure.keyvault.keys._shared import http_challenge_cache  # the SDK's per-process challenge cache

    http_challenge_cache.clear()
    before = kv.challenges
    key_id = _new_key(kv)
    assert kv.challenges == before + 1  # one 401 challenge, then the token was sent
    generate_data_key(_kms(kv, primaryKeyId=key_id))
    assert kv.challenges == before + 1  # the challenge is cached for later clients in this process


@pytest.mark.parametrize(
    ("bigdl", "algorithm", "digest"), [(False, RSA_OAEP_256, hashes.SHA256), (True, RSA_OAEP, hashes.SHA1)]
)
def test_wrap_algorithms_checked_independently(
    kv: KeyVaultEmulator, bigdl: bool, algorithm: str, digest: type[hashes.HashAlgorithm]
) -> None:
    key_id = _new_key(kv)
    kms = _kms(kv, primaryKeyId=key_id)
    data_key, wrapped = generate_data_key(kms, compat="bigdl" if bigdl else "")
    assert len(data_key) == 32
    assert wrapped == WrappedKey(AZURE, key_id, algorithm, wrapped.ciphertext)
    private = kv.private_key(key_id)
    assert private.decrypt(wrapped.ciphertext, _oaep(digest)) == data_key  # the right OAEP hash was used
    other = hashes.SHA1 if digest is hashes.SHA256 else hashes.SHA256
    with pytest.raises(ValueError):
        private.decrypt(wrapped.ciphertext, _oaep(other))
    reader = AzureKms.from_options(kv.options())  # only the vault: the wrapped key names its key version
    assert reader.unwrap(wrapped) == data_key
    assert kv.calls["unwrapKey"] == 1


def test_name_resolves_latest_version_and_old_versions_still_unwrap(kv: KeyVaultEmulator) -> None:
    name = "rotated-" + uuid.uuid4().hex[:8]
    first = create_primary_key(kv.url, name, 2048, options=kv.options())
    old_key, old_wrapped = generate_data_key(_kms(kv, primaryKeyName=name))
    second = create_primary_key(kv.url, name, 2048, options=kv.options())
    assert second != first
    kms = _kms(kv, primaryKeyName=name)
    assert kms.key_id == second
    new_key, new_wrapped = generate_data_key(kms)
    assert (old_wrapped.key_id, new_wrapped.key_id) == (first, second)
    assert kms.unwrap(old_wrapped) == old_key
    assert kms.unwrap(new_wrapped) == new_key


def test_bigdl_key_files(kv: KeyVaultEmulator, tmp_path: Path) -> None:
    """A BigDL primary key file (key id) and data key file (Base64 RSA-OAEP wrap) work as inputs."""
    key_id = _new_key(kv)
    primary = tmp_path / "keys" / "primaryKey"
    primary.parent.mkdir()
    primary.write_text(key_id + "\n")
    data_key = bytes(range(32))
    # Wrapped the way BigDL's AzureKeyManagementService did: RSA-OAEP (SHA-1) with the vault key's public key.
    bigdl_wrapped = kv.private_key(key_id).public_key().encrypt(data_key, _oaep(hashes.SHA1))
    (tmp_path / "keys" / "dataKey").write_text(base64.b64encode(bigdl_wrapped).decode())
    kms = AzureKms.from_options({**kv.options(), "primaryKeyPath": str(primary)})
    assert read_primary_key_id(primary) == kms.key_id == key_id
    # the datasource hands BigDL keys over without key id or algorithm: configured key, RSA-OAEP
    wrapped = WrappedKey(AZURE, "", "", read_data_key_file(tmp_path / "keys" / "dataKey"))
    assert kms.unwrap(wrapped) == data_key
    # and a data key file we write round-trips the same way
    _, ours = generate_data_key(kms, compat="bigdl")
    write_data_key_file(tmp_path / "keys" / "ours", ours.ciphertext)
    again = WrappedKey(AZURE, "", "", read_data_key_file(tmp_path / "keys" / "ours"))
    assert kms.unwrap(again) == kv.private_key(key_id).decrypt(ours.ciphertext, _oaep(hashes.SHA1))


def test_settings_pickle_without_credentials_and_unwrap_cached(kv: KeyVaultEmulator) -> None:
    key_id = _new_key(kv)
    settings = KmsSettings.from_options({**kv.options(), "primaryKeyId": key_id})
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert "token" not in repr(settings).lower()
    kms = build_kms(settings)
    assert isinstance(kms, AzureKms) and build_kms(settings) is kms
    data_key, wrapped = generate_data_key(kms)
    with count_unwraps() as unwraps:
        for _ in range(5):
            assert unwrap_cached(kms, wrapped) == data_key
    assert len(unwraps) == 1
    assert kv.calls["unwrapKey"] == 1


def test_key_in_another_vault_is_refused_without_contacting_it(kv: KeyVaultEmulator) -> None:
    kms = _kms(kv)
    foreign = WrappedKey(
        AZURE, "https://evil.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef", RSA_OAEP_256, b"x" * 256
    )
    with pytest.raises(WrongKeyError, match="not in the configured vault"):
        kms.unwrap(foreign)
    with pytest.raises(WrongKeyError, match="kms local"):
        kms.unwrap(WrappedKey("local", "local:abc", "AES-256-GCM", b"x"))
    assert sum(kv.calls.values()) == 0


def test_wrong_key_gives_wrong_key_error(kv: KeyVaultEmulator) -> None:
    kms = _kms(kv, primaryKeyId=_new_key(kv))
    _, wrapped = generate_data_key(kms)
    other = _kms(kv, primaryKeyId=_new_key(kv))
    with pytest.raises(WrongKeyError, match="could not unwrap"):
        other.unwrap(WrappedKey(AZURE, other.key_id, RSA_OAEP_256, wrapped.ciphertext))


def test_throttling_honours_retry_after_and_succeeds(kv: KeyVaultEmulator) -> None:
    kms = _kms(kv, primaryKeyId=_new_key(kv))
    data_key, wrapped = generate_data_key(kms)
    kv.reset_counts()
    kv.fail_next(429, 503, 500)
    started = time.monotonic()
    assert AzureKms.from_options(kv.options()).unwrap(wrapped) == data_key
    assert kv.faults == {429: 1, 503: 1, 500: 1}
    assert time.monotonic() - started >= 0.9  # the 429 said Retry-After: 1
    assert kv.calls["get"] + kv.calls["unwrapKey"] == 5  # 3 faults + get + unwrap


def test_retries_exhausted_is_one_clear_error(kv: KeyVaultEmulator) -> None:
    kms = _kms(kv, primaryKeyId=_new_key(kv), kmsRetryTotal="2")
    _, wrapped = generate_data_key(kms)
    kv.inject(rate=1.0, statuses=(503,), ops={"unwrapKey"})
    with pytest.raises(KmsError, match=r"unwrapKey .* HTTP 503 .*after 2 retries"):
        AzureKms.from_options(kv.options(kmsRetryTotal="2")).unwrap(wrapped)
    assert kv.calls["unwrapKey"] == 3


def test_disabled_key_fails_fast(kv: KeyVaultEmulator) -> None:
    key_id = _new_key(kv)
    kms = _kms(kv, primaryKeyId=key_id)
    _, wrapped = generate_data_key(kms)
    name = key_id.split("/keys/")[1].split("/")[0]
    client = KeyClient(
        kv.url, _EmulatorCredential(), connection_verify=str(kv.ca_path), verify_challenge_resource=False
    )
    client.update_key_properties(name, enabled=False)  # through the SDK, as an admin would
    kv.reset_counts()
    with pytest.raises(KmsError, match="is disabled; unwrapKey refused") as info:
        AzureKms.from_options(kv.options()).unwrap(wrapped)
    assert key_id in str(info.value)
    assert kv.calls["unwrapKey"] == 1  # no retries on a permanent failure
    with pytest.raises(KmsError, match="disabled"):
        generate_data_key(_kms(kv, primaryKeyId=key_id))  # never write new data under a disabled key


def test_deleted_key_fails_fast(kv: KeyVaultEmulator) -> None:
    key_id = _new_key(kv)
    _, wrapped = generate_data_key(_kms(kv, primaryKeyId=key_id))
    name = key_id.split("/keys/")[1].split("/")[0]
    client = KeyClient(
        kv.url, _EmulatorCredential(), connection_verify=str(kv.ca_path), verify_challenge_resource=False
    )
    client.begin_delete_key(name).wait()
    kv.reset_counts()
    with pytest.raises(KmsError, match="not found"):
        AzureKms.from_options(kv.options()).unwrap(wrapped)
    assert kv.calls["unwrapKey"] == 1


def test_permission_denied_names_key_and_permissions(kv: KeyVaultEmulator) -> None:
    key_id = _new_key(kv)
    _, wrapped = generate_data_key(_kms(kv, primaryKeyId=key_id))
    kv.deny("unwrapKey")
    kv.reset_counts()
    with pytest.raises(KmsError, match="permission denied") as info:
        AzureKms.from_options(kv.options()).unwrap(wrapped)
    message = str(info.value)
    assert key_id in message and "unwrapKey" in message and "emulator token" in message
    assert kv.calls["unwrapKey"] == 1


def test_unreachable_vault_is_a_clear_error(tmp_path: Path) -> None:
    kms = AzureKms.from_options(
        {"vault": "https://127.0.0.1:9", "credential": "emulator", "kmsRetryTotal": "0", "primaryKeyName": "k"}
    )
    with pytest.raises(KmsError, match=r"cannot reach Key Vault https://127\.0\.0\.1:9"):
        generate_data_key(kms)


def test_slow_vault_times_out_clearly_and_slow_answers_within_timeout_succeed(kv: KeyVaultEmulator) -> None:
    kms = _kms(kv, primaryKeyId=_new_key(kv))
    data_key, wrapped = generate_data_key(kms)
    kv.inject(delay=0.3)
    assert AzureKms.from_options(kv.options(kmsTimeout="5")).unwrap(wrapped) == data_key
    kv.inject(delay=1.5)
    kv.reset_counts()
    with pytest.raises(KmsError, match=r"did not answer unwrapKey .* within 0\.5 s"):
        AzureKms.from_options(kv.options(kmsTimeout="0.5", kmsRetryTotal="1")).unwrap(wrapped)
    assert kv.calls["get"] + kv.calls["unwrapKey"] == 2  # the timed-out call was retried once, then given up


def test_azure_kms_objects_are_never_pickled(kv: KeyVaultEmulator) -> None:
    with pytest.raises(TypeError, match="pickle its KmsSettings"):
        pickle.dumps(_kms(kv))


def test_primary_key_file_with_a_bare_key_name(kv: KeyVaultEmulator, tmp_path: Path) -> None:
    key_id = _new_key(kv)
    name = key_id.split("/keys/")[1].split("/")[0]
    (tmp_path / "primaryKey").write_text(name)
    kms = AzureKms.from_options({**kv.options(), "primaryKeyPath": str(tmp_path / "primaryKey")})
    assert kms.key_id == key_id
    with pytest.raises(ConfigError, match="holds the key name .*also give option 'vault'"):
        AzureKms.from_options({"primaryKeyPath": str(tmp_path / "primaryKey")})


def test_missing_azure_credential_is_a_clear_error(kv: KeyVaultEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                 "AZURE_USERNAME", "AZURE_FEDERATED_TOKEN_FILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    kms = AzureKms.from_options({**kv.options(credential="environment"), "primaryKeyName": "any"})
    with pytest.raises(KmsError, match=r"cannot authenticate to Key Vault https://127\.0\.0\.1:\d+ with "
                       r"EnvironmentCredential"):  # fmt: skip
        generate_data_key(kms)
