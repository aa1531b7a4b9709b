"""JSON and text chunks -> RecordBatches in the Spark schema's Arrow types (JSON with Spark's semantics)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.types import StringType, StructType

from ..errors import ConfigError
from .options import ReadSettings
from .parsing import MalformedRecordError, arrow_schema
from .sparkrules.json import JsonOptions, RowConverter, records


def json_options(settings: ReadSettings) -> JsonOptions:
    """The JSON part of the read settings, for :mod:`.sparkrules.json`."""
    return JsonOptions(primitives_as_string=settings.primitives_as_string, prefers_decimal=settings.prefers_decimal,
                       allow_non_numeric=settings.allow_non_numeric, allow_control_chars=settings.allow_control_chars,
                       allow_single_quotes=settings.allow_single_quotes,
                       drop_field_if_all_null=settings.drop_field_if_all_null, mode=settings.mode,
                       corrupt_column=settings.corrupt_column)  # fmt: skip


class JsonParser:
    """Spark's JSON reader (:mod:`.sparkrules.json`): one record per line, or one document per file with ``multiLine``;
    malformed records follow ``mode`` and fill ``columnNameOfCorruptRecord`` when the schema has it."""

    def __init__(self, settings: ReadSettings, schema: StructType, path: str) -> None:
        self.settings = settings
        self.path = path
        self.target = arrow_schema(schema)
        opts = json_options(settings)
        names = [f.name for f in schema.fields]
        self.corrupt_index = names.index(opts.corrupt_column) if opts.corrupt_column in names else None
        if self.corrupt_index is not None:
            if not isinstance(schema.fields[self.corrupt_index].dataType, StringType):
                raise ConfigError(f"columnNameOfCorruptRecord={opts.corrupt_column}: that column must be a nullable "
                                  "string, as Spark requires; change its type in the schema")  # fmt: skip
            if len(names) == 1:
                raise ConfigError(f"the read asks only for the corrupt-record column {opts.corrupt_column}, which "
                                  "Spark refuses too for raw JSON files; read other columns as well")  # fmt: skip
        data = StructType([f for i, f in enumerate(schema.fields) if i != self.corrupt_index])
        self.converter = RowConverter(data, opts, settings.datetime_options())

    def parse(self, chunk: bytes, file_start: bool = True) -> Iterator[pa.RecordBatch]:
        """Whole lines of a file (``file_start``: the chunk begins the file)."""
        yield from self._batches(records(chunk, multi_line=False, file_start=file_start))

    def parse_document(self, document: bytes) -> Iterator[pa.RecordBatch]:
        """multiLine: the file is one record (its first JSON value: an object, or an array of objects)."""
        yield from self._batches(records(document, multi_line=True))

    def _batches(self, texts: Iterable[tuple[str, bool]]) -> Iterator[pa.RecordBatch]:
        mode = self.settings.mode
        rows: list[tuple[Any, ...]] = []
        corrupt: list[str | None] = []
        for text, valid in texts:
            found, bad = self.converter.rows(text, valid)
            if bad and mode == "FAILFAST":
                raise MalformedRecordError(
                    f"{self.path}: malformed JSON record with mode=FAILFAST; use mode=PERMISSIVE or DROPMALFORMED"
                )
            if bad and mode == "DROPMALFORMED":
                continue
            rows.extend(found)
            corrupt.extend([text if bad else None] * len(found))
        if not rows:
            return
        if not self.target:  # no columns: Spark still yields one empty row per record (`{}` lines)
            yield pa.RecordBatch.from_struct_array(pa.array([{}] * len(rows), pa.struct([])))
            return
        data_fields = [f for i, f in enumerate(self.target) if i != self.corrupt_index]
        by_column = zip(*rows, strict=True)
        columns = [pa.array(list(values), f.type) for values, f in zip(by_column, data_fields, strict=True)]
        if self.corrupt_index is not None:
            columns.insert(self.corrupt_index, pa.array(corrupt, pa.string()))
        yield pa.RecordBatch.from_arrays(columns, schema=self.target)


class TextParser:
    """Spark's text source: one string column, one row per line (empty lines kept, ``\\r\\n`` accepted)."""

    def __init__(self, settings: ReadSettings, schema: StructType, path: str) -> None:
        self.target = arrow_schema(schema)
        self.path = path
        if len(self.target) != 1 or not pa.types.is_string(self.target[0].type):
            raise MalformedRecordError(f"{path}: format=text reads one string column (value)")

    def parse(self, chunk: bytes, skip_header: bool = False, file_start: bool = False) -> Iterator[pa.RecordBatch]:
        if chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        pieces = pc.split_pattern(pa.array([chunk], pa.large_binary()), b"\n").flatten()
        try:
            values = pc.utf8_rtrim(pieces.cast(pa.large_string()), "\r").cast(pa.string())
        except pa.ArrowInvalid:
            raise MalformedRecordError(f"{self.path}: text is not valid UTF-8") from None
        yield pa.RecordBatch.from_arrays([values], schema=self.target)
