"""Spark's datetime patterns (``dateFormat``, ``timestampFormat``, ``timestampNTZFormat``) and its default
date/timestamp string rules, for CSV/JSON reads and writes. No Spark, no JVM.

Spark 3+/4 (``spark.sql.legacy.timeParserPolicy`` CORRECTED/EXCEPTION) parses with ``java.time``'s
``DateTimeFormatter``: case-insensitive, STRICT resolving, ``y`` read as the proleptic year ``u``, a
fraction ``S...S`` of 1 to n digits, missing fields defaulted (1970-01-01 00:00). A pattern is compiled once
into a regular expression whose groups mirror java.time's parsers (every element atomic: java.time never
backtracks; adjacent numbers split as its "adjacent value parsing" does) plus a small resolver; a formatter
prints the same pattern. Hand-written because no Python library speaks this pattern language; anything of it
not reproduced exactly is refused by name (:class:`PatternError`, naming the pattern letter) rather than
approximated. Values are converted one by one (a regex match each); the default ISO rules
(:func:`string_to_date`, :func:`string_to_timestamp`) are Spark's ``DateTimeUtils.stringToDate`` /
``stringToTimestamp``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ...errors import ConfigError, PatternError

DEFAULT_DATE = "yyyy-MM-dd"
DEFAULT_TIMESTAMP_WRITE = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"  # Spark's commonTimestampFormat
DEFAULT_NTZ_WRITE = "yyyy-MM-dd'T'HH:mm:ss[.SSS]"
# Spark's CSVInferSchema: date strings of these formats parse as timestamps with the lenient default parser
LENIENT_DATE_FORMATS = frozenset({"yyyy-MM-dd", "yyyy-M-d", "yyyy-M-dd", "yyyy-MM-d", "yyyy-MM", "yyyy-M", "yyyy"})

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]  # fmt: skip
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MICROS_PER_DAY = 86_400_000_000
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_TRIM = "".join(chr(c) for c in range(0x21)) + "\x7f"  # Java whitespace and ISO control characters
# letters Spark refuses (or java.time does not know); parsing refuses more (Spark: unsupportedLettersForParsing)
_REFUSED = {"A", "c", "n", "N", "p", "u", "B", "G", "Y", "W", "w", "e", "F", "q", "Q", "g", "b", "T", "t"}
_REFUSED_PARSE = {"E", "z"}
_KNOWN = set("yMLdDHhKkmsSaEzVXxZO")


@dataclass(frozen=True)
class _Field:
    letter: str
    count: int


@dataclass(frozen=True)
class _Literal:
    text: str


@dataclass(frozen=True)
class _Optional:
    start: bool


_Token = _Field | _Literal | _Optional


def _refuse(option: str, pattern: str, letter: str, why: str) -> PatternError:
    return PatternError(f"option {option}={pattern}: pattern letter '{letter}' {why}; see "
                        "https://spark.apache.org/docs/latest/sql-ref-datetime-pattern.html")  # fmt: skip


def tokenize(pattern: str, option: str, parsing: bool) -> list[_Token]:
    """java.time's pattern grammar (letters, '' quoting, [optional]) with Spark's and our refusals."""
    out: list[_Token] = []
    depth = 0
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            close = i + 1
            text = ""
            while True:
                nxt = pattern.find("'", close)
                if nxt < 0:
                    raise PatternError(f"option {option}={pattern}: a quote (') is not closed; write '' for a quote")
                if nxt + 1 < len(pattern) and pattern[nxt + 1] == "'" and nxt > i + 1:
                    text += pattern[close:nxt] + "'"
                    close = nxt + 2
                    continue
                text += pattern[close:nxt]
                break
            out.append(_Literal(text if nxt > i + 1 else "'"))
            i = nxt + 1
        elif ch == "[":
            depth += 1
            out.append(_Optional(True))
            i += 1
        elif ch == "]":
            if depth == 0:
                raise PatternError(f"option {option}={pattern}: ']' without a '['")
            depth -= 1
            out.append(_Optional(False))
            i += 1
        elif ch.isascii() and ch.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == ch:
                j += 1
            out.append(_check_field(_Field(ch, j - i), option, pattern, parsing))
            i = j
        elif ch in "{}#":
            raise PatternError(f"option {option}={pattern}: '{ch}' is reserved in datetime patterns; quote it")
        else:
            out.append(_Literal(ch))
            i += 1
    out.extend(_Optional(False) for _ in range(depth))  # java.time closes open optional sections at the end
    seen: set[str] = set()
    for t in out:
        if parsing and isinstance(t, _Field):
            key = {"L": "M", "k": "H", "K": "h"}.get(t.letter, t.letter)
            if key in seen:
                raise _refuse(option, pattern, t.letter, "appears twice (or with its twin); use it once")
            seen.add(key)
    return out


def _check_field(f: _Field, option: str, pattern: str, parsing: bool) -> _Field:
    letter, n = f.letter, f.count
    if letter == "T":
        raise _refuse(option, pattern, "T", "is not a pattern letter (Spark fails); quote it: 'T'")
    if letter in _REFUSED or letter not in _KNOWN:
        raise _refuse(option, pattern, letter, "is not supported by ppml-enc (or by Spark)")
    if parsing and letter in _REFUSED_PARSE:
        raise _refuse(option, pattern, letter, "cannot be parsed exactly as Spark does (use it in writes only)")
    limits = {"y": 10, "M": 4, "L": 4, "d": 2, "D": 3, "H": 2, "h": 2, "K": 2, "k": 2, "m": 2, "s": 2, "S": 9,
              "a": 1, "E": 4, "z": 3, "V": 2, "X": 5, "x": 5, "Z": 5, "O": 4}
    if n > limits[letter] or (letter == "V" and n != 2) or (letter == "O" and n not in (1, 4)):
        raise _refuse(option, pattern, letter, f"cannot be repeated {n} times")
    return f


# ---- parsing ----------------------------------------------------------------------------------------------

_NUMERIC = {"y", "M", "L", "d", "D", "H", "h", "K", "k", "m", "s"}


def _width(f: _Field) -> tuple[int, int, str]:
    """(min digits, max digits, sign style) of java.time's parser for a numeric letter run."""
    if f.letter == "y":
        if f.count == 2:
            return 2, 2, "reduced"
        return (f.count, 19, "normal") if f.count < 4 else (f.count, 19, "exceeds")
    if f.count == 1:
        return 1, 19, "normal"
    if f.letter == "D" and f.count == 2:
        return 2, 3, "none"
    return f.count, f.count, "none"


def _fixed(f: _Token) -> bool:
    if not isinstance(f, _Field) or f.letter not in _NUMERIC or (f.letter in "ML" and f.count > 2):
        return False
    lo, hi, sign = _width(f)
    return lo == hi


def _texts(words: list[str]) -> str:
    return "(?>" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


@lru_cache(maxsize=1)
def _zone_ids() -> dict[str, str]:
    return {z.lower(): z for z in available_timezones()}


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.groups: list[tuple[str, Any]] = []  # (kind, detail) per regex group, in order
        parts: list[str] = []
        i = 0
        while i < len(tokens):
            t = tokens[i]
            if isinstance(t, _Literal):
                parts.append(re.escape(t.text))
            elif isinstance(t, _Optional):
                parts.append("(?>(?:" if t.start else ")?)")
            elif t.letter in _NUMERIC and not (t.letter in "ML" and t.count > 2):
                run = [t]
                while i + 1 < len(tokens) and _fixed(tokens[i + 1]):
                    run.append(tokens[i + 1])  # type: ignore[arg-type]
                    i += 1
                parts.append(self._numbers(run))
            else:
                parts.append(self._other(t))
            i += 1
        self.regex = re.compile("".join(parts), re.IGNORECASE | re.ASCII)

    def _group(self, kind: str, detail: Any, body: str) -> str:
        self.groups.append((kind, detail))
        return f"({body})"

    def _numbers(self, run: list[_Field]) -> str:
        lo, hi, sign = _width(run[0])
        reserved = sum(_width(f)[0] for f in run[1:])
        prefix = "[+-]?" if sign in ("normal", "exceeds") and run[0].letter == "y" else ""
        return self._group("num", run, f"{prefix}(?>[0-9]{{1,{hi + reserved}}})")

    def _other(self, f: _Field) -> str:
        letter, n = f.letter, f.count
        if letter == "S":
            return self._group("S", n, f"(?>[0-9]{{1,{n}}})")
        if letter in "ML":
            words = [m[:3] for m in _MONTHS] if n == 3 else _MONTHS
            return self._group("Mtext", n, _texts(words))
        if letter == "a":
            return self._group("a", n, "(?>AM|PM)")
        if letter == "V":
            return self._group("V", n, "(?>[A-Za-z][A-Za-z0-9~/._+-]*)")
        if letter == "O":
            body = r"GMT(?>[+-][0-9]{1,2}(?::[0-9]{2}(?::[0-9]{2})?)?)?" if n == 1 else \
                r"GMT(?>[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?"  # fmt: skip
            return self._group("O", n, f"(?>{body})")
        # X/x/Z: java.time offset patterns (+HHmm, +HHMM, +HH:MM, +HHMMss, +HH:MM:ss), "Z" for zero with X
        offset = {1: r"[+-][0-9]{2}(?:[0-9]{2})?", 2: r"[+-][0-9]{4}", 3: r"[+-][0-9]{2}:[0-9]{2}",
                  4: r"[+-][0-9]{4}(?:[0-9]{2})?", 5: r"[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2})?"}  # fmt: skip
        if letter == "Z":
            if n == 4:
                body = r"GMT(?:[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?"
            elif n == 5:
                body = offset[5] + "|Z"
            else:
                body = r"[+-][0-9]{4}"
            return self._group("off", letter + str(n), f"(?>{body})")
        body = offset[n] + ("|Z" if letter == "X" else "")
        return self._group("off", letter + str(n), f"(?>{body})")

    def fields(self, text: str) -> dict[str, Any] | None:
        m = self.regex.fullmatch(text)
        if m is None:
            return None
        out: dict[str, Any] = {}
        for (kind, detail), value in zip(self.groups, m.groups(), strict=True):
            if value is None:
                continue
            if kind == "num":
                if not _split_numbers(detail, value, out):
                    return None
            elif kind == "S":
                out["nano"] = int(value.ljust(9, "0"))
            elif kind == "Mtext":
                lowered = value.lower()
                out["M"] = next(i + 1 for i, m_ in enumerate(_MONTHS) if
                                (m_[:3] if detail == 3 else m_).lower() == lowered)  # fmt: skip
            elif kind == "a":
                out["a"] = 1 if value.upper() == "PM" else 0
            elif kind == "V":
                zone = _zone_ids().get(value.lower()) if value.upper() not in ("Z", "UTC", "GMT", "UT") else "UTC"
                if zone is None:
                    return None
                out["zone"] = zone
            else:
                seconds = _offset_seconds(value)
                if seconds is None:
                    return None
                out["offset"] = seconds
        return out


def _split_numbers(run: list[_Field], value: str, out: dict[str, Any]) -> bool:
    """java.time's adjacent value parsing: the first field takes what the fixed-width ones after it leave."""
    sign = ""
    if value[0] in "+-":
        sign, value = value[0], value[1:]
    reserved = sum(_width(f)[0] for f in run[1:])
    first = run[0]
    lo, hi, style = _width(first)
    width = len(value) - reserved
    if width < lo or width > hi:
        return False
    if style == "exceeds" and ((sign == "+" and width <= lo) or (sign == "" and width > lo)):
        return False
    if style == "normal" and sign == "+":
        return False
    number = int(value[:width]) * (-1 if sign == "-" else 1)
    if style == "reduced":
        number += 2000
    out[first.letter] = number
    pos = width
    for f in run[1:]:
        w = _width(f)[0]
        out[f.letter] = int(value[pos : pos + w])
        pos += w
    return True


def _offset_seconds(value: str) -> int | None:
    text = value.upper()
    if text.startswith("GMT"):
        text = text[3:]
        if not text:
            return 0
    if text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    if ":" in text[1:] and len(text[1:].split(":")[0]) == 1:
        digits = "0" + digits
    if len(digits) == 1:
        digits = "0" + digits
    hours, minutes, seconds = int(digits[:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
    if hours > 18 or minutes > 59 or seconds > 59:
        return None
    total = hours * 3600 + minutes * 60 + seconds
    return None if total > 18 * 3600 else sign * total


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year), H. Hinnant's algorithm."""
    y -= m <= 2
    era = y // 400  # Python's // floors: no C++ adjustment
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def _leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _month_days(y: int, m: int) -> int:
    return 29 if m == 2 and _leap(y) else (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[m - 1]


_YEAR_LIMIT = 999_999_999


def _resolve_date(f: dict[str, Any]) -> int | None:
    """Days since the epoch (Spark's toLocalDate after java.time's STRICT resolver), None if invalid."""
    year = f.get("y")
    if year is not None and abs(year) > _YEAR_LIMIT:
        return None
    month = f.get("M", f.get("L"))
    if month is not None and not 1 <= month <= 12:
        return None
    day = f.get("d")
    if day is not None and not 1 <= day <= 31:
        return None
    doy = f.get("D")
    if doy is not None:
        if not 1 <= doy <= 366:
            return None
        if year is None:
            return None  # refused at compile time; kept for safety
        if doy == 366 and not _leap(year):
            return None
        days = _days_from_civil(year, 1, 1) + doy - 1
        _, m2, d2 = _civil_from_days(days)
        if (month is not None and month != m2) or (day is not None and day != d2):
            return None
        return days
    y = 1970 if year is None else year
    m = 1 if month is None else month
    d = 1 if day is None else day
    if d > _month_days(y, m):
        return None
    return _days_from_civil(y, m, d)


def _resolve_time(f: dict[str, Any]) -> int | None:
    """Microseconds since midnight (Spark's toLocalTime after java.time's STRICT checks), None if invalid."""
    hour: int
    ampm = f.get("a")
    if "H" in f or "k" in f:
        hour = f["H"] if "H" in f else f["k"]
        if ("H" in f and not 0 <= hour <= 23) or ("k" in f and not 1 <= hour <= 24):
            return None
        hour = 0 if hour == 24 else hour
        if ampm is not None and ampm != (hour >= 12):
            return None
    elif "h" in f or "K" in f:
        hour = f["h"] if "h" in f else f["K"]
        if ("h" in f and not 1 <= hour <= 12) or ("K" in f and not 0 <= hour <= 11):
            return None
        hour = hour % 12 + 12 * (ampm or 0)
    else:
        hour = 12 if ampm == 1 else 0
    minute, second = f.get("m", 0), f.get("s", 0)
    if not (0 <= minute <= 59 and 0 <= second <= 59):
        return None
    return ((hour * 60 + minute) * 60 + second) * 1_000_000 + f.get("nano", 0) // 1000


@lru_cache(maxsize=64)
def _zone(name: str) -> dt.tzinfo:
    fixed = _offset_seconds(name) if re.fullmatch(r"(GMT|UTC)?[+-]\d{1,2}(:?\d\d(:?\d\d)?)?|Z", name) else None
    if fixed is not None:
        return dt.timezone(dt.timedelta(seconds=fixed))
    if name.upper() in ("UTC", "GMT", "UT", "Z", "ZULU"):
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"option timeZone={name}: not a time zone id; use a region id (Europe/Berlin), UTC or "
                          "an offset (+01:00)") from None  # fmt: skip


def _local_to_utc(days: int, micros: int, zone: dt.tzinfo) -> int | None:
    """Epoch micros of a local date-time in ``zone`` (java.time's ZonedDateTime.of: gaps move forward,
    overlaps take the earlier offset, which is Python's fold=0 instant)."""
    local = days * _MICROS_PER_DAY + micros
    if zone is dt.UTC:
        return local
    if isinstance(zone, dt.timezone):
        fixed = zone.utcoffset(None)
        return local - int(fixed.total_seconds()) * 1_000_000
    y, _, _ = _civil_from_days(days)
    if not 1 <= y <= 9999:
        return None  # Python's zone rules cover years 1..9999 only
    naive = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=local)
    found = naive.replace(tzinfo=zone).utcoffset()
    assert found is not None
    return local - (found.days * 86400 + found.seconds) * 1_000_000


_MAX_MICROS = (1 << 63) - 1
_FIRST_MICROS = (_days_from_civil(1, 1, 2) * _MICROS_PER_DAY)
_LAST_MICROS = (_days_from_civil(9999, 12, 30) * _MICROS_PER_DAY)


class DatetimePattern:
    """One compiled Spark datetime pattern: parse to days/micros, format from them."""

    def __init__(self, pattern: str, option: str, parsing: bool = True) -> None:
        self.pattern = pattern
        self.tokens = tokenize(pattern, option, parsing)
        letters = {t.letter for t in self.tokens if isinstance(t, _Field)}
        if parsing and "D" in letters and "y" not in letters:
            raise _refuse(option, pattern, "D", "without a year is not resolved as Spark does; add yyyy")
        self.has_zone = bool(letters & set("VXxZO"))
        self.parser = _Parser(self.tokens) if parsing else None

    def parse_fields(self, text: str) -> dict[str, Any] | None:
        assert self.parser is not None
        return self.parser.fields(text)

    def to_days(self, text: str) -> int | None:
        f = self.parse_fields(text)
        if f is None or _resolve_time(f) is None:
            return None
        return _resolve_date(f)

    def to_micros(self, text: str, zone: dt.tzinfo) -> int | None:
        """Spark's Iso8601TimestampFormatter.parse: the parsed zone or offset, else the session's."""
        f = self.parse_fields(text)
        if f is None:
            return None
        days, micros = _resolve_date(f), _resolve_time(f)
        if days is None or micros is None:
            return None
        if "offset" in f:
            value: int | None = days * _MICROS_PER_DAY + micros - f["offset"] * 1_000_000
        else:
            value = _local_to_utc(days, micros, _zone(f["zone"]) if "zone" in f else zone)
        return value if value is not None and -_MAX_MICROS <= value <= _MAX_MICROS else None

    def to_ntz_micros(self, text: str) -> int | None:
        """Spark's parseWithoutTimeZone(allowTimeZone=false): a zone or offset in the value is an error."""
        f = self.parse_fields(text)
        if f is None or "offset" in f or "zone" in f:
            return None
        days, micros = _resolve_date(f), _resolve_time(f)
        return None if days is None or micros is None else days * _MICROS_PER_DAY + micros

    # ---- formatting ------------------------------------------------------------------------------------
    def format(self, days: int, micros: int | None, offset: int | None, zone_name: str | None,
               option: str) -> str:  # fmt: skip
        """Print a date (``micros`` None) or a local date-time with its offset/zone (None: NTZ)."""
        out: list[str] = []
        skipping = 0
        y, mo, d = _civil_from_days(days)
        for t in self.tokens:
            if isinstance(t, _Optional):
                if t.start:
                    if skipping or not self._printable(t, micros, offset):
                        skipping += 1
                elif skipping:
                    skipping -= 1
                continue
            if skipping:
                continue
            if isinstance(t, _Literal):
                out.append(t.text)
                continue
            out.append(self._print(t, y, mo, d, days, micros, offset, zone_name, option))
        return "".join(out)

    def _printable(self, start: _Optional, micros: int | None, offset: int | None) -> bool:
        """java.time prints an optional section only when the value has every field in it."""
        i = self.tokens.index(start) + 1
        depth = 1
        while i < len(self.tokens) and depth:
            t = self.tokens[i]
            if isinstance(t, _Optional):
                depth += 1 if t.start else -1
            elif isinstance(t, _Field):
                if micros is None and t.letter in "HhKkmsSa":
                    return False
                if offset is None and t.letter in "VXxZOz":
                    return False
            i += 1
        return True

    def _print(self, t: _Field, y: int, mo: int, d: int, days: int, micros: int | None, offset: int | None,
               zone_name: str | None, option: str) -> str:  # fmt: skip
        letter, n = t.letter, t.count
        if letter in "HhKkmsSa" and micros is None:
            raise _refuse(option, self.pattern, letter, "needs a time; a date has none (Spark fails too)")
        if letter in "VXxZOz" and offset is None:
            raise _refuse(option, self.pattern, letter, "needs a time zone; this value has none (Spark fails too)")
        if letter == "y":
            if n == 2:
                return f"{abs(y) % 100:02d}"
            text = str(abs(y)).rjust(n, "0")
            if y < 0:
                return "-" + text
            return "+" + text if n >= 4 and len(text) > n else text
        if letter in "ML":
            return str(mo).rjust(n, "0") if n <= 2 else (_MONTHS[mo - 1][:3] if n == 3 else _MONTHS[mo - 1])
        if letter == "d":
            return str(d).rjust(n, "0")
        if letter == "D":
            return str(days - _days_from_civil(y, 1, 1) + 1).rjust(n, "0")
        if letter == "E":
            name = _DAYS[(days + 3) % 7]  # 1970-01-01 was a Thursday
            return name if n == 4 else name[:3]
        assert micros is not None or letter in "VXxZOz"
        if letter in "VXxZOz":
            assert offset is not None
            return _print_zone(letter, n, offset, zone_name, option, self.pattern)
        assert micros is not None
        seconds, frac = divmod(micros, 1_000_000)
        hour, rest = divmod(seconds, 3600)
        minute, second = divmod(rest, 60)
        value = {"H": hour, "k": hour or 24, "K": hour % 12, "h": hour % 12 or 12, "m": minute, "s": second}
        if letter in value:
            return str(value[letter]).rjust(n, "0")
        if letter == "a":
            return "PM" if hour >= 12 else "AM"
        return f"{frac:06d}{0:03d}"[:n]  # S: the fraction truncated to n digits


def _print_zone(letter: str, n: int, offset: int, zone_name: str | None, option: str, pattern: str) -> str:
    if letter == "V":
        return zone_name or _offset_text(offset, True, False, "Z")
    if letter == "z":
        if zone_name in ("UTC", "Etc/UTC") or (zone_name is None and offset == 0):
            return "UTC" if n < 4 else "Coordinated Universal Time"
        raise _refuse(option, pattern, "z", "prints a localized zone name; ppml-enc prints it for UTC only; use VV")
    if letter == "O":
        if offset == 0:
            return "GMT"
        sign = "-" if offset < 0 else "+"
        h, rem = divmod(abs(offset), 3600)
        m, s = divmod(rem, 60)
        if n == 4:
            return f"GMT{sign}{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")
        return f"GMT{sign}{h}" + (f":{m:02d}" if m or s else "") + (f":{s:02d}" if s else "")
    if letter == "Z":
        if n == 4:
            return "GMT" if offset == 0 else "GMT" + _offset_text(offset, True, True, "")
        if n == 5:
            return _offset_text(offset, True, True, "Z")
        return _offset_text(offset, False, False, "+0000", minutes=True)
    zero = "Z" if letter == "X" else None
    colon = n in (3, 5)
    if n == 1:
        sign = "-" if offset < 0 else "+"
        h, rem = divmod(abs(offset), 3600)
        m = rem // 60
        if offset == 0:
            return zero or "+00"
        return f"{sign}{h:02d}" + (f"{m:02d}" if m else "")
    if offset == 0:
        return zero or ("+00:00" if colon else "+0000")
    return _offset_text(offset, colon, n >= 4, "", minutes=True)


def _offset_text(offset: int, colon: bool, optional_seconds: bool, zero: str, minutes: bool = True) -> str:
    if offset == 0 and zero:
        return zero
    sign = "-" if offset < 0 else "+"
    h, rem = divmod(abs(offset), 3600)
    m, s = divmod(rem, 60)
    sep = ":" if colon else ""
    text = f"{sign}{h:02d}{sep}{m:02d}"
    return text + (f"{sep}{s:02d}" if optional_seconds and s else "")


@lru_cache(maxsize=128)
def compiled(pattern: str, option: str, parsing: bool = True) -> DatetimePattern:
    return DatetimePattern(pattern, option, parsing)


# ---- Spark's default rules (no pattern given) -------------------------------------------------------------

_DATE_RE = re.compile(r"([+-]?)([0-9]+)(?:-([0-9]+)(?:-([0-9]+)([ T].*)?)?)?", re.DOTALL | re.ASCII)


def string_to_date(text: str) -> int | None:
    """Spark's DateTimeUtils.stringToDate: ``[+-]yyyy[-m[m][-d[d][ |T]anything]]`` after trimming."""
    s = text.strip(_TRIM)
    m = _DATE_RE.fullmatch(s)
    if m is None:
        return None
    sign, year, month, day, _rest = m.groups()
    if not 4 <= len(year) <= 7 or (month is not None and not 1 <= len(month) <= 2):
        return None
    if day is not None and not 1 <= len(day) <= 2:
        return None
    y = int(year) * (-1 if sign == "-" else 1)
    mo, d = int(month or 1), int(day or 1)
    if not 1 <= mo <= 12 or not 1 <= d <= _month_days(y, mo):
        return None
    return _days_from_civil(y, mo, d)


def _parse_timestamp_string(text: str) -> tuple[int, int, str | None, bool] | None:
    """Spark's DateTimeUtils.parseTimestampString: (days or 0, micros of day, zone text, time only)."""
    s = text.strip(_TRIM)
    if not s:
        return None
    sign = ""
    if s[0] in "+-":
        sign, s = s[0], s[1:]
    time_only = False
    date_part: list[str] = []
    pos = 0
    # date: yyyy[-m[m][-d[d]]]
    m = re.match(r"[0-9]*", s)
    assert m is not None
    first = m.group()
    pos = m.end()
    if pos < len(s) and s[pos] == ":" and not sign:  # [h]h:[m]m... : just a time
        time_only = True
        hour_text = first
        rest = s[pos:]
        return _time_part(hour_text, rest, None, time_only)
    if not first and s.startswith("T") and not sign:
        return _time_part(None, s[1:], None, True)
    date_part.append(first)
    while len(date_part) < 3 and pos < len(s) and s[pos] == "-":
        m = re.match(r"[0-9]*", s[pos + 1 :])
        assert m is not None
        date_part.append(m.group())
        pos += 1 + m.end()
    if not 4 <= len(date_part[0]) <= 6 or any(not 1 <= len(p) <= 2 for p in date_part[1:]):
        return None
    rest = s[pos:]
    if rest and (len(date_part) < 3 or rest[0] not in " T"):
        return None
    y = int(date_part[0]) * (-1 if sign == "-" else 1)
    mo = int(date_part[1]) if len(date_part) > 1 else 1
    d = int(date_part[2]) if len(date_part) > 2 else 1
    if not 1 <= mo <= 12 or not 1 <= d <= _month_days(y, mo):
        return None
    days = _days_from_civil(y, mo, d)
    if not rest:
        return days, 0, None, False
    m = re.match(r"[0-9]*", rest[1:])
    assert m is not None
    return _time_part(m.group(), rest[1 + m.end() :], days, False)


def _time_part(hour: str | None, rest: str, days: int | None, time_only: bool
               ) -> tuple[int, int, str | None, bool] | None:  # fmt: skip
    parts = [hour] if hour is not None else []
    if hour is None:
        m = re.match(r"[0-9]*", rest)
        assert m is not None
        parts, rest = [m.group()], rest[m.end() :]
    while len(parts) < 3 and rest.startswith(":"):
        m = re.match(r"[0-9]*", rest[1:])
        assert m is not None
        parts.append(m.group())
        rest = rest[1 + m.end() :]
    if any(not 1 <= len(p) <= 2 for p in parts):
        return None
    fraction = ""
    zone: str | None = None
    if rest:
        if len(parts) < 3:
            return None  # only after the seconds may a fraction or a zone follow
        if rest[0] == ".":
            m = re.match(r"[0-9]*", rest[1:])
            assert m is not None
            fraction, rest = m.group(), rest[1 + m.end() :]
        if rest:
            zone = rest.strip(_TRIM)
    h, mi, se = (int(p) for p in (parts + ["0", "0"])[:3])
    if h > 23 or mi > 59 or se > 59:
        return None
    micros = ((h * 60 + mi) * 60 + se) * 1_000_000 + int((fraction[:6] or "0").ljust(6, "0"))
    return (days or 0), micros, zone, time_only


_SHORT_IDS = {"EST": "-05:00", "MST": "-07:00", "HST": "-10:00", "ACT": "Australia/Darwin",
              "AET": "Australia/Sydney", "AGT": "America/Argentina/Buenos_Aires", "ART": "Africa/Cairo",
              "AST": "America/Anchorage", "BET": "America/Sao_Paulo", "BST": "Asia/Dhaka",
              "CAT": "Africa/Harare", "CNT": "America/St_Johns", "CST": "America/Chicago", "CTT": "Asia/Shanghai",
              "EAT": "Africa/Addis_Ababa", "ECT": "Europe/Paris", "IET": "America/Indiana/Indianapolis",
              "IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "MIT": "Pacific/Apia", "NET": "Asia/Yerevan",
              "NST": "Pacific/Auckland", "PLT": "Asia/Karachi", "PNT": "America/Phoenix",
              "PRT": "America/Puerto_Rico", "PST": "America/Los_Angeles", "SST": "Pacific/Guadalcanal",
              "VST": "Asia/Ho_Chi_Minh"}  # fmt: skip  (java.time's ZoneId.SHORT_IDS)
_OFFSET_ID = re.compile(r"(?:(UTC|GMT|UT))?([+-])([0-9]{1,2})(?::?([0-9]{2})(?::?([0-9]{2}))?)?")


def _zone_of(name: str) -> dt.tzinfo | None:
    """Spark's getZoneId: ``(+|-)h:mm`` and ``(+|-)hh:m`` widened, then ZoneId.of with SHORT_IDS."""
    name = re.sub(r"^([+-])(\d):", r"\g<1>0\2:", name, count=1)
    name = re.sub(r"([+-])(\d\d):(\d)$", r"\1\2:0\3", name, count=1)
    name = _SHORT_IDS.get(name, name)
    if name in ("Z", "UTC", "GMT", "UT"):
        return dt.UTC
    m = _OFFSET_ID.fullmatch(name)
    if m is not None:
        prefix, sign, h, mi, se = m.groups()
        if prefix is None and len(h) == 1 and mi is not None:
            return None
        total = int(h) * 3600 + int(mi or 0) * 60 + int(se or 0)
        if int(h) > 18 or int(mi or 0) > 59 or int(se or 0) > 59 or total > 18 * 3600:
            return None
        return dt.timezone(dt.timedelta(seconds=total if sign == "+" else -total))
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9~/._+-]+", name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def string_to_timestamp(text: str, zone: dt.tzinfo, ntz: bool = False) -> int | None:
    """Spark's DateTimeUtils.stringToTimestamp (``ntz``: stringToTimestampWithoutTimeZone, zones refused)."""
    parsed = _parse_timestamp_string(text)
    if parsed is None:
        return None
    days, micros, zone_text, time_only = parsed
    if ntz:
        if zone_text is not None or time_only:
            return None
        return days * _MICROS_PER_DAY + micros
    if zone_text is not None:
        found = _zone_of(zone_text)
        if found is None:
            return None
        zone = found
    if time_only:
        now = dt.datetime.now(dt.UTC).astimezone(zone)
        days = now.date().toordinal() - _EPOCH_ORDINAL
    return _local_to_utc(days, micros, zone)


# ---- what the CSV reader and inference use -----------------------------------------------------------------


@dataclass(frozen=True)
class DatetimeOptions:
    """The datetime part of a read's options, as Spark's CSVOptions derives it."""

    date_format: str | None = None
    timestamp_format: str | None = None
    timestamp_ntz_format: str | None = None
    prefer_date: bool = True
    time_zone: str = "UTC"

    def check(self) -> None:
        """Compile every given pattern once on the driver, so a bad one is refused before any task runs."""
        for pattern, option in ((self.date_format, "dateFormat"), (self.timestamp_format, "timestampFormat"),
                                (self.timestamp_ntz_format, "timestampNTZFormat")):  # fmt: skip
            if pattern is not None:
                compiled(pattern, option)
        _zone(self.time_zone)
        refuse_legacy_policy()

    @property
    def date_format_in_read(self) -> str | None:
        """Spark: preferDate (default) makes the date pattern ``yyyy-MM-dd`` when none is given."""
        return self.date_format or DEFAULT_DATE if self.prefer_date else self.date_format

    def zone(self) -> dt.tzinfo:
        return _zone(self.time_zone)

    def date_parser(self) -> Callable[[str], int | None]:
        """Value -> days: the pattern; without a dateFormat also Spark's fallback (stringToDate)."""
        pattern = compiled(self.date_format or DEFAULT_DATE, "dateFormat")
        if self.date_format is not None:
            return pattern.to_days

        def parse(text: str) -> int | None:
            days = pattern.to_days(text)
            return days if days is not None else string_to_date(text.replace("GMT", ""))

        return parse

    def timestamp_parser(self) -> Callable[[str], int | None]:
        """Value -> epoch micros: the pattern (or Spark's default rules); fallback only without a pattern."""
        zone = self.zone()
        if self.timestamp_format is not None:
            pattern = compiled(self.timestamp_format, "timestampFormat")
            return lambda text: pattern.to_micros(text, zone)

        def parse(text: str) -> int | None:
            value = string_to_timestamp(text, zone)
            return value if value is not None else string_to_timestamp(text.replace("GMT", ""), zone)

        return parse

    def ntz_parser(self) -> Callable[[str], int | None]:
        if self.timestamp_ntz_format is not None:
            return compiled(self.timestamp_ntz_format, "timestampNTZFormat").to_ntz_micros
        return lambda text: string_to_timestamp(text, dt.UTC, ntz=True)

    # inference (Spark's CSVInferSchema)
    def infer_date(self) -> Callable[[str], bool]:
        pattern = self.date_format_in_read
        if pattern is None:
            return lambda text: string_to_date(text) is not None
        compiled_pattern = compiled(pattern, "dateFormat")
        return lambda text: compiled_pattern.to_days(text) is not None

    def infer_timestamp(self) -> Callable[[str], bool]:
        zone = self.zone()
        if self.timestamp_format is not None:
            pattern = compiled(self.timestamp_format, "timestampFormat")
            return lambda text: pattern.to_micros(text, zone) is not None
        return lambda text: string_to_timestamp(text, zone) is not None

    def date_widens_to_timestamp(self) -> bool:
        """Spark's canParseDateAsTimestamp: a date+timestamp column is a timestamp only without a custom
        timestampFormat and with a date pattern the lenient timestamp parser reads; else it is a string."""
        return self.timestamp_format is None and (self.date_format_in_read or DEFAULT_DATE) in LENIENT_DATE_FORMATS


def refuse_legacy_policy() -> None:
    """spark.sql.legacy.timeParserPolicy=LEGACY (SimpleDateFormat, lenient) is not reproduced: refused by name
    when this process can see the session (an in-process driver); Python data source workers cannot."""
    try:
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession()
        policy = session.conf.get("spark.sql.legacy.timeParserPolicy", "CORRECTED") if session else None
    except Exception:  # noqa: BLE001 - no session or JVM visible here: nothing to check
        return
    if policy is not None and str(policy).upper() == "LEGACY":
        raise ConfigError("spark.sql.legacy.timeParserPolicy=LEGACY: ppml-enc parses and formats datetimes as "
                          "Spark 3+ does (CORRECTED); set it to CORRECTED or EXCEPTION for ppml-enc reads/writes")


def format_date(days: int, pattern: DatetimePattern, option: str) -> str:
    return pattern.format(days, None, None, None, option)


def format_timestamp(micros: int, pattern: DatetimePattern, zone_name: str, option: str) -> str:
    """A timestamp as Spark's writer prints it: the instant in the session time zone."""
    zone = _zone(zone_name)
    days, rest = divmod(micros, _MICROS_PER_DAY)
    if zone is dt.UTC:
        offset = 0
    else:  # Python's zone rules stop at years 1 and 9999: outside, the offset at the nearest end (as java.time)
        clamped = min(max(micros, _FIRST_MICROS), _LAST_MICROS)
        aware = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=clamped)
        delta = aware.astimezone(zone).utcoffset()
        assert delta is not None
        offset = delta.days * 86400 + delta.seconds
    local = micros + offset * 1_000_000
    days, rest = divmod(local, _MICROS_PER_DAY)
    name = "UTC" if zone is dt.UTC and zone_name.upper() in ("UTC", "Z") else zone_name
    return pattern.format(days, rest, offset, name, option)


def format_ntz(micros: int, pattern: DatetimePattern, option: str) -> str:
    days, rest = divmod(micros, _MICROS_PER_DAY)
    return pattern.format(days, rest, None, None, option)


__all__ = ["DEFAULT_DATE", "DEFAULT_NTZ_WRITE", "DEFAULT_TIMESTAMP_WRITE", "DatetimeOptions", "DatetimePattern",
           "compiled", "format_date", "format_ntz", "format_timestamp", "string_to_date",
           "string_to_timestamp"]  # fmt: skip
