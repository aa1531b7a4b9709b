"""Measure kms=azure-skr against the emulators (not a test; run by hand, one at a time):

    PYTHONPATH=python:tests python tests/skr_measure.py            # cold first unwrap vs warm vs kms=azure
    PYTHONPATH=python:tests python tests/skr_measure.py --spark    # + release/attest calls of a 200-partition read

bench/skr_unwrap.py runs the same measurements for several runtime key sizes (the numbers in bench/RESULTS.md).

Timings are of one process on a shared machine; the emulators answer in-process, so they show the client-side
cost (ephemeral key generation, quote, verification, unwrap) plus loopback TLS round trips, not Azure latency.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bigdl_ppml_az.kms import azure_skr, generate_data_key
from bigdl_ppml_az.kms.azure import AzureKms, create_primary_key
from bigdl_ppml_az.kms.azure_skr import AzureSkrKms
from kv_emulator import KeyVaultEmulator
from skr_fixtures import start_skr_env, stop_skr_env

SPARK = """
import json, os, sys
from pyspark.sql import SparkSession
cfg = json.load(open(sys.argv[1]))
spark = (SparkSession.builder.master("local-cluster[2,1,1024]").appName("skr-measure")
         .config("spark.ui.enabled", "false").config("spark.executor.memory", "512m")
         .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable).getOrCreate())
spark.range(20000).selectExpr("id", "id * 7 as v").repartition(cfg["partitions"]).write.format("ppml-enc") \\
    .options(**{k: v for k, v in cfg["opts"].items() if k != "attestation"}).mode("overwrite").save(cfg["out"])
open(cfg["out"] + ".written", "w").close()
df = spark.read.format("ppml-enc").options(**cfg["opts"]).option("minPartitions", cfg["partitions"]).load(cfg["out"])
print("RESULT " + json.dumps({"partitions": df.rdd.getNumPartitions(), "rows": df.count()}))
spark.stop()
"""


def spark_read_counts(kv: KeyVaultEmulator, env: object, root: Path, partitions: int = 200) -> dict[str, object]:
    """Write ``partitions`` partitions with kms=azure-skr and read them in local-cluster[2,1,1024]; count the
    release and attestation calls the read made (the write makes none)."""
    options = env.options()  # type: ignore[attr-defined]
    kv.reset_counts()
    env.maa.reset()  # type: ignore[attr-defined]
    cfg = root / "cfg.json"
    out = str(root / "data")
    cfg.write_text(json.dumps({"opts": options, "out": out, "partitions": partitions}))
    call_log = root / "skr-calls.log"
    proc = subprocess.run([sys.executable, "-c", SPARK, str(cfg)], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYSPARK_PYTHON": sys.executable, "PPML_AZ_SKR_CALL_LOG": str(call_log)},
                          check=False)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
    pids = sorted({entry.split()[0] for entry in call_log.read_text().splitlines()}) if call_log.exists() else []
    return {"read": json.loads(line[7:]), "releases": kv.calls["release"], "attestations": env.maa.calls["attest"],  # type: ignore[attr-defined]
            "releasing_processes": len(pids), "key_gets": kv.calls["get"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spark", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runtime-key-size", default="2048")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="skr-measure-"))
    kv = KeyVaultEmulator(root / "kv").start()
    env = start_skr_env(kv, root / "skr")
    try:
        bits = int(args.runtime_key_size)
        options = env.options(runtimeKeySize=str(bits))
        writer = AzureSkrKms.from_options({k: v for k, v in options.items() if k != "attestation"})
        _, wrapped = generate_data_key(writer)
        cold, warm = [], []
        for _ in range(args.rounds):
            azure_skr.forget_released_keys()
            reader = AzureSkrKms.from_options(options)
            reader.key_id  # noqa: B018 - resolve the key first so only the unwrap path is timed
            start = time.perf_counter()
            reader.unwrap(wrapped)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            reader.unwrap(wrapped)
            warm.append(time.perf_counter() - start)
        keygen = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            azure_skr._ephemeral(bits)
            keygen.append(time.perf_counter() - start)
        plain_id = create_primary_key(kv.url, "measure-plain", key_size=3072, options=env.kv_options())
        azure = AzureKms.from_options({**env.kv_options(), "vault": kv.url, "primaryKeyId": plain_id})
        _, plain_wrapped = generate_data_key(azure)
        kv_unwrap = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            azure.unwrap(plain_wrapped)
            kv_unwrap.append(time.perf_counter() - start)
        report: dict[str, object] = {
            "runtime_key_bits": bits,
            "cold_first_unwrap_ms_median": round(1000 * sorted(cold)[len(cold) // 2], 1),
            "cold_first_unwrap_ms_all": [round(1000 * c, 1) for c in cold],
            "of_which_ephemeral_keygen_ms_median": round(1000 * sorted(keygen)[len(keygen) // 2], 1),
            "warm_unwrap_ms_median": round(1000 * sorted(warm)[len(warm) // 2], 2),
            "kms_azure_unwrap_ms_median": round(1000 * sorted(kv_unwrap)[len(kv_unwrap) // 2], 1),
            "releases": kv.calls["release"],
            "attestations": env.maa.calls["attest"],
        }
        if args.spark:
            report["spark"] = spark_read_counts(kv, env, root)
        print(json.dumps(report, indent=2))
    finally:
        stop_skr_env(env)
        kv.stop()


if __name__ == "__main__":
    main()
