"""Whole-file encrypted Parquet: a seekable plaintext view over the decrypting units, so pyarrow reads the
footer and only the row groups it needs, with a small cache of decrypted units (memory: a few units)."""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql.types import StructType

from ..formats import PlaintextReader
from .sparkrules import parquet as sparkparquet


class UnitFile(io.RawIOBase):
    """Read-only, seekable file over a :class:`PlaintextReader` (decrypts units on demand)."""

    def __init__(self, reader: PlaintextReader, cache_units: int = 4) -> None:
        super().__init__()
        self._reader = reader
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_units = cache_units
        self._starts = [reader.plaintext_start(i) for i in range(reader.unit_count)]
        last = reader.unit_count - 1
        self._size = self._starts[last] + len(self._unit(last))
        self._pos = 0

    def _unit(self, index: int) -> bytes:
        data = self._cache.get(index)
        if data is None:
            data = next(iter(self._reader.iter_units(index, index + 1)))
            self._cache[index] = data
            if len(self._cache) > self._cache_units:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(index)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def size(self) -> int:
        return self._size

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        parts = []
        while self._pos < end:
            index = _unit_of(self._starts, self._pos)
            data = self._unit(index)
            lo = self._pos - self._starts[index]
            take = data[lo : lo + (end - self._pos)]
            if not take:
                break
            parts.append(take)
            self._pos += len(take)
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _unit_of(starts: list[int], pos: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= pos:
            lo = mid
        else:
            hi = mid - 1
    return lo


# Spark reads INT96 timestamps as microseconds (truncating nanoseconds): decoded so, any year fits
PARQUET_FILE_OPTIONS: dict[str, Any] = {"coerce_int96_timestamp_unit": "us"}


def open_parquet(reader: PlaintextReader) -> pq.ParquetFile:
    return pq.ParquetFile(pa.PythonFile(UnitFile(reader), mode="r"), **PARQUET_FILE_OPTIONS)


def read_parquet(
    file: pq.ParquetFile, schema: StructType, skip_group: Any = None, batch_rows: int = 65536
) -> Iterator[pa.RecordBatch]:
    """Batches of the schema's columns as Spark's Parquet reader gives them (:mod:`.sparkrules.parquet`: names
    matched ignoring case, missing columns null, Spark's type conversions and refusals)."""
    groups = [g for g in range(file.num_row_groups) if skip_group is None or not skip_group(file.metadata, g)]
    yield from sparkparquet.read_batches(file, schema, groups, batch_rows)


_OPS = {"EqualTo": "eq", "GreaterThan": "gt", "GreaterThanOrEqual": "ge", "LessThan": "lt", "LessThanOrEqual": "le"}


def row_group_skipper(filters: list[tuple[str, str, Any]]) -> Any:
    """A predicate (metadata, row group) -> True when min/max statistics prove no row can match."""
    if not filters:
        return None

    def skip(metadata: pq.FileMetaData, group: int) -> bool:
        rg = metadata.row_group(group)
        names = [rg.column(i).path_in_schema for i in range(rg.num_columns)]
        for column, op, value in filters:
            if column not in names:
                continue
            stats = rg.column(names.index(column)).statistics
            if stats is None or not stats.has_min_max:
                continue
            try:
                lo, hi = stats.min, stats.max
                if (
                    (op == "eq" and (value < lo or value > hi))
                    or (op == "gt" and hi <= value)
                    or (op == "ge" and hi < value)
                    or (op == "lt" and lo >= value)
                    or (op == "le" and lo > value)
                ):
                    return True
            except TypeError:
                continue
        return False

    return skip


def row_group_midpoint(metadata: pq.FileMetaData, group: int) -> int:
    """Where a row group's middle byte lies: its first page (the dictionary page when it comes first) plus half
    its compressed size. parquet-mr gives a row group to the split whose byte range holds this point
    (``filterFileMetaDataByMidpoint``), so splits over consecutive ranges read each row group exactly once."""
    rg = metadata.row_group(group)
    first = rg.column(0)
    start = first.data_page_offset
    if first.has_dictionary_page and 0 < first.dictionary_page_offset < start:
        start = first.dictionary_page_offset
    return int(start + sum(rg.column(c).total_compressed_size for c in range(rg.num_columns)) // 2)


def range_skipper(start: int, end: int | None, also: Any = None) -> Any:
    """A predicate (metadata, row group) -> True for row groups whose midpoint lies outside ``[start, end)``
    (``end`` None: to the end of the file) or that ``also`` skips."""

    def skip(metadata: pq.FileMetaData, group: int) -> bool:
        middle = row_group_midpoint(metadata, group)
        if middle < start or (end is not None and middle >= end):
            return True
        return also is not None and bool(also(metadata, group))

    return skip


__all__ = ["open_parquet", "range_skipper", "read_parquet", "row_group_midpoint", "row_group_skipper"]
