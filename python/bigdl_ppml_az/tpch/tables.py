"""Read the eight TPC-H tables as DataFrames, plain (Spark's native readers) or encrypted (``ppml-enc``).

A table is found under the data directory as ``<table>/`` (a directory of part files, what ``ppml-az tpch gen``
and ``ppml-az tpch encrypt`` write) or as a single ``<table>.<ext>`` file (tpchgen-cli's default layout).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, cast

from ..errors import ConfigError
from ..formats import PLAIN, encrypted, normalize_mode
from ..storage import filesystem_for
from .schema import COLUMNS, TABLE_NAMES, TBL_TRAILER, spark_schema

FORMATS = ("tbl", "csv", "parquet")


@dataclass(frozen=True)
class Tables:
    """The eight TPC-H DataFrames; index by name (``t["lineitem"]``) or attribute (``t.lineitem``)."""

    part: Any
    supplier: Any
    partsupp: Any
    customer: Any
    orders: Any
    lineitem: Any
    nation: Any
    region: Any

    def __getitem__(self, name: str) -> Any:
        if name not in TABLE_NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(f.name for f in fields(self))


def table_location(path: str, table: str, fmt: str, options: Mapping[str, str] | None = None) -> str:
    """Where ``table`` lives under ``path``: ``<path>/<table>`` (directory) or ``<path>/<table>.<fmt>``."""
    fs = filesystem_for(path, options)
    for candidate in (fs.join(path, table), fs.join(path, f"{table}.{fmt}")):
        if fs.exists(candidate):
            return candidate
    raise ConfigError(
        f"{path}: no TPC-H table {table!r} (expected {table}/ or {table}.{fmt}); "
        "generate the data with `ppml-az tpch gen` or pass the right --format"
    )


def _reader_options(fmt: str) -> dict[str, str]:
    if fmt == "tbl":
        return {"sep": "|", "header": "false"}
    if fmt == "csv":
        return {"sep": ",", "header": "true"}  # TPC-H text has no quotes inside values
    return {}


def read_table(
    spark: Any,
    path: str,
    table: str,
    fmt: str = "tbl",
    crypto_mode: str | None = None,
    kms: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
    *,
    decrypted_by_jvm: bool = False,
) -> Any:
    """One TPC-H table with the spec's column names and types.

    ``crypto_mode`` ``plain_text`` uses Spark's own CSV/Parquet readers; any other mode (``auto``,
    ``ppml-gcm``, BigDL's ``aes/cbc/pkcs5padding``...) reads through the ``ppml-enc`` data source with the
    KMS options in ``kms`` (e.g. ``{"kms": "local", "primaryKeyPath": ...}``) and an explicit schema.
    Left out, it is ``auto`` when ``kms`` is given and ``plain_text`` otherwise (``ppml-az tpch run`` without
    ``--input-crypto-mode`` does the same). A ``plain_text`` read refuses, naming it, a file that is encrypted.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown TPC-H input format {fmt!r}; use one of {', '.join(FORMATS)}")
    mode = normalize_mode(crypto_mode if crypto_mode is not None else ("auto" if kms else PLAIN))
    extra = dict(options or {})
    location = table_location(path, table, fmt, {**extra, **dict(kms or {})})
    names = [name for name, _ in COLUMNS[table]]
    if not encrypted(mode):
        from ..datasource.planning import refuse_encrypted_files

        if not decrypted_by_jvm:  # (native reads: the JVM shim's codec or PME decrypts inside Spark's readers)
            refuse_encrypted_files([location], extra, mode)  # Spark's readers would return ciphertext as rows
        if fmt == "parquet":
            df = spark.read.options(**extra).parquet(location)
        else:
            schema = spark_schema(table, trailer=fmt == "tbl")
            df = spark.read.options(**_reader_options(fmt), **extra).schema(schema).csv(location)
    else:
        if not kms:
            raise ConfigError(f"{location}: crypto mode {mode} needs KMS options (e.g. kms=local, primaryKeyPath=...)")
        reader = spark.read.format("ppml-enc").option("format", "csv" if fmt == "tbl" else fmt)
        reader = reader.options(**_reader_options(fmt), **dict(kms), **extra).option("cryptoMode", mode)
        df = reader.schema(spark_schema(table, trailer=fmt == "tbl")).load(location)
    return _conform(df, table, names)


def _conform(df: Any, table: str, names: list[str]) -> Any:
    """Drop the .tbl trailer column and cast to the spec's types (Parquet writers differ: int32 keys...)."""
    schema = spark_schema(table)
    by_name = {f.name: f.dataType for f in df.schema.fields}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ConfigError(f"TPC-H table {table}: columns {', '.join(missing)} are missing from the input")
    if all(by_name[f.name] == f.dataType for f in schema.fields) and len(df.columns) == len(names):
        return df
    return df.select([df[f.name].cast(f.dataType).alias(f.name) for f in schema.fields if f.name != TBL_TRAILER])


def tables(
    spark: Any,
    path: str,
    fmt: str = "tbl",
    crypto_mode: str | None = None,
    kms: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
    native: bool = False,
) -> Tables:
    """The eight TPC-H tables under ``path`` (see :func:`read_table` for the arguments).

    ``native=True`` reads encrypted inputs with Spark's own readers through the JVM shim instead of ``ppml-enc``:
    codec-decrypted tbl/csv, Parquet Modular Encryption for parquet. The session must have been built with
    ``bigdl_ppml_az.jvm.configure(builder)``.
    """
    if native:
        if not kms:
            raise ConfigError("native=True reads encrypted TPC-H data and needs KMS options (kms=..., ...)")
        from .native import native_tables  # the JVM side is imported only for native reads

        return cast(Tables, native_tables(spark, path, fmt, kms, options))
    return Tables(**{name: read_table(spark, path, name, fmt, crypto_mode, kms, options) for name in TABLE_NAMES})
