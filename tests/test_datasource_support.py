"""Test data and helpers shared by the ppml-enc data source tests (no tests here).

Plaintext files are generated small but varied (quoted fields with separators and escaped quotes, nulls,
dates, timestamps); encrypted copies are made with the library's own writers (filecrypt, BigDL common) and,
for headerless nativeaescbc, with ``cryptography`` directly, as BigDL would.
"""

from __future__ import annotations

import base64
import json
import os
import random
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.formats import COMMON
from bigdl_ppml_az.kms import generate_data_key
from bigdl_ppml_az.kms.local import LocalKms

HEADER = "id,name,amount,flag,day,ts,note"


def csv_line(i: int) -> str:
    rng = random.Random(i)
    name = f'"name {i}, \\"q{rng.randint(0, 9)}\\""' if i % 3 == 0 else f"name{i}"
    amount = "" if i % 7 == 0 else f"{rng.uniform(-1000, 1000):.3f}"
    flag = ["true", "false", ""][i % 3]
    day = "" if i % 11 == 0 else f"20{10 + i % 15}-{1 + i % 12:02d}-{1 + i % 28:02d}"
    ts = "" if i % 13 == 0 else f"2021-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}"
    note = ["", '""', "plain", "x;y", "NA"][i % 5]
    return ",".join([str(i), name, amount, flag, day, ts, note])


def write_csv(path: Path, rows: int, header: bool = True, start: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ([HEADER] if header else []) + [csv_line(i) for i in range(start, start + rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def json_record(i: int) -> dict[str, Any]:
    rng = random.Random(i)
    record: dict[str, Any] = {"id": i, "name": f'n{i} "x"', "score": round(rng.uniform(0, 100), 2)}
    if i % 4:
        record["tags"] = [f"t{i % 3}", "u"]
    if i % 5:
        record["nested"] = {"b": i % 2 == 0, "a": i * 10}
    if i % 6 == 0:
        record["score"] = None
    return record


def write_json(path: Path, rows: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(json_record(i)) for i in range(rows)) + "\n", encoding="utf-8")
    return path


def encrypt(kms: LocalKms, source: Path, output: Path, mode: str = "ppml-gcm", segment_size: int = 4096) -> Path:
    filecrypt.encrypt_path(str(source), str(output), kms, crypto_mode=mode, segment_size=segment_size)
    return output


def encrypt_native(kms: LocalKms, source: Path, output_dir: Path) -> Path:
    """BigDL nativeaescbc: IV then AES-CBC-PKCS5 with the unwrapped data key; the key goes to ``.meta``."""
    material, wrapped = generate_data_key(kms, compat="bigdl")
    output_dir.mkdir(parents=True, exist_ok=True)
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(material), modes.CBC(iv)).encryptor()
    data = padder.update(source.read_bytes()) + padder.finalize()
    (output_dir / source.name).write_bytes(iv + encryptor.update(data) + encryptor.finalize())
    meta = {"encryptedDataKey": base64.b64encode(wrapped.ciphertext).decode("ascii")}
    (output_dir / ".meta").write_text(json.dumps(meta), encoding="utf-8")
    return output_dir


def kms_options(key: Path, **extra: str) -> dict[str, str]:
    return {"kms": "local", "primaryKeyPath": str(key), **extra}


def ppml_read(spark: Any, key: Path, fmt: str = "csv", schema: Any = None, **options: str) -> Any:
    reader = spark.read.format("ppml-enc").option("format", fmt)
    for name, value in kms_options(key, **options).items():
        reader = reader.option(name, value)
    if schema is not None:
        reader = reader.schema(schema)
    return reader


def assert_same(ours: Any, theirs: Any, ordered: bool = True) -> None:
    """Row-for-row equality, types included (the plaintext read by Spark's own reader is the oracle)."""
    assert [(f.name, f.dataType) for f in ours.schema.fields] == [(f.name, f.dataType) for f in theirs.schema.fields], (
        f"{ours.schema.simpleString()} != {theirs.schema.simpleString()}"
    )
    a, b = ours.collect(), theirs.collect()
    if not ordered:
        a, b = sorted(a, key=repr), sorted(b, key=repr)
    assert len(a) == len(b), (len(a), len(b))
    for x, y in zip(a, b, strict=True):
        assert x == y, f"{x} != {y}"


__all__ = ["COMMON", "HEADER", "assert_same", "encrypt", "encrypt_native", "ppml_read", "write_csv", "write_json"]
