"""Hand data keys to the JVM: unwrap on the driver with the Python KMS, set them in the Hadoop configuration.

Names start with ``fs.ppml.secret.``: Spark's default ``spark.redaction.regex`` matches "secret", so the values
are redacted in the UI, the REST API and event logs; they never appear in ``explain()`` because they are not
read options. Spark ships the Hadoop configuration to executors with each job, where the codec finds a file's
key by a public reference (a hash of the wrapped key in the file's header).

``kms=azure-skr`` is the exception: the driver cannot unwrap (the primary key is released only to attested
workers), so it registers the wrapped keys under ``fs.ppml.skr.wrapped.`` and the backend's options under
``fs.ppml.skr.``; each executor JVM attests and unwraps (scala-shim/src/Skr.scala). No key material is set.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError, PpmlError, UndecryptableName, with_source
from ..formats import (
    KEY_BESIDE,
    PLAIN,
    DataKey,
    ObjectInfo,
    all_codecs,
    detect,
    ppml_gcm,
    probe,
    refuse_ciphertext_as_plaintext,
)
from ..formats import common as formats_common
from ..formats import native as formats_native
from ..formats.codec import HEAD_SIZE
from ..kms import KmsSettings, WrappedKey, build_kms, generate_data_key, unwrap_cached
from ..kms.resolve import resolve_wrapped_key
from ..storage import expand_paths, filesystem_for
from ..table.integrity import check_file

KEY_PREFIX = "fs.ppml.secret.key."
NATIVE_KEY = KEY_PREFIX + "native"
WRITE_KEY = KEY_PREFIX + "write"
WRITE_ENVELOPE = "fs.ppml.write.envelope"
VERIFY = "fs.ppml.verify"
CLAIMED_EXTENSION = "fs.ppml.codec.extension"
DETECT_PREFIX = "fs.ppml.codec.detect."  # + slot: the extension PpmlDetectCodec<slot> claims
LOCAL_PRIMARY_KEY_PATH = "fs.ppml.local.primaryKeyPath"
# kms=azure-skr: the driver holds no key (the primary key is released only to attested workers), so it registers
# the *wrapped* data keys (public: they are in the files' headers) and the backend's options; each executor JVM
# attests, has the primary key released once per process and key, and unwraps (scala-shim/src/Skr.scala).
SKR_PREFIX = "fs.ppml.skr."
SKR_WRAPPED_PREFIX = SKR_PREFIX + "wrapped."  # + gcm.<ref> / cbc.<ref> / native: {"kid", "alg", "value"}
SKR_ACCESS_TOKEN = SKR_PREFIX + "access.token"  # "token": matched by Spark's default redaction regex
SKR_VAULT_URL = SKR_PREFIX + "vaultUrl"
# The azure-skr options the JVM worker reads (same names as the Python backend's), under SKR_PREFIX.
SKR_JVM_OPTIONS = (
    "attestation",
    "attestationDevice",
    "attestationTimeout",
    "connectionVerify",
    "kmsRetryTotal",
    "kmsTimeout",
    "maaCaBundle",
    "maaEndpoint",
    "releaseAlgorithm",
    "releaseTrustRoots",
    "runtimeKeySize",
    "sidecarEndpoint",
)
KEY_VAULT_SCOPE = "https://vault.azure.net/.default"
MANAGED_HSM_SCOPE = "https://managedhsm.azure.net/.default"

_SHIM_CODECS = {c.suffix: c for c in all_codecs() if c.suffix}  # file suffix -> the mode the shim decrypts
EXTENSIONS = tuple(_SHIM_CODECS)
GCM_EXTENSION = ppml_gcm.CODEC.suffix
CBC_EXTENSION = formats_common.CODEC.suffix
NATIVE_EXTENSION = formats_native.CODEC.suffix
GCM_CODEC = "bigdlppmlaz.PpmlGcmCodec"
DETECT_SLOTS = 16  # PpmlDetectCodec0..15 in Codecs.scala
DETECT_CODECS = tuple(f"bigdlppmlaz.PpmlDetectCodec{slot}" for slot in range(DETECT_SLOTS))
# Guarded from the session's start by jvm.configure(): a file in our format with one of these names fails
# ("no data key registered") instead of coming back as rows, even when prepare_read never saw it.
GUARDED_EXTENSIONS = (".csv", ".tsv", ".json", ".jsonl", ".txt", ".tbl")
# The codecs that decrypt whatever detected format they are given (not nativeaescbc: named, not detected).
DECRYPTING_CODECS = (GCM_CODEC, "bigdlppmlaz.BigdlCbcCodec", "bigdlppmlaz.PpmlAnyCodec", *DETECT_CODECS)


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


def is_released_to_workers(settings: KmsSettings) -> bool:
    """Whether the backend releases keys only to attested workers (azure-skr): the driver registers wrapped keys."""
    from ..kms.azure_skr import SKR

    return settings.kms_type == SKR


def skr_hadoop_settings(settings: KmsSettings) -> dict[str, str]:
    """The azure-skr options the executors' JVM worker needs, plus a Key Vault bearer token obtained here on the
    driver with the configured credential (the JVM has no azure-identity); None values unset stale ones."""
    from ..kms.azure import credential_for, vault_url_for

    vault = settings.get("vault") or settings.get("vaultUrl") or settings.get("vaultName")
    if not vault:
        raise ConfigError("kms=azure-skr needs option vault (name or URL)")
    url = vault_url_for(vault)
    credential, source = credential_for(dict(settings.options), url)
    scope = MANAGED_HSM_SCOPE if ".managedhsm." in url.lower() else KEY_VAULT_SCOPE
    try:
        token = str(credential.get_token(scope).token)
    except Exception as exc:  # azure-identity raises its own types; the message names the credential, no secret
        raise ConfigError(f"kms=azure-skr: cannot get a Key Vault token on the driver with {source}: "
                          f"{str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}") from None
    out = {SKR_VAULT_URL: url, SKR_ACCESS_TOKEN: token}
    for name in SKR_JVM_OPTIONS:
        value = settings.get(name)
        out[SKR_PREFIX + name] = "" if value is None else str(value)
    return out


def set_skr_settings(spark: Any, settings: KmsSettings) -> None:
    """Put :func:`skr_hadoop_settings` in the session's Hadoop configuration (absent options are unset)."""
    conf = hadoop_conf(spark)
    for name, value in skr_hadoop_settings(settings).items():
        if value:
            conf.set(name, value)
        else:
            conf.unset(name)


def _skr_record(wrapped: WrappedKey, kms: Any) -> str:
    """The public record of one wrapped data key for the JVM worker (no key material: it is in the file)."""
    from ..errors import WrongKeyError
    from ..kms import AZURE
    from ..kms.azure_skr import SKR

    if wrapped.kms_type and wrapped.kms_type not in (SKR, AZURE):
        raise WrongKeyError(
            f"data key was wrapped by kms {wrapped.kms_type} (key {wrapped.key_id}), not Azure Key Vault; "
            "read it with that kms"
        )
    key_id = wrapped.key_id or kms.key_id  # BigDL data: the configured key; the JVM pins it to the vault
    return json.dumps({"kid": key_id, "alg": wrapped.algorithm or "RSA-OAEP", "value": _encode(wrapped.ciphertext)},
                      separators=(",", ":"))


def register_wrapped(spark: Any, info: ObjectInfo, wrapped: WrappedKey, kms: Any) -> str:
    """azure-skr: register the wrapped key of one probed object for the executors; return the (public) name."""
    shim = info.codec.shim_key(info, DataKey(bytes(32)))  # only kind and reference are used: no key here
    if shim is None:
        raise ConfigError(f"crypto mode {info.mode} has no JVM codec key")
    kind, reference, _ = shim
    name = f"{SKR_WRAPPED_PREFIX}{kind}" + (f".{key_ref(reference)}" if reference is not None else "")
    hadoop_conf(spark).set(name, _skr_record(wrapped, kms))
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
    if is_released_to_workers(settings):
        set_skr_settings(spark, settings)
        hadoop_conf(spark).set(SKR_WRAPPED_PREFIX + "native", _skr_record(wrapped, kms))
        return
    material = unwrap_cached(kms, wrapped)
    hadoop_conf(spark).set(NATIVE_KEY, _encode(DataKey(material).as_bigdl_string().encode("utf-8")))


def claim_extension(spark: Any, extension: str | None) -> None:
    """Let the codec decrypt files that kept a plaintext name (``.tbl``, ``.csv``...) in this session; None
    gives the extension back. Stricter than what prepare_read claims: plaintext files with this extension
    fail to read until then (so a plaintext file put in place of an encrypted one is refused too).
    """
    conf = hadoop_conf(spark)
    if extension:
        conf.set(CLAIMED_EXTENSION, extension if extension.startswith(".") else "." + extension)
    else:
        conf.unset(CLAIMED_EXTENSION)


def _extension(name: str) -> str:
    """The last suffix of a file name (``people.csv`` -> ``.csv``); "" for none."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[dot:] if dot > 0 else ""


def codec_classes(spark: Any, names: list[str]) -> list[str]:
    """The Hadoop codec class Spark's readers would pick for each file ("" for none), asked of the JVM."""
    if not names:
        return []
    try:
        guard = spark._jvm.bigdlppmlaz.Guard
        joined = guard.codecClasses(hadoop_conf(spark), "\0".join(names))
    except Exception as exc:  # py4j: the class is missing when the session was built without the shim jar
        raise ConfigError(
            "the session has no JVM shim (bigdlppmlaz.Guard not found): build it with "
            "bigdl_ppml_az.jvm.configure(SparkSession.builder) or the settings of `ppml-az shim conf`"
        ) from exc
    return str(joined).split("\0")


def claim_detected(spark: Any, extension: str) -> None:
    """Let a header-detecting codec (plaintext passes through) own ``extension`` in this session."""
    conf = hadoop_conf(spark)
    values = [conf.get(f"{DETECT_PREFIX}{slot}") for slot in range(DETECT_SLOTS)]
    if extension in values:
        return
    free = next((slot for slot, value in enumerate(values) if not value), None)
    if free is None:
        raise ConfigError(
            f"extension {extension}: all {DETECT_SLOTS} header-detecting codec slots are taken "
            f"({', '.join(str(v) for v in values)}); rename the encrypted files to {GCM_EXTENSION} or read them "
            "with ppml-enc"
        )
    conf.set(f"{DETECT_PREFIX}{free}", extension)


def _guard(spark: Any, encrypted: list[str]) -> None:
    """Claim the extension of every encrypted file no codec of ours would open, then check that each one
    now has one: prepare_read never returns while Spark would read one of them as plaintext rows.
    """
    ours = set(DECRYPTING_CODECS)
    for name, found in zip(encrypted, codec_classes(spark, encrypted), strict=True):
        if found in ours:
            continue
        extension = _extension(name)
        if found:
            raise UndecryptableName(
                f"{name}: encrypted, but Spark would open it with {found} (extension {extension or 'none'}); "
                f"rename it to end in {GCM_EXTENSION} (or {CBC_EXTENSION} for BigDL files)"
            )
        if not extension:
            raise UndecryptableName(
                f"{name}: encrypted, but its name has no extension for a codec to claim; rename it to end in "
                f"{GCM_EXTENSION} (or {CBC_EXTENSION} for BigDL files)"
            )
        claim_detected(spark, extension)
    for name, found in zip(encrypted, codec_classes(spark, encrypted), strict=True):
        if found not in ours:
            raise UndecryptableName(
                f"{name}: encrypted, but Spark would read it with {found or 'no codec'} (Hadoop's extension match); "
                f"rename it to end in {GCM_EXTENSION}"
            )


def prepare_read(
    spark: Any,
    paths: str | Iterable[str],
    options: Mapping[str, str],
    extensions: Iterable[str] = (),
    content_format: str | None = None,
) -> list[str]:
    """Make Spark's own readers decrypt every encrypted file under ``paths``; return those files.

    Every file is probed by its first bytes whatever its name; a ppml-gcm or BigDL file's data key is unwrapped
    once per distinct key on the driver and registered for the codec, and its extension is claimed by a
    header-detecting codec when none of ours owns it (``people.csv``: ``.csv``). Files in no encrypted format
    are left to be read as plaintext, except those ending in our extensions or in ``extensions``, which must
    be encrypted. Raises (naming the file) when an encrypted file would still reach Spark undecrypted, and, with
    ``content_format`` (the read's: csv, json, text...), for a file encrypted inside a format the read cannot
    decrypt (PME Parquet in a text read: Spark would return its ciphertext as lines).
    """
    wanted = EXTENSIONS + tuple(extensions)
    path_list = [paths] if isinstance(paths, str) else list(paths)
    settings = KmsSettings.from_options(options)
    kms = build_kms(settings)
    released_to_workers = is_released_to_workers(settings)
    if released_to_workers:
        set_skr_settings(spark, settings)
    done: set[bytes] = set()
    prepared: list[str] = []
    native_seen = False
    for status in expand_paths(path_list, options):
        name = status.path
        if released_to_workers and status.table is not None:
            # Spark's readers know no manifest, so prepare_read verifies a table's manifest here, which needs its
            # key on the driver; azure-skr releases keys only to attested executors. (PPMLContext falls back.)
            raise UndecryptableName(
                f"{name}: part of an encrypted table whose manifest the driver cannot verify with kms=azure-skr "
                "(keys are released only to attested executors); read it with spark.read.format('ppml-enc')"
            )
        if name.endswith(NATIVE_EXTENSION):  # headerless: known by its extension only, key beside the file
            native_seen = True
            prepared.append(name)
            continue
        fs = filesystem_for(name, options)
        with fs.open_read(name) as handle:
            head = ppml_gcm.read_exact(handle, 0, min(status.size, HEAD_SIZE))  # bounded: what detect() needs
            codec = detect(head)
            formats_held = codec.content_formats if codec is not None else None  # None: any content
            if formats_held is not None and content_format and content_format not in formats_held:
                refuse_ciphertext_as_plaintext(
                    head, name, PLAIN, action=f"a {content_format} read would return its ciphertext as rows",
                    advice=f"read it with format {' or '.join(formats_held)} and its crypto mode",
                )
            if (codec is None or not codec.wraps_bytes) and not name.endswith(wanted):
                if codec is not None and status.table is not None:  # a PME file of a table: checked here
                    check_file(fs, status, codec.probe(None, status.size, name), handle, settings)
                continue  # plaintext (or Parquet, PME included): Spark reads it as it is
            info = probe(handle, status.size, name)  # raises, naming the file, for plaintext with our extension
            # Spark's readers know no table manifest: each file is checked against its table here, on the driver
            check_file(fs, status, info, handle, settings)
        prepared.append(name)
        if info.codec.key_reference == KEY_BESIDE or info.key_ref is None:
            raise ConfigError(f"{name}: crypto mode {info.mode} carries no key reference for the JVM codec")
        if info.key_ref.wrapped_key in done:
            continue
        if released_to_workers:  # the executors attest and unwrap; the driver registers only the wrapped key
            try:
                register_wrapped(spark, info, _wrapped(info, name, settings), kms)
            except PpmlError as exc:
                raise with_source(exc, name) from None
            done.add(info.key_ref.wrapped_key)
            continue
        try:
            material = unwrap_cached(kms, _wrapped(info, name, settings))
        except PpmlError as exc:  # wrong primary key, KMS refusal: say which file needed it
            raise with_source(exc, name) from None
        register(spark, info, DataKey(material))
        done.add(info.key_ref.wrapped_key)
    if native_seen:
        register_native_key(spark, options)
    _guard(spark, [name for name in prepared if not name.endswith(NATIVE_EXTENSION)])
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
