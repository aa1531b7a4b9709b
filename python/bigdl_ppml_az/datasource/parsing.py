"""Plaintext chunks -> ``pyarrow.RecordBatch``es with exactly the Arrow types of the Spark schema.

CSV and JSON are parsed by pyarrow. Each chunk first goes through pyarrow's typed parser (fast path); if that
fails (a malformed value, a wrong column count) the chunk is re-parsed as strings and converted column by
column, which gives Spark's per-row ``mode`` semantics: PERMISSIVE nulls the bad row's fields (and fills the
corrupt-record column when the schema has one), DROPMALFORMED drops the row, FAILFAST raises naming the file.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StringType, StructType

from ..errors import MalformedRecordError
from .options import ReadSettings
from .sparkrules import numbers as sparknum
from .sparkrules.csv import (
    LineTokenizer,
    RecordTexts,
    check_header,
    needs_exact,
    refuse_line_sep,
    refuse_nul_quote,
    to_utf8,
    tokenize_lines,
)

_TRUE = ["true", "True", "TRUE"]
_CONTENT = re.compile(rb"[^\r\n]")  # a byte after the header line that makes a record
_JAVA_TRIM = "".join(chr(c) for c in range(0x21))
_FALSE = ["false", "False", "FALSE"]


def arrow_schema(schema: StructType) -> pa.Schema:
    return to_arrow_schema(schema, timezone="UTC")


_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"  # exactly what yyyy-MM-dd reads, and what pyarrow casts the same
_ISO_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?$"


class Converter:
    """String column -> Spark-typed Arrow column, with a mask of values that did not convert.

    Dates and timestamps follow Spark (:mod:`.sparkrules.datetimes`): values in the plain ISO shape are cast by
    pyarrow (vectorised; same answer as Spark's rules for that shape), the others are parsed one by one."""

    def __init__(self, settings: ReadSettings) -> None:
        self.settings = settings
        self.dt = settings.datetime_options()
        self._parsers: dict[str, Callable[[str], int | None]] = {}

    def _parser(self, kind: str) -> Callable[[str], int | None]:
        if kind not in self._parsers:
            self._parsers[kind] = {"date": self.dt.date_parser, "ts": self.dt.timestamp_parser,
                                   "ntz": self.dt.ntz_parser}[kind]()  # fmt: skip
        return self._parsers[kind]

    def convert(self, values: pa.Array, target: pa.DataType) -> tuple[pa.Array, pa.Array]:
        """(converted, bad) where bad marks non-null inputs that became null."""
        if pa.types.is_string(target) or pa.types.is_large_string(target):
            return values.cast(target), pa.array([False] * len(values), pa.bool_())
        # a "" here is a quoted empty value with a non-empty nullValue: Spark parses it (and fails), so no null
        if pa.types.is_timestamp(target) or pa.types.is_date32(target):
            result = self._datetimes(values, target)
        else:
            exact = sparknum.convert(values, target, self.settings.number_specials)  # Java's parsers (sparknum.py)
            if exact is not None:
                return exact, pc.fill_null(pc.and_(pc.is_valid(values), pc.is_null(exact)), False)
            try:
                result = self._vector(values, target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                result = self._per_value(values, target)
        bad = pc.and_(pc.is_valid(values), pc.is_null(result))
        return result, pc.fill_null(bad, False)

    def _datetimes(self, values: pa.Array, target: pa.DataType) -> pa.Array:
        if pa.types.is_date32(target):
            kind, iso, fast = "date", _ISO_DATE, self.dt.date_format in (None, "yyyy-MM-dd")
        else:
            kind = "ntz" if target.tz is None else "ts"
            fmt = self.dt.timestamp_ntz_format if kind == "ntz" else self.dt.timestamp_format
            iso, fast = _ISO_TIMESTAMP, fmt is None
        if fast and kind == "date" and len(values):
            try:  # pyarrow's cast takes exactly the _ISO_DATE shape (valid days only): no regex pass needed
                return values.cast(pa.date32())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass  # another shape or an invalid day: the checks below decide
        if fast and len(values):
            shaped = pc.fill_null(pc.match_substring_regex(values, iso), False)
            if pc.all(shaped).as_py() or pc.all(pc.or_(shaped, pc.is_null(values))).as_py():
                try:
                    return self._cast_iso(values, target, kind)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    pass  # an invalid day or a local time the zone skips: value by value
        parse = self._parser(kind)
        numbers = [None if v is None else parse(v) for v in values.to_pylist()]
        if kind == "date":
            return pa.array(numbers, pa.int32()).cast(pa.date32())
        return pa.array(numbers, pa.int64()).cast(target)

    def _cast_iso(self, values: pa.Array, target: pa.DataType, kind: str) -> pa.Array:
        if kind == "date":
            return values.cast(pa.date32())
        naive = values.cast(pa.timestamp("us"))
        if kind == "ntz":
            return naive
        if self.dt.time_zone.upper() in ("UTC", "Z", "GMT", "+00:00"):
            return naive.cast(pa.timestamp("us", "UTC")).cast(target)
        return pc.assume_timezone(naive, self.dt.time_zone, ambiguous="earliest", nonexistent="raise").cast(target)

    def _vector(self, values: pa.Array, target: pa.DataType) -> pa.Array:
        if pa.types.is_boolean(target):
            lowered = pc.utf8_lower(values)
            ok = pc.or_(pc.equal(lowered, "true"), pc.equal(lowered, "false"))
            if not pc.all(pc.or_(ok, pc.is_null(values))).as_py():
                raise pa.ArrowInvalid("not a boolean")
            return pc.equal(lowered, "true")
        if pa.types.is_integer(target):
            # Spark rejects "1.0" or "1e3" for integral types; pyarrow's cast would too, but check explicitly.
            if not pc.all(pc.or_(pc.match_substring_regex(values, r"^\s*[+-]?\d+\s*$"), pc.is_null(values))).as_py():
                raise pa.ArrowInvalid("not an integer")
            return pc.utf8_trim_whitespace(values).cast(target)
        if pa.types.is_floating(target):  # Java's Double.parseDouble trims characters up to U+0020 first
            return pc.utf8_trim(values, characters=_JAVA_TRIM).cast(target)
        return values.cast(target)

    def _per_value(self, values: pa.Array, target: pa.DataType) -> pa.Array:
        out: list[Any] = []
        for value in values.to_pylist():
            if value is None:
                out.append(None)
                continue
            try:
                out.append(self._vector(pa.array([value], pa.string()), target)[0].as_py())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
                out.append(None)
        return pa.array(out, target)


class CsvParser:
    """pyarrow CSV over chunks of whole lines; Spark's CSV options and null/mode semantics."""

    def __init__(self, settings: ReadSettings, schema: StructType, path: str) -> None:
        self.settings = settings
        self.path = path
        self.target = arrow_schema(schema)
        corrupt = settings.corrupt_column
        self.corrupt_index = next(
            (i for i, f in enumerate(schema.fields) if f.name == corrupt and isinstance(f.dataType, StringType)),
            None,
        )
        self.data_fields = [f for i, f in enumerate(self.target) if i != self.corrupt_index]
        # enforceSchema=false: Spark checks each header against the schema without the corrupt-record column
        self.header_names = [f.name for f in schema.fields if f.name != corrupt]
        self.names = [f"c{i}" for i in range(len(self.data_fields))]
        self.converter = Converter(settings)
        self.tokenizer = LineTokenizer(settings)
        self.parse_options = pacsv.ParseOptions(
            # syntax pyarrow cannot take (a longer or non-ASCII separator, quote or escape): exact path only
            delimiter=settings.sep if settings.arrow_syntax else ",",
            quote_char=(settings.quote or False) if settings.arrow_syntax else '"',
            escape_char=settings.arrow_escape if settings.arrow_syntax else False,
            double_quote=True,
            newlines_in_values=settings.multi_line,
        )
        nulls = sorted({"", settings.null_value})
        # Spark: a value equal to nullValue is null, quoted or not; an unquoted empty field is always null.
        quoted_null = settings.null_value == ""
        self.fast_convert = pacsv.ConvertOptions(
            column_types={n: self._fast_type(f.type) for n, f in zip(self.names, self.data_fields, strict=True)},
            null_values=nulls,
            strings_can_be_null=True,
            quoted_strings_can_be_null=quoted_null,
            true_values=_TRUE,
            false_values=_FALSE,
        )
        self.trailing_field = False
        # pyarrow's integer and decimal parsers accept " 1", Java's do not (see sparknum.padded_field)
        self.padded_matters = any(pa.types.is_integer(f.type) or pa.types.is_decimal(f.type) for f in self.data_fields)
        self.string_convert = pacsv.ConvertOptions(
            column_types={n: pa.string() for n in self.names},
            null_values=nulls,
            strings_can_be_null=True,
            quoted_strings_can_be_null=quoted_null,
        )

    def _fast_type(self, target: pa.DataType) -> pa.DataType:
        if pa.types.is_timestamp(target):
            return pa.string()  # zone offsets and the time zone are handled by Converter
        if pa.types.is_date32(target):
            return pa.string()  # Spark's date rules (fallbacks, patterns) are Converter's
        return target

    def _read_options(self, skip_header: bool, extra: bool = False) -> pacsv.ReadOptions:
        names = [*self.names, "__extra"] if extra else self.names
        return pacsv.ReadOptions(
            column_names=names, skip_rows=1 if skip_header else 0, use_threads=False, block_size=64 << 20
        )

    def _fast(self, chunk: bytes, skip_header: bool, extra: bool) -> list[pa.RecordBatch] | None:
        convert = self.fast_convert
        if extra:
            convert = pacsv.ConvertOptions(
                column_types=convert.column_types,
                null_values=convert.null_values,
                strings_can_be_null=True,
                quoted_strings_can_be_null=convert.quoted_strings_can_be_null,
                true_values=_TRUE,
                false_values=_FALSE,
                include_columns=self.names,
            )
        if self.padded_matters and sparknum.padded_field(chunk, self.settings.sep):
            return None
        try:
            table = pacsv.read_csv(
                io.BytesIO(chunk), self._read_options(skip_header, extra), self.parse_options, convert
            )
            return self._finish_fast(table)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None

    def parse(self, chunk: bytes, skip_header: bool, file_start: bool = False) -> Iterator[pa.RecordBatch]:
        """Parse one chunk of whole lines (``skip_header``: its first line is the file's header).

        Lines with one field too many (TPC-H ``.tbl`` ends every line with the separator) are, as in Spark,
        malformed records whose extra field PERMISSIVE drops; when no corrupt-record column is asked for, that
        is the same as parsing one extra column and dropping it, which stays on the fast path.
        """
        refuse_nul_quote(chunk, self.settings)
        refuse_line_sep(chunk, self.settings)
        chunk = to_utf8(chunk, self.settings, file_start)
        if skip_header and (not self.settings.enforce_schema or self.settings.quote_handling == "SKIP_VALUE"):
            check_header(chunk.decode("utf-8", "replace"), self.settings, self.header_names, self.path)
        if not chunk.endswith(b"\n"):
            chunk += b"\n"  # a last line without a line end is a record (pyarrow would drop or refuse it)
        if not self.settings.multi_line and needs_exact(chunk, self.settings, skip_header):
            yield from self._exact(chunk, skip_header)
            return
        if skip_header and _CONTENT.search(chunk, chunk.find(b"\n") + 1) is None:
            return  # the header alone (pyarrow: "Empty CSV file or block")
        batches = self._fast(chunk, skip_header, self.trailing_field)
        if batches is None and self._may_drop_extra():
            batches = self._fast(chunk, skip_header, not self.trailing_field)
            if batches is not None:
                self.trailing_field = not self.trailing_field
        if batches is None:
            yield from self._careful(chunk, skip_header)
        else:
            yield from batches

    def _exact(self, chunk: bytes, skip_header: bool) -> Iterator[pa.RecordBatch]:
        """Spark's line-mode rules (:mod:`.sparkrules.csv`) for bytes pyarrow would read differently."""
        strings, ragged, texts = tokenize_lines(chunk, self.settings, len(self.data_fields), skip_header)
        bad = pa.array(ragged, pa.bool_())
        columns = []
        for values, f in zip(strings, self.data_fields, strict=True):
            col, col_bad = self.converter.convert(values, f.type)
            columns.append(col)
            bad = pc.or_(bad, col_bad)
        yield from self._apply_mode(columns, bad, texts, len(texts))

    def _may_drop_extra(self) -> bool:
        return self.settings.mode == "PERMISSIVE" and self.corrupt_index is None

    def _finish_fast(self, table: pa.Table) -> list[pa.RecordBatch]:
        columns = []
        for i, f in enumerate(self.data_fields):
            col = table.column(i)
            if pa.types.is_floating(col.type) and pc.any(pc.or_(pc.is_nan(col), pc.is_inf(col))).as_py():
                raise pa.ArrowInvalid("nan or inf")  # pyarrow takes "nan", "inf"...; Spark's rules: careful path
            if pa.types.is_decimal(col.type):  # pyarrow's CSV reader does not check the precision; a cast does
                col.cast(pa.decimal256(col.type.precision, col.type.scale))
            if col.type != f.type:
                col, bad = self.converter.convert(col.combine_chunks().cast(pa.string()), f.type)
                if pc.any(bad).as_py():
                    raise pa.ArrowInvalid("a value did not convert")  # redo this chunk on the careful path
            columns.append(col)
        if self.corrupt_index is not None:
            columns.insert(self.corrupt_index, pa.nulls(table.num_rows, pa.string()))
        return pa.Table.from_arrays(columns, schema=self.target).to_batches()

    def _options_collecting(self, irregular: dict[int, str]) -> pacsv.ParseOptions:
        def on_invalid(row: Any) -> str:
            irregular[int(row.number)] = row.text
            return "skip"

        return pacsv.ParseOptions(
            delimiter=self.parse_options.delimiter,
            quote_char=self.parse_options.quote_char,
            escape_char=self.parse_options.escape_char,
            double_quote=True,
            newlines_in_values=self.settings.multi_line,
            invalid_row_handler=on_invalid,
        )

    def _unparsable(self) -> MalformedRecordError:  # pyarrow's message may quote data: do not pass it on
        return MalformedRecordError(f"{self.path}: CSV could not be parsed (unbalanced quotes or bad encoding?)")

    def _careful(self, chunk: bytes, skip_header: bool) -> Iterator[pa.RecordBatch]:
        irregular: dict[int, str] = {}
        try:
            table = pacsv.read_csv(
                io.BytesIO(chunk),
                self._read_options(skip_header),
                self._options_collecting(irregular),
                self.string_convert,
            )
        except pa.ArrowInvalid:
            raise self._unparsable() from None
        raw_lines: list[str] | None = None
        if self.corrupt_index is not None and not self.settings.multi_line:
            raw_lines = _lines(chunk, skip_header)
        yield from self._convert_strings(table, irregular, 2 if skip_header else 1, raw_lines)

    def parse_stream(self, stream: Any, texts: RecordTexts | None = None) -> Iterator[pa.RecordBatch]:
        """multiLine: pyarrow's streaming reader over the decrypted stream (values may hold newlines; the header
        already left out by ``checked_multiline``), so memory stays at about one block (``chunkBytes``) however
        large the file is. ``texts``: the records' raw texts, filled as the stream is read (needed when the
        schema has a corrupt-record column)."""
        irregular: dict[int, str] = {}
        read_options = pacsv.ReadOptions(column_names=self.names, use_threads=False,
                                         block_size=self.settings.chunk_bytes)  # fmt: skip
        number = 1
        try:
            try:
                reader = pacsv.open_csv(stream, read_options, self._options_collecting(irregular),
                                        self.string_convert)  # fmt: skip
            except pa.ArrowInvalid as exc:
                if str(exc).startswith("Empty CSV file"):  # Spark: an empty file has no rows
                    return
                raise
            carry: dict[int, str] = {}
            for batch in reader:
                pending = {**carry, **irregular}
                irregular.clear()
                carry = {}
                table = pa.Table.from_batches([batch])
                before = len(pending)
                converted = list(self._convert_strings(table, pending, number, None, carry, texts))
                number += table.num_rows + before - len(carry)  # carry: what _convert_strings left for later
                yield from converted
            irregular.update(carry)
        except pa.ArrowInvalid:
            raise self._unparsable() from None
        if irregular:
            empty = pa.table({n: pa.array([], pa.string()) for n in self.names})
            yield from self._convert_strings(empty, irregular, number, None, None, texts)

    def _convert_strings(
        self,
        table: pa.Table,
        irregular: dict[int, str],
        first_number: int,
        raw_lines: list[str] | None,
        carry: dict[int, str] | None = None,
        texts: RecordTexts | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """String columns -> Spark types with per-row ``mode`` handling; irregular rows merged back in place.
        ``texts`` (multiLine): the raw record texts, taken here once the rows of this batch are known."""
        if irregular:
            table = self._merge_irregular(table, irregular, first_number, carry)
        if texts is not None:
            raw_lines = texts.take(table.num_rows)
        bad = pa.array([False] * table.num_rows, pa.bool_())
        columns = []
        for i, f in enumerate(self.data_fields):
            col, col_bad = self.converter.convert(table.column(i).combine_chunks(), f.type)
            columns.append(col)
            bad = pc.or_(bad, col_bad)
        if irregular:
            bad = pc.or_(bad, table.column(len(self.data_fields)).combine_chunks())
        yield from self._apply_mode(columns, bad, raw_lines, table.num_rows)

    def _merge_irregular(
        self, table: pa.Table, irregular: dict[int, str], first_number: int, carry: dict[int, str] | None = None
    ) -> pa.Table:
        """Put rows with a wrong field count back in place (by pyarrow's row number): padded or truncated."""
        width = len(self.names)
        merged: list[dict[str, Any]] = []
        regular = iter(table.to_pylist())
        left = dict(irregular)
        number = first_number
        while True:
            if number in left:
                fields = self._split_fields(left.pop(number))
                row: dict[str, Any] = dict(zip(self.names, (fields + [None] * width)[:width], strict=True))
                row["__bad"] = True
            else:
                nxt = next(regular, None)
                if nxt is None:
                    break
                row = {**nxt, "__bad": False}
            merged.append(row)
            number += 1
        if carry is not None:  # rows of a later block (the streaming reader parses ahead)
            carry.update(left)
        else:
            for _, text in sorted(left.items()):
                fields = self._split_fields(text)
                merged.append({**dict(zip(self.names, (fields + [None] * width)[:width], strict=True)), "__bad": True})
        schema = pa.schema([(n, pa.string()) for n in self.names] + [("__bad", pa.bool_())])
        return pa.Table.from_pylist(merged, schema=schema)

    def _split_fields(self, text: str) -> list[str | None]:
        """A row pyarrow found irregular, tokenized by Spark's rules (:mod:`.sparkrules.csv`), nulls as Spark's."""
        null_value = self.settings.null_value
        return [
            None if value == null_value or (not quoted and value == "") else value
            for value, quoted in self.tokenizer.tokens(text.rstrip("\r"))
        ]

    def _apply_mode(
        self, columns: list[Any], bad: pa.Array, raw: list[str] | None, rows: int
    ) -> Iterator[pa.RecordBatch]:
        mode = self.settings.mode
        any_bad = pc.any(bad).as_py() if rows else False
        if any_bad and mode == "FAILFAST":
            first = pc.index(bad, True).as_py()
            raise MalformedRecordError(
                f"{self.path}: malformed CSV record (row {first + 1} of a chunk) with mode=FAILFAST; "
                "use mode=PERMISSIVE or DROPMALFORMED to keep going"
            )
        # PERMISSIVE keeps the fields that did convert (Spark's partial result); bad fields are already null.
        if self.corrupt_index is not None:
            texts = pa.array(raw if raw is not None else [None] * rows, pa.string())
            corrupt = pc.if_else(bad, texts, pa.scalar(None, pa.string()))
            columns.insert(self.corrupt_index, corrupt)
        table = pa.Table.from_arrays(columns, schema=self.target)
        if any_bad and mode == "DROPMALFORMED":
            table = table.filter(pc.invert(bad))
        yield from table.to_batches()


def _lines(chunk: bytes, skip_header: bool) -> list[str]:
    """The non-empty lines of a chunk, as pyarrow sees records when values hold no newlines."""
    lines = [line.rstrip(b"\r") for line in chunk.split(b"\n")]
    kept = [line.decode("utf-8", "replace") for line in lines if line]
    return kept[1:] if skip_header else kept
