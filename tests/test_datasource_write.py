"""ppml-enc writes: round trips per format and crypto mode, BigDL interop via the CLI, commit semantics."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.kms.local import LocalKms
from test_datasource_support import assert_same, kms_options, ppml_read, write_csv

SCHEMA = "id INT, name STRING, amount DOUBLE, flag BOOLEAN, day DATE, ts TIMESTAMP, note STRING"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("ds-write")
    key = root / "primary.key"
    LocalKms.create(key)
    plain = write_csv(root / "plain" / "a.csv", 1200)
    df = spark.read.schema(SCHEMA).option("header", "true").csv(str(plain)).repartition(3)
    return {"root": root, "key": key, "plain": plain, "df": df.cache()}


def save(df: Any, key: Path, path: Path, mode: str = "overwrite", **options: str) -> None:
    writer = df.write.format("ppml-enc").mode(mode)
    for name, value in kms_options(key, **options).items():
        writer = writer.option(name, value)
    writer.save(str(path))


def visible(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


@pytest.mark.parametrize(
    "fmt,crypto",
    [
        ("csv", "ppml-gcm"),
        ("json", "ppml-gcm"),
        ("parquet", "ppml-gcm"),
        ("csv", "aes/cbc/pkcs5padding"),
        ("json", "AES/CBC/PKCS5Padding"),
    ],
)
def test_round_trip(spark: Any, source: dict[str, Any], tmp_path: Path, fmt: str, crypto: str) -> None:
    out = tmp_path / "out"
    save(source["df"], source["key"], out, format=fmt, cryptoMode=crypto, header="true")
    names = visible(out)
    assert "_SUCCESS" in names and "_temporary" not in names
    assert len([n for n in names if n.startswith("part-")]) == 3
    assert (".meta" in names) == (crypto.lower() == "aes/cbc/pkcs5padding")
    back = ppml_read(spark, source["key"], fmt=fmt, schema=SCHEMA, header="true").load(str(out))
    assert_same(back, source["df"], ordered=False)


def test_text_round_trip(spark: Any, source: dict[str, Any], tmp_path: Path) -> None:
    lines = spark.read.text(str(source["plain"]))
    save(lines, source["key"], tmp_path / "t", format="text")
    assert_same(ppml_read(spark, source["key"], fmt="text").load(str(tmp_path / "t")), lines, ordered=False)


def test_bigdl_output_decrypts_with_cli(spark: Any, source: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "bigdl"
    save(source["df"].coalesce(1), source["key"], out, format="csv", cryptoMode="aes/cbc/pkcs5padding", header="true")
    plain = tmp_path / "plain"
    cli = [sys.executable, "-m", "bigdl_ppml_az", "decrypt", "--kms", "local", "--primary-key", str(source["key"])]
    result = subprocess.run([*cli, str(out), str(plain)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    [part] = [p for p in plain.iterdir() if p.name.startswith("part-")]
    # Our CSV writer writes what Spark's writer writes (quotes escaped as \"), so Spark's reader needs no options.
    decrypted = spark.read.schema(SCHEMA).option("header", "true").csv(str(part))
    assert_same(decrypted, source["df"], ordered=False)


def test_overwrite_and_append(spark: Any, source: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "o"
    df = source["df"]
    save(df, source["key"], out, format="csv")
    first = set(visible(out))
    save(df.limit(10), source["key"], out, mode="overwrite", format="csv")
    assert not first & {n for n in visible(out) if n.startswith("part-")}  # old parts gone
    assert ppml_read(spark, source["key"], schema=SCHEMA).load(str(out)).count() == 10
    save(df, source["key"], out, mode="append", format="csv")
    assert ppml_read(spark, source["key"], schema=SCHEMA).load(str(out)).count() == 10 + df.count()


def test_bigdl_append_keeps_directory_key(spark: Any, source: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "b"
    df = source["df"]
    save(df, source["key"], out, format="csv", cryptoMode="aes/cbc/pkcs5padding")
    meta = (out / ".meta").read_text()
    save(df, source["key"], out, mode="append", format="csv", cryptoMode="aes/cbc/pkcs5padding")
    assert (out / ".meta").read_text() == meta  # BigDL reads a directory with its one .meta key
    assert ppml_read(spark, source["key"], schema=SCHEMA).load(str(out)).count() == 2 * df.count()


def test_failed_job_leaves_nothing_visible(spark: Any, source: dict[str, Any], tmp_path: Path) -> None:
    from pyspark.sql import functions as F  # noqa: N812

    @F.udf("int")
    def explode_on_500(value: int) -> int:
        if value == 500:
            raise ValueError("task failure injected by the test")
        return value

    out = tmp_path / "failed"
    failing = source["df"].withColumn("id", explode_on_500("id"))
    with pytest.raises(Exception, match="task failure injected"):
        save(failing, source["key"], out, format="csv")
    assert [n for n in visible(out) if not n.startswith(".")] == []


def test_error_and_ignore_modes_are_spark_refusals(spark: Any, source: dict[str, Any], tmp_path: Path) -> None:
    for mode in ("error", "ignore"):
        with pytest.raises(Exception, match="UNSUPPORTED_DATA_SOURCE_SAVE_MODE"):
            save(source["df"], source["key"], tmp_path / mode, mode=mode, format="csv")


def test_no_plaintext_or_key_on_disk(spark: Any, source: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "secret"
    save(source["df"], source["key"], out, format="csv")
    blob = b"".join(p.read_bytes() for p in out.iterdir() if p.is_file())
    assert b"name1" not in blob and b"2021-" not in blob
    assert os.path.getsize(source["key"]) == 32


def test_empty_output_reads_as_empty_table(spark: Any, source: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "empty"
    save(source["df"].limit(0), source["key"], out, format="csv")
    assert visible(out) == ["_SUCCESS"]
    assert ppml_read(spark, source["key"], schema=SCHEMA).load(str(out)).count() == 0
