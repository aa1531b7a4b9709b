"""Make ``ppml-enc`` honour a session's ``spark.bigdl.*`` key settings (driver side).

Spark plans a Python data source in a separate Python worker where the Spark configuration is not reachable,
so ``spark.read.format("ppml-enc")`` cannot read ``spark.bigdl.kms.*`` by itself. :func:`register` reads them
on the driver, validates them (a setting we cannot honour is an error here), and registers a ``ppml-enc``
subclass that carries the translated *default* key options with it (pickled with the class: key file paths and
vault names, never key material; a ``plainText`` primary key is refused). Explicit options always win: a read
that names ``kms`` itself gets nothing from the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import bigdl_conf
from .errors import ConfigError


def session_conf(spark: Any) -> dict[str, str]:
    """The session's settings: SparkContext conf plus runtime ``spark.conf.set`` values (runtime wins)."""
    conf = {str(k): str(v) for k, v in spark.sparkContext.getConf().getAll()}
    try:
        runtime = spark.conf.getAll
        conf.update({str(k): str(v) for k, v in (runtime() if callable(runtime) else runtime).items()})
    except Exception:  # older PySpark: only the SparkContext conf
        pass
    return conf


def defaults_from_conf(conf: dict[str, str]) -> dict[str, str]:
    """Default ppml-enc key options (defaultKey) from the settings; {} when they define none."""
    bigdl_conf.check_all(conf)
    spec = bigdl_conf.key_spec(conf, bigdl_conf.DEFAULT_KEY)
    if spec is None:
        return {}
    if bigdl_conf.PLAINTEXT_OPTION in spec.options:
        raise ConfigError(
            f"{spec.sources[bigdl_conf.PLAINTEXT_OPTION]}: ppml-enc does not carry plain-text primary keys to its "
            "planning workers; use PPMLContext (which keeps it in a private 0600 file), or a key file with "
            "kms.type=local and material=PATH"
        )
    return dict(spec.options)


def session_key_options(
    spark: Any, explicit: Mapping[str, str] | None, name: str = bigdl_conf.DEFAULT_KEY
) -> Mapping[str, str] | None:
    """Key options for a driver-side command: ``explicit`` ones (flags) win; else the session's spark.bigdl.*
    settings; None when neither names a key. Unhonourable spark.bigdl.* settings are errors either way."""
    conf = session_conf(spark)
    bigdl_conf.check_all(conf)
    if explicit:
        return explicit
    options = bigdl_conf.key_options(conf, name)
    return options or None


def merge_defaults(defaults: dict[str, str], options: dict[str, str]) -> dict[str, str]:
    """A read's options over the defaults; a read that names ``kms`` itself takes nothing from them."""
    explicit = {str(k): str(v) for k, v in options.items()}
    lowered = {k.lower() for k in explicit}
    if "kms" in lowered or "kmstype" in lowered:
        return explicit
    return {k: v for k, v in defaults.items() if k.lower() not in lowered} | explicit


def register(spark: Any) -> dict[str, str]:
    """Register ``ppml-enc`` with the session's ``spark.bigdl.*`` defaults; return the defaults it carries."""
    from .datasource import PpmlEncDataSource
    from .datasource.registration import register_source

    defaults = defaults_from_conf(session_conf(spark))
    if not defaults:
        register_source(spark, PpmlEncDataSource)
        return {}

    class PpmlEncWithBigdlDefaults(PpmlEncDataSource):
        """``ppml-enc`` whose missing key options come from the driver's spark.bigdl.* settings."""

        bigdl_defaults = dict(defaults)

        def __init__(self, options: Any) -> None:
            super().__init__(merge_defaults(self.bigdl_defaults, dict(options)))

    register_source(spark, PpmlEncWithBigdlDefaults)
    return defaults


__all__ = ["defaults_from_conf", "merge_defaults", "register", "session_conf", "session_key_options"]
