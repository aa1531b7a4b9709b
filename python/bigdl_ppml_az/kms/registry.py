"""The KMS backend registry: canonical names, aliases, and plug-ins from the ``bigdl_ppml_az.kms`` entry points.

Built-in backends are registered by import path so that naming one (``kms=local``) never imports another's
SDK (azure-identity). Third-party backends are found once per process, lazily, through
``importlib.metadata.entry_points(group="bigdl_ppml_az.kms")``: each entry point's object is a backend class
with the class attributes ``kms_type`` (canonical name), ``aliases`` and ``option_names``, and a
``from_settings`` classmethod. See docs/KMS.md for a complete plug-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

from .._registry import ClassRegistry

if TYPE_CHECKING:
    from . import KeyManagementService, KmsSettings

ENTRY_POINT_GROUP = "bigdl_ppml_az.kms"
B = TypeVar("B")


class KmsBackend(Protocol):
    """A backend class: what the registry needs before any instance exists."""

    kms_type: str
    aliases: tuple[str, ...]
    option_names: tuple[str, ...]

    def from_settings(self, settings: KmsSettings) -> KeyManagementService: ...


# The one definition of the built-in backends' aliases: the registry needs them before it imports a backend,
# and each backend class declares its ``aliases`` from here.
LOCAL_ALIASES = ("simple",)
AZURE_ALIASES = ("azure", "azurekms", "akv", "keyvault")
SKR_ALIASES = ("skr", "azureskr", "azure-secure-key-release")

# canonical name -> (import path "module:Class", aliases). Loaded on first use.
_BUILTINS: dict[str, tuple[KmsBackend | str, tuple[str, ...]]] = {
    "local": ("bigdl_ppml_az.kms.local:LocalKms", LOCAL_ALIASES),
    "AzureKeyManagementService": ("bigdl_ppml_az.kms.azure:AzureKms", AZURE_ALIASES),
    "azure-skr": ("bigdl_ppml_az.kms.azure_skr:AzureSkrKms", SKR_ALIASES),
}


def _unknown(name: str | None, known: list[str]) -> str:
    return (
        f"unknown kms {name!r}; known backends: {', '.join(known)} "
        f"(a plug-in registers in the entry-point group {ENTRY_POINT_GROUP})"
    )


REGISTRY: ClassRegistry[KmsBackend] = ClassRegistry(
    group=ENTRY_POINT_GROUP,
    name_attr="kms_type",
    required=("from_settings", "wrap", "unwrap"),
    builtins=_BUILTINS,
    noun="kms",
    kind="backend",
    title="KMS backend",
    option="kms",
    unknown=_unknown,
)


def register_backend(cls: B) -> B:
    """Register a backend class (usable as a decorator). Entry points call nothing: the registry loads them."""
    return REGISTRY.register_class(cls)


def refresh_plugins() -> None:
    """Look at the entry points again (a long-lived process that pip-installed a plug-in after first use)."""
    REGISTRY.refresh()


def normalize_kms_type(name: str | None) -> str:
    """Canonical backend name for a name or alias (``azure`` -> ``AzureKeyManagementService``)."""
    return REGISTRY.normalize(name)


def backend_for(name: str) -> KmsBackend:
    """The backend class for a name or alias, imported on first use."""
    return REGISTRY.get(name)


def known_backends() -> list[str]:
    """Canonical names with their aliases, for error messages and ``--help`` (plug-ins included)."""
    return REGISTRY.known()


def canonical_names() -> list[str]:
    return REGISTRY.canonical_names()


def kms_option_names() -> frozenset[str]:
    """Lower-cased option names any registered backend accepts (for the options' unknown-option check)."""
    return REGISTRY.option_names(("kms", "kmstype", "kms_type"))


__all__ = [
    "AZURE_ALIASES",
    "ENTRY_POINT_GROUP",
    "LOCAL_ALIASES",
    "SKR_ALIASES",
    "KmsBackend",
    "backend_for",
    "canonical_names",
    "kms_option_names",
    "known_backends",
    "normalize_kms_type",
    "refresh_plugins",
    "register_backend",
]
