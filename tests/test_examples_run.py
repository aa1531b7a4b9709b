"""examples/*.py run as ``.venv/bin/python examples/x.py ...`` with the venv not activated (issue 21, item 4).

Each example runs in a subprocess with a minimal environment: a PATH without the venv (its ``python3`` is the
system's, which has no bigdl_ppml_az), no PYSPARK_PYTHON, no PYTHONPATH. Spark's Python workers must still run
the venv's interpreter, or every read dies in a worker with ``ModuleNotFoundError``/``DATA_SOURCE_NOT_FOUND``.
The input is the guide's: BigDL-layout (``aes/cbc/pkcs5padding`` + ``.meta``) people.csv under a local key.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SYSTEM_PATH = os.pathsep.join(
    p for p in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin") if os.path.isdir(p)
)
PEOPLE = [("Jack", 25, "Developer"), ("Anna", 41, "Manager"), ("Omar", 35, "Developer"), ("Lena", 52, "Developer")]
DEVELOPERS_20_TO_40 = sorted(p for p in PEOPLE if p[2] == "Developer" and 20 <= p[1] <= 40)


def minimal_env() -> dict[str, str]:
    """What a fresh login shell that never activated the venv has, for Spark: PATH, HOME, JAVA_HOME if any."""
    env = {"PATH": SYSTEM_PATH, "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
    if os.environ.get("JAVA_HOME"):
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    # one worker thread keeps the run cheap; the master is what a user's plain `python job.py` gets otherwise
    env["PYSPARK_SUBMIT_ARGS"] = "--master local[1] --conf spark.ui.enabled=false pyspark-shell"
    return env


def test_the_minimal_environment_would_start_the_wrong_python() -> None:
    """The premise: Spark's default worker interpreter on the minimal PATH (``python3``) is missing or cannot
    import the package, so the runs below would fail if the workers started it."""
    system_python = shutil.which("python3", path=SYSTEM_PATH)
    if system_python is not None:
        done = subprocess.run(
            [system_python, "-c", "import bigdl_ppml_az"], env=minimal_env(), capture_output=True, timeout=60
        )
        assert done.returncode != 0, f"{system_python} imports bigdl_ppml_az: this file would test nothing"


@pytest.fixture(scope="module")
def bigdl_input(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A local primary key and people.csv encrypted in BigDL's layout (part file + .meta) by ppml-az."""
    root = tmp_path_factory.mktemp("examples")
    plain = root / "plain"
    plain.mkdir()
    with (plain / "people.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([("name", "age", "job"), *PEOPLE])
    key = root / "keys" / "primary.key"
    for args in (
        ["keys", "create", "--kms", "local", "--primary-key", str(key)],
        ["encrypt", "--kms", "local", "--primary-key", str(key), "--crypto-mode", "aes/cbc/pkcs5padding",
         str(plain), str(root / "people-enc")],
    ):  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "bigdl_ppml_az", *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert (root / "people-enc" / ".meta").exists()
    return {"root": root, "key": key, "input": root / "people-enc"}


def run_example(script: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(VENV_BIN / "python"), str(REPO / "examples" / script), *map(str, args)],
        cwd=cwd, env=minimal_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert "ModuleNotFoundError" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-4000:]
    return done


def read_plain_csv(directory: Path) -> list[tuple[str, int, str]]:
    rows = []
    for part in sorted(directory.glob("part-*.csv")):
        with part.open(newline="") as handle:
            rows += [(r["name"], int(r["age"]), r["job"]) for r in csv.DictReader(handle)]
    return sorted(rows)


@pytest.mark.slow  # CI time: the PPMLContext example takes the same registration path; test_azure_simple_query runs it
def test_simple_query_without_an_activated_venv(bigdl_input: dict[str, Path]) -> None:
    out = bigdl_input["root"] / "simple-query-result"
    done = run_example(
        "simple_query.py", "--kms_type", "local", "--primary_key_path", bigdl_input["key"],
        "--input_encrypt_mode", "aes/cbc/pkcs5padding", "--output_encrypt_mode", "plain_text",
        "--input_path", bigdl_input["input"], "--output_path", out, "--master", "local[1]",
        cwd=bigdl_input["root"],
    )  # fmt: skip
    assert f"people: {len(PEOPLE)}" in done.stdout
    assert read_plain_csv(out) == DEVELOPERS_20_TO_40


def test_simple_query_ppml_context_without_an_activated_venv(bigdl_input: dict[str, Path]) -> None:
    out = bigdl_input["root"] / "ppml-context-result"
    done = run_example(
        "simple_query_ppml_context.py", "--kms_type", "local", "--primary_key_path", bigdl_input["key"],
        "--input_encrypt_mode", "aes/cbc/pkcs5padding", "--output_encrypt_mode", "plain_text",
        "--input_path", bigdl_input["input"], "--output_path", out,
        cwd=bigdl_input["root"],
    )  # fmt: skip
    assert f"people: {len(PEOPLE)}" in done.stdout
    assert read_plain_csv(out) == DEVELOPERS_20_TO_40
