"""``ppml-az keys export-bigdl-data-key``: the BigDL data key *string* for ``--data-key-plaintext-file`` users.

BigDL's older tools (and ``ppml-az decrypt --data-key-plaintext-file``) take the data key string itself (Base64
of the unwrapped data key). Printing a secret is never a default: the string goes to a new 0600 file
(``--output``), or to stdout only with ``--stdout``; nothing about the key is logged.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, OutputExistsError, PpmlError, with_source
from ..formats import DataKey
from ..kms import WrappedKey, unwrap_cached
from ..kms.bigdl_keys import read_data_key_file
from ._kms_args import add_kms_arguments, kms_from_args

BIGDL_WRAP_ALGORITHM = ""  # the KMS picks its BigDL wrap (RSA-OAEP for Key Vault) when none is recorded


def register_export(actions: argparse._SubParsersAction[Any]) -> None:
    parser = actions.add_parser(
        "export-bigdl-data-key",
        help="print or save the BigDL data key string of a data key file (a secret: guarded)",
        description="Unwrap a BigDL data key file (--data-key) with its primary key and emit the data key string "
        "(Base64 of the unwrapped key) that --data-key-plaintext-file and BigDL's plaintext-key tools take. It is "
        "a secret: written to a new 0600 file with --output FILE, or printed with --stdout only.",
    )
    add_kms_arguments(parser, data_key_help="the BigDL data key file to unwrap (Base64 of the wrapped data key)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--output", metavar="FILE", help="write the string to this new file (mode 0600)")
    target.add_argument(
        "--stdout",
        "--i-understand-this-prints-a-secret",
        dest="stdout",
        action="store_true",
        help="print the string to stdout (it ends up wherever stdout goes: terminal scrollback, logs, pipes)",
    )
    parser.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    if not args.data_key:
        raise ConfigError("export-bigdl-data-key needs --data-key PATH: the BigDL data key file to unwrap")
    if not args.output and not args.stdout:
        raise ConfigError(
            "export-bigdl-data-key emits a secret; choose where: --output FILE (a new 0600 file) or --stdout "
            "(--i-understand-this-prints-a-secret)"
        )
    if args.output and os.path.lexists(args.output):
        raise OutputExistsError(f"{args.output}: exists; refusing to overwrite (choose another path)")
    kms = kms_from_args(args)
    wrapped = WrappedKey(kms.kms_type, "", BIGDL_WRAP_ALGORITHM, read_data_key_file(args.data_key))
    try:
        material = unwrap_cached(kms, wrapped)
    except PpmlError as exc:
        raise with_source(exc, args.data_key) from None
    key_string = DataKey(material).as_bigdl_string()
    if args.stdout:
        sys.stdout.write(key_string + "\n")
        sys.stdout.flush()
        return 0
    target = Path(args.output)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key_string + "\n")
    print(f"wrote the BigDL data key string of {args.data_key} to {args.output} (mode 0600)", file=sys.stderr)
    return 0
