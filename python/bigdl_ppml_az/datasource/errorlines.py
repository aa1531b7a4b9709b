"""One line, not a traceback, for the errors this package explains itself.

What ``df.collect()`` raises for a failing Python data source is Spark's error class followed by the text the
Python worker formats (``pyspark.util.handle_worker_exception``): a 14-44 line traceback whose last line is our
message. That function prints only ``ExceptionType: message`` when ``SPARK_HIDE_TRACEBACK`` is set in the worker's
environment at the moment it formats the error (the setting behind Spark's
``spark.sql.execution.pyspark.udf.hideTraceback.enabled``). So the data source's entry points set it for a
:class:`~bigdl_ppml_az.errors.PpmlError` just before the error leaves them: the worker reports it and exits
(``sys.exit(-1)`` after every reported error, in ``pyspark.worker`` and ``pyspark.sql.worker``), so no later error
of another job is affected. Unexpected exceptions (bugs) keep their traceback. ``PPML_AZ_TRACEBACK=1`` keeps
tracebacks for our errors too. Checked by ``tests/test_errors_first_line.py`` against the installed PySpark.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ..errors import PpmlError

F = TypeVar("F", bound=Callable[..., Any])

HIDE = "SPARK_HIDE_TRACEBACK"
KEEP = "PPML_AZ_TRACEBACK"


def _hide_traceback() -> None:
    if os.environ.get(KEEP, "") in ("", "0"):
        os.environ[HIDE] = "1"


def one_line_errors(method: F) -> F:
    """Wrap a data source entry point (plain method or generator) so that our own errors reach the user as one
    line: ``bigdl_ppml_az.errors.WrongKeyError: <file>: <problem>; <what to do>``."""
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from method(*args, **kwargs)
            except PpmlError:
                _hide_traceback()
                raise

        return generator  # type: ignore[return-value]

    @functools.wraps(method)
    def plain(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except PpmlError:
            _hide_traceback()
            raise

    return plain  # type: ignore[return-value]
