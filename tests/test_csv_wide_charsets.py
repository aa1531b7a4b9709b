"""CSV line mode with ``encoding`` UTF-16/UTF-32: Spark cuts the bytes into lines and decodes each line on its own
with Java's decoder (issue 20, part 4). Two oracles: Java's ``new String(bytes, charset)`` itself (through py4j)
for the per-line decoder, and Spark's CSV reader on the plaintext for whole reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from bigdl_ppml_az.datasource.sparkrules.csv import WIDE_CHARSETS, java_decode_lines
from bigdl_ppml_az.errors import ConfigError
from fidelity_support import Case, differences, generate

pytest.importorskip("pyspark.sql.datasource")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

CORPUS = Path(__file__).parent / "fixtures" / "spark_csv"

# bytes that make the hard parts: BOMs of both orders, surrogates, odd lengths, code points beyond U+10FFFF
_PIECES = [b"\xfe\xff", b"\xff\xfe", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\x00a", b"a\x00", b"\xd8\x00",
           b"\xdc\x00", b"\x00\xd8", b"\x00\xdc", b"\x00\x11\x00\x00", b"\x00", b",", b"\x00,", b"\xe9", b"\x01\x02"]


@st.composite
def _line(draw: Any) -> bytes:
    return b"".join(draw(st.lists(st.sampled_from(_PIECES), max_size=6)))


def test_line_decoder_is_javas(spark: Any) -> None:
    """Every line decodes as ``new String(bytes, charset)`` does, or is refused naming the option."""
    lines = generate(st.builds(lambda b: Case(b), _line()), 400, seed=5)
    jvm = spark.sparkContext._jvm
    compared = 0
    for charset in WIDE_CHARSETS:
        for case in lines:
            java = jvm.java.lang.String(bytearray(case.data), charset.upper())
            try:
                ours = java_decode_lines(case.data, charset, True)
            except ConfigError as exc:
                assert f"option encoding={charset}" in str(exc)
                continue
            assert ours == java, (charset, case.data)
            compared += 1
    assert compared > len(lines) * 2  # most lines are compared, not refused


def test_reads_match_spark(spark: Any, tmp_path: Path, local_key: Path) -> None:
    """Whole reads: Spark's CSV reader on the plaintext vs ppml-enc on the ciphertext (the corpus case
    "encoding in multiLine mode (wrong encoding for the bytes)" among them)."""
    cars = (CORPUS / "cars.csv").read_bytes()
    real = "a,b\r\n1,é\r\nx,\"q,r\"\n".encode("utf-16")
    cases = [Case(cars, {"header": "true", "encoding": "utf-16"}), Case(cars, {"encoding": "utf-16le"}),
             Case(cars, {"encoding": "utf-32"}), Case(real, {"encoding": "utf-16"}),
             Case(real, {"encoding": "utf-16le", "header": "true", "inferSchema": "true"}),
             Case("a,b\n1,2\n".encode("utf-16-be"), {"encoding": "utf-16be", "header": "true"}),
             Case("x,y\n3,4\n".encode("utf-32"), {"encoding": "utf-32", "inferSchema": "true"})]  # fmt: skip
    # Hadoop's line reader drops a UTF-8 byte-order mark's bytes at the file start, whatever the charset
    bom = b"\xef\xbb\xbfa,b\n1,2\n"
    cases += [Case(bom, {"encoding": name}) for name in ("ISO-8859-1", "US-ASCII", "UTF-16", "UTF-32")]
    cases += [Case(b"\xef\xbb\xbf", {"encoding": "UTF-16", "header": "true", "inferSchema": "true"})]
    found, refused = differences(spark, cases, tmp_path, local_key)
    assert found == [], "\n".join(found[:3])
    assert refused == 0


def test_multiline_and_line_sep_refused_by_name() -> None:
    from bigdl_ppml_az.datasource.options import ReadSettings

    with pytest.raises(ConfigError, match="option encoding=UTF-16: .*multiLine=false only"):
        ReadSettings.from_options({"format": "csv", "encoding": "UTF-16", "multiLine": "true"})
    with pytest.raises(ConfigError, match="option lineSep with encoding=utf-32"):
        ReadSettings.from_options({"format": "csv", "encoding": "utf-32", "lineSep": "\n"})
