"""``ppml-az table verify`` and ``ppml-az table seal``: check a whole table, or give a directory its first
table manifest (the library: :mod:`bigdl_ppml_az.table.check`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ConfigError
from ..options import Options
from ..table.check import TableReport, seal_table, verify_table
from ._kms_args import add_kms_arguments, kms_options
from .crypt import storage_options


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``table verify`` and ``table seal`` to the ppml-az parser."""
    table = subparsers.add_parser(
        "table",
        help="verify a whole encrypted table, or seal a directory as a table",
        description="Whole-table integrity: `verify` authenticates a table's manifest and every byte of every "
        "file; `seal` gives a directory written without a table manifest (ppml-az encrypt, BigDL) its first one.",
    )
    commands = table.add_subparsers(dest="table_command", metavar="COMMAND")
    verify = commands.add_parser(
        "verify",
        help="check a table completely: manifest MAC, version, set of files, every byte of every file",
        description="Verify the table at PATH: its manifest's MAC (through the KMS), its version against the "
        "head store (and --expect-version), that exactly the files it names are present, and every file "
        "decrypted and authenticated in full (the plaintext is discarded). Exit 0 when everything checks; "
        "otherwise one line naming the first file that failed, exit 1.",
    )
    _add_flags(verify)
    verify.add_argument(
        "--expect-version",
        type=int,
        metavar="N",
        help="fail unless the table is at version N (detects a rollback without a head store)",
    )
    verify.set_defaults(func=_verify)
    seal = commands.add_parser(
        "seal",
        help="authenticate every file of a directory and write its first table manifest",
        description="Seal PATH, a directory of encrypted files without a table manifest (ppml-az encrypt or "
        "BigDL output, or a ppml-enc table older than table manifests): every file is authenticated in full, "
        "then a table manifest (version 1, a new table id) records each file's size and content commitment "
        "under a MAC. Files are not rewritten. Plaintext files and files of another table are refused.",
    )
    _add_flags(seal)
    seal.add_argument(
        "--force",
        action="store_true",
        help="replace a table manifest that does not verify (only after you checked the files yourself)",
    )
    seal.set_defaults(func=_seal)
    table.set_defaults(func=lambda args: _usage(table))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="the table directory (local, file:// or abfss://)")
    add_kms_arguments(parser)
    heads = parser.add_argument_group("table head store (rollback detection)")
    heads.add_argument(
        "--head-store",
        metavar="STORE",
        help="where table versions are anchored: local, azure-keyvault or a plug-in (default: none)",
    )
    heads.add_argument("--head-path", metavar="FILE", help="local: the JSON file recording each table's version")
    heads.add_argument("--head-vault", metavar="NAME_OR_URL", help="azure-keyvault: the vault (default: --vault)")
    parser.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="storage option for abfss:// paths, as Spark's ABFS settings; repeatable",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="files done / total on stderr (default: only when stderr is a terminal)",
    )


def _options(args: argparse.Namespace) -> Options:
    """KMS, head store and storage options, as a ppml-enc read or write of the table would name them."""
    expect = getattr(args, "expect_version", None)
    if expect is not None and expect < 1:
        raise ConfigError(f"--expect-version {expect}: table versions start at 1")
    store = (args.head_store or "").strip().lower()
    if store in ("local", "file") and not args.head_path:
        raise ConfigError(
            "--head-store local needs --head-path FILE: a local JSON file, outside the tables' storage, recording "
            "each table's newest version"
        )
    for flag, value in (("--head-path", args.head_path), ("--head-vault", args.head_vault)):
        if value and store in ("", "none"):
            raise ConfigError(f"{flag} needs --head-store (local or azure-keyvault); without a store it does nothing")
    table = kms_options(
        args,
        tableHeadStore=args.head_store,
        tableHeadPath=args.head_path,
        tableHeadVault=args.head_vault,
        expectVersion=str(expect) if expect is not None else None,
    )
    return Options({**storage_options(args.conf), **table})


@contextmanager
def _progress(enabled: bool | None, verb: str) -> Iterator[Callable[[int, int], None] | None]:
    """A files-done bar on stderr (rich), when asked or when stderr is a terminal."""
    if not (sys.stderr.isatty() if enabled is None else enabled):
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ._console import make_console

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=make_console(stderr=True), transient=False) as bar:
        task = bar.add_task(verb, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _verify(args: argparse.Namespace) -> int:
    options = _options(args)
    with _progress(args.progress, "verifying") as progress:
        report = verify_table(args.path, options, progress)
    _print(report, "verified")
    if report.partial:
        print(f"every file authenticated as far as its format allows: the page data of {len(report.partial)} "
              f"aes_gcm_ctr_v1 file(s) is not authenticated by that format (e.g. {report.partial[0]})")  # fmt: skip
    else:
        print("every file authenticated")
    return 0


def _seal(args: argparse.Namespace) -> int:
    options = _options(args)
    with _progress(args.progress, "sealing") as progress:
        report = seal_table(args.path, options, progress, replace_unverified=args.force)
    _print(report, "sealed")
    print(f"every file authenticated before sealing; check the table later with: ppml-az table verify {report.path}")
    return 0


def _print(report: TableReport, verb: str) -> None:
    """The report, one fact per line; never a key (the manifest's wrapped key is not shown either)."""
    if report.head_store is None:
        head = "none configured"
    elif report.head_version is None:
        head = f"{report.head_store}: no record of this table"
    else:
        head = f"{report.head_store}: version {report.head_version}"
    print(f"{verb} table {report.path}")
    print(f"  table id:   {report.table_id}")
    print(f"  version:    {report.version}")
    print(f"  files:      {report.files} ({report.total_bytes} bytes)")
    print(f"  formats:    {', '.join(report.modes)}")
    print(f"  head store: {head}")
    for note in report.notes:
        print(f"ppml-az: note: {note}", file=sys.stderr)
