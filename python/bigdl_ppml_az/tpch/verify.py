"""Compare our query results with reference answers, following (and tightening) TPC-H clause 2.1.3.5.

Rules, per query:

1. Same number of columns with the same names (case-insensitive; the spec's output names), same row count.
2. Order: our rows must be sorted as the query's ORDER BY says (checked on our rows as returned). Rows that
   tie on every ORDER BY key may come in any order, so both sides are then put into one canonical order
   (ORDER BY keys, then every column) and compared row by row. When a LIMIT cuts through the last tie group,
   either engine may legitimately keep different members of it, so those rows are compared on their
   ORDER BY keys only.
3. Values:
   - keys, strings, dates, counts and other integers: exact (strings with trailing blanks stripped, since
     the spec allows leading or trailing blanks and CHAR(n) readers pad);
   - averages and ratios (``avg_*``, ``mkt_share``, ``promo_revenue``): relative difference <= 1e-6
     (absolute floor 1e-6). The spec only asks for 1% after rounding to 1/100th; both engines compute
     these from exact decimals and differ only in the final rounding (Spark keeps 6 decimal places,
     DuckDB returns a double), so 1e-6 is loose enough for that and tight enough to catch real errors;
   - every other non-integer number (sums of money and quantities): to the cent, |a - b| <= 0.01.
     The spec allows $100 on sums; exact decimal arithmetic on both sides makes the cent achievable.
   NULL matches only NULL (an empty CSV field is read as NULL).

Text answers (DuckDB's stored ``tpch_answers()``, or result CSVs written by ``ppml-az tpch run``) are
converted to the type of the other side's column before comparing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .reference import ResultSet

RATIO_COLUMNS = frozenset({"avg_qty", "avg_price", "avg_disc", "mkt_share", "promo_revenue"})
RATIO_TOLERANCE = 1e-6
MONEY_TOLERANCE = Decimal("0.01")
# Unnamed select-list expressions have no name in the spec: Q18's sum(l_quantity) is "sum" in DuckDB's answers.
COLUMN_ALIASES = {"sum(l_quantity)": "sum"}

# ORDER BY of each query: (column, descending).
ORDER_BY: dict[int, tuple[tuple[str, bool], ...]] = {
    1: (("l_returnflag", False), ("l_linestatus", False)),
    2: (("s_acctbal", True), ("n_name", False), ("s_name", False), ("p_partkey", False)),
    3: (("revenue", True), ("o_orderdate", False)),
    4: (("o_orderpriority", False),),
    5: (("revenue", True),),
    6: (),
    7: (("supp_nation", False), ("cust_nation", False), ("l_year", False)),
    8: (("o_year", False),),
    9: (("nation", False), ("o_year", True)),
    10: (("revenue", True),),
    11: (("value", True),),
    12: (("l_shipmode", False),),
    13: (("custdist", True), ("c_count", True)),
    14: (),
    15: (("s_suppkey", False),),
    16: (("supplier_cnt", True), ("p_brand", False), ("p_type", False), ("p_size", False)),
    17: (),
    18: (("o_totalprice", True), ("o_orderdate", False)),
    19: (),
    20: (("s_name", False),),
    21: (("numwait", True), ("s_name", False)),
    22: (("cntrycode", False),),
}

# Row limits of the queries that have one (a full result may end inside a tie group).
LIMITS = {2: 100, 3: 10, 10: 20, 18: 100, 21: 100}

_INT = re.compile(r"[+-]?\d+")
_NUM = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Check:
    """Outcome of one query's comparison; ``detail`` names the first difference."""

    query: int
    passed: bool
    rows: int
    detail: str = ""

    def __str__(self) -> str:
        status = "ok" if self.passed else "FAILED"
        return f"Q{self.query:02d} {status} ({self.rows} rows)" + (f": {self.detail}" if self.detail else "")


def _kind(values: list[Any]) -> str:
    """Column kind: int, num, date or str, from typed values, else from what all the text values look like."""
    texts = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, str):
            texts.append(value.strip())
        elif isinstance(value, int):
            return "int"
        elif isinstance(value, (float, Decimal)):
            return "num"
        elif isinstance(value, (dt.date, dt.datetime)):
            return "date"
    if not texts:
        return "str"
    if all(_INT.fullmatch(t) for t in texts):
        return "int"
    if all(_NUM.fullmatch(t) for t in texts):
        return "num"
    if all(_DATE.fullmatch(t) for t in texts):
        return "date"
    return "str"


def _coerce(value: Any, kind: str) -> Any:
    """A value in comparable form: Decimal/float/int for numbers, ISO text for dates, stripped strings."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if kind == "str":
            return value.rstrip()
        if text == "":
            return None
        if kind in ("int", "num"):
            if _INT.fullmatch(text):
                return int(text)
            try:
                return Decimal(text)
            except InvalidOperation:
                return value
        if kind == "date":
            return text[:10]
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    return value


def _normalise(result: ResultSet, kinds: list[str]) -> list[tuple[Any, ...]]:
    return [tuple(_coerce(v, kinds[i]) for i, v in enumerate(row)) for row in result.rows]


def values_match(column: str, ours: Any, theirs: Any) -> bool:
    """One cell comparison under the rules in the module docstring."""
    if ours is None or theirs is None:
        return ours is None and theirs is None
    numeric = (int, float, Decimal)
    if isinstance(ours, numeric) and isinstance(theirs, numeric):
        if isinstance(ours, int) and isinstance(theirs, int):
            return ours == theirs
        a, b = Decimal(str(ours)), Decimal(str(theirs))
        if column.lower() in RATIO_COLUMNS:
            return abs(a - b) <= Decimal(str(RATIO_TOLERANCE)) * max(Decimal(1), abs(b))
        return abs(a - b) <= MONEY_TOLERANCE
    if isinstance(ours, str) and isinstance(theirs, str):
        return ours.rstrip() == theirs.rstrip()
    return bool(ours == theirs)


def _sort_value(value: Any, descending: bool) -> tuple[Any, ...]:
    """A sortable key; numbers rounded to the cent so that both engines' values fall on the same key."""
    if value is None:
        return (1,)
    if isinstance(value, (int, float, Decimal)):
        number = round(float(value), 2)
        return (0, -number if descending else number)
    text = str(value)
    if descending:
        return (0, tuple(-ord(c) for c in text))
    return (0, text)


def _canonical(rows: list[tuple[Any, ...]], keys: list[tuple[int, bool]]) -> list[tuple[Any, ...]]:
    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        ordered = tuple(_sort_value(row[i], desc) for i, desc in keys)
        rest = tuple(_sort_value(v, False) for v in row)
        return ordered + rest

    return sorted(rows, key=key)


def _first_unsorted(rows: list[tuple[Any, ...]], keys: list[tuple[int, bool]]) -> int | None:
    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(_sort_value(row[i], desc) for i, desc in keys)

    for i in range(1, len(rows)):
        if key(rows[i]) < key(rows[i - 1]):
            return i
    return None


def _cut_tie_group(query: int, rows: list[tuple[Any, ...]], keys: list[tuple[int, bool]]) -> int:
    """How many trailing rows share the last row's ORDER BY keys when the LIMIT was reached (else 0)."""
    if not keys or len(rows) != LIMITS.get(query) or len(rows) < 2:
        return 0
    last = tuple(_sort_value(rows[-1][i], d) for i, d in keys)
    size = 0
    for row in reversed(rows):
        if tuple(_sort_value(row[i], d) for i, d in keys) != last:
            break
        size += 1
    return size if size > 1 else 0


def _show(row: tuple[Any, ...]) -> str:
    return "|".join("NULL" if v is None else str(v) for v in row)


def compare(query: int, ours: ResultSet, reference: ResultSet) -> Check:
    """Check ``ours`` against ``reference`` for TPC-H query ``query`` (see the module docstring)."""
    n_rows = len(ours.rows)
    ours_cols = [c.lower() for c in ours.columns]
    ref_cols = [c.lower() for c in reference.columns]
    if [COLUMN_ALIASES.get(c, c) for c in ours_cols] != [COLUMN_ALIASES.get(c, c) for c in ref_cols]:
        return Check(query, False, n_rows, f"columns {list(ours.columns)} != reference {list(reference.columns)}")
    if n_rows != len(reference.rows):
        return Check(query, False, n_rows, f"{n_rows} rows, reference has {len(reference.rows)}")
    kinds = []
    for i in range(len(ours_cols)):  # a typed side decides; two text sides decide together
        mine, theirs = [row[i] for row in ours.rows], [row[i] for row in reference.rows]
        typed = [v for v in mine + theirs if v is not None and not isinstance(v, str)]
        kinds.append(_kind(typed) if typed else _kind(mine + theirs))
    a_rows, b_rows = _normalise(ours, kinds), _normalise(reference, kinds)
    keys = [(ours_cols.index(name), desc) for name, desc in ORDER_BY.get(query, ())]
    unsorted = _first_unsorted(a_rows, keys)
    if unsorted is not None:
        return Check(query, False, n_rows, f"row {unsorted + 1} is out of ORDER BY order: {_show(a_rows[unsorted])}")
    a_rows, b_rows = _canonical(a_rows, keys), _canonical(b_rows, keys)
    cut = _cut_tie_group(query, b_rows, keys)
    for number, (a, b) in enumerate(zip(a_rows, b_rows, strict=True), start=1):
        columns = [ours_cols[i] for i, _ in keys] if number > len(b_rows) - cut else ours_cols
        for column in columns:
            i = ours_cols.index(column)
            if not values_match(column, a[i], b[i]):
                return Check(
                    query, False, n_rows, f"row {number} column {column}: ours {_show(a)} != reference {_show(b)}"
                )
    return Check(query, True, n_rows)


def compare_all(ours: dict[int, ResultSet], reference: dict[int, ResultSet]) -> list[Check]:
    """Compare every query present in ``ours``; a query missing from the reference fails."""
    checks = []
    for query in sorted(ours):
        if query not in reference:
            checks.append(Check(query, False, len(ours[query].rows), "no reference answer"))
        else:
            checks.append(compare(query, ours[query], reference[query]))
    return checks


def check_results(
    results: dict[int, ResultSet],
    data_path: str | None = None,
    fmt: str = "tbl",
    crypto_mode: str = "auto",
    kms: dict[str, str] | None = None,
    stored_sf: float | None = None,
) -> dict[str, list[Check]]:
    """Check ``results`` against DuckDB over the same data and/or DuckDB's stored answers at ``stored_sf``."""
    from . import reference

    checks: dict[str, list[Check]] = {}
    if data_path is not None:
        answers = reference.reference_answers(data_path, fmt, crypto_mode, kms, sorted(results))
        checks["duckdb on the same data"] = compare_all(results, answers)
    if stored_sf is not None:
        con = reference.connect()
        try:
            stored = reference.stored_answers(con, stored_sf)
        finally:
            con.close()
        checks[f"duckdb tpch_answers() SF {stored_sf:g}"] = compare_all(results, stored)
    return checks
