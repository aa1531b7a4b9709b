"""kms=azure-skr end to end through Spark: in local-cluster[2,1,1024] executors attest, release once per
process, and decrypt; writes never release; the released key leaks nowhere. In local[2] a wrong measurement
fails the read naming the claim.

The cluster job runs in a subprocess (its own JVM with two executor JVMs); the emulators, the simulated Gramine
device and the counts live in this test process. The script waits on a marker file after writing, so the test
reads the emulator's counts between the write and the read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from skr_fixtures import (  # noqa: F401
    MEASURED,
    WRONG_MRENCLAVE,
    SkrEnv,
    secret_forms,
    skr_fixture,
    skr_module_fixture,
)
from test_datasource_support import write_csv

SCRIPT = """
import json, os, sys, time
from pyspark.sql import SparkSession
work = sys.argv[1]
cfg = json.load(open(os.path.join(work, "cfg.json")))
spark = (SparkSession.builder.master("local-cluster[2,1,1024]").appName("ppml-skr")
         .config("spark.ui.enabled", "false").config("spark.executor.memory", "512m")
         .config("spark.eventLog.enabled", "true").config("spark.eventLog.dir", cfg["events"])
         .config("spark.eventLog.compress", "false")
         .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable).getOrCreate())
def turn(name):
    open(os.path.join(work, name), "w").close()
    while not os.path.exists(os.path.join(work, name + ".go")):
        time.sleep(0.05)
result = {}
writer = {k: v for k, v in cfg["opts"].items() if k != "attestation"}
plain = spark.read.option("header", "true").csv(cfg["plain"])
(plain.repartition(8).write.format("ppml-enc").options(**writer, primaryKeyId=cfg["key_a"])
 .option("header", "true").option("segmentSize", "4k").mode("overwrite").save(cfg["a"]))
turn("written")
df = spark.read.format("ppml-enc").options(**cfg["opts"], header="true", maxPartitionBytes="4k").load(cfg["a"])
result["partitions"] = df.rdd.getNumPartitions()
df.explain(True)
result["same"] = sorted(map(tuple, df.collect())) == sorted(map(tuple, plain.collect()))
result["driver_pid"] = os.getpid()
print("RESULT " + json.dumps(result))
spark.stop()
"""


def _wait(proc: subprocess.Popen[str], marker: Path, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            (marker.parent / "script.log").write_text(out + err)
            raise AssertionError(f"script ended before {marker.name}: {(out + err)[-4000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {marker.name}")
        time.sleep(0.05)


@pytest.mark.cluster
def test_local_cluster_read_through_secure_key_release(skr: SkrEnv, tmp_path: Path) -> None:
    key_a = skr.create_key("skr-cluster-a")
    write_csv(tmp_path / "plain" / "a.csv", 3000)
    call_log, events = tmp_path / "skr-calls.log", tmp_path / "events"
    events.mkdir()
    cfg = {"opts": {k: v for k, v in skr.options().items() if k != "primaryKeyId"}, "key_a": key_a,
           "plain": str(tmp_path / "plain"), "a": str(tmp_path / "a"), "events": str(events)}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PPML_AZ_SKR_CALL_LOG": str(call_log)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SCRIPT), str(tmp_path)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait(proc, tmp_path / "written")
        assert skr.kv.calls["release"] == 0 and skr.maa.calls["attest"] == 0  # writers never attest or release
        assert skr.kv.calls["wrapKey"] == 0  # and wrap locally with the public key
        (tmp_path / "written.go").touch()
        out, err = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = out + err
    assert proc.returncode == 0, output[-4000:]
    result = json.loads(next(x for x in out.splitlines() if x.startswith("RESULT "))[len("RESULT "):])
    assert result["partitions"] >= 40 and result["same"]
    releases, attests = skr.kv.calls["release"], skr.maa.calls["attest"]
    pids = [pid for pid, _, key in (line.split() for line in call_log.read_text().splitlines()) if key == key_a]
    assert str(result["driver_pid"]) not in pids  # the driver never attests
    assert len(pids) == len(set(pids)) == releases == attests  # at most one release per worker process and key
    assert 1 <= releases <= 4 < result["partitions"]
    event_log = "".join(p.read_text(errors="replace") for p in events.rglob("*") if p.is_file())
    # local-cluster executors log to $SPARK_HOME/work/<app id>/<executor>/std{out,err}
    import pyspark

    app_id = next(p.name for p in events.iterdir() if "app-" in p.name).split("app-", 1)[1]
    executor_dirs = Path(pyspark.__file__).parent / "work" / f"app-{app_id}"
    worker_logs = "".join(p.read_text(errors="replace") for p in executor_dirs.rglob("std*") if p.is_file())
    assert "CoarseGrainedExecutorBackend" in worker_logs  # the executor logs were found and searched
    assert "SparkListenerEnvironmentUpdate" in event_log
    for form in secret_forms(skr, key_a):
        assert form not in output and form not in event_log and form not in worker_logs


def test_spark_read_by_a_wrong_enclave_fails_naming_the_claim(skr: SkrEnv, spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """local[2] (the suite's session): its Python workers keep released keys, so this test uses its own key."""
    key_id = skr.create_key("skr-local-wrong")
    write_csv(tmp_path / "plain" / "a.csv", 500)
    opts = skr.options(primaryKeyId=key_id)
    writer = {k: v for k, v in opts.items() if k != "attestation"}
    plain = spark.read.option("header", "true").csv(str(tmp_path / "plain"))
    plain.write.format("ppml-enc").options(**writer, header="true").mode("overwrite").save(str(tmp_path / "enc"))
    assert skr.kv.calls["release"] == 0
    released_before = sum(skr.kv.release.released_to.values())
    skr.device.reset(WRONG_MRENCLAVE)  # the "enclave" runs other code than the policy pins
    reader = spark.read.format("ppml-enc").options(**opts, header="true")
    with pytest.raises(Exception) as info:  # noqa: PT011 - Spark wraps the worker's KmsError
        reader.load(str(tmp_path / "enc")).collect()  # schema inference already needs a data key
    assert "claim x-ms-sgx-mrenclave: token has \"" + "33" * 32 in str(info.value)
    assert skr.kv.calls["release"] >= 1 and sum(skr.kv.release.released_to.values()) == released_before
    skr.device.reset(MEASURED)  # the right enclave reads every row
    rows = reader.load(str(tmp_path / "enc")).collect()
    assert sorted(map(tuple, rows)) == sorted(map(tuple, plain.collect()))
