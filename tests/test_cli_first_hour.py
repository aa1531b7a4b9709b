"""The first hour of a new user with ``ppml-az`` (issue 21, items 2, 3, 6 and the CLI parts of 7), each checked the
way the user met it: progress lines in a pipe, Ctrl-C then ``--resume``, misspelt flags, BigDL's spellings,
``submit`` leftovers and log noise, ``.meta`` of single-file encrypts, ``./dev emulators`` and the venv."""

from __future__ import annotations

import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from bigdl_ppml_az import cli
from bigdl_ppml_az.cli import submit
from bigdl_ppml_az.errors import OutputExistsError
from bigdl_ppml_az.filecrypt import ProgressLines, decrypt_path, encrypt_path
from bigdl_ppml_az.kms.local import LocalKms
from kv_emulator import KeyVaultEmulator

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bigdl_ppml_az", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=env,
    )  # fmt: skip


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.main(list(argv))
    assert exited.value.code == 2
    return capsys.readouterr().err


# ------------------------------------------------------------------------- item 2+3: a piped run, Ctrl-C, --resume


def _plain_tree(root: Path, files: int, size: int) -> Path:
    (root / "sub").mkdir(parents=True)
    for i in range(files):
        where = root / "sub" if i % 4 == 0 else root
        (where / f"part-{i:03d}.bin").write_bytes(os.urandom(size))
    return root


def _no_staging_left(root: Path) -> None:
    leftovers = [p for p in root.rglob("*") if ".ppml-az-tmp" in p.name]
    assert leftovers == [], leftovers


def test_piped_encrypt_prints_progress_lines_then_ctrl_c_then_resume_completes(tmp_path: Path, local_key: Path) -> None:
    files = 40
    plain = _plain_tree(tmp_path / "plain", files, 2 << 20)
    out = tmp_path / "enc"
    argv = [sys.executable, "-m", "bigdl_ppml_az", "encrypt", "--kms", "local", "--primary-key", str(local_key),
            "--jobs", "1", str(plain), str(out)]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    progress = re.compile(rf"^encrypting: (\d+)/{files} files, [\d.]+ MB of [\d.]+ MB, \d+ s$")
    for line in process.stdout:  # read as the lines come: they must arrive while the run is still going
        lines.append(line.rstrip("\n"))
        match = progress.match(lines[-1])
        if (match and int(match[1]) >= 4) or time.monotonic() > deadline:
            break
    assert process.poll() is None, "the run ended before its progress lines were read: they came only at the end"
    assert lines[0] == f"encrypting: {files} file(s), 83.9 MB"
    assert progress.match(lines[-1]), lines
    process.send_signal(signal.SIGINT)  # Ctrl-C
    rest, errors = process.communicate(timeout=120)
    assert process.returncode == 130, errors
    written = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]
    message = f"ppml-az: interrupted; rerun with --resume to continue ({len(written)} of {files} files done)"
    assert errors.strip().splitlines()[-1] == message
    assert 4 <= len(written) < files
    _no_staging_left(out)  # the file being written when Ctrl-C came was removed, not left half done

    again = _cli("encrypt", "--kms", "local", "--primary-key", local_key, plain, out)
    assert again.returncode == 1 and "pass --resume (resume=True) to continue an interrupted run" in again.stderr
    resumed = _cli("encrypt", "--kms", "local", "--primary-key", local_key, "--resume", plain, out)
    assert resumed.returncode == 0, resumed.stderr
    assert f"encrypted {files} file(s) ({len(written)} already done: verified and kept)" in resumed.stdout
    # the result is what a clean run gives: every name, every byte back
    clean = tmp_path / "clean"
    encrypt_path(str(plain), str(clean), LocalKms.load(local_key), progress=False)
    assert sorted(_tree(out)) == sorted(_tree(clean))
    decrypt_path(str(out), str(tmp_path / "back"), LocalKms.load(local_key), progress=False)
    assert _tree(tmp_path / "back") == _tree(plain)


def test_progress_lines_every_twentieth_and_every_few_seconds() -> None:
    import io

    from bigdl_ppml_az.filecrypt import FileResult

    now = [0.0]
    stream = io.StringIO()
    lines = ProgressLines(stream, every_seconds=5.0, clock=lambda: now[0])
    lines.start("decrypting", 3, 300 << 20)
    lines(100 << 20)  # no time passed: no line
    now[0] = 6.0
    lines(10 << 20)  # one large file still reports every few seconds
    lines.file_done(FileResult("a", "b", 110 << 20, 110 << 20, "ppml-gcm", kept=True))
    assert stream.getvalue().splitlines() == [
        "decrypting: 3 file(s), 314.6 MB",
        "decrypting: 0/3 files, 115.3 MB of 314.6 MB, 6 s",
        "decrypting: 1/3 files (1 already done, verified), 115.3 MB of 314.6 MB, 6 s",
    ]
    quiet = io.StringIO()
    single = ProgressLines(quiet)
    single.start("encrypting", 1, 1000)
    single.file_done(FileResult("a", "b", 1000, 1100, "ppml-gcm"))
    assert quiet.getvalue() == ""  # one small file: the summary line says it all


# ------------------------------------------------------------------------- item 3: what --resume keeps and redoes


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_resume_redoes_tampered_truncated_foreign_key_and_foreign_content(tmp_path: Path, local_key: Path) -> None:
    kms = LocalKms.load(local_key)
    plain = _plain_tree(tmp_path / "plain", 8, 20_000)
    out = tmp_path / "enc"
    encrypt_path(str(plain), str(out), kms, segment_size=4096, progress=False)
    before = _tree(out)
    names = sorted(before)
    tampered, truncated, foreign_key, foreign_content, plaintext = names[:5]
    _flip(out / tampered, 10_000)
    whole = (out / truncated).read_bytes()
    (out / truncated).write_bytes(whole[: len(whole) - 4096 - 16])  # drop the final segment exactly: tags still ok
    other = LocalKms.create(tmp_path / "other.key")
    encrypt_path(str(plain / foreign_key), str(out / foreign_key), other, force=True, progress=False)
    (out / foreign_content).write_bytes(before[names[6]])  # a valid file under the same key, of other data
    (out / plaintext).write_bytes((plain / plaintext).read_bytes())
    damaged = _tree(out)

    result = encrypt_path(str(plain), str(out), kms, segment_size=4096, progress=False, resume=True)
    assert result.kept == 3
    after = _tree(out)
    for name in names[5:]:
        assert after[name] == before[name], f"{name}: complete and verified, yet written again"
    for name in names[:5]:
        assert after[name] != damaged[name], f"{name}: kept although it is not this input's encryption"
    decrypt_path(str(out), str(tmp_path / "back"), kms, progress=False)
    assert _tree(tmp_path / "back") == _tree(plain)
    _no_staging_left(out)


def test_resume_of_a_bigdl_tree_keeps_its_data_key(tmp_path: Path, local_key: Path) -> None:
    kms = LocalKms.load(local_key)
    plain = _plain_tree(tmp_path / "plain", 6, 5000)
    out = tmp_path / "enc"
    encrypt_path(str(plain), str(out), kms, crypto_mode="aes/cbc/pkcs5padding", progress=False)
    meta = (out / ".meta").read_bytes()
    first = sorted(p for p in _tree(out) if not Path(p).name.startswith("."))
    (out / first[0]).unlink()  # never written: the run stopped before it
    _flip(out / first[1], 1000)  # HMAC no longer verifies
    result = encrypt_path(str(plain), str(out), kms, crypto_mode="aes/cbc/pkcs5padding", progress=False, resume=True)
    assert result.kept == 4
    assert (out / ".meta").read_bytes() == meta and (out / "sub" / ".meta").read_bytes() == meta
    decrypt_path(str(out), str(tmp_path / "back"), kms, progress=False)
    assert _tree(tmp_path / "back") == _tree(plain)


def test_resume_of_decrypt_keeps_only_outputs_equal_to_the_decryption(tmp_path: Path, local_key: Path) -> None:
    kms = LocalKms.load(local_key)
    plain = _plain_tree(tmp_path / "plain", 6, 5000)
    encrypt_path(str(plain), str(tmp_path / "enc"), kms, progress=False)
    out = tmp_path / "dec"
    decrypt_path(str(tmp_path / "enc"), str(out), kms, progress=False)
    names = sorted(_tree(out))
    _flip(out / names[0], 100)  # same size, other bytes
    (out / names[1]).write_bytes((out / names[1]).read_bytes()[:-1])  # truncated
    decoy = tmp_path / "decoy"
    decoy.write_bytes((plain / names[2]).read_bytes())
    (out / names[2]).unlink()
    (out / names[2]).symlink_to(decoy)  # right bytes, but a link: replaced, never followed
    os.chmod(out / names[3], 0o644)
    result = decrypt_path(str(tmp_path / "enc"), str(out), kms, progress=False, resume=True)
    assert result.kept == 3
    assert _tree(out) == _tree(plain)
    assert not (out / names[2]).is_symlink() and decoy.read_bytes() == (plain / names[2]).read_bytes()
    assert stat.S_IMODE((out / names[3]).stat().st_mode) == 0o600  # as a clean run writes it


def test_resume_and_force_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(capsys, "encrypt", "--force", "--resume", "a", "b")
    assert "not allowed with argument --force" in err


# ------------------------------------------------------------------------------- item 6: flags and spellings


@pytest.mark.parametrize(
    ("argv", "usage", "expected"),
    [
        (["encrypt", "--primarykey", "k", "in", "out"], "ppml-az encrypt", "unrecognized argument: --primarykey; "
         "did you mean --primary-key?"),
        (["decrypt", "--kms", "local", "--no-verfy", "in", "out"], "ppml-az decrypt", "did you mean --no-verify?"),
        (["keys", "create", "--vaultname", "v"], "ppml-az keys create", "did you mean --vault?"),
        (["tpch", "run", "--querys", "1"], "ppml-az tpch run", "did you mean --queries?"),
        (["submit", "--mastr", "local[1]", "job.py"], "ppml-az submit", "did you mean --master?"),
        (["submit", "--master", "local[1]", "--klass", "Main", "job.jar"], "ppml-az submit", "did you mean --class?"),
        (["encrpyt", "--kms", "local", "in", "out"], "ppml-az", "'demo', 'shim', 'submit'); did you mean encrypt?"),
        (["keys", "crete", "--kms", "local"], "ppml-az keys", "did you mean create?"),
    ],
)  # fmt: skip
def test_misspelt_flags_get_the_commands_usage_and_a_suggestion(
    capsys: pytest.CaptureFixture[str], argv: list[str], usage: str, expected: str
) -> None:
    err = _usage_error(capsys, *argv)
    assert err.startswith(f"usage: {usage} ")
    assert err.rstrip().splitlines()[-1].endswith(expected), err


def test_arguments_after_the_application_belong_to_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["submit", "--master", "local[1]", "--dry-run", "job.py", "--primarykey", "x"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("job.py --primarykey x")


def test_bigdl_input_and_output_path_spellings(tmp_path: Path, local_key: Path) -> None:
    plain = _plain_tree(tmp_path / "plain", 3, 1000)
    key = ["--kmsType", "local", "--primaryKeyPath", str(local_key)]
    assert cli.main(["encrypt", *key, "--inputPath", str(plain), "--outputPath", str(tmp_path / "enc")]) == 0
    back = ["--input-path", str(tmp_path / "enc"), "--output-path", str(tmp_path / "dec")]
    assert cli.main(["decrypt", *key, *back]) == 0
    assert _tree(tmp_path / "dec") == _tree(plain)


def test_paths_given_twice_or_not_at_all(capsys: pytest.CaptureFixture[str], tmp_path: Path, local_key: Path) -> None:
    key = ["--kms", "local", "--primary-key", str(local_key)]
    err = _usage_error(capsys, "encrypt", *key, "--inputPath", "a", "a", "b")
    assert err.startswith("usage: ppml-az encrypt ")
    assert "give the input once: positionally or as --inputPath, not both" in err
    err = _usage_error(capsys, "decrypt", *key, "a")
    assert "the following arguments are required: OUTPUT (or --inputPath and --outputPath)" in err


def test_keys_create_with_bigdl_spellings_names_what_is_missing(tmp_path: Path) -> None:
    done = _cli("keys", "create", "--kmsType", "AzureKeyManagementService", "--vaultName", "myvault",
                "--primaryKeyPath", tmp_path / "pk", "--dataKeyPath", tmp_path / "dk")  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "ppml-az: error: keys create --kms azure needs --name KEY_NAME: the name of the new key in vault myvault "
        "(BigDL made one up; choose one, e.g. --name ppml-key)"
    )
    assert not (tmp_path / "pk").exists()


def test_keys_create_with_bigdl_spellings_against_the_key_vault_emulator(kv: KeyVaultEmulator, tmp_path: Path) -> None:
    env = {**os.environ, "PPML_AZ_KV_CREDENTIAL": "emulator", "PPML_AZ_KV_CA_BUNDLE": str(kv.ca_path),
           "PPML_AZ_KV_VERIFY_CHALLENGE_RESOURCE": "false"}  # fmt: skip
    name = "first-hour-" + uuid.uuid4().hex[:8]
    done = _cli("keys", "create", "--kmsType", "AzureKeyManagementService", "--vaultName", kv.url,
                "--primaryKeyName", name, "--key-size", "2048", "--primaryKeyPath", tmp_path / "pk",
                "--dataKeyPath", tmp_path / "dk", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "pk").read_text().startswith(f"{kv.url}/keys/{name}/")


# ------------------------------------------------------------------------------------------------ item 6: submit


def _command(plan: submit.Plan) -> list[str]:
    return plan.command


def test_submit_passes_class_of_a_jvm_job_and_refuses_it_for_python(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(["submit", "--master", "local[2]", "--class", "org.example.Main", "job.jar",
                                          "in", "out"])  # fmt: skip
    plan = submit.build_plan(args, tmp_path, {})
    assert plan.command[-5:] == ["--class", "org.example.Main", "job.jar", "in", "out"]
    assert "spark.authenticate=true" in plan.command  # the same secure settings as a Python job
    bigdl = cli.build_parser().parse_args(
        ["submit", "--master", "local[2]", "--class", "com.intel.analytics.bigdl.ppml.examples.tpch.TpchQuery",
         "bigdl-ppml-spark.jar"])  # fmt: skip
    notes = submit.build_plan(bigdl, tmp_path / "b", {}).notes
    assert any("BigDL PPML class" in n and "ppml-az tpch run" in n for n in notes)
    python = cli.build_parser().parse_args(["submit", "--master", "local[2]", "--class", "Main", "job.py"])
    with pytest.raises(Exception, match="job.py is a Python application"):
        submit.build_plan(python, tmp_path / "p", {})


def test_submit_dry_run_leaves_no_temporary_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    assert cli.main(["submit", "--master", "local[2]", "--dry-run", "--bundle", "", "job.py"]) == 0
    out = capsys.readouterr().out
    assert "(removed after this dry run)" in out
    assert cli.main(["submit", "--master", "k8s://https://x", "--sgx-enabled", "true", "--dry-run", "job.py"]) == 1
    templates = tmp_path / "templates"
    assert cli.main(["submit", "--master", "k8s://https://x", "--template-dir", str(templates), "--dry-run",
                     "job.py"]) == 0  # fmt: skip
    assert list(temp.iterdir()) == []  # nothing left by the dry runs, the failed one included
    assert sorted(p.name for p in templates.iterdir()) == ["driver-template.yaml", "executor-template.yaml"]


def _conf_values(command: list[str], key: str) -> list[str]:
    return [c.split("=", 1)[1] for c in command if c.startswith(f"{key}=")]


def test_submit_defaults_spark_log_level_to_warn_unless_the_user_chose(tmp_path: Path) -> None:
    def plan(*argv: str, environ: dict[str, str] | None = None) -> submit.Plan:
        args = cli.build_parser().parse_args(["submit", "--master", "local[2]", *argv, "job.py"])
        return submit.build_plan(args, tmp_path / uuid.uuid4().hex, environ or {})

    default = plan()
    assert _conf_values(default.command, "spark.log.level") == ["WARN"]
    assert "Spark log level WARN (--conf spark.log.level=INFO shows Spark's INFO lines)" in default.notes
    chosen = plan("--conf", "spark.log.level=INFO")
    assert _conf_values(chosen.command, "spark.log.level") == ["INFO"] and not chosen.notes
    java = plan("--conf", "spark.driver.extraJavaOptions=-Dlog4j2.configurationFile=/etc/l.properties")
    assert _conf_values(java.command, "spark.log.level") == []
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "log4j2.properties").write_text("rootLogger.level = info\n")
    assert _conf_values(plan(environ={"SPARK_CONF_DIR": str(conf_dir)}).command, "spark.log.level") == []
    props = tmp_path / "my.conf"
    props.write_text("spark.log.level DEBUG\n")
    assert _conf_values(plan("--properties-file", str(props)).command, "spark.log.level") == []


@pytest.mark.slow
def test_a_real_submit_is_quiet_and_says_how_to_get_info_back(tmp_path: Path) -> None:
    job = tmp_path / "job.py"
    job.write_text("from pyspark.sql import SparkSession\nspark = SparkSession.builder.getOrCreate()\n"
                   "print('rows', spark.range(10).count())\nspark.stop()\n")  # fmt: skip
    base = ["submit", "--master", "local[1]", "--conf", "spark.ui.enabled=false"]
    quiet = _cli(*base, job)
    assert quiet.returncode == 0 and "rows 10" in quiet.stdout, quiet.stderr[-3000:]
    assert "ppml-az submit: Spark log level WARN (--conf spark.log.level=INFO shows Spark's INFO lines)" in quiet.stderr
    loud = _cli(*base, "--conf", "spark.log.level=INFO", job)
    info = [line for line in quiet.stderr.splitlines() if " INFO " in line]
    assert len(info) <= 5, info  # the few Spark prints before it applies the level (measured: 3)
    assert len([line for line in loud.stderr.splitlines() if " INFO " in line]) > 30  # the control


# ----------------------------------------------------------------------------------- item 7: .meta, ./dev emulators


def test_single_file_bigdl_encrypts_share_their_directorys_meta(tmp_path: Path, local_key: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.csv").write_text("a,b\n1,2\n")
    (work / "b.csv").write_text("a,b\n3,4\n")
    out = tmp_path / "out"
    out.mkdir()
    flags = ["--kms", "local", "--primary-key", local_key, "--crypto-mode", "aes/cbc/pkcs5padding"]
    for name in ("a", "b"):
        done = _cli("encrypt", *flags, f"{name}.csv", out / f"{name}.csv", cwd=work)
        assert done.returncode == 0, done.stderr
    assert not (work / ".meta").exists()  # next to the output, not in the current directory
    meta = (out / ".meta").read_text()
    for name in ("a", "b"):  # both files carry the directory's one data key, as BigDL readers expect
        assert _cli("inspect", out / f"{name}.csv").returncode == 0
    decrypt_path(str(out), str(tmp_path / "back"), LocalKms.load(local_key), progress=False)
    assert _tree(tmp_path / "back") == {"a.csv": b"a,b\n1,2\n", "b.csv": b"a,b\n3,4\n"}
    # a .meta this primary key cannot unwrap: refused with what to do, nothing written
    other = LocalKms.create(tmp_path / "other.key")
    with pytest.raises(OutputExistsError, match="cannot unwrap it; encrypt with the primary key that wrote them, "
                       "into another directory, or pass --force"):  # fmt: skip
        encrypt_path(str(work / "a.csv"), str(out / "c.csv"), other, crypto_mode="aes/cbc/pkcs5padding")
    assert not (out / "c.csv").exists() and (out / ".meta").read_text() == meta


def _fake_venv(root: Path, python: str) -> Path:
    """A venv whose python is ``python`` and whose pip only records that it was called."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").write_text(f"#!/bin/sh\nexec {python} \"$@\"\n")
    (root / "bin" / "pip").write_text(f"#!/bin/sh\necho \"$@\" >> {root / 'pip-called'}\nexit 1\n")
    for name in ("python", "pip"):
        os.chmod(root / "bin" / name, 0o755)
    return root


def test_dev_emulators_installs_nothing_into_a_venv_that_can_run_them(tmp_path: Path) -> None:
    azurite = REPO / ".tools" / "node_modules" / ".bin" / "azurite"
    if not azurite.exists():
        pytest.skip("Azurite not installed in .tools (./dev test installs it)")
    venv = _fake_venv(tmp_path / "venv", shlex.quote(sys.executable))
    process = subprocess.Popen(
        [str(REPO / "dev"), "emulators"], env={**os.environ, "PPML_AZ_VENV": str(venv)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        first = process.stdout.readline().strip()
        for line in process.stdout:
            if line.startswith("ready"):
                break
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert first == (
        f"==> using {venv} as it is (the emulators need only cryptography and azure-storage-blob; nothing installed)"
    )
    assert not (venv / "pip-called").exists()


def test_dev_emulators_installs_the_package_alone_when_the_venv_lacks_it(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path / "venv", "/bin/false")  # a python that imports nothing
    done = subprocess.run([str(REPO / "dev"), "emulators"], env={**os.environ, "PPML_AZ_VENV": str(venv)},
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1  # the recording pip fails
    assert f"==> installing bigdl-ppml-az into {venv} (pip install .; log in {venv}/install.log)" in done.stdout
    calls = (venv / "pip-called").read_text().split()
    assert calls[-1] == str(REPO) and not any("[test]" in c for c in calls)  # no test extras


# ------------------------------------------------------------------------------------ item 2: the demo in a pipe


def test_demo_query_line() -> None:
    from bigdl_ppml_az.cli.demo import query_line
    from bigdl_ppml_az.tpch.verify import Check

    assert query_line(Check(5, True, 5), 3.214) == "Q05     3.21 s       5 rows  verified"
    assert query_line(Check(13, False, 42, "row 3 column custdist: ours 1 != reference 2"), 10.0) == (
        "Q13    10.00 s      42 rows  DIFFERS from DuckDB: row 3 column custdist: ours 1 != reference 2"
    )


@pytest.mark.slow
def test_demo_piped_prints_each_query_as_it_finishes(tmp_path: Path) -> None:
    """``./dev demo | tee log``: one line per query, verified against DuckDB, while the demo is still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bigdl_ppml_az", "demo", "--sf", "0.01", "--queries", "1", "6", "--workdir",
         str(tmp_path / "demo"), "--master", "local[1]"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = re.compile(r"^Q(\d\d) +[\d.]+ s +\d+ rows  verified$")
    seen: list[tuple[str, bool]] = []
    for text in process.stdout:
        if line.match(text.rstrip("\n")):
            seen.append((text.split()[0], process.poll() is None))
        if len(seen) == 2:
            break
    rest, _ = process.communicate(timeout=600)
    assert process.returncode == 0, rest
    assert [name for name, _ in seen] == ["Q01", "Q06"]
    assert seen[0][1], "Q01's line came only when the demo had ended"
    assert "2/2 queries match" in rest and "all answers verified" in rest
