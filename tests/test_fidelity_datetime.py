"""Dates and timestamps read and written as Spark does (issue 11): custom patterns, inference, preferDate.

Differential against real Spark: generated CSV files (values in many Spark datetime patterns, patterns drawn
from a safe grammar, inferSchema and preferDate on and off, given schemas, two time zones) are read by
``spark.read.csv`` on the plaintext and by ppml-enc on the ciphertext, and must give the same schema and rows
(or both fail). Spark SQL's own parser and formatter (``to_timestamp``, ``date_format``) check the pattern
compiler value by value, and ppml-enc's CSV output for custom write formats is compared with Spark's writer.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import strategies as st
from pyspark.sql.types import DateType, StringType, StructField, StructType, TimestampNTZType, TimestampType

from bigdl_ppml_az.datasource.sparkrules import datetimes as sd
from bigdl_ppml_az.errors import ConfigError
from bigdl_ppml_az.kms.local import LocalKms
from fidelity_support import Case, encrypt_all, generate, ppml_in_process, spark_oracle, write_cases

CI_CASES = int(os.environ.get("PPML_AZ_DATETIME_CASES", "340"))

DATE_PARTS = ["yyyy-MM-dd", "dd/MM/yyyy", "d/M/yyyy", "MM/dd/yy", "yyyyMMdd", "MMM d, yyyy", "dd MMMM yyyy",
              "yyyy-M-d", "yyyy.MM.dd", "yyyy-DDD"]  # fmt: skip
TIME_PARTS = ["HH:mm", "HH:mm:ss", "HH:mm:ss.SSS", "h:mm a", "HH:mm:ss[.SSSSSS]", "kk:mm:ss", "hh:mm:ss a",
              "HH:mm:ss.SSSSSSSSS"]  # fmt: skip
ZONE_PARTS = ["", "", "XXX", "[XXX]", "X", "xx", "Z", "ZZZZZ", " VV", "[ VV]", "O", "xxx"]
SEPARATORS = [" ", "'T'", "', '"]
ZONES = ["UTC", "UTC", "UTC", "Europe/Berlin", "America/New_York", "+05:30"]


def _instant(r: random.Random) -> int:
    """Epoch micros, mostly 1900..2100, sometimes near a DST change in Europe/Berlin."""
    if r.random() < 0.15:
        base = sd._days_from_civil(2021, 3, 28) * 86_400_000_000 + 3600 * 10**6  # 01:00 UTC, the spring gap
        return base + r.randrange(-7200, 7200) * 10**6
    return r.randrange(-2208988800, 4102444800) * 10**6 + r.randrange(10**6) * r.choice([0, 1, 1000, 1])


def _render(pattern: str, micros: int, zone: str) -> str:
    """A value in ``pattern`` (our formatter; Spark is the judge of how it parses)."""
    compiled = sd.compiled(pattern, "value", parsing=False)
    if not any(c in pattern for c in "VXxZO"):
        return sd.format_ntz(micros, compiled, "value")
    return sd.format_timestamp(micros, compiled, r_zone(zone, micros), "value")


def r_zone(zone: str, micros: int) -> str:
    return zone if micros % 3 else "America/Los_Angeles"


def _noise(r: random.Random, text: str) -> str:
    """The hard parts: case changes, spaces, impossible days, other shapes, date-only values."""
    k = r.randrange(12)
    if k == 0:
        return text.lower()
    if k == 1:
        return " " + text
    if k == 2:
        return text + " "
    if k == 3:
        return text.replace("0", "", 1)
    if k == 4:
        return r.choice(["2020-02-30", "2021-02-29", "31/04/2020", "2020-13-01", "24:00", "1999-12-31T23:59:60"])
    if k == 5:
        return r.choice(["2020-01-31", "2020-1-1", "2020", "2020-01", "2020-01-31 10:11:12", "true", "1.5", "x"])
    if k == 6:
        return r.choice(["2020-01-31T10:11:12Z", "2020-01-31 10:11:12+01:00", "2020-01-31T10:11:12.123456789"])
    return text


@st.composite
def datetime_cases(draw: Any) -> Case:
    """A CSV of datetime-ish columns and the datetime options both readers get."""
    r = random.Random(draw(st.integers(0, 2**32)))
    date_pattern = draw(st.sampled_from(DATE_PARTS))
    ts_pattern = date_pattern + draw(st.sampled_from(SEPARATORS)) + draw(st.sampled_from(TIME_PARTS)) + \
        draw(st.sampled_from(ZONE_PARTS))  # fmt: skip
    if "DDD" in ts_pattern and "a" in ts_pattern:
        ts_pattern = ts_pattern.replace("DDD", "MM-dd")
    zone = draw(st.sampled_from(ZONES))
    options: dict[str, str] = {"header": "true"}
    if draw(st.booleans()):
        options["dateFormat"] = date_pattern
    if draw(st.booleans()):
        options["timestampFormat"] = ts_pattern
    if draw(st.integers(0, 4)) == 0:
        options["timestampNTZFormat"] = ts_pattern.replace("XXX", "").replace("[ VV]", "")
    if draw(st.booleans()):
        options["inferSchema"] = "true"
    if draw(st.integers(0, 2)) == 0:
        options["preferDate"] = draw(st.sampled_from(["true", "false"]))
    if zone != "UTC":
        options["timeZone"] = zone
    columns = draw(st.integers(1, 3))
    kinds = [draw(st.sampled_from(["date", "ts", "mixed", "iso"])) for _ in range(columns)]
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        row = []
        for kind in kinds:
            micros = _instant(r)
            if kind == "date" or (kind == "mixed" and r.random() < 0.5):
                text = _render(date_pattern, micros, zone)
            elif kind == "iso":
                text = _render(r.choice(["yyyy-MM-dd", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"]),
                               micros, zone)  # fmt: skip
            else:
                text = _render(ts_pattern, micros, zone)
            if r.random() < 0.25:
                text = _noise(r, text)
            if r.random() < 0.05:
                text = ""
            row.append('"' + text + '"' if "," in text else text)
        rows.append(",".join(row))
    header = ",".join(f"c{i}" for i in range(columns))
    schema = ""
    if "inferSchema" not in options and draw(st.booleans()):
        schema = ",".join(f"c{i} {draw(st.sampled_from(['date', 'timestamp', 'timestamp_ntz', 'string']))}"
                          for i in range(columns))  # fmt: skip
        options["__schema"] = schema
    return Case(("\n".join([header, *rows]) + "\n").encode("utf-8"), options)


_TYPES = {"date": DateType(), "timestamp": TimestampType(), "timestamp_ntz": TimestampNTZType(),
          "string": StringType()}  # fmt: skip


def _schema(ddl: str) -> StructType:
    return StructType([StructField(n, _TYPES[t], True) for n, t in (c.split(" ") for c in ddl.split(","))])


def _split(case: Case) -> tuple[Case, StructType | None]:
    options = dict(case.options)
    ddl = options.pop("__schema", "")
    return Case(case.data, options, case.fmt), (_schema(ddl) if ddl else None)


def _oracle(spark: Any, case: Case, path: Path) -> Any:
    plain, schema = _split(case)
    if schema is None:
        return spark_oracle(spark, plain, path)
    try:
        df = spark.read.schema(schema).options(**plain.options).csv(str(path))
        return _schema_text(df.schema), [tuple(_norm(v) for v in row) for row in df.collect()]
    except Exception:  # noqa: BLE001 - Spark failed: ppml-enc must fail too
        return "error", ""


def _norm(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _schema_text(schema: StructType) -> str:
    return ",".join(f"{f.name}:{f.dataType.simpleString()}:{f.nullable}" for f in schema.fields)


def _ours(case: Case, path: Path, key: Path) -> Any:
    """ppml-enc in process (driver then worker code), with a given schema when the case has one (a small
    copy of fidelity_support.ppml_in_process, which takes none)."""
    plain, schema = _split(case)
    if schema is None:
        return ppml_in_process(plain, path, key)
    from bigdl_ppml_az.datasource.source import PpmlEncDataSource

    options = {"kms": "local", "primaryKeyPath": str(key), "format": "csv", "path": str(path), **plain.options}
    try:
        source = PpmlEncDataSource({k.lower(): v for k, v in options.items()})
        reader = source.reader(schema)
        rows: list[tuple[Any, ...]] = []
        for split in reader.partitions():
            for batch in reader.read(split):
                assert isinstance(batch, pa.RecordBatch)
                rows.extend(tuple(_norm(v) for v in r.values()) for r in batch.to_pylist())
        return _schema_text(schema), rows
    except Exception:  # noqa: BLE001 - a refusal or a malformed-input error
        return "error", ""


def differences(spark: Any, cases: list[Case], root: Path) -> list[str]:
    key = root / "primary.key"
    kms = LocalKms.create(key)
    dirs = write_cases(cases, root)
    enc = encrypt_all(kms, root)
    with ThreadPoolExecutor(4) as pool:  # Spark runs concurrent jobs; its reads are the cost
        theirs = list(pool.map(lambda pair: _oracle(spark, *pair), zip(cases, dirs, strict=True)))
    found = []
    for case, plain, spark_answer in zip(cases, dirs, theirs, strict=True):
        ours = _ours(case, enc / plain.name, key)
        if spark_answer != ours:
            found.append(f"{case.to_json()}: spark {spark_answer} != ppml-enc {ours}")
    return found


def test_generated_datetime_csv_matches_spark(spark: Any, tmp_path: Path) -> None:
    cases = generate(datetime_cases(), CI_CASES, seed=1111)
    assert len(cases) >= 300
    found = differences(spark, cases, tmp_path)
    assert not found, f"{len(found)} of {len(cases)} differ; first: " + "\n".join(found[:3])


# one case per class the issue lists (custom formats with offsets and fractions, optional sections,
# inference with a custom format, date-only values in timestamp columns, mixed columns, preferDate)
REGRESSIONS = [
    Case(b"t\n31/01/2020 10:11\n31/01/2020 10:11+01:00\n", {"header": "true", "inferSchema": "true",
         "timestampFormat": "dd/MM/yyyy HH:mm[XXX]"}),  # fmt: skip
    Case(b"t\n2020-01-31 10:11:12.1\n2020-01-31 10:11:12.123\n2020-01-31 10:11:12.1234\n",
         {"header": "true", "inferSchema": "true", "timestampFormat": "yyyy-MM-dd HH:mm:ss.SSS"}),
    Case(b"d\n31/01/2020\n01/02/2020\n", {"header": "true", "inferSchema": "true", "dateFormat": "dd/MM/yyyy"}),
    Case(b"d\n31/01/2020\n01/02/2020\n", {"header": "true", "inferSchema": "true", "dateFormat": "dd/MM/yyyy",
                                          "preferDate": "false"}),  # fmt: skip
    Case(b"t\n2020-01-31 10:11:12\n2020-02-01\n", {"header": "true", "inferSchema": "true"}),
    Case(b"t\n2020-02-01\n2020-01-31 10:11:12\n", {"header": "true", "inferSchema": "true"}),
    Case(b"t\n2020-02-01\n2020-01-31 10:11:12\n", {"header": "true", "inferSchema": "true",
                                                   "timestampFormat": "yyyy-MM-dd HH:mm:ss"}),  # fmt: skip
    Case(b"t\n2020-01-31 10:11:12\n2020-02-01\n", {"header": "true", "inferSchema": "true",
                                                   "timestampFormat": "yyyy-MM-dd HH:mm:ss"}),  # fmt: skip
    Case(b"t\n2020-1-5\n2020-01-31T10:11:12Z\n", {"header": "true", "inferSchema": "true", "dateFormat": "yyyy-M-d"}),
    Case(b"t\nJan 5, 2020 1:05 PM\njan 6, 2020 12:05 am\n", {"header": "true", "inferSchema": "true",
                                                            "timestampFormat": "MMM d, yyyy h:mm a"}),  # fmt: skip
    Case(b"t\n2021-03-28 02:30:00\n2021-10-31 02:30:00\n", {"header": "true", "inferSchema": "true",
                                                           "timeZone": "Europe/Berlin"}),  # fmt: skip
    Case(b"t\n2020-01-31 10:11:12\n", {"header": "true", "inferSchema": "true", "timestampNTZFormat":
                                       "yyyy-MM-dd HH:mm:ss", "timestampFormat": "dd/MM/yyyy"}),  # fmt: skip
    Case(b"d,t\n2020-01-31,2020-01-31T10:11:12\n", {"header": "true", "__schema": "d date,t timestamp_ntz"}),
    Case(b"d,t\n2020-01-31 garbage,2020-01-31T10:11:12+01:00\n", {"header": "true",
                                                                 "__schema": "d date,t timestamp_ntz"}),  # fmt: skip
    Case(b"d\n20200131\n2020131\n", {"header": "true", "dateFormat": "yyyyMMdd", "__schema": "d date"}),
]


def test_datetime_regressions_match_spark(spark: Any, tmp_path: Path) -> None:
    found = differences(spark, REGRESSIONS, tmp_path)
    assert not found, "\n".join(found)


# ---- the pattern compiler against Spark SQL's own parser and formatter (many values per query) --------------

SQL_PATTERNS = [
    "yyyy-MM-dd", "dd/MM/yyyy HH:mm[XXX]", "d/M/yy", "yyyyMMdd", "yyyy-MM-dd HH:mm:ss.SSS",
    "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]X", "MMM d, yyyy h:mm a", "MMMM d yyyy", "yyyy-DDD", "yyyy-MM-dd HH:mm:ss xxx",
    "yyyy-MM-dd HH:mm:ss ZZZZ", "yyyy-MM-dd HH:mm:ss O", "yyyy-MM-dd HH:mm VV", "yyyy-MM-dd kk:mm",
    "yyyy-MM-dd KK a", "yyyy-MM-dd hh", "yyyy-MM-dd HH a", "MM-dd", "HH:mm", "y-M-d", "yyy-M-d",
    "yyyy-MM-dd'T'HH:mm:ss", "''yy'' 'o''clock' HH", "yyyy-MM-dd[ HH:mm[:ss]]",
]  # fmt: skip
SQL_VALUES = [
    "2020-01-31", "2020-1-31", "2020-02-30", "12345-01-01", "+12345-01-01", "-2020-01-01", "2020-01-31 ",
    "31/01/2020 10:11", "31/01/2020 10:11+01:00", "31/01/2020 10:11z", "31/01/2020 10:11+0100", "1/2/20",
    "001/2/20", "20200131", "2020131", "2020-01-31 10:11:12.1", "2020-01-31 10:11:12.1234",
    "2020-01-31T10:11:12.123456Z", "2020-01-31T10:11:12+0130", "2020-01-31T10:11:12.5-05", "Jan 5, 2020 1:05 PM",
    "jan 5, 2020 12:05 am", "Sept 5, 2020 1:05 PM", "june 30 2020", "June 31 2020", "2020-060", "2019-366",
    "2020-01-31 10:11:12 +01:00", "2020-01-31 10:11:12 GMT+01:00", "2020-01-31 10:11:12 GMT+1",
    "2020-07-31 10:11 europe/berlin", "2020-01-31 24:00", "2020-01-31 11 PM", "2020-01-31 12", "2020-01-31 10 PM",
    "02-29", "10:11", "20201-1-1", "-5-1-1", "20-1-1", "2020-01-31t10:11:12", "'20' o'clock 10", "2020-01-31 10:11",
]  # fmt: skip


def test_pattern_parser_matches_spark_sql(spark: Any) -> None:
    spark.conf.set("spark.sql.ansi.enabled", "false")
    try:
        df = spark.createDataFrame([(v,) for v in SQL_VALUES], "v string")
        exprs = []
        for i, p in enumerate(SQL_PATTERNS):
            q = p.replace("'", "\\'")
            exprs += [f"unix_micros(to_timestamp(v, '{q}')) t{i}", f"unix_date(to_date(v, '{q}')) d{i}"]
        rows = df.selectExpr("v", *exprs).collect()
    finally:
        spark.conf.unset("spark.sql.ansi.enabled")
    wrong = []
    for row in rows:
        for i, p in enumerate(SQL_PATTERNS):
            compiled = sd.compiled(p, "timestampFormat")
            ours = (compiled.to_micros(row.v, dt.UTC), compiled.to_days(row.v))
            if ours != (row[f"t{i}"], row[f"d{i}"]):
                wrong.append((p, row.v, ours, row[f"t{i}"], row[f"d{i}"]))
    assert sum(r[f"t{i}"] is not None for r in rows for i in range(len(SQL_PATTERNS))) > 40  # not all null
    assert not wrong, wrong[:5]


def test_default_rules_match_spark_casts(spark: Any) -> None:
    values = ["2020-01-31", "2020-1-1", "2020", "2020-01", "2020-01-31 10:11:12", "2020-01-31T10:11:12Z",
              "2020-01-31T10:11:12.123456789+01:00", "2020-01-31 10:11", "2020-01-31T10",
              "2020-01-31 10:11:12 Europe/Berlin", "2020-01-31 10:11:12UTC+1", "2020-01-31 10:11:12 PST",
              "2020-01-31 10:11:12 +1:00", "20200131", "12020-01-31", "1234567-01-01", "2020-01-31x",
              "2020-01-31 garbage", "+2020-01-31", " 2020-01-31 10:11:12 ", "2020-13-01",
              "2020-02-30 10:00"]  # fmt: skip
    df = spark.createDataFrame([(v,) for v in values], "v string")
    rows = df.selectExpr("v", "unix_micros(try_cast(v as timestamp)) t", "unix_date(try_cast(v as date)) d").collect()
    wrong = [(r.v, r.t, r.d) for r in rows
             if (sd.string_to_timestamp(r.v, dt.UTC), sd.string_to_date(r.v)) != (r.t, r.d)]  # fmt: skip
    assert not wrong


FORMAT_PATTERNS = ["yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "yyyy-MM-dd'T'HH:mm:ss[.SSS]", "dd/MM/yyyy HH:mm[XXX]",
                   "d/M/yy h:mm a", "MMMM dd yyyy EEEE", "EEE yyyy-DDD", "yyyy-MM-dd HH:mm:ss.SSSSSS X",
                   "x xx xxx xxxx xxxxx", "Z ZZ ZZZ ZZZZ ZZZZZ", "O OOOO", "VV", "kk KK hh", "y yyy yyyyy",
                   "XX XXXX XXXXX", "''yyyy'' 'o''clock'"]  # fmt: skip


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns", "-03:30"])
def test_formatter_matches_spark_date_format(spark: Any, zone: str) -> None:
    micros = [0, 1580465472123456, -1, 253402300799999999, -62135596800000000, 1593597600000000, 1616893200000000]
    spark.conf.set("spark.sql.session.timeZone", zone)
    try:
        df = spark.createDataFrame([(m,) for m in micros], "m long")
        exprs = [f"date_format(timestamp_micros(m), '{p.replace(chr(39), chr(92) + chr(39))}') f{i}"
                 for i, p in enumerate(FORMAT_PATTERNS)]  # fmt: skip
        rows = df.selectExpr("m", *exprs).collect()
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    def ours(m: int, p: str) -> str:
        return sd.format_timestamp(m, sd.compiled(p, "timestampFormat", False), zone, "t")

    wrong = [(p, r.m, r[f"f{i}"]) for r in rows for i, p in enumerate(FORMAT_PATTERNS) if ours(r.m, p) != r[f"f{i}"]]
    assert not wrong, wrong[:5]


@pytest.mark.parametrize(
    ("pattern", "letter"),
    [("yyyy-MM-ddTHH:mm", "T"), ("EEE, dd MMM yyyy", "E"), ("YYYY-ww", "Y"), ("yyyy-MM-dd z", "z"),
     ("dd/MM/yyyy GG", "G"), ("yyyy-MM-dd HH:mm:ss.SSSSSSSSSS", "S"), ("MMMMM d", "M"), ("D", "D"),
     ("yyyy-MM-dd HH:mm:ss.SSS uuuu", "u"), ("yyyy-MM-dd dd", "d")],  # fmt: skip
)
def test_patterns_we_cannot_honour_are_refused_by_letter(pattern: str, letter: str) -> None:
    from bigdl_ppml_az.datasource.options import ReadSettings

    with pytest.raises(ConfigError) as info:
        ReadSettings.from_options({"timestampFormat": pattern, "header": "true"})
    assert f"option timestampFormat={pattern}" in str(info.value) and f"'{letter}'" in str(info.value)


def test_legacy_parser_policy_is_refused_by_name(spark: Any) -> None:
    from bigdl_ppml_az.datasource.options import ReadSettings

    spark.conf.set("spark.sql.legacy.timeParserPolicy", "LEGACY")
    try:
        with pytest.raises(ConfigError, match="spark.sql.legacy.timeParserPolicy=LEGACY"):
            ReadSettings.from_options({"header": "true"})
    finally:
        spark.conf.unset("spark.sql.legacy.timeParserPolicy")
    ReadSettings.from_options({"header": "true"})  # CORRECTED (the default) is fine


# ---- write side: ppml-enc's CSV bytes for custom formats equal Spark's writer's ---------------------------


WRITE_OPTIONS = [
    {},
    {"dateFormat": "dd/MM/yyyy", "timestampFormat": "dd/MM/yyyy HH:mm:ss.SSS XXX"},
    {"dateFormat": "MMM d, yyyy", "timestampFormat": "yyyy-MM-dd'T'HH:mm:ssZ", "timestampNTZFormat": "d/M/yy h:mm a"},
    {"timestampFormat": "yyyy-MM-dd HH:mm:ss[.SSSSSS] VV", "timeZone": "Europe/Berlin"},
    {"dateFormat": "yyyyMMdd", "timestampFormat": "EEEE, MMMM d, yyyy h:mm:ss a O", "timeZone": "America/New_York"},
]


@pytest.mark.parametrize("options", WRITE_OPTIONS, ids=[str(i) for i in range(len(WRITE_OPTIONS))])
def test_csv_write_formats_match_spark_writer(spark: Any, tmp_path: Path, options: dict[str, str]) -> None:
    from bigdl_ppml_az.datasource.options import WriteSettings
    from bigdl_ppml_az.datasource.textwrite import encode

    r = random.Random(7)
    rows = []
    for i in range(40):
        micros = _instant(r)
        rows.append((i, dt.date(1970, 1, 1) + dt.timedelta(days=micros // 86_400_000_000),
                     dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros),
                     dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=micros)))  # fmt: skip
    rows.append((99, None, None, None))
    schema = "i int, d date, t timestamp, n timestamp_ntz"
    df = spark.createDataFrame(rows, schema).coalesce(1)
    out = tmp_path / "spark"
    df.write.options(header="true", **options).csv(str(out))
    theirs = b"".join(p.read_bytes() for p in sorted(out.glob("part-*.csv")))
    table = pa.Table.from_pylist(
        [dict(zip(["i", "d", "t", "n"], row, strict=True)) for row in rows],
        schema=pa.schema([("i", pa.int32()), ("d", pa.date32()), ("t", pa.timestamp("us", "UTC")),
                          ("n", pa.timestamp("us"))]),  # fmt: skip
    )
    chunks: list[bytes] = []
    settings = WriteSettings.from_options({"header": "true", **options})
    batches = table.to_batches()
    encode(settings, chunks.append, batches[0], iter(batches))
    assert b"".join(chunks).decode() == theirs.decode()


def test_write_refuses_a_time_letter_in_date_format() -> None:
    from bigdl_ppml_az.datasource.options import WriteSettings
    from bigdl_ppml_az.datasource.textwrite import encode

    table = pa.table({"d": pa.array([dt.date(2020, 1, 31)], pa.date32())})
    settings = WriteSettings.from_options({"dateFormat": "yyyy-MM-dd HH:mm"})
    with pytest.raises(ConfigError, match="pattern letter 'H'"):
        encode(settings, lambda b: None, table.to_batches()[0], iter(table.to_batches()))
