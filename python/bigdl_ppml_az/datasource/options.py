"""Options of the ``ppml-enc`` data source, parsed once on the driver into a small picklable object.

Spark hands Python data sources their options with lower-cased keys; we accept any case. CSV option names and
defaults are Spark's own (``header``, ``sep``/``delimiter``, ``quote``, ``escape``, ``nullValue``...), so a
``spark.read.csv`` call becomes a ``ppml-enc`` read by changing only the format and adding the KMS options.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import ConfigError
from ..formats import AUTO, DEFAULT_WRITE_MODE, Codec, all_codecs, codec_for, normalize_mode, write_codec

CONTENT_FORMATS = ("csv", "json", "text", "parquet")
MODES = ("PERMISSIVE", "DROPMALFORMED", "FAILFAST")
DEFAULT_MAX_PARTITION_BYTES = 128 << 20
SECURE_TRANSPORT_ENV = "PPML_AZ_SECURE_TRANSPORT"

# Options that configure us, never the KMS or storage; everything else is passed on to KmsSettings/storage.
_SIZE_UNITS = {"b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30}


def parse_bool(name: str, value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ConfigError(f"option {name}={value!r} must be true or false")


def parse_size(name: str, value: str | None, default: int) -> int:
    """Byte sizes as Spark writes them: ``134217728``, ``128m``, ``64k``."""
    if value is None or value == "":
        return default
    text = value.strip().lower()
    digits = text.rstrip("bkmg")
    unit = text[len(digits) :] or "b"
    try:
        size = int(digits) * _SIZE_UNITS[unit]
    except (ValueError, KeyError):
        raise ConfigError(f"option {name}={value!r} is not a byte size (e.g. 134217728, 128m)") from None
    if size <= 0:
        raise ConfigError(f"option {name} must be positive")
    return size


def _single_char(name: str, value: str, allow_empty: bool = True) -> str | None:
    if value == "" and allow_empty:
        return None
    if value in ("\\t",):
        return "\t"
    if len(value) != 1:
        raise ConfigError(f"option {name}={value!r} must be a single character")
    return value


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
    date_format: str | None = None
    timestamp_format: str | None = None
    time_zone: str = "UTC"
    infer_schema: bool = False
    multi_line: bool = False
    mode: str = "PERMISSIVE"
    corrupt_column: str = "_corrupt_record"
    max_partition_bytes: int = DEFAULT_MAX_PARTITION_BYTES
    key_delivery: str = "executor"
    verify: bool = True
    chunk_bytes: int = 4 << 20
    sample_bytes: int = 4 << 20

    @property
    def arrow_escape(self) -> str | bool:
        """pyarrow's escape_char. Spark's ``escape`` equal to ``quote`` means RFC 4180 doubled quotes, which
        pyarrow handles with ``double_quote``; passing it as an escape too would swallow closing quotes."""
        if not self.escape or self.escape == self.quote:
            return False
        return self.escape

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> ReadSettings:
        opts = {k.lower(): v for k, v in options.items()}
        fmt = (opts.get("format") or "csv").strip().lower()
        if fmt not in CONTENT_FORMATS:
            raise ConfigError(f"option format={fmt!r} is not supported; use one of {', '.join(CONTENT_FORMATS)}")
        mode = (opts.get("mode") or "PERMISSIVE").strip().upper()
        if mode not in MODES:
            raise ConfigError(f"option mode={mode!r} must be one of {', '.join(MODES)}")
        delivery = (opts.get("keydelivery") or "executor").strip().lower()
        if delivery not in ("executor", "driver"):
            raise ConfigError(f"option keyDelivery={delivery!r} must be executor or driver")
        sep = opts.get("sep", opts.get("delimiter", ","))
        crypto_mode = normalize_mode(opts.get("cryptomode") or opts.get("crypto_mode"))
        _check_content_format(crypto_mode, fmt)
        return cls(
            content_format=fmt,
            crypto_mode=crypto_mode,
            header=parse_bool("header", opts.get("header"), False),
            sep=_single_char("sep", sep, allow_empty=False) or ",",
            quote=_single_char("quote", opts.get("quote", '"')),
            escape=_single_char("escape", opts.get("escape", "\\")),
            null_value=opts.get("nullvalue", ""),
            date_format=opts.get("dateformat") or None,
            timestamp_format=opts.get("timestampformat") or None,
            time_zone=opts.get("timezone") or "UTC",
            infer_schema=parse_bool("inferSchema", opts.get("inferschema"), False),
            multi_line=parse_bool("multiLine", opts.get("multiline"), False),
            mode=mode,
            corrupt_column=opts.get("columnnameofcorruptrecord") or "_corrupt_record",
            max_partition_bytes=parse_size(
                "maxPartitionBytes", opts.get("maxpartitionbytes"), DEFAULT_MAX_PARTITION_BYTES
            ),
            key_delivery=delivery,
            verify=parse_bool("verify", opts.get("verify"), True),
            chunk_bytes=parse_size("chunkBytes", opts.get("chunkbytes"), 4 << 20),
            sample_bytes=parse_size("samplingBytes", opts.get("samplingbytes"), 4 << 20),
        )


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
        opts = {k.lower(): v for k, v in options.items()}
        fmt = (opts.get("format") or "csv").strip().lower()
        if fmt not in ("csv", "json", "parquet", "text"):
            raise ConfigError(f"option format={fmt!r} cannot be written; use csv, json, text or parquet")
        codec = write_codec(opts.get("cryptomode") or opts.get("crypto_mode"), DEFAULT_WRITE_MODE)
        mode = codec.name
        _check_content_format(mode, fmt)
        if not codec.writable:
            raise ConfigError(f"cryptoMode={mode} cannot be written; use {_writable_modes()}")
        if codec.write_formats is not None and fmt not in codec.write_formats:
            raise ConfigError(f"{codec.title} output supports {_and(codec.write_formats)}, not {fmt}")
        delivery = (opts.get("keydelivery") or "executor").strip().lower()
        if delivery not in ("executor", "driver"):
            raise ConfigError(f"option keyDelivery={delivery!r} must be executor or driver")
        return cls(
            content_format=fmt,
            crypto_mode=mode,
            header=parse_bool("header", opts.get("header"), False),
            sep=_single_char("sep", opts.get("sep", opts.get("delimiter", ",")), allow_empty=False) or ",",
            segment_size=parse_size("segmentSize", opts.get("segmentsize"), 1 << 20),
            key_delivery=delivery,
            footer_key=opts.get("footerkey") or "",
        )


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
    opts = {k.lower(): v for k, v in options.items()}
    paths: list[str] = []
    if opts.get("paths"):
        try:
            paths.extend(str(p) for p in json.loads(opts["paths"]))
        except ValueError:
            raise ConfigError("option paths is not a JSON list of paths") from None
    if opts.get("path"):
        paths.insert(0, opts["path"])
    if not paths:
        raise ConfigError("no path given: use .load(path) or .save(path)")
    return paths


def check_driver_delivery(options: Mapping[str, str]) -> None:
    """keyDelivery=driver ships data keys inside task descriptions: only over authenticated, encrypted RPC.

    Spark does not give Python data sources its configuration, so whoever launches the job with
    spark.authenticate and spark.network.crypto.enabled confirms it by exporting PPML_AZ_SECURE_TRANSPORT=1 to
    the driver; option allowInsecureKeyDelivery=true overrides for local testing only.
    """
    opts = {k.lower(): v for k, v in options.items()}
    if parse_bool("allowInsecureKeyDelivery", opts.get("allowinsecurekeydelivery"), False):
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
