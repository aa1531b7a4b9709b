"""Partitioned lineitem: ppml-enc writes it with partitionBy("l_shipmode"); a one-value query vs the full scan.

Not part of the test run. Generates TPC-H lineitem (tpchgen-cli, ``--sf``), writes it encrypted through
``df.write.format("ppml-enc")`` with option ``partitionBy=l_shipmode`` (ppml-gcm CSV; Spark's own
``partitionBy`` cannot reach a Python data source), then in one ``local[2]`` session times the same
aggregation over the whole table and over ``l_shipmode = 'AIR'``, alternating for ``--runs`` rounds after a
warm-up. The one-value query prunes by path: it loads ``<table>/l_shipmode=AIR`` with ``basePath=<table>`` (the
partition column is kept). Pruning by ``where`` needs ``pushFilters=true``, which ppml-enc refuses on PySpark 4.3
and releases not yet checked (a pushed-filter read plan leaks into later queries of the same DataFrame;
docs/SCALE.md); ``--push-filters`` uses it on a PySpark that allows it. Prints the medians, the ratio
one-value / full (issue 12 goal: <= 0.2) and the files each query opened.

Files opened are counted by Python's audit hooks in Spark's Python workers: the script puts a generated
``sitecustomize.py`` first on the workers' ``PYTHONPATH`` that logs every ``open`` of a path below the table,
so the library carries no counting hook. Both planning (header probes) and reading open files; each distinct
data file counts once.

    python bench/partitioned_lineitem.py --sf 1 --runs 3 --workdir /tmp/ppml-part
"""

from __future__ import annotations

import argparse
import os
import shutil
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
# read schema of the encrypted table: its CSV files hold every column but l_shipmode, which comes last
READ_SCHEMA = ", ".join(f"{c} STRING" for c in (
    "l_orderkey", "l_partkey", "l_suppkey", "l_linenumber", "l_quantity", "l_extendedprice", "l_discount",
    "l_tax", "l_returnflag", "l_linestatus", "l_shipdate", "l_commitdate", "l_receiptdate", "l_shipinstruct",
    "l_comment", "l_shipmode"))  # fmt: skip

HOOK = '''"""Bench only (written by bench/partitioned_lineitem.py): log opens of files below one table."""
import os
import sys

_TABLE = os.environ.get("PPML_AZ_BENCH_TABLE")
_LOG = os.environ.get("PPML_AZ_BENCH_OPENS")


def _hook(event, args):
    if event == "open" and args and isinstance(args[0], str) and args[0].startswith(_TABLE):
        with open(os.path.join(_LOG, f"{os.getpid()}.log"), "a", encoding="utf-8") as log:
            log.write(args[0] + "\\n")


if _TABLE and _LOG:
    sys.addaudithook(_hook)
'''


def opened(log_dir: Path, table: Path) -> set[str]:
    """Distinct data files below ``table`` that any worker opened since the logs were cleared."""
    names: set[str] = set()
    for log in log_dir.glob("*.log"):
        names.update(line for line in log.read_text(encoding="utf-8").splitlines() if line)
    return {n for n in names if not os.path.basename(n).startswith(("_", "."))
            and n.startswith(str(table) + "/")}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", "--scale", dest="sf", default="0.1")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ppml-part"))
    parser.add_argument("--push-filters", action="store_true",
                        help="prune with where() + pushFilters=true (PySpark versions that allow it)")
    args = parser.parse_args()
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    raw, enc, hook_dir, logs = work / f"raw-{args.sf}", work / f"enc-{args.sf}", work / "hook", work / "opens"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
    logs.mkdir(exist_ok=True)
    # set before the JVM starts: Spark's Python workers inherit this environment (local mode)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(hook_dir), *filter(None, [os.environ.get("PYTHONPATH")])])
    os.environ["PPML_AZ_BENCH_TABLE"] = str(enc)
    os.environ["PPML_AZ_BENCH_OPENS"] = str(logs)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F  # noqa: N812

    from bigdl_ppml_az.kms.local import LocalKms

    builder = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
    spark = builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")

    if not (raw / "lineitem.csv").exists():
        tool = Path(sys.executable).with_name("tpchgen-cli")
        subprocess.run([str(tool), "csv", "-s", args.sf, "--tables", "lineitem", "-o", str(raw)],
                       check=True)  # fmt: skip
    key = work / "primary.key"
    if not key.exists():
        LocalKms.create(key)
    kms = {"kms": "local", "primaryKeyPath": str(key)}
    write_time = None
    if not (enc / "_SUCCESS").exists():
        shutil.rmtree(enc, ignore_errors=True)
        df = spark.read.option("header", "true").schema(SCHEMA).csv(str(raw / "lineitem.csv"))
        start = time.perf_counter()
        (df.write.format("ppml-enc").mode("overwrite").options(**kms).option("header", "true")
           .option("partitionBy", "l_shipmode").save(str(enc)))  # fmt: skip
        write_time = time.perf_counter() - start
    opts = {**kms, "header": "true", "minPartitions": str(spark.sparkContext.defaultParallelism)}
    if args.push_filters:
        opts["pushFilters"] = "true"

    def query(one_value: bool) -> list[Any]:
        reader = spark.read.format("ppml-enc").schema(READ_SCHEMA).options(**opts)
        if one_value and not args.push_filters:  # prune by path: the directory of one value, basePath the table
            df = reader.option("basePath", str(enc)).load(str(enc / "l_shipmode=AIR"))
        else:
            df = reader.load(str(enc))
        if one_value:
            df = df.where("l_shipmode = 'AIR'")
        agg = df.groupBy("l_returnflag").agg(F.count("*"), F.sum(F.col("l_quantity").cast("double")))
        return agg.collect()

    def timed(one_value: bool) -> float:
        start = time.perf_counter()
        query(one_value)
        return time.perf_counter() - start

    files = {}
    for one_value in (False, True):  # warm-up, and the files each query opens
        for log in logs.glob("*.log"):
            log.unlink()
        query(one_value)
        files[one_value] = opened(logs, enc)
    full_times, one_times = [], []
    for _ in range(args.runs):
        full_times.append(timed(False))
        one_times.append(timed(True))
    full, one = statistics.median(full_times), statistics.median(one_times)
    dirs = {Path(f).parent.name for f in files[False]}
    print(f"lineitem SF {args.sf}: {len(files[False])} part files in {len(dirs)} directories"
          + (f"; ppml-enc partitionBy write {write_time:.2f} s" if write_time is not None else ""))  # fmt: skip
    print(f"full scan {full:.2f} s (runs {', '.join(f'{t:.2f}' for t in full_times)}); l_shipmode='AIR' "
          f"{one:.2f} s (runs {', '.join(f'{t:.2f}' for t in one_times)}); ratio {one / full:.3f}")  # fmt: skip
    air = files[True]
    print(f"files opened: full scan {len(files[False])}, AIR {len(air)} "
          f"(all under l_shipmode=AIR: {bool(air) and all('/l_shipmode=AIR/' in f for f in air)})")  # fmt: skip
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
