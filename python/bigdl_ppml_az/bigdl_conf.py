"""BigDL PPML's key settings (``spark.bigdl.*`` and PPMLContext's ``ppml_args``) as ``ppml-enc`` options. Pure.

BigDL jobs name their keys in the Spark configuration, in two generations:

* older (the Azure guide's scripts): ``spark.bigdl.kms.type``, ``spark.bigdl.kms.azure.vault``,
  ``spark.bigdl.kms.azure.clientId``, ``spark.bigdl.kms.key.primary``, ``spark.bigdl.kms.key.data``;
* newer (PPMLContext, several keys per job): ``spark.bigdl.primaryKey.<name>.kms.type``, ``.kms.vault``,
  ``.kms.clientId``, ``.material`` (the primary key file) and ``.plainText`` (a primary key in plain text).

:func:`key_options` turns them into the options the data source, the JVM shim and the CLI already take
(``kms``, ``vault``, ``clientId``, ``primaryKeyPath``, ``dataKeyPath``). A setting in those two namespaces that
we cannot honour (a BigDL KMS we do not have, an unknown sub-key) is an error naming the setting, never
silently ignored. Other ``spark.bigdl.*`` settings (BigDL DLlib's engine settings in ``spark-bigdl.conf``) are
not about keys and are left alone.

Why here and not inside ``ppml-enc``: Spark plans a Python data source in a separate Python worker process,
where ``SparkSession.getActiveSession()`` is ``None`` and the Spark configuration is not reachable (measured
with PySpark 4.0/4.3). So the driver-side entry points (PPMLContext, ``register(spark)``, the example, ``tpch
run``) translate the configuration and pass explicit options; explicit options always win.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import ConfigError

DEFAULT_KEY = "defaultKey"
LEGACY_PREFIX = "spark.bigdl.kms."
NAMED_PREFIX = "spark.bigdl.primaryKey."

# BigDL KMS type names -> ours. Types we do not have map to the advice given instead.
_KMS_TYPES = {
    "azurekeymanagementservice": "azure",
    "azure": "azure",
    "local": "local",
}
_UNSUPPORTED_KMS = {
    "simplekeymanagementservice": "BigDL's SimpleKeyManagementService (a demo KMS with app id/api key)",
    "ehsmkeymanagementservice": "eHSM (EHSMKeyManagementService)",
    "bigdlkeymanagementservice": "BigDL KMS (BigDLKeyManagementService)",
}
_INSTEAD = (
    "use kms type AzureKeyManagementService (Azure Key Vault; `ppml-az keys create --kms azure --bigdl`) or local "
    "(a primary key file; `ppml-az keys create --kms local --primary-key PATH`), and re-encrypt the data with "
    "`ppml-az decrypt` + `ppml-az encrypt`"
)

# older names -> option names
_LEGACY_KEYS = {
    "spark.bigdl.kms.type": "kms",
    "spark.bigdl.kms.azure.vault": "vault",
    "spark.bigdl.kms.azure.clientid": "clientId",
    "spark.bigdl.kms.key.primary": "primaryKeyPath",
    "spark.bigdl.kms.key.data": "dataKeyPath",
}
# newer sub-keys (after spark.bigdl.primaryKey.<name>.) -> option names
_NAMED_KEYS = {
    "kms.type": "kms",
    "kms.vault": "vault",
    "kms.clientid": "clientId",
    "material": "primaryKeyPath",
    "plaintext": "primaryKeyPlainText",
    "datakey": "dataKeyPath",  # ours: BigDL's older data key file for a named key (nativeaescbc reads)
}
PLAINTEXT_OPTION = "primaryKeyPlainText"

# PPMLContext ppml_args -> option names (BigDL's keys; several generations of BigDL used different ones)
_PPML_ARGS = {
    "kms_type": "kms",
    "vault": "vault",
    "azure_vault": "vault",
    "client_id": "clientId",
    "azure_client_id": "clientId",
    "primary_key_material": "primaryKeyPath",
    "primary_key_path": "primaryKeyPath",
    "data_key_path": "dataKeyPath",
    "primary_key_plaintext": PLAINTEXT_OPTION,
}
_PPML_ARGS_UNSUPPORTED = (
    "app_id",
    "api_key",
    "simple_app_id",
    "simple_app_key",
    "simple_api_key",
    "kms_server_ip",
    "kms_server_port",
    "kms_user_name",
    "kms_user_token",
)


def normalize_kms(value: str, setting: str) -> str:
    """``local`` or ``azure`` from any BigDL or ppml-az spelling; BigDL backends we lack are a clear error."""
    key = value.strip().lower()
    if key in _KMS_TYPES:
        return _KMS_TYPES[key]
    if key in _UNSUPPORTED_KMS:
        raise ConfigError(f"{setting}={value}: {_UNSUPPORTED_KMS[key]} is not available in bigdl-ppml-az; {_INSTEAD}")
    raise ConfigError(f"{setting}={value}: unknown KMS type; {_INSTEAD}")


@dataclass(frozen=True)
class KeySpec:
    """One primary key's options and where each came from (for error messages, never values)."""

    name: str
    options: dict[str, str]
    sources: dict[str, str]


def key_names(conf: Mapping[str, str]) -> list[str]:
    """Names of the primary keys the configuration defines (``defaultKey`` when only older settings exist)."""
    names: list[str] = []
    for key in conf:
        if key.startswith(NAMED_PREFIX):
            name = key[len(NAMED_PREFIX) :].split(".", 1)[0]
            if name and name not in names:
                names.append(name)
    if any(key.lower().startswith(LEGACY_PREFIX) for key in conf) and DEFAULT_KEY not in names:
        names.append(DEFAULT_KEY)
    return names


def _named(conf: Mapping[str, str], name: str) -> tuple[dict[str, str], dict[str, str]]:
    prefix = f"{NAMED_PREFIX}{name}."
    options: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key, value in conf.items():
        if not key.startswith(prefix):
            continue
        sub = key[len(prefix) :].lower()
        if sub not in _NAMED_KEYS:
            if sub.startswith("kms.") and sub[4:] in ("appid", "apikey", "ip", "port", "user", "token", "id"):
                raise ConfigError(
                    f"{key}: a setting of a BigDL KMS that bigdl-ppml-az does not have (SimpleKMS, eHSM, BigDL KMS); "
                    f"{_INSTEAD}"
                )
            subs = ("kms.type", "kms.vault", "kms.clientId", "material", "plainText")
            known = ", ".join(f"{prefix}{s}" for s in subs)
            raise ConfigError(f"{key}: unknown BigDL key setting; use one of {known}")
        if value == "":
            continue  # BigDL's PPMLContext writes kms.clientId="" when no client id is given
        options[_NAMED_KEYS[sub]] = value
        sources[_NAMED_KEYS[sub]] = key
    return options, sources


def _legacy(conf: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    options: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key, value in conf.items():
        lowered = key.lower()
        if not lowered.startswith(LEGACY_PREFIX):
            continue
        if lowered not in _LEGACY_KEYS:
            if lowered.startswith(("spark.bigdl.kms.simple.", "spark.bigdl.kms.ehs.", "spark.bigdl.kms.bigdl.")):
                raise ConfigError(f"{key}: a setting of a BigDL KMS that bigdl-ppml-az does not have; {_INSTEAD}")
            known = ", ".join(("spark.bigdl.kms.type", "spark.bigdl.kms.azure.vault", "spark.bigdl.kms.azure.clientId",
                               "spark.bigdl.kms.key.primary", "spark.bigdl.kms.key.data"))  # fmt: skip
            raise ConfigError(f"{key}: unknown BigDL KMS setting; use one of {known}")
        if value == "":
            continue
        options[_LEGACY_KEYS[lowered]] = value
        sources[_LEGACY_KEYS[lowered]] = key
    return options, sources


def key_spec(conf: Mapping[str, str], name: str = DEFAULT_KEY) -> KeySpec | None:
    """The options of primary key ``name`` from the configuration, or None when it defines none.

    For ``defaultKey`` the older ``spark.bigdl.kms.*`` settings fill in what the newer ones leave out.
    """
    name = name or DEFAULT_KEY
    options, sources = _named(conf, name)
    if name == DEFAULT_KEY:
        legacy, legacy_sources = _legacy(conf)
        for option, value in legacy.items():
            if option not in options:
                options[option] = value
                sources[option] = legacy_sources[option]
    if not options:
        return None
    return _finish(name, options, sources)


def _finish(name: str, options: dict[str, str], sources: dict[str, str]) -> KeySpec:
    kms = options.get("kms")
    if kms is None or kms.strip() == "":
        if PLAINTEXT_OPTION in options:  # BigDL: kms_type "" with primary_key_plaintext
            kms = "local"
        elif "vault" in options:
            kms = "azure"
        else:
            where = sources.get("primaryKeyPath", f"{NAMED_PREFIX}{name}.material")
            raise ConfigError(
                f"{where}: no KMS type for primary key {name!r}; set {NAMED_PREFIX}{name}.kms.type to "
                "AzureKeyManagementService or local"
            )
        sources.setdefault("kms", sources.get(PLAINTEXT_OPTION) or sources.get("vault") or "")
    options["kms"] = normalize_kms(kms, sources.get("kms") or "kms_type")
    if options["kms"] == "azure" and "vault" not in options and "primaryKeyPath" not in options:
        raise ConfigError(
            f"primary key {name!r} uses Azure Key Vault but names neither a vault nor a primary key file; set "
            f"{NAMED_PREFIX}{name}.kms.vault (or spark.bigdl.kms.azure.vault) and {NAMED_PREFIX}{name}.material"
        )
    if options["kms"] == "local" and "primaryKeyPath" not in options and PLAINTEXT_OPTION not in options:
        raise ConfigError(
            f"primary key {name!r} uses kms local but names no primary key file; set {NAMED_PREFIX}{name}.material "
            "(create one with `ppml-az keys create --kms local --primary-key PATH`)"
        )
    if PLAINTEXT_OPTION in options:
        if options["kms"] != "local":
            raise ConfigError(
                f"{sources[PLAINTEXT_OPTION]}: a plain-text primary key goes with kms type local, not {options['kms']}"
            )
        plaintext_primary_key(options[PLAINTEXT_OPTION], sources[PLAINTEXT_OPTION])  # validate early
    return KeySpec(name, options, sources)


def plaintext_primary_key(value: str, setting: str) -> bytes:
    """The 32 bytes of a plain-text primary key (Base64). The value never appears in the error."""
    try:
        material = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{setting}: not Base64; a plain-text primary key is Base64 of 32 random bytes") from None
    if len(material) != 32:
        raise ConfigError(f"{setting}: decodes to {len(material)} bytes; a plain-text primary key has 32")
    return material


def ppml_args_conf(ppml_args: Mapping[str, object], name: str = DEFAULT_KEY) -> dict[str, str]:
    """PPMLContext's ``ppml_args`` as the ``spark.bigdl.primaryKey.<name>.*`` settings BigDL derives from them."""
    conf: dict[str, str] = {}
    reverse = {v: k for k, v in _NAMED_KEYS.items()}
    canonical_sub = {"kms.type": "kms.type", "kms.vault": "kms.vault", "kms.clientid": "kms.clientId",
                     "material": "material", "plaintext": "plainText", "datakey": "dataKey"}  # fmt: skip
    for arg, value in ppml_args.items():
        if arg in _PPML_ARGS_UNSUPPORTED:
            raise ConfigError(
                f"ppml_args[{arg!r}]: a setting of a BigDL KMS that bigdl-ppml-az does not have (SimpleKMS, eHSM, "
                f"BigDL KMS); {_INSTEAD}"
            )
        if arg not in _PPML_ARGS:
            known = ", ".join(sorted(_PPML_ARGS))
            raise ConfigError(f"ppml_args[{arg!r}]: unknown argument; use {known}")
        if value is None:
            continue
        option = _PPML_ARGS[arg]
        conf[f"{NAMED_PREFIX}{name}.{canonical_sub[reverse[option]]}"] = str(value)
    kms = conf.get(f"{NAMED_PREFIX}{name}.kms.type")
    if kms is not None and kms.strip() != "":
        normalize_kms(kms, "ppml_args['kms_type']")
    return conf


def key_options(
    conf: Mapping[str, str], name: str = DEFAULT_KEY, explicit: Mapping[str, str] | None = None
) -> dict[str, str]:
    """ppml-enc options for key ``name``: the configuration's, overridden by ``explicit`` ones (case-insensitive).

    When ``explicit`` already names a KMS (``kms``), the configuration is not consulted at all: a caller that
    says which key to use must not get half of another key's settings mixed in.
    """
    explicit = dict(explicit or {})
    lowered = {k.lower() for k in explicit}
    if "kms" in lowered or "kmstype" in lowered:
        return explicit
    spec = key_spec(conf, name)
    if spec is None:
        return explicit
    merged = {k: v for k, v in spec.options.items() if k.lower() not in lowered}
    merged.update(explicit)
    return merged


def check_all(conf: Mapping[str, str]) -> list[str]:
    """Validate every key the configuration defines (so a bad setting fails at start, not at first read)."""
    names = key_names(conf)
    for name in names:
        key_spec(conf, name)
    return names


def redaction_names() -> Iterable[str]:
    """Setting-name fragments that hold key material or key locations, for ``spark.redaction.regex``."""
    return ("plainText", "spark.bigdl.kms", "spark.bigdl.primaryKey", "fs.ppml.secret")


__all__ = [
    "DEFAULT_KEY",
    "PLAINTEXT_OPTION",
    "KeySpec",
    "check_all",
    "key_names",
    "key_options",
    "key_spec",
    "normalize_kms",
    "plaintext_primary_key",
    "ppml_args_conf",
    "redaction_names",
]
