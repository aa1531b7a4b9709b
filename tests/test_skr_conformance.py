"""Secure Key Release against documents Microsoft published, not against our reading of them.

The fixtures in tests/fixtures/skr/ are verbatim copies (source, commit and SHA-256 of each in
tests/fixtures/skr/SOURCES): the MAA REST spec's signing-keys example (``Get_Certs.json``: keys as ``{x5c, kid,
kty}`` with no n/e) and attestation examples (``AttestSevSnpVm.json``, ``AttestSgxEnclave.json``: request bodies and
tokens, each checked to be a genuine, self-consistent exchange), the Key
Vault REST spec's ``release`` example and ``ReleasePolicy-example``, and the SKR
sidecar's sample release-policy claims (``importkeyconfig.json``: ``"equals": "false"`` / ``"0"``) and Managed HSM
setup script (``"version": "0.2"``). Each test feeds a published document to the client code (and to the Key Vault
emulator's separate evaluator) as is; the first test fails if a fixture drifts from its source.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.errors import KmsError
from bigdl_ppml_az.kms import _jose, attestation, skr_policy
from kv_release import KeyRelease
from skr_fixtures import HOSTDATA, MEASURED, SkrEnv, skr_fixture, skr_module_fixture  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures" / "skr"


def _sources() -> dict[str, list[str]]:
    rows = {}
    for line in (FIXTURES / "SOURCES").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            fields = [f.strip() for f in line.split(" | ")]
            assert len(fields) == 6, line
            rows[fields[0]] = fields[1:]
    return rows


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _json(name: str) -> dict[str, Any]:
    return json.loads(_fixture(name))


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_fixtures_are_the_published_bytes() -> None:
    sources = _sources()
    on_disk = {p.name for p in FIXTURES.iterdir() if p.name != "SOURCES"}
    assert on_disk == set(sources), "every fixture needs a SOURCES line, and every line a fixture"
    for name, (sha256, repository, path, commit, license_) in sources.items():
        assert hashlib.sha256(_fixture(name)).hexdigest() == sha256, f"{name} differs from {repository}/{path}"
        assert repository.startswith("https://github.com/") and path and re.fullmatch(r"[0-9a-f]{40}", commit)
        assert "MIT" in license_


# ---- MAA signing keys (/certs) ---------------------------------------------------------------------------
def _published_jwks() -> dict[str, Any]:
    return _json("maa-Get_Certs.json")["responses"]["200"]["body"]


def test_published_jwks_keys_have_no_n_e_and_are_read_from_x5c() -> None:
    keys = _published_jwks()["keys"]
    assert all(set(k) == {"x5c", "kid", "kty"} for k in keys)  # what the old n/e-only reader refused
    for key in keys:
        public = _jose.signing_key_from_jwk(key)
        assert public.key_size == 2048


def test_emulator_jwks_has_the_published_shape(skr: SkrEnv) -> None:
    published = _published_jwks()["keys"][0]
    served = attestation.http_json(f"{skr.maa.url}/certs", None, ca_bundle=str(skr.bundle), timeout=10, what="MAA")
    assert [set(k) for k in served["keys"]] == [set(published)]
    assert isinstance(base64.b64decode(served["keys"][0]["kid"]), bytes)  # MAA's kids are base64 of a hash


def test_token_is_checked_against_the_published_jwks_by_kid() -> None:
    """A token naming a published kid but not signed by it fails on its signature; one naming no listed kid
    fails on the kid; a listed kid whose x5c holds the signer verifies (a key of ours, published shape)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    jwks = _published_jwks()
    ours = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwks["keys"][0]["kid"]
    forged = _jose.parse_jws(_jose.sign_rs256({"kid": kid}, {"iss": "https://mytest.attest.azure.net"}, ours), "t")
    assert "(signed by an unknown key)" in attestation.verify_token_with_jwks(forged, "https://x", jwks)
    stray = _jose.parse_jws(_jose.sign_rs256({"kid": "other"}, {}, ours), "t")
    assert "signed by key 'other', which https://x/certs does not list" in attestation.verify_token_with_jwks(
        stray, "https://x", jwks)
    unnamed = _jose.parse_jws(_jose.sign_rs256({}, {}, ours), "t")
    assert "no kid header" in attestation.verify_token_with_jwks(unnamed, "https://x", jwks)


# ---- Key Vault release -------------------------------------------------------------------------------------
def _release_example() -> dict[str, Any]:
    return _json("keyvault-release-example.json")


def test_published_release_response_is_refused_as_unsigned(skr: SkrEnv) -> None:
    """The spec example's ``value`` is base64 of a plain JSON key bundle, not a signed JWS: nothing vouches for
    it, so the client refuses it before looking inside."""
    from bigdl_ppml_az.kms.azure_skr import AzureSkrKms, _ephemeral

    value = _release_example()["responses"]["200"]["body"]["value"]
    backend = AzureSkrKms.from_options(skr.options())
    key_id = "https://myvault.vault.azure.net/keys/exportable-aes-key/4eb68492b5f6421e835d961ad2be3155"
    with pytest.raises(KmsError, match="refusing the key release: release response for .* is not a compact JWS"):
        backend._open_release(value, key_id, _ephemeral(2048))


def test_emulator_release_payload_has_the_published_fields(skr: SkrEnv) -> None:
    from bigdl_ppml_az.kms.azure_skr import AzureSkrKms

    published = json.loads(base64.b64decode(_release_example()["responses"]["200"]["body"]["value"]))
    (_, wrapped), = _wrapped(skr)
    AzureSkrKms.from_options(skr.options()).unwrap(wrapped)
    payload = json.loads(_unb64u(skr.kv.release.responses[-1].split(".")[1]))
    bundle = payload["response"]["key"]
    assert set(published) == set(bundle)  # attributes, key, release_policy
    assert set(published["key"]) <= set(bundle["key"])  # kid, kty, key_ops, key_hsm (+ n, e for RSA keys)
    assert set(published["release_policy"]) == set(bundle["release_policy"]) - {"immutable"}
    request = _release_example()["parameters"]
    assert set(request["parameters"]) == {"target"}  # the client adds enc and nonce, both optional in the spec


def _wrapped(env: SkrEnv) -> list[tuple[bytes, Any]]:
    from bigdl_ppml_az.kms import generate_data_key
    from bigdl_ppml_az.kms.azure_skr import AzureSkrKms

    writer = AzureSkrKms.from_options({k: v for k, v in env.options().items() if k != "attestation"})
    return [generate_data_key(writer)]


def _both(policy: dict[str, Any], claims: dict[str, Any], issuer: str) -> tuple[bool, str]:
    """Our verdict, after checking the emulator's separate evaluator agrees."""
    ours = skr_policy.evaluate(policy, claims, issuer)
    branches = [b for b in policy["anyOf"] if skr_policy.normalize_authority(b["authority"])
                == skr_policy.normalize_authority(issuer)]
    theirs = any(KeyRelease._holds({"allOf": b["allOf"]}, claims)[0] for b in branches)
    assert ours.ok == theirs, (claims, ours.reason)
    return ours.ok, ours.reason


def test_published_release_policy_example_is_accepted_and_evaluated() -> None:
    """No version, the ``{"claim", "condition", "value"}`` form, and ``"value": "false"`` against a boolean."""
    policy = skr_policy.parse_policy(_fixture("keyvault-ReleasePolicy-example"), "ReleasePolicy-example")
    issuer = "http://localhost:8023/"
    signer = "86788fe40448f2a12e20bf8d5e7a1c3139bc5fdc1432b370c1da3489ab649a85"
    good = {"x-ms-sgx-mrsigner": signer, "x-ms-sgx-is-debuggable": False}
    assert _both(policy, good, issuer) == (True, "")
    ok, reason = _both(policy, {**good, "x-ms-sgx-is-debuggable": True}, issuer)
    assert not ok and "claim x-ms-sgx-is-debuggable: token has true, policy requires equals \"false\"" in reason
    # The example's own request token names its claims without the x-ms- prefix: Key Vault would refuse it.
    target = _release_example()["parameters"]["parameters"]["target"]
    _, claims = attestation.token_claims(target)
    ok, reason = _both(policy, claims, str(claims["iss"]))
    assert not ok and "claim x-ms-sgx-mrsigner: absent from the token" in reason
    # The emulator takes it as a key's policy (no version) too.
    KeyRelease.check_policy(None, {"data": base64.urlsafe_b64encode(_fixture("keyvault-ReleasePolicy-example"))
                                   .decode().rstrip("=")})  # type: ignore[arg-type]


def test_published_release_example_token_is_expired_and_unverifiable() -> None:
    target = _release_example()["parameters"]["parameters"]["target"]
    problem = attestation.verify_maa_token(target, ca_bundle=None)
    assert problem.startswith("attestation token expired at 2020-04-27T")


# ---- the SKR sidecar's sample policies -----------------------------------------------------------------------
def _sidecar_policy(authority: str) -> dict[str, Any]:
    """The policy the sidecar's tooling builds from importkeyconfig.json claims: one allOf per claims list
    (placeholders replaced: the host data by ours)."""
    config = _json("sidecar-importkeyconfig.json")
    branches = []
    for claims in config["claims"]:
        conditions = [dict(c) for c in claims]
        for cond in conditions:
            if cond["claim"] == "x-ms-sevsnpvm-hostdata":
                cond["equals"] = HOSTDATA.hex()
        branches.append({"authority": authority, "allOf": conditions})
    return {"version": "1.0.0", "anyOf": branches}


def test_sidecar_policy_strings_match_typed_claims(skr: SkrEnv) -> None:
    """``"equals": "false"`` meets MAA's boolean false and ``"0"`` its number 0 (token from the emulator, which
    issues the claim types of the REST spec's SevSnpVm example)."""
    policy = skr_policy.parse_policy(_sidecar_policy(skr.maa.url), "importkeyconfig.json")
    assert {"claim": "x-ms-sevsnpvm-is-debuggable", "equals": "false"} in policy["anyOf"][0]["allOf"]
    assert {"claim": "x-ms-sevsnpvm-vmpl", "equals": "0"} in policy["anyOf"][0]["allOf"]
    assert skr_policy.missing_pins(policy) == []
    _, claims = attestation.token_claims(skr.sidecar.attest(skr.maa.url.split("://", 1)[1], b'{"keys":[]}'))
    assert claims["x-ms-sevsnpvm-is-debuggable"] is False and claims["x-ms-sevsnpvm-vmpl"] == 0
    assert _both(policy, claims, skr.maa.url) == (True, "")
    ok, reason = _both(policy, {**claims, "x-ms-sevsnpvm-is-debuggable": True}, skr.maa.url)
    assert not ok and "x-ms-sevsnpvm-is-debuggable" in reason
    ok, reason = _both(policy, {**claims, "x-ms-sevsnpvm-vmpl": 1}, skr.maa.url)
    assert not ok and "x-ms-sevsnpvm-vmpl" in reason


def test_sidecar_key_with_that_policy_is_released_end_to_end(skr: SkrEnv) -> None:
    from bigdl_ppml_az.kms import generate_data_key
    from bigdl_ppml_az.kms.azure_skr import AzureSkrKms

    key_id = skr.create_key("skr-sidecar-sample", _sidecar_policy(skr.maa.url))
    options = skr.options(primaryKeyId=key_id, attestation="sevsnp-sidecar", sidecarEndpoint=skr.sidecar.url)
    data_key, wrapped = generate_data_key(AzureSkrKms.from_options({k: v for k, v in options.items()
                                                                    if k != "attestation"}))
    assert AzureSkrKms.from_options(options).unwrap(wrapped) == data_key


def test_managed_hsm_script_policy_version_0_2_is_accepted(skr: SkrEnv) -> None:
    script = _fixture("sidecar-setup-key-mhsm.sh").decode()
    assert '"version":"0.2"' in script
    claim = json.loads(re.search(r"echo '(\{\"claim\":\"x-ms-attestation-type\"[^']*\}),'", script).group(1))
    policy = {"anyOf": [{"authority": skr.maa.url, "allOf": [claim]}], "version": "0.2"}
    assert skr_policy.parse_policy(json.dumps(policy), "setup-key-mhsm.sh")
    assert skr.create_key("skr-version-0-2", policy)  # Key Vault (emulator) accepts it as a key's policy
    warnings = skr_policy.missing_pins(policy)  # and `policy check` says what it leaves out
    assert len(warnings) == 2 and "x-ms-sevsnpvm-is-debuggable equals false" in warnings[0]


def test_dotted_claim_names_navigate_nested_claims() -> None:
    """Dot notation as the policy grammar documents it (learn.microsoft.com/azure/key-vault/keys/policy-grammar,
    MicrosoftDocs/azure-docs includes/key-management-policy-grammar.md): the confidential VM claims sit under
    ``x-ms-isolation-tee``."""
    policy = {"version": "1.0.0", "anyOf": [{"authority": "https://sharedeus.eus.attest.azure.net", "allOf": [
        {"claim": "x-ms-isolation-tee.x-ms-attestation-type", "equals": "sevsnpvm"},
        {"claim": "x-ms-isolation-tee.x-ms-compliance-status", "equals": "azure-compliant-cvm"}]}]}
    claims = {"x-ms-isolation-tee": {"x-ms-attestation-type": "sevsnpvm", "x-ms-compliance-status":
                                     "azure-compliant-cvm", "x-ms-sevsnpvm-is-debuggable": False}}
    issuer = "https://sharedeus.eus.attest.azure.net/"
    assert _both(policy, claims, issuer) == (True, "")
    ok, reason = _both(policy, {"x-ms-isolation-tee": {"x-ms-attestation-type": "sgx"}}, issuer)
    assert not ok and "x-ms-isolation-tee.x-ms-attestation-type" in reason
    assert len(skr_policy.missing_pins(policy)) == 2  # a CVM policy without the debug/VMPL pins is named


def test_equals_coercion_rules() -> None:
    cases = [(False, "false", True), (True, "True", True), (False, "0", False), (0, "0", True), (0, "0.0", True),
             (7, 7.0, True), (True, 1, False), ("abc", "ABC", False), ({"a": 1}, "{'a': 1}", False),
             (3, "three", False), ("7", 7, True)]
    for have, want, expected in cases:
        assert skr_policy._equal(have, want) is expected, (have, want)
        assert KeyRelease._same(have, want) is expected, (have, want)


# ---- MAA attest/SevSnpVm ---------------------------------------------------------------------------------------
def _snp_example() -> tuple[dict[str, Any], dict[str, Any]]:
    example = _json("maa-AttestSevSnpVm.json")
    return example["parameters"]["request"], example["responses"]["200"]["body"]


def test_published_snp_example_is_self_consistent() -> None:
    """The example is a real exchange: its SNP report is signed by the VCEK in it (chained to AMD's ARK), report
    data is SHA-256 of the runtime data, and the token's claims are the report's fields."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    request, response = _snp_example()
    evidence = json.loads(_unb64u(request["report"]))
    report = _unb64u(evidence["SnpReport"])
    with _no_warning():  # cryptography warns about a non-positive serial number in AMD's chain
        certs = x509.load_pem_x509_certificates(_unb64u(evidence["VcekCertChain"]))
    for child, parent in zip(certs, certs[1:], strict=False):
        child.verify_directly_issued_by(parent)
    signature = report[0x2A0:]
    der = encode_dss_signature(int.from_bytes(signature[:72], "little"), int.from_bytes(signature[72:144], "little"))
    certs[0].public_key().verify(der, report[:0x2A0], ec.ECDSA(hashes.SHA384()))  # type: ignore[call-arg]
    runtime = _unb64u(request["runtimeData"]["data"])
    _, claims = attestation.token_claims(response["token"])
    assert claims["x-ms-sevsnpvm-reportdata"] == (hashlib.sha256(runtime).digest() + bytes(32)).hex()
    assert claims["x-ms-runtime"] == json.loads(runtime)
    assert claims["x-ms-sevsnpvm-hostdata"] == report[0xC0:0xE0].hex()


def _no_warning() -> Any:
    import contextlib
    import warnings

    @contextlib.contextmanager
    def quiet() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield

    return quiet()


def test_emulated_snp_evidence_has_the_published_shape(skr: SkrEnv) -> None:
    from maa_emulator import snp_evidence, snp_report_from_evidence

    request, _ = _snp_example()
    published = json.loads(_unb64u(request["report"]))
    ours = json.loads(snp_evidence(b"report", b"-----BEGIN CERTIFICATE-----\n"))
    assert set(ours) == set(published) == {"SnpReport", "VcekCertChain"}
    assert len(snp_report_from_evidence(_unb64u(request["report"]))) == 1184  # the emulator reads the real body
    assert set(request) == {"report", "runtimeData"} and set(request["runtimeData"]) == {"data", "dataType"}


def test_emulated_snp_token_has_the_published_claim_types(skr: SkrEnv) -> None:
    from bigdl_ppml_az.kms.azure_skr import _ephemeral

    _, response = _snp_example()
    _, published = attestation.token_claims(response["token"])
    ephemeral = _ephemeral(2048)
    _, ours = attestation.token_claims(skr.sidecar.attest(skr.maa.url.split("://", 1)[1], ephemeral.runtime_data))
    for claim in ("x-ms-attestation-type", "x-ms-compliance-status", "x-ms-sevsnpvm-hostdata",
                  "x-ms-sevsnpvm-is-debuggable", "x-ms-sevsnpvm-vmpl", "nonce", "iss", "exp", "iat", "nbf"):
        assert type(ours[claim]) is type(published[claim]), claim
    assert ours["x-ms-attestation-type"] == published["x-ms-attestation-type"] == "sevsnpvm"
    assert set(ours["x-ms-runtime"]["keys"][0]) == set(published["x-ms-runtime"]["keys"][0])  # kid kty key_ops e n
    header, _ = attestation.token_claims(response["token"])
    assert {"alg", "kid", "jku"} <= set(header) and header["alg"] == "RS256"


def test_published_snp_token_against_the_sidecar_policy() -> None:
    """The sidecar's string values against the real token's boolean and number claims, in both evaluators."""
    _, response = _snp_example()
    _, claims = attestation.token_claims(response["token"])
    issuer = str(claims["iss"])
    config_claims = _json("sidecar-importkeyconfig.json")["claims"][0]
    pins = [c for c in config_claims if c["claim"] in ("x-ms-sevsnpvm-is-debuggable", "x-ms-sevsnpvm-vmpl")]
    assert [c["equals"] for c in pins] == ["false", "0"] and claims["x-ms-sevsnpvm-is-debuggable"] is False
    assert _both({"version": "1.0.0", "anyOf": [{"authority": issuer, "allOf": pins}]}, claims, issuer) == (True, "")
    full = {"version": "1.0.0", "anyOf": [{"authority": issuer, "allOf": [
        {**c, "equals": claims["x-ms-sevsnpvm-hostdata"]} if c["claim"] == "x-ms-sevsnpvm-hostdata" else c
        for c in config_claims]}]}
    ok, reason = _both(full, claims, issuer)  # a confidential VM's token: compliance status azure-compliant-cvm
    assert not ok and "claim x-ms-compliance-status: token has \"azure-compliant-cvm\"" in reason
    assert attestation.verify_maa_token(response["token"], ca_bundle=None).startswith(
        "attestation token expired at 2022-09-22T")
    hcl_key = claims["x-ms-runtime"]["keys"][0]
    attestation.check_token_binding(response["token"], issuer + "/", hcl_key)  # the key it carries is found
    with pytest.raises(KmsError, match="does not carry this worker's runtime key"):
        attestation.check_token_binding(response["token"], issuer, {**hcl_key, "kid": "another"})
    with pytest.raises(KmsError, match="is not the configured maaEndpoint https://sharedeus.eus.attest.azure.net"):
        attestation.check_token_binding(response["token"], "https://sharedeus.eus.attest.azure.net", hcl_key)


# ---- MAA attest/SgxEnclave ------------------------------------------------------------------------------------
def test_published_sgx_example_is_self_consistent() -> None:
    """A real DCAP exchange: the quote verifies (attestation key, QE report under the PCK chain to Intel's root),
    its report data is SHA-256 of the runtime data (the binding our Gramine provider makes), and the token names
    the quote's hash and measurements."""
    import struct

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    example = _json("maa-AttestSgxEnclave.json")
    request, token = example["parameters"]["request"], example["responses"]["200"]["body"]["token"]
    quote = _unb64u(request["quote"])

    def ecdsa(raw: bytes) -> bytes:
        return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"))

    key = quote[500:564]
    attest_key = ec.EllipticCurvePublicNumbers(int.from_bytes(key[:32], "big"), int.from_bytes(key[32:], "big"),
                                               ec.SECP256R1()).public_key()
    attest_key.verify(ecdsa(quote[436:500]), quote[:432], ec.ECDSA(hashes.SHA256()))
    (auth_len,) = struct.unpack_from("<H", quote, 1012)
    cert_type, cert_size = struct.unpack_from("<HI", quote, 1014 + auth_len)
    pck = x509.load_pem_x509_certificates(quote[1020 + auth_len: 1020 + auth_len + cert_size].rstrip(b"\0"))
    pck[0].public_key().verify(ecdsa(quote[948:1012]), quote[564:948], ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg]
    for child, parent in zip(pck, pck[1:], strict=False):
        child.verify_directly_issued_by(parent)
    assert cert_type == 5 and len(pck) == 3
    runtime = _unb64u(request["runtimeData"]["data"])
    assert quote[48 + 320: 48 + 352] == hashlib.sha256(runtime).digest()
    _, claims = attestation.token_claims(token)
    assert claims["maa-attestationcollateral"]["maa-quotehash"] == hashlib.sha256(quote).hexdigest()
    assert claims["sgx-mrenclave"] == quote[48 + 64: 48 + 96].hex()  # where the emulator's simulated quote has it


def test_gramine_provider_sends_the_published_sgx_body(skr: SkrEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our request has exactly the published fields; dataType JSON (the spec's other value, Binary, makes MAA put
    the data in a hash claim instead of x-ms-runtime, which Key Vault needs for the runtime key)."""
    from bigdl_ppml_az.kms.attestation import GramineSgxProvider

    published = _json("maa-AttestSgxEnclave.json")["parameters"]["request"]
    sent: list[dict[str, Any]] = []

    def capture(url: str, body: dict[str, Any] | None, **kwargs: Any) -> dict[str, Any]:
        sent.append(body or {})
        return {"token": "a.b.c"}

    monkeypatch.setattr(attestation, "http_json", capture)
    provider = GramineSgxProvider(str(skr.device.directory), skr.maa.url, str(skr.bundle), 10)
    provider.attestation_token(b'{"keys":[]}')
    assert set(sent[0]) == set(published) and set(sent[0]["runtimeData"]) == set(published["runtimeData"])
    assert published["runtimeData"]["dataType"] == "Binary" and sent[0]["runtimeData"]["dataType"] == "JSON"
    assert len(_unb64u(sent[0]["quote"])) > 432  # header + report body, then the signature data


def test_published_sgx_token_is_refused_as_expired() -> None:
    token = _json("maa-AttestSgxEnclave.json")["responses"]["200"]["body"]["token"]
    assert attestation.verify_maa_token(token, ca_bundle=None).startswith("attestation token expired at 2020-09-30T")
