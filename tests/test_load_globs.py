"""Load paths with glob characters (issue 20, part 4a): Spark's reader on the plaintext tree is the oracle, ppml-enc
on the encrypted mirror (same names) must return the same rows or fail as Spark does. Every file holds one line:
its own name, so the rows say which files a pattern picked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.storage import LocalFileSystem, has_glob
from bigdl_ppml_az.storage.globs import component_regex, expand_slash_braces

pytest.importorskip("pyspark.sql.datasource")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

NAMES = [
    "a1.csv", "a2.csv", "b1.csv", "ab.csv", "x00-1.csv", "x{00-1}.csv", "[x].csv", "c,d.csv", "p+q.csv",
    "sub/a1.csv", "sub/deep/a3.csv", "other/b2.csv",
]  # fmt: skip

PATTERNS = [
    "*.csv", "{a{1,2},b1}.csv", "x{00-1}.csv", "x\\{00-1\\}.csv", "[!a]1.csv", "{sub/a1,b1}.csv", "\\[x\\].csv",
    "s*/{a1,deep/a3}.csv", "nomatch*.csv", "a[1.csv", "a\\1.csv",
    *(pytest.param(p, marks=pytest.mark.slow) for p in (  # more of the same rules: --run-slow
        "a?.csv", "{a,b}1.csv", "[ab]1.csv", "[^a]1.csv", "[a-b]?.csv", "c,d.csv", "p+q.csv", "*/a1.csv",
        "*/*.csv", "a\\*.csv", "{a,b.csv", "a\\?.csv",
    )),
]  # fmt: skip


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("globs")
    plain, enc, key = root / "plain", root / "enc", root / "k.key"
    for name in NAMES:
        (plain / name).parent.mkdir(parents=True, exist_ok=True)
        (plain / name).write_text(name.replace(",", "_") + "\n")
    filecrypt.encrypt_path(str(plain), str(enc), LocalKms.create(key))
    assert sorted(p.relative_to(enc).as_posix() for p in enc.rglob("*.csv")) == sorted(NAMES)
    return plain, enc, key


def _outcome(read: Any) -> tuple[str, Any]:
    try:
        return "rows", sorted(r[0] for r in read().collect())
    except Exception as exc:
        text = str(exc)
        return "error", "PATH_NOT_FOUND" in text or "matched no files" in text or "no such file" in text


@pytest.mark.parametrize("pattern", PATTERNS)
def test_glob_paths_as_spark(spark: Any, trees: tuple[Path, Path, Path], pattern: str) -> None:
    plain, enc, key = trees
    spark_side = _outcome(lambda: spark.read.schema("v STRING").csv(f"{plain}/{pattern}"))
    ours = _outcome(
        lambda: spark.read.format("ppml-enc")
        .options(format="csv", kms="local", primaryKey=str(key))
        .schema("v STRING")
        .load(f"{enc}/{pattern}")
    )
    assert ours == spark_side, (pattern, spark_side, ours)


def test_glob_rules_without_spark(tmp_path: Path) -> None:
    """The translation itself: Spark's glob test, brace expansion across '/', escapes, classes."""
    assert has_glob("a\\b") and has_glob("x{1}") and not has_glob("plain/name.csv")
    assert expand_slash_braces("r/{a/b,c}/{d,e}.csv") == ["r/a/b/{d,e}.csv", "r/c/{d,e}.csv"]
    assert component_regex("name.csv") is None and component_regex("x\\{1\\}") is None
    regex = component_regex("{a,b}[!0-4]?.c*")
    assert regex is not None and regex.fullmatch("a5x.csv") and not regex.fullmatch("a3x.csv")
    for name in ["b1.csv", "x00-1.csv"]:
        (tmp_path / name).write_text("x")
    fs = LocalFileSystem()
    assert fs.glob(f"{tmp_path}/x{{00-1}}.csv") == [f"{tmp_path}/x00-1.csv"]
    assert fs.glob(f"{tmp_path}/{{b,c}}1.csv") == [f"{tmp_path}/b1.csv"]
