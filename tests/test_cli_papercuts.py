"""What a new user hit in ``./dev`` and ``ppml-az`` (issue 9, item 6), each checked the way the user met it."""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bigdl_ppml_az.cli import build_parser
from bigdl_ppml_az.cli._console import UNWRAPPED_WIDTH, make_console
from bigdl_ppml_az.cli.demo import StepClock
from bigdl_ppml_az.filecrypt import encrypt_path
from bigdl_ppml_az.kms.local import LocalKms

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: object, cwd: Path | None = None, columns: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns:
        env["COLUMNS"] = columns
    return subprocess.run(
        [sys.executable, "-m", "bigdl_ppml_az", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=env,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ ./dev test PATH


def _dev_dry_run(*args: str) -> list[str]:
    done = subprocess.run(
        [str(REPO / "dev"), *args], env={**os.environ, "PPML_AZ_DRY_RUN": "1"}, capture_output=True, text=True,
        timeout=30, cwd="/",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1].split()


@pytest.mark.parametrize(
    ("args", "pytest_args"),
    [
        (["tests/test_cli.py", "-x"], ["tests/test_cli.py", "-x"]),
        (["tests/test_cli.py::test_usage_errors_exit_2"], ["tests/test_cli.py::test_usage_errors_exit_2"]),
        (["-k", "gcm", "-x"], ["tests", "-k", "gcm", "-x"]),
        ([], ["tests"]),
        (["--run-slow", "tests/test_tpch.py"], ["--run-slow", "tests/test_tpch.py"]),
    ],
)
def test_dev_test_passes_tests_only_without_a_path(args: list[str], pytest_args: list[str]) -> None:
    command = _dev_dry_run("test", *args)
    assert command[command.index("pytest") + 1 :] == pytest_args


def test_dev_lint_still_runs_ruff_and_mypy() -> None:
    done = subprocess.run(
        [str(REPO / "dev"), "lint"], env={**os.environ, "PPML_AZ_DRY_RUN": "1"}, capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ruff check python tests examples bench" in done.stdout and done.stdout.rstrip().endswith("mypy")


# ----------------------------------------------------------------------------------- output to a file


def test_console_does_not_wrap_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    console = make_console()
    assert console.width == UNWRAPPED_WIDTH
    console.print("x" * 300)
    assert sys.stdout.getvalue() == "x" * 300 + "\n"  # type: ignore[attr-defined]
    monkeypatch.setenv("COLUMNS", "100")  # an explicit width still wins
    assert make_console().width == 100


def test_cli_output_redirected_to_a_file_keeps_long_lines(tmp_path: Path) -> None:
    out = tmp_path / ("tpch-" + "x" * 120)
    done = _cli("tpch", "gen", "--sf", "0.001", "--out", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"generating TPC-H SF 0.001 (tbl) with tpchgen-cli into {out}/<table>/ ...",  # before the wait (issue 21)
        f"generated TPC-H SF 0.001 (tbl) in {out}/<table>/",
    ]


# ---------------------------------------------------------------------------------- demo step durations


def test_demo_prints_each_step_duration_not_the_time_since_start(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    clock = StepClock(make_console(), clock=lambda: now[0])
    now[0] += 7.0  # something before the first step
    with clock.step("generating"):
        now[0] += 2.0
    with clock.step("encrypting"):
        now[0] += 3.5
    printed = sys.stdout.getvalue().splitlines()  # type: ignore[attr-defined]
    assert printed == ["==> generating", "    step took 2.0 s", "==> encrypting", "    step took 3.5 s"]
    assert clock.durations == [("generating", 2.0), ("encrypting", 3.5)]
    assert clock.total() == 12.5


# ------------------------------------------------------------------------------- tpch run checks first


@pytest.fixture(scope="module")
def tpch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tpch-args")
    (root / "data" / "lineitem").mkdir(parents=True)
    LocalKms.create(root / "primary.key")
    return root


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("query", "not a TPC-H query number: 'q23x'"),
        ("range", "23"),
        ("key", "missing.key: primary key file not found"),
        ("input", "--input nowhere: no such directory"),
        ("data-key", "--data-key no-such-data-key: no such file"),
    ],
)
def test_tpch_run_checks_arguments_before_spark_with_one_line(tpch_dir: Path, case: str, expected: str) -> None:
    key = ["--kms", "local", "--primary-key", "primary.key"]
    args = {
        "query": ["--input", "data", "--input-crypto-mode", "auto", *key, "--queries", "1", "q23x"],
        "range": ["--input", "data", "--input-crypto-mode", "auto", *key, "--queries", "23"],
        "key": ["--input", "data", "--input-crypto-mode", "auto", "--kms", "local", "--primary-key", "missing.key"],
        "input": ["--input", "nowhere", "--input-crypto-mode", "auto", *key],
        "data-key": ["data", "out", "aes/cbc/pkcs5padding", "plain_text", *key, "--data-key", "no-such-data-key"],
    }[case]
    done = _cli("tpch", "run", *args, cwd=tpch_dir)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr  # no Spark start-up noise, no traceback
    assert lines[0].startswith("ppml-az: error: ") and expected in lines[0]
    assert not (tpch_dir / "out").exists()


# ----------------------------------------------------------------------- decrypt strips writer suffixes


def test_decrypt_of_a_ppml_enc_output_tree_strips_enc_and_cbc(spark: object, tmp_path: Path, local_key: Path) -> None:
    from pyspark.sql import SparkSession

    assert isinstance(spark, SparkSession)
    kms = {"kms": "local", "primaryKeyPath": str(local_key)}
    df = spark.createDataFrame([("alice", 31), ("bob", 29), ("carol", 41)], "name string, age int")
    for mode, suffix in (("ppml-gcm", ".enc"), ("aes/cbc/pkcs5padding", ".cbc")):
        written = tmp_path / f"written-{suffix[1:]}"
        (df.coalesce(1).write.format("ppml-enc").options(**kms).option("format", "csv").option("header", "true")
         .option("cryptoMode", mode).mode("overwrite").save(str(written)))  # fmt: skip
        encrypted = [p.name for p in written.iterdir() if not p.name.startswith((".", "_"))]
        assert encrypted and all(name.endswith(".csv" + suffix) for name in encrypted)
        out = tmp_path / f"plain-{suffix[1:]}"
        done = _cli("decrypt", "--kms", "local", "--primary-key", local_key, written, out)
        assert done.returncode == 0, done.stderr
        names = sorted(p.name for p in out.iterdir() if not p.name.startswith((".", "_")))
        assert names == sorted(name[: -len(suffix)] for name in encrypted)
        rows = [row for name in names for row in csv.reader(io.StringIO((out / name).read_text()))]
        assert sorted(rows) == sorted([["name", "age"], ["alice", "31"], ["bob", "29"], ["carol", "41"]]), mode


def test_decrypt_refuses_two_inputs_that_would_meet_in_one_name(tmp_path: Path, local_key: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.csv").write_text("x\n1\n")
    (plain / "a.csv.enc").write_text("x\n2\n")  # encrypted under this name, decrypts to a.csv as well
    encrypt_path(str(plain), str(tmp_path / "enc"), LocalKms.load(local_key), progress=False)
    done = _cli("decrypt", "--kms", "local", "--primary-key", local_key, tmp_path / "enc", tmp_path / "out")
    assert done.returncode == 1
    assert done.stderr.startswith("ppml-az: error: ") and "a.csv" in done.stderr and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_decrypt_of_a_single_file_keeps_its_name(tmp_path: Path, local_key: Path) -> None:
    (tmp_path / "x.csv").write_text("a\n1\n")
    encrypt_path(str(tmp_path / "x.csv"), str(tmp_path / "x.csv.enc"), LocalKms.load(local_key), progress=False)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "kept.csv.enc"
    done = _cli("decrypt", "--kms", "local", "--primary-key", local_key, tmp_path / "x.csv.enc", target)
    assert done.returncode == 0, done.stderr
    assert target.read_text() == "a\n1\n"
    done = _cli("decrypt", "--kms", "local", "--primary-key", local_key, tmp_path / "x.csv.enc", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "x.csv.enc").read_text() == "a\n1\n"  # one file into a directory: same name


# --------------------------------------------------------------------------------- --help descriptions


def _subparsers(parser: argparse.ArgumentParser, prefix: str = "ppml-az") -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((f"{prefix} {name}", sub))
                found += _subparsers(sub, f"{prefix} {name}")
    return found


def test_every_subcommand_has_a_description() -> None:
    commands = _subparsers(build_parser())
    assert {"ppml-az demo", "ppml-az tpch run", "ppml-az shim build", "ppml-az decrypt"} <= {n for n, _ in commands}
    missing = [name for name, sub in commands if not (sub.description or "").strip()]
    assert missing == []
    helped = _cli("tpch", "run", "--help")
    assert helped.returncode == 0 and "checked before Spark starts" in helped.stdout
