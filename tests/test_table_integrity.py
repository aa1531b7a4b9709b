"""Issue 18: a storage operator (writes the storage, no KMS access) cannot change a table file by file.

Each test performs one attack through the public interface (``df.write/spark.read.format("ppml-enc")``) on
local storage and asserts that the read fails naming the file (or the manifest); each passed silently before
table manifests (the read returned fewer, foreign or old rows). Azurite and local-cluster variants:
``test_table_integrity_remote.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.kms.local import LocalKms
from test_datasource_support import kms_options, ppml_read

SCHEMA = "id INT, tag STRING"


@pytest.fixture()
def key(tmp_path: Path) -> Path:
    path = tmp_path / "primary.key"
    LocalKms.create(path)
    return path


def save(spark: Any, key: Path, path: Path, ids: range, mode: str = "overwrite", fmt: str = "csv",
         parts: int = 4, **extra: str) -> None:  # fmt: skip
    df = spark.createDataFrame([(i, f"t{i}") for i in ids], SCHEMA).repartition(parts)
    writer = df.write.format("ppml-enc").mode(mode)
    for name, value in kms_options(key, format=fmt, **extra).items():
        writer = writer.option(name, value)
    writer.save(str(path))


def read_ids(spark: Any, key: Path, path: Path, fmt: str = "csv", **extra: str) -> list[int]:
    return sorted(r.id for r in ppml_read(spark, key, fmt=fmt, schema=SCHEMA, **extra).load(str(path)).collect())


def parts_of(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("part-*") if p.is_file())


def fails(spark: Any, key: Path, path: Path, match: str, fmt: str = "csv", **extra: str) -> str:
    with pytest.raises(Exception, match=match) as info:
        read_ids(spark, key, path, fmt=fmt, **extra)
    return str(info.value)


# ------------------------------------------------------------------------------------------ the set of files


def test_a_written_table_reads_back_and_carries_an_authenticated_manifest(spark: Any, key: Path,
                                                                         tmp_path: Path) -> None:  # fmt: skip
    table = tmp_path / "t"
    save(spark, key, table, range(40))
    assert read_ids(spark, key, table) == list(range(40))
    manifest = json.loads((table / "_SUCCESS").read_text())
    assert manifest["ppml-az-table"] == 1 and manifest["version"] == 1 and len(manifest["mac"]) == 64
    assert sorted(name for name, _, _ in manifest["files"]) == sorted(p.name for p in parts_of(table))
    save(spark, key, table, range(40, 50), mode="append")
    again = json.loads((table / "_SUCCESS").read_text())
    assert again["table"] == manifest["table"] and again["version"] == 2 and again["parent"]
    assert read_ids(spark, key, table) == list(range(50))


@pytest.mark.parametrize("edit", ["drop-name", "empty", "delete", "move-to-replaced", "garbage"])
def test_deleting_a_part_with_any_manifest_edit_is_detected(spark: Any, key: Path, tmp_path: Path,
                                                           edit: str) -> None:  # fmt: skip
    table = tmp_path / "t"
    save(spark, key, table, range(40))
    victim = parts_of(table)[0]
    victim.unlink()
    success = table / "_SUCCESS"
    body = json.loads(success.read_text())
    def kept(files: list[Any]) -> list[Any]:  # entries are [name, size, commitment] (names alone before tables)
        return [f for f in files if (f if isinstance(f, str) else f[0]) != victim.name]

    if edit == "drop-name":
        body["files"] = kept(body["files"])
        success.write_text(json.dumps(body))
    elif edit == "move-to-replaced":
        body["files"] = kept(body["files"])
        body["replaced"] = [victim.name]
        success.write_text(json.dumps(body))
    elif edit == "empty":
        success.write_text("")
    elif edit == "delete":
        success.unlink()
    else:
        success.write_text("{not json")
    message = fails(spark, key, table, "does not verify|without that table's authenticated manifest|missing")
    assert str(table) in message


def test_a_part_copied_from_another_table_under_the_same_key_is_refused(spark: Any, key: Path,
                                                                       tmp_path: Path) -> None:  # fmt: skip
    mine, other = tmp_path / "mine", tmp_path / "other"
    save(spark, key, mine, range(40))
    save(spark, key, other, range(1000, 1040))
    foreign = parts_of(other)[0]
    shutil.copy(foreign, mine / "extra.csv.enc")  # as a new name
    assert "extra.csv.enc" in fails(spark, key, mine, "not part of table")
    (mine / "extra.csv.enc").unlink()
    shutil.copy(foreign, mine / foreign.name)  # named like an uncommitted part of a crashed job: never read
    assert read_ids(spark, key, mine) == list(range(40))
    (mine / foreign.name).unlink()
    target = parts_of(mine)[1]
    shutil.copy(foreign, target)  # over an existing part
    message = fails(spark, key, mine, "recorded|was written as")
    assert target.name in message


def test_swapping_two_parts_is_refused(spark: Any, key: Path, tmp_path: Path) -> None:
    table = tmp_path / "t"
    save(spark, key, table, range(400))
    a, b = parts_of(table)[:2]
    tmp = table / "swap"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    fails(spark, key, table, "recorded|was written as")


def test_a_json_part_renamed_into_a_csv_table_is_refused(spark: Any, key: Path, tmp_path: Path) -> None:
    csv_table, json_table = tmp_path / "csv", tmp_path / "json"
    save(spark, key, csv_table, range(40))
    save(spark, key, json_table, range(40), fmt="json")
    victim = parts_of(csv_table)[0]
    shutil.copy(parts_of(json_table)[0], victim)
    fails(spark, key, csv_table, "holds json|recorded|was written as")


def test_a_rolled_back_table_is_refused_with_a_local_head_store(spark: Any, key: Path, tmp_path: Path) -> None:
    table, backup = tmp_path / "t", tmp_path / "backup"
    heads = {"tableHeadStore": "local", "tableHeadPath": str(tmp_path / "heads" / "tables.json")}
    save(spark, key, table, range(40), **heads)
    shutil.copytree(table, backup)
    save(spark, key, table, range(100, 110), **heads)
    assert read_ids(spark, key, table, **heads) == list(range(100, 110))
    shutil.rmtree(table)
    shutil.copytree(backup, table)  # the operator puts the old copy back
    message = fails(spark, key, table, "rolled back", **heads)
    assert "version 1" in message and "version 2" in message
    # without a head store the rollback is not detected (documented); expectVersion pins a version
    assert read_ids(spark, key, table) == list(range(40))
    fails(spark, key, table, "expectVersion=2", expectVersion="2")


def test_a_forged_manifest_listing_an_injected_part_is_refused(spark: Any, key: Path, tmp_path: Path) -> None:
    mine, other = tmp_path / "mine", tmp_path / "other"
    save(spark, key, mine, range(40))
    save(spark, key, other, range(1000, 1040))
    foreign = parts_of(other)[0]
    shutil.copy(foreign, mine / foreign.name)
    success = mine / "_SUCCESS"
    body = json.loads(success.read_text())
    theirs = json.loads((other / "_SUCCESS").read_text())
    body["files"].append(next(f for f in theirs["files"] if f[0] == foreign.name))
    success.write_text(json.dumps(body))
    fails(spark, key, mine, "does not verify")


def test_append_does_not_launder_an_injected_part(spark: Any, key: Path, tmp_path: Path) -> None:
    """An append builds on the verified manifest: a file injected before it stays outside the table."""
    mine, other = tmp_path / "mine", tmp_path / "other"
    save(spark, key, mine, range(40))
    save(spark, key, other, range(1000, 1040))
    foreign = parts_of(other)[0]
    shutil.copy(foreign, mine / "injected.csv.enc")
    save(spark, key, mine, range(40, 45), mode="append")
    fails(spark, key, mine, "not part of table")


def test_single_file_read_inside_its_table(spark: Any, key: Path, tmp_path: Path) -> None:
    table = tmp_path / "t"
    save(spark, key, table, range(40), parts=1)
    part = parts_of(table)[0]
    assert read_ids(spark, key, part) == list(range(40))
    elsewhere = tmp_path / "copy" / part.name
    elsewhere.parent.mkdir()
    shutil.copy(part, elsewhere)  # copied out of its table: no manifest governs it there
    fails(spark, key, elsewhere, "without that table's authenticated manifest")


def test_partitioned_tables_keep_their_behaviour_and_are_bound(spark: Any, key: Path, tmp_path: Path) -> None:
    table = tmp_path / "p"
    df = spark.createDataFrame([(i, f"k{i % 3}") for i in range(60)], SCHEMA)
    (df.write.format("ppml-enc").mode("overwrite").options(**kms_options(key, format="csv"))
     .option("partitionBy", "tag").save(str(table)))  # fmt: skip
    got = ppml_read(spark, key, schema="id INT").load(str(table)).collect()
    assert sorted(r.id for r in got) == list(range(60))
    (df.where("id < 3").write.format("ppml-enc").mode("overwrite").options(**kms_options(key, format="csv"))
     .option("partitionBy", "tag").option("partitionOverwriteMode", "dynamic").save(str(table)))  # fmt: skip
    got = ppml_read(spark, key, schema="id INT").load(str(table)).collect()
    assert sorted(r.id for r in got) == [0, 1, 2]
    a = next(p for p in parts_of(table) if "tag=k0" in str(p))
    b = next(p for p in parts_of(table) if "tag=k1" in str(p))
    shutil.copy(a, b)  # a file moved between partition directories
    with pytest.raises(Exception, match="recorded|was written as"):
        ppml_read(spark, key, schema="id INT").load(str(table)).collect()


@pytest.mark.parametrize("mode", ["aes/cbc/pkcs5padding", "aes_gcm_v1"])
def test_other_layouts_are_pinned_by_the_manifest(spark: Any, key: Path, tmp_path: Path, mode: str) -> None:
    fmt = "parquet" if mode.startswith("aes_gcm") else "csv"
    table = tmp_path / "t"
    save(spark, key, table, range(400), fmt=fmt, cryptoMode=mode)
    assert read_ids(spark, key, table, fmt=fmt, cryptoMode=mode) == list(range(400))
    a, b = parts_of(table)[:2]
    data_a = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(data_a)
    fails(spark, key, table, "recorded|differs", fmt=fmt, cryptoMode=mode)


def test_ppml_context_reads_are_table_checked(spark: Any, key: Path, tmp_path: Path) -> None:
    """BigDL's API (PPMLContext, the ppml-enc path in this session) writes tables and refuses a swapped part."""
    from bigdl_ppml_az.ppml_context import CryptoMode, PPMLContext

    ctx = PPMLContext("t", {"kms_type": "local", "primary_key_material": str(key)}, spark=spark, native=False)
    table = tmp_path / "ctx"
    df = spark.createDataFrame([(i, f"t{i}") for i in range(300)], SCHEMA).repartition(3)
    ctx.write(dataframe=df, crypto_mode=CryptoMode.PPML_GCM).mode("overwrite").option("header", True).csv(str(table))
    back = ctx.read(crypto_mode=CryptoMode.PPML_GCM).option("header", True).schema(SCHEMA).csv(str(table))
    assert sorted(r.id for r in back.collect()) == list(range(300))
    a, b = parts_of(table)[:2]
    data_a = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(data_a)
    with pytest.raises(Exception, match="was written as|recorded"):
        ctx.read(crypto_mode=CryptoMode.PPML_GCM).option("header", True).schema(SCHEMA).csv(str(table)).collect()


def test_append_after_the_manifest_was_garbled_is_refused(spark: Any, key: Path, tmp_path: Path) -> None:
    """With _SUCCESS garbled, an append must not adopt the table's files (or files injected beside them)."""
    mine, other = tmp_path / "mine", tmp_path / "other"
    save(spark, key, mine, range(40))
    save(spark, key, other, range(1000, 1040))
    shutil.copy(parts_of(other)[0], mine / "injected.csv.enc")
    (mine / "_SUCCESS").write_text("{garbled")
    with pytest.raises(Exception, match="no table manifest that verifies"):
        save(spark, key, mine, range(40, 45), mode="append")
