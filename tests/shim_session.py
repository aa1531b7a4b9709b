"""One child Spark session with the shim jar serving test_shim_codec, _guard, _pme and _tpch.

A session's jars are fixed when it starts and the shared ``spark`` fixture has none, so these tests run their
Spark jobs in a child process; starting one costs 20-30 s of JVM and Spark start-up, which the three modules
used to pay once each. Now the first of them to need it builds every module's files and jobs, and one child
(this file run as a script) runs them: each module's jobs in a session of their own (``newSession()``: the same
JVM and SparkContext, the module's own SQL settings), with the Hadoop configuration restored to what the session
started with and parquet-mr's KMS caches emptied before each module's jobs, in the order guard (its jobs run
before any ``prepare_read``), codec, PME, TPC-H. Each module's fixture reads its part of the results; the
child's combined output is searched for key material by codec and PME alike.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from child_spark import finish_child, run_child

HERE = Path(__file__).resolve()


@dataclass
class Section:
    """One module's part of the shared run: its jobs and the settings its old child session had."""

    name: str
    runner: str  # "codec" or "guard": whose _run_job interprets the jobs
    jobs: list[dict[str, Any]]
    conf: dict[str, str] = field(default_factory=dict)  # SparkContext-wide settings (merged; must not clash)
    sql_conf: dict[str, str] = field(default_factory=dict)  # this section's session only
    unset: list[str] = field(default_factory=list)  # context-wide SQL settings this section's session drops
    before: Callable[[], None] | None = None  # called just before the child starts
    after: Callable[[dict[str, Any]], None] | None = None  # called with the section's results after it ends
    context: Any = None  # what the module's fixture needs later (paths, keys, expected values)


@dataclass
class ShimSession:
    results: dict[str, dict[str, Any]]  # section name -> job id -> result
    output: str  # the child's stdout and stderr
    sections: dict[str, Section]


# ---- child side ----------------------------------------------------------------------------------------------


def _child(plan_path: str) -> None:
    plan = json.loads(Path(plan_path).read_text())
    from pyspark.sql import SparkSession

    import test_shim_codec
    import test_shim_guard
    from bigdl_ppml_az import jvm

    runners = {"codec": test_shim_codec._run_job, "guard": test_shim_guard._run_job}
    builder = SparkSession.builder.master("local[2]").appName("shim-session-test")
    for key, value in plan["conf"].items():
        builder = builder.config(key, value)
    spark = jvm.configure(builder, plan["jar"]).getOrCreate()
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    start = _entries(hadoop)
    results: dict[str, Any] = {}
    for section in plan["sections"]:
        _restore(spark, hadoop, start)  # the Hadoop settings and Parquet KMS caches a fresh session would have
        session = spark.newSession()  # the section's own SQL settings, as its own session had
        for key in section["unset"]:
            session.conf.unset(key)
        for key, value in section["sql_conf"].items():
            session.conf.set(key, value)
        out: dict[str, Any] = {}
        for job in section["jobs"]:
            try:
                out[job["id"]] = {"ok": True, **runners[section["runner"]](session, job)}
            except Exception as exc:  # the tests inspect the message
                out[job["id"]] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        results[section["name"]] = out
    finish_child(spark, plan, results)


def _entries(conf: Any) -> dict[str, str]:
    out, it = {}, conf.iterator()
    while it.hasNext():
        entry = it.next()
        out[str(entry.getKey())] = str(entry.getValue())
    return out


def _restore(spark: Any, conf: Any, start: dict[str, str]) -> None:
    """Give the next section the Hadoop configuration the session started with (keys registered, claimed
    extensions and PME settings of the earlier sections gone) and empty parquet-mr's JVM-wide KMS client and key
    caches (a KmsClient is cached per access token and instance id, with the key path it was built with)."""
    now = _entries(conf)
    for key in now.keys() - start.keys():
        conf.unset(key)
    for key, value in start.items():
        if now.get(key) != value:
            conf.set(key, value)
    spark._jvm.org.apache.parquet.crypto.keytools.KeyToolkit.removeCacheEntriesForAllTokens()


# ---- parent side ---------------------------------------------------------------------------------------------

_KEY = pytest.StashKey[Any]()


def shim_session(request: pytest.FixtureRequest, jar: str, factory: pytest.TempPathFactory) -> ShimSession:
    """The shared run, made by the first caller in this pytest session (a failure is re-raised to every caller).

    Memoized in the config's stash, not by fixture scope: a fixture imported into several modules is a separate
    fixture in each of them.
    """
    stash = request.config.stash
    if _KEY not in stash:
        try:
            stash[_KEY] = _run(request.config, jar, factory)
        except BaseException as exc:  # noqa: BLE001 - kept and re-raised below
            stash[_KEY] = exc
    found = stash[_KEY]
    if isinstance(found, BaseException):
        raise AssertionError(f"the shared shim session failed: {found}") from found
    assert isinstance(found, ShimSession)
    return found


def _run(config: pytest.Config, jar: str, factory: pytest.TempPathFactory) -> ShimSession:
    import test_shim_codec
    import test_shim_guard
    import test_shim_pme
    import test_shim_tpch

    base = factory.mktemp("shim-session")
    for name in ("codec", "guard", "pme", "tpch"):
        (base / name).mkdir()
    planned = [
        test_shim_guard.guard_section(base / "guard"),
        test_shim_codec.codec_section(base / "codec"),
        test_shim_pme.pme_section(base / "pme", config),
        test_shim_tpch.tpch_section(base / "tpch", config),
    ]
    sections = [section for section in planned if section is not None]
    conf = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4", "spark.sql.files.openCostInBytes": "1000"}
    for section in sections:
        clash = {k for k in section.conf if k in conf and conf[k] != section.conf[k] and k != "spark.ui.enabled"}
        assert not clash, f"section {section.name} needs other values of {sorted(clash)}"
        conf.update(section.conf)
    environment = base / "codec" / "environment.json"
    plan = {
        "jar": jar,
        "conf": conf,
        "sections": [
            {"name": s.name, "runner": s.runner, "jobs": s.jobs, "sql_conf": s.sql_conf, "unset": s.unset}
            for s in sections
        ],
        "results": str(base / "results.json"),
        "environment_json": str(environment),
    }
    plan_path = base / "plan.json"
    plan_path.write_text(json.dumps(plan))
    for section in sections:
        if section.before is not None:
            section.before()
    output = run_child(HERE, plan_path, timeout=900)
    results = json.loads((base / "results.json").read_text())
    for section in sections:
        if section.after is not None:
            section.after(results[section.name])
    return ShimSession(results, output, {s.name: s for s in sections})


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    _child(sys.argv[1])
