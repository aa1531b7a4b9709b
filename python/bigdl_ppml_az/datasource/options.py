"""Options of the ``ppml-enc`` data source, parsed once on the driver into a small picklable object.

Spark hands Python data sources their options with lower-cased keys; we accept any case. CSV option names and
defaults are Spark's own (``header``, ``sep``/``delimiter``, ``quote``, ``escape``, ``nullValue``...), so a
``spark.read.csv`` call becomes a ``ppml-enc`` read by changing only the format and adding the KMS options.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import ConfigError
from ..formats import AUTO, DEFAULT_WRITE_MODE, Codec, all_codecs, codec_for, normalize_mode, write_codec
from ..options import Options, OptionSpec, as_options, spec_for

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
    infer_schema: bool = False
    multi_line: bool = False
    mode: str = "PERMISSIVE"
    corrupt_column: str = "_corrupt_record"
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
    # JSON (format=json only; refused with other formats)
    primitives_as_string: bool = False
    prefers_decimal: bool = False
    allow_non_numeric: bool = True
    allow_control_chars: bool = False
    allow_single_quotes: bool = True
    drop_field_if_all_null: bool = False

    @property
    def arrow_escape(self) -> str | bool:
        """pyarrow's escape_char. Spark's ``escape`` equal to ``quote`` means RFC 4180 doubled quotes, which
        pyarrow handles with ``double_quote``; passing it as an escape too would swallow closing quotes."""
        if not self.escape or self.escape == self.quote:
            return False
        return self.escape

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> ReadSettings:
        opts = as_options(options)
        fmt = opts.get_choice("format")
        mode = parse_mode(opts.get_str("mode"))
        delivery = opts.get_choice("keyDelivery")
        crypto_mode = normalize_mode(opts.get("cryptomode") or opts.get("crypto_mode"))
        _check_content_format(crypto_mode, fmt)
        _check_json_only(opts, fmt)
        return cls(
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
        )


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
    content_format: str = "csv"
    crypto_mode: str = DEFAULT_WRITE_MODE
    header: bool = False
    sep: str = ","
    segment_size: int = 1 << 20
    key_delivery: str = "executor"
    footer_key: str = ""  # PME master key id (kms=azure: a Key Vault key name or URL); "" = jvm.pme's default

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
        return cls(
            content_format=fmt,
            crypto_mode=mode,
            header=opts.get_bool("header"),
            sep=opts.get_char("sep") or ",",
            segment_size=opts.get_size("segmentSize"),
            key_delivery=opts.get_choice("keyDelivery"),
            footer_key=opts.get_str("footerKey") or "",
        )


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
