"""TPC-H data: generate it with ``tpchgen-cli`` (same rows as the official dbgen) and encrypt it per table.

Generated data is laid out one directory per table (``<out>/lineitem/lineitem.1.tbl`` ...), the layout
``ppml-az tpch encrypt`` writes too, so plain and encrypted copies are read by the same code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, OutputExistsError
from ..formats import PPML_GCM
from ..storage import filesystem_for
from .schema import TABLE_NAMES
from .tables import FORMATS, table_location


def tpchgen_executable() -> str:
    """``tpchgen-cli`` from PATH or next to this Python (a venv's bin/ need not be on PATH)."""
    beside = os.path.join(os.path.dirname(sys.executable), "tpchgen-cli")
    found = shutil.which("tpchgen-cli") or (beside if os.access(beside, os.X_OK) else None)
    if not found:
        raise ConfigError("tpchgen-cli not found; install it with `pip install bigdl-ppml-az[tpch]`")
    return found


def generate(sf: float, out: str, fmt: str = "tbl", parts: int = 1, overwrite: bool = False) -> list[str]:
    """Generate all eight tables at scale factor ``sf`` into ``out/<table>/``; return the table directories."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown TPC-H format {fmt!r}; use one of {', '.join(FORMATS)}")
    if sf <= 0:
        raise ConfigError(f"scale factor must be positive, not {sf}")
    existing = [t for t in TABLE_NAMES if os.path.exists(os.path.join(out, t))]
    if existing and not overwrite:
        raise OutputExistsError(f"{out}: already holds TPC-H tables ({', '.join(existing)}); pass --overwrite")
    os.makedirs(out, exist_ok=True)
    command = [tpchgen_executable(), fmt, "-s", f"{sf:g}", "-o", out, "--parts", str(parts), "--no-progress", "-q"]
    if overwrite:
        command.append("--overwrite")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"tpchgen-cli failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return [os.path.join(out, t) for t in TABLE_NAMES]


def encrypt_tables(
    source: str,
    output: str,
    kms: Any,
    fmt: str = "tbl",
    crypto_mode: str = PPML_GCM,
    force: bool = False,
    progress: Any = None,
    options: Mapping[str, str] | None = None,
    data_key_file: str | None = None,
) -> dict[str, Any]:
    """Encrypt each table under ``source`` into ``output/<table>/`` (BigDL layout with ``.meta`` for common).

    ``kms`` is a KeyManagementService; ``data_key_file`` (a BigDL data key file) reuses that data key for
    every table, as BigDL's encrypt tool did. Returns the per-table results of :func:`filecrypt.encrypt_path`.
    """
    from ..filecrypt import encrypt_path

    fs = filesystem_for(source, options)
    results: dict[str, Any] = {}
    for table in TABLE_NAMES:
        location = table_location(source, table, fmt, options)
        target = fs.join(output, table)
        if not fs.is_dir(location):  # tpchgen's single-file layout: <table>.<fmt> goes into <table>/
            target = fs.join(target, location.rstrip("/").rsplit("/", 1)[-1])
        results[table] = encrypt_path(
            location,
            target,
            kms,
            crypto_mode=crypto_mode,
            force=force,
            progress=progress,
            options=options,
            data_key_file=data_key_file,
        )
    return results
