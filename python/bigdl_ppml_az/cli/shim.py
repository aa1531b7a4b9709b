"""``ppml-az shim``: build the JVM shim jar (codec + Parquet KmsClient) and print the Spark settings for it."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this module's commands to the ppml-az parser."""
    shim = subparsers.add_parser(
        "shim",
        help="JVM shim: Spark's native readers on encrypted data",
        description="The Scala shim that lets Spark's own readers and writers decrypt inside the JVM "
        "(docs/JVM.md).",
    )
    commands = shim.add_subparsers(dest="shim_command", metavar="SUBCOMMAND")
    build = commands.add_parser(
        "build",
        help="compile the shim jar with pyspark's Scala compiler (no network)",
        description="Compile the shim jar with the Scala compiler pyspark ships and cache it (by source hash and "
        "Spark version); print its path.",
    )
    build.add_argument("--output", "-o", help="also copy the jar here (default: only the user cache)")
    build.add_argument("--force", action="store_true", help="rebuild even if the cached jar exists")
    build.set_defaults(func=_build)
    conf = commands.add_parser(
        "conf",
        help="print --conf settings for spark-submit / spark-shell",
        description="Print the --conf settings (jar and codecs) that load the shim in spark-submit or spark-shell.",
    )
    conf.set_defaults(func=_conf)
    shim.set_defaults(func=lambda args: (shim.print_help(), 2)[1])


def _build(args: argparse.Namespace) -> int:
    from ..jvm import build

    started = time.monotonic()
    target = build.jar_path(build=False)
    if args.force or not target.exists():
        build.compile_jar(target)
        print(f"built {target} in {time.monotonic() - started:.1f}s")
    else:
        print(f"cached {target}")
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, out)
        print(f"copied to {out}")
    return 0


def _conf(args: argparse.Namespace) -> int:
    from ..jvm import spark_settings

    for key, value in spark_settings().items():
        print(f"--conf {key}={value}")
    return 0
