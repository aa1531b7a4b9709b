"""Count KMS unwraps through the ``bigdl_ppml_az.kms`` logger (the library's documented observation point)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OBSERVE_DIR = Path(__file__).parent / "kms_observe"  # holds the test-only sitecustomize for worker processes


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.key_ids: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "key_id"):
            self.key_ids.append(str(record.key_id))


@contextmanager
def count_unwraps() -> Iterator[list[str]]:
    """The key ids of the KMS unwraps this process makes inside the block (one entry per unwrap)."""
    logger = logging.getLogger("bigdl_ppml_az.kms")
    handler = _Records()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler.key_ids
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def worker_log_env(log_file: Path) -> dict[str, str]:
    """Environment that makes every (Spark worker) Python process append "<pid> <key id>" per unwrap."""
    path = os.pathsep.join(p for p in (str(OBSERVE_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "PPML_AZ_TEST_UNWRAP_LOG": str(log_file)}
