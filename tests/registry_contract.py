"""The contract every registry of the package keeps (``bigdl_ppml_az._registry``), checked on each live one.

Crypto modes (test_codec_registry), storage schemes (test_storage_registry), KMS backends (test_kms_contract)
and table head stores (test_table_heads) each call :func:`check_live_registry` on their ``REGISTRY``;
:func:`check_generic_registry` runs the parts that need a fresh registry (registration, lazy import paths,
entry points) once.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from bigdl_ppml_az import _registry
from bigdl_ppml_az._registry import Registry
from bigdl_ppml_az.errors import ConfigError, PpmlError, RegistryError


def check_live_registry(registry: Registry[Any], unknown_error: type[PpmlError]) -> None:
    """Names and aliases resolve in any case; a clash raises RegistryError and registers nothing; an unknown
    name raises ``unknown_error`` naming every choice, in one line."""
    names = registry.ordered_names()
    assert names, "an empty registry"
    for canonical in names:
        assert registry.normalize(f" {canonical.upper()} ") == canonical
        for alias in registry.aliases_of(canonical):
            assert registry.normalize(alias.upper()) == canonical
    taken = next(n for n in names if n)
    entry = registry.get(taken)
    clash_message = f"{re.escape(repr(taken.upper()))} is already registered for .* {re.escape(repr(taken))}"
    with pytest.raises(RegistryError, match=clash_message) as clash:
        registry.register("test-contract-clash", entry, aliases=(taken.upper(),))
    assert isinstance(clash.value, ConfigError) and isinstance(clash.value, ValueError)  # both old clash types
    assert registry.find("test-contract-clash") is None  # refused whole
    with pytest.raises(unknown_error) as unknown:
        registry.normalize("test-contract-unknown")
    message = str(unknown.value)
    assert "test-contract-unknown" in message and "\n" not in message
    assert all(name in message for name in names if name)


def check_generic_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh Registry: register, alias, lazy ``module:attribute``, reserved names, entry points (a broken one is
    named only when asked for), refresh."""
    broken_load = SimpleNamespace(name="test-broken", value="pkg.gone:thing", load=lambda: __import__("pkg_gone_x"))
    entries = [SimpleNamespace(name="test-ep", value="pkg:ep", load=lambda: ("test-ep", 7)), broken_load]
    groups: list[str] = []

    def entry_points(group: str) -> list[SimpleNamespace]:
        groups.append(group)
        return entries

    monkeypatch.setattr(_registry, "metadata", SimpleNamespace(entry_points=entry_points))
    registry: Registry[Any] = Registry(
        noun="thing", kind="thing", option="thing", group="test.group", reserved=("none",), reserved_why=" (off)",
        on_entry_point=lambda pair: registry.register(pair[0], pair[1]),
        builtins={"lazy": ("json:dumps", ("dumps",))},
    )
    registry.register("One", 1, aliases=("uno",))
    assert registry.get("UNO") == 1 and registry.normalize(" one ") == "One" and groups == []  # no entry points yet
    import json

    assert registry.get("Dumps") is json.dumps  # imported on first lookup
    registry.register("One", 11, aliases=("uno", "eins"))  # the owner may register again
    assert registry.get("eins") == 11
    with pytest.raises(RegistryError, match="'none' is reserved \\(off\\)"):
        registry.register("two", 2, aliases=("none",))
    with pytest.raises(RegistryError, match="'UNO' is already registered for thing 'One'"):
        registry.register("two", 2, aliases=("UNO",))
    assert registry.find("two") is None
    assert registry.get("test-ep") == 7 and groups == ["test.group"]
    with pytest.raises(ConfigError, match=r"option thing=test-broken: the plug-in failed to load \(pkg\.gone:thing"):
        registry.normalize("test-broken")
    with pytest.raises(ConfigError, match=r"unknown thing 'nine'; use one of: lazy \(dumps\), One \(eins, uno\)"):
        registry.normalize("nine")
    assert registry.ordered_names() == ["lazy", "One", "test-ep"] and groups == ["test.group"]  # looked once
    registry.refresh()
    registry.known()
    assert groups == ["test.group", "test.group"]
