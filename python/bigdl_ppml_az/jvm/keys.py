"""Hand data keys to the JVM: unwrap on the driver with the Python KMS, set them in the Hadoop configuration.

Names start with ``fs.ppml.secret.``: Spark's default ``spark.redaction.regex`` matches "secret", so the values
are redacted in the UI, the REST API and event logs; they never appear in ``explain()`` because they are not
read options. Spark ships the Hadoop configuration to executors with each job, where the codec finds a file's
key by a public reference (a hash of the wrapped key in the file's header).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError
from ..formats import KEY_BESIDE, Codec, DataKey, ObjectInfo, all_codecs, ppml_gcm, probe
from ..formats import common as formats_common
from ..formats import native as formats_native
from ..kms import KmsSettings, WrappedKey, build_kms, generate_data_key, unwrap_cached
from ..kms.resolve import resolve_wrapped_key
from ..storage import expand_paths, filesystem_for

KEY_PREFIX = "fs.ppml.secret.key."
NATIVE_KEY = KEY_PREFIX + "native"
WRITE_KEY = KEY_PREFIX + "write"
WRITE_ENVELOPE = "fs.ppml.write.envelope"
VERIFY = "fs.ppml.verify"
CLAIMED_EXTENSION = "fs.ppml.codec.extension"
LOCAL_PRIMARY_KEY_PATH = "fs.ppml.local.primaryKeyPath"

_SHIM_CODECS = {c.suffix: c for c in all_codecs() if c.suffix}  # file suffix -> the mode the shim decrypts
EXTENSIONS = tuple(_SHIM_CODECS)
GCM_EXTENSION = ppml_gcm.CODEC.suffix
CBC_EXTENSION = formats_common.CODEC.suffix
NATIVE_EXTENSION = formats_native.CODEC.suffix
GCM_CODEC = "bigdlppmlaz.PpmlGcmCodec"


def key_ref(data: bytes) -> str:
    """Public reference to a wrapped key (first 32 hex digits of SHA-256), as the JVM computes it."""
    return hashlib.sha256(data).hexdigest()[:32]


def gcm_key_name(wrapped_key: bytes) -> str:
    return f"{KEY_PREFIX}gcm.{key_ref(wrapped_key)}"


def cbc_key_name(encrypted_key_string: str) -> str:
    return f"{KEY_PREFIX}cbc.{key_ref(encrypted_key_string.encode('utf-8'))}"


def hadoop_conf(spark: Any) -> Any:
    """The session's live Hadoop configuration (classic PySpark; Spark Connect has none)."""
    try:
        return spark.sparkContext._jsc.hadoopConfiguration()
    except AttributeError:
        raise ConfigError("the JVM codec needs a classic SparkSession (not Spark Connect)") from None


def _encode(material: bytes) -> str:
    return base64.b64encode(material).decode("ascii")


def _wrapped(info: ObjectInfo, path: str, settings: KmsSettings) -> WrappedKey:
    return resolve_wrapped_key(info, path, kms_type=settings.kms_type)


def register(spark: Any, info: ObjectInfo, key: DataKey) -> str:
    """Set the key of one probed object in the session's Hadoop configuration; return the (public) name."""
    conf = hadoop_conf(spark)
    shim = info.codec.shim_key(info, key)
    if shim is None:
        raise ConfigError(f"crypto mode {info.mode} has no JVM codec key")
    kind, reference, secret = shim
    name = f"{KEY_PREFIX}{kind}" + (f".{key_ref(reference)}" if reference is not None else "")
    conf.set(name, _encode(secret))
    return name


def register_native_key(spark: Any, options: Mapping[str, str]) -> None:
    """nativeaescbc files carry no key reference: unwrap the BigDL data key file named by ``dataKeyPath``."""
    path = options.get("dataKeyPath")
    if not path:
        raise ConfigError("nativeaescbc (.nativecbc) files need option dataKeyPath (BigDL data key file)")
    settings = KmsSettings.from_options(options)
    kms = build_kms(settings)
    headerless = ObjectInfo(formats_native.CODEC.name, 0, b"", None)  # what a .nativecbc file tells: nothing
    wrapped = resolve_wrapped_key(headerless, path, kms_type=settings.kms_type, data_key_path=path)
    material = unwrap_cached(kms, wrapped)
    hadoop_conf(spark).set(NATIVE_KEY, _encode(DataKey(material).as_bigdl_string().encode("utf-8")))


def claim_extension(spark: Any, extension: str | None) -> None:
    """Let the codec decrypt files that kept a plaintext name (``.tbl``, ``.csv``...) in this session; None
    gives the extension back. Plaintext files with a claimed extension fail to read until then.
    """
    conf = hadoop_conf(spark)
    if extension:
        conf.set(CLAIMED_EXTENSION, extension if extension.startswith(".") else "." + extension)
    else:
        conf.unset(CLAIMED_EXTENSION)


def prepare_read(
    spark: Any, paths: str | Iterable[str], options: Mapping[str, str], extensions: Iterable[str] = ()
) -> list[str]:
    """Probe every encrypted file under ``paths`` (by extension: ours plus ``extensions``), unwrap each
    distinct data key once on the driver and register it for the codec. Returns the files prepared.
    Errors name the file and what to do.
    """
    wanted = EXTENSIONS + tuple(extensions)
    path_list = [paths] if isinstance(paths, str) else list(paths)
    settings = KmsSettings.from_options(options)
    kms = build_kms(settings)
    done: set[bytes] = set()
    prepared: list[str] = []
    native_seen = False
    for status in expand_paths(path_list, options):
        name = status.path
        if not name.endswith(wanted):
            continue
        codec: Codec | None = next((c for suffix, c in _SHIM_CODECS.items() if name.endswith(suffix)), None)
        if codec is not None and codec.key_reference == KEY_BESIDE:  # no key reference in the file
            native_seen = True
            prepared.append(name)
            continue
        fs = filesystem_for(name, options)
        with fs.open_read(name) as handle:
            info = probe(handle, status.size, name)
        prepared.append(name)
        assert info.key_ref is not None
        if info.key_ref.wrapped_key in done:
            continue
        material = unwrap_cached(kms, _wrapped(info, name, settings))
        register(spark, info, DataKey(material))
        done.add(info.key_ref.wrapped_key)
    if native_seen:
        register_native_key(spark, options)
    return prepared


def prepare_write(
    spark: Any,
    options: Mapping[str, str],
    content_type: str | None = None,
    segment_size: int = ppml_gcm.DEFAULT_SEGMENT_SIZE,
) -> str:
    """Make a fresh data key for ppml-gcm output through the codec; return the codec class name to pass as
    ``.option("compression", ...)``. The same session can read the output back without prepare_read.
    """
    kms = build_kms(KmsSettings.from_options(options))
    data_key, wrapped = generate_data_key(kms, compat=ppml_gcm.CODEC.key_compat)
    envelope = ppml_gcm.envelope_for(wrapped, segment_size, content_type)
    conf = hadoop_conf(spark)
    conf.set(WRITE_KEY, _encode(data_key))
    conf.set(WRITE_ENVELOPE, _encode(envelope.to_bytes()))
    conf.set(gcm_key_name(wrapped.ciphertext), _encode(data_key))
    return GCM_CODEC
