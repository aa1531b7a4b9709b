"""Differential testing against Spark: generated CSV files and option sets, read by Spark (the oracle) and ppml-enc.

The ppml-enc side runs the data source's own driver and worker code in this process (``schema()`` on the driver,
``reader.read(split)`` for every split, as a Spark worker would) on the encrypted copy, so thousands of examples fit
in a CI minute; :func:`spark_ppml` runs a sample of them through ``spark.read.format("ppml-enc")`` as well.
"""

from __future__ import annotations

import datetime
import json
import math
import shutil
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.kms.local import LocalKms

TOKENS = [
    "", "a", "b c", "x,y", "é", "日本", "#x", "'q'", " 1", "1 ", '"', '""', 'a"b"c', 'a\\b', '\\"', '\\\\',
    '"a,b"', '"a""b"', '"a\\"b"', '"ab"cd', '"ab" ', '"open', "NA", "null", "0", "1", "-1", "007", "2147483647",
    "2147483648", "-2147483648", "-2147483649", "9223372036854775807", "9223372036854775808", "1.5", "-0.0",
    "1e10", "NaN", "Infinity", "true", "FALSE", "2020-01-31", "2020-01-31 10:11:12", "2020-01-31T10:11:12Z",
    "31/01/2020", "\t", ";", "|",
]  # fmt: skip
ENDINGS = ["\n", "\r\n", "\r"]
SEPS = [",", ";", "\t", "|", "||"]


@dataclass
class Case:
    """One generated example: the file's bytes and the options both readers get."""

    data: bytes
    options: dict[str, str] = field(default_factory=dict)
    fmt: str = "csv"

    def to_json(self) -> dict[str, Any]:
        return {"data": self.data.decode("latin-1"), "options": self.options, "format": self.fmt}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Case:
        return cls(obj["data"].encode("latin-1"), dict(obj["options"]), obj.get("format", "csv"))


@st.composite
def csv_cases(draw: Any) -> Case:
    """CSV bytes with the hard parts, and an option set drawn from the options ppml-enc accepts for CSV."""
    options: dict[str, str] = {}
    sep = draw(st.sampled_from(SEPS))
    if sep != "," or draw(st.booleans()):
        options["sep"] = sep
    for name, values in (
        ("header", ["true", "false"]),
        ("inferSchema", ["true", "false"]),
        ("quote", ['"', "'"]),
        ("escape", ["\\", '"']),
        ("nullValue", ["NA", "", "null"]),
        ("mode", ["PERMISSIVE", "DROPMALFORMED", "FAILFAST", "permissive", "bogus"]),
        ("comment", ["#"]),
    ):
        if draw(st.booleans()):
            options[name] = draw(st.sampled_from(values))
    width = draw(st.integers(1, 4))
    token = st.one_of(st.sampled_from(TOKENS), st.text(st.characters(codec="utf-8", exclude_characters="\n\r"),
                                                       max_size=4))  # fmt: skip
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(draw(st.sampled_from(["", " ", "\t", "  \t "])))
        elif kind == 1:
            lines.append("#" + draw(token))
        else:
            ragged = draw(st.integers(0, 5)) == 0
            n = draw(st.integers(1, width + 1)) if ragged else width
            lines.append(sep.join(draw(token).replace("\n", "").replace("\r", "") for _ in range(n)))
    ending = draw(st.sampled_from(ENDINGS + ["mixed"]))
    text = ""
    for i, line in enumerate(lines):
        text += line
        if i < len(lines) - 1 or draw(st.booleans()):
            text += draw(st.sampled_from(ENDINGS)) if ending == "mixed" else ending
    if draw(st.integers(0, 9)) == 0:
        text = "\ufeff" + text
    return Case(text.encode("utf-8"), options)


def generate(strategy: Any, count: int, seed: int = 11) -> list[Case]:
    """``count`` examples, the same ones every run (hypothesis with a fixed seed, no database)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    out: list[Case] = []

    @hseed(seed)
    @settings(max_examples=count, derandomize=False, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(case: Case) -> None:
        out.append(case)

    collect()
    unique: dict[tuple[bytes, str], Case] = {}
    for case in out:
        unique.setdefault((case.data, json.dumps(case.options, sort_keys=True)), case)
    return list(unique.values())


def write_cases(cases: list[Case], root: Path) -> list[Path]:
    """Each example's plaintext in its own directory under ``root/plain``; returns the directories."""
    dirs = []
    for i, case in enumerate(cases):
        d = root / "plain" / f"c{i:05d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"part.{case.fmt}").write_bytes(case.data)
        dirs.append(d)
    return dirs


def encrypt_all(kms: LocalKms, root: Path) -> Path:
    """One CLI-equivalent encryption of the whole plaintext tree (ppml-gcm, small segments)."""
    out = root / "enc"
    if out.exists():
        shutil.rmtree(out)
    filecrypt.encrypt_path(str(root / "plain"), str(out), kms, crypto_mode="ppml-gcm", segment_size=4096)
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.UTC).replace(tzinfo=None)
    if isinstance(value, Decimal):
        return ("dec", str(value))
    return value


Outcome = tuple[str, Any]


def spark_oracle(spark: Any, case: Case, path: Path) -> Outcome:
    """Spark's own reader on the plaintext: (schema, rows) or ("error", "")."""
    try:
        df = getattr(spark.read.options(**case.options), case.fmt)(str(path))
        rows = [tuple(_norm(v) for v in r) for r in df.collect()]
        return _schema_text(df.schema), rows
    except Exception:  # noqa: BLE001 - any failure of the oracle: ours must fail too
        return "error", ""


def _schema_text(schema: Any) -> str:
    return ",".join(f"{f.name}:{f.dataType.simpleString()}:{f.nullable}" for f in schema.fields)


def ppml_in_process(case: Case, path: Path, key: Path) -> Outcome:
    """ppml-enc's driver and worker code on the encrypted copy, in this process."""
    from pyspark.sql.datasource import DataSource

    from bigdl_ppml_az.datasource.source import PpmlEncDataSource

    options = {"kms": "local", "primaryKeyPath": str(key), "format": case.fmt, "path": str(path), **case.options}
    try:
        source: DataSource = PpmlEncDataSource({k.lower(): v for k, v in options.items()})
        schema = source.schema()
        reader = source.reader(schema)  # type: ignore[arg-type]
        rows: list[tuple[Any, ...]] = []
        for split in reader.partitions():
            for batch in reader.read(split):
                assert isinstance(batch, pa.RecordBatch)
                rows.extend(tuple(_norm(v) for v in r.values()) for r in batch.to_pylist())
        return _schema_text(schema), rows
    except Exception:  # noqa: BLE001 - a refusal or a malformed-input error
        return "error", ""


def spark_ppml(spark: Any, case: Case, path: Path, key: Path) -> Outcome:
    """ppml-enc through Spark itself (Python data source, worker processes)."""
    try:
        reader = spark.read.format("ppml-enc").option("kms", "local").option("primaryKeyPath", str(key))
        df = reader.option("format", case.fmt).options(**case.options).load(str(path))
        rows = [tuple(_norm(v) for v in r) for r in df.collect()]
        return _schema_text(df.schema), rows
    except Exception:  # noqa: BLE001
        return "error", ""


def load_corpus(directory: Path) -> list[Case]:
    return [Case.from_json(json.loads(p.read_text(encoding="utf-8"))) for p in sorted(directory.glob("*.json"))]


__all__ = ["Case", "csv_cases", "encrypt_all", "generate", "load_corpus", "ppml_in_process", "spark_oracle",
           "spark_ppml", "write_cases"]  # fmt: skip
