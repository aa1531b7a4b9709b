"""Issue 10, item 3: schema inference must not be a CBC padding oracle.

The attack: flip the last byte of the penultimate ciphertext block with each of 256 guesses ``g`` (new byte =
old ^ g ^ 0x01, so the last plaintext byte becomes P ^ g ^ 0x01) and call ``load()`` without a schema each time.
Whenever the outcome differs for the guess that makes the padding valid (g == P), the attacker learns one
plaintext byte per 256 loads. Property: every tampered file gives one and the same outcome, whatever the padding:
for BigDL common the same integrity error (the MAC is verified before anything is decrypted); for nativeaescbc
(no MAC) the padded final block is never decrypted during inference, so the outcome does not depend on it.

The loop runs through the data source's driver-side ``schema()`` (what ``load()`` calls, in Spark's planner
worker) for all 256 guesses, and through Spark's ``load()`` itself for the guesses around the right one.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az.datasource.source import PpmlEncDataSource
from bigdl_ppml_az.formats import COMMON, UnauthenticatedWarning, bigdl
from bigdl_ppml_az.kms.local import LocalKms
from test_datasource_support import encrypt, encrypt_native, kms_options, ppml_read

ROWS = "id,name\n" + "".join(f"{i},name{i}\n" for i in range(200))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("oracle")
    key = root / "primary.key"
    kms = LocalKms.create(key)
    (root / "plain").mkdir()
    (root / "plain" / "a.csv").write_text(ROWS, encoding="utf-8")
    common = encrypt(kms, root / "plain", root / "common", mode=COMMON) / "a.csv"
    native = encrypt_native(kms, root / "plain" / "a.csv", root / "native") / "a.csv"
    return {"key": key, "common": common, "native": native}


def penultimate_last_byte(path: Path, mode: str) -> int:
    """Offset of the last byte of the ciphertext block before the final (padded) block."""
    end = path.stat().st_size - (bigdl.MAC_SIZE if mode == COMMON else 0)
    return end - bigdl.BLOCK - 1


def outcome_of(call: Any) -> str:
    """'ok' or the error's class and first message line, without varying parts (paths, Spark wrapping)."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the class is part of the outcome
        text = str(exc)
        found = re.search(r"bigdl_ppml_az\.errors\.(\w+): ([^\n]*)", text)
        if found:  # through Spark: the Python exception inside the JVM error
            return f"{found.group(1)}: {found.group(2)}"
        return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
    return "ok"


def infer_outcomes(path: Path, key: Path, mode: str, guesses: range | list[int], call: Any) -> dict[int, str]:
    original = path.read_bytes()
    offset = penultimate_last_byte(path, mode)
    seen: dict[int, str] = {}
    try:
        for guess in guesses:
            delta = guess ^ 0x01
            if delta == 0:  # this guess leaves the file as it was: not a tampered file
                continue
            tampered = bytearray(original)
            tampered[offset] ^= delta
            path.write_bytes(bytes(tampered))
            seen[guess] = outcome_of(call)
    finally:
        path.write_bytes(original)
    return seen


def schema_call(path: Path, key: Path, mode: str) -> Any:
    options = kms_options(key, format="csv", header="true", path=str(path.parent))
    if mode != COMMON:
        options["cryptoMode"] = "nativeaescbc"
    return lambda: PpmlEncDataSource(options).schema()


def plaintext_byte() -> int:
    """The byte the first round of the attack recovers: the last byte of the padded final block (the pad)."""
    return 16 - len(ROWS.encode()) % 16


@pytest.mark.parametrize("mode", [COMMON, "nativeaescbc"])
def test_padding_oracle_loop_over_256_guesses_sees_one_outcome(files: dict[str, Any], mode: str) -> None:
    path = files["common" if mode == COMMON else "native"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnauthenticatedWarning)
        seen = infer_outcomes(path, files["key"], mode, range(256), schema_call(path, files["key"], mode))
    assert len(seen) == 255
    distinct = set(seen.values())
    assert len(distinct) == 1, {o: [g for g, v in seen.items() if v == o][:5] for o in distinct}
    (only,) = distinct
    if mode == COMMON:  # the MAC catches every tampered file, with the same message
        assert only.startswith("IntegrityError: ") and "HMAC-SHA256 check failed" in only, only
    else:  # no MAC: nothing to detect, but the padding is never looked at during inference
        assert only == "ok", only
    assert "padding" not in only


@pytest.mark.parametrize("mode", [COMMON, "nativeaescbc"])
def test_spark_load_without_schema_is_no_padding_oracle(spark: Any, files: dict[str, Any], mode: str) -> None:
    """The same attack through ``spark.read...load()``: the right guess looks like every other guess."""
    path = files["common" if mode == COMMON else "native"]
    right = plaintext_byte()
    extra = {} if mode == COMMON else {"cryptoMode": "nativeaescbc"}

    def load() -> Any:
        return ppml_read(spark, files["key"], header="true", **extra).load(str(path.parent))

    guesses = sorted({right, right ^ 0x02, right ^ 0x10, right ^ 0x40, 0x00, 0xFF} - {0x01})
    seen = infer_outcomes(path, files["key"], mode, guesses, load)
    assert right in seen and len(set(seen.values())) == 1, seen
