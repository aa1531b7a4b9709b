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
    with pytest.raises(ConfigError, match=rf"option {name}=.*multiLine=true"):
        ReadSettings.from_options(
            {"format": "csv", "multiline": "true", name.lower(): value, "cryptomode": "plain_text"}
        )
