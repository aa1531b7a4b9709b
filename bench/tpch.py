"""TPC-H: 22 queries on plaintext vs ppml-gcm-encrypted inputs, CSV and Parquet, in one run (target:
total ratio <= 1.10). Not part of the test run.

Generates the tables with tpchgen-cli (CSV and Parquet), encrypts each copy with ppml-gcm under a local key,
then in one Spark session runs every query over four inputs, interleaved per query so that machine load hits
all of them alike: Spark's native CSV reader on the plaintext, ``ppml-enc`` on the encrypted CSV, Spark's
native Parquet reader on the plaintext, ``ppml-enc`` on the ppml-gcm-wrapped Parquet. Encrypted results must
equal plaintext results exactly. Prints per-query and total ratios (encrypted / plaintext) and writes each
run as a ``tpch run`` results directory plus report.md / report.png under WORKDIR/report.

    python bench/tpch.py --sf 1 --workdir /tmp/ppml-bench-tpch [--rounds 1] [--queries 1 6 13]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def prepare(workdir: Path, sf: float, formats: list[str]) -> dict[str, Any]:
    """Plain and encrypted copies per format (reused when present) and the local key."""
    from bigdl_ppml_az.kms.local import LocalKms
    from bigdl_ppml_az.tpch.datagen import encrypt_tables, generate

    key = workdir / "primary.key"
    kms = LocalKms.load(key) if key.exists() else LocalKms.create(key)
    paths: dict[str, Any] = {"kms": {"kms": "local", "primaryKeyPath": str(key)}}
    for fmt in formats:
        plain, enc = workdir / f"sf{sf:g}-{fmt}-plain", workdir / f"sf{sf:g}-{fmt}-ppml-gcm"
        if not (plain / "lineitem").exists():
            started = time.perf_counter()
            generate(sf, str(plain), fmt, overwrite=True)
            print(f"generated {plain} in {time.perf_counter() - started:.1f} s", flush=True)
        if not (enc / "lineitem").exists():
            started = time.perf_counter()
            encrypt_tables(str(plain), str(enc), kms, fmt, "ppml-gcm", progress=False)
            print(f"encrypted {enc} in {time.perf_counter() - started:.1f} s", flush=True)
        paths[fmt] = (plain, enc)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--workdir", default="/tmp/ppml-bench-tpch")
    parser.add_argument("--formats", nargs="+", default=["csv", "parquet"], choices=["tbl", "csv", "parquet"])
    parser.add_argument("--queries", nargs="+", help="default: all 22")
    parser.add_argument("--rounds", type=int, default=1, help="runs per query and input; the median is kept")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from bigdl_ppml_az import tpch
    from bigdl_ppml_az.tpch.report import markdown
    from bigdl_ppml_az.tpch.runner import RunResult, parse_queries, write_results
    from bigdl_ppml_az.tpch.session import spark_session

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    paths = prepare(workdir, args.sf, args.formats)
    spark = spark_session(args.master, args.shuffle_partitions, args.driver_memory, app="bench-tpch")
    inputs: dict[str, Any] = {}
    for fmt in args.formats:
        plain, enc = paths[fmt]
        inputs[f"plain {fmt}"] = tpch.tables(spark, str(plain), fmt)
        inputs[f"ppml-gcm {fmt}"] = tpch.tables(spark, str(enc), fmt, "auto", paths["kms"])
    runs = {label: RunResult(info={"label": label, "scaleFactor": args.sf, "master": args.master}) for label in inputs}
    for t in inputs.values():  # warm-up: JVM code paths and Python workers, not measured
        tpch.q01(t).collect()
    queries = parse_queries(args.queries)
    for number in queries:
        samples: dict[str, list[float]] = {label: [] for label in inputs}
        for _ in range(args.rounds):
            for label, t in inputs.items():
                started = time.perf_counter()
                result = tpch.ResultSet.from_dataframe(tpch.query(number)(t))
                samples[label].append(time.perf_counter() - started)
                runs[label].results[number] = result
        line = [f"Q{number:02d}"]
        for label in inputs:
            runs[label].seconds[number] = statistics.median(samples[label])
            line.append(f"{label} {runs[label].seconds[number]:6.2f}s")
        for fmt in args.formats:
            plain_r, enc_r = runs[f"plain {fmt}"], runs[f"ppml-gcm {fmt}"]
            if enc_r.results[number] != plain_r.results[number]:
                raise SystemExit(f"Q{number}: encrypted {fmt} result differs from plaintext")
            line.append(f"{fmt} ratio {enc_r.seconds[number] / plain_r.seconds[number]:.2f}")
        print("  ".join(line), flush=True)
    spark.stop()

    for label, result in runs.items():
        write_results(result, str(workdir / "runs" / label.replace(" ", "-")))
    print()
    for fmt in args.formats:
        plain_t, enc_t = runs[f"plain {fmt}"].total_seconds, runs[f"ppml-gcm {fmt}"].total_seconds
        print(f"{fmt}: plaintext {plain_t:.1f} s, ppml-gcm {enc_t:.1f} s, total ratio {enc_t / plain_t:.3f}")
        report = markdown(
            [(f"plain {fmt}", _timings(runs[f"plain {fmt}"])), (f"ppml-gcm {fmt}", _timings(runs[f"ppml-gcm {fmt}"]))]
        )
        (workdir / f"report-{fmt}.md").write_text(report)
    print(f"per-run results and timings under {workdir / 'runs'}; ratio tables in {workdir}/report-*.md")
    return 0


def _timings(result: Any) -> dict[str, Any]:
    return {
        **result.info,
        "queries": {str(q): {"seconds": s, "rows": len(result.results[q].rows)} for q, s in result.seconds.items()},
    }


if __name__ == "__main__":
    sys.exit(main())
