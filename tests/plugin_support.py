"""Install the test-only third-party KMS backend (tests/plugin_kms) into this environment, offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PLUGIN_SOURCE = Path(__file__).parent / "plugin_kms"
PLUGIN_NAME = "toy-aes"


def install_plugin() -> None:
    """``pip install --no-deps --no-build-isolation`` from a copy (the build writes next to the sources)."""
    with tempfile.TemporaryDirectory(prefix="ppml-toy-kms-") as tmp:
        copy = Path(tmp) / "plugin_kms"
        shutil.copytree(PLUGIN_SOURCE, copy)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
            + [str(copy)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    from bigdl_ppml_az.kms.registry import refresh_plugins

    refresh_plugins()


@pytest.fixture(scope="session")
def toy_plugin() -> str:
    """The plug-in's registry name, after installing it (once per test session)."""
    install_plugin()
    return PLUGIN_NAME
