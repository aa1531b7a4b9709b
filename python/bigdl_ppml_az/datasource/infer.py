"""Schema inference on the driver from a bounded decrypted sample of the first file.

Mirrors what Spark infers for common data: CSV without ``inferSchema`` is all strings; with it, integers that
fit 32 bits are ``int`` (else ``bigint``), decimals ``double``, ``true``/``false`` ``boolean``, ISO dates
``date`` and timestamps ``timestamp``. JSON: integers ``bigint``, fields sorted by name, strings stay strings.
Header names come from the header line; without a header columns are ``_c0``, ``_c1``...
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ..errors import ConfigError
from ..formats import encrypted, iter_plaintext, open_reader
from ..kms import KmsSettings
from ..storage import filesystem_for
from .keys import unwrap, wrapped_key_for
from .options import ReadSettings, paths_of
from .parquet import open_parquet
from .planning import list_data_files, probe_file
from .pme import open_file as pme_open

_INT32 = (-(1 << 31), (1 << 31) - 1)


def infer_schema(options: Mapping[str, str]) -> StructType:
    settings = ReadSettings.from_options(options)
    if settings.content_format == "text":
        return StructType([StructField("value", StringType(), True)])
    first = list_data_files(paths_of(options), options, encrypted=encrypted(settings.crypto_mode))[0]
    fs = filesystem_for(first.path, options)
    info = probe_file(fs, first, settings)
    if not info.codec.wraps_bytes:  # encrypted inside Parquet (PME): pyarrow reads the footer
        with fs.open_read(first.path) as source:
            arrow = pme_open(source, first.size, first.path, options).schema_arrow
        return from_arrow_schema(_without_view_types(arrow), prefer_timestamp_ntz=False)
    with fs.open_read(first.path) as source:
        key = None
        if info.codec.encrypted:
            kms_settings = KmsSettings.from_options(options)
            key = unwrap(kms_settings, wrapped_key_for(info, first.path, kms_settings, fs), first.path)
        reader = open_reader(info, source, key, verify=False, name=first.path)
        if settings.content_format == "parquet":
            arrow = open_parquet(reader).schema_arrow
            return from_arrow_schema(_without_view_types(arrow), prefer_timestamp_ntz=False)
        sample = bytearray()
        for piece in iter_plaintext(reader, first.path):
            sample += piece
            if len(sample) >= settings.sample_bytes:
                break
    if len(sample) >= settings.sample_bytes and not settings.multi_line:
        cut = sample.rfind(b"\n")
        del sample[cut + 1 if cut >= 0 else len(sample) :]
    if settings.content_format == "json":
        return _json_schema(bytes(sample), settings, first.path)
    return _csv_schema(bytes(sample), settings, first.path)


def _plain_type(t: pa.DataType) -> pa.DataType:
    """Spark has no Arrow view or large types; they read as the plain string/binary/list types."""
    if pa.types.is_string_view(t) or pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_binary_view(t) or pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(_plain_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(_plain_type(t.field(i).type)) for i in range(t.num_fields)])
    if pa.types.is_map(t):
        return pa.map_(_plain_type(t.key_type), _plain_type(t.item_type))
    return t


def _without_view_types(schema: pa.Schema) -> pa.Schema:
    return pa.schema([field.with_type(_plain_type(field.type)) for field in schema])


def _csv_names(sample: bytes, settings: ReadSettings) -> list[str]:
    parse = pacsv.ParseOptions(
        delimiter=settings.sep,
        quote_char=settings.quote or False,
        escape_char=settings.arrow_escape,
        newlines_in_values=settings.multi_line,
        invalid_row_handler=lambda row: "skip",
    )
    first = pacsv.read_csv(
        io.BytesIO(sample),
        pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False),
        parse,
        pacsv.ConvertOptions(column_types={}, strings_can_be_null=False),
    ).slice(0, 1)
    if first.num_rows == 0:
        return []
    width = first.num_columns
    if not settings.header:
        return [f"_c{i}" for i in range(width)]
    raw = [first.column(i)[0].as_py() for i in range(width)]
    names = [str(v) if v not in (None, "") else f"_c{i}" for i, v in enumerate(raw)]
    lowered = [n.lower() for n in names]
    return [f"{n}{i}" if lowered.count(n.lower()) > 1 else n for i, n in enumerate(names)]  # Spark's dedup


def _csv_schema(sample: bytes, settings: ReadSettings, path: str) -> StructType:
    if not sample.strip():
        raise ConfigError(f"{path}: cannot infer a schema from an empty file; pass .schema(...)")
    names = _csv_names(sample, settings)
    if not settings.infer_schema:
        return StructType([StructField(n, StringType(), True) for n in names])
    table = pacsv.read_csv(
        io.BytesIO(sample),
        pacsv.ReadOptions(
            column_names=[f"c{i}" for i in range(len(names))], skip_rows=1 if settings.header else 0, use_threads=False
        ),
        pacsv.ParseOptions(
            delimiter=settings.sep,
            quote_char=settings.quote or False,
            escape_char=settings.arrow_escape,
            newlines_in_values=settings.multi_line,
            invalid_row_handler=lambda row: "skip",
        ),
        pacsv.ConvertOptions(
            null_values=sorted({"", settings.null_value}),
            strings_can_be_null=True,
            true_values=["true", "True", "TRUE"],
            false_values=["false", "False", "FALSE"],
        ),
    )
    return StructType([StructField(n, _spark_type(table.column(i)), True) for i, n in enumerate(names)])


def _spark_type(column: pa.ChunkedArray) -> DataType:
    t = column.type
    if pa.types.is_integer(t):
        lo, hi = pc.min_max(column).values()
        if lo.as_py() is None or (_INT32[0] <= lo.as_py() and hi.as_py() <= _INT32[1]):
            return IntegerType()
        return LongType()
    if pa.types.is_floating(t):
        return DoubleType()
    if pa.types.is_boolean(t):
        return BooleanType()
    if pa.types.is_timestamp(t):
        return TimestampType()
    if pa.types.is_date(t):
        return DateType()
    return StringType()


def _json_type(t: pa.DataType) -> DataType:
    if pa.types.is_integer(t):
        return LongType()
    if pa.types.is_floating(t):
        return DoubleType()
    if pa.types.is_boolean(t):
        return BooleanType()
    if pa.types.is_struct(t):
        fields = sorted((t.field(i) for i in range(t.num_fields)), key=lambda f: f.name)
        return StructType([StructField(f.name, _json_type(f.type), True) for f in fields])
    if pa.types.is_list(t):
        return ArrayType(_json_type(t.value_type), True)
    return StringType()


def _json_schema(sample: bytes, settings: ReadSettings, path: str) -> StructType:
    if settings.multi_line:
        try:
            document = json.loads(sample.decode("utf-8"))
        except ValueError:
            raise ConfigError(f"{path}: multiLine JSON sample is not one JSON document") from None
        records = document if isinstance(document, list) else [document]
        sample = "\n".join(json.dumps(r) for r in records).encode("utf-8")
    lines = b"\n".join(line for line in sample.split(b"\n") if _is_object(line))
    if not lines:
        raise ConfigError(f"{path}: no JSON records in the sample to infer a schema from; pass .schema(...)")
    table = pajson.read_json(io.BytesIO(lines), pajson.ReadOptions(use_threads=False))
    fields = sorted(table.schema, key=lambda f: f.name)
    return StructType([StructField(f.name, _json_type(f.type), True) for f in fields])


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


__all__ = ["infer_schema"]
