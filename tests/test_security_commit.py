"""Attacks and crashes on ppml-enc output directories (issue 10, items 5, 7d and 8).

* A part file cut to 0 bytes must not silently drop its rows from an encrypted read.
* A commit that fails at any step must leave the directory readable as its old state or its new state: never
  empty, never both (publish first, delete second, readers follow the manifest in ``_SUCCESS``).
* An aborted job leaves no part files in ``_temporary/<job>/``, even from a task that finishes after the abort
  or from a failed task attempt.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from bigdl_ppml_az.datasource.writer import PpmlEncWriter
from bigdl_ppml_az.errors import IntegrityError, PpmlError
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.storage import LocalFileSystem
from test_datasource_support import kms_options, ppml_read

SCHEMA = "id INT, tag STRING"


@pytest.fixture()
def key(tmp_path: Path) -> Path:
    path = tmp_path / "primary.key"
    LocalKms.create(path)
    return path


def save(spark: Any, key: Path, path: Path, rows: list[tuple[int, str]], mode: str = "overwrite") -> None:
    df = spark.createDataFrame(rows, SCHEMA).repartition(3)
    writer = df.write.format("ppml-enc").mode(mode)
    for name, value in kms_options(key, format="csv").items():
        writer = writer.option(name, value)
    writer.save(str(path))


def read_ids(spark: Any, key: Path, path: Path) -> list[int]:
    return sorted(r.id for r in ppml_read(spark, key, schema=SCHEMA).load(str(path)).collect())


def parts_of(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.name.startswith("part-"))


# ------------------------------------------------------------------------------------------ zero-length files


def test_zero_length_part_file_is_an_integrity_error(spark: Any, key: Path, tmp_path: Path) -> None:
    out = tmp_path / "table"
    save(spark, key, out, [(i, f"t{i}") for i in range(300)])
    victim = parts_of(out)[1]
    victim.write_bytes(b"")  # the attacker (or a broken copy) cuts one part to nothing
    for reader in (ppml_read(spark, key, schema=SCHEMA), ppml_read(spark, key)):
        with pytest.raises(Exception, match="zero-length data file") as info:
            reader.load(str(out)).collect()
        assert victim.name in str(info.value)


def test_zero_length_file_in_a_plaintext_read_is_skipped_like_spark(spark: Any, key: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.csv").write_text("1,x\n2,y\n", encoding="utf-8")
    (plain / "b.csv").write_bytes(b"")
    ours = ppml_read(spark, key, schema=SCHEMA, cryptoMode="plain_text").load(str(plain)).collect()
    theirs = spark.read.schema(SCHEMA).csv(str(plain)).collect()
    assert sorted(ours) == sorted(theirs) and len(ours) == 2


# ------------------------------------------------------------------------------------------ commit protocol


def _in_process_writer(key: Path, path: Path, overwrite: bool) -> PpmlEncWriter:
    from pyspark.sql.types import StructType

    options = {k.lower(): v for k, v in kms_options(key, format="csv", path=str(path)).items()}
    return PpmlEncWriter(options, StructType.fromDDL(SCHEMA), overwrite)


def _batch(ids: range) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {"id": pa.array(list(ids), pa.int32()), "tag": pa.array([f"n{i}" for i in ids], pa.string())}
    )


class _FailAt:
    """Make the n-th mutating file-system call of a commit fail, as a crash or a storage error would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, n: int) -> None:
        self.n, self.calls = n, 0
        for name in ("rename", "delete", "open_write"):
            original = getattr(LocalFileSystem, name)
            monkeypatch.setattr(LocalFileSystem, name, self._wrap(original))

    def _wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(fs: Any, *args: Any) -> Any:
            self.calls += 1
            if self.calls == self.n:
                raise OSError(f"injected failure at call {self.n}")
            return original(fs, *args)

        return call


@pytest.mark.parametrize("overwrite", [True, False], ids=["overwrite", "append"])
def test_commit_failing_at_every_step_shows_old_or_new_state(
    spark: Any, key: Path, tmp_path: Path, overwrite: bool
) -> None:
    old_ids = list(range(0, 50))
    new_ids = list(range(1000, 1040))
    expected_new = new_ids if overwrite else old_ids + new_ids
    step, completed = 0, False
    seen_states: set[str] = set()
    while not completed:
        step += 1
        assert step < 100, "the commit never completed"
        out = tmp_path / f"t{step}"
        save(spark, key, out, [(i, f"o{i}") for i in old_ids])
        writer = _in_process_writer(key, out, overwrite)
        message = writer.write(iter([_batch(range(1000, 1040))]))  # the task side, in this process
        with pytest.MonkeyPatch.context() as patch:
            failer = _FailAt(patch, step)
            try:
                writer.commit([message])
                completed = True
            except OSError:
                pass
        ids = read_ids(spark, key, out)
        assert ids in (old_ids, expected_new), f"commit failing at step {step} left {len(ids)} rows visible"
        seen_states.add("new" if ids == expected_new else "old")
        if completed:
            assert failer.calls < step
    assert seen_states == {"old", "new"}  # the loop crossed the publish point


def test_manifest_rules(spark: Any, key: Path, tmp_path: Path) -> None:
    out = tmp_path / "table"
    save(spark, key, out, [(i, "x") for i in range(30)])
    manifest = json.loads((out / "_SUCCESS").read_text(encoding="utf-8"))
    assert sorted(name for name, _, _ in manifest["files"]) == sorted(p.name for p in parts_of(out))
    # an uncommitted part of another (crashed) ppml-enc job is ignored; in a table (encrypted output) a file
    # added by anyone else is an integrity error (tests/test_table_integrity.py has the attacks)
    stray = out / ("part-00009-" + "ab" * 16 + ".csv.enc")
    stray.write_bytes(parts_of(out)[0].read_bytes())
    assert read_ids(spark, key, out) == list(range(30))
    added = out / "added.csv.enc"
    added.write_bytes(parts_of(out)[0].read_bytes())
    with pytest.raises(Exception, match="not part of table"):
        read_ids(spark, key, out)
    added.unlink()
    # a part named by the manifest but deleted is an error: the table lost data
    parts_of(out)[0].unlink()
    with pytest.raises(Exception, match="missing"):
        read_ids(spark, key, out)


def test_damaged_manifest_is_an_error_and_foreign_success_is_ignored(tmp_path: Path) -> None:
    from bigdl_ppml_az.storage import expand_paths

    table = tmp_path / "t"
    table.mkdir()
    (table / "a.csv").write_text("1\n", encoding="utf-8")
    (table / "_SUCCESS").write_text("", encoding="utf-8")  # Spark's and BigDL's empty marker
    assert [s.path for s in expand_paths([str(table)])] == [str(table / "a.csv")]
    (table / "_SUCCESS").write_text('{"ppml-az-commit": 1, "files": [".."]}', encoding="utf-8")
    with pytest.raises(IntegrityError, match="damaged commit manifest"):
        expand_paths([str(table)])


# ------------------------------------------------------------------------------------------ aborted jobs


def test_task_finishing_after_abort_removes_its_part(key: Path, tmp_path: Path) -> None:
    out = tmp_path / "aborted"
    writer = _in_process_writer(key, out, overwrite=True)
    writer.abort([])  # Spark aborts the job while this task is still writing
    with pytest.raises(PpmlError, match="aborted"):
        writer.write(iter([_batch(range(10))]))
    assert not out.exists() or [p for p in out.rglob("*") if p.is_file()] == []


def test_failed_task_attempt_removes_its_partial_part(key: Path, tmp_path: Path) -> None:
    out = tmp_path / "failed"
    writer = _in_process_writer(key, out, overwrite=True)

    def batches() -> Iterator[pa.RecordBatch]:
        yield _batch(range(100))
        raise RuntimeError("executor lost mid-write")

    with pytest.raises(RuntimeError):
        writer.write(batches())
    assert [p.name for p in out.rglob("*") if p.is_file()] == ["job-started"]  # the job itself is still on


def test_failed_spark_job_leaves_no_temporary_parts(spark: Any, key: Path, tmp_path: Path) -> None:
    from pyspark.sql.functions import udf

    @udf("int")
    def explode_on_7(value: int) -> int:
        if value == 7:
            raise ValueError("bad row")
        return value

    out = tmp_path / "job"
    df = spark.range(0, 400, numPartitions=4).select(explode_on_7("id").alias("id")).selectExpr("id", "'t' as tag")
    writer = df.write.format("ppml-enc").mode("overwrite")
    for name, value in kms_options(key, format="csv").items():
        writer = writer.option(name, value)
    with pytest.raises(Exception, match="bad row"):
        writer.save(str(out))
    import time

    time.sleep(3)  # let cancelled tasks of the stage finish or die
    assert [p for p in out.rglob("*") if p.is_file()] == [] if out.exists() else True
    # the next successful job on the directory leaves no _temporary at all
    save(spark, key, out, [(1, "a")])
    assert not (out / "_temporary").exists() and read_ids(spark, key, out) == [1]
