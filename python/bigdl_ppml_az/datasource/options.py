"""Options of the ``ppml-enc`` data source, parsed once on the driver into a small picklable object.

Spark hands Python data sources their options with lower-cased keys; we accept any case. CSV option names and
defaults are Spark's own (``header``, ``sep``/``delimiter``, ``quote``, ``escape``, ``nullValue``...), so a
``spark.read.csv`` call becomes a ``ppml-enc`` read by changing only the format and adding the KMS options.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..formats import AUTO, DEFAULT_WRITE_MODE, Codec, all_codecs, codec_for, normalize_mode, write_codec
from ..options import Options, OptionSpec, as_options, spec_for
from .sparkrules.datetimes import DatetimeOptions

CONTENT_FORMATS = spec_for("format").choices
MODES = spec_for("mode").choices
DEFAULT_MAX_PARTITION_BYTES = int(spec_for("maxPartitionBytes").default)  # type: ignore[call-overload]
DEFAULT_OPEN_COST_BYTES = int(spec_for("openCostInBytes").default)  # type: ignore[call-overload]
PLANNING_OPTIONS = ("maxPartitionBytes", "openCostInBytes", "minPartitions")
SECURE_TRANSPORT_ENV = "PPML_AZ_SECURE_TRANSPORT"


def checked_options(options: Mapping[str, str], side: str, extra: Iterable[str | OptionSpec] = ()) -> Options:
    """The boundary: Spark's options map becomes one :class:`Options`, and an option that no declared ``side``
    (read/write) option matches is an error with a suggestion. ``extra``: option names a KMS backend declares."""
    return Options(options).check(side, extra)


@dataclass(frozen=True)
class ReadSettings:
    """What a read needs besides the paths and the KMS: content format, parser options, planning knobs."""

    content_format: str = "csv"
    crypto_mode: str = AUTO
    header: bool = False
    sep: str = ","
    quote: str | None = '"'
    escape: str | None = "\\"
    null_value: str = ""
    comment: str | None = None
    date_format: str | None = None
    timestamp_format: str | None = None
    time_zone: str = "UTC"
    timestamp_ntz_format: str | None = None  # datetime options: see sparkrules.datetimes.DatetimeOptions
    prefer_date: bool = True
    infer_schema: bool = False
    multi_line: bool = False
    mode: str = "PERMISSIVE"
    corrupt_column: str = "_corrupt_record"
    # Spark's other CSV read options (CSVOptions' read-side defaults); see _csv_read_options
    trim_leading: bool = False  # ignoreLeadingWhiteSpace
    trim_trailing: bool = False  # ignoreTrailingWhiteSpace
    empty_value: str = ""  # what a quoted empty value reads as
    nan_value: str = "NaN"
    positive_inf: str = "Inf"
    negative_inf: str = "-Inf"
    enforce_schema: bool = True
    max_chars: int = -1  # maxCharsPerColumn; -1: no limit
    quote_handling: str = "STOP_AT_DELIMITER"  # unescapedQuoteHandling (univocity's mode, upper case)
    line_sep: str | None = None  # only "\n" is accepted (files holding \r are refused, naming lineSep)
    encoding: str = "utf-8"  # utf-8, or a single-byte charset decoded before tokenizing (us-ascii, iso-8859-1)
    max_partition_bytes: int = DEFAULT_MAX_PARTITION_BYTES
    open_cost_bytes: int = DEFAULT_OPEN_COST_BYTES
    min_partitions: int = 0  # 0: the session's default parallelism when visible, else max(2, CPU count)
    planning_threads: int = 16
    given: frozenset[str] = frozenset()  # planning options the user set (they win over the session's conf)
    base_path: str | None = None
    partition_inference: bool = True
    key_delivery: str = "executor"
    verify: bool = True
    chunk_bytes: int = 4 << 20
    sample_bytes: int = 4 << 20
    sampling_ratio: float = 1.0  # samplingRatio when 0.99 or less (Spark's seeded sample), else 1.0 (every row)
    # JSON (format=json only; refused with other formats)
    primitives_as_string: bool = False
    prefers_decimal: bool = False
    allow_non_numeric: bool = True
    allow_control_chars: bool = False
    allow_single_quotes: bool = True
    drop_field_if_all_null: bool = False

    @property
    def number_specials(self) -> tuple[str, str, str]:
        """(nanValue, positiveInf, negativeInf): the strings a float or double column reads as NaN, +inf, -inf."""
        return self.nan_value, self.positive_inf, self.negative_inf

    @property
    def token_rules(self) -> bool:
        """Whether a token rule pyarrow's CSV reader does not have is on (whitespace trimming, emptyValue, a
        value length limit, an unescapedQuoteHandling other than Spark's default): every line then goes through
        :class:`.sparkrules.csv.LineTokenizer`."""
        return (self.trim_leading or self.trim_trailing or self.empty_value != "" or self.max_chars >= 0
                or self.quote_handling != "STOP_AT_DELIMITER")  # fmt: skip

    @property
    def arrow_syntax(self) -> bool:
        """Whether pyarrow's CSV parser can take sep, quote and escape (one ASCII character each); otherwise only
        the exact-semantics reader (:mod:`.sparkrules.csv`) reads these bytes."""
        return _one_ascii(self.sep) and all(not c or _one_ascii(c) for c in (self.quote, self.escape))

    @property
    def arrow_escape(self) -> str | bool:
        """pyarrow's escape_char. Spark's ``escape`` equal to ``quote`` means RFC 4180 doubled quotes, which
        pyarrow handles with ``double_quote``; passing it as an escape too would swallow closing quotes."""
        if not self.escape or self.escape == self.quote:
            return False
        return self.escape

    def datetime_options(self) -> DatetimeOptions:
        return DatetimeOptions(self.date_format, self.timestamp_format, self.timestamp_ntz_format, self.prefer_date,
                               self.time_zone)  # fmt: skip

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> ReadSettings:
        opts = as_options(options)
        fmt = opts.get_choice("format")
        mode = parse_mode(opts.get_str("mode"))
        delivery = opts.get_choice("keyDelivery")
        crypto_mode = normalize_mode(opts.get("cryptomode") or opts.get("crypto_mode"))
        _check_content_format(crypto_mode, fmt)
        _check_json_only(opts, fmt)
        csv = _csv_read_options(opts, fmt)
        settings = cls(
            content_format=fmt,
            crypto_mode=crypto_mode,
            header=opts.get_bool("header"),
            sep=read_separator(opts.get_str("sep") or ","),
            quote=opts.get_char("quote"),
            escape=opts.get_char("escape"),
            null_value=opts.get_str("nullValue") or "",
            comment=opts.get_char("comment"),
            date_format=opts.get_str("dateFormat") or None,
            timestamp_format=opts.get_str("timestampFormat") or None,
            time_zone=opts.get_str("timeZone") or "UTC",
            timestamp_ntz_format=opts.get_str("timestampNTZFormat") or None,
            prefer_date=opts.get_bool("preferDate"),
            infer_schema=opts.get_bool("inferSchema"),
            multi_line=opts.get_bool("multiLine"),
            mode=mode,
            corrupt_column=opts.get_str("columnNameOfCorruptRecord") or "_corrupt_record",
            max_partition_bytes=opts.get_size("maxPartitionBytes"),
            open_cost_bytes=opts.get_size("openCostInBytes"),
            min_partitions=opts.get_int("minPartitions"),
            planning_threads=_planning_threads(opts),
            given=frozenset(name for name in PLANNING_OPTIONS if opts.raw(name) is not None),
            base_path=opts.get_path("basePath"),
            partition_inference=opts.get_bool("partitionColumnTypeInference"),
            key_delivery=delivery,
            verify=opts.get_bool("verify"),
            chunk_bytes=opts.get_size("chunkBytes"),
            sample_bytes=opts.get_size("samplingBytes"),
            primitives_as_string=opts.get_bool("primitivesAsString"),
            prefers_decimal=opts.get_bool("prefersDecimal"),
            allow_non_numeric=opts.get_bool("allowNonNumericNumbers"),
            allow_control_chars=opts.get_bool("allowUnquotedControlChars"),
            allow_single_quotes=opts.get_bool("allowSingleQuotes"),
            drop_field_if_all_null=opts.get_bool("dropFieldIfAllNull"),
            **csv,
        )
        settings.datetime_options().check()  # a datetime pattern ppml-enc cannot honour is refused by name here
        if settings.multi_line and fmt == "csv":
            multiline_option_refusal(settings)
        if settings.multi_line and fmt == "csv" and not settings.arrow_syntax:
            name, value = next((n, v) for n, v in (("sep", settings.sep), ("quote", settings.quote),
                                                   ("escape", settings.escape)) if v and not _one_ascii(v))  # fmt: skip
            raise ConfigError(
                f"option multiLine=true: {name}={value!r} is not one ASCII character, which ppml-enc's multiLine CSV "
                f"reader needs; drop multiLine or use an ASCII {name}"
            )
        return settings


# Spark 4's CharsetProvider.VALID_CHARSETS (spark.sql.legacy.javaCharsets off): other names fail in Spark too
SPARK_CHARSETS = ("us-ascii", "iso-8859-1", "utf-8", "utf-16be", "utf-16le", "utf-16", "utf-32")
SINGLE_BYTE_CHARSETS = {"us-ascii": "ascii", "iso-8859-1": "latin-1"}  # Spark's name -> Python codec
WIDE_LINE_CHARSETS = ("utf-16", "utf-16be", "utf-16le", "utf-32")  # decoded line by line (sparkrules.csv)
UNESCAPED_QUOTE_MODES = ("STOP_AT_CLOSING_QUOTE", "BACK_TO_DELIMITER", "STOP_AT_DELIMITER", "SKIP_VALUE",
                         "RAISE_ERROR")  # fmt: skip
READ_TEXT_OPTIONS = ("lineSep", "encoding")  # CSV reads only (JSON and text reads refuse them)


def _check_quote_handling(opts: Options, named: str) -> None:
    """unescapedQuoteHandling other than STOP_AT_DELIMITER: ppml-enc has univocity's rules for it in its line
    reader (multiLine=false) with a one-character sep, no whitespace trimming, no emptyValue and no
    maxCharsPerColumn; other combinations are refused naming both options (their interplay is not reproduced)."""
    if opts.get_bool("multiLine"):
        raise ConfigError(f"{named}: ppml-enc honours it with multiLine=false only; drop multiLine (if no value "
                          "holds a line break) or unescapedQuoteHandling, or read the file with Spark's reader")
    sep = read_separator(opts.get_str("sep") or ",")
    others = [("sep", len(sep) > 1), ("ignoreLeadingWhiteSpace", _raw_true(opts, "ignoreLeadingWhiteSpace")),
              ("ignoreTrailingWhiteSpace", _raw_true(opts, "ignoreTrailingWhiteSpace")),
              ("emptyValue", (opts.raw("emptyValue") or ("", ""))[1] != ""),
              ("maxCharsPerColumn", (opts.raw("maxCharsPerColumn") or ("", "-1"))[1].strip() != "-1")]
    for name, on in others:
        if on:
            raise ConfigError(
                f"{named}: ppml-enc does not reproduce Spark's reading of unescaped quotes in that mode together "
                f"with {name} set; drop {name} or unescapedQuoteHandling, or read the file with Spark's reader"
            )


def _raw_true(opts: Options, name: str) -> bool:
    found = opts.raw(name)
    return found is not None and opts.get_bool(name)


def _csv_read_options(opts: Options, fmt: str) -> dict[str, Any]:
    """Spark's remaining CSV read options (CSVOptions), each either honoured exactly or refused naming it.

    Read-side defaults differ from the writer's (``ignore*WhiteSpace`` are false on read), so the raw value is
    read here rather than the declared (write) default."""
    out: dict[str, Any] = {}
    ratio = opts.raw("samplingRatio")
    if ratio is not None:
        value = opts.get_number("samplingRatio")
        if value <= 0:
            raise ConfigError(f"option {ratio[0]}={ratio[1]}: samplingRatio ({value}) should be greater than 0")
        if value <= 0.99:  # Spark: above 0.99 every row; else its seeded sample of lines, reproduced (or
            out["sampling_ratio"] = value  # refused by name) where the schema is inferred (infer.py)
    locale = opts.raw("locale")
    if locale is not None and locale[1].strip().lower().replace("_", "-") != "en-us":
        raise ConfigError(
            f"option {locale[0]}={locale[1]}: ppml-enc parses dates and numbers in Spark's default locale (en-US) "
            "only; remove locale or use locale=en-US"
        )
    for name in READ_TEXT_OPTIONS:
        found = opts.raw(name)
        if found is not None and fmt != "csv":
            raise ConfigError(f"option {found[0]}={found[1]!r}: ppml-enc honours it on CSV reads only; remove it")
    handling = opts.raw("unescapedQuoteHandling")
    if handling is not None:
        mode = handling[1].strip().upper()
        if mode not in UNESCAPED_QUOTE_MODES:
            raise ConfigError(f"option {handling[0]}={handling[1]}: not one of {', '.join(UNESCAPED_QUOTE_MODES)}")
        if mode != "STOP_AT_DELIMITER":
            named = f"option {handling[0]}={handling[1]}"
            if fmt != "csv":
                raise ConfigError(f"{named}: applies to CSV reads only; remove it")
            _check_quote_handling(opts, named)
            out["quote_handling"] = mode
    if fmt != "csv":
        return out
    for key, name in (("trim_leading", "ignoreLeadingWhiteSpace"), ("trim_trailing", "ignoreTrailingWhiteSpace"),
                      ("enforce_schema", "enforceSchema")):  # fmt: skip
        if opts.raw(name) is not None:
            out[key] = opts.get_bool(name)
    for key, name in (("empty_value", "emptyValue"), ("nan_value", "nanValue"), ("positive_inf", "positiveInf"),
                      ("negative_inf", "negativeInf")):  # fmt: skip
        found = opts.raw(name)
        if found is not None:
            out[key] = found[1]
    chars = opts.raw("maxCharsPerColumn")
    if chars is not None:
        try:
            out["max_chars"] = int(chars[1].strip())
        except ValueError:
            raise ConfigError(f"option {chars[0]}={chars[1]}: not a whole number; use digits or -1") from None
        if out["max_chars"] < -1:
            raise ConfigError(f"option {chars[0]}={chars[1]}: use a limit of 0 or more characters, or -1 (no limit)")
    sep = opts.raw("lineSep")
    if sep is not None:
        if sep[1] == "":
            raise ConfigError(f"option {sep[0]}='': Spark refuses an empty line separator; remove it")
        if len(sep[1]) > 2:
            raise ConfigError(f"option {sep[0]}={sep[1]!r}: Spark takes one or two characters")
        if sep[1] != "\n":
            raise ConfigError(
                f"option {sep[0]}={sep[1]!r}: ppml-enc's CSV reader splits lines as Spark's default does (and with "
                "lineSep=\\n on files without \\r); remove lineSep or read the file with Spark's reader"
            )
        out["line_sep"] = sep[1]
    charset = opts.raw("encoding")
    if charset is not None:
        name = charset[1].strip().lower()
        if name not in SPARK_CHARSETS:
            raise ConfigError(
                f"option {charset[0]}={charset[1]}: not a charset Spark accepts ({', '.join(SPARK_CHARSETS)})"
            )
        if name in WIDE_LINE_CHARSETS and opts.get_bool("multiLine"):
            raise ConfigError(
                f"option {charset[0]}={charset[1]}: ppml-enc decodes {name.upper()} with multiLine=false only (Spark "
                "decodes it line by line there); with multiLine=true re-encode the data as UTF-8 or read it with "
                "Spark's reader"
            )
        if name in WIDE_LINE_CHARSETS and "line_sep" in out:
            raise ConfigError(
                f"option lineSep with {charset[0]}={charset[1]}: Spark then splits lines at lineSep encoded in "
                f"{name.upper()} (with a byte-order mark), which ppml-enc does not reproduce; remove lineSep"
            )
        if name != "utf-8" and name not in SINGLE_BYTE_CHARSETS and name not in WIDE_LINE_CHARSETS:
            raise ConfigError(
                f"option {charset[0]}={charset[1]}: ppml-enc's CSV reader decodes UTF-8, US-ASCII, ISO-8859-1, UTF-16 "
                "and UTF-32 only; re-encode the data as UTF-8 or read it with Spark's reader"
            )
        out["encoding"] = name
    return out


def multiline_option_refusal(settings: ReadSettings) -> None:
    """Options whose rules ppml-enc's multi-line reader (pyarrow) does not have: refused naming them."""
    for name, on in (("ignoreLeadingWhiteSpace", settings.trim_leading),
                     ("ignoreTrailingWhiteSpace", settings.trim_trailing),
                     ("emptyValue", settings.empty_value != ""), ("maxCharsPerColumn", settings.max_chars >= 0),
                     ("enforceSchema", not settings.enforce_schema)):  # fmt: skip
        if on:
            raise ConfigError(
                f"option {name}: ppml-enc honours it with multiLine=false only; drop multiLine (if no value holds "
                f"a line break) or {name}, or read the file with Spark's reader"
            )


def _one_ascii(text: str) -> bool:
    return len(text) == 1 and text.isascii()


JSON_ONLY = ("primitivesAsString", "prefersDecimal", "allowNonNumericNumbers", "allowUnquotedControlChars",
             "allowSingleQuotes", "dropFieldIfAllNull")  # fmt: skip


def _check_json_only(opts: Options, fmt: str) -> None:
    """JSON options with another format would be ignored (Spark ignores them silently): refused instead."""
    for name in JSON_ONLY:
        found = opts.raw(name)
        if found is not None and fmt != "json":
            raise ConfigError(f"option {found[0]}={found[1]}: applies to format=json only; remove it")


def _planning_threads(opts: Options) -> int:
    threads = opts.get_int("planningThreads")
    if threads < 1:
        raise ConfigError(f"option planningThreads={threads}: needs at least one thread; use 1 (sequential) or more")
    return threads


@dataclass(frozen=True)
class WriteSettings:
    """What a write needs: content format, codec, and Spark's CSV/JSON writer options (defaults are Spark's)."""

    content_format: str = "csv"
    crypto_mode: str = DEFAULT_WRITE_MODE
    header: bool = False
    sep: str = ","
    quote: str = '"'  # Spark's quote="" is U+0000, which its writer then writes as the quote
    escape: str = "\\"
    char_to_escape_quote_escaping: str | None = None  # None: univocity's default (escape, if it is not quote)
    comment: str = "#"  # univocity's default when the option is not set
    line_sep: str = "\n"
    ignore_leading: bool = True
    ignore_trailing: bool = True
    null_value: str = ""
    empty_value: str = '""'
    quote_all: bool = False
    escape_quotes: bool = True
    time_zone: str | None = None  # None: the zone of the batches' timestamps (Spark's session time zone)
    ignore_null_fields: bool = True
    segment_size: int = 1 << 20
    key_delivery: str = "executor"
    footer_key: str = ""  # PME master key id (kms=azure: a Key Vault key name or URL); "" = jvm.pme's default
    date_format: str | None = None  # datetime output patterns (None: Spark's defaults), see _csv_ready
    timestamp_format: str | None = None
    timestamp_ntz_format: str | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> WriteSettings:
        opts = as_options(options)
        fmt = opts.get_choice("format")
        codec = write_codec(opts.get("cryptomode") or opts.get("crypto_mode"), DEFAULT_WRITE_MODE)
        mode = codec.name
        _check_content_format(mode, fmt)
        if not codec.writable:
            raise ConfigError(f"cryptoMode={mode} cannot be written; use {_writable_modes()}")
        if codec.write_formats is not None and fmt not in codec.write_formats:
            raise ConfigError(f"{codec.title} output supports {_and(codec.write_formats)}, not {fmt}")
        _check_encoding(opts)
        _check_compression(opts)
        quote, escape = opts.get_char("quote"), opts.get_char("escape")
        empty = opts.get_str("emptyValue")
        return cls(
            content_format=fmt,
            crypto_mode=mode,
            header=opts.get_bool("header"),
            sep=_write_separator(opts),
            quote="\0" if quote is None else quote,
            escape="\0" if escape is None else escape,
            char_to_escape_quote_escaping=opts.get_char("charToEscapeQuoteEscaping"),
            comment=opts.get_char("comment") or "#",
            line_sep=_line_separator(opts),
            ignore_leading=opts.get_bool("ignoreLeadingWhiteSpace"),
            ignore_trailing=opts.get_bool("ignoreTrailingWhiteSpace"),
            null_value=opts.get_str("nullValue") or "",
            empty_value='""' if empty is None else empty,
            quote_all=opts.get_bool("quoteAll"),
            escape_quotes=opts.get_bool("escapeQuotes"),
            time_zone=_write_time_zone(opts),
            ignore_null_fields=opts.get_bool("ignoreNullFields"),
            segment_size=opts.get_size("segmentSize"),
            key_delivery=opts.get_choice("keyDelivery"),
            footer_key=opts.get_str("footerKey") or "",
            date_format=_write_pattern(opts, "dateFormat"),
            timestamp_format=_write_pattern(opts, "timestampFormat"),
            timestamp_ntz_format=_write_pattern(opts, "timestampNTZFormat"),
        )


UTF8_NAMES = ("utf-8", "utf8", "unicode-1-1-utf-8")  # Java's names for UTF-8 (Charset.forName ignores case)
UNCOMPRESSED = ("none", "uncompressed")


def _check_encoding(opts: Options) -> None:
    """Spark's writer encodes with any Java charset; ppml-enc writes UTF-8 only and refuses the others."""
    found = opts.raw("encoding")
    if found is not None and found[1].strip().lower() not in UTF8_NAMES:
        raise ConfigError(
            f"option {found[0]}={found[1]}: ppml-enc writes UTF-8 only (Spark's writer would use Java's "
            f"{found[1]} encoder, byte for byte); remove it or use {found[0]}=UTF-8"
        )


def _check_compression(opts: Options) -> None:
    """Compressed output would need Hadoop's codecs byte for byte; only Spark's no-compression names pass."""
    found = opts.raw("compression")
    if found is not None and found[1].strip().lower() not in UNCOMPRESSED:
        raise ConfigError(
            f"option {found[0]}={found[1]}: ppml-enc does not compress its output (the ciphertext would not "
            f"shrink); remove it or use {found[0]}=none"
        )


def _write_separator(opts: Options) -> str:
    """Spark's write separator: any non-empty string, ``\\t`` for a tab. Other backslash escapes (which Spark
    decodes as ``\\u0001``, ``\\r``...) are refused rather than written differently."""
    found = opts.raw("sep")
    value = read_separator(found[1]) if found is not None else ","
    if "\\" in value and found is not None:
        raise ConfigError(
            f"option {found[0]}={found[1]}: backslash escapes in a write separator are not supported except "
            f"\\t; give the character itself"
        )
    return value


def _line_separator(opts: Options) -> str:
    """Spark's lineSep on write: one character, or two (its CRLF allowance)."""
    found = opts.raw("lineSep")
    if found is None:
        return "\n"
    if not 1 <= len(found[1]) <= 2:
        raise ConfigError(f"option {found[0]}={found[1]!r}: Spark takes one or two characters; give one, e.g. \\n")
    return found[1]


def _write_pattern(opts: Options, name: str) -> str | None:
    """A custom datetime output pattern, checked on the driver (a letter ppml-enc cannot print is refused here,
    not in a task)."""
    pattern = opts.get_str(name) or None
    if pattern is not None:
        from .sparkrules.datetimes import compiled

        compiled(pattern, name, parsing=False)
    return pattern


def _write_time_zone(opts: Options) -> str | None:
    """The zone timestamps are written in; a region id, UTC or a fixed ``+HH:MM`` offset."""
    found = opts.raw("timeZone")
    if found is None:
        return None
    from .textwrite import zone_for  # the zone rules live with the formatting

    zone_for(found[1], found[0])
    return found[1]


def parse_mode(value: str | None) -> str:
    """Spark's ParseMode.fromString: the three modes in any case; any other value is PERMISSIVE (Spark warns)."""
    given = (value or "").strip().upper()
    return given if given in MODES else "PERMISSIVE"


def read_separator(value: str) -> str:
    """Spark's separator syntax on read: any non-empty string, ``\\t`` for a tab."""
    return "\t" if value == "\\t" else value


def _and(items: tuple[str, ...] | list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def _general_writers() -> list[Codec]:
    return [c for c in all_codecs() if c.writable and c.content_formats is None]


def _writable_modes() -> str:
    """``ppml-gcm, aes/cbc/pkcs5padding, or for parquet aes_gcm_v1/aes_gcm_ctr_v1`` from the registry."""
    general = ", ".join(c.name for c in _general_writers())
    special: dict[tuple[str, ...], list[str]] = {}
    for c in all_codecs():
        if c.writable and c.content_formats is not None:
            special.setdefault(c.content_formats, []).append(c.name)
    return general + "".join(f", or for {'/'.join(fmts)} {'/'.join(names)}" for fmts, names in special.items())


def _check_content_format(mode: str, fmt: str) -> None:
    """A codec holding only some content formats (PME: parquet) refuses the others."""
    if mode == AUTO:
        return
    codec = codec_for(mode)
    if codec.content_formats is not None and fmt not in codec.content_formats:
        others = [f for f in CONTENT_FORMATS if f not in codec.content_formats]
        raise ConfigError(
            f"cryptoMode={mode} is {codec.title} and needs format={'/'.join(codec.content_formats)}, "
            f"not format={fmt}; for {', '.join(others[:-1])} or {others[-1]} use cryptoMode="
            + " or ".join(c.name for c in _general_writers() if c.write_formats is None or fmt in c.write_formats)
        )


def paths_of(options: Mapping[str, str]) -> list[str]:
    """The paths Spark passed: ``path`` for ``load(p)``, a JSON list in ``paths`` for ``load([p, q])``."""
    paths = as_options(options).get_paths()
    if not paths:
        raise ConfigError("no path given: use .load(path) or .save(path)")
    return paths


def check_driver_delivery(options: Mapping[str, str]) -> None:
    """keyDelivery=driver ships data keys inside task descriptions: only over authenticated, encrypted RPC.

    Spark does not give Python data sources its configuration, so whoever launches the job with
    spark.authenticate and spark.network.crypto.enabled confirms it by exporting PPML_AZ_SECURE_TRANSPORT=1 to
    the driver; option allowInsecureKeyDelivery=true overrides for local testing only.
    """
    if as_options(options).get_bool("allowInsecureKeyDelivery"):
        return
    if os.environ.get(SECURE_TRANSPORT_ENV) == "1":
        return
    try:  # in-process driver (rare for data sources, but exact when it happens)
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession()
    except Exception:  # pragma: no cover - no JVM in this process
        session = None
    if session is not None:
        conf = session.sparkContext.getConf()
        if (
            conf.get("spark.authenticate", "false") == "true"
            and conf.get("spark.network.crypto.enabled", "false") == "true"
        ):
            return
    raise ConfigError(
        "keyDelivery=driver sends data keys to executors inside task descriptions; it needs "
        "spark.authenticate=true and spark.network.crypto.enabled=true; launch the job with both set and export "
        f"{SECURE_TRANSPORT_ENV}=1 to the driver to confirm it (Python data sources cannot read the Spark conf). "
        "Otherwise use keyDelivery=executor, or allowInsecureKeyDelivery=true for local tests only."
    )
