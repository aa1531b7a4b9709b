"""JSON Lines and text chunks -> RecordBatches in the Spark schema's Arrow types (pyarrow does the parsing)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
from pyspark.sql.types import StringType, StructType

from .options import ReadSettings
from .parsing import Converter, MalformedRecordError, arrow_schema


def _needs_conversion(t: pa.DataType) -> bool:
    return pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_decimal(t)


class JsonParser:
    """JSON Lines via pyarrow.json with an explicit schema; malformed lines handled per ``mode``."""

    def __init__(self, settings: ReadSettings, schema: StructType, path: str) -> None:
        self.settings = settings
        self.path = path
        self.target = arrow_schema(schema)
        self.corrupt_index = next(
            (
                i
                for i, f in enumerate(schema.fields)
                if f.name == settings.corrupt_column and isinstance(f.dataType, StringType)
            ),
            None,
        )
        self.fields = [f for i, f in enumerate(self.target) if i != self.corrupt_index]
        parse_schema = pa.schema(
            [pa.field(f.name, pa.string() if _needs_conversion(f.type) else f.type) for f in self.fields]
        )
        self.parse_options = pajson.ParseOptions(
            explicit_schema=parse_schema, unexpected_field_behavior="ignore", newlines_in_values=settings.multi_line
        )
        self.converter = Converter(settings)

    def parse(self, chunk: bytes, skip_header: bool = False) -> Iterator[pa.RecordBatch]:
        try:
            table = pajson.read_json(
                io.BytesIO(chunk),
                pajson.ReadOptions(use_threads=False, block_size=max(1 << 20, len(chunk) + 1)),
                self.parse_options,
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            yield from self._careful(chunk)
            return
        columns = []
        bad = pa.array([False] * table.num_rows, pa.bool_())
        for f in self.fields:
            col = table.column(f.name).combine_chunks()
            if col.type != f.type:
                col, col_bad = self.converter.convert(col.cast(pa.string()), f.type)
                bad = pc.or_(bad, col_bad)
            columns.append(col)
        texts = None
        if self.corrupt_index is not None and pc.any(bad).as_py():
            texts = [line for line in chunk.decode("utf-8", "replace").split("\n") if line.strip()]
        yield from self._finish(columns, bad, texts, table.num_rows)

    def _careful(self, chunk: bytes) -> Iterator[pa.RecordBatch]:
        """Line by line (json module for the structure, Arrow for the types); bad lines follow ``mode``."""
        lines = [line for line in chunk.decode("utf-8", "replace").split("\n") if line.strip()]
        values: list[list[Any]] = [[] for _ in self.fields]
        bad: list[bool] = []
        for line in lines:
            row: list[Any] = [None] * len(self.fields)
            ok = True
            try:
                record = json.loads(line)
            except ValueError:
                record, ok = None, False
            if isinstance(record, dict):
                for i, f in enumerate(self.fields):
                    try:
                        row[i] = self._value(record.get(f.name), f.type)
                    except (ValueError, TypeError, pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                        ok = False  # Spark keeps the other fields of a partly bad record
            else:
                ok = False
            for column, value in zip(values, row, strict=True):
                column.append(value)
            bad.append(not ok)
        columns = [pa.array(v, f.type) for v, f in zip(values, self.fields, strict=True)]
        yield from self._finish(columns, pa.array(bad, pa.bool_()), lines, len(lines))

    def _value(self, value: Any, target: pa.DataType) -> Any:
        if value is None:
            return None
        if _needs_conversion(target):
            converted, bad = self.converter.convert(pa.array([str(value)], pa.string()), target)
            if bad[0].as_py():
                raise ValueError("bad value")
            return converted[0].as_py()
        if pa.types.is_string(target) and not isinstance(value, str):
            return json.dumps(value, separators=(",", ":"))
        return pa.scalar(value, target).as_py()

    def _finish(
        self, columns: list[Any], bad: pa.Array, texts: list[str] | None, rows: int
    ) -> Iterator[pa.RecordBatch]:
        any_bad = bool(rows) and pc.any(bad).as_py()
        if any_bad and self.settings.mode == "FAILFAST":
            raise MalformedRecordError(
                f"{self.path}: malformed JSON record with mode=FAILFAST; use mode=PERMISSIVE or DROPMALFORMED"
            )
        if self.corrupt_index is not None:
            raw = pa.array(texts if texts is not None else [None] * rows, pa.string())
            columns.insert(self.corrupt_index, pc.if_else(bad, raw, pa.scalar(None, pa.string())))
        table = pa.Table.from_arrays(columns, schema=self.target)
        if any_bad and self.settings.mode == "DROPMALFORMED":
            table = table.filter(pc.invert(bad))
        yield from table.to_batches()


class TextParser:
    """Spark's text source: one string column, one row per line (empty lines kept, ``\\r\\n`` accepted)."""

    def __init__(self, settings: ReadSettings, schema: StructType, path: str) -> None:
        self.target = arrow_schema(schema)
        self.path = path
        if len(self.target) != 1 or not pa.types.is_string(self.target[0].type):
            raise MalformedRecordError(f"{path}: format=text reads one string column (value)")

    def parse(self, chunk: bytes, skip_header: bool = False) -> Iterator[pa.RecordBatch]:
        if chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        pieces = pc.split_pattern(pa.array([chunk], pa.large_binary()), b"\n").flatten()
        try:
            values = pc.utf8_rtrim(pieces.cast(pa.large_string()), "\r").cast(pa.string())
        except pa.ArrowInvalid:
            raise MalformedRecordError(f"{self.path}: text is not valid UTF-8") from None
        yield pa.RecordBatch.from_arrays([values], schema=self.target)
