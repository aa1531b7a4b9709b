"""Read overhead of ppml-enc vs Spark's native CSV reader on TPC-H lineitem (target <= 1.05).

Not part of the test run. Generates lineitem with tpchgen-cli, encrypts it as ppml-gcm and BigDL common, then
runs the same Q1-style aggregation over (a) Spark's CSV reader on the plaintext, (b) ppml-enc on ppml-gcm,
(c) ppml-enc on BigDL common, and (p) ppml-enc on the plaintext (cryptoMode=plain_text: same parser, no
crypto), alternating for ``--runs`` rounds, and prints medians and ratios b/a, c/a (and p/a; b/p isolates the
cost of decryption) from this one run. Variants (s) and (e) force ppml-enc's exact-semantics reader with a
real option instead of a test hook: ``comment="#"`` on both Spark's CSV reader (s) and ppml-enc on ppml-gcm
(e); no lineitem line starts with ``#``, so the answer is the same, and ppml-enc reads every chunk with the
exact reader (``sparkcsv.needs_exact``: ``comment`` is set); e/s is that reader's ratio (issue 11: <= 2.0).
Variant (t) is ppml-enc on a sealed copy of the ppml-gcm data: a table whose manifest every task verifies
and against which each split checks its file (issue 18: t/a <= 1.05, t/b is the cost of verification).
``--profile DIR`` also cProfiles every ppml-enc read() task into DIR and prints the top functions, to say
where worker time goes.

    python bench/read_overhead.py --scale 1 --runs 3 --workdir /tmp/ppml-bench [--profile /tmp/ppml-bench/prof]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SCHEMA = (
    "l_orderkey BIGINT, l_partkey BIGINT, l_suppkey BIGINT, l_linenumber INT, l_quantity DOUBLE, "
    "l_extendedprice DOUBLE, l_discount DOUBLE, l_tax DOUBLE, l_returnflag STRING, l_linestatus STRING, "
    "l_shipdate DATE, l_commitdate DATE, l_receiptdate DATE, l_shipinstruct STRING, l_shipmode STRING, "
    "l_comment STRING"
)


def prepare(workdir: Path, scale: float) -> dict[str, Path]:
    """lineitem CSV plus its two encrypted copies (reused when present)."""
    from bigdl_ppml_az import filecrypt
    from bigdl_ppml_az.formats import COMMON
    from bigdl_ppml_az.kms.local import LocalKms

    plain = workdir / "plain"
    if not (plain / "lineitem.csv").exists():
        tool = Path(sys.executable).with_name("tpchgen-cli")
        subprocess.run([str(tool), "csv", "-s", str(scale), "--tables", "lineitem", "-o", str(plain)], check=True)
    key = workdir / "primary.key"
    kms = LocalKms.load(key) if key.exists() else LocalKms.create(key)
    gcm, common = workdir / "gcm", workdir / "common"
    if not gcm.exists():
        filecrypt.encrypt_path(str(plain), str(gcm), kms)
    if not common.exists():
        filecrypt.encrypt_path(str(plain), str(common), kms, crypto_mode=COMMON)
    table = workdir / "table"
    if not table.exists():
        import shutil

        from bigdl_ppml_az.table.check import seal_table

        shutil.rmtree(workdir / "table.tmp", ignore_errors=True)
        shutil.copytree(gcm, workdir / "table.tmp")
        seal_table(str(workdir / "table.tmp"), {"kms": "local", "primaryKeyPath": str(key)})
        (workdir / "table.tmp").rename(table)
    return {"plain": plain, "gcm": gcm, "common": common, "table": table, "key": key}


def q1(df: Any) -> Any:
    from pyspark.sql import functions as F  # noqa: N812

    price = F.col("l_extendedprice") * (1 - F.col("l_discount"))
    return (
        df.where(F.col("l_shipdate") <= F.lit("1998-09-02").cast("date"))
        .groupBy("l_returnflag", "l_linestatus")
        .agg(
            F.sum("l_quantity"),
            F.sum("l_extendedprice"),
            F.sum(price),
            F.sum(price * (1 + F.col("l_tax"))),
            F.avg("l_quantity"),
            F.avg("l_discount"),
            F.count("*"),
        )
        .orderBy("l_returnflag", "l_linestatus")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (JVM JIT, worker start)")
    parser.add_argument("--workdir", default="/tmp/ppml-bench")
    parser.add_argument("--max-partition-bytes", default="128m")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--profile", default=None, help="directory for cProfile dumps of ppml-enc read() tasks")
    parser.add_argument("--only", default="abcpset", help="which variants to run (subset of abcpset)")
    args = parser.parse_args(argv)

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    paths = prepare(workdir, args.scale)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if args.profile:  # Spark's Python workers load bench/profile_hook/sitecustomize.py, which profiles read()
        hook = str(Path(__file__).resolve().parent / "profile_hook")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (hook, os.environ.get("PYTHONPATH")) if p)
        os.environ["PPML_AZ_BENCH_PROFILE_DIR"] = args.profile  # inherited by the JVM and its Python workers

    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(args.master)
        .appName("ppml-enc read overhead")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "3g")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.files.maxPartitionBytes", args.max_partition_bytes)
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    enc_options = {
        "format": "csv",
        "header": "true",
        "kms": "local",
        "primaryKeyPath": str(paths["key"]),
        "maxPartitionBytes": args.max_partition_bytes,
    }
    variants = {
        "a": (
            "spark csv, plaintext",
            lambda: spark.read.schema(SCHEMA).option("header", "true").csv(str(paths["plain"])),
        ),
        "b": (
            "ppml-enc, ppml-gcm",
            lambda: spark.read.format("ppml-enc").schema(SCHEMA).options(**enc_options).load(str(paths["gcm"])),
        ),
        "c": (
            "ppml-enc, BigDL common",
            lambda: spark.read.format("ppml-enc").schema(SCHEMA).options(**enc_options).load(str(paths["common"])),
        ),
    }
    plain_options = {**enc_options, "cryptoMode": "plain_text"}
    variants["p"] = (
        "ppml-enc, plaintext",
        lambda: spark.read.format("ppml-enc").schema(SCHEMA).options(**plain_options).load(str(paths["plain"])),
    )
    variants["s"] = (
        "spark csv, plaintext, #",
        lambda: spark.read.schema(SCHEMA).options(header="true", comment="#").csv(str(paths["plain"])),
    )
    exact_options = {**enc_options, "comment": "#"}  # comment set: every chunk goes to the exact reader
    variants["e"] = (
        "ppml-enc, ppml-gcm, #",
        lambda: spark.read.format("ppml-enc").schema(SCHEMA).options(**exact_options).load(str(paths["gcm"])),
    )
    variants["t"] = (
        "ppml-enc, ppml-gcm table",
        lambda: spark.read.format("ppml-enc").schema(SCHEMA).options(**enc_options).load(str(paths["table"])),
    )
    chosen = [v for v in "abcpset" if v in args.only]
    times: dict[str, list[float]] = {v: [] for v in chosen}
    answers: dict[str, Any] = {}
    for run in range(-args.warmup, args.runs):
        for v in chosen:
            started = time.perf_counter()
            rows = q1(variants[v][1]()).collect()
            elapsed = time.perf_counter() - started
            if run < 0:
                print(f"warm-up {v}: {elapsed:.2f} s", flush=True)
                continue
            times[v].append(elapsed)
            answers[v] = [(r[0], r[1], r[-1]) for r in rows]
            print(f"run {run + 1} {v} ({variants[v][0]}): {elapsed:.2f} s", flush=True)
    print(f"\nload average at end: {os.getloadavg()}; cores: {os.cpu_count()}")
    for v in chosen:
        med = statistics.median(times[v])
        base_name = "s" if v == "e" else "a"  # e (exact reader) against Spark with the same comment option
        base = statistics.median(times[base_name]) if base_name in times and v not in "as" else None
        ratio = f"  ratio {v}/{base_name} = {med / base:.3f}" if base else ""
        if v == "b" and "p" in times:
            ratio += f"  b/p = {med / statistics.median(times['p']):.3f}"
        if v == "t" and "b" in times:
            ratio += f"  t/b = {med / statistics.median(times['b']):.3f}"
        print(f"{v} {variants[v][0]:<26} median {med:7.2f} s  runs {[round(t, 2) for t in times[v]]}{ratio}")
    if len({repr(a) for a in answers.values()}) != 1:
        print("ANSWERS DIFFER:", answers)
        return 1
    print("answers identical across variants (group keys and counts)")
    spark.stop()
    if args.profile:
        summarize(Path(args.profile))
    return 0


_CATEGORIES = (
    ("pyarrow CSV parsing", lambda f, fn: "read_csv" in fn or (f.endswith("parsing.py") and fn in ("_fast", "parse"))),
    ("AES-GCM decrypt", lambda f, fn: "AESGCM" in fn),
    ("AES-CBC decrypt", lambda f, fn: "CipherContext" in fn),
    ("HMAC verify", lambda f, fn: "HMAC" in fn),
    ("line ownership and chunking", lambda f, fn: f.endswith("lines.py") or fn.startswith("<method 'join' of 'bytes")),
    ("file reads", lambda f, fn: "BufferedReader" in fn),
    ("pyspark worker glue", lambda f, fn: "pyspark" in f),
)


def summarize(directory: Path) -> None:
    """Where ppml-enc worker time goes, per crypto mode (own time of functions, summed over all read tasks)."""
    import pstats

    modes = sorted({p.name.split("__")[1] for p in directory.glob("read__*.prof")})
    for mode in modes:
        dumps = [str(p) for p in directory.glob(f"read__{mode}__*.prof")]
        stats = pstats.Stats(*dumps)
        totals: dict[str, float] = {}
        grand = 0.0
        for (file, _line, fn), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            grand += tottime
            label = next((name for name, match in _CATEGORIES if match(file, fn)), "other")
            totals[label] = totals.get(label, 0.0) + tottime
        rss = [int(Path(d + ".maxrss").read_text()) for d in dumps if Path(d + ".maxrss").exists()]
        peak = f"; peak worker RSS {max(rss) / 1024:.0f} MiB" if rss else ""
        print(f"\nworker time, {mode}: {grand:.2f} s over {len(dumps)} read() tasks{peak}")
        for label, seconds in sorted(totals.items(), key=lambda item: -item[1]):
            print(f"  {label:<30} {seconds:7.2f} s  {100 * seconds / grand:5.1f}%")


if __name__ == "__main__":
    sys.exit(main())
