"""Many small files: ppml-enc vs Spark's CSV reader on the plaintext copy (issue 12 goal: ratio <= 1.5).

Not part of the test run. Writes ``--files`` CSV part files of ``--rows`` rows each, encrypts the directory as
ppml-gcm (one encrypted part per plaintext part), then in one ``local[2]`` session runs the same aggregation
(count, sum and max per flag) over (a) Spark's CSV reader on the plaintext and (b) ppml-enc on the encrypted
copy, alternating for ``--runs`` rounds after one warm-up, and prints medians, the ratio b/a, task counts and
the planning time of (b) (``DataSourceReader.partitions()`` called in this process, as the planning worker
does). ``--minPartitions`` defaults to the session's default parallelism, which a Python data source cannot see.

    python bench/many_files.py --files 3000 --rows 20 --runs 3 --workdir /tmp/ppml-many
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

SCHEMA = "id BIGINT, name STRING, amount DOUBLE, flag STRING"


def prepare(workdir: Path, files: int, rows: int) -> dict[str, Path]:
    """``files`` plaintext part files and their ppml-gcm copy (reused when present)."""
    from bigdl_ppml_az import filecrypt
    from bigdl_ppml_az.kms.local import LocalKms

    plain = workdir / f"plain-{files}"
    if not plain.exists():
        tmp = workdir / f"plain-{files}.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        for f in range(files):
            lines = [f"{f * rows + r},name{r},{(f * 31 + r * 7) % 1000 / 10},{'ABC'[r % 3]}" for r in range(rows)]
            (tmp / f"part-{f:05d}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.rename(plain)
    key = workdir / "primary.key"
    kms = LocalKms.load(key) if key.exists() else LocalKms.create(key)
    enc = workdir / f"gcm-{files}"
    if not enc.exists():
        filecrypt.encrypt_path(str(plain), str(enc), kms)
    return {"plain": plain, "enc": enc, "key": key}


def query(df: Any) -> list[Any]:
    from pyspark.sql import functions as F  # noqa: N812

    cents = (F.col("amount") * 100).cast("bigint")  # integer sums: the answer does not depend on the task order
    return sorted(df.groupBy("flag").agg(F.count("*"), F.sum(cents), F.max("id")).collect())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ppml-many"))
    parser.add_argument("--minPartitions", default="")
    parser.add_argument("--planningThreads", default="16")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = prepare(args.workdir, args.files, args.rows)
    print(f"data ready in {time.perf_counter() - t0:.1f} s: {data['enc']}", flush=True)

    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers: this interpreter (a venv has the package)

    from bigdl_ppml_az.datasource.reader import PpmlEncReader
    from bigdl_ppml_az.datasource.source import PpmlEncDataSource

    builder = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
    spark = builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.dataSource.register(PpmlEncDataSource)
    minimum = args.minPartitions or str(spark.sparkContext.defaultParallelism)
    opts = {"kms": "local", "primaryKeyPath": str(data["key"]), "minPartitions": minimum,
            "planningThreads": args.planningThreads}  # fmt: skip

    def native() -> Any:
        return spark.read.schema(SCHEMA).csv(str(data["plain"]))

    def ours() -> Any:
        return spark.read.format("ppml-enc").schema(SCHEMA).options(**opts).load(str(data["enc"]))

    variants = {"a: Spark CSV, plaintext": native, "b: ppml-enc, ppml-gcm": ours}
    answers = {name: query(make()) for name, make in variants.items()}  # warm-up
    if answers["a: Spark CSV, plaintext"] != answers["b: ppml-enc, ppml-gcm"]:
        print("ANSWERS DIFFER", answers, file=sys.stderr)
        return 1
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.runs):
        for name, make in variants.items():
            start = time.perf_counter()
            query(make())
            times[name].append(time.perf_counter() - start)
    lowered = {k.lower(): v for k, v in {**opts, "path": str(data["enc"])}.items()}
    start = time.perf_counter()
    tasks = PpmlEncReader(lowered, ours().schema).partitions()
    planning = time.perf_counter() - start
    a = statistics.median(times["a: Spark CSV, plaintext"])
    b = statistics.median(times["b: ppml-enc, ppml-gcm"])
    print(f"files={args.files} rows/file={args.rows} runs={args.runs} minPartitions={minimum}")
    print(f"tasks: spark={native().rdd.getNumPartitions()} ppml-enc={len(tasks)}; ppml-enc planning {planning:.2f} s")
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.2f} s  runs {', '.join(f'{v:.2f}' for v in values)}")
    print(f"ratio b/a = {b / a:.2f}")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
