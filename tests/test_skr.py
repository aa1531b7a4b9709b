"""kms=azure-skr against the emulators (no Spark): wrap without release, one release per token lifetime, and
each attestation or policy mismatch refused with one error naming what did not match, with no key released."""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from bigdl_ppml_az.errors import ConfigError, KmsError, PpmlError
from bigdl_ppml_az.kms import KmsSettings, WrappedKey, azure_skr, build_kms, generate_data_key, new_data_key, skr_policy
from bigdl_ppml_az.kms.azure_skr import AzureSkrKms
from skr_fixtures import HOSTDATA, MEASURED, WRONG_MRENCLAVE, WRONG_SIGNER, SkrEnv, skr_fixture, skr_module_fixture  # noqa: F401


def _backend(env: SkrEnv, **extra: str) -> AzureSkrKms:
    return AzureSkrKms.from_options(env.options(**extra))


def _wrapped(env: SkrEnv, count: int = 1, **extra: str) -> list[tuple[bytes, WrappedKey]]:
    writer = AzureSkrKms.from_options({k: v for k, v in env.options(**extra).items() if k != "attestation"})
    return [generate_data_key(writer) for _ in range(count)]


def test_wrap_uses_the_public_key_only_and_unwrap_releases_once(skr: SkrEnv) -> None:
    pairs = _wrapped(skr, 3)
    assert skr.kv.calls["release"] == 0 and skr.maa.calls["attest"] == 0
    assert skr.kv.calls["wrapKey"] == 0 and skr.kv.calls["unwrapKey"] == 0  # wrapping is local
    private = skr.kv.private_key(skr.key_id)
    for data_key, wrapped in pairs:
        assert wrapped.kms_type == "azure-skr" and wrapped.algorithm == "RSA-OAEP-256"
        assert wrapped.key_id == skr.key_id
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        assert private.decrypt(wrapped.ciphertext, oaep) == data_key  # a real RSA-OAEP-256 wrap to the vault key
    reader = _backend(skr)
    assert [reader.unwrap(w) for _, w in pairs] == [k for k, _ in pairs]
    assert skr.kv.calls["release"] == 1 and skr.maa.calls["attest"] == 1 and skr.device.quotes == 1
    assert skr.kv.calls["unwrapKey"] == 0
    # Another backend instance with the same identity in this process reuses the released key.
    assert _backend(skr).unwrap(pairs[0][1]) == pairs[0][0]
    assert skr.kv.calls["release"] == 1


def test_attestations_and_releases_are_log_records_without_key_material(
    skr: SkrEnv, caplog: pytest.LogCaptureFixture
) -> None:
    """The observation point for tests and measurements (no global counter): one record per attestation and per
    release, carrying the key id but no ``key_id`` attribute (unwrap counters must not count them) and nothing
    of the data key, the released private key or the attestation token."""
    (data_key, wrapped), = _wrapped(skr)
    caplog.set_level(logging.DEBUG, logger=azure_skr.SKR_LOGGER)
    reader = _backend(skr)
    assert reader.unwrap(wrapped) == data_key and _backend(skr).unwrap(wrapped) == data_key
    records = [r for r in caplog.records if r.name == azure_skr.SKR_LOGGER]
    assert [r.__dict__["skr_call"] for r in records] == ["attestation", "release"]
    assert skr.kv.calls["release"] == 1 and skr.maa.calls["attest"] == 1  # the records count what happened
    assert all(r.__dict__["skr_key_id"] == skr.key_id and not hasattr(r, "key_id") for r in records)
    private = skr.kv.private_key(skr.key_id).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    texts = [f"{r.getMessage()} {r.__dict__}" for r in records]
    for secret in (data_key, private[-64:], wrapped.ciphertext):
        assert not any(secret.hex() in t or repr(secret)[2:-1] in t for t in texts)
    assert not any("eyJ" in t for t in texts)  # no JWT (attestation token, release response)


def test_released_key_lives_no_longer_than_the_token(skr: SkrEnv) -> None:
    skr.maa.ttl = 32  # the backend keeps a key until 30 s before exp
    (data_key, wrapped), = _wrapped(skr)
    reader = _backend(skr)
    assert reader.unwrap(wrapped) == data_key and reader.unwrap(wrapped) == data_key
    assert skr.kv.calls["release"] == 1
    time.sleep(2.2)
    assert reader.unwrap(wrapped) == data_key
    assert skr.kv.calls["release"] == 2 and skr.maa.calls["attest"] == 2


def _refused(env: SkrEnv, backend: AzureSkrKms, wrapped: WrappedKey, vault_released: bool = False) -> str:
    """The unwrap fails with one line; Key Vault released nothing (unless the test forges its response)."""
    released_before = sum(env.kv.release.released_to.values())
    with pytest.raises(PpmlError) as info:
        backend.unwrap(wrapped)
    message = str(info.value)
    assert "\n" not in message
    assert sum(env.kv.release.released_to.values()) == released_before + int(vault_released)
    assert not azure_skr._released  # nothing cached in this process
    return message


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong-mrenclave", "claim x-ms-sgx-mrenclave: token has \"" + "33" * 32),
        ("wrong-signer", "claim x-ms-sgx-mrsigner: token has \"" + "44" * 32),
        ("expired", "attestation token expired at"),
        ("other-issuer", "is not an authority of the policy"),
        ("unknown-signing-key", "signed by an unknown key"),
        ("report-data", "report data in the quote does not match SHA-256 of the runtime data"),
    ],
)
def test_attestation_mismatch_is_refused_naming_it(skr: SkrEnv, case: str, expected: str) -> None:
    (_, wrapped), = _wrapped(skr)
    extra: dict[str, str] = {}
    if case == "wrong-mrenclave":
        skr.device.reset(WRONG_MRENCLAVE)
    elif case == "wrong-signer":
        skr.device.reset(WRONG_SIGNER)
    elif case == "expired":
        skr.maa.ttl = -5
    elif case == "other-issuer":
        extra["maaEndpoint"] = skr.other_maa.url
    elif case == "unknown-signing-key":
        skr.maa.sign_with_unknown_key = True
    else:
        skr.device.tamper = True
    message = _refused(skr, _backend(skr, **extra), wrapped)
    assert expected in message, message
    if case != "report-data":
        assert skr.kv.calls["release"] == 1 and f"release key {skr.key_id}" in message


def test_policy_edited_to_require_another_claim(skr: SkrEnv) -> None:
    policy = skr.policy()
    key_id = skr.create_key("skr-edited", policy)
    (_, wrapped), = _wrapped(skr, primaryKeyId=key_id)
    policy["anyOf"][0]["allOf"].append({"claim": "x-ms-sgx-config-id", "equals": "ab" * 32})
    from azure.keyvault.keys import KeyClient, KeyReleasePolicy

    from bigdl_ppml_az.kms.azure import _EmulatorCredential

    client = KeyClient(skr.kv.url, _EmulatorCredential(), connection_verify=str(skr.bundle),
                       verify_challenge_resource=False)
    client.update_key_properties("skr-edited", release_policy=KeyReleasePolicy(json.dumps(policy).encode()))
    message = _refused(skr, _backend(skr, primaryKeyId=key_id), wrapped)
    assert "claim x-ms-sgx-config-id: absent from the token" in message, message


def test_attestation_none_is_refused_unless_the_policy_admits_it(skr: SkrEnv) -> None:
    (data_key, wrapped), = _wrapped(skr)
    with pytest.raises(ConfigError, match="attestation=none: the release policy of key .* admits no unattested"):
        _backend(skr, attestation="none").unwrap(wrapped)
    assert skr.kv.calls["release"] == 0
    dev_policy = {"version": "1.0.0", "anyOf": [{"authority": "none", "allOf": [
        {"claim": "x-ms-attestation-type", "equals": "none"}]}]}
    dev_key = skr.create_key("skr-dev", dev_policy)
    (dev_data_key, dev_wrapped), = _wrapped(skr, primaryKeyId=dev_key)
    assert _backend(skr, attestation="none", primaryKeyId=dev_key).unwrap(dev_wrapped) == dev_data_key
    assert skr.kv.calls["release"] == 1 and skr.maa.calls["attest"] == 0


def test_release_response_is_verified(skr: SkrEnv) -> None:
    (_, wrapped), = _wrapped(skr)
    # A chain that does not reach the configured trust roots (the vault's TLS CA is not the release CA).
    message = _refused(skr, _backend(skr, releaseTrustRoots=str(skr.kv.ca_path)), wrapped, vault_released=True)
    assert "does not chain to a trusted root" in message
    azure_skr.forget_released_keys()
    from cryptography.hazmat.primitives.asymmetric import rsa

    skr.kv.release.substitute_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = _refused(skr, _backend(skr), wrapped, vault_released=True)
    assert "does not match the key it names" in message


def test_sevsnp_sidecar_provider(skr: SkrEnv) -> None:
    policy = skr_policy.build_policy(skr.maa.url, sevsnp_hostdata=HOSTDATA.hex())
    key_id = skr.create_key("skr-snp", policy)
    (data_key, wrapped), = _wrapped(skr, primaryKeyId=key_id)
    options = {"attestation": "sevsnp-sidecar", "sidecarEndpoint": skr.sidecar.url, "primaryKeyId": key_id}
    assert _backend(skr, **options).unwrap(wrapped) == data_key
    assert skr.sidecar.calls >= 1 and skr.kv.calls["release"] == 1
    azure_skr.forget_released_keys()
    wrong = skr_policy.build_policy(skr.maa.url, sevsnp_hostdata="77" * 32)
    other_key = skr.create_key("skr-snp-other", wrong)
    (_, other_wrapped), = _wrapped(skr, primaryKeyId=other_key)
    message = _refused(skr, _backend(skr, **{**options, "primaryKeyId": other_key}), other_wrapped)
    assert "claim x-ms-sevsnpvm-hostdata" in message
    with pytest.raises(ConfigError, match="sidecarEndpoint=http://10.0.0.1:8080: the SKR sidecar must be http"):
        _backend(skr, **{**options, "sidecarEndpoint": "http://10.0.0.1:8080"})


def test_writes_refuse_a_key_without_release_policy_and_reads_need_attestation(skr: SkrEnv) -> None:
    from bigdl_ppml_az.kms.azure import create_primary_key

    plain = create_primary_key(skr.kv.url, "not-exportable", key_size=2048, options=skr.kv_options())
    with pytest.raises(KmsError, match="is not exportable with a release policy"):
        generate_data_key(AzureSkrKms.from_options(skr.options(primaryKeyId=plain)))
    (_, wrapped), = _wrapped(skr)
    options = {k: v for k, v in skr.options().items() if k != "attestation"}
    with pytest.raises(ConfigError, match="option attestation is required to read with kms=azure-skr"):
        AzureSkrKms.from_options(options).unwrap(wrapped)
    with pytest.raises(ConfigError, match="option attestation=tpm: unknown evidence provider"):
        _backend(skr, attestation="tpm")


def test_released_key_is_never_printed_or_pickled(skr: SkrEnv, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    settings = KmsSettings.from_options(skr.options())
    backend = build_kms(settings)
    (data_key, wrapped), = _wrapped(skr)
    assert backend.unwrap(wrapped) == data_key
    released = next(iter(azure_skr._released.values()))
    with pytest.raises(TypeError):
        pickle.dumps(backend)
    with pytest.raises(TypeError):
        pickle.dumps(released)
    private = skr.kv.private_key(skr.key_id)
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    numbers = private.private_numbers()
    forms = [der.hex(), der[:64].hex(), format(numbers.d, "x")[:64], str(numbers.d)[:64], str(numbers.p)[:64]]
    import base64

    forms.append(base64.b64encode(der).decode()[:64])
    texts = [repr(backend), repr(released), str(pickle.dumps(settings)), caplog.text]
    for text in texts:
        for form in forms:
            assert form not in text


def test_options_are_declared_and_identity_names_what_decides_the_keys(skr: SkrEnv) -> None:
    for name in ("attestation", "maaEndpoint", "attestationDevice", "sidecarEndpoint", "releaseTrustRoots"):
        assert name in AzureSkrKms.OPTIONS
    from bigdl_ppml_az.kms import normalize_kms_type

    assert {normalize_kms_type(alias) for alias in azure_skr.ALIASES} == {"azure-skr"}
    a, b = _backend(skr), _backend(skr, clientId="11111111-2222-3333-4444-555555555555")
    assert a.identity != b.identity and skr.kv.url in a.identity and "sgx-gramine" in a.identity
    assert new_data_key() != new_data_key()


def test_policy_evaluation_agrees_with_the_emulator(skr: SkrEnv) -> None:
    from kv_release import KeyRelease

    policy = skr.policy()
    good = {"iss": skr.maa.url, "x-ms-attestation-type": "sgx", "x-ms-sgx-is-debuggable": False,
            "x-ms-sgx-mrenclave": MEASURED.mrenclave.hex(), "x-ms-sgx-mrsigner": MEASURED.mrsigner.hex(),
            "x-ms-sgx-product-id": MEASURED.isvprodid}
    variants = [good, {**good, "x-ms-sgx-is-debuggable": True}, {**good, "x-ms-sgx-product-id": 8},
                {**good, "x-ms-sgx-product-id": "7"}, {k: v for k, v in good.items() if k != "x-ms-sgx-mrsigner"}]
    for claims in variants:
        ours = skr_policy.evaluate(policy, claims, skr.maa.url).ok
        theirs, _ = KeyRelease._holds({"allOf": policy["anyOf"][0]["allOf"]}, claims)
        assert ours == theirs, claims
    # "7" meets 7: a string and a number of the same value are equal (Key Vault accepts the sidecar's "0" for vmpl).
    assert [skr_policy.evaluate(policy, c, skr.maa.url).ok for c in variants] == [True, False, False, True, False]
    ranged = {"version": "1.0.0", "anyOf": [{"authority": skr.maa.url, "anyOf": [
        {"claim": "x-ms-sgx-svn", "greaterOrEquals": 3}, {"claim": "x-ms-sgx-config-id", "exists": True}]}]}
    assert skr_policy.evaluate(ranged, {"x-ms-sgx-svn": 3}, skr.maa.url).ok
    verdict = skr_policy.evaluate(ranged, {"x-ms-sgx-svn": 2}, skr.maa.url)
    assert not verdict.ok and "x-ms-sgx-svn" in verdict.reason and "x-ms-sgx-config-id" in verdict.reason


def test_cli_create_show_and_check(skr: SkrEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from bigdl_ppml_az.cli import main

    monkeypatch.setenv("PPML_AZ_KV_CREDENTIAL", "emulator")
    monkeypatch.setenv("PPML_AZ_KV_CA_BUNDLE", str(skr.bundle))
    monkeypatch.setenv("PPML_AZ_KV_VERIFY_CHALLENGE_RESOURCE", "false")
    key_file = tmp_path / "skr.key"
    args = ["keys", "create", "--kms", "azure-skr", "--vault", skr.kv.url, "--name", "skr-cli", "--key-size", "2048",
            "--primary-key", str(key_file), "--maa-endpoint", skr.maa.url, "--sgx-mrenclave", MEASURED.mrenclave.hex(),
            "--sgx-mrsigner", MEASURED.mrsigner.hex().upper(), "--sgx-isvprodid", str(MEASURED.isvprodid)]
    assert main(args) == 0
    out = capsys.readouterr().out
    printed = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert {"claim": "x-ms-sgx-mrsigner", "equals": MEASURED.mrsigner.hex()} in printed["anyOf"][0]["allOf"]
    assert printed["anyOf"][0]["authority"] == skr.maa.url + "/"
    key_id = key_file.read_text().strip()
    assert skr.kv.keys["skr-cli"][-1].exportable and skr.kv.keys["skr-cli"][-1].ops == ["wrapKey", "encrypt"]
    assert main(["keys", "policy", "show", "--vault", skr.kv.url, "--name", "skr-cli"]) == 0
    assert json.loads(capsys.readouterr().out) == printed
    # A token from the right enclave passes; one from another enclave is named by its failing claim.
    token_file = tmp_path / "token.jwt"
    import hashlib

    empty = hashlib.sha256(b"").digest() + bytes(32)
    good = skr.maa.attest(skr.quoting.quote(empty, MEASURED), {}, 0)
    token_file.write_text(good)
    assert main(["keys", "policy", "check", "--primary-key", str(key_file), "--token", str(token_file)]) == 0
    assert "is satisfied" in capsys.readouterr().out
    token_file.write_text(skr.maa.attest(skr.quoting.quote(empty, WRONG_MRENCLAVE), {}, 0))
    assert main(["keys", "policy", "check", "--primary-key", str(key_file), "--token", str(token_file)]) == 1
    out = capsys.readouterr().out
    assert f"release of {key_id} would be refused: claim x-ms-sgx-mrenclave: token has" in out
    skr.maa.sign_with_unknown_key = True
    token_file.write_text(skr.maa.attest(skr.quoting.quote(empty, MEASURED), {}, 0))
    assert main(["keys", "policy", "check", "--primary-key", str(key_file), "--token", str(token_file)]) == 1
    assert "signed by an unknown key" in capsys.readouterr().out
    assert main(["keys", "create", "--kms", "azure-skr", "--vault", skr.kv.url, "--name", "skr-cli2",
                 "--maa-endpoint", skr.maa.url, "--sgx-mrenclave", "abc"]) == 1
    assert "--sgx-mrenclave 'abc': expected 64 hex digits" in capsys.readouterr().err
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps({"version": "1.0.0", "anyOf": [{"authority": skr.maa.url}]}))
    assert main(["keys", "create", "--kms", "azure-skr", "--vault", skr.kv.url, "--name", "skr-cli3",
                 "--release-policy", str(policy_file)]) == 1
    assert "needs exactly one allOf or anyOf" in capsys.readouterr().err
    assert "skr-cli3" not in skr.kv.keys


def test_quote_binds_what_the_provider_wrote(skr: SkrEnv) -> None:
    from bigdl_ppml_az.kms.attestation import GramineSgxProvider
    from maa_emulator import parse_quote

    provider = GramineSgxProvider(str(skr.device.directory), skr.maa.url, str(skr.bundle), 10)
    runtime = b'{"keys":[]}'
    info = parse_quote(provider.quote(runtime), skr.quoting.public)
    import hashlib

    assert info["report_data"] == hashlib.sha256(runtime).digest() + bytes(32)
    assert info["mrenclave"] == MEASURED.mrenclave.hex()
    assert dataclasses.asdict(MEASURED)["isvprodid"] == info["isvprodid"]


def test_immutable_release_policy_cannot_be_edited(skr: SkrEnv) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.keyvault.keys import KeyClient, KeyReleasePolicy

    from bigdl_ppml_az.kms.azure import _EmulatorCredential
    from bigdl_ppml_az.kms.azure_skr import create_release_key

    create_release_key(skr.kv.url, "skr-immutable", skr.policy(), key_size=2048, options=skr.kv_options(),
                       immutable=True)
    client = KeyClient(skr.kv.url, _EmulatorCredential(), connection_verify=str(skr.bundle),
                       verify_challenge_resource=False)
    open_policy = {"version": "1.0.0", "anyOf": [{"authority": skr.other_maa.url, "allOf": [
        {"claim": "x-ms-attestation-type", "exists": True}]}]}
    with pytest.raises(HttpResponseError, match="immutable"):
        client.update_key_properties("skr-immutable", release_policy=KeyReleasePolicy(json.dumps(open_policy).encode()))


# ---- attacks (issue 19): each refused with a message naming what failed ------------------------------------
@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("foreign", "does not chain to a trusted root"),
        ("other-host", "(www.example.com) is not for host 127.0.0.1"),
        ("wrong-host", "(myvault.vault.azure.net, *.vault.azure.net) is not for host 127.0.0.1"),
        ("non-ca-issuer", "issuer CN=an ordinary leaf of the trusted CA of CN=kv emulator key release signing "
                          "(non-ca-issuer) is not a CA (basic constraints)"),
        ("expired", "is outside its validity period"),
        ("key-usage", "key usage lacks digitalSignature"),
        ("client-auth-only", "extended key usage lacks serverAuth"),
        ("path-length", "issuer CN=kv emulator release CA allows 0 intermediate CAs below it, not 1 (path length)"),
    ],
)
def test_forged_release_chain_is_refused(skr: SkrEnv, variant: str, expected: str) -> None:
    (_, wrapped), = _wrapped(skr)
    skr.kv.release.chain_variant = variant
    message = _refused(skr, _backend(skr), wrapped, vault_released=True)
    assert "refusing the key release: release response for" in message and expected in message, message


def test_replayed_release_response_for_another_runtime_key_is_refused(skr: SkrEnv) -> None:
    (data_key, wrapped), = _wrapped(skr)
    assert _backend(skr).unwrap(wrapped) == data_key
    earlier = skr.kv.release.responses[-1]  # genuine, signed, for this key: but wrapped to the first worker's key
    azure_skr.forget_released_keys()
    skr.kv.release.replay_next = earlier
    message = _refused(skr, _backend(skr), wrapped, vault_released=True)
    assert "a replayed response" in message or "wrapped to another runtime key" in message, message


def test_jwks_key_not_matching_the_token_kid_is_refused(skr: SkrEnv) -> None:
    (_, wrapped), = _wrapped(skr)
    skr.maa.header_kid = "not-a-listed-kid"  # signed by the genuine key, but names another one
    message = _refused(skr, _backend(skr), wrapped)
    assert "attestation token is signed by key 'not-a-listed-kid', which" in message
    assert "/certs does not list" in message
    assert skr.kv.calls["release"] == 1  # Key Vault refused it too (its own JWKS lookup by kid)


def test_jwks_key_whose_n_e_disagree_with_its_certificate_is_refused(skr: SkrEnv) -> None:
    import hashlib

    from bigdl_ppml_az.kms.attestation import verify_maa_token

    token = skr.maa.attest(skr.quoting.quote(hashlib.sha256(b"").digest() + bytes(32), MEASURED), {}, 0)
    assert verify_maa_token(token, ca_bundle=str(skr.bundle)) == ""  # x5c-only JWKS, as MAA serves it
    skr.maa.jwks_with_ne = True
    assert verify_maa_token(token, ca_bundle=str(skr.bundle)) == ""  # n/e equal to the certificate's key
    skr.maa.jwks_bad_ne = True
    assert "n/e do not match its x5c certificate" in verify_maa_token(token, ca_bundle=str(skr.bundle))


def _snp_key(skr: SkrEnv, name: str) -> tuple[str, bytes, WrappedKey]:
    policy = skr_policy.build_policy(skr.maa.url, sevsnp_hostdata=HOSTDATA.hex())
    key_id = skr.create_key(name, policy)
    (data_key, wrapped), = _wrapped(skr, primaryKeyId=key_id)
    return key_id, data_key, wrapped


def _snp_options(skr: SkrEnv, key_id: str) -> dict[str, str]:
    return {"attestation": "sevsnp-sidecar", "sidecarEndpoint": skr.sidecar.url, "primaryKeyId": key_id}


@pytest.mark.parametrize(
    ("knob", "expected"),
    [("debug", "claim x-ms-sevsnpvm-is-debuggable: token has true, policy requires equals false"),
     ("vmpl", "claim x-ms-sevsnpvm-vmpl: token has 2, policy requires equals 0")],
)
def test_debuggable_or_other_vmpl_snp_guest_is_refused(skr: SkrEnv, knob: str, expected: str) -> None:
    key_id, data_key, wrapped = _snp_key(skr, f"skr-snp-{knob}")
    policy = skr_policy.build_policy(skr.maa.url, sevsnp_hostdata=HOSTDATA.hex())
    assert {"claim": "x-ms-sevsnpvm-is-debuggable", "equals": False} in policy["anyOf"][0]["allOf"]
    assert {"claim": "x-ms-sevsnpvm-vmpl", "equals": 0} in policy["anyOf"][0]["allOf"]
    if knob == "debug":
        skr.sidecar.debug = True  # the host can read this guest's memory
    else:
        skr.sidecar.vmpl = 2
    message = _refused(skr, _backend(skr, **_snp_options(skr, key_id)), wrapped)
    assert expected in message, message
    skr.sidecar.reset()
    assert _backend(skr, **_snp_options(skr, key_id)).unwrap(wrapped) == data_key


def test_token_from_another_maa_instance_is_refused_before_release(skr: SkrEnv) -> None:
    from urllib.parse import urlparse

    key_id, _, wrapped = _snp_key(skr, "skr-snp-issuer")
    skr.sidecar.maa_override = urlparse(skr.other_maa.url).netloc  # a sidecar that attests elsewhere
    message = _refused(skr, _backend(skr, **_snp_options(skr, key_id)), wrapped)
    assert f"attestation token issuer '{skr.other_maa.url}' is not the configured maaEndpoint {skr.maa.url}" in message
    assert skr.kv.calls["release"] == 0  # refused before any release


def test_release_is_retried_like_other_key_vault_calls(skr: SkrEnv) -> None:
    (data_key, wrapped), = _wrapped(skr)
    skr.kv.reset_counts()
    skr.kv.fail_next(408, 502)  # answered to the next two calls: the key get and the release (or both release)
    assert _backend(skr).unwrap(wrapped) == data_key
    assert skr.kv.faults[408] == 1 and skr.kv.faults[502] == 1


def test_release_role_names_managed_hsm_role() -> None:
    assert azure_skr.release_role("https://myhsm.managedhsm.azure.net") == "Managed HSM Crypto Service Release User"
    assert azure_skr.release_role("https://myvault.vault.azure.net/") == "Key Vault Crypto Service Release User"


def test_default_runtime_key_is_2048_bits(skr: SkrEnv) -> None:
    options = {k: v for k, v in skr.options().items() if k != "runtimeKeySize"}
    assert AzureSkrKms.from_options(options)._runtime_bits == 2048


class _Pki:
    """A trusted root CA -> intermediate CA, issuing leaves in the emulator's shape (kv_release._cert) for
    ``verify_x5c`` called directly: one key for every certificate, so a case costs a signature, not a key
    generation."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        from kv_release import _cert, _usage

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.root = _cert("test root CA", self.key, None, ca=True, usage=_usage(cert_sign=True))
        self.inter = _cert("test intermediate CA", self.key, (self.root.subject, self.key), ca=True, path_length=0,
                           usage=_usage(cert_sign=True))

    @staticmethod
    def x5c(*certs: Any) -> list[str]:
        import base64

        return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certs]

    def leaf(self, *hosts: str, issuer: Any = None, **kwargs: Any) -> list[str]:
        """x5c [leaf for hosts, its issuer (default the intermediate)]; kwargs go to kv_release._cert."""
        from kv_release import _cert, _usage

        parent = issuer or self.inter
        kwargs.setdefault("usage", _usage(sign=True))
        kwargs.setdefault("ca", False)
        cert = _cert("release signing", self.key, (parent.subject, self.key), hosts=hosts, **kwargs)
        return self.x5c(cert, parent)

    def check(self, x5c: list[str], host: str) -> str:
        """'' when cryptography's verifier accepts the chain for host, else the refusal text."""
        from bigdl_ppml_az.kms._jose import JoseError, verify_x5c

        try:
            verify_x5c(x5c, [self.root], "release response", host=host)
        except JoseError as exc:
            return str(exc)
        return ""


@pytest.fixture(scope="module")
def pki() -> _Pki:
    return _Pki()


def test_host_name_rules_follow_rfc_6125(pki: _Pki) -> None:
    """Name matching is the verifier's (cryptography's DNS pattern matching, RFC 6125): these cases pin it."""
    host = "myvault.vault.azure.net"
    assert pki.check(pki.leaf("MyVault.Vault.Azure.NET"), host) == ""
    assert pki.check(pki.leaf("*.vault.azure.net"), host) == ""
    assert pki.check(pki.leaf("*.managedhsm.azure.net"), "myhsm.managedhsm.azure.net") == ""
    assert pki.check(pki.leaf("127.0.0.1"), "127.0.0.1") == ""
    # Looser than the earlier hand-written rule (which wanted >= 3 labels in a wildcard pattern), as Go's verifier
    # in the sidecar is: a two-label wildcard matches. Public CAs may not issue one (CA/B Forum BR 3.2.2.6); no
    # vault or Managed HSM host has two labels.
    assert pki.check(pki.leaf("*.net"), "vault.net") == ""
    for names, target in [
        (("*.azure.net",), host),  # a wildcard stands for one label only
        (("my*.vault.azure.net",), host),  # partial wildcard
        (("*.*.azure.net",), host),
        (("myvault.vault.azure.net.evil.com",), host),
        (("*.vault.azure.net",), "vault.azure.net"),
        (("localhost",), "127.0.0.1"),  # an IP host needs an IP address entry
    ]:
        message = pki.check(pki.leaf(*names), target)
        assert f"is not for host {target}" in message, (names, message)
    from kv_release import _cert, _usage  # no subjectAltName at all: the CN does not count

    no_san = _cert(host, pki.key, (pki.inter.subject, pki.key), ca=False, usage=_usage(sign=True))
    assert "(no subjectAltName) is not for host" in pki.check(pki.x5c(no_san, pki.inter), host)
    assert "no vault host" in pki.check(pki.leaf(host), "")  # a host is required: no chain passes without one


def test_webpki_profile_refuses_what_the_hand_written_check_accepted(pki: _Pki) -> None:
    """The library is what refuses: chains the earlier hand-written check (signatures, dates, basic constraints,
    path length, key usage, SAN) let through, each refused by cryptography's Web PKI verifier (the JoseError's
    cause is its VerificationError)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.verification import VerificationError

    from bigdl_ppml_az.kms._jose import JoseError, verify_x5c
    from kv_release import _cert, _usage

    host = "myvault.vault.azure.net"
    constraints = x509.NameConstraints(permitted_subtrees=[x509.DNSName("contoso.com")], excluded_subtrees=None)
    scoped = _cert("CA for contoso.com only", pki.key, (pki.root.subject, pki.key), ca=True, path_length=0,
                   usage=_usage(cert_sign=True), extra=((constraints, True),))
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.311.99.1"), b"\x05\x00")
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_ca = _cert("CA with a 1024-bit key", weak, (pki.root.subject, pki.key), ca=True, path_length=0,
                    usage=_usage(cert_sign=True))
    weakly_signed = _cert("release signing", pki.key, (weak_ca.subject, weak), ca=False, hosts=(host,),
                          usage=_usage(sign=True))
    cases = {
        "name constraints": (pki.leaf(host, issuer=scoped), "name constraint"),
        "leaf that is a CA": (pki.leaf(host, ca=True), "basicConstraints.cA must not be asserted in an EE"),
        "unknown critical extension": (pki.leaf(host, extra=((unknown, True),)), "critical extension"),
        "1024-bit RSA issuing CA": (pki.x5c(weakly_signed, weak_ca), "RSA"),
    }
    for case, (x5c, expected) in cases.items():
        with pytest.raises(JoseError) as refused:
            verify_x5c(x5c, [pki.root], "release response", host=host)
        message = str(refused.value)
        assert isinstance(refused.value.__cause__, VerificationError), case
        assert message.startswith("release response: signing chain of CN=release signing refused by the X.509 "
                                  "verifier: ") and expected in message, (case, message)
    assert pki.check(pki.leaf(host), host) == ""  # the same issuance without the defect passes
    # Our one addition runs inside the verifier too (its extension policy), not as a check after it.
    for usage, expected in [(_usage(encipher=True), "key usage lacks digitalSignature"),
                            (_usage(sign=True, cert_sign=True), "EE keyUsage must not assert keyCertSign")]:
        with pytest.raises(JoseError, match=expected) as refused:
            verify_x5c(pki.leaf(host, usage=usage), [pki.root], "release response", host=host)
        assert isinstance(refused.value.__cause__, VerificationError)


def test_policy_check_reports_missing_snp_pins(skr: SkrEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from bigdl_ppml_az.cli import main

    monkeypatch.setenv("PPML_AZ_KV_CREDENTIAL", "emulator")
    monkeypatch.setenv("PPML_AZ_KV_CA_BUNDLE", str(skr.bundle))
    monkeypatch.setenv("PPML_AZ_KV_VERIFY_CHALLENGE_RESOURCE", "false")
    loose = {"version": "1.0.0", "anyOf": [{"authority": skr.maa.url, "allOf": [
        {"claim": "x-ms-attestation-type", "equals": "sevsnpvm"},
        {"claim": "x-ms-sevsnpvm-hostdata", "equals": HOSTDATA.hex()}]}]}
    policy_file = tmp_path / "loose.json"
    policy_file.write_text(json.dumps(loose))
    assert main(["keys", "create", "--kms", "azure-skr", "--vault", skr.kv.url, "--name", "skr-loose",
                 "--key-size", "2048", "--release-policy", str(policy_file)]) == 0
    err = capsys.readouterr().err
    assert "does not pin x-ms-sevsnpvm-is-debuggable equals false" in err
    assert "does not pin x-ms-sevsnpvm-vmpl equals 0" in err
    skr.sidecar.debug = True  # a debuggable guest satisfies this loose policy: check says so, and warns
    token_file = tmp_path / "token.jwt"
    token_file.write_text(skr.sidecar.attest(skr.maa.url.split("://", 1)[1], b"{}"))
    assert main(["keys", "policy", "check", "--vault", skr.kv.url, "--name", "skr-loose", "--token",
                 str(token_file)]) == 0
    captured = capsys.readouterr()
    assert "is satisfied" in captured.out and "x-ms-sevsnpvm-is-debuggable" in captured.err


def test_release_permission_error_names_the_role(skr: SkrEnv) -> None:
    (_, wrapped), = _wrapped(skr)
    skr.kv.deny("release")
    message = _refused(skr, _backend(skr), wrapped)
    assert "grant the identity keys/release (role Key Vault Crypto Service Release User)" in message, message


def test_parquet_modular_encryption_round_trip_through_pyarrow(skr: SkrEnv, tmp_path: Path) -> None:
    """pyarrow PME with kms=azure-skr: the footer and column keys are wrapped locally (RSA-OAEP-256) and unwrapped
    with the released key; before ``pme_master_key`` the unwrap assumed RSA-OAEP (SHA-1) and every read failed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bigdl_ppml_az.kms import KmsSettings
    from bigdl_ppml_az.kms.pme_client import decryption_properties, encryption_properties

    settings = KmsSettings.from_options(skr.options())
    table = pa.table({"id": list(range(50)), "name": [f"n{i}" for i in range(50)]})
    path = tmp_path / "pme.parquet"
    pq.write_table(table, path, encryption_properties=encryption_properties(settings, footer_key="anything"))
    assert path.read_bytes()[-4:] == b"PARE" and skr.kv.calls["release"] == 0  # writing needs no release
    assert pq.read_table(path, decryption_properties=decryption_properties(settings)).equals(table)
    assert skr.kv.calls["release"] == 1
