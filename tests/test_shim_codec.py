"""JVM codec: Spark's native text/CSV/JSON readers on ppml-gcm, BigDL common and nativeaescbc files.

Spark sessions with the shim jar run in a child process, because a session's jars are fixed when it starts and
the shared ``spark`` fixture has none. This module's jobs run in the child session tests/shim_session.py shares
with test_shim_guard.py and test_shim_pme.py (one JVM start for the three); the local-cluster test, and other
modules through ``run_spark``, start this file as a script. The tests compare what Spark read with the
Python-side decryption, byte for byte.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.formats import (
    NATIVE,
    DataKey,
    UnauthenticatedWarning,
    bigdl,
    iter_plaintext,
    open_reader,
    ppml_gcm,
    probe,
)
from bigdl_ppml_az.kms import LOCAL, WrappedKey, generate_data_key
from bigdl_ppml_az.kms.bigdl_keys import write_data_key_file
from bigdl_ppml_az.kms.local import LocalKms
from child_spark import finish_child, run_child

HERE = Path(__file__).resolve()


# ---- child side ----------------------------------------------------------------------------------------------


def _child(plan_path: str) -> None:
    plan = json.loads(Path(plan_path).read_text())
    from pyspark.sql import SparkSession

    from bigdl_ppml_az import jvm

    builder = SparkSession.builder.master(plan.get("master", "local[2]")).appName("shim-test")
    for key, value in plan.get("conf", {}).items():
        builder = builder.config(key, value)
    spark = jvm.configure(builder, plan["jar"]).getOrCreate()
    results: dict[str, Any] = {"appId": spark.sparkContext.applicationId, "uiUrl": spark.sparkContext.uiWebUrl}
    for job in plan["jobs"]:
        try:
            results[job["id"]] = {"ok": True, **_run_job(spark, job)}
        except Exception as exc:  # the test inspects the message
            results[job["id"]] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finish_child(spark, plan, results)


def _run_job(spark: Any, job: dict[str, Any]) -> dict[str, Any]:
    from bigdl_ppml_az import jvm
    from bigdl_ppml_az.formats import DataKey, probe

    op = job["op"]
    for key, value in job.get("sql_conf", {}).items():
        spark.conf.set(key, value)
    if job.get("prepare") is not None:
        jvm.prepare_read(spark, job["path"], job["prepare"])
    for name, value in job.get("hadoop", {}).items():
        spark.sparkContext._jsc.hadoopConfiguration().set(name, value)
    if job.get("register_wrong_key"):
        with open(job["path"], "rb") as handle:
            info = probe(handle, os.path.getsize(job["path"]), job["path"])
        jvm.register(spark, info, DataKey(bytes(32)))
    if op == "lines":
        return {"lines": [r.value for r in spark.read.text(job["path"]).collect()]}
    if op == "wholetext":
        rows = spark.read.text(job["path"], wholetext=True).collect()
        return {"text": [r.value for r in rows]}
    if op == "jvm_local_key":  # the JVM local KMS on hostile key paths and wrapped keys, called directly
        client = spark._jvm.bigdlppmlaz.PpmlKmsClient
        out: dict[str, str] = {}
        for label, path in job["paths"].items():
            try:
                client.readPrimaryKey(path)
                out[label] = "ok"
            except Exception as exc:  # noqa: BLE001 - the test reads the message
                out[label] = str(exc)
        local = getattr(spark._jvm.bigdlppmlaz, "PpmlKmsClient$Local")(job["good"])
        for label, wrapped in (("short", "AAAA"), ("not_base64", "%%%")):
            try:
                local.unwrap(wrapped, "x")
                out[label] = "ok"
            except Exception as exc:  # noqa: BLE001
                out[label] = str(exc)
        return {"errors": out}
    if op == "limit_text":
        return {"lines": [r.value for r in spark.read.text(job["path"]).limit(1).collect()]}
    if op == "limit_csv":
        return {"rows": [list(r) for r in spark.read.csv(job["path"]).limit(1).collect()]}
    if op == "partitions":
        return {"n": spark.read.text(job["path"]).rdd.getNumPartitions()}
    if op == "csv":
        df = spark.read.csv(job["path"], header=True, inferSchema=True)
        return {"rows": [list(r) for r in df.orderBy(df.columns[0]).collect()]}
    if op == "json":
        df = spark.read.json(job["path"])
        return {"rows": [list(r) for r in df.orderBy("id").collect()]}
    if op == "write_csv":
        codec = jvm.prepare_write(spark, job["prepare_write"], content_type="csv", segment_size=4096)
        spark.range(0, job["n"]).selectExpr("id", "id * 3 AS x", "concat('row', id) AS s").write.option(
            "compression", codec
        ).option("header", "true").csv(job["out"])
        df = spark.read.csv(job["out"], header=True)
        return {"count": df.count(), "sum": int(df.selectExpr("sum(cast(x as long))").first()[0])}
    if op == "pme_write":
        from bigdl_ppml_az.jvm import pme

        pme.configure_session(spark, job["kms"])
        df = spark.range(0, job["n"]).selectExpr("id", "id * 2 AS x", "concat('rowmark', id) AS s")
        options = pme.write_options(job["mode"], job["footer"], job.get("columns"))
        df.repartition(2).write.options(**options).mode("overwrite").parquet(job["out"])
        return {}
    if op == "pme_read":
        from bigdl_ppml_az.jvm import pme

        pme.configure_session(spark, job["kms"])
        for name, value in job.get("hadoop", {}).items():  # settings a hostile or broken config could hold
            spark.sparkContext._jsc.hadoopConfiguration().set(name, value)
        df = spark.read.parquet(job["path"]).where("id % 7 = 0").select("id", "s")
        rows = [list(r) for r in df.orderBy("id").collect()]
        return {"rows": rows, "plan": df._jdf.queryExecution().executedPlan().toString()}
    if op == "tpch_pme_write":
        from bigdl_ppml_az.tpch.native import write_pme_tables

        write_pme_tables(spark, job["source"], job["out"], job["kms"], "tbl", job["mode"])
        return {}
    if op == "tpch":
        from bigdl_ppml_az import tpch

        tables = tpch.tables(spark, job["path"], job["fmt"], kms=job["kms"], native=True)  # the public route
        run = tpch.run(tables, job.get("queries"))
        out = Path(job["out"])
        out.mkdir(parents=True, exist_ok=True)
        for number, result in run.results.items():
            (out / f"q{number:02d}.csv").write_bytes(result.to_csv())
        plan = tables.lineitem._jdf.queryExecution()
        return {"seconds": run.total_seconds, "plan": plan.executedPlan().toString()}
    if op == "explain":
        df = spark.read.csv(job["path"], header=True)
        plan_text = df._jdf.queryExecution().toString()
        df.count()
        return {"explain": plan_text}
    raise ValueError(op)


# ---- parent side ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shim_jar(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Build the jar once per test session from the package's Scala sources, into a fresh cache directory."""
    os.environ.setdefault("PPML_AZ_SHIM_CACHE", str(tmp_path_factory.getbasetemp() / "shim-cache"))
    from bigdl_ppml_az import jvm

    return str(jvm.jar_path())


def run_spark(jar: str, tmp: Path, jobs: list[dict[str, Any]], **plan: Any) -> tuple[dict[str, Any], str]:
    """Run the jobs in a child Spark session; return the results and the child's combined output."""
    plan_path, results = tmp / "plan.json", tmp / "results.json"
    plan.update({"jar": jar, "jobs": jobs, "results": str(results)})
    plan.setdefault("conf", {})
    plan["conf"] = {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.files.openCostInBytes": "1000",
        **plan["conf"],
    }
    plan_path.write_text(json.dumps(plan))
    output = run_child(HERE, plan_path, timeout=600)
    return json.loads(results.read_text()), output


def make_text(seed: int, lines: int) -> bytes:
    """CSV-like lines of varied length, some longer than a 4 KiB segment, a few empty."""
    rnd = random.Random(seed)
    out = []
    for i in range(lines):
        n = rnd.choice([0, 7, 300, 4100, 9000]) if i % 97 == 0 else rnd.randint(1, 150)
        out.append("".join(rnd.choice("abcdefgh,12345 ;é") for _ in range(n)))
    return ("\n".join(out) + "\n").encode("utf-8")


def encrypt_gcm(kms: LocalKms, plain: bytes, target: Path, segment_size: int) -> None:
    data_key, wrapped = generate_data_key(kms)
    env = ppml_gcm.Envelope(LOCAL, wrapped.key_id, wrapped.algorithm, wrapped.ciphertext, segment_size)
    with open(target, "wb") as sink:
        ppml_gcm.encrypt_stream(io.BytesIO(plain), sink, data_key, env)


def encrypt_common(kms: LocalKms, plain: bytes, target: Path) -> None:
    data_key, wrapped = generate_data_key(kms, compat="bigdl")
    encrypted = base64.b64encode(wrapped.ciphertext).decode()
    with open(target, "wb") as sink, bigdl.CommonWriter(sink, bigdl.key_string_from_bytes(data_key), encrypted) as w:
        for start in range(0, len(plain), 50_000):
            w.write(plain[start : start + 50_000])


def encrypt_native(kms: LocalKms, plain: bytes, target: Path, key_file: Path) -> None:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    data_key = os.urandom(32)
    write_data_key_file(key_file, kms.wrap(data_key).ciphertext)
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(data_key), modes.CBC(iv)).encryptor()
    target.write_bytes(iv + enc.update(padder.update(plain) + padder.finalize()) + enc.finalize())


def python_decrypt(path: Path, kms: LocalKms, mode: str = "auto", key_file: Path | None = None) -> bytes:
    """The Python side's decryption (formats + kms), the reference the JVM must equal."""
    with open(path, "rb") as handle:
        info = probe(handle, path.stat().st_size, str(path), mode)
        if info.mode == NATIVE:
            assert key_file is not None
            from bigdl_ppml_az.kms.bigdl_keys import read_data_key_file

            material = kms.unwrap(WrappedKey(LOCAL, "", "", read_data_key_file(key_file)))
        else:
            assert info.key_ref is not None
            ref = info.key_ref
            material = kms.unwrap(WrappedKey(LOCAL, ref.key_id or "", ref.wrap_algorithm or "", ref.wrapped_key))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnauthenticatedWarning)  # nativeaescbc: expected, tested elsewhere
            reader = open_reader(info, handle, DataKey(material), name=str(path))
        return b"".join(iter_plaintext(reader, str(path)))


@dataclass
class CodecRun:
    """Every codec job of this module, run in the child session shared with two other modules (tests/shim_session.py:
    a session start costs ~20 s)."""

    data: Path
    kms: LocalKms
    key_path: Path
    expected: dict[str, bytes]
    data_key_b64: str
    data_key_hex: str
    results: dict[str, Any]
    output: str
    environment: str
    event_log: str


FORMAT_FILES = ("small.csv.ppmlgcm", "large.csv.ppmlgcm", "common.csv.cbc", "native.csv.nativecbc")


@dataclass
class CodecPlan:
    base: Path
    kms: LocalKms
    key_path: Path
    expected: dict[str, bytes]
    data_key: bytes


def codec_section(base: Path) -> Any:
    """This module's files and jobs for the shared child session (tests/shim_session.py)."""
    from bigdl_ppml_az.jvm.keys import gcm_key_name
    from shim_session import Section

    data = base / "data"
    data.mkdir()
    key_path = base / "keys" / "primary.key"
    kms = LocalKms.create(key_path)
    opts = {"kms": "local", "primaryKeyPath": str(key_path)}
    jobs: list[dict[str, Any]] = []
    # every format, byte for byte, split (ppml-gcm) and whole
    small, large = make_text(1, 4000), make_text(2, 30_000)  # ~0.45 MB and ~3.3 MB
    encrypt_gcm(kms, small, data / "small.csv.ppmlgcm", 4096)
    encrypt_gcm(kms, large, data / "large.csv.ppmlgcm", 1 << 20)
    encrypt_common(kms, large, data / "common.csv.cbc")
    encrypt_native(kms, small, data / "native.csv.nativecbc", base / "native.datakey")
    expected = dict(zip(FORMAT_FILES, (small, large, large, small), strict=True))
    many_splits = {"spark.sql.files.maxPartitionBytes": "150000"}  # some splits narrower than a 1 MiB segment
    for name in FORMAT_FILES:
        path = str(data / name)
        prep = {**opts, "dataKeyPath": str(base / "native.datakey")} if name.endswith(".nativecbc") else opts
        jobs += [
            {"id": f"whole:{name}", "op": "wholetext", "path": path, "prepare": prep},
            {"id": f"lines:{name}", "op": "lines", "path": path, "prepare": prep, "sql_conf": many_splits},
            {"id": f"parts:{name}", "op": "partitions", "path": path, "sql_conf": many_splits},
        ]
    # CSV and JSON readers
    csv = "id,name,amount\n" + "".join(f"{i},name {i},{i * 1.5}\n" for i in range(2000))
    js = "".join(json.dumps({"id": i, "tag": f"t{i % 7}"}) + "\n" for i in range(500))
    encrypt_gcm(kms, csv.encode(), data / "t.csv.ppmlgcm", 4096)
    encrypt_common(kms, js.encode(), data / "t.json.cbc")
    small_splits = {"spark.sql.files.maxPartitionBytes": "9000"}
    jobs += [
        {"id": "csv", "op": "csv", "path": str(data / "t.csv.ppmlgcm"), "prepare": opts, "sql_conf": small_splits},
        {"id": "json", "op": "json", "path": str(data / "t.json.cbc"), "prepare": opts},
    ]
    # damaged, wrong-key, key-less and plaintext files
    bad = base / "bad"
    bad.mkdir()
    plain = make_text(3, 3000)
    for name in ("gcm.txt.ppmlgcm", "gcmkey.txt.ppmlgcm", "trunc.txt.ppmlgcm", "nokey.txt.ppmlgcm", "x.txt.ppmlgcm"):
        encrypt_gcm(kms, plain, bad / name, 4096)
    encrypt_common(kms, plain, bad / "common.txt.cbc")
    for name in ("gcm.txt.ppmlgcm", "common.txt.cbc"):
        blob = bytearray((bad / name).read_bytes())
        blob[len(blob) // 2] ^= 0x01
        (bad / name).write_bytes(bytes(blob))
    trunc = (bad / "trunc.txt.ppmlgcm").read_bytes()
    (bad / "trunc.txt.ppmlgcm").write_bytes(trunc[: len(trunc) - 5000])
    (bad / "plain.txt.ppmlgcm").write_bytes(plain)
    other = base / "keys" / "other.key"
    LocalKms.create(other)
    splits = {"spark.sql.files.maxPartitionBytes": "100000"}
    jobs += [
        {"id": "gcm", "op": "lines", "path": str(bad / "gcm.txt.ppmlgcm"), "prepare": opts, "sql_conf": splits},
        {"id": "trunc", "op": "lines", "path": str(bad / "trunc.txt.ppmlgcm"), "prepare": opts},
        {"id": "common", "op": "lines", "path": str(bad / "common.txt.cbc"), "prepare": opts},
        {"id": "wrongkey", "op": "lines", "path": str(bad / "gcmkey.txt.ppmlgcm"), "register_wrong_key": True},
        {"id": "nokey", "op": "lines", "path": str(bad / "nokey.txt.ppmlgcm")},
        # the damage is past the first 64 KiB: only a MAC check before the first row stops limit(1)
        {"id": "common_limit_text", "op": "limit_text", "path": str(bad / "common.txt.cbc"), "prepare": opts},
        {"id": "common_limit_csv", "op": "limit_csv", "path": str(bad / "common.txt.cbc"), "prepare": opts},
        {"id": "good_limit_text", "op": "limit_text", "path": str(data / "common.csv.cbc"), "prepare": opts},
        {"id": "plain", "op": "wholetext", "path": str(bad / "plain.txt.ppmlgcm")},
        {
            "id": "wrongprimary",
            "op": "lines",
            "path": str(bad / "x.txt.ppmlgcm"),
            "prepare": {"kms": "local", "primaryKeyPath": str(other)},
        },
    ]
    # truncated at a segment boundary (the final segment removed): every split, and limit(1), must fail
    encrypt_gcm(kms, plain, bad / "cut.txt.ppmlgcm", 4096)
    cut_final_segment(bad / "cut.txt.ppmlgcm")
    narrow = {"spark.sql.files.maxPartitionBytes": "9000"}
    for suffix, conf in (("one_split", {}), ("many_splits", narrow)):
        jobs += [
            {"id": f"cut_limit_text_{suffix}", "op": "limit_text", "path": str(bad / "cut.txt.ppmlgcm"),
             "prepare": opts, "sql_conf": conf},
            {"id": f"cut_limit_csv_{suffix}", "op": "limit_csv", "path": str(bad / "cut.txt.ppmlgcm"),
             "prepare": opts, "sql_conf": conf},
        ]
    # output through the codec
    jobs.append({"id": "write", "op": "write_csv", "out": str(base / "out"), "n": 20_000, "prepare_write": opts})
    # redaction: a key given at session start as well (listed in the environment, must be redacted there)
    data_key, wrapped = generate_data_key(kms)
    env = ppml_gcm.Envelope(LOCAL, wrapped.key_id, wrapped.algorithm, wrapped.ciphertext, 4096)
    with open(data / "r.csv.ppmlgcm", "wb") as sink:
        ppml_gcm.encrypt_stream(io.BytesIO(make_text(4, 500)), sink, data_key, env)
    key_b64 = base64.b64encode(data_key).decode()
    jobs += [
        {"id": "explain", "op": "explain", "path": str(data / "r.csv.ppmlgcm"), "prepare": opts},
        {"id": "redacted_lines", "op": "lines", "path": str(data / "r.csv.ppmlgcm")},
    ]
    events = base / "events"
    events.mkdir()
    conf = {
        "spark.ui.enabled": "true",
        "spark.ui.port": "0",
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": str(events),
        "spark.eventLog.compress": "false",  # so the test can search it
        f"spark.hadoop.{gcm_key_name(wrapped.ciphertext)}": key_b64,
    }
    return Section("codec", "codec", jobs, conf=conf, context=CodecPlan(base, kms, key_path, expected, data_key))


@pytest.fixture(scope="module")
def codec_run(request: pytest.FixtureRequest, shim_jar: str, tmp_path_factory: pytest.TempPathFactory) -> CodecRun:
    """This module's jobs ran in the child session shared with test_shim_guard and test_shim_pme; the output,
    environment and event log searched for key material are that whole session's."""
    from shim_session import shim_session

    shared = shim_session(request, shim_jar, tmp_path_factory)
    plan = shared.sections["codec"].context
    base = plan.base
    events = base / "events"
    event_log = "".join(p.read_text(errors="replace") for p in events.rglob("*") if p.is_file())
    key_b64 = base64.b64encode(plan.data_key).decode()
    return CodecRun(
        base / "data", plan.kms, plan.key_path, plan.expected, key_b64, plan.data_key.hex(),
        shared.results["codec"], shared.output, (base / "environment.json").read_text(), event_log,
    )  # fmt: skip


def test_jar_is_cached_by_source_hash(shim_jar: str) -> None:
    from bigdl_ppml_az import jvm

    assert Path(shim_jar).is_file()
    assert jvm.source_hash() in Path(shim_jar).name
    assert str(jvm.jar_path()) == shim_jar  # second call reuses the cached jar


def test_codec_reads_every_format_byte_for_byte(codec_run: CodecRun) -> None:
    native_key = codec_run.data.parent / "native.datakey"
    results = codec_run.results
    for name, plain in codec_run.expected.items():
        mode = NATIVE if name.endswith(".nativecbc") else "auto"
        assert python_decrypt(codec_run.data / name, codec_run.kms, mode, native_key) == plain  # Python side
        whole = results[f"whole:{name}"]
        assert whole["ok"], whole
        assert whole["text"] == [plain.decode("utf-8")], name
        lines = results[f"lines:{name}"]
        assert lines["ok"], lines
        assert lines["lines"] == plain.decode("utf-8").split("\n")[:-1], name
    # ppml-gcm is split across tasks at segment boundaries; BigDL layouts are read whole (HMAC covers the file)
    assert results["parts:small.csv.ppmlgcm"]["n"] >= 3
    assert results["parts:large.csv.ppmlgcm"]["n"] >= 20
    assert results["parts:common.csv.cbc"]["n"] == 1


def test_csv_and_json_through_the_codec(codec_run: CodecRun) -> None:
    assert codec_run.results["csv"]["rows"] == [[i, f"name {i}", i * 1.5] for i in range(2000)]
    assert codec_run.results["json"]["rows"] == [[i, f"t{i % 7}"] for i in range(500)]


def test_tampered_wrong_key_and_plaintext_files_fail_the_job(codec_run: CodecRun) -> None:
    results = codec_run.results
    assert not results["gcm"]["ok"] and "failed authentication" in results["gcm"]["error"]
    assert "gcm.txt.ppmlgcm" in results["gcm"]["error"]  # Spark names the file
    assert not results["trunc"]["ok"] and "failed authentication" in results["trunc"]["error"]
    assert not results["common"]["ok"] and "HMAC-SHA256 check failed" in results["common"]["error"]
    assert not results["wrongkey"]["ok"] and "or the data key is wrong" in results["wrongkey"]["error"]
    assert not results["nokey"]["ok"] and "no data key registered" in results["nokey"]["error"]
    assert "bigdl_ppml_az.jvm.prepare_read" in results["nokey"]["error"]
    assert not results["plain"]["ok"] and "not an encrypted file we know" in results["plain"]["error"]


def test_tampered_cbc_yields_no_row_even_to_limit_1(codec_run: CodecRun) -> None:
    """The .cbc codec checks the whole file's HMAC before handing out its first plaintext byte."""
    blob = (codec_run.data.parent / "bad" / "common.txt.cbc").read_bytes()
    assert len(blob) // 2 > 2 * 65536  # the flipped byte lies well past the first decrypted chunk
    for job in ("common_limit_text", "common_limit_csv"):
        result = codec_run.results[job]
        assert not result["ok"], result  # no rows came back: the job failed
        assert "HMAC-SHA256 check failed" in result["error"]
        assert "common.txt.cbc" in result["error"]
    good = codec_run.results["good_limit_text"]
    assert good["ok"], good
    assert good["lines"] == [codec_run.expected["common.csv.cbc"].decode("utf-8").split("\n")[0]]


def cut_final_segment(path: Path) -> None:
    """Drop the final segment exactly at its boundary: what is left is a run of valid non-final segments."""
    blob = path.read_bytes()
    with open(path, "rb") as handle:
        info = probe(handle, len(blob), str(path))
    assert info.segment_size is not None
    layout = ppml_gcm.Layout(len(info.head), info.segment_size, len(blob))
    assert layout.segment_count > 3
    path.write_bytes(blob[: layout.segment_start(layout.segment_count - 1)])


def test_truncated_gcm_yields_no_row_even_to_limit_1(codec_run: CodecRun) -> None:
    """Every split authenticates the final segment first: a file cut at a segment boundary gives no row."""
    for job in ("cut_limit_text_one_split", "cut_limit_csv_one_split", "cut_limit_text_many_splits",
                "cut_limit_csv_many_splits"):
        result = codec_run.results[job]
        assert not result["ok"], (job, result)
        assert "failed authentication" in result["error"] and "segment" in result["error"], (job, result)


def test_wrong_primary_key_fails_on_the_driver(codec_run: CodecRun) -> None:
    error = codec_run.results["wrongprimary"]
    assert not error["ok"] and "WrongKeyError" in error["error"]
    assert "was wrapped by primary key" in error["error"]


def test_write_through_codec_reads_back_in_python_and_spark(codec_run: CodecRun) -> None:
    write = codec_run.results["write"]
    assert write["ok"], write
    assert write["count"] == 20_000 and write["sum"] == 3 * sum(range(20_000))
    parts = sorted((codec_run.data.parent / "out").glob("part-*.csv.ppmlgcm"))
    assert parts
    text = b"".join(python_decrypt(p, codec_run.kms) for p in parts).decode()
    rows = [line for line in text.splitlines() if line and line != "id,x,s"]
    assert sorted(int(r.split(",")[0]) for r in rows) == list(range(20_000))
    assert b"row123," not in b"".join(p.read_bytes() for p in parts)  # ciphertext on disk


def test_key_material_is_redacted_everywhere(codec_run: CodecRun) -> None:
    from bigdl_ppml_az.jvm.keys import KEY_PREFIX

    results = codec_run.results
    assert results["redacted_lines"]["ok"] and results["explain"]["ok"]
    assert KEY_PREFIX + "gcm." in codec_run.environment  # the setting is listed ...
    assert "*********(redacted)" in codec_run.environment  # ... with its value redacted
    assert "SparkListenerEnvironmentUpdate" in codec_run.event_log
    forms = [codec_run.data_key_b64, codec_run.data_key_hex, base64.b64encode(codec_run.data_key_b64.encode()).decode()]
    for form in forms:
        assert form not in codec_run.environment
        assert form not in codec_run.event_log
        assert form not in codec_run.output  # driver and (local-mode) executor logs
        assert form not in results["explain"]["explain"]


@pytest.mark.cluster
def test_codec_in_separate_executor_jvms(shim_jar: str, tmp_path: Path) -> None:
    """local-cluster: executors are other JVMs that get the jar through spark.jars and the keys through the
    Hadoop configuration Spark ships with each job; their logs must not show the key either.
    """
    key_path = tmp_path / "keys" / "primary.key"
    kms = LocalKms.create(key_path)
    plain = make_text(5, 6000)
    data_key, wrapped = generate_data_key(kms)
    env = ppml_gcm.Envelope(LOCAL, wrapped.key_id, wrapped.algorithm, wrapped.ciphertext, 4096)
    with open(tmp_path / "c.txt.ppmlgcm", "wb") as sink:
        ppml_gcm.encrypt_stream(io.BytesIO(plain), sink, data_key, env)
    opts = {"kms": "local", "primaryKeyPath": str(key_path)}
    jobs = [{"id": "lines", "op": "lines", "path": str(tmp_path / "c.txt.ppmlgcm"), "prepare": opts}]
    conf = {"spark.sql.files.maxPartitionBytes": "60000", "spark.executor.memory": "768m"}
    results, output = run_spark(shim_jar, tmp_path, jobs, master="local-cluster[2,1,1024]", conf=conf)
    assert results["lines"]["ok"], results["lines"]
    assert results["lines"]["lines"] == plain.decode().split("\n")[:-1]
    import pyspark

    work = Path(pyspark.__file__).parent / "work" / results["appId"]  # local-cluster's executor logs
    executor_logs = "".join(p.read_text(errors="replace") for p in work.rglob("std*") if p.is_file())
    assert "CoarseGrainedExecutorBackend" in executor_logs
    for form in (base64.b64encode(data_key).decode(), data_key.hex()):
        assert form not in executor_logs and form not in output


if __name__ == "__main__":
    _child(sys.argv[1])
