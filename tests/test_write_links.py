"""Attacks on an output directory by a storage administrator who can write to it (links planted below the
table root), and inputs that used to end a write with a raw ``ValueError``/``OSError``.

* A symbolic link inside the table (``.meta``, a ``key=value`` directory, ``_temporary``, a part file name)
  must never be written or renamed through: the write fails naming the link, and its target is unchanged.
* A ``_SUCCESS`` link is replaced by the new manifest (a rename replaces the link itself), its target untouched.
* A partition value holding NUL or too long for a directory name, and an output path that is a regular file,
  fail with one clear line naming the value or path and what to do.
* The table root itself may be reached through links the user made (``/tmp`` on macOS): only components below
  it are checked.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyspark.sql.types import StructType

from bigdl_ppml_az import storage
from bigdl_ppml_az.datasource.partitions import directory_of
from bigdl_ppml_az.datasource.writer import TEMP_DIR, PpmlEncWriter
from bigdl_ppml_az.errors import ConfigError, StorageError
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.storage import LocalFileSystem
from test_datasource_support import kms_options

SCHEMA = "id INT, k STRING"
BIGDL = "aes/cbc/pkcs5padding"
LINK_REFUSED = "is a symbolic link; ppml-enc does not write through links inside an output (remove it)"


@pytest.fixture()
def key(tmp_path: Path) -> Path:
    path = tmp_path / "primary.key"
    LocalKms.create(path)
    return path


def save(spark: Any, key: Path, path: Path, rows: list[tuple[int, str]], mode: str = "overwrite",
         **options: str) -> None:  # fmt: skip
    df = spark.createDataFrame(rows, SCHEMA).repartition(2)
    writer = df.write.format("ppml-enc").mode(mode)
    for name, value in kms_options(key, format="csv", **options).items():
        writer = writer.option(name, value)
    writer.save(str(path))


def failure(spark: Any, key: Path, path: Path, rows: list[tuple[int, str]], **options: str) -> str:
    with pytest.raises(Exception) as info:
        save(spark, key, path, rows, **options)
    return str(info.value)


def error_line(message: str, kind: str) -> str:
    """The one line a user reads in Spark's wrapped error, from ``bigdl_ppml_az.errors.<kind>: <message>`` on
    (Spark's error class precedes it on the same line; no traceback: ``datasource/errorlines.py``)."""
    prefix = f"bigdl_ppml_az.errors.{kind}: "
    lines = [line[line.index(prefix):] for line in message.splitlines() if prefix in line]
    assert len(lines) == 1 and "Traceback" not in message, message
    return lines[0]


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every entry below ``directory`` (links not followed) with its bytes: equal snapshots = untouched."""
    found: dict[str, bytes] = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            full = Path(root) / name
            relative = str(full.relative_to(directory))
            found[relative] = b"<dir>" if full.is_dir() else full.read_bytes()
    return found


def outside(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """A directory outside the table holding one file, and its snapshot."""
    victim_dir = tmp_path / "elsewhere"
    victim_dir.mkdir()
    victim = victim_dir / "precious.txt"
    victim.write_bytes(b"not yours to overwrite\n")
    return victim_dir, victim, snapshot(victim_dir)


ROWS = [(i, "a" if i % 2 else "b") for i in range(20)]


# ------------------------------------------------------------------------------------------ links (Spark)


@pytest.mark.parametrize("where", ["", "k=a"])
def test_meta_link_is_refused_and_its_target_untouched(spark: Any, key: Path, tmp_path: Path, where: str) -> None:
    """Attack 1: ``.meta`` planted as a link before a BigDL-mode overwrite (root, or a key=value directory)."""
    victim_dir, victim, before = outside(tmp_path)
    out = tmp_path / "table"
    partition = {"partitionBy": "k"} if where else {}
    save(spark, key, out, ROWS, cryptoMode=BIGDL, **partition)
    meta = out / where / ".meta" if where else out / ".meta"
    meta.unlink()
    meta.symlink_to(victim)
    message = failure(spark, key, out, ROWS, cryptoMode=BIGDL, **partition)
    assert f"{meta}: {LINK_REFUSED}" in error_line(message, "StorageError")
    assert snapshot(victim_dir) == before


def test_partition_directory_link_is_refused_and_its_target_untouched(spark: Any, key: Path, tmp_path: Path) -> None:
    """Attack 2: a key=value directory replaced by a link to another directory, then a dynamic overwrite."""
    victim_dir, _victim, before = outside(tmp_path)
    out = tmp_path / "table"
    save(spark, key, out, ROWS, partitionBy="k")
    for child in (out / "k=a").iterdir():
        child.unlink()
    (out / "k=a").rmdir()
    (out / "k=a").symlink_to(victim_dir, target_is_directory=True)
    message = failure(spark, key, out, [(1, "a")], partitionBy="k", partitionOverwriteMode="dynamic")
    assert f"{out / 'k=a'}: {LINK_REFUSED}" in error_line(message, "StorageError")
    assert snapshot(victim_dir) == before


def test_temporary_link_is_refused_and_its_target_untouched(spark: Any, key: Path, tmp_path: Path) -> None:
    """Attack 3: ``_temporary`` planted as a link to another directory: the job writes nothing through it."""
    victim_dir, _victim, before = outside(tmp_path)
    out = tmp_path / "table"
    out.mkdir()
    (out / TEMP_DIR).symlink_to(victim_dir, target_is_directory=True)
    message = failure(spark, key, out, ROWS)
    assert f"{out / TEMP_DIR}: {LINK_REFUSED}" in error_line(message, "StorageError")
    assert snapshot(victim_dir) == before


def test_success_link_is_replaced_not_followed(spark: Any, key: Path, tmp_path: Path) -> None:
    """Attack 3: a ``_SUCCESS`` link: the manifest's rename replaces the link itself; its target is untouched."""
    victim_dir, victim, before = outside(tmp_path)
    out = tmp_path / "table"
    save(spark, key, out, ROWS)
    (out / "_SUCCESS").unlink()
    (out / "_SUCCESS").symlink_to(victim)
    # an append must not adopt the table's files without their manifest (tests/test_table_integrity.py) ...
    with pytest.raises(Exception, match="no table manifest that verifies"):
        save(spark, key, out, ROWS, mode="append")
    assert snapshot(victim_dir) == before
    save(spark, key, out, ROWS, mode="overwrite")  # ... an overwrite replaces the link, not its target
    success = out / "_SUCCESS"
    assert not success.is_symlink() and success.is_file() and success.read_bytes().startswith(b"{")
    assert snapshot(victim_dir) == before


def test_table_root_reached_through_a_link_is_fine(spark: Any, key: Path, tmp_path: Path) -> None:
    """Links above the table root are the user's (``/tmp`` on macOS): the write goes through them."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via").symlink_to(real, target_is_directory=True)
    save(spark, key, tmp_path / "via" / "table", ROWS, partitionBy="k")
    assert (real / "table" / "_SUCCESS").is_file() and (real / "table" / "k=a").is_dir()


# ------------------------------------------------------------------------------------------ part file names


def _in_process_writer(key: Path, path: Path, overwrite: bool = True) -> PpmlEncWriter:
    options = {k.lower(): v for k, v in kms_options(key, format="csv", path=str(path)).items()}
    return PpmlEncWriter(options, StructType.fromDDL(SCHEMA), overwrite)


def _batch() -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"id": pa.array([1, 2], pa.int32()), "k": pa.array(["a", "b"])})


def test_temporary_part_file_link_is_refused(key: Path, tmp_path: Path) -> None:
    """Attack 3: a link planted at a task's temporary part name (the job id leaks through the listing)."""
    victim_dir, victim, before = outside(tmp_path)
    out = tmp_path / "table"
    writer = _in_process_writer(key, out)
    temp = out / TEMP_DIR / writer.job_id / "0" / writer.part_name(0, "", 0)
    temp.parent.mkdir(parents=True)
    temp.symlink_to(victim)
    with pytest.raises(StorageError) as info:
        writer.write(iter([_batch()]))
    assert f"{temp}: {LINK_REFUSED}" in str(info.value)
    assert snapshot(victim_dir) == before
    writer.abort([])


def test_final_part_file_link_is_refused(key: Path, tmp_path: Path) -> None:
    """Attack 3: a link planted at a part file's final name before the commit renames onto it."""
    victim_dir, victim, before = outside(tmp_path)
    out = tmp_path / "table"
    writer = _in_process_writer(key, out)
    message = writer.write(iter([_batch()]))
    final = out / writer.part_name(0, "", 0)
    final.symlink_to(victim)
    with pytest.raises(StorageError) as info:
        writer.commit([message])
    assert f"{final}: {LINK_REFUSED}" in str(info.value)
    assert snapshot(victim_dir) == before


# ------------------------------------------------------------------------------------------ bad values and paths


def test_nul_in_a_partition_value_is_one_clear_error(spark: Any, key: Path, tmp_path: Path) -> None:
    out = tmp_path / "table"
    message = failure(spark, key, out, [(1, "bad\x00value"), (2, "ok")], partitionBy="k")
    assert (
        "partitionBy column k: value 'bad\\x00value' holds a NUL character, which no file system accepts in a "
        "directory name; clean the column first"
    ) in error_line(message, "ConfigError")
    assert "embedded null byte" not in message


def test_too_long_partition_value_is_one_clear_error(spark: Any, key: Path, tmp_path: Path) -> None:
    out = tmp_path / "table"
    value = "v" * 300
    message = failure(spark, key, out, [(1, value), (2, "ok")], partitionBy="k")
    line = error_line(message, "ConfigError")
    assert f"'{'v' * 40}..." in line and "302 bytes" in line and "255" in line
    assert "shorten the values or partition by another column" in line
    assert value not in message  # the value is shown truncated only
    assert "File name too long" not in message


def test_overwrite_onto_a_regular_file_is_one_clear_error(spark: Any, key: Path, tmp_path: Path) -> None:
    target = tmp_path / "table"
    target.write_bytes(b"a file, not a table\n")
    message = failure(spark, key, target, ROWS)
    assert (
        f"{target}: is a file, not a directory; ppml-enc writes a table directory: choose another path or remove "
        "the file"
    ) in error_line(message, "StorageError")
    assert target.read_bytes() == b"a file, not a table\n"


# ------------------------------------------------------------------------------------------ units (no Spark)


def test_check_no_links_only_below_the_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "table" / "k=a").mkdir(parents=True)
    (tmp_path / "via").symlink_to(real, target_is_directory=True)
    root = tmp_path / "via" / "table"
    fs = LocalFileSystem()
    fs.check_no_links(str(root), str(root / "k=a" / "part-0"))  # the root's own link is the user's
    fs.check_no_links(str(root), str(root / "missing" / "deeper" / "file"))  # missing components are fine
    storage.check_no_links(fs, f"file://{root}", f"file://{root}/k=a/x")
    (real / "table" / "k=b").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(StorageError, match=re.escape(f"{root / 'k=b'}: {LINK_REFUSED}")):
        fs.check_no_links(str(root), str(root / "k=b" / "part-0"))
    (real / "table" / "k=a" / "last").symlink_to(tmp_path / "nowhere")  # dangling, at the final component
    with pytest.raises(StorageError, match="last: is a symbolic link"):
        storage.check_no_links(fs, str(root), str(root / "k=a" / "last"))


def test_check_no_links_is_a_no_op_for_stores_without_links() -> None:
    class ObjectStore:
        pass

    storage.check_no_links(ObjectStore(), "abfss://c@a.dfs.core.windows.net/t", "abfss://c@a.dfs.core.windows.net/t/x")  # type: ignore[arg-type]


def test_open_write_refuses_a_final_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "link").symlink_to(victim)
    with pytest.raises(StorageError, match=re.escape(f"{tmp_path / 'link'}: {LINK_REFUSED}")):
        LocalFileSystem().open_write(str(tmp_path / "link"))
    assert victim.read_bytes() == b"keep"


def test_open_write_creates_with_umask_mode_and_parents(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with LocalFileSystem().open_write(str(tmp_path / "a" / "b" / "f")) as handle:
            handle.write(b"x")
    finally:
        os.umask(old)
    made = tmp_path / "a" / "b" / "f"
    assert made.read_bytes() == b"x" and (made.stat().st_mode & 0o777) == 0o640
    with LocalFileSystem().open_write(str(made)) as handle:  # replaces (truncates) an existing file
        handle.write(b"")
    assert made.read_bytes() == b""


def test_open_write_and_rename_bad_paths_are_clear_errors(tmp_path: Path) -> None:
    fs = LocalFileSystem()
    source = tmp_path / "src"
    source.write_bytes(b"s")
    for call in (lambda p: fs.open_write(p), lambda p: fs.rename(str(source), p)):
        with pytest.raises(StorageError, match="NUL character"):
            call(str(tmp_path / "a\x00b"))
        long_name = "n" * 300
        with pytest.raises(StorageError) as info:
            call(str(tmp_path / long_name))
        assert f"{'n' * 40}..." in str(info.value) and "255" in str(info.value) and long_name not in str(info.value)
        with pytest.raises(StorageError, match=re.escape(f"{source}: is a file, not a directory")):
            call(str(source / "child" / "f"))
    assert source.read_bytes() == b"s"


def test_partition_directory_names_no_file_system_holds_are_config_errors() -> None:
    assert directory_of("k", "a/b") == "k=a%2Fb"
    assert directory_of("k", "é" * 126) == "k=" + "é" * 126  # 254 bytes: fits
    with pytest.raises(ConfigError, match=re.escape("partitionBy column k: value 'a\\x00b' holds a NUL character")):
        directory_of("k", "a\x00b")
    with pytest.raises(ConfigError) as info:
        directory_of("k", "é" * 127)  # 127 characters, 256 bytes with "k="
    message = str(info.value)
    assert f"'{'é' * 40}...' (127 characters)" in message and "256 bytes" in message and "é" * 41 not in message
    with pytest.raises(ConfigError) as info:
        directory_of("k", "/" * 100)  # 100 characters, escaped to 300
    assert "302 bytes" in str(info.value)
