"""The two halves every child-Spark test shares: start this interpreter on a script with a JSON plan, and, in the
child, finish by saving Spark's environment (when asked) and the results. A child is needed where a session's
jars or JVM settings are fixed at start (the shim jar, SKR settings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_child(script: Path, plan_path: Path, timeout: int) -> str:
    """Run ``script plan_path`` with this interpreter as the workers' Python; its output, or AssertionError."""
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    proc = subprocess.run(
        [sys.executable, str(script), str(plan_path)], capture_output=True, text=True, env=env, timeout=timeout
    )
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"child Spark process failed:\n{output[-6000:]}")
    return output


def finish_child(spark: Any, plan: dict[str, Any], results: dict[str, Any]) -> None:
    """In the child: Spark's environment from its own UI (``plan["environment_json"]``, for conf checks), then
    stop the session and write ``results`` to ``plan["results"]``."""
    if plan.get("environment_json"):
        import urllib.request

        url = f"{spark.sparkContext.uiWebUrl}/api/v1/applications/{spark.sparkContext.applicationId}/environment"
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the child's own UI
            Path(plan["environment_json"]).write_bytes(response.read())
    spark.stop()
    Path(plan["results"]).write_text(json.dumps(results))
