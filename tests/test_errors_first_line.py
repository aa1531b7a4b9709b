"""What a user sees first when a Spark read fails (issue 21, item 1), where workers run (item 4), and the ABFS driver
check of the JVM path (item 5).

The five commonest read errors (wrong key, plaintext input, missing file, misspelt option, tampered file) reach
``df.collect()`` as Spark's error class followed by one line: our exception type, the file, the problem and what to
do; no Python traceback (``datasource/errorlines.py``). An error found by a task has PySpark's own line
(``An exception was thrown from the Python worker:``) first and ours second.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.datasource.errorlines import HIDE, KEEP, one_line_errors
from bigdl_ppml_az.datasource.registration import register_source
from bigdl_ppml_az.errors import ConfigError, IntegrityError
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.ppml_context import PLAIN_PATH, PPML_ENC_PATH, PPMLContext, _missing_jvm_filesystem

pytest.importorskip("pyspark.sql.datasource")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

ROWS = b"name,age\n" + b"alice,30\nbob,41\n" * 200


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A plaintext CSV, its ppml-gcm copy (small segments: several per file), a tampered copy, two keys."""
    root = tmp_path_factory.mktemp("first-line")
    plain = root / "people.csv"
    plain.write_bytes(ROWS)
    key, other = root / "k1.key", root / "k2.key"
    kms = LocalKms.create(key)
    LocalKms.create(other)
    enc = root / "enc" / "people.csv"
    filecrypt.encrypt_path(str(plain), str(enc), kms, segment_size=4096)
    tampered = root / "tampered" / "people.csv"
    tampered.parent.mkdir()
    data = bytearray(enc.read_bytes())
    data[-40] ^= 1  # last segment: found by the task, after planning read the first one
    tampered.write_bytes(bytes(data))
    return {"plain": plain, "enc": enc.parent, "tampered": tampered.parent, "key": key, "other": other}


def _error(spark: Any, path: Path | str, schema: str | None = None, **options: str) -> str:
    reader = spark.read.format("ppml-enc").options(**{"format": "csv", "header": "true", **options})
    if schema:
        reader = reader.schema(schema)
    with pytest.raises(Exception) as err:
        reader.load(str(path)).collect()
    return str(err.value)


def _one_line(message: str) -> str:
    """The error's first line, checked to carry no traceback at all."""
    assert "Traceback" not in message and 'File "' not in message, message
    return message.splitlines()[0]


def test_five_common_read_errors_are_one_line(spark: Any, files: dict[str, Path]) -> None:
    key, other = str(files["key"]), str(files["other"])
    first = {
        "wrong key": _one_line(_error(spark, files["enc"], kms="local", primaryKey=other)),
        "plaintext": _one_line(_error(spark, files["plain"], kms="local", primaryKey=key)),
        "missing": _one_line(_error(spark, files["enc"] / "nope", kms="local", primaryKey=key)),
        "misspelt": _one_line(_error(spark, files["enc"], kms="local", primaryKy=key)),
    }
    assert "WrongKeyError: " in first["wrong key"] and "people.csv: data key was wrapped" in first["wrong key"]
    assert "pass the primary key file the data was encrypted with" in first["wrong key"]
    assert "people.csv: not an encrypted file we know: this looks like plaintext" in first["plaintext"]
    assert "cryptoMode=plain_text" in first["plaintext"] and "nativeaescbc" not in first["plaintext"]
    assert "StorageError: " in first["missing"] and "nope: no such file or directory" in first["missing"]
    assert "ConfigError: option primaryky: not an option of ppml-enc; did you mean primaryKey?" in first["misspelt"]
    for line in first.values():
        assert line.startswith("[PYTHON_DATA_SOURCE_ERROR]") and "bigdl_ppml_az.errors." in line


def test_tampered_file_found_by_a_task_is_our_line_second(spark: Any, files: dict[str, Path]) -> None:
    """With a schema no file is read while planning; the task finds the damage. PySpark's own line comes first
    (``PythonException.__str__``), ours second, and no traceback."""
    message = _error(spark, files["tampered"], "name string, age int", kms="local", primaryKey=str(files["key"]))
    lines = message.splitlines()
    assert "Traceback" not in message and len(lines) <= 3, message
    assert any("IntegrityError: " in line and "people.csv: segment" in line for line in lines[:2]), message


def test_decorator_hides_only_our_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HIDE, raising=False)
    monkeypatch.delenv(KEEP, raising=False)

    @one_line_errors
    def bug() -> None:
        raise KeyError("a bug keeps its traceback")

    with pytest.raises(KeyError):
        bug()
    assert HIDE not in os.environ

    @one_line_errors
    def ours() -> Any:
        yield 1
        raise IntegrityError("x: damaged")

    with pytest.raises(IntegrityError):
        list(ours())
    assert os.environ.get(HIDE) == "1"

    monkeypatch.delenv(HIDE)
    monkeypatch.setenv(KEEP, "1")  # asked for tracebacks: keep them
    with pytest.raises(IntegrityError):
        list(ours())
    assert HIDE not in os.environ


def test_registration_runs_workers_with_this_interpreter(
    spark: Any, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 4: ``.venv/bin/python job.py`` without an activated venv: Spark's default worker interpreter cannot
    import this package. Simulated with an interpreter that does not exist: registered plainly, a read fails;
    through ``register_source`` it works, and the session's own choice is left as it was."""
    from bigdl_ppml_az.datasource import PpmlEncDataSource

    sc = spark.sparkContext
    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    monkeypatch.setattr(sc, "pythonExec", "/nonexistent/python3")
    options = {"format": "csv", "header": "true", "kms": "local", "primaryKey": str(files["key"])}

    broken_name, fixed_name = ("ppml-enc-" + kind + uuid.uuid4().hex[:6] for kind in ("broken-", "fixed-"))

    class Broken(PpmlEncDataSource):
        @classmethod
        def name(cls) -> str:
            return broken_name

    spark.dataSource.register(Broken)
    with pytest.raises(Exception, match="nonexistent"):
        spark.read.format(Broken.name()).options(**options).load(str(files["enc"])).collect()

    class Fixed(PpmlEncDataSource):
        @classmethod
        def name(cls) -> str:
            return fixed_name

    register_source(spark, Fixed)
    assert sc.pythonExec == "/nonexistent/python3"  # the user's UDFs keep Spark's choice
    rows = spark.read.format(Fixed.name()).options(**options).load(str(files["enc"])).collect()
    assert len(rows) == 400
    assert sys.executable


def test_abfs_without_driver_refused_before_any_work(spark: Any, files: dict[str, Path]) -> None:
    """Item 5: Spark's own reader/writer on abfss:// without hadoop-azure: one line with the package to add,
    before a job runs (pyspark ships no hadoop-azure)."""
    target = "abfss://data@account.dfs.core.windows.net/out"
    assert _missing_jvm_filesystem(spark, [str(files["plain"]), "file:/tmp/x", target]) == target
    assert _missing_jvm_filesystem(spark, [str(files["plain"])]) is None
    ctx = PPMLContext(None, spark=spark)
    jobs_before = len(spark.sparkContext.statusTracker().getJobIdsForGroup(None))
    with pytest.raises(ConfigError, match=r"out: Spark's own csv writer needs the ABFS driver .*--packages "
                       r"org\.apache\.hadoop:hadoop-azure:\d+\.\d+"):
        ctx.write(spark.range(3), "plain_text").mode("overwrite").csv(target)
    with pytest.raises(ConfigError, match="Spark's own csv reader needs the ABFS driver"):
        ctx.read("plain_text").csv(target)
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup(None)) == jobs_before
    assert ctx.last_path != PLAIN_PATH


def test_jvm_path_without_driver_goes_through_ppml_enc(
    spark: Any, tmp_path: Path, kv: Any, azurite: Any, container: str
) -> None:
    """An encrypted write and read on abfss:// from a context that would take the JVM path go through ppml-enc
    (its own ADLS client) instead of failing in Spark's writer."""
    from bigdl_ppml_az.kms.azure import create_primary_key

    key_id = create_primary_key(kv.url, "fl-" + uuid.uuid4().hex[:8], 2048, options=kv.options())
    options = {**azurite.options(), **kv.options(), "kms": "azure", "primaryKeyId": key_id}
    ctx = PPMLContext(None, spark=spark, options=options)
    ctx._native = True  # as if the shim were loaded: the routing decision is what is tested
    target = azurite.url(container, "jvm-fallback")
    df = spark.createDataFrame([("alice", 30), ("bob", 41)], "name string, age int")
    ctx.write(df, "ppml-gcm").mode("overwrite").option("header", "true").csv(target)
    assert ctx.last_path == PPML_ENC_PATH
    back = ctx.read("ppml-gcm").option("header", "true").schema("name string, age int").csv(target)
    assert sorted(tuple(r) for r in back.collect()) == [("alice", 30), ("bob", 41)]
    assert ctx.last_path == PPML_ENC_PATH


def test_parquet_decoding_error_keeps_its_cause(spark: Any, tmp_path: Path) -> None:
    """A Parquet file whose pages do not decode: the error names the file and pyarrow's reason (issue 20: the cause
    was dropped as "read failed (ArrowInvalid)")."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "broken" / "part-0.parquet"
    path.parent.mkdir()
    pq.write_table(pa.table({"v": [f"value-{i}" for i in range(2000)]}), path, compression="snappy",
                   use_dictionary=False)
    data = bytearray(path.read_bytes())
    for i in range(200, 600):  # inside the first data page (snappy stream), footer untouched
        data[i] = 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(Exception) as err:
        pq.read_table(path)
    arrow_reason = str(err.value).splitlines()[0]
    message = _error(spark, path.parent, "v string", format="parquet", cryptoMode="plain_text")
    assert "part-0.parquet: read failed (OSError: " in message and arrow_reason[:60] in message, (arrow_reason, message)
