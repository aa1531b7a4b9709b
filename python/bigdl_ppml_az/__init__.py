"""bigdl-ppml-az: keep data encrypted at rest and still run ordinary Spark jobs over it."""

from __future__ import annotations

__version__ = "0.1.0"


def register(spark: object) -> None:
    """Register the ``ppml-enc`` data source with ``spark`` explicitly.

    Not needed after ``pip install`` (Spark finds ``pyspark_ppml_enc`` by itself); use it when the package
    reaches the cluster through ``--py-files`` (see ``ppml-az bundle``), or to make ``ppml-enc`` take its key
    from the session's ``spark.bigdl.*`` settings (see :mod:`bigdl_ppml_az.bigdl_session`). pyspark is imported
    only here.
    """
    from .bigdl_session import register as register_with_bigdl_defaults

    register_with_bigdl_defaults(spark)
