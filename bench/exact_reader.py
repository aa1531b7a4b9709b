"""In-process speed of the exact-semantics CSV reader (``sparkcsv.tokenize_lines``), no Spark.

Not part of the test run. On the first ``--mb`` of lineitem as tpchgen-cli writes it (every ``l_comment``
quoted), cut into line-aligned chunks of ``--chunk-mb`` (the worker's ``chunkBytes``), it times, alternating
for ``--runs`` rounds, and prints medians as MB/s of CPU time (``time.process_time``: everything here runs
in this one thread, and CPU time is steadier than wall time on a shared machine) and ratios from this run:

* ``pyarrow``: ``pyarrow.csv.read_csv`` of the chunk, all columns strings (what the fast path's parse costs);
* ``exact``: ``tokenize_lines`` (the exact reader, used with ``comment``, blank lines, odd quoting ...);
* ``per-line``: ``records`` + ``LineTokenizer`` line by line, the exact reader before the vectorised split
  (``--per-line-mb`` of the chunk only: it is slow);
* ``parse fast`` / ``parse exact``: ``CsvParser.parse`` with the lineitem schema, without and with
  ``comment="#"`` (no line starts with ``#``: the same rows), i.e. tokens plus type conversion and ``mode``.

    python bench/exact_reader.py --csv /tmp/ppml-bench/plain/lineitem.csv --mb 50 --chunk-mb 4 --runs 3
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

SCHEMA = (
    "l_orderkey BIGINT, l_partkey BIGINT, l_suppkey BIGINT, l_linenumber INT, l_quantity DOUBLE, "
    "l_extendedprice DOUBLE, l_discount DOUBLE, l_tax DOUBLE, l_returnflag STRING, l_linestatus STRING, "
    "l_shipdate DATE, l_commitdate DATE, l_receiptdate DATE, l_shipinstruct STRING, l_shipmode STRING, "
    "l_comment STRING"
)


def whole_lines(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of the file, cut back to a line end."""
    with path.open("rb") as f:
        data = f.read(size)
    return data[: data.rfind(b"\n") + 1]


def line_chunks(data: bytes, size: int) -> list[bytes]:
    """``data`` in pieces of about ``size`` bytes that end on a line end."""
    out, start = [], 0
    while start < len(data):
        end = data.find(b"\n", min(start + size, len(data) - 1)) + 1 or len(data)
        out.append(data[start:end])
        start = end
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", required=True, help="lineitem.csv with a header (tpchgen-cli csv --tables lineitem)")
    parser.add_argument("--mb", type=float, default=50.0, help="MB of lineitem to read")
    parser.add_argument("--chunk-mb", type=float, default=4.0, help="chunk size in MB (chunkBytes)")
    parser.add_argument("--per-line-mb", type=float, default=4.0, help="chunk size for the per-line reader")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    import pyarrow as pa
    import pyarrow.csv as pacsv
    from pyspark.sql import types as T  # noqa: N812

    from bigdl_ppml_az.datasource.options import ReadSettings
    from bigdl_ppml_az.datasource.parsing import CsvParser
    from bigdl_ppml_az.datasource.sparkrules import csv as sparkcsv

    data = whole_lines(Path(args.csv), int(args.mb * 1e6))
    chunks = line_chunks(data, int(args.chunk_mb * 1e6))
    small = whole_lines(Path(args.csv), int(args.per_line_mb * 1e6))
    kinds = {"BIGINT": T.LongType(), "INT": T.IntegerType(), "DOUBLE": T.DoubleType(), "STRING": T.StringType(),
             "DATE": T.DateType()}  # fmt: skip
    schema = T.StructType([T.StructField(n, kinds[t]) for n, t in (f.split() for f in SCHEMA.split(", "))])
    width = len(schema.fields)
    plain, commented = ReadSettings(header=True), ReadSettings(header=True, comment="#")
    names = [f"c{i}" for i in range(width)]

    def arrow() -> int:
        convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names})
        rows = 0
        for i, chunk in enumerate(chunks):
            options = pacsv.ReadOptions(column_names=names, skip_rows=int(i == 0), use_threads=False)
            rows += pacsv.read_csv(io.BytesIO(chunk), options, convert_options=convert).num_rows
        return rows

    def exact() -> int:
        return sum(len(sparkcsv.tokenize_lines(c, commented, width, i == 0)[2]) for i, c in enumerate(chunks))

    def per_line() -> int:
        lines = list(sparkcsv.records(small.decode("utf-8", "replace"), commented, True))
        tokenizer = sparkcsv.LineTokenizer(commented)
        return len(sparkcsv.python_columns(lines, tokenizer, width, commented.null_value)[1])

    def parse(settings: ReadSettings) -> Callable[[], int]:
        def run() -> int:
            parser = CsvParser(settings, schema, "bench")
            return sum(b.num_rows for i, c in enumerate(chunks) for b in parser.parse(c, i == 0))

        return run

    variants: dict[str, tuple[Callable[[], int], int]] = {
        "pyarrow": (arrow, len(data)),
        "exact": (exact, len(data)),
        "per-line": (per_line, len(small)),
        "parse fast": (parse(plain), len(data)),
        "parse exact": (parse(commented), len(data)),
    }
    rates: dict[str, list[float]] = {v: [] for v in variants}
    rows: dict[str, int] = {}
    for name, (run, _) in variants.items():  # warm-up: imports, caches
        run() if name != "per-line" else None
    for _ in range(args.runs):
        for name, (run, size) in variants.items():
            started = time.process_time()
            rows[name] = run()
            rates[name].append(size / 1e6 / (time.process_time() - started))
    print(
        f"{len(data) / 1e6:.1f} MB in {len(chunks)} chunks ({rows['exact']} rows); per-line reader on "
        f"{len(small) / 1e6:.1f} MB; CPU MB/s"
    )
    base = statistics.median(rates["pyarrow"])
    for name, values in rates.items():
        med = statistics.median(values)
        runs = [round(v, 1) for v in values]
        print(f"{name:<12} {med:8.1f} MB/s  runs {runs}  time ratio vs pyarrow {base / med:6.2f}")
    same = rows["pyarrow"] == rows["exact"] == rows["parse fast"] == rows["parse exact"]
    print("row counts agree" if same else f"ROW COUNTS DIFFER: {rows}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
