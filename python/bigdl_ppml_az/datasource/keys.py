"""Data keys for objects: which wrapped key an object needs (the kms resolver) and how a worker unwraps it."""

from __future__ import annotations

from ..errors import ConfigError, PpmlError, WrongKeyError, with_source
from ..formats import DataKey, ObjectInfo
from ..kms import KmsSettings, WrappedKey, build_kms, resolve, unwrap_cached
from ..storage import FileSystem


def sidecar_reader(fs: FileSystem) -> resolve.SidecarReader:
    """Bounded reads of sidecar files (``.meta``) through ``fs``: local ones only if they are regular files."""
    return resolve.fs_sidecar_reader(fs)


def wrapped_key_for(info: ObjectInfo, path: str, settings: KmsSettings, fs: FileSystem) -> WrappedKey:
    """The wrapped data key of one object (see :mod:`bigdl_ppml_az.kms.resolve` for the rule)."""
    return resolve.resolve_wrapped_key(
        info,
        path,
        kms_type=settings.kms_type,
        data_key_path=settings.get("dataKeyPath"),
        read_sidecar=sidecar_reader(fs),
    )


def meta_wrapped_key(fs: FileSystem, directory: str) -> bytes | None:
    """Wrapped key from ``<directory>/.meta`` when it exists (BigDL output directories)."""
    return resolve.meta_wrapped_key(directory, sidecar_reader(fs))


def unwrap(settings: KmsSettings, wrapped: WrappedKey, path: str) -> DataKey:
    """Unwrap through the KMS, at most once per process, backend identity and key; errors name the object."""
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


__all__ = ["meta_wrapped_key", "require_same_mode", "sidecar_reader", "unwrap", "wrapped_key_for"]
