"""Text output (CSV, JSON lines, text) as Spark's own writers produce it, batch by batch; no Spark, no crypto.

The writer (:mod:`.writer`) encrypts whatever this module yields; keeping the byte layout here lets the
fidelity tests compare it with Spark's writers without a data key.

Spark's CSV writer is univocity-parsers 2.9.1's ``CsvWriter`` configured by ``CSVOptions.asWriterSettings``; its
quoting, escaping and trimming rules have quirks no CSV library shares (a value of spaces with
``ignoreLeadingWhiteSpace=false`` comes out as `` \\"\\``), so :class:`_Univocity` restates those rules (our code,
the same decisions) for the values that need them, and values without any special character take a vectorised
pyarrow path. Values become text as Spark's ``toString`` does: Java's ``Double.toString``/``Float.toString``
(JDK 17's, :func:`java_double`), ``BigDecimal.toString``, ``[0A FF]`` for binary.
"""

from __future__ import annotations

import base64
import math
import re
import struct
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, PpmlError
from .options import WriteSettings
from .sparkrules import datetimes as sd


def encode(
    settings: WriteSettings, write: Callable[[bytes], Any], first: pa.RecordBatch, batches: Iterator[pa.RecordBatch]
) -> int:
    """Write every batch (``first`` is included in ``batches``) in ``settings.content_format``; returns rows."""
    fmt = settings.content_format
    rows = 0
    if fmt == "csv":
        csv = _Univocity(settings)
        _check_csv_types(first.schema)
        header = settings.header
        for batch in batches:
            write(csv.batch(_csv_ready(batch, settings), header))
            header = False
            rows += batch.num_rows
        if header:  # no rows at all: Spark still writes the header
            write(csv.batch(_csv_ready(first.slice(0, 0), settings), True))
        return rows
    if fmt == "json":
        render = _JsonRows(first.schema, settings)
        for batch in batches:
            write(render.batch(batch))
            rows += batch.num_rows
        return rows
    for batch in batches:
        lines = [("" if v is None else str(v)) for v in batch.column(0).to_pylist()]
        write("".join(line + settings.line_sep for line in lines).encode("utf-8"))
        rows += batch.num_rows
    return rows


# ------------------------------------------------------------------------------------------------ CSV


def _ws(ch: str) -> bool:
    """univocity's whitespace (skipBitsAsWhitespace: range start -1): every character up to U+0020, NUL too."""
    return ch <= " "


class _Buffer:
    """univocity's WriterCharAppender: characters plus a count of trailing whitespace to drop. ``raw`` copies a
    run as is; ``char`` turns the normalized newline ``\\n`` into the line separator."""

    __slots__ = ("chars", "line_sep", "trailing")

    def __init__(self, line_sep: str) -> None:
        self.chars: list[str] = []
        self.trailing = 0
        self.line_sep = line_sep

    def raw(self, text: str) -> None:
        self.chars.extend(text)

    def char(self, ch: str) -> None:
        self.chars.extend(self.line_sep if ch == "\n" else ch)

    def update_whitespace(self) -> None:
        count = 0
        for ch in reversed(self.chars):
            if not _ws(ch):
                break
            count += 1
        self.trailing = count

    def __len__(self) -> int:
        return len(self.chars) - self.trailing

    def text(self) -> str:
        return "".join(self.chars[: len(self)])


class _Univocity:
    """Spark's CSV writer rules for one file: header, values, rows (see the module docstring)."""

    def __init__(self, s: WriteSettings) -> None:
        self.s = s
        self.sep, self.quote, self.escape, self.line_sep = s.sep, s.quote, s.escape, s.line_sep
        if s.char_to_escape_quote_escaping is not None:
            self.escape_escape = s.char_to_escape_quote_escaping
        else:
            self.escape_escape = "\0" if s.quote == s.escape else s.escape
        self.triggers = set("\r\n" + s.line_sep[:2]) | ({s.quote} if s.escape_quotes else set())
        specials = {s.quote, s.escape, s.sep[0], "\n", "\r", *s.line_sep}
        cls = "".join(f"\\x{{{ord(c):x}}}" for c in sorted(specials))
        edges = []
        if s.ignore_leading:
            edges.append("^[\\x{0}-\\x{20}]")
        if s.ignore_trailing:
            edges.append("[\\x{0}-\\x{20}]$")
        self.slow_pattern = "|".join([f"[{cls}]", "^$", *edges])

    # ---- one value (AbstractWriter.getStringValue + CsvWriter.processRow for one column)
    def cell(self, value: str | None, column: int, trim: bool = True) -> str:
        s = self.s
        using = True
        if value is None:
            text = s.null_value
        elif value == "" or (s.ignore_leading and all(_ws(c) for c in value)):
            text = s.empty_value
        else:
            text, using = value, False
        buf = _Buffer(self.line_sep)
        quoted = self._append(buf, column, s.quote_all, trim, text, using)
        if len(buf) == 0 and not using:  # trimmed to nothing: univocity appends emptyValue after what it kept
            self._append(buf, column, quoted, trim, s.empty_value, False)
        body = buf.text()
        return self.quote + body + self.quote if quoted else body

    def _append(self, buf: _Buffer, column: int, quoted: bool, trim: bool, element: str, using: bool) -> bool:
        s, quote, escape = self.s, self.quote, self.escape
        start, length = 0, len(element)
        if trim and s.ignore_leading:
            while start < length and _ws(element[start]):
                start += 1
        if start < length and (element[start] == quote or (column == 0 and element[0] == s.comment)):
            quoted = True
        if quoted:
            if using and length >= 2 and element[0] == quote and element[-1] == quote:
                buf.raw(element)  # a nullValue/emptyValue already in quotes is written as it is
                return False
            self._quoted(buf, start, trim, element)
            return True
        ch = "\0"
        for i in range(start, length):
            ch = element[i]
            if ch in (quote, escape):
                buf.raw(element[start:i])
                if self._needs_quotes(i, element):
                    self._quoted(buf, i, trim, element)
                    return True
                buf.raw(element[i:])
                if trim and s.ignore_trailing and _ws(element[-1]):
                    buf.update_whitespace()
                return quoted
            if ch in self.triggers or element.startswith(self.sep, i):
                buf.raw(element[start:i])
                self._quoted(buf, i, trim, element)
                return True
        buf.raw(element[start:])
        if trim and _ws(ch) and s.ignore_trailing:
            buf.update_whitespace()
        return quoted

    def _needs_quotes(self, start: int, element: str) -> bool:
        return any(element[i] in self.triggers or element.startswith(self.sep, i) for i in range(start, len(element)))

    def _quoted(self, buf: _Buffer, start: int, trim: bool, element: str) -> None:
        quote, escape = self.quote, self.escape
        ch = "\0"
        for i in range(start, len(element)):
            ch = element[i]
            if ch in (quote, escape) or ch == "\n":
                buf.raw(element[start:i])
                start = i + 1
                if ch == quote:
                    buf.char(escape)
                elif ch == escape and self.escape_escape != "\0":
                    buf.char(self.escape_escape)
                buf.char(ch)
        buf.raw(element[start:])
        if trim and _ws(ch) and self.s.ignore_trailing:
            buf.update_whitespace()

    # ---- header (univocity's NormalizedString rules decide which names are trimmed)
    def header(self, names: list[str]) -> str:
        shown = [original for original, _ in _header_names(names)]
        literal = [lit for _, lit in _header_names(shown)]
        return self.sep.join(
            self.cell(n, i, trim=not lit) for i, (n, lit) in enumerate(zip(shown, literal, strict=True))
        )

    # ---- a batch of text columns
    def batch(self, batch: pa.RecordBatch, header: bool) -> bytes:
        out = ""
        if header:
            line = self.header(batch.schema.names)
            out = line + self.line_sep if line else ""
        if not batch.num_rows:
            return out.encode("utf-8")
        if not batch.num_columns:
            return out.encode("utf-8")  # every row is empty, and univocity skips empty rows
        cells = [self._column(batch.column(i), i) for i in range(batch.num_columns)]
        lines = pc.binary_join_element_wise(*cells, self.sep) if len(cells) > 1 else cells[0]
        if len(cells) == 1:  # a row that is empty text is skipped (skipEmptyLines)
            lines = pc.filter(lines, pc.not_equal(lines, ""))
        ended = pc.binary_join_element_wise(lines, self.line_sep, "")
        return out.encode("utf-8") + _joined_bytes(ended)

    def _column(self, text: pa.Array, column: int) -> pa.Array:
        if self.s.quote_all:
            slow = pa.array([True] * len(text))
        else:
            slow = pc.fill_null(pc.match_substring_regex(text, self.slow_pattern), False)
            if column == 0:
                slow = pc.or_(slow, pc.fill_null(pc.starts_with(text, self.s.comment), False))
        null_cell = self.cell(None, column)
        picked = pc.filter(text, slow).to_pylist()
        if not picked:
            return pc.fill_null(text, null_cell)
        done = pa.array([self.cell(v, column) for v in picked], pa.string())
        positions = pc.indices_nonzero(slow)
        values = text.to_pylist()
        for pos, value in zip(positions.to_pylist(), done.to_pylist(), strict=True):
            values[pos] = value
        return pc.fill_null(pa.array(values, pa.string()), null_cell)


def _header_names(names: list[str]) -> list[tuple[str, bool]]:
    """univocity's header identifiers: ``'x'`` (after Java's trim) is the literal ``x`` with its quotes cut;
    names equal after trim and lower-casing but spelled differently are all literal (never trimmed)."""
    out: list[tuple[str, bool]] = []
    for name in names:
        stripped = name.strip("".join(chr(c) for c in range(0x21)))
        if len(stripped) > 2 and stripped[0] == "'" and stripped[-1] == "'":
            out.append((name[1:-1], True))
        else:
            out.append((name, False))
    seen: dict[str, int] = {}
    for i, (original, literal) in enumerate(out):
        if literal:
            continue
        key = original.strip("".join(chr(c) for c in range(0x21))).lower()
        if key in seen and out[seen[key]][0] != original:
            out[i] = (original, True)
            out[seen[key]] = (out[seen[key]][0], True)
        elif key not in seen:
            seen[key] = i
    return out


def _joined_bytes(ended: pa.Array) -> bytes:
    """The UTF-8 bytes of a string array's values back to back, straight from its data buffer."""
    if not len(ended):
        return b""
    offsets, data = ended.buffers()[1], ended.buffers()[2]
    start = struct.unpack_from("<i", offsets, 4 * ended.offset)[0]
    stop = struct.unpack_from("<i", offsets, 4 * (ended.offset + len(ended)))[0]
    return bytes(memoryview(data)[start:stop]) if data is not None else b""


def _check_csv_types(schema: pa.Schema) -> None:
    for field in schema:
        t = field.type
        if pa.types.is_nested(t) or pa.types.is_duration(t) or pa.types.is_interval(t):
            raise ConfigError(
                f"column {field.name}: CSV output cannot hold {t} (Spark's CSV writer refuses structs, arrays and "
                "maps, and ppml-enc does not write intervals); use format=json or cast the column to string"
            )


def _csv_ready(batch: pa.RecordBatch, settings: WriteSettings) -> pa.RecordBatch:
    """Every column as the text Spark's CSV writer gives it (nulls stay null): dates and timestamps in Spark's
    default formats, other values as Spark's ``toString``."""
    arrays = []
    for column, field in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_temporal(field.type):
            arrays.append(_datetime_text(column, field, settings))
        else:
            arrays.append(spark_text(column))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _datetime_text(column: pa.Array, field: pa.Field, settings: WriteSettings) -> pa.Array:
    """A date/timestamp column as Spark's CSV writer prints it. A custom ``dateFormat``/``timestampFormat``/
    ``timestampNTZFormat`` goes to :func:`datetime_text` (:mod:`.sparkrules.datetimes`); Spark's default patterns
    (``yyyy-MM-dd``, ``yyyy-MM-dd'T'HH:mm:ss.SSSXXX`` in the write's zone, ``yyyy-MM-dd'T'HH:mm:ss.SSS`` without a
    zone; milliseconds truncated) are vectorised where pyarrow prints the same, per value otherwise."""
    t = field.type
    if not (pa.types.is_date32(t) or pa.types.is_timestamp(t)):
        raise ConfigError(f"column {field.name}: ppml-enc cannot write {t} as text; cast it to string")
    option, pattern = _pattern_of(t, settings)
    if pattern is not None:
        return datetime_text(column, t, settings)
    fast = _fast_text(column, t, _DEFAULT_PATTERNS[option], settings)
    if fast is not None:
        return fast
    if pa.types.is_date32(t):
        days = column.cast(pa.int32()).to_pylist()
        return pa.array([None if d is None else date_text(d) for d in days], pa.string())
    micros = column.cast(pa.timestamp("us", t.tz)).cast(pa.int64()).to_pylist()
    if t.tz is None:
        return pa.array([None if m is None else local_text(m) for m in micros], pa.string())
    zone = zone_for(settings.time_zone or t.tz)
    return pa.array([None if m is None else instant_text(m, zone) for m in micros], pa.string())


_DEFAULT_PATTERNS = {
    "dateFormat": sd.DEFAULT_DATE,
    "timestampFormat": sd.DEFAULT_TIMESTAMP_WRITE,
    "timestampNTZFormat": sd.DEFAULT_NTZ_WRITE,
}


def _pattern_of(t: pa.DataType, settings: WriteSettings) -> tuple[str, str | None]:
    """The write option that formats a date/timestamp type, and its custom pattern (None: Spark's default)."""
    if pa.types.is_date32(t):
        return "dateFormat", settings.date_format
    if t.tz is None:
        return "timestampNTZFormat", settings.timestamp_ntz_format
    return "timestampFormat", settings.timestamp_format


# ------------------------------------------------------------------------------------------------ values


def spark_text(column: pa.Array) -> pa.Array:
    """A non-temporal column as Spark's ``toString`` of each value (null stays null)."""
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return column.cast(pa.string())
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return column.cast(pa.string())
    if pa.types.is_null(t):
        return pa.nulls(len(column), pa.string())
    if pa.types.is_floating(t):
        render = java_float if t == pa.float32() else java_double
        return pa.array([None if v is None else render(v) for v in column.to_pylist()], pa.string())
    if pa.types.is_decimal(t):
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.array([None if v is None else binary_text(v) for v in column.to_pylist()], pa.string())
    raise ConfigError(f"ppml-enc cannot write {t} as text; cast the column to string")


def binary_text(value: bytes) -> str:
    """Spark's CSV text of binary: ``[00 FF 41]``."""
    return "[" + " ".join(f"{b:02X}" for b in value) + "]"


_INSIGNIFICANT = [len(str(1 << i)) - 1 for i in range(64)]  # JDK 17 FloatingDecimal.insignificantDigitsNumber


def java_double(x: float) -> str:
    """Java 17's ``Double.toString``."""
    return _java_float_text(x, 53)


def java_float(x: float) -> str:
    """Java 17's ``Float.toString`` of a float32 value (given as a Python float)."""
    return _java_float_text(x, 24)


def _java_float_text(x: float, bits: int) -> str:
    """JDK 17's FloatingDecimal: shortest round-trip digits, except integer values below 2**63, whose digits
    are the integer's own, rounded only beyond the type's precision (so ``123456789f`` is ``1.23456792E8``);
    then ``Double.toString``'s layout (plain for 1e-3 <= |x| < 1e7, else ``d.dddE±n``)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    a = abs(x)
    if a == int(a) and a < 2**63:
        value = int(a)
        bin_exp = value.bit_length() - 1
        insignificant = _INSIGNIFICANT[bin_exp - bits - 1] if bin_exp > bits and bin_exp - bits - 1 > 1 else 0
        if insignificant:
            pow10 = 10**insignificant
            value, residue = divmod(value, pow10)
            if residue >= pow10 >> 1:
                value += 1
        text = str(value)
        digits, dec_exp = text.rstrip("0") or "0", len(text) + insignificant
    else:
        digits, dec_exp = _shortest_digits(a, bits)
    if -3 < dec_exp <= 7:
        if dec_exp > 0:
            return sign + digits[:dec_exp].ljust(dec_exp, "0") + "." + (digits[dec_exp:] or "0")
        return sign + "0." + "0" * -dec_exp + digits
    return sign + digits[0] + "." + (digits[1:] or "0") + "E" + str(dec_exp - 1)


def _shortest_digits(a: float, bits: int) -> tuple[str, int]:
    """Digits d1d2... and exponent e with a = 0.d1d2... * 10**e, the shortest that reads back as ``a``."""
    if bits == 53:
        text = repr(a)
    else:
        for k in range(1, 10):
            text = f"{a:.{k - 1}e}"
            if struct.unpack("<f", struct.pack("<f", float(text)))[0] == a:
                break
    sign_, digits_t, exponent = Decimal(text).as_tuple()
    digits = "".join(map(str, digits_t))
    dec_exp = len(digits) + int(exponent)
    stripped = digits.lstrip("0")
    dec_exp -= len(digits) - len(stripped)
    return stripped.rstrip("0") or "0", dec_exp


def _proleptic(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count from 1970-01-01 in the proleptic Gregorian calendar, any year."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _year_text(year: int) -> str:
    """Java's ``yyyy`` as Spark formats it: four digits at least, a sign beyond 9999 or below 0."""
    if year > 9999:
        return f"+{year}"
    if year < 0:
        return f"-{-year:04d}"
    return f"{year:04d}"


def date_text(days: int) -> str:
    year, month, day = _proleptic(days)
    return f"{_year_text(year)}-{month:02d}-{day:02d}"


def local_text(micros: int) -> str:
    """A timestamp without zone, ``yyyy-MM-dd'T'HH:mm:ss.SSS``."""
    days, rest = divmod(micros, 86_400_000_000)
    seconds, frac = divmod(rest, 1_000_000)
    hour, minute, second = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{date_text(days)}T{hour:02d}:{minute:02d}:{second:02d}.{frac // 1000:03d}"


def instant_text(micros: int, zone: tzinfo) -> str:
    """An instant in ``zone``, ``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``; an offset with seconds (local mean time before
    1900) shows them, as Spark's formatter does."""
    try:
        utc = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
        offset = utc.astimezone(zone).utcoffset() or timedelta(0)
    except OverflowError:
        if zone is not UTC:
            raise PpmlError("a timestamp outside years 1-9999 can only be written with timeZone=UTC") from None
        offset = timedelta(0)
    total = int(offset.total_seconds())
    text = local_text(micros + total * 1_000_000)
    if total == 0:
        return text + "Z"
    sign, total = ("-", -total) if total < 0 else ("+", total)
    seconds = f":{total % 60:02d}" if total % 60 else ""
    return f"{text}{sign}{total // 3600:02d}:{total // 60 % 60:02d}{seconds}"


_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def zone_for(name: str, option: str = "timeZone") -> tzinfo:
    """A time zone from a Spark zone id: a region (``Europe/Paris``), ``UTC``/``Z``/``GMT``, or ``+HH:MM``."""
    if name in ("UTC", "Z", "GMT", "Etc/UTC", "Etc/GMT"):
        return UTC
    match = _OFFSET.match(name)
    if match:
        minutes = int(match.group(2)) * 60 + int(match.group(3))
        return timezone(timedelta(minutes=-minutes if match.group(1) == "-" else minutes))
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:
        raise ConfigError(
            f"option {option}={name}: not a time zone ppml-enc knows; use a region id (Europe/Paris), UTC or +HH:MM"
        ) from None


# ------------------------------------------------------------------------------------------------ JSON


_JSON_ESCAPES = {i: f"\\u{i:04X}" for i in range(0x20)} | {
    0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", ord('"'): '\\"', ord("\\"): "\\\\"
}  # fmt: skip


def json_string(text: str) -> str:
    """A JSON string as Jackson writes it: ``\\"``, ``\\\\``, short escapes, other controls ``\\u001F``."""
    return '"' + text.translate(_JSON_ESCAPES) + '"'


class _JsonRows:
    """Spark's JSON writer (JacksonGenerator): one object per row, fields in schema order, null fields left out
    unless ignoreNullFields=false, NaN/Infinity as strings, binary as base64."""

    def __init__(self, schema: pa.Schema, settings: WriteSettings) -> None:
        self.settings = settings
        self.fields = [(json_string(f.name), self._renderer(f.type, f.name)) for f in schema]

    def batch(self, batch: pa.RecordBatch) -> bytes:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        out = []
        for r in range(batch.num_rows):
            row = [(name, render, col[r]) for (name, render), col in zip(self.fields, columns, strict=True)]
            out.append(self._object(row))
        return "".join(line + self.settings.line_sep for line in out).encode("utf-8")

    def _object(self, items: list[tuple[str, Callable[[Any], str], Any]]) -> str:
        parts = []
        for name, render, value in items:
            if value is None:
                if not self.settings.ignore_null_fields:
                    parts.append(name + ":null")
                continue
            parts.append(name + ":" + render(value))
        return "{" + ",".join(parts) + "}"

    def _renderer(self, t: pa.DataType, name: str) -> Callable[[Any], str]:
        s = self.settings
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return json_string
        if pa.types.is_boolean(t):
            return lambda v: "true" if v else "false"
        if pa.types.is_integer(t):
            return str
        if pa.types.is_floating(t):
            text = java_float if t == pa.float32() else java_double
            return lambda v: json_string(text(v)) if math.isnan(v) or math.isinf(v) else text(v)
        if pa.types.is_decimal(t):
            return str
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return lambda v: '"' + base64.b64encode(v).decode("ascii") + '"'
        if pa.types.is_date(t):
            epoch = datetime(1970, 1, 1).date()
            if s.date_format is not None:
                compiled = sd.compiled(s.date_format, "dateFormat", parsing=False)
                return lambda v: json_string(sd.format_date((v - epoch).days, compiled, "dateFormat"))
            return lambda v: json_string(date_text((v - epoch).days))
        if pa.types.is_timestamp(t):
            return self._timestamp(t)
        if pa.types.is_struct(t):
            subs = [(json_string(t.field(i).name), self._renderer(t.field(i).type, name)) for i in range(t.num_fields)]
            return lambda v: self._object([(n, r, v[t.field(i).name]) for i, (n, r) in enumerate(subs)])
        if pa.types.is_map(t):
            key = t.key_type
            if not (pa.types.is_string(key) or pa.types.is_integer(key)):
                raise ConfigError(f"column {name}: ppml-enc writes JSON maps with string or integer keys, not {key}")
            item = self._renderer(t.item_type, name)
            return lambda v: (
                "{" + ",".join(json_string(str(k)) + ":" + ("null" if x is None else item(x)) for k, x in v) + "}"
            )
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            element = self._renderer(t.value_type, name)
            return lambda v: "[" + ",".join("null" if x is None else element(x) for x in v) + "]"
        del s
        raise ConfigError(f"column {name}: ppml-enc cannot write {t} as JSON; cast it to string")

    def _timestamp(self, t: pa.TimestampType) -> Callable[[Any], str]:
        epoch = datetime(1970, 1, 1)
        option, pattern = _pattern_of(t, self.settings)
        if pattern is not None:  # a custom pattern: sparkrules.datetimes prints it
            compiled = sd.compiled(pattern, option, parsing=False)
            if t.tz is None:
                return lambda v: json_string(sd.format_ntz(_micros(v.replace(tzinfo=None) - epoch), compiled, option))
            zone_name, utc0 = self.settings.time_zone or t.tz, epoch.replace(tzinfo=UTC)
            return lambda v: json_string(sd.format_timestamp(_micros(v - utc0), compiled, zone_name, option))
        if t.tz is None:
            return lambda v: json_string(local_text(_micros(v.replace(tzinfo=None) - epoch)))
        zone = zone_for(self.settings.time_zone or t.tz)
        utc_epoch = epoch.replace(tzinfo=UTC)
        return lambda v: json_string(instant_text(_micros(v - utc_epoch), zone))


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_ISO_YEARS = (datetime(1000, 1, 1).date(), datetime(9999, 12, 31).date())


def datetime_text(column: pa.Array, type_: pa.DataType, settings: WriteSettings) -> pa.Array:
    """One date/timestamp column as Spark's text writers (CSV, JSON) print it with ``settings``' formats."""
    if pa.types.is_date32(type_):
        option, pattern = "dateFormat", settings.date_format or sd.DEFAULT_DATE
    elif type_.tz is None:
        option, pattern = "timestampNTZFormat", settings.timestamp_ntz_format or sd.DEFAULT_NTZ_WRITE
    else:
        option, pattern = "timestampFormat", settings.timestamp_format or sd.DEFAULT_TIMESTAMP_WRITE
    compiled = sd.compiled(pattern, option, parsing=False)
    fast = _fast_text(column, type_, pattern, settings)
    if fast is not None:
        return fast
    if pa.types.is_date32(type_):
        days = column.cast(pa.int32()).to_pylist()
        return pa.array([None if d is None else sd.format_date(d, compiled, option) for d in days], pa.string())
    micros = column.cast(pa.timestamp("us", type_.tz)).cast(pa.int64()).to_pylist()
    if type_.tz is None:
        return pa.array([None if m is None else sd.format_ntz(m, compiled, option) for m in micros], pa.string())
    zone = settings.time_zone or type_.tz
    return pa.array([None if m is None else sd.format_timestamp(m, compiled, zone, option) for m in micros],
                    pa.string())  # fmt: skip


def _fast_text(column: pa.Array, type_: pa.DataType, pattern: str, settings: WriteSettings) -> pa.Array | None:
    """Spark's default patterns in UTC with pyarrow (4-digit years only, where both print the same)."""
    utc = (settings.time_zone or getattr(type_, "tz", None) or "UTC").upper() in ("UTC", "Z", "ETC/UTC", "+00:00")
    lo, hi = pc.min_max(column.cast(pa.date32()) if not pa.types.is_date32(type_) else column).values()
    if lo.as_py() is None or lo.as_py() < _ISO_YEARS[0] or hi.as_py() > _ISO_YEARS[1]:
        return None
    if pa.types.is_date32(type_) and pattern == sd.DEFAULT_DATE:
        return column.cast(pa.string())
    if pa.types.is_timestamp(type_) and ((type_.tz is None and pattern == sd.DEFAULT_NTZ_WRITE) or
                                         (type_.tz is not None and utc and pattern == sd.DEFAULT_TIMESTAMP_WRITE)):
        millis = pc.floor_temporal(column, unit="millisecond").cast(pa.timestamp("ms", type_.tz))
        text = pc.strftime(millis, format="%Y-%m-%dT%H:%M:%S")  # %S prints the milliseconds at unit ms
        return text if type_.tz is None else pc.binary_join_element_wise(text, "Z", "", null_handling="emit_null")
    return None
