"""Metadata lives in setup.cfg. This file only ships the Scala shim sources (``scala-shim/src``) inside the
package, so an installed wheel can compile the JVM jar without the source tree."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SCALA_SOURCES = Path(__file__).resolve().parent / "scala-shim" / "src"


class BuildPyWithScala(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "bigdl_ppml_az" / "jvm" / "scala-src"
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(SCALA_SOURCES.glob("*.scala")):
            self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithScala})
