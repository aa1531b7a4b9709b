"""Shared fixtures: one local[2] SparkSession per test session, temp keys, and the --run-slow switch."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["azure_fixtures"]

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def spark_builder(master: str = "local[2]"):  # type: ignore[no-untyped-def]
    """A SparkSession builder with the settings every test session shares."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(master)
        .appName("bigdl-ppml-az-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable)
    )


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    session = spark_builder().getOrCreate()
    yield session
    session.stop()


@pytest.fixture()
def local_key(tmp_path: Path) -> Path:
    """A fresh local primary key file."""
    from bigdl_ppml_az.kms.local import LocalKms

    path = tmp_path / "keys" / "primary.key"
    LocalKms.create(path)
    return path
