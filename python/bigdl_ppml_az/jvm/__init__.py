"""The JVM path: Spark's own readers on encrypted data, through a Hadoop codec and a Parquet KmsClient.

Python data sources cannot prune columns and pay a JVM<->Python hop; this path decrypts inside the executors'
JVM instead. Usage::

    from bigdl_ppml_az import jvm
    spark = jvm.configure(SparkSession.builder).getOrCreate()
    jvm.prepare_read(spark, "/data/people", {"kms": "local", "primaryKeyPath": "primary.key"})
    spark.read.csv("/data/people", header=True)           # ppml-gcm/BigDL files decrypt, whatever their name

The jar is compiled on first use from the Scala sources shipped in this package (pyspark's own Scala compiler,
no network) and cached under the user's cache directory, keyed by source hash and Spark version.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError
from .build import cache_dir, compile_jar, jar_path, source_hash
from .keys import (
    CBC_EXTENSION,
    DETECT_CODECS,
    DETECT_PREFIX,
    DETECT_SLOTS,
    EXTENSIONS,
    GCM_CODEC,
    GCM_EXTENSION,
    GUARDED_EXTENSIONS,
    NATIVE_EXTENSION,
    claim_extension,
    prepare_read,
    prepare_write,
    register,
)

# Order matters: for one extension Hadoop keeps the codec listed last, so an explicit claim_extension()
# (PpmlAnyCodec, plaintext refused) wins over a header-detecting slot (plaintext passes through).
CODECS = (
    "bigdlppmlaz.PpmlGcmCodec",
    "bigdlppmlaz.BigdlCbcCodec",
    "bigdlppmlaz.BigdlNativeCbcCodec",
    *DETECT_CODECS,
    "bigdlppmlaz.PpmlAnyCodec",
)
KMS_CLIENT = "bigdlppmlaz.PpmlKmsClient"


def spark_settings(jar: str | None = None, guard: Iterable[str] = GUARDED_EXTENSIONS) -> dict[str, str]:
    """The Spark settings that load the shim: the jar, the codecs (picked by file extension) and a
    header-detecting codec on each extension in ``guard`` (the common text ones by default), so that a file in
    our format named ``people.csv`` fails to read without its key instead of coming back as rows of
    ciphertext, while plaintext ``.csv`` files read as before. prepare_read claims further extensions.
    """
    extensions = [e if e.startswith(".") else "." + e for e in guard]
    if len(extensions) > DETECT_SLOTS:
        raise ConfigError(f"guard: at most {DETECT_SLOTS} extensions, got {len(extensions)}")
    settings = {
        "spark.jars": jar or str(jar_path()),
        "spark.hadoop.io.compression.codecs": ",".join(CODECS),
    }
    for slot, extension in enumerate(extensions):
        settings[f"spark.hadoop.{DETECT_PREFIX}{slot}"] = extension
    return settings


def configure(builder: Any, jar: str | None = None, guard: Iterable[str] = GUARDED_EXTENSIONS) -> Any:
    """Add the shim to a ``SparkSession.builder`` (before ``getOrCreate``; jars cannot be added later).

    An existing ``spark.jars`` setting on the builder is kept. ``guard``: see :func:`spark_settings`.
    """
    settings = spark_settings(jar, guard)
    existing = getattr(builder, "_options", {}).get("spark.jars")
    if existing:
        settings["spark.jars"] = f"{existing},{settings['spark.jars']}"
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder


__all__ = [
    "CBC_EXTENSION",
    "CODECS",
    "EXTENSIONS",
    "GCM_CODEC",
    "GCM_EXTENSION",
    "GUARDED_EXTENSIONS",
    "KMS_CLIENT",
    "NATIVE_EXTENSION",
    "cache_dir",
    "claim_extension",
    "compile_jar",
    "configure",
    "jar_path",
    "prepare_read",
    "prepare_write",
    "register",
    "source_hash",
    "spark_settings",
]
