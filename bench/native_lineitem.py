"""Lineitem aggregation (TPC-H Q1) on the JVM path: Spark's CSV reader on plaintext vs on ppml-gcm decrypted
by the shim's codec, same session, alternating runs. Not a test. Target ratio <= 1.05.

Example (the command behind bench/RESULTS.md)::

    /work/venv/bin/python bench/native_lineitem.py --sf 1 --dir /tmp/shim/bench --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from native_tpch import prepare, session


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--dir", default="/tmp/shim/bench")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", help="write the timings as JSON here")
    args = parser.parse_args()
    data = prepare(args.sf, Path(args.dir) / f"sf{args.sf:g}")

    from bigdl_ppml_az import tpch
    from bigdl_ppml_az.tpch.native import native_tables

    spark = session()
    plain = tpch.tables(spark, data["plain"], "tbl")
    enc = native_tables(spark, data["gcm"], "tbl", data["kms"])
    partitions = {"plain": plain.lineitem.rdd.getNumPartitions(), "ppml-gcm": enc.lineitem.rdd.getNumPartitions()}
    expected = tpch.q01(plain).collect()
    assert tpch.q01(enc).collect() == expected, "decrypted result differs from plaintext"
    times: dict[str, list[float]] = {"plain": [], "ppml-gcm": []}
    for _ in range(args.runs):
        for label, t in (("plain", plain), ("ppml-gcm", enc)):
            started = time.perf_counter()
            tpch.q01(t).collect()
            times[label].append(time.perf_counter() - started)
            print(f"{label:9s} {times[label][-1]:6.2f} s", flush=True)
    spark.stop()
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["ppml-gcm"] / med["plain"]
    print(f"partitions {partitions}")
    print(
        f"| lineitem SF{args.sf:g} Q1, median of {args.runs} | {med['plain']:.2f} s | {med['ppml-gcm']:.2f} s | "
        f"{ratio:.3f} |"
    )
    if args.out:
        Path(args.out).write_text(json.dumps({"times": times, "median": med, "ratio": ratio, "partitions": partitions}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
