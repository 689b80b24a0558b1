"""What the reliability suites share: a small real project, the CLI in a subprocess, and a content
fingerprint of every relation (to prove that nothing changed, or that each relation is old-or-new)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
# Logs of builds change on every run by design: fingerprints leave them (and bookkeeping) out.
LOG_TABLES = {"build_runs", "build_models", "build_tests"}


def make_project(
    root: Path, symbols: dict, *, years: float, python_models: tuple[str, ...] = (), paths_extra: str = ""
) -> Path:
    """A project with ``symbols``, the repo's SQL models and Python library, and a synthetic market."""
    (root / "config").mkdir(parents=True)
    (root / "config" / "symbols.json").write_text(json.dumps(symbols, indent=2))
    folders = ", ".join(f'"{p}"' for p in (*python_models, REPO / "features" / "library"))
    (root / "config" / "project.toml").write_text(
        f"[paths]\npython_models = [{folders}]\n{paths_extra}\n[synthetic]\nyears = {years}\n"
    )
    for folder in python_models:
        (root / folder).mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "sql", root / "sql")
    return root


def fstore_cmd(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "features", *args, "--project", str(root)]


def fstore(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(fstore_cmd(root, *args), capture_output=True, text=True, env=env)


def relation_fingerprints(db: Path) -> dict[str, tuple]:
    """(row count, sum of row hashes) of every user relation; logs and bookkeeping must still read."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'"
        ).fetchall():
            if name.startswith("_fstore_") or name in LOG_TABLES:
                con.execute(f'select count(*) from "{name}"').fetchall()  # readable
                continue
            out[name] = tuple(
                con.execute(f'select count(*), sum(hash(t)::hugeint) from "{name}" t').fetchall()[0]
            )
        return out
    finally:
        con.close()
