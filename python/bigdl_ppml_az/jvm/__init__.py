"""The JVM path: Spark's own readers on encrypted data, through a Hadoop codec and a Parquet KmsClient.

Python data sources cannot prune columns and pay a JVM<->Python hop; this path decrypts inside the executors'
JVM instead. Usage::

    from bigdl_ppml_az import jvm
    spark = jvm.configure(SparkSession.builder).getOrCreate()
    jvm.prepare_read(spark, "/data/people", {"kms": "local", "primaryKeyPath": "primary.key"})
    spark.read.csv("/data/people", header=True)           # *.ppmlgcm, *.cbc, *.nativecbc decrypt natively

The jar is compiled on first use from the Scala sources shipped in this package (pyspark's own Scala compiler,
no network) and cached under the user's cache directory, keyed by source hash and Spark version.
"""

from __future__ import annotations

from typing import Any

from .build import cache_dir, compile_jar, jar_path, source_hash
from .keys import (
    CBC_EXTENSION,
    EXTENSIONS,
    GCM_CODEC,
    GCM_EXTENSION,
    NATIVE_EXTENSION,
    claim_extension,
    prepare_read,
    prepare_write,
    register,
)

CODECS = (
    "bigdlppmlaz.PpmlGcmCodec",
    "bigdlppmlaz.BigdlCbcCodec",
    "bigdlppmlaz.BigdlNativeCbcCodec",
    "bigdlppmlaz.PpmlAnyCodec",
)
KMS_CLIENT = "bigdlppmlaz.PpmlKmsClient"


def spark_settings(jar: str | None = None) -> dict[str, str]:
    """The Spark settings that load the shim: the jar and the codecs (picked by file extension)."""
    return {
        "spark.jars": jar or str(jar_path()),
        "spark.hadoop.io.compression.codecs": ",".join(CODECS),
    }


def configure(builder: Any, jar: str | None = None) -> Any:
    """Add the shim to a ``SparkSession.builder`` (before ``getOrCreate``; jars cannot be added later).

    An existing ``spark.jars`` setting on the builder is kept.
    """
    settings = spark_settings(jar)
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
