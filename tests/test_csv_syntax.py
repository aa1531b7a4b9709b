"""CSV syntax pyarrow cannot take (non-ASCII or longer sep/quote/escape): read by the exact reader, as Spark reads
it; refused by name where only pyarrow's reader would run (multiLine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.datasource.options import ReadSettings
from bigdl_ppml_az.errors import ConfigError
from bigdl_ppml_az.kms.local import LocalKms
from fidelity_support import Case, encrypt_all, ppml_in_process, spark_oracle, write_cases

CASES = [
    Case("a§b§c\n1§x y§2.5\n3§§4\n".encode(), {"sep": "§", "header": "true", "inferSchema": "true"}),
    Case("a,b\n«x,y»,2\n«q»,3\n".encode(), {"quote": "«", "header": "true"}),
    Case('a,b\n"x¤"y",2\n'.encode(), {"escape": "¤", "header": "true"}),
    Case(b"k||v\n1||2\n", {"sep": "||", "header": "true", "inferSchema": "true"}),
]


def test_non_ascii_syntax_matches_spark(spark: Any, tmp_path: Path) -> None:
    key = tmp_path / "primary.key"
    LocalKms.create(key)
    dirs = write_cases(CASES, tmp_path)
    enc = encrypt_all(LocalKms.load(key), tmp_path)
    for case, plain in zip(CASES, dirs, strict=True):
        theirs = spark_oracle(spark, case, plain)
        assert not str(theirs).startswith("error"), theirs  # Spark reads these
        assert ppml_in_process(case, enc / plain.name, key) == theirs, case.options


@pytest.mark.parametrize("name,value", [("sep", "§"), ("quote", "«"), ("escape", "¤"), ("sep", "||")])
def test_multiline_refuses_syntax_pyarrow_cannot_take(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"option multiLine=true: {name}="):
        ReadSettings.from_options(
            {"format": "csv", "multiline": "true", name.lower(): value, "cryptomode": "plain_text"}
        )


@pytest.mark.parametrize(
    "chunk,padded",
    [(b"a, 1\n", True), (b"a,1 \n", True), (b' 1,b\n', True), (b'x,"1 "\n', True), (b"a,-2.5e3 \n", True),
     (b"a, .5\n", True), (b"a,x 1\n", False), (b"a,1\n", False),
     (b"1|2|nal foxes wake. |\n", False)],  # TPC-H comments end in ". ": not a number, keep the fast path
)  # fmt: skip
def test_padded_number_check_looks_at_whole_fields(chunk: bytes, padded: bool) -> None:
    """Only a whole field that is a number with blanks around it leaves pyarrow's fast path (pyarrow would
    take ``" 1"`` as 1, Java refuses it); text ending in a digit or dot does not (it sent every TPC-H lineitem
    chunk to the per-value path: 13x slower)."""
    from bigdl_ppml_az.datasource.sparkrules import numbers as sparknum

    assert sparknum.padded_field(chunk, "|" if b"|" in chunk else ",") is padded


def test_decimals_take_the_vector_cast_and_round_like_spark() -> None:
    import pyarrow as pa

    from bigdl_ppml_az.datasource.sparkrules import numbers as sparknum

    target = pa.decimal128(5, 2)
    values = pa.array(["1.5", "-2", "123.45", None, "1.005", "99999", " 1"])
    got = sparknum.convert(values, target)
    assert got is not None
    assert [str(v) if v is not None else None for v in got.to_pylist()] == [
        "1.50", "-2.00", "123.45", None, "1.01", None, None,  # HALF_UP; beyond precision and padded: null
    ]  # fmt: skip
