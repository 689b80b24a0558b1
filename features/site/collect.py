"""Everything the site reads from the warehouse, read-only; a missing table gives an empty answer.

build_history      build_runs, newest first
last_model_builds  per model: its last build that did something (action, rows, seconds, when)
last_test_results  per (model, test): the latest result and when
mapping            dim_symbol, dim_symbol_history, mapping_versions
training_runs      train_runs with each run's metrics per epoch
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb


def plain(value: Any) -> Any:
    """A JSON-ready value: dates and times as ISO text, NaN and ±inf as None, lists element-wise."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """A query's rows as dicts of JSON-ready values."""
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [{n: plain(v) for n, v in zip(names, r, strict=True)} for r in cur.fetchall()]


def relation_names(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Every table and view of the warehouse's main schema (read once; each reader checks its own)."""
    from features.models.state import relations

    return frozenset(relations(con))


def build_history(
    con: duckdb.DuckDBPyConnection, have: frozenset[str], limit: int = 20
) -> list[dict[str, Any]]:
    if "build_runs" not in have:
        return []
    return rows(con, "select * from build_runs order by started_at desc limit ?", [limit])


def last_model_builds(con: duckdb.DuckDBPyConnection, have: frozenset[str]) -> dict[str, dict[str, Any]]:
    """model -> its latest build row that built or failed (not up-to-date skips), with the build's time."""
    if not {"build_models", "build_runs"} <= have:
        return {}
    found = rows(
        con,
        "select m.model, m.action, m.status, m.rows, m.seconds, m.error, r.started_at as at, m.build_id"
        " from build_models m join build_runs r using (build_id)"
        " qualify row_number() over (partition by m.model order by r.started_at desc) = 1",
    )
    return {r.pop("model"): r for r in found}


def last_test_results(
    con: duckdb.DuckDBPyConnection, have: frozenset[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(model, test name) -> the latest status, failures and when."""
    if not {"build_tests", "build_runs"} <= have:
        return {}
    found = rows(
        con,
        "select t.model, t.test, t.severity, t.status, t.failures, r.started_at as at, t.build_id"
        " from build_tests t join build_runs r using (build_id)"
        " qualify row_number() over (partition by t.model, t.test order by r.started_at desc) = 1",
    )
    return {(r["model"], r["test"]): r for r in found}


def relation_rows(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> dict[str, int]:
    """Row counts of tables (DuckDB's estimate from its catalog: free; views are left out)."""
    found = con.execute(
        "select table_name, estimated_size from duckdb_tables() where schema_name = 'main'"
        " and database_name = current_database()"
    ).fetchall()
    wanted = set(names)
    return {n: int(size) for n, size in found if n in wanted and size is not None}


def mapping(con: duckdb.DuckDBPyConnection, have: frozenset[str]) -> dict[str, list[dict[str, Any]]]:
    """The asset-ID mapping now, every symbol's validity spans and every mapping version."""
    out: dict[str, list[dict[str, Any]]] = {"symbols": [], "history": [], "versions": []}
    if "dim_symbol" in have:
        out["symbols"] = rows(
            con,
            "select asset_id, symbol, category, subcategory, indices, is_active, first_version,"
            " retired_version from dim_symbol order by asset_id",
        )
    if "dim_symbol_history" in have:
        out["history"] = rows(
            con,
            "select asset_id, symbol, category, subcategory, is_active, valid_from_version,"
            " valid_to_version, valid_from, valid_to from dim_symbol_history order by asset_id, valid_from_seq",
        )
    if "mapping_versions" in have:
        out["versions"] = rows(
            con,
            "select version, seq, kind, created_at, total_symbols, active_symbols, added, retired,"
            " added_symbols, retired_symbols from mapping_versions order by seq",
        )
    return out


def training_runs(
    con: duckdb.DuckDBPyConnection, have: frozenset[str], limit: int = 50
) -> list[dict[str, Any]]:
    """The newest ``limit`` runs, each with ``metrics``: its train_metrics rows by epoch and split."""
    if "train_runs" not in have:
        return []
    found = rows(
        con,
        "select run_id, status, started_at, ended_at, device, num_params, num_embeddings, embedding_dim,"
        " encoder, combine, task, epochs_done, best_epoch, best_valid_loss, test_loss, test_accuracy,"
        " test_auc, test_ic, mapping_version, init_from, error, config::varchar as config"
        " from train_runs order by started_at desc limit ?",
        [limit],
    )
    metrics: dict[str, list[dict[str, Any]]] = {r["run_id"]: [] for r in found}
    if found and "train_metrics" in have:
        for m in rows(
            con,
            "select run_id, epoch, split, loss, accuracy, auc, ic, samples, samples_per_s from train_metrics"
            " where run_id in (select unnest(?::varchar[])) order by run_id, epoch, split",
            [list(metrics)],
        ):
            metrics[m.pop("run_id")].append(m)
    for r in found:
        r["metrics"] = metrics[r["run_id"]]
    return found


__all__ = [
    "build_history",
    "last_model_builds",
    "last_test_results",
    "mapping",
    "plain",
    "relation_names",
    "relation_rows",
    "rows",
    "training_runs",
]
