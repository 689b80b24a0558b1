"""A table of bad inputs: each exits non-zero, names the culprit, and changes nothing.

One small project is built once; every case runs on a fresh copy of it, applies one bad edit,
runs one `fstore` command, and checks the exit code, that the message names the file / line /
model / symbol, that no traceback is printed, and that every relation and the mapping JSON are
byte-for-byte what they were (logs of the failed attempt excepted).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from _reliability_kit import fstore, make_project, relation_fingerprints

SYMBOLS = {
    "sectors": {"Technology": ["AAPL", "MSFT"], "Finance": ["JPM"]},
    "etfs": {"Market": ["SPY"]},
    "crypto": {"Major": ["BTCUSD"]},
    "indices": {"Dow30": ["AAPL", "MSFT", "JPM"]},
}


def _write(root: Path, rel: str, text: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def _edit_json(root: Path, rel: str, change: Callable[[dict], None]) -> None:
    path = root / rel
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def _symbols(change: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda root: _edit_json(root, "config/symbols.json", change)


def _mapping(change: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda root: _edit_json(root, "config/asset_id_mapping.json", change)


def _file(rel: str, text: str | bytes) -> Callable[[Path], None]:
    return lambda root: _write(root, rel, text)


def _append_toml(text: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        with (root / "config" / "project.toml").open("a") as handle:
            handle.write(text)

    return edit


def _py_model(source: str) -> Callable[[Path], None]:
    return lambda root: _write(root, "models/pm.py", "from features import model\n\n\n" + source)


def _swap_ids(d: dict) -> None:
    a, b = d["symbol_to_id"]["AAPL"], d["symbol_to_id"]["MSFT"]
    d["symbol_to_id"]["AAPL"], d["symbol_to_id"]["MSFT"] = b, a
    d["id_to_symbol"][str(a)], d["id_to_symbol"][str(b)] = "MSFT", "AAPL"


def _gap(d: dict) -> None:
    old = d["symbol_to_id"]["SPY"]
    d["symbol_to_id"]["SPY"] = 40
    d["id_to_symbol"]["40"] = d["id_to_symbol"].pop(str(old))


@dataclass(frozen=True)
class Case:
    id: str
    edit: Callable[[Path], None] | None
    args: tuple[str, ...]
    needles: tuple[str, ...]
    rc: int | None = None  # None: any non-zero


PRICE_HEADER = "Date,Open,High,Low,Close,Volume\n"
CASES = [
    # --- config/symbols.json
    Case(
        "symbols-missing",
        lambda r: (r / "config/symbols.json").unlink(),
        ("build",),
        ("symbols.json", "not found"),
    ),
    Case(
        "symbols-not-json",
        _file("config/symbols.json", '{"sectors": {\n  "Tech": ["AAPL",]\n}}'),
        ("build",),
        ("symbols.json:2:", "not valid JSON"),
    ),
    Case(
        "symbols-wrong-shape",
        _file("config/symbols.json", '{"sectors": ["AAPL"]}'),
        ("build",),
        ("symbols.json", "must map sub-categories"),
    ),
    Case(
        "symbols-non-string",
        _symbols(lambda d: d["sectors"]["Technology"].append(12)),
        ("build",),
        ("symbols.json", "must be a string"),
    ),
    Case(
        "symbols-empty",
        _symbols(lambda d: d["sectors"]["Technology"].append("")),
        ("build",),
        ("symbols.json", "is empty"),
    ),
    Case(
        "symbols-lowercase",
        _symbols(lambda d: d["etfs"]["Market"].append("qqq")),
        ("build",),
        ("symbols.json", "'QQQ'"),
    ),
    Case(
        "symbols-duplicate",
        _symbols(lambda d: d["etfs"]["Market"].append("JPM")),
        ("build",),
        ("'JPM'", "sectors.Finance", "etfs.Market"),
    ),
    Case(
        "symbols-hostile",
        _symbols(lambda d: d["sectors"]["Technology"].append("X'); DROP TABLE dim_symbol; --")),
        ("symbols", "sync"),
        ("symbols.json", "may only hold"),
    ),
    Case(
        "symbols-new-unsynced",
        _symbols(lambda d: d["sectors"]["Technology"].extend(["NEWA", "NEWB"])),
        ("build",),
        ("NEWA", "NEWB", "fstore symbols sync"),
    ),
    # --- config/asset_id_mapping.json
    Case(
        "mapping-directions",
        _mapping(lambda d: d["id_to_symbol"].update({"0": "MSFT"})),
        ("build",),
        ("asset_id_mapping.json", "disagree"),
    ),
    Case(
        "mapping-repeat",
        _mapping(lambda d: d["symbol_to_id"].update({"MSFT": d["symbol_to_id"]["AAPL"]})),
        ("build",),
        ("asset_id_mapping.json", "several symbols"),
    ),
    Case("mapping-gap", _mapping(_gap), ("build",), ("asset_id_mapping.json", "not contiguous")),
    Case("mapping-renumbered", _mapping(_swap_ids), ("build",), ("asset_id_mapping.json", "history")),
    Case(
        "mapping-not-json",
        _file("config/asset_id_mapping.json", "{"),
        ("build",),
        ("asset_id_mapping.json", "not valid JSON"),
    ),
    # --- raw price files
    Case(
        "prices-garbage",
        _file("data/raw/AAPL.csv", b"\x00\x01garbage\xff\xfe"),
        ("build",),
        ("data/raw/AAPL.csv",),
    ),
    Case(
        "prices-no-close",
        _file("data/raw/AAPL.csv", "Date,Open,High,Low,Volume\n2024-01-02,1,2,0.5,10\n"),
        ("build",),
        ("AAPL.csv", "no close column"),
    ),
    Case(  # quarantined by default since issue 14; "error" keeps the old stop
        "prices-unknown-symbol",
        lambda r: (
            _file("data/raw/NEWCO.csv", PRICE_HEADER + "2024-01-02,1,2,0.5,1.5,10\n")(r),
            _append_toml('\n[ingest]\nunknown_symbols = "error"\n')(r),
        ),
        ("build",),
        ("NEWCO", "no asset ID"),
    ),
    Case(
        "prices-bad-parquet",
        _file("data/raw/AAPL.parquet", b"PAR1 not really"),
        ("build",),
        ("AAPL.parquet",),
    ),
    Case("prices-empty-file", _file("data/raw/AAPL.csv", ""), ("build",), ("AAPL.csv",)),
    Case(
        "prices-all-rows-bad",
        _file("data/raw/AAPL.csv", PRICE_HEADER + "not-a-date,1,2,0.5,1.5,10\n"),
        ("build",),
        ("AAPL.csv", "rejected"),
    ),
    # --- SQL models and headers
    Case(
        "sql-syntax",
        _file("sql/staging/bad.sql", "select 1 as x,\n  from where\n"),
        ("build",),
        ("sql/staging/bad.sql:2:", "syntax"),
    ),
    Case(
        "sql-unknown-relation",
        _file("sql/staging/bad.sql", "select * from stg_prics\n"),
        ("build",),
        ("sql/staging/bad.sql:1", "stg_prics", "did you mean"),
    ),
    Case(
        "sql-cycle",
        lambda r: (_write(r, "sql/a.sql", "select * from b\n"), _write(r, "sql/b.sql", "select * from a\n")),
        ("build",),
        ("cycle", "a → b → a"),
    ),
    Case(
        "sql-header-key",
        _file("sql/staging/bad.sql", "-- materialise: table\nselect 1 as x\n"),
        ("build",),
        ("sql/staging/bad.sql:1", "materialise"),
    ),
    Case(
        "sql-header-value",
        _file("sql/staging/bad.sql", "-- materialized: snapshot\nselect 1 as x\n"),
        ("build",),
        ("sql/staging/bad.sql:1", "snapshot"),
    ),
    Case(
        "sql-leakage",
        _file(
            "sql/staging/bad.sql",
            "select symbol, lead(close) over (partition by symbol order by ts) as n from raw_prices\n",
        ),
        ("build",),
        ("sql/staging/bad.sql:1", "LEAD"),
    ),
    Case(
        "sql-duplicate-name",
        _file("sql/marts/stg_prices.sql", "select 1 as x\n"),
        ("build",),
        ("sql/marts/stg_prices.sql", "sql/staging/stg_prices.sql"),
    ),
    Case(
        "sql-name-not-identifier",
        _file("sql/marts/bad-name.sql", "select 1 as x\n"),
        ("build",),
        ("bad-name.sql", "identifier"),
    ),
    Case(
        "sql-runtime-error",
        _file("sql/marts/boom.sql", "select cast('x' as integer) as y\n"),
        ("build",),
        ("boom",),
    ),
    Case(
        "sql-bad-test",
        _file("sql/marts/t.sql", "-- test: not_nul(x)\nselect 1 as x\n"),
        ("build",),
        ("sql/marts/t.sql:1", "not_nul"),
    ),
    # --- Python models
    Case(
        "py-bad-param",
        _py_model("@model\ndef pm(nosuch):\n    return nosuch\n"),
        ("build",),
        ("models/pm.py", "nosuch"),
    ),
    Case("py-syntax", _py_model("@model\ndef pm(stg_prices:\n"), ("build",), ("models/pm.py", "SyntaxError")),
    Case(
        "py-returns-int",
        _py_model("@model\ndef pm(stg_prices):\n    return 42\n"),
        ("build",),
        ("models/pm.py", "pm", "DataFrame"),
    ),
    Case(
        "py-raises",
        _py_model("@model\ndef pm(stg_prices):\n    raise RuntimeError('boom')\n"),
        ("build",),
        ("pm", "boom"),
    ),
    # --- project / training config
    Case(
        "toml-unknown-key", _append_toml("\n[train]\nepochz = 3\n"), ("build",), ("project.toml:", "epochz")
    ),
    Case(
        "toml-wrong-type",
        _append_toml("\n[train]\nepochs = 'many'\n"),
        ("build",),
        ("project.toml:", "epochs"),
    ),
    Case("toml-broken", _append_toml("\n[train\n"), ("build",), ("project.toml", "TOML")),
    Case(
        "toml-unknown-section",
        _append_toml("\n[trian]\nepochs = 1\n"),
        ("build",),
        ("project.toml:", "trian"),
    ),
    # --- CLI arguments
    Case("cli-select-unknown", None, ("build", "--select", "stg_prics"), ("stg_prics",)),
    Case("cli-compile-unknown", None, ("compile", "nosuch"), ("nosuch",)),
    Case("cli-lineage-format", None, ("lineage", "badformat"), ("MODEL.COLUMN",)),
    Case("cli-query-write", None, ("query", "drop table dim_symbol"), ("read-only", "--write")),
    Case("cli-snapshot-name", None, ("snapshot", "create", "bad name"), ("bad name", "identifier")),
    Case("cli-train-device", None, ("train", "--device", "tpu"), ("tpu",)),
    Case("cli-symbols-version", None, ("symbols", "list", "--version", "9.9"), ("9.9",)),
]


def _state(root: Path) -> dict[str, object]:
    """Every relation's content hash plus the mapping JSON's bytes."""
    mapping = root / "config" / "asset_id_mapping.json"
    state: dict[str, object] = {"mapping.json": mapping.read_bytes() if mapping.exists() else None}
    state.update(relation_fingerprints(root / "data" / "warehouse.duckdb"))
    return state


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(
        tmp_path_factory.mktemp("catalogue") / "base", SYMBOLS, years=0.5, python_models=("models",)
    )
    out = fstore(root, "build", "--quiet")
    assert out.returncode == 0, out.stderr
    return root


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, built: Path, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(built, root)
    if case.edit is not None:
        case.edit(root)  # edits touch files only, never the warehouse
    before = _state(root)
    out = fstore(root, *case.args, env={**os.environ, "COLUMNS": "250"})
    message = out.stderr
    assert out.returncode != 0, f"exit 0 for {case.id}: {out.stdout}"
    if case.rc is not None:
        assert out.returncode == case.rc
    assert "Traceback" not in message, message
    for needle in case.needles:
        assert needle in message, f"{needle!r} not in: {message}"
    assert _state(root) == before, "something changed"
