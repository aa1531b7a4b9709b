"""ADLS latency: planning and total time of a many-file read on Azurite behind a proxy adding latency per request.

Not part of the test run. Uploads ``--files`` encrypted part files (made by ``bench/many_files.py`` in
``--workdir``, or made here) to an Azurite container, starts a loopback TCP proxy that delays every request
from the client by ``--delay-ms`` (20 ms: a same-region ADLS round trip), and through the proxy measures
(1) planning, ``DataSourceReader.partitions()`` in this process, with ``--threads`` probes in flight and with
``planningThreads=1`` (sequential header probes, as before issue 12), and (2) the total time of the same
aggregation run by Spark (with ``--sequential-query`` also for the sequential setting, which takes minutes).

    PPML_AZ_AZURITE=/work/tools/node_modules/.bin/azurite python bench/adls_latency.py --files 3000 \\
        --workdir /tmp/ppml-many
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


@contextmanager
def delaying_proxy(target_port: int, delay: float) -> Iterator[int]:
    """127.0.0.1:<port> forwarding to ``target_port``; each client send (an HTTP request) waits ``delay``."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(256)
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket, wait: float) -> None:
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if wait:
                    time.sleep(wait)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", target_port))
            threading.Thread(target=pump, args=(client, upstream, delay), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client, 0.0), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ppml-many"))
    parser.add_argument("--sequential-query", action="store_true", help="also time the query with planningThreads=1")
    args = parser.parse_args()

    from many_files import SCHEMA, prepare, query

    from emulators import azurite_blob_launcher, running_azurite

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
        with delaying_proxy(port, args.delay_ms / 1000) as proxy_port:
            endpoint = azurite.endpoint.replace(f":{port}/", f":{proxy_port}/")
            storage = {**azurite.options(), "azureBlobEndpoint": endpoint}
            run(args, data, storage, azurite.url(container, "t"), SCHEMA, query)
    return 0


def run(args: argparse.Namespace, data: dict[str, Path], storage: dict[str, str], url: str, schema: str,
        query: object) -> None:  # fmt: skip
    from pyspark.sql import SparkSession

    from bigdl_ppml_az.datasource.reader import PpmlEncReader
    from bigdl_ppml_az.datasource.source import PpmlEncDataSource

    builder = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
    spark = builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.dataSource.register(PpmlEncDataSource)
    base = {"kms": "local", "primaryKeyPath": str(data["key"]), **storage,
            "minPartitions": str(spark.sparkContext.defaultParallelism)}  # fmt: skip
    print(f"files={args.files} delay={args.delay_ms} ms per request")
    for threads in (args.threads, 1):
        opts = {**base, "planningThreads": str(threads)}
        df = spark.read.format("ppml-enc").schema(schema).options(**opts).load(url)
        lowered = {k.lower(): v for k, v in {**opts, "path": url}.items()}
        start = time.perf_counter()
        tasks = PpmlEncReader(lowered, df.schema).partitions()
        planning = time.perf_counter() - start
        print(f"planningThreads={threads}: planning {planning:.2f} s ({len(tasks)} tasks)", flush=True)
        if threads > 1 or args.sequential_query:
            start = time.perf_counter()
            answer = query(df)  # type: ignore[operator]
            total = time.perf_counter() - start
            print(f"planningThreads={threads}: query total {total:.2f} s, {len(answer)} groups", flush=True)
    spark.stop()


if __name__ == "__main__":
    raise SystemExit(main())
