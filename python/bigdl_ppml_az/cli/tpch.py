"""``ppml-az tpch gen|encrypt|run|verify|report``: BigDL's TPC-H example flow on our formats and KMS.

``run`` also takes the guide's TpchQuery arguments positionally: ``INPUT_DIR OUTPUT_DIR INPUT_MODE OUTPUT_MODE
[QUERY...]`` (e.g. ``dbgen-encrypted out aes/cbc/pkcs5padding plain_text 1 5``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ..formats import AUTO, PLAIN, encrypted, normalize_mode
from ..options import Options

FORMAT_CHOICES = ("tbl", "csv", "parquet")


def _kms_arguments(parser: argparse.ArgumentParser) -> None:
    from ._kms_args import add_kms_arguments

    add_kms_arguments(parser)


def _kms_options(args: argparse.Namespace, required: bool) -> Options | None:
    from ._kms_args import kms_options

    if not getattr(args, "kms", None):
        if required:
            raise ConfigError("encrypted data needs --kms (local with --primary-key PATH, or azure with --vault)")
        return None
    return kms_options(args, dataKeyPath=getattr(args, "data_key", None) or None)


def _spark_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("spark")
    group.add_argument("--master", default="local[*]", help="Spark master (default local[*])")
    group.add_argument("--shuffle-partitions", type=int, default=8, help="spark.sql.shuffle.partitions (default 8)")
    group.add_argument("--driver-memory", default="2g", help="spark.driver.memory (default 2g)")


def _console() -> Any:
    from ._console import make_console

    return make_console()


# ---------------------------------------------------------------------------------------------------- gen


def _gen(args: argparse.Namespace) -> int:
    from ..tpch.datagen import generate

    console = _console()
    if not console.is_terminal:  # a log or a pipe: say what is running before the wait (SF 1 takes ~10 s)
        console.print(f"generating TPC-H SF {args.sf:g} ({args.format}) with tpchgen-cli into {args.out}/<table>/ ...")
    generate(args.sf, args.out, args.format, args.parts, args.overwrite)
    console.print(f"generated TPC-H SF {args.sf:g} ({args.format}) in {args.out}/<table>/")
    return 0


# ------------------------------------------------------------------------------------------------ encrypt


def _encrypt(args: argparse.Namespace) -> int:
    from ..tpch.datagen import encrypt_tables
    from ._kms_args import kms_from_args
    from .crypt import progress_spec

    results = encrypt_tables(
        args.input,
        args.output,
        kms_from_args(args),
        args.format,
        args.crypto_mode,
        force=args.force,
        data_key_file=args.data_key,
        progress=progress_spec(None),
    )
    console = _console()
    for table, result in results.items():
        console.print(f"{table:>9}: {result.summary()}")
    return 0


# ---------------------------------------------------------------------------------------------------- run


def _guide_positionals(args: argparse.Namespace) -> None:
    """Map the guide's ``INPUT OUTPUT INPUT_MODE OUTPUT_MODE [QUERY...]`` onto the flags."""
    values = list(args.guide or [])
    if not values:
        return
    if args.input:
        raise ConfigError("give the input either as --input or positionally, not both")
    names = ["input", "output", "input_crypto_mode", "output_crypto_mode"]
    for name, value in zip(names, values, strict=False):
        setattr(args, name, value)
    args.queries = (args.queries or []) + values[4:]


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _check_run_arguments(args: argparse.Namespace, kms: Mapping[str, str] | None) -> list[int]:
    """Everything ``tpch run`` can check without Spark, so a typo costs one line and no Spark start-up.

    Returns the query numbers. Local paths are checked for existence; remote (abfss://) ones are left to the run.
    """
    from ..kms import KmsSettings, build_kms
    from ..tpch.runner import parse_queries

    queries = parse_queries(args.queries)
    local_input = args.input[len("file://") :] if args.input.startswith("file://") else args.input
    if _is_local(args.input) and not os.path.isdir(local_input):
        raise ConfigError(f"--input {args.input}: no such directory; give the TPC-H data directory (see `tpch gen`)")
    if args.output and _is_local(args.output) and os.path.isfile(args.output):
        raise ConfigError(f"--output {args.output}: is a file; give a directory for the qNN.csv results")
    if kms:
        data_key = kms.get("dataKeyPath")
        if data_key and not os.path.isfile(data_key):
            raise ConfigError(f"--data-key {data_key}: no such file; give the BigDL data key file")
        build_kms(KmsSettings.from_options(kms))  # reads the local primary key file now, not in a Spark task
    return queries


def _run(args: argparse.Namespace) -> int:
    from ..kms import KmsSettings, build_kms
    from ..tpch import run, tables, write_results
    from ..tpch.session import spark_session

    _guide_positionals(args)
    if not args.input:
        raise ConfigError("--input DIR is required (the TPC-H data directory)")
    given_mode = normalize_mode(args.input_crypto_mode) if args.input_crypto_mode else None
    out_mode = normalize_mode(args.output_crypto_mode)
    kms = _kms_options(args, required=False)
    native = bool(getattr(args, "native", False))
    if native and given_mode is not None and not encrypted(given_mode):
        raise ConfigError("--native reads encrypted input; it needs an --input-crypto-mode other than plain_text")
    queries = _check_run_arguments(args, kms)
    spark = spark_session(args.master, args.shuffle_partitions, args.driver_memory, native=native)
    from ..bigdl_session import session_key_options

    kms_options = session_key_options(spark, kms)  # flags win; else the guide's spark.bigdl.* settings
    # Left out, the input mode is what tpch.tables picks: auto (detect) with a KMS, plain_text without one.
    in_mode = given_mode or normalize_mode(AUTO if kms_options or native else PLAIN)
    if kms_options is None and (encrypted(in_mode) or encrypted(out_mode)):
        raise ConfigError(
            "encrypted data needs --kms (local with --primary-key PATH, or azure with --vault), or the "
            "spark.bigdl.kms.* settings in the Spark conf"
        )
    t = tables(spark, args.input, args.format, in_mode, kms_options, native=native)
    console = _console()

    def progress(number: int, result: Any, seconds: float) -> None:
        console.print(f"Q{number:02d}  {len(result.rows):>5} rows  {seconds:8.2f} s")

    result = run(t, queries, on_query=progress)
    result.info.update(
        {
            "label": args.label,
            "input": args.input,
            "format": args.format,
            "inputCryptoMode": in_mode,
            "master": args.master,
            "sparkVersion": spark.version,
        }
    )
    console.print(f"total {result.total_seconds:.2f} s for {len(result.seconds)} queries")
    if args.output:
        backend = build_kms(KmsSettings.from_options(kms_options)) if kms_options and encrypted(out_mode) else None
        write_results(result, args.output, out_mode, backend)
        console.print(f"results ({out_mode}) and timings.json written to {args.output}")
    return 0


# ------------------------------------------------------------------------------------------------- verify


def print_checks(console: Any, checks: dict[str, list[Any]], seconds: dict[int, float] | None = None) -> bool:
    """A rich table per reference; True when every query passed."""
    from rich.table import Table

    ok = True
    for source, items in checks.items():
        table = Table(title=f"TPC-H results vs {source}")
        table.add_column("query")
        table.add_column("rows", justify="right")
        if seconds is not None:
            table.add_column("seconds", justify="right")
        table.add_column("verified")
        table.add_column("first difference", overflow="fold")
        for check in items:
            ok = ok and check.passed
            cells = [f"Q{check.query:02d}", str(check.rows)]
            if seconds is not None:
                cells.append(f"{seconds.get(check.query, 0.0):.2f}")
            cells += ["[green]✓[/green]" if check.passed else "[red]✗[/red]", check.detail]
            table.add_row(*cells)
        passed = sum(c.passed for c in items)
        footer = f"{passed}/{len(items)} queries match"
        if seconds is not None:
            footer += f"; total {sum(seconds.get(c.query, 0.0) for c in items):.2f} s"
        table.caption = footer
        console.print(table)
    return ok


def _verify(args: argparse.Namespace) -> int:
    from ..tpch import read_results
    from ..tpch.runner import parse_queries
    from ..tpch.verify import check_results

    if args.data is None and args.sf is None:
        raise ConfigError("give --data DATA_DIR (DuckDB on the same data) and/or --sf SF (DuckDB's stored answers)")
    kms = _kms_options(args, required=False)
    results = read_results(args.results, kms)
    if args.queries:
        wanted = set(parse_queries(args.queries))
        results = {q: r for q, r in results.items() if q in wanted}
    checks = check_results(results, args.data, args.format, args.data_crypto_mode, dict(kms) if kms else None, args.sf)
    return 0 if print_checks(_console(), checks) else 1


# ------------------------------------------------------------------------------------------------- report


def _report(args: argparse.Namespace) -> int:
    from ..tpch.report import bar_chart, markdown, run_label
    from ..tpch.runner import read_timings

    runs = [(run_label(read_timings(d), os.path.basename(d.rstrip("/"))), read_timings(d)) for d in args.runs]
    if args.labels:
        if len(args.labels) != len(runs):
            raise ConfigError(f"--labels needs one label per run ({len(runs)}), got {len(args.labels)}")
        runs = [(label, t) for label, (_, t) in zip(args.labels, runs, strict=True)]
    os.makedirs(args.out, exist_ok=True)
    md_path, png_path = os.path.join(args.out, "report.md"), os.path.join(args.out, "report.png")
    text = markdown(runs) + "\n![per-query wall time](report.png)\n"
    with open(md_path, "w", encoding="utf-8") as handle:
        handle.write(text)
    bar_chart(runs, png_path)
    sys.stdout.write(text)
    _console().print(f"wrote {md_path} and {png_path}")
    return 0


# --------------------------------------------------------------------------------------------- registration


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``ppml-az tpch ...`` to the parser."""
    tpch = subparsers.add_parser(
        "tpch",
        help="TPC-H: generate, encrypt, run the 22 queries, verify, report",
        description="BigDL PPML's TPC-H example on encrypted data: gen -> encrypt -> run -> verify -> report.",
    )
    commands = tpch.add_subparsers(dest="tpch_command", metavar="COMMAND")
    tpch.set_defaults(func=lambda _args: tpch.print_help() or 2)

    gen = commands.add_parser(
        "gen",
        help="generate TPC-H tables with tpchgen-cli (identical to official dbgen)",
        description="Generate the eight TPC-H tables with tpchgen-cli into OUT/<table>/ (tbl, csv or parquet).",
    )
    gen.add_argument("--sf", "--scale-factor", type=float, default=1.0, help="scale factor (default 1)")
    gen.add_argument("--out", "--output-dir", required=True, help="output directory (one sub-directory per table)")
    gen.add_argument("--format", choices=FORMAT_CHOICES, default="tbl", help="tbl (dbgen's, default), csv, parquet")
    gen.add_argument("--parts", type=int, default=1, help="files per large table (default 1)")
    gen.add_argument("--overwrite", action="store_true", help="replace existing tables")
    gen.set_defaults(func=_gen)

    enc = commands.add_parser(
        "encrypt",
        help="encrypt each table into its own directory",
        description="Encrypt each table under IN into OUT/<table>/ with one data key wrapped by the KMS; "
        "aes/cbc/pkcs5padding gives BigDL's layout with a .meta file per directory.",
    )
    enc.add_argument("input", metavar="IN", help="plaintext TPC-H directory")
    enc.add_argument("output", metavar="OUT", help="encrypted output directory (OUT/<table>/)")
    enc.add_argument("--format", choices=FORMAT_CHOICES, default="tbl", help="input format (default tbl)")
    enc.add_argument(
        "--crypto-mode",
        "--cryptoMode",
        default="ppml-gcm",
        help="ppml-gcm (default) or aes/cbc/pkcs5padding (BigDL layout with .meta)",
    )
    enc.add_argument("--force", action="store_true", help="overwrite existing outputs")
    _kms_arguments(enc)
    enc.set_defaults(func=_encrypt)

    run = commands.add_parser(
        "run",
        help="run TPC-H queries on plain or encrypted tables (the guide's TpchQuery)",
        description="Run TPC-H queries in Spark on plain or encrypted tables, through ppml-enc (or the JVM shim "
        "with --native). Arguments are checked before Spark starts. With --output, writes qNN.csv per query "
        "and timings.json. The guide's form INPUT OUTPUT INPUT_MODE OUTPUT_MODE [QUERY...] works too.",
    )
    run.add_argument("guide", nargs="*", metavar="ARG", help="INPUT_DIR OUTPUT_DIR INPUT_MODE OUTPUT_MODE [QUERY...]")
    run.add_argument("--input", help="TPC-H data directory (plain or encrypted)")
    run.add_argument("--format", choices=FORMAT_CHOICES, default="tbl", help="table format (default tbl)")
    run.add_argument(
        "--input-crypto-mode",
        help="auto, plain_text, ppml-gcm, aes/cbc/pkcs5padding... (default: auto with a KMS, else plain_text)",
    )
    run.add_argument("--output", help="results directory: qNN.csv per query plus timings.json")
    run.add_argument("--output-crypto-mode", default=PLAIN, help="plain_text (default) or ppml-gcm")
    run.add_argument("--queries", nargs="+", help="query numbers (default: all 22), e.g. 1 5 22")
    run.add_argument("--label", help="name of this run in reports")
    run.add_argument(
        "--native",
        action="store_true",
        help="decrypt in the JVM with Spark's own readers (codec for tbl/csv, Parquet Modular Encryption for parquet)",
    )
    _kms_arguments(run)
    _spark_arguments(run)
    run.set_defaults(func=_run)

    ver = commands.add_parser(
        "verify",
        help="compare results with DuckDB's answers on the same data",
        description="Compare a `tpch run --output` directory with DuckDB running its own TPC-H SQL over the same "
        "data (--data; decrypted in memory), or with DuckDB's stored answers (--sf). Exit code 1 on a mismatch.",
    )
    ver.add_argument("results", metavar="RESULTS_DIR", help="a `tpch run --output` directory")
    ver.add_argument("--data", help="the TPC-H data the results came from (plain or encrypted)")
    ver.add_argument("--format", choices=FORMAT_CHOICES, default="tbl", help="data format (default tbl)")
    ver.add_argument("--data-crypto-mode", default="auto", help="crypto mode of --data (default: detect)")
    ver.add_argument("--sf", type=float, help="also check DuckDB's stored answers (only for DuckDB dbgen data)")
    ver.add_argument("--queries", nargs="+", help="only these queries")
    _kms_arguments(ver)
    ver.set_defaults(func=_verify)

    rep = commands.add_parser(
        "report",
        help="Markdown table and PNG chart of per-query times (first run = baseline)",
        description="Write report.md and report.png comparing the per-query times of several `tpch run` "
        "directories; the first run is the baseline.",
    )
    rep.add_argument("runs", nargs="+", metavar="RESULTS_DIR", help="run directories; the first is the baseline")
    rep.add_argument("--labels", nargs="+", help="one label per run")
    rep.add_argument("--out", default=".", help="where report.md and report.png go (default .)")
    rep.set_defaults(func=_report)
