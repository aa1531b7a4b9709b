"""No front end ever returns ciphertext as data (issue, part 3).

Every front end (the ``ppml-enc`` data source in each crypto mode, ``PPMLContext``, ``tpch.tables``, ``ppml-az
tpch run``, ``ppml-az decrypt``/``inspect``/``encrypt``) runs over an encrypted and a plaintext copy of the same
data. Each case either returns exactly the plaintext (never the ``PPMLGCM1`` magic, the Base64 of the wrapped
data key, or undecodable bytes) or fails with an error naming the file; reading encrypted files with crypto
mode ``plain_text`` also names the format it detected.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from bigdl_ppml_az import filecrypt, tpch
from bigdl_ppml_az.cli import main
from bigdl_ppml_az.formats import ppml_gcm, probe
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.ppml_context import CryptoMode, PPMLContext
from bigdl_ppml_az.tpch import datagen

PEOPLE = {"part-0.csv": "name,age\nalice,30\nbob,41\n", "part-1.csv": "name,age\ncarol,52\n"}
PEOPLE_ROWS = ["alice|30", "bob|41", "carol|52"]
PEOPLE_LINES = sorted(line for text in PEOPLE.values() for line in text.splitlines())
MAGIC = ppml_gcm.MAGIC.decode()


class Data:
    """The people table (two small CSV files) and TPC-H (SF 0.01), plaintext and ppml-gcm, under one key."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.key = base / "keys" / "primary.key"
        self.kms = LocalKms.create(self.key)
        self.kms_options = {"kms": "local", "primaryKeyPath": str(self.key)}
        self.kms_flags = ["--kms", "local", "--primary-key", str(self.key)]
        plain = base / "people-plain"
        plain.mkdir()
        for name, text in PEOPLE.items():
            (plain / name).write_text(text)
        filecrypt.encrypt_path(str(plain), str(base / "people-enc"), self.kms, progress=False)
        self.people = {"plain": plain, "enc": base / "people-enc"}
        with open(base / "people-enc" / "part-0.csv", "rb") as handle:
            info = probe(handle, (base / "people-enc" / "part-0.csv").stat().st_size, "part-0.csv")
        assert info.key_ref is not None
        self.wrapped_b64 = base64.b64encode(info.key_ref.wrapped_key).decode()
        self._tpch: dict[str, Path] = {}
        self._reference: dict[str, str] | None = None

    def tpch(self, kind: str) -> Path:
        """TPC-H SF 0.01 (made on first use: only the TPC-H cases need it)."""
        if not self._tpch:
            plain = self.base / "tpch-plain"
            datagen.generate(0.01, str(plain), "tbl")
            datagen.encrypt_tables(str(plain), str(self.base / "tpch-enc"), self.kms, "tbl", "ppml-gcm", progress=False)
            self._tpch = {"plain": plain, "enc": self.base / "tpch-enc"}
        return self._tpch[kind]

    def tpch_reference(self) -> dict[str, str]:
        """``tpch run`` results of Q01 and Q06 on the plaintext tables, read as Spark's own CSV reader reads them."""
        if self._reference is None:
            out = self.base / "reference"
            code, _, err = cli("tpch", "run", "--input", str(self.tpch("plain")), "--queries", "1", "6",
                               "--output", str(out))  # fmt: skip
            assert code == 0, err
            self._reference = results(out)
            assert self._reference["q06.csv"].strip().splitlines()[1:] != [""]
        return self._reference


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    return Data(tmp_path_factory.mktemp("no-ciphertext"))


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def results(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.glob("q*.csv"))}


class Refused(Exception):
    """A front end said no (an exception, or a non-zero exit status with its message)."""


def rows_of(df: Any) -> list[str]:
    return sorted("|".join("" if v is None else str(v) for v in row) for row in df.collect())


# --------------------------------------------------------------------------------------------- the front ends


def datasource(mode: str | None) -> Callable[[Any, Data, str], list[str]]:
    """Three reads: CSV with an inferred schema (driver sample), CSV with a given schema and text (task side)."""

    def run(spark: Any, data: Data, kind: str) -> list[str]:
        def reader(fmt: str) -> Any:
            r = spark.read.format("ppml-enc").options(**data.kms_options).option("format", fmt)
            return r.option("cryptoMode", mode) if mode is not None else r

        path = str(data.people[kind])
        inferred = rows_of(reader("csv").option("header", "true").load(path))
        given = rows_of(reader("csv").option("header", "true").schema("name string, age string").load(path))
        lines = rows_of(reader("text").load(path))
        assert lines == PEOPLE_LINES
        assert inferred == given
        return given

    return run


def context(mode: CryptoMode) -> Callable[[Any, Data, str], list[str]]:
    def run(spark: Any, data: Data, kind: str) -> list[str]:
        ctx = PPMLContext(None, {"kms_type": "local", "primary_key_material": str(data.key)}, spark=spark, native=False)
        path = str(data.people[kind])
        assert rows_of(ctx.read(mode).text(path)) == PEOPLE_LINES
        return rows_of(ctx.read(mode).option("header", "true").csv(path))

    return run


def tpch_tables(mode: str | None) -> Callable[[Any, Data, str], list[str]]:
    """``tpch.tables`` with the KMS options and ``mode`` (None: left out), then Q06 and Q01 sizes."""

    def run(spark: Any, data: Data, kind: str) -> list[str]:
        t = tpch.tables(spark, str(data.tpch(kind)), "tbl", mode, data.kms_options)
        return [str(tpch.q06(t).collect()[0][0]), str(tpch.q01(t).count())]

    return run


def tpch_tables_expected(spark: Any, data: Data) -> list[str]:
    t = tpch.tables(spark, str(data.tpch("plain")), "tbl", "plain_text")
    return [str(tpch.q06(t).collect()[0][0]), str(tpch.q01(t).count())]


def tpch_run(*flags: str) -> Callable[[Any, Data, str], list[str]]:
    """``ppml-az tpch run --input DIR --kms local --primary-key K --queries 1 6 FLAGS``: the issue's command."""

    def run(spark: Any, data: Data, kind: str) -> list[str]:
        out = data.base / f"res-{kind}-{'-'.join(flags) or 'unset'}"
        code, _, err = cli("tpch", "run", "--input", str(data.tpch(kind)), *data.kms_flags, "--queries", "1", "6",
                           "--output", str(out), *flags)  # fmt: skip
        if code:
            raise Refused(err)
        return [f"{name}:{text}" for name, text in results(out).items()]

    return run


def decrypt(*flags: str) -> Callable[[Any, Data, str], list[str]]:
    def run(spark: Any, data: Data, kind: str) -> list[str]:
        out = data.base / f"dec-{kind}-{'-'.join(flags) or 'unset'}"
        code, _, err = cli("decrypt", str(data.people[kind]), str(out), *data.kms_flags, *flags)
        if code:
            raise Refused(err)
        return sorted(line for p in sorted(out.iterdir()) for line in p.read_text().splitlines())

    return run


def inspect(*flags: str) -> Callable[[Any, Data, str], list[str]]:
    def run(spark: Any, data: Data, kind: str) -> list[str]:
        code, out, err = cli("inspect", str(data.people[kind] / "part-0.csv"), *flags)
        if code:
            raise Refused(err)
        assert '"format": "ppml-gcm"' in out
        return [out]

    return run


def encrypt(spark: Any, data: Data, kind: str) -> list[str]:
    """Encrypt, then decrypt the result: what a reader of the output gets back."""
    out, back = data.base / f"reenc-{kind}", data.base / f"reenc-{kind}-back"
    code, _, err = cli("encrypt", str(data.people[kind]), str(out), *data.kms_flags)
    if code:
        raise Refused(err)
    assert (out / "part-0.csv").read_bytes().startswith(ppml_gcm.MAGIC)
    return decrypt()(spark, data, kind) if kind == "enc" else _decrypted(out, back, data)


def _decrypted(out: Path, back: Path, data: Data) -> list[str]:
    code, _, err = cli("decrypt", str(out), str(back), *data.kms_flags)
    assert code == 0, err
    return sorted(line for p in sorted(back.iterdir()) for line in p.read_text().splitlines())


# (front end, input) -> what must come back: rows equal to the plaintext's, or an error naming a file (and, for
# encrypted input refused as plaintext, the format detected).
ROWS, ERROR, REFUSED_AS_PLAIN = "rows", "error", "refused as plaintext"
FRONT_ENDS: dict[str, tuple[Callable[[Any, Data, str], list[str]], str, str]] = {
    # name: (runner, encrypted input, plaintext input)
    "datasource-unset": (datasource(None), ROWS, ERROR),
    "datasource-auto": (datasource("auto"), ROWS, ERROR),
    "datasource-plain_text": (datasource("plain_text"), REFUSED_AS_PLAIN, ROWS),
    "datasource-ppml-gcm": (datasource("ppml-gcm"), ROWS, ERROR),
    "ppmlcontext-PLAIN_TEXT": (context(CryptoMode.PLAIN_TEXT), REFUSED_AS_PLAIN, ROWS),
    "ppmlcontext-PPML_GCM": (context(CryptoMode.PPML_GCM), ROWS, ERROR),
    "tpch.tables-unset": (tpch_tables(None), ROWS, ERROR),
    "tpch.tables-plain_text": (tpch_tables("plain_text"), REFUSED_AS_PLAIN, ROWS),
    "tpch-run-unset": (tpch_run(), ROWS, ERROR),
    "tpch-run-plain_text": (tpch_run("--input-crypto-mode", "plain_text"), REFUSED_AS_PLAIN, ROWS),
    "decrypt-auto": (decrypt(), ROWS, ERROR),
    "decrypt-plain_text": (decrypt("--crypto-mode", "plain_text"), REFUSED_AS_PLAIN, ERROR),
    "inspect-auto": (inspect(), ROWS, ERROR),
    "inspect-plain_text": (inspect("--crypto-mode", "plain_text"), REFUSED_AS_PLAIN, ERROR),
    "encrypt": (encrypt, REFUSED_AS_PLAIN, ROWS),
}
CASES = [(name, kind) for name in FRONT_ENDS for kind in ("enc", "plain")]


def expected_rows(name: str, spark: Any, data: Data) -> list[str]:
    if name.startswith("datasource") or name.startswith("ppmlcontext"):
        return sorted(PEOPLE_ROWS)
    if name.startswith("tpch.tables"):
        return tpch_tables_expected(spark, data)
    if name.startswith("tpch-run"):
        return [f"{n}:{text}" for n, text in data.tpch_reference().items()]
    if name.startswith("inspect"):
        return []  # JSON header facts: only checked for ciphertext below
    return PEOPLE_LINES


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


def assert_no_ciphertext(values: list[str], data: Data) -> None:
    for value in values:
        assert MAGIC not in value
        assert data.wrapped_b64 not in value and data.wrapped_b64[:24] not in value
        assert CONTROL.search(value) is None, f"undecodable bytes returned as data: {value[:80]!r}"


@pytest.mark.parametrize(("name", "kind"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_no_front_end_returns_ciphertext_as_data(spark: Any, data: Data, name: str, kind: str) -> None:
    runner, on_encrypted, on_plain = FRONT_ENDS[name]
    expected = on_encrypted if kind == "enc" else on_plain
    try:
        values = runner(spark, data, kind)
    except Exception as exc:  # noqa: BLE001 - Spark wraps our errors; the message is what the user sees
        message = str(exc)
        assert expected != ROWS, f"{name} on {kind} input failed: {message[-2000:]}"
        input_dir = data.tpch(kind) if name.startswith("tpch") else data.people[kind]
        assert str(input_dir) in message, f"the error does not name the file: {message[-2000:]}"
        if expected == REFUSED_AS_PLAIN:
            assert "ppml-gcm" in message, f"the error does not name the format detected: {message[-2000:]}"
        return
    assert_no_ciphertext(values, data)
    assert expected == ROWS, f"{name} on {kind} input returned data instead of an error: {values[:3]}"
    if not name.startswith("inspect"):
        assert values == expected_rows(name, spark, data)


def test_encrypt_takes_encrypted_input_when_asked(data: Data) -> None:
    """``--allow-encrypted-input``: encrypting ciphertext again is possible, but only on request."""
    out = data.base / "double"
    code, _, err = cli("encrypt", str(data.people["enc"]), str(out), *data.kms_flags, "--allow-encrypted-input")
    assert code == 0, err
    code, _, err = cli("decrypt", str(out), str(data.base / "double-back"), *data.kms_flags)
    assert code == 0, err
    assert (data.base / "double-back" / "part-0.csv").read_bytes() == (data.people["enc"] / "part-0.csv").read_bytes()
