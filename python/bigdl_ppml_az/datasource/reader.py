"""Worker side of a read: for each split of the task, open it, unwrap its key (once per process), decrypt,
parse and yield batches. A split planned from the listing alone (a small file) has its header read and
checked here first, through the same open file (see ``planning.resolve_split``)."""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, cast

import pyarrow as pa
from pyspark.sql.datasource import DataSourceReader, Filter, InputPartition
from pyspark.sql.pandas.types import to_arrow_type
from pyspark.sql.types import ArrayType, DataType, MapType, StringType, StructType

from ..errors import ConfigError, PpmlError, with_source
from ..formats import HEAD_SIZE, DataKey, encrypted, iter_plaintext, open_reader, refuse_ciphertext_as_plaintext
from ..kms import KmsSettings
from ..options import Options
from ..storage import filesystem_for, is_remote, open_status
from ..table.integrity import check_file
from . import pme
from .errorlines import one_line_errors
from .keys import unwrap
from .lineformats import JsonParser, TextParser
from .lines import line_chunks, owned_bytes
from .options import ReadSettings, paths_of
from .parquet import _OPS, open_parquet, range_skipper, read_parquet, row_group_skipper
from .parsing import CsvParser
from .partitions import typed_value
from .planning import FilePartition, FileSplit, plan, resolve_split
from .sparkrules.csv import RecordTexts, checked_multiline


class PpmlEncReader(DataSourceReader):
    """Picklable reader: options, settings and schema only; no file handles, no keys (unless driver delivery)."""

    def __init__(self, options: Options, schema: StructType) -> None:
        self.options = options
        self.settings = ReadSettings.from_options(options)
        self.schema = schema
        self.kms_settings = KmsSettings.from_options(options) if encrypted(self.settings.crypto_mode) else None
        check_nullable(schema)
        if self.settings.content_format in ("csv", "json"):
            check_corrupt_record_column(schema, self.settings.corrupt_column)
        self.row_group_filters: list[tuple[str, str, Any]] = []
        self.pushed: list[Filter] = []  # filters Spark pushed (pushFilters=true): prune partition directories

    @one_line_errors
    def partitions(self) -> list[InputPartition]:
        return list(plan(self.options, self.settings, paths_of(self.options), self.pushed, self.schema))

    @one_line_errors
    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        """One task: its splits in order, each with its own key (unwrapped once per process) and checks."""
        if not self.schema.fields and self.settings.content_format == "csv":  # Spark: no columns, no rows
            return
        if isinstance(partition, FilePartition):
            prefetch = Prefetch(partition.splits, self.options)
            try:
                batches = (batch for split in partition.splits for batch in self._read(split, prefetch))
                yield from coalesced(batches) if len(partition.splits) > 1 else batches
            finally:
                prefetch.close()
        elif isinstance(partition, FileSplit):
            yield from self._read(partition)
        # anything else: no data files, Spark substituted an empty partition

    def _read(self, split: FileSplit, prefetch: Prefetch | None = None) -> Iterator[pa.RecordBatch]:
        try:
            fetched = prefetch.take(split) if prefetch is not None else None
            if not self._partition_names(split):
                yield from self._read_split(split, fetched)
                return
            for batch in self._read_split(split, fetched):
                yield self._with_partition(batch, split)
        except PpmlError as exc:
            raise with_source(exc, split.path) from None
        except (OSError, pa.ArrowException) as exc:  # text parsers' messages may quote data: keep only the kind
            raise PpmlError(f"{split.path}: read failed ({type(exc).__name__}{self._reason(exc)})") from None

    def _reason(self, exc: BaseException) -> str:
        """The cause of a Parquet decoding error (structure: pages, encodings, thrift), first line, bounded. CSV,
        JSON and text errors can quote a row, so theirs stays out."""
        if self.settings.content_format != "parquet":
            return ""
        first = (str(exc).strip().splitlines() or [""])[0]
        return f": {first[:200]}" if first else ""

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

    def _read_split(self, split: FileSplit, fetched: bytes | None = None) -> Iterator[pa.RecordBatch]:
        """``fetched``: the whole file, already read by :class:`Prefetch`."""
        fs = filesystem_for(split.path, self.options)
        if split.info is not None and not split.info.codec.wraps_bytes:  # encrypted inside Parquet (PME)
            yield from self._read_pme(split)
            return
        opened = cast(BinaryIO, io.BytesIO(fetched)) if fetched is not None else open_status(fs, split.status)
        with opened as source:
            if split.info is None:  # planned from the listing: this task reads and checks the header
                split = resolve_split(split, source, fs, self.settings, self.kms_settings)
            assert split.info is not None
            if split.info.codec.encrypted:  # in its table, at its place, as its manifest recorded it
                check_file(fs, split.status, split.info, source, self.kms_settings)
            yield from self._read_open(split, source)

    def _read_open(self, split: FileSplit, source: BinaryIO) -> Iterator[pa.RecordBatch]:
        """Decrypt, authenticate and parse one probed split from its open file."""
        assert split.info is not None
        codec = split.info.codec
        settings = self.settings
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
            if split.start > 0 or split.end is not None:  # one byte range of a large file: its row groups
                skipper = range_skipper(split.start, split.end, skipper)
            try:
                parquet = open_parquet(reader)
            except pa.ArrowException:
                if not codec.encrypted:  # ciphertext is no Parquet file: say what it is instead
                    refuse_ciphertext_as_plaintext(read_head(source), split.path, split.info.mode)
                raise
            yield from read_parquet(parquet, self._data_schema(split), skipper)
            return
        parser = self._parser(split.path, self._data_schema(split))
        pieces = iter_plaintext(reader, split.path, split.first_unit, None)
        if not codec.encrypted and split.first_unit == 0:  # a plaintext read: never an encrypted file's bytes
            pieces = checked_head(pieces, split.path, split.info.mode)
        skip_header = settings.header and split.first_split and settings.content_format == "csv"
        if settings.multi_line and isinstance(parser, CsvParser):
            texts = RecordTexts(settings, skip_header) if parser.corrupt_index is not None else None
            checked = checked_multiline(pieces, settings, split.path, texts, skip_header)  # refuses what it
            yield from parser.parse_stream(PieceStream(checked), texts)  # cannot read as Spark does
            return
        if settings.multi_line and isinstance(parser, JsonParser):  # one document per file, as Spark
            yield from parser.parse_document(b"".join(pieces))
            return
        file_start = split.first_split  # JSON: a byte order mark is skipped only at the start of the file
        for chunk in line_chunks(owned_bytes(pieces, split.start, split.end), settings.chunk_bytes):
            if isinstance(parser, JsonParser):
                yield from parser.parse(chunk, file_start=file_start)
            else:
                yield from parser.parse(chunk, skip_header, file_start)
            skip_header = file_start = False

    def _read_pme(self, split: FileSplit) -> Iterator[pa.RecordBatch]:
        """Parquet Modular Encryption: pyarrow decrypts the footer and pages; keys via the KMS in the footer."""
        assert split.info is not None
        fs = filesystem_for(split.path, self.options)
        with open_status(fs, split.status) as source:
            check_file(fs, split.status, split.info, source, self.kms_settings)
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
        # A task of many small files would build the same CSV parser (conversion options, schema) for each file:
        # one per schema is kept and told which file it reads (errors name it).
        cache: dict[str, CsvParser] = self.__dict__.setdefault("_csv_parsers", {})
        key = schema.json()
        parser = cache.get(key)
        if parser is None:
            parser = cache[key] = CsvParser(self.settings, schema, path)
        parser.path = path
        return parser


class PpmlEncParquetReader(PpmlEncReader):
    """Reads that take Spark's filters: key=value directories pruned while planning, and for Parquet row groups
    skipped by statistics. Spark refuses readers that implement pushFilters unless
    spark.sql.python.filterPushdown.enabled=true, so this reader is used only when option pushFilters=true."""

    def pushFilters(self, filters: list[Filter]) -> Iterator[Filter]:  # noqa: N802 - Spark's name
        """Remember the filters (partition pruning; Parquet row-group skipping). Spark still evaluates every
        filter on the rows, so each is handed back. Each call replaces what an earlier call pushed."""
        self.pushed, self.row_group_filters = [], []
        for item in filters:
            self.pushed.append(item)
            op = _OPS.get(type(item).__name__)
            if self.settings.content_format == "parquet" and op and len(item.attribute) == 1:  # type: ignore[attr-defined]
                self.row_group_filters.append((item.attribute[0], op, item.value))  # type: ignore[attr-defined]
            yield item


def checked_head(pieces: Iterator[bytes], name: str, mode: str) -> Iterator[bytes]:
    """The plaintext pieces of a file from its start, refused before any is parsed when the file's first bytes
    say it is encrypted (a plaintext crypto mode on ciphertext). Costs one detect over bytes read anyway."""
    held: list[bytes] = []
    size = 0
    for piece in pieces:
        held.append(piece)
        size += len(piece)
        if size >= HEAD_SIZE:
            break
    refuse_ciphertext_as_plaintext(b"".join(held)[:HEAD_SIZE], name, mode)
    yield from held
    yield from pieces


def read_head(source: BinaryIO) -> bytes:
    """The first bytes of an open file (only on an error path: the read already failed)."""
    source.seek(0)
    return source.read(HEAD_SIZE)


COALESCE_ROWS = 1 << 16  # small batches of one task are joined up to this many rows before they go to Spark


def coalesced(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The same rows in the same order, small batches joined: a task reading many small files would otherwise
    hand Spark one tiny batch per file, and every batch has a fixed cost on both sides of the Arrow stream."""
    held: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        if batch.num_rows >= COALESCE_ROWS:
            if held:
                yield _joined(held)
                held, rows = [], 0
            yield batch
            continue
        held.append(batch)
        rows += batch.num_rows
        if rows >= COALESCE_ROWS:
            yield _joined(held)
            held, rows = [], 0
    if held:
        yield _joined(held)


def _joined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    return batches[0] if len(batches) == 1 else pa.concat_batches(batches)


PREFETCH_FILES = 4  # small remote files of one task fetched ahead, on as many threads
PREFETCH_MAX_BYTES = 4 << 20  # only files up to this listed size (one ranged GET each)


class Prefetch:
    """The small remote files of one task (planned from the listing, up to ``PREFETCH_MAX_BYTES``), fetched
    whole a few ahead on threads. A task reads its files one after another and on an object store each costs a
    round trip; overlapping the next files' GETs with this one's parsing hides that latency. Holds ciphertext
    only, at most ``PREFETCH_FILES`` files of bounded size; decryption and checks happen in order as usual."""

    def __init__(self, splits: Sequence[FileSplit], options: Options) -> None:
        self._queue = deque(
            s for s in splits if s.info is None and s.size <= PREFETCH_MAX_BYTES and is_remote(s.path)
        )
        self._options = options
        self._futures: dict[int, Future[bytes]] = {}
        self._pool = ThreadPoolExecutor(PREFETCH_FILES, "ppml-fetch") if len(self._queue) > 1 else None
        self._fill()

    def _fill(self) -> None:
        while self._pool is not None and self._queue and len(self._futures) < PREFETCH_FILES:
            split = self._queue.popleft()
            self._futures[id(split)] = self._pool.submit(_fetch, split, self._options)

    def take(self, split: FileSplit) -> bytes | None:
        """The whole file of ``split`` if it was fetched ahead (its fetch error, if any, raised here)."""
        future = self._futures.pop(id(split), None)
        self._fill()
        return None if future is None else future.result()

    def close(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _fetch(split: FileSplit, options: Options) -> bytes:
    with open_status(filesystem_for(split.path, options), split.status) as source:
        return source.read(split.size)


class PieceStream(io.RawIOBase):
    """Read-only stream over decrypted pieces, for pyarrow's streaming CSV reader (multiLine)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        super().__init__()
        self._pieces = pieces
        self._current = memoryview(b"")
        self.consumed = 0  # bytes handed out so far

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
        self.consumed += n
        return n


__all__ = ["PpmlEncReader"]


def check_corrupt_record_column(schema: StructType, name: str) -> None:
    """Spark's rule for CSV and JSON reads (``ExprUtils.verifyColumnNameOfCorruptRecord``, error class
    ``INVALID_CORRUPT_RECORD_TYPE``): a schema field named like ``columnNameOfCorruptRecord`` (exact case) must be
    a string; refused before a task runs, as Spark does. Nullability is not checked: Spark makes a file source's
    schema nullable first, so ``STRING NOT NULL`` reads (``tests/test_corrupt_record_type.py``)."""
    for field in schema.fields:
        if field.name == name and not isinstance(field.dataType, StringType):
            raise ConfigError(
                f"columnNameOfCorruptRecord: the column `{name}` for corrupt records must have the nullable STRING "
                f"type, but got {field.dataType.simpleString().upper()} (Spark: INVALID_CORRUPT_RECORD_TYPE); make "
                "it a string in the schema, or name another column with option columnNameOfCorruptRecord"
            )


def _not_null_field(data_type: DataType, where: str) -> str | None:
    """The first place in ``data_type`` that cannot hold null (struct field, array element, map value)."""
    if isinstance(data_type, StructType):
        for field in data_type.fields:
            name = f"{where}.{field.name}" if where else field.name
            if not field.nullable:
                return name
            inner = _not_null_field(field.dataType, name)
            if inner:
                return inner
    elif isinstance(data_type, ArrayType):
        if not data_type.containsNull:
            return f"{where} (its elements)"
        return _not_null_field(data_type.elementType, where)
    elif isinstance(data_type, MapType):
        if not data_type.valueContainsNull:
            return f"{where} (its values)"
        return _not_null_field(data_type.valueType, where)
    return None


def check_nullable(schema: StructType) -> None:
    """Spark's file sources make a user's schema nullable (``spark.read.schema("a INT NOT NULL").csv(...)`` gives
    a nullable ``a``); a Python data source's output keeps the schema it was given, and a null in a NOT NULL column
    then fails the job in the JVM (``NullPointerException``). Neither answer is Spark's, so such a schema is refused
    by name before a task runs."""
    where = _not_null_field(schema, "")
    if where:
        raise ConfigError(
            f"schema: column {where} is declared NOT NULL; Spark's file readers read every column as nullable, and "
            "ppml-enc cannot relax a schema it is given: declare it nullable (drop NOT NULL / nullable=False)"
        )
