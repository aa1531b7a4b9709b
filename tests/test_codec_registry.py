"""One generic suite over every registered crypto mode (``formats.all_codecs()``): a new mode gets it for free.

Round trips through each codec's own writer and reader (sizes around unit boundaries), detection of its own
output and of no other codec's, alias resolution, unit layouts that tile the plaintext exactly, ``describe``
without key bytes, tamper rejection by authenticated codecs, and the "one unit per mode" property: no module
outside ``formats/`` compares crypto-mode names.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import os
import pickle
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import bigdl_ppml_az
from bigdl_ppml_az import formats
from bigdl_ppml_az.errors import IntegrityError, PpmlError, RegistryError, UnknownFormatError
from bigdl_ppml_az.formats import (
    BIGDL_COMPAT,
    DEFAULT_COMPAT,
    KEY_BESIDE,
    KEY_IN_FOOTER,
    KEY_IN_HEADER,
    KEY_NONE,
    Codec,
    DataKey,
    ObjectInfo,
    UnauthenticatedWarning,
    all_codecs,
    codec_for,
    iter_plaintext,
    normalize_mode,
    open_reader,
    probe,
)
from bigdl_ppml_az.formats import codec as codec_module
from bigdl_ppml_az.kms import WrappedKey, generate_data_key
from bigdl_ppml_az.kms.local import LocalKms
from registry_contract import check_generic_registry, check_live_registry

CODECS = all_codecs()
BYTE_CODECS = [c for c in CODECS if c.wraps_bytes]
PARQUET_CODECS = [c for c in CODECS if not c.wraps_bytes]
SEGMENT = 4096  # smallest ppml-gcm segment: many units from small files
UNIT = 64  # CBC/plaintext reader unit for the tests: four blocks
GCM_FIRST = SEGMENT - 40 - 16  # plaintext bytes in the first ppml-gcm segment, then SEGMENT - 16 each


def name_of(codec: Codec) -> str:
    return codec.name


@pytest.fixture(scope="module")
def kms(tmp_path_factory: pytest.TempPathFactory) -> LocalKms:
    return LocalKms.create(tmp_path_factory.mktemp("codecs") / "primary.key")


@pytest.fixture(scope="module")
def keys(kms: LocalKms) -> dict[str, tuple[DataKey, WrappedKey]]:
    """One data key per codec, wrapped with the profile that codec's writer asks the KMS for."""
    out = {}
    for codec in CODECS:
        material, wrapped = generate_data_key(kms, compat=codec.key_compat)
        out[codec.name] = (DataKey(material), wrapped)
    return out


def _native_cbc(key: DataKey, plaintext: bytes) -> bytes:
    """BigDL nativeaescbc (IV | AES-CBC-PKCS5 under the Base64-decoded key string), written as BigDL does."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(base64.b64decode(key.as_bigdl_string())), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(padder.update(plaintext) + padder.finalize()) + encryptor.finalize()


# Read-only byte codecs have no production writer: the test writes their layout independently.
EXTERNAL_WRITERS: dict[str, Callable[[DataKey, bytes], bytes]] = {
    "nativeaescbc": _native_cbc,
    "plain_text": lambda key, plaintext: plaintext,
}


def write_sample(codec: Codec, plaintext: bytes, keys: dict[str, tuple[DataKey, WrappedKey]]) -> bytes:
    key, wrapped = keys[codec.name]
    if codec.writable:
        sink = io.BytesIO()
        writer = codec.open_writer(sink, key, wrapped, segment_size=SEGMENT, content_type="csv")
        for start in range(0, len(plaintext), 1000):  # several writes: chunking must not matter
            writer.write(plaintext[start : start + 1000])
        writer.close()
        assert writer.bytes_in == len(plaintext) and writer.bytes_out == len(sink.getvalue())
        return sink.getvalue()
    assert codec.name in EXTERNAL_WRITERS, f"{codec.name} is read-only: add a test writer to EXTERNAL_WRITERS"
    return EXTERNAL_WRITERS[codec.name](key, plaintext)


def probe_sample(codec: Codec, blob: bytes, name: str = "sample") -> ObjectInfo:
    if not codec.reads_head:
        return codec.probe(None, len(blob), name)
    info = probe(io.BytesIO(blob), len(blob), name, "auto" if codec.detectable else codec.name)
    assert info.codec is codec
    return info


def read_back(codec: Codec, blob: bytes, key: DataKey, unit_size: int = UNIT) -> bytes:
    info = probe_sample(codec, blob)
    with pytest.warns(UnauthenticatedWarning) if not codec.authenticated and codec.encrypted else _no_warning():
        reader = open_reader(info, io.BytesIO(blob), key, name="sample", unit_size=unit_size)
    return b"".join(iter_plaintext(reader, "sample"))


class _no_warning:  # noqa: N801 - used like pytest.warns
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def sizes_for(codec: Codec) -> list[int]:
    """Sizes at and around unit boundaries for this codec, plus random ones."""
    boundaries = [0, 1, 15, 16, 17, UNIT - 1, UNIT, UNIT + 1, 3 * UNIT, 3 * UNIT + 16]
    if codec.has_segment_size:
        boundaries += [GCM_FIRST - 1, GCM_FIRST, GCM_FIRST + 1, GCM_FIRST + SEGMENT - 16, GCM_FIRST + 2 * SEGMENT]
    rng = random.Random(f"{codec.name}-sizes")
    return sorted(set(boundaries + [rng.randrange(1, 5 * SEGMENT) for _ in range(4)]))


def plaintext_of(size: int) -> bytes:
    return random.Random(size).randbytes(size)


# ---------------------------------------------------------------------------------------------- flags


@pytest.mark.parametrize("codec", CODECS, ids=name_of)
def test_flags_are_consistent(codec: Codec) -> None:
    assert codec.key_compat in (DEFAULT_COMPAT, BIGDL_COMPAT)
    assert codec.key_reference in (KEY_IN_HEADER, KEY_BESIDE, KEY_IN_FOOTER, KEY_NONE)
    assert (codec.key_reference == KEY_NONE) == (not codec.encrypted)
    assert codec.title and codec.name == normalize_mode(codec.name)
    if codec.content_formats is not None:
        assert set(codec.content_formats) <= {"csv", "json", "text", "parquet"}
    if not codec.wraps_bytes:  # encrypted inside the content format: the Parquet code does the work
        assert codec.content_formats == ("parquet",) and codec.key_reference == KEY_IN_FOOTER
        with pytest.raises(UnknownFormatError, match="cannot decrypt"):
            open_reader(codec.probe(None, 100, "x"), io.BytesIO(b""), None, name="x")
    if codec.whole_file_mac:
        assert codec.authenticated and not codec.splittable


# ---------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("codec", BYTE_CODECS, ids=name_of)
def test_round_trip_at_unit_boundaries(codec: Codec, keys: dict[str, tuple[DataKey, WrappedKey]]) -> None:
    key, _ = keys[codec.name]
    for size in sizes_for(codec):
        plaintext = plaintext_of(size)
        blob = write_sample(codec, plaintext, keys)
        assert read_back(codec, blob, key) == plaintext, f"{codec.name}, {size} bytes"
        if codec.encrypted and size >= 64:
            assert plaintext[:64] not in blob


@pytest.mark.parametrize("codec", PARQUET_CODECS, ids=name_of)
def test_parquet_codecs_round_trip_through_pyarrow(codec: Codec, kms: LocalKms, tmp_path: Path) -> None:
    table = pa.table({"id": list(range(500)), "name": [f"secret-{i}" for i in range(500)]})
    blob = _pme_file(codec, table, kms)
    assert b"secret-1" not in blob
    assert rows_of_pme(blob, kms) == table.to_pylist()


def _pme_options(kms: LocalKms) -> dict[str, str]:
    return {"kms": "local", "primaryKeyPath": kms.source}


def _pme_file(codec: Codec, table: pa.Table, kms: LocalKms) -> bytes:
    from bigdl_ppml_az.datasource import pme

    sink = io.BytesIO()
    with pme.new_writer(pa.PythonFile(sink, mode="w"), table.schema, _pme_options(kms), codec.name) as writer:
        writer.write_table(table, row_group_size=100)
    return sink.getvalue()


def rows_of_pme(blob: bytes, kms: LocalKms) -> list[dict[str, Any]]:
    from bigdl_ppml_az.datasource import pme

    file = pme.open_file(io.BytesIO(blob), len(blob), "sample.parquet", _pme_options(kms))
    rows: list[dict[str, Any]] = []
    for batch in pme.iter_batches("sample.parquet", iter(file.iter_batches())):  # maps pyarrow's errors
        rows += batch.to_pylist()
    return rows


def sample_of(codec: Codec, keys: dict[str, tuple[DataKey, WrappedKey]], kms: LocalKms) -> bytes:
    if codec.wraps_bytes:
        return write_sample(codec, plaintext_of(3 * SEGMENT), keys)
    return _pme_file(codec, pa.table({"id": list(range(50))}), kms)


# ---------------------------------------------------------------------------------------------- detection


@pytest.mark.parametrize("codec", CODECS, ids=name_of)
def test_detect_claims_own_output_and_nobody_else_does(
    codec: Codec, keys: dict[str, tuple[DataKey, WrappedKey]], kms: LocalKms
) -> None:
    head = sample_of(codec, keys, kms)[: formats.HEAD_SIZE]
    if codec.detectable:
        assert codec.detect(head)
        found = formats.detect(head)
        assert found is not None and type(found) is type(codec)  # PME's two modes share one footer magic
    else:
        assert not codec.detect(head) and formats.detect(head) is None
    others = [o.name for o in CODECS if type(o) is not type(codec) and o.detect(head)]
    assert others == []


# ---------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("codec", CODECS, ids=name_of)
def test_names_and_aliases_resolve_case_insensitively(codec: Codec) -> None:
    for spelling in (codec.name, *codec.aliases):
        for variant in (spelling, spelling.upper(), f"  {spelling.title()} "):
            assert codec_for(variant) is codec
            assert normalize_mode(variant) == codec.name


@pytest.mark.parametrize(
    "bigdl_name,canonical",
    [
        ("AES/CBC/PKCS5Padding", "aes/cbc/pkcs5padding"),
        ("nativeAesCbc", "nativeaescbc"),
        ("PLAIN_TEXT", "plain_text"),
        ("AES_GCM_V1", "aes_gcm_v1"),
        ("AES_GCM_CTR_V1", "aes_gcm_ctr_v1"),
    ],
)
def test_bigdl_names_resolve(bigdl_name: str, canonical: str) -> None:
    assert codec_for(bigdl_name).name == canonical


@pytest.mark.parametrize("bad", ["AES/GCM/NoPadding", "ppml-gcm2", "auto"])
def test_unknown_names_list_the_known_ones(bad: str) -> None:
    with pytest.raises(UnknownFormatError) as err:
        codec_for(bad)
    for codec in CODECS:
        assert codec.name in str(err.value)


def test_a_name_cannot_be_registered_twice() -> None:
    class Impostor(Codec):
        name = "impostor-mode"
        title = "impostor"
        aliases = ("COMMON",)  # taken by aes/cbc/pkcs5padding

    with pytest.raises(RegistryError, match="'COMMON' is already registered for crypto mode 'aes/cbc/pkcs5padding'"):
        formats.register(Impostor())
    with pytest.raises(UnknownFormatError):
        codec_for("impostor-mode")

    class Auto(Impostor):
        name = "AUTO"
        aliases = ()

    with pytest.raises(RegistryError, match="'AUTO' is reserved"):
        formats.register(Auto())


def test_the_codec_registry_keeps_the_registry_contract() -> None:
    check_live_registry(codec_module.REGISTRY, UnknownFormatError)


def test_the_generic_registry_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    check_generic_registry(monkeypatch)


# ---------------------------------------------------------------------------------------------- layout


@pytest.mark.parametrize("codec", BYTE_CODECS, ids=name_of)
@pytest.mark.parametrize("max_partition_bytes", [16, 100, 2 * SEGMENT, 128 << 20])
def test_unit_layout_tiles_the_plaintext(
    codec: Codec, max_partition_bytes: int, keys: dict[str, tuple[DataKey, WrappedKey]]
) -> None:
    key, _ = keys[codec.name]
    for size in sizes_for(codec):
        plaintext = plaintext_of(size)
        blob = write_sample(codec, plaintext, keys)
        info = probe_sample(codec, blob)
        layout = codec.unit_layout(info, max_partition_bytes)
        assert layout.starts[0] == 0 and list(layout.starts) == sorted(set(layout.starts))
        assert 1 <= layout.per_split <= layout.count
        if not codec.splittable:
            assert layout.per_split == layout.count
        with pytest.warns(UnauthenticatedWarning) if not codec.authenticated and codec.encrypted else _no_warning():
            reader = open_reader(info, io.BytesIO(blob), key, unit_size=layout.unit_size)
        assert reader.unit_count == layout.count
        ends = [*layout.starts[1:], size]
        pieces = []
        for unit, (start, end) in enumerate(zip(layout.starts, ends, strict=True)):
            assert reader.plaintext_start(unit) == start
            piece = b"".join(iter_plaintext(reader, "sample", unit, unit + 1))
            assert piece == plaintext[start:end], f"{codec.name}, {size} bytes, unit {unit}"
            pieces.append(piece)
        assert b"".join(pieces) == plaintext


# ---------------------------------------------------------------------------------------------- describe


@pytest.mark.parametrize("codec", CODECS, ids=name_of)
def test_describe_never_contains_key_bytes(
    codec: Codec, keys: dict[str, tuple[DataKey, WrappedKey]], kms: LocalKms
) -> None:
    key, wrapped = keys[codec.name]
    blob = sample_of(codec, keys, kms)
    info = probe_sample(codec, blob)
    described = info.describe()
    copy = pickle.loads(pickle.dumps(info))  # ObjectInfo travels in every split: small, codec by name only
    assert copy == info and copy.codec is codec and len(pickle.dumps(info)) < 2048
    assert described["format"] == codec.name
    assert described.get("authenticated", False) is False  # a header was read, nothing checked: never claimed
    text = repr(info) + json.dumps(described, default=str) + repr(key)
    secrets = [key.material, wrapped.ciphertext]
    for secret in secrets:
        for form in (base64.b64encode(secret).decode(), secret.hex(), repr(secret)[2:40]):
            assert form not in text
    assert key.as_bigdl_string() not in text


# ---------------------------------------------------------------------------------------------- tampering


@pytest.mark.parametrize("codec", [c for c in BYTE_CODECS if c.authenticated], ids=name_of)
def test_authenticated_codecs_reject_a_flipped_byte(codec: Codec, keys: dict[str, tuple[DataKey, WrappedKey]]) -> None:
    key, _ = keys[codec.name]
    blob = write_sample(codec, plaintext_of(3 * SEGMENT), keys)
    header = len(probe_sample(codec, blob).head)
    for offset in (header + 50, len(blob) // 2, len(blob) - 1):
        damaged = bytearray(blob)
        damaged[offset] ^= 0x01
        with pytest.raises(IntegrityError, match="sample: "):
            read_back(codec, bytes(damaged), key)


@pytest.mark.parametrize("codec", PARQUET_CODECS, ids=name_of)
def test_parquet_codecs_reject_a_flipped_byte(codec: Codec, kms: LocalKms) -> None:
    assert codec.authenticated
    blob = _pme_file(codec, pa.table({"id": list(range(500)), "name": ["x" * 20] * 500}), kms)
    damaged = bytearray(blob)
    damaged[len(blob) // 3] ^= 0x01  # inside the column pages
    with pytest.raises(PpmlError):
        rows_of_pme(bytes(damaged), kms)


# ---------------------------------------------------------------------------------------------- one unit per mode

PACKAGE = Path(bigdl_ppml_az.__file__).parent
MODE_CONSTANTS = {
    *("PPML_GCM", "COMMON", "NATIVE", "PLAIN", "AES_GCM_V1", "AES_GCM_CTR_V1"),
    *("PME_MODES", "WRITABLE_MODES", "DEFAULT_WRITE_MODE"),
}


def _mode_spellings() -> set[str]:
    return {s.lower() for c in CODECS for s in (c.name, *c.aliases)}


def _names_a_mode(node: ast.AST, spellings: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in MODE_CONSTANTS
    if isinstance(node, ast.Attribute):
        return node.attr in MODE_CONSTANTS
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.strip().lower() in spellings
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_names_a_mode(e, spellings) for e in node.elts)
    if isinstance(node, ast.Starred):
        return _names_a_mode(node.value, spellings)
    return False


def mode_comparisons(source: str, filename: str = "<src>") -> list[str]:
    """``x == PPML_GCM``, ``mode in (COMMON, NATIVE)``, ``mode != "plain_text"``...: every comparison naming
    a crypto mode, as ``file:line``."""
    spellings = _mode_spellings()
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Compare) and any(_names_a_mode(n, spellings) for n in (node.left, *node.comparators)):
            found.append(f"{filename}:{node.lineno}")
    return found


def test_the_comparison_finder_finds_comparisons() -> None:
    snippet = (
        "if info.mode == PPML_GCM: pass\n"
        "if mode in (formats.COMMON, NATIVE): pass\n"
        "if mode != 'Plain_Text': pass\n"
        "if settings.crypto_mode in PME_MODES: pass\n"
        "if x == 'PERMISSIVE' or codec.encrypted: pass\n"
    )
    assert mode_comparisons(snippet) == ["<src>:1", "<src>:2", "<src>:3", "<src>:4"]


def test_no_module_outside_formats_compares_crypto_modes() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "formats":
            continue
        offenders += mode_comparisons(path.read_text(encoding="utf-8"), str(relative))
    assert offenders == [], "dispatch through formats.codec_for(...) attributes instead of comparing mode names"
