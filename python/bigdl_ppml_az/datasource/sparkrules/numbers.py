"""Spark's CSV number and boolean rules (Java's parsers), for reading values and for inferring column types.

Spark converts a CSV value with the JVM's own parsers, whose grammars differ from pyarrow's: ``Integer.parseInt``
and ``Long.parseLong`` take a sign and any Unicode decimal digits (``"١٢"`` is 12) but no spaces;
``Double.parseDouble`` trims characters up to U+0020 and takes ``NaN``, ``Infinity``, hex floats and an
``f``/``d`` suffix, but not ``nan`` or ``inf``; Spark adds its ``nanValue``/``positiveInf``/``negativeInf``
strings (``NaN``, ``Inf``, ``-Inf``); decimals are ``new BigDecimal(value.replaceAll(",", ""))`` rounded
HALF_UP to the column's scale (inference's parser keeps the commas, so ``1,000`` infers string); booleans
are ``true``/``false`` in any case. pyarrow's vectorized casts are used when every value has the plain syntax
both agree on; other columns are converted value by value here (hand-written because no library implements
Java's grammars).

Inference follows Spark's ``CSVInferSchema``: each value is the narrowest of int, bigint, decimal(p,0) (a
BigDecimal with scale <= 0 and at most 38 digits), double, boolean; columns join as Spark's
``compatibleType`` does (integers and decimals widen to a decimal that holds both, to double beyond 38 digits).
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.types import BooleanType, DataType, DecimalType, DoubleType, IntegerType, LongType

from ..lines import arrow_view

NAN_VALUE, POSITIVE_INF, NEGATIVE_INF = "NaN", "Inf", "-Inf"  # Spark's defaults of nanValue, positiveInf...
SPECIALS = (NAN_VALUE, POSITIVE_INF, NEGATIVE_INF)  # (nanValue, positiveInf, negativeInf) as ReadSettings has them
_JAVA_INTEGER = re.compile(r"[+-]?\d+")  # \d: Unicode decimal digits, as Character.digit(c, 10)
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_JAVA_BIGDECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_JAVA_DOUBLE = re.compile(
    r"[+-]?(?:NaN|Infinity|(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)[fFdD]?)"
)  # FloatingDecimal.readJavaFormatString's grammar (no suffix after NaN or Infinity)
_JAVA_TRIM = "".join(chr(c) for c in range(0x21))
_PLAIN_INTEGER = r"^-?[0-9]{1,18}$"  # pyarrow's cast and Java agree on these
_PLAIN_DOUBLE = r"^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,2})?$"
_PLAIN_DECIMAL = r"^-?[0-9]{1,38}(?:\.[0-9]{1,38})?$"
_BOUNDS = {8: (-(1 << 7), (1 << 7) - 1), 16: (-(1 << 15), (1 << 15) - 1), 32: (-(1 << 31), (1 << 31) - 1),
           64: (-(1 << 63), (1 << 63) - 1)}  # fmt: skip


def java_integer(value: str, bits: int = 32) -> int | None:
    """``Integer.parseInt`` / ``Long.parseLong`` (``bits`` 32 / 64); None where Java throws."""
    if not _JAVA_INTEGER.fullmatch(value):
        return None
    number = int(value)
    lo, hi = _BOUNDS[bits]
    return number if lo <= number <= hi else None


def java_double(value: str) -> float | None:
    """``Double.parseDouble``; None where Java throws."""
    text = value.strip(_JAVA_TRIM)
    if not _JAVA_DOUBLE.fullmatch(text):
        return None
    if text[-1] in "fFdD":  # the grammar puts a suffix only after digits (a hex float's after its exponent)
        text = text[:-1]
    body = text.lstrip("+-")
    if body.startswith(("0x", "0X")):
        number = float.fromhex(body)
        return -number if text.startswith("-") else number
    return float(text)  # NaN, Infinity and decimal syntax: Python's float() takes the same spellings


def spark_double(value: str, specials: tuple[str, str, str] = SPECIALS) -> float | None:
    """Spark's CSV double: its ``nanValue``/``positiveInf``/``negativeInf`` strings first, then ``toDouble``
    (which still takes Java's own ``NaN`` and ``Infinity``)."""
    nan, positive, negative = specials
    if value == nan:
        return math.nan
    if value == positive:
        return math.inf
    if value == negative:
        return -math.inf
    return java_double(value)


def java_decimal(value: str, commas: bool = True) -> decimal.Decimal | None:
    """Spark's decimal parser for reads (locale en-US): ``new BigDecimal(value.replaceAll(",", ""))``;
    ``commas`` False: inference's parser, plain ``new BigDecimal(value)`` (so ``1,000`` infers string)."""
    text = value.replace(",", "") if commas else value
    if not _JAVA_BIGDECIMAL.fullmatch(text):
        return None
    mantissa, _, exponent = text.lower().partition("e")
    if len(exponent.lstrip("+-0")) > 10:
        return None  # beyond any int exponent (and int() of very long digit strings is refused)
    exp = int(exponent) if exponent else 0
    scale = len(mantissa.partition(".")[2]) - exp
    if not (_INT_MIN <= exp <= _INT_MAX and _INT_MIN <= scale <= _INT_MAX):
        return None  # BigDecimal's exponent and scale are Java ints: NumberFormatException, so Spark's null
    return decimal.Decimal(text)


def spark_decimal(value: str, precision: int, scale: int) -> decimal.Decimal | None:
    """``Decimal(parsed, precision, scale)``: HALF_UP to ``scale``; None when more than ``precision`` digits."""
    number = java_decimal(value)
    if number is None:
        return None
    context = decimal.Context(prec=200, rounding=decimal.ROUND_HALF_UP)
    try:
        rounded = number.quantize(decimal.Decimal(1).scaleb(-scale), context=context)
    except decimal.InvalidOperation:  # far more digits than any decimal column holds ("1e309")
        return None
    digits = len(rounded.as_tuple().digits)
    return rounded if max(digits, scale) <= precision else None


def java_boolean(value: str) -> bool | None:
    """Scala's ``toBoolean``: ``true``/``false`` ignoring case."""
    lowered = value.lower()
    return True if lowered == "true" else False if lowered == "false" else None


def _all_match(values: pa.Array, pattern: str) -> bool:
    return bool(pc.all(pc.or_(pc.match_substring_regex(values, pattern), pc.is_null(values))).as_py())


def convert(values: pa.Array, target: pa.DataType, specials: tuple[str, str, str] = SPECIALS) -> pa.Array | None:
    """String values (nulls already applied) -> ``target`` by Spark's rules, nulls where Spark's conversion
    throws; None for a target this module does not handle (strings, dates, timestamps). ``specials``: the
    ``nanValue``, ``positiveInf`` and ``negativeInf`` strings of float and double columns."""
    if pa.types.is_boolean(target):
        lowered = pc.ascii_lower(values)
        unknown = pa.scalar(None, pa.bool_())
        return pc.if_else(pc.equal(lowered, "true"), True, pc.if_else(pc.equal(lowered, "false"), False, unknown))
    parse: Callable[[str], Any]
    plain: str | None = None
    if pa.types.is_integer(target):
        bits = target.bit_width
        plain = _PLAIN_INTEGER
        parse = lambda v: java_integer(v, bits)  # noqa: E731
    elif pa.types.is_floating(target):
        # a special string that looks like a plain number ("1" as nanValue) must not take the vectorized cast
        plain = _PLAIN_DOUBLE if specials == SPECIALS else None
        parse = lambda v: spark_double(v, specials)  # noqa: E731
    elif pa.types.is_decimal(target):
        precision, scale = target.precision, target.scale
        plain = _PLAIN_DECIMAL  # pyarrow's cast is exact on these; it raises (value by value below) on rounding
        parse = lambda v: spark_decimal(v, precision, scale)  # noqa: E731  or on overflowing the precision
    else:
        return None
    if plain is not None and _all_match(values, plain):
        try:
            return values.cast(target)
        except pa.ArrowInvalid:  # out of range: value by value below
            pass
    out = [None if v is None else parse(v) for v in values.to_pylist()]
    return pa.array(out, target)


def padded_field(chunk: bytes, sep: str) -> bool:
    """Whether a whole field is a number with spaces or tabs around it, which pyarrow's integer and decimal
    parsers accept and Java's refuse (one RE2 search: linear, no backtracking; cached by pyarrow). Text that only
    ends in a digit or a dot before a space (``wake. |`` in TPC-H comments) does not count: pyarrow would not
    read it as a number, so it cannot slip through the fast path."""
    field = "[\\r\\n" + re.escape(sep) + "]"
    number = "[+-]?[0-9.][0-9.eE+-]*"  # what pyarrow's numeric parsers could take; a whole field, not text
    padded = f"(?:[ \\t]+{number}[ \\t]*|{number}[ \\t]+)"
    pattern = f'(?:^|{field})"?{padded}"?(?:{field}|\\z)'
    return bool(pc.match_substring_regex(arrow_view(chunk), pattern)[0].as_py())


# ---- inference (CSVInferSchema.inferField / compatibleType, numbers and booleans)

def value_type(value: str, specials: tuple[str, str, str] = SPECIALS, start: str = "int") -> DataType | None:
    """The type Spark infers for one non-empty value, or None when it is none of these (a string, a date...);
    ``specials``: the nanValue/positiveInf/negativeInf strings, which infer double. ``start``: where Spark's
    chain of tries begins, which depends on the column's type so far (``CSVInferSchema.inferField``: a column
    already decimal tries the decimal parser first, so ``-2147483649`` is decimal(10,0) there, not bigint)."""
    chain = ("int", "long", "decimal", "double", "boolean")
    for step in chain[chain.index(start):]:
        if step == "int" and java_integer(value, 32) is not None:
            return IntegerType()
        if step == "long" and java_integer(value, 64) is not None:
            return LongType()
        if step == "decimal":
            number = java_decimal(value, commas=False)
            if number is not None:  # scale 0 only: a positive scale tries double, a negative one is refused
                _, digits, exponent = number.as_tuple()
                if exponent == 0 and len(digits) <= 38:
                    return DecimalType(len(digits), 0)
        if step == "double" and (java_double(value) is not None or value in specials):
            return DoubleType()
        if step == "boolean" and java_boolean(value) is not None:
            return BooleanType()
    return None


def _start(so_far: DataType | None) -> str:
    """Spark's inferField: the first try for a column whose type so far is ``so_far``."""
    if isinstance(so_far, LongType):
        return "long"
    if isinstance(so_far, DecimalType):
        return "decimal"
    if isinstance(so_far, DoubleType):
        return "double"
    if isinstance(so_far, BooleanType):
        return "boolean"
    return "int"


def _as_decimal(t: DataType) -> DecimalType | None:
    if isinstance(t, IntegerType):
        return DecimalType(10, 0)
    if isinstance(t, LongType):
        return DecimalType(20, 0)
    return t if isinstance(t, DecimalType) else None


def join(a: DataType, b: DataType) -> DataType | None:
    """Spark's compatibleType for numbers and booleans; None: the column is a string."""
    if a == b:
        return a
    order = (IntegerType, LongType)
    if isinstance(a, order) and isinstance(b, order):
        return LongType()
    if isinstance(a, BooleanType) or isinstance(b, BooleanType):
        return None
    if isinstance(a, DoubleType) or isinstance(b, DoubleType):
        return DoubleType()
    da, db = _as_decimal(a), _as_decimal(b)
    if da is None or db is None:
        return None
    scale = max(da.scale, db.scale)
    whole = max(da.precision - da.scale, db.precision - db.scale)
    return DoubleType() if whole + scale > 38 else DecimalType(whole + scale, scale)


def infer_column(values: list[str], specials: tuple[str, str, str] = SPECIALS) -> tuple[DataType | None, bool]:
    """(type, decided): the numeric or boolean type Spark infers for these non-empty values, folded in order as
    Spark folds a column (each value tried from the column's type so far); decided False when some value is
    none of those (the column is a string, or a date/timestamp the caller decides)."""
    result: DataType | None = None
    for value in values:
        t = value_type(value, specials, _start(result))
        if t is None:
            return None, False
        result = t if result is None else join(result, t)
        if result is None:
            return None, True  # a string
    return result, True


__all__ = ["SPECIALS", "convert", "infer_column", "java_boolean", "java_decimal", "java_double", "java_integer", "join",
           "padded_field", "spark_decimal", "spark_double", "value_type"]  # fmt: skip
