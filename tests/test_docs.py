"""The docs are true: generated reference pages match the code, and every code block in README.md and
docs/*.md runs as written (tests/_docs_kit.py says how blocks run and how a block is marked)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import _docs_kit as kit
import duckdb
import numpy as np
import pytest

from features.config import load_project
from features.errors import ConfigError

REPO = kit.REPO
DOCS = REPO / "docs"


# --------------------------------------------------------------------------- markup of code blocks


def test_every_docs_file_has_only_blocks_the_harness_can_run_or_show() -> None:
    for file in kit.doc_files():
        blocks = kit.parse_blocks(file.read_text(encoding="utf-8"), file.relative_to(REPO).as_posix())
        assert all(b.skip or b.kind is None or b.code.strip() for b in blocks), file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("```\nls\n```\n", "README.md:1: a code block must name its language"),
        ("<!-- run: skip -->\n```sh\nls\n```\n", "README.md:1: `run: skip` needs a reason"),
        ("<!-- run: later -->\n```sh\nls\n```\n", "README.md:1: unknown marker `run: later`"),
        ("<!-- run: skip why -->\n\ntext\n", "README.md:1: a `<!-- run: … -->` marker must be right above"),
        ("<!-- run: with RUN -->\n```sh\nls\n```\n", "README.md:1: write `run: with NAME=VALUE"),
        ("x\n```sh\nls\n", "README.md:2: the code block is never closed"),
    ],
)
def test_a_block_the_harness_cannot_run_is_an_error_naming_its_line(text: str, message: str) -> None:
    with pytest.raises(
        kit.DocsMarkupError, match=message.replace("`", ".").replace("(", ".").replace(")", ".")
    ):
        kit.parse_blocks(text, "README.md")


def test_markers_set_skip_needs_and_placeholders() -> None:
    text = (
        "intro\n\n<!-- run: skip it needs a cluster -->\n```sh\ntorchrun x\n```\n"
        "- item\n\n  <!-- run: needs jq dot -->\n  <!-- run: with RUN=latest N=2 -->\n  ```bash\n  fstore x RUN RUNS N\n  ```\n"
        "```text\noutput\n```\n"
        "<!-- run: with range(5)=range(1) -->\n```python\nfor i in range(5):\n    f(range(50), x.range(5))\n```\n"
    )
    first, second, third, fourth = kit.parse_blocks(text, "d.md")
    assert (first.line, first.skip, first.kind) == (4, "it needs a cluster", "sh")
    assert (second.line, second.needs, second.kind) == (11, ("jq", "dot"), "sh")
    assert second.runnable_code() == "fstore x latest RUNS 2\n"
    assert (third.kind, third.code) == (None, "output\n")
    assert fourth.runnable_code() == "for i in range(1):\n    f(range(50), x.range(5))\n"


# --------------------------------------------------------------------------- running the blocks


@pytest.fixture(scope="session")
def docs_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One default project, built and trained once (tiny settings); each Markdown file gets a copy."""
    return kit.make_project(tmp_path_factory.mktemp("docs") / "template")


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _run_sh(block: kit.Block, project: Path, script: Path) -> str | None:
    script.write_text(kit.SH_PRELUDE + "set -eo pipefail\n" + block.runnable_code(), encoding="utf-8")
    done = kit.run(["bash", str(script)], project)
    return None if done.returncode == 0 else f"exit {done.returncode}\n{_tail(done.stdout + done.stderr)}"


def _run_python(block: kit.Block, project: Path, script: Path) -> str | None:
    script.write_text(block.runnable_code(), encoding="utf-8")
    done = kit.run([sys.executable, str(script)], project)
    return None if done.returncode == 0 else f"exit {done.returncode}\n{_tail(done.stderr or done.stdout)}"


def _run_toml(block: kit.Block, project: Path, script: Path) -> str | None:
    root = kit.project_with_config(script.parent / script.stem, block.runnable_code())
    try:
        load_project(root)
    except ConfigError as err:
        return f"not a valid config/project.toml: {err}"
    return None


def _run_sql_model(block: kit.Block, project: Path, name: str) -> str | None:
    (project / "sql" / "docs").mkdir(parents=True, exist_ok=True)
    (project / "sql" / "docs" / f"{name}.sql").write_text(block.runnable_code(), encoding="utf-8")
    done = kit.run(["fstore", "build", "--select", name, "--quiet"], project)
    if done.returncode != 0:
        return f"`fstore build --select {name}` exit {done.returncode}\n{_tail(done.stdout + done.stderr)}"
    con = duckdb.connect(str(load_project(project).warehouse_path), read_only=True)
    try:
        tests = con.execute(
            "select test, status, failures from build_tests where model = ? and build_id = "
            "(select build_id from build_runs order by started_at desc limit 1)",
            [name],
        ).fetchall()
    finally:
        con.close()
    failed = [f"{test}: {status} ({failures} rows)" for test, status, failures in tests if status != "pass"]
    return f"its data tests do not pass: {'; '.join(failed)}" if failed else None


def _run_sql(block: kit.Block, project: Path, script: Path) -> str | None:
    from features.models.headers import parse_header

    header = parse_header(block.code, block.where)
    if header.lines or header.tests:
        return _run_sql_model(block, project, f"docs_{script.stem.lower()}")
    con = duckdb.connect(str(load_project(project).warehouse_path), read_only=True)
    try:
        for statement in con.extract_statements(block.runnable_code()):
            try:
                con.execute(statement).fetchall()
            except duckdb.Error as err:
                return f"{type(err).__name__}: {err}\n{statement.query.strip()}"
    finally:
        con.close()
    return None


RUNNERS = {"sh": _run_sh, "python": _run_python, "toml": _run_toml, "sql": _run_sql}


@pytest.mark.parametrize("doc", kit.doc_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_code_block_runs(doc: Path, docs_project: Path, tmp_path: Path, monkeypatch) -> None:
    """Each sh/sql/python/toml block of the file, in order, in a copy of the built and trained project;
    every failing block is reported with its file and line."""
    name = doc.relative_to(REPO).as_posix()
    blocks = [b for b in kit.parse_blocks(doc.read_text(encoding="utf-8"), name) if b.kind]
    if not blocks:
        pytest.skip(f"{name} has no code block to run")
    project = kit.copy_project(docs_project, tmp_path / "project")
    monkeypatch.chdir(project)  # a relative path in a SQL block means the project's
    failures, missing = [], []
    for block in blocks:
        absent = [tool for tool in block.needs if shutil.which(tool) is None]
        if block.skip or absent:
            missing += [f"{block.where} needs {', '.join(absent)}"] if absent else []
            continue
        script = tmp_path / f"{Path(name).stem}_L{block.line}.{'sh' if block.kind == 'sh' else 'py'}"
        problem = RUNNERS[block.kind](block, project, script)
        if problem:
            failures.append(f"{block.where}: this ```{block.lang} block fails: {problem}")
    assert not failures, "\n\n".join(failures)
    if missing:
        pytest.skip("; ".join(missing))


# --------------------------------------------------------------------------- the README is a front door

README_MAX_LINES = 220  # issue 14: a front door of ~200 lines; the reference lives in docs/


def stray_comments(text: str, file: str) -> list[str]:
    """``file:line`` of every HTML comment in ``text`` that is not a harness ``<!-- run: … -->`` marker."""
    lines = text.splitlines()
    return [
        f"{file}:{n}: {line.strip()}"
        for n, line in enumerate(lines, 1)
        if "<!--" in line and not kit._MARKER.match(line)
    ]


def test_a_stray_comment_is_found_and_a_run_marker_is_not() -> None:
    text = "# x\n<!-- run: skip it needs a cluster -->\n```sh\nls\n```\n<!-- SECTION:warehouse-more -->\n"
    assert stray_comments(text, "README.md") == ["README.md:6: <!-- SECTION:warehouse-more -->"]


def test_the_readme_stays_short_and_has_no_stray_markers() -> None:
    """At most README_MAX_LINES lines, and no HTML comment but the harness's ``<!-- run: … -->`` markers
    (a stray ``<!-- SECTION -->`` once shipped in it)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move reference to docs/"
    assert not stray_comments(text, "README.md"), "\n".join(stray_comments(text, "README.md"))


# --------------------------------------------------------------------------- links between the pages

# pages another branch is writing, linked already (issue 14); the test below says when one has landed
AWAITED: set[str] = set()
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor in a Markdown text (headings inside code blocks are code, not headings)."""
    found: set[str] = set()
    fence = None
    for line in text.splitlines():
        opened = re.match(r"^\s*(`{3,}|~{3,})", line)
        if opened:
            fence = None if fence and opened[1].startswith(fence) else (fence or opened[1])
            continue
        heading = None if fence else _HEADING.match(line)
        if heading:
            base, n = slug(heading["title"]), 1
            name = base
            while name in found:  # a repeated heading gets -1, -2, … as on GitHub
                name, n = f"{base}-{n}", n + 1
            found.add(name)
    return found


def broken_links(file: Path, text: str) -> list[str]:
    """Relative links of ``text`` (the page ``file``) to a missing page or a missing heading."""
    prose = re.sub(r"^\s*(`{3,}|~{3,}).*?^\s*\1\s*$", "", text, flags=re.S | re.M)  # no code blocks
    prose = re.sub(r"`[^`\n]*`", "", prose)  # no inline code
    problems = []
    for match in _LINK.finditer(prose):
        target = match["target"]
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        page = (file.parent / path).resolve() if path else file
        name = page.relative_to(REPO).as_posix() if page.is_relative_to(REPO) else str(page)
        if page != file and not page.is_file():
            if name not in AWAITED:
                problems.append(f"{file.name}: ({target}): no file {name}")
            continue
        headings = anchors(text if page == file else page.read_text(encoding="utf-8"))
        if anchor and page.suffix == ".md" and anchor not in headings:
            problems.append(f"{file.name}: ({target}): {name} has no heading #{anchor}")
    return problems


def test_the_link_checker_finds_a_missing_page_and_a_missing_heading(tmp_path: Path) -> None:
    page = REPO / "docs" / "x.md"
    text = (
        "# Title\n## A `code` heading: yes\n```sh\n# not a heading\n```\n"
        "[ok](#a-code-heading-yes) [ok](models.md#the-build-log) [web](https://x.org/#y) `[no](#z)`\n"
        "[bad](#not-a-heading) [bad](nowhere.md) [bad](models.md#nope)\n"
    )
    assert anchors(text) == {"title", "a-code-heading-yes"}
    assert [p.split(": ", 1)[1] for p in broken_links(page, text)] == [
        "(#not-a-heading): docs/x.md has no heading #not-a-heading",
        "(nowhere.md): no file docs/nowhere.md",
        "(models.md#nope): docs/models.md has no heading #nope",
    ]


def test_every_link_between_the_pages_resolves() -> None:
    """README.md and docs/*.md: every relative link reaches a page, and every #anchor a heading of it."""
    problems = [p for file in kit.doc_files() for p in broken_links(file, file.read_text(encoding="utf-8"))]
    assert not problems, "\n".join(problems)


def test_awaited_pages_are_still_awaited() -> None:
    landed = sorted(name for name in AWAITED if (REPO / name).is_file())
    assert not landed, f"{landed} exist now: remove them from AWAITED so their links are checked"


# --------------------------------------------------------------------------- what the queries say


def _sql_after(phrase: str) -> str:
    """The first SQL block after ``phrase`` in README.md or docs/*.md (wherever the docs moved it)."""
    for file in kit.doc_files():
        text = file.read_text(encoding="utf-8")
        if phrase in text:
            line = text[: text.index(phrase)].count("\n") + 1
            blocks = kit.parse_blocks(text, file.name)
            return next(b.code for b in blocks if b.lang == "sql" and b.line > line)
    raise AssertionError(f"no doc says {phrase!r} any more: point this test at the query's new words")


def test_the_subcategory_query_counts_each_pair_of_assets_once(docs_project: Path) -> None:
    """The docs' 'which sub-categories the model puts together' query, against numpy over the same (trained)
    vectors: one row per pair of sub-categories, each pair of assets counted once."""
    con = duckdb.connect(str(docs_project / "data" / "warehouse.duckdb"), read_only=True)
    try:
        got = con.execute(_sql_after("Which sub-categories the model puts together")).fetchall()
        rows = con.execute(
            "select e.subcategory, e.vector from train_embeddings e join train_runs r"
            " on e.run_id = r.run_id and e.epoch = r.best_epoch"
            " where r.run_id = (select run_id from train_runs where status = 'finished'"
            " order by started_at desc limit 1) and e.trained is not false"  # as the query: untrained rows are random
        ).fetchall()
    finally:
        con.close()
    groups = [g for g, _ in rows]
    vectors = np.array([v for _, v in rows], dtype=np.float64)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    expected: dict[frozenset, list[float]] = {}
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            expected.setdefault(frozenset((groups[i], groups[j])), []).append(cosine[i, j])
    assert len(got) == len(expected) == len({frozenset((a, b)) for a, b, *_ in got}), "one row per pair"
    for a, b, pairs, mean in got:
        values = expected[frozenset((a, b))]
        assert pairs == len(values), (a, b)
        assert mean == pytest.approx(np.mean(values), abs=1e-3), (a, b)
