"""Pytest fixtures for the Azure parts: the Key Vault emulator and Azurite (Blob API) on 127.0.0.1.

Registered from conftest.py with ``pytest_plugins = ["azure_fixtures"]``. Azurite comes from npm: ``./dev test``
installs it into .tools and exports PPML_AZ_AZURITE (path of the ``azurite`` launcher); the ``azurite-blob``
launcher next to it is started with in-memory storage by ``emulators.running_azurite`` (the same code
``./dev emulators`` uses) and stopped by its PID.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators import AZURITE_ACCOUNT, AZURITE_KEY, AZURITE_MISSING, Azurite, azurite_blob_launcher, running_azurite
from kv_emulator import KeyVaultEmulator

__all__ = ["AZURITE_ACCOUNT", "AZURITE_KEY", "Azurite", "azurite", "container", "kv", "kv_emulator"]


@pytest.fixture(scope="session")
def kv_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyVaultEmulator]:
    emulator = KeyVaultEmulator(tmp_path_factory.mktemp("kv")).start()
    yield emulator
    emulator.stop()


@pytest.fixture()
def kv(kv_emulator: KeyVaultEmulator) -> Iterator[KeyVaultEmulator]:
    """The session's emulator with faults cleared and call counts reset for this test."""
    kv_emulator.reset_faults()
    kv_emulator.reset_counts()
    yield kv_emulator
    kv_emulator.reset_faults()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    launcher = azurite_blob_launcher()
    if launcher is None:
        pytest.skip(AZURITE_MISSING)
    with running_azurite(launcher, tmp_path_factory.mktemp("azurite")) as emulator:
        yield emulator


@pytest.fixture()
def container(azurite: Azurite) -> str:
    """A fresh, empty container for one test."""
    return azurite.new_container()
