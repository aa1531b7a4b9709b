"""bigdl-ppml-az: keep data encrypted at rest and still run ordinary Spark jobs over it."""

from __future__ import annotations

__version__ = "0.1.0"


def register(spark: object) -> None:
    """Register the ``ppml-enc`` data source with ``spark`` explicitly.

    Not needed after ``pip install`` (Spark finds ``pyspark_ppml_enc`` by itself); use it when the package
    reaches the cluster through ``--py-files`` (see ``ppml-az bundle``). pyspark is imported only here. Also
    warns (:class:`~.spill.PlaintextSpillWarning`, once per application) when ``spark.io.encryption.enabled``
    is off, since decrypted rows could then be shuffled or spilled to local disk in plaintext.
    """
    from .datasource import PpmlEncDataSource
    from .spill import check_io_encryption

    spark.dataSource.register(PpmlEncDataSource)  # type: ignore[attr-defined]
    check_io_encryption(spark)  # warns once per application when shuffle/spill files would be plaintext
