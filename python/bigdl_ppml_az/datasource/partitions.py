"""Hive-style partition discovery: ``key=value`` directories become columns, typed as Spark types them.

Spark's rules (``PartitioningUtils``): below each base path (the paths given, or option ``basePath``), every
directory level of a file's path that is ``name=value`` is a partition column; all files need the same column
names in the same order. Values are unescaped (``%3A`` -> ``:``) and ``__HIVE_DEFAULT_PARTITION__`` is null.
Types (``spark.sql.sources.partitionColumnTypeInference.enabled``, default true, which a Python data source
cannot read; option ``partitionColumnTypeInference=false`` turns it off): int, else bigint, else an integral
decimal too long for bigint, else double, else date (``yyyy-MM-dd``), else timestamp, else string; columns whose
values infer differently widen (int < bigint < decimal < double), any other mix is string. The schema is the
data columns followed by the partition columns; a data column with a partition column's name is refused (Spark
merges the two; ppml-enc does not yet).

Writing (option ``partitionBy``, see :mod:`.writer`): the directory of a row is
``escapePathName(column)=escapePathName(text of value)`` per column, as Spark's ``ExternalCatalogUtils`` makes it;
null and the empty string go to ``__HIVE_DEFAULT_PARTITION__``. The text of a value is Spark's cast to string
for the types whose text does not depend on the JVM or the session (string, integral, boolean, date, decimal);
other types are refused by name. So are values no file system can hold as a directory name: one holding NUL
(which Spark does not escape) or one whose escaped ``name=value`` is over 255 bytes.

Pruning: with option ``pushFilters=true`` (and ``spark.sql.python.filterPushdown.enabled=true`` in the
session, without which Spark refuses readers that push filters), comparisons on partition columns drop whole
directories before any file is opened; Spark still evaluates every filter on the rows.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.types import (
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    NullType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ..errors import ConfigError
from ..storage import FileStatus

DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?$")
_WIDTH = {"int": 0, "bigint": 1, "decimal": 2, "double": 3}


@dataclass(frozen=True)
class Discovered:
    """Partition column names (in directory order), their Spark types, and each file's raw values."""

    columns: tuple[str, ...]
    types: tuple[DataType, ...]
    values: dict[str, tuple[str | None, ...]]  # file path -> raw (unescaped) values; None for the default

    def schema(self) -> StructType:
        return StructType([StructField(n, t, True) for n, t in zip(self.columns, self.types, strict=True)])


def _key(path: str) -> str:
    """Comparable form of a path or URL: scheme-less, no trailing slash."""
    parsed = urlparse(path)
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:
        return posixpath.normpath(parsed.path if parsed.scheme == "file" else path)
    return path.rstrip("/")


def _pairs(relative_dir: str, where: str) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for part in relative_dir.split("/"):
        if not part or "=" not in part:
            continue
        name, _, raw = part.partition("=")
        if not name:
            raise ConfigError(f"{where}: directory {part!r} has an empty partition column name; rename it")
        value = unquote(raw)
        pairs.append((unquote(name), None if value == DEFAULT_PARTITION else value))
    return pairs


def discover(
    files: Sequence[FileStatus], roots: Sequence[str], base_path: str | None, infer_types: bool = True
) -> Discovered:
    """Partition columns of ``files`` listed below ``roots`` (or below ``base_path`` when given)."""
    bases = [_key(base_path)] if base_path else sorted({_key(r) for r in roots}, key=len, reverse=True)
    columns: tuple[str, ...] | None = None
    values: dict[str, tuple[str | None, ...]] = {}
    first_path = ""
    for status in files:
        path = _key(status.path)
        base = next((b for b in bases if path.startswith(b.rstrip("/") + "/")), None)
        if base is None:
            if base_path:
                raise ConfigError(
                    f"option basePath={base_path}: {status.path} is not below it; give a basePath that "
                    "contains every path read"
                )
            values[status.path] = ()
            names: tuple[str, ...] = ()
        else:
            relative = posixpath.dirname(path[len(base.rstrip("/")) + 1 :])
            pairs = _pairs(relative, status.path)
            names = tuple(n for n, _ in pairs)
            values[status.path] = tuple(v for _, v in pairs)
        if columns is None:
            columns, first_path = names, status.path
        elif names != columns:
            raise ConfigError(
                f"{status.path}: partition directories {list(names)} differ from {list(columns)} of {first_path} "
                "(conflicting directory structures); read each layout separately or set option basePath"
            )
    columns = columns or ()
    if len(set(columns)) != len(columns):
        raise ConfigError(f"{first_path}: a partition column appears twice in {list(columns)}; rename a directory")
    types = tuple(
        _column_type([v[i] for v in values.values()]) if infer_types else StringType() for i in range(len(columns))
    )
    return Discovered(columns, types, values)


def _infer(raw: str) -> str:
    """Spark's inferPartitionColumnValue: the narrowest type name that parses ``raw``."""
    try:
        number = int(raw)
        return "int" if -(1 << 31) <= number < (1 << 31) else "bigint" if -(1 << 63) <= number < (1 << 63) else (
            "decimal" if len(raw.lstrip("+-")) <= 38 else "string"
        )
    except ValueError:
        pass
    try:
        float(raw)
        if raw.strip().lower() not in ("nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"):
            return "double"
    except ValueError:
        pass
    if _DATE.match(raw) and _parse_date(raw) is not None:
        return "date"
    if _TIMESTAMP.match(raw) and _parse_timestamp(raw) is not None:
        return "timestamp"
    return "string"


def _column_type(raws: list[str | None]) -> DataType:
    kinds = {_infer(r) for r in raws if r is not None}
    if not kinds:
        return NullType()  # only nulls: Spark 4 types such a column as void
    if len(kinds) == 1:
        kind = kinds.pop()
    elif kinds <= set(_WIDTH):
        kind = max(kinds, key=_WIDTH.__getitem__)
    else:
        return StringType()
    if kind == "decimal":
        digits = max(len(r.lstrip("+-")) for r in raws if r is not None)
        return DecimalType(digits, 0)
    return {"int": IntegerType(), "bigint": LongType(), "double": DoubleType(), "date": DateType(),
            "timestamp": TimestampType(), "string": StringType()}[kind]  # fmt: skip


def _parse_date(raw: str) -> dt.date | None:
    try:
        year, month, day = (int(p) for p in raw.split("-"))
        return dt.date(year, month, day)
    except ValueError:
        return None


def _parse_timestamp(raw: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(raw.replace(" ", "T", 1))
    except ValueError:
        return None


def typed_value(raw: str | None, data_type: DataType) -> Any:
    """The Python value of a raw directory value for a Spark type (``None`` when it does not cast, as Spark's
    cast returns null)."""
    if raw is None:
        return None
    try:
        if isinstance(data_type, (IntegerType, LongType)):
            return int(raw)
        if isinstance(data_type, DoubleType):
            return float(raw)
        if isinstance(data_type, DecimalType):
            return Decimal(raw)
        if isinstance(data_type, DateType):
            return _parse_date(raw)
        if isinstance(data_type, TimestampType):
            return _parse_timestamp(raw)
    except (ValueError, InvalidOperation):
        return None
    return raw


_COMPARE = {
    "EqualTo": lambda a, b: a == b,
    "EqualNullSafe": lambda a, b: a == b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqual": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqual": lambda a, b: a <= b,
}


def keeps(filters: Sequence[Any], row: dict[str, Any]) -> bool:
    """Whether a directory whose partition values are ``row`` may hold rows passing every filter in
    ``filters`` (Spark filter objects on partition columns; any other filter is kept, never decided here)."""
    return all(_keeps(f, row) is not False for f in filters)


def _keeps(item: Any, row: dict[str, Any]) -> bool | None:
    """True/False when decided from partition values alone; None when the filter is not about them."""
    kind = type(item).__name__
    attribute = getattr(item, "attribute", None)
    if kind == "Not":
        inner = _keeps(item.child, row)
        return None if inner is None else not inner
    if not attribute or len(attribute) != 1 or attribute[0] not in row:
        return None
    value = row[attribute[0]]
    if kind == "IsNull":
        return value is None
    if kind == "IsNotNull":
        return value is not None
    if kind == "In":
        if value is None:
            return False
        literals = tuple(item.value)
        return value in literals if all(_comparable(value, v) for v in literals) else None
    compare = _COMPARE.get(kind)
    if compare is None:
        return None
    if value is None or item.value is None:
        return kind == "EqualNullSafe" and value is None and item.value is None
    if not _comparable(value, item.value):
        return None  # a literal of another type than the column: let Spark decide
    try:
        return bool(compare(value, item.value))
    except TypeError:  # a literal of another type than the column: let Spark decide
        return None


def _comparable(value: Any, literal: Any) -> bool:
    """Whether comparing a partition value with a filter literal means what Spark means (numbers with numbers,
    dates with dates...); otherwise the filter is left undecided and the directory kept."""
    numbers = (int, float, Decimal)
    if isinstance(value, bool) or isinstance(literal, bool):
        return type(value) is type(literal)
    if isinstance(value, numbers) and isinstance(literal, numbers):
        return not (isinstance(value, float) and isinstance(literal, Decimal)) and not (
            isinstance(value, Decimal) and isinstance(literal, float)
        )
    if isinstance(value, dt.datetime) or isinstance(literal, dt.datetime):
        return isinstance(value, dt.datetime) and isinstance(literal, dt.datetime) and (
            (value.tzinfo is None) == (literal.tzinfo is None)
        )
    return type(value) is type(literal)


# ------------------------------------------------------------------------------------------------ write side
# Spark's ExternalCatalogUtils.charToEscape: U+0001..U+001F, " # % ' * / : = ? \\ DEL { [ ] ^ (not U+0000)
_ESCAPED = frozenset([*map(chr, range(0x01, 0x20)), *'"#%\'*/:=?\\', "\x7f", "{", "[", "]", "^"])
WRITABLE_TYPES = (StringType, ByteType, ShortType, IntegerType, LongType, BooleanType, DateType, DecimalType)


def escape_path_name(text: str) -> str:
    """Spark's ``escapePathName``: each character of :data:`_ESCAPED` becomes ``%XX`` (upper-case hex); nothing
    else is touched (non-ASCII stays as it is). Hand-written because ``urllib.parse.quote`` escapes another set."""
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in text)


def _value_text(value: Any) -> str | None:
    """Spark's cast to string of one partition value (None and "" are the default partition)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # Java's toPlainString: the column's scale, never an exponent
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return text or None


MAX_SEGMENT_BYTES = 255  # the longest directory name common file systems (and ADLS path segments) accept
SHOWN_VALUE = 40  # characters of an offending partition value an error shows


def directory_of(name: str, value: Any) -> str:
    """One ``name=value`` path segment, escaped as Spark escapes it; refused when no file system could hold it
    (a NUL, which Spark does not escape, or a name too long), rather than a raw OS error from the task."""
    text = _value_text(value)
    segment = f"{escape_path_name(name)}={DEFAULT_PARTITION if text is None else escape_path_name(text)}"
    if "\x00" in name:
        raise ConfigError(
            f"partitionBy column {_shown(name)}: its name holds a NUL character, which no file system accepts in a "
            "directory name; rename the column"
        )
    if text is not None and "\x00" in text:
        raise ConfigError(
            f"partitionBy column {name}: value {_shown(text)} holds a NUL character, which no file system accepts "
            "in a directory name; clean the column first"
        )
    size = len(segment.encode("utf-8"))
    if size > MAX_SEGMENT_BYTES:
        raise ConfigError(
            f"partitionBy column {name}: value {_shown(text or '')} ({len(text or '')} characters) makes the "
            f"directory name {size} bytes long, more than the {MAX_SEGMENT_BYTES} bytes file systems allow; shorten "
            "the values or partition by another column"
        )
    return segment


def _shown(text: str) -> str:
    """A partition value for an error message: quoted, cut to :data:`SHOWN_VALUE` characters."""
    return repr(text if len(text) <= SHOWN_VALUE else text[:SHOWN_VALUE] + "...")


def split_by_directory(
    batch: pa.RecordBatch, columns: Sequence[str], data_columns: Sequence[str]
) -> list[tuple[str, pa.RecordBatch]]:
    """The rows of ``batch`` grouped by their partition directory (``a=1/b=x``), each group holding only
    ``data_columns``; groups in order of directory first seen is not promised (sorted by directory index)."""
    segments: list[pa.Array] = []
    for name in columns:
        encoded = batch.column(name).dictionary_encode()
        texts = pa.array([directory_of(name, v) for v in encoded.dictionary.to_pylist()], type=pa.string())
        taken = pc.take(texts, encoded.indices)
        segments.append(pc.fill_null(taken, f"{escape_path_name(name)}={DEFAULT_PARTITION}"))
    joined = segments[0] if len(segments) == 1 else pc.binary_join_element_wise(*segments, "/")
    encoded = joined.dictionary_encode()
    names = encoded.dictionary.to_pylist()
    data = batch.select(list(data_columns))
    if len(names) == 1:
        return [(names[0], data)]
    order = pc.sort_indices(encoded.indices)
    ordered = data.take(order)
    groups: list[tuple[str, pa.RecordBatch]] = []
    offset = 0
    for item in pc.value_counts(pc.take(encoded.indices, order)).to_pylist():
        groups.append((names[item["values"]], ordered.slice(offset, item["counts"])))
        offset += item["counts"]
    return groups
