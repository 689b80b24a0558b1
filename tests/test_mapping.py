"""The asset-ID contract: the strategy's five test cases and five validation checks."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from features.config import load_project
from features.dimension import check_symbols_known, ensure_dimension, sync_symbols
from features.errors import MappingError, UnknownSymbolError
from features.mapping import load_mapping, num_embeddings, symbol_to_id
from features.symbols import load_universe


def _expected_sorted_universe(config: dict) -> list[str]:
    """Independent reference: the strategy's pseudocode, written out again here."""
    unique: set[str] = set()
    for group in ("sectors", "etfs", "crypto"):
        for symbols in config[group].values():
            unique.update(symbols)
    return sorted(unique)


def _build_dimension(root: Path) -> duckdb.DuckDBPyConnection:
    project = load_project(root)
    project.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(project.warehouse_path))
    ensure_dimension(con, project)
    return con


# --- strategy test case 1: generation from the shipped config ------------------------------------


def test_first_mapping_sorts_shipped_universe(tiny_project: Path, shipped_symbols: dict) -> None:
    con = _build_dimension(tiny_project)
    expected = _expected_sorted_universe(shipped_symbols)
    assert len(expected) == 154
    data = json.loads((tiny_project / "config" / "asset_id_mapping.json").read_text())
    assert data["metadata"]["version"] == "1.0"
    assert data["metadata"]["total_symbols"] == 154
    assert data["metadata"]["source_config"] == "symbols.json"
    assert data["symbol_to_id"] == {s: i for i, s in enumerate(expected)}
    assert data["id_to_symbol"] == {str(i): s for i, s in enumerate(expected)}
    assert data["symbol_to_id"]["AAPL"] == 0 and data["symbol_to_id"]["AAVEUSD"] == 1
    assert data["symbol_to_id"]["ABBV"] == 2
    rows = con.execute("select symbol, asset_id from dim_symbol order by asset_id").fetchall()
    assert rows == [(s, i) for i, s in enumerate(expected)]


def test_categories_and_index_membership_are_attributes(tiny_project: Path) -> None:
    con = _build_dimension(tiny_project)
    row = con.execute(
        "select category, subcategory, indices from dim_symbol where symbol = ?", ["AAPL"]
    ).fetchall()[0]
    assert row[0] == "sectors" and row[1] == "Technology"
    assert sorted(row[2]) == ["Dow30", "Nasdaq100Top"]
    assert con.execute("select category from dim_symbol where symbol = 'BTCUSD'").fetchall() == [("crypto",)]


# --- strategy test case 2: persistence and reload ---------------------------------------------------


def test_mapping_persists_and_reloads_identically(tiny_project: Path) -> None:
    _build_dimension(tiny_project).close()
    path = tiny_project / "config" / "asset_id_mapping.json"
    first = path.read_bytes()
    mapping = load_mapping(path)
    mapping.save(tiny_project / "copy.json")
    assert load_mapping(tiny_project / "copy.json").symbol_to_id == mapping.symbol_to_id
    # a second build does not rewrite the record
    _build_dimension(tiny_project).close()
    assert path.read_bytes() == first


# --- strategy test case 3: asset IDs for sample data ----------------------------------------------


def test_ids_assigned_to_sample_price_rows(tiny_project: Path, shipped_symbols: dict) -> None:
    con = _build_dimension(tiny_project)
    sample = ["MSFT", "BTCUSD", "SPY", "MSFT"]
    expected_order = _expected_sorted_universe(shipped_symbols)
    con.execute("create table sample as select * from unnest(?::varchar[]) t(symbol)", [sample])
    got = [
        r[0]
        for r in con.execute("select d.asset_id from sample s join dim_symbol d using (symbol)").fetchall()
    ]
    assert sorted(got) == sorted(expected_order.index(s) for s in sample)
    assert symbol_to_id(sample, load_project(tiny_project)) == [expected_order.index(s) for s in sample]


# --- strategy test case 4: a dummy nn.Embedding fed the IDs ----------------------------------------


def test_ids_feed_an_embedding_layer(tiny_project: Path) -> None:
    torch = pytest.importorskip("torch")
    _build_dimension(tiny_project).close()
    project = load_project(tiny_project)
    n = num_embeddings(project)
    ids = torch.tensor(symbol_to_id(["AAPL", "XRPUSD", "ABBV"], project))
    layer = torch.nn.Embedding(n, 8)
    assert layer(ids).shape == (3, 8)
    with pytest.raises(IndexError):
        layer(torch.tensor([n]))


# --- strategy test case 5: unknown symbol -> clear error ------------------------------------------


def test_unknown_symbol_is_a_clear_error(tiny_project: Path) -> None:
    con = _build_dimension(tiny_project)
    project = load_project(tiny_project)
    with pytest.raises(UnknownSymbolError) as info:
        symbol_to_id(["AAPL", "NOPE", "ALSONOPE"], project)
    assert info.value.symbols == ("ALSONOPE", "NOPE")
    assert "NOPE" in str(info.value) and "fstore symbols sync" in str(info.value)
    with pytest.raises(UnknownSymbolError) as info:
        check_symbols_known(con, ["AAPL", "NEWCO"], source="data/raw/NEWCO.csv")
    assert "data/raw/NEWCO.csv" in str(info.value) and "NEWCO" in str(info.value)
    assert "ID 154" in str(info.value) and "version 1.1" in str(info.value)


# --- the five validation checks -------------------------------------------------------------------


def test_validation_ids_in_range_unique_and_embedding_sized(tiny_project: Path) -> None:
    con = _build_dimension(tiny_project)
    n, lo, hi, distinct = con.execute(
        "select count(*), min(asset_id), max(asset_id), count(distinct asset_id) from dim_symbol"
    ).fetchall()[0]
    assert (lo, hi) == (0, n - 1)  # check 2: IDs lie in [0, num_assets - 1]
    assert distinct == n  # check 3: no two symbols share an ID
    assert num_embeddings(load_project(tiny_project)) == hi + 1  # check 5


def test_mapping_identical_across_runs_and_rebuilds(tiny_project: Path) -> None:
    con = _build_dimension(tiny_project)
    tables = ("dim_symbol", "dim_symbol_history", "mapping_versions")
    before = {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables}
    con.close()
    (tiny_project / "data" / "warehouse.duckdb").unlink()  # the warehouse is disposable
    con = _build_dimension(tiny_project)
    after = {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables}
    assert after == before  # check 4, and history rebuilt from the JSON alone


def test_history_rebuilt_from_json_alone_after_syncs(tiny_project: Path) -> None:
    project = load_project(tiny_project)
    _build_dimension(tiny_project).close()
    cfg_path = tiny_project / "config" / "symbols.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["sectors"]["Technology"] += ["NEWA", "NEWB"]
    cfg_path.write_text(json.dumps(cfg))
    sync_symbols(project)
    cfg["sectors"]["Technology"].remove("NEWA")
    cfg_path.write_text(json.dumps(cfg))
    sync_symbols(project)
    con = duckdb.connect(str(project.warehouse_path))
    tables = ("dim_symbol", "dim_symbol_history", "mapping_versions")
    before = {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables}
    con.close()
    project.warehouse_path.unlink()
    con = _build_dimension(tiny_project)
    assert {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables} == before
    assert con.execute("select count(*) from asset_ids_at('1.0')").fetchall()[0][0] == 154
    assert con.execute("select count(*) from asset_ids_at('1.1')").fetchall()[0][0] == 156
    retired = con.execute("select is_active from asset_ids_at('1.2') where symbol = 'NEWA'").fetchall()
    assert retired == [(False,)]


def test_symbols_never_pasted_into_sql(tiny_project: Path) -> None:
    """A hostile symbol is rejected by the universe parser before any SQL could see it."""
    cfg_path = tiny_project / "config" / "symbols.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["sectors"]["Technology"].append("X'); DROP TABLE dim_symbol; --")
    cfg_path.write_text(json.dumps(cfg, indent=2))
    with pytest.raises(Exception) as info:
        load_universe(cfg_path)
    assert "may only hold" in str(info.value)
    # and lookups bind parameters: a quote in a lookup is just an unknown symbol
    con = _build_dimension_without_hostile(tiny_project)
    with pytest.raises(UnknownSymbolError):
        check_symbols_known(con, ["A'B"], source="test")
    assert con.execute("select count(*) from dim_symbol").fetchall()[0][0] == 154


def _build_dimension_without_hostile(root: Path) -> duckdb.DuckDBPyConnection:
    cfg_path = root / "config" / "symbols.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["sectors"]["Technology"] = [s for s in cfg["sectors"]["Technology"] if "'" not in s]
    cfg_path.write_text(json.dumps(cfg))
    return _build_dimension(root)


def test_seed_format_file_without_history_is_adopted(tiny_project: Path, shipped_symbols: dict) -> None:
    """A mapping written in the strategy's original format keeps its IDs exactly."""
    expected = _expected_sorted_universe(shipped_symbols)
    seed = {
        "metadata": {
            "created_date": "2025-05-23",
            "total_symbols": 154,
            "source_config": "symbols.json",
            "version": "1.0",
        },
        "symbol_to_id": {s: i for i, s in enumerate(expected)},
        "id_to_symbol": {str(i): s for i, s in enumerate(expected)},
    }
    (tiny_project / "config" / "asset_id_mapping.json").write_text(json.dumps(seed))
    mapping = load_mapping(tiny_project / "config" / "asset_id_mapping.json")
    assert mapping.version == "1.0" and mapping.symbol_to_id == seed["symbol_to_id"]
    with pytest.raises(MappingError):  # categories are unknown until an explicit sync records them
        _build_dimension(tiny_project)


def test_save_clears_temps_a_killed_writer_left_and_nothing_else(tiny_project: Path) -> None:
    from features.warehouse import atomic_path

    project = load_project(tiny_project)
    con = duckdb.connect(":memory:")
    ensure_dimension(con, project)
    mapping = load_mapping(project.mapping_path)
    folder = project.mapping_path.parent
    killed = atomic_path(project.mapping_path)  # a writer that dies inside the block leaves its temp
    toolkit_temp = killed.__enter__()
    toolkit_temp.write_text('{"half": ')
    legacy_temp = folder / f".{project.mapping_path.name}.k2j4x9.tmp"  # the name earlier versions used
    legacy_temp.write_text('{"half": ')
    keep = [folder / ".other.json.k2j4x9.tmp", folder / "asset_id_mapping.json.bak"]
    for path in keep:
        path.write_text("mine")
    mapping.save(project.mapping_path)
    assert not toolkit_temp.exists() and not legacy_temp.exists()
    assert all(path.read_text() == "mine" for path in keep)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["asset_id_mapping.json", "project.toml", "symbols.json", *(p.name for p in keep)]
    )
    assert load_mapping(project.mapping_path).to_json() == mapping.to_json()
