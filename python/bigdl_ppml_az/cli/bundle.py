"""``ppml-az bundle OUT.zip``: the package as one zip for ``spark-submit --py-files`` / ``addPyFile``.

For clusters where the package is not pip-installed on the executors: ship the zip, then call
``bigdl_ppml_az.register(spark)`` (the zero-registration lookup only scans installed top-level modules).
Dependencies (pyarrow, cryptography, azure SDKs) must still be installed on the executors.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path
from typing import Any

import bigdl_ppml_az

from ..errors import OutputExistsError

ZERO_REGISTRATION_MODULE = "pyspark_ppml_enc"


def build_bundle(output: str | Path, force: bool = False) -> list[str]:
    """Write the zip; return the archive names. Byte code caches are left out (executors compile their own)."""
    target = Path(output)
    if target.exists() and not force:
        raise OutputExistsError(f"{target}: exists; pass --force to replace it")
    package = Path(bigdl_ppml_az.__file__).resolve().parent
    names: list[str] = []
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
                continue
            name = str(Path(package.name) / path.relative_to(package))
            archive.write(path, name)
            names.append(name)
        hook = package.parent / f"{ZERO_REGISTRATION_MODULE}.py"
        if hook.exists():
            archive.write(hook, hook.name)
            names.append(hook.name)
    temp.replace(target)
    return names


def _run(args: argparse.Namespace) -> int:
    names = build_bundle(args.output, args.force)
    print(f"wrote {args.output} ({len(names)} files); ship it with --py-files and call bigdl_ppml_az.register(spark)")
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``bundle`` to the ppml-az parser."""
    parser = subparsers.add_parser(
        "bundle",
        help="zip the package for spark-submit --py-files",
        description="Zip bigdl_ppml_az (and the pyspark_ppml_enc hook) for --py-files / SparkContext.addPyFile.",
    )
    parser.add_argument("output", metavar="OUT.zip")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT.zip")
    parser.set_defaults(func=_run)
