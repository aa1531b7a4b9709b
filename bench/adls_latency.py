"""ADLS latency: planning and total time of a many-file read on Azurite behind a proxy adding latency per request.

Not part of the test run. Uploads ``--files`` encrypted part files (made by ``bench/many_files.py`` in
``--workdir``, or made here) to an Azurite container, puts a loopback HTTP proxy (``tests/http_proxy.py``)
in front of it that delays every request by ``--delay-ms`` (20 ms: a same-region ADLS round trip) and counts
it, and through the proxy measures, in one run:

1. planning, ``partitions()`` in this process: (a) every header probed on the driver one after another
   (``probe_all``, ``planningThreads=1``: the plan before issue 12, though each probe is now one request,
   not two), (b) every header probed with ``--threads`` in flight, (c) the current plan (files that fit in
   one split are probed by their task);
2. the total time of the same aggregation run by Spark with the current plan (it plans again in its planning
   worker), and the requests it made.

    PPML_AZ_AZURITE=/work/tools/node_modules/.bin/azurite python bench/adls_latency.py --files 3000 \\
        --workdir /tmp/ppml-many
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ppml-many"))
    parser.add_argument("--no-sequential", action="store_true", help="skip the sequential probe-all baseline (slow)")
    args = parser.parse_args()

    from many_files import SCHEMA, prepare, query

    from emulators import azurite_blob_launcher, running_azurite
    from http_proxy import CountingProxy

    data = prepare(args.workdir, args.files, args.rows)
    launcher = azurite_blob_launcher()
    if launcher is None:
        print("azurite-blob not found: set PPML_AZ_AZURITE", file=sys.stderr)
        return 2
    with running_azurite(launcher, args.workdir / "azurite") as azurite:
        container = azurite.new_container()
        client = azurite.service().get_container_client(container)
        start = time.perf_counter()
        for part in sorted(data["enc"].iterdir()):
            client.upload_blob(f"t/{part.name}", part.read_bytes())
        print(f"uploaded {args.files} files in {time.perf_counter() - start:.1f} s", flush=True)
        port = int(azurite.endpoint.split(":")[2].split("/")[0])
        with CountingProxy(port, delay=args.delay_ms / 1000) as proxy:
            storage = {**azurite.options(), "azureBlobEndpoint": proxy.endpoint(azurite.endpoint)}
            run(args, data, storage, azurite.url(container, "t"), SCHEMA, query, proxy)
    return 0


def run(args: argparse.Namespace, data: dict[str, Path], storage: dict[str, str], url: str, schema: str,
        query: Any, proxy: Any) -> None:  # fmt: skip
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers: this interpreter (a venv has the package)

    from bigdl_ppml_az.datasource.options import ReadSettings
    from bigdl_ppml_az.datasource.planning import plan
    from bigdl_ppml_az.datasource.reader import PpmlEncReader
    from bigdl_ppml_az.datasource.source import PpmlEncDataSource

    builder = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
    spark = builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.dataSource.register(PpmlEncDataSource)
    base = {"kms": "local", "primaryKeyPath": str(data["key"]), **storage,
            "minPartitions": str(spark.sparkContext.defaultParallelism)}  # fmt: skip
    print(f"files={args.files} delay={args.delay_ms} ms per request")
    df = spark.read.format("ppml-enc").schema(schema).options(**base).load(url)

    def lowered(threads: int) -> dict[str, str]:
        return {k.lower(): v for k, v in {**base, "planningThreads": str(threads), "path": url}.items()}

    def timed(label: str, work: Any) -> float:
        proxy.reset()
        start = time.perf_counter()
        tasks = work()
        seconds = time.perf_counter() - start
        print(f"{label}: planning {seconds:.2f} s, {len(tasks)} tasks, {_requests(proxy)}", flush=True)
        return seconds

    results: dict[str, float] = {}
    variants = [] if args.no_sequential else [("probe all, planningThreads=1", 1, True)]
    variants += [(f"probe all, planningThreads={args.threads}", args.threads, True),
                 (f"now, planningThreads={args.threads}", args.threads, False)]  # fmt: skip
    for label, threads, probe_all in variants:
        options = lowered(threads)
        if probe_all:
            settings = ReadSettings.from_options(options)
            results[label] = timed(label, lambda o=options, s=settings: plan(o, s, [url], probe_all=True))
        else:
            results[label] = timed(label, lambda o=options: PpmlEncReader(o, df.schema).partitions())
    now = results[variants[-1][0]]
    for label, seconds in results.items():
        print(f"ratio now / ({label}): {now / seconds:.3f}")
    proxy.reset()
    start = time.perf_counter()
    answer = query(df)
    total = time.perf_counter() - start
    print(f"query total (now): {total:.2f} s, {len(answer)} groups, {_requests(proxy)}", flush=True)
    spark.stop()


def _requests(proxy: Any) -> str:
    kinds = proxy.kinds()
    return f"{sum(kinds.values())} requests ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})"


if __name__ == "__main__":
    raise SystemExit(main())
