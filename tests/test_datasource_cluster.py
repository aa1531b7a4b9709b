"""Fresh Spark sessions in subprocesses: zero registration, local-cluster executors, KMS call counts, --py-files.

Each scenario runs a small script in its own Python process (a JVM and SparkContext per process), so the
zero-registration lookup and executor environments are those a user's fresh job would see.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.cli.bundle import build_bundle
from bigdl_ppml_az.formats import probe
from bigdl_ppml_az.kms import WrappedKey
from bigdl_ppml_az.kms.local import LocalKms
from plugin_support import toy_plugin  # noqa: F401 - session fixture (the shared cluster's second phase)
from test_datasource_support import encrypt, write_csv
from unwrap_log import worker_log_env

SCRIPT_HEAD = """
import json, os, sys
from pyspark.sql import SparkSession
master, key, enc, plain, out = sys.argv[1:6]
spark = (SparkSession.builder.master(master).appName("ppml-enc-subprocess")
         .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
         .config("spark.executor.memory", "512m")
         .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable).getOrCreate())
opts = {"kms": "local", "primaryKeyPath": key, "header": "true"}
result = {}
"""


class Script:
    """One scenario script in its own Python process, started at once; ``result()`` waits for it (once)."""

    def __init__(self, body: str, args: list[str], env: dict[str, str] | None = None) -> None:
        script = SCRIPT_HEAD + textwrap.dedent(body) + "\nprint('RESULT ' + json.dumps(result))\nspark.stop()\n"
        full_env = {**os.environ, "PYSPARK_PYTHON": sys.executable, **(env or {})}
        # files, not pipes: a process that is not read from yet must not block on a full pipe (closed in stop())
        self.out, self.err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *args], stdout=self.out, stderr=self.err, text=True, env=full_env
        )
        self.done: tuple[dict, str] | None = None
        self.stdout = self.stderr = ""

    def result(self, timeout: int = 600) -> tuple[dict, str]:
        if self.done is None:
            try:
                code = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.stop()
                raise AssertionError(f"no result in {timeout} s:\n{(self.stdout + self.stderr)[-4000:]}") from None
            self.stop()
            output = self.stdout + self.stderr
            assert code == 0, output[-4000:]
            line = next(x for x in self.stdout.splitlines() if x.startswith("RESULT "))
            self.done = json.loads(line[len("RESULT ") :]), output
        return self.done

    def stop(self) -> None:
        """End the process if it still runs, and keep what it printed."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.out.closed:
            self.out.seek(0)
            self.err.seek(0)
            self.stdout, self.stderr = self.out.read(), self.err.read()
            self.out.close()
            self.err.close()


def run_script(body: str, args: list[str], env: dict[str, str] | None = None, timeout: int = 400) -> tuple[dict, str]:
    return Script(body, args, env).result(timeout)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ds-cluster")
    key = root / "primary.key"
    kms = LocalKms.create(key)
    write_csv(root / "plain" / "a.csv", 3000)
    return {"root": root, "key": key, "plain": root / "plain", "enc": encrypt(kms, root / "plain", root / "enc")}


def key_forms(key: Path, encrypted: Path) -> list[str]:
    with encrypted.open("rb") as handle:
        ref = probe(handle, encrypted.stat().st_size, str(encrypted)).key_ref
    assert ref is not None
    material = LocalKms.load(key).unwrap(WrappedKey(ref.kms_type or "", ref.key_id or "", "", ref.wrapped_key))
    return [material.hex(), material.hex().upper(), base64.b64encode(material).decode(), repr(material)[2:-1]]


CLUSTER_BODY = """
df = spark.read.format("ppml-enc").options(**opts, maxPartitionBytes="4k").load(enc)
result["partitions"] = df.rdd.getNumPartitions()
theirs = spark.read.option("header", "true").csv(plain)
result["same"] = sorted(map(tuple, df.collect())) == sorted(map(tuple, theirs.collect()))
df.write.format("ppml-enc").options(**opts).mode("overwrite").save(out)
back = spark.read.format("ppml-enc").options(**opts).load(out)
result["write_same"] = sorted(map(tuple, back.collect())) == sorted(map(tuple, theirs.collect()))
result["executor_pids"] = sorted(set(spark.sparkContext.parallelize(range(8), 8)
                                     .map(lambda _: os.getpid()).collect()))
result["driver_pid"] = os.getpid()
"""

# One local-cluster[2,1,1024] application (a driver and two executor JVMs: 30-50 s to start) serves this module's
# cluster test and test_kms_plugin's: this module's body first, then, after a phase line in the shared unwrap log
# (every earlier unwrap line is on disk by then: the handler flushes each record and the jobs have finished),
# the plug-in body on its own files, key and output. Each test counts only its own phase's unwraps.
PHASE = "PHASE plugin"
SHARED_BODY = """
{ours}
ours, result = result, {{}}
with open(os.environ["PPML_AZ_TEST_UNWRAP_LOG"], "a") as log:
    log.write("{phase}\\n")
key, enc, plain, out = sys.argv[6:10]
{plugin}
result = {{"datasource": ours, "plugin": result}}
"""

_CLUSTER = pytest.StashKey[dict[str, Any]]()


def shared_cluster(config: pytest.Config, factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Start the shared local-cluster application once per pytest session (the first caller prepares both
    modules' inputs) and return its state; ``result(...)`` gives each test its phase's results and unwrap lines.
    It is stopped when the pytest session ends."""
    if _CLUSTER not in config.stash:
        from test_kms_plugin import CLUSTER_BODY as PLUGIN_BODY
        from test_kms_plugin import plugin_cluster_inputs

        root = factory.mktemp("shared-cluster")
        key = root / "primary.key"
        kms = LocalKms.create(key)
        write_csv(root / "plain" / "a.csv", 3000)
        enc = encrypt(kms, root / "plain", root / "enc")
        plugin = plugin_cluster_inputs(root / "plugin")
        args = ["local-cluster[2,1,1024]", str(key), str(enc), str(root / "plain"), str(root / "o"), *plugin["args"]]
        body = SHARED_BODY.format(ours=CLUSTER_BODY, phase=PHASE, plugin=textwrap.dedent(PLUGIN_BODY))
        script = Script(body, args, env=worker_log_env(root / "unwraps.log"))
        config.add_cleanup(script.stop)
        config.stash[_CLUSTER] = {"root": root, "key": key, "enc": enc, "plugin": plugin, "script": script}
    return config.stash[_CLUSTER]


def cluster_phase(state: dict[str, Any], name: str) -> tuple[dict[str, Any], list[list[str]]]:
    """One phase's results and its "<pid> <key id>" unwrap lines."""
    result, _ = state["script"].result()
    lines = (state["root"] / "unwraps.log").read_text().splitlines()
    cut = lines.index(PHASE)
    phase_lines = lines[:cut] if name == "datasource" else lines[cut + 1 :]
    return result[name], [line.split() for line in phase_lines]


@pytest.mark.cluster
def test_local_cluster_zero_registration_read_write_and_kms_calls(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, toy_plugin: str  # noqa: F811
) -> None:
    """Executors are separate JVMs with their own Python workers; no register() call anywhere. (The application
    is shared with test_kms_plugin's cluster test, whose phase runs after this one: hence the plug-in install.)"""
    result, calls = cluster_phase(shared_cluster(request.config, tmp_path_factory), "datasource")
    assert result["partitions"] >= 40
    assert result["same"] and result["write_same"]
    pids = {pid for pid, _ in calls}
    assert str(result["driver_pid"]) not in pids  # the driver process itself never unwraps
    # At most one unwrap per (worker process, data key). The log names the primary key, and the job uses two
    # data keys under it (the input's and the one generated for the write), so at most two lines per process.
    per_process = {pid: sum(1 for p, _ in calls if p == pid) for pid in pids}
    assert max(per_process.values()) <= 2, per_process
    assert len(calls) < result["partitions"] / 4


def test_zero_registration_fresh_session_and_driver_delivery_leaks_nothing(files: dict[str, Path]) -> None:
    body = """
    df = spark.read.format("ppml-enc").options(**opts, keyDelivery="driver", allowInsecureKeyDelivery="true",
                                               maxPartitionBytes="8k").load(enc)
    df.explain(True)
    result["count"] = df.count()
    try:
        spark.read.format("ppml-enc").options(**{**opts, "primaryKeyPath": key + ".missing"}).load(enc).collect()
    except Exception as exc:
        print("ERROR-TEXT", str(exc))
    """
    args = ["local[2]", str(files["key"]), str(files["enc"]), str(files["plain"]), "-"]
    result, output = run_script(body, args)
    assert result["count"] == 3000
    assert "ERROR-TEXT" in output and "primary key file not found" in output
    for form in key_forms(files["key"], files["enc"] / "a.csv"):
        assert form not in output


# Hides the installed package (editable or not) in every Python process of the job: the top-level modules are
# only found on sys.path entries that are zips, i.e. what addPyFile / --py-files put there.
HIDE_INSTALLED_PACKAGE = """
import importlib.abc
import importlib.machinery
import sys

class _OnlyFromZips(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if path is not None or name not in ("bigdl_ppml_az", "pyspark_ppml_enc"):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, [p for p in sys.path if ".zip" in p])
        if spec is None:
            raise ModuleNotFoundError(name)
        return spec

sys.meta_path.insert(0, _OnlyFromZips())
"""


def test_py_files_bundle_with_register(files: dict[str, Path], tmp_path: Path) -> None:
    """The installed package is hidden (sitecustomize drops the project path); only the zip provides it."""
    bundle = tmp_path / "ppml.zip"
    build_bundle(bundle)
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_INSTALLED_PACKAGE)
    body = f"""
    try:
        import bigdl_ppml_az
        result["hidden"] = False
    except ImportError:
        result["hidden"] = True
    spark.sparkContext.addPyFile({str(bundle)!r})
    import bigdl_ppml_az
    result["from_zip"] = bigdl_ppml_az.__file__.startswith({str(bundle)!r}) or ".zip" in bigdl_ppml_az.__file__
    bigdl_ppml_az.register(spark)
    df = spark.read.format("ppml-enc").options(**opts).load(enc)
    result["count"] = df.count()
    def where(_):
        import bigdl_ppml_az as m
        return m.__file__
    result["worker_files"] = sorted(set(spark.sparkContext.parallelize(range(2), 2).map(where).collect()))
    """
    args = ["local[2]", str(files["key"]), str(files["enc"]), str(files["plain"]), "-"]
    env = {"PYTHONPATH": str(hide)}
    result, _ = run_script(body, args, env=env)
    assert result["hidden"] and result["from_zip"]
    assert result["count"] == 3000
    assert all(".zip" in f or "ppml" in f and "userFiles" in f for f in result["worker_files"]), result


def test_bundle_cli_refuses_to_overwrite(tmp_path: Path) -> None:
    from bigdl_ppml_az.cli import main

    out = tmp_path / "b.zip"
    assert main(["bundle", str(out)]) == 0
    assert main(["bundle", str(out)]) == 1
    assert main(["bundle", str(out), "--force"]) == 0
    import zipfile

    names = zipfile.ZipFile(out).namelist()
    assert "pyspark_ppml_enc.py" in names and "bigdl_ppml_az/datasource/source.py" in names
