"""ppml-enc reads what Spark's CSV reader reads: generated files and a corpus of the classes issue 11 lists.

Every example is written as plaintext, encrypted (ppml-gcm, as ``ppml-az encrypt`` does), read by
``spark.read.csv`` on the plaintext (the oracle) and by ppml-enc on the ciphertext; schemas (names, types,
nullability) and rows (in order: one file, one partition) must be equal, or both reads must fail.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.kms.local import LocalKms
from fidelity_support import (
    Case,
    csv_cases,
    encrypt_all,
    generate,
    load_corpus,
    ppml_in_process,
    spark_oracle,
    spark_ppml,
    write_cases,
)

CORPUS = Path(__file__).parent / "fidelity" / "corpus"
CI_CASES = int(os.environ.get("PPML_AZ_FIDELITY_CASES", "120"))  # ~0.3 s each (Spark's reader is the cost)
SLOW_CASES = 2000


def differences(spark: Any, cases: list[Case], root: Path, through_spark: bool = False) -> list[str]:
    key = root / "primary.key"
    kms = LocalKms.create(key)
    dirs = write_cases(cases, root)
    enc = encrypt_all(kms, root)
    found = []
    for case, plain in zip(cases, dirs, strict=True):
        theirs = spark_oracle(spark, case, plain)
        ours = (spark_ppml if through_spark else _in_process)(spark, case, enc / plain.name, key)
        if theirs != ours:
            found.append(f"{case.to_json()}: spark {theirs} != ppml-enc {ours}")
    return found


def _in_process(spark: Any, case: Case, path: Path, key: Path) -> Any:
    return ppml_in_process(case, path, key)


def test_corpus_has_the_issue_classes() -> None:
    names = {p.stem for p in CORPUS.glob("*.json")}
    for name in ("blank_line_before_header", "whitespace_only_lines", "one_line_no_newline_infer",
                 "quotes_inside_unquoted", "backslash_outside_quotes", "quoted_newline_line_mode",
                 "null_value_quoted", "multi_char_sep", "unknown_mode", "comment"):  # fmt: skip
        assert name in names


def test_corpus_matches_spark(spark: Any, tmp_path: Path) -> None:
    cases = load_corpus(CORPUS)
    assert len(cases) >= 20
    assert differences(spark, cases, tmp_path) == []


def test_corpus_matches_spark_through_the_data_source(spark: Any, tmp_path: Path) -> None:
    """The same corpus through spark.read.format("ppml-enc") (Python workers), not only the in-process reader."""
    import bigdl_ppml_az

    bigdl_ppml_az.register(spark)
    cases = [c for c in load_corpus(CORPUS) if c.data.strip(b"\xef\xbb\xbf \t\r\n")]  # Spark: no empty schemas
    assert differences(spark, cases, tmp_path, through_spark=True) == []


def test_generated_csv_matches_spark(spark: Any, tmp_path: Path) -> None:
    cases = generate(csv_cases(), CI_CASES, seed=11)
    assert len(cases) >= CI_CASES * 0.8
    assert differences(spark, cases, tmp_path) == []


@pytest.mark.slow
def test_generated_csv_matches_spark_long(spark: Any, tmp_path: Path) -> None:
    cases = generate(csv_cases(), SLOW_CASES, seed=20261201)
    assert differences(spark, cases, tmp_path) == []
