"""Spark integration: the ``ppml-enc`` data source (imports pyspark; the rest of the package does not)."""

from __future__ import annotations

from .source import NAME, PpmlEncDataSource

__all__ = ["NAME", "PpmlEncDataSource"]
