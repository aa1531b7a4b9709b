"""Issue 10, items 6 and 9: hostile or broken input gives one clear line, promptly, with bounded memory.

Every CLI case runs ``ppml-az`` in a subprocess under a timeout and an address-space limit (a FIFO used to hang
and ``/dev/zero`` used to be read until memory ran out) and checks: exit code != 0, exactly one line on stderr,
no traceback. Data source cases go through the ``ppml-enc`` source's own entry points.
"""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql.types import StringType, StructField, StructType

from bigdl_ppml_az.datasource.planning import plan
from bigdl_ppml_az.datasource.source import PpmlEncDataSource
from bigdl_ppml_az.errors import IntegrityError, KeyFileError, StorageError
from bigdl_ppml_az.formats import COMMON, ppml_gcm
from bigdl_ppml_az.kms import KmsSettings, build_kms
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.options import READ
from bigdl_ppml_az.safeio import InsecurePermissionsWarning
from test_datasource_support import encrypt, encrypt_native, kms_options, ppml_read

ROOT = Path(__file__).resolve().parent.parent
DEEP = 100_000  # json.loads raises RecursionError far below this


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    return subprocess.run(
        [sys.executable, "-m", "bigdl_ppml_az", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory,  # noqa: PLW1509 - single-threaded test process
        check=False,
    )


def assert_one_line(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith("ppml-az: error: "), lines
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def keyed(tmp_path: Path) -> dict[str, Path]:
    key = tmp_path / "primary.key"
    kms = LocalKms.create(key)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.csv").write_text("id,name\n1,x\n2,y\n", encoding="utf-8")
    gcm = encrypt(kms, tmp_path / "plain", tmp_path / "gcm")
    return {"root": tmp_path, "key": key, "plain": tmp_path / "plain", "gcm": gcm}


def nested_envelope_file(path: Path) -> Path:
    body = b"[" * DEEP + b"]" * DEEP
    body = body[: ppml_gcm.MAX_ENVELOPE_JSON // 2] + body[-ppml_gcm.MAX_ENVELOPE_JSON // 2 :]  # within the size cap
    path.write_bytes(ppml_gcm.MAGIC + struct.pack(">I", len(body)) + body + os.urandom(256))
    return path


# ---------------------------------------------------------------------------------------------- nesting


def test_nested_json_envelope_is_one_line(keyed: dict[str, Path]) -> None:
    root = keyed["root"]
    bad = nested_envelope_file(root / "nested.csv")
    assert_one_line(cli("inspect", str(bad), cwd=root), "nested.csv", "envelope")
    done = cli("decrypt", "--kms", "local", "--primary-key", str(keyed["key"]), str(bad), "out.csv", cwd=root)
    assert_one_line(done, "nested.csv", "envelope")
    source = PpmlEncDataSource(kms_options(keyed["key"], format="csv", path=str(bad)))
    with pytest.raises(IntegrityError, match="nests deeper"):  # inference probes the envelope
        source.schema()
    with pytest.raises(IntegrityError, match="nests deeper"):  # so does planning
        source.reader(StructType([StructField("id", StringType())])).partitions()  # type: ignore[attr-defined]


def test_nested_meta_is_one_line(spark: Any, keyed: dict[str, Path]) -> None:
    root = keyed["root"]
    native = encrypt_native(LocalKms.load(keyed["key"]), keyed["plain"] / "a.csv", root / "native")
    (native / ".meta").write_text('{"encryptedDataKey": ' + "[" * 20_000 + "]" * 20_000 + "}", encoding="utf-8")
    reader = ppml_read(spark, keyed["key"], schema="id INT, name STRING", cryptoMode="nativeaescbc")
    with pytest.raises(Exception) as info:
        reader.load(str(native)).collect()
    message = str(info.value)
    assert "RecursionError" not in message and ".meta" in message and "nests deeper" in message, message[-3000:]
    # The CLI reads an existing .meta when encrypting BigDL common into a directory that has one.
    (root / "out").mkdir()
    (root / "out" / ".meta").write_text("[" * DEEP + "]" * DEEP, encoding="utf-8")
    done = cli("encrypt", "--kms", "local", "--primary-key", str(keyed["key"]), "--crypto-mode", COMMON,
               str(keyed["plain"]), str(root / "out"), cwd=root)  # fmt: skip
    assert_one_line(done, ".meta")


# ---------------------------------------------------------------------------------------------- links


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_bad_symlink_in_input_tree_is_one_line(keyed: dict[str, Path], kind: str) -> None:
    root, plain = keyed["root"], keyed["plain"]
    link = plain / "b.csv"
    if kind == "dangling":
        link.symlink_to(root / "missing.csv")
    else:
        link.symlink_to(link)
    expected = "dangling symbolic link" if kind == "dangling" else "symbolic link loop"
    done = cli("encrypt", "--kms", "local", "--primary-key", str(keyed["key"]), str(plain), "enc2", cwd=root)
    assert_one_line(done, str(link), expected)
    with pytest.raises(StorageError, match=expected):  # the data source lists files through the same code
        PpmlEncDataSource(kms_options(keyed["key"], format="csv", header="true", path=str(plain))).schema()


def test_keys_create_under_an_existing_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    done = cli("keys", "create", "--kms", "local", "--primary-key", "afile/primary.key", cwd=tmp_path)
    assert_one_line(done, "afile/primary.key", "not a directory")


# ---------------------------------------------------------------------------------------------- key files


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_special_key_paths_fail_promptly(keyed: dict[str, Path], special: str) -> None:
    root = keyed["root"]
    path = special
    if special == "fifo":
        os.mkfifo(root / "fifo")
        path = str(root / "fifo")
    for flag in ("--primary-key", "--data-key"):
        args = ["--primary-key", str(keyed["key"]), "--data-key", path] if flag == "--data-key" else [flag, path]
        done = cli("encrypt", "--kms", "local", *args, str(keyed["plain"]), f"out-{flag[2:]}", cwd=root, timeout=30)
        assert_one_line(done, path, "not a regular file")
    with pytest.raises(KeyFileError, match="not a regular file"):  # the data source's KMS settings
        build_kms(KmsSettings.from_options(kms_options(Path(path))))


def test_oversized_key_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.key"
    with big.open("wb") as handle:
        handle.truncate(8 << 30)  # sparse: 8 GiB apparent size, nothing on disk
    big.chmod(0o600)
    with pytest.raises(KeyFileError, match="larger than"):
        LocalKms.load(big)


def test_group_or_world_readable_primary_key_warns_and_strict_refuses(keyed: dict[str, Path]) -> None:
    root, key = keyed["root"], keyed["key"]
    key.chmod(0o644)
    done = cli("encrypt", "--kms", "local", "--primary-key", str(key), str(keyed["plain"]), "w1", cwd=root)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warned) == 1 and "chmod 600" in warned[0] and "0644" in warned[0], done.stderr
    done = cli("encrypt", "--kms", "local", "--primary-key", str(key), "--strict-permissions",
               str(keyed["plain"]), "w2", cwd=root)  # fmt: skip
    assert_one_line(done, str(key), "accessible by other users")
    assert not (root / "w2").exists()
    # the data source: option strictPermissions
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LocalKms.load(key)
    assert [w.category for w in caught] == [InsecurePermissionsWarning]
    with pytest.raises(KeyFileError, match="accessible by other users"):
        build_kms(KmsSettings.from_options(kms_options(key, strictPermissions="true")))
    key.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LocalKms.load(key)  # a private key file: no warning


# ---------------------------------------------------------------------------------------------- sizes


def test_fake_huge_file_plans_in_bounded_memory(keyed: dict[str, Path]) -> None:
    """A 4 KiB-segment ppml-gcm header on a sparse 16 GiB file: 4M segments. Planning used to build a tuple of
    every segment start (about 1 GB for 64 GiB); it must stay bounded by the split count."""
    root = keyed["root"]
    kms = LocalKms.load(keyed["key"])
    (root / "small").mkdir()
    (root / "small" / "a.csv").write_text("id\n1\n", encoding="utf-8")
    encrypt(kms, root / "small", root / "huge", segment_size=4096)
    target = root / "huge" / "a.csv"
    with target.open("r+b") as handle:
        handle.truncate(16 << 30)
    assert target.stat().st_blocks * 512 < 1 << 20  # really sparse
    options = PpmlEncDataSource(kms_options(keyed["key"], format="csv", path=str(target)))._options(READ)
    from bigdl_ppml_az.datasource.options import ReadSettings

    settings = ReadSettings.from_options(options)
    tracemalloc.start()
    try:
        splits = plan(options, settings, [str(target)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(splits) == (16 << 30) // settings.max_partition_bytes  # one per 128 MiB of ciphertext
    assert peak < 16 << 20, f"planning peaked at {peak / 2**20:.0f} MiB"
