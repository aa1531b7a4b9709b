"""Issue 10, item 7 (a)(b)(c): plaintext on disk and in leftovers.

(a) ``ppml-az decrypt`` writes plaintext 0600 unless ``--mode`` says otherwise; (b) a SIGKILLed encrypt/decrypt
leaves partial output only in a private 0700 staging directory, which the next run of the same command
removes; (c) a warning, once per application, when Spark I/O encryption is off.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import bigdl_ppml_az
from bigdl_ppml_az.filecrypt import STAGING_PREFIX
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.spill import PlaintextSpillWarning, check_io_encryption
from test_datasource_support import encrypt

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    cmd = [sys.executable, "-m", "bigdl_ppml_az", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def data_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_decrypt_writes_owner_only_plaintext_unless_mode_says_otherwise(tmp_path: Path) -> None:
    key = tmp_path / "k"
    kms = LocalKms.create(key)
    (tmp_path / "plain" / "sub").mkdir(parents=True)
    for name in ("a.csv", "sub/b.csv"):
        (tmp_path / "plain" / name).write_text("id\n1\n", encoding="utf-8")
    encrypt(kms, tmp_path / "plain", tmp_path / "enc")
    old = os.umask(0o022)  # the usual umask: files would be 0644 without the fix
    try:
        done = cli("decrypt", "--kms", "local", "--primary-key", str(key), "enc", "out", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "mode 0600" in done.stdout
        assert [mode_of(p) for p in data_files(tmp_path / "out")] == [0o600, 0o600]
        done = cli("decrypt", "--kms", "local", "--primary-key", str(key), "--mode", "640", "enc", "out2", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert [mode_of(p) for p in data_files(tmp_path / "out2")] == [0o640, 0o640]
        single = cli("decrypt", "--kms", "local", "--primary-key", str(key), "enc/a.csv", "one.csv", cwd=tmp_path)
        assert single.returncode == 0 and mode_of(tmp_path / "one.csv") == 0o600, single.stderr
    finally:
        os.umask(old)
    assert "0600" in cli("decrypt", "--help", cwd=tmp_path).stdout
    bad = cli("decrypt", "--kms", "local", "--primary-key", str(key), "--mode", "999", "enc", "o3", cwd=tmp_path)
    assert bad.returncode != 0 and bad.stderr.startswith("ppml-az: error: --mode 999") and "Traceback" not in bad.stderr


def _temporary(path: Path) -> bool:
    """A temporary output: ``<id>.part`` in a staging directory (or the old ``.name.<id>.ppml-az-tmp``)."""
    return path.suffix == ".part" or path.name.endswith(".ppml-az-tmp")


def _staging_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.name.startswith(STAGING_PREFIX))


@pytest.mark.parametrize("command", ["decrypt", "encrypt"])
def test_sigkill_mid_tree_leaves_partial_output_only_in_a_private_dir_cleaned_next_run(
    tmp_path: Path, command: str
) -> None:
    key = tmp_path / "k"
    kms = LocalKms.create(key)
    plain = tmp_path / "plain"
    (plain / "d").mkdir(parents=True)
    for i in range(4):
        (plain / "d" / f"f{i}.bin").write_bytes(os.urandom(24 << 20))
    source = plain
    if command == "decrypt":
        source = encrypt(kms, plain, tmp_path / "enc")
    out = tmp_path / "out"
    args = [command, "--kms", "local", "--primary-key", str(key), "--jobs", "1", str(source), str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    proc = subprocess.Popen([sys.executable, "-m", "bigdl_ppml_az", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    partial: list[Path] = []
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            partial = [p for p in data_files(out) if _temporary(p) and p.stat().st_size > 0] if out.exists() else []
            if partial:
                break
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert partial, "the run finished before a partial file was seen; make the files larger"
    leftovers = [p for p in data_files(out) if not (p.parent == out / "d" and p.name.startswith("f"))]
    staging = _staging_dirs(out)
    assert len(staging) == 1 and mode_of(staging[0]) == 0o700, (staging, leftovers)
    assert all(p.parent == staging[0] for p in leftovers), leftovers  # nothing partial next to the outputs
    assert all(mode_of(p) == 0o600 for p in leftovers if _temporary(p))

    done = cli(*args[:-2], "--force", str(source), str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _staging_dirs(out) == [], "the next run must remove the killed run's staging directory"
    assert sorted(p.name for p in data_files(out) if p.parent == out / "d") == [f"f{i}.bin" for i in range(4)]


def test_staging_of_a_live_run_is_not_removed(tmp_path: Path) -> None:
    """Only leftovers of a dead process of the same command, user and host are cleaned."""
    from bigdl_ppml_az.filecrypt import clean_leftovers

    live = tmp_path / f"{STAGING_PREFIX}live"
    live.mkdir(mode=0o700)
    (live / "owner.json").write_text(
        f'{{"pid": {os.getpid()}, "uid": {os.getuid()}, "host": "{os.uname().nodename}", "command": "decrypt"}}'
    )
    other = tmp_path / f"{STAGING_PREFIX}foreign"
    other.mkdir(mode=0o700)  # no owner file: not identifiable, kept
    assert clean_leftovers(str(tmp_path), "decrypt") == []
    assert live.exists() and other.exists()


def test_io_encryption_off_warns_once_per_application(spark: Any) -> None:
    assert spark.sparkContext.getConf().get("spark.io.encryption.enabled", "false") == "false"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bigdl_ppml_az.register(spark)
        bigdl_ppml_az.register(spark)
        assert check_io_encryption(spark) is False
    spills = [w for w in caught if issubclass(w.category, PlaintextSpillWarning)]
    assert len(spills) <= 1  # once per application: an earlier test may have registered already
    from bigdl_ppml_az import spill

    spill._warned.discard(spark.sparkContext.applicationId)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bigdl_ppml_az.register(spark)
        bigdl_ppml_az.register(spark)
    spills = [w for w in caught if issubclass(w.category, PlaintextSpillWarning)]
    assert len(spills) == 1 and "spark.io.encryption.enabled=true" in str(spills[0].message)


@pytest.mark.slow
def test_io_encryption_on_does_not_warn(tmp_path: Path) -> None:
    script = (
        "import warnings, bigdl_ppml_az\n"
        "from pyspark.sql import SparkSession\n"
        "s = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false')"
        ".config('spark.io.encryption.enabled', 'true').getOrCreate()\n"
        "with warnings.catch_warnings(record=True) as c:\n"
        "    warnings.simplefilter('always')\n"
        "    bigdl_ppml_az.register(s)\n"
        "print('WARNINGS', len([w for w in c if 'encryption' in str(w.message)]))\n"
        "s.stop()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    assert "WARNINGS 0" in done.stdout, done.stderr[-2000:]
