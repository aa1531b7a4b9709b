"""A third-party KMS backend, pip-installed from tests/plugin_kms, used through the CLI and in local-cluster.

The plug-in registers only through its entry point (group ``bigdl_ppml_az.kms``); nothing in the library or in
these tests names its class. The CLI runs in subprocesses and Spark executors are separate processes, so each
finds the backend the way a user's fresh process would. The local-cluster job is a second phase of the
local-cluster application test_datasource_cluster.py starts (one application start for both modules); run
without that module, it starts with this module and runs while the CLI tests run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.formats import probe
from plugin_support import PLUGIN_NAME, toy_plugin  # noqa: F401 - session fixture
from test_cli import ok, run
from test_datasource_cluster import cluster_phase, shared_cluster
from test_datasource_support import write_csv


def _toy_key(path: Path) -> Path:
    path.write_bytes(os.urandom(32))
    path.chmod(0o600)
    return path


@pytest.fixture()
def toy(tmp_path: Path, toy_plugin: str) -> dict[str, Path]:  # noqa: F811
    plain = write_csv(tmp_path / "plain" / "people.csv", 2000).parent
    keys = {"key": _toy_key(tmp_path / "toy.key"), "other": _toy_key(tmp_path / "o.key")}
    return {"root": tmp_path, "plain": plain, **keys}


@pytest.mark.parametrize("mode", ["ppml-gcm", "aes/cbc/pkcs5padding"])
def test_cli_encrypts_and_decrypts_with_a_plugin_backend(toy: dict[str, Path], mode: str) -> None:
    root, key = toy["root"], toy["key"]
    flags = ["--kms", PLUGIN_NAME, "--kms-option", f"toyKeyFile={key}"]
    ok("encrypt", *flags, "--crypto-mode", mode, toy["plain"], root / "enc")
    encrypted = root / "enc" / "people.csv"
    with encrypted.open("rb") as handle:
        info = probe(handle, encrypted.stat().st_size, str(encrypted))
    assert info.key_ref is not None
    if mode == "ppml-gcm":  # the envelope names the plug-in backend and its key
        assert info.key_ref.kms_type == PLUGIN_NAME and str(info.key_ref.key_id).startswith("toy:")
    ok("decrypt", "--kms", "toyaes", "--kms-option", f"toyKeyFile={key}", root / "enc", root / "dec")
    assert (root / "dec" / "people.csv").read_bytes() == (toy["plain"] / "people.csv").read_bytes()
    wrong = run("decrypt", "--kms", "toy", "--kms-option", f"toyKeyFile={toy['other']}", root / "enc", root / "d2")
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    assert "toy key" in wrong.stderr or "primary key" in wrong.stderr, wrong.stderr
    unknown = run("decrypt", "--kms", PLUGIN_NAME, "--kms-option", "vault=x", root / "enc", root / "d3")
    assert unknown.returncode != 0 and "not an option of kms toy-aes (it takes: toyKeyFile)" in unknown.stderr


CLUSTER_BODY = f"""
opts = {{"kms": "{PLUGIN_NAME}", "toyKeyFile": key, "header": "true"}}
df = spark.read.format("ppml-enc").options(**opts, maxPartitionBytes="8k").load(enc)
theirs = spark.read.option("header", "true").csv(plain)
result["partitions"] = df.rdd.getNumPartitions()
result["same"] = sorted(map(tuple, df.collect())) == sorted(map(tuple, theirs.collect()))
df.write.format("ppml-enc").options(**{{**opts, "kms": "toyaes"}}).mode("overwrite").save(out)
back = spark.read.format("ppml-enc").options(**opts).load(out)
result["write_same"] = sorted(map(tuple, back.collect())) == sorted(map(tuple, theirs.collect()))
result["driver_pid"] = os.getpid()
"""


def plugin_cluster_inputs(root: Path) -> dict[str, Any]:
    """The plug-in phase's files for the local-cluster application test_datasource_cluster shares with this
    module (tests/test_datasource_cluster.py: shared_cluster): key, encrypted input, plaintext, output."""
    plain = write_csv(root / "plain" / "people.csv", 2000).parent
    key = _toy_key(root / "toy.key")
    flags = ["--kms", PLUGIN_NAME, "--kms-option", f"toyKeyFile={key}", "--segment-size", "4KiB"]
    ok("encrypt", *flags, plain, root / "enc")
    return {"root": root, "args": [str(key), str(root / "enc"), str(plain), str(root / "out")]}


@pytest.fixture(scope="module", autouse=True)
def cluster_job(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, toy_plugin: str  # noqa: F811
) -> dict[str, Any]:
    """The local-cluster application of test_plugin_backend_in_local_cluster_executors: the one
    test_datasource_cluster's cluster test started (this module's phase runs after that module's), or, when
    that module did not run, started here before the module's first test so that it runs while the CLI tests
    run."""
    if "test_plugin_backend_in_local_cluster_executors" not in {item.name for item in request.session.items}:
        return {}
    return shared_cluster(request.config, tmp_path_factory)


@pytest.mark.cluster
def test_plugin_backend_in_local_cluster_executors(cluster_job: dict[str, Any]) -> None:
    root = cluster_job["plugin"]["root"]
    result, calls = cluster_phase(cluster_job, "plugin")
    assert result["partitions"] >= 4
    assert result["same"] and result["write_same"]
    executors = {pid for pid, _ in calls} - {str(result["driver_pid"])}
    assert executors, calls  # executor Python workers loaded the plug-in and unwrapped through it
    assert all(key_id.startswith("toy:") for _, key_id in calls), calls
    written = sorted((root / "out").glob("part-*"))
    assert written
    with written[0].open("rb") as handle:
        ref = probe(handle, written[0].stat().st_size, str(written[0])).key_ref
    assert ref is not None and ref.kms_type == PLUGIN_NAME
