"""ADLS Gen2 (abfss://) storage through the Blob API, against Azurite from npm."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator

import pytest

from azure_fixtures import Azurite
from bigdl_ppml_az.errors import ConfigError
from bigdl_ppml_az.formats import DataKey, iter_plaintext, open_reader, ppml_gcm, probe
from bigdl_ppml_az.storage import StorageError, expand_paths, filesystem_for
from bigdl_ppml_az.storage.azure import AbfsPath, AzureBlobFileSystem, resolve_credential, spark_conf_options


@pytest.fixture()
def fs(azurite: Azurite, container: str) -> Iterator[AzureBlobFileSystem]:
    filesystem = filesystem_for(azurite.url(container), azurite.options())
    assert isinstance(filesystem, AzureBlobFileSystem)
    yield filesystem
    filesystem.block_size, filesystem.read_buffer = 8 << 20, 4 << 20


def _put(fs: AzureBlobFileSystem, path: str, data: bytes) -> None:
    with fs.open_write(path) as handle:
        handle.write(data)


def test_parse_abfs_paths() -> None:
    path = AbfsPath.parse("abfss://data@myacct.dfs.core.windows.net/people/part-0.csv")
    assert (path.container, path.account, path.key, path.endpoint_suffix) == (
        "data",
        "myacct",
        "people/part-0.csv",
        "core.windows.net",
    )
    assert AbfsPath.parse("abfs://c@a.dfs.core.chinacloudapi.cn").endpoint_suffix == "core.chinacloudapi.cn"
    assert AbfsPath.parse("abfss://c@a.dfs.core.windows.net/x/../y/").key == "y"
    with pytest.raises(ConfigError, match="expected abfss://<container>@<account>"):
        AbfsPath.parse("abfss://a.dfs.core.windows.net/x")


def test_credential_sources_follow_abfs_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_ACCOUNT"):
        monkeypatch.delenv(name, raising=False)
    path = AbfsPath.parse("abfss://data@acct.dfs.core.windows.net/x")
    key = resolve_credential(path, {"spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": "c2VjcmV0"})
    assert key.value == {"account_name": "acct", "account_key": "c2VjcmV0"}
    assert key.source == "account key from option spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net"
    sas = resolve_credential(path, {"fs.azure.sas.fixed.token.acct.dfs.core.windows.net": "?sv=1&sig=abc"})
    assert sas.value == "sv=1&sig=abc" and "c2VjcmV0" not in sas.source
    # Spark lower-cases data source option names; an explicit auth type wins over a key that is present
    with pytest.raises(ConfigError, match="auth type SAS needs"):
        resolve_credential(
            path,
            {"fs.azure.account.auth.type": "SAS", "fs.azure.account.key.acct.dfs.core.windows.net": "c2VjcmV0"},
        )
    monkeypatch.setenv("AZURE_STORAGE_KEY", "ZW52")
    assert resolve_credential(path, {}).source == "account key from environment AZURE_STORAGE_KEY"
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "otheraccount")
    assert resolve_credential(path, {}).source.startswith("DefaultAzureCredential")
    conf = {"spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": "k", "spark.app.name": "x"}
    assert spark_conf_options(conf) == {"fs.azure.account.key.acct.dfs.core.windows.net": "k"}


def test_write_read_roundtrip_in_blocks(fs: AzureBlobFileSystem, azurite: Azurite, container: str) -> None:
    fs.block_size = 256 << 10
    data = os.urandom((1 << 20) + 12345)
    path = azurite.url(container, "dir/blob.bin")
    with fs.open_write(path) as handle:
        for start in range(0, len(data), 100_000):
            handle.write(data[start : start + 100_000])
        assert not fs.exists(path)  # nothing visible before the block list is committed
    assert fs.exists(path) and fs.size(path) == len(data)
    assert fs.read_bytes(path) == data
    blocks = azurite.service().get_blob_client(container, "dir/blob.bin").get_block_list()[0]
    assert len(blocks) == 5  # 4 full 256 KiB blocks + the tail
    _put(fs, azurite.url(container, "empty"), b"")
    assert fs.size(azurite.url(container, "empty")) == 0 and fs.read_bytes(azurite.url(container, "empty")) == b""


def test_failed_write_publishes_nothing(fs: AzureBlobFileSystem, azurite: Azurite, container: str) -> None:
    path = azurite.url(container, "partial.bin")
    with pytest.raises(RuntimeError), fs.open_write(path) as handle:
        handle.write(b"x" * 1000)
        raise RuntimeError("writer failed")
    assert not fs.exists(path)


def test_ranged_reads_are_seekable_and_buffered(fs: AzureBlobFileSystem, azurite: Azurite, container: str) -> None:
    fs.read_buffer = 64 << 10
    data = os.urandom(1 << 20)
    path = azurite.url(container, "ranged.bin")
    _put(fs, path, data)
    rng = random.Random(7)
    with fs.open_read(path) as handle:
        assert handle.seekable()
        for _ in range(40):
            offset, length = rng.randrange(len(data)), rng.randrange(1, 100_000)
            handle.seek(offset)
            assert handle.read(length) == data[offset : offset + length]
        handle.seek(-10, io.SEEK_END)
        assert handle.read() == data[-10:]
        handle.seek(0)
        total = b"".join(iter(lambda: handle.read(10_000), b""))
        assert total == data
        raw = handle.raw  # type: ignore[attr-defined]
        requests_before = raw.requests
        handle.seek(4096)
        handle.read(4096)
        assert raw.requests == requests_before + 1  # one ranged GET of one buffer, not the whole blob


def test_read_fails_clearly_when_blob_changes(fs: AzureBlobFileSystem, azurite: Azurite, container: str) -> None:
    fs.read_buffer = 4096
    path = azurite.url(container, "changing.bin")
    _put(fs, path, b"a" * 100_000)
    with fs.open_read(path) as handle:
        handle.read(10)
        _put(fs, path, b"b" * 100_000)
        handle.seek(50_000)
        with pytest.raises(StorageError, match="changed while it was being read"):
            handle.read(10)


def test_listing_globs_and_hidden_files(fs: AzureBlobFileSystem, azurite: Azurite, container: str) -> None:
    for name in ("out/part-0.csv", "out/part-1.csv", "out/sub/part-2.csv", "out/.meta", "out/_SUCCESS",
                 "out/_temporary/0/x.csv", "other/a.json"):  # fmt: skip
        _put(fs, azurite.url(container, name), name.encode())
    listed = [(s.path, s.size) for s in fs.list_files(azurite.url(container, "out"))]
    assert listed == [
        (azurite.url(container, "out/part-0.csv"), len("out/part-0.csv")),
        (azurite.url(container, "out/part-1.csv"), len("out/part-1.csv")),
        (azurite.url(container, "out/sub/part-2.csv"), len("out/sub/part-2.csv")),
    ]
    assert fs.list_files(azurite.url(container, "out/.meta"))[0].size == len("out/.meta")
    assert fs.glob(azurite.url(container, "out/part-*.csv")) == [
        azurite.url(container, "out/part-0.csv"),
        azurite.url(container, "out/part-1.csv"),
    ]
    assert fs.glob(azurite.url(container, "*/a.json")) == [azurite.url(container, "other/a.json")]
    assert fs.is_dir(azurite.url(container, "out")) and not fs.is_dir(azurite.url(container, "out/part-0.csv"))
    assert fs.exists(azurite.url(container, "out")) and not fs.exists(azurite.url(container, "nope"))
    expanded = expand_paths([azurite.url(container, "out/part-*.csv"), azurite.url(container, "other")],
                            azurite.options())  # fmt: skip
    assert [s.path.rsplit("/", 1)[1] for s in expanded] == ["part-0.csv", "part-1.csv", "a.json"]
    with pytest.raises(StorageError, match="no such file or directory"):
        fs.list_files(azurite.url(container, "missing"))


def test_rename_and_delete_trees(fs: AzureBlobFileSystem, azurite: Azurite, container: str) -> None:
    _put(fs, azurite.url(container, "tmp/job/a.bin"), b"A")
    _put(fs, azurite.url(container, "tmp/job/b/c.bin"), b"C")
    fs.rename(azurite.url(container, "tmp/job"), azurite.url(container, "final"))
    assert fs.read_bytes(azurite.url(container, "final/b/c.bin")) == b"C"
    assert not fs.exists(azurite.url(container, "tmp/job"))
    fs.rename(azurite.url(container, "final/a.bin"), azurite.url(container, "final/z.bin"))
    assert [s.path.rsplit("/", 1)[1] for s in fs.list_files(azurite.url(container, "final"))] == ["c.bin", "z.bin"]
    fs.delete(azurite.url(container, "final"))
    fs.delete(azurite.url(container, "never-existed"))
    assert not fs.exists(azurite.url(container, "final"))
    assert fs.join(azurite.url(container, "a"), "b", "c.csv") == azurite.url(container, "a/b/c.csv")


def test_errors_name_path_and_credential_source_never_the_key(azurite: Azurite, container: str) -> None:
    bad_key = "d3JvbmcgYWNjb3VudCBrZXkgZm9yIGF6dXJpdGU="
    options = {
        "azureBlobEndpoint": azurite.endpoint,
        f"fs.azure.account.key.{azurite.host}": bad_key,
    }
    path = azurite.url(container, "x.bin")
    wrong = filesystem_for(path, options)
    with pytest.raises(StorageError) as info:
        wrong.size(path)
    message = str(info.value)
    assert path in message and "access denied" in message
    assert f"account key from option fs.azure.account.key.{azurite.host}" in message
    assert bad_key not in message and azurite.key not in message
    right = filesystem_for(path, azurite.options())
    with pytest.raises(StorageError, match=r"x\.bin: not found"):
        right.open_read(path)
    with pytest.raises(StorageError, match=r"nosuchcontainer@.*not found \(HTTP 404 ContainerNotFound\)"):
        right.list_files(azurite.url("nosuchcontainer", ""))


def test_ppml_gcm_object_streams_from_ranged_reads(fs: AzureBlobFileSystem, azurite: Azurite, container: str) -> None:
    """The formats layer decrypts an object in Azurite by random access (what a split reader does)."""
    data = os.urandom(300_000)
    key = os.urandom(32)
    envelope = ppml_gcm.Envelope(
        kms_type="local", key_id="local:test", wrap_algorithm="AES-256-GCM", wrapped_key=b"w" * 60,
        segment_size=64 << 10,
    )  # fmt: skip
    path = azurite.url(container, "enc/part-0")
    with fs.open_write(path) as sink:
        ppml_gcm.encrypt_stream(io.BytesIO(data), sink, key, envelope)
    size = fs.size(path)
    with fs.open_read(path) as source:
        info = probe(source, size, path)
        reader = open_reader(info, source, DataKey(key), name=path)
        assert reader.unit_count == 5
        tail = b"".join(iter_plaintext(reader, path, first=3))
        assert tail == data[reader.plaintext_start(3) :]


def test_sas_token_and_abfs_scheme(azurite: Azurite, container: str) -> None:
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    expiry = datetime.now(UTC) + timedelta(hours=1)
    writer_sas = generate_container_sas(
        azurite.account, container, account_key=azurite.key,
        permission=ContainerSasPermissions(read=True, write=True, list=True, delete=True), expiry=expiry,
    )  # fmt: skip
    reader_sas = generate_container_sas(
        azurite.account, container, account_key=azurite.key,
        permission=ContainerSasPermissions(read=True, list=True), expiry=expiry,
    )  # fmt: skip
    base = {"azureBlobEndpoint": azurite.endpoint}
    path = f"abfs://{container}@{azurite.host}/sas/data.bin"  # abfs:// (no s) works the same way
    writer = filesystem_for(path, {**base, f"fs.azure.sas.fixed.token.{azurite.host}": writer_sas})
    _put(writer, path, b"through a SAS")  # type: ignore[arg-type]
    reader_options = {**base, "spark.hadoop.fs.azure.sas.fixed.token": "?" + reader_sas}
    reader = filesystem_for(path, reader_options)
    assert reader.read_bytes(path) == b"through a SAS"
    assert [s.path for s in reader.list_files(f"abfs://{container}@{azurite.host}/sas")] == [path]
    with pytest.raises(StorageError) as info:
        _put(reader, path.replace("data", "denied"), b"x")  # type: ignore[arg-type]
    message = str(info.value)
    assert "access denied" in message and "SAS token from option spark.hadoop.fs.azure.sas.fixed.token" in message
    assert reader_sas not in message and "sig=" not in message


def test_no_credential_anywhere_is_a_clear_error(
    azurite: Azurite, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without key/SAS settings the DefaultAzureCredential chain is tried; its failure names the path and source."""
    from azure.identity import CredentialUnavailableError

    class NoToken:
        calls = 0

        def get_token(self, *scopes: str, **kwargs: object) -> None:
            NoToken.calls += 1
            raise CredentialUnavailableError("no identity configured here")

    import bigdl_ppml_az.storage.azure as azure_storage

    no_identity = azure_storage._Credential(NoToken(), "DefaultAzureCredential")
    monkeypatch.setattr(azure_storage, "_token_credential", lambda path, options: no_identity)
    for name in ("AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    https_endpoint = azurite.endpoint.replace("http://", "https://")  # bearer tokens are only sent over TLS
    path = azurite.url(container, "x.bin")
    fs = filesystem_for(path, {"azureBlobEndpoint": https_endpoint, "clientId": "no-token-test"})
    with pytest.raises(StorageError, match=r"x\.bin: could not get a token from DefaultAzureCredential to read"):
        fs.size(path)
    assert NoToken.calls == 1  # not retried with backoff like a transient error (3 retries, 80 s, before)
