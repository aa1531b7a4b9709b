"""Secure Key Release cost on the Python path, against the emulators (issue 19):

    .venv/bin/python bench/skr_unwrap.py                 # cold first unwrap, 2048- vs 3072-bit runtime key
    .venv/bin/python bench/skr_unwrap.py --spark         # + release/attestation calls of a 200-partition read

A *cold first unwrap* is what a fresh worker process pays for its first data key: generate the ephemeral RSA key,
quote (simulated Gramine device), MAA, Key Vault release, verify the release JWS and its chain, unwrap the released
key (RSA-OAEP + RFC 5649), then RSA-OAEP-unwrap the data key. Each round builds a new backend and forgets released
keys, so every round is a first unwrap; the median of ``--rounds`` (5) is reported per runtime key size, with the
median time of generating the ephemeral key alone. The emulators answer on loopback in this process, so this is
client-side cost plus local TLS round trips, not Azure latency.

``--spark`` writes 200 partitions of ``spark.range`` through ``ppml-enc`` with ``kms=azure-skr`` and reads them back
in ``local-cluster[2,1,1024]`` (tests/skr_measure.py's job), counting release and attestation calls at the
emulators.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bigdl_ppml_az.kms import azure_skr, generate_data_key  # noqa: E402
from bigdl_ppml_az.kms.azure_skr import AzureSkrKms  # noqa: E402
from kv_emulator import KeyVaultEmulator  # noqa: E402
from skr_fixtures import start_skr_env, stop_skr_env  # noqa: E402


def _ms(values: list[float]) -> float:
    return round(1000 * statistics.median(values), 1)


def cold_unwraps(env: object, bits: int, rounds: int) -> dict[str, object]:
    options = env.options(runtimeKeySize=str(bits))  # type: ignore[attr-defined]
    writer = AzureSkrKms.from_options({k: v for k, v in options.items() if k != "attestation"})
    data_key, wrapped = generate_data_key(writer)
    cold, warm, keygen = [], [], []
    for _ in range(rounds):
        azure_skr.forget_released_keys()
        reader = AzureSkrKms.from_options(options)
        reader.key_id  # noqa: B018 - resolve the key first so only the unwrap path is timed
        start = time.perf_counter()
        assert reader.unwrap(wrapped) == data_key
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        reader.unwrap(wrapped)
        warm.append(time.perf_counter() - start)
        start = time.perf_counter()
        azure_skr._ephemeral(bits)
        keygen.append(time.perf_counter() - start)
    return {"runtime_key_bits": bits, "cold_first_unwrap_ms_median": _ms(cold),
            "cold_first_unwrap_ms_all": [round(1000 * c, 1) for c in cold],
            "ephemeral_keygen_ms_median": _ms(keygen),
            "warm_unwrap_ms_median": round(1000 * statistics.median(warm), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="2048,3072")
    parser.add_argument("--spark", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="skr-bench-"))
    kv = KeyVaultEmulator(root / "kv").start()
    env = start_skr_env(kv, root / "skr")
    report: dict[str, object] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    try:
        report["cold"] = [cold_unwraps(env, int(bits), args.rounds) for bits in args.sizes.split(",")]
        if args.spark:
            from skr_measure import spark_read_counts

            report["spark"] = spark_read_counts(kv, env, root)
    finally:
        stop_skr_env(env)
        kv.stop()
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
