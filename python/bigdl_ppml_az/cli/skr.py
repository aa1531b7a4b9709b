"""``ppml-az keys create --kms azure-skr`` and ``ppml-az keys policy show|check``: Secure Key Release keys.

``create`` makes an exportable RSA-HSM key whose release policy comes from ``--release-policy FILE`` or is built
from enclave measurements (``--sgx-mrenclave``, ``--sgx-mrsigner``, ``--sgx-isvprodid``, ``--sevsnp-hostdata``)
and the attestation provider (``--maa-endpoint``), and prints the policy it set. ``policy check`` evaluates an
attestation token's claims against a key's policy and names the first claim that fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, KmsError, OutputExistsError
from ..kms import KmsSettings, build_kms
from ._kms_args import add_kms_arguments

SKR = "azure-skr"


def add_create_arguments(create: argparse.ArgumentParser) -> None:
    group = create.add_argument_group(
        "secure key release (--kms azure-skr)",
        "the key is exportable only to workers whose attestation satisfies its release policy",
    )
    group.add_argument("--release-policy", metavar="FILE", help="release policy JSON (Key Vault policy grammar)")
    group.add_argument("--maa-endpoint", metavar="URL", help="attestation provider the policy trusts (https URL)")
    group.add_argument("--sgx-mrenclave", metavar="HEX", help="SGX enclave measurement (64 hex digits)")
    group.add_argument("--sgx-mrsigner", metavar="HEX", help="SGX enclave signer measurement (64 hex digits)")
    group.add_argument("--sgx-isvprodid", metavar="N", type=int, help="SGX ISV product id")
    group.add_argument("--sgx-min-svn", metavar="N", type=int, help="minimum SGX ISV security version")
    group.add_argument("--sevsnp-hostdata", metavar="HEX", help="SEV-SNP host data (container policy hash)")
    group.add_argument("--immutable-policy", action="store_true",
                       help="make the release policy immutable (nobody, vault admins included, can change it later)")


def _policy_from_args(args: argparse.Namespace) -> dict[str, Any]:
    from ..kms import skr_policy

    measured = any(
        getattr(args, name, None) is not None
        for name in ("sgx_mrenclave", "sgx_mrsigner", "sgx_isvprodid", "sgx_min_svn", "sevsnp_hostdata")
    )
    if args.release_policy:
        if measured:
            raise ConfigError("give either --release-policy FILE or measurements (--sgx-*/--sevsnp-hostdata), not both")
        try:
            data = Path(args.release_policy).read_bytes()[: skr_policy.MAX_POLICY_BYTES + 1]
        except OSError as exc:
            raise ConfigError(f"--release-policy {args.release_policy}: {exc.strerror}") from None
        return skr_policy.parse_policy(data, args.release_policy)
    if not args.maa_endpoint:
        raise ConfigError("keys create --kms azure-skr needs --release-policy FILE or --maa-endpoint URL with "
                          "measurements (--sgx-mrenclave/--sgx-mrsigner or --sevsnp-hostdata)")
    return skr_policy.build_policy(
        args.maa_endpoint,
        sgx_mrenclave=args.sgx_mrenclave,
        sgx_mrsigner=args.sgx_mrsigner,
        sgx_isvprodid=args.sgx_isvprodid,
        sgx_min_svn=args.sgx_min_svn,
        sevsnp_hostdata=args.sevsnp_hostdata,
    )


def create(args: argparse.Namespace) -> int:
    """``keys create --kms azure-skr``: the key, its id in --primary-key (if given), and the policy printed."""
    from ..kms.azure_skr import create_release_key

    if not args.vault or not args.primary_key_name:
        raise ConfigError("keys create --kms azure-skr needs --vault NAME_OR_URL and --name KEY_NAME")
    for path in (args.primary_key, args.data_key):
        if path and os.path.lexists(path):
            raise OutputExistsError(f"{path}: exists; refusing to overwrite a key file (choose another path)")
    policy = _policy_from_args(args)
    options = {"clientId": args.client_id} if args.client_id else {}
    key_id = create_release_key(
        args.vault, args.primary_key_name, policy, key_size=args.key_size, options=options,
        immutable=args.immutable_policy,
    )
    print(f"created exportable Key Vault key {key_id} with release policy:")
    print(json.dumps(policy, indent=2))
    _warn_missing_pins(policy)
    if args.primary_key:
        _write_key_id(args.primary_key, key_id)
        print(f"its id is in {args.primary_key}")
    if args.data_key:
        from ..kms import BIGDL_COMPAT, generate_data_key
        from ..kms.bigdl_keys import write_data_key_file

        kms = build_kms(KmsSettings(SKR, (("primaryKeyId", key_id), ("vault", args.vault))))
        _, wrapped = generate_data_key(kms, compat=BIGDL_COMPAT)
        write_data_key_file(args.data_key, wrapped.ciphertext)
        print(f"created data key file {args.data_key} (wrapped by {wrapped.key_id}, public key only)")
    return 0


def _warn_missing_pins(policy: dict[str, Any]) -> None:
    """Say on stderr when a SEV-SNP branch admits debuggable guests or another VMPL than 0."""
    from ..kms import skr_policy

    for warning in skr_policy.missing_pins(policy):
        print(f"warning: {warning}", file=sys.stderr)


def _write_key_id(path: str, key_id: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key_id + "\n")


def register_policy(actions: argparse._SubParsersAction[Any]) -> None:
    """Add ``keys policy show|check``."""
    policy = actions.add_parser("policy", help="show or check a Secure Key Release policy",
                                description="Show a key's release policy, or check an attestation token against it.")
    sub = policy.add_subparsers(dest="policy_command", metavar="ACTION")
    show = sub.add_parser(
        "show",
        help="print the key's release policy (JSON)",
        description="Print the release policy of a Secure Key Release key in Key Vault or Managed HSM, as JSON.",
    )
    add_kms_arguments(show, key_name_flags=("--name", "--primary-key-name"))
    show.set_defaults(func=_show, kms=SKR)
    check = sub.add_parser(
        "check",
        help="evaluate an attestation token against the key's policy",
        description="Verify an MAA token (signature from its issuer's /certs, expiry) and evaluate its claims "
        "against the key's release policy; exit 0 when it would be released, 1 naming the claim that fails.",
    )
    add_kms_arguments(check, key_name_flags=("--name", "--primary-key-name"))
    check.add_argument("--token", required=True, metavar="FILE", help="attestation token (JWT) file, or - for stdin")
    check.add_argument("--ca-bundle", metavar="PEM", help="CA bundle for the attestation provider's TLS")
    check.add_argument("--claims-only", action="store_true", help="skip the signature/expiry check")
    check.set_defaults(func=_check, kms=SKR)
    policy.set_defaults(func=lambda args: (policy.print_help(), 2)[1])


def _options(args: argparse.Namespace) -> dict[str, str]:
    from ..kms.bigdl_keys import read_primary_key_id

    if not args.vault and not args.primary_key:
        raise ConfigError("give --vault NAME_OR_URL with --name KEY_NAME, or --primary-key FILE")
    options: dict[str, str] = {}
    if args.vault:
        options["vault"] = args.vault
    if args.primary_key:
        options["primaryKeyId"] = read_primary_key_id(args.primary_key)
    elif args.primary_key_name:
        options["primaryKeyName"] = args.primary_key_name
    else:
        raise ConfigError("give --name KEY_NAME (or --primary-key FILE) to say which key")
    if args.client_id:
        options["clientId"] = args.client_id
    return options


def _show(args: argparse.Namespace) -> int:
    from ..kms.azure_skr import release_policy_of

    key_id, policy = release_policy_of(_options(args))
    if policy is None:
        raise KmsError(f"Key Vault key {key_id} has no release policy (not a Secure Key Release key)")
    print(json.dumps(policy, indent=2))
    return 0


def _check(args: argparse.Namespace) -> int:
    from ..kms import attestation, skr_policy
    from ..kms.azure_skr import release_policy_of

    try:
        token = (sys.stdin.read(1024 * 1024) if args.token == "-" else Path(args.token).read_text()[: 1024 * 1024])
    except OSError as exc:
        raise ConfigError(f"--token {args.token}: {exc.strerror}") from None
    token = token.strip()
    _, claims = attestation.token_claims(token)
    key_id, policy = release_policy_of(_options(args))
    if policy is None:
        raise KmsError(f"Key Vault key {key_id} has no release policy (not a Secure Key Release key)")
    if not args.claims_only:
        ca = args.ca_bundle or os.environ.get("PPML_AZ_KV_CA_BUNDLE")
        problem = attestation.verify_maa_token(token, ca_bundle=ca)
        if problem:
            print(f"release of {key_id} would be refused: {problem}")
            return 1
    _warn_missing_pins(policy)
    verdict = skr_policy.evaluate(policy, claims, str(claims.get("iss", "")))
    if verdict.ok:
        print(f"release policy of {key_id} is satisfied by this token (issuer {claims.get('iss')})")
        return 0
    print(f"release of {key_id} would be refused: {verdict.reason}")
    return 1
