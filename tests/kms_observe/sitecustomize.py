"""Test-only: record every KMS unwrap of this process in a file, for counting across Spark worker processes.

Put this directory on PYTHONPATH and set PPML_AZ_TEST_UNWRAP_LOG=<file>: Python runs ``sitecustomize`` at
start-up, so PySpark workers (and their forks) attach a handler to the documented ``bigdl_ppml_az.kms`` logger.
Each line is "<pid> <key id>" (the logger never carries key bytes). Nothing of this is in the library.
"""

import logging
import os

_path = os.environ.get("PPML_AZ_TEST_UNWRAP_LOG")
if _path:
    _handler = logging.FileHandler(_path, encoding="utf-8")
    _handler.setFormatter(logging.Formatter("%(process)d %(key_id)s"))
    _handler.addFilter(lambda record: hasattr(record, "key_id"))
    _logger = logging.getLogger("bigdl_ppml_az.kms")
    _logger.setLevel(logging.DEBUG)
    _logger.addHandler(_handler)
