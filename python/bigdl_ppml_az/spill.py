"""Warn when Spark would write decrypted rows to local disk in plaintext (shuffle and spill files).

Spark encrypts shuffle and spill files only with ``spark.io.encryption.enabled=true``; otherwise every row a
``ppml-enc`` read decrypts can land unencrypted in ``spark.local.dir`` on the workers. The Python data source
runs its planning in a separate Python worker that sees only a few SQL settings, not this one, so the check
runs where a driver-side ``SparkSession`` exists: :func:`bigdl_ppml_az.register` (and ``PPMLContext`` /
``ppml-az submit`` may call :func:`check_io_encryption` too). No pyspark import: ``spark`` is duck-typed.
"""

from __future__ import annotations

import threading
import warnings

IO_ENCRYPTION = "spark.io.encryption.enabled"
_warned: set[str] = set()
_lock = threading.Lock()


class PlaintextSpillWarning(UserWarning):
    """Decrypted rows may be written to local disk unencrypted (Spark I/O encryption is off)."""


def io_encryption_enabled(spark: object) -> bool:
    """Spark's ``spark.io.encryption.enabled`` as the driver's SparkContext has it (a static setting)."""
    conf = spark.sparkContext.getConf()  # type: ignore[attr-defined]
    return str(conf.get(IO_ENCRYPTION, "false")).strip().lower() == "true"


def check_io_encryption(spark: object) -> bool:
    """True when I/O encryption is on; otherwise warn, once per Spark application, and return False."""
    if io_encryption_enabled(spark):
        return True
    app = str(spark.sparkContext.applicationId)  # type: ignore[attr-defined]
    with _lock:
        if app in _warned:
            return False
        _warned.add(app)
    warnings.warn(
        f"{IO_ENCRYPTION} is false: rows that ppml-enc decrypts can be written unencrypted to the workers' local "
        f"disks when Spark shuffles, spills or caches them; set --conf {IO_ENCRYPTION}=true",
        PlaintextSpillWarning,
        stacklevel=3,
    )
    return False


__all__ = ["IO_ENCRYPTION", "PlaintextSpillWarning", "check_io_encryption", "io_encryption_enabled"]
