"""KMS flags shared by ``ppml-az`` commands, with BigDL PPML's spellings accepted as aliases.

BigDL users pass ``--kmsType AzureKeyManagementService --vaultName V --primaryKeyPath P --dataKeyPath D``;
the same words work here, next to the kebab-case forms.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from ..errors import ConfigError
from ..kms import LOCAL, KeyManagementService, KmsSettings, build_kms, normalize_kms_type
from ..kms.bigdl_keys import read_primary_key_id
from ..options import BOTH, Options

KMS_METAVAR = "{local,azure,AzureKeyManagementService}"

# The data source option each flag becomes, so messages about an option name the flag the user typed.
FLAG_LABELS = {
    "kms": "--kms",
    "primaryKeyPath": "--primary-key",
    "primaryKeyId": "--primary-key",
    "dataKeyPath": "--data-key",
    "vault": "--vault",
    "primaryKeyName": "--primary-key-name",
    "clientId": "--client-id",
    "segmentSize": "--segment-size",
}


def flag_options(values: Mapping[str, str | None]) -> Options:
    """Data-source style options from CLI flags (None = flag not given), checked against the same declared
    table as ``ppml-enc`` options: same names, same boolean and size syntax, flag names in messages."""
    given = {name: value for name, value in values.items() if value is not None}
    return Options(given, labels=FLAG_LABELS).check(BOTH)


def _flag(group: argparse._ArgumentGroup, names: Sequence[str], aliases: Sequence[str], **kwargs: str) -> None:
    """One documented flag plus hidden aliases (BigDL's spellings) writing the same destination."""
    group.add_argument(*names, **kwargs)  # type: ignore[arg-type]
    if aliases:
        hidden = {k: v for k, v in kwargs.items() if k in ("dest", "metavar")}
        group.add_argument(*aliases, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **hidden)  # type: ignore[arg-type]


def add_kms_arguments(
    parser: argparse.ArgumentParser,
    *,
    data_key_help: str = "BigDL data key file (Base64 of the wrapped data key); its key is used instead of a fresh one",
    key_name_flags: Sequence[str] = ("--primary-key-name",),
) -> None:
    group = parser.add_argument_group(
        "key management",
        "BigDL PPML spellings work too: --kmsType, --primaryKeyPath, --dataKeyPath, --vaultName, --primaryKeyName",
    )
    _flag(
        group,
        ["--kms"],
        ["--kms-type", "--kmsType", "--kms_type"],
        dest="kms",
        metavar=KMS_METAVAR,
        help="key management service: local (primary key file) or azure (Azure Key Vault)",
    )
    _flag(
        group,
        ["--primary-key", "--primary-key-path"],
        ["--primaryKeyPath", "--primary_key_path"],
        dest="primary_key",
        metavar="PATH",
        help="primary key file: 32 key bytes (local) or the Key Vault key id (azure)",
    )
    _flag(
        group,
        ["--data-key", "--data-key-path"],
        ["--dataKeyPath", "--data_key_path"],
        dest="data_key",
        metavar="PATH",
        help=data_key_help,
    )
    _flag(
        group,
        ["--vault"],
        ["--vault-name", "--vaultName"],
        dest="vault",
        metavar="NAME_OR_URL",
        help="Key Vault (azure)",
    )
    _flag(
        group,
        list(key_name_flags),
        ["--primaryKeyName"],
        dest="primary_key_name",
        metavar="NAME",
        help="Key Vault key name (azure)",
    )
    _flag(
        group,
        ["--client-id"],
        ["--clientId"],
        dest="client_id",
        metavar="ID",
        help="client id of the managed identity to authenticate with (azure)",
    )


def kms_type_from_args(args: argparse.Namespace) -> str:
    if not args.kms:
        raise ConfigError("--kms is required: local (with --primary-key PATH) or azure (with --vault)")
    return normalize_kms_type(args.kms)


def kms_options(args: argparse.Namespace, **extra: str | None) -> Options:
    """Data-source style options (``kms``, ``primaryKeyPath``, ``vault``...) from the parsed flags, plus
    ``extra`` options (e.g. ``dataKeyPath``), as one checked :class:`Options`."""
    kms_type = kms_type_from_args(args)
    options: dict[str, str | None] = {"kms": kms_type}
    if kms_type == LOCAL:
        if not args.primary_key:
            raise ConfigError(
                "--kms local needs --primary-key PATH (create one with `ppml-az keys create --kms local "
                "--primary-key PATH`)"
            )
        options["primaryKeyPath"] = args.primary_key
        return flag_options({**options, **extra})
    if args.primary_key:
        options["primaryKeyId"] = read_primary_key_id(args.primary_key)
    for flag, option in (("vault", "vault"), ("primary_key_name", "primaryKeyName"), ("client_id", "clientId")):
        value = getattr(args, flag, None)
        if value:
            options[option] = value
    return flag_options({**options, **extra})


def kms_from_args(args: argparse.Namespace) -> KeyManagementService:
    """The KMS the flags describe (built through KmsSettings, like a Spark worker would build it)."""
    return build_kms(KmsSettings.from_options(kms_options(args)))
