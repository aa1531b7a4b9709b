"""Spark's Parquet read rules over pyarrow: the schema Spark reports for a file, the schema of a multi-file read
(one footer, or ``mergeSchema``), and the values Spark's vectorized reader produces for each (Parquet column,
Spark type) pair, including the pairs it refuses.

Written from Spark 4.x's behaviour (``ParquetToSparkSchemaConverter``, ``StructType.merge``,
``ParquetVectorUpdaterFactory``), checked differentially by ``tests/test_fidelity_parquet.py`` with
``spark.read.parquet`` as the oracle. Hand-written because pyarrow's own Parquet-to-Arrow mapping differs from
Spark's (unsigned integers, INT96, nullability, names, which conversions are allowed). pyarrow still decodes
every page; this module only decides types and converts the decoded Arrow arrays. No Spark import here.

Spark session settings a Python data source cannot read are taken at their defaults (docs/FIDELITY.md):
``spark.sql.caseSensitive=false``, ``spark.sql.parquet.binaryAsString=false``,
``spark.sql.parquet.int96AsTimestamp=true``, ``spark.sql.parquet.inferTimestampNTZ.enabled=true``,
``spark.sql.parquet.datetimeRebaseModeInRead=CORRECTED`` and ``int96RebaseModeInRead=CORRECTED`` (Spark 4's
defaults), ``spark.sql.legacy.parquet.nanosAsLong=false``, ``spark.sql.parquet.int96TimestampConversion=false``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql.pandas.types import to_arrow_type
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

from ...errors import ParquetRefusedError, SparkParquetError

CASE_SENSITIVE = False  # spark.sql.caseSensitive (default)
INFER_TIMESTAMP_NTZ = True  # spark.sql.parquet.inferTimestampNTZ.enabled (default)
MAX_PRECISION = 38
_MICROS_PER_DAY = 86_400_000_000
# Spark's legacy (Julian) rebase changes no value from here on, in any time zone: 1900-01-01 00:00 UTC minus a day
# (RebaseDateTime.lastSwitchJulianTs is the last switch of all zones, at the end of 1899 or earlier).
_LAST_SWITCH_DAY = -141427  # 1582-10-15, RebaseDateTime.lastSwitchJulianDay
_LAST_SWITCH_MICROS = -2_209_075_200_000_000


@dataclass
class Node:
    """One field of a Parquet file as pyarrow decodes it: a group (struct, list, map) or a leaf column with its
    Parquet physical and logical type."""

    name: str
    kind: str  # struct | list | map | leaf
    children: list[Node] = field(default_factory=list)
    physical: str = ""
    logical: dict[str, Any] = field(default_factory=dict)
    length: int = -1
    path: str = ""
    leaf_indices: list[int] = field(default_factory=list)

    @property
    def logical_type(self) -> str:
        return str(self.logical.get("Type", "None"))

    def describe(self) -> str:
        text = self.physical
        if self.logical_type not in ("None", ""):
            text += f" ({self.logical_type})"
        return text


def file_nodes(file: pq.ParquetFile) -> list[Node]:
    """The top-level fields of ``file`` with their leaf columns (pyarrow's Arrow schema gives the nesting; the
    Parquet schema gives each leaf's types, in the same depth-first order)."""
    try:
        arrow = file.schema.to_arrow_schema()
    except pa.ArrowException as exc:
        raise _arrow_refusal(exc) from None
    schema = file.schema
    counter = iter(range(len(schema)))

    def build(name: str, t: pa.DataType) -> Node:
        if isinstance(t, pa.ExtensionType):
            t = t.storage_type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_struct(t):
            node = Node(name, "struct", [build(t.field(i).name, t.field(i).type) for i in range(t.num_fields)])
        elif pa.types.is_map(t):
            node = Node(name, "map", [build("key", t.key_type), build("value", t.item_type)])
        elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or \
                pa.types.is_list_view(t) or pa.types.is_large_list_view(t):  # fmt: skip
            node = Node(name, "list", [build("element", t.value_type)])
        else:
            index = next(counter)
            column = schema.column(index)
            try:
                logical = json.loads(column.logical_type.to_json())
            except ValueError:
                logical = {"Type": str(column.logical_type.type)}
            if logical.get("Type") == "Decimal":
                logical.setdefault("precision", column.precision)
                logical.setdefault("scale", column.scale)
            return Node(name, "leaf", physical=column.physical_type, logical=logical, length=column.length,
                        path=column.path, leaf_indices=[index])  # fmt: skip
        node.leaf_indices = [i for child in node.children for i in child.leaf_indices]
        return node

    return [build(f.name, f.type) for f in arrow]


def _arrow_refusal(exc: pa.ArrowException) -> SparkParquetError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "map" in text.lower() and "key" in text.lower():
        return ParquetRefusedError(
            "a map whose keys are not annotated required: Spark reads it, ppml-enc cannot yet (pyarrow refuses "
            f"such maps: {text[:200]}); rewrite the file with required map keys"
        )
    return SparkParquetError(f"not a Parquet file ppml-enc can read ({type(exc).__name__}: {text[:200]})")


# ---- schema: ParquetToSparkSchemaConverter, then asNullable (every field of a file source is nullable)


def _illegal(node: Node) -> SparkParquetError:
    return SparkParquetError(f"[PARQUET_TYPE_ILLEGAL] Illegal Parquet type: {node.describe()} (column {node.path}); "
                             "Spark refuses this file too")  # fmt: skip


def _decimal(node: Node, max_precision: int) -> DecimalType:
    precision, scale = int(node.logical["precision"]), int(node.logical["scale"])
    if precision > MAX_PRECISION:
        raise SparkParquetError(f"[DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION] decimal precision {precision} of column "
                                f"{node.path} exceeds Spark's maximum 38; Spark refuses this file too")  # fmt: skip
    if max_precision != -1 and not 1 <= precision <= max_precision:
        raise SparkParquetError(f"invalid decimal precision: {node.physical} column {node.path} cannot store "
                                f"{precision} digits (max {max_precision}); Spark refuses this file too")  # fmt: skip
    return DecimalType(precision, scale)


def _unit(node: Node) -> str:
    return str(node.logical.get("timeUnit", ""))


def leaf_type(node: Node) -> DataType:
    """The Spark type ``ParquetToSparkSchemaConverter`` gives a primitive column (its errors as Spark's)."""
    logical, physical = node.logical_type, node.physical
    if physical == "BOOLEAN":
        return BooleanType()
    if physical == "FLOAT":
        return FloatType()
    if physical == "DOUBLE":
        return DoubleType()
    if physical == "INT96":
        return TimestampType()  # spark.sql.parquet.int96AsTimestamp=true
    if physical == "INT32":
        if logical in ("None", "Null"):
            return IntegerType()
        if logical == "Int":
            width, signed = int(node.logical["bitWidth"]), bool(node.logical["isSigned"])
            if signed:
                types: dict[int, DataType] = {8: ByteType(), 16: ShortType(), 32: IntegerType()}
            else:
                types = {8: ShortType(), 16: IntegerType(), 32: LongType()}
            if width in types:
                return types[width]
        if logical == "Date":
            return DateType()
        if logical == "Decimal":
            return _decimal(node, 9)
        raise _illegal(node)
    if physical == "INT64":
        if logical == "None":
            return LongType()
        if logical == "Int":
            width, signed = int(node.logical["bitWidth"]), bool(node.logical["isSigned"])
            if width == 64:
                return LongType() if signed else DecimalType(20, 0)
        if logical == "Decimal":
            return _decimal(node, 18)
        if logical == "Timestamp" and _unit(node) in ("milliseconds", "microseconds"):
            adjusted = bool(node.logical.get("isAdjustedToUTC"))
            return TimestampType() if adjusted or not INFER_TIMESTAMP_NTZ else TimestampNTZType()
        if logical == "Time":
            raise SparkParquetError(f"[UNSUPPORTED_TIME_TYPE] The data type TIME is not supported (column "
                                    f"{node.path}); Spark refuses this file too")  # fmt: skip
        raise _illegal(node)
    if physical == "BYTE_ARRAY":
        if logical in ("String", "Enum", "JSON"):
            return StringType()
        if logical in ("None", "BSON"):
            return BinaryType()  # spark.sql.parquet.binaryAsString=false
        if logical == "Decimal":
            return _decimal(node, -1)
        raise _illegal(node)
    if physical == "FIXED_LEN_BYTE_ARRAY":
        if logical == "Decimal":
            return _decimal(node, _max_precision_for_bytes(node.length))
        if logical == "None":
            return BinaryType()
        if logical == "Interval":
            raise SparkParquetError(f"Parquet type INTERVAL (column {node.path}) is not implemented in Spark; "
                                    "Spark refuses this file too")  # fmt: skip
        raise _illegal(node)
    raise _illegal(node)


def _max_precision_for_bytes(n: int) -> int:
    """Decimal.maxPrecisionForBytes: digits of the largest signed value in ``n`` bytes."""
    return len(str(2 ** (8 * n - 1) - 1)) if n > 0 else 0


def node_type(node: Node) -> DataType:
    if node.kind == "leaf":
        return leaf_type(node)
    if node.kind == "list":
        return ArrayType(node_type(node.children[0]), True)
    if node.kind == "map":
        return MapType(node_type(node.children[0]), node_type(node.children[1]), True)
    return StructType([StructField(c.name, node_type(c), True) for c in node.children])


def file_schema(file: pq.ParquetFile) -> StructType:
    """The schema Spark reports for one Parquet file (every field nullable, as Spark's file sources say): the
    Spark schema a Spark writer left in the footer when there is one that parses (types and field metadata, as
    ``ParquetFileFormat.readSchemaFromFooter``), else the Parquet schema converted by Spark's rules."""
    nodes = file_nodes(file)
    schema = footer_schema(file)
    if schema is None:
        schema = StructType([StructField(n.name, node_type(n), True) for n in nodes])
    check_duplicates(schema)
    return schema


SPARK_SCHEMA_KEY = b"org.apache.spark.sql.parquet.row.metadata"
_READABLE = (BooleanType, ByteType, ShortType, IntegerType, LongType, FloatType, DoubleType, DecimalType,
             StringType, BinaryType, DateType, TimestampType, TimestampNTZType)  # fmt: skip


def footer_schema(file: pq.ParquetFile) -> StructType | None:
    """The Spark schema in the footer (made nullable), None when there is none or it does not parse (Spark then
    converts the Parquet schema too). A type that ppml-enc's reader cannot produce is refused by name rather
    than read as the Parquet type (an interval as its integers, a variant as its struct)."""
    raw = (file.metadata.metadata or {}).get(SPARK_SCHEMA_KEY)
    if raw is None:
        return None
    try:
        parsed = StructType.fromJson(json.loads(raw))
    except Exception:  # noqa: BLE001 - Spark logs a warning and falls back to the Parquet schema
        return None
    schema = _nullable(parsed)
    assert isinstance(schema, StructType)
    for name, t in _leaves(schema, ""):
        if not isinstance(t, _READABLE):
            raise ParquetRefusedError(
                f"column {name}: the Spark schema in this file's footer says {t.simpleString()}, which ppml-enc "
                "does not read (Spark reads it); read the file with Spark's reader"
            )
    return schema


def _nullable(t: DataType) -> DataType:
    """Spark's ``asNullable``: every field, element and map value nullable; names and metadata kept."""
    if isinstance(t, StructType):
        return StructType([StructField(f.name, _nullable(f.dataType), True, f.metadata) for f in t.fields])
    if isinstance(t, ArrayType):
        return ArrayType(_nullable(t.elementType), True)
    if isinstance(t, MapType):
        return MapType(_nullable(t.keyType), _nullable(t.valueType), True)
    return t


def _leaves(t: DataType, prefix: str) -> Iterator[tuple[str, DataType]]:
    if isinstance(t, StructType):
        for f in t.fields:
            yield from _leaves(f.dataType, f"{prefix}{f.name}" if not prefix else f"{prefix}.{f.name}")
    elif isinstance(t, ArrayType):
        yield from _leaves(t.elementType, f"{prefix}.element")
    elif isinstance(t, MapType):
        yield from _leaves(t.keyType, f"{prefix}.key")
        yield from _leaves(t.valueType, f"{prefix}.value")
    else:
        yield prefix, t


def check_duplicates(schema: StructType, where: str = "the data schema") -> None:
    """Spark refuses a schema with two columns whose names are equal (ignoring case, by default)."""
    seen: dict[str, str] = {}
    for f in schema.fields:
        key = f.name if CASE_SENSITIVE else f.name.lower()
        if key in seen:
            raise SparkParquetError(f"[COLUMN_ALREADY_EXISTS] The column `{f.name.lower()}` already exists in "
                                    f"{where} (names are compared ignoring case, as spark.sql.caseSensitive=false); "
                                    "Spark refuses it too")  # fmt: skip
        seen[key] = f.name


# ---- mergeSchema: StructType.merge, in file order


def merge(left: DataType, right: DataType) -> DataType:
    """Spark's ``StructType.merge`` (names matched as ``spark.sql.caseSensitive`` says; the left name stays)."""
    if isinstance(left, ArrayType) and isinstance(right, ArrayType):
        return ArrayType(merge(left.elementType, right.elementType), True)
    if isinstance(left, MapType) and isinstance(right, MapType):
        return MapType(merge(left.keyType, right.keyType), merge(left.valueType, right.valueType), True)
    if isinstance(left, StructType) and isinstance(right, StructType):
        right_by = {_key(f.name): f for f in right.fields}
        out = []
        for f in left.fields:
            other = right_by.get(_key(f.name))
            if other is None:
                out.append(f)
                continue
            try:
                out.append(StructField(f.name, merge(f.dataType, other.dataType), True, f.metadata))
            except SparkParquetError:
                raise SparkParquetError(f"[CANNOT_MERGE_SCHEMAS] Failed merging schemas: field {f.name} is "
                                        f"{f.dataType.simpleString()} in one file and {other.dataType.simpleString()} "
                                        "in another (mergeSchema); Spark refuses it too") from None  # fmt: skip
        left_names = {_key(f.name) for f in left.fields}
        out.extend(f for f in right.fields if _key(f.name) not in left_names)
        return StructType(out)
    if isinstance(left, DecimalType) and isinstance(right, DecimalType):
        if left.scale == right.scale:
            return DecimalType(max(left.precision, right.precision), left.scale)
        raise SparkParquetError("decimal scales differ")
    if left == right:
        return left
    raise SparkParquetError(f"{left.simpleString()} and {right.simpleString()} do not merge")


def merge_schemas(schemas: list[StructType]) -> StructType:
    merged = schemas[0]
    for schema in schemas[1:]:
        result = merge(merged, schema)
        assert isinstance(result, StructType)
        merged = result
    check_duplicates(merged)
    return merged


def _arrow_type(t: DataType) -> pa.DataType:
    """The Arrow type Spark expects for ``t`` from a Python data source (timestamps in UTC, as
    ``parsing.arrow_schema``)."""
    return to_arrow_type(t, timezone="UTC")


def _key(name: str) -> str:
    return name if CASE_SENSITIVE else name.lower()


# ---- legacy datetime rebase (files written by Spark 2.x, or by Spark 3+ in LEGACY mode)


def _legacy_modes(file: pq.ParquetFile) -> tuple[bool, bool]:
    """(dates/timestamps need Julian rebase, INT96 needs it): Spark's DataSourceUtils.datetimeRebaseSpec and
    int96RebaseSpec from the file's key-value metadata (no Spark version: the session mode, CORRECTED)."""
    meta = file.metadata.metadata or {}
    version = meta.get(b"org.apache.spark.version")
    if version is None:
        return False, False
    old = version.decode("utf-8", "replace") < "3.0.0"
    return (old or b"org.apache.spark.legacyDateTime" in meta), (old or b"org.apache.spark.legacyINT96" in meta)


def _check_rebase(values: pa.Array, threshold: int, node: Node) -> None:
    low = pc.min(values).as_py()
    if low is not None and low < threshold:
        raise ParquetRefusedError(
            f"column {node.path} holds dates or timestamps before the Gregorian switch written in Spark's legacy "
            "hybrid calendar (Spark 2.x or datetimeRebaseMode=LEGACY); Spark rebases them, ppml-enc does not yet "
            "(option datetimeRebaseMode/int96RebaseMode): read this file with Spark's own reader"
        )


# ---- reading: Spark's vectorized updaters over pyarrow's decoded arrays


def _not_convertible(node: Node, target: DataType) -> SparkParquetError:
    return SparkParquetError(
        f"[FAILED_READ_FILE.PARQUET_COLUMN_DATA_TYPE_MISMATCH] Parquet column cannot be converted: column "
        f"[{node.path or node.name}], expected {target.simpleString()}, found {node.describe() or node.kind}; "
        "Spark refuses this read too (files with different types need mergeSchema or a common schema)"
    )


def _plain(arr: pa.Array) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if isinstance(arr, pa.ExtensionArray):
        arr = arr.storage
    if isinstance(arr, pa.DictionaryArray):
        arr = arr.dictionary_decode()
    if pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.large_string())
    if pa.types.is_binary_view(arr.type):
        arr = arr.cast(pa.large_binary())
    return arr


def _raw_ints(arr: pa.Array, node: Node) -> pa.Array:
    """The stored INT32/INT64 values of a leaf (signed, in the file's unit), as int64."""
    t = arr.type
    width = pa.int32() if node.physical == "INT32" else pa.int64()
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.int64())
    if pa.types.is_decimal(t):
        scale = t.scale
        return pa.array([None if v is None else int(v.scaleb(scale)) for v in arr.to_pylist()], pa.int64())
    if pa.types.is_timestamp(t):
        unit = {"milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}.get(_unit(node), t.unit)
        if unit != t.unit:
            arr = arr.cast(pa.timestamp(unit, t.tz))
        return arr.cast(pa.int64())
    if pa.types.is_time(t):
        unit = {"milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}.get(_unit(node), t.unit)
        if unit != t.unit:
            arr = arr.cast(pa.time32(unit) if unit in ("s", "ms") else pa.time64(unit))
        return arr.view(pa.int32() if pa.types.is_time32(arr.type) else pa.int64()).cast(pa.int64())
    if pa.types.is_date32(t):
        return arr.view(pa.int32()).cast(pa.int64())
    if pa.types.is_date64(t):
        return arr.cast(pa.date32()).view(pa.int32()).cast(pa.int64())
    if pa.types.is_duration(t):
        return arr.view(pa.int64())
    if pa.types.is_unsigned_integer(t):
        same = {8: pa.int8(), 16: pa.int16(), 32: pa.int32(), 64: pa.int64()}[t.bit_width]
        if t.bit_width == width.bit_width:
            return arr.view(same).cast(pa.int64())
        return arr.cast(pa.int64())
    if pa.types.is_integer(t):
        return arr.cast(pa.int64())
    raise ParquetRefusedError(f"column {node.path}: pyarrow decoded {t} for {node.describe()}; ppml-enc cannot "
                            "give Spark's values for it")  # fmt: skip


def _is_int_source(node: Node) -> bool:
    """Unannotated or signed-integer-annotated INT32/INT64 (readable as a wide enough decimal)."""
    return node.physical in ("INT32", "INT64") and (
        node.logical_type == "None" or (node.logical_type == "Int" and bool(node.logical.get("isSigned")))
    )


def _decimal_matched(node: Node, target: DecimalType) -> bool:
    """ParquetVectorUpdaterFactory.isDecimalTypeMatched."""
    if node.logical_type == "Decimal":
        scale_up = target.scale - int(node.logical["scale"])
        return scale_up >= 0 and target.precision - int(node.logical["precision"]) >= scale_up
    if _is_int_source(node):
        digits = target.precision - target.scale
        return digits >= (10 if node.physical == "INT32" else 20)
    return False


def convert_leaf(arr: pa.Array, node: Node, target: DataType, legacy: tuple[bool, bool]) -> pa.Array:
    """The values Spark's vectorized reader gives for column ``node`` read as ``target`` (or its refusal)."""
    arr = _plain(arr)
    physical, logical = node.physical, node.logical_type
    out_type = _arrow_type(target)
    if isinstance(target, BooleanType) and physical == "BOOLEAN":
        return arr.cast(pa.bool_()) if not pa.types.is_null(arr.type) else pa.nulls(len(arr), pa.bool_())
    if isinstance(target, FloatType) and physical == "FLOAT":
        return arr.cast(pa.float32())
    if isinstance(target, DoubleType) and physical in ("FLOAT", "DOUBLE", "INT32"):
        if physical == "INT32":
            return _raw_ints(arr, node).cast(pa.float64())
        return arr.cast(pa.float64())
    if physical == "INT32" and isinstance(target, IntegerType | ByteType | ShortType | DateType):
        raw = _raw_ints(arr, node).cast(pa.int32(), safe=False)
        if isinstance(target, DateType):
            if legacy[0]:
                _check_rebase(raw, _LAST_SWITCH_DAY, node)
            return raw.view(pa.date32())
        return raw if isinstance(target, IntegerType) else raw.cast(out_type, safe=False)
    if isinstance(target, LongType) and physical in ("INT32", "INT64"):
        raw = _raw_ints(arr, node)
        if physical == "INT32" and logical == "Int" and not node.logical.get("isSigned") and \
                int(node.logical.get("bitWidth", 0)) == 32:  # fmt: skip
            return pc.bit_wise_and(raw, pa.scalar(0xFFFFFFFF, pa.int64()))
        return raw
    if isinstance(target, TimestampType | TimestampNTZType):
        micros: pa.Array | None = None
        if physical == "INT64" and logical == "Timestamp" and _unit(node) in ("milliseconds", "microseconds"):
            micros = _raw_ints(arr, node)
            if _unit(node) == "milliseconds":
                micros = pc.multiply_checked(micros, 1000)
            if isinstance(target, TimestampType) and legacy[0]:
                _check_rebase(micros, _LAST_SWITCH_MICROS, node)
        elif physical == "INT96":
            micros = _int96_micros(arr, node)
            if isinstance(target, TimestampType) and legacy[1]:
                _check_rebase(micros, _LAST_SWITCH_MICROS, node)
        elif physical == "INT32" and logical == "Date" and isinstance(target, TimestampNTZType):
            days = _raw_ints(arr, node)
            if legacy[0]:
                _check_rebase(days, _LAST_SWITCH_DAY, node)
            micros = pc.multiply_checked(days, _MICROS_PER_DAY)
        if micros is not None:
            return micros.cast(pa.timestamp("us")).cast(out_type)
    if isinstance(target, DecimalType):
        if physical == "INT64" and logical == "Int" and not node.logical.get("isSigned") and \
                (target.precision, target.scale) == (20, 0):  # fmt: skip
            return arr.cast(pa.uint64()).cast(pa.decimal128(20, 0))
        if physical in ("INT32", "INT64", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY") and _decimal_matched(node, target):
            if pa.types.is_decimal(arr.type):
                return arr.cast(pa.decimal128(target.precision, target.scale))
            if pa.types.is_null(arr.type):
                return pa.nulls(len(arr), out_type)
            wide = _raw_ints(arr, node).cast(pa.decimal128(38, 0))  # pyarrow checks int64 -> decimal by type
            return wide.cast(pa.decimal128(target.precision, target.scale))
    if isinstance(target, StringType) and physical == "BYTE_ARRAY":
        return _as_string(arr, node)
    if isinstance(target, BinaryType) and physical in ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"):
        return _as_binary(arr, node)
    raise _not_convertible(node, target)


def _int96_micros(arr: pa.Array, node: Node) -> pa.Array:
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.int64())
    if not pa.types.is_timestamp(arr.type) or arr.type.unit != "us":
        raise SparkParquetError(f"column {node.path}: INT96 timestamps were not decoded to microseconds")
    return arr.cast(pa.int64())


def _as_string(arr: pa.Array, node: Node) -> pa.Array:
    """Spark keeps a BINARY column's bytes as they are when it reads them as a string (no UTF-8 check)."""
    t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_string(t):
        return arr
    if pa.types.is_large_string(t):
        return arr.cast(pa.string())
    if pa.types.is_binary(t):
        return pa.Array.from_buffers(pa.string(), len(arr), arr.buffers(), arr.null_count, arr.offset)
    if pa.types.is_large_binary(t):
        return _as_string(arr.cast(pa.binary()), node)
    raise ParquetRefusedError(f"column {node.path}: reading {node.describe()} as a string gives its stored bytes "
                            f"in Spark; ppml-enc cannot yet (pyarrow decodes it as {t})")  # fmt: skip


def _as_binary(arr: pa.Array, node: Node) -> pa.Array:
    t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.binary())
    if pa.types.is_binary(t):
        return arr
    if pa.types.is_string(t):
        return arr.view(pa.binary())
    if pa.types.is_large_binary(t) or pa.types.is_large_string(t):
        return arr.cast(pa.large_binary()).cast(pa.binary())
    if pa.types.is_fixed_size_binary(t):
        return arr.cast(pa.binary())
    raise ParquetRefusedError(f"column {node.path}: reading {node.describe()} as binary gives its stored bytes in "
                            f"Spark; ppml-enc cannot yet (pyarrow decodes it as {t}); read it with Spark's reader")


def convert(arr: pa.Array, node: Node, target: DataType, legacy: tuple[bool, bool]) -> pa.Array:
    """``arr`` (pyarrow's decoding of ``node``) as Spark reads it into ``target``, nested types included."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if isinstance(arr, pa.ExtensionArray):
        arr = arr.storage
    out_type = _arrow_type(target)
    mask = arr.is_null() if arr.null_count else None
    if isinstance(target, StructType):
        if node.kind != "struct":
            raise _not_convertible(node, target)
        children = []
        by_key = _children_by_key(node)
        for f in target.fields:
            found = by_key.get(_key(f.name))
            if found is None:
                children.append(pa.nulls(len(arr), _arrow_type(f.dataType)))
                continue
            index, child = found
            children.append(convert(arr.field(index), child, f.dataType, legacy))
        if not target.fields:
            return pa.nulls(len(arr), out_type)
        return pa.StructArray.from_arrays(children, fields=list(out_type), mask=mask)
    if isinstance(target, ArrayType):
        if node.kind != "list":
            raise _not_convertible(node, target)
        offsets, values = _list_parts(arr)
        converted = convert(values, node.children[0], target.elementType, legacy)
        return pa.ListArray.from_arrays(offsets, converted, type=out_type, mask=mask)
    if isinstance(target, MapType):
        if node.kind != "map":
            raise _not_convertible(node, target)
        offsets = arr.offsets
        base = offsets[0].as_py()
        end = offsets[-1].as_py()
        keys = convert(arr.keys.slice(base, end - base), node.children[0], target.keyType, legacy)
        items = convert(arr.items.slice(base, end - base), node.children[1], target.valueType, legacy)
        shifted = pc.subtract(offsets, pa.scalar(base, offsets.type)).cast(pa.int32())
        return pa.MapArray.from_arrays(shifted, keys, items, type=out_type, mask=mask)
    if node.kind != "leaf":
        raise _not_convertible(node, target)
    return convert_leaf(arr, node, target, legacy)


def _children_by_key(node: Node) -> dict[str, tuple[int, Node]]:
    """A struct's fields by name as Spark matches them; two fields equal ignoring case are Spark's error when
    one of them is asked for (here: whenever the struct is read)."""
    out: dict[str, tuple[int, Node]] = {}
    for i, child in enumerate(node.children):
        key = _key(child.name)
        if key in out:
            raise SparkParquetError(f"Found duplicate field(s) \"{child.name}\": [{out[key][1].name}, {child.name}] "
                                    f"in case-insensitive mode (in {node.path or node.name}); Spark refuses this "
                                    "read too")  # fmt: skip
        out[key] = (i, child)
    return out


def _list_parts(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(int32 offsets from 0, the values they index) of a list-like array (any offset, large or fixed size)."""
    t = arr.type
    if pa.types.is_fixed_size_list(t):
        size = t.list_size
        values = arr.values.slice(arr.offset * size, len(arr) * size)
        return pa.array(range(0, (len(arr) + 1) * size, size), pa.int32()), values
    if pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        arr = arr.cast(pa.large_list(t.value_type))
    offsets = arr.offsets
    base = offsets[0].as_py()
    end = offsets[-1].as_py()
    values = arr.values.slice(base, end - base)
    return pc.subtract(offsets, pa.scalar(base, offsets.type)).cast(pa.int32()), values


@dataclass
class Plan:
    """How one file answers a read schema: for each target field, the file's top-level field (or None)."""

    nodes: list[Node]
    matches: list[int | None]

    @property
    def wanted(self) -> list[int]:
        return sorted({i for i in self.matches if i is not None})


def plan_read(file: pq.ParquetFile, schema: StructType) -> Plan:
    """Match the read schema's top-level fields to the file's (``spark.sql.caseSensitive=false``: ignoring case;
    a name matching two of the file's columns is Spark's error)."""
    nodes = file_nodes(file)
    by_key: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        by_key.setdefault(_key(node.name), []).append(i)
    matches: list[int | None] = []
    for f in schema.fields:
        found = by_key.get(_key(f.name), [])
        if not found:
            exact = [i for i, n in enumerate(nodes) if n.name == f.name]
            found = exact
        if len(found) > 1:
            names = ", ".join(nodes[i].name for i in found)
            raise SparkParquetError(f"Found duplicate field(s) \"{f.name}\": [{names}] in case-insensitive mode; "
                                    "Spark refuses this read too")  # fmt: skip
        matches.append(found[0] if found else None)
    return Plan(nodes, matches)


def read_batches(
    file: pq.ParquetFile, schema: StructType, groups: list[int], batch_rows: int = 65536
) -> Iterator[pa.RecordBatch]:
    """Batches of ``schema`` from the row groups ``groups`` of ``file``, as Spark's Parquet reader gives them."""
    target = pa.schema([pa.field(f.name, _arrow_type(f.dataType), f.nullable) for f in schema.fields])
    plan = plan_read(file, schema)
    legacy = _legacy_modes(file)
    wanted = plan.wanted
    if len(file.schema) == 0:
        raise SparkParquetError("a Parquet file without columns: Spark's reader fails on it (IndexOutOfBounds"
                                "Exception); Spark refuses this read too")  # fmt: skip
    leaves: list[tuple[int, Node, DataType]] = []
    for f, match in zip(schema.fields, plan.matches, strict=True):
        if match is not None:  # Spark clips each file's schema to the read schema first, rows or not
            leaves.extend(_read_leaves(plan.nodes[match], f.dataType))
    if not groups:
        return
    _refuse_as_spark(file, groups, leaves)
    if not wanted:  # no column of this file is asked for: only its row count matters
        for g in groups:
            rows = file.metadata.row_group(g).num_rows
            for start in range(0, rows, batch_rows):
                n = min(batch_rows, rows - start)
                yield pa.RecordBatch.from_arrays([pa.nulls(n, f.type) for f in target], schema=target)
        return
    indices = [i for w in wanted for i in plan.nodes[w].leaf_indices]
    position = {w: k for k, w in enumerate(wanted)}
    expected = sum(file.metadata.row_group(g).num_rows for g in groups)
    got = 0
    for batch in _iter(file, groups, indices, batch_rows):
        got += batch.num_rows
        columns = []
        for f, spark_field, match in zip(target, schema.fields, plan.matches, strict=True):
            if match is None:
                columns.append(pa.nulls(batch.num_rows, f.type))
            else:
                columns.append(convert(batch.column(position[match]), plan.nodes[match], spark_field.dataType,
                                       legacy))  # fmt: skip
        yield pa.RecordBatch.from_arrays(columns, schema=target)
    if got != expected:  # pyarrow decoded fewer rows than the footer holds (seen: some LZ4 v2-page maps)
        raise ParquetRefusedError(f"pyarrow decoded {got} rows where the file's footer says {expected}; ppml-enc "
                                  "refuses the file rather than return other rows than Spark would")  # fmt: skip


def _clipped(target: DataType) -> bool:
    """Whether Spark's clipParquetType takes the file's field as a group for ``target`` (structs, arrays of
    nested types, maps with a nested key or value): a value there fails when the file is opened, rows or not."""
    if isinstance(target, StructType):
        return True
    if isinstance(target, ArrayType):
        return isinstance(target.elementType, ArrayType | MapType | StructType)
    if isinstance(target, MapType):
        return any(isinstance(t, ArrayType | MapType | StructType) for t in (target.keyType, target.valueType))
    return False


def _read_leaves(node: Node, target: DataType) -> list[tuple[int, Node, DataType]]:
    """The leaf columns Spark reads for ``node`` as ``target``. Shape mismatches Spark finds when it opens the
    file fail at once, rows or not: a group read as anything but its own kind (ClassCastException while
    converting the file's schema), a value where Spark clips a group (:func:`_clipped`). A value read as an array
    or map of values fails only when a row group is read (:func:`convert` raises on the first batch)."""
    kind = {StructType: "struct", ArrayType: "list", MapType: "map"}.get(type(target), "leaf")
    if node.kind != kind:
        if node.kind != "leaf" or _clipped(target):
            raise _not_convertible(node, target)
        return []
    if isinstance(target, StructType):
        by_key = _children_by_key(node)
        out: list[tuple[int, Node, DataType]] = []
        for f in target.fields:
            found = by_key.get(_key(f.name))
            if found is not None:
                out.extend(_read_leaves(found[1], f.dataType))
        return out
    if isinstance(target, ArrayType):
        return _read_leaves(node.children[0], target.elementType)
    if isinstance(target, MapType):
        return _read_leaves(node.children[0], target.keyType) + _read_leaves(node.children[1], target.valueType)
    return [(node.leaf_indices[0], node, target)]


# Codecs Spark's Parquet reader has no class for (parquet-mr asks Hadoop for org.apache.hadoop.io.compress.*Codec)
_SPARK_CODECS_MISSING = {"BROTLI": "BrotliCodec", "LZO": "LzoCodec"}


def _refuse_as_spark(file: pq.ParquetFile, groups: list[int], leaves: list[tuple[int, Node, DataType]]) -> None:
    """Column chunks Spark's reader fails on: a codec it has no class for; a dictionary-encoded UINT_32 column
    read as int, date, smallint or tinyint, or UINT_64 read as bigint (its lazy dictionary decoding asks the
    dictionary for another type: UnsupportedOperationException). Unsigned BYTE_STREAM_SPLIT columns read as
    Spark maps them are refused by name (that decoder fails on runs of values only)."""
    metadata = file.metadata
    for g in groups:
        rg = metadata.row_group(g)
        if rg.num_rows == 0:  # Spark reads no page of an empty row group
            continue
        for i, node, target in leaves:
            chunk = rg.column(i)
            unsigned = node.logical_type == "Int" and not node.logical.get("isSigned")
            width = int(node.logical.get("bitWidth", 0))
            stats = chunk.statistics if chunk.is_stats_set else None
            has_values = stats is None or not stats.has_null_count or stats.null_count < chunk.num_values
            lazy = IntegerType | DateType | ShortType | ByteType  # decoded from the dictionary when read
            if unsigned and has_values and chunk.has_dictionary_page and (
                (isinstance(target, lazy) and width == 32) or (isinstance(target, LongType) and width == 64)
            ):
                raise ParquetRefusedError(  # Spark fails on dictionary pages only: which pages are is not known
                    f"column {chunk.path_in_schema}: a dictionary-encoded UINT_{width} column read as "
                    f"{target.simpleString()} fails in Spark's reader (UnsupportedOperationException: its dictionary "
                    f"is asked for another type) on its dictionary pages; ppml-enc refuses it: read it as "
                    f"{'bigint' if width == 32 else 'decimal(20,0)'}"
                )
            if unsigned and has_values and "BYTE_STREAM_SPLIT" in chunk.encodings and (
                (isinstance(target, LongType) and width == 32) or (isinstance(target, DecimalType) and width == 64)
            ):
                raise ParquetRefusedError(
                    f"column {chunk.path_in_schema}: BYTE_STREAM_SPLIT-encoded UINT_{width} values: Spark's reader "
                    "fails on runs of them (UNSUPPORTED_CALL: readUnsigned...) and reads single ones, which pages "
                    "hold is not in the footer; ppml-enc refuses the file rather than guess: rewrite it with "
                    "another encoding"
                )
            codec = str(chunk.compression).upper()
            if codec in _SPARK_CODECS_MISSING:
                raise SparkParquetError(
                    f"column {chunk.path_in_schema} is compressed with {codec}, which Spark's Parquet reader "
                    f"cannot decompress (no org.apache.hadoop.io.compress.{_SPARK_CODECS_MISSING[codec]}); Spark "
                    "refuses this file too: rewrite it with snappy, gzip, zstd or lz4"
                )


def _iter(file: pq.ParquetFile, groups: list[int], indices: list[int], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """pyarrow's batches of the given leaf columns (by index: names with dots would be taken for nested paths)."""
    reader: Any = file.reader
    try:
        yield from reader.iter_batches(batch_rows, groups, column_indices=indices, use_threads=False)
    except pa.ArrowInvalid:  # the message may quote data: only the kind
        raise ParquetRefusedError(
            "pyarrow cannot decode this file's pages (ArrowInvalid; seen with some nested columns written in "
            "tiny pages); Spark's reader may read it, ppml-enc refuses it rather than guess"
        ) from None

__all__ = ["ParquetRefusedError", "file_schema", "merge_schemas", "read_batches"]
