"""ppml-enc's CSV output, decrypted, against Spark's CSV writer output for the same DataFrame and options."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.kms.local import LocalKms
from fidelity_support import TOKENS

SCHEMA = "s STRING, t STRING, i INT, b BOOLEAN, d DATE"
ROWS = 500

_text = st.one_of(st.none(), st.sampled_from(TOKENS + ["a\nb", "x\r\ny", "tab\there"]),
                  st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=5))  # fmt: skip
_row = st.tuples(
    _text,
    _text,
    st.one_of(st.none(), st.integers(-(1 << 31), (1 << 31) - 1)),
    st.one_of(st.none(), st.booleans()),
    st.one_of(st.none(), st.dates(datetime.date(1900, 1, 1), datetime.date(2999, 12, 31))),
)


def generated_rows(count: int) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []

    @seed(11)
    @settings(max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_row)
    def collect(row: tuple[Any, ...]) -> None:
        out.append(row)

    collect()
    return out


def _one_file(directory: Path) -> bytes:
    parts = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))
    return b"".join(p.read_bytes() for p in parts)


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"header": "true"}, {"sep": "\t"}])
def test_csv_output_is_spark_output_more_options(spark: Any, tmp_path: Path, options: dict[str, str]) -> None:
    test_csv_output_is_spark_output(spark, tmp_path, options)


@pytest.mark.parametrize("options", [{}, {"sep": ";", "header": "true"}])
def test_csv_output_is_spark_output(spark: Any, tmp_path: Path, options: dict[str, str]) -> None:
    """Byte-identical where Spark's own output is (strings without leading/trailing whitespace, which Spark's
    writer trims by default); the rest must read back identically through Spark's reader."""
    rows = generated_rows(ROWS)
    df = spark.createDataFrame(rows, SCHEMA).coalesce(1)
    df.write.options(**options).mode("overwrite").csv(str(tmp_path / "spark"))
    key = tmp_path / "primary.key"
    kms = LocalKms.create(key)
    writer = df.write.format("ppml-enc").option("kms", "local").option("primaryKeyPath", str(key))
    writer.options(**options).mode("overwrite").save(str(tmp_path / "enc"))
    filecrypt.decrypt_path(str(tmp_path / "enc"), str(tmp_path / "ours"), kms)
    theirs, ours = _one_file(tmp_path / "spark"), _one_file(tmp_path / "ours")
    spark_lines, our_lines = theirs.split(b"\n"), ours.split(b"\n")
    same = sum(a == b for a, b in zip(spark_lines, our_lines, strict=False))
    read = spark.read.schema(SCHEMA).options(**options)
    back_spark = read.csv(str(tmp_path / "spark")).collect()
    back_ours = read.csv(str(tmp_path / "ours")).collect()
    assert back_ours == back_spark
    padded = sum(1 for r in rows for v in r[:2] if isinstance(v, str) and v != v.strip())
    assert same >= len(spark_lines) - 2 * padded - 2, (same, len(spark_lines), padded)
