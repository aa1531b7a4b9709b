"""Every option of the ``ppml-enc`` data source, declared once, and the typed, case-insensitive view over them.

Pure Python (no Spark), so the data source and the CLI build the same :class:`Options` at their boundary and
every option has one spelling rule (any case; BigDL's spellings as aliases), one boolean syntax (``true`` /
``false``), one byte-size syntax (Spark's: ``134217728``, ``128m``, ``64k``, ``1g``) and one error format
(``option X=Y: why; what to do``). :data:`TABLE` also declares the options Spark documents for its CSV, JSON,
text and Parquet sources that ppml-enc does not implement yet: they are refused by name, never ignored. Moving
one from refused to supported is one line: drop its ``supported=False`` (and implement it).

``python -m bigdl_ppml_az.options --markdown`` prints ``docs/OPTIONS.md`` from the table.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from .errors import ConfigError

BOOL, INT, NUMBER, SIZE, CHOICE, STR, PATH, CHAR = "bool", "int", "number", "size", "choice", "str", "path", "char"
READ, WRITE, BOTH = "read", "write", "both"

GENERIC = ("path", "paths")  # what Spark itself puts in the options map for load(p) / load([p, q]) / save(p)
PASSTHROUGH_PREFIXES = ("fs.azure.", "spark.hadoop.fs.azure.")  # Spark's ABFS settings, read by storage/azure.py
DOCS = "docs/OPTIONS.md"


@dataclass(frozen=True)
class OptionSpec:
    """One declared option. ``default`` is the typed value a getter returns when the option is absent."""

    name: str
    type: str
    meaning: str
    group: str
    default: object = None
    sides: str = BOTH  # read | write | both
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    allow_empty: bool = True  # char/str/path: whether "" is a value (quote="" turns quoting off)
    supported: bool = True  # False: Spark documents it, ppml-enc refuses it by name until it implements it
    implemented: str = BOTH  # the sides ppml-enc implements; on a side of ``sides`` not listed: refused by name

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


GROUPS = {
    "source": "Content and encryption",
    "csv": "CSV",
    "parsing": "CSV and JSON parsing",
    "json": "JSON",
    "planning": "Planning and memory",
    "keys": "Data key delivery",
    "kms": "Key management (kms=local, kms=azure)",
    "storage": "Storage (abfss:// paths)",
    "table": "Table integrity",
    "spark": "Set by Spark",
    "write": "CSV and JSON output (Spark's writer options)",
}
REFUSED_GROUPS = {"spark-csv": "CSV", "spark-json": "JSON", "spark-text": "text", "spark-parquet": "Parquet",
                  "spark-files": "file source", "spark-write": "writer"}  # fmt: skip


def _spark(name: str, group: str, meaning: str, sides: str = READ, aliases: tuple[str, ...] = ()) -> OptionSpec:
    """A Spark option ppml-enc refuses for now (issue 11 implements them one by one)."""
    return OptionSpec(name, STR, meaning, group, sides=sides, aliases=aliases, supported=False)


TABLE: tuple[OptionSpec, ...] = (
    # ---- content and encryption
    OptionSpec("format", CHOICE, "content format inside the encrypted files", "source", "csv",
               choices=("csv", "json", "text", "parquet")),
    OptionSpec("cryptoMode", STR, "auto (read: detect from the header), ppml-gcm, aes/cbc/pkcs5padding, "
               "nativeaescbc, plain_text, aes_gcm_v1, aes_gcm_ctr_v1 (Parquet Modular Encryption)", "source",
               None, aliases=("crypto_mode",)),
    OptionSpec("verify", BOOL, "check BigDL aes/cbc/pkcs5padding HMACs (false only to salvage damaged data)",
               "source", True, sides=READ),
    OptionSpec("segmentSize", SIZE, "ppml-gcm ciphertext segment size (4k..4m)", "source", 1 << 20, sides=WRITE),
    OptionSpec("footerKey", STR, "Parquet Modular Encryption master key id (kms=azure: Key Vault key name or URL)",
               "source", "", sides=WRITE),
    # ---- CSV
    OptionSpec("header", BOOL, "first line holds the column names (read: skipped; write: written)", "csv", False),
    OptionSpec("sep", STR, "field separator, one or more characters (\\t for tab); writes: one character", "csv",
               ",", aliases=("delimiter",), allow_empty=False),
    OptionSpec("quote", CHAR, "quote character; empty turns quoting off (write: U+0000 quotes, as Spark)", "csv",
               '"'),
    OptionSpec("escape", CHAR, "escape character inside quoted values; equal to quote means doubled quotes",
               "csv", "\\"),
    OptionSpec("nullValue", STR, "the string that reads as null (write: the text of a null)", "csv", ""),
    OptionSpec("comment", CHAR, "lines starting with this character are skipped (read; exact-semantics path); "
               "write: a first value starting with it is quoted (unset: #)", "csv", None),
    OptionSpec("inferSchema", BOOL, "infer column types from a sample of the first file", "csv", False, sides=READ),
    # ---- CSV and JSON parsing
    OptionSpec("mode", STR, "malformed records: PERMISSIVE keeps them with nulls, DROPMALFORMED drops them, "
               "FAILFAST fails; any other value is PERMISSIVE, as in Spark", "parsing", "PERMISSIVE", sides=READ,
               choices=("PERMISSIVE", "DROPMALFORMED", "FAILFAST")),
    OptionSpec("columnNameOfCorruptRecord", STR, "string column receiving malformed records (PERMISSIVE)",
               "parsing", "_corrupt_record", sides=READ, allow_empty=False),
    # Spark's remaining CSV read options (sparkrules/csv.py; FIDELITY.md says which values are refused)
    OptionSpec("nanValue", STR, "the string that reads as NaN (float and double columns)", "csv", "NaN", sides=READ),
    OptionSpec("positiveInf", STR, "the string that reads as +Infinity", "csv", "Inf", sides=READ),
    OptionSpec("negativeInf", STR, "the string that reads as -Infinity", "csv", "-Inf", sides=READ),
    OptionSpec("enforceSchema", BOOL, "false: each file's header must name the given schema's columns, in order "
               "(case-insensitively), or the read fails", "csv", True, sides=READ),
    OptionSpec("maxCharsPerColumn", STR, "most characters in a value (-1: no limit); a longer one fails the read",
               "csv", "-1", sides=READ),
    OptionSpec("unescapedQuoteHandling", STR, "unescaped quotes: STOP_AT_DELIMITER (Spark's default), "
               "STOP_AT_CLOSING_QUOTE, BACK_TO_DELIMITER, SKIP_VALUE or RAISE_ERROR (fails the read); the other "
               "modes with multiLine=false and a one-character sep only", "csv", "STOP_AT_DELIMITER", sides=READ),
    OptionSpec("locale", STR, "locale of dates and numbers: en-US (Spark's default; others are refused)", "csv",
               "en-US", sides=READ),
    OptionSpec("samplingRatio", NUMBER, "fraction of lines used for schema inference: above 0.99 all lines; "
               "smaller: Spark's seeded sample, for one file of at most 4 MiB read line by line (else refused, "
               "naming it; docs/FIDELITY.md); CSV and JSON", "csv", 1.0, sides=READ),
    OptionSpec("multiLine", BOOL, "records may span lines (CSV quoted newlines; JSON one document per file)",
               "parsing", False, sides=READ),
    # datetime options (helper "datetime"; datasource/sparkrules/datetimes.py)
    OptionSpec("dateFormat", STR, "Spark datetime pattern of date columns (read and write; default yyyy-MM-dd)",
               "parsing", None),
    OptionSpec("timestampFormat", STR, "Spark datetime pattern of timestamp columns (read: default Spark's ISO "
               "rules; write: default yyyy-MM-dd'T'HH:mm:ss.SSSXXX)", "parsing", None),
    OptionSpec("timestampNTZFormat", STR, "Spark datetime pattern of timestamp_ntz columns (write default "
               "yyyy-MM-dd'T'HH:mm:ss[.SSS])", "parsing", None),
    OptionSpec("preferDate", BOOL, "inferSchema: values matching dateFormat (default yyyy-MM-dd) infer date, "
               "else timestamp", "parsing", True, sides=READ),
    OptionSpec("timeZone", STR, "time zone of timestamps without an offset (Spark's option timeZone; set it to "
               "spark.sql.session.timeZone, which Python data sources cannot read)", "parsing", "UTC",
               allow_empty=False),
    # ---- JSON (format=json; Spark's JSON option names, meanings and defaults)
    OptionSpec("primitivesAsString", BOOL, "infer numbers and booleans as string", "json", False, sides=READ),
    OptionSpec("prefersDecimal", BOOL, "infer numbers with a fraction or exponent (and numeric strings) as "
               "decimal", "json", False, sides=READ),
    OptionSpec("allowNonNumericNumbers", BOOL, "accept NaN, Infinity, +INF, -INF tokens", "json", True, sides=READ),
    OptionSpec("allowUnquotedControlChars", BOOL, "accept unescaped control characters inside strings", "json",
               False, sides=READ),
    OptionSpec("allowSingleQuotes", BOOL, "accept single-quoted field names and strings", "json", True,
               sides=READ),
    OptionSpec("dropFieldIfAllNull", BOOL, "leave out of the inferred schema columns that are null, empty "
               "arrays or empty objects in every record", "json", False, sides=READ),
    # ---- planning
    OptionSpec("maxPartitionBytes", SIZE, "bytes of ciphertext per split (Spark's spark.sql.files."
               "maxPartitionBytes, which Python data sources cannot read)", "planning", 128 << 20, sides=READ),
    OptionSpec("openCostInBytes", SIZE, "estimated cost of opening one file, in bytes, when packing files and "
               "splits into tasks (Spark's spark.sql.files.openCostInBytes)", "planning", 4 << 20, sides=READ),
    OptionSpec("minPartitions", INT, "lower bound on tasks when packing (Spark's spark.sql.files."
               "minPartitionNum; 0: the session's default parallelism if visible, else the planning machine's "
               "CPU count, at least 2)", "planning", 0, sides=READ),
    OptionSpec("planningThreads", INT, "file headers probed concurrently on the driver while planning",
               "planning", 16, sides=READ),
    OptionSpec("chunkBytes", SIZE, "plaintext bytes parsed per Arrow batch in a worker", "planning", 4 << 20,
               sides=READ),
    OptionSpec("samplingBytes", SIZE, "plaintext bytes of the first file read to infer a schema", "planning",
               4 << 20, sides=READ),
    OptionSpec("pushFilters", BOOL, "prune key=value partition directories by the query's filters, and for "
               "format=parquet skip row groups by their statistics (needs the session conf "
               "spark.sql.python.filterPushdown.enabled=true; refused on PySpark 4.3 and releases not yet "
               "checked: their pushed-filter plans leak into later queries of the same DataFrame)", "planning",
               False, sides=READ),
    OptionSpec("basePath", PATH, "root of a partitioned table when reading some of its key=value directories "
               "(Spark's basePath)", "planning", None, sides=READ),
    OptionSpec("partitionColumnTypeInference", BOOL, "type key=value partition columns as Spark does (Spark's "
               "spark.sql.sources.partitionColumnTypeInference.enabled); false: all strings", "planning", True,
               sides=READ),
    # ---- data key delivery
    OptionSpec("keyDelivery", CHOICE, "executor: each worker unwraps its keys; driver: keys ride in task "
               "descriptions (needs authenticated, encrypted RPC)", "keys", "executor", choices=("executor", "driver")),
    OptionSpec("allowInsecureKeyDelivery", BOOL, "accept keyDelivery=driver without confirmed secure transport "
               "(local tests only)", "keys", False),
    OptionSpec("dataKeyPath", PATH, "BigDL data key file (wrapped data key): read: the key of headerless "
               "nativeaescbc data; write: the data key to encrypt with instead of a fresh one", "keys", None,
               allow_empty=False),
    # ---- KMS
    OptionSpec("kms", STR, "key management service: local or azure (AzureKeyManagementService)", "kms", None,
               aliases=("kmsType", "kms_type"), allow_empty=False),
    OptionSpec("primaryKeyPath", PATH, "primary key file: the key bytes (local) or the Key Vault key id (azure)",
               "kms", None, aliases=("primaryKey",), allow_empty=False),
    OptionSpec("strictPermissions", BOOL, "local: refuse a primary key file that other users can read (default: "
               "warn)", "kms", False),
    OptionSpec("primaryKeyId", STR, "azure: Key Vault key URL, with or without version", "kms", None),
    OptionSpec("primaryKeyName", STR, "azure: Key Vault key name (latest version in vault)", "kms", None),
    OptionSpec("vault", STR, "azure: Key Vault name or https URL", "kms", None,
               aliases=("vaultUrl", "vaultName", "azureVault")),
    OptionSpec("clientId", STR, "azure: client id of the managed identity (Key Vault and storage)", "kms", None),
    OptionSpec("credential", STR, "azure: default, managed-identity, workload-identity, azure-cli, environment "
               "(emulator: tests only)", "kms", None),
    OptionSpec("connectionVerify", PATH, "azure: CA bundle for the vault's TLS certificate", "kms", None),
    OptionSpec("verifyChallengeResource", BOOL, "azure: false accepts a bearer challenge for another domain "
               "(emulators, private endpoints)", "kms", True),
    OptionSpec("kmsRetryTotal", INT, "azure: retries of a Key Vault call", "kms", 10),
    OptionSpec("kmsRetryBackoff", NUMBER, "azure: retry backoff factor in seconds", "kms", 0.8),
    OptionSpec("kmsRetryBackoffMax", NUMBER, "azure: longest wait between retries in seconds", "kms", 60.0),
    OptionSpec("kmsTimeout", NUMBER, "azure: seconds to wait for each Key Vault answer", "kms", 60.0),
    # ---- storage (plus every fs.azure.* / spark.hadoop.fs.azure.* setting, passed to storage as is)
    OptionSpec("azureBlobEndpoint", STR, "Blob endpoint URL ({account} is replaced), e.g. Azurite", "storage", None,
               aliases=("azureEndpoint",)),
    # ---- table integrity (table/heads: rollback anchors kept outside the storage)
    OptionSpec("tableHeadStore", STR, "where table versions are anchored against rollback: none, local "
               "(tableHeadPath), azure-keyvault (secrets in tableHeadVault or vault)", "table", None),
    OptionSpec("tableHeadPath", PATH, "local: JSON file recording each table's newest version (outside the "
               "tables' storage; created 0600)", "table", None, allow_empty=False),
    OptionSpec("tableHeadVault", STR, "azure-keyvault: Key Vault name or https URL holding the secrets "
               "ppml-table-<table id> (default: vault)", "table", None, allow_empty=False),
    OptionSpec("expectVersion", INT, "read: fail unless the table is at this version (pins the version a job was "
               "given; detects rollback without a head store); 0: any version", "table", 0, sides=READ),
    # ---- CSV and JSON output: Spark's writer options (datasource/textwrite.py writes what Spark's writers write)
    OptionSpec("quoteAll", BOOL, "quote every value", "write", False, sides=WRITE),
    OptionSpec("escapeQuotes", BOOL, "quote values holding a quote and escape it (false: write quotes as they are)",
               "write", True, sides=WRITE),
    OptionSpec("charToEscapeQuoteEscaping", CHAR, "escape written before the escape character inside quoted "
               "values (default: escape when it differs from quote)", "write", None, implemented=WRITE),
    OptionSpec("emptyValue", STR, "the text of an empty string (read: what a quoted empty value reads as, "
               "default \"\"; write default: \"\")", "write", None),
    OptionSpec("ignoreLeadingWhiteSpace", BOOL, "trim leading whitespace (characters up to U+0020) of values (read "
               "default: false; write default: true)", "write", True),
    OptionSpec("ignoreTrailingWhiteSpace", BOOL, "trim trailing whitespace of values (read default: false; "
               "write default: true)", "write", True),
    OptionSpec("lineSep", STR, "line separator, one or two characters (CSV, JSON and text); CSV reads: \\n "
               "only, on files without \\r (others refused)", "write", None, allow_empty=False),
    OptionSpec("encoding", STR, "charset: UTF-8; CSV reads also US-ASCII and ISO-8859-1, and with multiLine=false "
               "UTF-16, UTF-16BE, UTF-16LE and UTF-32 (decoded line by line, as Spark)", "write", "UTF-8",
               aliases=("charset",)),
    OptionSpec("compression", STR, "compression codec of the output: none or uncompressed (others are refused)",
               "write", None, sides=WRITE, aliases=("codec",)),
    OptionSpec("ignoreNullFields", BOOL, "JSON: leave null fields out", "write", True, sides=WRITE),
    # ---- set by Spark
    OptionSpec("path", STR, "the path of load(p) / save(p)", "spark", None),
    OptionSpec("paths", STR, "JSON list of the paths of load([p, q])", "spark", None),
    # ---- Spark's CSV options ppml-enc does not implement yet
    _spark("maxColumns", "spark-csv", "most columns in a record"),
    _spark("maxMalformedLogPerPartition", "spark-csv", "malformed records logged per partition"),
    _spark("enableDateTimeParsingFallback", "spark-csv", "fall back to legacy datetime parsing (CSV and JSON)"),
    # ---- Spark's JSON options ppml-enc does not implement yet
    _spark("allowComments", "spark-json", "accept Java/C++ comments"),
    _spark("allowUnquotedFieldNames", "spark-json", "accept unquoted field names"),
    _spark("allowNumericLeadingZeros", "spark-json", "accept leading zeros in numbers",
           aliases=("allowNumericLeadingZero",)),
    _spark("allowBackslashEscapingAnyCharacter", "spark-json", "accept backslash before any character"),
    _spark("useUnsafeRow", "spark-json", "internal row format of the JSON parser"),
    _spark("singleVariantColumn", "spark-json", "read each record into one variant column"),
    # ---- Spark's text, Parquet, generic file source and writer options
    _spark("wholetext", "spark-text", "one row per file"),
    OptionSpec("mergeSchema", BOOL, "format=parquet: merge the schemas of all files as Spark does (default: "
               "the first file's schema, as Spark's default spark.sql.parquet.mergeSchema=false)", "source", False,
               sides=READ),
    _spark("datetimeRebaseMode", "spark-parquet", "rebase of dates from the Julian calendar"),
    _spark("int96RebaseMode", "spark-parquet", "rebase of INT96 timestamps from the Julian calendar"),
    _spark("pathGlobFilter", "spark-files", "glob pattern on file names"),
    _spark("recursiveFileLookup", "spark-files", "list directories recursively without partition discovery"),
    _spark("modifiedBefore", "spark-files", "only files modified before this time"),
    _spark("modifiedAfter", "spark-files", "only files modified after this time"),
    _spark("ignoreCorruptFiles", "spark-files", "skip unreadable files"),
    _spark("ignoreMissingFiles", "spark-files", "skip files deleted after listing"),
    # ---- partitioned writes (Spark's DataFrameWriter.partitionBy cannot reach a Python data source)
    OptionSpec("partitionBy", STR, "write key=value directories by these columns, as Spark's partitionBy: "
               "comma-separated names, or a JSON list (Spark's own __partition_columns encoding)", "source", "",
               sides=WRITE, aliases=("__partition_columns",)),
    OptionSpec("partitionOverwriteMode", CHOICE, "with partitionBy and mode overwrite: static replaces the whole "
               "table, dynamic only the directories written (Spark's option; the session conf "
               "spark.sql.sources.partitionOverwriteMode is invisible to Python data sources)", "source", "static",
               sides=WRITE, choices=("static", "dynamic")),
)  # fmt: skip

_SIZE = re.compile(r"^\s*(\d+)\s*(?:([kmgtp])(?:ib|b)?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50}
_SIZE_HELP = "use bytes or a binary unit, as Spark: 134217728, 128m, 64k, 1g (kb, KiB... also work)"
_NOT_GIVEN = object()


def parse_size_text(text: str) -> int | None:
    """Bytes from Spark's byte-size syntax (``128m`` = 128 MiB; ``kb``/``KiB`` spellings too); None if not one."""
    match = _SIZE.match(text)
    if not match:
        return None
    return int(match.group(1)) << _SIZE_UNITS.get((match.group(2) or "").lower(), 0)


def size_text(size: int) -> str:
    """The shortest Spark byte-size spelling of ``size`` (``134217728`` -> ``128m``)."""
    for unit, shift in (("g", 30), ("m", 20), ("k", 10)):
        if size and size % (1 << shift) == 0:
            return f"{size >> shift}{unit}"
    return str(size)


def _index(specs: Iterable[OptionSpec]) -> dict[str, OptionSpec]:
    index: dict[str, OptionSpec] = {}
    for spec in specs:
        for name in spec.names:
            index[name.lower()] = spec
    return index


_TABLE_INDEX = _index(TABLE)


def spec_for(name: str) -> OptionSpec:
    """The declared option ``name`` (any case, or an alias); KeyError for a name that is not declared."""
    return _TABLE_INDEX[name.lower()]


class Options(Mapping[str, str]):
    """Options as given (any case), with typed getters that resolve aliases and validate with one syntax each.

    A read-only Mapping, so it passes wherever plain options do (storage, KMS settings) and pickles to workers.
    ``labels`` maps option names to CLI flags, so the CLI's messages name the flag the user typed.
    """

    def __init__(self, options: Mapping[str, object] | Iterable[tuple[str, object]] = (), *,
                 labels: Mapping[str, str] | None = None) -> None:  # fmt: skip
        items = options.items() if isinstance(options, Mapping) else options
        self._values: dict[str, str] = {}
        self._names: dict[str, str] = {}  # lower-case -> name as given
        for key, value in items:
            name, text = str(key), _text(value)
            known = self._names.get(name.lower())
            if known is not None and self._values[known] != text:
                raise ConfigError(f"option {name} is given twice with different values; give it once")
            self._names[name.lower()] = name
            self._values[name] = text
        self._labels = {k.lower(): v for k, v in (labels or {}).items()}
        self._specs = dict(_TABLE_INDEX)

    # ---- Mapping: names as given, looked up in any case ---------------------------------------------------
    def __getitem__(self, name: str) -> str:
        return self._values[self._names[name.lower()]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._names

    def __repr__(self) -> str:  # names only: values may be storage secrets (fs.azure.account.key...)
        return f"Options({sorted(self._values)})"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (tuple(self._values.items()), tuple(self._labels.items()), self._extra_specs()))

    def _extra_specs(self) -> tuple[OptionSpec, ...]:
        return tuple({id(s): s for k, s in self._specs.items() if _TABLE_INDEX.get(k) is not s}.values())

    # ---- validation ---------------------------------------------------------------------------------------
    def check(self, side: str, extra: Iterable[str | OptionSpec] = ()) -> Options:
        """Refuse every option that no declared option of ``side`` (read/write/both) matches, then validate the
        value of every declared one. ``extra``: option names or specs a KMS backend declares. Returns self."""
        for item in extra:
            spec = item if isinstance(item, OptionSpec) else OptionSpec(item, STR, "KMS backend option", "kms")
            for name in spec.names:
                self._specs.setdefault(name.lower(), spec)
        for given in self._values:
            lower = given.lower()
            if lower.startswith(PASSTHROUGH_PREFIXES):
                continue
            found = self._specs.get(lower)
            if found is None:
                raise ConfigError(f"option {given}: not an option of ppml-enc; {self._suggest(given, side)}")
            spec, name = found, self._spelled(given)
            if not spec.supported:
                kind = REFUSED_GROUPS.get(spec.group, "")
                raise ConfigError(
                    f"option {name}: Spark's {kind} option ({spec.meaning}) is not supported by ppml-enc yet; "
                    f"remove it (the options ppml-enc supports: {DOCS})"
                )
            if side != BOTH and spec.implemented not in (BOTH, side) and spec.sides in (BOTH, side):
                raise ConfigError(
                    f"option {name}: Spark's CSV option ({spec.meaning}) is not supported by ppml-enc on "
                    f"{side}s yet (only on {spec.implemented}s); remove it (the options ppml-enc supports: {DOCS})"
                )
            if side != BOTH and spec.sides not in (BOTH, side):
                raise ConfigError(
                    f"option {name}={self._values[given]}: applies to {spec.sides}s, not {side}s; remove it here"
                )
        for spec in {id(s): s for s in self._specs.values()}.values():
            if spec.supported:
                self.value(spec.name)
        return self

    def _suggest(self, given: str, side: str) -> str:
        names = sorted(
            {n for s in self._specs.values() if s.supported and (side == BOTH or s.sides in (BOTH, side))
             for n in s.names}  # fmt: skip
        )
        by_lower = {n.lower(): n for n in names}
        close = difflib.get_close_matches(given.lower(), list(by_lower), n=1, cutoff=0.6)
        if close:
            return f"did you mean {by_lower[close[0]]}?"
        return f"see {DOCS} for the options ppml-enc accepts"

    # ---- typed getters ------------------------------------------------------------------------------------
    def spec(self, name: str) -> OptionSpec:
        return self._specs[name.lower()]

    def _spelled(self, given: str) -> str:
        """The declared spelling of a given name (Spark lower-cases names; messages use the documented case)."""
        spec = self._specs.get(given.lower())
        return next((n for n in spec.names if n.lower() == given.lower()), given) if spec else given

    def raw(self, name: str) -> tuple[str, str] | None:
        """(the declared spelling that was given, value) of option ``name`` under any of its spellings, or None."""
        spec = self.spec(name)
        found = [(n, self[n]) for n in spec.names if n.lower() in self._names]
        if len({value for _, value in found}) > 1:
            spelled = " and ".join(f"{n}={v}" for n, v in found)
            raise ConfigError(f"option {spelled}: these name the same option with different values; give one")
        return found[0] if found else None

    def value(self, name: str) -> object:
        """The typed value of a declared option (its default when absent)."""
        spec = self.spec(name)
        getters = {BOOL: self.get_bool, INT: self.get_int, NUMBER: self.get_number, SIZE: self.get_size,
                   CHOICE: self.get_choice, CHAR: self.get_char, PATH: self.get_path}  # fmt: skip
        getter: Callable[[str], object] = getters.get(spec.type, self.get_str)
        return getter(name)

    def _fail(self, given: str, value: str, why: str, todo: str) -> ConfigError:
        label = self._labels.get(self.spec(given).name.lower())
        if label:
            return ConfigError(f"{label} {value!r} is {why}; {todo}")
        return ConfigError(f"option {self._spelled(given)}={value}: {why}; {todo}")

    def _get(self, name: str, default: object) -> tuple[str, str] | object:
        found = self.raw(name)
        if found is None:
            return self.spec(name).default if default is _NOT_GIVEN else default
        return found

    def get_str(self, name: str, default: object = _NOT_GIVEN) -> str | None:
        found = self._get(name, default)
        if not isinstance(found, tuple):
            return None if found is None else str(found)
        given, value = found
        if value == "" and not self.spec(name).allow_empty:
            raise self._fail(given, value, "empty", "give a value or leave the option out")
        return value

    def get_path(self, name: str, default: object = _NOT_GIVEN) -> str | None:
        found = self._get(name, default)
        if not isinstance(found, tuple):
            return None if found is None else str(found)
        given, value = found
        if not value.strip():
            raise self._fail(given, value, "not a path", "give a file path or URL, or leave the option out")
        return value

    def get_bool(self, name: str, default: object = _NOT_GIVEN) -> bool:
        found = self._get(name, default)
        if not isinstance(found, tuple):
            return bool(found)
        given, value = found
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            raise self._fail(given, value, "not true or false", "use true or false")
        return lowered == "true"

    def get_size(self, name: str, default: object = _NOT_GIVEN) -> int:
        found = self._get(name, default)
        if not isinstance(found, tuple):
            return int(found)  # type: ignore[call-overload]
        given, value = found
        size = parse_size_text(value)
        if size is None:
            raise self._fail(given, value, "not a size", _SIZE_HELP)
        if size <= 0:
            raise self._fail(given, value, "not a positive size", _SIZE_HELP)
        return size

    def get_int(self, name: str, default: object = _NOT_GIVEN) -> int:
        found = self._get(name, default)
        if not isinstance(found, tuple):
            return int(found)  # type: ignore[call-overload]
        given, value = found
        try:
            number = int(value.strip())
        except ValueError:
            raise self._fail(given, value, "not a whole number", "use digits, e.g. 10") from None
        if number < 0:
            raise self._fail(given, value, "negative", "use 0 or more")
        return number

    def get_number(self, name: str, default: object = _NOT_GIVEN) -> float:
        found = self._get(name, default)
        if not isinstance(found, tuple):
            return float(found)  # type: ignore[arg-type]
        given, value = found
        try:
            number = float(value.strip())
        except ValueError:
            raise self._fail(given, value, "not a number", "use a number of seconds, e.g. 0.8") from None
        if not number >= 0:  # also refuses nan
            raise self._fail(given, value, "negative", "use 0 or more")
        return number

    def get_choice(self, name: str, default: object = _NOT_GIVEN) -> str:
        found = self._get(name, default)
        if not isinstance(found, tuple):
            return str(found)
        given, value = found
        choices = self.spec(name).choices
        for choice in choices:
            if value.strip().lower() == choice.lower():
                return choice
        raise self._fail(given, value, f"not one of {', '.join(choices)}", f"use one of {', '.join(choices)}")

    def get_char(self, name: str, default: object = _NOT_GIVEN) -> str | None:
        """One character; ``\\t`` is a tab; "" is None (e.g. quote="" turns quoting off) where allowed."""
        found = self._get(name, default)
        if not isinstance(found, tuple):
            return None if found is None else str(found)
        given, value = found
        if value == "" and self.spec(name).allow_empty:
            return None
        if value == "\\t":
            return "\t"
        if len(value) != 1:
            raise self._fail(given, value, "not a single character", "give one character, or \\t for a tab")
        return value

    def get_paths(self) -> list[str]:
        """The paths Spark passed: ``path`` for ``load(p)``, a JSON list in ``paths`` for ``load([p, q])``."""
        paths: list[str] = []
        listed = self.get_str("paths")
        if listed:
            try:
                decoded = json.loads(listed)
            except ValueError:
                decoded = None
            if not isinstance(decoded, list):
                raise ConfigError("option paths: not a JSON list of paths; pass the paths to load([...])")
            paths.extend(str(p) for p in decoded)
        path = self.get_str("path")
        if path:
            paths.insert(0, path)
        return paths


def _text(value: object) -> str:
    """Option values as Spark spells them: Python booleans become true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _rebuild(values: tuple[tuple[str, str], ...], labels: tuple[tuple[str, str], ...],
             extra: tuple[OptionSpec, ...]) -> Options:  # fmt: skip
    options = Options(values, labels=dict(labels))
    for spec in extra:
        for name in spec.names:
            options._specs.setdefault(name.lower(), spec)
    return options


def as_options(options: Mapping[str, object] | None) -> Options:
    """``options`` itself if it already is an :class:`Options`, else a new (unchecked) one over it."""
    if isinstance(options, Options):
        return options
    return Options(options or {})


# ---- docs ----------------------------------------------------------------------------------------------------


def _default_text(spec: OptionSpec) -> str:
    if spec.default is None:
        return ""
    if isinstance(spec.default, bool):
        return "true" if spec.default else "false"
    if spec.type == SIZE and isinstance(spec.default, int):
        return size_text(spec.default)
    if spec.default == "":
        return '""'
    return _cell(str(spec.default))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(table: Iterable[OptionSpec] = TABLE) -> str:
    """docs/OPTIONS.md: one table per group, then the Spark options that are refused by name."""
    specs = list(table)
    out = [
        "# Options of the `ppml-enc` data source",
        "",
        "Generated from `python/bigdl_ppml_az/options.py` by `python -m bigdl_ppml_az.options --markdown > "
        f"{DOCS}`; a test fails when this file and the table differ.",
        "",
        "Option names are case-insensitive (`header`, `HEADER`, `Header`). Booleans are `true` or `false`; sizes "
        "use Spark's byte-size syntax (`134217728`, `128m`, `64k`, `1g`). The CLI (`ppml-az`) turns its flags "
        "into the same options with the same rules. An option that is not in these tables is an error that names "
        "the closest known option; settings starting with `fs.azure.` or `spark.hadoop.fs.azure.` are passed to "
        "the storage layer as they are (see the storage table).",
        "",
    ]
    for group, title in GROUPS.items():
        rows = [s for s in specs if s.group == group and s.supported]
        if not rows:
            continue
        out += [f"## {title}", "", "| option | aliases | type | default | read/write | meaning |",
                "|---|---|---|---|---|---|"]  # fmt: skip
        for s in rows:
            kind = f"{s.type}: {', '.join(s.choices)}" if s.choices else s.type
            aliases = ", ".join(f"`{a}`" for a in s.aliases)
            default = _default_text(s)
            out.append(
                f"| `{s.name}` | {aliases} | {kind} | {f'`{default}`' if default else ''} | {_sides_text(s)} | "
                f"{_cell(s.meaning)} |"
            )
        if group == "storage":
            out += ["", "Also every `fs.azure.*` and `spark.hadoop.fs.azure.*` setting (account key, SAS token, "
                    "OAuth), as Spark's ABFS connector names them."]  # fmt: skip
        out.append("")
    refused = [s for s in specs if not s.supported]
    out += [
        "## Spark options ppml-enc refuses",
        "",
        "Spark documents these for its own sources; ppml-enc does not implement them yet, so it refuses them by "
        "name instead of ignoring them.",
        "",
        "| option | aliases | Spark source | read/write | Spark's meaning |",
        "|---|---|---|---|---|",
    ]
    for s in refused:
        aliases = ", ".join(f"`{a}`" for a in s.aliases)
        out.append(f"| `{s.name}` | {aliases} | {REFUSED_GROUPS[s.group]} | {s.sides} | {_cell(s.meaning)} |")
    return "\n".join(out) + "\n"


def _sides_text(spec: OptionSpec) -> str:
    if spec.implemented == BOTH or spec.sides != BOTH:
        return spec.sides
    other = READ if spec.implemented == WRITE else WRITE
    return f"{spec.implemented} ({other}: refused)"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["--markdown"]:
        print("usage: python -m bigdl_ppml_az.options --markdown", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["TABLE", "OptionSpec", "Options", "as_options", "markdown", "parse_size_text", "size_text", "spec_for"]
