"""Data keys for objects: which wrapped key an object needs and how a worker unwraps it (once per process)."""

from __future__ import annotations

from ..errors import ConfigError, KeyFileError, PpmlError, UnknownFormatError, WrongKeyError, with_source
from ..formats import KEY_BESIDE, DataKey, ObjectInfo, bigdl
from ..kms import KmsSettings, WrappedKey, build_kms, unwrap_cached
from ..kms.bigdl_keys import read_data_key_file
from ..storage import FileSystem


def wrapped_key_for(info: ObjectInfo, path: str, settings: KmsSettings, fs: FileSystem) -> WrappedKey:
    """The wrapped data key of one object: from its header, else (nativeaescbc) a data key file or ``.meta``."""
    ref = info.key_ref
    if ref is not None and ref.kms_type:
        return WrappedKey(ref.kms_type, ref.key_id or "", ref.wrap_algorithm or "", ref.wrapped_key)
    if ref is not None:  # BigDL common: the header holds only the wrapped key; the KMS comes from options
        return WrappedKey(settings.kms_type, "", "", ref.wrapped_key)
    if info.codec.key_reference != KEY_BESIDE:
        raise UnknownFormatError(f"{path}: no data key reference in crypto mode {info.mode}")
    key_file = settings.get("dataKeyPath")
    if key_file:
        return WrappedKey(settings.kms_type, "", "", read_data_key_file(key_file))
    meta = fs.join(_parent(path), bigdl.META_FILE)
    if not fs.exists(meta):
        raise KeyFileError(
            f"{path}: nativeaescbc files carry no key; found neither option dataKeyPath nor {meta} "
            "(BigDL writes .meta next to its part files)"
        )
    return WrappedKey(settings.kms_type, "", "", _meta_wrapped(fs, meta))


def meta_wrapped_key(fs: FileSystem, directory: str) -> bytes | None:
    """Wrapped key from ``<directory>/.meta`` when it exists (BigDL output directories)."""
    meta = fs.join(directory, bigdl.META_FILE)
    return _meta_wrapped(fs, meta) if fs.exists(meta) else None


def _meta_wrapped(fs: FileSystem, meta: str) -> bytes:
    import base64

    try:
        encrypted = bigdl.read_meta(fs.read_bytes(meta))
        return base64.b64decode(encrypted, validate=True)
    except (UnknownFormatError, ValueError) as exc:
        raise KeyFileError(f"{meta}: {exc}") from None


def _parent(path: str) -> str:
    cut = path.rstrip("/").rfind("/")
    return path[:cut] if cut > 0 else "/"


def unwrap(settings: KmsSettings, wrapped: WrappedKey, path: str) -> DataKey:
    """Unwrap through the KMS, at most once per process and key; errors name the object."""
    try:
        kms = build_kms(settings)
        material = unwrap_cached(kms, wrapped)
    except PpmlError as exc:
        raise with_source(exc, path) from None
    except Exception as exc:  # KMS client failures: name the file, never echo key bytes
        raise WrongKeyError(f"{path}: data key could not be unwrapped ({type(exc).__name__})") from None
    return DataKey(material)


def require_same_mode(modes: dict[str, str]) -> None:
    """A read uses one crypto mode; mixing layouts in one directory is almost always a mistake."""
    seen = sorted(set(modes.values()))
    if len(seen) > 1:
        examples = ", ".join(f"{p} is {m}" for m, p in {m: p for p, m in modes.items()}.items())
        raise ConfigError(f"mixed crypto modes in one read ({examples}); read them separately or set cryptoMode")


__all__ = ["meta_wrapped_key", "require_same_mode", "unwrap", "wrapped_key_for"]
