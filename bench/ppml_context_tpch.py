"""PPMLContext on TPC-H: 22 queries on Parquet Modular Encryption through the path PPMLContext chooses (JVM shim)
against plaintext Parquet (goal <= 1.05) and against the ppml-enc path, same session, same run. Not a test.

    /work/venv/bin/python bench/ppml_context_tpch.py --sf 1 --dir /tmp/shim/bench

Reuses bench/native_tpch.py's data (tpchgen tbl, plaintext Parquet, PME copies, local primary key).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import native_tpch  # noqa: E402  (this directory)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--dir", default="/tmp/shim/bench")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each query per variant; the best counts")
    parser.add_argument("--out", help="write the timings as JSON here")
    parser.add_argument("--queries", help="comma-separated queries to run (default all 22)")
    parser.add_argument("--skip-ppml-enc", action="store_true", help="only plaintext vs the chosen (JVM) path")
    args = parser.parse_args()
    base = Path(args.dir) / f"sf{args.sf:g}"
    data = native_tpch.prepare(args.sf, base)

    from bigdl_ppml_az import tpch
    from bigdl_ppml_az.ppml_context import CryptoMode, PPMLContext
    from bigdl_ppml_az.tpch.native import write_pme_tables
    from bigdl_ppml_az.tpch.tables import TABLE_NAMES, Tables
    from bigdl_ppml_az.tpch.verify import compare

    spark = native_tpch.session()
    kms = data["kms"]
    parquet, pme_dir = base / "parquet", base / "pme"
    if not (parquet / "_done").exists():
        for table, df in tpch.tables(spark, data["plain"], "tbl").__dict__.items():
            df.write.mode("overwrite").parquet(str(parquet / table))
        (parquet / "_done").write_text("")
    if not (pme_dir / "_done").exists():
        write_pme_tables(spark, data["plain"], str(pme_dir), kms, "tbl", "aes_gcm_v1")
        (pme_dir / "_done").write_text("")
    ppml_args = {"kms_type": "local", "primary_key_material": kms["primaryKeyPath"]}
    chosen = PPMLContext(None, ppml_args, spark=spark)  # has the shim: the JVM path
    enc = PPMLContext(None, ppml_args, spark=spark, native=False)  # same session, ppml-enc path

    def context_tables(ctx: PPMLContext) -> Any:
        return Tables(**{n: ctx.read(CryptoMode.AES_GCM_V1).parquet(str(pme_dir / n)) for n in TABLE_NAMES})

    def plain() -> Any:
        spark.sparkContext._jsc.hadoopConfiguration().unset("parquet.crypto.factory.class")
        return tpch.tables(spark, str(parquet), "parquet")

    variants = {
        "parquet plaintext": plain,
        "PPMLContext chosen path": lambda: context_tables(chosen),
        "PPMLContext ppml-enc path": lambda: context_tables(enc),
    }
    if args.skip_ppml_enc:
        del variants["PPMLContext ppml-enc path"]
    # Interleaved per query (A B C, then C B A for the next query): load drift on a shared machine hits every
    # variant alike. Every variant's answer must equal the plaintext answer.
    tables = {label: make() for label, make in variants.items()}
    paths = {
        label: chosen.last_path if "chosen" in label else enc.last_path if "ppml-enc" in label else "plain"
        for label in variants
    }
    for t in tables.values():  # warm-up: JIT, page cache, footers
        tpch.run(t, [1, 6])
    totals = dict.fromkeys(variants, 0.0)
    order = list(variants)
    for index, number in enumerate(tpch.parse_queries(args.queries)):
        answers = {}
        for label in order if index % 2 == 0 else order[::-1]:
            best = None
            for _ in range(args.rounds):
                result = tpch.run(tables[label], [number])
                seconds = result.seconds[number]
                best = seconds if best is None else min(best, seconds)
            answers[label] = result.results[number]
            totals[label] += best or 0.0
        first = answers["parquet plaintext"]
        for label, answer in answers.items():
            check = compare(number, answer, first)  # the TPC-H rules (ties, float tolerance) of `tpch verify`
            if not check.passed:
                raise SystemExit(f"Q{number}: {label} differs from the plaintext answer: {check.detail}")
        print(f"Q{number:<3d}" + "".join(f"{label}: {totals[label]:8.1f} s  " for label in order), flush=True)
    best = totals
    spark.stop()
    report = {
        "sf": args.sf,
        "seconds": best,
        "paths": paths,
        "chosen / plaintext": round(best["PPMLContext chosen path"] / best["parquet plaintext"], 3),
        "chosen / ppml-enc": (
            round(best["PPMLContext chosen path"] / best["PPMLContext ppml-enc path"], 3)
            if "PPMLContext ppml-enc path" in best
            else None
        ),
    }
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
