"""``ppml-az tpch gen -> encrypt -> run -> verify -> report`` end to end in subprocesses, and a tampered result."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from bigdl_ppml_az.formats import ppml_gcm
from bigdl_ppml_az.kms import generate_data_key
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.tpch.reference import read_object

QUERIES = ["1", "3", "13", "18", "22"]


def ppml_az(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    return subprocess.run(
        [sys.executable, "-m", "bigdl_ppml_az", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_gen_encrypt_run_verify_report(tmp_path: Path) -> None:
    key = ["--kms", "local", "--primary-key", "keys/primary.key"]
    ok(ppml_az("tpch", "gen", "--sf", "0.01", "--out", "data", cwd=tmp_path))
    assert (tmp_path / "data" / "lineitem").is_dir()
    ok(ppml_az("keys", "create", *key, cwd=tmp_path))
    ok(ppml_az("tpch", "encrypt", "data", "enc", *key, cwd=tmp_path))
    encrypted = next((tmp_path / "enc" / "lineitem").iterdir()).read_bytes()
    assert encrypted.startswith(ppml_gcm.MAGIC) and b"DELIVER IN PERSON" not in encrypted

    # The guide's TpchQuery form: INPUT_DIR OUTPUT_DIR INPUT_MODE OUTPUT_MODE [QUERY...]; results encrypted.
    run = ok(
        ppml_az("tpch", "run", "enc", "res", "auto", "ppml-gcm", *QUERIES, *key, "--master", "local[2]", cwd=tmp_path)
    )
    assert "Q18" in run
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == sorted(
        [f"q{int(q):02d}.csv" for q in QUERIES] + ["timings.json"]
    )
    assert (tmp_path / "res" / "q01.csv").read_bytes().startswith(ppml_gcm.MAGIC)

    verified = ok(ppml_az("tpch", "verify", "--data", "enc", *key, "res", cwd=tmp_path))
    assert "5/5 queries match" in verified

    # A deliberately wrong answer: change one row of Q03 and re-encrypt it; verify must fail and say where.
    kms_options = {"kms": "local", "primaryKeyPath": str(tmp_path / "keys" / "primary.key")}
    q3 = tmp_path / "res" / "q03.csv"
    lines = read_object(str(q3), "auto", kms_options).decode().splitlines()
    fields = lines[3].split(",")
    fields[0] = str(int(fields[0]) + 1)
    lines[3] = ",".join(fields)
    kms = LocalKms.load(tmp_path / "keys" / "primary.key")
    material, wrapped = generate_data_key(kms)
    envelope = ppml_gcm.Envelope(wrapped.kms_type, wrapped.key_id, wrapped.algorithm, wrapped.ciphertext)
    sink = io.BytesIO()
    ppml_gcm.encrypt_stream(io.BytesIO(("\n".join(lines) + "\n").encode()), sink, material, envelope)
    q3.write_bytes(sink.getvalue())
    failed = ppml_az("tpch", "verify", "--data", "enc", *key, "res", cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "4/5 queries match" in failed.stdout and "l_orderkey" in failed.stdout

    # Without the key the encrypted results cannot be read: a one-line error, not a traceback.
    nokey = ppml_az("tpch", "verify", "--data", "data", "res", cwd=tmp_path)
    assert nokey.returncode == 1 and nokey.stderr.startswith("ppml-az: error:"), nokey.stderr

    report = ok(ppml_az("tpch", "report", "res", "res", "--labels", "a", "b", "--out", "rep", cwd=tmp_path))
    assert "| Q13 |" in report and "**1.000**" in report
    assert (tmp_path / "rep" / "report.png").read_bytes().startswith(b"\x89PNG")
