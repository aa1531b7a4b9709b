"""TPC-H SF 0.01, 22 queries through the native path (codec-decrypted tbl and PME Parquet) against DuckDB's
answers over the same official (tpchgen-cli = dbgen) data. In CI the codec path runs the queries that read
every table (the decryption under test is per table; the other queries differ in Spark's SQL only); all 22 with
--run-slow. The PME path, PPMLContext's default, runs all 22 always. The Spark jobs run in the child session
tests/shim_session.py shares with test_shim_codec.py, test_shim_guard.py and test_shim_pme.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.tpch import datagen, reference, verify
from bigdl_ppml_az.tpch.reference import ResultSet
from test_shim_codec import shim_jar  # noqa: F401  (the jar fixture)

SF = 0.01
CODEC_CI_QUERIES = [1, 2, 5, 13, 18]  # together: all eight tables (lineitem, orders, customer, part, partsupp...)


def _results(directory: Path) -> dict[int, ResultSet]:
    return {int(p.stem[1:]): ResultSet.from_csv(p.read_bytes()) for p in sorted(directory.glob("q*.csv"))}


def tpch_section(base: Path, config: pytest.Config) -> Any:
    """This module's data and jobs for the shared child session (tests/shim_session.py), which runs them last;
    None without duckdb (the test skips)."""
    if importlib.util.find_spec("duckdb") is None:
        return None
    from shim_session import Section

    codec_queries = None if config.getoption("--run-slow") else CODEC_CI_QUERIES
    plain, encrypted, pme_dir = base / "plain", base / "encrypted", base / "pme"
    datagen.generate(SF, str(plain), "tbl")
    key = base / "keys" / "primary.key"
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
        {"id": "pme", "op": "tpch", "path": str(pme_dir), "fmt": "parquet", "kms": kms, "out": str(base / "r_pme")},
        {
            "id": "codec",
            "op": "tpch",
            "path": str(encrypted),
            "fmt": "tbl",
            "kms": kms,
            "out": str(base / "r_codec"),
            "queries": codec_queries,
        },
    ]
    return Section("tpch", "codec", jobs, conf={"spark.driver.memory": "2g"}, context=(base, codec_queries))


def test_tpch_22_queries_native_path(
    shim_jar: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest  # noqa: F811
) -> None:
    """The queries ran (last) in the child session shared with test_shim_codec, _guard and _pme."""
    pytest.importorskip("duckdb")
    from shim_session import shim_session

    shared = shim_session(request, shim_jar, tmp_path_factory)
    base, codec_queries = shared.sections["tpch"].context
    results = shared.results["tpch"]
    plain, pme_dir = base / "plain", base / "pme"
    for job in ("pme_write", "pme", "codec"):
        assert results[job]["ok"], results[job]
    assert "FileScan csv" in results["codec"]["plan"]  # Spark's own CSV reader, not a Python source
    assert "FileScan parquet" in results["pme"]["plan"]
    blob = next((pme_dir / "lineitem").glob("*.parquet")).read_bytes()
    assert blob[-4:] == b"PARE"
    expected = reference.reference_answers(str(plain), "tbl", "plain_text")
    for label, asked in (("r_codec", codec_queries), ("r_pme", None)):
        ours = _results(base / label)
        assert sorted(ours) == (asked or list(range(1, 23)))
        failed = [str(c) for c in verify.compare_all(ours, expected) if not c.passed]
        assert not failed, (label, failed)
