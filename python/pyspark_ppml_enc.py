"""Zero-registration hook: Spark imports top-level ``pyspark_*`` modules and registers their ``DefaultSource``,
so ``spark.read.format("ppml-enc")`` works right after ``pip install bigdl-ppml-az``."""

from bigdl_ppml_az.datasource.source import PpmlEncDataSource as DefaultSource

__all__ = ["DefaultSource"]
