"""Partition pruning on lineitem partitioned by l_shipmode: one value vs the full scan (goal: <= 1/5 the time).

Not part of the test run. ppml-enc cannot write ``partitionBy`` yet, so the layout is made the other way:
Spark writes the plaintext lineitem (tpchgen-cli, ``--scale``) with ``partitionBy("l_shipmode")``, and
``filecrypt.encrypt_path`` encrypts that directory tree file by file (keeping the ``l_shipmode=...``
directories). Then, with ``spark.sql.python.filterPushdown.enabled=true`` and option ``pushFilters=true``, it
times a full-scan aggregation and the same aggregation with ``l_shipmode = 'AIR'``, and counts the files the
planner keeps (all of them are opened; no other file is).

    python bench/partitioned_lineitem.py --scale 0.1 --workdir /tmp/ppml-part
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

SCHEMA = (
    "l_orderkey BIGINT, l_partkey BIGINT, l_suppkey BIGINT, l_linenumber INT, l_quantity DOUBLE, "
    "l_extendedprice DOUBLE, l_discount DOUBLE, l_tax DOUBLE, l_returnflag STRING, l_linestatus STRING, "
    "l_shipdate DATE, l_commitdate DATE, l_receiptdate DATE, l_shipinstruct STRING, l_shipmode STRING, "
    "l_comment STRING"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="0.1")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ppml-part"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F  # noqa: N812

    from bigdl_ppml_az import filecrypt
    from bigdl_ppml_az.datasource.reader import PpmlEncParquetReader
    from bigdl_ppml_az.datasource.source import PpmlEncDataSource
    from bigdl_ppml_az.kms.local import LocalKms

    builder = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
    spark = builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.dataSource.register(PpmlEncDataSource)
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")

    raw, plain, enc = args.workdir / "raw", args.workdir / "plain", args.workdir / "enc"
    if not (raw / "lineitem.csv").exists():
        tool = Path(sys.executable).with_name("tpchgen-cli")
        subprocess.run([str(tool), "csv", "-s", args.scale, "--tables", "lineitem", "-o", str(raw)], check=True)
    if not plain.exists():
        df = spark.read.option("header", "true").schema(SCHEMA).csv(str(raw / "lineitem.csv"))
        df.write.partitionBy("l_shipmode").option("header", "true").csv(str(plain))
    key = args.workdir / "primary.key"
    kms = LocalKms.load(key) if key.exists() else LocalKms.create(key)
    if not enc.exists():
        filecrypt.encrypt_path(str(plain), str(enc), kms)
    data_schema = SCHEMA.replace(", l_shipmode STRING", "") + ", l_shipmode STRING"
    opts = {"kms": "local", "primaryKeyPath": str(key), "header": "true", "pushFilters": "true",
            "minPartitions": str(spark.sparkContext.defaultParallelism)}  # fmt: skip

    def table() -> object:
        return spark.read.format("ppml-enc").schema(data_schema).options(**opts).load(str(enc))

    def agg(df: object) -> list[object]:
        return df.groupBy("l_returnflag").agg(F.count("*"), F.sum("l_quantity")).collect()  # type: ignore[attr-defined]

    agg(table())  # warm-up
    start = time.perf_counter()
    full = agg(table())
    full_time = time.perf_counter() - start
    start = time.perf_counter()
    one = agg(table().where("l_shipmode = 'AIR'"))  # type: ignore[attr-defined]
    one_time = time.perf_counter() - start
    lowered = {k.lower(): v for k, v in {**opts, "path": str(enc)}.items()}
    reader = PpmlEncParquetReader(lowered, table().schema)  # type: ignore[attr-defined]
    from pyspark.sql.datasource import EqualTo

    all_files = {s.path for p in reader.partitions() for s in p.splits}  # type: ignore[attr-defined]
    list(reader.pushFilters([EqualTo(("l_shipmode",), "AIR")]))
    kept = {s.path for p in reader.partitions() for s in p.splits}  # type: ignore[attr-defined]
    print(f"lineitem SF {args.scale}: {len(all_files)} files in {len({Path(f).parent for f in all_files})} dirs")
    print(f"full scan {full_time:.2f} s ({len(full)} groups); l_shipmode='AIR' {one_time:.2f} s ({len(one)} groups)")
    print(f"files planned and opened for AIR: {len(kept)}, all under l_shipmode=AIR: "
          f"{all('/l_shipmode=AIR/' in f for f in kept)}; ratio {one_time / full_time:.2f}")  # fmt: skip
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
