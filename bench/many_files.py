"""Many small files: ppml-enc vs Spark's CSV reader on the plaintext copy (issue 12 goal: ratio <= 1.5).

Not part of the test run. Writes ``--files`` CSV part files of ``--rows`` rows each, encrypts the directory as
ppml-gcm (one encrypted part per plaintext part), then in one ``local[2]`` session runs the same aggregation
(count, sum and max per flag) over (a) Spark's CSV reader on the plaintext, (b) ppml-enc on the encrypted
copy and (c) ppml-enc on a sealed copy (a table: authenticated manifest checked by every task, issue 18),
alternating for ``--runs`` rounds after one warm-up, and prints medians, the ratios b/a and c/a, task counts,
the planning time of (b) (``DataSourceReader.partitions()`` called in this process, as the planning worker
does), and the table manifest's size and its parse + MAC verification time. ``--minPartitions`` is passed only
when given (``--minPartitions default`` passes the session's default parallelism, the pre-issue-18 runs).

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
    table = workdir / f"table-{files}"
    if not table.exists():
        import shutil

        from bigdl_ppml_az.table.check import seal_table

        tmp = workdir / f"table-{files}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(enc, tmp)
        seal_table(str(tmp), {"kms": "local", "primaryKeyPath": str(key)})
        tmp.rename(table)
    return {"plain": plain, "enc": enc, "table": table, "key": key}


def manifest_cost(table: Path, key: Path) -> tuple[int, float]:
    """Bytes of the table manifest and the seconds to parse it and verify its MAC (key unwrap included)."""
    from bigdl_ppml_az.kms import KmsSettings
    from bigdl_ppml_az.storage.manifest import Manifest
    from bigdl_ppml_az.table.integrity import verify

    data = (table / "_SUCCESS").read_bytes()
    start = time.perf_counter()
    manifest = Manifest.parse(data, str(table))
    assert manifest is not None
    verify(manifest, KmsSettings.from_options({"kms": "local", "primaryKeyPath": str(key)}), str(table))
    return len(data), time.perf_counter() - start


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
    minimum = str(spark.sparkContext.defaultParallelism) if args.minPartitions == "default" else args.minPartitions
    opts = {"kms": "local", "primaryKeyPath": str(data["key"]), "planningThreads": args.planningThreads}
    if minimum:
        opts["minPartitions"] = minimum

    def native() -> Any:
        return spark.read.schema(SCHEMA).csv(str(data["plain"]))

    def ours() -> Any:
        return spark.read.format("ppml-enc").schema(SCHEMA).options(**opts).load(str(data["enc"]))

    def table() -> Any:
        return spark.read.format("ppml-enc").schema(SCHEMA).options(**opts).load(str(data["table"]))

    variants = {"a: Spark CSV, plaintext": native, "b: ppml-enc, ppml-gcm": ours, "c: ppml-enc, table": table}
    answers = {name: query(make()) for name, make in variants.items()}  # warm-up
    if len({repr(a) for a in answers.values()}) != 1:
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
    c = statistics.median(times["c: ppml-enc, table"])
    size, verify_seconds = manifest_cost(data["table"], data["key"])
    print(f"files={args.files} rows/file={args.rows} runs={args.runs} minPartitions={minimum or 'not given'}")
    print(f"table manifest: {size} bytes, parse + verify {verify_seconds * 1000:.0f} ms")
    print(f"tasks: spark={native().rdd.getNumPartitions()} ppml-enc={len(tasks)}; ppml-enc planning {planning:.2f} s")
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.2f} s  runs {', '.join(f'{v:.2f}' for v in values)}")
    print(f"ratio b/a = {b / a:.2f}  c/a = {c / a:.2f}  c/b = {c / b:.2f}")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
