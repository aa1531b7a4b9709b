"""TPC-H on Spark: the 22 DataFrame queries against DuckDB's TPC-H SQL, on plaintext and encrypted tables.

Data: tpchgen-cli SF 0.01 (identical to official dbgen), generated once per module; an encrypted copy made
with ppml-gcm under a local key and read back through ``ppml-enc``. The reference answers come from DuckDB
running its own TPC-H SQL over the same files (decrypted in memory for the encrypted copy).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az import tpch
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.tpch import datagen, reference, verify
from bigdl_ppml_az.tpch.reference import ResultSet

SF = 0.01
ALL = list(range(1, 23))


@pytest.fixture(scope="module")
def tpch_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("tpch")
    plain = str(base / "plain")
    datagen.generate(SF, plain, "tbl")
    key = str(base / "keys" / "primary.key")
    kms = LocalKms.create(key)
    encrypted = str(base / "encrypted")
    datagen.encrypt_tables(plain, encrypted, kms, "tbl", "ppml-gcm", progress=False)
    return {"plain": plain, "encrypted": encrypted, "kms": {"kms": "local", "primaryKeyPath": key}, "base": base}


@pytest.fixture(scope="module")
def reference_plain(tpch_data: dict[str, Any]) -> dict[int, ResultSet]:
    return reference.reference_answers(tpch_data["plain"], "tbl", "plain_text")


@pytest.fixture(scope="module")
def reference_encrypted(tpch_data: dict[str, Any]) -> dict[int, ResultSet]:
    return reference.reference_answers(tpch_data["encrypted"], "tbl", "auto", tpch_data["kms"])


@pytest.fixture(scope="module")
def plain_run(spark: Any, tpch_data: dict[str, Any]) -> tpch.RunResult:
    return tpch.run(tpch.tables(spark, tpch_data["plain"], "tbl"))


@pytest.fixture(scope="module")
def encrypted_tables(spark: Any, tpch_data: dict[str, Any]) -> tpch.Tables:
    return tpch.tables(spark, tpch_data["encrypted"], "tbl", "auto", tpch_data["kms"])


@pytest.fixture(scope="module")
def encrypted_run(encrypted_tables: tpch.Tables) -> tpch.RunResult:
    return tpch.run(encrypted_tables)


def test_schema_has_the_spec_types(spark: Any, tpch_data: dict[str, Any]) -> None:
    t = tpch.tables(spark, tpch_data["plain"], "tbl")
    types = dict(t.lineitem.dtypes)
    assert list(types) == [name for name, _ in tpch.COLUMNS["lineitem"]]  # trailing '|' column dropped
    assert types["l_orderkey"] == "bigint" and types["l_linenumber"] == "int"
    assert types["l_extendedprice"] == "decimal(15,2)" and types["l_quantity"] == "decimal(15,2)"
    assert types["l_shipdate"] == "date" and types["l_comment"] == "string"
    assert t.lineitem.where("l_comment is null or l_shipdate is null").count() == 0


def test_oracle_reads_encrypted_data_like_plaintext(
    reference_plain: dict[int, ResultSet], reference_encrypted: dict[int, ResultSet]
) -> None:
    assert reference_plain == reference_encrypted


@pytest.mark.parametrize("number", ALL)
def test_plaintext_query_matches_reference(
    number: int, plain_run: tpch.RunResult, reference_plain: dict[int, ResultSet]
) -> None:
    check = verify.compare(number, plain_run.results[number], reference_plain[number])
    assert check.passed, str(check)


@pytest.mark.parametrize("number", ALL)
def test_encrypted_query_matches_reference(
    number: int, encrypted_run: tpch.RunResult, reference_encrypted: dict[int, ResultSet]
) -> None:
    check = verify.compare(number, encrypted_run.results[number], reference_encrypted[number])
    assert check.passed, str(check)


@pytest.mark.parametrize("number", ALL)
def test_encrypted_and_plaintext_results_identical(
    number: int, spark: Any, tpch_data: dict[str, Any], encrypted_tables: tpch.Tables, plain_run: tpch.RunResult,
    encrypted_run: tpch.RunResult,
) -> None:  # fmt: skip
    ours, theirs = encrypted_run.results[number], plain_run.results[number]
    assert ours.columns == theirs.columns
    assert ours.rows == theirs.rows  # same values, same order, same Python types
    if number in (1, 9, 18):  # and the same Spark schema (types, not just values)
        plain_t = tpch.tables(spark, tpch_data["plain"], "tbl")
        assert tpch.query(number)(encrypted_tables).schema == tpch.query(number)(plain_t).schema


def test_encrypted_tables_really_come_from_ppml_enc(encrypted_tables: tpch.Tables, tpch_data: dict[str, Any]) -> None:
    plan = encrypted_tables.lineitem._jdf.queryExecution().optimizedPlan().toString()
    assert "ppml-enc" in plan
    raw = next((Path(tpch_data["encrypted"]) / "lineitem").iterdir()).read_bytes()
    assert raw.startswith(b"PPMLGCM1") and b"DELIVER IN PERSON" not in raw


def test_duckdb_dbgen_data_matches_stored_answers(spark: Any, tmp_path: Path) -> None:
    """DuckDB's own dbgen data (exported as .tbl without the trailing '|') against its stored answers."""
    con = reference.connect()
    con.execute(f"CALL dbgen(sf={SF})")
    for table in tpch.TABLE_NAMES:
        (tmp_path / table).mkdir()
        con.execute(f"COPY {table} TO '{tmp_path / table / (table + '.tbl')}' (DELIMITER '|', HEADER false)")
    stored = reference.stored_answers(con, SF)
    con.close()
    result = tpch.run(tpch.tables(spark, str(tmp_path), "tbl"))
    failed = [str(c) for c in verify.compare_all(result.results, stored) if not c.passed]
    assert not failed


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_inputs(spark: Any, tmp_path: Path, fmt: str) -> None:
    data = str(tmp_path / fmt)
    datagen.generate(SF, data, fmt)
    result = tpch.run(tpch.tables(spark, data, fmt), [1, 3, 18])
    answers = reference.reference_answers(data, fmt, "plain_text", numbers=[1, 3, 18])
    assert all(c.passed for c in verify.compare_all(result.results, answers))
    assert tpch.tables(spark, data, fmt).part.schema == tpch.spark_schema("part")


def test_parameters_change_the_answer(
    spark: Any, tpch_data: dict[str, Any], reference_plain: dict[int, ResultSet]
) -> None:
    t = tpch.tables(spark, tpch_data["plain"], "tbl")
    default = tpch.q06(t).collect()[0][0]
    assert default == reference_plain[6].rows[0][0]  # the defaults are the spec's validation values
    other = tpch.q06(t, date="1995-01-01", discount="0.05", quantity=25).collect()[0][0]
    assert other is not None and other > 0 and other != default


# ---- the checker can fail ---------------------------------------------------------------------------------


def _changed(result: ResultSet, row: int, column: int, value: Any) -> ResultSet:
    rows = [list(r) for r in result.rows]
    rows[row][column] = value
    return dataclasses.replace(result, rows=tuple(tuple(r) for r in rows))


def test_verify_rejects_a_changed_value(plain_run: tpch.RunResult, reference_plain: dict[int, ResultSet]) -> None:
    q3 = plain_run.results[3]
    assert verify.compare(3, q3, reference_plain[3]).passed
    bad = _changed(q3, 4, 0, q3.rows[4][0] + 1)  # another order key
    check = verify.compare(3, bad, reference_plain[3])
    assert not check.passed and "l_orderkey" in check.detail
    cent = _changed(q3, 0, 1, q3.rows[0][1] + Decimal("0.02"))  # revenue off by two cents
    assert not verify.compare(3, cent, reference_plain[3]).passed
    within = _changed(q3, 0, 1, q3.rows[0][1] + Decimal("0.004"))  # within the cent
    assert verify.compare(3, within, reference_plain[3]).passed


def test_verify_rejects_missing_reordered_renamed_and_text_changes(
    plain_run: tpch.RunResult, reference_plain: dict[int, ResultSet]
) -> None:
    q10, ref = plain_run.results[10], reference_plain[10]
    assert not verify.compare(10, dataclasses.replace(q10, rows=q10.rows[:-1]), ref).passed
    swapped = dataclasses.replace(q10, rows=(q10.rows[1], q10.rows[0], *q10.rows[2:]))
    check = verify.compare(10, swapped, ref)
    assert not check.passed and "ORDER BY" in check.detail
    renamed = dataclasses.replace(q10, columns=("c_custkey", "c_name", "rev", *q10.columns[3:]))
    assert not verify.compare(10, renamed, ref).passed
    assert not verify.compare(10, _changed(q10, 3, 7, q10.rows[3][7] + "x"), ref).passed
    assert verify.compare(10, _changed(q10, 3, 7, q10.rows[3][7] + "  "), ref).passed  # trailing blanks


def test_verify_tolerances_for_averages(plain_run: tpch.RunResult, reference_plain: dict[int, ResultSet]) -> None:
    q1, ref = plain_run.results[1], reference_plain[1]
    avg_price = q1.columns.index("avg_price")
    near = _changed(q1, 0, avg_price, q1.rows[0][avg_price] + Decimal("0.00001"))  # 3e-10 relative
    assert verify.compare(1, near, ref).passed
    far = _changed(q1, 0, avg_price, q1.rows[0][avg_price] * Decimal("1.0001"))
    assert not verify.compare(1, far, ref).passed
    count = q1.columns.index("count_order")
    assert not verify.compare(1, _changed(q1, 2, count, q1.rows[2][count] + 1), ref).passed


def test_results_round_trip_through_csv(plain_run: tpch.RunResult, reference_plain: dict[int, ResultSet]) -> None:
    """Text results (as ``tpch run --output`` writes them) still verify, and NULL survives (Q17 at SF 0.01)."""
    for number in ALL:
        text = ResultSet.from_csv(plain_run.results[number].to_csv())
        assert verify.compare(number, text, reference_plain[number]).passed, number
    assert ResultSet.from_csv(plain_run.results[17].to_csv()).rows == plain_run.results[17].rows == ((None,),)


def test_text_against_text(plain_run: tpch.RunResult, reference_plain: dict[int, ResultSet]) -> None:
    """Result files against stored text answers: numbers, dates and ORDER BY are compared as such, not as text."""
    for number in ALL:
        ours = ResultSet.from_csv(plain_run.results[number].to_csv())
        theirs = ResultSet.from_csv(reference_plain[number].to_csv(sep="|"), sep="|")
        assert verify.compare(number, ours, theirs).passed, number
    q1 = ResultSet.from_csv(plain_run.results[1].to_csv())
    theirs = ResultSet.from_csv(reference_plain[1].to_csv())
    assert q1.rows[0][2].endswith(".00")  # "380456.00" here, "380456" in DuckDB's stored answers: same number
    assert not verify.compare(1, _changed(q1, 0, 2, "380457.00"), theirs).passed


def test_bigdl_common_layout(spark: Any, tpch_data: dict[str, Any]) -> None:
    """`tpch encrypt --crypto-mode aes/cbc/pkcs5padding` writes BigDL's layout, read back by Spark and the oracle."""
    kms = LocalKms.load(tpch_data["kms"]["primaryKeyPath"])
    out = str(tpch_data["base"] / "common")
    datagen.encrypt_tables(tpch_data["plain"], out, kms, "tbl", "aes/cbc/pkcs5padding", progress=False)
    assert (Path(out) / "lineitem" / ".meta").exists()
    answers = reference.reference_answers(out, "tbl", "auto", tpch_data["kms"], [1, 6])
    result = tpch.run(tpch.tables(spark, out, "tbl", "aes/cbc/pkcs5padding", tpch_data["kms"]), [1, 6])
    assert all(c.passed for c in verify.compare_all(result.results, answers))


def test_tie_group_cut_by_limit_compares_order_keys_only() -> None:
    import datetime as dt

    columns = ("l_orderkey", "revenue", "o_orderdate", "o_shippriority")
    day = dt.date(1995, 3, 1)
    rows = [(k, Decimal(1000 - k), day, 0) for k in range(1, 9)]  # 8 distinct revenues, descending
    tail_ours = [(100, Decimal("5.00"), day, 0), (101, Decimal("5.00"), day, 0)]
    tail_ref = [(100, Decimal("5.00"), day, 0), (102, Decimal("5.00"), day, 0)]  # another member of the tie
    ours = ResultSet.from_rows(columns, rows + tail_ours)
    ref = ResultSet.from_rows(columns, rows + tail_ref)
    assert verify.compare(3, ours, ref).passed  # 10 rows = Q3's LIMIT: the cut tie group may differ
    short = verify.compare(
        3, ResultSet.from_rows(columns, rows[1:] + tail_ours), ResultSet.from_rows(columns, rows[1:] + tail_ref)
    )
    assert not short.passed and "l_orderkey" in short.detail  # below the LIMIT every row must match
    moved = ResultSet.from_rows(columns, rows + [(100, Decimal("5.00"), day, 0), (101, Decimal("4.90"), day, 0)])
    assert not verify.compare(3, moved, ref).passed  # ORDER BY keys still compared in the cut group
