"""Parquet Modular Encryption (cryptoMode ``aes_gcm_v1`` / ``aes_gcm_ctr_v1``) inside ``ppml-enc``.

pyarrow encrypts and decrypts; our KMS only wraps PME's key-encryption keys, through the adapter
:mod:`bigdl_ppml_az.kms.pme_client` over the configured backend (the same wrapping as the JVM client, so files
interoperate with Spark's native PME reader and writer; key ids from a footer are pinned to the configured vault).
One crypto factory per worker process and KMS configuration: pyarrow caches unwrapped key-encryption keys in
it, so a task reading many files calls the KMS once per key, not once per file.
Only files with an encrypted footer (trailing magic ``PARE``) are accepted: a plaintext Parquet file read under
a PME crypto mode would otherwise decrypt "successfully" and hide the misconfiguration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

from ..errors import IntegrityError, PpmlError, UnknownFormatError, WrongKeyError, with_source
from ..kms import KmsSettings, pme_client

ENCRYPTED_FOOTER = b"PARE"
_FACTORY_TTL = 30 * 60  # seconds; pyarrow's key-encryption-key cache is dropped with its factory

_lock = threading.Lock()
_factories: dict[tuple[tuple[str, str], ...], tuple[float, pe.CryptoFactory, pe.KmsConnectionConfig]] = {}


def _factory(options: Mapping[str, str]) -> tuple[pe.CryptoFactory, pe.KmsConnectionConfig]:
    """This process's crypto factory and KMS connection for ``options`` (refreshed after the TTL)."""
    cache_key = tuple(sorted((k.lower(), str(v)) for k, v in options.items() if k.lower() not in ("path", "paths")))
    now = time.monotonic()
    with _lock:
        entry = _factories.get(cache_key)
        if entry is None or now - entry[0] > _FACTORY_TTL:
            settings = KmsSettings.from_options(options)
            entry = (now, pme_client.crypto_factory(settings), pme_client.connection_config(settings))
            _factories[cache_key] = entry
        return entry[1], entry[2]


def _kms_failure(exc: Exception, path: str) -> PpmlError:
    """Errors from inside pyarrow: our KMS errors keep their type; others say only their kind (no data)."""
    if isinstance(exc, PpmlError):
        return with_source(exc, path)
    return WrongKeyError(
        f"{path}: Parquet Modular Encryption footer did not decrypt ({type(exc).__name__}); "
        "wrong primary key or KMS options, or a damaged file"
    )


def open_file(source: BinaryIO, size: int, path: str, options: Mapping[str, str]) -> pq.ParquetFile:
    """A decrypting :class:`pyarrow.parquet.ParquetFile` over an open, seekable ``source``."""
    if size < 12:
        raise UnknownFormatError(f"{path}: too small to be a Parquet file ({size} bytes)")
    source.seek(size - 4)
    tail = source.read(4)
    source.seek(0)
    if tail != ENCRYPTED_FOOTER:
        what = "plaintext Parquet (or PME with a plaintext footer)" if tail == b"PAR1" else "not a Parquet file"
        raise UnknownFormatError(
            f"{path}: {what}; cryptoMode aes_gcm_v1/aes_gcm_ctr_v1 reads Parquet Modular Encryption files with an "
            "encrypted footer (magic PARE). Read plaintext Parquet with cryptoMode=plain_text."
        )
    factory, config = _factory(options)
    try:
        properties = factory.file_decryption_properties(config, pe.DecryptionConfiguration())
        return pq.ParquetFile(pa.PythonFile(source, mode="r"), decryption_properties=properties,
                              coerce_int96_timestamp_unit="us")  # as Spark: microseconds, any year
    except Exception as exc:  # noqa: BLE001 - KMS callbacks raise arbitrary client errors
        raise _kms_failure(exc, path) from None


def iter_batches(path: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches`` with decryption failures of column pages named (authentication failures: tampering)."""
    try:
        yield from batches
    except PpmlError as exc:
        raise with_source(exc, path) from None
    except (OSError, pa.ArrowException) as exc:
        raise IntegrityError(
            f"{path}: Parquet Modular Encryption data did not decrypt or authenticate ({type(exc).__name__})"
        ) from None


def new_writer(
    sink: Any, schema: pa.Schema, options: Mapping[str, str], mode: str, footer_key: str = "", **writer_options: Any
) -> Any:
    """A ``pq.ParquetWriter`` encrypting every column and the footer under ``footer_key`` (fresh data keys);
    ``writer_options`` go to the writer (e.g. Spark's decimal layout, ``sparkrules.parquetwrite``)."""
    factory, config = _factory(options)
    encryption = pe.EncryptionConfiguration(
        footer_key=footer_key or pme_client.DEFAULT_MASTER_KEY,
        encryption_algorithm=pme_client.pme_algorithm(mode),
        uniform_encryption=True,
    )
    try:
        properties = factory.file_encryption_properties(config, encryption)
    except PpmlError:
        raise
    except Exception as exc:  # noqa: BLE001 - KMS client errors: the kind only
        raise WrongKeyError(f"Parquet Modular Encryption keys could not be wrapped ({type(exc).__name__})") from None
    return pq.ParquetWriter(sink, schema, encryption_properties=properties, **writer_options)


__all__ = ["iter_batches", "new_writer", "open_file"]
