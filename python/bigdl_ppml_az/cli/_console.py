"""The rich console every ``ppml-az`` command prints with.

rich assumes 80 columns when its output is not a terminal, so ``ppml-az ... > log.txt`` used to wrap tables and
paths at 80 columns. Here the width comes from the terminal when there is one (or from ``COLUMNS``), and is
effectively unlimited otherwise: a file or a pipe gets each line whole.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

UNWRAPPED_WIDTH = 10_000  # wide enough that no line of ours wraps; rich tables still size to their content


def console_width(stream: IO[str]) -> int | None:
    """None (let rich ask the terminal) for a terminal or when COLUMNS is set; otherwise a very wide page."""
    if os.environ.get("COLUMNS", "").isdigit():
        return None
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return None
    return UNWRAPPED_WIDTH


def make_console(stderr: bool = False) -> Any:
    """A rich Console on stdout (or stderr) that wraps only at a real terminal's width."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=console_width(stream))
