"""The KMS backend registry: canonical names, aliases, and plug-ins from the ``bigdl_ppml_az.kms`` entry points.

Built-in backends are registered by import path so that naming one (``kms=local``) never imports another's
SDK (azure-identity). Third-party backends are found once per process, lazily, through
``importlib.metadata.entry_points(group="bigdl_ppml_az.kms")``: each entry point's object is a backend class
with the class attributes ``kms_type`` (canonical name), ``aliases`` and ``option_names``, and a
``from_settings`` classmethod. See docs/KMS.md for a complete plug-in.
"""

from __future__ import annotations

import importlib
import threading
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigError

if TYPE_CHECKING:
    from . import KeyManagementService, KmsSettings

ENTRY_POINT_GROUP = "bigdl_ppml_az.kms"


class KmsBackend(Protocol):
    """A backend class: what the registry needs before any instance exists."""

    kms_type: str
    aliases: tuple[str, ...]
    option_names: tuple[str, ...]

    def from_settings(self, settings: KmsSettings) -> KeyManagementService: ...


# canonical name -> (import path "module:Class", aliases). Loaded on first use.
_BUILTINS: dict[str, tuple[str, tuple[str, ...]]] = {
    "local": ("bigdl_ppml_az.kms.local:LocalKms", ("simple",)),
    "AzureKeyManagementService": ("bigdl_ppml_az.kms.azure:AzureKms", ("azure", "azurekms", "akv", "keyvault")),
    "azure-skr": ("bigdl_ppml_az.kms.azure_skr:AzureSkrKms", ("skr", "azureskr", "azure-secure-key-release")),
}

_lock = threading.RLock()
_lazy: dict[str, str] = {}  # canonical -> import path (not yet imported)
_loaded: dict[str, Any] = {}  # canonical -> backend class
_aliases: dict[str, str] = {}  # lower-cased name or alias -> canonical
_entry_points_done = False
_entry_point_errors: dict[str, str] = {}


def _add_names(canonical: str, aliases: tuple[str, ...]) -> None:
    for name in (canonical, *aliases):
        key = name.strip().lower()
        owner = _aliases.get(key)
        if owner is not None and owner != canonical:
            raise ConfigError(f"kms name {name!r} is already registered for backend {owner!r}")
        _aliases[key] = canonical


def _register_builtins() -> None:
    if _aliases:
        return
    for canonical, (path, aliases) in _BUILTINS.items():
        _lazy[canonical] = path
        _add_names(canonical, aliases)


def register_backend(cls: Any) -> Any:
    """Register a backend class (usable as a decorator). Entry points call nothing: the registry loads them."""
    canonical = getattr(cls, "kms_type", None)
    if not isinstance(canonical, str) or not canonical:
        raise ConfigError(f"KMS backend {cls!r} needs a class attribute kms_type (its canonical name)")
    for attribute in ("from_settings", "wrap", "unwrap"):
        if not callable(getattr(cls, attribute, None)):
            raise ConfigError(f"KMS backend {canonical!r} ({cls!r}) has no {attribute}()")
    with _lock:
        _register_builtins()
        _add_names(canonical, tuple(getattr(cls, "aliases", ())))
        _lazy.pop(canonical, None)
        _loaded[canonical] = cls
    return cls


def _load_entry_points() -> None:
    """Find plug-in backends once per process; a broken plug-in is reported only when someone names it."""
    global _entry_points_done
    with _lock:
        if _entry_points_done:
            return
        _entry_points_done = True
        _register_builtins()
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                register_backend(entry.load())
            except Exception as exc:  # noqa: BLE001 - a third-party import error must not break other backends
                _entry_point_errors[entry.name.lower()] = f"{entry.value}: {type(exc).__name__}: {exc}"


def refresh_plugins() -> None:
    """Look at the entry points again (a long-lived process that pip-installed a plug-in after first use)."""
    global _entry_points_done
    importlib.invalidate_caches()
    with _lock:
        _entry_points_done = False
        _entry_point_errors.clear()


def _canonical(name: str) -> str | None:
    with _lock:
        _register_builtins()
        return _aliases.get(name.strip().lower())


def normalize_kms_type(name: str | None) -> str:
    """Canonical backend name for a name or alias (``azure`` -> ``AzureKeyManagementService``)."""
    key = (name or "").strip()
    canonical = _canonical(key)
    if canonical is None:
        _load_entry_points()
        canonical = _canonical(key)
    if canonical is None:
        broken = _entry_point_errors.get(key.lower())
        if broken:
            raise ConfigError(f"option kms={name}: the plug-in backend failed to load ({broken}); fix or reinstall it")
        raise ConfigError(
            f"unknown kms {name!r}; known backends: {', '.join(known_backends())} "
            f"(a plug-in registers in the entry-point group {ENTRY_POINT_GROUP})"
        )
    return canonical


def backend_for(name: str) -> Any:
    """The backend class for a name or alias, imported on first use."""
    canonical = normalize_kms_type(name)
    with _lock:
        cls = _loaded.get(canonical)
        if cls is not None:
            return cls
        module_name, _, attr = _lazy[canonical].partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        raise ConfigError(f"option kms={name}: backend {canonical} is unavailable ({exc})") from None
    with _lock:
        _loaded[canonical] = cls
        _lazy.pop(canonical, None)
    return cls


def known_backends() -> list[str]:
    """Canonical names with their aliases, for error messages and ``--help`` (plug-ins included)."""
    _load_entry_points()
    with _lock:
        by_backend: dict[str, list[str]] = {}
        for alias, canonical in _aliases.items():
            if alias != canonical.lower():
                by_backend.setdefault(canonical, []).append(alias)
        names = sorted(set(_aliases.values()), key=str.lower)
    return [f"{n} ({', '.join(sorted(by_backend[n]))})" if n in by_backend else n for n in names]


def canonical_names() -> list[str]:
    _load_entry_points()
    with _lock:
        return sorted(set(_aliases.values()), key=str.lower)


def kms_option_names() -> frozenset[str]:
    """Lower-cased option names any registered backend accepts (for the options' unknown-option check)."""
    names: set[str] = {"kms", "kmstype", "kms_type"}
    for canonical in canonical_names():
        try:
            cls = backend_for(canonical)
        except ConfigError:
            continue
        names.update(str(n).lower() for n in getattr(cls, "option_names", ()))
    return frozenset(names)


__all__ = [
    "ENTRY_POINT_GROUP",
    "KmsBackend",
    "backend_for",
    "canonical_names",
    "kms_option_names",
    "known_backends",
    "normalize_kms_type",
    "refresh_plugins",
    "register_backend",
]
