"""bigdl-ppml-az: keep data encrypted at rest and still run ordinary Spark jobs over it."""

from __future__ import annotations

__version__ = "0.1.0"


def register(spark: object) -> None:
    """Register the ``ppml-enc`` data source with ``spark`` explicitly.

    Not needed after ``pip install`` (Spark finds ``pyspark_ppml_enc`` by itself); use it when the package
    reaches the cluster through ``--py-files`` (see ``ppml-az bundle``), or to make ``ppml-enc`` take its key
    from the session's ``spark.bigdl.*`` settings (see :mod:`bigdl_ppml_az.bigdl_session`). pyspark is imported
    only here. Also warns (:class:`~.spill.PlaintextSpillWarning`, once per application) when
    ``spark.io.encryption.enabled`` is off, since decrypted rows could then be shuffled or spilled to local disk
    in plaintext.
    """
    from .bigdl_session import register as register_with_bigdl_defaults
    from .spill import check_io_encryption

    register_with_bigdl_defaults(spark)
    check_io_encryption(spark)  # warns once per application when shuffle/spill files would be plaintext
