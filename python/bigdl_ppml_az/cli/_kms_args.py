"""KMS flags shared by ``ppml-az`` commands, with BigDL PPML's spellings accepted as aliases.

BigDL users pass ``--kmsType AzureKeyManagementService --vaultName V --primaryKeyPath P --dataKeyPath D``;
the same words work here, next to the kebab-case forms.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from ..errors import ConfigError
from ..kms import LOCAL, KeyManagementService, KmsSettings, backend_for, build_kms, normalize_kms_type
from ..kms.registry import kms_option_names
from ..options import BOTH, Options

KMS_METAVAR = "{local,azure,<plug-in>}"

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
    return Options(given, labels=FLAG_LABELS).check(BOTH, extra=kms_option_names())


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
        help="key management service: local (primary key file), azure (Azure Key Vault) or an installed plug-in",
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
    group.add_argument(
        "--kms-option",
        action="append",
        default=[],
        dest="kms_option",
        metavar="NAME=VALUE",
        help="a backend option by its data source name (repeatable), e.g. a plug-in backend's settings",
    )


def kms_type_from_args(args: argparse.Namespace) -> str:
    if not args.kms:
        raise ConfigError("--kms is required: local (with --primary-key PATH) or azure (with --vault)")
    return normalize_kms_type(args.kms)


_FLAG_OPTIONS = (
    ("primary_key", "primaryKeyPath"),
    ("vault", "vault"),
    ("primary_key_name", "primaryKeyName"),
    ("client_id", "clientId"),
)


def kms_options(args: argparse.Namespace, **extra: str | None) -> Options:
    """Data-source style options (``kms``, ``primaryKeyPath``, ``vault``...) from the parsed flags, plus
    ``extra`` options (e.g. ``dataKeyPath``), as one checked :class:`Options`.

    The flags map to option names the same way for every backend; the backend decides what it needs (an Azure
    primary key file holds the key id, a local one the key). Flags a backend does not declare are refused.
    """
    kms_type = kms_type_from_args(args)
    if kms_type == LOCAL and not args.primary_key:  # the CLI's own wording for its most common mistake
        raise ConfigError(
            "--kms local needs --primary-key PATH (create one with `ppml-az keys create --kms local "
            "--primary-key PATH`)"
        )
    backend = backend_for(kms_type)
    accepted = {name.lower() for name in getattr(backend, "option_names", ())}
    options = {"kms": kms_type}
    for flag, option in _FLAG_OPTIONS:
        value = getattr(args, flag, None)
        if not value:
            continue
        if option.lower() not in accepted:
            raise ConfigError(f"--kms {args.kms} does not take --{flag.replace('_', '-')}; drop it")
        options[option] = value
    for item in getattr(args, "kms_option", None) or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--kms-option {item!r}: expected NAME=VALUE")
        if name.strip().lower() not in accepted:
            known = ", ".join(getattr(backend, "option_names", ())) or "none"
            raise ConfigError(f"--kms-option {name}: not an option of kms {kms_type} (it takes: {known})")
        options[name.strip()] = value
    portable = getattr(backend, "portable_options", None)  # e.g. read a driver-local key id file once, here
    final = dict(portable(options)) if portable is not None else options
    return flag_options({**final, **extra})


def kms_from_args(args: argparse.Namespace) -> KeyManagementService:
    """The KMS the flags describe (built through KmsSettings, like a Spark worker would build it)."""
    return build_kms(KmsSettings.from_options(kms_options(args)))
