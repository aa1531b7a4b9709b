"""Driver-side planning: list files, probe their headers, and cut them into picklable splits.

Splits fall on unit boundaries: ppml-gcm segments, or runs of 16-byte CBC blocks for unauthenticated CBC and
plaintext. BigDL common files are one split each (their whole-file HMAC is checked before any row is returned).
``multiLine`` reads are one split per file; a large Parquet file is cut into byte ranges whose tasks each read
the row groups whose midpoint lies in their range, as Spark's Parquet reader does. Parquet Modular Encryption
files (cryptoMode aes_gcm_v1/aes_gcm_ctr_v1) are not probed: their keys live in the Parquet footer, which the
worker decrypts; only files larger than maxPartitionBytes have their footer decrypted here, to split them at row
groups.

Splits are then packed into tasks as Spark's file sources do (``FilePartition.getFilePartitions``): a task
target ``maxSplitBytes = min(maxPartitionBytes, max(openCostInBytes, totalBytes / minPartitions))`` where
``totalBytes`` counts every file plus its open cost; files, largest first, fill a task until the next split
would pass ``maxSplitBytes``, each split costing its size plus ``openCostInBytes`` (see :func:`pack`). Unlike
Spark, a file is cut only at ``maxPartitionBytes``, never smaller to reach ``minPartitions``: every extra split
of an encrypted file authenticates its final segment again, and small tables gain nothing from it.
A file that fits in one split (up to maxPartitionBytes) is planned from its listing alone (size, ETag): its
task reads and checks the header (:func:`resolve_split`), so N small files cost the listing plus one probe of
the first file, which fixes the read's crypto mode. Headers of larger files (needed to cut them) are probed
by a bounded thread pool (``planningThreads``), one ranged read each, keeping file order. The driver holds a
few small records per split, never anything sized by what a header declares (unit starts are arithmetic).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, TypeVar

from pyspark.sql.datasource import InputPartition
from pyspark.sql.types import StructType

from ..errors import ConfigError, IntegrityError, PpmlError, StorageError, UnknownFormatError, with_source
from ..formats import (
    AUTO,
    HEAD_SIZE,
    DataKey,
    ObjectInfo,
    UnitLayout,
    codec_for,
    encrypted,
    probe,
    refuse_ciphertext_as_plaintext,
)
from ..kms import KmsSettings, WrappedKey
from ..storage import FileStatus, FileSystem, expand_paths, filesystem_for, open_status
from ..storage.manifest import TableRef
from . import pme
from .keys import require_same_mode, unwrap, wrapped_key_for
from .options import ReadSettings, check_driver_delivery, paths_of
from .partitions import Discovered, discover, keeps, typed_value


@dataclass(repr=False, kw_only=True)
class FileSplit(InputPartition):
    """One task's share of one file: units [first_unit, stop_unit) and plaintext [start, end).

    ``info`` None: a file that fits in one split, planned from its listing alone; the task reads its header
    (:func:`resolve_split`), checks it against ``expected_mode`` and reads the whole file."""

    path: str
    size: int  # the listed size
    etag: str | None = None  # the listed version (Azure): tasks open without asking again, pinned to it
    info: ObjectInfo | None
    expected_mode: str | None = None  # info None: the crypto mode of the read (its first file's)
    cut_bytes: int = 0  # info None: where the driver cuts files (the task's unit layout uses it)
    first_unit: int = 0
    stop_unit: int = 0
    unit_count: int = 0
    unit_size: int = 0
    start: int = 0
    end: int | None = None  # None: to the end of the file
    first_split: bool = True
    wrapped: WrappedKey | None = None
    key: DataKey | None = field(default=None)  # only with keyDelivery=driver
    partition: tuple[tuple[str, str | None], ...] = ()  # key=value directories: (column, raw value or None)
    table: TableRef | None = None  # its place in a table: the task checks it against the verified manifest

    @property
    def status(self) -> FileStatus:
        return FileStatus(self.path, self.size, self.etag, self.table)

    def __repr__(self) -> str:
        if self.info is None:
            return f"FileSplit({self.path}, whole file, header read in the task)"
        return f"FileSplit({self.path}, {self.info.mode}, units {self.first_unit}..{self.stop_unit - 1})"

    __str__ = __repr__


@dataclass(repr=False, kw_only=True)
class FilePartition(InputPartition):
    """One task: splits of one or more files, read one after another (Spark's ``FilePartition``)."""

    index: int
    splits: tuple[FileSplit, ...]

    def __repr__(self) -> str:
        files = len({s.path for s in self.splits})
        return f"FilePartition({self.index}, {len(self.splits)} split(s) of {files} file(s))"

    __str__ = __repr__


@dataclass(frozen=True)
class Packing:
    """Spark's packing knobs, resolved: the session's conf where visible, the data source's options over it."""

    max_partition_bytes: int
    open_cost_bytes: int
    min_partitions: int

    def max_split_bytes(self, sizes: Sequence[int]) -> int:
        """Spark's ``maxSplitBytes``: split target that spreads small tables over ``min_partitions`` tasks."""
        total = sum(size + self.open_cost_bytes for size in sizes)
        per_core = total // max(1, self.min_partitions)
        return max(1, min(self.max_partition_bytes, max(self.open_cost_bytes, per_core)))


def packing_for(settings: ReadSettings) -> Packing:
    """Options the user gave win; else ``spark.sql.files.*`` of the active session (only visible when planning
    runs in the driver's own Python process, which Spark 4's Python data sources never do); else defaults."""
    conf = _session_conf()
    mpb = settings.max_partition_bytes
    open_cost = settings.open_cost_bytes
    minimum = settings.min_partitions
    if "maxPartitionBytes" not in settings.given and conf.get("maxPartitionBytes"):
        mpb = conf["maxPartitionBytes"]
    if "openCostInBytes" not in settings.given and conf.get("openCostInBytes"):
        open_cost = conf["openCostInBytes"]
    if "minPartitions" not in settings.given and conf.get("minPartitions"):
        minimum = conf["minPartitions"]
    if minimum <= 0:
        minimum = conf.get("parallelism") or max(2, os.cpu_count() or 2)
    return Packing(mpb, open_cost, minimum)


def _session_conf() -> dict[str, int]:
    from ..options import parse_size_text

    try:
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession()
    except Exception:  # pragma: no cover - no JVM in this process
        session = None
    if session is None:
        return {}
    found: dict[str, int] = {}
    try:
        for name, key in (
            ("maxPartitionBytes", "spark.sql.files.maxPartitionBytes"),
            ("openCostInBytes", "spark.sql.files.openCostInBytes"),
            ("minPartitions", "spark.sql.files.minPartitionNum"),
        ):
            value = session.conf.get(key, None)
            parsed = parse_size_text(str(value)) if value else None
            if parsed:
                found[name] = parsed
        found["parallelism"] = int(session.sparkContext.defaultParallelism)
    except Exception:  # pragma: no cover - a remote (Connect) session has no SparkContext
        pass
    return found


def pack(
    splits: Sequence[FileSplit], lengths: Sequence[int], packing: Packing, max_split_bytes: int
) -> list[FilePartition]:
    """Spark's bin-packing: largest first, each split costing its length plus the open cost; a task closes when
    the next split would pass ``max_split_bytes``.

    Spark sorts the splits themselves; here files are sorted (largest first, ties in listing order) and a file's
    splits stay together in order. For files Spark does not split either (the many-small-files case) that is
    Spark's order; where ppml-enc cuts a file Spark would not (units are smaller than Spark's splits), rows
    still come in the order Spark's reader returns them for the plaintext copy, file by file.
    """
    order = sorted(range(len(splits)), key=lambda i: -splits[i].size)
    partitions: list[FilePartition] = []
    current: list[FileSplit] = []
    size = 0
    for i in order:
        if current and size + lengths[i] > max_split_bytes:
            partitions.append(FilePartition(index=len(partitions), splits=tuple(current)))
            current, size = [], 0
        current.append(splits[i])
        size += lengths[i] + packing.open_cost_bytes
    if current:
        partitions.append(FilePartition(index=len(partitions), splits=tuple(current)))
    return partitions


def with_partition_columns(data: StructType, options: Mapping[str, str]) -> StructType:
    """The read schema: data columns, then the key=value partition columns. Lists the files once more; probes
    nothing."""
    settings = ReadSettings.from_options(options)
    files = list_data_files(paths_of(options), options, required=False, encrypted=encrypted(settings.crypto_mode))
    found = discover(files, paths_of(options), settings.base_path, settings.partition_inference)
    if not found.columns:
        return data
    clash = [f.name for f in data.fields if f.name in set(found.columns)]
    if clash:
        raise ConfigError(
            f"{paths_of(options)[0]}: column {clash[0]} is both in the files and a key=value partition directory; "
            "ppml-enc does not merge the two (Spark does): rename the directories or the column"
        )
    return StructType(list(data.fields) + list(found.schema().fields))


PROBE_BUFFER = 64 << 10  # first read of a header probe: the 512-byte head and almost every envelope


def probe_file(fs: FileSystem, status: FileStatus, settings: ReadSettings) -> ObjectInfo:
    """The header facts of one listed file: one ranged read (no metadata request where the listing had the
    ETag); nothing at all for modes without a header (plaintext, PME)."""
    if settings.crypto_mode != AUTO:
        codec = codec_for(settings.crypto_mode)
        if not codec.reads_head:  # plaintext, or PME (PARE/PAR1 Parquet, keys in the footer): nothing to read
            return codec.probe(None, status.size, status.path)
    with open_status(fs, status, PROBE_BUFFER) as source:
        return probe(source, status.size, status.path, settings.crypto_mode)


def refuse_encrypted_files(
    paths: Sequence[str], options: Mapping[str, str] | None, mode: str, threads: int = 16
) -> None:
    """Before Spark's own readers read ``paths`` as plaintext (PPMLContext ``PLAIN_TEXT``, ``tpch.tables``):
    refuse, naming it, any data file whose first bytes say it is encrypted. Spark's tasks never come back to us,
    so this is the only place to look: one ranged read of ``HEAD_SIZE`` bytes per file, on ``threads`` threads."""
    if encrypted(mode):
        return

    def check(status: FileStatus) -> None:
        with open_status(filesystem_for(status.path, options), status, HEAD_SIZE) as source:
            refuse_ciphertext_as_plaintext(source.read(HEAD_SIZE), status.path, mode)

    served = []
    for path in paths:
        try:
            filesystem_for(path, options)
        except ConfigError:  # a scheme only Spark serves (hdfs://...): no way to look at its bytes from here
            continue
        served.append(path)
    files = [f for f in expand_paths(served, options) if f.size > 0] if served else []
    in_order(check, files, threads, _path)


def probe_reads(settings: ReadSettings) -> bool:
    """Whether probing a file costs I/O (a header to read), i.e. whether a task can do it instead."""
    return settings.crypto_mode == AUTO or codec_for(settings.crypto_mode).reads_head


def check_content(info: ObjectInfo, path: str, settings: ReadSettings) -> None:
    """A file whose authenticated header names a content type the read would misparse: Parquet read as lines
    or lines as Parquet, and CSV and JSON read as each other (a JSON part renamed into a CSV table reads as a
    header and no rows). ``format=text`` reads the lines of any non-Parquet content."""
    env = info.envelope
    if env is None or not env.content_type:
        return
    declared, read = env.content_type, settings.content_format
    mismatch = (declared == "parquet") != (read == "parquet") or {declared, read} == {"csv", "json"}
    if mismatch:
        raise UnknownFormatError(
            f"{path}: holds {declared} but the read has format={read} (mixed formats in one read, or a file "
            f"renamed into this directory); read it with format={declared}"
        )


def resolve_split(
    split: FileSplit, source: BinaryIO, fs: FileSystem, settings: ReadSettings, kms_settings: KmsSettings | None
) -> FileSplit:
    """In the task: a split planned without its header (``info`` None) becomes the one whole-file split the
    driver would have planned, from the header read through the task's own open ``source`` (for a small file
    one ranged GET serves header, data and tag). Same checks as planning: known format, the read's crypto mode,
    its content format; the wrapped key comes from this file's own header (or its own ``.meta``)."""
    info = probe(source, split.size, split.path, settings.crypto_mode)
    check_content(info, split.path, settings)
    if info.mode != split.expected_mode:
        raise ConfigError(
            f"{split.path}: is {info.mode} but this read's first file is {split.expected_mode} (mixed crypto modes "
            "in one read); read them separately or set cryptoMode"
        )
    wrapped = None
    if kms_settings is not None and info.codec.encrypted and info.codec.wraps_bytes:
        wrapped = wrapped_key_for(info, split.path, kms_settings, fs)
    built = file_splits(split.status, info, wrapped, None, split.partition, settings, split.cut_bytes, whole=True)
    return built[0][0]


def list_data_files(
    paths: list[str], options: Mapping[str, str], required: bool = True, encrypted: bool = True
) -> list[FileStatus]:
    """Non-empty data files; an output directory with only ``_SUCCESS`` is an empty table when not required.

    Plaintext reads skip empty files as Spark does. In an encrypted read every object has at least a header, so a
    zero-length data file is a part file cut to nothing (its rows deleted): an integrity error, never skipped.
    """
    listed = expand_paths(paths, options)
    empty = [f.path for f in listed if f.size == 0]
    if encrypted and empty:
        raise IntegrityError(
            f"{empty[0]}: zero-length data file in an encrypted read ({len(empty)} such file(s)); an encrypted "
            "file always has a header, so this one was truncated. Restore it, or delete it if it is not data"
        )
    files = [f for f in listed if f.size > 0]
    if not files and required:
        raise ConfigError(f"{', '.join(paths)}: no data files to infer a schema from (only empty or hidden files)")
    return files


def unit_layout(info: ObjectInfo, settings: ReadSettings, max_split_bytes: int) -> UnitLayout:
    """Units of one object and how many one split reads (all of them for multiLine or unsplittable codecs;
    Parquet is cut by :func:`parquet_splits`)."""
    layout = info.codec.unit_layout(info, max_split_bytes)
    if settings.multi_line:
        return replace(layout, per_split=layout.count)
    return layout


def pme_splits(
    fs: FileSystem, status: FileStatus, info: ObjectInfo, max_split_bytes: int, options: Mapping[str, str]
) -> list[tuple[FileSplit, int]]:
    """PME Parquet: units are row groups. A file up to maxPartitionBytes is one split over all its row groups
    (``unit_count`` 0: not counted, the footer stays unread here); a larger one is cut at row-group boundaries
    into runs of about maxPartitionBytes (compressed), which needs its footer decrypted on the driver."""
    if status.size <= max_split_bytes:
        return [
            (
                FileSplit(
                path=status.path,
                size=status.size,
                etag=status.etag,
                info=info,
                first_unit=0,
                stop_unit=0,
                unit_count=0,
                unit_size=0,
                start=0,
                end=None,
                first_split=True,
                wrapped=None,
                table=status.table,
                ),
                status.size,
            )
        ]
    with open_status(fs, status) as source:
        metadata = pme.open_file(source, status.size, status.path, options).metadata
    sizes = [
        sum(metadata.row_group(g).column(c).total_compressed_size for c in range(metadata.num_columns))
        for g in range(metadata.num_row_groups)
    ]
    count = len(sizes)
    runs: list[tuple[int, int, int]] = []
    first, run_bytes = 0, 0
    for group, size in enumerate(sizes):
        if group > first and run_bytes + size > max_split_bytes:
            runs.append((first, group, run_bytes))
            first, run_bytes = group, 0
        run_bytes += size
    runs.append((first, max(count, first + 1), run_bytes))
    return [
        (
            FileSplit(
            path=status.path,
            size=status.size,
            etag=status.etag,
            info=info,
            first_unit=a,
            stop_unit=b,
            unit_count=count,
            unit_size=0,
            start=0,
            end=None,
            first_split=a == 0,
            wrapped=None,
            table=status.table,
            ),
            length,
        )
        for a, b, length in runs
    ]


def plan(
    options: Mapping[str, str],
    settings: ReadSettings,
    paths: list[str],
    filters: Sequence[Any] = (),
    schema: StructType | None = None,
    probe_all: bool = False,
) -> list[FilePartition]:
    """The tasks of a read: splits of all files, packed as Spark packs file splits. Errors name the file.

    ``filters`` (Spark filters pushed to the reader) prune key=value directories before any file is opened;
    ``schema`` is the read schema (its types win for partition columns it names)."""
    packing = packing_for(settings)
    splits, lengths, max_split_bytes = plan_splits(options, settings, paths, packing, filters, schema, probe_all)
    return pack(splits, lengths, packing, max_split_bytes)


def plan_splits(
    options: Mapping[str, str],
    settings: ReadSettings,
    paths: list[str],
    packing: Packing | None = None,
    filters: Sequence[Any] = (),
    schema: StructType | None = None,
    probe_all: bool = False,
) -> tuple[list[FileSplit], list[int], int]:
    """All splits of a read in file order, each split's ciphertext bytes (for packing), and the split target.

    ``probe_all``: read every header here, also of files that fit one split (the pre-issue-12 plan; for
    benchmarks and tests comparing the two)."""
    kms_settings = KmsSettings.from_options(options) if encrypted(settings.crypto_mode) else None
    if settings.key_delivery == "driver":
        check_driver_delivery(options)
    files = list_data_files(paths, options, required=False, encrypted=encrypted(settings.crypto_mode))
    check_versions(files, options)
    found = discover(files, paths, settings.base_path, settings.partition_inference)
    if found.columns and filters:
        files = _pruned(files, found, filters, schema)
    packing = packing or packing_for(settings)
    max_split_bytes = packing.max_split_bytes([f.size for f in files])  # the task target
    cut_bytes = packing.max_partition_bytes  # where files are cut (see the module docstring)

    # A file that fits in one split needs no header on the driver: its task reads the header anyway (one
    # request serves header and data), so planning N small files costs the listing plus one probe (the first
    # file, which fixes the read's crypto mode and fails early on a wrong path). Larger files are probed here,
    # in parallel: cutting them needs their unit layout. keyDelivery=driver unwraps here, so it probes all.
    deferrable = not probe_all and settings.key_delivery != "driver" and probe_reads(settings)
    to_probe = [f for i, f in enumerate(files) if not deferrable or i == 0 or f.size > cut_bytes]

    def probe_one(status: FileStatus) -> tuple[ObjectInfo, WrappedKey | None]:
        fs = filesystem_for(status.path, options)
        info = probe_file(fs, status, settings)
        check_content(info, status.path, settings)
        wrapped: WrappedKey | None = None
        if kms_settings is not None and info.codec.encrypted and info.codec.wraps_bytes:
            wrapped = wrapped_key_for(info, status.path, kms_settings, fs)
        return info, wrapped

    probed = dict(
        zip((f.path for f in to_probe), in_order(probe_one, to_probe, settings.planning_threads, _path), strict=True)
    )
    require_same_mode({path: info.mode for path, (info, _) in probed.items()})
    expected = probed[files[0].path][0].mode if files else None
    splits: list[FileSplit] = []
    lengths: list[int] = []
    for status in files:
        partition = tuple(zip(found.columns, found.values[status.path], strict=True))
        if status.path not in probed:
            splits.append(
                FileSplit(
                    path=status.path,
                    size=status.size,
                    etag=status.etag,
                    info=None,
                    expected_mode=expected,
                    cut_bytes=cut_bytes,
                    partition=partition,
                    table=status.table,
                )
            )
            lengths.append(status.size)
            continue
        info, wrapped = probed[status.path]
        if not info.codec.wraps_bytes:  # encrypted inside Parquet (PME): units are row groups
            fs = filesystem_for(status.path, options)
            for split, length in pme_splits(fs, status, info, cut_bytes, options):
                splits.append(replace(split, partition=partition))
                lengths.append(length)
            continue
        key: DataKey | None = None
        if kms_settings is not None and wrapped is not None and settings.key_delivery == "driver":
            key = unwrap(kms_settings, wrapped, status.path)
        for split, length in file_splits(status, info, wrapped, key, partition, settings, cut_bytes):
            splits.append(split)
            lengths.append(length)
    return splits, lengths, max_split_bytes


def check_versions(files: Sequence[FileStatus], options: Mapping[str, str]) -> None:
    """Rollback: each table read must be at the version its head store records (and at ``expectVersion`` when
    given). The versions compared are those of the manifest bytes the tasks will verify (see table.integrity)."""
    tables = {(f.table.root, f.table.table_id, f.table.version, f.table.manifest_sha256) for f in files if f.table}
    if not tables:
        return
    from ..table.versions import check_read_version

    for root, table_id, version, sha in sorted(tables):
        check_read_version(root, table_id, version, sha, options)


def _path(status: FileStatus) -> str:
    return status.path


def file_splits(
    status: FileStatus,
    info: ObjectInfo,
    wrapped: WrappedKey | None,
    key: DataKey | None,
    partition: tuple[tuple[str, str | None], ...],
    settings: ReadSettings,
    cut_bytes: int,
    whole: bool = False,
) -> list[tuple[FileSplit, int]]:
    """Splits of one probed file (``whole``: one split over all its units) and each one's ciphertext bytes."""
    if settings.content_format == "parquet" and not whole:
        return parquet_splits(status, info, wrapped, key, partition, settings, cut_bytes)
    layout = unit_layout(info, settings, cut_bytes)
    count = layout.count
    per_split = count if whole else layout.per_split
    out: list[tuple[FileSplit, int]] = []
    for first in range(0, count, per_split):
        stop = min(count, first + per_split)
        split = FileSplit(
            path=status.path,
            size=status.size,
            etag=status.etag,
            info=info,
            first_unit=first,
            stop_unit=stop,
            unit_count=count,
            unit_size=layout.unit_size,
            start=layout.start(first),
            end=layout.start(stop) if stop < count else None,
            first_split=first == 0,
            wrapped=wrapped,
            key=key,
            partition=partition,
            table=status.table,
        )
        out.append((split, status.size * (stop - first) // count))
    return out


def parquet_splits(
    status: FileStatus,
    info: ObjectInfo,
    wrapped: WrappedKey | None,
    key: DataKey | None,
    partition: tuple[tuple[str, str | None], ...],
    settings: ReadSettings,
    cut_bytes: int,
) -> list[tuple[FileSplit, int]]:
    """A Parquet file wrapped whole (ppml-gcm, plaintext) larger than a split is cut into plaintext byte ranges
    at unit boundaries, as Spark cuts Parquet files: every split opens the whole file (its footer is at the end)
    and reads the row groups whose midpoint lies in its range (:func:`.parquet.range_skipper`), so a large file
    is read by several tasks and each row group by one. The footer stays unread on the driver."""
    layout = info.codec.unit_layout(info, cut_bytes)
    count = layout.count
    whole = file_splits(status, info, wrapped, key, partition, settings, cut_bytes, whole=True)
    if layout.per_split >= count:
        return whole
    template = whole[0][0]
    out: list[tuple[FileSplit, int]] = []
    for first in range(0, count, layout.per_split):
        stop = min(count, first + layout.per_split)
        split = replace(
            template, start=layout.start(first), end=layout.start(stop) if stop < count else None,
            first_split=first == 0,
        )
        out.append((split, status.size * (stop - first) // count))
    return out


def _pruned(
    files: list[FileStatus], found: Discovered, filters: Sequence[Any], schema: StructType | None
) -> list[FileStatus]:
    """Files whose key=value directories can hold rows passing the filters (decided once per directory)."""
    types = dict(zip(found.columns, found.types, strict=True))
    if schema is not None:
        types.update({f.name: f.dataType for f in schema.fields if f.name in types})
    decided: dict[tuple[str | None, ...], bool] = {}
    kept: list[FileStatus] = []
    for status in files:
        raw = found.values[status.path]
        if raw not in decided:
            row = {n: typed_value(v, types[n]) for n, v in zip(found.columns, raw, strict=True)}
            decided[raw] = keeps(filters, row)
        if decided[raw]:
            kept.append(status)
    return kept


_T = TypeVar("_T")
_R = TypeVar("_R")


def in_order(work: Callable[[_T], _R], items: Sequence[_T], threads: int, name: Callable[[_T], str]) -> list[_R]:
    """``[work(i) for i in items]`` on at most ``threads`` threads. The first failure in item order is raised
    (naming its item); work not yet started is cancelled."""
    if threads <= 1 or len(items) <= 1:
        return [_named(work, item, name) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="ppml-plan") as pool:
        futures: list[Future[_R]] = [pool.submit(_named, work, item, name) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _named(work: Callable[[_T], _R], item: _T, name: Callable[[_T], str]) -> _R:
    try:
        return work(item)
    except PpmlError as exc:
        raise with_source(exc, name(item)) from None
    except OSError as exc:  # messages may quote paths of other files or data: keep only the kind
        raise StorageError(f"{name(item)}: read failed while planning ({type(exc).__name__})") from None


__all__ = ["FilePartition", "FileSplit", "Packing", "list_data_files", "pack", "parquet_splits", "plan"]
