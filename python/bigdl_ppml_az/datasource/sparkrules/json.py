"""Spark's JSON reader semantics in Python: record splitting, schema inference and row conversion.

Mirrors Spark's ``JsonInferSchema`` (types per record, merged by ``compatibleRootType``/``compatibleType`` and
canonicalized) and ``JacksonParser`` + ``FailureSafeParser`` (partial results, ``_corrupt_record``, the three
modes), checked differentially against Spark by ``tests/test_fidelity_json.py``. Parsing uses the C scanner of
the ``json`` module (numbers kept as their source text); only records it refuses, or values whose exact source
text is needed (an object read into a string column), go through the small scanner below, which also accepts
the non-numeric tokens Jackson accepts and Python does not (``+INF``, ``-INF``, ``+Infinity``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    NullType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ...errors import ConfigError, MalformedRecordError
from .datetimes import DatetimeOptions

_LINE = re.compile(r"\r\n|\r|\n")
_WS = " \t\r\n"
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")
_NON_NUMERIC = {"NaN": "NaN", "Infinity": "Infinity", "+Infinity": "Infinity", "-Infinity": "-Infinity",
                "+INF": "Infinity", "-INF": "-Infinity"}  # fmt: skip
_NAN_STRINGS = {"NaN": float("nan"), "+INF": float("inf"), "+Infinity": float("inf"), "Infinity": float("inf"),
                "-INF": float("-inf"), "-Infinity": float("-inf")}  # fmt: skip
_INT64 = (-(1 << 63), (1 << 63) - 1)
_INT_RANGES = {LongType: _INT64, IntegerType: (-(1 << 31), (1 << 31) - 1), ShortType: (-(1 << 15), (1 << 15) - 1),
               ByteType: (-128, 127)}  # fmt: skip
_JAVA_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_WIDE = Context(prec=200, Emax=10**6, Emin=-(10**6))


@dataclass(frozen=True)
class JsonOptions:
    """The JSON options that change parsing, inference or conversion (Spark's names in the comments)."""

    primitives_as_string: bool = False  # primitivesAsString
    prefers_decimal: bool = False  # prefersDecimal
    allow_non_numeric: bool = True  # allowNonNumericNumbers
    allow_control_chars: bool = False  # allowUnquotedControlChars
    allow_single_quotes: bool = True  # allowSingleQuotes
    drop_field_if_all_null: bool = False  # dropFieldIfAllNull
    mode: str = "PERMISSIVE"
    corrupt_column: str = "_corrupt_record"


class Num:
    """A JSON number token as its source text (Jackson keeps it too: the type follows from the text)."""

    __slots__ = ("text", "is_int")

    def __init__(self, text: str, is_int: bool) -> None:
        self.text = text
        self.is_int = is_int


class Obj(list):
    """A JSON object as its (key, value) pairs in order (duplicate keys kept, as Jackson streams them)."""


class Malformed(Exception):
    """The record is not JSON Jackson would parse."""


# ---- parsing ---------------------------------------------------------------------------------------------------


def _decoder(opts: JsonOptions) -> json.JSONDecoder:
    def constant(text: str) -> Num:
        if not opts.allow_non_numeric:
            raise Malformed(text)
        return Num(text, False)

    return json.JSONDecoder(parse_int=lambda t: Num(t, True), parse_float=lambda t: Num(t, False),
                            parse_constant=constant, object_pairs_hook=Obj,
                            strict=not opts.allow_control_chars)  # fmt: skip


class _Scanner:
    """Hand-written JSON scanner for what the C scanner refuses but Jackson (as Spark configures it) accepts, and
    for exact source spans. Same value representation as the C path."""

    def __init__(self, text: str, opts: JsonOptions) -> None:
        self.s = text
        self.opts = opts

    def ws(self, i: int) -> int:
        s = self.s
        while i < len(s) and s[i] in _WS:
            i += 1
        return i

    def value(self, i: int) -> tuple[Any, int]:
        s = self.s
        i = self.ws(i)
        if i >= len(s):
            raise Malformed("end of input")
        c = s[i]
        if c == "{":
            pairs = Obj()
            i = self.ws(i + 1)
            if s.startswith("}", i):
                return pairs, i + 1
            while True:
                if not s.startswith('"', i) and not (self.opts.allow_single_quotes and s.startswith("'", i)):
                    raise Malformed("field name")
                key, i = self._string(i)
                i = self.ws(i)
                if not s.startswith(":", i):
                    raise Malformed(":")
                v, i = self.value(i + 1)
                pairs.append((key, v))
                i = self.ws(i)
                if s.startswith(",", i):
                    i = self.ws(i + 1)
                elif s.startswith("}", i):
                    return pairs, i + 1
                else:
                    raise Malformed(", or }")
        if c == "[":
            items: list[Any] = []
            i = self.ws(i + 1)
            if s.startswith("]", i):
                return items, i + 1
            while True:
                v, i = self.value(i)
                items.append(v)
                i = self.ws(i)
                if s.startswith(",", i):
                    i += 1
                elif s.startswith("]", i):
                    return items, i + 1
                else:
                    raise Malformed(", or ]")
        if c == '"' or (c == "'" and self.opts.allow_single_quotes):
            return self._string(i)
        for word, value in (("true", True), ("false", False), ("null", None)):
            if s.startswith(word, i):
                return value, i + len(word)
        for word in _NON_NUMERIC:
            if s.startswith(word, i):
                if not self.opts.allow_non_numeric:
                    raise Malformed(word)
                return Num(_NON_NUMERIC[word], False), i + len(word)
        m = _NUMBER.match(s, i)
        if m is None:
            raise Malformed("value")
        end = m.end()
        if end < len(s) and (s[end].isdigit() or s[end] in ".eE"):
            raise Malformed("number")  # a leading zero (01), or a broken fraction/exponent
        return Num(m.group(), m.group(1) is None and m.group(2) is None), end

    def _string(self, i: int) -> tuple[str, int]:
        if self.s[i] == '"':
            try:
                return scanstring(self.s, i + 1, not self.opts.allow_control_chars)
            except ValueError:
                if not self.opts.allow_single_quotes:
                    raise Malformed("string") from None
        return self._quoted(i)

    def _quoted(self, i: int) -> tuple[str, int]:
        """A string as Jackson reads it with ALLOW_SINGLE_QUOTES: in ``'`` or ``"``, JSON's escapes plus ``\\'``;
        rewritten as a plain JSON string for the C scanner, which then applies JSON's other rules."""
        s, quote, out, j = self.s, self.s[i], ['"'], i + 1
        while j < len(s) and s[j] != quote:
            if s[j] == "\\" and s.startswith("'", j + 1):
                out.append("'")
                j += 2
            elif s[j] == "\\":
                out.append(s[j : j + 2])
                j += 2
            else:
                out.append('\\"' if s[j] == '"' else s[j])
                j += 1
        if j >= len(s):
            raise Malformed("string")
        out.append('"')
        try:
            value, _ = scanstring("".join(out), 1, not self.opts.allow_control_chars)
        except ValueError:
            raise Malformed("string") from None
        return value, j + 1

    def span(self, i: int, path: tuple[int, ...]) -> tuple[int, int]:
        """[start, end) of the value at ``path`` (pair or element indexes) inside the value starting at ``i``."""
        i = self.ws(i)
        if not path:
            return i, self.value(i)[1]
        s, want = self.s, path[0]
        if s[i] == "{":
            i = self.ws(i + 1)
            n = 0
            while True:
                _, i = self._string(i)
                i = self.ws(i)
                if n == want:
                    return self.span(i + 1, path[1:])
                _, i = self.value(i + 1)
                i = self.ws(self.ws(i) + 1)
                n += 1
        i += 1
        n = 0
        while True:
            if n == want:
                return self.span(i, path[1:])
            _, i = self.value(i)
            i = self.ws(i) + 1
            n += 1


class Record:
    """One record: its text and its first JSON value (Jackson reads the first value; what follows is ignored)."""

    __slots__ = ("text", "start", "value", "empty")

    def __init__(self, text: str, start: int, value: Any, empty: bool) -> None:
        self.text, self.start, self.value, self.empty = text, start, value, empty

    def raw(self, path: tuple[int, ...], opts: JsonOptions) -> str:
        begin, end = _Scanner(self.text, opts).span(self.start, path)
        return self.text[begin:end]


def parse_record(text: str, decoder: json.JSONDecoder, opts: JsonOptions) -> Record:
    """The record's first value; ``empty`` for blank text (Spark skips it); :class:`Malformed` if Jackson fails."""
    start = 1 if text.startswith("\ufeff") else 0  # Jackson drops a byte order mark at the start of its input
    while start < len(text) and text[start] in _WS:
        start += 1
    if start >= len(text):
        return Record(text, start, None, True)
    try:
        value, _ = decoder.raw_decode(text, start)
    except (ValueError, RecursionError):
        try:
            value, _ = _Scanner(text, opts).value(start)
        except RecursionError:
            raise Malformed("too deep") from None
    return Record(text, start, value, False)


def split_lines(text: str) -> list[str]:
    """Hadoop's line reader: records end at ``\\n``, ``\\r\\n`` or ``\\r``; a final terminator adds no record."""
    lines = _LINE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def decode(data: bytes) -> str:
    """UTF-8 as Spark reads it (invalid bytes become U+FFFD in the text; Jackson rejects such records)."""
    return data.decode("utf-8", "replace")


def records(data: bytes, multi_line: bool, file_start: bool = True) -> Iterator[tuple[str, bool]]:
    """(record text, valid UTF-8) per record: lines, or the whole document with ``multiLine``
    (``file_start``: ``data`` begins the file)."""
    if multi_line:
        yield decode(data), _valid_utf8(data)
        return
    text = decode(data)
    if file_start and text.startswith("\ufeff"):
        text = text[1:]  # Hadoop's line reader skips a byte order mark at the start of the file (only there)
    clean = "\ufffd" not in text or _valid_utf8(data)
    for line in split_lines(text):
        yield line, clean or "\ufffd" not in line


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ---- schema inference (JsonInferSchema) ------------------------------------------------------------------------
# Types while inferring are tuples: ("null",) ("long",) ("double",) ("string",) ("boolean",) ("decimal", p, s)
# ("struct", ((name, type), ...)) ("array", type); decimals may carry a negative scale until the end, as in Spark.

NULL, LONG, DOUBLE, STRING, BOOLEAN = ("null",), ("long",), ("double",), ("string",), ("boolean",)
EMPTY_STRUCT: tuple[Any, ...] = ("struct", ())


def _java_key(name: str) -> bytes:
    """Java's String.compareTo orders by UTF-16 code units."""
    return name.encode("utf-16-be", "surrogatepass")


def _decimal_of(digits: str, frac: str, exp: int) -> tuple[int, int]:
    """(precision, scale) of Java's BigDecimal for a mantissa ``digits.frac`` times 10**exp."""
    unscaled = int((digits + frac) or "0")
    return max(len(str(unscaled)), 1), len(frac) - exp


def _number_decimal(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?", text)
    if m is None:
        raise ValueError(text)
    return _decimal_of(m.group(1) or "", m.group(2) or "", int(m.group(3) or 0))


def _decimal_type(precision: int, scale: int) -> tuple[Any, ...]:
    return ("decimal", max(precision, scale), scale) if max(precision, scale) <= 38 else DOUBLE


def infer_value(value: Any, opts: JsonOptions) -> tuple[Any, ...]:
    """Spark's inferField for one parsed value."""
    if value is None:
        return NULL
    if isinstance(value, str):
        if not value:
            return NULL
        if opts.prefers_decimal and _JAVA_DECIMAL.fullmatch(value.replace(",", "")):
            p, s = _number_decimal(value.replace(",", ""))
            if s >= 0 and p >= s and p <= 38:  # Spark's DecimalType(precision, scale) refuses the others
                return ("decimal", p, s)
        return STRING
    if isinstance(value, bool):
        return STRING if opts.primitives_as_string else BOOLEAN
    if isinstance(value, Num):
        if opts.primitives_as_string:
            return STRING
        if value.is_int:
            n = int(value.text)
            if _INT64[0] <= n <= _INT64[1]:
                return LONG
            return _decimal_type(len(value.text.lstrip("-")), 0)
        if opts.prefers_decimal:
            if value.text in ("NaN", "Infinity", "-Infinity"):
                raise Malformed("NaN as decimal")  # getDecimalValue fails: Spark counts a corrupt record
            precision, scale = _number_decimal(value.text)
            if scale < 0:  # Spark's DecimalType refuses it as the record is inferred: the read fails, any mode
                raise ConfigError(f"prefersDecimal infers decimal({precision},{scale}) for a number with an "
                                  "exponent; Spark refuses negative scales too; pass .schema(...)")  # fmt: skip
            return _decimal_type(precision, scale)
        return DOUBLE
    if isinstance(value, Obj):
        fields = sorted(((k, infer_value(v, opts)) for k, v in value), key=lambda f: _java_key(f[0]))
        return ("struct", tuple(fields))
    element = NULL
    for item in value:
        element = compatible(element, infer_value(item, opts))
    return ("array", element)


def _ignore_case_equal(a: str, b: str) -> bool:
    """Java's equalsIgnoreCase (Spark's default, case-insensitive resolver)."""
    return len(a) == len(b) and all(x == y or x.upper() == y.upper() or x.lower() == y.lower()
                                    for x, y in zip(a, b, strict=True))  # fmt: skip


def _tightest(t1: tuple[Any, ...], t2: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """TypeCoercion.findTightestCommonType over the types JSON inference produces."""
    if t1 == t2:
        return t1
    if t1 == NULL:
        return t2
    if t2 == NULL:
        return t1
    k1, k2 = t1[0], t2[0]
    if k1 == "long" and k2 == "decimal" and t2[1] - t2[2] >= 20 and t2[2] >= 0:
        return t2
    if k1 == "decimal" and k2 == "long" and t1[1] - t1[2] >= 20 and t1[2] >= 0:
        return t1
    if {k1, k2} == {"long", "double"}:
        return DOUBLE
    if k1 == k2 == "array":
        inner = _tightest(t1[1], t2[1])
        return None if inner is None else ("array", inner)
    if k1 == k2 == "struct" and len(t1[1]) == len(t2[1]):
        fields = []
        for (n1, f1), (n2, f2) in zip(t1[1], t2[1], strict=True):
            merged = _tightest(f1, f2) if _ignore_case_equal(n1, n2) else None
            if merged is None:
                return None
            fields.append((n1, merged))
        return ("struct", tuple(fields))
    return None


def compatible(t1: tuple[Any, ...], t2: tuple[Any, ...]) -> tuple[Any, ...]:
    """JsonInferSchema.compatibleType."""
    tight = _tightest(t1, t2)
    if tight is not None:
        return tight
    k1, k2 = t1[0], t2[0]
    if {k1, k2} == {"double", "decimal"}:
        return DOUBLE
    if k1 == k2 == "decimal":
        scale = max(t1[2], t2[2])
        rng = max(t1[1] - t1[2], t2[1] - t2[2])
        return DOUBLE if rng + scale > 38 else ("decimal", rng + scale, scale)
    if k1 == k2 == "struct":
        return ("struct", _merge_fields(t1[1], t2[1]))
    if k1 == k2 == "array":
        return ("array", compatible(t1[1], t2[1]))
    if k1 == "long" and k2 == "decimal":
        return compatible(("decimal", 20, 0), t2)
    if k1 == "decimal" and k2 == "long":
        return compatible(t1, ("decimal", 20, 0))
    return STRING


def _merge_fields(f1: tuple[Any, ...], f2: tuple[Any, ...]) -> tuple[Any, ...]:
    out, i, j = [], 0, 0
    while i < len(f1) and j < len(f2):
        a, b = _java_key(f1[i][0]), _java_key(f2[j][0])
        if a == b:
            out.append((f1[i][0], compatible(f1[i][1], f2[j][1])))
            i, j = i + 1, j + 1
        elif a < b:
            out.append(f1[i])
            i += 1
        else:
            out.append(f2[j])
            j += 1
    return tuple(out + list(f1[i:]) + list(f2[j:]))


def compatible_root(t1: tuple[Any, ...], t2: tuple[Any, ...], opts: JsonOptions) -> tuple[Any, ...]:
    """JsonInferSchema.compatibleRootType: top-level arrays unwrapped, non-objects mark corrupt records."""
    if t1[0] == "array":
        return compatible_root(t1[1], t2, opts)
    if t2[0] == "array":
        return compatible_root(t1, t2[1], opts)
    if t1[0] == "struct" and t2 == NULL:
        return t1
    if t1 == NULL and t2[0] == "struct":
        return t2
    if t1[0] == "struct" and t2[0] != "struct":
        return _with_corrupt(t1, opts)
    if t2[0] == "struct" and t1[0] != "struct":
        return _with_corrupt(t2, opts)
    return compatible(t1, t2)


def _with_corrupt(struct: tuple[Any, ...], opts: JsonOptions) -> tuple[Any, ...]:
    if opts.mode == "FAILFAST":
        raise MalformedRecordError("malformed JSON record during schema inference with mode=FAILFAST; use "
                                   "mode=PERMISSIVE or DROPMALFORMED, or pass .schema(...)")  # fmt: skip
    if opts.mode == "DROPMALFORMED" or any(n == opts.corrupt_column for n, _ in struct[1]):
        return struct
    fields = sorted([(opts.corrupt_column, STRING), *struct[1]], key=lambda f: _java_key(f[0]))
    return ("struct", tuple(fields))


class Inferrer:
    """Folds records into Spark's root type; :meth:`schema` canonicalizes it into the StructType Spark infers."""

    def __init__(self, opts: JsonOptions) -> None:
        self.opts = opts
        self.decoder = _decoder(opts)
        self.root: tuple[Any, ...] | None = None

    def add(self, text: str, valid_utf8: bool = True) -> None:
        opts = self.opts
        try:
            if not valid_utf8:
                raise Malformed("invalid UTF-8")
            record = parse_record(text, self.decoder, opts)
            t = NULL if record.empty else infer_value(record.value, opts)
        except Malformed:
            if opts.mode == "FAILFAST":
                raise MalformedRecordError("malformed JSON record during schema inference with mode=FAILFAST; "
                                           "use mode=PERMISSIVE or DROPMALFORMED, or pass .schema(...)") from None
            if opts.mode == "DROPMALFORMED":
                return
            t = ("struct", ((opts.corrupt_column, STRING),))
        self.root = t if self.root is None else compatible_root(self.root, t, opts)

    def schema(self) -> StructType:
        root = EMPTY_STRUCT if self.root is None else compatible_root(EMPTY_STRUCT, self.root, self.opts)
        canonical = _canonical(root, self.opts)
        if canonical is None or not isinstance(canonical, StructType):
            return StructType([])
        _check_schema(canonical)
        return canonical


def _canonical(t: tuple[Any, ...], opts: JsonOptions) -> DataType | None:
    kind = t[0]
    if kind == "array":
        inner = _canonical(t[1], opts)
        return None if inner is None else ArrayType(inner, True)
    if kind == "struct":
        fields = [StructField(n, c, True) for n, f in t[1] if n for c in [_canonical(f, opts)] if c is not None]
        return StructType(fields) if fields else None
    if kind == "null":
        return None if opts.drop_field_if_all_null else StringType()
    if kind == "decimal":
        return DecimalType(t[1], t[2])
    return {"long": LongType(), "double": DoubleType(), "string": StringType(), "boolean": BooleanType()}[kind]


def _check_schema(schema: StructType) -> None:
    """What Spark's analysis refuses in an inferred schema: a negative decimal scale, duplicate column names."""
    seen: set[str] = set()
    for f in schema.fields:
        if f.name.lower() in seen:
            raise ConfigError(f"inferred JSON schema has the column {f.name!r} twice (names differ only in case, "
                              "as Spark refuses too); pass .schema(...)")  # fmt: skip
        seen.add(f.name.lower())

    def walk(t: DataType) -> None:
        if isinstance(t, DecimalType) and t.scale < 0:
            raise ConfigError(f"inferred JSON type decimal({t.precision},{t.scale}) has a negative scale, which "
                              "Spark refuses too (prefersDecimal with exponents); pass .schema(...)")  # fmt: skip
        if isinstance(t, StructType):
            for f in t.fields:
                walk(f.dataType)
        if isinstance(t, ArrayType):
            walk(t.elementType)

    walk(schema)


def infer_schema(data: bytes, opts: JsonOptions, multi_line: bool) -> StructType:
    inferrer = Inferrer(opts)
    for text, valid in records(data, multi_line):
        inferrer.add(text, valid)
    return inferrer.schema()


# ---- row conversion (JacksonParser + FailureSafeParser) --------------------------------------------------------


class _Bad(Exception):
    """A value that does not convert (Jackson's converter throws; the nearest object catches it)."""


class _Partial(Exception):
    """A container converted with some bad parts: the part that did convert."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


class RowConverter:
    """Records -> rows of a schema (the corrupt-record column excluded), as Spark's JSON reader yields them."""

    def __init__(self, schema: StructType, opts: JsonOptions, datetimes: DatetimeOptions | None = None) -> None:
        self.schema = schema
        self.opts = opts
        self.decoder = _decoder(opts)
        _check_types(schema)
        # date/timestamp columns: a JSON string parsed as Spark's JacksonParser does, with the same formatters
        # (and default-pattern fallback) as the CSV reader (:mod:`.sparkrules.datetimes`)
        self._dates = (datetimes or DatetimeOptions(None, None, None, True, "UTC")).date_parser()
        self._timestamps = (datetimes or DatetimeOptions(None, None, None, True, "UTC")).timestamp_parser()

    def rows(self, text: str, valid_utf8: bool = True) -> tuple[list[tuple[Any, ...]], bool]:
        """(rows, bad): a bad record gives its partial rows, or one all-null row when nothing converted."""
        width = len(self.schema.fields)
        try:
            if not valid_utf8:
                raise Malformed("invalid UTF-8")
            record = parse_record(text, self.decoder, self.opts)
        except Malformed:
            return [(None,) * width], True
        if record.empty:
            return [], False
        value = record.value
        try:
            if isinstance(value, Obj):
                try:
                    return [self._object(value, self.schema, record, ())], False
                except _Partial as partial:
                    return [partial.value], True
            if isinstance(value, list):
                return self._root_array(value, record)
            raise _Bad  # null or a scalar at the top level
        except _Bad:
            return [(None,) * width], True

    def _root_array(self, items: list[Any], record: Record) -> tuple[list[tuple[Any, ...]], bool]:
        rows: list[tuple[Any, ...]] = []
        bad = False
        for i, item in enumerate(items):
            if not isinstance(item, Obj):
                raise _Bad
            try:
                rows.append(self._object(item, self.schema, record, (i,)))
            except _Partial as partial:
                bad = True
                rows.append(partial.value)
        return rows, bad

    def _object(self, pairs: Obj, schema: StructType, record: Record, path: tuple[int, ...]) -> tuple[Any, ...]:
        row: list[Any] = [None] * len(schema.fields)
        index = _index(schema)
        bad = False
        for n, (key, value) in enumerate(pairs):
            i = index.get(key)
            if i is None:
                continue
            try:
                row[i] = self._value(value, schema.fields[i].dataType, record, (*path, n))
            except _Partial as partial:
                bad = True
                row[i] = partial.value
            except _Bad:
                bad = True
        if bad:
            raise _Partial(tuple(row))
        return tuple(row)

    def _value(self, value: Any, t: DataType, record: Record, path: tuple[int, ...]) -> Any:
        if value is None or isinstance(t, NullType):
            return None
        if isinstance(t, StringType):
            if isinstance(value, str):
                return value
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, Num) and value.text not in ("Infinity", "-Infinity"):
                return value.text
            return record.raw(path, self.opts)  # Spark keeps the source text: objects, arrays, +INF as written
        if isinstance(value, str) and not value:
            raise _Bad  # Spark refuses empty strings for every type but string
        if isinstance(t, StructType):
            if not isinstance(value, Obj):
                raise _Bad
            return self._object(value, t, record, path)
        if isinstance(t, ArrayType):
            if not isinstance(value, list) or isinstance(value, Obj):
                raise _Bad
            return self._array(value, t.elementType, record, path)
        if isinstance(t, BooleanType):
            if isinstance(value, bool):
                return value
            raise _Bad
        if isinstance(t, (LongType, IntegerType, ShortType, ByteType)):
            if isinstance(value, Num) and value.is_int:
                n = int(value.text)
                lo, hi = _INT_RANGES[type(t)]
                if lo <= n <= hi:
                    return n
            raise _Bad
        if isinstance(t, (DoubleType, FloatType)):
            if isinstance(value, Num):
                return float(value.text)
            if isinstance(value, str) and self.opts.allow_non_numeric and value in _NAN_STRINGS:
                return _NAN_STRINGS[value]
            raise _Bad
        if isinstance(t, DecimalType):
            return _to_decimal(value, t)
        if isinstance(t, DateType) and isinstance(value, str) and value and not isinstance(value, Obj):
            days = self._dates(value)
            if days is not None:
                return _EPOCH_DAY + timedelta(days=days)
        if isinstance(t, TimestampType) and isinstance(value, str) and value:
            micros = self._timestamps(value)
            if micros is not None:
                return _EPOCH + timedelta(microseconds=micros)
        if isinstance(t, TimestampType) and isinstance(value, Num) and value.is_int:  # Spark: epoch seconds
            seconds = int(value.text)
            if -(1 << 63) // 1_000_000 <= seconds <= ((1 << 63) - 1) // 1_000_000:
                try:
                    return _EPOCH + timedelta(seconds=seconds)
                except OverflowError:  # beyond Python's datetime range: not representable here
                    raise _Bad from None
        raise _Bad

    def _array(self, items: list[Any], t: DataType, record: Record, path: tuple[int, ...]) -> list[Any]:
        out: list[Any] = []
        bad = False
        for n, item in enumerate(items):
            try:
                out.append(self._value(item, t, record, (*path, n)))
            except _Partial as partial:  # a non-partial failure goes up to the nearest object
                bad = True
                out.append(partial.value)
        if bad:
            raise _Partial(out)
        return out


_INDEXES: dict[int, tuple[StructType, dict[str, int]]] = {}


def _index(schema: StructType) -> dict[str, int]:
    """Field name -> position (Spark's getFieldIndex: exact names, the first of duplicates)."""
    found = _INDEXES.get(id(schema))
    if found is None or found[0] is not schema:
        index: dict[str, int] = {}
        for i, f in enumerate(schema.fields):
            index.setdefault(f.name, i)
        found = _INDEXES[id(schema)] = (schema, index)
    return found[1]


def _to_decimal(value: Any, t: DecimalType) -> Decimal:
    if isinstance(value, Num):
        if value.text in ("NaN", "Infinity", "-Infinity"):
            raise _Bad
        text = value.text
    elif isinstance(value, str) and _JAVA_DECIMAL.fullmatch(value.replace(",", "")):
        text = value.replace(",", "")
    else:
        raise _Bad
    try:
        number = Decimal(text).quantize(Decimal(1).scaleb(-t.scale), rounding=ROUND_HALF_UP, context=_WIDE)
    except InvalidOperation:
        raise _Bad from None
    if len(number.as_tuple().digits) > t.precision:  # Spark: the rounded value's precision must fit
        raise _Bad
    return number


_SUPPORTED = (StringType, LongType, IntegerType, ShortType, ByteType, DoubleType, FloatType, BooleanType,
              DecimalType, StructType, ArrayType, NullType, DateType, TimestampType)  # fmt: skip
_EPOCH_DAY = dt.date(1970, 1, 1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _check_types(t: DataType) -> None:
    """Types this converter implements as Spark does; others are refused (not converted differently)."""
    if isinstance(t, StructType):
        for f in t.fields:
            _check_types(f.dataType)
    elif isinstance(t, ArrayType):
        _check_types(t.elementType)
    elif not isinstance(t, _SUPPORTED):
        raise ConfigError(f"format=json: column type {t.simpleString()} is not read with Spark's JSON "
                          "semantics yet; use string, numeric, boolean, decimal, date, timestamp, struct or "
                          "array columns")  # fmt: skip


__all__ = ["Inferrer", "JsonOptions", "Malformed", "RowConverter", "infer_schema", "parse_record", "records",
           "split_lines"]  # fmt: skip
