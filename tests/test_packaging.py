"""The wheel a user installs carries what a non-editable install needs: the zero-registration module, the
console script and the Scala shim sources (copied from scala-shim/src by setup.py)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_hook_entry_point_and_scala_sources(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("bigdl_ppml_az-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "pyspark_ppml_enc.py" in names
    scala = sorted(p.name for p in (ROOT / "scala-shim" / "src").glob("*.scala"))
    assert scala, "scala-shim/src has no sources"
    assert {f"bigdl_ppml_az/jvm/scala-src/{name}" for name in scala} <= names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "ppml-az = bigdl_ppml_az.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_formats_kms_storage_and_cli_core_do_not_import_spark() -> None:
    """The layering rule: formats and kms (and the file tools built on them) stay usable without Spark."""
    code = (
        "import sys\n"
        "import bigdl_ppml_az, bigdl_ppml_az.formats, bigdl_ppml_az.kms, bigdl_ppml_az.kms.local\n"
        "import bigdl_ppml_az.kms.azure, bigdl_ppml_az.storage, bigdl_ppml_az.storage.azure, bigdl_ppml_az.filecrypt\n"
        "loaded = sorted(m for m in sys.modules if m == 'pyspark' or m.startswith('pyspark.'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
