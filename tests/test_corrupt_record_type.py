"""A corrupt-record column that is not a nullable string: Spark refuses the read (``INVALID_CORRUPT_RECORD_TYPE``),
so must ppml-enc (issue 20, part 4b). Spark's reader on the plaintext is the oracle for every schema here: both
fail, or both return the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.kms.local import LocalKms

pytest.importorskip("pyspark.sql.datasource")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

DATA = {"csv": b"1,x\nnot-a-number,y\n3,z\n", "json": b'{"a": 1}\n{"a": "oops"\n{"a": 3}\n'}

SCHEMAS = [
    "a INT, _corrupt_record INT",
    "a INT, _corrupt_record STRING",
    "a INT, _CORRUPT_RECORD INT",  # another case: not the corrupt-record column, an ordinary one
    "a INT, bad BIGINT",  # named by the option below
]


def _outcome(read: Any) -> tuple[str, Any]:
    try:
        return "rows", sorted((tuple(r) for r in read().collect()), key=repr)
    except Exception as exc:
        return "error", ("INVALID_CORRUPT_RECORD_TYPE" in str(exc) or "must have the nullable STRING" in str(exc))


def test_not_null_schema_refused_by_name(spark: Any, tmp_path: Path) -> None:
    """Spark's file readers make ``STRING NOT NULL`` nullable (its answer: rows with a nullable column); ppml-enc
    cannot relax a given schema, so it refuses it by name instead of failing the job on the first null."""
    plain = tmp_path / "data.csv"
    plain.write_bytes(DATA["csv"])
    key = tmp_path / "k.key"
    filecrypt.encrypt_path(str(plain), str(tmp_path / "enc" / plain.name), LocalKms.create(key))
    assert spark.read.schema("a INT NOT NULL, b STRING").csv(str(plain)).schema["a"].nullable  # Spark relaxes it
    from pyspark.sql.types import ArrayType, IntegerType, StructField, StructType

    elements = StructType([StructField("a", IntegerType()), StructField("b", ArrayType(IntegerType(), False))])
    cases = (("a INT NOT NULL, b STRING", "column a is"), (elements, r"column b \(its elements\) is"))
    for schema, where in cases:
        reader = spark.read.format("ppml-enc").options(format="json", kms="local", primaryKey=str(key))
        with pytest.raises(Exception, match=f"schema: {where}.*declared NOT NULL"):
            reader.schema(schema).load(str(tmp_path / "enc")).collect()


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("schema", SCHEMAS)
def test_corrupt_record_column_type_as_spark(spark: Any, tmp_path: Path, fmt: str, schema: str) -> None:
    plain = tmp_path / f"data.{fmt}"
    plain.write_bytes(DATA[fmt])
    key = tmp_path / "k.key"
    filecrypt.encrypt_path(str(plain), str(tmp_path / "enc" / plain.name), LocalKms.create(key))
    options = {"mode": "PERMISSIVE"}
    if "bad" in schema:
        options["columnNameOfCorruptRecord"] = "bad"
    spark_side = _outcome(lambda: spark.read.format(fmt).options(**options).schema(schema).load(str(plain)))
    ours = _outcome(
        lambda: spark.read.format("ppml-enc")
        .options(**options, format=fmt, kms="local", primaryKey=str(key))
        .schema(schema)
        .load(str(tmp_path / "enc"))
    )
    assert ours == spark_side, (schema, fmt, spark_side, ours)
