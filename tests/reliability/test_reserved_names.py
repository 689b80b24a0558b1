"""Names fstore owns can never be taken by a model, and every relation fstore creates is registered.

The registry is ``features.system``. Two tests keep it complete: one runs the user's loop (build,
train, snapshot, evaluate, embeddings, and predict when the CLI has it) and finds every relation in
the warehouse either a model or registered; one scans the source for ``create table`` statements
naming a literal that is neither registered nor under a reserved prefix.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path

import duckdb
import pytest
from _reliability_kit import REPO, fstore, fstore_cmd, make_project
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from features.config import load_project
from features.errors import ModelError
from features.models.discovery import discover
from features.system import RESERVED_PREFIXES, SYSTEM_RELATIONS, is_reserved

SYMBOLS = {"sectors": {"Technology": ["AAPL", "MSFT"], "Finance": ["JPM"]}, "crypto": {"Major": ["BTCUSD"]}}


def _mixed_case(draw: st.DrawFn, name: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "".join(c.upper() if f else c for c, f in zip(name, flips, strict=True))


@st.composite
def reserved_names(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        name = draw(st.sampled_from(sorted(SYSTEM_RELATIONS)))
    else:
        prefix = draw(st.sampled_from(RESERVED_PREFIXES))
        name = prefix + draw(st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True))
    return _mixed_case(draw, name)


@settings(max_examples=40, deadline=None)
@given(name=reserved_names(), python=st.booleans())
def test_a_model_named_like_a_system_relation_is_refused_naming_its_file(
    tmp_path_factory: pytest.TempPathFactory, name: str, python: bool
) -> None:
    assume(not (python and name.startswith("_")))  # a function named _… is a helper, never a model
    root = tmp_path_factory.mktemp("p")
    (root / "config").mkdir()
    (root / "config" / "project.toml").write_text('[paths]\npython_models = ["models"]\n')
    if python:
        (root / "models").mkdir()
        file = "models/m.py"
        (root / file).write_text(
            f"from features.models import model\n\n\n@model()\ndef {name}(raw_prices):\n    return raw_prices\n"
        )
    else:
        (root / "sql").mkdir()
        file = f"sql/{name}.sql"
        (root / file).write_text("select 1 as a\n")
    found = discover(load_project(root))
    assert not found.models
    (err,) = found.problems
    assert isinstance(err, ModelError) and err.file == file and "reserved" in str(err)


def test_ordinary_names_are_not_reserved() -> None:
    for name in ("training_set", "price_features", "train_features", "my_dim_symbol", "fstore_x", "runs"):
        assert not is_reserved(name), name


# --------------------------------------------------------------------------- through the CLI


def _tables(db: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute("select table_name from duckdb_tables() where schema_name='main'").fetchall()
        ]
        return {n: sorted(con.execute(f'select * from "{n}"').fetchall(), key=repr) for n in names}
    finally:
        con.close()


@pytest.mark.parametrize("name", ["train_runs", "build_runs", "dim_symbol", "Raw_Prices"])
def test_a_model_cannot_replace_a_system_table(tmp_path: Path, name: str) -> None:
    """The issue's reproductions: `sql/train_runs.sql` wiped the training history, `sql/build_runs.sql`
    broke every later build, `sql/dim_symbol.sql` built features on a fake dimension."""
    root = make_project(tmp_path / "p", SYMBOLS, years=0.2)
    assert fstore(root, "build", "--quiet").returncode == 0
    db = root / "data" / "warehouse.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create table if not exists train_runs (run_id varchar, status varchar)")
    con.execute("insert into train_runs (run_id, status) values ('r1', 'finished')")
    con.close()
    before = _tables(db)
    (root / "sql" / f"{name}.sql").write_text("select 1 as asset_id, 'FAKE' as symbol\n")
    out = fstore(root, "build")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert f"sql/{name}.sql" in out.stderr and "reserved" in out.stderr
    assert _tables(db) == before  # nothing ran
    (root / "sql" / f"{name}.sql").unlink()
    again = fstore(root, "build", "--quiet")
    assert again.returncode == 0, again.stderr


@pytest.fixture(scope="module")
def full_loop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project taken through every command that writes the warehouse."""
    root = make_project(tmp_path_factory.mktemp("loop") / "p", SYMBOLS, years=1.0)
    with (root / "config" / "project.toml").open("a") as toml:
        toml.write("[loader]\nlookback = 5\n[model]\nhidden = 8\n")
    steps = [
        ("build", "--quiet"),
        ("train", "--epochs", "1", "--max-train-samples", "256", "--no-progress", "--device", "cpu"),
        ("snapshot", "create", "snap1"),
        ("evaluate", "latest"),
        ("embeddings", "latest"),
        ("runs",),
        ("predict", "latest"),
    ]
    for step in steps:
        out = fstore(root, *step)
        assert out.returncode == 0, (step, out.stderr)
    return root


def test_every_relation_fstore_creates_is_a_model_or_registered(full_loop: Path) -> None:
    con = duckdb.connect(str(full_loop / "data" / "warehouse.duckdb"), read_only=True)
    try:
        found = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database()"
            " union all select schema_name, view_name from duckdb_views()"
            " where database_name = current_database() and not internal"
        ).fetchall()
    finally:
        con.close()
    models = {name.lower() for name in discover(load_project(full_loop)).models}
    assert {schema for schema, _ in found} == {"main"}, "fstore created a schema: register its relations"
    unregistered = sorted(name for _, name in found if name.lower() not in models and not is_reserved(name))
    assert not unregistered, f"add these to features.system.SYSTEM_RELATIONS: {unregistered}"
    assert {"dim_symbol", "raw_prices", "train_runs", "dataset_snapshots"} <= {n for _, n in found}


_CREATE = re.compile(
    r"create\s+(?:or\s+replace\s+)?(?:temp\s+|temporary\s+)?(?:table|view)\s+(?:if\s+not\s+exists\s+)?"
    r"(\{[A-Z_]+\}|[A-Za-z_][A-Za-z0-9_]*)",
    re.I,
)


def _sql_strings(tree: ast.AST) -> list[str]:
    """The string literals of a module (f-strings with ``{NAME}`` kept for their constants), without
    docstrings."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    parts_of_fstrings = {
        id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values
    }
    skip = docstrings | parts_of_fstrings
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [
                v.value if isinstance(v, ast.Constant) else "{" + getattr(v.value, "id", "?") + "}"
                for v in node.values
            ]
            out.append("".join(str(p) for p in parts))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            out.append(node.value)
    return out


def test_every_table_the_source_creates_by_name_is_registered() -> None:
    """A ``create table <name>`` (or ``{CONSTANT}`` naming one) in any SQL string of features/ or
    training/ must be registered: this catches tables of commands the loop above does not run."""
    missing = []
    for path in sorted([*(REPO / "features").rglob("*.py"), *(REPO / "training").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            node.targets[0].id: node.value.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        }
        for text in _sql_strings(tree):
            for match in _CREATE.finditer(text):
                name = match.group(1)
                if name.startswith("{"):
                    name = constants.get(name.strip("{}"), "")
                if name and not is_reserved(name):
                    missing.append(f"{path.relative_to(REPO)}: {name}")
    assert not missing, f"register these in features.system.SYSTEM_RELATIONS: {missing}"


def test_the_runs_table_is_readable_at_100_columns(full_loop: Path) -> None:
    """`fstore runs` needed ~144 columns (issue 14): now every line fits 100, nothing is folded (the
    run ID whole on its line) and numbers are short."""
    env = {**os.environ, "COLUMNS": "100"}
    out = subprocess.run(fstore_cmd(full_loop, "runs"), capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    con = duckdb.connect(str(full_loop / "data" / "warehouse.duckdb"), read_only=True)
    try:
        run_id, loss = con.execute("select run_id, best_valid_loss from train_runs").fetchone()
    finally:
        con.close()
    assert any(run_id in line.split() for line in lines)
    assert repr(loss) not in out.stdout
    shown = [float(t) for line in lines for t in line.split() if t.replace(".", "", 1).isdigit()]
    assert any(abs(v - loss) <= 1e-3 * abs(loss) and len(str(v)) <= 8 for v in shown)
