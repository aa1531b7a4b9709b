"""Issue 18 attacks where they matter most: on abfss:// (Azurite) with Key Vault keys (emulator) and the Key
Vault head store, and in ``local-cluster[2,1,1024]`` where only the executors hold keys
(``keyDelivery=executor``): the tasks verify what the driver planned from. Local-disk variants and the full
list of attacks: ``test_table_integrity.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from azure_fixtures import Azurite
from bigdl_ppml_az.kms.azure import create_primary_key
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.storage import filesystem_for
from kv_emulator import KeyVaultEmulator
from unwrap_log import worker_log_env

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
SCHEMA = "id INT, tag STRING"


def _options(kv: KeyVaultEmulator, azurite: Azurite, **extra: str) -> dict[str, str]:
    key = create_primary_key(kv.url, "tbl-" + uuid.uuid4().hex[:10], 2048, options=kv.options())
    return {**kv.options(), **azurite.options(), "primaryKeyId": key, "format": "csv", **extra}


def _save(spark: Any, path: str, options: dict[str, str], ids: range, mode: str = "overwrite") -> None:
    df = spark.createDataFrame([(i, f"t{i}") for i in ids], SCHEMA).repartition(3)
    df.write.format("ppml-enc").options(**options).mode(mode).save(path)


def _ids(spark: Any, path: str, options: dict[str, str]) -> list[int]:
    df = spark.read.format("ppml-enc").options(**options).schema(SCHEMA).load(path)
    return sorted(r.id for r in df.collect())


def _parts(fs: Any, path: str) -> list[str]:
    return [s.path for s in fs.list_files(path) if s.path.rsplit("/", 1)[-1].startswith("part-")]


def test_azure_table_attacks_and_rollback_with_the_key_vault_head_store(
    spark: Any, kv: KeyVaultEmulator, azurite: Azurite, container: str
) -> None:
    heads = {"tableHeadStore": "azure-keyvault"}
    options = _options(kv, azurite, **heads)
    table, other = azurite.url(container, "t"), azurite.url(container, "other")
    fs = filesystem_for(table, options)
    _save(spark, table, options, range(60))
    _save(spark, other, options, range(1000, 1030))
    old_manifest = fs.read_bytes(f"{table}/_SUCCESS")
    old_parts = {p: fs.read_bytes(p) for p in _parts(fs, table)}
    _save(spark, table, options, range(60, 70), mode="append")
    assert _ids(spark, table, options) == list(range(70))
    assert kv.calls.get("setSecret", 0) >= 3  # one head per commit: table v1, other v1, table v2

    # a part copied in from another table under the same key, over an existing name
    victim = _parts(fs, table)[0]
    saved = fs.read_bytes(victim)
    with fs.open_write(victim) as handle:
        handle.write(fs.read_bytes(_parts(fs, other)[0]))
    with pytest.raises(Exception, match="recorded|was written as"):
        _ids(spark, table, options)
    with fs.open_write(victim) as handle:
        handle.write(saved)
    assert _ids(spark, table, options) == list(range(70))

    # rollback: the operator puts back version 1 (its manifest and parts)
    for path in _parts(fs, table):
        if path not in old_parts:
            fs.delete(path)
    with fs.open_write(f"{table}/_SUCCESS") as handle:
        handle.write(old_manifest)
    with pytest.raises(Exception, match="rolled back") as info:
        _ids(spark, table, options)
    assert "version 1" in str(info.value) and "version 2" in str(info.value)
    no_store = {k: v for k, v in options.items() if k not in heads}
    assert _ids(spark, table, no_store) == list(range(60))  # documented: not detected without a head store

    # deletion with the manifest emptied
    with fs.open_write(f"{table}/_SUCCESS") as handle:
        handle.write(b"")
    fs.delete(_parts(fs, table)[0])
    with pytest.raises(Exception, match="without that table's authenticated manifest"):
        _ids(spark, table, no_store)


SCRIPT = """
import json, os, shutil, sys
from pyspark.sql import SparkSession
master, key, root = sys.argv[1:4]
spark = (SparkSession.builder.master(master).appName("table-integrity-cluster")
         .config("spark.ui.enabled", "false").config("spark.executor.memory", "512m")
         .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable).getOrCreate())
opts = {"kms": "local", "primaryKeyPath": key, "format": "csv", "keyDelivery": "executor"}
def read(path):
    try:
        df = spark.read.format("ppml-enc").options(**opts).schema("id INT, tag STRING").load(path)
        return sorted(r.id for r in df.collect())
    except Exception as exc:
        return str(exc)[:3000]
def parts(path):
    return sorted(os.path.join(path, n) for n in os.listdir(path) if n.startswith("part-"))
result = {}
t, o = os.path.join(root, "t"), os.path.join(root, "o")  # written by another application (the test process)
log = os.environ["PPML_AZ_TEST_UNWRAP_LOG"]
def logged():
    return open(log).read().splitlines() if os.path.exists(log) else []
before = len(logged())  # count the read only
result["clean"] = read(t)
result["unwraps_clean"] = logged()[before:]
result["driver_pid"] = os.getpid()
victim = parts(t)[0]
saved = open(victim, "rb").read()
shutil.copy(parts(o)[0], victim)
result["foreign"] = read(t)
open(victim, "wb").write(saved)
body = json.load(open(os.path.join(t, "_SUCCESS")))
gone = body["files"].pop(0)
os.remove(os.path.join(t, gone[0]))
json.dump(body, open(os.path.join(t, "_SUCCESS"), "w"))
result["deleted"] = read(t)
print("RESULT " + json.dumps(result))
spark.stop()
"""


@pytest.fixture(scope="module", autouse=True)
def cluster_read(
    request: pytest.FixtureRequest, spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The local-cluster read of test_executors_verify_the_table_when_only_they_hold_keys, started before the
    module's first test (when that test is selected) so that it runs while the Azure test runs."""
    if "test_executors_verify_the_table_when_only_they_hold_keys" not in {i.name for i in request.session.items}:
        yield {}
        return
    tmp_path = tmp_path_factory.mktemp("cluster-read")
    key = tmp_path / "primary.key"
    LocalKms.create(key)
    # the tables are written by another application (this session; CI time: one local-cluster start less), so
    # the reading application's workers start without cached keys
    opts = {"kms": "local", "primaryKeyPath": str(key), "format": "csv", "keyDelivery": "executor"}
    _save(spark, str(tmp_path / "t"), opts, range(90))
    _save(spark, str(tmp_path / "o"), opts, range(1000, 1030))
    with (tmp_path / "output").open("w+") as output:
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(SCRIPT), "local-cluster[2,1,1024]", str(key), str(tmp_path)],
            stdout=output, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYSPARK_PYTHON": sys.executable, **worker_log_env(tmp_path / "unwraps.log")},
        )  # fmt: skip
        try:
            yield {"proc": proc, "output": output}
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.cluster
def test_executors_verify_the_table_when_only_they_hold_keys(cluster_read: dict[str, Any]) -> None:
    returncode = cluster_read["proc"].wait(timeout=600)
    cluster_read["output"].seek(0)
    output = cluster_read["output"].read()
    assert returncode == 0, output[-4000:]
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    assert result["clean"] == list(range(90))
    # verification costs no KMS call of its own: the manifest's key is the write job's data key, so a read
    # unwraps at most once per worker process, never on the driver
    pids = [line.split()[0] for line in result["unwraps_clean"]]
    assert pids and str(result["driver_pid"]) not in pids
    assert all(pids.count(p) == 1 for p in pids), result["unwraps_clean"]
    assert isinstance(result["foreign"], str) and ("recorded" in result["foreign"] or "written as" in result["foreign"])
    assert isinstance(result["deleted"], str) and "does not verify" in result["deleted"]
