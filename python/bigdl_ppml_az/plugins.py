"""One registry shape for every pluggable kind (KMS backends, table head stores): canonical names, aliases,
built-ins imported on first use, plug-ins from an entry-point group.

Built-ins are registered by import path so that naming one never imports another's SDK (``kms=local`` does
not load azure-identity). Plug-ins are found once per process, lazily, through
``importlib.metadata.entry_points(group=...)``: each entry point's object is a class carrying its canonical
name (``name_attr``), ``aliases`` and ``option_names``. A broken plug-in is reported only when someone names
it. All names are matched case-insensitively; a class whose names clash with another's registers none of them.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from typing import Any

from .errors import ConfigError


class PluginRegistry:
    """The classes of one pluggable kind, by canonical name and alias.

    ``noun`` names the kind in messages ("kms", "head store"), ``kind`` one member ("backend", "head store"),
    ``title`` a class of it ("KMS backend"),
    ``option`` the option that selects one; ``unknown`` builds the message for an unknown name (given the name
    and the known names with their aliases)."""

    def __init__(
        self,
        *,
        group: str,
        name_attr: str,
        required: tuple[str, ...],
        builtins: Mapping[str, tuple[str, tuple[str, ...]]],
        noun: str,
        kind: str,
        title: str,
        option: str,
        unknown: Callable[[str | None, list[str]], str],
        reserved: Iterable[str] = (),
    ) -> None:
        self.group, self.name_attr, self.required = group, name_attr, required
        self.noun, self.kind, self.title, self.option = noun, kind, title, option
        self._builtins = dict(builtins)
        self._unknown = unknown
        self._reserved = frozenset(reserved)
        self._lock = threading.RLock()
        self._lazy: dict[str, str] = {}  # canonical -> import path (not yet imported)
        self._loaded: dict[str, Any] = {}  # canonical -> class
        self._aliases: dict[str, str] = {}  # lower-cased name or alias -> canonical
        self._entry_points_done = False
        self._entry_point_errors: dict[str, str] = {}

    # ---- registration ----------------------------------------------------------------------------------------
    def _add_names(self, canonical: str, aliases: tuple[str, ...]) -> None:
        names = (canonical, *aliases)
        keys = [name.strip().lower() for name in names]
        for name, key in zip(names, keys, strict=True):
            if key in self._reserved:
                raise ConfigError(f"{self.noun} name {name!r} is reserved ({self.option}=none turns it off)")
            owner = self._aliases.get(key)
            if owner is not None and owner != canonical:
                raise ConfigError(f"{self.noun} name {name!r} is already registered for {self.kind} {owner!r}")
        for key in keys:
            self._aliases[key] = canonical

    def _register_builtins(self) -> None:
        if self._aliases:
            return
        for canonical, (path, aliases) in self._builtins.items():
            self._lazy[canonical] = path
            self._add_names(canonical, aliases)

    def register(self, cls: Any) -> Any:
        """Register a class (usable as a decorator). Entry points call nothing: the registry loads them."""
        canonical = getattr(cls, self.name_attr, None)
        if not isinstance(canonical, str) or not canonical.strip():
            raise ConfigError(f"{self.title} {cls!r} needs a class attribute {self.name_attr} (its canonical name)")
        for attribute in self.required:
            if not callable(getattr(cls, attribute, None)):
                raise ConfigError(f"{self.title} {canonical!r} ({cls!r}) has no {attribute}()")
        with self._lock:
            self._register_builtins()
            self._add_names(canonical, tuple(getattr(cls, "aliases", ())))
            self._lazy.pop(canonical, None)
            self._loaded[canonical] = cls
        return cls

    def _load_entry_points(self) -> None:
        with self._lock:
            if self._entry_points_done:
                return
            self._entry_points_done = True
            self._register_builtins()
            for entry in metadata.entry_points(group=self.group):
                try:
                    self.register(entry.load())
                except Exception as exc:  # noqa: BLE001 - one broken plug-in must not break the others
                    self._entry_point_errors[entry.name.lower()] = f"{entry.value}: {type(exc).__name__}: {exc}"

    def refresh(self) -> None:
        """Look at the entry points again (a long-lived process that pip-installed a plug-in after first use)."""
        importlib.invalidate_caches()
        with self._lock:
            self._entry_points_done = False
            self._entry_point_errors.clear()

    # ---- lookup ----------------------------------------------------------------------------------------------
    def _canonical(self, name: str) -> str | None:
        with self._lock:
            self._register_builtins()
            return self._aliases.get(name.strip().lower())

    def normalize(self, name: str | None) -> str:
        """The canonical name for a name or alias; ConfigError naming the known ones for anything else."""
        key = (name or "").strip()
        canonical = self._canonical(key)
        if canonical is None:
            self._load_entry_points()
            canonical = self._canonical(key)
        if canonical is not None:
            return canonical
        broken = self._entry_point_errors.get(key.lower())
        if broken:
            raise ConfigError(
                f"option {self.option}={name}: the plug-in failed to load ({broken}); fix or reinstall it"
            )
        raise ConfigError(self._unknown(name, self.known()))

    def load(self, name: str) -> Any:
        """The class for a name or alias, imported on first use."""
        canonical = self.normalize(name)
        with self._lock:
            cls = self._loaded.get(canonical)
            if cls is not None:
                return cls
            module_name, _, attr = self._lazy[canonical].partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except ImportError as exc:
            raise ConfigError(f"option {self.option}={name}: {self.kind} {canonical} is unavailable ({exc})") from None
        with self._lock:
            self._loaded[canonical] = cls
            self._lazy.pop(canonical, None)
        return cls

    def known(self) -> list[str]:
        """Canonical names with their aliases, for messages and ``--help`` (plug-ins included)."""
        self._load_entry_points()
        with self._lock:
            by_name: dict[str, list[str]] = {}
            for alias, canonical in self._aliases.items():
                if alias != canonical.lower():
                    by_name.setdefault(canonical, []).append(alias)
            names = sorted(set(self._aliases.values()), key=str.lower)
        return [f"{n} ({', '.join(sorted(by_name[n]))})" if n in by_name else n for n in names]

    def canonical_names(self) -> list[str]:
        self._load_entry_points()
        with self._lock:
            return sorted(set(self._aliases.values()), key=str.lower)

    def option_names(self, own: Iterable[str]) -> frozenset[str]:
        """Lower-cased option names: ``own`` plus those any registered class accepts (unknown-option checks)."""
        names = {name.lower() for name in own}
        for canonical in self.canonical_names():
            try:
                cls = self.load(canonical)
            except ConfigError:
                continue
            names.update(str(n).lower() for n in getattr(cls, "option_names", ()))
        return frozenset(names)


__all__ = ["PluginRegistry"]
