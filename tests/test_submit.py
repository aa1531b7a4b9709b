"""``ppml-az submit``: the k8s dry run checked field by field (pod templates parsed as YAML), secrets kept off the
command line, and a real secure run in ``local-cluster`` whose executors' shuffle files hold no plaintext.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bigdl_ppml_az import cli
from bigdl_ppml_az.cli import submit
from bigdl_ppml_az.errors import ConfigError

HERE = Path(__file__).resolve().parent


def _args(*argv: str) -> Any:
    parser = cli.build_parser()
    return parser.parse_args(["submit", *argv])


def _confs(command: list[str]) -> dict[str, str]:
    out = {}
    for flag, value in zip(command, command[1:], strict=False):
        if flag == "--conf":
            key, _, val = value.partition("=")
            out[key] = val
    return out


def _flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_k8s_dry_run_field_by_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    templates = tmp_path / "templates"
    rc = cli.main(["submit", "--master", "k8s://https://myaks.hcp.eastus2.azmk8s.io:443", "--deploy-mode", "cluster",
                   "--name", "simple-query-sgx", "--image", "myacr.azurecr.io/ppml:1", "--sgx-enabled", "true",
                   "--sgx-driver-jvm-memory", "2g", "--sgx-executor-jvm-memory", "7g", "--sgx-driver-memory", "16g",
                   "--sgx-executor-memory", "32g", "--driver-memory", "6g", "--executor-memory", "24g",
                   "--executor-cores", "2", "--num-executors", "1", "--node-pool", "sgxpool",
                   "--auth-secret-k8s", "spark-secret:secret", "--native", "--shim-jar", "local:///opt/ppml/shim.jar",
                   "--python", "/usr/bin/python3", "--template-dir", str(templates), "--dry-run",
                   "--conf", "spark.bigdl.kms.type=AzureKeyManagementService",
                   "local:///opt/ppml/examples/simple_query.py", "--input_path", "abfss://x"])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    line = out.splitlines()[0]
    words = shlex.split(line)
    assert words[0] == "PPML_AZ_SECURE_TRANSPORT=1" and words[1] == "PYSPARK_PYTHON=/usr/bin/python3"
    command = words[2:]
    assert command[0].endswith("spark-submit")
    assert _flag(command, "--master") == "k8s://https://myaks.hcp.eastus2.azmk8s.io:443"
    assert _flag(command, "--deploy-mode") == "cluster"
    assert _flag(command, "--driver-memory") == "6g" and _flag(command, "--executor-memory") == "24g"
    assert _flag(command, "--num-executors") == "1" and _flag(command, "--executor-cores") == "2"
    assert _flag(command, "--jars") == "local:///opt/ppml/shim.jar"
    assert command[-3:] == ["local:///opt/ppml/examples/simple_query.py", "--input_path", "abfss://x"]
    conf = _confs(command)
    expected = {
        "spark.authenticate": "true",
        "spark.network.crypto.enabled": "true",
        "spark.io.encryption.enabled": "true",
        "spark.app.name": "simple-query-sgx",
        "spark.kubernetes.container.image": "myacr.azurecr.io/ppml:1",
        "spark.kubernetes.authenticate.driver.serviceAccountName": "spark",
        "spark.kubernetes.authenticate.executor.serviceAccountName": "spark",
        "spark.kubernetes.sgx.enabled": "true",
        "spark.kubernetes.sgx.driver.jvm.mem": "2g",
        "spark.kubernetes.sgx.executor.jvm.mem": "7g",
        "spark.kubernetes.sgx.driver.mem": "16g",
        "spark.kubernetes.sgx.executor.mem": "32g",
        "spark.kubernetes.executor.secrets.spark-secret": "/opt/ppml-az/secrets/spark-secret",
        "spark.kubernetes.driver.secrets.spark-secret": "/opt/ppml-az/secrets/spark-secret",
        "spark.authenticate.secret.executor.file": "/opt/ppml-az/secrets/spark-secret/secret",
        "spark.authenticate.secret.driver.file": "/opt/ppml-az/secrets/spark-secret/secret",
        "spark.kubernetes.driverEnv.PPML_AZ_SECURE_TRANSPORT": "1",
        "spark.kubernetes.driver.label.azure.workload.identity/use": "true",
        "spark.kubernetes.executor.label.azure.workload.identity/use": "true",
        "spark.pyspark.python": "/usr/bin/python3",
        "spark.bigdl.kms.type": "AzureKeyManagementService",
    }
    for key, value in expected.items():
        assert conf.get(key) == value, key
    assert "bigdlppmlaz.PpmlGcmCodec" in conf["spark.hadoop.io.compression.codecs"]
    assert "spark.authenticate.secret" not in conf  # never on the command line
    import re

    regex = re.compile(conf["spark.redaction.regex"])
    for name in ("spark.authenticate.secret", "spark.bigdl.kms.key.primary", "spark.bigdl.primaryKey.k.plainText",
                 "fs.ppml.secret.key.write", "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net",
                 "spark.ssl.keyStorePassword", "parquet.encryption.key.access.token"):  # fmt: skip
        assert regex.search(name), name

    for role, epc in (("driver", "16Gi"), ("executor", "32Gi")):
        path = Path(conf[f"spark.kubernetes.{role}.podTemplateFile"])
        assert path.parent == templates
        pod = yaml.safe_load(path.read_text())
        assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
        assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
        spec = pod["spec"]
        assert spec["serviceAccountName"] == "spark"
        assert spec["nodeSelector"] == {"kubernetes.azure.com/agentpool": "sgxpool"}
        terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        sgx_nodes = {"key": "kubernetes.azure.com/sgx_epc_mem_in_MiB", "operator": "Exists"}
        assert terms[0]["matchExpressions"][0] == sgx_nodes
        container = spec["containers"][0]
        assert container["resources"]["limits"] == {"sgx.intel.com/epc": epc}
        assert container["resources"]["requests"] == {"sgx.intel.com/epc": epc}
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts == {"sgx-enclave": "/dev/sgx/enclave", "sgx-provision": "/dev/sgx/provision",
                          "aesmd-socket": "/var/run/aesmd"}  # fmt: skip
        volumes = {v["name"]: v["hostPath"] for v in spec["volumes"]}
        assert volumes["sgx-enclave"] == {"path": "/dev/sgx_enclave", "type": "CharDevice"}
        assert volumes["sgx-provision"] == {"path": "/dev/sgx_provision", "type": "CharDevice"}
        assert {"name": "PPML_AZ_SECURE_TRANSPORT", "value": "1"} in container["env"]


def test_secrets_stay_off_the_command_line(tmp_path: Path) -> None:
    env = {"SPARK_AUTHENTICATE_SECRET": "s3cr3t-value-xyz", "SPARK_SSL_KEYSTORE_PASSWORD": "ks-pass-abc"}
    args = _args("--master", "local-cluster[2,1,1024]", "--keystore", "/keys/keystore.jks", "job.py")
    plan = submit.build_plan(args, tmp_path, env)
    line = plan.shown()
    assert "s3cr3t-value-xyz" not in line and "ks-pass-abc" not in line
    props = Path(plan.files["properties"])
    assert stat.S_IMODE(props.stat().st_mode) == 0o600
    text = props.read_text()
    assert "spark.authenticate.secret s3cr3t-value-xyz" in text and "spark.ssl.keyStorePassword ks-pass-abc" in text
    conf = _confs(plan.command)
    assert conf["spark.ssl.enabled"] == "true" and conf["spark.ssl.keyStore"] == "/keys/keystore.jks"
    assert _flag(plan.command, "--properties-file") == str(props) and "--load-spark-defaults" in plan.command
    # a dry run writes placeholders only
    dry = submit.build_plan(args, tmp_path / "dry", env, dry_run=True)
    assert "s3cr3t" not in Path(dry.files["properties"]).read_text()


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--conf", "spark.io.encryption.enabled=false"], "keeps it on"),
        (["--conf", "spark.authenticate.secret=abc"], "visible to every local user"),
        (["--keystore", "/k.jks"], "export SPARK_SSL_KEYSTORE_PASSWORD"),
    ],
)
def test_refusals(tmp_path: Path, argv: list[str], match: str) -> None:
    args = _args("--master", "local[2]", *argv, "job.py")
    with pytest.raises(ConfigError, match=match):
        submit.build_plan(args, tmp_path, {})


def test_sgx_needs_enclave_size(tmp_path: Path) -> None:
    args = _args("--master", "k8s://https://x", "--sgx-enabled", "true", "job.py")
    with pytest.raises(ConfigError, match="--sgx-driver-memory"):
        submit.build_plan(args, tmp_path, {})


# ---- a real secure run ------------------------------------------------------------------------------------------

MARKER = "plainmarker"


def _secure_run(tmp_path: Path, io_encryption: bool) -> dict[str, Any]:
    from bigdl_ppml_az.kms.local import LocalKms

    tmp_path.mkdir(parents=True)
    key = tmp_path / "primary.key"
    LocalKms.create(key)
    local_dir = tmp_path / "spark-local"
    local_dir.mkdir()
    results = tmp_path / "results.json"
    # shuffle compression off in both runs: what must keep the bytes unreadable is I/O encryption, not lz4
    argv = ["submit", "--master", "local-cluster[2,1,1024]", "--name", "secure-run",
            "--conf", f"spark.local.dir={local_dir}", "--conf", "spark.ui.enabled=false",
            "--conf", "spark.shuffle.compress=false", "--conf", "spark.shuffle.spill.compress=false",
            "--conf", "spark.sql.shuffle.partitions=4", "--conf", "spark.ui.showConsoleProgress=false",
            "--conf", f"spark.executorEnv.PYTHONPATH={HERE.parent / 'python'}",
            str(HERE / "secure_job.py"), str(key), str(tmp_path / "data"), str(results), MARKER]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "python"), "SPARK_AUTHENTICATE_SECRET": "test-secret-1"}
    env.pop("PPML_AZ_SECURE_TRANSPORT", None)  # submit must export it itself
    if io_encryption:
        command = [sys.executable, "-m", "bigdl_ppml_az", *argv]
    else:  # the control run: ppml-az submit refuses to turn it off, so run its command with that one setting flipped
        plan = submit.build_plan(cli.build_parser().parse_args(argv), tmp_path / "plan", env)
        command = [c if c != "spark.io.encryption.enabled=true" else "spark.io.encryption.enabled=false"
                   for c in plan.command]  # fmt: skip
        env.update(plan.env)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    return dict(json.loads(results.read_text()))


@pytest.mark.cluster
@pytest.mark.slow
def test_secure_local_cluster_run_leaves_no_plaintext_in_shuffle_files(tmp_path: Path) -> None:
    result = _secure_run(tmp_path / "secure", io_encryption=True)
    assert result["conf"]["spark.authenticate"] == "true"
    assert result["conf"]["spark.network.crypto.enabled"] == "true"
    assert result["conf"]["spark.io.encryption.enabled"] == "true"
    assert result["executors"] == 2  # decryption and shuffle really happen in two executor processes
    assert result["rows"] == result["expected"]  # keyDelivery=driver was accepted and the data came back
    assert result["shuffle_files"] > 0, "no shuffle files found: the grep would check nothing"
    assert result["marker_files"] == []
    # control: the same job with I/O encryption off leaves the marker on disk, so the check above can fail
    control = _secure_run(tmp_path / "control", io_encryption=False)
    assert control["conf"]["spark.io.encryption.enabled"] == "false"
    assert control["shuffle_files"] > 0 and control["marker_files"]


def test_bundle_python_and_shim_for_a_local_master(tmp_path: Path) -> None:
    args = _args("--master", "local[2]", "--bundle", str(tmp_path / "b.zip"), "--py-files", "extra.py",
                 "--native", "--shim-jar", "/opt/shim.jar", "--python", "/usr/bin/python3", "job.py", "a1")  # fmt: skip
    plan = submit.build_plan(args, tmp_path / "w", {})
    import zipfile

    assert _flag(plan.command, "--py-files") == f"{tmp_path / 'b.zip'},extra.py"
    names = zipfile.ZipFile(tmp_path / "b.zip").namelist()
    assert "bigdl_ppml_az/ppml_context.py" in names and "pyspark_ppml_enc.py" in names
    assert _flag(plan.command, "--jars") == "/opt/shim.jar"
    conf = _confs(plan.command)
    assert conf["spark.pyspark.python"] == "/usr/bin/python3" and plan.env["PYSPARK_PYTHON"] == "/usr/bin/python3"
    assert plan.env["PPML_AZ_SECURE_TRANSPORT"] == "1"
    assert "spark.kubernetes.driver.podTemplateFile" not in conf
    assert plan.command[-2:] == ["job.py", "a1"]
