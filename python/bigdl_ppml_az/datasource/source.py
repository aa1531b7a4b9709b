"""The ``ppml-enc`` Spark data source (PySpark Python Data Source API)."""

from __future__ import annotations

from pyspark.sql.datasource import DataSource, DataSourceReader, DataSourceWriter
from pyspark.sql.types import StructType

NAME = "ppml-enc"


class PpmlEncDataSource(DataSource):
    """``spark.read.format("ppml-enc")`` / ``df.write.format("ppml-enc")``: encrypted files, decrypted in workers."""

    @classmethod
    def name(cls) -> str:
        return NAME

    def _options(self) -> dict[str, str]:
        return {str(k).lower(): str(v) for k, v in dict(self.options).items()}

    def schema(self) -> StructType:
        from .infer import infer_schema

        return infer_schema(self._options())

    def reader(self, schema: StructType) -> DataSourceReader:
        from .options import parse_bool
        from .reader import PpmlEncParquetReader, PpmlEncReader

        options = self._options()
        if options.get("format", "").lower() == "parquet" and parse_bool(
            "pushFilters", options.get("pushfilters"), False
        ):
            return PpmlEncParquetReader(options, schema)
        return PpmlEncReader(options, schema)

    def writer(self, schema: StructType, overwrite: bool) -> DataSourceWriter:
        from .writer import PpmlEncWriter

        return PpmlEncWriter(self._options(), schema, overwrite)
