"""The docs run as written: every fenced shell or Python block in README.md, docs/*.md and examples/*.md is run
here (or by another test) or says why it cannot be; and the docs' links resolve.

The convention, checked by :func:`test_every_shell_and_python_block_is_run_or_marked`: the line before a block
whose language is one of :data:`RUNNABLE` is either

* ``<!-- run: NAME (free text) -->``: a test runs it, fetching it with ``doc_block(DOC, NAME)`` (two string
  literals: a test file naming the block that way is what :func:`test_every_run_marker_is_run_by_a_test` looks
  for), or
* ``<!-- not-runnable: REASON -->``: the reason says why (a real Azure account, minutes of work...).

Output samples and byte layouts use ```text``, which is not counted. The blocks run for real: shell blocks in
bash (``-euo pipefail``) in a temporary directory with this venv's ``python``/``ppml-az`` first on ``PATH``;
Python blocks in this process, in the test session's Spark session (their ``getOrCreate()`` picks it up), so the
whole file adds seconds, not minutes; Azure blocks against the test session's Azurite and Key Vault emulator.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent  # .venv/bin: python, ppml-az
RUNNABLE = frozenset({"bash", "sh", "shell", "console", "zsh", "python", "py", "python3"})
RUN_MARKER = re.compile(r"^\s*<!--\s*run:\s*([\w.-]+)\b.*-->\s*$")
NOT_RUNNABLE_MARKER = re.compile(r"^\s*<!--\s*not-runnable:\s*(\S.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`{]*)")
DOC_BLOCK_CALL = re.compile(r"doc_block\(\s*\"([^\"]+)\"\s*,\s*\"([^\"]+)\"")


@dataclass(frozen=True)
class Block:
    doc: str  # path relative to the repository
    line: int  # 1-based line of the opening fence
    language: str  # lower case, "" when none
    code: str
    marker: str  # the nearest non-blank line above the fence

    @property
    def runnable(self) -> bool:
        return self.language in RUNNABLE

    @property
    def run_name(self) -> str | None:
        match = RUN_MARKER.match(self.marker)
        return match.group(1) if match else None

    @property
    def not_runnable_reason(self) -> str | None:
        match = NOT_RUNNABLE_MARKER.match(self.marker)
        return match.group(1) if match else None


def parse_blocks(text: str, doc: str) -> list[Block]:
    """Fenced blocks (``` or ~~~, indented ones in lists included) with the line above each, in order."""
    lines = text.split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence, language = opening.groups()
        close = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = i + 1
        while end < len(lines) and not close.match(lines[end]):
            end += 1
        body = [line[len(indent) :] if line.startswith(indent) else line.lstrip() for line in lines[i + 1 : end]]
        above = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        found.append(Block(doc, i + 1, language.lower(), "\n".join(body) + "\n", above))
        i = end + 1
    return found


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "examples").glob("*.md"))]


def all_blocks() -> list[Block]:
    return [b for p in doc_files() for b in parse_blocks(p.read_text(encoding="utf-8"), str(p.relative_to(REPO)))]


def doc_block(doc: str, name: str) -> str:
    """The code of the block marked ``<!-- run: NAME -->`` in ``doc`` (exactly one such block)."""
    text = (REPO / doc).read_text(encoding="utf-8")
    matches = [b for b in parse_blocks(text, doc) if b.run_name == name]
    assert len(matches) == 1, f"{doc}: {len(matches)} blocks marked <!-- run: {name} -->"
    assert matches[0].runnable, f"{doc}:{matches[0].line}: run: {name} marks a {matches[0].language!r} block"
    return matches[0].code


def doc_block_of_language(doc: str, language: str) -> str:
    """The one block of ``language`` in ``doc`` (for files a runnable block needs, e.g. a pyproject.toml)."""
    text = (REPO / doc).read_text(encoding="utf-8")
    (block,) = [b for b in parse_blocks(text, doc) if b.language == language]
    return block.code


# ------------------------------------------------------------------------------------------------ the rule


def unmarked(blocks: list[Block]) -> list[str]:
    return [
        f"{b.doc}:{b.line}: a {b.language} block neither run (<!-- run: NAME -->) nor marked "
        "<!-- not-runnable: REASON -->"
        for b in blocks
        if b.runnable and b.run_name is None and b.not_runnable_reason is None
    ]


def test_the_rule_catches_an_unmarked_block_and_accepts_marked_ones() -> None:
    sample = (
        "text\n\n```bash\nls\n```\n\n<!-- not-runnable: needs Azure -->\n```python\nx = 1\n```\n"
        "<!-- run: demo (somewhere) -->\n\n```sh\necho\n```\n```text\noutput\n```\n"
        "* item\n\n  ```console\n  $ ls\n  ```\n<!-- not-runnable: -->\n```py\npass\n```\n"
    )
    blocks = parse_blocks(sample, "sample.md")
    assert [(b.line, b.language) for b in blocks] == [(3, "bash"), (8, "python"), (13, "sh"), (16, "text"),
                                                      (21, "console"), (25, "py")]  # fmt: skip
    assert blocks[2].run_name == "demo" and blocks[1].not_runnable_reason == "needs Azure"
    assert blocks[4].code == "$ ls\n"
    assert [m.split(":")[1] for m in unmarked(blocks)] == ["3", "21", "25"]  # an empty reason is no reason


def test_every_shell_and_python_block_is_run_or_marked() -> None:
    blocks = all_blocks()
    assert sum(b.runnable for b in blocks) >= 20  # the parser still finds the docs' blocks
    problems = unmarked(blocks)
    assert not problems, "\n".join(problems)


def test_every_run_marker_is_run_by_a_test() -> None:
    referenced = set()
    for test_file in sorted((REPO / "tests").glob("*.py")):
        referenced |= set(DOC_BLOCK_CALL.findall(test_file.read_text(encoding="utf-8")))
    marked = {(b.doc, b.run_name) for b in all_blocks() if b.run_name is not None}
    assert not marked - referenced, f"marked run: but no test fetches them with doc_block: {marked - referenced}"
    assert not referenced - marked, f"doc_block(DOC, NAME) calls naming no marked block: {referenced - marked}"


# ------------------------------------------------------------------------------------------------ runners


def shell_env(**extra: str) -> dict[str, str]:
    """This environment with the venv's bin first on PATH, as an activated venv would have it."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def run_shell(code: str, cwd: Path, **extra_env: str) -> str:
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code], cwd=cwd, env=shell_env(**extra_env),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"exit {done.returncode}\n{code}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


@contextlib.contextmanager
def inside(directory: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


def run_python(code: str, where: Path, namespace: dict[str, Any], label: str) -> None:
    """Run a doc's Python block in this process (our own docs, not input from elsewhere), in ``where``."""
    with inside(where):
        exec(compile(code, label, "exec"), namespace)  # noqa: S102


# ------------------------------------------------------------------------------------------------ README


@dataclass
class Quickstart:
    root: Path
    namespace: dict[str, Any]
    outputs: list[str]  # what each run printed
    keys: list[bytes]  # the primary key file after each run


@pytest.fixture(scope="module")
def quickstart(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Quickstart:
    """The README quickstart, run twice in one directory as a user rerunning a script would (the shared session)."""
    root = tmp_path_factory.mktemp("readme")
    code = doc_block("README.md", "quickstart")
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    outputs, keys = [], []
    for run in (1, 2):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            run_python(code, root, namespace if run == 1 else {"__name__": "__readme__"}, f"README quickstart #{run}")
        outputs.append(printed.getvalue())
        keys.append((root / "keys" / "primary.key").read_bytes())
    return Quickstart(root, namespace, outputs, keys)


def test_readme_quickstart_round_trips_and_reruns(quickstart: Quickstart) -> None:
    code = doc_block("README.md", "quickstart")
    assert '.option("header", "true")' in code.split(".save(")[0]  # the write side writes its header
    for shown in quickstart.outputs:  # df.where("age > 30").show(), on the first run and on the second
        assert "Anna" in shown and "Omar" in shown and "Jack" not in shown
    assert quickstart.keys[0] == quickstart.keys[1]  # the second run reused the key, and read what it wrote
    check_quickstart_outputs(quickstart.root)


def check_quickstart_outputs(root: Path) -> None:
    parts = [p for p in (root / "people-enc").iterdir() if p.name.startswith("part-")]
    assert parts and all(p.name.endswith(".csv.enc") for p in parts)
    stored = b"".join(p.read_bytes() for p in parts)
    assert b"Developer" not in stored and b"Anna" not in stored
    assert (root / "keys" / "primary.key").stat().st_mode & 0o077 == 0


@pytest.mark.slow
def test_readme_quickstart_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """As a newcomer runs it: a new Python, a new Spark session, nothing set up beforehand."""
    done = subprocess.run(
        [sys.executable, "-c", doc_block("README.md", "quickstart")],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Anna" in done.stdout and "Jack" not in done.stdout
    check_quickstart_outputs(tmp_path)


@pytest.fixture(scope="module")
def tpch_encrypted(quickstart: Quickstart) -> Path:
    """README's tpch-prepare: SF 0.01 generated and encrypted with the quickstart's key, in its directory."""
    if not (VENV_BIN / "tpchgen-cli").exists() and shutil.which("tpchgen-cli") is None:
        pytest.skip("needs the tpch extra (tpchgen-cli), which ./dev test installs")
    run_shell(doc_block("README.md", "tpch-prepare"), quickstart.root)
    return quickstart.root / "tpch-enc"


def test_readme_tpch_blocks(quickstart: Quickstart, tpch_encrypted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sorted(p.name for p in tpch_encrypted.iterdir()) == [
        "customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"
    ]  # fmt: skip
    lineitem = b"".join(p.read_bytes() for p in (tpch_encrypted / "lineitem").iterdir() if p.is_file())
    assert lineitem[:8] == b"PPMLGCM1" and b"DELIVER IN PERSON" not in lineitem
    run_python(doc_block("README.md", "tpch-query"), quickstart.root, dict(quickstart.namespace), "README tpch-query")
    shown = capsys.readouterr().out
    assert "l_returnflag" in shown and "sum_qty" in shown
    assert len([line for line in shown.splitlines() if re.match(r"^\|\s*[ANR]\s*\|\s*[FO]\s*\|", line)]) == 4


def test_readme_cli_block_in_an_empty_directory(tmp_path: Path) -> None:
    out = run_shell(doc_block("README.md", "cli"), tmp_path)
    assert out.rstrip().endswith("same files")
    assert (tmp_path / "data-enc" / "people.csv").read_bytes()[:8] == b"PPMLGCM1"
    assert b"Anna" not in (tmp_path / "data-enc" / "people.csv").read_bytes()


# ------------------------------------------------------------------------------------------------ docs/TPCH.md


@pytest.mark.slow  # four queries, ~15 s; CI runs the same tpch.tables + q01 path through README's tpch-query
def test_tpch_doc_python_block(
    quickstart: Quickstart, tpch_encrypted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = quickstart.root / "dbgen-encrypted"
    if not target.exists():
        shutil.copytree(tpch_encrypted, target)  # the name docs/TPCH.md's commands use
    namespace: dict[str, Any] = {"spark": quickstart.namespace["spark"]}
    run_python(doc_block("docs/TPCH.md", "python"), quickstart.root, namespace, "docs/TPCH.md python")
    result = namespace["result"]
    assert sorted(result.results) == [1, 5, 22] and all(result.seconds[n] >= 0 for n in (1, 5, 22))
    assert "l_returnflag" in capsys.readouterr().out


# ----------------------------------------------------------------------------------- docs/DATASOURCE.md, SCALE.md


def test_datasource_and_scale_blocks(quickstart: Quickstart, capsys: pytest.CaptureFixture[str]) -> None:
    root, namespace = quickstart.root, dict(quickstart.namespace)
    people = sorted(namespace["people"].collect())
    blocks = {
        "read": doc_block("docs/DATASOURCE.md", "read"),
        "write": doc_block("docs/DATASOURCE.md", "write"),
        "partitionBy": doc_block("docs/DATASOURCE.md", "partitioned-write"),
        "pme": doc_block("docs/DATASOURCE.md", "pme"),
    }
    for name, code in blocks.items():
        run_python(code, root, namespace, f"docs/DATASOURCE.md {name}")
    spark, kms = namespace["spark"], namespace["kms"]
    assert sorted(namespace["df"].collect()) == people  # read
    adults = (spark.read.format("ppml-enc").options(**kms).option("header", "true").option("inferSchema", "true")
              .load(str(root / "adults-enc")))  # fmt: skip
    assert sorted(adults.collect()) == [p for p in people if p.age >= 30]  # write
    assert sorted(p.name for p in (root / "people-by-job").iterdir() if p.is_dir()) == [
        "job=Developer", "job=Engineer", "job=Manager"
    ]  # fmt: skip
    assert sorted(namespace["pme"].collect()) == people  # the PME round trip
    assert (root / "people-pme").is_dir()

    run_python(doc_block("docs/SCALE.md", "base-path"), root, namespace, "docs/SCALE.md base-path")
    developers = namespace["df"].collect()
    assert [(r.name, r.job) for r in developers] == [("Jack", "Developer")]


def test_datasource_save_modes_as_documented(quickstart: Quickstart) -> None:
    """DATASOURCE.md and the README: Spark refuses a write without .mode(...) to a Python data source before
    anything is written; append and overwrite work."""
    namespace = quickstart.namespace
    people, kms = namespace["people"], namespace["kms"]
    target = quickstart.root / "default-mode"
    with pytest.raises(Exception, match="UNSUPPORTED_DATA_SOURCE_SAVE_MODE"):
        people.write.format("ppml-enc").options(**kms).option("header", "true").save(str(target))
    assert not target.exists()
    for mode in ("append", "append", "overwrite", "append"):
        people.write.format("ppml-enc").options(**kms).option("header", "true").mode(mode).save(str(target))
    back = namespace["spark"].read.format("ppml-enc").options(**kms).option("header", "true").load(str(target))
    assert back.count() == 2 * people.count()


# ------------------------------------------------------------------------------------------------ docs/AZURE.md


def test_azure_blocks_against_the_emulators(
    spark: Any, kv: Any, azurite: Any, container: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exports ./dev emulators prints (tests/emulators.py), then the page's CLI and Spark blocks."""
    exports = {
        "PPML_AZ_KV_CREDENTIAL": "emulator",
        "PPML_AZ_KV_CA_BUNDLE": str(kv.ca_path),
        "PPML_AZ_KV_VERIFY_CHALLENGE_RESOURCE": "false",
        "PPML_AZ_BLOB_ENDPOINT": azurite.endpoint,
        "AZURE_STORAGE_ACCOUNT": azurite.account,
        "AZURE_STORAGE_KEY": azurite.key,
        "KV_URL": kv.url,
        "ABFSS_ROOT": azurite.url(container),
    }
    out = run_shell(doc_block("docs/AZURE.md", "cli"), tmp_path, **exports)
    assert "round trip OK" in out
    for name, value in exports.items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, Any] = {"__name__": "__azure__"}
    run_python(doc_block("docs/AZURE.md", "spark"), tmp_path, namespace, "docs/AZURE.md spark")
    assert [tuple(r) for r in namespace["older"].collect()] == [("Bob", "32", "Developer")]
    blobs = [b.name for b in azurite.service().get_container_client(container).list_blobs("older-enc/")]
    assert any(name.endswith(".csv.enc") for name in blobs) and "older-enc/_SUCCESS" in blobs


# ------------------------------------------------------------------------------------------------ docs/KMS.md


def test_kms_plugin_blocks(tmp_path: Path) -> None:
    """The page's plug-in package (pyproject.toml + module), pip-installed offline into a directory on
    PYTHONPATH, then the page's CLI commands; Spark's workers are tests/test_kms_plugin.py's part."""
    package = tmp_path / "my-ppml-kms"
    (package / "my_ppml_kms").mkdir(parents=True)
    (package / "pyproject.toml").write_text(doc_block_of_language("docs/KMS.md", "toml"))
    (package / "my_ppml_kms" / "__init__.py").write_text(doc_block("docs/KMS.md", "plugin-module"))
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "--target", str(site), str(package)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    work = tmp_path / "work"
    (work / "data" / "sub").mkdir(parents=True)
    (work / "data" / "people.csv").write_text("name,age\nAnna,41\n")
    (work / "data" / "sub" / "blob.bin").write_bytes(os.urandom(5000))
    run_shell(doc_block("docs/KMS.md", "plugin-cli"), work, PYTHONPATH=str(site))
    for name in ("people.csv", "sub/blob.bin"):
        assert (work / "data.out" / name).read_bytes() == (work / "data" / name).read_bytes()
        assert (work / "data.enc" / name).read_bytes() != (work / "data" / name).read_bytes()


# ------------------------------------------------------------------------------------------------ bundle


def test_bundle_requirements_are_the_package_metadata(tmp_path: Path) -> None:
    """docs/DATASOURCE.md sends --py-files users to `ppml-az bundle --requirements`, not to a hand-kept list (which
    once forgot pandas, hence numpy, and rich): the printed list is the installed metadata without extras."""
    import importlib.metadata

    from packaging.requirements import Requirement  # an independent parse of the markers (a test-time dependency)

    done = subprocess.run([str(VENV_BIN / "ppml-az"), "bundle", "--requirements"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    metadata = importlib.metadata.requires("bigdl-ppml-az") or []
    runtime = [r for r in metadata if not (Requirement(r).marker and "extra" in str(Requirement(r).marker))]
    assert printed == list(dict.fromkeys(runtime))
    names = {Requirement(r).name for r in printed}
    assert {"pyarrow", "pandas", "rich", "cryptography", "azure-identity", "azure-keyvault-keys"} <= names
    assert not names & {"pytest", "duckdb", "tpchgen-cli", "hypothesis"}  # extras stay out
    pandas_needs = {Requirement(r).name for r in importlib.metadata.requires("pandas") or []}
    assert "numpy" in pandas_needs  # so `pip install -r` of the list gives the workers numpy too
    # with a zip as well, stdout is still only the list (`> requirements.txt`); the zip is written
    both = subprocess.run(
        [str(VENV_BIN / "ppml-az"), "bundle", str(tmp_path / "ppml.zip"), "--requirements"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert both.returncode == 0 and both.stdout.splitlines() == printed and (tmp_path / "ppml.zip").exists()
    assert "rich" in both.stderr  # the zip's message names what executors need
    neither = subprocess.run([str(VENV_BIN / "ppml-az"), "bundle"], capture_output=True, text=True)
    assert neither.returncode != 0 and neither.stderr.count("\n") == 1 and "--requirements" in neither.stderr
    datasource = (REPO / "docs" / "DATASOURCE.md").read_text(encoding="utf-8")
    assert "ppml-az bundle --requirements" in datasource
    assert "(pyarrow, cryptography, the Azure SDKs)" not in datasource


# ------------------------------------------------------------------------------------------------ links


def _links() -> list[tuple[str, str]]:
    found = []
    for doc in [*doc_files(), REPO / "bench" / "RESULTS.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            resolved = (doc.parent / target).resolve()
            found.append((str(doc.relative_to(REPO)), str(resolved.relative_to(REPO))))
    return found


def test_doc_links_resolve() -> None:
    links = _links()
    assert ("README.md", "docs/AZURE.md") in links
    missing = [f"{doc} -> {target}" for doc, target in links if not (REPO / target).exists()]
    assert missing == []
