"""TPC-H SF 0.01, 22 queries through the native path (codec-decrypted tbl and PME Parquet) against DuckDB's
answers over the same official (tpchgen-cli = dbgen) data. In CI the codec path runs the queries that read
every table (the decryption under test is per table; the other queries differ in Spark's SQL only); all 22 with
--run-slow. The PME path, PPMLContext's default, runs all 22 always.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.tpch import datagen, reference, verify
from bigdl_ppml_az.tpch.reference import ResultSet
from test_shim_codec import run_spark, shim_jar  # noqa: F401  (shared child runner and jar fixture)

SF = 0.01
CODEC_CI_QUERIES = [1, 2, 5, 13, 18]  # together: all eight tables (lineitem, orders, customer, part, partsupp...)


def _results(directory: Path) -> dict[int, ResultSet]:
    return {int(p.stem[1:]): ResultSet.from_csv(p.read_bytes()) for p in sorted(directory.glob("q*.csv"))}


def test_tpch_22_queries_native_path(shim_jar: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:  # noqa: F811
    pytest.importorskip("duckdb")
    codec_queries = None if request.config.getoption("--run-slow") else CODEC_CI_QUERIES
    plain, encrypted, pme_dir = tmp_path / "plain", tmp_path / "encrypted", tmp_path / "pme"
    datagen.generate(SF, str(plain), "tbl")
    key = tmp_path / "keys" / "primary.key"
    datagen.encrypt_tables(str(plain), str(encrypted), LocalKms.create(key), "tbl", "ppml-gcm", progress=False)
    kms = {"kms": "local", "primaryKeyPath": str(key)}
    jobs = [
        {
            "id": "pme_write",
            "op": "tpch_pme_write",
            "source": str(plain),
            "out": str(pme_dir),
            "kms": kms,
            "mode": "aes_gcm_ctr_v1",
        },
        {"id": "pme", "op": "tpch", "path": str(pme_dir), "fmt": "parquet", "kms": kms, "out": str(tmp_path / "r_pme")},
        {
            "id": "codec",
            "op": "tpch",
            "path": str(encrypted),
            "fmt": "tbl",
            "kms": kms,
            "out": str(tmp_path / "r_codec"),
            "queries": codec_queries,
        },
    ]
    results, _ = run_spark(shim_jar, tmp_path, jobs, conf={"spark.driver.memory": "2g"})
    for job in ("pme_write", "pme", "codec"):
        assert results[job]["ok"], results[job]
    assert "FileScan csv" in results["codec"]["plan"]  # Spark's own CSV reader, not a Python source
    assert "FileScan parquet" in results["pme"]["plan"]
    blob = next((pme_dir / "lineitem").glob("*.parquet")).read_bytes()
    assert blob[-4:] == b"PARE"
    expected = reference.reference_answers(str(plain), "tbl", "plain_text")
    for label, asked in (("r_codec", codec_queries), ("r_pme", None)):
        ours = _results(tmp_path / label)
        assert sorted(ours) == (asked or list(range(1, 23)))
        failed = [str(c) for c in verify.compare_all(ours, expected) if not c.passed]
        assert not failed, (label, failed)
