"""Generated Parquet read cases for the differential test (``tests/test_fidelity_parquet.py``).

A case is a directory of one to four Parquet files written by pyarrow with drawn writer settings (codec, format
version, data page version, dictionary or not, DELTA / BYTE_STREAM_SPLIT encodings, small row groups and pages,
statistics, INT96, decimals as integers, stored Arrow schema or not), over drawn Arrow types (every integer
width signed and unsigned, float16/32/64, strings and binaries, fixed-size binary, dates, times, timestamps of
every unit with and without a time zone, durations, decimals of every width, nulls, dictionaries, lists, large
and fixed-size lists, structs, maps, nested up to two levels) with required and optional fields. The files of a
directory differ as real ones do: columns dropped, reordered, renamed in another case, required in one file and
holding nulls in another, widened or narrowed. Options: ``mergeSchema`` now and then; a schema given to both
readers now and then. Seeded ``random`` (no hypothesis): the same cases on every machine for a seed.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

NAMES = ["a", "b", "c", "id", "v", "x_y", "Col", "é"]
ZONES = [None, None, "UTC", "America/New_York", "+05:30"]


@dataclass
class ParquetFileSpec:
    name: str
    table: pa.Table
    writer: dict[str, Any]


@dataclass
class ParquetCase:
    """One directory of Parquet files, the options both readers get and an optional DDL schema for both."""

    files: list[ParquetFileSpec]
    options: dict[str, str] = field(default_factory=dict)
    schema: str | None = None

    def describe(self) -> str:
        parts = []
        for f in self.files:
            parts.append(f"{f.name}: {f.table.schema.to_string(show_schema_metadata=False)!r} "
                         f"rows={f.table.num_rows} writer={f.writer}")  # fmt: skip
        return f"options={self.options} schema={self.schema!r} files=[{'; '.join(parts)}]"


def _field(name: str, t: pa.DataType, nullable: bool) -> pa.Field:
    """A field (Arrow has no required null-typed field)."""
    return pa.field(name, t, nullable or pa.types.is_null(t))


def _atomic_type(rng: random.Random) -> pa.DataType:
    choices: list[Any] = [
        pa.bool_(), pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(),
        pa.uint64(), pa.float32(), pa.float64(), pa.string(), pa.large_string(), pa.binary(), pa.date32(),
        pa.int32(), pa.int64(), pa.string(), pa.float64(),
    ]  # fmt: skip
    kind = rng.randrange(12)
    if kind == 0:  # nanoseconds: Spark refuses them (pyarrow writes them as such with version 2.6, its default)
        return pa.timestamp(rng.choice(["s", "ms", "us", "us", "us", "ns"]), rng.choice(ZONES))
    if kind == 1:
        p = rng.choice([1, 5, 9, 10, 18, 19, 20, 28, 38])
        return pa.decimal128(p, rng.randint(0, p))
    if kind == 2 and rng.random() < 0.2:
        return rng.choice([pa.float16(), pa.time32("ms"), pa.time64("us"), pa.time64("ns"), pa.duration("ms"),
                           pa.date64(), pa.decimal256(40, 2), pa.binary(rng.choice([1, 3, 16])), pa.null(),
                           pa.dictionary(pa.int32(), pa.string())])  # fmt: skip
    if kind == 3:
        return pa.binary(rng.choice([1, 4, 12]))
    return rng.choice(choices)


def random_type(rng: random.Random, depth: int = 0) -> pa.DataType:
    if depth >= 2 or rng.random() < 0.75:
        return _atomic_type(rng)
    kind = rng.randrange(6)
    item = random_type(rng, depth + 1)
    if kind == 0:
        return pa.list_(_field("element", item, rng.random() < 0.8))
    if kind == 1:
        return rng.choice([pa.large_list(item), pa.list_(pa.field("item", item)),
                           pa.list_(item, rng.randint(1, 3))])  # fmt: skip
    if kind in (2, 3):
        n = rng.randint(1, 3)
        names = rng.sample(NAMES, n)
        return pa.struct([_field(nm, random_type(rng, depth + 1), rng.random() < 0.8) for nm in names])
    key = rng.choice([pa.string(), pa.int32(), pa.int64()])
    return pa.map_(key, item)


def _int_range(t: pa.DataType) -> tuple[int, int]:
    bits = t.bit_width
    if pa.types.is_unsigned_integer(t):
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _ts_range(unit: str) -> tuple[datetime.datetime, datetime.datetime]:
    if unit == "ns":
        return datetime.datetime(1678, 1, 1), datetime.datetime(2261, 12, 31)
    return datetime.datetime(2, 1, 1), datetime.datetime(9998, 12, 31)


def random_value(rng: random.Random, t: pa.DataType) -> Any:
    """One value of type ``t`` (edges now and then)."""
    if pa.types.is_boolean(t):
        return rng.random() < 0.5
    if pa.types.is_integer(t):
        lo, hi = _int_range(t)
        return rng.choice([lo, hi, 0, 1, -1 if lo < 0 else 2, rng.randint(lo, hi), rng.randint(-100, 100)
                           if lo < 0 else rng.randint(0, 200)])  # fmt: skip
    if pa.types.is_floating(t):
        if pa.types.is_float16(t):
            return rng.choice([0.5, 1.0, -2.0])
        return rng.choice([0.0, -0.0, 1.5, -2.25, float("nan"), float("inf"), float("-inf"), 1e300 if t.bit_width == 64
                           else 3.0e38, rng.uniform(-1e6, 1e6), 1e-310 if t.bit_width == 64 else 1e-40])  # fmt: skip
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return rng.choice(["", "a", "hello", "é日本", "x y", "NULL", "1", "\t", "z" * rng.randint(0, 40)])
    if pa.types.is_fixed_size_binary(t):
        return bytes(rng.randrange(0, 128) for _ in range(t.byte_width))
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return rng.choice([b"", b"ab", bytes(rng.randrange(0, 128) for _ in range(rng.randint(0, 8)))])
    if pa.types.is_date(t):
        return rng.choice([datetime.date(1970, 1, 1), datetime.date(1, 1, 1), datetime.date(1582, 10, 14),
                           datetime.date(1582, 10, 15), datetime.date(9999, 12, 31), datetime.date(2024, 2, 29),
                           datetime.date(1900, 1, 1) + datetime.timedelta(days=rng.randint(0, 60000))])  # fmt: skip
    if pa.types.is_timestamp(t):
        lo, hi = _ts_range(t.unit)
        span = int((hi - lo).total_seconds())
        value = rng.choice([datetime.datetime(1970, 1, 1), datetime.datetime(2020, 6, 1, 12, 30, 45, 123456),
                            lo, hi, datetime.datetime(1899, 12, 31, 23, 59, 59),
                            lo + datetime.timedelta(seconds=rng.randint(0, span), microseconds=rng.randint(0, 999999))])
        if t.unit == "s":
            value = value.replace(microsecond=0)
        elif t.unit == "ms":
            value = value.replace(microsecond=value.microsecond // 1000 * 1000)
        return value.replace(tzinfo=datetime.UTC) if t.tz else value
    if pa.types.is_time(t):
        return datetime.time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59), rng.randrange(0, 999999, 1000))
    if pa.types.is_duration(t):
        return datetime.timedelta(milliseconds=rng.randint(-10**6, 10**6))
    if pa.types.is_decimal(t):
        p, s = t.precision, t.scale
        digits = rng.choice([p, 1, rng.randint(1, p)])
        unscaled = rng.randint(0, 10**digits - 1) * rng.choice([1, -1])
        return Decimal(unscaled).scaleb(-s)
    if pa.types.is_null(t):
        return None
    if pa.types.is_dictionary(t):
        return rng.choice(["red", "green", "", "blue"])
    if pa.types.is_struct(t):
        return {t.field(i).name: _maybe(rng, t.field(i)) for i in range(t.num_fields)}
    if pa.types.is_map(t):
        keys = {random_value(rng, t.key_type) for _ in range(rng.randint(0, 3))}
        return [(k, _maybe(rng, t.item_field)) for k in keys]
    if pa.types.is_fixed_size_list(t):
        return [_maybe(rng, t.value_field) for _ in range(t.list_size)]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return [_maybe(rng, t.value_field) for _ in range(rng.randint(0, 3))]
    raise AssertionError(t)


def _maybe(rng: random.Random, f: pa.Field, null_rate: float = 0.2) -> Any:
    if f.nullable and rng.random() < null_rate:
        return None
    value = random_value(rng, f.type)
    if value is None and not f.nullable:
        return random_value(rng, f.type) if not pa.types.is_null(f.type) else None
    return value


def column(rng: random.Random, f: pa.Field, rows: int) -> pa.Array:
    values = [_maybe(rng, f) for _ in range(rows)]
    if pa.types.is_dictionary(f.type):
        return pa.array(values, pa.string()).dictionary_encode()
    if pa.types.is_timestamp(f.type) and f.type.tz:
        return pa.array(values, pa.timestamp(f.type.unit, "UTC")).cast(f.type)
    return pa.array(values, f.type)


def _writer(rng: random.Random, schema: pa.Schema) -> dict[str, Any]:
    w: dict[str, Any] = {}
    if rng.random() < 0.7:
        w["compression"] = rng.choice(["none", "snappy", "gzip", "zstd", "lz4", "snappy", "gzip", "zstd", "brotli"])
    if rng.random() < 0.5:
        w["version"] = rng.choice(["1.0", "2.4", "2.6"])
    if rng.random() < 0.4:
        w["data_page_version"] = rng.choice(["1.0", "2.0"])
    if rng.random() < 0.3:
        w["row_group_size"] = rng.choice([1, 2, 3, 7])
    if rng.random() < 0.3:
        w["data_page_size"] = rng.choice([1, 64, 1024])
    if rng.random() < 0.2:
        w["write_statistics"] = False
    if rng.random() < 0.2:
        w["store_schema"] = False
    if rng.random() < 0.2:
        w["use_deprecated_int96_timestamps"] = True
    if rng.random() < 0.2:
        w["store_decimal_as_integer"] = True
    if rng.random() < 0.15:
        w["coerce_timestamps"] = rng.choice(["ms", "us"])
        w["allow_truncated_timestamps"] = True
    if rng.random() < 0.15:
        w["use_compliant_nested_type"] = False
    if rng.random() < 0.1:
        w["write_page_index"] = True
    if rng.random() < 0.1:
        w["use_byte_stream_split"] = True
        w["use_dictionary"] = False
    elif rng.random() < 0.4:
        w["use_dictionary"] = False
        encodings = {}
        for f in schema:
            t = f.type
            if pa.types.is_integer(t) and t.bit_width in (32, 64) and not pa.types.is_unsigned_integer(t):
                options = ["DELTA_BINARY_PACKED", "BYTE_STREAM_SPLIT", "PLAIN"]
            elif pa.types.is_floating(t) and not pa.types.is_float16(t):
                options = ["BYTE_STREAM_SPLIT", "PLAIN"]
            elif pa.types.is_string(t) or pa.types.is_binary(t):
                options = ["DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY", "PLAIN"]
            elif pa.types.is_fixed_size_binary(t):
                options = ["BYTE_STREAM_SPLIT", "DELTA_BYTE_ARRAY", "PLAIN"]
            else:
                continue
            if rng.random() < 0.7:
                encodings[f.name] = rng.choice(options)
        if encodings:
            w["column_encoding"] = encodings
    elif rng.random() < 0.2:
        w["use_dictionary"] = True
        w["dictionary_pagesize_limit"] = rng.choice([1, 64, 1 << 20])
    return w


_WIDER: dict[str, list[pa.DataType]] = {
    "int8": [pa.int16(), pa.int32(), pa.int64()], "int16": [pa.int32(), pa.int64()],
    "int32": [pa.int64(), pa.float64()],
    "float": [pa.float64()], "date32[day]": [pa.timestamp("us")], "uint8": [pa.int16()], "int64": [pa.int32()],
    "double": [pa.float32()], "string": [pa.binary()], "binary": [pa.string()],
}  # fmt: skip


def _vary(rng: random.Random, schema: pa.Schema) -> pa.Schema:
    """Another file's schema in the same directory: columns dropped, added, reordered, renamed in another case,
    required or optional, types widened or narrowed, as in real directories."""
    fields = list(schema)
    out = []
    for f in fields:
        r = rng.random()
        if r < 0.1 and len(fields) > 1:
            continue
        if r < 0.2:
            f = f.with_name(rng.choice([f.name.upper(), f.name.capitalize(), f.name.lower()]))
        elif r < 0.3:
            f = f.with_nullable(not f.nullable or pa.types.is_null(f.type))
        elif r < 0.45:
            wider = _WIDER.get(str(f.type))
            if wider:
                f = f.with_type(rng.choice(wider))
            elif pa.types.is_decimal(f.type) and f.type.precision < 38:
                f = f.with_type(pa.decimal128(min(38, f.type.precision + rng.randint(1, 5)), f.type.scale))
        elif r < 0.5:
            f = _field(f.name, random_type(rng), f.nullable)
        out.append(f)
    if rng.random() < 0.3:
        rng.shuffle(out)
    if rng.random() < 0.3:
        taken = {f.name.lower() for f in out}
        free = [n for n in NAMES if n.lower() not in taken]
        if free:
            out.insert(rng.randint(0, len(out)), _field(rng.choice(free), random_type(rng), rng.random() < 0.8))
    return pa.schema(out)


def _ddl_type(t: pa.DataType) -> str:
    """A Spark DDL type close to ``t`` (only for schemas given to both readers; the oracle decides)."""
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return {8: "tinyint", 16: "smallint", 32: "int", 64: "bigint"}[t.bit_width]
    if pa.types.is_float32(t):
        return "float"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "binary"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp" if t.tz else "timestamp_ntz"
    if pa.types.is_decimal(t):
        return f"decimal({min(t.precision, 38)},{min(t.scale, 38)})"
    if pa.types.is_struct(t):
        fields = (f"`{t.field(i).name}`:{_ddl_type(t.field(i).type)}" for i in range(t.num_fields))
        return "struct<" + ",".join(fields) + ">"
    if pa.types.is_map(t):
        return f"map<{_ddl_type(t.key_type)},{_ddl_type(t.item_type)}>"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return f"array<{_ddl_type(t.value_type)}>"
    return "int"


def _given_schema(rng: random.Random, schema: pa.Schema) -> str:
    parts = []
    for f in schema:
        if rng.random() < 0.15:
            continue
        name = f.name if rng.random() < 0.8 else f.name.upper()
        kind = _ddl_type(f.type)
        if rng.random() < 0.15:
            kind = rng.choice(["int", "bigint", "double", "string", "decimal(20,0)", "timestamp", "date", "binary"])
        parts.append(f"`{name}` {kind}")
    if rng.random() < 0.2 or not parts:
        parts.insert(rng.randint(0, len(parts)), "`extra` int")
    return ", ".join(parts)


def random_schema(rng: random.Random) -> pa.Schema:
    width = rng.randint(1, 4)
    names = rng.sample(NAMES, width)
    if rng.random() < 0.02:  # two columns equal ignoring case in one file
        names.append(names[0].upper() if names[0].upper() != names[0] else names[0].lower())
    return pa.schema([_field(n, random_type(rng), rng.random() < 0.8) for n in names])


def random_case(rng: random.Random, schema: pa.Schema | None = None) -> ParquetCase:
    """A case whose first file has ``schema`` (drawn if None): the other files vary it."""
    schema = schema if schema is not None else random_schema(rng)
    count = rng.choice([1, 1, 1, 2, 2, 3, 4])
    schemas = [schema] + [_vary(rng, schema) for _ in range(count - 1)]
    files = []
    for i, s in enumerate(schemas):
        rows = rng.choice([0, 1, 2, 3, 5, 8, 13])
        table = pa.table([column(rng, f, rows) for f in s], schema=s)
        files.append(ParquetFileSpec(f"part-{i:05d}.parquet", table, _writer(rng, s)))
    options: dict[str, str] = {}
    if count > 1 and rng.random() < 0.4:
        options["mergeSchema"] = "true"
    elif rng.random() < 0.05:
        options["mergeSchema"] = rng.choice(["false", "true"])
    given = _given_schema(rng, schema) if rng.random() < 0.25 else None
    return ParquetCase(files, options, given)


def write_case(case: ParquetCase, directory: Path) -> list[ParquetFileSpec]:
    """Write the case's files (a writer setting pyarrow refuses for a file is dropped: it writes plainly)."""
    directory.mkdir(parents=True, exist_ok=True)
    for spec in case.files:
        path = directory / spec.name
        try:
            pq.write_table(spec.table, path, **spec.writer)
        except (pa.ArrowException, OSError, ValueError, TypeError, OverflowError):
            spec.writer = {}
            pq.write_table(spec.table, path)
    return case.files


FAMILY = 8  # cases per drawn first-file schema (the oracle reads each family's equal schemas in one job)


def generate(count: int, seed: int) -> list[ParquetCase]:
    """``count`` cases, the same for a seed; in families of up to ``FAMILY`` cases whose first files share a
    schema (data, writer settings, other files, options all drawn per case)."""
    rng = random.Random(seed)
    cases: list[ParquetCase] = []
    while len(cases) < count:
        schema = random_schema(rng)
        cases.extend(random_case(rng, schema) for _ in range(min(FAMILY, count - len(cases))))
    return cases


__all__ = ["ParquetCase", "generate", "random_case", "write_case"]
