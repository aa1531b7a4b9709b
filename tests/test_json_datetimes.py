"""JSON date and timestamp columns of a given schema read as Spark's JSON reader reads them (strings parsed with
Spark's datetime rules; anything else malformed), on the same bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.kms.local import LocalKms
from test_datasource_support import assert_same, encrypt, ppml_read

LINES = [
    '{"d": "2020-01-31", "t": "2020-01-31T10:11:12Z"}',
    '{"d": "2020-1-3", "t": "2020-01-31 10:11:12.345"}',
    '{"d": "2020-01-31T10:11:12", "t": "2020-01-31"}',
    '{"d": "31/01/2020", "t": "not a time"}',
    '{"d": 20200131, "t": 1580465472}',
    '{"d": null, "t": ""}',
    '{"d": "", "t": "2020-01-31T10:11:12+05:30"}',
    '{"t": "2020-02-30T00:00:00"}',
]


@pytest.mark.parametrize("options", [{}, {"dateFormat": "dd/MM/yyyy"}, {"mode": "DROPMALFORMED"},
                                     {"timestampFormat": "yyyy-MM-dd HH:mm:ss.SSS"}])  # fmt: skip
def test_json_dates_and_timestamps_match_spark(spark: Any, tmp_path: Path, local_key: Path,
                                               options: dict[str, str]) -> None:  # fmt: skip
    plain = tmp_path / "plain" / "part.json"
    plain.parent.mkdir()
    plain.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    enc = encrypt(LocalKms.load(local_key), plain.parent, tmp_path / "enc")
    schema = "d DATE, t TIMESTAMP"
    theirs = spark.read.schema(schema).options(**options).json(str(plain.parent))
    ours = ppml_read(spark, local_key, fmt="json", schema=schema, **options).load(str(enc))
    assert_same(ours, theirs)
