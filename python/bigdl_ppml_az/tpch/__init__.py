"""TPC-H on (encrypted) Spark DataFrames: schema, table reader, the 22 queries, runner and answer check.

``tables(spark, path, fmt, crypto_mode, kms)`` reads the eight tables plain or through ``ppml-enc``;
``q01(t)`` ... ``q22(t)`` are the queries (DataFrame API, spec validation parameters by default);
``run(t)`` runs them with wall times. :mod:`.reference` and :mod:`.verify` check results against DuckDB.
"""

from __future__ import annotations

from .queries import (
    QUERIES,
    q01,
    q02,
    q03,
    q04,
    q05,
    q06,
    q07,
    q08,
    q09,
    q10,
    q11,
    q12,
    q13,
    q14,
    q15,
    q16,
    q17,
    q18,
    q19,
    q20,
    q21,
    q22,
    query,
)
from .reference import ResultSet
from .runner import RunResult, parse_queries, read_results, run, write_results
from .schema import COLUMNS, TABLE_NAMES, arrow_schema, spark_schema
from .tables import Tables, read_table, tables

__all__ = [
    "COLUMNS",
    "QUERIES",
    "TABLE_NAMES",
    "ResultSet",
    "RunResult",
    "Tables",
    "arrow_schema",
    "parse_queries",
    "q01",
    "q02",
    "q03",
    "q04",
    "q05",
    "q06",
    "q07",
    "q08",
    "q09",
    "q10",
    "q11",
    "q12",
    "q13",
    "q14",
    "q15",
    "q16",
    "q17",
    "q18",
    "q19",
    "q20",
    "q21",
    "q22",
    "query",
    "read_results",
    "read_table",
    "run",
    "spark_schema",
    "tables",
    "write_results",
]
