"""PPMLContext: BigDL PPML's Python API on bigdl-ppml-az, plus the spark.bigdl.* settings translation.

The BigDL-API job (tests/bigdl_api_job.py, BigDL's API only, our import line) runs in child processes: through
``spark-submit --conf spark.bigdl.*`` on local keys without the shim (ppml-enc path), with the shim (JVM path)
on the same data, and on the Key Vault emulator. Results must be identical across paths and equal to Spark's own
answer on the plaintext.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az import bigdl_conf, cli
from bigdl_ppml_az.errors import ConfigError

HERE = Path(__file__).resolve().parent
JOB = HERE / "bigdl_api_job.py"
OUR_IMPORT = "from bigdl_ppml_az.ppml_context import *"
BIGDL_IMPORT = "from bigdl.ppml.ppml_context import *"


# ---- bigdl_conf (pure) ----------------------------------------------------------------------------------------


def test_legacy_guide_settings_become_options() -> None:
    conf = {
        "spark.bigdl.kms.type": "AzureKeyManagementService",
        "spark.bigdl.kms.azure.vault": "myKeyVault",
        "spark.bigdl.kms.key.primary": "keys/primaryKey",
        "spark.bigdl.kms.key.data": "keys/dataKey",
        "spark.bigdl.engineType": "mkldnn",  # DLlib's setting from spark-bigdl.conf: not ours, left alone
    }
    assert bigdl_conf.key_options(conf) == {
        "kms": "azure",
        "vault": "myKeyVault",
        "primaryKeyPath": "keys/primaryKey",
        "dataKeyPath": "keys/dataKey",
    }
    assert bigdl_conf.key_names(conf) == ["defaultKey"]


def test_named_keys_and_precedence() -> None:
    conf = {
        "spark.bigdl.primaryKey.amy.kms.type": "AzureKeyManagementService",
        "spark.bigdl.primaryKey.amy.kms.vault": "v1",
        "spark.bigdl.primaryKey.amy.kms.clientId": "cid",
        "spark.bigdl.primaryKey.amy.material": "amy.key",
        "spark.bigdl.primaryKey.bob.kms.type": "local",
        "spark.bigdl.primaryKey.bob.material": "bob.key",
        "spark.bigdl.kms.type": "local",
        "spark.bigdl.kms.key.primary": "legacy.key",
    }
    assert bigdl_conf.key_names(conf) == ["amy", "bob", "defaultKey"]
    assert bigdl_conf.key_options(conf, "amy") == {
        "kms": "azure", "vault": "v1", "clientId": "cid", "primaryKeyPath": "amy.key"
    }  # fmt: skip
    assert bigdl_conf.key_options(conf, "bob") == {"kms": "local", "primaryKeyPath": "bob.key"}
    assert bigdl_conf.key_options(conf) == {"kms": "local", "primaryKeyPath": "legacy.key"}
    # explicit options win; an explicit kms means the configuration is not mixed in at all
    assert bigdl_conf.key_options(conf, "bob", {"primaryKeyPath": "x.key"})["primaryKeyPath"] == "x.key"
    assert bigdl_conf.key_options(conf, "amy", {"kms": "local", "primaryKeyPath": "p"}) == {
        "kms": "local", "primaryKeyPath": "p"
    }  # fmt: skip
    assert bigdl_conf.key_spec({}, "defaultKey") is None


@pytest.mark.parametrize(
    ("conf", "match"),
    [
        ({"spark.bigdl.kms.type": "EHSMKeyManagementService"}, r"spark.bigdl.kms.type=EHSMKeyManagementService: eHSM"),
        ({"spark.bigdl.primaryKey.k.kms.type": "SimpleKeyManagementService"}, "SimpleKeyManagementService"),
        ({"spark.bigdl.primaryKey.k.kms.type": "BigDLKeyManagementService"}, "BigDL KMS"),
        ({"spark.bigdl.primaryKey.k.kms.type": "local", "spark.bigdl.primaryKey.k.kms.appId": "1"}, "kms.appId"),
        ({"spark.bigdl.primaryKey.k.kms.type": "local", "spark.bigdl.primaryKey.k.materal": "x"}, "unknown BigDL key"),
        ({"spark.bigdl.kms.simple.id": "1"}, "does not have"),
        ({"spark.bigdl.kms.type": "local"}, "names no primary key file"),
        ({"spark.bigdl.primaryKey.k.material": "p"}, "no KMS type"),
        ({"spark.bigdl.primaryKey.k.kms.type": "AzureKeyManagementService"}, "neither a vault"),
    ],
)
def test_settings_we_cannot_honour_are_errors(conf: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        bigdl_conf.check_all(conf)
    assert any(word in str(info.value) for word in ("ppml-az", "use ", "set "))  # says what to do


def test_unsupported_kms_error_says_what_to_use() -> None:
    with pytest.raises(ConfigError) as info:
        bigdl_conf.ppml_args_conf({"kms_type": "EHSMKeyManagementService"})
    message = str(info.value)
    assert "AzureKeyManagementService" in message and "keys create" in message
    with pytest.raises(ConfigError, match="app_id"):
        bigdl_conf.ppml_args_conf({"kms_type": "SimpleKeyManagementService", "app_id": "1", "api_key": "2"})


def test_ppml_args_as_bigdl_settings() -> None:
    conf = bigdl_conf.ppml_args_conf(
        {"kms_type": "AzureKeyManagementService", "vault": "v", "client_id": "c", "primary_key_material": "k"}
    )
    assert conf == {
        "spark.bigdl.primaryKey.defaultKey.kms.type": "AzureKeyManagementService",
        "spark.bigdl.primaryKey.defaultKey.kms.vault": "v",
        "spark.bigdl.primaryKey.defaultKey.kms.clientId": "c",
        "spark.bigdl.primaryKey.defaultKey.material": "k",
    }
    assert bigdl_conf.key_options(conf) == {"kms": "azure", "vault": "v", "clientId": "c", "primaryKeyPath": "k"}
    # ours too: kms_type local with primary_key_path (older BigDL's name)
    local = bigdl_conf.ppml_args_conf({"kms_type": "local", "primary_key_path": "p", "data_key_path": "d"})
    assert bigdl_conf.key_options(local) == {"kms": "local", "primaryKeyPath": "p", "dataKeyPath": "d"}
    with pytest.raises(ConfigError, match=r"ppml_args\['vualt'\]: unknown argument"):
        bigdl_conf.ppml_args_conf({"vualt": "v"})


def test_plaintext_primary_key_validated_without_echo() -> None:
    import base64

    good = base64.b64encode(os.urandom(32)).decode()
    conf = bigdl_conf.ppml_args_conf({"kms_type": "", "primary_key_plaintext": good})
    assert bigdl_conf.key_options(conf)["kms"] == "local"
    secret = base64.b64encode(b"x" * 20).decode()
    with pytest.raises(ConfigError, match="decodes to 20 bytes") as info:
        bigdl_conf.check_all(bigdl_conf.ppml_args_conf({"kms_type": "", "primary_key_plaintext": secret}))
    assert secret not in str(info.value)


def test_crypto_mode_values_and_spellings() -> None:
    from bigdl_ppml_az.ppml_context import CryptoMode

    assert CryptoMode.PLAIN_TEXT.value == "plain_text"
    assert CryptoMode.AES_CBC_PKCS5PADDING.value == "AES/CBC/PKCS5Padding"  # BigDL's value, exactly
    assert CryptoMode("aes/cbc/pkcs5padding") is CryptoMode.AES_CBC_PKCS5PADDING
    assert CryptoMode("aes_gcm_v1") is CryptoMode.AES_GCM_V1
    assert CryptoMode("AES_GCM_CTR_V1").canonical == "aes_gcm_ctr_v1"
    assert CryptoMode.PPML_GCM.value == "ppml-gcm"


def test_job_script_uses_only_bigdls_api() -> None:
    """The job is a BigDL job: swap the import line and nothing names this project any more."""
    text = JOB.read_text()
    first, _, rest = text.partition("\n")
    assert first.startswith(OUR_IMPORT)
    assert "bigdl_ppml_az" not in rest and "ppml-enc" not in rest and "jvm" not in rest
    bigdl_version = BIGDL_IMPORT + rest
    assert "bigdl_ppml_az" not in bigdl_version


# ---- in-process: errors and save-mode checks on the shared session ----------------------------------------------


def test_context_on_existing_session(spark: Any, tmp_path: Path, local_key: Path) -> None:
    from bigdl_ppml_az.ppml_context import CryptoMode, PPMLContext

    ctx = PPMLContext("t", {"kms_type": "local", "primary_key_material": str(local_key)}, spark=spark)
    assert ctx.native is False  # the shared session has no shim
    df = spark.createDataFrame([("a", 1), ("b", 2)], "name STRING, n INT")
    out = str(tmp_path / "out")
    # (partitionBy through ppml-enc: tests/test_partitioned_write.py)
    with pytest.raises(ConfigError, match="unknown save mode"):
        ctx.write(df, CryptoMode.PPML_GCM).mode("upsert")
    with pytest.raises(ConfigError, match="primary_key_name='nokey': no such key"):
        ctx.read(CryptoMode.PPML_GCM, primary_key_name="nokey").csv(out)
    with pytest.raises(ConfigError, match="writes csv, json, text, not parquet"):
        ctx.write(df, CryptoMode.AES_CBC_PKCS5PADDING).parquet(out)
    with pytest.raises(ConfigError, match="Parquet Modular Encryption"):
        ctx.write(df, CryptoMode.AES_GCM_V1).csv(out)
    ctx.write(df, CryptoMode.PPML_GCM).csv(out)  # default mode errorifexists, target absent: written
    assert ctx.last_path == "ppml-enc"
    with pytest.raises(Exception, match="already exists"):
        ctx.write(df, CryptoMode.PPML_GCM).csv(out)
    # (ppml-enc's CSV writer quotes strings where Spark's does not: a fidelity gap of the writer, not of textfile)
    assert sorted(line.replace('"', "") for line in ctx.textfile(out, 1, CryptoMode.PPML_GCM).collect()) == [
        "a,1",
        "b,2",
    ]


# ---- child runs of the BigDL-API job ---------------------------------------------------------------------------


def _people(work: Path) -> list[list[Any]]:
    lines = ["name,age,job"]
    expected = []
    for i in range(300):
        name, age, job = f"person{i:03d}", 18 + (i * 7) % 50, ("Developer", "Manager", "Tester")[i % 3]
        lines.append(f"{name},{age},{job}")
        if age > 30:
            expected.append([name, age, job])
    (work / "people.csv").write_text("\n".join(lines) + "\n")
    return sorted(expected, key=str)


def _env(**extra: str) -> dict[str, str]:
    python_path = os.pathsep.join([str(HERE.parent / "python"), os.environ.get("PYTHONPATH", "")])
    return {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "PYTHONPATH": python_path,
        **extra,
    }


def _spark_submit() -> str:
    found = shutil.which("spark-submit", path=str(Path(sys.executable).parent)) or shutil.which("spark-submit")
    assert found, "spark-submit (installed with pyspark) not found"
    return found


class _Job:
    """One spark-submit of the BigDL-API job, started at once; ``result()`` waits for it. Its output goes to
    files, not pipes, so that a job nobody reads from yet cannot block on a full pipe."""

    def __init__(
        self,
        work: Path,
        ppml_args: dict[str, str],
        conf: dict[str, str],
        env: dict[str, str],
        submit_conf: dict[str, str],
        steps: list[str] | None = None,
    ) -> None:
        self.results = work / "results.json"
        command = [_spark_submit(), "--master", "local[2]"]
        settings = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false", **submit_conf}
        for key, value in settings.items():
            command += ["--conf", f"{key}={value}"]
        command += [str(JOB), json.dumps(ppml_args), str(work), str(self.results), json.dumps(conf)]
        if steps is not None:
            command.append(json.dumps(steps))
        self.log = work.parent / f"{work.name}.submit.log"
        with self.log.open("w") as sink:
            self.proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, text=True, env=env, cwd=work)

    def result(self) -> dict[str, Any]:
        try:
            code = self.proc.wait(timeout=600)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        if code != 0:
            raise AssertionError(f"BigDL-API job failed:\n{self.log.read_text(errors='replace')[-6000:]}")
        return dict(json.loads(self.results.read_text()))


def _run_job(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """One :class:`_Job` (same arguments), waited for."""
    return _Job(*args, **kwargs).result()


def _check(results: dict[str, Any], expected: list[list[Any]], path: str) -> None:
    assert results["plain"] == expected
    for label in ("cbc_csv", "gcm_json", "pme_parquet", "people_cbc"):
        assert results[label] == expected, label
    modes = results["modes"]
    base = results["base"]
    assert "already exists" in modes["error"] and "already exists" in modes["errorifexists"]
    assert modes["ignore+append"] == 2 * base and modes["overwrite"] == base
    assert modes["ignore_new"] is True and modes["error_new"] is True
    assert len(results["textfile"]) == base and all(line.startswith('{"name":') for line in results["textfile"])
    assert results["sql"] == 42
    paths = results["paths"]
    # BigDL aes/cbc/pkcs5padding output is always written by ppml-enc (the codec reads it but cannot write it)
    assert paths["write_cbc_csv"] == "ppml-enc"
    for label in ("read_cbc_csv", "write_gcm_json", "read_gcm_json", "read_pme_parquet", "write_pme_parquet",
                  "textfile"):  # fmt: skip
        assert paths[label] == path, (label, paths)
    # files that kept their plaintext names (ppml-az encrypt: people.csv) are found by their header on the JVM path
    assert paths["read_people_cbc"] == path


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory: pytest.TempPathFactory, shim_jar: str) -> dict[str, Any]:  # noqa: F811
    """The same job and data: ppml-enc path (keys from spark-submit --conf) and JVM path (keys from ppml_args).
    The two spark-submits (separate driver JVMs, separate work directories) run at the same time."""
    from bigdl_ppml_az.kms.local import LocalKms

    base = tmp_path_factory.mktemp("bigdl-api")
    keys = base / "keys"
    for name in ("primary", "amy", "bob"):
        LocalKms.create(keys / f"{name}.key")
    out: dict[str, Any] = {}
    jobs: dict[str, _Job] = {}
    named = {
        "spark.bigdl.primaryKey.amyKey.kms.type": "local",
        "spark.bigdl.primaryKey.amyKey.material": str(keys / "amy.key"),
        "spark.bigdl.primaryKey.bobKey.kms.type": "local",
        "spark.bigdl.primaryKey.bobKey.material": str(keys / "bob.key"),
    }
    for label, native in (("ppml-enc", "0"), ("jvm", "1")):
        work = base / label
        work.mkdir()
        out["expected"] = _people(work)
        # BigDL-layout input as the guide's encryption step makes it (file names kept: people.csv)
        encrypt = ["encrypt", "--kms", "local", "--primary-key", str(keys / "primary.key"), "--crypto-mode",
                   "aes/cbc/pkcs5padding", str(work / "people.csv"),
                   str(work / "people_cbc" / "people.csv")]  # fmt: skip
        assert cli.main(encrypt) == 0
        submit_conf = dict(named)
        ppml_args: dict[str, str] = {}
        if label == "ppml-enc":  # keys only through the guide's older spark-submit settings
            submit_conf["spark.bigdl.kms.type"] = "local"
            submit_conf["spark.bigdl.kms.key.primary"] = str(keys / "primary.key")
        else:
            ppml_args = {"kms_type": "local", "primary_key_material": str(keys / "primary.key")}
        env = _env(PPML_AZ_NATIVE=native)
        if native == "1":  # what `ppml-az submit --native` adds: spark-submit starts the JVM, so the jar goes here
            from bigdl_ppml_az import jvm

            submit_conf.update(jvm.spark_settings(shim_jar))
        jobs[label] = _Job(work, ppml_args, {}, env, submit_conf)
    try:
        for label, job in jobs.items():
            out[label] = job.result()
    finally:
        for job in jobs.values():  # a failed first job leaves no second one running
            if job.proc.poll() is None:
                job.proc.kill()
                job.proc.wait()
    return out


from test_shim_codec import shim_jar  # noqa: E402,F401  (the shared jar fixture)


def test_bigdl_job_ppml_enc_path_with_spark_submit_conf(local_runs: dict[str, Any]) -> None:
    results = local_runs["ppml-enc"]
    _check(results, local_runs["expected"], "ppml-enc")
    # two named keys in one job, from spark.bigdl.primaryKey.<name>.* given to spark-submit
    assert results["named_amyKey"] == results["base"] and results["named_bobKey"] == results["base"]


def test_bigdl_job_jvm_path_same_results(local_runs: dict[str, Any]) -> None:
    jvm, enc = local_runs["jvm"], local_runs["ppml-enc"]
    _check(jvm, local_runs["expected"], "jvm")
    for label in ("plain", "cbc_csv", "gcm_json", "pme_parquet", "people_cbc", "textfile"):
        assert jvm[label] == enc[label], label
    # save-mode outcomes are the same (the error messages name each run's own directory)
    assert json.dumps(jvm["modes"]).replace("/jvm/", "/RUN/") == json.dumps(enc["modes"]).replace("/ppml-enc/", "/RUN/")
    assert jvm["named_amyKey"] == jvm["base"] and jvm["named_bobKey"] == jvm["base"]


@pytest.mark.parametrize("path", ["ppml-enc", "jvm"])
def test_named_key_cannot_read_the_other_keys_data(local_runs: dict[str, Any], path: str) -> None:
    """bob's key must not read amy's data, even in a process that already unwrapped amy's key (the unwrap cache
    is keyed by the KMS identity since the KMS registry; before it, this read succeeded from the cache)."""
    cross = local_runs[path]["named_cross"]
    assert cross != "read" and ("WrongKeyError" in cross or "unwrap" in cross)


def test_register_gives_ppml_enc_the_sessions_bigdl_defaults(spark: Any, tmp_path: Path, local_key: Path) -> None:
    """Planning workers cannot see the conf, so register(spark) carries the translated defaults with the class."""
    from bigdl_ppml_az import bigdl_session, register

    df = spark.createDataFrame([("a", 1), ("b", 2)], "name STRING, n INT")
    out = str(tmp_path / "enc")
    df.write.format("ppml-enc").option("kms", "local").option("primaryKeyPath", str(local_key)).mode("append").save(out)
    spark.conf.set("spark.bigdl.kms.type", "local")
    spark.conf.set("spark.bigdl.kms.key.primary", str(local_key))
    try:
        assert bigdl_session.register(spark) == {"kms": "local", "primaryKeyPath": str(local_key)}
        rows = spark.read.format("ppml-enc").schema("name STRING, n INT").load(out).collect()  # no kms option
        assert sorted(tuple(r) for r in rows) == [("a", 1), ("b", 2)]
        # explicit options win, and a read naming its own kms takes nothing from the defaults
        defaults = {"kms": "local", "primaryKeyPath": "conf.key"}
        assert bigdl_session.merge_defaults(defaults, {"primarykeypath": "x.key"}) == {
            "kms": "local", "primarykeypath": "x.key"
        }  # fmt: skip
        assert bigdl_session.merge_defaults(defaults, {"kms": "azure", "vault": "v"}) == {"kms": "azure", "vault": "v"}
        spark.conf.set("spark.bigdl.kms.type", "EHSMKeyManagementService")
        with pytest.raises(ConfigError, match="EHSMKeyManagementService"):
            bigdl_session.register(spark)
    finally:
        spark.conf.unset("spark.bigdl.kms.type")
        spark.conf.unset("spark.bigdl.kms.key.primary")
        register(spark)


# ---- the same job on the Key Vault emulator ---------------------------------------------------------------------


def _kv_env(kv: Any) -> dict[str, str]:
    return {
        "PPML_AZ_KV_CREDENTIAL": "emulator",
        "PPML_AZ_KV_CA_BUNDLE": str(kv.ca_path),
        "PPML_AZ_KV_VERIFY_CHALLENGE_RESOURCE": "false",
    }


@pytest.fixture(scope="module")
def azure_run(tmp_path_factory: pytest.TempPathFactory, kv_emulator: Any) -> dict[str, Any]:
    """The guide's Azure flow: a BigDL key (2048-bit) in Key Vault, BigDL-layout input, the BigDL-API job."""
    import uuid

    work = tmp_path_factory.mktemp("bigdl-api-azure")
    keys = work / "keys"
    expected = _people(work)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in _kv_env(kv_emulator).items():
            patch.setenv(key, value)
        assert cli.main(["keys", "create", "--kmsType", "AzureKeyManagementService", "--vaultName", kv_emulator.url,
                         "--name", "job-" + uuid.uuid4().hex[:8], "--primaryKeyPath", str(keys / "primaryKey"),
                         "--bigdl"]) == 0  # fmt: skip
        assert cli.main(["encrypt", "--kms", "azure", "--vault", kv_emulator.url, "--primary-key",
                         str(keys / "primaryKey"), "--crypto-mode", "aes/cbc/pkcs5padding", str(work / "people.csv"),
                         str(work / "people_cbc" / "people.csv")]) == 0  # fmt: skip
    ppml_args = {"kms_type": "AzureKeyManagementService", "vault": kv_emulator.url,
                 "primary_key_material": str(keys / "primaryKey")}  # fmt: skip
    results = _run_job(work, ppml_args, {}, _env(PPML_AZ_NATIVE="0", **_kv_env(kv_emulator)), {}, ["textfile"])
    return {"expected": expected, "results": results, "keys": keys}


def test_bigdl_job_on_key_vault_emulator(azure_run: dict[str, Any]) -> None:
    results, expected = azure_run["results"], azure_run["expected"]
    assert results["plain"] == expected
    assert results["cbc_csv"] == expected and results["gcm_json"] == expected and results["people_cbc"] == expected
    assert results["paths"]["read_people_cbc"] == "ppml-enc" and results["paths"]["write_cbc_csv"] == "ppml-enc"
    assert len(results["textfile"]) == results["base"]


def test_pme_on_key_vault_emulator(spark: Any, kv: Any, tmp_path: Path) -> None:
    """Parquet Modular Encryption with a Key Vault key through PPMLContext (extra options: the emulator's TLS)."""
    import uuid

    from bigdl_ppml_az.kms.azure import create_primary_key
    from bigdl_ppml_az.ppml_context import CryptoMode, PPMLContext

    key_id = create_primary_key(kv.url, "pme-" + uuid.uuid4().hex[:8], options=kv.options())
    key_file = tmp_path / "primaryKey"
    key_file.write_text(key_id + "\n")
    tls = ("credential", "connectionVerify", "verifyChallengeResource")
    extra = {k: v for k, v in kv.options().items() if k in tls}
    ctx = PPMLContext(None, {"kms_type": "AzureKeyManagementService", "vault": kv.url,
                             "primary_key_material": str(key_file)}, spark=spark, options=extra)  # fmt: skip
    df = spark.createDataFrame([(f"rowmark{i}", i) for i in range(50)], "name STRING, n INT")
    out = str(tmp_path / "pme")
    ctx.write(df, CryptoMode.AES_GCM_CTR_V1).parquet(out)
    parts = [p for p in Path(out).glob("*.parquet")]
    assert parts and all(p.read_bytes()[-4:] == b"PARE" and b"rowmark" not in p.read_bytes() for p in parts)
    back = ctx.read(CryptoMode.AES_GCM_CTR_V1).parquet(out)
    assert ctx.last_path == "ppml-enc"
    assert sorted(tuple(r) for r in back.collect()) == sorted(tuple(r) for r in df.collect())
    # the keys went through the vault: wrapping may use the fetched public key (get), unwrapping never can
    assert kv.calls.get("wrapKey", 0) + kv.calls.get("get", 0) > 0 and kv.calls.get("unwrapKey", 0) > 0
