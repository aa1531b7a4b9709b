"""A SparkSession for the TPC-H commands: local by default, workers on this very Python, quiet logs."""

from __future__ import annotations

import os
import sys
from typing import Any


def spark_session(
    master: str = "local[*]",
    shuffle_partitions: int = 8,
    driver_memory: str = "2g",
    app: str = "ppml-az-tpch",
    native: bool = False,
) -> Any:
    """Get or create the session; Python workers run ``sys.executable`` so they see this install.

    ``native`` adds the JVM shim (built and cached on first use) so Spark's own readers can decrypt."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if native:
        from ..jvm import configure

        builder = configure(builder)
    session = (
        builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.executorEnv.PYSPARK_PYTHON", os.environ["PYSPARK_PYTHON"])
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session
