"""ppml-enc reads compared row for row with Spark's own readers on the same plaintext."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.formats import COMMON
from bigdl_ppml_az.kms.local import LocalKms
from pushdown_support import PUSHDOWN_PLAN_SHARED, assert_pushfilters_refused
from test_datasource_support import (
    assert_same,
    encrypt,
    encrypt_native,
    ppml_read,
    write_csv,
    write_json,
)

SCHEMA = "id INT, name STRING, amount DOUBLE, flag BOOLEAN, day DATE, ts TIMESTAMP, note STRING"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ds-read")
    key = root / "primary.key"
    kms = LocalKms.create(key)
    plain = root / "plain"
    write_csv(plain / "csv" / "a.csv", 1500)
    write_csv(plain / "csv" / "b.csv", 700, start=5000)
    write_csv(plain / "nohead" / "c.csv", 900, header=False)
    write_json(plain / "json" / "d.json", 1200)
    out = {"key": key, "plain": plain, "root": root}
    for name in ("csv", "nohead", "json"):
        out[f"{name}_plain"] = plain / name
        out[name] = encrypt(kms, plain / name, root / "gcm" / name)
    out["csv_common"] = encrypt(kms, plain / "csv", root / "common" / "csv", mode=COMMON)
    out["csv_native"] = encrypt_native(kms, plain / "csv" / "a.csv", root / "native" / "csv")
    return out


def spark_csv(spark: Any, path: Path, schema: str | None = None, **options: str) -> Any:
    reader = spark.read.options(**options)
    if schema:
        reader = reader.schema(schema)
    return reader.csv(str(path))


def test_header_infer_schema_matches_spark(spark: Any, data: dict[str, Path]) -> None:
    ours = ppml_read(spark, data["key"], header="true", inferSchema="true").load(str(data["csv"]))
    assert_same(ours, spark_csv(spark, data["csv_plain"], header="true", inferSchema="true"))


def test_all_strings_without_infer_and_header(spark: Any, data: dict[str, Path]) -> None:
    ours = ppml_read(spark, data["key"]).load(str(data["nohead"]))
    assert_same(ours, spark_csv(spark, data["nohead_plain"]))


def test_user_schema_and_null_value(spark: Any, data: dict[str, Path]) -> None:
    for options in ({"header": "true"}, {"header": "true", "nullValue": "NA"}):
        ours = ppml_read(spark, data["key"], schema=SCHEMA, **options).load(str(data["csv"]))
        assert_same(ours, spark_csv(spark, data["csv_plain"], SCHEMA, **options))


def test_separator_quote_escape_and_formats(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    kms = LocalKms.load(data["key"])
    plain = tmp_path / "plain" / "x.csv"
    plain.parent.mkdir(parents=True)
    rows = [
        "1;'a;b';03/04/2020;03/04/2020 10:11;1.5",
        "2;'it~'s';;;",
        "3;plain;31/12/1999;31/12/1999 23:59;-2",
    ]
    plain.write_text("\n".join(rows) + "\n", encoding="utf-8")
    enc = encrypt(kms, plain.parent, tmp_path / "enc")
    schema = "id INT, s STRING, d DATE, t TIMESTAMP, x DOUBLE"
    options = {
        "sep": ";",
        "quote": "'",
        "escape": "~",
        "dateFormat": "dd/MM/yyyy",
        "timestampFormat": "dd/MM/yyyy HH:mm",
    }
    ours = ppml_read(spark, data["key"], schema=schema, **options).load(str(enc))
    assert_same(ours, spark_csv(spark, plain.parent, schema, **options))
    delimiter = ppml_read(spark, data["key"], schema=schema, **{**options, "delimiter": ";"}).load(str(enc))
    assert_same(delimiter, ours)


def test_multiline_values(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    kms = LocalKms.load(data["key"])
    plain = tmp_path / "plain" / "m.csv"
    plain.parent.mkdir(parents=True)
    body = ["id,text"] + [f'{i},"line one {i}\nline, two"' if i % 2 else f"{i},single" for i in range(3000)]
    body[1000] = "999,too,many"  # malformed: PERMISSIVE keeps the first fields
    plain.write_text("\n".join(body) + "\n", encoding="utf-8")
    enc = encrypt(kms, plain.parent, tmp_path / "enc")
    options = {"header": "true", "multiLine": "true", "inferSchema": "true"}
    ours = ppml_read(spark, data["key"], chunkBytes="8k", **options).load(str(enc))  # many streaming blocks
    assert_same(ours, spark_csv(spark, plain.parent, **options))


@pytest.mark.parametrize("mode", ["PERMISSIVE", "DROPMALFORMED"])
def test_malformed_rows_follow_mode(spark: Any, data: dict[str, Path], tmp_path: Path, mode: str) -> None:
    kms = LocalKms.load(data["key"])
    plain = tmp_path / "plain" / "bad.csv"
    plain.parent.mkdir(parents=True)
    lines = ["id,n,d"] + [f"{i},{i * 2},2020-01-0{1 + i % 9}" for i in range(50)]
    lines[10] = "9,notanumber,2020-01-01"
    lines[20] = "19,38"  # too few fields
    lines[30] = "29,58,2020-01-01,extra"  # too many fields
    lines[40] = "39,78,2020-13-45"  # bad date
    plain.write_text("\n".join(lines) + "\n", encoding="utf-8")
    enc = encrypt(kms, plain.parent, tmp_path / "enc")
    schema = "id INT, n INT, d DATE" + (", _corrupt_record STRING" if mode == "PERMISSIVE" else "")
    options = {"header": "true", "mode": mode}
    ours = ppml_read(spark, data["key"], schema=schema, **options).load(str(enc))
    assert_same(ours, spark_csv(spark, plain.parent, schema, **options))


def test_failfast_names_the_file(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    kms = LocalKms.load(data["key"])
    plain = tmp_path / "plain" / "bad.csv"
    plain.parent.mkdir(parents=True)
    plain.write_text("1,2\n3,x\n", encoding="utf-8")
    enc = encrypt(kms, plain.parent, tmp_path / "enc")
    with pytest.raises(Exception) as info:
        ppml_read(spark, data["key"], schema="a INT, b INT", mode="FAILFAST").load(str(enc)).collect()
    assert "bad.csv" in str(info.value) and "FAILFAST" in str(info.value)


def test_json_lines_inferred_and_with_schema(spark: Any, data: dict[str, Path]) -> None:
    ours = ppml_read(spark, data["key"], fmt="json").load(str(data["json"]))
    theirs = spark.read.json(str(data["json_plain"]))
    assert_same(ours, theirs)
    schema = "id BIGINT, name STRING, score DOUBLE, tags ARRAY<STRING>"
    assert_same(
        ppml_read(spark, data["key"], fmt="json", schema=schema).load(str(data["json"])),
        spark.read.schema(schema).json(str(data["json_plain"])),
    )


def test_json_malformed_lines(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    kms = LocalKms.load(data["key"])
    plain = tmp_path / "plain" / "j.json"
    plain.parent.mkdir(parents=True)
    plain.write_text('{"a": 1, "b": "x"}\n{"a": "oops", "b": "y"}\n{broken\n{"a": 3}\n', encoding="utf-8")
    enc = encrypt(kms, plain.parent, tmp_path / "enc")
    for mode in ("PERMISSIVE", "DROPMALFORMED"):
        schema = "a BIGINT, b STRING" + (", _corrupt_record STRING" if mode == "PERMISSIVE" else "")
        ours = ppml_read(spark, data["key"], fmt="json", schema=schema, mode=mode).load(str(enc))
        assert_same(ours, spark.read.schema(schema).option("mode", mode).json(str(plain.parent)))


def test_text_format(spark: Any, data: dict[str, Path]) -> None:
    ours = ppml_read(spark, data["key"], fmt="text", maxPartitionBytes="8k").load(str(data["csv"]))
    assert_same(ours, spark.read.text(str(data["csv_plain"])))


def test_parquet_whole_file(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    theirs = spark_csv(spark, data["csv_plain"], SCHEMA, header="true")
    theirs.coalesce(1).write.parquet(str(tmp_path / "pq"))
    kms = LocalKms.load(data["key"])
    enc = encrypt(kms, tmp_path / "pq", tmp_path / "pq-enc")
    ours = ppml_read(spark, data["key"], fmt="parquet").load(str(enc))
    assert_same(ours, spark.read.parquet(str(tmp_path / "pq")))


def test_paths_globs_and_many_paths(spark: Any, data: dict[str, Path]) -> None:
    enc, plain = data["csv"], data["csv_plain"]
    ours = ppml_read(spark, data["key"], header="true").load([str(enc / "b.csv"), str(enc / "a.csv")])
    theirs = spark.read.option("header", "true").csv([str(plain / "b.csv"), str(plain / "a.csv")])
    assert_same(ours, theirs, ordered=False)  # Spark orders files by size; we keep the order given
    globbed = ppml_read(spark, data["key"], header="true").load(str(enc / "a*"))
    assert_same(globbed, spark.read.option("header", "true").csv(str(plain / "a*")))


@pytest.mark.parametrize("layout", ["csv", "csv_native"])
def test_split_file_reads_like_plaintext(spark: Any, data: dict[str, Path], layout: str) -> None:
    """Small maxPartitionBytes: >= 4 splits per file, and with 4 KiB segments lines cross every boundary."""
    extra = {"cryptoMode": "nativeaescbc"} if layout == "csv_native" else {}
    ours = ppml_read(spark, data["key"], schema=SCHEMA, header="true", maxPartitionBytes="16k", **extra).load(
        str(data[layout])
    )
    partitions = ours.rdd.getNumPartitions()
    assert partitions >= 4
    plain = data["csv_plain"] if layout == "csv" else data["csv_plain"] / "a.csv"
    assert_same(ours, spark_csv(spark, plain, SCHEMA, header="true"))


def test_bigdl_common_one_task_per_file(spark: Any, data: dict[str, Path]) -> None:
    ours = ppml_read(spark, data["key"], schema=SCHEMA, header="true", maxPartitionBytes="16k").load(
        str(data["csv_common"])
    )
    assert ours.rdd.getNumPartitions() == 2  # two files, each read whole after its HMAC check
    assert_same(ours, spark_csv(spark, data["csv_plain"], SCHEMA, header="true"))


def test_line_ownership_at_every_boundary(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    """Every possible cut: a CBC unit of 16 bytes makes lines cross splits at every alignment."""
    kms = LocalKms.load(data["key"])
    plain = tmp_path / "plain" / "l.csv"
    plain.parent.mkdir(parents=True)
    plain.write_text("".join(f"{i},{'x' * (i % 23)}\n" for i in range(400)), encoding="utf-8")
    enc = encrypt_native(kms, plain, tmp_path / "enc")
    ours = ppml_read(spark, data["key"], schema="a INT, b STRING", cryptoMode="nativeaescbc", maxPartitionBytes="48")
    df = ours.load(str(enc))
    assert df.rdd.getNumPartitions() > 100
    assert_same(df, spark.read.schema("a INT, b STRING").csv(str(plain)))


def test_parquet_row_group_skipping_keeps_results(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    """pushFilters (opt-in: Spark's filterPushdown conf plus option pushFilters) skips row groups by statistics."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bigdl_ppml_az.datasource.parquet import row_group_skipper

    table = pa.table({"k": pa.array(range(10_000), pa.int64()), "v": pa.array([f"v{i}" for i in range(10_000)])})
    (tmp_path / "pq").mkdir()
    pq.write_table(table, tmp_path / "pq" / "t.parquet", row_group_size=1000)
    enc = encrypt(LocalKms.load(data["key"]), tmp_path / "pq", tmp_path / "enc")
    skip = row_group_skipper([("k", "ge", 8500)])
    metadata = pq.ParquetFile(tmp_path / "pq" / "t.parquet").metadata
    assert [g for g in range(metadata.num_row_groups) if not skip(metadata, g)] == [8, 9]
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")
    try:
        ours = ppml_read(spark, data["key"], fmt="parquet", pushFilters="true").load(str(enc)).where("k >= 8500")
        if PUSHDOWN_PLAN_SHARED:
            assert_pushfilters_refused(ours)
            return
        assert_same(ours, spark.read.parquet(str(tmp_path / "pq")).where("k >= 8500"))
    finally:
        spark.conf.unset("spark.sql.python.filterPushdown.enabled")


def test_tbl_trailing_separator_like_spark(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    """TPC-H .tbl lines end with '|': Spark drops the extra empty field in PERMISSIVE, and so do we (fast)."""
    kms = LocalKms.load(data["key"])
    plain = tmp_path / "plain" / "t.tbl"
    plain.parent.mkdir(parents=True)
    plain.write_text("".join(f"{i}|name {i}|{i * 1.5}|1998-0{1 + i % 9}-0{1 + i % 9}|\n" for i in range(3000)))
    enc = encrypt(kms, plain.parent, tmp_path / "enc")
    schema = "k BIGINT, s STRING, x DOUBLE, d DATE"
    ours = ppml_read(spark, data["key"], schema=schema, sep="|", maxPartitionBytes="16k").load(str(enc))
    assert_same(ours, spark.read.schema(schema).option("sep", "|").csv(str(plain.parent)))
    for mode in ("DROPMALFORMED", "FAILFAST"):  # every line is malformed for Spark in these modes
        theirs = spark.read.schema(schema).options(sep="|", mode=mode).csv(str(plain.parent))
        try:
            expected = len(theirs.collect())  # not count(): Spark skips parsing (and mode) for count()
        except Exception:
            expected = None
        ours = ppml_read(spark, data["key"], schema=schema, sep="|", mode=mode).load(str(enc))
        if expected is None:
            with pytest.raises(Exception, match="FAILFAST"):
                ours.collect()
        else:
            assert len(ours.collect()) == expected


def test_time_zone_and_corrupt_column_name(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    kms = LocalKms.load(data["key"])
    plain = tmp_path / "plain" / "z.csv"
    plain.parent.mkdir(parents=True)
    rows = ["1,2021-03-14 01:30:00", "2,2021-07-01T12:00:00Z", "3,2021-11-07 01:30:00+05:30", "4,not a time", "5,"]
    plain.write_text("\n".join(rows) + "\n", encoding="utf-8")
    enc = encrypt(kms, plain.parent, tmp_path / "enc")
    schema = "id INT, t TIMESTAMP, bad STRING"
    options = {"timeZone": "America/New_York", "columnNameOfCorruptRecord": "bad"}
    ours = ppml_read(spark, data["key"], schema=schema, **options).load(str(enc))
    assert_same(ours, spark.read.schema(schema).options(**options).csv(str(plain.parent)))


def test_multiline_json_document(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    import json

    kms = LocalKms.load(data["key"])
    plain = tmp_path / "plain" / "doc.json"
    plain.parent.mkdir(parents=True)
    records = [{"id": i, "name": f"n{i}", "inner": {"x": i * 2}} for i in range(200)]
    plain.write_text(json.dumps(records, indent=2), encoding="utf-8")
    enc = encrypt(kms, plain.parent, tmp_path / "enc")
    ours = ppml_read(spark, data["key"], fmt="json", multiLine="true").load(str(enc))
    assert_same(ours, spark.read.option("multiLine", "true").json(str(plain.parent)))


def test_escape_equal_to_quote_is_rfc4180(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    """escape='"' (Spark's RFC 4180 setting) must read doubled quotes, not swallow closing quotes and merge rows."""
    kms = LocalKms.load(data["key"])
    plain = tmp_path / "plain" / "q.tbl"
    plain.parent.mkdir(parents=True)
    rows = [f'{i}|"name ""{i}"""|plain {i}|"x|y"|' for i in range(25)]
    plain.write_text("\n".join(rows) + "\n", encoding="utf-8")
    enc = encrypt(kms, plain.parent, tmp_path / "enc")
    schema = "id INT, quoted STRING, text STRING, piped STRING"
    for options in ({"sep": "|", "escape": '"'}, {"sep": "|", "escape": '"', "inferSchema": "true"}):
        ours = ppml_read(spark, data["key"], schema=schema, **options).load(str(enc))
        theirs = spark_csv(spark, plain.parent, schema, **options)
        assert theirs.count() == 25
        assert_same(ours, theirs)


def test_parquet_view_types_infer_like_spark(spark: Any, data: dict[str, Path], tmp_path: Path) -> None:
    """Parquet written with Arrow view types (as tpchgen-cli does) infers plain string/binary columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kms = LocalKms.load(data["key"])
    plain = tmp_path / "plain"
    plain.mkdir()
    table = pa.table(
        {
            "name": pa.array(["a", None, "c"], pa.string_view()),
            "n": pa.array([1, 2, 3], pa.int64()),
            "raw": pa.array([b"x", b"y", None], pa.binary_view()),
        }
    )
    pq.write_table(table, plain / "v.parquet")
    enc = encrypt(kms, plain, tmp_path / "enc")
    ours = ppml_read(spark, data["key"], fmt="parquet").load(str(enc))
    assert_same(ours, spark.read.parquet(str(plain)))
