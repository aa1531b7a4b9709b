"""kms=azure-skr on the JVM path: the shim's executors attest, have the primary key released once per process and
key, and decrypt; forged or replayed releases and refused attestations fail the read naming what failed; the
released keys and data keys appear in no log, no Spark UI page and no Hadoop setting.

The Spark session (local-cluster[2,1,1024] with the shim jar: two executor JVMs) runs in a child process (this
file run as a script), the emulators and the simulated Gramine device in this test process. Before each attack
the child waits on a marker file while this process sets the emulator's knob for it; every attack reads with a
key of its own, because executors keep a released key for the token's lifetime.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.formats import ppml_gcm
from bigdl_ppml_az.kms import generate_data_key
from bigdl_ppml_az.kms.azure_skr import AzureSkrKms
from child_spark import finish_child
from skr_fixtures import (  # noqa: F401
    MEASURED,
    WRONG_MRENCLAVE,
    SkrEnv,
    secret_forms,
    skr_fixture,
    skr_module_fixture,
)
from test_shim_codec import shim_jar  # noqa: F401

HERE = Path(__file__).resolve()


# ---- child side ----------------------------------------------------------------------------------------------


def _child(plan_path: str) -> None:
    plan = json.loads(Path(plan_path).read_text())
    from pyspark.sql import SparkSession

    from bigdl_ppml_az import jvm

    work = Path(plan["work"])
    builder = SparkSession.builder.master(plan["master"]).appName("skr-jvm")
    for key, value in plan["conf"].items():
        builder = builder.config(key, value)
    spark = jvm.configure(builder, plan["jar"]).getOrCreate()
    results: dict[str, Any] = {"appId": spark.sparkContext.applicationId, "driver_pid": os.getpid()}
    for job in plan["jobs"]:
        marker = work / f"turn-{job['id']}"
        marker.touch()  # the parent sets this job's emulator knobs, then answers
        while not Path(f"{marker}.go").exists():
            time.sleep(0.05)
        try:
            results[job["id"]] = {"ok": True, **_run_job(spark, job)}
        except Exception as exc:  # the test reads the message
            results[job["id"]] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finish_child(spark, plan, results)


def _run_job(spark: Any, job: dict[str, Any]) -> dict[str, Any]:
    from bigdl_ppml_az import jvm
    from bigdl_ppml_az.jvm import pme

    op = job["op"]
    for key, value in job.get("sql_conf", {}).items():
        spark.conf.set(key, value)
    if op == "text":
        jvm.prepare_read(spark, job["path"], job["kms"])
        df = spark.read.text(job["path"])
        return {"lines": [r.value for r in df.collect()], "partitions": df.rdd.getNumPartitions()}
    if op == "ctx":
        from bigdl_ppml_az.ppml_context import CryptoMode, PPMLContext

        ctx = PPMLContext(None, spark=spark, native=True, options=job["kms"])
        df = ctx.read(CryptoMode.PPML_GCM).option("header", "true").csv(job["path"])
        return {"rows": sorted([list(r) for r in df.collect()]), "path": ctx.last_path}
    if op == "pme_write":
        pme.configure_session(spark, job["kms"])
        df = spark.range(0, job["n"]).selectExpr("id", "id * 2 AS x", "concat('rowmark', id) AS s")
        df.repartition(4).write.options(**pme.write_options("aes_gcm_v1", job["footer"])).mode("overwrite").parquet(
            job["out"]
        )
        return {}
    if op == "pme_read":
        pme.configure_session(spark, job["kms"])
        df = spark.read.parquet(job["out"])
        return {"count": df.count(), "sum": int(df.selectExpr("sum(x)").first()[0])}
    if op == "hadoop_conf":
        # Spark lists the Hadoop configuration in the UI's environment (and the event log) when the environment is
        # posted: at start and again on addFile, so post it now that prepare_read has set what it sets.
        spark.sparkContext.addFile(job["file"])
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        entries, it = {}, conf.iterator()
        while it.hasNext():
            entry = it.next()
            if str(entry.getKey()).startswith(("fs.ppml.", "parquet.")):
                entries[str(entry.getKey())] = str(entry.getValue())
        return {"entries": entries}
    raise ValueError(op)


# ---- parent side ---------------------------------------------------------------------------------------------


def _encrypt(env: SkrEnv, key_id: str, plain: bytes, target: Path) -> bytes:
    """A ppml-gcm file wrapped to ``key_id`` by a writer (public key only, no release); returns the data key."""
    writer = AzureSkrKms.from_options(
        {k: v for k, v in env.options(primaryKeyId=key_id).items() if k != "attestation"}
    )
    data_key, wrapped = generate_data_key(writer)
    envelope = ppml_gcm.Envelope(wrapped.kms_type, wrapped.key_id, wrapped.algorithm, wrapped.ciphertext, 4096)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as sink:
        ppml_gcm.encrypt_stream(io.BytesIO(plain), sink, data_key, envelope)
    return data_key


def _reader_options(env: SkrEnv, **extra: str) -> dict[str, str]:
    """Reader options without primaryKeyId: each file names its key (as a job reading many tables would)."""
    return {k: v for k, v in env.options(**extra).items() if k != "primaryKeyId"}


def _run_child(
    jar: str, work: Path, jobs: list[dict[str, Any]], knobs: dict[str, Callable[[], None]], call_log: Path,
    *, master: str = "local-cluster[2,1,1024]", ui: bool = False,
) -> tuple[dict[str, Any], str]:
    plan = {
        "jar": jar, "work": str(work), "master": master, "jobs": jobs, "results": str(work / "results.json"),
        "environment_json": str(work / "environment.json") if ui else "",
        "conf": {
            "spark.ui.enabled": "true" if ui else "false",
            "spark.executor.memory": "512m",
            "spark.task.maxFailures": "1",  # an attack fails the job at once (no retried releases)
            "spark.sql.files.maxPartitionBytes": "16384",
            "spark.sql.files.openCostInBytes": "1000",
            "spark.sql.shuffle.partitions": "4",
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": str(work / "events"),
            "spark.eventLog.compress": "false",
        },
    }
    (work / "events").mkdir(exist_ok=True)
    (work / "plan.json").write_text(json.dumps(plan))
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "PPML_AZ_SKR_CALL_LOG": str(call_log)}
    log = work / "child.log"  # a file, not a pipe: a full pipe would stall the child's JVM mid-job
    with open(log, "wb") as sink:
        proc = subprocess.Popen([sys.executable, str(HERE), str(work / "plan.json")], env=env, stdout=sink,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 900
    try:
        for job in jobs:
            marker = work / f"turn-{job['id']}"
            while not marker.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"child ended or timed out before job {job['id']}: "
                                         f"{log.read_text(errors='replace')[-4000:]}")
                time.sleep(0.05)
            knobs.get(job["id"], lambda: None)()
            Path(f"{marker}.go").touch()
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text(errors="replace")
    assert proc.returncode == 0, output[-6000:]
    return json.loads((work / "results.json").read_text()), output


def _data_key_forms(key: bytes) -> list[str]:
    b64 = base64.b64encode(key).decode()
    return [key.hex(), b64, base64.urlsafe_b64encode(key).decode().rstrip("="), base64.b64encode(b64.encode()).decode()]


def _releases(call_log: Path, key_id: str) -> list[str]:
    """pids of the JVM releases of ``key_id`` (the shim's test hook: 'pid release key jvm ms')."""
    if not call_log.exists():
        return []
    rows = [line.split() for line in call_log.read_text().splitlines()]
    return [row[0] for row in rows if len(row) >= 4 and row[2] == key_id and row[3] == "jvm"]


def _wrong_enclave_with_ne_jwks(env: SkrEnv) -> None:
    """A policy refusal diagnosed with the older JWKS shape (n/e next to x5c): the token still verifies."""
    env.device.reset(WRONG_MRENCLAVE)
    env.maa.jwks_with_ne = True


# Each attack: (knob set before its read, reader options, text the read's error must hold). Every attack reads a
# file of its own key: executors keep a released key for the token's lifetime.
ATTACKS: dict[str, tuple[Callable[[SkrEnv], None], dict[str, str], str]] = {
    "unknown_signer": (lambda e: setattr(e.maa, "sign_with_unknown_key", True), {},
                       "(signed by an unknown key)"),
    "expired_token": (lambda e: setattr(e.maa, "ttl", -120.0), {}, "attestation token expired at"),
    "jwks_bad_ne": (lambda e: setattr(e.maa, "jwks_bad_ne", True), {}, "n/e do not match its x5c certificate"),
    "unlisted_kid": (lambda e: setattr(e.maa, "header_kid", "a-kid-the-jwks-does-not-list"), {},
                     "is signed by key 'a-kid-the-jwks-does-not-list', which https://127.0.0.1"),
    "policy": (lambda e: e.device.reset(WRONG_MRENCLAVE), {}, "x-ms-sgx-mrenclave"),
    "policy_jwks_ne": (lambda e: _wrong_enclave_with_ne_jwks(e), {}, "x-ms-sgx-mrenclave"),
    "foreign_chain": (lambda e: setattr(e.kv.release, "chain_variant", "foreign"), {},
                      "does not chain to a trusted root"),
    "other_host": (lambda e: setattr(e.kv.release, "chain_variant", "other-host"), {},
                   "(www.example.com) is not for host 127.0.0.1"),
    "wrong_host": (lambda e: setattr(e.kv.release, "chain_variant", "wrong-host"), {}, "is not for host 127.0.0.1"),
    "non_ca_issuer": (lambda e: setattr(e.kv.release, "chain_variant", "non-ca-issuer"), {},
                      "is not a CA (basic constraints)"),
    "path_length": (lambda e: setattr(e.kv.release, "chain_variant", "path-length"), {}, "(path length)"),
    "client_auth_only": (lambda e: setattr(e.kv.release, "chain_variant", "client-auth-only"), {},
                         "extended key usage lacks serverAuth"),
    "expired_chain": (lambda e: setattr(e.kv.release, "chain_variant", "expired"), {},
                      "is outside its validity period"),
    "key_usage": (lambda e: setattr(e.kv.release, "chain_variant", "key-usage"), {},
                  "key usage lacks digitalSignature"),
    "substituted_key": (lambda e: setattr(e.kv.release, "substitute_key", e.kv.private_key(e.key_id)), {},
                        "does not match the key it names"),
    "replay": (lambda e: None, {}, "a replayed response"),  # knob: _replay_knob
    "other_maa": (lambda e: setattr(e.sidecar, "maa_override", e.other_maa.url.split("://", 1)[1]),
                  {"attestation": "sevsnp-sidecar"}, "is not the configured maaEndpoint"),
    "tampered_quote": (lambda e: setattr(e.device, "tamper", True), {},
                       "report data in the quote does not match"),
    "unattested": (lambda e: None, {"attestation": "none"}, "admits no unattested release"),
    "denied": (lambda e: e.kv.deny("release"), {}, "(role Key Vault Crypto Service Release User)"),
}
# The attacks CI runs (one of each kind: token, policy, chain, host, replay, permission); --run-slow runs them all.
CI_ATTACKS = ("unknown_signer", "policy", "non_ca_issuer", "other_host", "replay", "denied")
# Refused after Key Vault answered: the response itself failed a check.
RESPONSE_CHECKS = ("foreign_chain", "other_host", "wrong_host", "non_ca_issuer", "path_length", "expired_chain",
                   "key_usage", "client_auth_only", "substituted_key", "replay")


def _reset_knobs(env: SkrEnv) -> None:
    env.maa.sign_with_unknown_key = False
    env.maa.ttl = 3600.0
    env.maa.jwks_bad_ne = env.maa.jwks_with_ne = False
    env.maa.header_kid = None
    env.device.reset(MEASURED)
    env.kv.release.reset()
    env.sidecar.reset()
    env.kv.reset_faults()


def _replay_knob(env: SkrEnv, key_id: str) -> None:
    """Have ``key_id`` released once to this (Python) process, then answer the executors' next release with that
    response: genuine, signed, for the right key, but for another request and wrapped to another runtime key."""
    writer = AzureSkrKms.from_options({k: v for k, v in env.options(primaryKeyId=key_id).items() if k != "attestation"})
    data_key, wrapped = generate_data_key(writer)
    assert AzureSkrKms.from_options(env.options(primaryKeyId=key_id)).unwrap(wrapped) == data_key
    env.kv.release.replay_next = env.kv.release.responses[-1]


def _knob(env: SkrEnv, name: str, key_id: str) -> Callable[[], None]:
    def apply() -> None:
        _reset_knobs(env)
        if name == "replay":
            _replay_knob(env, key_id)
        else:
            ATTACKS[name][0](env)

    return apply


@dataclass
class JvmRun:
    results: dict[str, Any]
    output: str  # the child's driver output
    executor_logs: str
    event_log: str
    environment: str  # the UI's environment (REST API), after an environment update
    call_log: Path
    keys: dict[str, str]
    data_keys: dict[str, bytes]
    counts: dict[str, int]  # emulator counts right after the reads, before the attacks
    plain_text: bytes
    plain_attack: bytes
    attacks: tuple[str, ...]  # the attacks this run performed


READS = ("text", "ctx", "pme")


@pytest.fixture(scope="module")
def jvm_run(
    skr_module: SkrEnv, shim_jar: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest  # noqa: F811
) -> Iterator[JvmRun]:
    """One child Spark session (local-cluster[2,1,1024], two executor JVMs) runs the reads, then the attacks
    (:data:`CI_ATTACKS`, or all of them with --run-slow: each is a Spark job with fresh releases)."""
    skr = skr_module
    attacks = tuple(ATTACKS) if request.config.getoption("--run-slow") else CI_ATTACKS
    skr.reset()
    work = tmp_path_factory.mktemp("skr-jvm")
    keys = {name: skr.create_key(f"skr-jvm-{name.replace('_', '-')}") for name in (*READS, "warmup", *attacks)}
    plain_text = b"".join(b"line %05d of the attested text file, padded to split\n" % i for i in range(1500))
    plain_csv = b"id,name\n" + b"".join(b"%d,person-%d\n" % (i, i) for i in range(400))
    plain_attack = b"".join(b"attested row %04d\n" % i for i in range(300))
    data_keys = {
        "text": _encrypt(skr, keys["text"], plain_text, work / "text" / "t.txt.ppmlgcm"),
        "ctx": _encrypt(skr, keys["ctx"], plain_csv, work / "ctx" / "people.csv"),
    }
    for name in ("warmup", *attacks):
        data_keys[name] = _encrypt(skr, keys[name], plain_attack, work / name / "a.txt.ppmlgcm")
    opts = _reader_options(skr)
    pme_opts = {**opts, "primaryKeyId": keys["pme"]}
    jobs: list[dict[str, Any]] = [
        {"id": "text", "op": "text", "path": str(work / "text"), "kms": opts},
        {"id": "ctx", "op": "ctx", "path": str(work / "ctx"), "kms": opts},
        {"id": "pme_write", "op": "pme_write", "kms": pme_opts, "footer": "skr-jvm-pme", "n": 4000,
         "out": str(work / "pme")},
        {"id": "pme_read", "op": "pme_read", "kms": pme_opts, "out": str(work / "pme")},
        {"id": "warmup", "op": "text", "path": str(work / "warmup"), "kms": opts},
    ]
    call_log = work / "skr-calls.log"
    counts: dict[str, int] = {}
    knobs: dict[str, Callable[[], None]] = {
        "pme_read": lambda: counts.update(pme_releases_before_read=len(_releases(call_log, keys["pme"])),
                                          wrap_calls=skr.kv.calls["wrapKey"]),
        "warmup": lambda: counts.update(releases=skr.kv.calls["release"], attests=skr.maa.calls["attest"]),
    }
    for name in attacks:
        options = _reader_options(skr, **ATTACKS[name][1])
        if name == "other_maa":
            options["sidecarEndpoint"] = skr.sidecar.url
        jobs.append({"id": name, "op": "text", "path": str(work / name), "kms": options})
        knobs[name] = _knob(skr, name, keys[name])
    jobs.append({"id": "after", "op": "text", "path": str(work / "policy"), "kms": opts})  # the measured enclave
    knobs["after"] = lambda: _reset_knobs(skr)
    keys["retried"] = skr.create_key("skr-jvm-retried")
    data_keys["retried"] = _encrypt(skr, keys["retried"], plain_attack, work / "retried" / "a.txt.ppmlgcm")
    jobs.append({"id": "retried", "op": "text", "path": str(work / "retried"), "kms": opts})
    knobs["retried"] = lambda: skr.kv.fail_next(429, 502)  # "after" reset the other knobs
    jobs.append({"id": "hadoop_conf", "op": "hadoop_conf", "file": str(work / "ctx" / "people.csv")})
    knobs["hadoop_conf"] = lambda: counts.update(faults=sum(skr.kv.faults[s] for s in (429, 502)))
    try:
        results, output = _run_child(shim_jar, work, jobs, knobs, call_log, ui=True)
    finally:
        _reset_knobs(skr)
        skr.reset()
    import pyspark

    executor_dirs = Path(pyspark.__file__).parent / "work" / results["appId"]
    yield JvmRun(
        results=results,
        output=output,
        executor_logs="".join(p.read_text(errors="replace") for p in executor_dirs.rglob("std*") if p.is_file()),
        event_log="".join(p.read_text(errors="replace") for p in (work / "events").rglob("*") if p.is_file()),
        environment=(work / "environment.json").read_text(),
        call_log=call_log,
        keys=keys,
        data_keys=data_keys,
        counts=counts,
        plain_text=plain_text,
        plain_attack=plain_attack,
        attacks=attacks,
    )


@pytest.mark.cluster
def test_jvm_path_reads_through_secure_key_release(jvm_run: JvmRun) -> None:
    """Spark's own reader with the shim codec, PPMLContext on the JVM path, and PME read what was written, each
    executor JVM attesting once per key; the driver never releases; writers never release."""
    results = jvm_run.results
    for job in ("text", "ctx", "pme_write", "pme_read", "warmup"):
        assert results[job]["ok"], results[job]
    assert results["text"]["lines"] == jvm_run.plain_text.decode().splitlines()
    assert results["text"]["partitions"] >= 4
    assert results["ctx"]["path"] == "jvm"  # PPMLContext steered the read to Spark's reader with the codec
    assert results["ctx"]["rows"] == sorted([[str(i), f"person-{i}"] for i in range(400)])
    assert results["pme_read"]["count"] == 4000 and results["pme_read"]["sum"] == sum(2 * i for i in range(4000))
    assert jvm_run.counts["pme_releases_before_read"] == 0  # the PME writers wrapped locally, never releasing
    assert jvm_run.counts["wrap_calls"] == 0
    driver = str(results["driver_pid"])
    for name in READS:  # at most one release per executor process and key, none on the driver
        pids = _releases(jvm_run.call_log, jvm_run.keys[name])
        assert 1 <= len(pids) <= 2 and len(pids) == len(set(pids)) and driver not in pids, jvm_run.call_log.read_text()
    assert jvm_run.counts["releases"] == sum(len(_releases(jvm_run.call_log, jvm_run.keys[n])) for n in READS)
    assert jvm_run.counts["attests"] == jvm_run.counts["releases"]


@pytest.mark.cluster
def test_jvm_path_refuses_each_attack_naming_it(jvm_run: JvmRun) -> None:
    """Every forged, replayed or refused release fails the Spark read with the check that caught it."""
    results = jvm_run.results
    for name in jvm_run.attacks:
        expected = ATTACKS[name][2]
        result = results[name]
        assert not result["ok"], f"{name}: the read succeeded"
        assert expected in result["error"], f"{name}: {result['error'][-2000:]}"
    for name in set(RESPONSE_CHECKS) & set(jvm_run.attacks):
        assert "refusing the key release" in results[name]["error"], name
    # The key whose release the policy refused reads once the enclave is the measured one.
    assert results["after"]["ok"], results["after"]
    assert results["after"]["lines"] == jvm_run.plain_attack.decode().splitlines()


@pytest.mark.cluster
def test_release_is_retried_on_throttling_and_gateway_errors(jvm_run: JvmRun) -> None:
    """Key Vault answered the executors' first release calls 429 and 502: retried, and the read succeeds."""
    assert jvm_run.counts["faults"] == 2
    assert jvm_run.results["retried"]["ok"], jvm_run.results["retried"]
    assert jvm_run.results["retried"]["lines"] == jvm_run.plain_attack.decode().splitlines()


@pytest.mark.cluster
def test_no_key_material_in_logs_ui_or_hadoop_conf(jvm_run: JvmRun, skr_module: SkrEnv) -> None:
    """The driver registers wrapped keys and options only; the released keys and the data keys are in no log
    (driver, both executors, event log), not in the UI's environment and not in the Hadoop configuration."""
    entries = jvm_run.results["hadoop_conf"]["entries"]
    assert any(k.startswith("fs.ppml.skr.wrapped.gcm.") for k in entries)
    assert not any(k.startswith("fs.ppml.secret.key.") for k in entries)  # no key material registered
    assert "fs.ppml.skr.wrapped.gcm." in jvm_run.environment  # the UI lists the settings ...
    assert "fs.ppml.skr.access.token" in jvm_run.environment and "*********(redacted)" in jvm_run.environment
    assert "ppml-az-kv-emulator-token" not in jvm_run.environment  # ... with the bearer token redacted
    assert "CoarseGrainedExecutorBackend" in jvm_run.executor_logs  # the executor logs were found and searched
    assert "SparkListenerEnvironmentUpdate" in jvm_run.event_log
    conf_dump = json.dumps(entries)
    forms = [f for key_id in jvm_run.keys.values() for f in secret_forms(skr_module, key_id)]
    forms += [f for key in jvm_run.data_keys.values() for f in _data_key_forms(key)]
    places = {"driver output": jvm_run.output, "executor logs": jvm_run.executor_logs, "event log": jvm_run.event_log,
              "UI environment": jvm_run.environment, "Hadoop conf": conf_dump}
    for form in forms:
        for where, text in places.items():
            assert form not in text, f"key material in {where}"
def test_driver_registers_options_and_wrapped_keys_only(skr: SkrEnv) -> None:
    """No Spark: what prepare_read and pme.configure_session put in the Hadoop configuration for azure-skr (the
    driver obtains a Key Vault token, never a key), and a wrapped key from another KMS is refused on the driver."""
    from bigdl_ppml_az.errors import WrongKeyError
    from bigdl_ppml_az.jvm import keys, pme
    from bigdl_ppml_az.kms import KmsSettings, WrappedKey, build_kms

    options = skr.options()
    settings = KmsSettings.from_options(options)
    hadoop = keys.skr_hadoop_settings(settings)
    named = {keys.SKR_PREFIX + option for option in keys.SKR_JVM_OPTIONS}
    assert set(hadoop) == {keys.SKR_VAULT_URL, keys.SKR_ACCESS_TOKEN, *named}
    assert hadoop[keys.SKR_VAULT_URL].rstrip("/") == skr.kv.url.rstrip("/")
    assert hadoop[keys.SKR_PREFIX + "attestation"] == "sgx-gramine"
    assert hadoop[keys.SKR_PREFIX + "sidecarEndpoint"] == ""  # absent: unset, so no stale value stays
    assert not any(name.startswith(keys.KEY_PREFIX) for name in hadoop)
    pme_settings = pme.hadoop_settings(options)
    assert pme_settings["parquet.encryption.kms.instance.id"] == "azure-skr"
    assert pme_settings[pme.ACCESS_TOKEN] == hadoop[keys.SKR_ACCESS_TOKEN]
    kms = build_kms(settings)
    ciphertext = bytes(range(256))
    record = json.loads(keys._skr_record(WrappedKey("azure-skr", skr.key_id, "RSA-OAEP-256", ciphertext), kms))
    assert record == {"kid": skr.key_id, "alg": "RSA-OAEP-256", "value": base64.b64encode(ciphertext).decode()}
    with pytest.raises(WrongKeyError, match="wrapped by kms local"):
        keys._skr_record(WrappedKey("local", "local:abc", "AES-256-GCM", b"y" * 40), kms)
    assert skr.kv.calls["release"] == 0 and skr.maa.calls["attest"] == 0  # the driver never attests


@pytest.mark.slow
@pytest.mark.cluster
def test_measure_cold_first_release_per_executor_jvm(skr: SkrEnv, shim_jar: str, tmp_path: Path) -> None:  # noqa: F811
    """Not a check, a measurement (bench/RESULTS.md, SKR, JVM path). Run:
    ``pytest tests/test_skr_jvm.py -k measure -s --run-slow``

    Each run is a new local-cluster[2,1,1024] application, so both executors are fresh JVMs; each reads a file of
    key A (cold: the executor's first release) and then one of key B (warm JVM, first release of that key), with
    ``runtimeKeySize`` 2048 or 3072. The shim's hook records the milliseconds from runtime key generation to the
    verified, unwrapped primary key and their phases (the data key's RSA-OAEP unwrap after it is ~1 ms). The last
    run also reads 200 files (200 data keys, one primary key) in 200 partitions and counts releases.
    """
    import statistics

    samples: dict[tuple[int, str], list[int]] = {}
    phases: list[str] = []
    plan = [2048, 3072, 2048, 3072, 2048, 3072]
    for run, bits in enumerate(plan):
        work = tmp_path / f"run{run}"
        work.mkdir()
        jobs: list[dict[str, Any]] = []
        key_ids = {}
        for label in ("cold", "warm"):
            key_ids[label] = skr.create_key(f"skr-jvm-measure-{run}-{label}")
            _encrypt(skr, key_ids[label], b"row of the measurement file\n" * 2000, work / label / "a.txt.ppmlgcm")
            jobs.append({"id": label, "op": "text", "path": str(work / label),
                         "kms": _reader_options(skr, runtimeKeySize=str(bits))})
        many_key = ""
        if run == len(plan) - 1:
            many_key = skr.create_key("skr-jvm-measure-many")
            for i in range(200):
                _encrypt(skr, many_key, b"row %d\n" % i, work / "many" / f"part-{i:03d}.txt.ppmlgcm")
            jobs.append({"id": "many", "op": "text", "path": str(work / "many"), "kms": _reader_options(skr),
                         "sql_conf": {"spark.sql.files.openCostInBytes": "16384"}})  # one file per partition
        call_log = work / "calls.log"
        results, _ = _run_child(shim_jar, work, jobs, {}, call_log)
        assert all(results[j["id"]]["ok"] for j in jobs), results
        rows = [line.split() for line in call_log.read_text().splitlines()]
        for label, key_id in key_ids.items():
            samples.setdefault((bits, label), []).extend(int(row[4]) for row in rows if row[2] == key_id)
            phases += [f"{bits} {label} {row[4]} ms: {row[5]}" for row in rows if row[2] == key_id and len(row) > 5]
        if many_key:
            assert results["many"]["partitions"] == 200, results["many"]["partitions"]
            many = [row[0] for row in rows if row[2] == many_key]
            print(f"\n200-partition read: {len(many)} releases by {len(set(many))} executor JVMs")
    for (bits, label), values in sorted(samples.items()):
        print(f"SKR JVM {label} first release per executor, runtimeKeySize {bits} (ms): {sorted(values)} "
              f"median {statistics.median(values)}")
    print("\n".join(phases))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    _child(sys.argv[1])
