"""Schema inference on the driver from a bounded decrypted sample of the first file.

Mirrors what Spark infers for common data: CSV without ``inferSchema`` is all strings; with it, integers that
fit 32 bits are ``int`` (else ``bigint``), decimals ``double``, ``true``/``false`` ``boolean``, ISO dates
``date`` and timestamps ``timestamp``. JSON: Spark's JsonInferSchema (:mod:`.sparkrules.json`) over every file.
Header names come from the header line; without a header columns are ``_c0``, ``_c1``...
``samplingRatio`` 0.99 or less: types from Spark's own seeded sample of the lines (:mod:`.sparkrules.sampling`)
where the sample is surely Spark's (one file, line mode, one scan partition), else refused naming the option.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ..errors import ConfigError, IntegrityError, PpmlError, with_source
from ..formats import (
    HEAD_SIZE,
    DataKey,
    ObjectInfo,
    encrypted,
    iter_plaintext,
    open_reader,
    open_sample,
    refuse_ciphertext_as_plaintext,
)
from ..kms import KmsSettings
from ..options import Options
from ..storage import FileStatus, FileSystem, filesystem_for, open_status
from ..table.integrity import check_file
from .keys import unwrap, wrapped_key_for
from .lineformats import json_options
from .options import ReadSettings, paths_of
from .parquet import open_parquet
from .planning import list_data_files, packing_for, probe_file
from .pme import open_file as pme_open
from .sparkrules import json as sparkjson
from .sparkrules import numbers as sparknum
from .sparkrules import parquet as sparkparquet
from .sparkrules import sampling as sparksampling
from .sparkrules.csv import (
    LineTokenizer,
    checked_multiline,
    first_line,
    header_tokens,
    multiline_header,
    needs_exact,
    refuse_line_sep,
    refuse_nul_quote,
    to_utf8,
    tokenize_lines,
)

_INT32 = (-(1 << 31), (1 << 31) - 1)


def infer_schema(options: Mapping[str, str]) -> StructType:
    settings = ReadSettings.from_options(options)
    if settings.content_format == "text":
        return StructType([StructField("value", StringType(), True)])
    files = list_data_files(paths_of(options), options, encrypted=encrypted(settings.crypto_mode))
    if _sampled(settings):
        _check_sampling(settings, len(files))
    if settings.content_format == "parquet":  # Spark: the first file's footer, or every file's merged
        if (options if isinstance(options, Options) else Options(options)).get_bool("mergeSchema"):
            return sparkparquet.merge_schemas([_file_schema(f, options, settings, None) for f in files])
        return _file_schema(files[0], options, settings, None)
    if settings.content_format != "json":
        return _file_schema(files[0], options, settings, None)
    inferrer = sparkjson.Inferrer(json_options(settings))  # Spark infers JSON from every file, largest first
    for file in sorted(files, key=lambda f: -f.size):
        _file_schema(file, options, settings, inferrer)
    return inferrer.schema()


def _file_schema(first: FileStatus, options: Mapping[str, str], settings: ReadSettings,
                 inferrer: sparkjson.Inferrer | None) -> StructType:  # fmt: skip
    """The schema of one file's sample; JSON samples go into ``inferrer`` instead (the result is then empty)."""
    fs = filesystem_for(first.path, options)
    info = probe_file(fs, first, settings)
    if info.codec.encrypted:  # its place in its table first (no sample of a file that does not belong)
        with open_status(fs, first) as source:
            check_file(fs, first, info, source, KmsSettings.from_options(options))
    if not info.codec.wraps_bytes:  # encrypted inside Parquet (PME): pyarrow reads the footer
        with open_status(fs, first) as source:
            return _parquet_schema(pme_open(source, first.size, first.path, options), first.path)
    key = None
    if info.codec.encrypted:
        kms_settings = KmsSettings.from_options(options)
        key = unwrap(kms_settings, wrapped_key_for(info, first.path, kms_settings, fs), first.path)
    # Authenticated: every byte decrypted below was verified first (a whole-file MAC before anything). Otherwise
    # (nativeaescbc, or verify=false) the padded final block is never decrypted, and every failure is one
    # uniform error, so load() is not a padding oracle (issue 10, item 3).
    codec = info.codec
    unauthenticated = codec.encrypted and not (codec.authenticated and (settings.verify or not codec.whole_file_mac))
    if unauthenticated and _sampled(settings):  # its sample withholds the final block: not every line is there
        raise _sampling_refusal(settings, f"{first.path} is {info.mode} data read without authentication, whose "
                                "schema is inferred from a sample that withholds the file's end")
    if not unauthenticated:
        return _sample_schema(fs, first, info, key, settings, True, inferrer)
    try:
        return _sample_schema(fs, first, info, key, settings, False, inferrer)
    except (PpmlError, pa.ArrowException, ValueError, UnicodeDecodeError):
        raise IntegrityError(
            f"{first.path}: no schema could be inferred from its decrypted sample ({info.mode} data is not "
            "authenticated: wrong key, or a damaged or modified file); pass .schema(...) or check the file"
        ) from None


def _sample_schema(
    fs: FileSystem, first: FileStatus, info: ObjectInfo, key: DataKey | None, settings: ReadSettings, whole_tail: bool,
    inferrer: sparkjson.Inferrer | None = None,
) -> StructType:
    """Schema from a bounded sample of one file, decrypted through ``open_sample`` (never a padding oracle).

    ``whole_tail`` False: the sample may end inside a row (the final block was withheld), so it is cut at
    the last newline like a full sample. Limit: multiLine and Parquet samples need the file's end, so for
    unauthenticated CBC they decrypt it (the error stays uniform, but success versus failure remains)."""
    path = first.path
    with open_status(fs, first) as source:
        if settings.content_format == "parquet":  # the footer is at the end: needs the whole (verified) file
            reader = open_reader(info, source, key, verify=settings.verify, name=path)
            try:
                file = open_parquet(reader)
            except pa.ArrowException:
                if not info.codec.encrypted:  # ciphertext is no Parquet file: say what it is instead
                    source.seek(0)
                    refuse_ciphertext_as_plaintext(source.read(HEAD_SIZE), path, info.mode)
                raise
            return _parquet_schema(file, path)
        if settings.multi_line:  # one document per file: needs its end (padding checked; errors stay uniform)
            reader = open_reader(info, source, key, verify=settings.verify, name=path)
        else:
            reader = open_sample(info, source, key, verify=settings.verify, name=path)
        sample = bytearray()
        complete = True  # the whole file is in the sample
        for piece in iter_plaintext(reader, path):
            sample += piece
            if len(sample) >= settings.sample_bytes:
                complete = False
                break
    if not info.codec.encrypted:  # a plaintext read: an encrypted file's bytes are never a schema
        refuse_ciphertext_as_plaintext(bytes(sample[:HEAD_SIZE]), path, info.mode)
    if (len(sample) >= settings.sample_bytes or not whole_tail) and not settings.multi_line:
        cut = sample.rfind(b"\n")
        del sample[cut + 1 if cut >= 0 else len(sample) :]
    sampled = _sampled(settings)
    if sampled:
        _check_sample_size(settings, path, len(sample), complete and whole_tail)
    if inferrer is not None:
        records = list(sparkjson.records(bytes(sample), settings.multi_line))
        if sampled:  # Spark samples the text source's lines (blank ones too), then infers from what is kept
            records = sparksampling.sample_rows(records, settings.sampling_ratio)
        for text, valid in records:
            inferrer.add(text, valid)
        return StructType([])
    return _csv_schema(bytes(sample), settings, path, sampled)


# ---- samplingRatio: Spark's seeded sample of lines (sparkrules/sampling.py) ----------------------------------


def _sampled(settings: ReadSettings) -> bool:
    """Whether Spark would infer this read's schema from a sample (samplingRatio <= 0.99; CSV types only with
    inferSchema: without it every column is a string whatever the sample)."""
    if settings.sampling_ratio > sparksampling.MAX_FULL_RATIO:
        return False
    return settings.content_format == "json" or (settings.content_format == "csv" and settings.infer_schema)


def _sampling_refusal(settings: ReadSettings, why: str) -> ConfigError:
    return ConfigError(
        f"option samplingRatio={settings.sampling_ratio}: Spark infers the schema from a seeded sample of the lines "
        f"of each scan partition, which ppml-enc reproduces only for one file read line by line that Spark "
        f"scans as one partition; here {why}; remove samplingRatio (every row) or pass .schema(...)"
    )


def _check_sampling(settings: ReadSettings, files: int) -> None:
    """Refuse, naming samplingRatio, a sampled inference whose sample ppml-enc cannot know to be Spark's."""
    if settings.multi_line:  # Spark then samples records (CSV: RDD.sample's gap sampler) or whole files (JSON)
        raise _sampling_refusal(settings, "multiLine=true samples whole records or files with another sampler")
    if files > 1:  # lines are sampled per partition, with the partition's index in the seed
        raise _sampling_refusal(settings, f"{files} files are read, which Spark packs into partitions")
    if settings.encoding not in _SAMPLED_CHARSETS:  # lines found in the decoded text: one byte per line end
        raise _sampling_refusal(settings, f"encoding={settings.encoding} has line ends of several bytes")


_SAMPLED_CHARSETS = ("utf-8", "us-ascii", "iso-8859-1")


def _sampling_limit(settings: ReadSettings) -> int:
    """Plaintext bytes up to which one file is surely one scan partition: Spark splits a file at
    ``maxSplitBytes = min(maxPartitionBytes, max(openCostInBytes, bytesPerCore))`` >= min(both)."""
    packing = packing_for(settings)
    return min(packing.max_partition_bytes, packing.open_cost_bytes)


def _check_sample_size(settings: ReadSettings, path: str, size: int, whole: bool) -> None:
    limit = _sampling_limit(settings)
    if not whole or size > limit:
        raise _sampling_refusal(settings, f"{path} holds more than {min(limit, settings.sample_bytes)} bytes of "
                                "plaintext (raise samplingBytes, openCostInBytes and maxPartitionBytes only as far "
                                "as Spark's own spark.sql.files.* settings go)")


def _sample_lines(sample: bytes, settings: ReadSettings) -> bytes:
    """The lines Spark's sample keeps, for its CSV inference: the text source's lines (Hadoop's: ``\n``,
    ``\r``, ``\r\n`` end them; a leading UTF-8 BOM is skipped), comments, blank lines and header lines
    included, sampled in order; with a header, Spark's first line (taken from all lines) goes first, so the
    names are the unsampled ones and lines equal to it are dropped as Spark drops them."""
    text = sample[len(BOM_BYTES) :] if sample.startswith(BOM_BYTES) else sample
    lines = _RAW_LINE.split(text)
    if lines and lines[-1] == b"":
        lines.pop()
    kept = sparksampling.sample_rows(lines, settings.sampling_ratio)
    body = b"".join(line + b"\n" for line in kept)
    if not settings.header:
        return body
    head = first_line(sample.decode("utf-8", "replace"), settings)
    return (head or "").encode("utf-8") + b"\n" + body


BOM_BYTES = "\ufeff".encode()
_RAW_LINE = re.compile(rb"\r\n|\r|\n")


def _parquet_schema(file: pq.ParquetFile, path: str) -> StructType:
    """The schema Spark reports for one Parquet file (:mod:`.sparkrules.parquet`), errors naming the file."""
    try:
        return sparkparquet.file_schema(file)
    except PpmlError as exc:
        raise with_source(exc, path) from None


def _safe_names(raw: list[str | None], settings: ReadSettings) -> list[str]:
    """Spark's makeSafeHeader: empty or nullValue names become ``_c<i>``; case-insensitive duplicates get the index."""
    names = [str(v) if v not in (None, "", settings.null_value) else f"_c{i}" for i, v in enumerate(raw)]
    lowered = [n.lower() for n in names]
    return [f"{n}{i}" if lowered.count(n.lower()) > 1 else n for i, n in enumerate(names)]


def _exact_sample(sample: bytes, settings: ReadSettings, path: str) -> tuple[list[str], bytes | None]:
    """Names, and the sample's records re-written as clean CSV for pyarrow's type inference (Spark's line-mode
    tokens: non-null values quoted, nulls empty), for samples pyarrow would tokenize differently."""
    tokens = header_tokens(sample.decode("utf-8", "replace"), settings)
    if tokens is None:
        return [], None
    names = _safe_names(list(tokens), settings) if settings.header else [f"_c{i}" for i in range(len(tokens))]
    if not settings.infer_schema:
        return names, None
    header = first_line(sample.decode("utf-8", "replace"), settings) if settings.header else None
    columns, _, _ = tokenize_lines(sample, settings, len(names), False, header)
    rows = zip(*(c.to_pylist() for c in columns), strict=True) if columns else iter(())
    lines = [",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in row) for row in rows]
    return names, ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _header_repeats(sample: bytes, settings: ReadSettings) -> bool:
    """Whether a line equal to the header comes again (Spark's inference drops such lines: exact path)."""
    if not settings.header:
        return False
    head, _, rest = sample.partition(b"\n")
    head = head.rstrip(b"\r")
    return bool(head) and (rest.startswith(head + b"\n") or b"\n" + head + b"\n" in rest or
                           rest.endswith(head) or b"\n" + head + b"\r" in rest or rest.startswith(head + b"\r"))


def _csv_schema(sample: bytes, settings: ReadSettings, path: str, sampled: bool = False) -> StructType:
    """``sampled``: ``sample`` is the whole file, and Spark infers types from its samplingRatio sample."""
    refuse_nul_quote(sample, settings)
    refuse_line_sep(sample, settings)
    if settings.multi_line:  # bytes the multi-line read would refuse (naming multiLine) are refused here too,
        sample = b"".join(checked_multiline(iter([sample]), settings, path))  # and read as it reads them
    else:
        sample = to_utf8(sample, settings, True)  # decoded before tokenizing, as in Spark
    if not sample and settings.multi_line and not settings.quote:  # Spark's multiLine, quoting off: one column
        return StructType([StructField("_c0", StringType(), True)])
    # Invalid UTF-8 reads as U+FFFD, as Spark's CSV reader does; otherwise pyarrow cannot hand a malformed
    # row to the skipping handler and inference fails on one damaged line.
    sample = sample.decode("utf-8", errors="replace").encode("utf-8")
    skip_header = settings.header
    if settings.multi_line:  # the header is the first record, which may hold a quoted line break
        tokens, sample = multiline_header(sample, settings)
        skip_header = False
    else:
        tokens = header_tokens(sample.decode("utf-8"), settings)
    if tokens is None:
        return StructType([])  # Spark: a file without records (blank, whitespace, BOM) reads as no columns
    names = _safe_names(list(tokens), settings) if settings.header else [f"_c{i}" for i in range(len(tokens))]
    if not settings.infer_schema:
        return StructType([StructField(n, StringType(), True) for n in names])
    if sampled:  # names from every line (Spark's first line), types from the sampled lines
        sample = _sample_lines(sample, settings)
    exact = settings.multi_line is False and (needs_exact(sample, settings, True) or _header_repeats(sample, settings))
    if not exact:
        ragged: list[str] = []
        parse = pacsv.ParseOptions(
            delimiter=settings.sep,
            quote_char=settings.quote or False,
            escape_char=settings.arrow_escape,
            newlines_in_values=settings.multi_line,
            invalid_row_handler=lambda row: ragged.append(row.text) or "skip",  # type: ignore[func-returns-value]
        )
        nulls = sorted({"", settings.null_value})
        table = _infer_table(sample, len(names), skip_header, parse, nulls, True)
        if not ragged or settings.multi_line:
            strings = _infer_table(sample, len(names), skip_header, parse, nulls, True, as_strings=True)
            columns = None if strings is None else [c.combine_chunks() for c in strings.columns]
            if columns is not None and ragged:  # Spark's inference folds every record's first fields, ragged too
                columns = _with_ragged(columns, ragged, settings)
            return _typed(names, table, columns, settings)
    # Spark's tokens re-written as clean CSV (non-null values quoted, nulls empty) for pyarrow's type inference
    _, clean = _exact_sample(sample, settings, path)
    parse = pacsv.ParseOptions(delimiter=",", quote_char='"', double_quote=True, escape_char=False)
    return _typed(names, _infer_table(clean or b"", len(names), False, parse, [""], False),
                  _exact_columns(sample, settings, len(names)), settings)  # fmt: skip


def _with_ragged(columns: list[pa.Array], texts: list[str], settings: ReadSettings) -> list[pa.Array]:
    """The string columns plus the values of the records pyarrow skipped for their field count (multiLine):
    Spark's CSVInferSchema folds the fields a record has, whatever its length."""
    tokenizer = LineTokenizer(settings)
    extra: list[list[str | None]] = [[] for _ in columns]
    for text in texts:
        for i, (value, quoted) in enumerate(tokenizer.tokens(text)[: len(columns)]):
            extra[i].append(None if value == settings.null_value or (not quoted and value == "") else value)
    pairs = zip(columns, extra, strict=True)
    return [pa.concat_arrays([c.cast(pa.string()), pa.array(e, pa.string())]) for c, e in pairs]


def _exact_columns(sample: bytes, settings: ReadSettings, width: int) -> list[pa.Array]:
    header = first_line(sample.decode("utf-8", "replace"), settings) if settings.header else None
    columns, _, _ = tokenize_lines(sample, settings, width, False, header)
    return columns


def _infer_table(body: bytes, width: int, header: bool, parse: pacsv.ParseOptions, nulls: list[str],
                 quoted_null: bool, as_strings: bool = False) -> pa.Table | None:  # fmt: skip
    if not body.strip(b"\r\n") or (header and not body.split(b"\n", 1)[1:]):
        return None  # no data rows
    if not body.endswith(b"\n"):
        body += b"\n"  # pyarrow: a last line without a newline is "Empty CSV file or block" after skip_rows
    return pacsv.read_csv(
        io.BytesIO(body),
        pacsv.ReadOptions(column_names=[f"c{i}" for i in range(width)], skip_rows=1 if header else 0,
                          use_threads=False),  # fmt: skip
        parse,
        pacsv.ConvertOptions(
            column_types={f"c{i}": pa.string() for i in range(width)} if as_strings else None,
            null_values=nulls,
            strings_can_be_null=True,
            quoted_strings_can_be_null=quoted_null,
            true_values=["true", "True", "TRUE"],
            false_values=["false", "False", "FALSE"],
        ),
    )


def _typed(
    names: list[str], table: pa.Table | None, strings: list[pa.Array] | None, settings: ReadSettings
) -> StructType:
    """Spark types of the inferred columns from the values as Spark tokenizes them: numbers and booleans by
    Java's parsers (:mod:`.sparkrules.numbers`); a column with other values by Spark's date/timestamp rules
    (:class:`_TextInference`, which makes a mix with numbers a string)."""
    if table is None:
        return StructType([StructField(n, StringType(), True) for n in names])  # no data rows: Spark says string
    fields = []
    inference = _TextInference(settings)
    for i, n in enumerate(names):
        t = _spark_type(table.column(i))
        if strings is not None:
            values = [v for v in pc.unique(strings[i]).to_pylist() if v]  # Spark skips null and empty values
            number, decided = sparknum.infer_column(values, settings.number_specials)
            t = (number or StringType()) if decided else inference.type_of(strings[i].to_pylist())
        fields.append(StructField(n, t, True))
    return StructType(fields)


def _spark_type(column: pa.ChunkedArray) -> DataType:
    t = column.type
    if pa.types.is_integer(t):
        lo, hi = pc.min_max(column).values()
        if lo.as_py() is None or (_INT32[0] <= lo.as_py() and hi.as_py() <= _INT32[1]):
            return IntegerType()
        return LongType()
    if pa.types.is_floating(t):
        return DoubleType()
    if pa.types.is_boolean(t):
        return BooleanType()
    if pa.types.is_timestamp(t):
        return TimestampType()
    if pa.types.is_date(t):
        return DateType()
    return StringType()


_JAVA_DOUBLE = re.compile(r"[+-]?(NaN|Infinity|(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)|"
                          r"(0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP][+-]?[0-9]+))[fFdD]?")  # fmt: skip


class _TextInference:
    """Spark's CSVInferSchema for a column pyarrow did not type as a number: dates, timestamps, booleans.

    Values are folded in order as Spark does within a partition (``inferField`` then ``compatibleType``):
    with ``preferDate`` a value matching the date pattern is a date, else one the timestamp parser reads is a
    timestamp; a date+timestamp column widens to timestamp only when Spark's lenient default parser would
    read its dates (no custom ``timestampFormat``), else it is a string. A number in such a column makes it a
    string (Spark: no common type of a number and a date/boolean)."""

    def __init__(self, settings: ReadSettings) -> None:
        options = settings.datetime_options()
        self.options = options
        self.null_value = settings.null_value
        self.specials = settings.number_specials
        self.is_date = options.infer_date() if options.prefer_date else (lambda text: False)
        # Spark tries timestamp_ntz first only when spark.sql.timestampType=TIMESTAMP_NTZ, which a Python data
        # source cannot see: the default (TIMESTAMP_LTZ) is assumed
        self.is_timestamp = options.infer_timestamp()

    def _next(self, so_far: str, text: str) -> str:
        if so_far in ("null", "number"):
            if _JAVA_DOUBLE.fullmatch(text.strip(_JAVA_TRIM)) is not None or text in self.specials:
                return "number"
            if self.is_date(text):
                return "date"
            return "timestamp" if self.is_timestamp(text) else self._boolean(text)
        if so_far == "date":
            if self.is_date(text):
                return "date"
            return "timestamp" if self.is_timestamp(text) else self._boolean(text)
        if so_far == "timestamp":
            return "timestamp" if self.is_timestamp(text) else self._boolean(text)
        if so_far == "boolean":
            return self._boolean(text)
        return "string"

    @staticmethod
    def _boolean(text: str) -> str:
        return "boolean" if text.lower() in ("true", "false") else "string"

    def _compatible(self, a: str, b: str) -> str:
        if a == b or a == "null":
            return b
        if {a, b} == {"date", "timestamp"}:
            return "timestamp" if self.options.date_widens_to_timestamp() else "string"
        return "string"

    def type_of(self, values: list[str | None]) -> DataType:
        so_far = "null"
        for text in values:
            if text is None or text == "" or text == self.null_value:
                continue
            so_far = self._compatible(so_far, self._next(so_far, text))
            if so_far == "string":
                break
        return {"date": DateType(), "timestamp": TimestampType(), "boolean": BooleanType()}.get(so_far, StringType())


_JAVA_TRIM = "".join(chr(c) for c in range(0x21))


__all__ = ["infer_schema"]
