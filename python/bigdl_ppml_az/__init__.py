"""bigdl-ppml-az: keep data encrypted at rest and still run ordinary Spark jobs over it."""

from __future__ import annotations

__version__ = "0.1.0"
