"""One contract every registered KMS backend passes: local, Azure (Key Vault emulator) and a pip-installed plug-in.

Parametrised over the registry's canonical names, so a new built-in backend must add its factory here or the
coverage test below fails; plug-ins are covered by the toy one from tests/plugin_kms.
"""

from __future__ import annotations

import base64
import os
import pickle
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bigdl_ppml_az.errors import ConfigError, KmsError, WrongKeyError
from bigdl_ppml_az.kms import (
    BIGDL_COMPAT,
    KeyManagementService,
    KmsSettings,
    WrappedKey,
    backend_for,
    build_kms,
    generate_data_key,
    normalize_kms_type,
)
from bigdl_ppml_az.kms.registry import REGISTRY, canonical_names
from kv_emulator import KeyVaultEmulator
from plugin_support import PLUGIN_NAME, toy_plugin  # noqa: F401 - session fixture
from registry_contract import check_live_registry
from skr_fixtures import skr_module_fixture  # noqa: F401 - module fixture (MAA emulator, simulated enclave)

BACKENDS = ["local", "AzureKeyManagementService", "azure-skr", PLUGIN_NAME]


@dataclass
class Case:
    settings: KmsSettings  # the primary key under test
    other_key: KmsSettings  # another primary key of the same backend: must refuse the first one's data
    other_credential: KmsSettings | None  # same key, other credential (Azure); None where keys are all there is
    secrets: list[bytes]  # primary key bytes that must never appear in repr/str
    # Azure unwraps with the key version a ppml-gcm envelope records, if it is in the configured vault (key
    # rotation); other backends have exactly one key and refuse any other key id.
    follows_recorded_key: bool = False

    def build(self, settings: KmsSettings | None = None) -> KeyManagementService:
        return build_kms(settings or self.settings)


def _key_file(path: Path) -> bytes:
    key = os.urandom(32)
    path.write_bytes(key)
    path.chmod(0o600)
    return key


def _local(tmp: Path, _kv: KeyVaultEmulator) -> Case:
    first, second = _key_file(tmp / "a.key"), _key_file(tmp / "b.key")
    opts = {"kms": "local"}
    return Case(
        KmsSettings.from_options({**opts, "primaryKeyPath": str(tmp / "a.key")}),
        KmsSettings.from_options({**opts, "primaryKeyPath": str(tmp / "b.key")}),
        None,
        [first, second],
    )


def _azure(tmp: Path, kv: KeyVaultEmulator) -> Case:
    from bigdl_ppml_az.kms.azure import create_primary_key

    first = create_primary_key(kv.url, "ct-" + uuid.uuid4().hex[:8], 2048, options=kv.options())
    second = create_primary_key(kv.url, "ct-" + uuid.uuid4().hex[:8], 2048, options=kv.options())
    return Case(
        KmsSettings.from_options(kv.options(primaryKeyId=first)),
        KmsSettings.from_options(kv.options(primaryKeyId=second)),
        KmsSettings.from_options(kv.options(primaryKeyId=first, clientId="00000000-0000-0000-0000-0000000000b2")),
        [],
        follows_recorded_key=True,
    )


def _toy(tmp: Path, _kv: KeyVaultEmulator) -> Case:
    first, second = _key_file(tmp / "t1.key"), _key_file(tmp / "t2.key")
    return Case(
        KmsSettings.from_options({"kms": "toyaes", "toyKeyFile": str(tmp / "t1.key")}),
        KmsSettings.from_options({"kms": "toy", "toyKeyFile": str(tmp / "t2.key")}),
        None,
        [first, second],
    )


def _skr(tmp: Path, env: object) -> Case:
    """Secure Key Release: unwrap only after the simulated enclave attests (MAA emulator, Key Vault release)."""
    from bigdl_ppml_az.kms import azure_skr

    azure_skr.forget_released_keys()
    other = env.create_key("ct-skr-" + uuid.uuid4().hex[:8])  # type: ignore[attr-defined]
    return Case(
        KmsSettings.from_options(env.options()),  # type: ignore[attr-defined]
        KmsSettings.from_options(env.options(primaryKeyId=other)),  # type: ignore[attr-defined]
        None,
        [],
        follows_recorded_key=True,
    )


FACTORIES: dict[str, Callable[[Path, KeyVaultEmulator], Case]] = {
    "local": _local,
    "AzureKeyManagementService": _azure,
    "azure-skr": lambda tmp, kv: _skr(tmp, kv),
    PLUGIN_NAME: _toy,
}


@pytest.fixture(params=BACKENDS)
def case(request: pytest.FixtureRequest, tmp_path: Path, kv: KeyVaultEmulator, toy_plugin: str) -> Case:  # noqa: F811
    if request.param == "azure-skr":
        return _skr(tmp_path, request.getfixturevalue("skr_module"))
    return FACTORIES[request.param](tmp_path, kv)


def test_every_registered_backend_has_a_contract_case(toy_plugin: str) -> None:  # noqa: F811
    assert set(canonical_names()) == set(FACTORIES)


@pytest.mark.parametrize("compat", ["", BIGDL_COMPAT])
def test_wrap_unwrap_round_trip(case: Case, compat: str) -> None:
    kms = case.build()
    data_key, wrapped = generate_data_key(kms, compat=compat)
    assert len(data_key) == 32 and wrapped.ciphertext != data_key
    assert wrapped.kms_type == kms.kms_type == case.settings.kms_type
    assert kms.unwrap(wrapped) == data_key
    # a fresh instance from the same (pickled) settings, as a Spark worker builds it, unwraps it too
    again = backend_for(case.settings.kms_type).from_settings(pickle.loads(pickle.dumps(case.settings)))
    assert again.unwrap(wrapped) == data_key
    # BigDL-style reference (no key id, no algorithm recorded): the configured primary key is used
    if compat == BIGDL_COMPAT:
        assert again.unwrap(WrappedKey(kms.kms_type, "", "", wrapped.ciphertext)) == data_key


def test_another_primary_key_is_refused(case: Case) -> None:
    kms, other = case.build(), case.build(case.other_key)
    data_key, wrapped = generate_data_key(kms, compat=BIGDL_COMPAT)
    # as BigDL formats record it (wrapped bytes only): the configured key is the only candidate, and refuses
    with pytest.raises((WrongKeyError, KmsError)):
        other.unwrap(WrappedKey(other.kms_type, "", "", wrapped.ciphertext))
    # as a ppml-gcm envelope records it (with the key id)
    if case.follows_recorded_key:
        assert other.unwrap(wrapped) == data_key  # the recorded key of the same vault, never the configured one
    else:
        with pytest.raises(WrongKeyError):
            other.unwrap(wrapped)
    flipped = bytearray(wrapped.ciphertext)
    flipped[len(flipped) // 2] ^= 1
    with pytest.raises((WrongKeyError, KmsError)):
        kms.unwrap(WrappedKey(wrapped.kms_type, wrapped.key_id, wrapped.algorithm, bytes(flipped)))


def test_key_id_is_stable(case: Case) -> None:
    kms = case.build()
    first = kms.key_id
    assert first and kms.key_id == first
    assert backend_for(case.settings.kms_type).from_settings(case.settings).key_id == first
    _, wrapped = generate_data_key(kms)
    assert wrapped.key_id == first
    assert case.build(case.other_key).key_id != first


def test_identity_tells_keys_and_credentials_apart(case: Case) -> None:
    kms = case.build()
    assert kms.identity == backend_for(case.settings.kms_type).from_settings(case.settings).identity
    assert case.build(case.other_key).identity != kms.identity
    if case.other_credential is not None:
        assert case.build(case.other_credential).identity != kms.identity


def test_repr_and_str_hold_no_key_bytes(case: Case) -> None:
    kms = case.build()
    data_key, wrapped = generate_data_key(kms)
    texts = [repr(kms), str(kms), repr(wrapped), str(wrapped), repr(case.settings), kms.identity, kms.key_id]
    for secret in [data_key, wrapped.ciphertext, *case.secrets]:
        forms = [secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode(), repr(secret)[2:-1]]
        for text in texts:
            assert not any(form in text for form in forms), text


def test_names_and_aliases_resolve_and_unknown_names_list_the_known(toy_plugin: str) -> None:  # noqa: F811
    assert normalize_kms_type("azure") == normalize_kms_type("AzureKMS") == "AzureKeyManagementService"
    assert normalize_kms_type("LOCAL") == normalize_kms_type("simple") == "local"
    assert normalize_kms_type("toyaes") == PLUGIN_NAME
    assert backend_for("toy").__module__ == "ppml_toy_kms"
    with pytest.raises(ConfigError) as error:
        normalize_kms_type("vault9")
    message = str(error.value)
    assert "unknown kms 'vault9'" in message and "local" in message and PLUGIN_NAME in message
    assert "bigdl_ppml_az.kms" in message


def test_the_backend_registry_keeps_the_registry_contract() -> None:
    check_live_registry(REGISTRY, ConfigError)
