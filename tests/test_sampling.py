"""samplingRatio: Spark's seeded sample of lines, reproduced (sparkrules/sampling.py) or refused by name.

Two oracles: the JVM classes themselves (``XORShiftRandom``, Scala's ``MurmurHash3``, ``BernoulliCellSampler``)
through py4j, value by value for many seeds; and Spark's CSV and JSON readers on generated plaintext files whose
inferred types change with the sample, against ``ppml-enc`` on the encrypted copy (tests/fidelity_support.py):
same schema and rows, or both fail, or ppml-enc refuses naming samplingRatio. The slow run's case count comes
from ``PPML_SAMPLING_CASES`` (default 600).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.datasource.sparkrules import sampling
from bigdl_ppml_az.kms.local import LocalKms
from fidelity_support import Case, encrypt_all, generate, oracle_all, ppml_in_process, write_cases

LONG = st.integers(-(2**63), 2**63 - 1)
INT = st.integers(-(2**31), 2**31 - 1)


def _jvm_module(spark: Any, dotted: str) -> Any:
    """A Scala ``object`` (its ``MODULE$``) through py4j."""
    package, name = dotted.rsplit(".", 1)
    owner = spark._jvm
    for part in package.split("."):
        owner = getattr(owner, part)
    return getattr(getattr(owner, name + "$"), "MODULE$")


def test_bytes_hash_is_scalas(spark: Any) -> None:
    murmur = _jvm_module(spark, "scala.util.hashing.MurmurHash3")

    @seed(20261207)
    @settings(max_examples=150, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=23), INT)
    def check(data: bytes, hash_seed: int) -> None:
        assert sampling.bytes_hash(data, hash_seed) == murmur.bytesHash(bytearray(data), hash_seed)

    check()
    assert murmur.arraySeed() == sampling.ARRAY_SEED


def test_xorshift_and_bernoulli_cell_sampler_are_sparks(spark: Any) -> None:
    random = spark._jvm.org.apache.spark.util.random
    hash_seed = _jvm_module(spark, "org.apache.spark.util.random.XORShiftRandom").hashSeed  # private[random]: public

    @seed(20261208)
    @settings(max_examples=120, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(LONG, st.floats(0.0, 1.0), st.booleans())
    def check(value: int, fraction: float, complement: bool) -> None:
        assert sampling.hash_seed(value) == hash_seed(value)
        jvm, ours = random.XORShiftRandom(value), sampling.XORShiftRandom(value)
        assert [jvm.nextDouble() for _ in range(6)] == [ours.next_double() for _ in range(6)]
        assert jvm.nextInt() == ours.next_bits(32)  # next(32): the signed int
        jvm.setSeed(value ^ 5)
        ours.set_seed(value ^ 5)
        assert jvm.nextDouble() == ours.next_double()
        cell = random.BernoulliCellSampler(0.0, fraction, complement)
        cell.setSeed(value)
        mine = sampling.BernoulliCellSampler(0.0, fraction, complement)
        mine.set_seed(value)
        assert [cell.sample() for _ in range(12)] == [mine.sample() for _ in range(12)]

    check()


def test_dataset_sample_keeps_the_rows_kept_rows_says(spark: Any) -> None:
    """End to end in Spark's own plan: ``Dataset.sample(false, f, 1)`` over one partition of lines (codegen on
    and off) keeps exactly the rows :func:`sampling.kept_rows` marks."""
    rows = [f"r{i}" for i in range(300)]
    df = spark.range(300).selectExpr("concat('r', id) AS value").coalesce(1)  # one partition, rows in order
    for fraction in (0.013, 0.5):
        expected = [r for r, keep in zip(rows, sampling.kept_rows(300, fraction), strict=True) if keep]
        for codegen in ("true", "false"):
            spark.conf.set("spark.sql.codegen.wholeStage", codegen)
            try:
                got = [r.value for r in df.sample(withReplacement=False, fraction=fraction, seed=1).collect()]
            finally:
                spark.conf.unset("spark.sql.codegen.wholeStage")
            assert got == expected, (fraction, codegen)
    assert sampling.sample_rows(rows, 0.995) == rows  # above 0.99: every row, as Spark


# ---- differential: Spark's readers on the plaintext vs ppml-enc on the ciphertext ----------------------------

CSV_VALUES = ["1", "2", "17", "-3", "1.5", "2.25", "9999999999", "x", "", "true", "2020-01-31",
              "2020-01-31 10:11:12", "1e3", "NaN"]  # fmt: skip
CSV_WEIGHTS = st.sampled_from([0, 0, 0, 1, 1, 2, 3])  # how far into CSV_VALUES a column reaches
JSON_VALUES = ['1', '2', '-7', '1.5', '"x"', 'true', 'null', '[1]', '{"z": 1}', '12345678901234567890', '"2020-01-31"']
RATIOS = st.one_of(st.sampled_from([0.05, 0.3, 0.5, 0.9, 0.99]), st.floats(0.001, 0.99))


@st.composite
def csv_sampling_cases(draw: Any) -> Case:
    """A CSV file whose inferred types depend on which lines are sampled: columns of mostly small integers
    with now and then a decimal, a long, a string, a date or a timestamp; a header (repeated now and then),
    comment and blank lines, CRLF or CR line ends, a BOM."""
    width = draw(st.integers(1, 3))
    reach = [draw(CSV_WEIGHTS) for _ in range(width)]
    lines: list[str] = []
    header = draw(st.booleans())
    head = ",".join(f"c{i}" for i in range(width))
    if header:
        lines.append(head)
    comment = draw(st.booleans())
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.integers(0, 19))
        if kind == 0:
            lines.append("")
        elif kind == 1 and comment:
            lines.append("#" + draw(st.sampled_from(["", "x", "1.5"])))
        elif kind == 2 and header:
            lines.append(head)
        else:
            row = []
            for r in reach:
                rare = draw(st.integers(0, 9)) == 0
                pool = CSV_VALUES[: 3 + 4 * r] if rare else CSV_VALUES[:3]
                row.append(draw(st.sampled_from(pool)))
            lines.append(",".join(row))
    end = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    text = end.join(lines) + (end if lines and draw(st.booleans()) else "")
    if draw(st.integers(0, 9)) == 0:
        text = "\ufeff" + text
    options = {"inferSchema": "true", "samplingRatio": repr(draw(RATIOS))}
    if header:
        options["header"] = "true"
    if comment:
        options["comment"] = "#"
    if draw(st.integers(0, 3)) == 0:
        options["preferDate"] = draw(st.sampled_from(["true", "false"]))
    return Case(text.encode("utf-8"), options, "csv")


@st.composite
def json_sampling_cases(draw: Any) -> Case:
    """JSON lines whose inferred schema depends on the sample: fields that are mostly integers, sometimes
    doubles, strings, nested values or absent; blank and malformed lines."""
    fields = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True))
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.integers(0, 24))
        if kind == 0:
            lines.append("")
        elif kind == 1:
            lines.append(draw(st.sampled_from(["{", "nope", "[1, 2]", "1"])))
        else:
            parts = []
            for name in fields:
                if draw(st.integers(0, 7)) == 0:
                    continue
                pool = JSON_VALUES if draw(st.integers(0, 9)) == 0 else JSON_VALUES[:3]
                parts.append(f'"{name}": {draw(st.sampled_from(pool))}')
            lines.append("{" + ", ".join(parts) + "}")
    end = draw(st.sampled_from(["\n", "\r\n"]))
    options = {"samplingRatio": repr(draw(RATIOS))}
    for name, values in (("prefersDecimal", ["true"]), ("primitivesAsString", ["true"]),
                         ("mode", ["DROPMALFORMED", "FAILFAST"])):  # fmt: skip
        if draw(st.integers(0, 5)) == 0:
            options[name] = draw(st.sampled_from(values))
    return Case((end.join(lines) + end).encode("utf-8"), options, "json")


def _compare(spark: Any, cases: list[Case], root: Path, key: Path) -> tuple[dict[str, int], list[str]]:
    """Outcome counts (and "sample decides": cases whose ppml-enc schema changes without samplingRatio)."""
    dirs = write_cases(cases, root)
    enc = encrypt_all(LocalKms.load(key), root)
    ours = [ppml_in_process(c, enc / d.name, key) for c, d in zip(cases, dirs, strict=True)]
    unsampled = [ppml_in_process(Case(c.data, {k: v for k, v in c.options.items() if k != "samplingRatio"}, c.fmt),
                                 enc / d.name, key) for c, d in zip(cases, dirs, strict=True)]  # fmt: skip
    theirs = oracle_all(spark, cases, dirs, threads=4, batch=False)
    counts = {"identical": 0, "both fail": 0, "refused by name": 0, "different": 0,
              "sample decides": sum(1 for o, u in zip(ours, unsampled, strict=True) if o[0] != u[0])}  # fmt: skip
    found = []
    for case, o, t in zip(cases, ours, theirs, strict=True):
        if o[0] == "refused" and o[1] == "samplingRatio":
            kind = "refused by name"
        elif t[0] == "error" and o[0] in ("error", "refused"):
            kind = "both fail"
        else:
            kind = "identical" if o == t else "different"
        counts[kind] += 1
        if kind == "different":
            found.append(f"{case.to_json()}: spark {t} != ppml-enc {o}")
    return counts, found


def test_sampled_inference_is_sparks(spark: Any, tmp_path: Path, local_key: Path) -> None:
    """CI: about 30 generated CSV and JSON files with samplingRatio in (0, 0.99]: every one answers as Spark
    (one small file read line by line is never refused), and in several the sample decides the schema."""
    cases = generate(csv_sampling_cases(), 20, seed=71) + generate(json_sampling_cases(), 10, seed=72)
    counts, found = _compare(spark, cases, tmp_path, local_key)
    print(f"\nsamplingRatio differential (CI): {len(cases)} cases, {counts}")
    assert not found, "\n".join(found)
    assert counts["refused by name"] == 0, counts
    assert counts["identical"] >= 0.8 * len(cases) and counts["sample decides"] >= 4, counts


def test_sample_changes_the_schema_as_in_spark(spark: Any, tmp_path: Path, local_key: Path) -> None:
    """Hand-picked: a column of integers with one decimal, one string and one date; Spark's sample (seed 1,
    partition 0) decides which of them it sees; ppml-enc agrees for every ratio tried, and the schemas do
    differ between ratios (the test would fail if the sample were ignored or taken otherwise)."""
    rows = [str(i) for i in range(30)]
    rows[7], rows[18], rows[25] = "1.5", "x", "2020-01-31"
    data = ("n\n" + "\n".join(rows) + "\n").encode()
    cases = [Case(data, {"header": "true", "inferSchema": "true", "samplingRatio": r}, "csv")
             for r in ("0.05", "0.2", "0.4", "0.6", "0.99", "1.0")]  # fmt: skip
    json_rows = "\n".join(f'{{"v": {v}}}' for v in rows[:7] + ["1.5"] + rows[8:18] + ['"x"'] + rows[19:])
    cases += [Case(json_rows.encode() + b"\n", {"samplingRatio": r}, "json") for r in ("0.05", "0.2", "0.5")]
    dirs = write_cases(cases, tmp_path)
    enc = encrypt_all(LocalKms.load(local_key), tmp_path)
    ours = [ppml_in_process(c, enc / d.name, local_key) for c, d in zip(cases, dirs, strict=True)]
    theirs = oracle_all(spark, cases, dirs, threads=2, batch=False)
    assert ours == theirs
    assert len({o[0] for o in ours[:6]}) >= 2 and len({o[0] for o in ours[6:]}) >= 2, [o[0] for o in ours]


def test_unreproducible_samples_are_refused_by_name(spark: Any, tmp_path: Path, local_key: Path) -> None:
    """What ppml-enc cannot know to be Spark's sample fails naming samplingRatio: multiLine (another sampler),
    several files (partition indexes), a file larger than samplingBytes or than one sure scan partition, a
    charset whose line ends are several bytes, unauthenticated data."""
    body = b"a\n" + b"".join(b"%d\n" % i for i in range(200))
    base = {"header": "true", "inferSchema": "true", "samplingRatio": "0.5"}
    cases = [Case(body, {**base, "multiLine": "true"}), Case(b'{"a": 1}\n', {"samplingRatio": "0.5", "multiLine":
             "true"}, "json"), Case(body, {**base, "samplingBytes": "100"}), Case(body, {**base, "openCostInBytes":
             "100"}), Case(body, {**base, "maxPartitionBytes": "100"})]  # fmt: skip
    dirs = write_cases(cases, tmp_path)
    enc = encrypt_all(LocalKms.load(local_key), tmp_path)
    for case, d in zip(cases, dirs, strict=True):
        assert ppml_in_process(case, enc / d.name, local_key) == ("refused", "samplingRatio"), case
    utf16 = Case(body, {**base, "encoding": "UTF-16"})  # line ends of two bytes (refused naming encoding, or
    (d16,) = write_cases([utf16], tmp_path / "utf16")  # samplingRatio where UTF-16 reads are accepted)
    outcome = ppml_in_process(utf16, encrypt_all(LocalKms.load(local_key), tmp_path / "utf16") / d16.name, local_key)
    assert outcome in (("refused", "samplingRatio"), ("refused", "encoding")), outcome
    two = Case(body, base)
    (d,) = write_cases([two], tmp_path / "two")
    (d / "part2.csv").write_bytes(body)
    enc2 = encrypt_all(LocalKms.load(local_key), tmp_path / "two")
    assert ppml_in_process(two, enc2 / d.name, local_key) == ("refused", "samplingRatio")
    # unauthenticated (BigDL CBC with verify=false): the inference sample withholds the file's end
    cbc = Case(b"a\n1\n2\n", {**base, "verify": "false"})
    (dc,) = write_cases([cbc], tmp_path / "cbc")
    filecrypt.encrypt_path(str(tmp_path / "cbc" / "plain"), str(tmp_path / "cbc" / "enc"), LocalKms.load(local_key),
                           crypto_mode="aes/cbc/pkcs5padding")  # fmt: skip
    assert ppml_in_process(cbc, tmp_path / "cbc" / "enc" / dc.name, local_key) == ("refused", "samplingRatio")
    verified = Case(cbc.data, base)
    assert ppml_in_process(verified, tmp_path / "cbc" / "enc" / dc.name, local_key)[0] != "refused"
    # a given schema, or no type inference, needs no sample: the same read is accepted
    no_types = Case(body, {"header": "true", "samplingRatio": "0.5"})
    assert ppml_in_process(no_types, enc2 / d.name, local_key)[0] == "a:string:True"


@pytest.mark.slow
def test_sampled_inference_is_sparks_at_length(spark: Any, tmp_path: Path, local_key: Path) -> None:
    count = int(os.environ.get("PPML_SAMPLING_CASES", "600"))
    started = time.perf_counter()
    cases = generate(csv_sampling_cases(), count * 2 // 3, seed=81) + generate(json_sampling_cases(),
                                                                                count - count * 2 // 3, seed=82)
    counts, found = _compare(spark, cases, tmp_path, local_key)
    print(f"\nsamplingRatio differential: {len(cases)} cases, {counts} in {time.perf_counter() - started:.0f} s")
    assert not found, "\n".join(found[:20])


@pytest.mark.slow
def test_a_file_up_to_the_limit_is_sampled_as_spark_does(spark: Any, tmp_path: Path, local_key: Path) -> None:
    """A file just under 4 MiB (one scan partition in Spark, all of it in ppml-enc's inference sample) is
    sampled as Spark samples it; one just over is refused naming samplingRatio."""
    rows = [str(i % 100_000) for i in range(800_000)]  # about 4.7 MB of lines, cut below
    for i in range(0, len(rows), 52_391):
        rows[i] = "1.5" if i % 2 else "2020-01-31"
    small = ("n\n" + "\n".join(rows) + "\n").encode()[: (4 << 20) - 10]
    small = small[: small.rfind(b"\n") + 1]
    big = small + b"1\n" * 100
    assert len(small) <= 4 << 20 < len(big)
    options = {"header": "true", "inferSchema": "true", "samplingRatio": "0.01"}
    cases = [Case(small, options), Case(big, options)]
    dirs = write_cases(cases, tmp_path)
    enc = encrypt_all(LocalKms.load(local_key), tmp_path)
    ours = [ppml_in_process(c, enc / d.name, local_key) for c, d in zip(cases, dirs, strict=True)]
    (theirs,) = oracle_all(spark, cases[:1], dirs[:1], threads=1, batch=False)
    assert ours[0] == theirs
    assert ours[1] == ("refused", "samplingRatio")
