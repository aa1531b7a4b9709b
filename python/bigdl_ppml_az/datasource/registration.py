"""Register ``ppml-enc`` with a session so that its Python workers can import this package.

PySpark starts the Python workers of a registered data source with the interpreter the ``SparkContext`` recorded
(``sc.pythonExec``: ``$PYSPARK_PYTHON``, else ``python3`` from ``PATH``). Run from a virtual environment that is
not activated (``.venv/bin/python job.py``), that ``python3`` is the system's, which has no ``bigdl_ppml_az``:
every read then dies in a worker with a 40-line ``ModuleNotFoundError``. When nobody chose a worker interpreter
and the workers run on this machine (``local`` masters), the data source is registered with this interpreter,
the one that imported us. Only the data source's function carries it: the user's own UDFs keep Spark's choice.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _worker_python_unchosen(sc: Any) -> bool:
    if os.environ.get("PYSPARK_PYTHON") or sc.getConf().get("spark.pyspark.python", ""):
        return False
    master = str(sc.master or "")
    return master.startswith(("local[", "local-cluster[")) or master == "local"


def register_source(spark: Any, source: type) -> None:
    """``spark.dataSource.register(source)``, with this interpreter for its workers when none was chosen."""
    sc = spark.sparkContext
    if not _worker_python_unchosen(sc) or not sys.executable or sc.pythonExec == sys.executable:
        spark.dataSource.register(source)
        return
    chosen = sc.pythonExec
    sc.pythonExec = sys.executable
    try:
        spark.dataSource.register(source)
    finally:
        sc.pythonExec = chosen
