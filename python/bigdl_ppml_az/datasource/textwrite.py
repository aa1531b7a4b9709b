"""Text output (CSV, JSON lines, text) as Spark's own writers produce it, batch by batch; no Spark, no crypto.

The writer (:mod:`.writer`) encrypts whatever this module yields; keeping the byte layout here lets the
fidelity tests compare it with Spark's writers without a data key.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import struct
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import sparkdatetime as sd
from .options import WriteSettings


def encode(
    settings: WriteSettings, write: Callable[[bytes], Any], first: pa.RecordBatch, batches: Iterator[pa.RecordBatch]
) -> int:
    """Write every batch (``first`` is included in ``batches``) in ``settings.content_format``; returns rows."""
    fmt = settings.content_format
    rows = 0
    if fmt == "csv":
        header = settings.header
        for batch in batches:
            write(_spark_csv(_csv_ready(batch, settings), settings.sep, header))
            header = False
            rows += batch.num_rows
        if header:  # no rows at all: Spark still writes the header
            write(_spark_csv(_csv_ready(first.slice(0, 0), settings), settings.sep, True))
        return rows
    for batch in batches:
        if fmt == "text":
            column = batch.column(0)
            lines = [("" if v is None else str(v)) for v in column.to_pylist()]
            write(("\n".join(lines) + "\n").encode("utf-8") if lines else b"")
        else:
            out = [json.dumps(_jsonable(r), separators=(",", ":"), ensure_ascii=False) for r in batch.to_pylist()]
            write(("\n".join(out) + "\n").encode("utf-8") if out else b"")
        rows += batch.num_rows
    return rows


_WRITE_TRIM = "".join(chr(c) for c in range(0x21))  # univocity trims every character up to U+0020


def _spark_value(text: pa.Array, sep: str) -> pa.Array:
    """Spark's CSV writer rule for one value: quoted when it holds the separator, a quote or a line end, or is
    empty (``""``, Spark's emptyValue) or starts with ``#``; a quote inside is written ``\\"`` and a backslash
    before a quote ``\\\\`` (escapeQuotes); null is empty; whitespace around values is trimmed, as Spark's writer
    does by default."""
    text = pc.utf8_trim(text, characters=_WRITE_TRIM)  # Spark's ignore{Leading,Trailing}WhiteSpace on write
    special = pc.match_substring_regex(text, "[" + re.escape(sep) + '"\r\n]|^#')
    needs = pc.or_(special, pc.equal(text, ""))
    escaped = pc.replace_substring(pc.replace_substring(text, '\\"', '\\\\"'), '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    return pc.fill_null(pc.if_else(needs, quoted, text), "")


def _spark_csv(batch: pa.RecordBatch, sep: str, header: bool) -> bytes:
    """CSV bytes as Spark's writer writes them (default quote, escape and null settings), built column-wise."""
    texts = [_spark_value(column.cast(pa.string()), sep) for column in batch.columns]
    out = b""
    if header:
        names = _spark_value(pa.array(batch.schema.names, pa.string()), sep).to_pylist()
        out = (sep.join(names) + "\n").encode("utf-8")
    if not batch.num_rows:
        return out
    if not texts:
        return out + b"\n" * batch.num_rows
    lines = pc.binary_join_element_wise(*texts, sep) if len(texts) > 1 else texts[0]
    ended = pc.binary_join_element_wise(lines, "\n", "")  # each line plus its end, in one data buffer
    offsets, data = ended.buffers()[1], ended.buffers()[2]
    start = struct.unpack_from("<i", offsets, 4 * ended.offset)[0]
    stop = struct.unpack_from("<i", offsets, 4 * (ended.offset + len(ended)))[0]
    return out + (bytes(memoryview(data)[start:stop]) if data is not None else b"")


def _csv_ready(batch: pa.RecordBatch, settings: WriteSettings | None = None) -> pa.RecordBatch:
    """Dates and timestamps as Spark's CSV writer prints them: ``dateFormat``, ``timestampFormat``,
    ``timestampNTZFormat`` (Spark's defaults when not given), timestamps in ``timeZone``
    (:mod:`.sparkdatetime`). Defaults in UTC are vectorised; other patterns are printed value by value."""
    settings = settings or WriteSettings()
    arrays = []
    for column, field in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_timestamp(field.type) or pa.types.is_date32(field.type):
            arrays.append(datetime_text(column, field.type, settings))
        else:
            arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


_ISO_YEARS = (dt.date(1000, 1, 1), dt.date(9999, 12, 31))


def datetime_text(column: pa.Array, type_: pa.DataType, settings: WriteSettings) -> pa.Array:
    """One date/timestamp column as Spark's text writers (CSV, JSON) print it with ``settings``' formats."""
    if pa.types.is_date32(type_):
        option, pattern = "dateFormat", settings.date_format or sd.DEFAULT_DATE
    elif type_.tz is None:
        option, pattern = "timestampNTZFormat", settings.timestamp_ntz_format or sd.DEFAULT_NTZ_WRITE
    else:
        option, pattern = "timestampFormat", settings.timestamp_format or sd.DEFAULT_TIMESTAMP_WRITE
    compiled = sd.compiled(pattern, option, parsing=False)
    fast = _fast_text(column, type_, pattern, settings)
    if fast is not None:
        return fast
    if pa.types.is_date32(type_):
        days = column.cast(pa.int32()).to_pylist()
        return pa.array([None if d is None else sd.format_date(d, compiled, option) for d in days], pa.string())
    micros = column.cast(pa.timestamp("us", type_.tz)).cast(pa.int64()).to_pylist()
    if type_.tz is None:
        return pa.array([None if m is None else sd.format_ntz(m, compiled, option) for m in micros], pa.string())
    zone = settings.time_zone
    return pa.array([None if m is None else sd.format_timestamp(m, compiled, zone, option) for m in micros],
                    pa.string())  # fmt: skip


def _fast_text(column: pa.Array, type_: pa.DataType, pattern: str, settings: WriteSettings) -> pa.Array | None:
    """Spark's default patterns in UTC with pyarrow (4-digit years only, where both print the same)."""
    utc = settings.time_zone.upper() in ("UTC", "Z")
    lo, hi = pc.min_max(column.cast(pa.date32()) if not pa.types.is_date32(type_) else column).values()
    if lo.as_py() is None or lo.as_py() < _ISO_YEARS[0] or hi.as_py() > _ISO_YEARS[1]:
        return None
    if pa.types.is_date32(type_) and pattern == sd.DEFAULT_DATE:
        return column.cast(pa.string())
    if pa.types.is_timestamp(type_) and ((type_.tz is None and pattern == sd.DEFAULT_NTZ_WRITE) or
                                         (type_.tz is not None and utc and pattern == sd.DEFAULT_TIMESTAMP_WRITE)):
        millis = pc.floor_temporal(column, unit="millisecond").cast(pa.timestamp("ms", type_.tz))
        text = pc.strftime(millis, format="%Y-%m-%dT%H:%M:%S")  # %S prints the milliseconds at unit ms
        return text if type_.tz is None else pc.binary_join_element_wise(text, "Z", "", null_handling="emit_null")
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value
