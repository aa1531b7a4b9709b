"""The independent reference engine: DuckDB running its own TPC-H SQL over the very same data.

DuckDB's ``tpch`` extension (shipped in the ``duckdb-extension-tpch`` wheel, loaded as an unsigned local
extension) supplies ``tpch_queries()`` (the 22 spec queries with the validation parameters) and
``tpch_answers()`` (stored answers for data made by DuckDB's own ``dbgen``). The tables are parsed by pyarrow
from files we read ourselves, decrypting in memory through :mod:`bigdl_ppml_az.formats` when they are
encrypted, so the oracle never needs a plaintext copy on disk and never shares Spark's read path.
"""

from __future__ import annotations

import csv
import glob
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, UnknownFormatError
from ..formats import encrypted, normalize_mode
from ..storage import expand_paths, filesystem_for
from .schema import COLUMNS, TABLE_NAMES, arrow_schema
from .tables import table_location


@dataclass(frozen=True)
class ResultSet:
    """Column names and rows of one query result (typed values, or text when read from a file)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    @classmethod
    def from_dataframe(cls, df: Any) -> ResultSet:
        return cls.from_rows(df.columns, df.collect())

    @classmethod
    def from_rows(cls, columns: Any, rows: Any) -> ResultSet:
        return cls(tuple(columns), tuple(tuple(row) for row in rows))

    def to_csv(self, sep: str = ",") -> bytes:
        """CSV with a header; NULL is an empty field, decimals and dates in their plain text form."""
        out = io.StringIO()
        writer = csv.writer(out, delimiter=sep, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if v is None else v.isoformat() if hasattr(v, "isoformat") else v for v in row])
        return out.getvalue().encode("utf-8")

    @classmethod
    def from_csv(cls, data: bytes, sep: str = ",") -> ResultSet:
        """Parse CSV text (all values stay strings; empty fields become None)."""
        text = data.decode("utf-8")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        reader = csv.reader(lines, delimiter=sep)
        header = next(reader, None)
        if header is None:
            raise ConfigError("result file is empty (no CSV header)")
        # A blank line is a row: with one column it is a NULL (e.g. Q17's average over no rows).
        rows = [tuple(v if v != "" else None for v in (row or [""])) for row in reader]
        return cls(tuple(header), tuple(rows))


def extension_path() -> str:
    """The tpch extension file inside the installed ``duckdb-extension-tpch`` wheel (same version as duckdb)."""
    try:
        import duckdb
        import duckdb_extension_tpch
    except ImportError as exc:
        raise ConfigError(f"the reference engine needs `pip install bigdl-ppml-az[tpch]` ({exc})") from None
    base = os.path.dirname(duckdb_extension_tpch.__file__)
    wanted = os.path.join(base, "extensions", f"v{duckdb.__version__}", "tpch.duckdb_extension")
    found = (
        [wanted] if os.path.exists(wanted) else glob.glob(os.path.join(base, "extensions", "*", "*.duckdb_extension"))
    )
    if not found:
        raise ConfigError(f"{base}: no tpch.duckdb_extension; reinstall duckdb-extension-tpch=={duckdb.__version__}")
    return found[0]


def connect() -> Any:
    """An in-memory DuckDB connection with the tpch extension loaded."""
    import duckdb

    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute("LOAD ?".replace("?", "'" + extension_path().replace("'", "''") + "'"))
    return con


def tpch_queries(con: Any) -> dict[int, str]:
    return {int(n): str(sql) for n, sql in con.execute("SELECT query_nr, query FROM tpch_queries()").fetchall()}


def stored_answers(con: Any, sf: float) -> dict[int, ResultSet]:
    """DuckDB's stored answers for its own ``dbgen`` data at ``sf`` (0.01, 0.1 or 1): pipe-separated text."""
    rows = con.execute(
        "SELECT query_nr, answer FROM tpch_answers() WHERE abs(scale_factor - ?) < 1e-9", [float(sf)]
    ).fetchall()
    if not rows:
        raise ConfigError(f"DuckDB stores TPC-H answers for SF 0.01, 0.1 and 1 only, not {sf}")
    return {int(n): ResultSet.from_csv(str(text).encode("utf-8"), sep="|") for n, text in rows}


# ---- reading tables (plain or decrypted in memory) into Arrow ----------------------------------------------


def _kms_key(info: Any, kms: Mapping[str, str] | None, name: str) -> Any:
    """The unwrapped data key of one object, through the KMS named by ``kms`` (one unwrap per process+key)."""
    from ..errors import PpmlError, with_source
    from ..formats import DataKey
    from ..kms import KmsSettings, build_kms, unwrap_cached
    from ..kms.resolve import fs_sidecar_reader, resolve_wrapped_key

    if not kms:
        raise ConfigError(f"{name} is encrypted ({info.mode}); pass KMS options (e.g. --kms local --primary-key ...)")
    settings = KmsSettings.from_options(dict(kms))
    wrapped = resolve_wrapped_key(
        info,
        name,
        kms_type=settings.kms_type,
        data_key_path=settings.get("dataKeyPath"),
        read_sidecar=fs_sidecar_reader(filesystem_for(name, kms)),
    )
    try:
        return DataKey(unwrap_cached(build_kms(settings), wrapped))
    except PpmlError as exc:
        raise with_source(exc, name) from None


def read_object(path: str, crypto_mode: str = "auto", kms: Mapping[str, str] | None = None) -> bytes:
    """The plaintext bytes of one file: decrypted in memory when encrypted, as-is when plaintext."""
    from ..formats import iter_plaintext, open_reader, probe

    mode = normalize_mode(crypto_mode)
    fs = filesystem_for(path, kms)
    if not encrypted(mode):
        return fs.read_bytes(path)
    size = fs.size(path)
    with fs.open_read(path) as source:
        try:
            info = probe(source, size, path, mode)
        except UnknownFormatError:
            if mode != "auto":
                raise
            return fs.read_bytes(path)
        key = _kms_key(info, kms, path)
        return b"".join(iter_plaintext(open_reader(info, source, key, name=path), path))


def _has_trailer(sample: bytes, columns: int) -> bool:
    first = sample.split(b"\n", 1)[0].rstrip(b"\r")
    return first.count(b"|") == columns


def parse_table(table: str, data: bytes, fmt: str) -> Any:
    """Parse one file's plaintext into an Arrow table with the spec's schema."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    if fmt == "parquet":
        return pq.read_table(pa.BufferReader(data)).select(schema.names).cast(schema)
    names = list(schema.names)
    if fmt == "tbl":
        if _has_trailer(data, len(names)):
            names.append("_tbl_trailer")
        parse = pacsv.ParseOptions(delimiter="|", quote_char=False)
        read = pacsv.ReadOptions(column_names=names, block_size=16 << 20)
    else:
        parse = pacsv.ParseOptions(delimiter=",")
        read = pacsv.ReadOptions(block_size=16 << 20)
    convert = pacsv.ConvertOptions(column_types=schema, include_columns=list(schema.names))
    return pacsv.read_csv(pa.BufferReader(data), read, parse, convert).cast(schema)


def load_tables(
    path: str, fmt: str = "tbl", crypto_mode: str = "auto", kms: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """All eight tables under ``path`` as Arrow tables (each file decrypted in memory if encrypted)."""
    import pyarrow as pa

    out: dict[str, Any] = {}
    for table in TABLE_NAMES:
        location = table_location(path, table, fmt, kms)
        files = [status.path for status in expand_paths([location], kms)]
        if not files:
            raise ConfigError(f"{location}: no data files for TPC-H table {table}")
        parts = [parse_table(table, read_object(f, crypto_mode, kms), fmt) for f in files]
        out[table] = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    return out


def register(con: Any, arrow_tables: Mapping[str, Any]) -> None:
    """Expose the Arrow tables to DuckDB under the TPC-H names."""
    for table in TABLE_NAMES:
        con.register(table, arrow_tables[table])


def answers(con: Any, numbers: list[int] | None = None) -> dict[int, ResultSet]:
    """Run DuckDB's TPC-H SQL for ``numbers`` over the registered tables."""
    sql = tpch_queries(con)
    result: dict[int, ResultSet] = {}
    for number in numbers or sorted(sql):
        cursor = con.execute(sql[number])
        columns = [d[0] for d in cursor.description]
        result[number] = ResultSet.from_rows(columns, cursor.fetchall())
    return result


def reference_answers(
    path: str,
    fmt: str = "tbl",
    crypto_mode: str = "auto",
    kms: Mapping[str, str] | None = None,
    numbers: list[int] | None = None,
) -> dict[int, ResultSet]:
    """DuckDB's answers to the TPC-H queries over the data under ``path`` (decrypted in memory if needed)."""
    con = connect()
    try:
        register(con, load_tables(path, fmt, crypto_mode, kms))
        return answers(con, numbers)
    finally:
        con.close()


def column_names(table: str) -> list[str]:
    return [name for name, _ in COLUMNS[table]]
