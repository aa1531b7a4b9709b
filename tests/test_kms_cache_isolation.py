"""Attack on the per-process unwrap cache (issue 10 item 2): a reused Python worker must not hand a data key,
unwrapped for one KMS configuration, to a read configured with another primary key, vault or credential.

One ``local[1]`` session (one reused Python worker, ``spark.python.worker.reuse=true``): read with the right
KMS settings, then with wrong ones; the second read must fail with the backend's refusal, not return rows.
Against the old cache key (kms type, key id from the file, wrapped bytes) the second reads returned every row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.kms import KmsSettings, build_kms
from bigdl_ppml_az.kms.azure import create_primary_key
from bigdl_ppml_az.kms.local import LocalKms
from kv_emulator import KeyVaultEmulator
from test_datasource_support import write_csv

SCRIPT = """
import json, sys
from pyspark.sql import SparkSession
plan = json.loads(open(sys.argv[1]).read())
spark = (SparkSession.builder.master("local[1]").appName("kms-cache-isolation")
         .config("spark.ui.enabled", "false").config("spark.python.worker.reuse", "true")
         .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable).getOrCreate())
results = {}
for step in plan["steps"]:
    try:
        df = (spark.read.format("ppml-enc").options(**step["options"], header="true")
              .schema("id INT, name STRING, amount STRING, flag STRING, day STRING, ts STRING, note STRING")
              .load(step["path"]))
        results[step["id"]] = {"ok": True, "rows": len(df.collect())}
    except Exception as exc:
        results[step["id"]] = {"ok": False, "error": str(exc)[-3000:]}
spark.stop()
print("RESULT " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def second_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyVaultEmulator]:
    emulator = KeyVaultEmulator(tmp_path_factory.mktemp("kv-second")).start()
    yield emulator
    emulator.stop()


def _header(path: Path) -> str:
    return path.read_text(encoding="utf-8").splitlines()[0]


def test_reused_worker_never_serves_a_cached_key_to_other_kms_settings(
    tmp_path: Path, kv: KeyVaultEmulator, second_vault: KeyVaultEmulator
) -> None:
    plain = write_csv(tmp_path / "plain" / "people.csv", 300)
    assert _header(plain).startswith("id,")
    right, wrong = tmp_path / "right.key", tmp_path / "wrong.key"
    LocalKms.create(right)
    LocalKms.create(wrong)
    local_right = {"kms": "local", "primaryKeyPath": str(right)}
    local_wrong = {"kms": "local", "primaryKeyPath": str(wrong)}
    key_a = create_primary_key(kv.url, "iso-" + uuid.uuid4().hex[:8], 2048, options=kv.options())
    key_b = create_primary_key(kv.url, "iso-" + uuid.uuid4().hex[:8], 2048, options=kv.options())
    azure_a, azure_b = kv.options(primaryKeyId=key_a), kv.options(primaryKeyId=key_b)
    other_vault = second_vault.options()  # another vault (another identity's view): must not get vault 1's keys

    steps: list[dict[str, object]] = []
    cases = [
        ("local-gcm", "ppml-gcm", local_right, local_wrong),
        ("local-common", "aes/cbc/pkcs5padding", local_right, local_wrong),
        ("azure-gcm", "ppml-gcm", azure_a, other_vault),
        ("azure-common", "aes/cbc/pkcs5padding", azure_a, azure_b),
    ]
    for label, mode, good, bad in cases:
        kms = build_kms(KmsSettings.from_options(good))
        target = tmp_path / label
        filecrypt.encrypt_path(str(plain.parent), str(target), kms, crypto_mode=mode, segment_size=4096)
        steps += [
            {"id": f"{label}:right", "options": good, "path": str(target)},
            {"id": f"{label}:wrong", "options": bad, "path": str(target)},
            {"id": f"{label}:right-again", "options": good, "path": str(target)},
        ]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"steps": steps}))
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(plan)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout.split("RESULT ", 1)[1])
    refusals = {
        "local-gcm": "wrapped by primary key",
        "local-common": "does not unwrap with primary key",
        "azure-gcm": "not in the configured vault",
        "azure-common": "could not unwrap this data key",
    }
    for label, _, _, _ in cases:
        assert results[f"{label}:right"] == {"ok": True, "rows": 300}, results[f"{label}:right"]
        wrong_read = results[f"{label}:wrong"]
        assert not wrong_read["ok"], (label, wrong_read)  # the cached data key did not leak to the wrong settings
        assert refusals[label] in wrong_read["error"], (label, wrong_read["error"])
        assert results[f"{label}:right-again"] == {"ok": True, "rows": 300}
