"""Worker side of a read: for each split of the task, open it, unwrap its key (once per process), decrypt,
parse and yield batches."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import DataSourceReader, Filter, InputPartition
from pyspark.sql.pandas.types import to_arrow_type
from pyspark.sql.types import StructType

from ..errors import IntegrityError, PpmlError, with_source
from ..formats import DataKey, encrypted, iter_plaintext, open_reader
from ..kms import KmsSettings
from ..options import Options
from ..storage import filesystem_for
from . import pme
from .keys import unwrap
from .lineformats import JsonParser, TextParser
from .lines import line_chunks, owned_bytes
from .options import ReadSettings, paths_of
from .parquet import _OPS, open_parquet, read_parquet, row_group_skipper
from .parsing import CsvParser
from .partitions import typed_value
from .planning import FilePartition, FileSplit, plan
from .sparkcsv import checked_multiline


class PpmlEncReader(DataSourceReader):
    """Picklable reader: options, settings and schema only; no file handles, no keys (unless driver delivery)."""

    def __init__(self, options: Options, schema: StructType) -> None:
        self.options = options
        self.settings = ReadSettings.from_options(options)
        self.schema = schema
        self.kms_settings = KmsSettings.from_options(options) if encrypted(self.settings.crypto_mode) else None
        self.row_group_filters: list[tuple[str, str, Any]] = []
        self.pushed: list[Filter] = []  # filters Spark pushed (pushFilters=true): prune partition directories

    def partitions(self) -> list[InputPartition]:
        return list(plan(self.options, self.settings, paths_of(self.options), self.pushed, self.schema))

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        """One task: its splits in order, each with its own key (unwrapped once per process) and checks."""
        if not self.schema.fields and self.settings.content_format == "csv":  # Spark: no columns, no rows
            return
        if isinstance(partition, FilePartition):
            for split in partition.splits:
                yield from self._read(split)
        elif isinstance(partition, FileSplit):
            yield from self._read(partition)
        # anything else: no data files, Spark substituted an empty partition

    def _read(self, split: FileSplit) -> Iterator[pa.RecordBatch]:
        try:
            if not self._partition_names(split):
                yield from self._read_split(split)
                return
            for batch in self._read_split(split):
                yield self._with_partition(batch, split)
        except PpmlError as exc:
            raise with_source(exc, split.path) from None
        except (OSError, pa.ArrowException) as exc:  # messages may quote data: keep only the kind
            raise PpmlError(f"{split.path}: read failed ({type(exc).__name__})") from None

    def _partition_names(self, split: FileSplit) -> set[str]:
        """Partition columns of this split that the read schema asks for (values come from its directories)."""
        return {n for n, _ in split.partition} & set(self.schema.names) if split.partition else set()

    def _data_schema(self, split: FileSplit) -> StructType:
        names = self._partition_names(split)
        return StructType([f for f in self.schema.fields if f.name not in names]) if names else self.schema

    def _with_partition(self, batch: pa.RecordBatch, split: FileSplit) -> pa.RecordBatch:
        """``batch`` (data columns in order) with the split's partition values as constant columns, in the
        read schema's order."""
        raw = dict(split.partition)
        arrays: list[pa.Array] = []
        data = iter(batch.columns)
        for f in self.schema.fields:
            if f.name in raw:
                value = typed_value(raw[f.name], f.dataType)
                arrays.append(pa.array([value] * batch.num_rows, type=to_arrow_type(f.dataType)))
            else:
                arrays.append(next(data))
        return pa.RecordBatch.from_arrays(arrays, names=self.schema.names)

    def _key(self, split: FileSplit) -> DataKey | None:
        if split.key is not None:
            return split.key
        if split.wrapped is None or self.kms_settings is None:
            return None
        return unwrap(self.kms_settings, split.wrapped, split.path)

    def _read_split(self, split: FileSplit) -> Iterator[pa.RecordBatch]:
        codec = split.info.codec
        if not codec.wraps_bytes:  # encrypted inside Parquet (PME): pyarrow decrypts
            yield from self._read_pme(split)
            return
        settings = self.settings
        fs = filesystem_for(split.path, self.options)
        with fs.open_read(split.path) as source:
            key = self._key(split) if codec.encrypted else None
            reader = open_reader(
                split.info, source, key, verify=settings.verify, name=split.path, unit_size=split.unit_size or 0
            )
            if codec.verify_tail and split.stop_unit < split.unit_count:
                # Detect truncation before returning any row: the true last unit must authenticate.
                for _ in iter_plaintext(reader, split.path, split.unit_count - 1, split.unit_count):
                    pass
            if settings.content_format == "parquet":
                skipper = row_group_skipper(self.row_group_filters)
                yield from read_parquet(open_parquet(reader), self._data_schema(split), skipper)
                return
            parser = self._parser(split.path, self._data_schema(split))
            pieces = iter_plaintext(reader, split.path, split.first_unit, None)
            skip_header = settings.header and split.first_split and settings.content_format == "csv"
            if settings.multi_line and isinstance(parser, CsvParser):
                checked = checked_multiline(pieces, settings, split.path)  # refuses what it cannot read as Spark
                yield from parser.parse_stream(PieceStream(checked), skip_header)
                return
            if settings.multi_line and settings.content_format == "json":  # one document per file, as Spark
                whole = _json_document_lines(b"".join(pieces), split.path)
                chunks: Iterator[bytes] = iter([whole]) if whole else iter(())
            else:
                chunks = line_chunks(owned_bytes(pieces, split.start, split.end), settings.chunk_bytes)
            for chunk in chunks:
                yield from parser.parse(chunk, skip_header)
                skip_header = False

    def _read_pme(self, split: FileSplit) -> Iterator[pa.RecordBatch]:
        """Parquet Modular Encryption: pyarrow decrypts the footer and pages; keys via the KMS in the footer."""
        with filesystem_for(split.path, self.options).open_read(split.path) as source:
            file = pme.open_file(source, split.info.file_size, split.path, self.options)
            by_stats = row_group_skipper(self.row_group_filters)
            skip = by_stats
            if split.unit_count:  # a run of row groups [first_unit, stop_unit) of a large file
                first, stop = split.first_unit, split.stop_unit

                def skip(metadata: Any, group: int) -> bool:
                    return not first <= group < stop or (by_stats is not None and by_stats(metadata, group))

            yield from pme.iter_batches(split.path, read_parquet(file, self._data_schema(split), skip))

    def _parser(self, path: str, schema: StructType) -> CsvParser | JsonParser | TextParser:
        fmt = self.settings.content_format
        if fmt == "json":
            return JsonParser(self.settings, schema, path)
        if fmt == "text":
            return TextParser(self.settings, schema, path)
        return CsvParser(self.settings, schema, path)


class PpmlEncParquetReader(PpmlEncReader):
    """Reads that take Spark's filters: key=value directories pruned while planning, and for Parquet row groups
    skipped by statistics. Spark refuses readers that implement pushFilters unless
    spark.sql.python.filterPushdown.enabled=true, so this reader is used only when option pushFilters=true."""

    def pushFilters(self, filters: list[Filter]) -> Iterator[Filter]:  # noqa: N802 - Spark's name
        """Remember the filters (partition pruning; Parquet row-group skipping). Spark still evaluates every
        filter on the rows, so each is handed back."""
        for item in filters:
            self.pushed.append(item)
            op = _OPS.get(type(item).__name__)
            if self.settings.content_format == "parquet" and op and len(item.attribute) == 1:  # type: ignore[attr-defined]
                self.row_group_filters.append((item.attribute[0], op, item.value))  # type: ignore[attr-defined]
            yield item


class PieceStream(io.RawIOBase):
    """Read-only stream over decrypted pieces, for pyarrow's streaming CSV reader (multiLine)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        super().__init__()
        self._pieces = pieces
        self._current = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not len(self._current):
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._current = memoryview(piece)
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n


def _json_document_lines(document: bytes, path: str) -> bytes:
    """multiLine JSON: one document per file (an object or an array of objects) -> JSON Lines."""
    try:
        parsed = json.loads(document.decode("utf-8"))
    except ValueError:
        raise IntegrityError(f"{path}: multiLine JSON file is not one JSON document") from None
    records = parsed if isinstance(parsed, list) else [parsed]
    return "\n".join(json.dumps(r) for r in records).encode("utf-8") + b"\n"


__all__ = ["PpmlEncReader"]
