"""Build the JVM shim jar with the Scala compiler that pyspark ships; cache it by source hash and Spark version.

No sbt, Maven or network: ``java -cp pyspark/jars/* scala.tools.nsc.Main -d shim.jar src/*.scala``. The Scala
sources live in the repository's ``scala-shim/src``; ``setup.py`` copies them into the wheel as
``bigdl_ppml_az/jvm/scala-src`` so a plain, non-editable ``pip install`` can build the jar too.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import ConfigError


def _sources() -> Path:
    """Installed wheel: the copy inside the package. Source checkout / editable install: ``scala-shim/src``."""
    packaged = Path(__file__).resolve().parent / "scala-src"
    if any(packaged.glob("*.scala")):
        return packaged
    return Path(__file__).resolve().parents[3] / "scala-shim" / "src"


SOURCES = _sources()
JAR_PREFIX = "bigdl-ppml-az-shim"


def pyspark_jars() -> Path:
    """The ``jars`` directory of the installed pyspark (Spark, Hadoop, Parquet and the Scala compiler)."""
    import pyspark

    jars = Path(pyspark.__file__).resolve().parent / "jars"
    if not jars.is_dir():
        raise ConfigError(f"{jars}: pyspark has no jars directory; install pyspark from PyPI")
    return jars


def spark_version() -> str:
    import pyspark

    return str(pyspark.__version__)


def source_files() -> list[Path]:
    files = sorted(SOURCES.rglob("*.scala"))
    if not files:
        raise ConfigError(f"{SOURCES}: no Scala sources (broken installation?)")
    return files


def source_hash() -> str:
    """Hash of the Scala sources and the compiler jar name: the cache key together with the Spark version."""
    digest = hashlib.sha256()
    for path in source_files():
        digest.update(path.relative_to(SOURCES).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    compilers = sorted(p.name for p in pyspark_jars().glob("scala-compiler-*.jar"))
    digest.update(",".join(compilers).encode())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """``$PPML_AZ_SHIM_CACHE``, else ``$XDG_CACHE_HOME/bigdl-ppml-az``, else ``~/.cache/bigdl-ppml-az``."""
    explicit = os.environ.get("PPML_AZ_SHIM_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bigdl-ppml-az"


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    if candidate is not None and candidate.exists():
        return str(candidate)
    found = shutil.which("java")
    if not found:
        raise ConfigError("java not found: install JDK 17 (Spark needs it anyway) or set JAVA_HOME")
    return found


def compile_jar(output: Path) -> Path:
    """Compile the sources into ``output`` (written to a temp file, then renamed into place)."""
    jars = pyspark_jars()
    if not list(jars.glob("scala-compiler-*.jar")):
        raise ConfigError(f"{jars}: no scala-compiler jar; this pyspark cannot build the shim")
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".shim-", suffix=".jar", dir=output.parent)
    os.close(fd)
    os.unlink(tmp_name)
    classpath = f"{jars}/*"
    command = [
        _java(),
        "-Xss8m",
        "-cp",
        classpath,
        "scala.tools.nsc.Main",
        "-nowarn",
        "-d",
        tmp_name,
        "-classpath",
        classpath,
        *map(str, source_files()),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not Path(tmp_name).exists():
        Path(tmp_name).unlink(missing_ok=True)
        raise ConfigError(f"building the shim jar failed (scalac exit {result.returncode}):\n{result.stderr[-4000:]}")
    os.replace(tmp_name, output)
    return output


def jar_path(build: bool = True) -> Path:
    """The cached jar for these sources and this Spark version, built (under a file lock) when missing."""
    target = cache_dir() / f"{JAR_PREFIX}-{spark_version()}-{source_hash()}.jar"
    if target.exists() or not build:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            compile_jar(target)
    return target
