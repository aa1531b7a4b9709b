"""End to end like a BigDL-on-Azure user: the guide's key steps, BigDL-layout data in ADLS, examples/simple_query.py
with the guide's arguments; and the KMS call count of a many-partition read in local-cluster mode."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from azure_fixtures import Azurite
from kv_emulator import KeyVaultEmulator
from unwrap_log import worker_log_env

pytest.importorskip("pyspark.sql.datasource")
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

REPO = Path(__file__).resolve().parent.parent
SCHEMA = "name STRING, age INT, job STRING"
PEOPLE = [(f"p{i}", 15 + (i * 7) % 40, ("Developer", "Engineer", "Teacher")[i % 3]) for i in range(240)]


def _env(kv: KeyVaultEmulator, azurite: Azurite, **extra: str) -> dict[str, str]:
    """Emulator endpoints the way a user's environment would carry real ones (no options in the command)."""
    env = dict(os.environ)
    env.update(
        {
            "PPML_AZ_KV_CREDENTIAL": "emulator",
            "PPML_AZ_KV_CA_BUNDLE": str(kv.ca_path),
            "PPML_AZ_KV_VERIFY_CHALLENGE_RESOURCE": "false",
            "PPML_AZ_BLOB_ENDPOINT": azurite.endpoint,
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
        }
    )
    env.update(extra)
    return env


def _guide_keys(kv: KeyVaultEmulator, env: dict[str, str], keys: Path) -> tuple[Path, Path]:
    """Section 4.2 of the guide, as one ppml-az command: Key Vault key, primary key file, data key file."""
    name = "sq-" + uuid.uuid4().hex[:8]
    done = subprocess.run(
        [sys.executable, "-m", "bigdl_ppml_az", "keys", "create", "--kmsType", "AzureKeyManagementService",
         "--vaultName", kv.url, "--name", name, "--key-size", "2048",
         "--primaryKeyPath", str(keys / "primaryKey"), "--dataKeyPath", str(keys / "dataKey")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return keys / "primaryKey", keys / "dataKey"


def _write_bigdl_people(spark: Any, options: dict[str, str], target: str) -> None:
    """BigDL-layout input (part files + .meta, aes/cbc/pkcs5padding) produced by our writer in BigDL mode."""
    df = spark.createDataFrame(PEOPLE, SCHEMA).repartition(2)
    writer = df.write.format("ppml-enc").options(**options).option("cryptoMode", "aes/cbc/pkcs5padding")
    writer.option("format", "csv").option("header", "true").mode("overwrite").save(target)


def test_simple_query_example_end_to_end(
    spark: Any, kv: KeyVaultEmulator, azurite: Azurite, container: str, tmp_path: Path
) -> None:
    env = _env(
        kv,
        azurite,
        # ADLS credentials the way the guide passes them: a Spark conf setting, not an option
        PYSPARK_SUBMIT_ARGS=f"--conf spark.hadoop.fs.azure.account.key.{azurite.host}={azurite.key} pyspark-shell",
    )
    primary, data_key = _guide_keys(kv, env, tmp_path / "keys")
    options = {
        **kv.options(),
        **azurite.options(),
        "primaryKeyPath": str(primary),
        "dataKeyPath": str(data_key),
    }
    input_path = azurite.url(container, "data/people.csv")
    _write_bigdl_people(spark, options, input_path)
    output = tmp_path / "simple-query-result.csv"
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "simple_query.py"),
         "--kms_type", "AzureKeyManagementService", "--azure_vault", kv.url,
         "--primary_key_path", str(primary), "--data_key_path", str(data_key),
         "--input_encrypt_mode", "aes/cbc/pkcs5padding", "--output_encrypt_mode", "plain_text",
         "--input_path", input_path, "--output_path", str(output), "--master", "local[2]"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"people: {len(PEOPLE)}" in done.stdout
    written = []
    for part in sorted(output.glob("part-*.csv")):
        with part.open() as handle:
            written += [(r["name"], int(r["age"]), r["job"]) for r in csv.DictReader(handle)]
    expected = sorted(p for p in PEOPLE if p[2] == "Developer" and 20 <= p[1] <= 40)
    assert expected and sorted(written) == expected


_CLUSTER_READ = r"""
import json, os, sys
from pyspark.sql import SparkSession
options = json.loads(sys.argv[1])
spark = (SparkSession.builder.master("local-cluster[2,1,1024]").appName("kms-count")
         .config("spark.ui.enabled", "false")
         .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable)
         .config("spark.executorEnv.PPML_AZ_TEST_UNWRAP_LOG", os.environ["PPML_AZ_TEST_UNWRAP_LOG"])
         .config("spark.executorEnv.PYTHONPATH", os.environ["PYTHONPATH"])
         .getOrCreate())
df = (spark.read.format("ppml-enc").options(**options).option("format", "csv").option("header", "true")
      .schema("name STRING, age INT, job STRING").load(sys.argv[2]))
result = {"partitions": df.rdd.getNumPartitions(), "rows": df.count()}
spark.stop()
print("RESULT " + json.dumps(result))
"""


@pytest.mark.cluster
def test_many_partition_read_unwraps_once_per_worker_process(
    kv: KeyVaultEmulator, azurite: Azurite, container: str, tmp_path: Path
) -> None:
    from bigdl_ppml_az import filecrypt
    from bigdl_ppml_az.kms.azure import AzureKms, create_primary_key

    key_id = create_primary_key(kv.url, "lc-" + uuid.uuid4().hex[:8], 2048, options=kv.options())
    options = {**kv.options(), **azurite.options(), "primaryKeyId": key_id, "maxPartitionBytes": "4k"}
    source = tmp_path / "people.csv"
    rows = [f"n{i},{i % 70},{('Developer', 'Tester')[i % 2]}" for i in range(45_000)]
    source.write_text("name,age,job\n" + "\n".join(rows) + "\n")
    target = azurite.url(container, "cluster/people.csv")
    kms = AzureKms.from_options(options)
    filecrypt.encrypt_path(str(source), target, kms, segment_size=4096, options=azurite.options(), jobs=1)
    call_log = tmp_path / "kms-calls.log"
    kv.reset_counts()
    done = subprocess.run(
        [sys.executable, "-c", _CLUSTER_READ, json.dumps(options), target],
        env=_env(kv, azurite, **worker_log_env(call_log)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert result == {"partitions": result["partitions"], "rows": len(rows)}
    assert result["partitions"] >= 200
    entries = call_log.read_text().split()
    pids = set(entries[0::2])
    unwraps = len(entries) // 2
    print(f"local-cluster read: {result['partitions']} partitions, {unwraps} unwraps by {len(pids)} processes")
    # one unwrap per (process, data key): never one per partition
    assert unwraps == len(pids) and unwraps <= 6, (unwraps, pids)
    assert kv.calls["unwrapKey"] == unwraps
