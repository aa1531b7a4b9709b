"""The 22 TPC-H queries (spec clause 2.4) written with the DataFrame API.

Each ``qNN(t, ...)`` takes :class:`~bigdl_ppml_az.tpch.tables.Tables` and the query's substitution parameters,
which default to the spec's validation values (clause 2.4.x.4), and returns a DataFrame with the spec's output
columns, ordering and row limit. Money stays DECIMAL (literals are ``Decimal``), so sums are exact like the
spec's; correlated subqueries become joins with pre-aggregated tables, EXISTS/NOT EXISTS semi/anti joins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from .tables import Tables


def _date(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _add_months(day: dt.date, months: int) -> dt.date:
    total = day.month - 1 + months
    return day.replace(year=day.year + total // 12, month=total % 12 + 1)


def _lit(value: object) -> Column:
    return F.lit(value)


def _disc_price() -> Column:
    """l_extendedprice * (1 - l_discount): the discounted revenue of one line item."""
    return F.col("l_extendedprice") * (_lit(1) - F.col("l_discount"))


def q01(t: Tables, delta: int = 90) -> DataFrame:
    """Pricing summary report: line items shipped up to DELTA days before 1998-12-01."""
    cutoff = dt.date(1998, 12, 1) - dt.timedelta(days=delta)
    disc = _disc_price()
    return (
        t.lineitem.where(F.col("l_shipdate") <= _lit(cutoff))
        .groupBy("l_returnflag", "l_linestatus")
        .agg(
            F.sum("l_quantity").alias("sum_qty"),
            F.sum("l_extendedprice").alias("sum_base_price"),
            F.sum(disc).alias("sum_disc_price"),
            F.sum(disc * (_lit(1) + F.col("l_tax"))).alias("sum_charge"),
            F.avg("l_quantity").alias("avg_qty"),
            F.avg("l_extendedprice").alias("avg_price"),
            F.avg("l_discount").alias("avg_disc"),
            F.count(F.lit(1)).alias("count_order"),
        )
        .orderBy("l_returnflag", "l_linestatus")
    )


def _suppliers_in_region(t: Tables, region: str) -> DataFrame:
    nations = t.nation.join(t.region.where(F.col("r_name") == region), F.col("n_regionkey") == F.col("r_regionkey"))
    return t.supplier.join(nations, F.col("s_nationkey") == F.col("n_nationkey"))


def q02(t: Tables, size: int = 15, type: str = "BRASS", region: str = "EUROPE") -> DataFrame:
    """Minimum cost supplier: for parts of SIZE and TYPE, the suppliers in REGION offering the lowest cost."""
    suppliers = _suppliers_in_region(t, region).select(
        "s_suppkey", "s_name", "s_address", "s_phone", "s_acctbal", "s_comment", "n_name"
    )
    offers = t.partsupp.join(suppliers, F.col("ps_suppkey") == F.col("s_suppkey"))
    parts = t.part.where((F.col("p_size") == size) & F.col("p_type").endswith(type)).select("p_partkey", "p_mfgr")
    candidates = offers.join(parts, F.col("ps_partkey") == F.col("p_partkey"))
    cheapest = offers.groupBy("ps_partkey").agg(F.min("ps_supplycost").alias("min_cost"))
    return (
        candidates.join(cheapest, "ps_partkey")
        .where(F.col("ps_supplycost") == F.col("min_cost"))
        .select("s_acctbal", "s_name", "n_name", "p_partkey", "p_mfgr", "s_address", "s_phone", "s_comment")
        .orderBy(F.col("s_acctbal").desc(), "n_name", "s_name", "p_partkey")
        .limit(100)
    )


def q03(t: Tables, segment: str = "BUILDING", date: str | dt.date = "1995-03-15") -> DataFrame:
    """Shipping priority: the 10 unshipped orders of SEGMENT with the highest revenue as of DATE."""
    day = _lit(_date(date))
    customers = t.customer.where(F.col("c_mktsegment") == segment).select("c_custkey")
    orders = t.orders.where(F.col("o_orderdate") < day).join(customers, F.col("o_custkey") == F.col("c_custkey"))
    items = t.lineitem.where(F.col("l_shipdate") > day)
    return (
        items.join(orders, F.col("l_orderkey") == F.col("o_orderkey"))
        .groupBy("l_orderkey", "o_orderdate", "o_shippriority")
        .agg(F.sum(_disc_price()).alias("revenue"))
        .select("l_orderkey", "revenue", "o_orderdate", "o_shippriority")
        .orderBy(F.col("revenue").desc(), "o_orderdate")
        .limit(10)
    )


def q04(t: Tables, date: str | dt.date = "1993-07-01") -> DataFrame:
    """Order priority checking: orders of one quarter with at least one line item received late."""
    start = _date(date)
    orders = t.orders.where(
        (F.col("o_orderdate") >= _lit(start)) & (F.col("o_orderdate") < _lit(_add_months(start, 3)))
    )
    late = t.lineitem.where(F.col("l_commitdate") < F.col("l_receiptdate")).select("l_orderkey")
    return (
        orders.join(late, F.col("o_orderkey") == F.col("l_orderkey"), "left_semi")
        .groupBy("o_orderpriority")
        .agg(F.count(F.lit(1)).alias("order_count"))
        .orderBy("o_orderpriority")
    )


def q05(t: Tables, region: str = "ASIA", date: str | dt.date = "1994-01-01") -> DataFrame:
    """Local supplier volume: revenue per nation of REGION where customer and supplier share the nation."""
    start = _date(date)
    suppliers = _suppliers_in_region(t, region).select("s_suppkey", "s_nationkey", "n_name")
    orders = t.orders.where(
        (F.col("o_orderdate") >= _lit(start)) & (F.col("o_orderdate") < _lit(_add_months(start, 12)))
    ).join(t.customer, F.col("o_custkey") == F.col("c_custkey"))
    return (
        t.lineitem.join(orders, F.col("l_orderkey") == F.col("o_orderkey"))
        .join(
            suppliers,
            (F.col("l_suppkey") == F.col("s_suppkey")) & (F.col("c_nationkey") == F.col("s_nationkey")),
        )
        .groupBy("n_name")
        .agg(F.sum(_disc_price()).alias("revenue"))
        .orderBy(F.col("revenue").desc())
    )


def q06(
    t: Tables, date: str | dt.date = "1994-01-01", discount: str | Decimal = "0.06", quantity: int = 24
) -> DataFrame:
    """Forecasting revenue change: revenue from discounts DISCOUNT +- 0.01 on small orders in one year."""
    start = _date(date)
    disc = Decimal(str(discount))
    step = Decimal("0.01")
    return t.lineitem.where(
        (F.col("l_shipdate") >= _lit(start))
        & (F.col("l_shipdate") < _lit(_add_months(start, 12)))
        & F.col("l_discount").between(_lit(disc - step), _lit(disc + step))
        & (F.col("l_quantity") < quantity)
    ).agg(F.sum(F.col("l_extendedprice") * F.col("l_discount")).alias("revenue"))


def _nation_as(t: Tables, key: str, name: str) -> DataFrame:
    return t.nation.select(F.col("n_nationkey").alias(key), F.col("n_name").alias(name))


def q07(t: Tables, nation1: str = "FRANCE", nation2: str = "GERMANY") -> DataFrame:
    """Volume shipping: goods shipped between NATION1 and NATION2 in 1995 and 1996, per year."""
    pair = ((F.col("supp_nation") == nation1) & (F.col("cust_nation") == nation2)) | (
        (F.col("supp_nation") == nation2) & (F.col("cust_nation") == nation1)
    )
    items = t.lineitem.where(F.col("l_shipdate").between(_lit(dt.date(1995, 1, 1)), _lit(dt.date(1996, 12, 31))))
    shipping = (
        items.join(t.supplier, F.col("l_suppkey") == F.col("s_suppkey"))
        .join(t.orders, F.col("l_orderkey") == F.col("o_orderkey"))
        .join(t.customer, F.col("o_custkey") == F.col("c_custkey"))
        .join(_nation_as(t, "supp_nationkey", "supp_nation"), F.col("s_nationkey") == F.col("supp_nationkey"))
        .join(_nation_as(t, "cust_nationkey", "cust_nation"), F.col("c_nationkey") == F.col("cust_nationkey"))
        .where(pair)
        .select("supp_nation", "cust_nation", F.year("l_shipdate").alias("l_year"), _disc_price().alias("volume"))
    )
    return (
        shipping.groupBy("supp_nation", "cust_nation", "l_year")
        .agg(F.sum("volume").alias("revenue"))
        .orderBy("supp_nation", "cust_nation", "l_year")
    )


def q08(t: Tables, nation: str = "BRAZIL", region: str = "AMERICA", type: str = "ECONOMY ANODIZED STEEL") -> DataFrame:
    """National market share: NATION's share of TYPE revenue in REGION, for 1995 and 1996."""
    region_nations = t.nation.join(
        t.region.where(F.col("r_name") == region), F.col("n_regionkey") == F.col("r_regionkey")
    ).select(F.col("n_nationkey").alias("cust_nationkey"))
    customers = t.customer.join(region_nations, F.col("c_nationkey") == F.col("cust_nationkey")).select("c_custkey")
    orders = t.orders.where(F.col("o_orderdate").between(_lit(dt.date(1995, 1, 1)), _lit(dt.date(1996, 12, 31)))).join(
        customers, F.col("o_custkey") == F.col("c_custkey")
    )
    parts = t.part.where(F.col("p_type") == type).select("p_partkey")
    volumes = (
        t.lineitem.join(parts, F.col("l_partkey") == F.col("p_partkey"))
        .join(orders, F.col("l_orderkey") == F.col("o_orderkey"))
        .join(t.supplier, F.col("l_suppkey") == F.col("s_suppkey"))
        .join(_nation_as(t, "supp_nationkey", "nation"), F.col("s_nationkey") == F.col("supp_nationkey"))
        .select(F.year("o_orderdate").alias("o_year"), _disc_price().alias("volume"), "nation")
    )
    share = F.sum(F.when(F.col("nation") == nation, F.col("volume")).otherwise(_lit(0))) / F.sum("volume")
    return volumes.groupBy("o_year").agg(share.alias("mkt_share")).orderBy("o_year")


def q09(t: Tables, color: str = "green") -> DataFrame:
    """Product type profit measure: profit on parts named with COLOR, per supplier nation and year."""
    parts = t.part.where(F.col("p_name").contains(color)).select("p_partkey")
    amount = _disc_price() - F.col("ps_supplycost") * F.col("l_quantity")
    profit = (
        t.lineitem.join(parts, F.col("l_partkey") == F.col("p_partkey"))
        .join(
            t.partsupp,
            (F.col("l_suppkey") == F.col("ps_suppkey")) & (F.col("l_partkey") == F.col("ps_partkey")),
        )
        .join(t.supplier, F.col("l_suppkey") == F.col("s_suppkey"))
        .join(t.orders, F.col("l_orderkey") == F.col("o_orderkey"))
        .join(t.nation, F.col("s_nationkey") == F.col("n_nationkey"))
        .select(F.col("n_name").alias("nation"), F.year("o_orderdate").alias("o_year"), amount.alias("amount"))
    )
    return (
        profit.groupBy("nation", "o_year")
        .agg(F.sum("amount").alias("sum_profit"))
        .orderBy("nation", F.col("o_year").desc())
    )


def q10(t: Tables, date: str | dt.date = "1993-10-01") -> DataFrame:
    """Returned item reporting: the 20 customers losing the most revenue to returns in one quarter."""
    start = _date(date)
    orders = t.orders.where(
        (F.col("o_orderdate") >= _lit(start)) & (F.col("o_orderdate") < _lit(_add_months(start, 3)))
    )
    returned = t.lineitem.where(F.col("l_returnflag") == "R")
    return (
        returned.join(orders, F.col("l_orderkey") == F.col("o_orderkey"))
        .join(t.customer, F.col("o_custkey") == F.col("c_custkey"))
        .join(t.nation, F.col("c_nationkey") == F.col("n_nationkey"))
        .groupBy("c_custkey", "c_name", "c_acctbal", "c_phone", "n_name", "c_address", "c_comment")
        .agg(F.sum(_disc_price()).alias("revenue"))
        .select("c_custkey", "c_name", "revenue", "c_acctbal", "n_name", "c_address", "c_phone", "c_comment")
        .orderBy(F.col("revenue").desc())
        .limit(20)
    )


def q11(t: Tables, nation: str = "GERMANY", fraction: str | Decimal = "0.0001") -> DataFrame:
    """Important stock identification: parts whose stock value in NATION exceeds FRACTION of the total.

    The spec scales FRACTION as 0.0001 / SF; the default is its validation value (and what the reference
    engine's query text uses), so pass ``fraction`` explicitly for spec-conformant runs at other scales.
    """
    stock = (
        t.partsupp.join(t.supplier, F.col("ps_suppkey") == F.col("s_suppkey"))
        .join(t.nation.where(F.col("n_name") == nation), F.col("s_nationkey") == F.col("n_nationkey"))
        .select("ps_partkey", (F.col("ps_supplycost") * F.col("ps_availqty")).alias("stock_value"))
    )
    threshold = stock.agg((F.sum("stock_value") * _lit(Decimal(str(fraction)))).alias("threshold"))
    return (
        stock.groupBy("ps_partkey")
        .agg(F.sum("stock_value").alias("value"))
        .crossJoin(threshold)
        .where(F.col("value") > F.col("threshold"))
        .select("ps_partkey", "value")
        .orderBy(F.col("value").desc())
    )


def q12(t: Tables, shipmode1: str = "MAIL", shipmode2: str = "SHIP", date: str | dt.date = "1994-01-01") -> DataFrame:
    """Shipping modes and order priority: late receipts by ship mode, split by high/low order priority."""
    start = _date(date)
    items = t.lineitem.where(
        F.col("l_shipmode").isin(shipmode1, shipmode2)
        & (F.col("l_commitdate") < F.col("l_receiptdate"))
        & (F.col("l_shipdate") < F.col("l_commitdate"))
        & (F.col("l_receiptdate") >= _lit(start))
        & (F.col("l_receiptdate") < _lit(_add_months(start, 12)))
    )
    high = F.col("o_orderpriority").isin("1-URGENT", "2-HIGH")
    return (
        items.join(t.orders, F.col("l_orderkey") == F.col("o_orderkey"))
        .groupBy("l_shipmode")
        .agg(
            F.sum(F.when(high, 1).otherwise(0)).alias("high_line_count"),
            F.sum(F.when(high, 0).otherwise(1)).alias("low_line_count"),
        )
        .orderBy("l_shipmode")
    )


def q13(t: Tables, word1: str = "special", word2: str = "requests") -> DataFrame:
    """Customer distribution: how many customers have 0, 1, 2... orders not mentioning WORD1...WORD2."""
    orders = t.orders.where(~F.col("o_comment").like(f"%{word1}%{word2}%")).select("o_orderkey", "o_custkey")
    per_customer = (
        t.customer.join(orders, F.col("c_custkey") == F.col("o_custkey"), "left")
        .groupBy("c_custkey")
        .agg(F.count("o_orderkey").alias("c_count"))
    )
    return (
        per_customer.groupBy("c_count")
        .agg(F.count(F.lit(1)).alias("custdist"))
        .orderBy(F.col("custdist").desc(), F.col("c_count").desc())
    )


def q14(t: Tables, date: str | dt.date = "1995-09-01") -> DataFrame:
    """Promotion effect: percentage of one month's revenue that came from promotional parts."""
    start = _date(date)
    items = t.lineitem.where((F.col("l_shipdate") >= _lit(start)) & (F.col("l_shipdate") < _lit(_add_months(start, 1))))
    promo = F.sum(F.when(F.col("p_type").startswith("PROMO"), _disc_price()).otherwise(_lit(0)))
    return items.join(t.part, F.col("l_partkey") == F.col("p_partkey")).agg(
        (_lit(Decimal("100.00")) * promo / F.sum(_disc_price())).alias("promo_revenue")
    )


def q15(t: Tables, date: str | dt.date = "1996-01-01") -> DataFrame:
    """Top supplier: the supplier(s) with the highest revenue in one quarter (the spec's revenue view)."""
    start = _date(date)
    revenue = (
        t.lineitem.where((F.col("l_shipdate") >= _lit(start)) & (F.col("l_shipdate") < _lit(_add_months(start, 3))))
        .groupBy(F.col("l_suppkey").alias("supplier_no"))
        .agg(F.sum(_disc_price()).alias("total_revenue"))
    )
    top = revenue.agg(F.max("total_revenue").alias("max_revenue"))
    return (
        t.supplier.join(revenue, F.col("s_suppkey") == F.col("supplier_no"))
        .join(top, F.col("total_revenue") == F.col("max_revenue"))
        .select("s_suppkey", "s_name", "s_address", "s_phone", "total_revenue")
        .orderBy("s_suppkey")
    )


def q16(
    t: Tables,
    brand: str = "Brand#45",
    type: str = "MEDIUM POLISHED",
    sizes: Sequence[int] = (49, 14, 23, 45, 19, 3, 36, 9),
) -> DataFrame:
    """Parts/supplier relationship: suppliers able to supply parts not of BRAND/TYPE in SIZES, without complaints."""
    parts = t.part.where((F.col("p_brand") != brand) & ~F.col("p_type").startswith(type) & F.col("p_size").isin(*sizes))
    complained = t.supplier.where(F.col("s_comment").like("%Customer%Complaints%")).select("s_suppkey")
    return (
        t.partsupp.join(complained, F.col("ps_suppkey") == F.col("s_suppkey"), "left_anti")
        .join(parts, F.col("ps_partkey") == F.col("p_partkey"))
        .groupBy("p_brand", "p_type", "p_size")
        .agg(F.countDistinct("ps_suppkey").alias("supplier_cnt"))
        .orderBy(F.col("supplier_cnt").desc(), "p_brand", "p_type", "p_size")
    )


def q17(t: Tables, brand: str = "Brand#23", container: str = "MED BOX") -> DataFrame:
    """Small-quantity-order revenue: yearly loss if orders under 20% of the part's average were dropped."""
    parts = t.part.where((F.col("p_brand") == brand) & (F.col("p_container") == container)).select("p_partkey")
    items = t.lineitem.join(parts, F.col("l_partkey") == F.col("p_partkey"))
    limits = items.groupBy(F.col("l_partkey").alias("avg_partkey")).agg(
        (_lit(Decimal("0.2")) * F.avg("l_quantity")).alias("qty_limit")
    )
    return (
        items.join(limits, F.col("l_partkey") == F.col("avg_partkey"))
        .where(F.col("l_quantity") < F.col("qty_limit"))
        .agg((F.sum("l_extendedprice") / _lit(Decimal("7.0"))).alias("avg_yearly"))
    )


def q18(t: Tables, quantity: int = 300) -> DataFrame:
    """Large volume customer: the 100 biggest orders whose total quantity exceeds QUANTITY."""
    big = (
        t.lineitem.groupBy(F.col("l_orderkey").alias("big_orderkey"))
        .agg(F.sum("l_quantity").alias("total_qty"))
        .where(F.col("total_qty") > quantity)
        .select("big_orderkey")
    )
    orders = t.orders.join(big, F.col("o_orderkey") == F.col("big_orderkey"), "left_semi")
    return (
        orders.join(t.customer, F.col("o_custkey") == F.col("c_custkey"))
        .join(t.lineitem, F.col("o_orderkey") == F.col("l_orderkey"))
        .groupBy("c_name", "c_custkey", "o_orderkey", "o_orderdate", "o_totalprice")
        .agg(F.sum("l_quantity").alias("sum(l_quantity)"))
        .orderBy(F.col("o_totalprice").desc(), "o_orderdate")
        .limit(100)
    )


def q19(
    t: Tables,
    brand1: str = "Brand#12",
    brand2: str = "Brand#23",
    brand3: str = "Brand#34",
    quantity1: int = 1,
    quantity2: int = 10,
    quantity3: int = 20,
) -> DataFrame:
    """Discounted revenue: air-shipped, hand-delivered parts of three brand/container/size/quantity kinds."""

    def kind(brand: str, containers: tuple[str, ...], top: int, quantity: int) -> Column:
        return (
            (F.col("p_brand") == brand)
            & F.col("p_container").isin(*containers)
            & F.col("l_quantity").between(quantity, quantity + 10)
            & F.col("p_size").between(1, top)
        )

    items = t.lineitem.where(
        F.col("l_shipmode").isin("AIR", "AIR REG") & (F.col("l_shipinstruct") == "DELIVER IN PERSON")
    )
    chosen = (
        kind(brand1, ("SM CASE", "SM BOX", "SM PACK", "SM PKG"), 5, quantity1)
        | kind(brand2, ("MED BAG", "MED BOX", "MED PKG", "MED PACK"), 10, quantity2)
        | kind(brand3, ("LG CASE", "LG BOX", "LG PACK", "LG PKG"), 15, quantity3)
    )
    return (
        items.join(t.part, F.col("l_partkey") == F.col("p_partkey"))
        .where(chosen)
        .agg(F.sum(_disc_price()).alias("revenue"))
    )


def q20(t: Tables, color: str = "forest", date: str | dt.date = "1994-01-01", nation: str = "CANADA") -> DataFrame:
    """Potential part promotion: NATION's suppliers holding more than half a year's shipped COLOR parts."""
    start = _date(date)
    parts = t.part.where(F.col("p_name").startswith(color)).select("p_partkey")
    shipped = (
        t.lineitem.where((F.col("l_shipdate") >= _lit(start)) & (F.col("l_shipdate") < _lit(_add_months(start, 12))))
        .groupBy("l_partkey", "l_suppkey")
        .agg((_lit(Decimal("0.5")) * F.sum("l_quantity")).alias("half_qty"))
    )
    excess = (
        t.partsupp.join(parts, F.col("ps_partkey") == F.col("p_partkey"), "left_semi")
        .join(shipped, (F.col("ps_partkey") == F.col("l_partkey")) & (F.col("ps_suppkey") == F.col("l_suppkey")))
        .where(F.col("ps_availqty") > F.col("half_qty"))
        .select("ps_suppkey")
    )
    return (
        t.supplier.join(t.nation.where(F.col("n_name") == nation), F.col("s_nationkey") == F.col("n_nationkey"))
        .join(excess, F.col("s_suppkey") == F.col("ps_suppkey"), "left_semi")
        .select("s_name", "s_address")
        .orderBy("s_name")
    )


def q21(t: Tables, nation: str = "SAUDI ARABIA") -> DataFrame:
    """Suppliers who kept orders waiting: the only late supplier on multi-supplier, fulfilled orders.

    EXISTS (another supplier on the order) is "the order has >= 2 distinct suppliers"; NOT EXISTS (another
    supplier late) is "the late lines of the order come from this supplier only" (this line is late itself).
    """
    late = F.col("l_receiptdate") > F.col("l_commitdate")
    multi = (
        t.lineitem.groupBy(F.col("l_orderkey").alias("m_orderkey"))
        .agg(F.countDistinct("l_suppkey").alias("n_supp"))
        .where(F.col("n_supp") > 1)
    )
    late_items = t.lineitem.where(late).select("l_orderkey", "l_suppkey")
    single_late = (
        late_items.groupBy(F.col("l_orderkey").alias("s_orderkey"))
        .agg(F.countDistinct("l_suppkey").alias("n_late"))
        .where(F.col("n_late") == 1)
    )
    suppliers = t.supplier.join(
        t.nation.where(F.col("n_name") == nation), F.col("s_nationkey") == F.col("n_nationkey")
    ).select("s_suppkey", "s_name")
    return (
        late_items.join(suppliers, F.col("l_suppkey") == F.col("s_suppkey"))
        .join(t.orders.where(F.col("o_orderstatus") == "F"), F.col("l_orderkey") == F.col("o_orderkey"))
        .join(multi, F.col("l_orderkey") == F.col("m_orderkey"), "left_semi")
        .join(single_late, F.col("l_orderkey") == F.col("s_orderkey"), "left_semi")
        .groupBy("s_name")
        .agg(F.count(F.lit(1)).alias("numwait"))
        .orderBy(F.col("numwait").desc(), "s_name")
        .limit(100)
    )


def q22(t: Tables, codes: Sequence[str] = ("13", "31", "23", "29", "30", "18", "17")) -> DataFrame:
    """Global sales opportunity: customers of some country codes with above-average balance and no orders."""
    code = F.substring("c_phone", 1, 2)
    candidates = t.customer.select(code.alias("cntrycode"), "c_custkey", "c_acctbal").where(
        F.col("cntrycode").isin(*codes)
    )
    average = candidates.where(F.col("c_acctbal") > _lit(Decimal("0.00"))).agg(F.avg("c_acctbal").alias("avg_bal"))
    return (
        candidates.crossJoin(average)
        .where(F.col("c_acctbal") > F.col("avg_bal"))
        .join(t.orders, F.col("c_custkey") == F.col("o_custkey"), "left_anti")
        .groupBy("cntrycode")
        .agg(F.count(F.lit(1)).alias("numcust"), F.sum("c_acctbal").alias("totacctbal"))
        .orderBy("cntrycode")
    )


QUERIES: dict[int, Callable[..., DataFrame]] = {
    1: q01, 2: q02, 3: q03, 4: q04, 5: q05, 6: q06, 7: q07, 8: q08, 9: q09, 10: q10, 11: q11,
    12: q12, 13: q13, 14: q14, 15: q15, 16: q16, 17: q17, 18: q18, 19: q19, 20: q20, 21: q21, 22: q22,
}  # fmt: skip


def query(number: int) -> Callable[..., Any]:
    """The function of TPC-H query ``number`` (1..22)."""
    if number not in QUERIES:
        from ..errors import ConfigError

        raise ConfigError(f"TPC-H has queries 1..22, not {number}")
    return QUERIES[number]
