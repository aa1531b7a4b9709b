"""The TPC-H schema with the specification's column types (clause 1.4), for Spark, pyarrow and DuckDB.

Identifiers are BIGINT (the spec's "identifier" must hold 2**31 keys at large scale factors), integers INT,
money and quantities DECIMAL(15,2) (exact, like the spec's "decimal"), dates DATE and fixed or variable text
STRING. The same column list drives every reader and the reference engine, so they all see one schema.
"""

from __future__ import annotations

from typing import Any

ID = "bigint"
INT = "int"
DEC = "decimal(15,2)"
DATE = "date"
TEXT = "string"

COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "part": (
        ("p_partkey", ID),
        ("p_name", TEXT),
        ("p_mfgr", TEXT),
        ("p_brand", TEXT),
        ("p_type", TEXT),
        ("p_size", INT),
        ("p_container", TEXT),
        ("p_retailprice", DEC),
        ("p_comment", TEXT),
    ),
    "supplier": (
        ("s_suppkey", ID),
        ("s_name", TEXT),
        ("s_address", TEXT),
        ("s_nationkey", ID),
        ("s_phone", TEXT),
        ("s_acctbal", DEC),
        ("s_comment", TEXT),
    ),
    "partsupp": (
        ("ps_partkey", ID),
        ("ps_suppkey", ID),
        ("ps_availqty", INT),
        ("ps_supplycost", DEC),
        ("ps_comment", TEXT),
    ),
    "customer": (
        ("c_custkey", ID),
        ("c_name", TEXT),
        ("c_address", TEXT),
        ("c_nationkey", ID),
        ("c_phone", TEXT),
        ("c_acctbal", DEC),
        ("c_mktsegment", TEXT),
        ("c_comment", TEXT),
    ),
    "orders": (
        ("o_orderkey", ID),
        ("o_custkey", ID),
        ("o_orderstatus", TEXT),
        ("o_totalprice", DEC),
        ("o_orderdate", DATE),
        ("o_orderpriority", TEXT),
        ("o_clerk", TEXT),
        ("o_shippriority", INT),
        ("o_comment", TEXT),
    ),
    "lineitem": (
        ("l_orderkey", ID),
        ("l_partkey", ID),
        ("l_suppkey", ID),
        ("l_linenumber", INT),
        ("l_quantity", DEC),
        ("l_extendedprice", DEC),
        ("l_discount", DEC),
        ("l_tax", DEC),
        ("l_returnflag", TEXT),
        ("l_linestatus", TEXT),
        ("l_shipdate", DATE),
        ("l_commitdate", DATE),
        ("l_receiptdate", DATE),
        ("l_shipinstruct", TEXT),
        ("l_shipmode", TEXT),
        ("l_comment", TEXT),
    ),
    "nation": (
        ("n_nationkey", ID),
        ("n_name", TEXT),
        ("n_regionkey", ID),
        ("n_comment", TEXT),
    ),
    "region": (
        ("r_regionkey", ID),
        ("r_name", TEXT),
        ("r_comment", TEXT),
    ),
}
TABLE_NAMES: tuple[str, ...] = tuple(COLUMNS)

# Spark's CSV reader sees the trailing '|' of dbgen's .tbl lines as one more, empty column.
TBL_TRAILER = "_tbl_trailer"


def spark_schema(table: str, trailer: bool = False) -> Any:
    """The Spark StructType of ``table`` (with an extra string column for .tbl's trailing delimiter)."""
    from pyspark.sql import types as T

    kinds = {
        ID: T.LongType(),
        INT: T.IntegerType(),
        DEC: T.DecimalType(15, 2),
        DATE: T.DateType(),
        TEXT: T.StringType(),
    }
    fields = [T.StructField(name, kinds[kind]) for name, kind in COLUMNS[_known(table)]]
    if trailer:
        fields.append(T.StructField(TBL_TRAILER, T.StringType()))
    return T.StructType(fields)


def arrow_schema(table: str) -> Any:
    """The pyarrow schema of ``table`` (what the in-memory reference tables are parsed into)."""
    import pyarrow as pa

    kinds = {ID: pa.int64(), INT: pa.int32(), DEC: pa.decimal128(15, 2), DATE: pa.date32(), TEXT: pa.string()}
    return pa.schema([pa.field(name, kinds[kind]) for name, kind in COLUMNS[_known(table)]])


def duckdb_columns(table: str) -> dict[str, str]:
    """Column name -> DuckDB type, for ``read_csv(columns=...)``."""
    kinds = {ID: "BIGINT", INT: "INTEGER", DEC: "DECIMAL(15,2)", DATE: "DATE", TEXT: "VARCHAR"}
    return {name: kinds[kind] for name, kind in COLUMNS[_known(table)]}


def _known(table: str) -> str:
    if table not in COLUMNS:
        from ..errors import ConfigError

        raise ConfigError(f"unknown TPC-H table {table!r}; tables are: {', '.join(TABLE_NAMES)}")
    return table
