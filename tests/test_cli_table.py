"""``ppml-az table verify`` / ``ppml-az table seal`` and what ``ppml-az inspect`` claims, through the CLI entry
point (``cli.main``), on tables written by ``ppml-enc`` and on ``ppml-az encrypt`` output directories.

Each failure test asserts exit code 1 and one error line naming the file; each would pass silently if the
check it targets were missing (a header-only check, no listing check, no MAC, no head store, no refusal).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bigdl_ppml_az.cli import main
from bigdl_ppml_az.kms import KmsSettings, pme_client
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.storage import LocalFileSystem
from bigdl_ppml_az.table.integrity import commitment_of
from test_datasource_support import kms_options, ppml_read

SCHEMA = "id INT, tag STRING"


@pytest.fixture()
def key(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "primary.key"
    LocalKms.create(path)
    return path


def kms_flags(key: Path) -> list[str]:
    return ["--kms", "local", "--primary-key", str(key)]


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def failed(capsys: pytest.CaptureFixture[str], *args: object) -> str:
    """The one error line of a command that must fail with exit code 1."""
    code, out, err = cli(capsys, *args)
    assert code == 1, out + err
    errors = [line for line in err.splitlines() if line.startswith("ppml-az: error: ")]
    assert len(errors) == 1, err
    return errors[0]


def save(
    spark: Any,
    key: Path,
    path: Path,
    rows: int,
    mode: str = "overwrite",
    parts: int = 3,
    fmt: str = "csv",
    **extra: str,
) -> None:
    df = spark.createDataFrame([(i, f"t{i}") for i in range(rows)], SCHEMA).repartition(parts)
    writer = df.write.format("ppml-enc").mode(mode)
    for name, value in kms_options(key, format=fmt, **extra).items():
        writer = writer.option(name, value)
    writer.save(str(path))


def parts_of(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(("_", ".")))


def manifest_of(path: Path) -> dict[str, Any]:
    return json.loads((path / "_SUCCESS").read_text())


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def encrypted_tree(capsys: pytest.CaptureFixture[str], key: Path, root: Path, *extra: str) -> Path:
    """A plaintext CSV tree (no header lines) encrypted by ``ppml-az encrypt``: no manifest at all."""
    plain = root / "plain"
    plain.mkdir(parents=True)
    (plain / "a.csv").write_text("".join(f"{i},a{i}\n" for i in range(3000)))
    (plain / "b.csv").write_text("".join(f"{i},b{i}\n" for i in range(3000, 3010)))
    encrypted = root / "enc"
    code, out, err = cli(capsys, "encrypt", *kms_flags(key), *extra, plain, encrypted)
    assert code == 0, err
    assert not (encrypted / "_SUCCESS").exists()
    return encrypted


# ---------------------------------------------------------------------------------------------- verify


def test_verify_passes_on_a_fresh_table_and_reports_it(
    spark: Any, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t"
    save(spark, key, table, 300)
    manifest = manifest_of(table)
    code, out, err = cli(capsys, "table", "verify", table, *kms_flags(key))
    assert code == 0, err
    assert manifest["table"] in out and "version:    1" in out
    assert f"files:      {len(manifest['files'])} (" in out
    assert f"({sum(p.stat().st_size for p in parts_of(table))} bytes)" in out
    assert "head store: none configured" in out and out.rstrip().endswith("every file authenticated")
    assert str(key.read_bytes().hex()) not in out + err


def test_verify_catches_a_segment_flipped_in_the_middle_of_a_large_part(
    spark: Any, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t"
    save(spark, key, table, 30_000, parts=2, segmentSize="4096")
    part = max(parts_of(table), key=lambda p: p.stat().st_size)
    assert part.stat().st_size > 40 * 4096  # many segments: the middle one is neither the first nor the last
    fs = LocalFileSystem()
    pinned = commitment_of(fs, str(part), "ppml-gcm")
    flip(part, part.stat().st_size // 2)
    assert commitment_of(fs, str(part), "ppml-gcm") == pinned  # the manifest's pin cannot see it: only decryption
    line = failed(capsys, "table", "verify", table, *kms_flags(key))
    assert line.startswith(f"ppml-az: error: {part}: ") and "authentication" in line


def test_verify_catches_a_deleted_part(
    spark: Any, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t"
    save(spark, key, table, 300)
    victim = parts_of(table)[1]
    victim.unlink()
    line = failed(capsys, "table", "verify", table, *kms_flags(key))
    assert line.startswith(f"ppml-az: error: {victim}: ") and "missing" in line


def test_verify_catches_an_extra_file(
    spark: Any, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t"
    save(spark, key, table, 300)
    extra = table / "extra.csv.enc"
    shutil.copy(parts_of(table)[0], extra)  # a genuine file of this very table, under another name
    line = failed(capsys, "table", "verify", table, *kms_flags(key))
    assert line.startswith(f"ppml-az: error: {extra}: ") and "not part of table" in line


def test_verify_catches_a_tampered_manifest(
    spark: Any, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t"
    save(spark, key, table, 300)
    body = manifest_of(table)
    body["version"] = 7  # well formed, names the same files: only the MAC tells
    (table / "_SUCCESS").write_text(json.dumps(body))
    line = failed(capsys, "table", "verify", table, *kms_flags(key))
    assert line.startswith(f"ppml-az: error: {table / '_SUCCESS'}: ") and "does not verify" in line


def test_verify_catches_a_rollback_with_a_local_head_store(
    spark: Any, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table, backup, heads = tmp_path / "t", tmp_path / "backup", tmp_path / "heads" / "tables.json"
    store = {"tableHeadStore": "local", "tableHeadPath": str(heads)}
    flags = [*kms_flags(key), "--head-store", "local", "--head-path", heads]
    save(spark, key, table, 100, **store)
    shutil.copytree(table, backup)
    save(spark, key, table, 20, mode="append", **store)
    code, out, err = cli(capsys, "table", "verify", table, *flags)
    assert code == 0, err
    assert "version:    2" in out and f"head store: local file {heads}: version 2" in out
    shutil.rmtree(table)
    shutil.copytree(backup, table)  # every file and the manifest of version 1 are genuine
    code, out, err = cli(capsys, "table", "verify", table, *kms_flags(key))
    assert code == 0 and "rollback of the whole table is not detected" in err  # without the store: invisible
    line = failed(capsys, "table", "verify", table, *flags)
    assert line.startswith(f"ppml-az: error: {table}: ") and "rolled back" in line
    assert "version 1" in line and "version 2" in line
    line = failed(capsys, "table", "verify", table, *kms_flags(key), "--expect-version", "2")
    assert "expectVersion=2" in line


def test_verify_refuses_an_unsealed_directory(key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    encrypted = encrypted_tree(capsys, key, tmp_path)
    line = failed(capsys, "table", "verify", encrypted, *kms_flags(key))
    assert "not a sealed table" in line and f"ppml-az table seal {encrypted}" in line


def test_verify_authenticates_every_page_of_a_pme_table(
    spark: Any, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t"
    save(spark, key, table, 20_000, parts=1, fmt="parquet", cryptoMode="aes_gcm_v1")
    code, out, err = cli(capsys, "table", "verify", table, *kms_flags(key))
    assert code == 0, err
    assert "parquet-modular-encryption" in out and "every file authenticated" in out
    part = parts_of(table)[0]
    flip(part, part.stat().st_size // 3)  # inside a page: the footer, hence the manifest's pin, is intact
    line = failed(capsys, "table", "verify", table, *kms_flags(key))
    assert line.startswith(f"ppml-az: error: {part}: ") and "authenticate" in line


# ---------------------------------------------------------------------------------------------- seal


def test_seal_an_encrypt_output_then_ppml_enc_reads_it_and_refuses_an_extra_file(
    spark: Any, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    encrypted = encrypted_tree(capsys, key, tmp_path, "--segment-size", "4KiB")
    heads = tmp_path / "heads.json"
    flags = [*kms_flags(key), "--head-store", "local", "--head-path", heads]
    code, out, err = cli(capsys, "table", "seal", encrypted, *flags)
    assert code == 0, err
    manifest = manifest_of(encrypted)
    assert manifest["ppml-az-table"] == 1 and manifest["version"] == 1
    assert sorted(name for name, _, _ in manifest["files"]) == ["a.csv", "b.csv"]
    assert manifest["table"] in out and "sealed table" in out and "files:      2" in out
    assert json.loads(heads.read_text())["tables"][manifest["table"]]["version"] == 1
    assert not (encrypted / "_temporary").exists()
    code, out, err = cli(capsys, "table", "verify", encrypted, *flags)
    assert code == 0 and "every file authenticated" in out, err
    rows = ppml_read(spark, key, schema=SCHEMA).load(str(encrypted)).collect()
    assert sorted(r.id for r in rows) == list(range(3010))
    shutil.copy(encrypted / "b.csv", encrypted / "c.csv")  # same key, genuine ciphertext: only the manifest knows
    with pytest.raises(Exception, match="not part of table"):
        ppml_read(spark, key, schema=SCHEMA).load(str(encrypted)).collect()
    line = failed(capsys, "table", "verify", encrypted, *flags)
    assert line.startswith(f"ppml-az: error: {encrypted / 'c.csv'}: ")


@pytest.mark.parametrize("mode", ["ppml-gcm", "aes/cbc/pkcs5padding"])
def test_sealing_a_tampered_file_fails_and_writes_no_manifest(
    key: Path, tmp_path: Path, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--segment-size", "4KiB"] if mode == "ppml-gcm" else []
    encrypted = encrypted_tree(capsys, key, tmp_path, "--crypto-mode", mode, *extra)
    victim = encrypted / "a.csv"
    flip(victim, victim.stat().st_size // 2)
    line = failed(capsys, "table", "seal", encrypted, *kms_flags(key))
    assert line.startswith(f"ppml-az: error: {victim}: ")
    assert not (encrypted / "_SUCCESS").exists() and not (encrypted / "_temporary").exists()


def test_sealing_a_plaintext_directory_fails(key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.csv").write_text("1,a\n2,b\n")
    pq.write_table(pa.table({"id": [1, 2]}), plain / "b.parquet")
    line = failed(capsys, "table", "seal", plain, *kms_flags(key))
    assert line.startswith(f"ppml-az: error: {plain / 'a.csv'}: plaintext")
    assert not (plain / "_SUCCESS").exists()


def test_sealing_an_already_sealed_table_is_refused(
    spark: Any, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t"
    save(spark, key, table, 300)
    save(spark, key, table, 10, mode="append")
    before = (table / "_SUCCESS").read_bytes()
    line = failed(capsys, "table", "seal", table, *kms_flags(key))
    assert "already sealed, version 2" in line
    assert (table / "_SUCCESS").read_bytes() == before


def test_sealing_refuses_files_of_another_table_and_an_unverified_manifest(
    spark: Any, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table, loose = tmp_path / "t", tmp_path / "loose"
    save(spark, key, table, 300)
    loose.mkdir()
    part = parts_of(table)[0]
    shutil.copy(part, loose / part.name)  # a table's part copied out, its manifest left behind
    line = failed(capsys, "table", "seal", loose, *kms_flags(key))
    assert line.startswith(f"ppml-az: error: {loose / part.name}: ") and manifest_of(table)["table"] in line
    assert not (loose / "_SUCCESS").exists()
    body = manifest_of(table)
    body["version"] = 9
    (table / "_SUCCESS").write_text(json.dumps(body))
    line = failed(capsys, "table", "seal", table, *kms_flags(key))
    assert "does not verify" in line and "--force" in line


def test_seal_honours_a_commit_record(key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    encrypted = encrypted_tree(capsys, key, tmp_path)
    (encrypted / "_SUCCESS").write_text(json.dumps({"ppml-az-commit": 1, "files": ["a.csv"], "replaced": ["b.csv"]}))
    code, out, err = cli(capsys, "table", "seal", encrypted, *kms_flags(key))
    assert code == 0, err
    body = manifest_of(encrypted)
    assert [name for name, _, _ in body["files"]] == ["a.csv"] and body["replaced"] == ["b.csv"]
    assert cli(capsys, "table", "verify", encrypted, *kms_flags(key))[0] == 0


def test_seal_and_verify_a_pme_directory(key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "pme"
    directory.mkdir()
    settings = KmsSettings.from_options({"kms": "local", "primaryKeyPath": str(key)})
    for mode in ("aes_gcm_v1", "aes_gcm_ctr_v1"):
        properties = pme_client.encryption_properties(settings, mode)
        pq.write_table(pa.table({"id": list(range(2000))}), directory / f"{mode}.parquet",
                       encryption_properties=properties)  # fmt: skip
    code, out, err = cli(capsys, "table", "seal", directory, *kms_flags(key))
    assert code == 0, err
    code, out, err = cli(capsys, "table", "verify", directory, *kms_flags(key))
    assert code == 0, err
    assert "every file authenticated" not in out.splitlines()  # the CTR file's page data is not authenticated
    assert "aes_gcm_ctr_v1.parquet" in out


# ---------------------------------------------------------------------------------------------- inspect


def test_inspect_says_what_was_checked(
    spark: Any, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t"
    save(spark, key, table, 300)
    part = parts_of(table)[0]
    code, out, err = cli(capsys, "inspect", part)
    assert code == 0, err
    info = json.loads(out)
    assert "authenticated" not in info and info["checked"] == "header"
    assert "AES-GCM" in str(info["integrity"])
    manifest = manifest_of(table)
    assert info["table"] == manifest["table"] and info["tablePath"] == part.name
    assert info["namedByManifest"] is True and info["manifestVerified"] is False
    assert info["manifestVersion"] == 1 and info["verifyWith"] == f"ppml-az table verify {table}"
    encrypted = encrypted_tree(capsys, key, tmp_path / "cbc", "--crypto-mode", "aes/cbc/pkcs5padding")
    code, out, err = cli(capsys, "inspect", encrypted)
    listing = json.loads(out)
    assert len(listing) == 2
    for item in listing:
        assert "authenticated" not in item and item["checked"] == "header" and "table" not in item
        assert "IV not covered" in str(item["integrity"])


def test_directories_inside_a_sealed_tree_point_to_the_table(
    key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    encrypted = encrypted_tree(capsys, key, tmp_path)
    (encrypted / "sub").mkdir()
    shutil.copy(encrypted / "b.csv", encrypted / "sub" / "c.csv")
    code, out, err = cli(capsys, "table", "seal", encrypted, *kms_flags(key))
    assert code == 0 and "sub/c.csv" in err, err  # reads must start at the root: said once, as a note
    table_id = manifest_of(encrypted)["table"]
    for command in ("verify", "seal"):
        line = failed(capsys, "table", command, encrypted / "sub", *kms_flags(key))
        assert f"inside the table at {encrypted}" in line and f"ppml-az table verify {encrypted}" in line
    assert not (encrypted / "sub" / "_SUCCESS").exists()
    info = json.loads(cli(capsys, "inspect", encrypted / "sub" / "c.csv")[1])
    assert info["table"] == table_id and info["tablePath"] == "sub/c.csv" and info["tableRoot"] == str(encrypted)
    assert info["namedByManifest"] is True and info["manifestVerified"] is False
    outer = tmp_path / "outer"
    outer.mkdir()
    shutil.copytree(encrypted, outer / "t")
    line = failed(capsys, "table", "seal", outer, *kms_flags(key))
    assert line.startswith(f"ppml-az: error: {outer / 't'}: is a table of its own")
