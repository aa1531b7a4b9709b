"""Run TPC-H queries with wall times, and store/load their results (plain or encrypted) with a timings file.

A results directory holds ``qNN.csv`` (CSV with a header, one per query; encrypted with ppml-gcm when an
output crypto mode is given, the name unchanged since every encrypted object says what it is) and
``timings.json`` (no data: per-query seconds and row counts plus what was run), which ``ppml-az tpch report``
reads.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..formats import PLAIN, encrypted, normalize_mode
from ..storage import filesystem_for
from .queries import QUERIES, query
from .reference import ResultSet, read_object
from .tables import Tables

TIMINGS_FILE = "timings.json"


@dataclass
class RunResult:
    """Results and wall times (seconds, from building the plan to the last collected row) per query."""

    results: dict[int, ResultSet] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def parse_queries(values: Iterable[int | str] | None) -> list[int]:
    """Query numbers from ``1 5 22`` or ``1,5,22`` or ``q01``; all 22 when empty."""
    numbers: list[int] = []
    for value in values or []:
        for part in str(value).replace(",", " ").split():
            text = part.lower().lstrip("q")
            if not text.isdigit():
                raise ConfigError(f"not a TPC-H query number: {part!r} (use 1..22)")
            query(int(text))
            numbers.append(int(text))
    return numbers or sorted(QUERIES)


def run(
    t: Tables,
    queries: Iterable[int | str] | None = None,
    on_query: Callable[[int, ResultSet, float], None] | None = None,
    parameters: Mapping[int, Mapping[str, Any]] | None = None,
) -> RunResult:
    """Run ``queries`` (default all 22) over ``t``, collecting each result; ``on_query`` sees each one."""
    out = RunResult()
    for number in parse_queries(queries):
        started = time.perf_counter()
        result = ResultSet.from_dataframe(query(number)(t, **dict((parameters or {}).get(number, {}))))
        elapsed = time.perf_counter() - started
        out.results[number], out.seconds[number] = result, elapsed
        if on_query is not None:
            on_query(number, result, elapsed)
    return out


def result_name(number: int) -> str:
    return f"q{number:02d}.csv"


def write_results(
    run_result: RunResult,
    out_dir: str,
    crypto_mode: str = PLAIN,
    kms: Any = None,
    options: Mapping[str, str] | None = None,
) -> None:
    """Write ``qNN.csv`` per query (ppml-gcm encrypted unless ``crypto_mode`` is plain_text) and timings.json.

    ``kms`` is a KeyManagementService (needed for encrypted output); one data key serves the whole run.
    """
    mode = normalize_mode(crypto_mode)
    fs = filesystem_for(out_dir, options)
    encrypt: Callable[[bytes], bytes] | None = None
    if encrypted(mode):
        encrypt = _encryptor(mode, kms)
    for number, result in sorted(run_result.results.items()):
        data = result.to_csv()
        with fs.open_write(fs.join(out_dir, result_name(number))) as sink:
            sink.write(encrypt(data) if encrypt else data)
    timings = {
        **run_result.info,
        "outputCryptoMode": mode,
        "queries": {
            str(n): {"seconds": round(run_result.seconds[n], 4), "rows": len(run_result.results[n].rows)}
            for n in sorted(run_result.results)
        },
        "totalSeconds": round(run_result.total_seconds, 4),
    }
    with fs.open_write(fs.join(out_dir, TIMINGS_FILE)) as sink:
        sink.write(json.dumps(timings, indent=2).encode("utf-8"))


def _encryptor(mode: str, kms: Any) -> Callable[[bytes], bytes]:
    from ..formats import Codec, DataKey, all_codecs, codec_for

    def usable(codec: Codec) -> bool:  # one self-describing file each: no BigDL .meta next to it
        return codec.writable and codec.wraps_bytes and not codec.directory_meta

    codec = codec_for(mode)
    if not usable(codec):
        names = " or ".join(c.name for c in all_codecs() if usable(c))
        raise ConfigError(f"results can be written plain_text or {names}, not {mode}")
    if kms is None:
        raise ConfigError("encrypted results need a KMS (--kms ... for --output-crypto-mode)")
    from ..kms import generate_data_key

    material, wrapped = generate_data_key(kms, compat=codec.key_compat)
    key = DataKey(material)

    def seal(data: bytes) -> bytes:
        sink = io.BytesIO()
        writer = codec.open_writer(sink, key, wrapped, content_type="csv")
        writer.write(data)
        writer.close()
        return sink.getvalue()

    return seal


def read_timings(results_dir: str, options: Mapping[str, str] | None = None) -> dict[str, Any]:
    fs = filesystem_for(results_dir, options)
    path = fs.join(results_dir, TIMINGS_FILE)
    if not fs.exists(path):
        raise ConfigError(f"{results_dir}: no {TIMINGS_FILE}; is this a `ppml-az tpch run --output` directory?")
    loaded: dict[str, Any] = json.loads(fs.read_bytes(path))
    return loaded


def read_results(results_dir: str, kms: Mapping[str, str] | None = None) -> dict[int, ResultSet]:
    """The ``qNN.csv`` results under ``results_dir`` (decrypted in memory when encrypted), as text."""
    fs = filesystem_for(results_dir, kms)
    found: dict[int, ResultSet] = {}
    for number in sorted(QUERIES):
        path = fs.join(results_dir, result_name(number))
        if fs.exists(path):
            found[number] = ResultSet.from_csv(read_object(path, "auto", kms))
    if not found:
        raise ConfigError(f"{results_dir}: no query results (q01.csv ... q22.csv)")
    return found
