"""TPC-H through the native path: Spark's own CSV reader over codec-decrypted files, or its Parquet reader
with Parquet Modular Encryption. Same tables and types as :func:`bigdl_ppml_az.tpch.tables`, which calls
:func:`native_tables` for ``native=True``.

This module is the only place where ``tpch`` uses ``jvm``; ``jvm`` never imports ``tpch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..formats import AES_GCM_V1, PLAIN
from ..jvm import pme
from ..jvm.keys import EXTENSIONS, claim_extension, prepare_read
from ..storage import filesystem_for
from .schema import TABLE_NAMES
from .tables import Tables, read_table, table_location


def native_tables(
    spark: Any, path: str, fmt: str, kms: Mapping[str, str], options: Mapping[str, str] | None = None
) -> Any:
    """The eight tables under ``path`` read natively. tbl/csv: ppml-gcm or BigDL common files, named with our
    extensions or with their plaintext names (then ``.tbl``/``.csv`` is claimed for the codec in this session).
    parquet: PME-encrypted Parquet (as :func:`write_pme_tables` or pyarrow with our KmsClient writes it).
    """
    extra = dict(options or {})
    if fmt == "parquet":
        pme.configure_session(spark, kms)
    else:
        locations = [table_location(path, table, fmt, {**extra, **kms}) for table in TABLE_NAMES]
        plain_ext = f".{fmt}"
        prepared = prepare_read(spark, locations, kms, extensions=(plain_ext,), content_format="csv")
        if any(not name.endswith(EXTENSIONS) for name in prepared):
            claim_extension(spark, plain_ext)
    # Spark's readers decrypt (codec or PME) here: the plaintext read must not refuse the encrypted files
    read = {t: read_table(spark, path, t, fmt, PLAIN, None, extra, decrypted_by_jvm=True) for t in TABLE_NAMES}
    return Tables(**read)


def write_pme_tables(
    spark: Any,
    source: str,
    output: str,
    kms: Mapping[str, str],
    fmt: str = "tbl",
    mode: str = AES_GCM_V1,
    footer_key: str = pme.DEFAULT_MASTER_KEY,
) -> None:
    """Write the plaintext tables under ``source`` as PME-encrypted Parquet under ``output/<table>/``."""
    pme.configure_session(spark, kms)
    fs = filesystem_for(output)
    for table in TABLE_NAMES:
        df = read_table(spark, source, table, fmt, PLAIN)
        df.write.options(**pme.write_options(mode, footer_key)).mode("overwrite").parquet(fs.join(output, table))
