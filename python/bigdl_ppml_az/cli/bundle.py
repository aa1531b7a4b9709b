"""``ppml-az bundle OUT.zip``: the package as one zip for ``spark-submit --py-files`` / ``addPyFile``.

For clusters where the package is not pip-installed on the executors: ship the zip, then call
``bigdl_ppml_az.register(spark)`` (the zero-registration lookup only scans installed top-level modules).
The zip holds only this package: its runtime requirements must still be installed on the executors.
``ppml-az bundle --requirements`` prints them from the installed distribution's metadata (the list a
hand-kept doc got wrong: it forgot pandas, hence numpy, and rich).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import bigdl_ppml_az

from ..errors import ConfigError, OutputExistsError

ZERO_REGISTRATION_MODULE = "pyspark_ppml_enc"
DISTRIBUTION = "bigdl-ppml-az"
# An "extra == ..." clause in a requirement's environment marker (PEP 508). Matched by hand: ``packaging`` is
# not a runtime dependency, and the only question asked here is whether a requirement belongs to an extra.
_EXTRA_MARKER = re.compile(r"\bextra\s*==")


def runtime_requirements(distribution: str = DISTRIBUTION) -> list[str]:
    """The installed distribution's requirements without its extras (``test``, ``tpch``), in metadata order.

    These are what an executor needs besides the zip (``pip install -r`` brings their own dependencies, e.g.
    numpy with pandas). Raises ConfigError when the distribution is not installed (a bare source tree).
    """
    try:
        requires = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"{distribution} is not installed here, so its requirements are unknown; `pip install .` first"
        ) from None
    runtime: list[str] = []
    for requirement in requires:
        _, _, marker = requirement.partition(";")
        if not _EXTRA_MARKER.search(marker) and requirement not in runtime:
            runtime.append(requirement)
    return runtime


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
    if args.output is None and not args.requirements:
        raise ConfigError("bundle needs OUT.zip (the zip to write) or --requirements (print what executors need)")
    requirements = runtime_requirements()
    if args.output is not None:
        names = build_bundle(args.output, args.force)
        # stdout stays the bare list when --requirements is given, so `> requirements.txt` works with both
        print(
            f"wrote {args.output} ({len(names)} files); ship it with --py-files and call "
            f"bigdl_ppml_az.register(spark). Executors also need: {', '.join(requirements)} "
            "(one per line: ppml-az bundle --requirements)",
            file=sys.stderr if args.requirements else sys.stdout,
        )
    if args.requirements:
        print("\n".join(requirements))
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``bundle`` to the ppml-az parser."""
    parser = subparsers.add_parser(
        "bundle",
        help="zip the package for spark-submit --py-files; --requirements: what executors must install",
        description="Zip bigdl_ppml_az (and the pyspark_ppml_enc hook) for --py-files / SparkContext.addPyFile. "
        "The zip holds only this package: --requirements prints, one per line (a pip requirements file), the "
        "runtime requirements of the installed distribution, which the executors must have installed.",
    )
    parser.add_argument("output", metavar="OUT.zip", nargs="?", help="the zip to write")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT.zip")
    parser.add_argument(
        "--requirements",
        action="store_true",
        help="print the runtime requirements (from the installed package's metadata, extras excluded)",
    )
    parser.set_defaults(func=_run)
