"""Bench only: cProfile every ppml-enc ``read()`` task inside Spark's Python workers.

``bench/read_overhead.py --profile DIR`` puts this directory first on the ``PYTHONPATH`` it hands to Spark and
sets ``PPML_AZ_BENCH_PROFILE_DIR``; Python imports ``sitecustomize`` at start-up, so each worker wraps
``PpmlEncReader.read`` before any task arrives. The library itself has no profiling hook.
Each task leaves ``read__<mode>__<pid>-<unit>-<id>.prof`` and a ``.maxrss`` file (KiB) in DIR.
"""

from __future__ import annotations

import os

PROFILE_DIR_ENV = "PPML_AZ_BENCH_PROFILE_DIR"


def _install(directory: str) -> None:
    import cProfile
    import resource
    from collections.abc import Iterator
    from typing import Any

    from bigdl_ppml_az.datasource.reader import PpmlEncReader

    original = PpmlEncReader.read

    def profiled_read(self: PpmlEncReader, partition: Any) -> Iterator[Any]:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            yield from original(self, partition)
        finally:
            profiler.disable()
            info = getattr(partition, "info", None)
            if info is not None:  # an empty partition Spark substituted has nothing to report
                os.makedirs(directory, exist_ok=True)
                mode = info.mode.replace("/", "_")
                name = f"read__{mode}__{os.getpid()}-{partition.first_unit}-{id(partition)}.prof"
                profiler.dump_stats(os.path.join(directory, name))
                with open(os.path.join(directory, name + ".maxrss"), "w", encoding="ascii") as out:
                    out.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))

    PpmlEncReader.read = profiled_read  # type: ignore[method-assign]


if os.environ.get(PROFILE_DIR_ENV):
    _install(os.environ[PROFILE_DIR_ENV])
