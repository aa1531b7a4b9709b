"""``ppml-az demo``: the whole story on one machine, with the embedded defaults.

Generate TPC-H (SF 0.1) with tpchgen-cli, create a local primary key, encrypt every table with ppml-gcm, have
DuckDB answer the queries with its own TPC-H SQL over the same encrypted tables (decrypted in memory), run the
22 queries in Spark through ``ppml-enc`` on the encrypted tables, check each answer as its query finishes, and
print results and times. Exits 1 if any query disagrees.

On a terminal the queries show as a live progress bar; in a log or a pipe (``./dev demo | tee log``) each query
prints one line as it finishes: ``Q05  3.21 s  5 rows  verified``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from ..errors import ConfigError


class StepClock:
    """Prints each demo step as it starts and, when it ends, how long that step took (not the time since start).

    The old ``(15.3 s)`` markers were cumulative start times, which read like durations and were not.
    """

    def __init__(self, console: Any, clock: Callable[[], float] = time.perf_counter) -> None:
        self.console, self.clock = console, clock
        self.started = clock()
        self.durations: list[tuple[str, float]] = []

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        self.console.print(f"[bold cyan]==>[/bold cyan] {text}")
        begin = self.clock()
        yield
        seconds = self.clock() - begin
        self.durations.append((text, seconds))
        self.console.print(f"    [dim]step took {seconds:.1f} s[/dim]")

    def total(self) -> float:
        return self.clock() - self.started


def query_line(check: Any, seconds: float) -> str:
    """The line a finished query prints when the output is not a terminal."""
    verdict = "verified" if check.passed else f"DIFFERS from DuckDB: {check.detail}"
    return f"Q{check.query:02d}  {seconds:7.2f} s  {check.rows:>6} rows  {verdict}"


def _demo(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..kms.local import LocalKms
    from ..tpch import run, tables
    from ..tpch.datagen import encrypt_tables, generate
    from ..tpch.reference import reference_answers
    from ..tpch.runner import parse_queries
    from ..tpch.session import spark_session
    from ..tpch.verify import Check, compare
    from ._console import make_console
    from .tpch import print_checks

    if args.sf <= 0:
        raise ConfigError(f"--sf must be positive, not {args.sf}")
    queries = parse_queries(args.queries)  # a bad query number fails now, not after generating and encrypting
    console = make_console()
    clock = StepClock(console)
    work = os.path.abspath(args.workdir)
    plain, encrypted = os.path.join(work, f"sf{args.sf:g}", "plain"), os.path.join(work, f"sf{args.sf:g}", "encrypted")
    key_path = args.primary_key or os.path.join(work, "keys", "primary.key")

    with clock.step(f"generating TPC-H SF {args.sf:g} with tpchgen-cli into {plain}"):
        generate(args.sf, plain, "tbl", overwrite=True)
    if os.path.exists(key_path):
        with clock.step(f"using the local primary key {key_path}"):
            kms_backend = LocalKms.load(key_path)
    else:
        with clock.step(f"creating a local primary key {key_path} (mode 0600)"):
            kms_backend = LocalKms.create(key_path)
    kms = {"kms": "local", "primaryKeyPath": key_path}
    with clock.step(f"encrypting every table with ppml-gcm into {encrypted}"):
        shutil.rmtree(encrypted, ignore_errors=True)
        encrypt_tables(plain, encrypted, kms_backend, "tbl", "ppml-gcm", progress=False)
        if not args.keep_plaintext:
            shutil.rmtree(plain)

    with clock.step("DuckDB answers the queries with its own TPC-H SQL over the same encrypted tables (in memory)"):
        answers = reference_answers(encrypted, "tbl", "auto", kms, queries)
    with clock.step(f"starting Spark ({args.master})"):
        spark = spark_session(args.master, args.shuffle_partitions, args.driver_memory, app="ppml-az-demo")
        t = tables(spark, encrypted, "tbl", "auto", kms)
    live = console.is_terminal  # a live bar on a terminal; one plain line per query in a log or a pipe
    bar = (
        Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), console=console, transient=True,
        ) if live else None
    )  # fmt: skip
    checks: list[Check] = []
    with (
        clock.step("running the TPC-H queries on the encrypted tables (spark.read.format('ppml-enc')), checking "
                   "each against DuckDB's answer"),
        bar if bar is not None else nullcontext(),
    ):  # fmt: skip
        task = bar.add_task("queries", total=len(queries)) if bar is not None else None

        def advance(number: int, res: Any, seconds: float) -> None:
            reference = answers.get(number)
            check = compare(number, res, reference) if reference is not None else Check(
                number, False, len(res.rows), "no reference answer"
            )  # fmt: skip
            checks.append(check)
            if bar is not None and task is not None:
                mark = "ok" if check.passed else "DIFFERS"
                bar.update(task, advance=1, description=f"Q{number:02d} {seconds:.1f} s {mark}")
            else:
                console.print(query_line(check, seconds), markup=False, highlight=False)

        result = run(t, queries, on_query=advance)
    if args.show_rows:
        for number, res in sorted(result.results.items()):
            console.print(f"[bold]Q{number:02d}[/bold] {', '.join(res.columns)}")
            for row in res.rows[: args.show_rows]:
                console.print("   " + " | ".join("NULL" if v is None else str(v) for v in row))
    ok = print_checks(console, {"duckdb on the same data": checks}, result.seconds)
    spark.stop()
    verdict = "[green]all answers verified[/green]" if ok else "[red]some answers differ[/red]"
    console.print(
        f"{verdict}; the queries took {result.total_seconds:.1f} s, the whole demo {clock.total():.1f} s "
        f"(work directory {work})"
    )
    return 0 if ok else 1


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``ppml-az demo`` to the parser."""
    demo = subparsers.add_parser(
        "demo",
        help="TPC-H end to end: generate, create a key, encrypt, 22 queries on encrypted data, verify",
        description="The main job (what ./dev demo runs): generate TPC-H with tpchgen-cli, create a local primary "
        "key, encrypt every table with ppml-gcm, run the 22 queries in Spark through ppml-enc on the encrypted "
        "tables, check every answer against DuckDB on the same data, and print the results with each step's "
        "duration. Exit code 1 if any answer differs.",
    )
    demo.add_argument("--sf", type=float, default=0.1, help="TPC-H scale factor (default 0.1)")
    demo.add_argument("--workdir", default=".demo", help="where data and keys go (default ./.demo)")
    demo.add_argument("--primary-key", help="local primary key file (default WORKDIR/keys/primary.key, created)")
    demo.add_argument("--queries", nargs="+", help="only these queries (default all 22)")
    demo.add_argument("--show-rows", type=int, default=0, metavar="N", help="print the first N rows of each result")
    demo.add_argument("--keep-plaintext", action="store_true", help="keep the generated plaintext tables")
    demo.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    demo.add_argument("--shuffle-partitions", type=int, default=4, help="spark.sql.shuffle.partitions (default 4)")
    demo.add_argument("--driver-memory", default="2g", help="spark.driver.memory (default 2g)")
    demo.set_defaults(func=_demo)
