"""ppml-enc with cryptoMode aes_gcm_v1 / aes_gcm_ctr_v1: Parquet Modular Encryption through pyarrow.

Interop both ways with pyarrow's own PME writer/reader (keys wrapped by the local KMS through jvm.pme's
KmsClient), a round trip with an inferred schema, proof that the bytes on disk are encrypted, and clear errors.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bigdl_ppml_az.datasource.parquet import row_group_skipper
from bigdl_ppml_az.datasource.pme import open_file as open_pme
from bigdl_ppml_az.jvm import pme
from bigdl_ppml_az.kms.local import LocalKms
from pushdown_support import PUSHDOWN_PLAN_SHARED, assert_pushfilters_refused
from test_datasource_support import kms_options, ppml_read
from test_shim_codec import run_spark, shim_jar  # noqa: F401  (slow interop test: child runner, jar fixture)

MARKER = "zebra-marker-7731"
MODES = ["aes_gcm_v1", "aes_gcm_ctr_v1"]


def plaintext_table(rows: int = 300) -> pa.Table:
    """Varied types, nulls, and a marker string that must never appear in the encrypted bytes."""
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "small": pa.array([i % 100 if i % 9 else None for i in range(rows)], pa.int32()),
            "name": pa.array([f"{MARKER}-{i}" if i % 4 == 0 else f"n{i}" for i in range(rows)], pa.string()),
            "amount": pa.array([i * 1.25 if i % 7 else None for i in range(rows)], pa.float64()),
            "flag": pa.array([i % 3 == 0 for i in range(rows)], pa.bool_()),
            "day": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(rows)], pa.date32()),
            "ts": pa.array(
                [dt.datetime(2021, 5, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i) for i in range(rows)],
                pa.timestamp("us", tz="UTC"),
            ),
            "price": pa.array([Decimal(i) / 100 for i in range(rows)], pa.decimal128(10, 2)),
            "tags": pa.array([[f"t{i % 3}", "u"] if i % 5 else None for i in range(rows)], pa.list_(pa.string())),
        }
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("ds-pme")
    key = root / "primary.key"
    LocalKms.create(key)
    return {"root": root, "key": key, "table": plaintext_table()}


def pyarrow_write(table: pa.Table, key: Path, directory: Path, mode: str, files: int = 2) -> None:
    """PME part files written by pyarrow itself, several row groups each."""
    directory.mkdir(parents=True)
    step = -(-table.num_rows // files)
    for i in range(files):
        props = pme.encryption_properties(kms_options(key), mode)
        pq.write_table(
            table.slice(i * step, step), directory / f"part-{i}.parquet", encryption_properties=props, row_group_size=50
        )


def save(df: Any, key: Path, path: Path, mode: str) -> None:
    writer = df.write.format("ppml-enc").mode("overwrite").option("format", "parquet").option("cryptoMode", mode)
    for name, value in kms_options(key).items():
        writer = writer.option(name, value)
    writer.save(str(path))


def rows_of(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: r["id"])


def spark_rows(df: Any) -> list[dict[str, Any]]:
    return sorted((r.asDict(recursive=True) for r in df.collect()), key=lambda r: r["id"])


def expected_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The table as Spark returns it (session time zone UTC: naive UTC datetimes)."""
    out = []
    for row in rows_of(table):
        row = dict(row)
        row["ts"] = row["ts"].replace(tzinfo=None)
        out.append(row)
    return out


@pytest.mark.parametrize("mode", MODES)
def test_reads_pyarrow_pme(spark: Any, env: dict[str, Any], mode: str) -> None:
    data = env["root"] / f"from-pyarrow-{mode}"
    pyarrow_write(env["table"], env["key"], data, mode)
    df = ppml_read(spark, env["key"], fmt="parquet", cryptoMode=mode).load(str(data))
    assert df.schema.simpleString() == (
        "struct<id:bigint,small:int,name:string,amount:double,flag:boolean,day:date,ts:timestamp,"
        "price:decimal(10,2),tags:array<string>>"
    )
    assert df.rdd.getNumPartitions() == 2  # one partition per file
    assert spark_rows(df) == expected_rows(env["table"])
    # A user schema: a subset of columns, reordered, plus a missing column (nulls), cast to the asked types.
    subset = ppml_read(
        spark, env["key"], fmt="parquet", cryptoMode=mode, schema="name STRING, id BIGINT, absent STRING"
    ).load(str(data))
    got = sorted((r.id, r.name, r.absent) for r in subset.collect())
    assert got == sorted((r["id"], r["name"], None) for r in env["table"].to_pylist())


@pytest.mark.parametrize("mode", MODES)
def test_pyarrow_reads_ppml_enc_pme(spark: Any, env: dict[str, Any], mode: str) -> None:
    source = spark.createDataFrame(env["table"].to_pandas()).repartition(3)
    out = env["root"] / f"to-pyarrow-{mode}"
    save(source, env["key"], out, mode)
    names = sorted(p.name for p in out.iterdir())
    parts = [n for n in names if n.startswith("part-")]
    assert "_SUCCESS" in names and "_temporary" not in names and len(parts) == 3
    assert all(n.endswith(".parquet") for n in parts)
    props = pme.decryption_properties(kms_options(env["key"]))
    tables = [pq.ParquetFile(out / n, decryption_properties=props).read() for n in parts]
    back = pa.concat_tables(tables)
    assert back.num_rows == env["table"].num_rows
    got = rows_of(back)
    for row in got:  # Spark hands the writer UTC instants
        row["ts"] = row["ts"].astimezone(dt.UTC)
    assert got == rows_of(env["table"])


def test_modes_differ(spark: Any, env: dict[str, Any]) -> None:
    """aes_gcm_ctr_v1 really is CTR for data pages: no 16-byte GCM tag per page, so the same data is smaller."""
    source = spark.createDataFrame(env["table"].to_pandas()).coalesce(1)
    sizes = {}
    for mode in MODES:
        out = env["root"] / f"sizes-{mode}"
        save(source, env["key"], out, mode)
        [part] = [p for p in out.iterdir() if p.name.startswith("part-")]
        sizes[mode] = part.stat().st_size
    gap = sizes["aes_gcm_v1"] - sizes["aes_gcm_ctr_v1"]
    assert gap > 0 and gap % 16 == 0, sizes


def test_round_trip_inferred_schema(spark: Any, env: dict[str, Any]) -> None:
    source = spark.createDataFrame(env["table"].to_pandas()).repartition(2)
    out = env["root"] / "round-trip"
    save(source, env["key"], out, "aes_gcm_v1")
    back = ppml_read(spark, env["key"], fmt="parquet", cryptoMode="AES_GCM_V1").load(str(out))
    assert [(f.name, f.dataType) for f in back.schema.fields] == [(f.name, f.dataType) for f in source.schema.fields]
    assert spark_rows(back) == spark_rows(source)


def test_large_files_split_at_row_groups(spark: Any, env: dict[str, Any]) -> None:
    """A file larger than maxPartitionBytes becomes one partition per run of row groups; no row lost or doubled."""
    data = env["root"] / "row-group-splits"
    pyarrow_write(env["table"], env["key"], data, "aes_gcm_ctr_v1", files=1)  # 6 row groups of 50 rows
    whole = ppml_read(spark, env["key"], fmt="parquet", cryptoMode="aes_gcm_ctr_v1").load(str(data))
    assert whole.rdd.getNumPartitions() == 1
    split = ppml_read(spark, env["key"], fmt="parquet", cryptoMode="aes_gcm_ctr_v1", maxPartitionBytes="1k")
    df = split.load(str(data))
    assert df.rdd.getNumPartitions() == 6
    assert spark_rows(df) == expected_rows(env["table"])


def test_row_group_skipping(spark: Any, env: dict[str, Any]) -> None:
    """pushFilters skips row groups of PME files by their (decrypted) statistics; Spark still filters rows."""
    data = env["root"] / "skipping"
    pyarrow_write(env["table"], env["key"], data, "aes_gcm_v1", files=1)
    part = data / "part-0.parquet"
    with part.open("rb") as source:
        file = open_pme(source, part.stat().st_size, str(part), kms_options(env["key"]))
        skip = row_group_skipper([("id", "ge", 290)])
        assert [g for g in range(file.metadata.num_row_groups) if not skip(file.metadata, g)] == [5]
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")
    try:
        df = ppml_read(spark, env["key"], fmt="parquet", cryptoMode="aes_gcm_v1", pushFilters="true").load(str(data))
        if PUSHDOWN_PLAN_SHARED:
            assert_pushfilters_refused(df.where("id >= 290"))
            return
        assert sorted(r.id for r in df.where("id >= 290").collect()) == list(range(290, 300))
    finally:
        spark.conf.unset("spark.sql.python.filterPushdown.enabled")


@pytest.mark.parametrize("mode", MODES)
def test_files_are_encrypted(spark: Any, env: dict[str, Any], mode: str) -> None:
    source = spark.createDataFrame(env["table"].to_pandas()).coalesce(1)
    out = env["root"] / f"encrypted-{mode}"
    save(source, env["key"], out, mode)
    [part] = [p for p in out.iterdir() if p.name.startswith("part-")]
    data = part.read_bytes()
    assert MARKER.encode() not in data and b"zebra" not in data
    assert data.startswith(b"PARE") and data.endswith(b"PARE")
    with pytest.raises(OSError, match="encrypted"):
        pq.read_table(part)
    # Control: the same data as plaintext Parquet does contain the marker (so the check above can fail).
    plain = env["root"] / f"plain-{mode}.parquet"
    pq.write_table(env["table"], plain)
    assert MARKER.encode() in plain.read_bytes()


def test_wrong_primary_key_names_the_file(spark: Any, env: dict[str, Any], tmp_path: Path) -> None:
    data = tmp_path / "data"
    pyarrow_write(env["table"], env["key"], data, "aes_gcm_v1", files=1)
    other = tmp_path / "other.key"
    LocalKms.create(other)
    with pytest.raises(Exception) as info:  # schema inference on the driver
        ppml_read(spark, other, fmt="parquet", cryptoMode="aes_gcm_v1").load(str(data)).collect()
    assert "part-0.parquet" in str(info.value) and "WrongKeyError" in str(info.value)
    with pytest.raises(Exception) as info:  # with a schema: the worker fails
        ppml_read(spark, other, fmt="parquet", cryptoMode="aes_gcm_v1", schema="id BIGINT").load(str(data)).collect()
    message = str(info.value)
    assert "part-0.parquet" in message and "unwrap" in message
    assert MARKER not in message


def test_plaintext_parquet_is_refused(spark: Any, env: dict[str, Any], tmp_path: Path) -> None:
    data = tmp_path / "plain"
    data.mkdir()
    pq.write_table(env["table"], data / "p.parquet")
    with pytest.raises(Exception, match=r"p\.parquet.*plaintext Parquet"):
        ppml_read(spark, env["key"], fmt="parquet", cryptoMode="aes_gcm_v1", schema="id BIGINT").load(
            str(data)
        ).collect()


def test_pme_mode_needs_parquet_format(spark: Any, env: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(Exception, match="aes_gcm_v1 is Parquet Modular Encryption and needs format=parquet"):
        ppml_read(spark, env["key"], fmt="csv", cryptoMode="aes_gcm_v1").load(str(tmp_path)).collect()
    df = spark.range(3)
    writer = (
        df.write.format("ppml-enc").mode("overwrite").option("format", "csv").option("cryptoMode", "aes_gcm_ctr_v1")
    )
    for name, value in kms_options(env["key"]).items():
        writer = writer.option(name, value)
    with pytest.raises(Exception, match="aes_gcm_ctr_v1 is Parquet Modular Encryption and needs format=parquet"):
        writer.save(str(tmp_path / "out"))


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_spark_native_pme_interop(spark: Any, shim_jar: str, tmp_path: Path, mode: str) -> None:  # noqa: F811
    """Spark's own Parquet writer/reader with the shim's KmsClient and ppml-enc read each other's files."""
    key = tmp_path / "primary.key"
    LocalKms.create(key)
    n = 700
    ours = tmp_path / "from-ppml-enc"
    df = spark.range(0, n).selectExpr("id", "id * 2 AS x", "concat('rowmark', id) AS s").repartition(2)
    save(df, key, ours, mode)
    theirs = tmp_path / "from-spark"
    jobs = [
        {
            "id": "write",
            "op": "pme_write",
            "kms": kms_options(key),
            "n": n,
            "mode": mode,
            "footer": "ppml-footer",
            "out": str(theirs),
        },
        {"id": "read", "op": "pme_read", "kms": kms_options(key), "path": str(ours)},
    ]
    results, _ = run_spark(shim_jar, tmp_path, jobs)
    assert results["write"]["ok"] and results["read"]["ok"], results
    assert results["read"]["rows"] == [[i, f"rowmark{i}"] for i in range(0, n, 7)]
    back = ppml_read(spark, key, fmt="parquet", cryptoMode=mode).load(str(theirs))
    assert back.schema.simpleString() == "struct<id:bigint,x:bigint,s:string>"
    assert sorted(tuple(r) for r in back.collect()) == [(i, i * 2, f"rowmark{i}") for i in range(n)]
