"""Write side: one encrypted part file per task under ``_temporary/<job>/``, published only by job commit.

With option ``partitionBy`` (Spark's ``DataFrameWriter.partitionBy`` fails in the JVM for every Python data
source, before the source is called: the table it gets has no partitioning), a task writes one part file per
Hive-style ``key=value`` directory, the partition columns left out of the files, each file encrypted as usual;
one commit manifest covers every directory. Overwrite replaces the whole table (Spark's default, static
partitionOverwriteMode) or, with option ``partitionOverwriteMode=dynamic``, only the directories written.

The data key is generated once per job on the driver (its wrapped form goes to the tasks, which unwrap it
once per worker process); BigDL mode appends to a directory reuse the key in its ``.meta``. ``commit()``
publishes first and deletes second: new parts are renamed in, then the commit manifest in ``_SUCCESS`` switches
the directory to its new state, and only then are replaced files deleted (:mod:`storage.manifest`).
``abort()`` deletes the job's temporary directory with its job marker; a task that finishes after the abort
finds the marker gone and deletes its own part, and a failed task attempt deletes its partial file, so a failed
job leaves nothing behind.
Parquet Modular Encryption (cryptoMode aes_gcm_v1/aes_gcm_ctr_v1) needs no job data key: each part file gets
fresh keys from pyarrow, wrapped through the KMS into its own footer.
Parquet part files (either route) are written with the Arrow schema and footer keys Spark's own Parquet writer
would give the DataFrame's schema (:mod:`.sparkrules.parquetwrite`), so Spark reads back the same DataFrame; an
empty job leaves one file holding the schema, as Spark's does.
"""

from __future__ import annotations

import base64
import io
import json
import posixpath
import sys
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, suppress
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark import TaskContext
from pyspark.sql.datasource import DataSourceArrowWriter, WriterCommitMessage
from pyspark.sql.types import StructType

from ..errors import ConfigError, IntegrityError, PpmlError, StorageError, with_source
from ..filecrypt import _data_key_for_encryption
from ..formats import DataKey, bigdl, codec_for
from ..kms import KmsSettings, WrappedKey, build_kms, generate_data_key, pme_client, unwrap_cached
from ..options import Options, as_options
from ..storage import FileStatus, FileSystem, check_no_links, filesystem_for
from ..storage.manifest import FileEntry, Manifest, committed, read_manifest, relative_name, write_manifest
from ..table.integrity import commitment_of, new_table_id, signed, verify
from ..table.versions import advance, check_write_base
from . import pme, textwrite
from .errorlines import one_line_errors
from .keys import meta_wrapped_key, unwrap
from .options import WriteSettings, check_driver_delivery, paths_of
from .partitions import WRITABLE_TYPES, split_by_directory
from .sparkrules import parquetwrite

TEMP_DIR = "_temporary"
# _temporary/<job>/job-started exists from job setup until commit or abort (not hidden: listings count it)
JOB_MARKER = "job-started"
MAX_OPEN_FILES = 16  # part files a task keeps open at once with partitionBy (see _OpenFiles)


@dataclass
class PartCommit(WriterCommitMessage):
    """What one task wrote: per part file (temporary path, final name below the table root, size, content
    commitment in hex: ``Codec.commitment``, empty for plaintext)."""

    parts: tuple[tuple[str, str, int, str], ...]
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
        fs = filesystem_for(self.path, options)
        if fs.exists(self.path) and not fs.is_dir(self.path):  # else a raw NotADirectoryError from a task
            raise StorageError(
                f"{self.path}: is a file, not a directory; ppml-enc writes a table directory: choose another path or "
                "remove the file"
            )
        self.kms_settings = KmsSettings.from_options(options)
        self.partition_by = partition_columns(options, schema, self.settings)
        self.data_columns = tuple(f.name for f in schema.fields if f.name not in self.partition_by)
        # Parquet: the Arrow schema and footer Spark's own writer would give these columns (types refused by name)
        self.parquet_schema: pa.Schema | None = None
        if self.settings.content_format == "parquet":
            data = StructType([f for f in schema.fields if f.name not in self.partition_by])
            self.parquet_schema = parquetwrite.arrow_schema(data)
        dynamic = _overwrite_mode(options) == "dynamic"  # checked even where it does not apply
        self.dynamic = overwrite and bool(self.partition_by) and dynamic
        if self.settings.key_delivery == "driver":
            check_driver_delivery(options)
        self.wrapped: WrappedKey | None = None
        self.key: DataKey | None = None
        # the table's identity, bound into every encrypted part file: kept from the table's manifest, or new
        self.table_id = self._table_id() if codec_for(self.settings.crypto_mode).encrypted else None
        if codec_for(self.settings.crypto_mode).wraps_bytes:  # PME: pyarrow makes fresh keys per part file
            self.wrapped, material = self._data_key()
            self.key = DataKey(material) if (material and self.settings.key_delivery == "driver") else None
        check_no_links(fs, self.path, self._job_marker())  # a planted _temporary link: refused before any task
        with fs.open_write(self._job_marker()):
            pass

    def _table_id(self) -> str:
        """The id of the table at the output path (read here, verified again at commit), or a new one."""
        fs = filesystem_for(self.path, self.options)
        existing = read_manifest(fs, self.path) if fs.exists(self.path) and fs.is_dir(self.path) else None
        if existing is not None and existing.table is not None:
            return existing.table.table_id
        return new_table_id()

    def _data_key(self) -> tuple[WrappedKey, bytes | None]:
        kms = build_kms(self.kms_settings)
        fs = filesystem_for(self.path, self.options)
        codec = codec_for(self.settings.crypto_mode)
        replaces_all = self.overwrite and not self.dynamic
        if codec.directory_meta and not replaces_all and fs.exists(self.path):
            existing = meta_wrapped_key(fs, self.path)
            if existing is not None:  # BigDL readers use one .meta key per directory: keep it
                return WrappedKey(kms.kms_type, "", "", existing), None
        # BigDL's dataKeyPath: encrypt with that data key, as `ppml-az encrypt --data-key` does (else a fresh one)
        data_key_file = as_options(self.options).get_path("dataKeyPath")
        material, wrapped = _data_key_for_encryption(kms, codec, data_key_file)
        return wrapped, material

    # ------------------------------------------------------------------------------------------ tasks
    @one_line_errors
    def write(self, iterator: Iterator[pa.RecordBatch]) -> PartCommit:
        """One task: its rows into one part file, or with partitionBy one part file per key=value directory
        (at most :data:`MAX_OPEN_FILES` open at once; a directory evicted earlier gets another part file)."""
        context = TaskContext.get()
        part = context.partitionId() if context else 0
        attempt = context.attemptNumber() if context else 0
        first = next(iterator, None)
        if first is None:
            if self.parquet_schema is None or self.partition_by or part != 0:
                return PartCommit((), 0)
            # as Spark: task 0 writes a file even without rows, so an empty job still leaves the schema
            first = _empty_batch(self.parquet_schema)
        fs = filesystem_for(self.path, self.options)
        key, wrapped = self._task_key()
        files = _OpenFiles(self, fs, f"{self.path}/{TEMP_DIR}/{self.job_id}/{attempt}", part, key, wrapped)
        try:
            for batch in _chain(first, iterator):
                if self.partition_by:
                    for directory, rows in split_by_directory(batch, self.partition_by, self.data_columns):
                        files.write(directory, rows)
                else:
                    files.write("", batch)
            files.close_all()
        except BaseException as exc:  # a failed attempt removes its partial parts; a retry writes its own
            files.discard()
            if isinstance(exc, PpmlError):
                where = files.current if key is None else None  # PME errors name the part file, as before
                raise with_source(exc, where or self.path) from None
            raise
        if not fs.exists(self._job_marker()):  # the job was aborted while this task wrote: leave nothing behind
            fs.delete(f"{self.path}/{TEMP_DIR}/{self.job_id}")
            _delete_if_empty(fs, f"{self.path}/{TEMP_DIR}")
            raise PpmlError(f"{self.path}: write job {self.job_id} was aborted; this task's output was removed")
        return PartCommit(tuple(files.done), files.rows)

    def _task_key(self) -> tuple[DataKey | None, WrappedKey | None]:
        """The task's data key: the job's (unwrapped once per process), a task's own for a public-key KMS, or
        none for PME (pyarrow makes fresh keys per file)."""
        codec = codec_for(self.settings.crypto_mode)
        own_key = self.key is None and codec.wraps_bytes and not codec.directory_meta  # key in each file's header
        kms = build_kms(self.kms_settings) if own_key else None
        if self.wrapped is not None and kms is not None and getattr(kms, "per_task_data_keys", False):
            # a public-key KMS (azure-skr): workers can wrap but only attested ones unwrap, so a task makes its own
            material, wrapped = generate_data_key(kms, compat=codec.key_compat)
            return DataKey(material), wrapped
        if self.wrapped is None:
            return None, None
        return self.key or unwrap(self.kms_settings, self.wrapped, self.path), self.wrapped

    def part_name(self, part: int, directory: str, count: int) -> str:
        """``[a=1/b=x/]part-00003-<job id>[.c001].csv.enc``: Spark's part naming, the job id our manifest's."""
        ext = {"csv": "csv", "json": "json", "text": "txt", "parquet": "parquet"}[self.settings.content_format]
        suffix = codec_for(self.settings.crypto_mode).part_suffix  # "": the part is a Parquet file itself (PME)
        name = f"part-{part:05d}-{self.job_id}" + (f".c{count:03d}" if count else "") + f".{ext}"
        name += f".{suffix}" if suffix else ""
        return f"{directory}/{name}" if directory else name

    # ------------------------------------------------------------------------------------------ driver
    @one_line_errors
    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        """Publish first, delete second (see :mod:`storage.manifest`): a crash at any step leaves the table
        showing either its old state or the new one. One manifest in the root's ``_SUCCESS`` names the files
        of every key=value directory; for encrypted output it is a table manifest (a new version, MAC'd, the
        head store advanced when one is configured)."""
        fs = filesystem_for(self.path, self.options)
        job_temp = f"{self.path}/{TEMP_DIR}/{self.job_id}"
        parts = [p for m in messages if isinstance(m, PartCommit) for p in m.parts]
        present = self._data_files(fs)
        manifest = read_manifest(fs, self.path) if fs.exists(self.path) else None
        base = self._verified_base(manifest)
        if manifest is None:  # step 0: record today's state, so half-renamed new parts stay invisible
            state = [relative_name(self.path, s.path) for s in committed(fs, self.path, present)]
            write_manifest(fs, self.path, Manifest(tuple(state)), job_temp)
        else:
            state = list(manifest.files)
        new_names = [final for _, final, _, _ in parts]
        for temp, final, _, _ in parts:  # step 1: new parts next to the old ones (their names carry this job's id)
            fs.rename(temp, self._safe(fs, final))
        written = {posixpath.dirname(name) for name in new_names}
        codec = codec_for(self.settings.crypto_mode)
        if codec.directory_meta:  # BigDL readers find the key in .meta: the root's and each directory's
            assert self.wrapped is not None
            for directory in sorted(written | {""}):
                with fs.open_write(self._safe(fs, posixpath.join(directory, bigdl.META_FILE))) as handle:
                    bigdl.write_meta(handle, base64.b64encode(self.wrapped.ciphertext).decode("ascii"))
        old = [relative_name(self.path, s.path) for s in present]
        publish = _Publisher(self, fs, job_temp, manifest, base, parts)
        if not self.overwrite:
            publish(state + new_names, [])
        else:  # step 2: the new state becomes the committed one, in one rename; step 3: delete what it replaced
            if self.dynamic:  # only the directories this job wrote are replaced
                replaced = [name for name in old if posixpath.dirname(name) in written]
                kept = [name for name in state if posixpath.dirname(name) not in written]
            else:
                replaced, kept = old, []
            after = kept + new_names
            publish(after, replaced, final=False)
            for name in replaced:
                fs.delete(f"{self.path}/{name}")
            if not self.dynamic:
                if not codec.directory_meta:
                    fs.delete(f"{self.path}/{bigdl.META_FILE}")
                for directory in _emptied(replaced, new_names):
                    fs.delete(f"{self.path}/{directory}")
            publish(after, [])
        self._clean_temp(fs)

    def _verified_base(self, manifest: Manifest | None) -> Manifest | None:
        """The table version this commit builds on, verified (its MAC, and not rolled back per the head store);
        None for a new table or one written before table manifests."""
        if manifest is None or manifest.table is None or self.table_id is None:
            return None
        where = f"{self.path}/_SUCCESS"
        if manifest.table.table_id != self.table_id:
            raise IntegrityError(
                f"{where}: the table's id changed while this job wrote (now {manifest.table.table_id}, was "
                f"{self.table_id}); another job replaced the table: write again"
            )
        verify(manifest, self.kms_settings, where)
        return manifest

    def _safe(self, fs: FileSystem, relative_path: str) -> str:
        """``relative_path`` below the table root, refused if a link planted below the root (a ``key=value``
        directory, ``.meta``) would send the write outside the table."""
        path = f"{self.path}/{relative_path}"
        check_no_links(fs, self.path, path)
        return path

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


class _Publisher:
    """Writes a commit's manifests. Encrypted output: a table manifest, one version above its base, with each
    file's size and commitment (new parts from the tasks, kept ones from the base, files of a table written
    before table manifests read back here), MAC'd under a key the readers can unwrap (see table.integrity);
    the final one advances the head store. Plaintext output: a commit record, as before."""

    def __init__(
        self, job: PpmlEncWriter, fs: FileSystem, job_temp: str, manifest: Manifest | None, base: Manifest | None,
        parts: list[tuple[str, str, int, str]],
    ) -> None:  # fmt: skip
        self.job, self.fs, self.job_temp, self.base = job, fs, job_temp, base
        self.known: dict[str, FileEntry] = {}
        if base is not None and base.table is not None:
            self.known.update({e.name: e for e in base.table.entries})
        for _, final, size, commitment in parts:
            if commitment:
                self.known[final] = FileEntry(final, size, bytes.fromhex(commitment))
        self.head = None
        self.version = 1
        if base is not None and base.table is not None:
            self.version = base.table.version + 1
            self.head = check_write_base(job.path, base.table.table_id, base.table.version, job.options)
        self.key: tuple[WrappedKey, bytes] | None = None

    def __call__(self, names: list[str], replaced: list[str], final: bool = True) -> None:
        job = self.job
        if job.table_id is None:
            write_manifest(self.fs, job.path, Manifest(tuple(names), tuple(replaced)), self.job_temp)
            return
        wrapped, material = self._manifest_key()
        entries = [self._entry(name) for name in names]
        parent = self.base.sha256 if self.base is not None else None
        manifest = signed(
            table_id=job.table_id, version=self.version, parent=parent, entries=entries, replaced=replaced,
            wrapped=wrapped, material=material,
        )  # fmt: skip
        write_manifest(self.fs, job.path, manifest, self.job_temp)
        if final:
            advance(job.table_id, self.version, manifest.sha256, self.head, job.options)

    def _entry(self, name: str) -> FileEntry:
        entry = self.known.get(name)
        if entry is None:  # a file of a table written before table manifests, kept by an append: pin it now
            path = f"{self.job.path}/{name}"
            size, digest = commitment_of(self.fs, path, self.job.settings.crypto_mode, unbound_only=True)
            entry = self.known[name] = FileEntry(name, size, digest)
        return entry

    def _manifest_key(self) -> tuple[WrappedKey, bytes]:
        """The job's data key where the driver can unwrap it (readers of this job's files then unwrap nothing
        more), else a fresh key wrapped for the manifest alone (PME output, public-key KMS backends)."""
        if self.key is None:
            kms = build_kms(self.job.kms_settings)
            wrapped = self.job.wrapped
            material: bytes | None = None
            if wrapped is not None:
                with suppress(PpmlError):
                    material = unwrap_cached(kms, wrapped)
            if wrapped is None or material is None:
                material, wrapped = self._fresh_key(kms)
            self.key = (wrapped, material)
        return self.key

    def _fresh_key(self, kms: Any) -> tuple[bytes, WrappedKey]:
        """A fresh manifest key under the primary key; PME output may name no primary key (its files use the
        footer key, ``footerKey``), so the manifest key is then wrapped by that key."""
        try:
            return generate_data_key(kms)
        except PpmlError:
            if codec_for(self.job.settings.crypto_mode).wraps_bytes:
                raise
        footer = self.job.settings.footer_key or pme_client.DEFAULT_MASTER_KEY
        options = {k: v for k, v in self.job.kms_settings.options if k.lower() != "primarykeyname"}
        options["primaryKeyName"] = footer
        return generate_data_key(build_kms(KmsSettings(self.job.kms_settings.kms_type, tuple(sorted(options.items())))))


class _OpenFiles:
    """A task's open part files, one per directory, each its own encrypted object (header, job data key).

    With partitionBy Spark sorts each task's rows by the partition columns and writes one file at a time; a
    Python data source gets the rows unsorted, so files stay open while rows come, at most
    :data:`MAX_OPEN_FILES` (each holds a ciphertext segment and an encoder buffer); the least recently used is
    closed when another is needed, and that directory gets a new part file if its rows come back
    (``df.sortWithinPartitions(*cols)`` before the write avoids that)."""

    def __init__(
        self, job: PpmlEncWriter, fs: FileSystem, temp_root: str, part: int, key: DataKey | None,
        wrapped: WrappedKey | None,
    ) -> None:  # fmt: skip
        self.job, self.fs, self.temp_root, self.part = job, fs, temp_root, part
        self.key, self.wrapped = key, wrapped
        self.open: OrderedDict[str, _PartFile] = OrderedDict()
        self.counts: dict[str, int] = {}
        self.done: list[tuple[str, str, int, str]] = []
        self.rows = 0
        self.current: str | None = None  # temporary path being written (errors name it)

    def write(self, directory: str, batch: pa.RecordBatch) -> None:
        file = self.open.get(directory)
        if file is None:
            if len(self.open) >= MAX_OPEN_FILES:
                self._close(next(iter(self.open)))
            count = self.counts.get(directory, 0)
            self.counts[directory] = count + 1
            final = self.job.part_name(self.part, directory, count)
            temp = f"{self.temp_root}/{final}"
            check_no_links(self.fs, self.job.path, temp)  # before self.current: discard() must not touch a link
            self.current = temp
            schema = self.job.parquet_schema if self.job.parquet_schema is not None else batch.schema
            file = _PartFile(self.job, self.fs.open_write(self.current), self.current, final, schema, self.key,
                             self.wrapped)  # fmt: skip
            self.open[directory] = file
        else:
            self.open.move_to_end(directory)
            self.current = file.temp_path
        file.write(batch)
        self.rows += batch.num_rows

    def _close(self, directory: str) -> None:
        file = self.open.pop(directory)
        self.current = file.temp_path
        file.close()
        size, commitment = 0, ""
        if self.job.table_id is not None:  # what the manifest will pin: read back from the closed file
            size, digest = commitment_of(self.fs, file.temp_path, self.job.settings.crypto_mode)
            commitment = digest.hex()
        self.done.append((file.temp_path, file.final_name, size, commitment))

    def close_all(self) -> None:
        for directory in list(self.open):
            self._close(directory)

    def discard(self) -> None:
        """After a failure: abandon open files and delete every part this attempt wrote."""
        for file in self.open.values():
            with suppress(Exception):
                file.abandon()
        paths = [f.temp_path for f in self.open.values()] + [done[0] for done in self.done] + [self.current or ""]
        for path in filter(None, paths):
            with suppress(Exception):
                self.fs.delete(path)
        self.open.clear()


class _PartFile:
    """One part file being written: storage handle <- encrypting writer <- content encoder (or PME writer)."""

    def __init__(
        self, job: PpmlEncWriter, handle: Any, temp_path: str, final_name: str, schema: pa.Schema,
        key: DataKey | None, wrapped: WrappedKey | None,
    ) -> None:  # fmt: skip
        self.settings = job.settings
        self.temp_path, self.final_name = temp_path, final_name
        self.stack = ExitStack()
        self.stack.enter_context(handle)
        self.parquet: Any = None
        self.parquet_schema = schema
        self.first = True
        try:
            self._open(job, handle, schema, key, wrapped)
        except BaseException:
            self.stack.__exit__(*sys.exc_info())
            raise

    def _open(
        self, job: PpmlEncWriter, handle: Any, schema: pa.Schema, key: DataKey | None, wrapped: WrappedKey | None
    ) -> None:
        if key is None:  # PME: pyarrow encrypts inside the Parquet file, keys in its footer
            target = pa.PythonFile(_Sink(handle), mode="w")
            settings = self.settings
            self.parquet = self.stack.enter_context(
                pme.new_writer(target, schema, job.options, settings.crypto_mode, settings.footer_key,
                               **parquetwrite.WRITER_OPTIONS)
            )
            return
        assert wrapped is not None
        binding = (job.table_id, self.final_name) if job.table_id is not None else None
        crypt = codec_for(self.settings.crypto_mode).open_writer(
            handle, key, wrapped, segment_size=self.settings.segment_size, content_type=self.settings.content_format,
            binding=binding,
        )
        self.stack.callback(crypt.close)
        self.sink = _Sink(crypt)
        if self.settings.content_format == "parquet":
            self.parquet = self.stack.enter_context(
                pq.ParquetWriter(pa.PythonFile(self.sink, mode="w"), schema, **parquetwrite.WRITER_OPTIONS)
            )

    def write(self, batch: pa.RecordBatch) -> None:
        if self.parquet is not None:
            if batch.num_rows:  # a file without rows: the schema alone, no row group (as Spark's)
                self.parquet.write_batch(parquetwrite.conform(batch, self.parquet_schema))
            return
        settings = self.settings if self.first else replace(self.settings, header=False)  # CSV header once
        textwrite.encode(settings, self.sink.write, batch, iter([batch]))
        self.first = False

    def close(self) -> None:
        self.stack.close()

    def abandon(self) -> None:
        """Leave the storage handle by an exception, so an upload is abandoned rather than committed."""
        error = PpmlError("write abandoned")
        self.stack.__exit__(type(error), error, None)


def partition_columns(options: Mapping[str, str], schema: StructType, settings: WriteSettings) -> tuple[str, ...]:
    """Option partitionBy (comma-separated names, or Spark's JSON list): the schema's names of those columns,
    checked as Spark checks ``partitionBy`` (known, distinct, not every column, a type with a Spark text)."""
    raw = as_options(options).get_str("partitionBy")
    if not raw or not raw.strip():
        return ()
    given = _column_list(raw)
    by_lower = {f.name.lower(): f for f in schema.fields}
    fields = []
    for name in given:
        field = by_lower.get(name.lower())  # Spark resolves partition columns case-insensitively by default
        if field is None:
            raise ConfigError(
                f"option partitionBy={raw}: column {name} is not in the data ({', '.join(schema.names)}); "
                "name columns of the DataFrame"
            )
        fields.append(field)
    names = tuple(f.name for f in fields)
    if len(set(names)) != len(names):
        raise ConfigError(f"option partitionBy={raw}: a column appears twice; name each column once")
    if len(names) == len(schema.fields):
        raise ConfigError(f"option partitionBy={raw}: cannot use all columns for partition columns (as Spark)")
    for field in fields:
        if field.name.startswith(("_", ".")):
            raise ConfigError(
                f"option partitionBy={raw}: column {field.name} starts with '{field.name[0]}', and ppml-enc's "
                "listing skips such directories as hidden; rename the column"
            )
        if not isinstance(field.dataType, WRITABLE_TYPES):
            raise ConfigError(
                f"option partitionBy={raw}: column {field.name} is {field.dataType.simpleString()}; ppml-enc writes "
                "partition directories for string, integral, boolean, date and decimal columns (Spark's text of "
                "float, double and timestamp values comes from the JVM and the session time zone, which a Python "
                "data source cannot see); cast the column to string first"
            )
    if settings.content_format == "text" and len(schema.fields) - len(names) != 1:
        raise ConfigError(
            f"option partitionBy={raw}: format=text writes one string column besides the partition columns, not "
            f"{len(schema.fields) - len(names)}; select one data column"
        )
    return names


def _column_list(raw: str) -> list[str]:
    if raw.lstrip().startswith("["):  # Spark's own encoding of partitionBy (DataSourceUtils): a JSON list
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list) or not all(isinstance(n, str) and n for n in parsed):
            raise ConfigError(f"option partitionBy={raw}: not a JSON list of column names; give a,b or [\"a\",\"b\"]")
        return parsed
    names = [n.strip() for n in raw.split(",")]
    if not all(names):
        raise ConfigError(f"option partitionBy={raw}: an empty column name; give names separated by commas")
    return names


def _overwrite_mode(options: Mapping[str, str]) -> str:
    return as_options(options).get_choice("partitionOverwriteMode")


def _emptied(replaced: list[str], new_names: list[str]) -> list[str]:
    """Top-most directories that held replaced files and hold no new file: a static overwrite removes them
    (Spark deletes the whole table directory)."""
    live = {""}
    for name in new_names:
        directory = posixpath.dirname(name)
        while directory:
            live.add(directory)
            directory = posixpath.dirname(directory)
    dead: set[str] = set()
    for name in replaced:
        directory = posixpath.dirname(name)
        while directory and directory not in live:
            dead.add(directory)
            directory = posixpath.dirname(directory)
    return sorted(d for d in dead if posixpath.dirname(d) not in dead)


def _delete_if_empty(fs: FileSystem, directory: str) -> None:
    try:
        leftover = fs.list_files(directory)
    except PpmlError:
        return
    if not leftover:
        fs.delete(directory)


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest
