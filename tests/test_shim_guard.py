"""The JVM path never returns rows of ciphertext: files the real CLI encrypted under their plaintext names
(``people.csv``) read through ``spark.read.csv`` after ``jvm.prepare_read`` give exactly the rows Spark gives
on the plaintext copy; damaged, wrong-key and unseen files fail naming the file; plaintext still reads.

The oracle is Spark without the shim (the shared ``spark`` fixture) on the plaintext files. The shim session
runs in a child process, because its jar is fixed at start: the one tests/shim_session.py shares with
test_shim_codec.py and test_shim_pme.py (this module's jobs first, in a session with this module's settings).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from test_shim_codec import shim_jar  # noqa: F401 - the session fixture that builds the jar

CLI = [sys.executable, "-m", "bigdl_ppml_az"]
SPLITS = {"spark.sql.files.maxPartitionBytes": "50000"}  # several splits per file, some narrower than 64 KiB


# ---- child side (run by tests/shim_session.py's child) ---------------------------------------------------------


def table(df: Any) -> dict[str, Any]:
    """Schema (with nullability) and rows in the order Spark returns them, JSON-safe."""
    return {"schema": df.schema.json(), "rows": [[repr(v) for v in row] for row in df.collect()]}


def _run_job(spark: Any, job: dict[str, Any]) -> dict[str, Any]:
    from bigdl_ppml_az import jvm
    from bigdl_ppml_az.formats import DataKey, probe

    for key, value in job.get("sql_conf", {}).items():
        spark.conf.set(key, value)
    out: dict[str, Any] = {}
    if "prepare" in job:
        out["prepared"] = jvm.prepare_read(spark, job["prepare"], job["kms"])
    if job.get("register_wrong_key"):  # the file's key reference, with a wrong key behind it
        with open(job["path"], "rb") as handle:
            info = probe(handle, os.path.getsize(job["path"]), job["path"])
        jvm.register(spark, info, DataKey(bytes(32)))
    if job["op"] == "csv":
        out.update(table(spark.read.csv(job["path"], header=True, inferSchema=True)))
    elif job["op"] == "csv_multiline":
        out.update(table(spark.read.csv(job["path"], header=True, inferSchema=True, multiLine=True)))
    elif job["op"] == "json":
        out.update(table(spark.read.json(job["path"])))
    elif job["op"] == "text":
        out.update(table(spark.read.text(job["path"])))
    elif job["op"] != "prepare":
        raise ValueError(job["op"])
    for key in job.get("sql_conf", {}):
        spark.conf.unset(key)
    return out


# ---- parent side ---------------------------------------------------------------------------------------------


def people_csv(rows: int) -> bytes:
    """A spreadsheet-like export: ints, doubles, quoted commas and quotes, empty (null) cells, booleans, dates."""
    lines = ["id,name,score,active,joined"]
    for i in range(rows):
        name = f'"Doe, J{i}"' if i % 7 == 0 else (f'"say ""hi"" {i}"' if i % 11 == 0 else f"name{i}")
        score = "" if i % 13 == 0 else f"{i * 0.25:.2f}"
        lines.append(f"{i},{name},{score},{str(i % 2 == 0).lower()},2024-{1 + i % 12:02d}-{1 + i % 28:02d}")
    return ("\n".join(lines) + "\n").encode()


def cli(*args: str | Path) -> None:
    done = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def encrypt(plain: Path, out: Path, key: Path, *mode: str) -> None:
    """The real CLI: files keep their names (people.csv stays people.csv). ppml-gcm in 4 KiB segments."""
    cli("encrypt", "--kms", "local", "--primary-key", key, *(mode or ("--segment-size", "4KiB")), plain, out)


@dataclass
class GuardRun:
    root: Path
    oracle: dict[str, dict[str, Any]]
    results: dict[str, Any]


def guard_section(root: Path) -> Any:
    """This module's files and jobs for the shared child session (tests/shim_session.py). It runs them first,
    in a session of their own with this module's settings (UTC, Spark's default openCostInBytes)."""
    from shim_session import Section

    plain = root / "plain"
    plain.mkdir()
    (plain / "people.csv").write_bytes(people_csv(6000))  # ~250 KB: several 64 KiB plaintext segments
    (plain / "events.dat").write_bytes(people_csv(300))  # an extension nobody guards until prepare_read
    records = [{"id": i, "tag": f"t{i % 7}", "v": None if i % 5 == 0 else i / 4} for i in range(3000)]
    (plain / "people.json").write_text("".join(json.dumps(r) + "\n" for r in records))
    (root / "gz").mkdir()
    (root / "gz" / "people.csv.gz").write_bytes(gzip.compress((plain / "people.csv").read_bytes()))
    keys = {name: root / "keys" / name for name in ("main", "other", "third")}
    for name, key in keys.items():
        cli("keys", "create", "--kms", "local", "--primary-key", key, "--data-key", root / "keys" / f"{name}.data")
    gcm, cbc, other, third = root / "gcm", root / "cbc", root / "other", root / "third"
    encrypt(plain, gcm, keys["main"])
    data_key = ("--dataKeyPath", str(root / "keys" / "main.data"))
    encrypt(plain, cbc, keys["main"], "--crypto-mode", "aes/cbc/pkcs5padding", *data_key)
    encrypt(plain, other, keys["other"])
    encrypt(plain, third, keys["main"])  # a second run: a data key prepare_read below never sees
    for name in ("people.csv", "events.dat"):  # the CLI kept the names and wrote ciphertext
        assert (gcm / name).read_bytes().startswith(b"PPMLGCM1") and (cbc / name).read_bytes()[:4] != b"id,n"
    # a directory mixing an encrypted and a plaintext .csv
    (root / "mixed").mkdir()
    shutil.copy(gcm / "people.csv", root / "mixed" / "a.csv")
    shutil.copy(plain / "people.csv", root / "mixed" / "b.csv")
    (root / "mixed_plain").mkdir()  # its plaintext twin, for the oracle
    for name in ("a.csv", "b.csv"):
        shutil.copy(plain / "people.csv", root / "mixed_plain" / name)
    # damaged copies (one byte flipped mid-file, header intact)
    for name, source in (("gcm", gcm), ("cbc", cbc)):
        (root / "tampered" / name).mkdir(parents=True)
        blob = bytearray((source / "people.csv").read_bytes())
        blob[len(blob) // 2] ^= 0x01
        (root / "tampered" / name / "people.csv").write_bytes(bytes(blob))
    # a directory where prepare_read sees only one file: the other has a key never registered
    (root / "unseen").mkdir()
    shutil.copy(gcm / "people.csv", root / "unseen" / "a.csv")
    shutil.copy(third / "people.csv", root / "unseen" / "people2.csv")
    # names no codec of ours can claim
    (root / "gzname").mkdir()
    shutil.copy(gcm / "people.csv", root / "gzname" / "people.csv.gz")
    (root / "noext").mkdir()
    shutil.copy(gcm / "people.csv", root / "noext" / "people")

    kms = {"kms": "local", "primaryKeyPath": str(keys["main"])}
    wrong = {"kms": "local", "primaryKeyPath": str(keys["other"])}
    s = str
    jobs: list[dict[str, Any]] = [
        # before any prepare_read: the session's guarded extensions already refuse ciphertext
        {"id": "noprep", "op": "csv", "path": s(gcm / "people.csv")},
        {"id": "noprep_text", "op": "text", "path": s(cbc / "people.csv")},
        # plaintext keeps reading as Spark reads it (split, multiLine, gzip)
        {"id": "plain", "op": "csv", "path": s(plain / "people.csv"), "sql_conf": SPLITS},
        {"id": "plain_text", "op": "text", "path": s(plain / "people.csv"), "sql_conf": SPLITS},
        {"id": "plain_multiline", "op": "csv_multiline", "path": s(plain / "people.csv")},
        {"id": "plain_gz", "op": "csv", "path": s(root / "gz" / "people.csv.gz")},
        {"id": "plain_json", "op": "json", "path": s(plain / "people.json"), "sql_conf": SPLITS},
        # CLI-encrypted ppml-gcm and BigDL files under plaintext names
        {"id": "gcm", "op": "csv", "path": s(gcm / "people.csv"), "prepare": s(gcm), "kms": kms},
        {"id": "gcm_split", "op": "csv", "path": s(gcm / "people.csv"), "sql_conf": SPLITS},
        {"id": "gcm_text", "op": "text", "path": s(gcm / "people.csv"), "sql_conf": SPLITS},
        {"id": "gcm_multiline", "op": "csv_multiline", "path": s(gcm / "people.csv")},
        {"id": "gcm_dat", "op": "csv", "path": s(gcm / "events.dat")},
        {"id": "gcm_json", "op": "json", "path": s(gcm / "people.json"), "sql_conf": SPLITS},
        {"id": "cbc", "op": "csv", "path": s(cbc / "people.csv"), "prepare": s(cbc), "kms": kms},
        {"id": "cbc_dat", "op": "csv", "path": s(cbc / "events.dat")},
        {"id": "cbc_json", "op": "json", "path": s(cbc / "people.json")},
        {"id": "mixed", "op": "csv", "path": s(root / "mixed"), "prepare": s(root / "mixed"), "kms": kms},
        # failures name the file
        {"id": "tampered_gcm", "op": "csv", "path": s(root / "tampered" / "gcm"),
         "prepare": s(root / "tampered" / "gcm"), "kms": kms},
        {"id": "tampered_cbc", "op": "csv", "path": s(root / "tampered" / "cbc"),
         "prepare": s(root / "tampered" / "cbc"), "kms": kms},
        {"id": "wrong_primary", "op": "prepare", "prepare": s(other), "kms": kms},
        {"id": "wrong_data_key", "op": "csv", "path": s(other / "people.csv"), "register_wrong_key": True},
        {"id": "unseen", "op": "csv", "path": s(root / "unseen"), "prepare": s(root / "unseen" / "a.csv"),
         "kms": kms},
        {"id": "gzname", "op": "prepare", "prepare": s(root / "gzname"), "kms": kms},
        {"id": "noext", "op": "prepare", "prepare": s(root / "noext"), "kms": kms},
        {"id": "wrong_kms_for_other", "op": "prepare", "prepare": s(other), "kms": wrong},
    ]
    return Section(
        "guard", "guard", jobs, sql_conf={"spark.sql.session.timeZone": "UTC"},
        unset=["spark.sql.files.openCostInBytes"], context=root,
    )  # fmt: skip


@pytest.fixture(scope="module")
def guard_run(
    request: pytest.FixtureRequest, shim_jar: str, spark: Any, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
) -> GuardRun:
    """This module's jobs ran in the child session shared with test_shim_codec and test_shim_pme."""
    from shim_session import shim_session

    shared = shim_session(request, shim_jar, tmp_path_factory)
    root: Path = shared.sections["guard"].context
    plain, s = root / "plain", str
    oracle = {
        "people": table(spark.read.csv(s(plain / "people.csv"), header=True, inferSchema=True)),
        "people_text": table(spark.read.text(s(plain / "people.csv"))),
        "events": table(spark.read.csv(s(plain / "events.dat"), header=True, inferSchema=True)),
        "json": table(spark.read.json(s(plain / "people.json"))),
        "mixed": table(spark.read.csv(s(root / "mixed_plain"), header=True, inferSchema=True)),
    }
    return GuardRun(root, oracle, shared.results["guard"])


def ok(run: GuardRun, job: str) -> dict[str, Any]:
    result = run.results[job]
    assert result["ok"], (job, result)
    return result


def failed(run: GuardRun, job: str, *needles: str) -> str:
    result = run.results[job]
    assert not result["ok"], (job, str(result)[:500])  # no rows came back at all
    for needle in needles:
        assert needle in result["error"], (job, needle, result["error"][:2000])
    return str(result["error"])


def same(result: dict[str, Any], oracle: dict[str, Any], ordered: bool = True) -> None:
    assert result["schema"] == oracle["schema"]
    assert len(result["rows"]) == len(oracle["rows"])
    if ordered:
        assert result["rows"] == oracle["rows"]
    else:
        assert sorted(result["rows"]) == sorted(oracle["rows"])


def test_oracle_is_typed(guard_run: GuardRun) -> None:
    """inferSchema typed the columns, so the comparisons below compare types and nulls too."""
    schema = json.loads(guard_run.oracle["people"]["schema"])
    types = {f["name"]: f["type"] for f in schema["fields"]}
    assert types == {"id": "integer", "name": "string", "score": "double", "active": "boolean", "joined": "date"}
    assert len(guard_run.oracle["people"]["rows"]) == 6000


def test_cli_encrypted_csv_reads_as_spark_reads_the_plaintext(guard_run: GuardRun) -> None:
    oracle = guard_run.oracle
    names = ("events.dat", "people.csv", "people.json")
    assert ok(guard_run, "gcm")["prepared"] == [str(guard_run.root / "gcm" / n) for n in names]
    for job in ("gcm", "gcm_split", "gcm_multiline", "cbc"):
        same(ok(guard_run, job), oracle["people"])
    same(ok(guard_run, "gcm_text"), oracle["people_text"])
    for job in ("gcm_dat", "cbc_dat"):  # .dat: claimed by prepare_read for this session
        same(ok(guard_run, job), oracle["events"])
    for job in ("gcm_json", "cbc_json"):
        same(ok(guard_run, job), oracle["json"])


def test_plaintext_still_reads_as_spark_reads_it(guard_run: GuardRun) -> None:
    """.csv is guarded by a header-detecting codec in this session: plaintext passes through, split and all."""
    oracle = guard_run.oracle
    for job in ("plain", "plain_multiline", "plain_gz"):
        same(ok(guard_run, job), oracle["people"])
    same(ok(guard_run, "plain_text"), oracle["people_text"])
    same(ok(guard_run, "plain_json"), oracle["json"])


def test_mixed_directory_reads_plaintext_and_decrypts_the_rest(guard_run: GuardRun) -> None:
    mixed = ok(guard_run, "mixed")
    assert mixed["prepared"] == [str(guard_run.root / "mixed" / "a.csv")]  # b.csv is plaintext
    same(mixed, guard_run.oracle["mixed"], ordered=False)


def test_ciphertext_never_comes_back_as_rows(guard_run: GuardRun) -> None:
    # prepare_read never called, and an encrypted file prepare_read did not see (key never registered)
    failed(guard_run, "noprep", "no data key registered", "people.csv", "prepare_read")
    failed(guard_run, "noprep_text", "no data key registered", "people.csv")
    failed(guard_run, "unseen", "no data key registered", "people2.csv")
    # names no header-detecting codec can take are refused on the driver, naming the file
    failed(guard_run, "gzname", "people.csv.gz", "GzipCodec", "rename")
    failed(guard_run, "noext", "noext/people", "no extension")


def test_tampered_and_wrong_key_files_fail_naming_the_file(guard_run: GuardRun) -> None:
    failed(guard_run, "tampered_gcm", "failed authentication", "people.csv")
    failed(guard_run, "tampered_cbc", "HMAC-SHA256 check failed", "people.csv")
    failed(guard_run, "wrong_data_key", "or the data key is wrong", "people.csv")
    failed(guard_run, "wrong_primary", "WrongKeyError", "/other/", "was wrapped by primary key")
    assert ok(guard_run, "wrong_kms_for_other")["prepared"]  # the same files with their own primary key


def test_settings_guard_the_text_extensions_and_let_an_explicit_claim_win() -> None:
    from bigdl_ppml_az import jvm
    from bigdl_ppml_az.errors import ConfigError

    settings = jvm.spark_settings("shim.jar")
    guarded = {v for k, v in settings.items() if k.startswith("spark.hadoop.fs.ppml.codec.detect.")}
    assert guarded == {".csv", ".tsv", ".json", ".jsonl", ".txt", ".tbl"}
    codecs = settings["spark.hadoop.io.compression.codecs"].split(",")
    assert codecs[-1] == "bigdlppmlaz.PpmlAnyCodec" and len(codecs) == 20  # Hadoop keeps the last per extension
    assert jvm.spark_settings("shim.jar", guard=["dat"])["spark.hadoop.fs.ppml.codec.detect.0"] == ".dat"
    with pytest.raises(ConfigError, match="at most 16"):
        jvm.spark_settings("shim.jar", guard=[f".e{i}" for i in range(17)])


def test_prepare_read_refuses_a_session_without_the_shim(spark: Any, tmp_path: Path) -> None:
    """Keys registered in a session whose readers have no codec would leave ciphertext to be read as rows."""
    from bigdl_ppml_az import jvm
    from bigdl_ppml_az.errors import ConfigError
    from bigdl_ppml_az.kms.local import LocalKms

    key = tmp_path / "primary.key"
    LocalKms.create(key)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "people.csv").write_bytes(people_csv(10))
    encrypt(tmp_path / "plain", tmp_path / "enc", key)
    with pytest.raises(ConfigError, match="no JVM shim"):
        jvm.prepare_read(spark, str(tmp_path / "enc"), {"kms": "local", "primaryKeyPath": str(key)})

