"""Parquet read through ``ppml-enc`` (whole-file ppml-gcm) against Spark's Parquet reader on the plaintext:
same query, same session, inputs interleaved per round so that machine load hits both alike (issue 20, Measure;
goal: all columns <= 1.10). Not part of the test run.

Datasets: ``wide``, 1M rows of generated columns (ints, decimals up to 38 digits, double, strings, date,
timestamp, a list and a struct), written by pyarrow in 4 files; ``lineitem``, TPC-H lineitem at ``--sf``
(tpchgen-cli's Parquet). Queries: ``all`` hashes every column of every row (``sum(hash(*))``: nothing is pruned
on either side), ``one`` hashes a single column (Spark's reader prunes the others; a Python data source cannot,
so this ratio shows what column pruning is worth). Each answer must be equal on both sides.

    python bench/parquet_read.py --workdir /tmp/ppml-bench-parquet [--sf 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any


def wide_table(rows: int, seed: int = 7) -> Any:
    """1M rows with the column kinds the issue names: nested and decimal columns among flat ones."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    ids = np.arange(rows, dtype=np.int64)
    small = rng.integers(-(10**8), 10**8, rows)
    return pa.table({
        "id": ids,
        "qty": pa.array(rng.integers(0, 1000, rows).astype(np.int32)),
        "price": pa.array([Decimal(int(v)).scaleb(-2) for v in small], pa.decimal128(18, 2)),
        "big": pa.array([Decimal(int(v) * 10**20 + 7).scaleb(-10) for v in small], pa.decimal128(38, 10)),
        "ratio": rng.standard_normal(rows),
        "name": pa.array([f"customer#{v:09d}" for v in rng.integers(0, 10**9, rows)]),
        "day": pa.array([dt.date(1992, 1, 1) + dt.timedelta(days=int(v)) for v in rng.integers(0, 2500, rows)]),
        "at": pa.array(rng.integers(0, 10**15, rows), pa.timestamp("us", "UTC")),
        "tags": pa.array([[int(v), int(v) + 1, int(v) * 3][: int(v) % 4] for v in small], pa.list_(pa.int64())),
        "point": pa.StructArray.from_arrays(
            [pa.array(rng.standard_normal(rows)), pa.array([f"p{v % 1000}" for v in small])], names=["x", "label"]
        ),
    })


def prepare(workdir: Path, sf: float, rows: int = 1_000_000) -> dict[str, Any]:
    """Plain and encrypted copies of each dataset (reused when present) and the local key."""
    import pyarrow.parquet as pq

    from bigdl_ppml_az.filecrypt import encrypt_path
    from bigdl_ppml_az.kms.local import LocalKms
    from bigdl_ppml_az.tpch.datagen import generate

    key = workdir / "primary.key"
    kms = LocalKms.load(key) if key.exists() else LocalKms.create(key)
    wide_plain = workdir / "wide-plain"
    done = workdir / "wide-plain.done"
    if not done.exists():
        table = wide_table(rows)
        wide_plain.mkdir(parents=True, exist_ok=True)
        step = table.num_rows // 4
        for part in range(4):
            pq.write_table(table.slice(part * step, step), wide_plain / f"part-{part}.parquet", row_group_size=131072)
        done.write_text("")
    tpch_plain = workdir / f"sf{sf:g}-parquet-plain"
    if not (tpch_plain / "lineitem").exists():
        generate(sf, str(tpch_plain), "parquet", overwrite=True)
    datasets = {"wide": wide_plain, "lineitem": tpch_plain / "lineitem"}
    out: dict[str, Any] = {"kms": {"kms": "local", "primaryKeyPath": str(key)}}
    for name, plain in datasets.items():
        enc = workdir / f"{name}-ppml-gcm"
        if not enc.exists():
            started = time.perf_counter()
            encrypt_path(str(plain), str(enc), kms, crypto_mode="ppml-gcm")
            print(f"encrypted {enc} in {time.perf_counter() - started:.1f} s", flush=True)
        out[name] = (plain, enc)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--workdir", default="/tmp/ppml-bench-parquet")
    parser.add_argument("--rounds", type=int, default=3, help="runs per query and input; the median is kept")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the wide dataset")
    args = parser.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import functions as F

    from bigdl_ppml_az.tpch.session import spark_session

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    data = prepare(workdir, args.sf, args.rows)
    spark = spark_session(args.master, 8, "4g", app="bench-parquet-read")
    one_column = {"wide": "big", "lineitem": "l_extendedprice"}
    totals: dict[str, list[float]] = {"plain": [], "ppml-enc": []}
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    for name in ("wide", "lineitem"):
        plain, enc = data[name]
        frames = {
            "plain": spark.read.parquet(str(plain)),
            "ppml-enc": spark.read.format("ppml-enc").option("format", "parquet").options(**data["kms"]).load(str(enc)),
        }
        for query in ("all", "one"):
            def run(df: Any, q: str = query, one: str = one_column[name]) -> Any:
                cols = [F.col(c) for c in df.columns] if q == "all" else [F.col(one)]
                return df.select(F.sum(F.hash(*cols).cast("long")).alias("h"), F.count("*")).collect()[0]

            for df in frames.values():  # warm-up: JVM code paths and Python workers, not measured
                run(df)
            samples: dict[str, list[float]] = {label: [] for label in frames}
            answers: dict[str, Any] = {}
            for _ in range(args.rounds):
                for label, df in frames.items():
                    started = time.perf_counter()
                    answers[label] = run(df)
                    samples[label].append(time.perf_counter() - started)
            if answers["plain"] != answers["ppml-enc"]:
                raise SystemExit(f"{name} {query}: ppml-enc answer {answers['ppml-enc']} != {answers['plain']}")
            plain_s, enc_s = statistics.median(samples["plain"]), statistics.median(samples["ppml-enc"])
            if query == "all":
                totals["plain"].append(plain_s)
                totals["ppml-enc"].append(enc_s)
            print(f"{name:9s} {query:3s} columns: Spark's Parquet reader {plain_s:7.2f} s, ppml-enc {enc_s:7.2f} s, "
                  f"ratio {enc_s / plain_s:.3f}  ({answers['plain'][1]} rows)", flush=True)
    print(f"all columns, both datasets: ratio {sum(totals['ppml-enc']) / sum(totals['plain']):.3f}; "
          f"load average at end: {os.getloadavg()[0]:.1f}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
