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
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", help="write the timings as JSON here")
    args = parser.parse_args()
    base = Path(args.dir) / f"sf{args.sf:g}"
    data = native_tpch.prepare(args.sf, base)

    from bigdl_ppml_az import tpch
    from bigdl_ppml_az.ppml_context import CryptoMode, PPMLContext
    from bigdl_ppml_az.tpch.native import write_pme_tables
    from bigdl_ppml_az.tpch.tables import TABLE_NAMES, Tables

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
    for make in variants.values():
        tpch.run(make(), [1, 6])
    best: dict[str, float] = {}
    paths: dict[str, str | None] = {}
    for round_ in range(args.rounds):
        order = list(variants.items())
        for label, make in order if round_ % 2 == 0 else order[::-1]:
            tables = make()
            paths[label] = chosen.last_path if "chosen" in label else enc.last_path if "ppml-enc" in label else "plain"
            total = sum(tpch.run(tables).seconds.values())
            print(f"{label:28s} {total:8.1f} s  ({paths[label]})", flush=True)
            best[label] = min(total, best.get(label, total))
    spark.stop()
    report = {
        "sf": args.sf,
        "seconds": best,
        "paths": paths,
        "chosen / plaintext": round(best["PPMLContext chosen path"] / best["parquet plaintext"], 3),
        "chosen / ppml-enc": round(best["PPMLContext chosen path"] / best["PPMLContext ppml-enc path"], 3),
    }
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
