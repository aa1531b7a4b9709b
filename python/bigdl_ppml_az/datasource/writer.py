"""Write side: one encrypted part file per task under ``_temporary/<job>/``, published only by job commit.

The data key is generated once per job on the driver (its wrapped form goes to the tasks, which unwrap it
once per worker process); BigDL mode appends to a directory reuse the key in its ``.meta``. ``commit()``
publishes first and deletes second: new parts are renamed in, then the commit manifest in ``_SUCCESS`` switches
the directory to its new state, and only then are replaced files deleted (:mod:`storage.manifest`).
``abort()`` deletes the job's temporary directory with its job marker; a task that finishes after the abort
finds the marker gone and deletes its own part, and a failed task attempt deletes its partial file, so a failed
job leaves nothing behind.
Parquet Modular Encryption (cryptoMode aes_gcm_v1/aes_gcm_ctr_v1) needs no job data key: each part file gets
fresh keys from pyarrow, wrapped through the KMS into its own footer.
"""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark import TaskContext
from pyspark.sql.datasource import DataSourceArrowWriter, WriterCommitMessage
from pyspark.sql.types import StructType

from ..errors import PpmlError, with_source
from ..filecrypt import _data_key_for_encryption
from ..formats import DataKey, bigdl, codec_for
from ..kms import KmsSettings, WrappedKey, build_kms, generate_data_key
from ..options import Options, as_options
from ..storage import FileStatus, FileSystem, filesystem_for
from ..storage.manifest import Manifest, committed, read_manifest, relative_name, write_manifest
from . import pme, textwrite
from .keys import meta_wrapped_key, unwrap
from .options import WriteSettings, check_driver_delivery, paths_of

TEMP_DIR = "_temporary"
# _temporary/<job>/job-started exists from job setup until commit or abort (not hidden: listings count it)
JOB_MARKER = "job-started"


@dataclass
class PartCommit(WriterCommitMessage):
    temp_path: str | None
    final_name: str | None
    rows: int


class _Sink(io.RawIOBase):
    """Binary file-like adapter pyarrow writes through: bytes go to an encrypting writer, position counted."""

    def __init__(self, writer: Any) -> None:
        super().__init__()
        self._writer = writer
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        n = self._writer.write(bytes(data))
        self._pos += len(data)
        return n if n is not None else len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        return None


class PpmlEncWriter(DataSourceArrowWriter):
    """Picklable job description: settings, paths, the *wrapped* data key (plaintext only with driver delivery)."""

    def __init__(self, options: Options, schema: StructType, overwrite: bool) -> None:
        self.options = options
        self.schema = schema
        self.overwrite = overwrite
        self.settings = WriteSettings.from_options(options)
        self.path = paths_of(options)[0].rstrip("/")
        self.job_id = uuid.uuid4().hex
        self.kms_settings = KmsSettings.from_options(options)
        if self.settings.key_delivery == "driver":
            check_driver_delivery(options)
        self.wrapped: WrappedKey | None = None
        self.key: DataKey | None = None
        if codec_for(self.settings.crypto_mode).wraps_bytes:  # PME: pyarrow makes fresh keys per part file
            self.wrapped, material = self._data_key()
            self.key = DataKey(material) if (material and self.settings.key_delivery == "driver") else None
        with filesystem_for(self.path, options).open_write(self._job_marker()):
            pass

    def _data_key(self) -> tuple[WrappedKey, bytes | None]:
        kms = build_kms(self.kms_settings)
        fs = filesystem_for(self.path, self.options)
        codec = codec_for(self.settings.crypto_mode)
        if codec.directory_meta and not self.overwrite and fs.exists(self.path):
            existing = meta_wrapped_key(fs, self.path)
            if existing is not None:  # BigDL readers use one .meta key per directory: keep it
                return WrappedKey(kms.kms_type, "", "", existing), None
        # BigDL's dataKeyPath: encrypt with that data key, as `ppml-az encrypt --data-key` does (else a fresh one)
        data_key_file = as_options(self.options).get_path("dataKeyPath")
        material, wrapped = _data_key_for_encryption(kms, codec, data_key_file)
        return wrapped, material

    # ------------------------------------------------------------------------------------------ tasks
    def write(self, iterator: Iterator[pa.RecordBatch]) -> PartCommit:
        context = TaskContext.get()
        part = context.partitionId() if context else 0
        attempt = context.attemptNumber() if context else 0
        first = next(iterator, None)
        if first is None:
            return PartCommit(None, None, 0)
        ext = {"csv": "csv", "json": "json", "text": "txt", "parquet": "parquet"}[self.settings.content_format]
        suffix = codec_for(self.settings.crypto_mode).part_suffix  # "": the part is a Parquet file itself (PME)
        final_name = f"part-{part:05d}-{self.job_id}.{ext}" + (f".{suffix}" if suffix else "")
        temp_path = f"{self.path}/{TEMP_DIR}/{self.job_id}/{attempt}/{final_name}"
        fs = filesystem_for(self.path, self.options)
        wrapped = self.wrapped
        codec = codec_for(self.settings.crypto_mode)
        own_key = self.key is None and codec.wraps_bytes and not codec.directory_meta  # key in each file's header
        kms = build_kms(self.kms_settings) if own_key else None
        if wrapped is not None and kms is not None and getattr(kms, "per_task_data_keys", False):
            # a public-key KMS (azure-skr): workers can wrap but only attested ones unwrap, so a task makes its own
            material, wrapped = generate_data_key(kms, compat=codec.key_compat)
            key: DataKey | None = DataKey(material)
        else:
            key = None if self.wrapped is None else (self.key or unwrap(self.kms_settings, self.wrapped, self.path))
        try:
            with fs.open_write(temp_path) as handle:
                if key is None:
                    rows = self._write_pme(_Sink(handle), first, _chain(first, iterator))
                else:
                    crypt = self._encrypting_writer(handle, key, wrapped)
                    rows = self._encode(_Sink(crypt), first, _chain(first, iterator))
                    crypt.close()
        except BaseException as exc:  # a failed attempt removes its partial part; a retry writes its own
            with suppress(Exception):
                fs.delete(temp_path)
            if isinstance(exc, PpmlError):
                raise with_source(exc, temp_path if key is None else self.path) from None
            raise
        if not fs.exists(self._job_marker()):  # the job was aborted while this task wrote: leave nothing behind
            fs.delete(f"{self.path}/{TEMP_DIR}/{self.job_id}")
            _delete_if_empty(fs, f"{self.path}/{TEMP_DIR}")
            raise PpmlError(f"{self.path}: write job {self.job_id} was aborted; this task's output was removed")
        return PartCommit(temp_path, final_name, rows)

    def _write_pme(self, sink: _Sink, first: pa.RecordBatch, batches: Iterator[pa.RecordBatch]) -> int:
        settings = self.settings
        rows = 0
        target = pa.PythonFile(sink, mode="w")
        with pme.new_writer(target, first.schema, self.options, settings.crypto_mode, settings.footer_key) as writer:
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows

    def _encrypting_writer(self, handle: Any, key: DataKey, wrapped: WrappedKey | None = None) -> Any:
        wrapped = wrapped or self.wrapped
        assert wrapped is not None
        codec = codec_for(self.settings.crypto_mode)
        return codec.open_writer(
            handle,
            key,
            wrapped,
            segment_size=self.settings.segment_size,
            content_type=self.settings.content_format,
        )

    def _encode(self, sink: _Sink, first: pa.RecordBatch, batches: Iterator[pa.RecordBatch]) -> int:
        fmt = self.settings.content_format
        rows = 0
        if fmt == "parquet":
            with pq.ParquetWriter(pa.PythonFile(sink, mode="w"), first.schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
            return rows
        return textwrite.encode(self.settings, sink.write, first, batches)

    # ------------------------------------------------------------------------------------------ driver
    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        """Publish first, delete second (see :mod:`storage.manifest`): a crash at any step leaves the directory
        showing either its old state or the new one."""
        fs = filesystem_for(self.path, self.options)
        job_temp = f"{self.path}/{TEMP_DIR}/{self.job_id}"
        parts = [m for m in messages if isinstance(m, PartCommit) and m.temp_path and m.final_name]
        present = self._data_files(fs)
        manifest = read_manifest(fs, self.path) if fs.exists(self.path) else None
        if manifest is None:  # step 0: record today's state, so half-renamed new parts stay invisible
            state = [relative_name(self.path, s.path) for s in committed(fs, self.path, present)]
            write_manifest(fs, self.path, Manifest(tuple(state)), job_temp)
        else:
            state = list(manifest.files)
        new_names = [m.final_name for m in parts if m.final_name]
        for m in parts:  # step 1: new parts next to the old ones (their names carry this job's id)
            assert m.temp_path is not None and m.final_name is not None
            fs.rename(m.temp_path, f"{self.path}/{m.final_name}")
        if codec_for(self.settings.crypto_mode).directory_meta:  # BigDL readers find the key in .meta
            assert self.wrapped is not None
            with fs.open_write(f"{self.path}/{bigdl.META_FILE}") as handle:
                bigdl.write_meta(handle, base64.b64encode(self.wrapped.ciphertext).decode("ascii"))
        old = [relative_name(self.path, s.path) for s in present]
        if self.overwrite:  # step 2: the new state becomes the committed one, in one rename
            write_manifest(fs, self.path, Manifest(tuple(new_names), tuple(old)), job_temp)
            for name in old:  # step 3: only now remove what it replaced
                fs.delete(f"{self.path}/{name}")
            if not codec_for(self.settings.crypto_mode).directory_meta:
                fs.delete(f"{self.path}/{bigdl.META_FILE}")
            write_manifest(fs, self.path, Manifest(tuple(new_names)), job_temp)
        else:
            write_manifest(fs, self.path, Manifest(tuple(state) + tuple(new_names)), job_temp)
        self._clean_temp(fs)

    def _data_files(self, fs: FileSystem) -> list[FileStatus]:
        if not fs.exists(self.path) or not fs.is_dir(self.path):
            return []
        return fs.list_files(self.path)

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        """Delete the job's temporary directory, job marker included: a task still writing when Spark aborts
        the job finds the marker gone when it finishes and deletes its own part (see :meth:`write`)."""
        self._clean_temp(filesystem_for(self.path, self.options))

    def _job_marker(self) -> str:
        return f"{self.path}/{TEMP_DIR}/{self.job_id}/{JOB_MARKER}"

    def _clean_temp(self, fs: FileSystem) -> None:
        fs.delete(f"{self.path}/{TEMP_DIR}/{self.job_id}")
        _delete_if_empty(fs, f"{self.path}/{TEMP_DIR}")


def _delete_if_empty(fs: FileSystem, directory: str) -> None:
    try:
        leftover = fs.list_files(directory)
    except PpmlError:
        return
    if not leftover:
        fs.delete(directory)


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest
