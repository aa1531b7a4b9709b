"""TPC-H on the JVM path: 22 queries on plaintext vs encrypted data, same session, same run. Not a test.

Two pairs, each a ratio against its own plaintext baseline:
* Parquet: Spark's Parquet reader on plaintext vs on Parquet Modular Encryption (shim KmsClient, local KMS);
* CSV (tbl): Spark's CSV reader on plaintext vs on ppml-gcm files decrypted by the shim's codec (split by segment).

Example (the command behind bench/RESULTS.md)::

    /work/venv/bin/python bench/native_tpch.py --sf 1 --dir /tmp/shim/bench

Data is generated with tpchgen-cli (identical to dbgen) and kept under --dir for reruns.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def prepare(sf: float, base: Path) -> dict[str, Any]:
    """Plain tbl (tpchgen), ppml-gcm copies named *.ppmlgcm, and a local primary key; reused when present."""
    from bigdl_ppml_az.formats import ppml_gcm
    from bigdl_ppml_az.kms import generate_data_key
    from bigdl_ppml_az.kms.local import LocalKms
    from bigdl_ppml_az.tpch import datagen

    plain, enc, key = base / "plain", base / "gcm", base / "primary.key"
    if not (plain / "lineitem").exists():
        datagen.generate(sf, str(plain), "tbl")
    kms = LocalKms.load(key) if key.exists() else LocalKms.create(key)
    for source in sorted(plain.rglob("*.tbl")):
        target = enc / source.relative_to(plain).parent / (source.name + ".ppmlgcm")
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        data_key, wrapped = generate_data_key(kms)
        env = ppml_gcm.Envelope(wrapped.kms_type, wrapped.key_id, wrapped.algorithm, wrapped.ciphertext)
        with open(source, "rb") as src, open(target, "wb") as sink:
            ppml_gcm.encrypt_stream(src, sink, data_key, env)
    return {"plain": str(plain), "gcm": str(enc), "kms": {"kms": "local", "primaryKeyPath": str(key)}}


def session(cores: int = 2) -> Any:
    from pyspark.sql import SparkSession

    from bigdl_ppml_az import jvm

    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("bench-native")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.shuffle.partitions", "8")
    )
    # guard=(): no header-detecting codec on .tbl/.csv, so the plaintext baselines are Spark's reader alone
    return jvm.configure(builder, guard=()).getOrCreate()


def timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--dir", default="/tmp/shim/bench")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each variant; the best total counts")
    parser.add_argument("--out", help="write the timings as JSON here")
    parser.add_argument("--only", choices=("parquet", "tbl"), help="run one pair only")
    args = parser.parse_args()
    base = Path(args.dir) / f"sf{args.sf:g}"
    data = prepare(args.sf, base)

    from bigdl_ppml_az import tpch
    from bigdl_ppml_az.tpch.native import native_tables, write_pme_tables

    spark = session()
    kms = data["kms"]
    parquet, pme_dir = base / "parquet", base / "pme"
    if not (parquet / "_done").exists():
        for table, df in tpch.tables(spark, data["plain"], "tbl").__dict__.items():
            df.write.mode("overwrite").parquet(str(parquet / table))
        (parquet / "_done").write_text("")
    if not (pme_dir / "_done").exists():
        write_pme_tables(spark, data["plain"], str(pme_dir), kms, "tbl", "aes_gcm_v1")
        (pme_dir / "_done").write_text("")

    def plain_parquet() -> Any:
        # The baseline runs without the PME crypto factory: with it set, plaintext files pay for its lookups.
        spark.sparkContext._jsc.hadoopConfiguration().unset("parquet.crypto.factory.class")
        return tpch.tables(spark, str(parquet), "parquet")

    variants = {
        "parquet plaintext": plain_parquet,
        "parquet PME aes_gcm_v1": lambda: native_tables(spark, str(pme_dir), "parquet", kms),
        "tbl plaintext": lambda: tpch.tables(spark, data["plain"], "tbl"),
        "tbl ppml-gcm codec": lambda: native_tables(spark, data["gcm"], "tbl", kms),
    }
    if args.only:
        variants = {k: v for k, v in variants.items() if k.startswith(args.only)}
    for make in variants.values():  # warm-up: JIT, page cache, every input once
        tpch.run(make(), [1, 6])
    best: dict[str, dict[str, Any]] = {}
    for round_ in range(args.rounds):
        order = list(variants.items())
        for label, make in order if round_ % 2 == 0 else order[::-1]:  # alternate the order between rounds
            result = tpch.run(make())
            total = sum(result.seconds.values())
            print(f"{label:26s} {total:8.1f} s", flush=True)
            if label not in best or total < best[label]["total"]:
                best[label] = {"total": total, "queries": {str(k): round(v, 3) for k, v in result.seconds.items()}}
    spark.stop()
    pairs = [("parquet PME aes_gcm_v1", "parquet plaintext"), ("tbl ppml-gcm codec", "tbl plaintext")]
    pairs = [(enc, plain) for enc, plain in pairs if enc in best and plain in best]
    report = {"sf": args.sf, "variants": best, "ratios": {}}
    for enc, plain in pairs:
        ratio = best[enc]["total"] / best[plain]["total"]
        report["ratios"][f"{enc} / {plain}"] = round(ratio, 3)
        print(f"| {enc} vs {plain} | {best[plain]['total']:.1f} s | {best[enc]['total']:.1f} s | {ratio:.3f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
