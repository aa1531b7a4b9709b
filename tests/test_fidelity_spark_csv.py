"""ppml-enc against Spark on Spark's own CSV test files: bytes nobody on this project wrote, read with the
options Spark's CSVSuite reads them with (tests/fixtures/spark_csv/: the files verbatim, SOURCES.md, cases.json).

Each case is read by ``spark.read.csv`` on the plaintext (the oracle) and by ppml-enc's driver and worker code
on the encrypted copy (tests/fidelity_support.py). Outcomes: identical (same schema with nullability and rows, or
both fail), refused by name (ppml-enc names an option the case sets; allowed, never silent), different (ppml-enc
answers otherwise than Spark: never allowed). ``python -m pytest tests/test_fidelity_spark_csv.py -s`` prints the
counts that docs/FIDELITY.md reports.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bigdl_ppml_az.kms.local import LocalKms
from fidelity_support import Case, Outcome, encrypt_all, oracle_all, ppml_in_process, schema_of, write_cases

FIXTURES = Path(__file__).parent / "fixtures" / "spark_csv"
# Of the cases where Spark answers: 92 of 99 measured (2026-12-08; 80 at stop 27, 43 before issue 20 part 4). The
# issue's goal is 0.95; what is still refused is listed in docs/FIDELITY.md ("Spark's own CSV test files").
MIN_IDENTICAL_SHARE = 0.90


def _sources() -> dict[str, str]:
    """file name -> recorded sha256, from the table in SOURCES.md."""
    rows = re.findall(r"^\| `([^`]+)` \| [0-9a-f]{40} \| ([0-9a-f]{64}) \|", (FIXTURES / "SOURCES.md").read_text(),
                      re.MULTILINE)  # fmt: skip
    return dict(rows)


def load_cases() -> list[tuple[dict[str, Any], Case]]:
    out = []
    for spec in json.loads((FIXTURES / "cases.json").read_text(encoding="utf-8")):
        data = (FIXTURES / spec["file"]).read_bytes()
        out.append((spec, Case(data, dict(spec["options"]), "csv", spec.get("schema"))))
    return out


def test_fixtures_are_the_recorded_bytes() -> None:
    """Drift check: every fixture's SHA-256 is the one recorded in SOURCES.md when it was taken from Spark's
    repository, and every file SOURCES.md lists (and only those) is here."""
    recorded = _sources()
    assert len(recorded) >= 25
    present = {p.name for p in FIXTURES.glob("*.csv")}
    assert present == set(recorded)
    for name, digest in recorded.items():
        assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == digest, name


def test_cases_name_existing_files_and_spark_tests() -> None:
    cases = json.loads((FIXTURES / "cases.json").read_text(encoding="utf-8"))
    assert 60 <= len(cases) <= 150
    for spec in cases:
        assert (FIXTURES / spec["file"]).is_file() and spec["test"], spec


def named_option(text: str, case: Case) -> str | None:
    """What a refusal of a corpus case names: any option the case sets (the corpus draws no option on purpose,
    so every named refusal counts as one), or the NOT NULL schema datasource/reader.py refuses by name."""
    message = text.lower()
    named = [n for n in case.options if f"option {n.lower()}" in message]
    if not named and "is declared not null" in message and case.schema and "NOT NULL" in case.schema:
        named = ["NOT NULL in the schema"]
    return named[0] if named else None


def ppml_outcome(case: Case, path: Path, key: Path) -> Outcome:
    """ppml-enc's driver and worker code on the encrypted copy (fidelity_support.ppml_in_process)."""
    return ppml_in_process(case, path, key, schema_of(case), named_by=named_option)


def classify(ours: Outcome, theirs: Outcome) -> str:
    if theirs[0] == "error" and ours[0] in ("error", "refused"):
        return "both fail"
    if ours[0] == "refused":
        return "refused by name"
    return "identical" if ours == theirs else "different"


def run_corpus(spark: Any, root: Path, key: Path) -> tuple[Counter[str], list[str]]:
    specs_cases = load_cases()
    cases = [c for _, c in specs_cases]
    dirs = write_cases(cases, root)
    enc = encrypt_all(LocalKms.load(key), root)
    started = time.perf_counter()
    ours = [ppml_outcome(c, enc / d.name, key) for c, d in zip(cases, dirs, strict=True)]
    middle = time.perf_counter()
    theirs = oracle_all(spark, cases, dirs, threads=4, batch=False)
    print(f"\nppml-enc {middle - started:.1f} s, Spark's reader {time.perf_counter() - middle:.1f} s")
    counts: Counter[str] = Counter()
    report = []
    for (spec, _), o, t in zip(specs_cases, ours, theirs, strict=True):
        kind = classify(o, t)
        counts[kind] += 1
        if kind != "identical" and kind != "both fail":
            report.append(f"{kind}: {spec['file']} {json.dumps(spec['options'])} {spec.get('schema')} "
                          f"[{spec['test']}]: spark {str(t)[:300]} / ppml-enc {str(o)[:300]}")  # fmt: skip
    return counts, report


def test_spark_csv_corpus_matches_spark(spark: Any, tmp_path: Path, local_key: Path) -> None:
    counts, report = run_corpus(spark, tmp_path, local_key)
    total = sum(counts.values())
    spark_answers = counts["identical"] + counts["refused by name"] + counts["different"] - _both_answer_errors(report)
    share = counts["identical"] / max(spark_answers, 1)
    print(f"\nSpark CSV corpus: {total} cases: {counts['identical']} identical, {counts['refused by name']} refused "
          f"by name, {counts['both fail']} both fail, {counts['different']} different; identical share of the "
          f"{spark_answers} cases Spark answers: {share:.1%}")  # fmt: skip
    for line in report:
        print(" ", line)
    assert counts["different"] == 0, "\n".join(r for r in report if r.startswith("different"))
    assert share >= MIN_IDENTICAL_SHARE, "\n".join(report)


def _both_answer_errors(report: list[str]) -> int:
    """Cases counted as different where ppml-enc answers and Spark fails: Spark gives no answer there."""
    return sum(1 for r in report if r.startswith("different") and "spark ('error'" in r)
