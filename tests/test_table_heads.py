"""Table head stores (rollback anchors): registry, the local JSON file, and Key Vault secrets through the real
azure-keyvault-secrets SecretClient against the HTTPS Key Vault emulator. No Spark."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import pickle
import re
import secrets
import ssl
import stat
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from azure.keyvault.secrets import SecretClient

from bigdl_ppml_az.errors import ConfigError, IntegrityError, KmsError, StorageError
from bigdl_ppml_az.kms.azure import EMULATOR_TOKEN, client_kwargs, credential_for
from bigdl_ppml_az.table import heads
from bigdl_ppml_az.table.heads import (
    ENTRY_POINT_GROUP,
    TableHead,
    check_table_id,
    head_store_for,
    head_store_option_names,
    known_stores,
    normalize_store_type,
    register_store,
    store_class_for,
)
from bigdl_ppml_az.table.heads.azure import KeyVaultHeadStore, secret_name
from bigdl_ppml_az.table.heads.local import MAX_HEAD_FILE, LocalHeadStore
from kv_emulator import KeyVaultEmulator
from registry_contract import check_live_registry

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keyvault"
BAD_IDS = [
    "",
    "0" * 31,
    "0" * 33,
    "A" * 32,  # uppercase
    "g" * 32,
    "../../../../etc/passwd" + "0" * 10,
    "0" * 31 + "\n",
    "0" * 32 + "\n",
    " " + "0" * 31,
    123,
    None,
]


def table_id() -> str:
    return secrets.token_hex(16)


def head(version: int, tag: str = "") -> TableHead:
    return TableHead(version, hashlib.sha256(f"manifest {version} {tag}".encode()).hexdigest())


# ---- values and registry ---------------------------------------------------------------------------------------


def test_table_head_values_are_checked() -> None:
    assert head(3).label.startswith("version 3 (sha ") and len(head(3).manifest_sha256) == 64
    for version in (-1, True, 1.0, "1"):
        with pytest.raises(ValueError, match="version"):
            TableHead(version, head(1).manifest_sha256)  # type: ignore[arg-type]
    for sha in ("", head(1).manifest_sha256.upper(), head(1).manifest_sha256[:-1], "z" * 64):
        with pytest.raises(ValueError, match="manifest_sha256"):
            TableHead(1, sha)


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_table_ids_are_refused(bad: object) -> None:
    with pytest.raises(IntegrityError, match="not 32 lowercase hex characters"):
        check_table_id(bad)
    with pytest.raises(IntegrityError, match="not 32 lowercase hex characters"):
        secret_name(bad)  # type: ignore[arg-type]
    good = table_id()
    assert check_table_id(good) == good and secret_name(good) == f"ppml-table-{good}"


def test_registry_names_and_aliases() -> None:
    for name in ("local", "LOCAL", " file ", "File"):
        assert normalize_store_type(name) == "local"
        assert store_class_for(name) is LocalHeadStore
    for name in ("azure-keyvault", "Azure", "keyvault", "AKV"):
        assert normalize_store_type(name) == "azure-keyvault"
        assert store_class_for(name) is KeyVaultHeadStore
    listed = known_stores()
    assert "local (file)" in listed and "azure-keyvault (akv, azure, keyvault)" in listed
    names = head_store_option_names()
    assert {"tableheadstore", "tableheadpath", "tableheadvault", "vault", "credential"} <= names


def test_the_store_registry_keeps_the_registry_contract() -> None:
    check_live_registry(heads.REGISTRY, ConfigError)


def test_unknown_store_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        head_store_for({"tableHeadStore": "etcd"})
    message = str(info.value)
    assert message.startswith("option tableHeadStore=etcd: unknown head store; use none or one of: ")
    assert "local (file)" in message and "azure-keyvault" in message and ENTRY_POINT_GROUP in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "given", [{}, {"tableHeadStore": ""}, {"TABLEHEADSTORE": "None"}, {"tableheadstore": " none "}]
)
def test_no_store_when_off(given: dict[str, str]) -> None:
    assert head_store_for(given) is None


def test_options_are_read_in_any_case(tmp_path: Path) -> None:
    store = head_store_for({"TableHeadStore": "FILE", "TABLEHEADPATH": str(tmp_path / "heads.json")})
    assert isinstance(store, LocalHeadStore) and store.path == tmp_path / "heads.json"
    assert store.store_type == "local" and str(tmp_path / "heads.json") in store.describe()


def test_local_store_needs_a_local_path() -> None:
    with pytest.raises(ConfigError, match="needs option tableHeadPath"):
        head_store_for({"tableHeadStore": "local"})
    with pytest.raises(ConfigError, match="tableHeadPath=abfss://c@a.dfs.core.windows.net/h.json: not a local"):
        head_store_for({"tableHeadStore": "local", "tableHeadPath": "abfss://c@a.dfs.core.windows.net/h.json"})


class _MemoryStore:
    """A plug-in store: registered without any entry point."""

    store_type = "test-memory"
    aliases = ("test-mem",)
    option_names = ("testMemoryName",)
    tables: dict[str, dict[str, TableHead]] = {}

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def from_options(cls, options: Any) -> _MemoryStore:
        return cls(heads.option(options, "testMemoryName") or "default")

    def get(self, table_id: str) -> TableHead | None:
        return self.tables.get(self.name, {}).get(check_table_id(table_id))

    def advance(self, table_id: str, new: TableHead, *, expected: TableHead | None) -> None:
        heads.check_advance(table_id, self.get(table_id), new, expected, self.describe())
        self.tables.setdefault(self.name, {})[table_id] = new

    def describe(self) -> str:
        return f"memory {self.name}"


def test_plugin_registered_without_entry_point() -> None:
    register_store(_MemoryStore)
    store = head_store_for({"tableHeadStore": "TEST-MEM", "testMemoryName": "a"})
    assert isinstance(store, _MemoryStore) and store.name == "a"
    tid = table_id()
    store.advance(tid, head(1), expected=None)
    with pytest.raises(IntegrityError, match=f"table {tid}: head store memory a holds version 1"):
        store.advance(tid, head(1, "other"), expected=None)
    assert "testmemoryname" in head_store_option_names()


def test_name_clashes_are_refused_whole() -> None:
    class Clash(_MemoryStore):
        store_type = "test-clash"
        aliases = ("test-clash-alias", "akv")

    with pytest.raises(ConfigError, match="'akv' is already registered for head store 'azure-keyvault'"):
        register_store(Clash)
    with pytest.raises(ConfigError, match="unknown head store"):  # nothing of the clashing class was registered
        normalize_store_type("test-clash")

    class Reserved(_MemoryStore):
        store_type = "test-reserved"
        aliases = ("none",)

    with pytest.raises(ConfigError, match="reserved"):
        register_store(Reserved)

    class Incomplete:
        store_type = "test-incomplete"

    with pytest.raises(ConfigError, match=r"has no from_options\(\)"):
        register_store(Incomplete)


def test_entry_point_plugins_load_and_broken_ones_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    class EntryStore(_MemoryStore):
        store_type = "test-entry"
        aliases = ()

    def broken() -> None:
        raise ImportError("No module named 'etcd3'")

    entries = [
        SimpleNamespace(name="test-entry", value="pkg.mod:EntryStore", load=lambda: EntryStore),
        SimpleNamespace(name="test-broken", value="pkg.etcd:Store", load=broken),
    ]
    seen: list[str] = []

    def fake_entry_points(group: str) -> list[SimpleNamespace]:
        seen.append(group)
        return entries

    from bigdl_ppml_az import _registry

    monkeypatch.setattr(_registry, "metadata", SimpleNamespace(entry_points=fake_entry_points))
    heads.refresh_plugins()
    try:
        assert store_class_for("test-entry") is EntryStore
        assert seen == [ENTRY_POINT_GROUP]
        with pytest.raises(
            ConfigError, match=r"test-broken: the plug-in failed to load \(pkg\.etcd:Store: ImportError"
        ):
            normalize_store_type("test-broken")
    finally:
        monkeypatch.undo()
        heads.refresh_plugins()


# ---- local store -------------------------------------------------------------------------------------------------


def test_local_create_get_advance(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dirs" / "heads.json"
    store = LocalHeadStore(path)
    first, other = table_id(), table_id()
    assert store.get(first) is None
    assert not path.exists()  # a read creates nothing
    store.advance(first, head(1), expected=None)
    store.advance(other, head(7), expected=None)
    store.advance(first, head(2), expected=head(1))
    assert store.get(first) == head(2) and store.get(other) == head(7)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.with_name("heads.json.lock").stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "tables": {
            first: {"version": 2, "manifestSha256": head(2).manifest_sha256},
            other: {"version": 7, "manifestSha256": head(7).manifest_sha256},
        }
    }
    assert sorted(p.name for p in path.parent.iterdir()) == ["heads.json", "heads.json.lock"]  # no temp files left
    assert LocalHeadStore(path).get(first) == head(2)  # another instance (another process) reads the same


def test_local_refuses_equal_older_and_sideways(tmp_path: Path) -> None:
    store = LocalHeadStore(tmp_path / "heads.json")
    tid = table_id()
    store.advance(tid, head(1), expected=None)
    store.advance(tid, head(2), expected=head(1))
    for attempt in (head(2), head(2, "fork"), head(1)):
        with pytest.raises(IntegrityError) as info:
            store.advance(tid, attempt, expected=None)
        message = str(info.value)
        assert message.startswith(f"table {tid}: head store local file {tmp_path / 'heads.json'} holds version 2 ")
        assert f"this commit's version {attempt.version} " in message and "\n" not in message
    assert store.get(tid) == head(2)


def test_local_refuses_when_expected_differs(tmp_path: Path) -> None:
    store = LocalHeadStore(tmp_path / "heads.json")
    tid = table_id()
    store.advance(tid, head(1), expected=None)
    store.advance(tid, head(2), expected=head(1))
    with pytest.raises(IntegrityError) as info:
        store.advance(tid, head(3), expected=head(1))  # a writer that started from version 1
    message = str(info.value)
    assert message.startswith(f"table {tid}: head store local file ")
    assert f"holds version 2 (sha {head(2).manifest_sha256[:12]}...), this commit expected version 1 " in message
    assert message.endswith("another writer committed in between, or the table was rolled back")
    with pytest.raises(IntegrityError, match="this commit expected version 2"):
        store.advance(tid, head(3), expected=head(2, "fork"))  # same version, other manifest
    new = table_id()
    with pytest.raises(IntegrityError, match=f"table {new}: .* holds no version, this commit expected version 1"):
        store.advance(new, head(2), expected=head(1))
    assert store.get(tid) == head(2) and store.get(new) is None


def _race(path: str, ids: list[str], tag: str, barrier: Any, results: Any) -> None:
    """Child process: advance every table from version 1 to 2, racing the other child; report the wins."""
    store = LocalHeadStore(path)
    won = []
    barrier.wait()
    for tid in ids:
        try:
            store.advance(tid, head(2, tag), expected=head(1))
            won.append(tid)
        except IntegrityError:
            pass
    results.put((tag, won))


def test_two_processes_racing_never_both_win_nor_lose_an_update(tmp_path: Path) -> None:
    path = tmp_path / "heads.json"
    ids = [table_id() for _ in range(60)]
    path.write_text(json.dumps({"tables": {t: head(1).to_json() for t in ids}}))
    context = multiprocessing.get_context("spawn")  # no fork of a process with emulator threads
    barrier, results = context.Barrier(2), context.Queue()
    children = [context.Process(target=_race, args=(str(path), ids, tag, barrier, results)) for tag in "ab"]
    for child in children:
        child.start()
    wins = dict(results.get(timeout=120) for _ in children)
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert set(wins["a"]).isdisjoint(wins["b"])  # never both
    assert sorted(wins["a"] + wins["b"]) == sorted(ids)  # exactly one per table
    store = LocalHeadStore(path)
    for tid in ids:  # and the file holds every winner's head: no update was lost
        assert store.get(tid) == head(2, "a" if tid in wins["a"] else "b")


def test_symlinked_head_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    tid = table_id()
    LocalHeadStore(real).advance(tid, head(5), expected=None)
    before = real.read_bytes()
    link = tmp_path / "heads.json"
    link.symlink_to(real)
    store = LocalHeadStore(link)
    with pytest.raises(StorageError, match=f"^{re.escape(str(link))}: table head file is a symbolic link; refused"):
        store.get(tid)
    with pytest.raises(StorageError, match="symbolic link"):
        store.advance(tid, head(6), expected=head(5))
    assert link.is_symlink() and real.read_bytes() == before


def test_oversized_and_irregular_head_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(MAX_HEAD_FILE + 1)  # sparse: nothing is written
    with pytest.raises(StorageError, match=f"{MAX_HEAD_FILE + 1} bytes, larger than the {MAX_HEAD_FILE}-byte limit"):
        LocalHeadStore(big).get(table_id())
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(StorageError, match="not a regular file"):  # and the open did not block
        LocalHeadStore(fifo).get(table_id())
    with pytest.raises(StorageError, match="not a regular file"):
        LocalHeadStore(tmp_path).get(table_id())


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"tables": []}',
        b"[" * 100 + b"]" * 100,
    ],
)
def test_damaged_head_file_is_an_integrity_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "heads.json"
    path.write_bytes(content)
    with pytest.raises(IntegrityError, match=f"^{re.escape(str(path))}: "):
        LocalHeadStore(path).get(table_id())


@pytest.mark.parametrize(
    "entry",
    [
        {"version": "2", "manifestSha256": "0" * 64},
        {"version": True, "manifestSha256": "0" * 64},
        {"version": 2, "manifestSha256": "0" * 63},
        {"version": 2},
        {"version": 2, "manifestSha256": "0" * 64, "extra": 1},
        [2, "0" * 64],
    ],
)
def test_damaged_entry_names_file_and_table(tmp_path: Path, entry: object) -> None:
    path, tid = tmp_path / "heads.json", table_id()
    path.write_text(json.dumps({"tables": {tid: entry}}))
    with pytest.raises(IntegrityError, match=f"^{re.escape(str(path))}: table {tid}: not a table head"):
        LocalHeadStore(path).get(tid)
    with pytest.raises(IntegrityError, match="not a table head"):
        LocalHeadStore(path).advance(tid, head(3), expected=None)


@pytest.mark.parametrize("bad", BAD_IDS)
def test_local_store_refuses_bad_table_ids(tmp_path: Path, bad: object) -> None:
    store = LocalHeadStore(tmp_path / "heads.json")
    with pytest.raises(IntegrityError, match="not 32 lowercase hex"):
        store.get(bad)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError, match="not 32 lowercase hex"):
        store.advance(bad, head(1), expected=None)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# ---- Key Vault store ------------------------------------------------------------------------------------------


def kv_store(kv: KeyVaultEmulator, **extra: str) -> KeyVaultHeadStore:
    store = head_store_for(kv.options(tableHeadStore="azure-keyvault", **extra))
    assert isinstance(store, KeyVaultHeadStore)
    return store


def secret_client(kv: KeyVaultEmulator) -> SecretClient:
    """An independent client, as an administrator (or an attacker with vault access) would use."""
    options = kv.options()
    credential, _ = credential_for(options, kv.url)
    return SecretClient(kv.url, credential, **client_kwargs(options))


def test_keyvault_store_options() -> None:
    with pytest.raises(ConfigError, match="needs option tableHeadVault"):
        head_store_for({"tableHeadStore": "akv"})
    store = head_store_for({"tableHeadStore": "akv", "VAULT": "kv1", "tableHeadVault": "Heads-KV"})
    assert isinstance(store, KeyVaultHeadStore) and store.vault_url == "https://heads-kv.vault.azure.net"
    assert store.describe() == "Key Vault https://heads-kv.vault.azure.net (secrets ppml-table-<table id>)"
    with pytest.raises(ConfigError, match="kmsTimeout must be a number"):
        head_store_for({"tableHeadStore": "akv", "vault": "kv1", "kmsTimeout": "soon"})
    secret_store = head_store_for({"tableHeadStore": "akv", "vault": "kv1", "fs.azure.account.key.a": "c2VjcmV0"})
    assert b"c2VjcmV0" not in pickle.dumps(secret_store)  # only the store's own options travel


def test_keyvault_get_advance_and_stored_secret(kv: KeyVaultEmulator) -> None:
    store, tid = kv_store(kv), table_id()
    assert store.get(tid) is None
    store.advance(tid, head(1), expected=None)
    store.advance(tid, head(2), expected=head(1))
    assert store.get(tid) == head(2)
    assert kv.calls["setSecret"] == 2 and kv.calls["getSecret"] == 4  # each advance reads first
    secret = secret_client(kv).get_secret(f"ppml-table-{tid}")
    assert secret.properties.content_type == "application/json"
    assert json.loads(secret.value or "") == {"version": 2, "manifestSha256": head(2).manifest_sha256}
    assert len(kv.secrets[f"ppml-table-{tid}"]) == 2  # Key Vault keeps the history as secret versions
    restored = pickle.loads(pickle.dumps(store))  # after use: the client is not pickled, rebuilt on demand
    assert restored.vault_url == store.vault_url and restored.get(tid) == head(2)


def test_keyvault_refuses_older_and_unexpected(kv: KeyVaultEmulator) -> None:
    store, tid = kv_store(kv), table_id()
    store.advance(tid, head(1), expected=None)
    store.advance(tid, head(2), expected=head(1))
    writes = kv.calls["setSecret"]
    with pytest.raises(IntegrityError, match=f"table {tid}: head store Key Vault {kv.url} .* holds version 2 "):
        store.advance(tid, head(1), expected=None)
    with pytest.raises(IntegrityError, match="holds version 2 .*, this commit expected version 1 "):
        store.advance(tid, head(3), expected=head(1))
    assert kv.calls["setSecret"] == writes and store.get(tid) == head(2)


def test_table_head_vault_wins_over_vault(kv: KeyVaultEmulator) -> None:
    store, tid = kv_store(kv, vault="https://127.0.0.1:9", tableHeadVault=kv.url), table_id()
    assert store.vault_url == kv.url
    store.advance(tid, head(1), expected=None)
    assert f"ppml-table-{tid}" in kv.secrets


def test_keyvault_throttling_is_retried(kv: KeyVaultEmulator) -> None:
    store, tid = kv_store(kv), table_id()
    kv.inject(retry_after="0")
    kv.fail_next(429)
    assert store.get(tid) is None  # 429, then the answer
    assert kv.faults[429] == 1 and kv.calls["getSecret"] == 2
    kv.fail_next(429, 503)  # the read inside advance: throttled, unavailable, then answered
    store.advance(tid, head(1), expected=None)
    assert kv.calls["getSecret"] == 5 and kv.calls["setSecret"] == 1 and kv.faults[503] == 1
    kv.inject(rate=1.0, statuses=(429,), ops={"setSecret"}, retry_after="0")
    with pytest.raises(KmsError) as info:  # the write is retried too, then given up in one line
        kv_store(kv, kmsRetryTotal="2").advance(tid, head(2), expected=head(1))
    assert kv.calls["setSecret"] == 1 + 3
    assert str(info.value) == (
        f"Key Vault {kv.url}: set of secret ppml-table-{tid} failed with HTTP 429 (Throttled), retries included"
    )
    kv.inject(retry_after="0")
    kv.fail_next(429)
    store.advance(tid, head(2), expected=head(1))
    assert store.get(tid) == head(2)


@pytest.mark.parametrize(("denied", "operation"), [("getSecret", "get"), ("setSecret", "set")])
def test_keyvault_forbidden_names_vault_and_secret(kv: KeyVaultEmulator, denied: str, operation: str) -> None:
    store, tid = kv_store(kv), table_id()
    kv.deny(denied)
    with pytest.raises(KmsError) as info:
        store.advance(tid, head(1), expected=None)
    message = str(info.value)
    assert message.startswith(f"permission denied to {operation} secret ppml-table-{tid} in Key Vault {kv.url} ")
    assert "grant the identity secrets get and set" in message
    assert "\n" not in message and EMULATOR_TOKEN not in message and "Bearer" not in message
    assert kv.calls[denied] == 1  # a 403 is not retried


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "",
        "[" * 200 + "]" * 200,
        '{"version": -1, "manifestSha256": "' + "0" * 64 + '"}',
        '{"version": 3, "manifestSha256": "' + "0" * 64 + '", "extra": true}',
        '{"version": 3, "manifestSha256": "sha"}',
        '"x' + "0" * 70000 + '"',
    ],
)
def test_keyvault_tampered_secret_is_an_integrity_error(kv: KeyVaultEmulator, value: str) -> None:
    store, tid = kv_store(kv), table_id()
    store.advance(tid, head(1), expected=None)
    secret_client(kv).set_secret(f"ppml-table-{tid}", value)
    with pytest.raises(IntegrityError) as info:
        store.get(tid)
    message = str(info.value)
    assert message.startswith(f"Key Vault secret {kv.url}/secrets/ppml-table-{tid}")
    assert "not a table head" in message or "nests deeper" in message
    assert "\n" not in message and (not value or value[:20] not in message)  # the value itself is never shown
    writes = kv.calls["setSecret"]
    with pytest.raises(IntegrityError, match=f"secrets/ppml-table-{tid}"):
        store.advance(tid, head(2), expected=head(1))
    assert kv.calls["setSecret"] == writes  # nothing was written over the damaged head


def test_keyvault_unreachable_vault_is_one_line(kv: KeyVaultEmulator) -> None:
    store = kv_store(kv, tableHeadVault="https://127.0.0.1:9", kmsRetryTotal="0", kmsTimeout="2")
    with pytest.raises(KmsError) as info:
        store.get(table_id())
    message = str(info.value)
    assert message.startswith("cannot reach Key Vault https://127.0.0.1:9 to get secret ppml-table-")
    assert "\n" not in message


# ---- the emulator's secrets API -----------------------------------------------------------------------------------


def _raw(kv: KeyVaultEmulator, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One authenticated REST call, without the SDK: the emulator's response body as JSON."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{kv.url}{path}?api-version=7.4", data=data, method=method)
    request.add_header("Authorization", f"Bearer {EMULATOR_TOKEN}")
    request.add_header("Content-Type", "application/json")
    context = ssl.create_default_context(cafile=str(kv.ca_path))
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        return dict(json.loads(response.read()))


def _shape(body: dict[str, Any]) -> dict[str, Any]:
    return {key: sorted(value) if isinstance(value, dict) else None for key, value in body.items()}


def test_emulator_secret_bodies_have_the_published_keys(kv: KeyVaultEmulator) -> None:
    """The emulator answers the published examples' requests with bodies of the same keys (tests/fixtures)."""
    set_example = json.loads((FIXTURES / "SetSecret-example.json").read_text())
    name = set_example["parameters"]["secret-name"] + "-" + secrets.token_hex(4)
    created = _raw(kv, "PUT", f"/secrets/{name}", set_example["parameters"]["parameters"])
    assert _shape(created) == _shape(set_example["responses"]["200"]["body"])
    assert created["value"] == set_example["parameters"]["parameters"]["value"]
    version = created["id"].rsplit("/", 1)[1]
    assert created["id"] == f"{kv.url}/secrets/{name}/{version}" and len(version) == 32

    get_example = json.loads((FIXTURES / "GetSecret-example.json").read_text())
    fetched = _raw(kv, "GET", f"/secrets/{name}/{version}")
    assert _shape(fetched) == _shape(get_example["responses"]["200"]["body"])
    assert fetched == created


def test_emulator_secret_versions_list_delete_and_not_found(kv: KeyVaultEmulator) -> None:
    client = secret_client(kv)
    prefix = "emu-" + secrets.token_hex(4)
    first = client.set_secret(f"{prefix}-a", "one", content_type="text/plain", tags={"k": "v"})
    second = client.set_secret(f"{prefix}-a", "two")
    client.set_secret(f"{prefix}-b", "x")
    client.set_secret(f"{prefix}-c", "y")
    assert client.get_secret(f"{prefix}-a").value == "two"
    old = client.get_secret(f"{prefix}-a", first.properties.version)
    assert old.value == "one" and old.properties.content_type == "text/plain" and old.properties.tags == {"k": "v"}
    assert second.properties.version != first.properties.version
    listed = [p for p in client.list_properties_of_secrets(max_page_size=2) if (p.name or "").startswith(prefix)]
    assert [p.name for p in listed] == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]  # across pages
    assert kv.calls["listSecrets"] >= 2

    poller = client.begin_delete_secret(f"{prefix}-b", _polling_interval=0)
    poller.wait()  # polls GET /deletedsecrets/{name} until it answers
    deleted = poller.result()
    assert deleted.recovery_id == f"{kv.url}/deletedsecrets/{prefix}-b" and kv.calls["getDeletedSecret"] >= 1
    from azure.core.exceptions import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError) as info:
        client.get_secret(f"{prefix}-b")
    assert info.value.error is not None and info.value.error.code == "SecretNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.get_secret(f"{prefix}-a", "0" * 32)
