"""Driver-side planning: list files, probe their headers, and cut them into picklable splits.

Splits fall on unit boundaries: ppml-gcm segments, or runs of 16-byte CBC blocks for unauthenticated CBC and
plaintext. BigDL common files are one split each (their whole-file HMAC is checked before any row is returned).
Parquet and ``multiLine`` reads are one split per file. Parquet Modular Encryption files (cryptoMode
aes_gcm_v1/aes_gcm_ctr_v1) are not probed: their keys live in the Parquet footer, which the worker decrypts;
only files larger than maxPartitionBytes have their footer decrypted here, to split them at row groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pyspark.sql.datasource import InputPartition

from ..errors import ConfigError, IntegrityError, UnknownFormatError
from ..formats import AUTO, DataKey, ObjectInfo, UnitLayout, codec_for, encrypted, probe
from ..kms import KmsSettings, WrappedKey
from ..storage import FileStatus, FileSystem, expand_paths, filesystem_for
from . import pme
from .keys import require_same_mode, unwrap, wrapped_key_for
from .options import ReadSettings, check_driver_delivery


@dataclass(repr=False, kw_only=True)
class FileSplit(InputPartition):
    """One task's share of one file: units [first_unit, stop_unit) and plaintext [start, end)."""

    path: str
    info: ObjectInfo
    first_unit: int
    stop_unit: int
    unit_count: int
    unit_size: int
    start: int
    end: int | None  # None: to the end of the file
    first_split: bool
    wrapped: WrappedKey | None
    key: DataKey | None = field(default=None)  # only with keyDelivery=driver

    def __repr__(self) -> str:
        return f"FileSplit({self.path}, {self.info.mode}, units {self.first_unit}..{self.stop_unit - 1})"

    __str__ = __repr__


def probe_file(fs: FileSystem, status: FileStatus, settings: ReadSettings) -> ObjectInfo:
    if settings.crypto_mode != AUTO:
        codec = codec_for(settings.crypto_mode)
        if not codec.reads_head:  # plaintext, or PME (PARE/PAR1 Parquet, keys in the footer): nothing to read
            return codec.probe(None, status.size, status.path)
    with fs.open_read(status.path) as source:
        return probe(source, status.size, status.path, settings.crypto_mode)


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


def unit_layout(info: ObjectInfo, settings: ReadSettings) -> UnitLayout:
    """Units of one object and how many one split reads (all of them for multiLine, Parquet or unsplittable
    codecs)."""
    layout = info.codec.unit_layout(info, settings.max_partition_bytes)
    if settings.multi_line or settings.content_format == "parquet":
        return UnitLayout(layout.unit_size, layout.starts, layout.count)
    return layout


def pme_splits(
    fs: FileSystem, status: FileStatus, info: ObjectInfo, settings: ReadSettings, options: Mapping[str, str]
) -> list[FileSplit]:
    """PME Parquet: units are row groups. A file up to maxPartitionBytes is one split over all its row groups
    (``unit_count`` 0: not counted, the footer stays unread here); a larger one is cut at row-group boundaries
    into runs of about maxPartitionBytes (compressed), which needs its footer decrypted on the driver."""
    if status.size <= settings.max_partition_bytes:
        return [
            FileSplit(
                path=status.path,
                info=info,
                first_unit=0,
                stop_unit=0,
                unit_count=0,
                unit_size=0,
                start=0,
                end=None,
                first_split=True,
                wrapped=None,
            )
        ]
    with fs.open_read(status.path) as source:
        metadata = pme.open_file(source, status.size, status.path, options).metadata
    sizes = [
        sum(metadata.row_group(g).column(c).total_compressed_size for c in range(metadata.num_columns))
        for g in range(metadata.num_row_groups)
    ]
    count = len(sizes)
    runs: list[tuple[int, int]] = []
    first, run_bytes = 0, 0
    for group, size in enumerate(sizes):
        if group > first and run_bytes + size > settings.max_partition_bytes:
            runs.append((first, group))
            first, run_bytes = group, 0
        run_bytes += size
    runs.append((first, max(count, first + 1)))
    return [
        FileSplit(
            path=status.path,
            info=info,
            first_unit=a,
            stop_unit=b,
            unit_count=count,
            unit_size=0,
            start=0,
            end=None,
            first_split=a == 0,
            wrapped=None,
        )
        for a, b in runs
    ]


def plan(options: Mapping[str, str], settings: ReadSettings, paths: list[str]) -> list[FileSplit]:
    """All splits of a read, in file order. Errors name the file."""
    kms_settings = KmsSettings.from_options(options) if encrypted(settings.crypto_mode) else None
    if settings.key_delivery == "driver":
        check_driver_delivery(options)
    files = list_data_files(paths, options, required=False, encrypted=encrypted(settings.crypto_mode))
    infos: dict[str, ObjectInfo] = {}
    for status in files:
        fs = filesystem_for(status.path, options)
        info = probe_file(fs, status, settings)
        env = info.envelope
        if (
            env is not None
            and env.content_type
            and ((env.content_type == "parquet") != (settings.content_format == "parquet"))
        ):
            raise UnknownFormatError(
                f"{status.path}: holds {env.content_type} but the read has format={settings.content_format} "
                "(mixed formats in one read?)"
            )
        infos[status.path] = info
    require_same_mode({p: i.mode for p, i in infos.items()})
    splits: list[FileSplit] = []
    for status in files:
        info = infos[status.path]
        fs = filesystem_for(status.path, options)
        if not info.codec.wraps_bytes:  # encrypted inside Parquet (PME): units are row groups
            splits.extend(pme_splits(fs, status, info, settings, options))
            continue
        wrapped: WrappedKey | None = None
        key: DataKey | None = None
        if kms_settings is not None and info.codec.encrypted:
            wrapped = wrapped_key_for(info, status.path, kms_settings, fs)
            if settings.key_delivery == "driver":
                key = unwrap(kms_settings, wrapped, status.path)
        layout = unit_layout(info, settings)
        count, starts = layout.count, layout.starts
        for first in range(0, count, layout.per_split):
            stop = min(count, first + layout.per_split)
            splits.append(
                FileSplit(
                    path=status.path,
                    info=info,
                    first_unit=first,
                    stop_unit=stop,
                    unit_count=count,
                    unit_size=layout.unit_size,
                    start=starts[first],
                    end=starts[stop] if stop < count else None,
                    first_split=first == 0,
                    wrapped=wrapped,
                    key=key,
                )
            )
    return splits


__all__ = ["FileSplit", "list_data_files", "plan"]
