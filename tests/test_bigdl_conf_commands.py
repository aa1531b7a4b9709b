"""Driver-side commands honour the guide's spark.bigdl.* key settings: ``ppml-az tpch run`` takes its key from
them when no --kms flag is given (flags win), and a setting it cannot honour is an error, not ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az import cli
from bigdl_ppml_az.kms.local import LocalKms


@pytest.fixture()
def tpch_encrypted(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "keys" / "primary.key"
    LocalKms.create(key)
    data, enc = tmp_path / "data", tmp_path / "enc"
    assert cli.main(["tpch", "gen", "--sf", "0.01", "--out", str(data)]) == 0
    assert cli.main(["tpch", "encrypt", str(data), str(enc), "--kms", "local", "--primary-key", str(key)]) == 0
    return key, enc


def test_tpch_run_takes_its_key_from_spark_bigdl_settings(
    spark: Any, tpch_encrypted: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, enc = tpch_encrypted
    run = ["tpch", "run", str(enc), str(tmp_path / "res"), "auto", "plain_text", "6", "--master", "local[2]"]
    assert cli.main(run) == 1  # no --kms and no settings: refused by name
    assert "spark.bigdl.kms" in capsys.readouterr().err
    spark.conf.set("spark.bigdl.kms.type", "local")
    spark.conf.set("spark.bigdl.kms.key.primary", str(key))
    try:
        assert cli.main(run) == 0
        assert "Q06" in capsys.readouterr().out
        assert (tmp_path / "res" / "q06.csv").read_text().strip()
        spark.conf.set("spark.bigdl.kms.type", "EHSMKeyManagementService")  # cannot be honoured: an error
        assert cli.main([*run[:3], str(tmp_path / "res2"), *run[4:]]) == 1
        assert "EHSMKeyManagementService" in capsys.readouterr().err
        # ...even when flags name the key (the conf is still validated), so nothing is silently ignored
        assert cli.main([*run[:3], str(tmp_path / "res3"), *run[4:], "--kms", "local", "--primary-key", str(key)]) == 1
        assert "EHSMKeyManagementService" in capsys.readouterr().err
    finally:
        spark.conf.unset("spark.bigdl.kms.type")
        spark.conf.unset("spark.bigdl.kms.key.primary")
