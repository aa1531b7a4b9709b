"""Cost of the CSV read differential harness (tests/test_fidelity_read.py), one step at a time.

Not part of the test run. Generates ``--cases`` examples (the CI strategy and seed), then in one ``local[2]``
session times Spark's answers (the oracle) three ways on the same files: one read after another, the same
reads from a thread pool on one session, and the thread pool with explicit-schema cases batched into one job
per (options, schema); then ppml-enc's in-process side. Prints seconds per case and ratios to the first way.

    python bench/fidelity_oracle.py --cases 300 --threads 4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    from bigdl_ppml_az.kms.local import LocalKms
    from conftest import spark_builder  # type: ignore[import-not-found]
    from fidelity_support import (  # type: ignore[import-not-found]
        csv_cases,
        encrypt_all,
        generate,
        oracle_all,
        ppml_in_process,
        schema_of,
        write_cases,
    )

    spark = spark_builder().getOrCreate()
    t = time.perf_counter()
    cases = generate(csv_cases(), args.cases, seed=args.seed)
    print(f"generate: {len(cases)} cases in {time.perf_counter() - t:.1f} s "
          f"({sum(c.schema is not None for c in cases)} with a given schema)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dirs = write_cases(cases, root)
        key = root / "primary.key"
        enc = encrypt_all(LocalKms.create(key), root)
        oracle_all(spark, cases[:20], dirs[:20], 1, False)  # warm-up
        timings = {}
        for name, threads, batch in (("sequential", 1, False), (f"{args.threads} threads", args.threads, False),
                                     (f"{args.threads} threads + batched", args.threads, True)):  # fmt: skip
            t = time.perf_counter()
            oracle_all(spark, cases, dirs, threads, batch)
            timings[name] = time.perf_counter() - t
        t = time.perf_counter()
        for case, d in zip(cases, dirs, strict=True):
            ppml_in_process(case, enc / d.name, key, schema_of(case))
        timings["ppml-enc in-process"] = time.perf_counter() - t
    base = timings["sequential"]
    for name, seconds in timings.items():
        print(f"{name:28s} {seconds:7.1f} s  {seconds / len(cases) * 1000:6.1f} ms/case  ratio {seconds / base:.2f}")
    spark.stop()


if __name__ == "__main__":
    main()
