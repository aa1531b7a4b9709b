"""Encrypt, decrypt and inspect files and directory trees: the library behind ``ppml-az encrypt/decrypt``.

A directory input gives a mirrored output tree (same relative names, hidden files such as ``.meta`` and
``_SUCCESS`` skipped). Every path goes through :func:`storage.filesystem_for`, so ``abfss://`` works wherever
the storage backend does. Work is planned first (list, probe headers, unwrap keys, check outputs) so bad input
fails before anything is written; then files are processed in a thread pool (``cryptography`` releases the
GIL on large buffers), each streamed in 1 MiB chunks to a hidden temporary name and renamed into place only
when complete, so a failure never leaves a partial output file.

ppml-gcm encryption uses one fresh data key per run, wrapped once; every file still gets its own envelope and
a fresh Tink salt and nonce prefix, hence its own segment key, so sharing the data key never reuses a
(key, nonce) pair.
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import re
import shutil
import socket
import stat
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, TextIO, TypeAlias
from urllib.parse import urlparse

from . import formats
from .errors import ConfigError, KeyFileError, OutputExistsError, PpmlError, WrongKeyError, with_source
from .formats import AUTO, DEFAULT_WRITE_MODE, Codec, DataKey, ObjectInfo, bigdl, ppml_gcm
from .kms import KeyManagementService, WrappedKey, generate_data_key, normalize_kms_type, unwrap_cached
from .kms.bigdl_keys import read_data_key_file
from .kms.resolve import resolve_wrapped_key
from .safeio import MAX_META_FILE, read_capped
from .storage import FileStatus, FileSystem, LocalFileSystem, StorageError, filesystem_for, is_remote

CHUNK_SIZE = 1 << 20
PLAINTEXT_FILE_MODE = 0o600  # decrypted files: owner only unless asked otherwise (ppml-az decrypt --mode)
# BigDL data key files and common headers do not record how the key was wrapped: an empty algorithm asks the
# KMS for its BigDL-compatible default (RSA-OAEP for Azure Key Vault).
BIGDL_WRAP_ALGORITHM = ""
_CONTENT_TYPES = {
    "csv": "csv",
    "tbl": "csv",
    "json": "json",
    "jsonl": "json",
    "ndjson": "json",
    "parquet": "parquet",
    "txt": "text",
}

ProgressCallback: TypeAlias = Callable[[int], None]
ProgressSpec: TypeAlias = "bool | ProgressCallback | ProgressLines | None"
"""``None``: a rich progress bar when stderr is a terminal; ``True``/``False``: always/never; a
:class:`ProgressLines`: plain lines (for logs and pipes); a callable: called with the number of bytes just
processed (from worker threads, serialised by a lock)."""


@dataclass(frozen=True)
class FileResult:
    source: str
    output: str
    bytes_in: int
    bytes_out: int
    mode: str
    kept: bool = False  # ``resume``: the existing output was verified complete and left as it was


@dataclass
class RunResult:
    """What one encrypt/decrypt run did; ``notes`` are warnings worth showing the user."""

    operation: str
    mode: str
    files: list[FileResult]
    seconds: float
    key_id: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def bytes_in(self) -> int:
        return sum(f.bytes_in for f in self.files)

    @property
    def bytes_out(self) -> int:
        return sum(f.bytes_out for f in self.files)

    @property
    def kept(self) -> int:
        """Files a resumed run found complete (verified) and did not write again."""
        return sum(f.kept for f in self.files)

    def summary(self) -> str:
        rate = self.bytes_in / self.seconds / 1e6 if self.seconds > 0 else 0.0
        key = f", primary key {self.key_id}" if self.key_id else ""
        kept = f" ({self.kept} already done: verified and kept)" if self.kept else ""
        return (
            f"{self.operation} {len(self.files)} file(s){kept}, {self.bytes_in / 1e6:.1f} MB in {self.seconds:.2f} s "
            f"({rate:.1f} MB/s), mode {self.mode}{key}"
        )


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: how many files were complete (renamed into place, or verified and kept) by then.

    A KeyboardInterrupt still, so code that stops on Ctrl-C keeps doing so; the CLI reads ``done``/``total`` to
    say how far the run got and that ``--resume`` continues it (``hint``)."""

    def __init__(self, operation: str, done: int, total: int) -> None:
        super().__init__(f"{operation} interrupted ({done} of {total} files done)")
        self.operation, self.done, self.total = operation, done, total
        self.hint: str | None = None


class _Writer(Protocol):
    bytes_in: int
    bytes_out: int

    def write(self, data: bytes | bytearray | memoryview) -> int: ...

    def close(self) -> None: ...


class _Cancelled(Exception):
    """Another file failed; this one stops early (its temporary output is removed)."""


def content_type_for(path: str) -> str | None:
    """Envelope content type guessed from the file extension (``.tbl`` is TPC-H's delimited text)."""
    ext = posixpath.splitext(path.rstrip("/"))[1].lstrip(".").lower()
    return _CONTENT_TYPES.get(ext)


# ---------------------------------------------------------------------------------------------- planning


def _local_path(path: str) -> str:
    return urlparse(path).path if path.startswith("file:") else path


def _relative(path: str, root: str) -> str:
    for prefix in (root, _local_path(root)):
        base = prefix.rstrip("/") + "/"
        if path.startswith(base):
            return path[len(base) :]
    raise StorageError(f"{path}: listed outside the input directory {root}")


def _basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/"))


def _norm(path: str) -> str:
    return path.rstrip("/") if is_remote(path) else os.path.realpath(_local_path(path))


def _same_local_path(a: str, b: str) -> bool:
    return _norm(a) == _norm(b)


def _check_no_overlap(source: str, output: str) -> None:
    src, dst = _norm(source), _norm(output)
    if dst == src or dst.startswith(src.rstrip("/") + "/"):
        raise ConfigError(f"{output}: the output must not be the input or lie inside it ({source})")


def _plan(source: str, output: str, options: Mapping[str, str] | None, force: bool) -> _Plan:
    """Pair every input file with its output path; refuse existing outputs unless ``force`` (or resuming)."""
    fs_in = filesystem_for(source, options)
    fs_out = filesystem_for(output, options)
    if not fs_in.exists(source):
        raise StorageError(f"{source}: input not found")
    _check_no_overlap(source, output)
    pairs: list[tuple[FileStatus, str]] = []
    if fs_in.is_dir(source):
        statuses = fs_in.list_files(source)
        if not statuses:
            raise StorageError(f"{source}: no data files in this directory (hidden files like .meta are skipped)")
        if fs_out.exists(output):
            if not fs_out.is_dir(output):
                raise OutputExistsError(f"{output}: exists and is a file; a directory input needs a directory output")
            if not force and fs_out.list_files(output):
                raise OutputExistsError(
                    f"{output}: output directory is not empty; choose a new directory, pass --resume (resume=True) "
                    "to continue an interrupted run into it, or --force (force=True) to replace files of the same name"
                )
        for status in statuses:
            relative = _relative(status.path, source)
            pairs.append((status, fs_out.join(output, *relative.split("/"))))
        return _Plan(fs_in, fs_out, pairs, output)
    else:
        status = FileStatus(source, fs_in.size(source))
        target = fs_out.join(output, _basename(source)) if fs_out.is_dir(output) else output
        if _same_local_path(target, source):
            raise ConfigError(f"{target}: the output must not be the input file")
        if fs_out.exists(target) and not force:
            raise OutputExistsError(f"{target}: output file exists; pass --force (force=True) to replace it")
        pairs.append((status, target))
    return _Plan(fs_in, fs_out, pairs, _parent(target))


@dataclass
class _Plan:
    fs_in: FileSystem
    fs_out: FileSystem
    pairs: list[tuple[FileStatus, str]]
    root: str = "."  # the output directory (a tree) or the output file's directory: staging goes there

    def output_dirs(self) -> list[str]:
        dirs = {_parent(out) for _, out in self.pairs}
        return sorted(dirs)


def _parent(path: str) -> str:
    head, sep, _ = path.rstrip("/").rpartition("/")
    return head or sep or "."


def _join_parent(fs: FileSystem, directory: str, name: str) -> str:
    return name if directory == "." else fs.join(directory, name)


# ---------------------------------------------------------------------------------------------- execution


@contextmanager
def _open_input(fs: FileSystem, path: str) -> Iterator[BinaryIO]:
    with fs.open_read(path) as handle:
        yield handle


STAGING_PREFIX = ".ppml-az-tmp-"
_OWNER_FILE = "owner.json"


@dataclass(frozen=True)
class _Staging:
    """Where one run's temporary files go before their rename into place.

    Local outputs: a private directory ``<output root>/.ppml-az-tmp-<run id>/`` (mode 0700, same file system,
    so the rename is atomic) holding files created 0600, so partial plaintext after a crash is readable by the
    owner only and sits in one place the next run can identify and remove. ``file_mode`` is the mode a
    finished file gets. Remote outputs (no modes, no crash-safe ownership): ``directory`` is None and
    temporaries are hidden names next to their targets, deleted on failure.
    """

    directory: str | None
    file_mode: int | None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(root: str, command: str) -> list[str]:
    """Remove staging directories below ``root`` that an earlier ``command`` run of this user on this host left
    behind (its process is gone): the crash leftovers of a SIGKILLed run. Returns what was removed."""
    removed: list[str] = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(STAGING_PREFIX):
            continue
        directory = os.path.join(root, name)
        try:
            info = os.lstat(directory)
            with open(os.path.join(directory, _OWNER_FILE), encoding="utf-8") as handle:
                owner = json.loads(handle.read(4096))
            ours = (
                stat.S_ISDIR(info.st_mode)
                and info.st_uid == os.getuid()
                and owner.get("uid") == os.getuid()
                and owner.get("host") == socket.gethostname()
                and owner.get("command") == command
                and isinstance(owner.get("pid"), int)
                and not _process_alive(owner["pid"])
            )
        except (OSError, ValueError, AttributeError):
            continue  # not identifiable as ours: leave it alone
        if ours:
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    return removed


@contextmanager
def _staging(fs: FileSystem, root: str, command: str, file_mode: int | None) -> Iterator[_Staging]:
    """The run's staging area (see :class:`_Staging`); earlier crashed runs' leftovers are removed first."""
    if is_remote(root) or not isinstance(fs, LocalFileSystem):
        yield _Staging(None, file_mode)
        return
    local = _local_path(root)
    os.makedirs(local, exist_ok=True)
    clean_leftovers(local, command)
    directory = os.path.join(local, f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}")
    os.mkdir(directory, 0o700)
    try:
        os.chmod(directory, 0o700)
        owner = {"pid": os.getpid(), "uid": os.getuid(), "host": socket.gethostname(), "command": command}
        with open(os.path.join(directory, _OWNER_FILE), "x", encoding="utf-8") as handle:
            json.dump(owner, handle)
        yield _Staging(directory, file_mode)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def _atomic_output(fs: FileSystem, path: str, staging: _Staging | None = None) -> Iterator[BinaryIO]:
    """Write to a temporary file (in the run's private staging directory when there is one); rename into
    place only if the block succeeds."""
    if staging is not None and staging.directory is not None:
        temp = os.path.join(staging.directory, f"{uuid.uuid4().hex}.part")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    else:
        head, sep, base = path.rpartition("/")
        temp = f"{head}{sep}.{base}.{uuid.uuid4().hex[:12]}.ppml-az-tmp"
    try:
        if staging is not None and staging.directory is not None:
            with os.fdopen(os.open(temp, flags, 0o600), "wb") as handle:
                yield handle
            if staging.file_mode is not None:
                os.chmod(temp, staging.file_mode)
        else:
            with fs.open_write(temp) as handle:
                yield handle
        fs.rename(temp, path)
    except BaseException:
        with suppress(OSError, PpmlError):  # best effort: the original error matters more
            fs.delete(temp)
        raise


def _storage_error(exc: OSError, fallback: str) -> StorageError:
    where = exc.filename if isinstance(exc.filename, str) else fallback
    return StorageError(f"{where}: {exc.strerror or exc}")


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"  # pragma: no cover


QUIET_BELOW = 64 << 20  # ProgressLines stays silent for a single file smaller than this


class ProgressLines:
    """Plain progress lines for a log file or a pipe, where a live progress bar shows nothing.

    ``encrypting: 40/208 files, 1.2 GB of 5.0 GB, 12 s``: a line each time another twentieth of the files is done
    (every file when there are at most 20), at most ``every_seconds`` apart while bytes move (one large file
    still reports), and one at the end. Each line is flushed at once, so ``ppml-az encrypt ... | tee log`` shows
    it as it happens. A run of one file under 64 MiB prints nothing (its summary says it all). Thread-safe: the
    run's worker threads report bytes through it.
    """

    def __init__(self, stream: TextIO | None = None, every_seconds: float = 5.0, steps: int = 20,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.stream, self.every_seconds, self.steps, self.clock = stream, every_seconds, steps, clock
        self._lock = threading.Lock()
        self.description, self.files, self.total = "", 0, 0
        self.done = self.kept = self.bytes = 0
        self._started = self._last = 0.0
        self._step = 0
        self.quiet = False

    def start(self, description: str, files: int, total_bytes: int) -> None:
        with self._lock:
            self.description, self.files, self.total = description, files, total_bytes
            self.done = self.kept = self.bytes = self._step = 0
            self._started = self._last = self.clock()
            self.quiet = files <= 1 and total_bytes < QUIET_BELOW  # one small file: its summary line is enough
        self._line(f"{description}: {files} file(s), {_size(total_bytes)}")

    def __call__(self, count: int) -> None:
        with self._lock:
            self.bytes += count
            due = self.clock() - self._last >= self.every_seconds
        if due:
            self._status()

    def file_done(self, result: FileResult) -> None:
        with self._lock:
            self.done += 1
            self.kept += result.kept
            step = self.done * self.steps // max(1, self.files)
            due = step > self._step or self.done == self.files
            self._step = max(step, self._step)
        if due:
            self._status()

    def _status(self) -> None:
        with self._lock:
            now = self._last = self.clock()
            kept = f" ({self.kept} already done, verified)" if self.kept else ""
            text = (
                f"{self.description}: {self.done}/{self.files} files{kept}, {_size(self.bytes)} of "
                f"{_size(self.total)}, {now - self._started:.0f} s"
            )
        self._line(text)

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(text + "\n")
            stream.flush()


@dataclass
class _Report:
    """What jobs and the run loop report to: bytes (from worker threads) and finished files."""

    advance: ProgressCallback
    file_done: Callable[[FileResult], None]


@contextmanager
def _reporter(progress: ProgressSpec, files: int, total: int, description: str) -> Iterator[_Report]:
    if isinstance(progress, ProgressLines):
        progress.start(description, files, total)
        yield _Report(progress, progress.file_done)
        return
    if callable(progress):
        lock = threading.Lock()
        callback = progress

        def advance(count: int) -> None:
            with lock:
                callback(count)

        yield _Report(advance, lambda result: None)
        return
    show = sys.stderr.isatty() if progress is None else bool(progress)
    if not show:
        yield _Report(lambda count: None, lambda result: None)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total)
        yield _Report(lambda count: bar.advance(task, count), lambda result: None)


Job: TypeAlias = Callable[[ProgressCallback, threading.Event], FileResult]


def _run(
    jobs: list[Job], workers: int | None, progress: ProgressSpec, total: int, description: str, operation: str = ""
) -> list[FileResult]:
    """Run per-file jobs in a thread pool; on the first failure stop the others and raise it. Ctrl-C stops every
    file at its next chunk (temporary outputs removed) and raises :class:`Interrupted` with the count done."""
    workers = max(1, min(len(jobs), workers or default_jobs()))
    stop = threading.Event()
    operation = operation or description
    with _reporter(progress, len(jobs), total, description) as report:
        if workers == 1:
            results: list[FileResult] = []
            try:
                for job in jobs:
                    results.append(job(report.advance, stop))
                    report.file_done(results[-1])
            except KeyboardInterrupt:
                raise Interrupted(operation, len(results), len(jobs)) from None
            return results
        failed: Future[FileResult] | None = None
        interrupted = False
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ppml-az") as pool:
            futures: list[Future[FileResult]] = [pool.submit(job, report.advance, stop) for job in jobs]
            try:
                for future in as_completed(futures):
                    if future.exception() is not None:
                        failed = future
                        break
                    report.file_done(future.result())
            except KeyboardInterrupt:
                interrupted = True
            finally:  # on a failure or Ctrl-C, the other files stop at their next chunk
                if failed is not None or not all(f.done() for f in futures):
                    stop.set()
                    for future in futures:
                        future.cancel()
        if interrupted:
            done = sum(1 for f in futures if f.done() and not f.cancelled() and f.exception() is None)
            raise Interrupted(operation, done, len(jobs)) from None
        if failed is not None:
            error = failed.exception()
            assert error is not None
            raise error
        return [future.result() for future in futures]


def default_jobs() -> int:
    """Parallel files by default: one per core (I/O and hashing overlap; AES-GCM itself releases the GIL)."""
    return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------------------------- encryption


def encrypt_path(
    source: str,
    output: str,
    kms: KeyManagementService,
    *,
    crypto_mode: str = DEFAULT_WRITE_MODE,
    segment_size: int = ppml_gcm.DEFAULT_SEGMENT_SIZE,
    data_key_file: str | None = None,
    force: bool = False,
    jobs: int | None = None,
    progress: ProgressSpec = None,
    options: Mapping[str, str] | None = None,
    allow_encrypted_input: bool = False,
    resume: bool = False,
) -> RunResult:
    """Encrypt a file or a directory tree into ``output`` (mirrored tree) with ``ppml-gcm`` or BigDL common.

    ``data_key_file`` (a BigDL data key file: Base64 of the wrapped key) reuses that data key, as BigDL did;
    otherwise one fresh data key is generated and wrapped for the run. BigDL common output goes into
    directories with one ``.meta`` each: a ``.meta`` already there (another single-file encrypt into the same
    directory, or an interrupted run) gives the run its data key when the KMS unwraps it, so every file of the
    directory matches it. Input that is encrypted already is refused (decrypting the output would give back
    ciphertext) unless ``allow_encrypted_input``. ``resume`` continues an interrupted run: see
    :func:`_verified_encryption`.
    """
    codec = formats.write_codec(crypto_mode, DEFAULT_WRITE_MODE)
    mode = codec.name
    if not (codec.writable and codec.wraps_bytes):  # PME is written by the Parquet writer, not file by file
        raise ConfigError(f"cannot encrypt with crypto mode {mode}; use {' or '.join(formats.WRITABLE_MODES)}")
    if not ppml_gcm.MIN_SEGMENT_SIZE <= segment_size <= ppml_gcm.MAX_SEGMENT_SIZE:
        raise ConfigError(
            f"segment size {segment_size} is outside [{ppml_gcm.MIN_SEGMENT_SIZE}, {ppml_gcm.MAX_SEGMENT_SIZE}] bytes"
        )
    if force and resume:
        raise ConfigError("--force and --resume exclude each other: --force rewrites every file, --resume keeps "
                          "the verified ones")  # fmt: skip
    started = time.perf_counter()
    plan = _plan(source, output, options, force or resume)
    if not allow_encrypted_input:
        _refuse_encrypted_input(plan, jobs)
    existing = None if force or data_key_file or not codec.directory_meta else _meta_data_key(plan, kms, codec)
    material, wrapped = existing or _data_key_for_encryption(kms, codec, data_key_file)
    key = DataKey(material)
    check = _OutputCheck(plan, codec, kms, wrapped, segment_size) if resume else None
    with _staging(plan.fs_out, plan.root, "encrypt", _default_file_mode()) as staging:
        return _encrypt_planned(
            plan, codec, key, wrapped, segment_size, force, jobs, progress, staging, started, check
        )


def _refuse_encrypted_input(plan: _Plan, jobs: int | None) -> None:
    """Before any key or output: the first input file (in listing order) that is encrypted already, named.

    One read of the first bytes per file, on the run's threads; the run reads every byte of them anyway."""

    def check(status: FileStatus) -> None:
        formats.refuse_ciphertext_as_plaintext(
            _head(plan.fs_in, status),
            status.path,
            formats.PLAIN,
            action="encrypt takes plaintext (decrypting the output would give back this ciphertext)",
            advice="encrypt the plaintext instead, or pass --allow-encrypted-input (allow_encrypted_input=True) "
            "to encrypt it again",
        )

    statuses = [status for status, _ in plan.pairs if status.size > 0]
    with ThreadPoolExecutor(max_workers=max(1, min(jobs or default_jobs(), 16)), thread_name_prefix="ppml-az") as pool:
        for _ in pool.map(check, statuses):  # results in order: the first encrypted file in the listing is raised
            pass


def _head(fs: FileSystem, status: FileStatus) -> bytes:
    """The first bytes of an input file: what :func:`formats.detect` needs."""
    try:
        with _open_input(fs, status.path) as handle:
            return handle.read(formats.HEAD_SIZE)
    except OSError as exc:
        raise _storage_error(exc, status.path) from None


def _default_file_mode() -> int:
    """The mode ``open()`` would give a new file (0666 less the umask): ciphertext keeps its usual mode."""
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o666 & ~mask


def _encrypt_planned(
    plan: _Plan,
    codec: Codec,
    key: DataKey,
    wrapped: WrappedKey,
    segment_size: int,
    force: bool,
    jobs: int | None,
    progress: ProgressSpec,
    staging: _Staging,
    started: float,
    check: _OutputCheck | None = None,
) -> RunResult:
    mode = codec.name
    if codec.directory_meta:  # BigDL readers look for .meta next to the part files
        _write_meta_files(plan, base64.b64encode(wrapped.ciphertext).decode("ascii"), force, staging)

    def make_writer(sink: BinaryIO, status: FileStatus) -> _Writer:
        return codec.open_writer(
            sink,
            key,
            wrapped,
            segment_size=segment_size,
            content_type=content_type_for(status.path),
            plaintext_length=status.size,
        )

    jobs_list: list[Job] = [
        _encrypt_job(plan, status, out, make_writer, mode, staging, check) for status, out in plan.pairs
    ]
    total = sum(status.size for status, _ in plan.pairs)
    files = _run(jobs_list, jobs, progress, total, "encrypting", "encrypt")
    return RunResult("encrypted", mode, files, time.perf_counter() - started, wrapped.key_id)


def _data_key_for_encryption(
    kms: KeyManagementService, codec: Codec, data_key_file: str | None
) -> tuple[bytes, WrappedKey]:
    """The run's data key; the codec checks it can record the wrapped key before anything is written."""
    material, wrapped = _data_key(kms, codec, data_key_file)
    codec.check_wrapped_key(wrapped.ciphertext, wrapped.key_id)
    return material, wrapped


def _data_key(kms: KeyManagementService, codec: Codec, data_key_file: str | None) -> tuple[bytes, WrappedKey]:
    if data_key_file is None:
        return generate_data_key(kms, compat=codec.key_compat)
    wrapped = WrappedKey(kms.kms_type, kms.key_id, BIGDL_WRAP_ALGORITHM, read_data_key_file(data_key_file))
    try:
        material = unwrap_cached(kms, wrapped)
    except PpmlError as exc:
        raise with_source(exc, data_key_file) from None
    if codec.key_size is not None and len(material) != codec.key_size:
        raise KeyFileError(
            f"{data_key_file}: data key unwraps to {len(material)} bytes; {codec.name} needs {codec.key_size}"
        )
    return material, wrapped


def _read_meta(fs: FileSystem, meta: str) -> str | None:
    """The encrypted data key string of an existing ``.meta`` (None: unreadable or not BigDL's format)."""
    try:
        with fs.open_read(meta) as handle:
            return bigdl.read_meta(read_capped(handle, MAX_META_FILE, meta, KeyFileError))
    except (PpmlError, OSError):
        return None


def _meta_data_key(plan: _Plan, kms: KeyManagementService, codec: Codec) -> tuple[bytes, WrappedKey] | None:
    """The data key of the ``.meta`` files already in the output directories, when there are any.

    BigDL readers take a directory's key from its one ``.meta``, so a second single-file encrypt into the same
    directory (or a resumed run) must use that key, not a fresh one. A ``.meta`` the KMS cannot unwrap, or two
    that disagree, end the run before anything is written, saying what to do."""
    fs = plan.fs_out
    found: dict[str, str] = {}
    for directory in plan.output_dirs():
        meta = _join_parent(fs, directory, bigdl.META_FILE)
        if fs.exists(meta):
            current = _read_meta(fs, meta)
            if current is None:
                raise OutputExistsError(
                    f"{meta}: exists but is not a BigDL .meta file; remove it, use another output directory or "
                    "pass --force to replace it"
                )
            found[meta] = current
    if not found:
        return None
    if len(set(found.values())) > 1:
        raise OutputExistsError(
            f"{', '.join(sorted(found))}: hold different data keys; encrypt into one directory at a time or pass "
            "--force to replace them"
        )
    meta, text = next(iter(found.items()))
    try:
        wrapped = WrappedKey(kms.kms_type, kms.key_id, BIGDL_WRAP_ALGORITHM, base64.b64decode(text, validate=True))
        material = unwrap_cached(kms, wrapped)
    except (PpmlError, ValueError):
        raise OutputExistsError(
            f"{meta}: holds the data key of the files already in that directory, and the configured primary key "
            "cannot unwrap it; encrypt with the primary key that wrote them, into another directory, or pass "
            "--force to replace .meta (the files already there then no longer match it)"
        ) from None
    if codec.key_size is not None and len(material) != codec.key_size:
        raise KeyFileError(
            f"{meta}: its data key unwraps to {len(material)} bytes; {codec.name} needs {codec.key_size}"
        )
    codec.check_wrapped_key(wrapped.ciphertext, wrapped.key_id)
    return material, wrapped


def _write_meta_files(plan: _Plan, encrypted_key: str, force: bool, staging: _Staging | None = None) -> None:
    """BigDL's ``.meta`` in every output directory that receives files; a different existing key is refused."""
    fs = plan.fs_out
    targets = [_join_parent(fs, directory, bigdl.META_FILE) for directory in plan.output_dirs()]
    for meta in targets:
        if fs.exists(meta) and not force and _read_meta(fs, meta) != encrypted_key:
            raise OutputExistsError(
                f"{meta}: holds a different data key (that of the files already there); use another output "
                "directory, or pass --force to replace it"
            )
    for meta in targets:
        with _atomic_output(fs, meta, staging) as handle:
            bigdl.write_meta(handle, encrypted_key)


def _encrypt_job(
    plan: _Plan,
    status: FileStatus,
    out: str,
    make_writer: Callable[[BinaryIO, FileStatus], _Writer],
    mode: str,
    staging: _Staging,
    check: _OutputCheck | None = None,
) -> Job:
    def job(advance: ProgressCallback, stop: threading.Event) -> FileResult:
        if check is not None:
            kept = check.encrypted(status, out, stop)
            if kept is not None:
                advance(status.size)
                return kept
        try:
            with _open_input(plan.fs_in, status.path) as src, _atomic_output(plan.fs_out, out, staging) as sink:
                writer = make_writer(sink, status)
                while chunk := src.read(CHUNK_SIZE):
                    if stop.is_set():
                        raise _Cancelled
                    writer.write(chunk)
                    advance(len(chunk))
                if writer.bytes_in != status.size:
                    raise StorageError(
                        f"{status.path}: size changed while encrypting ({status.size} -> {writer.bytes_in} bytes)"
                    )
                writer.close()
        except OSError as exc:
            raise _storage_error(exc, status.path) from None
        return FileResult(status.path, out, writer.bytes_in, writer.bytes_out, mode)

    return job


# ---------------------------------------------------------------------------------------------- decryption


_AZURE_KEY_URL = re.compile(r"^(https://[^/]+/keys/[^/]+)(?:/[^/]*)?/?$", re.IGNORECASE)


def _same_primary_key(a: str, b: str) -> bool:
    """Equal key ids, or the same Key Vault key with or without a version (rotated versions still unwrap)."""
    if a == b:
        return True
    ma, mb = _AZURE_KEY_URL.match(a), _AZURE_KEY_URL.match(b)
    return bool(ma and mb and ma.group(1).lower() == mb.group(1).lower())


def _configured_key_id(kms: KeyManagementService) -> str | None:
    """The KMS's primary key id, or None when it has none (Azure given only a vault can still unwrap)."""
    try:
        return kms.key_id
    except ConfigError:
        return None


class _KeyResolver:
    """Finds the data key of each object: the user's plaintext key string, or an unwrap through the KMS."""

    def __init__(
        self, kms: KeyManagementService | None, data_key_plaintext: str | None, data_key_file: str | None
    ) -> None:
        self.kms = kms
        self.plaintext = DataKey.from_bigdl_string(data_key_plaintext) if data_key_plaintext is not None else None
        self.data_key_file = data_key_file

    def key_for(self, info: ObjectInfo, name: str) -> DataKey:
        if self.plaintext is not None:
            size = info.codec.key_size
            if size is not None and len(self.plaintext.material) != size:
                raise WrongKeyError(f"{name}: {info.mode} needs a plaintext data key that is Base64 of {size} bytes")
            return self.plaintext
        kms = self.kms
        if info.key_ref is None:  # nativeaescbc: the key comes from a BigDL data key file
            if kms is None or self.data_key_file is None:
                raise ConfigError(
                    f"{name}: nativeaescbc files carry no key; pass a BigDL data key file with a KMS "
                    "(--data-key with --kms) or the key string (--data-key-plaintext-file)"
                )
            wrapped = resolve_wrapped_key(info, name, kms_type=kms.kms_type, data_key_path=self.data_key_file)
            return DataKey(self._unwrap(kms, wrapped, self.data_key_file))
        if kms is None:
            raise ConfigError(
                f"{name}: its data key is wrapped; configure the KMS (--kms with --primary-key or --vault) "
                "or pass the data key string (--data-key-plaintext-file)"
            )
        ref = info.key_ref
        if ref.kms_type:  # an envelope names its primary key: say early and clearly when it is not ours
            self._check_kms(kms, ref.kms_type, ref.key_id or "", name)
        wrapped = resolve_wrapped_key(info, name, kms_type=kms.kms_type)
        return DataKey(self._unwrap(kms, wrapped, name))

    @staticmethod
    def _check_kms(kms: KeyManagementService, file_kms: str, file_key: str, name: str) -> None:
        with suppress(ConfigError):
            file_kms = normalize_kms_type(file_kms)
        configured = _configured_key_id(kms)
        if file_kms != kms.kms_type or (configured is not None and not _same_primary_key(file_key, configured)):
            raise WrongKeyError(
                f"{name}: encrypted under {file_kms} primary key {file_key}, but the configured KMS is "
                f"{kms.kms_type} primary key {configured or '(none)'}; configure the primary key that wrote it"
            )

    @staticmethod
    def _unwrap(kms: KeyManagementService, wrapped: WrappedKey, name: str) -> bytes:
        try:
            return unwrap_cached(kms, wrapped)
        except PpmlError as exc:
            raise with_source(exc, name) from None


def _probe(fs: FileSystem, status: FileStatus, mode: str) -> ObjectInfo:
    try:
        with _open_input(fs, status.path) as handle:
            return formats.probe(handle, status.size, status.path, mode)
    except OSError as exc:
        raise _storage_error(exc, status.path) from None


def decrypt_path(
    source: str,
    output: str,
    kms: KeyManagementService | None = None,
    *,
    data_key_plaintext: str | None = None,
    data_key_file: str | None = None,
    crypto_mode: str = AUTO,
    verify: bool = True,
    force: bool = False,
    jobs: int | None = None,
    progress: ProgressSpec = None,
    options: Mapping[str, str] | None = None,
    file_mode: int = PLAINTEXT_FILE_MODE,
    resume: bool = False,
) -> RunResult:
    """Decrypt a file or tree into ``output``; the format of each file is detected from its header.

    ``data_key_plaintext`` (a BigDL data key string) bypasses the KMS; ``data_key_file`` supplies the key of
    headerless ``nativeaescbc`` data; ``crypto_mode`` forces a layout; ``verify=False`` skips BigDL's HMAC.
    Plaintext files are written with ``file_mode`` (0600 by default: owner only; local outputs). ``resume``
    continues an interrupted run, keeping outputs equal to what their input decrypts to (:class:`_OutputCheck`).
    """
    if force and resume:
        raise ConfigError("--force and --resume exclude each other: --force rewrites every file, --resume keeps "
                          "the verified ones")  # fmt: skip
    mode = formats.normalize_mode(crypto_mode)
    started = time.perf_counter()
    plan = _plan(source, output, options, force or resume)
    if mode != AUTO and not _file_by_file(formats.codec_for(mode)):
        usable = [c.name for c in formats.all_codecs() if _file_by_file(c)]
        for status, _ in plan.pairs:  # an encrypted input is named with what it is (plain_text: BigDL's habit)
            formats.refuse_ciphertext_as_plaintext(_head(plan.fs_in, status), status.path, mode)
        raise ConfigError(
            f"{source}: cannot decrypt crypto mode {mode} file by file; use auto, {', '.join(usable[:-1])} or "
            f"{usable[-1]}"
        )
    resolver = _KeyResolver(kms, data_key_plaintext, data_key_file)
    check = _OutputCheck(plan, file_mode=file_mode) if resume else None
    jobs_list: list[Callable[[_Staging], Job]] = []
    modes: set[str] = set()
    meta_dirs: set[str] = set()
    outputs: set[str] = set()
    # A tree's output names mirror the input names: drop the suffix writers add. A single file keeps its name.
    derived_names = plan.fs_in.is_dir(source)
    for status, out in plan.pairs:
        info = _probe(plan.fs_in, status, mode)
        if derived_names:
            out = _plaintext_output(plan.fs_out, out, info.mode, outputs, force or resume)
        key = resolver.key_for(info, status.path)
        modes.add(info.mode)
        if info.codec.directory_meta:
            meta_dirs.add(_parent(status.path))
        jobs_list.append(_decrypt_job(plan, status, out, info, key, verify, check))
    notes = _decrypt_notes(plan.fs_in, modes, meta_dirs, verify)
    total = sum(status.size for status, _ in plan.pairs)
    with _staging(plan.fs_out, plan.root, "decrypt", file_mode) as staging:
        files = _run([job(staging) for job in jobs_list], jobs, progress, total, "decrypting", "decrypt")
    key_id = _configured_key_id(kms) if kms is not None and data_key_plaintext is None else None
    return RunResult("decrypted", "+".join(sorted(modes)), files, time.perf_counter() - started, key_id, notes)


def _file_by_file(codec: Codec) -> bool:
    """Modes ``decrypt_path`` handles: encrypted byte layouts (not plaintext, not PME inside Parquet)."""
    return codec.encrypted and codec.wraps_bytes


def encrypted_suffixes(mode: str) -> tuple[str, ...]:
    """The names writers of ``mode`` give encrypted files beyond the plaintext name: ppml-enc part files
    (``.enc``, ``.cbc``) and the JVM shim's codec extensions. ``encrypt_path`` keeps plaintext names."""
    codec = formats.codec_for(mode)
    found = [f".{codec.part_suffix}" if codec.part_suffix else "", codec.suffix or ""]
    return tuple(dict.fromkeys(s for s in found if s))


def plaintext_name(name: str, mode: str) -> str:
    """``part-00000-x.csv.enc`` -> ``part-00000-x.csv`` when the suffix is the one writers of ``mode`` add."""
    for suffix in encrypted_suffixes(mode):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _plaintext_output(fs: FileSystem, out: str, mode: str, taken: set[str], force: bool) -> str:
    """The output path without the encrypted-file suffix, refusing two inputs that would meet in one output."""
    head, _, name = out.rpartition("/")
    stripped = plaintext_name(name, mode)
    final = (f"{head}/{stripped}" if head else stripped) if stripped != name else out
    if final in taken:
        raise ConfigError(f"{out}: another input file also decrypts to {final}; decrypt them into separate outputs")
    if final != out and not force and fs.exists(final):
        raise OutputExistsError(f"{final}: output file exists; pass --force (force=True) to replace it")
    taken.add(final)
    return final


def _decrypt_notes(fs: FileSystem, modes: set[str], meta_dirs: set[str], verify: bool) -> list[str]:
    notes: list[str] = []
    for directory in sorted(meta_dirs):
        if not fs.exists(_join_parent(fs, directory, bigdl.META_FILE)):
            notes.append(f"{directory}: no BigDL .meta file; decrypted with the key recorded in each file's header")
    codecs = [formats.codec_for(m) for m in sorted(modes)]
    for codec in codecs:
        if not codec.authenticated:
            notes.append(f"{codec.name} has no MAC: tampering with those files cannot be detected")
    if not verify and any(c.whole_file_mac for c in codecs):
        notes.append("HMAC verification was skipped (--no-verify): tampering was not checked")
    return notes


def _decrypt_job(
    plan: _Plan, status: FileStatus, out: str, info: ObjectInfo, key: DataKey, verify: bool,
    check: _OutputCheck | None = None,
) -> Callable[[_Staging], Job]:  # fmt: skip
    return lambda staging: _decrypt_staged(plan, status, out, info, key, verify, staging, check)


def _decrypt_staged(
    plan: _Plan, status: FileStatus, out: str, info: ObjectInfo, key: DataKey, verify: bool, staging: _Staging,
    check: _OutputCheck | None = None,
) -> Job:  # fmt: skip
    def job(advance: ProgressCallback, stop: threading.Event) -> FileResult:
        if check is not None:
            kept = check.decrypted(status, out, info, key, verify, stop)
            if kept is not None:
                advance(status.size)
                return kept
        written = reported = 0
        try:
            with _open_input(plan.fs_in, status.path) as src, _atomic_output(plan.fs_out, out, staging) as sink:
                reader = formats.open_reader(info, src, key, verify=verify, name=status.path)
                for chunk in formats.iter_plaintext(reader, status.path):
                    if stop.is_set():
                        raise _Cancelled
                    sink.write(chunk)
                    written += len(chunk)
                    step = min(len(chunk), status.size - reported)
                    reported += step
                    advance(step)
        except OSError as exc:
            raise _storage_error(exc, status.path) from None
        advance(status.size - reported)  # headers, tags and padding: count the whole input as done
        return FileResult(status.path, out, status.size, written, info.mode)

    return job


# ---------------------------------------------------------------------------------------------- resuming


class _OutputCheck:
    """``resume``: is an existing output complete, and exactly what this run would write for this input?

    An encrypted output is kept only when all of these hold:

    * its header is the run's format (and ppml-gcm segment size) and names the configured primary key, and
      its data key unwraps under it (a file under another primary key fails here);
    * for BigDL common, it carries the run's wrapped data key (the directory's ``.meta``), so ``.meta`` still
      describes every file;
    * it decrypts in full with every GCM tag or the HMAC checked (a truncated file fails its final tag or HMAC,
      a modified one its tag);
    * the plaintext equals the input byte for byte (a file encrypted under the same key from other data, say
      copied from another tree, is not this input's encryption).

    A plaintext output (decrypt) is kept only when its bytes equal what the input decrypts to now, the input
    authenticated in full again. Not a size check or a completion record: a size passes a file whose bytes
    changed, and a record beside the output is only as trustworthy as the directory holding it, which is the
    thing in doubt after a crash. Reading both files costs what rewriting the output would, minus the write.
    Anything else (missing, a link, unreadable, different) means the output is written again.
    """

    def __init__(
        self,
        plan: _Plan,
        codec: Codec | None = None,
        kms: KeyManagementService | None = None,
        wrapped: WrappedKey | None = None,
        segment_size: int | None = None,
        file_mode: int | None = None,
    ) -> None:
        self.plan, self.codec, self.wrapped, self.segment_size, self.file_mode = (
            plan, codec, wrapped, segment_size, file_mode
        )  # fmt: skip
        self.resolver = _KeyResolver(kms, None, None)

    def _existing_size(self, out: str) -> int | None:
        fs = self.plan.fs_out
        try:
            if isinstance(fs, LocalFileSystem):
                local = _local_path(out)
                if os.path.islink(local) or not os.path.isfile(local):
                    return None  # a link is replaced by the rewrite, never followed
                return os.path.getsize(local)
            return fs.size(out) if fs.exists(out) and not fs.is_dir(out) else None
        except (PpmlError, OSError):
            return None

    def encrypted(self, status: FileStatus, out: str, stop: threading.Event) -> FileResult | None:
        size = self._existing_size(out)
        codec = self.codec
        if size is None or codec is None or self.wrapped is None:
            return None
        fs = self.plan.fs_out
        try:
            with fs.open_read(out) as handle:
                info = formats.probe(handle, size, out, AUTO)
            if info.mode != codec.name:
                return None
            if codec.has_segment_size and info.segment_size is not None and info.segment_size != self.segment_size:
                return None
            if codec.directory_meta and (info.key_ref is None or info.key_ref.wrapped_key != self.wrapped.ciphertext):
                return None
            key = self.resolver.key_for(info, out)
            with fs.open_read(out) as handle, _open_input(self.plan.fs_in, status.path) as src:
                reader = formats.open_reader(info, handle, key, verify=True, name=out)
                if not _same_bytes(formats.iter_plaintext(reader, out), src, stop):
                    return None
        except (PpmlError, OSError, ValueError):
            return None
        return FileResult(status.path, out, status.size, size, info.mode, kept=True)

    def decrypted(
        self, status: FileStatus, out: str, info: ObjectInfo, key: DataKey, verify: bool, stop: threading.Event
    ) -> FileResult | None:
        size = self._existing_size(out)
        if size is None:
            return None
        try:
            with _open_input(self.plan.fs_in, status.path) as src, self.plan.fs_out.open_read(out) as existing:
                reader = formats.open_reader(info, src, key, verify=verify, name=status.path)
                if not _same_bytes(formats.iter_plaintext(reader, status.path), existing, stop):
                    return None
            if self.file_mode is not None and isinstance(self.plan.fs_out, LocalFileSystem):
                os.chmod(_local_path(out), self.file_mode, follow_symlinks=False)
        except OSError:
            return None  # unreadable output: write it again (an unreadable input then fails with its own error)
        return FileResult(status.path, out, status.size, size, info.mode, kept=True)


def _same_bytes(chunks: Iterator[bytes], other: BinaryIO, stop: threading.Event) -> bool:
    """Whether ``other`` holds exactly the concatenated ``chunks`` (no more, no less)."""
    for chunk in chunks:
        if stop.is_set():
            raise _Cancelled
        pos = 0
        while pos < len(chunk):
            got = other.read(len(chunk) - pos)
            if not got or got != chunk[pos : pos + len(got)]:
                return False
            pos += len(got)
    return not other.read(1)


# ---------------------------------------------------------------------------------------------- inspection


def inspect_file(
    path: str,
    *,
    crypto_mode: str = AUTO,
    options: Mapping[str, str] | None = None,
    manifests: dict[str, object] | None = None,
) -> dict[str, object]:
    """Public facts about one encrypted file (format, key id, sizes, its table). Never a key, wrapped or not.

    Only the header is parsed and no key is used, so the result says what was checked (``checked: header``) and
    what the format can detect when the file is read (``integrity``), never that the file is authentic: that
    takes ``ppml-az decrypt`` or, for a table, ``ppml-az table verify``. ``manifests``: a cache of table
    manifests by directory, shared across the files of one listing."""
    from .table.check import integrity_of, table_facts

    fs = filesystem_for(path, options)
    if not fs.exists(path):
        raise StorageError(f"{path}: no such file")
    if fs.is_dir(path):
        raise ConfigError(f"{path}: is a directory; inspect takes files")
    info = _probe(fs, FileStatus(path, fs.size(path)), formats.normalize_mode(crypto_mode))
    described: dict[str, object] = {"path": path, **info.describe()}
    described.pop("authenticated", None)  # a property of the format, not a check: said by "integrity" instead
    for name in ("table", "tablePath"):
        if described.get(name) is None:
            described.pop(name, None)
    described["checked"] = "header"
    described["integrity"] = integrity_of(info.codec)
    if info.key_ref is not None:
        described["wrappedKeyLength"] = len(info.key_ref.wrapped_key)
    if info.codec.directory_meta:
        described["metaFile"] = fs.exists(_join_parent(fs, _parent(path), bigdl.META_FILE))
    described.update(table_facts(fs, path, info, manifests))
    return described


def inspect_path(
    path: str, *, crypto_mode: str = AUTO, options: Mapping[str, str] | None = None
) -> list[dict[str, object]]:
    """:func:`inspect_file` for a file, or for every data file of a directory tree (each table manifest read
    once for all of its files)."""
    fs = filesystem_for(path, options)
    if not fs.exists(path):
        raise StorageError(f"{path}: no such file or directory")
    paths = [status.path for status in fs.list_files(path)] if fs.is_dir(path) else [path]
    if not paths:
        raise StorageError(f"{path}: no data files to inspect in this directory (hidden files like .meta are skipped)")
    manifests: dict[str, object] = {}
    return [inspect_file(p, crypto_mode=crypto_mode, options=options, manifests=manifests) for p in paths]


__all__ = [
    "CHUNK_SIZE",
    "PLAINTEXT_FILE_MODE",
    "STAGING_PREFIX",
    "FileResult",
    "Interrupted",
    "ProgressLines",
    "ProgressCallback",
    "ProgressSpec",
    "RunResult",
    "content_type_for",
    "decrypt_path",
    "clean_leftovers",
    "default_jobs",
    "encrypt_path",
    "inspect_file",
    "inspect_path",
]
