"""The ``ppml-enc`` Spark data source (PySpark Python Data Source API)."""

from __future__ import annotations

from pyspark.sql.datasource import DataSource, DataSourceReader, DataSourceWriter
from pyspark.sql.types import StructType

from ..errors import ConfigError
from ..options import READ, WRITE, Options
from .errorlines import one_line_errors

NAME = "ppml-enc"


# PySpark releases checked to keep a pushed-filter read plan per scan (none so far: 4.3 does not).
_SCAN_SCOPED_PUSHDOWN: frozenset[tuple[int, int]] = frozenset()


def _pushdown_plan_is_shared() -> bool:
    """PySpark 4.3 stores the read plan a reader makes after ``pushFilters`` on the data source object that every
    later scan of the same DataFrame shares (``PythonScanBuilder`` -> ``PythonDataSourceV2.setReadInfo``):
    ``df.where("k = 1").count()`` and then ``df.count()`` reads only what the first query pruned, silently. Every
    release not yet checked otherwise is treated the same way (a wrong row count is worse than a slower read)."""
    import pyspark

    major, minor = (int(part) for part in pyspark.__version__.split(".")[:2])
    return (major, minor) not in _SCAN_SCOPED_PUSHDOWN


class PpmlEncDataSource(DataSource):
    """``spark.read.format("ppml-enc")`` / ``df.write.format("ppml-enc")``: encrypted files, decrypted in workers."""

    @classmethod
    def name(cls) -> str:
        return NAME

    def _options(self, side: str) -> Options:
        """Built and checked once here, at the boundary; everything below gets typed, case-insensitive getters."""
        from ..kms.registry import kms_option_names
        from ..table.heads import head_store_option_names
        from .options import checked_options

        options = {str(k): str(v) for k, v in dict(self.options).items()}
        return checked_options(options, side, extra=kms_option_names() | head_store_option_names())

    @one_line_errors
    def schema(self) -> StructType:
        from .infer import infer_schema
        from .planning import with_partition_columns

        options = self._options(READ)
        return with_partition_columns(infer_schema(options), options)

    @one_line_errors
    def reader(self, schema: StructType) -> DataSourceReader:
        from .reader import PpmlEncParquetReader, PpmlEncReader

        options = self._options(READ)
        if options.get_bool("pushFilters"):  # Spark then needs spark.sql.python.filterPushdown.enabled=true
            if _pushdown_plan_is_shared():
                raise ConfigError(
                    "option pushFilters=true: this PySpark reuses a pushed-filter read plan for later queries of the "
                    "same DataFrame, which would then return too few rows (docs/SCALE.md); drop the option. To "
                    "read one partition, load its directory: .option('basePath', root).load(root + '/key=value')"
                )
            return PpmlEncParquetReader(options, schema)
        return PpmlEncReader(options, schema)

    @one_line_errors
    def writer(self, schema: StructType, overwrite: bool) -> DataSourceWriter:
        from .writer import PpmlEncWriter

        return PpmlEncWriter(self._options(WRITE), schema, overwrite)
