"""BigDL PPML's Python API (``bigdl.ppml.ppml_context``) on bigdl-ppml-az: a BigDL job changes only its import.

::

    from bigdl_ppml_az.ppml_context import PPMLContext, CryptoMode   # was: from bigdl.ppml.ppml_context import *

    sc = PPMLContext("MyApp", {"kms_type": "AzureKeyManagementService", "vault": "myvault",
                               "primary_key_material": "keys/primaryKey"})
    df = sc.read(crypto_mode=CryptoMode.AES_CBC_PKCS5PADDING).option("header", "true").csv(path)
    sc.write(dataframe=df.where("age > 30"), crypto_mode=CryptoMode.PLAIN_TEXT).mode("overwrite").csv(out)

Keys come from ``ppml_args`` (BigDL's names), from ``spark.bigdl.*`` settings (older ``spark.bigdl.kms.*`` and
newer ``spark.bigdl.primaryKey.<name>.*``, chosen by ``primary_key_name``), see :mod:`bigdl_ppml_az.bigdl_conf`.

Two paths, chosen per read/write and reported in ``ctx.last_path`` (and a log line):

* ``jvm``: the session has the JVM shim (``bigdl_ppml_az.jvm``), so Spark's own readers and writers run with the
  shim's codec (``ppml-gcm``, BigDL ``aes/cbc/pkcs5padding`` reads) or Parquet Modular Encryption: exact Spark
  semantics, column pruning, predicate pushdown. ``PPMLContext`` adds the shim when it creates the session and
  the jar is built already (or ``native=True``).
* ``ppml-enc``: the Python data source, everywhere else (and for what the codec cannot do, such as writing
  BigDL ``aes/cbc/pkcs5padding``).
* ``plain``: ``CryptoMode.PLAIN_TEXT`` is Spark's own reader/writer. A read first looks at the first bytes of
  each file and refuses, naming it, one that is encrypted (BigDL's habit of ``plain_text`` everywhere would
  otherwise return its ciphertext as rows).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from . import bigdl_conf
from .errors import ConfigError, OutputExistsError
from .formats import Codec, codec_for, normalize_mode

log = logging.getLogger(__name__)

JVM_PATH = "jvm"
PPML_ENC_PATH = "ppml-enc"
PLAIN_PATH = "plain"
NATIVE_ENV = "PPML_AZ_NATIVE"  # 1: build/add the shim at session creation; 0: never use the JVM path
SAVE_MODES = ("append", "overwrite", "error", "errorifexists", "default", "ignore")
_HIDDEN = (".", "_")


class CryptoMode(Enum):
    """BigDL's crypto modes (same members, same values), plus ``PPML_GCM``, this project's authenticated format."""

    PLAIN_TEXT = "plain_text"
    AES_CBC_PKCS5PADDING = "AES/CBC/PKCS5Padding"
    AES_GCM_V1 = "AES_GCM_V1"
    AES_GCM_CTR_V1 = "AES_GCM_CTR_V1"
    PPML_GCM = "ppml-gcm"

    @classmethod
    def _missing_(cls, value: object) -> CryptoMode | None:
        """Any spelling ``normalize_mode`` knows (``aes/cbc/pkcs5padding``, ``aes_gcm_v1``...)."""
        if isinstance(value, str):
            canonical = normalize_mode(value)
            for member in cls:
                if normalize_mode(member.value) == canonical:
                    return member
        return None

    @property
    def canonical(self) -> str:
        return normalize_mode(self.value)


def _mode(crypto_mode: CryptoMode | str) -> str:
    if isinstance(crypto_mode, CryptoMode):
        return crypto_mode.canonical
    return normalize_mode(str(crypto_mode))


def _is_pme(codec: Codec) -> bool:
    """Encryption inside the Parquet file (Parquet Modular Encryption), done by the Parquet library."""
    return codec.encrypted and not codec.wraps_bytes


def _check_format(codec: Codec, fmt: str, writing: bool) -> None:
    allowed = codec.write_formats if writing and codec.write_formats is not None else codec.content_formats
    if allowed is not None and fmt not in allowed:
        hint = " (Parquet Modular Encryption: use .parquet())" if _is_pme(codec) else ""
        raise ConfigError(
            f"crypto mode {codec.name} {'writes' if writing else 'holds'} {', '.join(allowed)}, not {fmt}{hint}; "
            "for encrypted Parquet use CryptoMode.AES_GCM_V1/AES_GCM_CTR_V1, for csv, json or text ppml-gcm or "
            "aes/cbc/pkcs5padding"
        )


def _conf_items(spark_conf: Any) -> dict[str, str]:
    if spark_conf is None:
        return {}
    if hasattr(spark_conf, "getAll"):
        return {str(k): str(v) for k, v in spark_conf.getAll()}
    return {str(k): str(v) for k, v in dict(spark_conf).items()}


def has_shim(spark: Any) -> bool:
    """True when this session's JVM can load the shim and its codecs are registered."""
    try:
        codecs = spark.sparkContext._jsc.hadoopConfiguration().get("io.compression.codecs") or ""
    except Exception:  # Spark Connect: no JVM here
        return False
    if "bigdlppmlaz." not in codecs:
        return False
    try:
        jvm = spark.sparkContext._jvm
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName("bigdlppmlaz.PpmlKmsClient", False, loader)
    except Exception:
        return False
    return True


def _can_add_jars() -> bool:
    """Jars can only be added when this process starts the JVM: not under spark-submit/pyspark (the JVM is up:
    pass the shim with ``ppml-az submit --native`` or ``--jars``), not when a session already exists."""
    from pyspark import SparkContext

    return "PYSPARK_GATEWAY_PORT" not in os.environ and SparkContext._active_spark_context is None


def _add_shim(builder: Any, build: bool) -> Any:
    from . import jvm

    try:
        if build or jvm.jar_path(build=False).exists():
            return jvm.configure(builder)
    except ConfigError as exc:
        if build:
            raise
        log.info("JVM shim not added (%s); using ppml-enc", exc)
    return builder


def _want_native(native: bool | None) -> bool | None:
    if native is not None:
        return native
    env = os.environ.get(NATIVE_ENV, "").strip()
    if env in ("0", "false"):
        return False
    if env in ("1", "true"):
        return True
    return None


class PPMLContext:
    """A SparkSession plus the keys of a BigDL PPML job; reads and writes encrypted data by crypto mode.

    ``native``: True builds (once, cached) and adds the JVM shim when this creates the session; False never
    uses the JVM path; None (default) adds it when the jar is already built, else uses ``ppml-enc``.
    ``options``: extra ``ppml-enc`` options for every read and write (storage settings, ``keyDelivery``...).
    """

    def __init__(
        self,
        app_name: str | None,
        ppml_args: Mapping[str, object] | None = None,
        spark_conf: Any = None,
        spark: Any = None,
        *,
        native: bool | None = None,
        options: Mapping[str, str] | None = None,
    ) -> None:
        from pyspark.sql import SparkSession

        args_conf = bigdl_conf.ppml_args_conf(ppml_args) if ppml_args else {}
        conf = _conf_items(spark_conf)
        want = _want_native(native)
        if spark is None:
            builder = SparkSession.builder
            if app_name:
                builder = builder.appName(app_name)
            for key, value in conf.items():
                builder = builder.config(key, value)
            if want is not False and _can_add_jars():
                builder = _add_shim(builder, build=bool(want))
            spark = builder.getOrCreate()
        self.spark = spark
        session_conf = dict(spark.sparkContext.getConf().getAll())
        session_conf.update(conf)
        session_conf.update(args_conf)  # BigDL: ppml_args override the conf's defaultKey settings
        self._conf = session_conf
        bigdl_conf.check_all(self._conf)  # a bad spark.bigdl.* setting fails now, not at the first read
        self._extra = dict(options or {})
        self._native = want is not False and has_shim(spark)
        if want is True and not self._native:
            raise ConfigError(
                "native=True: this session has no JVM shim (a running JVM cannot load jars); under spark-submit "
                "use `ppml-az submit --native`, else create the PPMLContext before any session (or start the "
                "session with bigdl_ppml_az.jvm.configure(builder))"
            )
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._plaintext_keys: dict[str, str] = {}
        self.last_path: str | None = None
        from .datasource import PpmlEncDataSource
        from .datasource.registration import register_source

        register_source(spark, PpmlEncDataSource)  # keys are always passed explicitly from here
        from .spill import check_io_encryption

        check_io_encryption(spark)  # once per application: decrypted shuffle/spill data would be plaintext

    # ------------------------------------------------------------------------------------------ keys
    @property
    def native(self) -> bool:
        """Whether encrypted reads/writes can take the JVM path in this session."""
        return self._native

    def key_options(self, primary_key_name: str = bigdl_conf.DEFAULT_KEY) -> dict[str, str]:
        """The ppml-enc options of one named key (KMS and key files), plus the context's extra options."""
        name = primary_key_name or bigdl_conf.DEFAULT_KEY
        spec = bigdl_conf.key_spec(self._conf, name)
        if spec is None:
            explicit = {k.lower() for k in self._extra}
            if "kms" in explicit:
                return dict(self._extra)
            defined = bigdl_conf.key_names(self._conf)
            raise ConfigError(
                f"primary_key_name={name!r}: no such key; define it with ppml_args or spark.bigdl.primaryKey.{name}"
                f".kms.type/.material (defined: {', '.join(defined) or 'none'})"
            )
        options = dict(spec.options)
        plaintext = options.pop(bigdl_conf.PLAINTEXT_OPTION, None)
        if plaintext is not None:
            options["primaryKeyPath"] = self._plaintext_key_file(name, plaintext, spec.sources)
        options.update(self._extra)
        return options

    def _plaintext_key_file(self, name: str, value: str, sources: Mapping[str, str]) -> str:
        """BigDL's plain-text primary key, as a 0600 key file in a private (0700) temp dir of this driver.

        Executors rebuild the KMS from the path, so beyond local mode it works on the JVM path (keys are
        unwrapped on the driver) or with keyDelivery=driver; otherwise give a key file all nodes can read.
        """
        if name in self._plaintext_keys:
            return self._plaintext_keys[name]
        material = bigdl_conf.plaintext_primary_key(value, sources.get(bigdl_conf.PLAINTEXT_OPTION, "plainText"))
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ppml-az-keys-")
        path = Path(self._tmp.name) / f"{len(self._plaintext_keys)}.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(material)
        self._plaintext_keys[name] = str(path)
        return str(path)

    def _used(self, path: str, what: str) -> None:
        self.last_path = path
        log.info("PPMLContext %s through the %s path", what, path)

    # ------------------------------------------------------------------------------------------ API
    def read(
        self, crypto_mode: CryptoMode | str, primary_key_name: str = bigdl_conf.DEFAULT_KEY
    ) -> EncryptedDataFrameReader:
        return EncryptedDataFrameReader(self, _mode(crypto_mode), primary_key_name)

    def write(
        self, dataframe: Any, crypto_mode: CryptoMode | str, primary_key_name: str = bigdl_conf.DEFAULT_KEY
    ) -> EncryptedDataFrameWriter:
        return EncryptedDataFrameWriter(self, dataframe, _mode(crypto_mode), primary_key_name)

    def textfile(
        self,
        path: str,
        min_partitions: int | None = None,
        crypto_mode: CryptoMode | str = CryptoMode.PLAIN_TEXT,
        primary_key_name: str = bigdl_conf.DEFAULT_KEY,
    ) -> Any:
        """An RDD of the lines of (encrypted) text files, like ``SparkContext.textFile``."""
        sc = self.spark.sparkContext
        parts = sc.defaultMinPartitions if min_partitions is None else int(min_partitions)
        mode = _mode(crypto_mode)
        if not codec_for(mode).encrypted:
            from .datasource.planning import refuse_encrypted_files

            refuse_encrypted_files(path.split(","), self._extra, mode)  # textFile takes comma-separated paths
            self._used(PLAIN_PATH, "textfile")
            return sc.textFile(path, parts)
        options = self.key_options(primary_key_name)
        if self._native and _prepare_jvm_read(self.spark, [path], options, mode, "text"):
            self._used(JVM_PATH, "textfile")
            return sc.textFile(path, parts)
        df = self._ppml_enc_reader(mode, options, "text").load(path)
        self._used(PPML_ENC_PATH, "textfile")
        rdd = df.rdd.map(lambda row: row[0])
        return rdd.repartition(parts) if rdd.getNumPartitions() < parts else rdd

    def sql(self, sql_text: str) -> Any:
        return self.spark.sql(sql_text)

    def stop(self) -> None:
        self.spark.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ------------------------------------------------------------------------------------------ helpers
    def _ppml_enc_reader(self, mode: str, options: Mapping[str, str], fmt: str) -> Any:
        return self.spark.read.format("ppml-enc").options(**options).option("cryptoMode", mode).option("format", fmt)


def _data_files(paths: Iterable[str], options: Mapping[str, str]) -> list[str]:
    from .storage import expand_paths

    files = []
    for status in expand_paths(list(paths), options):
        base = status.path.rstrip("/").rsplit("/", 1)[-1]
        if not base.startswith(_HIDDEN):
            files.append(status.path)
    return files


def _prepare_jvm_read(spark: Any, paths: list[str], options: Mapping[str, str], mode: str, fmt: str) -> bool:
    """Register the files' data keys for the shim's codecs; False when the JVM path cannot read these files.

    ``jvm.prepare_read`` probes every file by its header whatever its name (``people.csv`` from
    ``ppml-az encrypt`` included) and makes Spark's readers decrypt it, or raises when an encrypted file's name
    cannot be claimed (``x.csv.gz``): then ``ppml-enc`` reads instead. A file that is not encrypted in a read
    that asks for a crypto mode also goes to ``ppml-enc``, which refuses it by name (the shim's codecs would
    pass plaintext through).
    """
    from . import jvm
    from .errors import UndecryptableName

    if not codec_for(mode).suffix:  # no shim codec for this mode
        return False
    files = _data_files(paths, options)
    if not files:
        return False
    try:
        prepared = set(jvm.prepare_read(spark, paths, options, content_format=fmt))
    except UndecryptableName as exc:
        log.info("JVM path not taken: %s", exc)
        return False
    plain = [f for f in files if f not in prepared]
    if plain:
        log.info("JVM path not taken: %s is not encrypted", plain[0])
        return False
    return True


_AZURE_SCHEMES = frozenset({"abfs", "abfss", "wasb", "wasbs"})


def _missing_jvm_filesystem(spark: Any, paths: Iterable[str]) -> str | None:
    """The first of ``paths`` whose scheme this JVM has no Hadoop file system for, else None.

    Spark's own readers and writers (the plain and JVM paths) reach ``abfss://`` only through hadoop-azure, which
    pyspark does not ship: without it a job fails with ``ClassNotFoundException ... SecureAzureBlobFileSystem``
    when it first touches the path, after all earlier work. Asked before any work instead.
    """
    from urllib.parse import urlparse

    for path in paths:
        scheme = urlparse(str(path)).scheme.lower()
        if len(scheme) <= 1 or scheme == "file":  # local paths (and Windows drive letters)
            continue
        try:
            sc = spark.sparkContext
            sc._jvm.org.apache.hadoop.fs.FileSystem.getFileSystemClass(scheme, sc._jsc.hadoopConfiguration())
        except Exception:  # Py4J: UnsupportedFileSystemException, or the configured class is not on the classpath
            return str(path)
    return None


def _refuse_missing_jvm_filesystem(spark: Any, path: str, what: str) -> None:
    """One line naming the path and how to add the driver (the Hadoop version must match Spark's own)."""
    from urllib.parse import urlparse

    scheme = urlparse(path).scheme.lower()
    if scheme not in _AZURE_SCHEMES:
        raise ConfigError(f"{path}: Spark's own {what} has no Hadoop file system for {scheme}:// in this JVM")
    try:
        version = str(spark.sparkContext._jvm.org.apache.hadoop.util.VersionInfo.getVersion())
    except Exception:
        version = "<the Hadoop version of your Spark>"
    raise ConfigError(
        f"{path}: Spark's own {what} needs the ABFS driver (hadoop-azure), which this Spark does not have; start "
        f"Spark with --packages org.apache.hadoop:hadoop-azure:{version} (spark.jars.packages), or read and write "
        "it through ppml-enc with an encrypting crypto mode, which has its own ADLS client"
    )


def _shim_write_suffix() -> str:
    """The file suffix of what ``jvm.prepare_write`` makes the shim's codec write."""
    from . import jvm

    return str(jvm.GCM_EXTENSION)


def _footer_key(options: Mapping[str, str]) -> str:
    """PME master key: the local key needs none; for Key Vault, the primary key (id from its file, or name)."""
    lowered = {k.lower(): v for k, v in options.items()}
    if lowered.get("footerkey"):
        return lowered["footerkey"]
    if bigdl_conf.normalize_kms(lowered.get("kms", "local"), "kms") == "local":
        return ""
    if lowered.get("primarykeyid"):
        return lowered["primarykeyid"]
    if lowered.get("primarykeypath"):
        from .kms.bigdl_keys import read_primary_key_id

        return read_primary_key_id(lowered["primarykeypath"])
    if lowered.get("primarykeyname"):
        return lowered["primarykeyname"]
    raise ConfigError("Parquet Modular Encryption with Key Vault needs a primary key (material or primaryKeyName)")


class EncryptedDataFrameReader:
    """BigDL's reader: ``schema``, ``option``, ``options``, then ``csv``/``json``/``text``/``parquet``."""

    def __init__(self, ctx: PPMLContext, mode: str, primary_key_name: str) -> None:
        self._ctx = ctx
        self._mode = mode
        self._key = primary_key_name
        self._schema: Any = None
        self._options: dict[str, str] = {}

    def schema(self, value: Any) -> EncryptedDataFrameReader:
        self._schema = value
        return self

    def option(self, key: str, value: Any) -> EncryptedDataFrameReader:
        self._options[key] = _text(value)
        return self

    def options(self, **options: Any) -> EncryptedDataFrameReader:
        for key, value in options.items():
            self.option(key, value)
        return self

    def csv(self, path: str | list[str]) -> Any:
        return self._load("csv", path)

    def json(self, path: str | list[str]) -> Any:
        return self._load("json", path)

    def text(self, path: str | list[str]) -> Any:
        return self._load("text", path)

    def parquet(self, path: str | list[str]) -> Any:
        return self._load("parquet", path)

    def _spark_reader(self) -> Any:
        reader = self._ctx.spark.read.options(**self._options)
        return reader.schema(self._schema) if self._schema is not None else reader

    def _load(self, fmt: str, path: str | list[str]) -> Any:
        ctx = self._ctx
        paths = [path] if isinstance(path, str) else list(path)
        codec = codec_for(self._mode)
        if not codec.encrypted:
            from .datasource.planning import refuse_encrypted_files

            missing = _missing_jvm_filesystem(ctx.spark, paths)
            if missing:
                _refuse_missing_jvm_filesystem(ctx.spark, missing, f"{fmt} reader")
            refuse_encrypted_files(paths, {**ctx._extra, **self._options}, self._mode)  # never ciphertext as rows
            ctx._used(PLAIN_PATH, f"read {fmt}")
            return self._spark_reader().format(fmt).load(paths)
        _check_format(codec, fmt, writing=False)
        options = ctx.key_options(self._key)
        if ctx.native and _missing_jvm_filesystem(ctx.spark, paths):
            log.info("JVM path not taken: no Hadoop file system for %s in this JVM; reading through ppml-enc", path)
        elif ctx.native:
            if _is_pme(codec):
                from .jvm import pme

                pme.configure_session(ctx.spark, options)
                ctx._used(JVM_PATH, "read parquet")
                return self._spark_reader().parquet(*paths)
            if fmt != "parquet" and _prepare_jvm_read(ctx.spark, paths, options, self._mode, fmt):
                ctx._used(JVM_PATH, f"read {fmt}")
                return self._spark_reader().format(fmt).load(paths)
        reader = ctx._ppml_enc_reader(self._mode, options, fmt).options(**self._options)
        if self._schema is not None:
            reader = reader.schema(self._schema)
        ctx._used(PPML_ENC_PATH, f"read {fmt}")
        return reader.load(paths[0] if len(paths) == 1 else paths)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class EncryptedDataFrameWriter:
    """BigDL's writer: ``option``, ``options``, ``mode`` (every Spark save mode), ``partitionBy``, then a format."""

    support_mode = frozenset(SAVE_MODES)

    def __init__(self, ctx: PPMLContext, dataframe: Any, mode: str, primary_key_name: str) -> None:
        self._ctx = ctx
        self._df = dataframe
        self._mode = mode
        self._key = primary_key_name
        self._options: dict[str, str] = {}
        self._save_mode = "errorifexists"
        self._partition_by: list[str] = []

    def option(self, key: str, value: Any) -> EncryptedDataFrameWriter:
        self._options[key] = _text(value)
        return self

    def options(self, **options: Any) -> EncryptedDataFrameWriter:
        for key, value in options.items():
            self.option(key, value)
        return self

    def mode(self, save_mode: str) -> EncryptedDataFrameWriter:
        lowered = str(save_mode).strip().lower()
        if lowered not in SAVE_MODES:
            raise ConfigError(
                f"mode({save_mode!r}): unknown save mode; use append, overwrite, ignore, error or errorifexists"
            )
        self._save_mode = "errorifexists" if lowered in ("error", "default") else lowered
        return self

    def partitionBy(self, *cols: str | list[str]) -> EncryptedDataFrameWriter:  # noqa: N802 - Spark's name
        names: list[str] = []
        for col in cols:
            names.extend(col if isinstance(col, (list, tuple)) else [col])
        self._partition_by = names
        return self

    def csv(self, path: str) -> None:
        self._save("csv", path)

    def json(self, path: str) -> None:
        self._save("json", path)

    def text(self, path: str) -> None:
        self._save("text", path)

    def parquet(self, path: str) -> None:
        self._save("parquet", path)

    def _spark_writer(self) -> Any:
        writer = self._df.write.mode(self._save_mode).options(**self._options)
        return writer.partitionBy(*self._partition_by) if self._partition_by else writer

    def _save(self, fmt: str, path: str) -> None:
        ctx = self._ctx
        codec = codec_for(self._mode)
        if not codec.encrypted:
            if _missing_jvm_filesystem(ctx.spark, [path]):
                _refuse_missing_jvm_filesystem(ctx.spark, path, f"{fmt} writer")
            ctx._used(PLAIN_PATH, f"write {fmt}")
            self._spark_writer().format(fmt).save(path)
            return
        if not codec.writable:
            raise ConfigError(f"crypto mode {codec.name} is read-only here; write ppml-gcm or aes/cbc/pkcs5padding")
        _check_format(codec, fmt, writing=True)
        options = ctx.key_options(self._key)
        # the shim writes PME (Spark's Parquet writer) and its own codec's format (ppml-gcm) for text formats
        jvm_writes = _is_pme(codec) or (codec.suffix == _shim_write_suffix() and fmt != "parquet")
        if ctx.native and jvm_writes and not _missing_jvm_filesystem(ctx.spark, [path]):
            self._save_jvm(fmt, path, options)
            return
        self._save_ppml_enc(fmt, path, options)

    def _save_jvm(self, fmt: str, path: str, options: Mapping[str, str]) -> None:
        """Spark's own writer (all save modes and partitionBy are Spark's), encrypting in the JVM."""
        from . import jvm
        from .jvm import pme

        writer = self._spark_writer()
        if _is_pme(codec_for(self._mode)):
            pme.configure_session(self._ctx.spark, options)
            footer = _footer_key(options) or pme.DEFAULT_MASTER_KEY
            writer = writer.options(**pme.write_options(self._mode, footer))
        else:
            codec = jvm.prepare_write(self._ctx.spark, options, content_type=fmt)
            writer = writer.option("compression", codec)
        self._ctx._used(JVM_PATH, f"write {fmt}")
        writer.format(fmt).save(path)

    def _save_ppml_enc(self, fmt: str, path: str, options: Mapping[str, str]) -> None:
        """ppml-enc knows append and overwrite only: error/errorifexists and ignore are checked here first.
        partitionBy becomes the data source's option (Spark's own partitionBy cannot reach a Python source)."""
        from .storage import filesystem_for

        ctx = self._ctx
        exists = filesystem_for(path, options).exists(path)
        if exists and self._save_mode == "errorifexists":
            raise OutputExistsError(
                f"{path}: already exists (save mode errorifexists); use .mode('overwrite'), .mode('append') or "
                ".mode('ignore')"
            )
        if exists and self._save_mode == "ignore":
            ctx._used(PPML_ENC_PATH, f"write {fmt} (ignored: the target exists)")
            return
        extra = dict(self._options)
        if self._partition_by:
            extra["partitionBy"] = json.dumps(self._partition_by)
        if _is_pme(codec_for(self._mode)) and "footerKey" not in extra:
            footer = _footer_key(options)
            if footer:
                extra["footerKey"] = footer
        writer = (
            self._df.write.format("ppml-enc")
            .options(**options)
            .option("cryptoMode", self._mode)
            .option("format", fmt)
            .options(**extra)
            .mode("overwrite" if self._save_mode == "overwrite" else "append")
        )
        ctx._used(PPML_ENC_PATH, f"write {fmt}")
        writer.save(path)


__all__ = [
    "JVM_PATH",
    "PLAIN_PATH",
    "PPML_ENC_PATH",
    "CryptoMode",
    "EncryptedDataFrameReader",
    "EncryptedDataFrameWriter",
    "PPMLContext",
    "has_shim",
]
