"""Spark-level pushFilters checks run only where PySpark keeps a pushed-filter read plan in its scan; elsewhere
(PySpark 4.3 and releases not yet checked) ppml-enc refuses pushFilters=true, and these helpers check that
refusal instead."""

from __future__ import annotations

from typing import Any

import pytest

from bigdl_ppml_az.datasource.source import _pushdown_plan_is_shared

PUSHDOWN_PLAN_SHARED = _pushdown_plan_is_shared()


def assert_pushfilters_refused(df: Any) -> None:
    """The read with pushFilters=true fails at planning, naming the option (no rows, right or wrong)."""
    with pytest.raises(Exception, match=r"option pushFilters=true: this PySpark reuses a pushed-filter read plan"):
        df.collect()
