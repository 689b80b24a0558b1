"""Scores for the newest windows: ``fstore predict RUN [--as-of DATE]`` into the ``predictions`` table.

:func:`predict_run` loads the ``latest`` split (each asset's newest complete window on or before the
as-of date, label not required) with the run's loader settings and normalisation statistics, scores
every asset the run can score and replaces the rows of (run, as-of) in ``predictions``::

    predictions  run_id, as_of, mapping_version, asset_id, symbol, ts (the window's last date),
                 score (logit or predicted return), prob (sigmoid of the logit; NULL for
                 regression), rank (1 = highest score), created_at

The as-of date is ``--as-of`` or, without it, the newest date in ``training_set``. Every asset of the
mapping that is not scored is reported with one reason, checked in this order:

* ``retired``             retired from the universe (``dim_symbol.is_active`` is false);
* ``added since the run`` the run does not know its ID (added by a later sync; a run grown with
  ``fstore train --init-from`` knows it);
* ``no complete window``  no window of ``lookback`` rows with every feature present ends on or before
  the as-of date;
* ``stale``               its newest window ends more than ``max_age_days`` (default 7) calendar days
  before the as-of date (a delisted or halted asset, a file that stopped updating). Seven days cover
  weekends and holidays of daily equity data.

The run must read the same feature columns as the warehouse serves, and a run trained on an earlier
minor mapping version scores through its symbols (:mod:`training.scoring`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from features.choices import LATEST_SPLIT
from features.config import Project
from features.errors import ConfigError, TrainingError
from features.warehouse import connect, table_exists

MAX_AGE_DAYS = 7
REASONS = ("retired", "added since the run", "no complete window", "stale")

_DDL = """
    run_id varchar not null, as_of date not null, mapping_version varchar, asset_id integer not null,
    symbol varchar, ts date not null, score double, prob double, rank integer not null,
    created_at timestamp not null"""


@dataclass(frozen=True)
class PredictionRow:
    asset_id: int
    symbol: str
    ts: dt.date
    score: float
    prob: float | None
    rank: int


@dataclass
class Prediction:
    """What :func:`predict_run` scored and wrote, and which assets it could not score, by reason."""

    run_id: str
    as_of: dt.date
    mapping_version: str | None
    task: str
    rows: list[PredictionRow]  # by rank
    unscored: dict[str, list[str]] = field(default_factory=dict)  # reason → symbols
    max_age_days: int = MAX_AGE_DAYS


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create table if not exists predictions ({_DDL})")


# --------------------------------------------------------------------------------------- the universe


def _assets(con: duckdb.DuckDBPyConnection, source: Any) -> dict[int, tuple[str, bool]]:
    """asset_id → (symbol, is_active) of the mapping, or of the data's assets without a dimension."""
    if table_exists(con, "dim_symbol"):
        cols = {r[0] for r in con.execute("describe dim_symbol").fetchall()}
        active = "is_active" if "is_active" in cols else "true"
        rows = con.execute(f"select asset_id, symbol, {active} from dim_symbol").fetchall()
        return {int(a): (str(s), bool(x)) for a, s, x in rows}
    has_symbol = "symbol" in {r[0] for r in con.execute(f"describe {source.relation}").fetchall()}
    symbol = "any_value(symbol)" if has_symbol else "asset_id::varchar"
    rows = con.execute(f"select asset_id, {symbol} from {source.relation} group by 1").fetchall()
    return {int(a): (str(s), True) for a, s in rows}


def _as_of(con: duckdb.DuckDBPyConnection, source: Any, as_of: dt.date | None) -> dt.date:
    """The requested date, or the newest date of the data; refused before the data starts."""
    first, last = con.execute(f"select min(ts)::date, max(ts)::date from {source.relation}").fetchone()
    if last is None:
        raise TrainingError("training_set is empty", hint="run `fstore build` first")
    if as_of is None:
        return last
    if as_of < first:
        raise ConfigError(f"--as-of {as_of} is before the data starts: training_set spans {first}..{last}")
    return as_of


# --------------------------------------------------------------------------------------- predict


def _reason(
    active: bool,
    known: bool,
    window_day: int | None,
    as_of_day: int,
    max_age_days: int,
) -> str | None:
    """Why ``asset_id`` is not scored (one of :data:`REASONS`), or None when it is."""
    if not active:
        return "retired"
    if not known:
        return "added since the run"
    if window_day is None:
        return "no complete window"
    if as_of_day - window_day > max_age_days:
        return "stale"
    return None


def _ranked(
    scored: Any, assets: dict[int, tuple[str, bool]], task: str, keep: np.ndarray
) -> list[PredictionRow]:
    order = np.lexsort((scored.asset_ids[keep], -scored.out[keep]))
    ids, out, days = scored.asset_ids[keep][order], scored.out[keep][order], scored.days[keep][order]
    rows = []
    for rank, (a, s, d) in enumerate(zip(ids.tolist(), out.tolist(), days.tolist(), strict=True), start=1):
        prob = 1.0 / (1.0 + math.exp(-s)) if task == "classification" else None
        symbol = assets.get(a, (str(a), True))[0]
        rows.append(PredictionRow(a, symbol, np.datetime64(d, "D").item(), s, prob, rank))
    return rows


def _classify(
    scored: Any, fit: Any, assets: dict[int, tuple[str, bool]], as_of: dt.date, max_age_days: int
) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Which scored samples to keep, and the unscored assets by reason."""
    window = dict(zip(scored.asset_ids.tolist(), scored.days.tolist(), strict=True))
    as_of_day = (as_of - dt.date(1970, 1, 1)).days
    unscored: dict[str, list[str]] = {r: [] for r in REASONS}
    for asset_id, (symbol, active) in sorted(assets.items(), key=lambda kv: kv[1][0]):
        known = bool(fit.known(np.array([asset_id]))[0])
        reason = _reason(active, known, window.get(asset_id), as_of_day, max_age_days)
        if reason is not None:
            unscored[reason].append(symbol)
    dropped = {a for a, (_, active) in assets.items() if not active}
    dropped |= {a for a, d in window.items() if as_of_day - d > max_age_days}
    keep = np.array([a not in dropped for a in scored.asset_ids.tolist()], dtype=bool)
    return keep, {r: v for r, v in unscored.items() if v}


def predict_run(
    project: Project,
    run: str,
    *,
    as_of: dt.date | None = None,
    db: Path | None = None,
    device: str = "cpu",
    max_age_days: int = MAX_AGE_DAYS,
    progress: bool = False,
) -> Prediction:
    """Score every asset's newest complete window (on or before ``as_of``) with run ``run``'s best
    checkpoint and replace the (run, as-of) rows of ``predictions``; see the module docstring."""
    from training.loader import WindowDataset
    from training.scoring import data_source, fit_to_data, load_options, open_run, run_stats, score_windows

    if max_age_days < 0:
        raise ConfigError(f"--max-age must be 0 or more days, got {max_age_days}")
    db = Path(db) if db is not None else project.warehouse_path
    opened = open_run(project, db, run, device)
    with connect(db, read_only=True, wait_s=10.0) as con:
        source = data_source(con, project, None)
        fit = fit_to_data(opened, con, source)
        assets = _assets(con, source)
        day = _as_of(con, source, as_of)
    ds = WindowDataset.from_warehouse(
        db,
        LATEST_SPLIT,
        **load_options(opened),
        stats=run_stats(opened, source.num_embeddings),
        device=opened.device,
        project=project,
        as_of=day,
    )
    scored = score_windows(opened.model, ds, fit, progress=progress, label="scoring the newest windows")
    keep, unscored = _classify(scored, fit, assets, day, max_age_days)
    task = opened.model.task
    result = Prediction(
        opened.run_id,
        day,
        fit.mapping_version,
        task,
        _ranked(scored, assets, task, keep),
        unscored,
        max_age_days,
    )
    write_predictions(db, result)
    return result


def _values(r: PredictionRow) -> list[Any]:
    return [r.asset_id, r.symbol, r.ts, r.score, r.prob, r.rank]


def write_predictions(db: Path, result: Prediction) -> None:
    """Replace the (run, as-of) rows of ``predictions`` with ``result``'s, in one transaction."""
    from training.runs import writing

    now = datetime.now(UTC).replace(tzinfo=None)
    with writing(db) as con:
        ensure_table(con)
        con.execute("delete from predictions where run_id = ? and as_of = ?", [result.run_id, result.as_of])
        if result.rows:
            con.executemany(
                "insert into predictions values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [result.run_id, result.as_of, result.mapping_version, *_values(r), now]
                    for r in result.rows
                ],
            )


__all__ = [
    "MAX_AGE_DAYS",
    "REASONS",
    "Prediction",
    "PredictionRow",
    "ensure_table",
    "predict_run",
    "write_predictions",
]
