"""bigdl-ppml-az: keep data encrypted at rest and still run ordinary Spark jobs over it."""

from __future__ import annotations

__version__ = "0.1.0"


def register(spark: object) -> None:
    """Register the ``ppml-enc`` data source with ``spark`` explicitly.

    Not needed after ``pip install`` (Spark finds ``pyspark_ppml_enc`` by itself); use it when the package
    reaches the cluster through ``--py-files`` (see ``ppml-az bundle``). pyspark is imported only here.
    """
    from .datasource import PpmlEncDataSource

    spark.dataSource.register(PpmlEncDataSource)  # type: ignore[attr-defined]
