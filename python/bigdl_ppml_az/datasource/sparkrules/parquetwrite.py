"""Spark's Parquet write rules: the Arrow schema and footer that make pyarrow write what Spark's own
``ParquetWriteSupport`` writes, so that ``spark.read.parquet`` on a decrypted ``ppml-enc`` part file returns the
DataFrame it returns for Spark's own output of the same rows.

Written from Spark 4.x's behaviour (``ParquetWriteSupport``, ``SparkToParquetSchemaConverter``,
``ParquetFileFormat.readSchemaFromFooter``, ``DataSourceUtils.datetimeRebaseSpec``), checked differentially by
``tests/test_fidelity_parquet_write.py``. What is written, and why:

- the footer key ``org.apache.spark.sql.parquet.row.metadata`` holds the Spark schema as JSON: Spark's reader
  takes the schema from it (field metadata, ``char``/``varchar``, byte/short), not from the Parquet types;
- ``org.apache.spark.version``: a file Spark 3.0+ wrote without a legacy-calendar key is read with no calendar
  rebase (values are proleptic Gregorian, as Arrow's are), whatever the reading session's rebase settings;
- decimals of precision <= 9 as INT32, <= 18 as INT64, wider as FIXED_LEN_BYTE_ARRAY (Spark's standard
  layout); lists as ``list``/``element`` and maps as ``key_value`` (pyarrow's compliant nested names, Spark's);
- timestamps as INT64 ``TIMESTAMP(MICROS, adjustedToUTC=true)`` (Spark's ``outputTimestampType=TIMESTAMP_MICROS``;
  its default INT96 is read back to the same values), ``timestamp_ntz`` as ``TIMESTAMP(MICROS, false)``;
- ``required`` where Spark writes it, except struct fields below a struct that may be null: Spark's Arrow batches
  put nulls in such children (pyarrow would refuse them as required), so they are written ``optional``; Spark's
  reader reports every column nullable either way.

Types Spark's Parquet writer refuses or that the Python Data Source API cannot hand over faithfully are refused
by name (:func:`check_writable`). No Spark session, no I/O here.
"""

from __future__ import annotations

import pyarrow as pa
from pyspark import __version__ as pyspark_version
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from ...errors import ConfigError

ROW_METADATA = "org.apache.spark.sql.parquet.row.metadata"
SPARK_VERSION = "org.apache.spark.version"

_ATOMIC: dict[type, pa.DataType] = {
    BooleanType: pa.bool_(),
    ByteType: pa.int8(),
    ShortType: pa.int16(),
    IntegerType: pa.int32(),
    LongType: pa.int64(),
    FloatType: pa.float32(),
    DoubleType: pa.float64(),
    StringType: pa.string(),
    BinaryType: pa.binary(),
    DateType: pa.date32(),
    TimestampType: pa.timestamp("us", tz="UTC"),
    TimestampNTZType: pa.timestamp("us"),
}


def _spark_version() -> str:
    """Spark's ``SPARK_VERSION_SHORT``: the release without a ``-SNAPSHOT``/``.devN`` tail."""
    version = pyspark_version.split("-")[0]
    parts = version.split(".")
    return ".".join(p for p in parts[:3] if p.isdigit())


def _path(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def check_writable(schema: StructType) -> None:
    """Refuse, naming the column and its type, what ppml-enc cannot write as Spark's Parquet writer does."""
    _check_names(schema, "")
    for field in schema.fields:
        _check_type(field.dataType, field.name)


def _check_names(struct: StructType, where: str) -> None:
    seen: dict[str, str] = {}
    for field in struct.fields:
        other = seen.get(field.name.lower())
        if other is not None:  # Spark's writer: COLUMN_ALREADY_EXISTS (names compared ignoring case by default)
            raise ConfigError(
                f"format=parquet: column {_path(where, field.name)} appears twice (also as "
                f"{_path(where, other)}; names are compared ignoring case, as Spark does); rename one of them"
            )
        seen[field.name.lower()] = field.name


def _check_type(dtype: DataType, where: str) -> None:
    if type(dtype) in _ATOMIC or isinstance(dtype, DecimalType):
        return
    if isinstance(dtype, ArrayType):
        _check_type(dtype.elementType, f"{where}.element")
    elif isinstance(dtype, MapType):
        _check_type(dtype.keyType, f"{where}.key")
        _check_type(dtype.valueType, f"{where}.value")
    elif isinstance(dtype, StructType):
        if not dtype.fields:  # Spark: "Parquet data source does not support struct<>" (empty group)
            raise ConfigError(
                f"format=parquet: column {where} is struct<> (no fields); Parquet cannot hold an empty struct "
                "(Spark's writer refuses it too); drop the column"
            )
        _check_names(dtype, where)
        for field in dtype.fields:
            _check_type(field.dataType, _path(where, field.name))
    else:
        raise ConfigError(
            f"format=parquet: column {where} is {dtype.simpleString()}; ppml-enc writes Parquet for boolean, "
            "integral, float, double, decimal, string, binary, date, timestamp, timestamp_ntz and arrays, maps "
            "and structs of them; cast the column first"
        )


def _arrow_type(dtype: DataType, nullable: bool) -> pa.DataType:
    atomic = _ATOMIC.get(type(dtype))
    if atomic is not None:
        return atomic
    if isinstance(dtype, DecimalType):
        return pa.decimal128(dtype.precision, dtype.scale)
    if isinstance(dtype, ArrayType):
        element = pa.field("element", _arrow_type(dtype.elementType, dtype.containsNull), dtype.containsNull)
        return pa.list_(element)
    if isinstance(dtype, MapType):
        key = pa.field("key", _arrow_type(dtype.keyType, False), False)
        value = pa.field("value", _arrow_type(dtype.valueType, dtype.valueContainsNull), dtype.valueContainsNull)
        return pa.map_(key, value)
    if isinstance(dtype, StructType):
        # a struct that may be null gets nulls in every child from Spark's Arrow conversion: children optional
        return pa.struct([_arrow_field(f, parent_nullable=nullable) for f in dtype.fields])
    raise ConfigError(f"format=parquet: type {dtype.simpleString()} cannot be written")  # check_writable first


def _arrow_field(field: StructField, parent_nullable: bool = False) -> pa.Field:
    nullable = field.nullable or parent_nullable
    return pa.field(field.name, _arrow_type(field.dataType, nullable), nullable)


def arrow_schema(schema: StructType) -> pa.Schema:
    """The Arrow schema pyarrow writes so that the Parquet schema is Spark's (see the module docstring), with the
    footer keys Spark's reader looks for."""
    check_writable(schema)
    metadata = {ROW_METADATA: schema.json(), SPARK_VERSION: _spark_version()}
    return pa.schema([_arrow_field(f) for f in schema.fields], metadata=metadata)


def conform(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    """``batch`` (as Spark hands it to the writer) with exactly ``target``'s types: time zones and nullability
    differ at most, so this is a cast without any change of values."""
    if batch.schema.equals(target, check_metadata=False):
        return batch.replace_schema_metadata(target.metadata)
    columns = [column.cast(field.type) for column, field in zip(batch.columns, target, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=target)


WRITER_OPTIONS = {"store_decimal_as_integer": True}  # Spark's INT32/INT64/FIXED_LEN_BYTE_ARRAY decimal layout

__all__ = ["ROW_METADATA", "SPARK_VERSION", "WRITER_OPTIONS", "arrow_schema", "check_writable", "conform"]
