"""``ppml-az keys create``: a primary key (local file or Azure Key Vault key) and optionally a BigDL data key file.

The successor of BigDL PPML's key generation step: ``--kmsType AzureKeyManagementService --vaultName V
--primaryKeyPath P --dataKeyPath D`` works with the same words.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError, KmsError, OutputExistsError
from ..formats.bigdl import BIGDL_RSA_BITS
from ..kms import AZURE, BIGDL_COMPAT, LOCAL, KeyManagementService, KmsSettings, build_kms, generate_data_key
from ..kms.bigdl_keys import write_data_key_file
from ..kms.local import LocalKms
from . import skr
from ._kms_args import add_kms_arguments, kms_type_from_args

DEFAULT_RSA_KEY_SIZE = 3072


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``keys create`` to the ppml-az parser."""
    keys = subparsers.add_parser("keys", help="create primary and data keys", description="Manage keys.")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create a primary key file (and a BigDL data key file)",
        description="Create a primary key: a new 32-byte local key file (mode 0600), or an RSA key in Azure Key "
        "Vault whose key id is written to the primary key file. With --data-key also write a BigDL-style data "
        "key file (Base64 of 32 random bytes wrapped by the primary key). Existing files are never overwritten.",
    )
    add_kms_arguments(
        create,
        data_key_help="also write a BigDL data key file here (Base64 of the wrapped data key)",
        key_name_flags=("--name", "--primary-key-name"),
    )
    create.add_argument(
        "--key-size",
        type=int,
        default=None,
        metavar="BITS",
        help=f"RSA key size of a new Key Vault key (default {DEFAULT_RSA_KEY_SIZE}; {BIGDL_RSA_BITS} with --bigdl)",
    )
    create.add_argument(
        "--bigdl",
        action="store_true",
        help=f"a key for BigDL's aes/cbc/pkcs5padding layout: a {BIGDL_RSA_BITS}-bit Key Vault key, the largest "
        "whose wrapped data keys fit BigDL's 400-byte header",
    )
    skr.add_create_arguments(create)
    create.set_defaults(func=_create)
    skr.register_policy(actions)
    from .keys_export import register_export

    register_export(actions)
    keys.set_defaults(func=lambda args: _usage(keys))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _refuse_existing(*paths: str | None) -> None:
    for path in paths:
        if path and os.path.lexists(path):
            raise OutputExistsError(f"{path}: exists; refusing to overwrite a key file (choose another path)")
        if path:
            _check_parents(path)


def _check_parents(path: str) -> None:
    """A key path below an existing file (``a.txt/key``) cannot be created: say so before mkdir fails."""
    for parent in Path(path).parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise ConfigError(f"{path}: {parent} exists and is not a directory; choose another key path")
            return


def _create(args: argparse.Namespace) -> int:
    kms_type = kms_type_from_args(args)
    if kms_type == skr.SKR:
        return skr.create(args)
    if not args.primary_key:
        raise ConfigError("keys create needs --primary-key PATH: the primary key file to write")
    _refuse_existing(args.primary_key, args.data_key)
    kms: KeyManagementService
    if kms_type == LOCAL:
        kms = LocalKms.create(args.primary_key)
        print(f"created primary key file {args.primary_key} (mode 0600, key id {kms.key_id})")
    elif kms_type == AZURE:
        kms = _create_azure_key(args)
    else:
        raise ConfigError(
            f"--kms {args.kms}: keys create makes local key files and Key Vault keys only; "
            "create this backend's primary key with its own tools"
        )
    if args.data_key:
        _, wrapped = generate_data_key(kms, compat=BIGDL_COMPAT)
        write_data_key_file(args.data_key, wrapped.ciphertext)
        print(f"created data key file {args.data_key} (wrapped by {wrapped.key_id})")
    return 0


def _create_azure_key(args: argparse.Namespace) -> KeyManagementService:
    if not args.vault:
        raise ConfigError("keys create --kms azure needs --vault NAME_OR_URL (or BigDL's --vaultName): the Key Vault "
                          "to create the key in")  # fmt: skip
    if not args.primary_key_name:  # BigDL's GenerateKeys made up a name ("key-" and four digits); here you choose
        raise ConfigError(
            f"keys create --kms azure needs --name KEY_NAME: the name of the new key in vault {args.vault} (BigDL "
            "made one up; choose one, e.g. --name ppml-key)"
        )
    if args.key_size is None:
        args.key_size = BIGDL_RSA_BITS if args.bigdl else DEFAULT_RSA_KEY_SIZE
    if args.bigdl and args.key_size != BIGDL_RSA_BITS:
        raise ConfigError(
            f"--key-size {args.key_size} with --bigdl: BigDL's header holds the wrapped key of a {BIGDL_RSA_BITS}-bit "
            "RSA key only; drop --key-size, or drop --bigdl and use --crypto-mode ppml-gcm"
        )
    if args.key_size < 2048:
        raise ConfigError(f"--key-size {args.key_size}: Key Vault RSA keys are 2048, 3072 or 4096 bits")
    try:
        from ..kms.azure import create_primary_key  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise KmsError(f"Azure Key Vault backend unavailable ({exc})") from None
    key_id = str(
        create_primary_key(
            vault=args.vault, name=args.primary_key_name, key_size=args.key_size, client_id=args.client_id
        )
    )
    _write_primary_key_id(args.primary_key, key_id)
    print(f"created Key Vault key {key_id}; its id is in {args.primary_key}")
    options = [("primaryKeyId", key_id), ("vault", args.vault)]
    if args.client_id:
        options.append(("clientId", args.client_id))
    return build_kms(KmsSettings(kms_type_from_args(args), tuple(sorted(options))))


def _write_primary_key_id(path: str, key_id: str) -> None:
    """BigDL's AzureKeyManagementService primary key file: the key id as text (0600, never overwritten)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OutputExistsError(f"{path}: exists; refusing to overwrite a key file") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key_id + "\n")
