"""Write side: one encrypted part file per task under ``_temporary/<job>/``, published only by job commit.

The data key is generated once per job on the driver (its wrapped form goes to the tasks, which unwrap it
once per worker process); BigDL mode appends to a directory reuse the key in its ``.meta``. ``commit()``
renames parts into place, removes old data first when overwriting, and writes ``_SUCCESS`` (and ``.meta``);
``abort()`` deletes the job's temporary directory, so a failed job leaves nothing visible.
Parquet Modular Encryption (cryptoMode aes_gcm_v1/aes_gcm_ctr_v1) needs no job data key: each part file gets
fresh keys from pyarrow, wrapped through the KMS into its own footer.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pyspark import TaskContext
from pyspark.sql.datasource import DataSourceArrowWriter, WriterCommitMessage
from pyspark.sql.types import StructType

from ..bigdl_fit import check_common_key_fits
from ..errors import PpmlError, with_source
from ..formats import COMMON, PPML_GCM, DataKey, bigdl, ppml_gcm
from ..kms import KmsSettings, WrappedKey, build_kms
from ..storage import FileSystem, filesystem_for
from . import pme
from .keys import meta_wrapped_key, unwrap
from .options import WriteSettings, check_driver_delivery, paths_of

TEMP_DIR = "_temporary"
SUCCESS = "_SUCCESS"


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

    def __init__(self, options: dict[str, str], schema: StructType, overwrite: bool) -> None:
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
        if not pme.is_pme(self.settings.crypto_mode):
            self.wrapped, material = self._data_key()
            self.key = DataKey(material) if (material and self.settings.key_delivery == "driver") else None

    def _data_key(self) -> tuple[WrappedKey, bytes | None]:
        kms = build_kms(self.kms_settings)
        fs = filesystem_for(self.path, self.options)
        if self.settings.crypto_mode == COMMON and not self.overwrite and fs.exists(self.path):
            existing = meta_wrapped_key(fs, self.path)
            if existing is not None:  # BigDL readers use one .meta key per directory: keep it
                return WrappedKey(kms.kms_type, "", "", existing), None
        material, wrapped = kms.generate_data_key(bigdl_compatible=self.settings.crypto_mode == COMMON)
        if self.settings.crypto_mode == COMMON:  # at planning, before any task writes a part
            check_common_key_fits(wrapped.ciphertext, wrapped.key_id)
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
        suffix = "enc" if self.settings.crypto_mode == PPML_GCM else "cbc"
        final_name = f"part-{part:05d}-{self.job_id}.{ext}.{suffix}"
        if pme.is_pme(self.settings.crypto_mode):  # the part is a Parquet file itself
            final_name = f"part-{part:05d}-{self.job_id}.{ext}"
        temp_path = f"{self.path}/{TEMP_DIR}/{self.job_id}/{attempt}/{final_name}"
        fs = filesystem_for(self.path, self.options)
        rows = 0
        if self.wrapped is None:
            try:
                with fs.open_write(temp_path) as handle:
                    rows = self._write_pme(_Sink(handle), first, _chain(first, iterator))
            except PpmlError as exc:
                raise with_source(exc, temp_path) from None
            return PartCommit(temp_path, final_name, rows)
        key = self.key or unwrap(self.kms_settings, self.wrapped, self.path)
        try:
            with fs.open_write(temp_path) as handle:
                crypt = self._encrypting_writer(handle, key)
                sink = _Sink(crypt)
                rows = self._encode(sink, first, _chain(first, iterator))
                crypt.close()
        except PpmlError as exc:
            raise with_source(exc, self.path) from None
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

    def _encrypting_writer(self, handle: Any, key: DataKey) -> Any:
        assert self.wrapped is not None
        encrypted_key = base64.b64encode(self.wrapped.ciphertext).decode("ascii")
        if self.settings.crypto_mode == COMMON:
            return bigdl.CommonWriter(handle, key.as_bigdl_string(), encrypted_key)
        envelope = ppml_gcm.envelope_for(self.wrapped, self.settings.segment_size, self.settings.content_format)
        return ppml_gcm.EncryptingWriter(handle, key.material, envelope)

    def _encode(self, sink: _Sink, first: pa.RecordBatch, batches: Iterator[pa.RecordBatch]) -> int:
        fmt = self.settings.content_format
        rows = 0
        if fmt == "parquet":
            with pq.ParquetWriter(pa.PythonFile(sink, mode="w"), first.schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
            return rows
        if fmt == "csv":
            writer_csv: pacsv.CSVWriter | None = None
            target = pa.PythonFile(sink, mode="w")
            for batch in batches:
                batch = _csv_ready(batch)
                if writer_csv is None:
                    options = pacsv.WriteOptions(
                        include_header=self.settings.header, delimiter=self.settings.sep, quoting_style="needed"
                    )
                    writer_csv = pacsv.CSVWriter(target, batch.schema, write_options=options)
                writer_csv.write_batch(batch)
                rows += batch.num_rows
            if writer_csv is not None:
                writer_csv.close()
            return rows
        for batch in batches:
            if fmt == "text":
                column = batch.column(0)
                lines = [("" if v is None else str(v)) for v in column.to_pylist()]
                sink.write(("\n".join(lines) + "\n").encode("utf-8") if lines else b"")
            else:
                out = [json.dumps(_jsonable(r), separators=(",", ":"), ensure_ascii=False) for r in batch.to_pylist()]
                sink.write(("\n".join(out) + "\n").encode("utf-8") if out else b"")
            rows += batch.num_rows
        return rows

    # ------------------------------------------------------------------------------------------ driver
    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        fs = filesystem_for(self.path, self.options)
        parts = [m for m in messages if isinstance(m, PartCommit) and m.temp_path and m.final_name]
        if self.overwrite and fs.exists(self.path):
            _delete_outputs(fs, self.path)
        for m in parts:
            assert m.temp_path is not None and m.final_name is not None
            fs.rename(m.temp_path, f"{self.path}/{m.final_name}")
        if self.settings.crypto_mode == COMMON:
            assert self.wrapped is not None
            with fs.open_write(f"{self.path}/{bigdl.META_FILE}") as handle:
                bigdl.write_meta(handle, base64.b64encode(self.wrapped.ciphertext).decode("ascii"))
        with fs.open_write(f"{self.path}/{SUCCESS}"):
            pass
        self._clean_temp(fs)

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        self._clean_temp(filesystem_for(self.path, self.options))

    def _clean_temp(self, fs: FileSystem) -> None:
        fs.delete(f"{self.path}/{TEMP_DIR}/{self.job_id}")
        temp_root = f"{self.path}/{TEMP_DIR}"
        try:
            leftover = fs.list_files(temp_root)
        except PpmlError:
            return
        if not leftover:
            fs.delete(temp_root)


def _delete_outputs(fs: FileSystem, path: str) -> None:
    """Overwrite: remove old data files and markers, keeping the running jobs' ``_temporary``."""
    for status in fs.list_files(path):
        fs.delete(status.path)
    for marker in (SUCCESS, bigdl.META_FILE):
        fs.delete(f"{path}/{marker}")


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Timestamps as ISO 8601 with a zone (Spark's CSV default), so any reader gets the same instant."""
    arrays = []
    for column, field in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_timestamp(field.type):
            text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
            if field.type.tz is not None:
                text = pc.binary_join_element_wise(text, "Z", null_handling="emit_null")
            arrays.append(text)
        else:
            arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


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
