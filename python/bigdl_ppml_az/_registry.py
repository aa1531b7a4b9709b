"""The one registry shape of the package: crypto modes (codecs), KMS backends, storage schemes, table head stores.

A :class:`Registry` maps canonical names and aliases (matched case-insensitively, surrounding blanks ignored) to
entries of one type. Why one class: every pluggable kind answers the same questions (is this name known, what is
its canonical spelling, what are the choices for an error message, what does a plug-in add) and must answer them
the same way, under one exception type for a name clash (:class:`~.errors.RegistryError`).

* An entry is an object or a lazy ``"module:attribute"`` import path, imported on first lookup (so naming
  ``kms=local`` never imports azure-identity, a local path never imports the Azure Storage SDK).
* A registry with an entry-point ``group`` looks at ``importlib.metadata.entry_points(group=...)`` once per
  process, and only when a name is not found or the full list is asked for. A broken plug-in is reported only
  when someone names it. What an entry point's object means is the registry's ``on_entry_point``: a class to
  register (KMS backends, head stores) or a function that registers (storage schemes).
* A name may be re-registered by its owner (replacing the entry); a name or alias owned by another entry, or a
  reserved one, raises :class:`~.errors.RegistryError` and registers none of the new entry's names.
* All state is guarded by one re-entrant lock: Spark runs tasks of one Python worker in threads.

:class:`ClassRegistry` adds the plug-in class convention (canonical name, ``aliases`` and ``option_names`` as
class attributes, required methods checked at registration).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from typing import Any, Generic, TypeVar, cast

from .errors import ConfigError, PpmlError, RegistryError

T = TypeVar("T")
C = TypeVar("C")
K = TypeVar("K")

UnknownMessage = Callable[[str | None, list[str]], str]


def spelling(name: str | None) -> str:
    """The key a name is matched by: case-insensitive, surrounding blanks ignored."""
    return (name or "").strip().lower()


def _default_unknown(noun: str) -> UnknownMessage:
    return lambda name, known: f"unknown {noun} {name!r}; use one of: {', '.join(known)}"


class Registry(Generic[T]):
    """Entries of one kind by canonical name and alias.

    ``noun`` names a name of the kind in messages ("kms", "crypto mode"), ``kind`` one entry ("backend");
    ``unknown`` builds the message for an unknown name (given the name and :meth:`known`), raised as
    ``unknown_error``; ``option`` is the option that selects an entry (messages about broken plug-ins);
    ``reserved`` names no entry may take, ``reserved_why`` says why.
    """

    def __init__(
        self,
        *,
        noun: str,
        kind: str,
        option: str = "",
        group: str | None = None,
        on_entry_point: Callable[[Any], object] | None = None,
        builtins: Mapping[str, tuple[T | str, tuple[str, ...]]] | None = None,
        unknown: UnknownMessage | None = None,
        unknown_error: type[PpmlError] = ConfigError,
        reserved: Iterable[str] = (),
        reserved_why: str = "",
    ) -> None:
        self.noun, self.kind, self.option, self.group = noun, kind, option, group
        self._on_entry_point = on_entry_point or self._register_entry_point
        self._builtins = dict(builtins or {})
        self._unknown = unknown or _default_unknown(noun)
        self._unknown_error = unknown_error
        self._reserved = frozenset(spelling(r) for r in reserved)
        self._reserved_why = reserved_why
        self._lock = threading.RLock()
        self._entries: dict[str, T | str] = {}  # canonical -> entry or "module:attribute" (not yet imported)
        self._names: dict[str, str] = {}  # spelling of a name or alias -> canonical
        self._entry_points_done = group is None
        self._entry_point_errors: dict[str, str] = {}

    # ---- registration ----------------------------------------------------------------------------------------
    def _register_builtins(self) -> None:
        if self._builtins:
            builtins, self._builtins = self._builtins, {}
            for canonical, (entry, aliases) in builtins.items():
                self.register(canonical, entry, aliases)

    def register(self, name: str, entry: T | str, aliases: Iterable[str] = ()) -> None:
        """Add ``entry`` (or its lazy ``"module:attribute"`` path) under ``name`` and ``aliases``, or none of them."""
        names = [name, *aliases]
        with self._lock:
            self._register_builtins()
            for given in names:
                key = spelling(given)
                if key in self._reserved:
                    raise RegistryError(f"{self.noun} name {given!r} is reserved{self._reserved_why}")
                owner = self._names.get(key)
                if owner is not None and owner != name:
                    raise RegistryError(f"{self.noun} name {given!r} is already registered for {self.kind} {owner!r}")
            self._entries[name] = entry
            for given in names:
                self._names[spelling(given)] = name

    def _register_entry_point(self, obj: Any) -> None:
        raise NotImplementedError(f"the {self.noun} registry has no entry points")  # pragma: no cover

    def _load_entry_points(self) -> None:
        with self._lock:
            if self._entry_points_done:
                return
            self._entry_points_done = True
            self._register_builtins()
            for entry in metadata.entry_points(group=cast(str, self.group)):
                try:
                    self._on_entry_point(entry.load())
                except Exception as exc:  # noqa: BLE001 - one broken plug-in must not break the others
                    self._entry_point_errors[spelling(entry.name)] = f"{entry.value}: {type(exc).__name__}: {exc}"

    def refresh(self) -> None:
        """Look at the entry points again (a long-lived process that pip-installed a plug-in after first use)."""
        importlib.invalidate_caches()
        with self._lock:
            self._entry_points_done = self.group is None
            self._entry_point_errors.clear()

    # ---- lookup ----------------------------------------------------------------------------------------------
    def find(self, name: str | None) -> str | None:
        """The canonical name for a name or alias (entry points consulted if needed), or None."""
        key = spelling(name)
        with self._lock:
            self._register_builtins()
            canonical = self._names.get(key)
        if canonical is None and not self._entry_points_done:
            self._load_entry_points()
            with self._lock:
                canonical = self._names.get(key)
        return canonical

    def normalize(self, name: str | None) -> str:
        """The canonical name for a name or alias; ``unknown_error`` naming the choices for anything else."""
        canonical = self.find(name)
        if canonical is not None:
            return canonical
        broken = self._entry_point_errors.get(spelling(name))
        if broken:
            raise ConfigError(
                f"option {self.option}={name}: the plug-in failed to load ({broken}); fix or reinstall it"
            )
        raise self._unknown_error(self._unknown(name, self.known()))

    def get(self, name: str) -> T:
        """The entry for a name or alias, imported on first use."""
        canonical = self.normalize(name)
        with self._lock:
            entry = self._entries[canonical]
        if not isinstance(entry, str):
            return entry
        module_name, _, attribute = entry.partition(":")
        try:
            loaded = cast(T, getattr(importlib.import_module(module_name), attribute))
        except ImportError as exc:
            where = f"option {self.option}={name}: " if self.option else ""
            raise ConfigError(f"{where}{self.kind} {canonical} is unavailable ({exc})") from None
        with self._lock:
            if self._entries.get(canonical) == entry:
                self._entries[canonical] = loaded
        return loaded

    def canonical_names(self) -> list[str]:
        """Canonical names, sorted case-insensitively (plug-ins included)."""
        return sorted(self.ordered_names(), key=str.lower)

    def ordered_names(self) -> list[str]:
        """Canonical names in registration order (built-ins first, plug-ins included)."""
        self._load_entry_points()
        with self._lock:
            self._register_builtins()
            return list(self._entries)

    def values(self) -> tuple[T, ...]:
        """Every entry, imported, in registration order."""
        return tuple(self.get(name) for name in self.ordered_names())

    def aliases_of(self, canonical: str) -> list[str]:
        """The other spellings registered for ``canonical`` (lower-cased, sorted)."""
        with self._lock:
            return sorted(k for k, v in self._names.items() if v == canonical and k != spelling(canonical))

    def known(self) -> list[str]:
        """Canonical names with their aliases, ``"name (alias, ...)"``, for messages and ``--help``."""
        listed = []
        for name in self.canonical_names():
            aliases = self.aliases_of(name)
            listed.append(f"{name} ({', '.join(aliases)})" if aliases else name)
        return listed


class ClassRegistry(Registry[C]):
    """Plug-in classes: each carries its canonical name (attribute ``name_attr``), ``aliases`` and
    ``option_names``, and must have the ``required`` methods. Entry points' objects are such classes."""

    def __init__(self, *, name_attr: str, required: tuple[str, ...], title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name_attr, self.required, self.title = name_attr, required, title

    def register_class(self, cls: K) -> K:
        """Register a class (usable as a decorator); returns it."""
        canonical = getattr(cls, self.name_attr, None)
        if not isinstance(canonical, str) or not canonical.strip():
            raise ConfigError(f"{self.title} {cls!r} needs a class attribute {self.name_attr} (its canonical name)")
        for attribute in self.required:
            if not callable(getattr(cls, attribute, None)):
                raise ConfigError(f"{self.title} {canonical!r} ({cls!r}) has no {attribute}()")
        self.register(canonical, cast(C, cls), tuple(getattr(cls, "aliases", ())))
        return cls

    def _register_entry_point(self, obj: Any) -> None:
        self.register_class(obj)

    def option_names(self, own: Iterable[str]) -> frozenset[str]:
        """Lower-cased option names: ``own`` plus those any registered class accepts (unknown-option checks)."""
        names = {name.lower() for name in own}
        for canonical in self.canonical_names():
            try:
                cls = self.get(canonical)
            except ConfigError:
                continue
            names.update(str(n).lower() for n in getattr(cls, "option_names", ()))
        return frozenset(names)


__all__ = ["ClassRegistry", "Registry", "spelling"]
