"""Training runs logged in the warehouse, where SQL can read them.

Tables (plain names, documented in docs/training.md)::

    train_runs             one row per run: status, config JSON, mapping version, dataset fingerprint,
                           device, parameter count, best epoch, test metrics, pid + host of the writer
    train_metrics          run_id, epoch, split, loss, accuracy, auc, ic, samples_per_s
    train_embeddings       run_id, epoch, asset_id, symbol, category, subcategory, dim,
                           vector FLOAT[32] (zero-padded past dim), norm, drift, trained
    train_embedding_stats  run_id, epoch: norm mean/std/min/max and drift mean/min over assets
    train_asset_samples    run_id, asset_id, symbol, split, samples: every asset ID's window count per
                           split (0 included); ``train_embeddings.trained`` is ``samples > 0`` on train

``vector`` is a fixed-size ``FLOAT[32]`` array (32 is the largest embedding dim the model allows):
padding with zeros leaves cosine similarity, distance and inner product unchanged, so
``array_cosine_similarity`` works on it directly and every run shares one table.

DuckDB lets one process write a file at a time, so a run never holds the warehouse: each log call
opens it for writing, writes and closes it (:func:`writing`, retrying a held lock for a while).
``status`` is ``running`` until the run ends ``finished``, ``failed`` (an exception) or ``interrupted``
(Ctrl-C / SIGTERM). A process killed outright cannot say so; its row keeps ``running`` with its pid and
host, and :func:`mark_stale_runs` (called by ``fstore train`` and ``fstore runs``) marks it failed once
that pid is gone or the run folder's lock is free (:mod:`training.locks`). :func:`reopen_run` claims a
run for a resume in one conditional update and trims what it logged past its checkpoint;
:func:`write_epoch` replaces an epoch's rows rather than adding a second copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from features.errors import TrainingError
from features.warehouse import connect, table_exists, transaction

VECTOR_WIDTH = 32  # FLOAT[32]: the largest asset_embedding_dim the model accepts
LOCK_WAIT_S = 60.0  # how long a log write waits for another writer (a build) to let go

STATUSES = ("running", "finished", "failed", "interrupted")

_DDL = {
    "train_runs": """
        run_id varchar primary key, status varchar not null, started_at timestamp not null,
        ended_at timestamp, config json, mapping_version varchar, dataset_fingerprint varchar,
        git_commit varchar, device varchar, num_params bigint, num_embeddings integer,
        embedding_dim integer, encoder varchar, combine varchar, task varchar, epochs_done integer,
        best_epoch integer, best_valid_loss double, test_loss double, test_accuracy double,
        test_auc double, test_ic double, checkpoint varchar, resumed_at timestamp, init_from varchar,
        pid integer, host varchar, error varchar""",
    "train_metrics": """
        run_id varchar not null, epoch integer not null, split varchar not null, loss double,
        accuracy double, auc double, ic double, samples integer, samples_per_s double,
        logged_at timestamp not null""",
    "train_embeddings": f"""
        run_id varchar not null, epoch integer not null, asset_id integer not null, symbol varchar,
        category varchar, subcategory varchar, dim integer not null, vector float[{VECTOR_WIDTH}] not null,
        norm double, drift double, trained boolean""",
    "train_embedding_stats": """
        run_id varchar not null, epoch integer not null, norm_mean double, norm_std double,
        norm_min double, norm_max double, drift_mean double, drift_min double, assets integer""",
    "train_asset_samples": """
        run_id varchar not null, asset_id integer not null, symbol varchar, split varchar not null,
        samples bigint not null""",
}
# Columns added after a table was first released: a warehouse written by an older fstore gains them.
_ADDED_COLUMNS = (("train_embeddings", "trained", "boolean"),)


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table, ddl in _DDL.items():
        con.execute(f"create table if not exists {table} ({ddl})")
    for table, column, type_ in _ADDED_COLUMNS:
        con.execute(f"alter table {table} add column if not exists {column} {type_}")


@contextlib.contextmanager
def writing(db: str | Path, *, wait_s: float = LOCK_WAIT_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse open for writing just long enough for one logging step (tables ensured)."""
    con = connect(db, wait_s=wait_s)
    try:
        ensure_tables(con)
        with transaction(con):
            yield con
    finally:
        con.close()


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def git_commit(root: Path) -> str | None:
    """The checked-out commit of ``root`` (read from .git, no subprocess), or None."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:40]
        ref = head[5:]
        ref_file = git / ref
        if ref_file.is_file():
            return ref_file.read_text().strip()[:40]
        packed = git / "packed-refs"
        for line in packed.read_text().splitlines() if packed.is_file() else []:
            if line.endswith(" " + ref):
                return line.split()[0][:40]
    except OSError:
        return None
    return None


# ----------------------------------------------------------------------------------- writes


@dataclass
class RunRecord:
    """What ``train_runs`` holds about a run when it starts."""

    run_id: str
    config: dict[str, Any]
    mapping_version: str | None
    dataset_fingerprint: str
    device: str
    num_params: int
    num_embeddings: int
    embedding_dim: int
    encoder: str
    combine: str
    task: str
    checkpoint: str
    git_commit: str | None = None
    init_from: str | None = None


def start_run(db: str | Path, rec: RunRecord) -> None:
    """Record a new run: status ``running``, this process's pid and host."""
    with writing(db) as con:
        insert_run(con, rec)


def insert_run(con: duckdb.DuckDBPyConnection, rec: RunRecord) -> None:
    """:func:`start_run` on an open :func:`writing` connection."""
    con.execute(
        "insert into train_runs (run_id, status, started_at, config, mapping_version, dataset_fingerprint,"
        " git_commit, device, num_params, num_embeddings, embedding_dim, encoder, combine, task,"
        " epochs_done, checkpoint, init_from, pid, host)"
        " values (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
        [
            rec.run_id,
            _now(),
            json.dumps(rec.config, sort_keys=True),
            rec.mapping_version,
            rec.dataset_fingerprint,
            rec.git_commit,
            rec.device,
            rec.num_params,
            rec.num_embeddings,
            rec.embedding_dim,
            rec.encoder,
            rec.combine,
            rec.task,
            rec.checkpoint,
            rec.init_from,
            os.getpid(),
            socket.gethostname(),
        ],
    )


AssetRow = tuple[int, str | None, str | None, str | None]  # asset_id, symbol, category, subcategory


def asset_rows(con: duckdb.DuckDBPyConnection) -> list[AssetRow]:
    """(asset_id, symbol, category, subcategory) of every ID in ``dim_symbol``, for embedding logs."""
    if not table_exists(con, "dim_symbol", views=False):
        return []
    cols = {r[0] for r in con.execute("describe dim_symbol").fetchall()}
    cat = "category" if "category" in cols else "null"
    sub = "subcategory" if "subcategory" in cols else "null"
    return [
        (int(a), s, c, sc)
        for a, s, c, sc in con.execute(
            f"select asset_id, symbol, {cat}, {sub} from dim_symbol order by asset_id"
        ).fetchall()
    ]


def write_asset_samples(
    con: duckdb.DuckDBPyConnection, run_id: str, counts: dict[str, np.ndarray], assets: Sequence[AssetRow]
) -> None:
    """``train_asset_samples``: per split, every asset ID's sample count (0 included), replacing the run's."""
    import pyarrow as pa

    symbols = {int(a): s for a, s, _, _ in assets}
    con.execute("delete from train_asset_samples where run_id = ?", [run_id])
    for split, per_asset in counts.items():
        ids = np.arange(len(per_asset), dtype=np.int32)
        table = pa.table(
            {
                "asset_id": pa.array(ids),
                "symbol": pa.array([symbols.get(int(i)) for i in ids], pa.string()),
                "samples": pa.array(np.asarray(per_asset, dtype=np.int64)),
            }
        )
        con.register("_fstore_asset_samples", table)
        try:
            con.execute(
                "insert into train_asset_samples (run_id, asset_id, symbol, split, samples)"
                " select ?, asset_id, symbol, ?, samples from _fstore_asset_samples",
                [run_id, split],
            )
        finally:
            con.unregister("_fstore_asset_samples")


def trained_assets(con: duckdb.DuckDBPyConnection, run_id: str) -> np.ndarray | None:
    """Asset IDs with at least one training sample in ``run_id`` (None when the run logged no counts)."""
    if not table_exists(con, "train_asset_samples", views=False):
        return None
    rows = con.execute(
        "select asset_id, samples from train_asset_samples where run_id = ? and split = 'train'", [run_id]
    ).fetchall()
    if not rows:
        return None
    return np.array(sorted(a for a, n in rows if n > 0), dtype=np.int64)


def resume_run(db: str | Path, run_id: str, *, device: str, epoch: int | None = None) -> None:
    """Claim a run for this process (``running``), trimmed back to its checkpoint's ``epoch``."""
    with writing(db) as con:
        reopen_run(con, run_id, device=device, epoch=epoch)


def reopen_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    device: str,
    epoch: int | None = None,
    best_epoch: int | None = None,
    best_valid_loss: float | None = None,
) -> None:
    """:func:`resume_run` on an open :func:`writing` connection.

    The claim is one conditional update: a run some live process already marked ``running`` is refused,
    naming it. Whatever the run logged past ``epoch`` (the epoch its last checkpoint holds; default:
    ``epochs_done``) is deleted, so a run killed between logging an epoch and checkpointing it logs
    that epoch again, once, when it is trained again; its test score goes too (the best epoch may change).
    """
    claimed = con.execute(
        "update train_runs set status = 'running', ended_at = null, error = null, resumed_at = ?,"
        " device = ?, pid = ?, host = ? where run_id = ? and status <> 'running' returning epochs_done",
        [_now(), device, os.getpid(), socket.gethostname(), run_id],
    ).fetchall()
    if not claimed:
        rows = con.execute("select pid, host from train_runs where run_id = ?", [run_id]).fetchall()
        pid, host = rows[0] if rows else ("?", "?")
        raise TrainingError(
            f"run {run_id} is still running (pid {pid} on {host}); one process trains a run at a time",
            hint="wait for it to finish, or stop it and resume again",
        )
    done = claimed[0][0] if epoch is None else epoch
    for table in ("train_metrics", "train_embeddings", "train_embedding_stats"):
        con.execute(f"delete from {table} where run_id = ? and epoch > ?", [run_id, done])
    # the test score belongs to the best epoch, which the continued run may change
    con.execute("delete from train_metrics where run_id = ? and split = 'test'", [run_id])
    if epoch is not None:
        con.execute(
            "update train_runs set epochs_done = ?, best_epoch = ?, best_valid_loss = ?, test_loss = null,"
            " test_accuracy = null, test_auc = null, test_ic = null where run_id = ?",
            [epoch, best_epoch, best_valid_loss, run_id],
        )


def _cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(na * nb, 1e-12)


def log_epoch(
    db: str | Path,
    run_id: str,
    epoch: int,
    metrics: Sequence[dict[str, Any]],
    *,
    embedding: np.ndarray | None = None,
    previous: np.ndarray | None = None,
    assets: Sequence[AssetRow] = (),
    best_epoch: int | None = None,
    best_valid_loss: float | None = None,
    trained: np.ndarray | None = None,
) -> None:
    """One epoch: its metric rows, the embedding table (+ norms, drift vs ``previous``, which rows are
    ``trained``), progress."""
    with writing(db) as con:
        write_epoch(
            con,
            run_id,
            epoch,
            metrics,
            embedding=embedding,
            previous=previous,
            assets=assets,
            best_epoch=best_epoch,
            best_valid_loss=best_valid_loss,
            trained=trained,
        )


def write_epoch(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    epoch: int,
    metrics: Sequence[dict[str, Any]],
    *,
    embedding: np.ndarray | None = None,
    previous: np.ndarray | None = None,
    assets: Sequence[AssetRow] = (),
    best_epoch: int | None = None,
    best_valid_loss: float | None = None,
    trained: np.ndarray | None = None,
) -> None:
    """:func:`log_epoch` on an open :func:`writing` connection. An epoch is logged once: rows a
    previous attempt at the same epoch left are replaced, never duplicated."""
    now = _now()
    for table in ("train_metrics", "train_embeddings", "train_embedding_stats"):
        con.execute(f"delete from {table} where run_id = ? and epoch = ?", [run_id, epoch])
    for m in metrics:
        _insert_metrics(con, run_id, epoch, m["split"], m, now)
    if embedding is not None:
        _log_embedding(con, run_id, epoch, embedding, previous, assets, trained)
    con.execute(
        "update train_runs set epochs_done = ?, best_epoch = coalesce(?, best_epoch),"
        " best_valid_loss = coalesce(?, best_valid_loss) where run_id = ?",
        [epoch, best_epoch, best_valid_loss, run_id],
    )


def _insert_metrics(
    con: duckdb.DuckDBPyConnection, run_id: str, epoch: int, split: str, m: dict[str, Any], at: datetime
) -> None:
    con.execute(
        "insert into train_metrics values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            epoch,
            split,
            m.get("loss"),
            m.get("accuracy"),
            m.get("auc"),
            m.get("ic"),
            m.get("samples"),
            m.get("samples_per_s"),
            at,
        ],
    )


def _log_embedding(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    epoch: int,
    weight: np.ndarray,
    previous: np.ndarray | None,
    assets: Sequence[AssetRow],
    trained: np.ndarray | None = None,
) -> None:
    import pyarrow as pa

    n, d = weight.shape
    if d > VECTOR_WIDTH:
        raise TrainingError(
            f"embedding dim {d} exceeds the {VECTOR_WIDTH} columns of train_embeddings.vector"
        )
    padded = np.zeros((n, VECTOR_WIDTH), dtype=np.float32)
    padded[:, :d] = weight
    norm = np.linalg.norm(weight.astype(np.float64), axis=1)
    drift = np.full(n, np.nan)
    if previous is not None:
        m = min(len(previous), n)
        drift[:m] = _cosine_rows(weight[:m].astype(np.float64), previous[:m].astype(np.float64))
    info = {int(a): (s, c, sc) for a, s, c, sc in assets}
    table = pa.table(
        {
            "asset_id": pa.array(np.arange(n, dtype=np.int32)),
            "symbol": pa.array([info.get(i, (None,) * 3)[0] for i in range(n)], pa.string()),
            "category": pa.array([info.get(i, (None,) * 3)[1] for i in range(n)], pa.string()),
            "subcategory": pa.array([info.get(i, (None,) * 3)[2] for i in range(n)], pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(padded.ravel()), VECTOR_WIDTH),
            "norm": pa.array(norm),
            "drift": pa.array(drift, from_pandas=True),
            # trained: the asset had training samples in this run (NULL when unknown)
            "trained": pa.nulls(n, pa.bool_())
            if trained is None
            else pa.array(np.isin(np.arange(n), trained)),
        }
    )
    con.register("_fstore_emb_rows", table)
    try:
        con.execute(
            "insert into train_embeddings (run_id, epoch, asset_id, symbol, category, subcategory, dim,"
            " vector, norm, drift, trained) select ?, ?, asset_id, symbol, category, subcategory, ?,"
            f" vector::float[{VECTOR_WIDTH}], norm, drift, trained from _fstore_emb_rows",
            [run_id, epoch, d],
        )
    finally:
        con.unregister("_fstore_emb_rows")
    finite = drift[np.isfinite(drift)]
    con.execute(
        "insert into train_embedding_stats values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            epoch,
            float(norm.mean()),
            float(norm.std()),
            float(norm.min()),
            float(norm.max()),
            float(finite.mean()) if len(finite) else None,
            float(finite.min()) if len(finite) else None,
            n,
        ],
    )


def finish_run(
    db: str | Path,
    run_id: str,
    status: str,
    *,
    test: dict[str, Any] | None = None,
    error: str | None = None,
    test_epoch: int | None = None,
) -> None:
    """Mark the run ``status`` (ended now); ``test`` metrics go to ``train_runs`` and, with
    ``test_epoch``, to ``train_metrics`` as that epoch's test row, in the same transaction."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    test = test or {}
    with writing(db) as con:
        if test_epoch is not None and test:
            write_evaluation(con, run_id, test_epoch, "test", test)
        con.execute(
            "update train_runs set status = ?, ended_at = ?, error = ?,"
            " test_loss = coalesce(?, test_loss), test_accuracy = coalesce(?, test_accuracy),"
            " test_auc = coalesce(?, test_auc), test_ic = coalesce(?, test_ic) where run_id = ?",
            [
                status,
                _now(),
                error,
                test.get("loss"),
                test.get("accuracy"),
                test.get("auc"),
                test.get("ic"),
                run_id,
            ],
        )


def log_evaluation(db: str | Path, run_id: str, epoch: int, split: str, metrics: dict[str, Any]) -> None:
    """``fstore evaluate``: replace the run's metric row for (epoch, split); test results also go to train_runs."""
    with writing(db) as con:
        write_evaluation(con, run_id, epoch, split, metrics)


def write_evaluation(
    con: duckdb.DuckDBPyConnection, run_id: str, epoch: int, split: str, metrics: dict[str, Any]
) -> None:
    """:func:`log_evaluation` on an open :func:`writing` connection."""
    con.execute(
        "delete from train_metrics where run_id = ? and epoch = ? and split = ?", [run_id, epoch, split]
    )
    _insert_metrics(con, run_id, epoch, split, metrics, _now())
    if split == "test":
        con.execute(
            "update train_runs set test_loss = ?, test_accuracy = ?, test_auc = ?, test_ic = ? where run_id = ?",
            [metrics.get("loss"), metrics.get("accuracy"), metrics.get("auc"), metrics.get("ic"), run_id],
        )


# ----------------------------------------------------------------------------------- stale runs


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def stale_runs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Runs still marked ``running`` on this host whose process no longer exists: its pid is gone, or
    the run folder's lock (:mod:`training.locks`) is free, which also catches a pid reused since."""
    from training.locks import lock_is_free

    if not _has_runs(con):
        return []
    host = socket.gethostname()
    rows = con.execute(
        "select run_id, pid, checkpoint from train_runs where status = 'running' and host = ?"
        " and pid is not null",
        [host],
    ).fetchall()
    return [
        run_id
        for run_id, pid, folder in rows
        if not pid_alive(int(pid)) or (folder is not None and lock_is_free(folder))
    ]


def mark_stale_runs(db: str | Path) -> list[str]:
    """Mark every stale ``running`` row failed; returns their run IDs (nothing written when none)."""
    if not Path(db).exists():
        return []
    con = connect(db, read_only=True, wait_s=5.0)
    try:
        stale = stale_runs(con)
    finally:
        con.close()
    if stale:
        with writing(db) as con:
            for run_id in stale:
                con.execute(
                    "update train_runs set status = 'failed', ended_at = coalesce(ended_at, ?),"
                    " error = coalesce(error, 'the training process (pid ' || pid || ' on ' || host"
                    " || ') ended without recording a result') where run_id = ? and status = 'running'",
                    [_now(), run_id],
                )
    return stale


# ----------------------------------------------------------------------------------- reads


def _has_runs(con: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(con, "train_runs", views=False)


RUN_COLUMNS = (  # (train_runs column, short name shown by `fstore runs`)
    ("run_id", "run_id"),
    ("status", "status"),
    ("started_at", "started"),
    ("mapping_version", "mapping"),
    ("encoder", "encoder"),
    ("combine", "combine"),
    ("embedding_dim", "dim"),
    ("epochs_done", "epochs"),
    ("best_epoch", "best"),
    ("best_valid_loss", "valid_loss"),
    ("test_auc", "test_auc"),
    ("test_ic", "test_ic"),
    ("device", "device"),
)


def list_runs(con: duckdb.DuckDBPyConnection, *, limit: int = 50) -> tuple[list[str], list[tuple[Any, ...]]]:
    names = [short for _, short in RUN_COLUMNS]
    if not _has_runs(con):
        return names, []
    cols = ", ".join(f"{col} as {short}" for col, short in RUN_COLUMNS)
    rows = con.execute(f"select {cols} from train_runs order by started_at desc limit ?", [limit]).fetchall()
    return names, rows


def resolve_run(con: duckdb.DuckDBPyConnection, run: str) -> dict[str, Any]:
    """The ``train_runs`` row of ``run``: a run ID, a unique prefix of one, or ``latest`` (the newest
    *finished* run: an interrupted or failed one is used only when named)."""
    if not _has_runs(con):
        raise TrainingError("the warehouse has no training runs yet", hint="run `fstore train` first")
    if run == "latest":
        rows = con.execute(
            "select * from train_runs where status = 'finished' order by started_at desc limit 1"
        ).fetchall()
        if not rows:
            newest = con.execute("select run_id, status from train_runs order by started_at desc limit 3")
            others = ", ".join(f"{r} ({st})" for r, st in newest.fetchall())
            raise TrainingError(
                f"no finished training run yet ('latest' means the newest finished run; runs: {others})",
                hint="name a run by its ID to use an unfinished one, or `fstore train --resume RUN` to finish it",
            )
    else:
        rows = con.execute(
            "select * from train_runs where run_id = ? or starts_with(run_id, ?) order by run_id = ? desc",
            [run, run, run],
        ).fetchall()
        if len(rows) > 1 and rows[0][0] != run:
            ids = ", ".join(r[0] for r in rows[:5])
            raise TrainingError(f"run {run!r} is ambiguous: it matches {ids}", hint="give more of the run ID")
    if not rows:
        known = [
            r[0]
            for r in con.execute("select run_id from train_runs order by started_at desc limit 5").fetchall()
        ]
        raise TrainingError(
            f"no training run {run!r}" + (f" (latest: {', '.join(known)})" if known else ""),
            hint="`fstore runs` lists them",
        )
    names = [d[0] for d in con.description]
    return dict(zip(names, rows[0], strict=True))


def unfinished_note(row: dict[str, Any]) -> str | None:
    """A warning for a command pointed at a run that did not finish (None for a finished run)."""
    status = row.get("status")
    if status == "finished":
        return None
    done = row.get("epochs_done")
    config = row.get("config")
    total = None
    if isinstance(config, str):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            total = json.loads(config).get("train", {}).get("epochs")
    progress = f"{done} of {total} epochs" if total is not None else f"{done} epochs"
    return (
        f"run {row['run_id']} is {status}, not finished ({progress} done): its embeddings and checkpoints"
        " are from an unfinished run"
        + (" and some rows may still be at their random start" if not done else "")
    )


def read_metrics(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict[str, Any]]:
    rows = con.execute(
        "select epoch, split, loss, accuracy, auc, ic, samples_per_s from train_metrics where run_id = ?"
        " order by epoch, split",
        [run_id],
    ).fetchall()
    keys = ("epoch", "split", "loss", "accuracy", "auc", "ic", "samples_per_s")
    return [dict(zip(keys, r, strict=True)) for r in rows]


__all__ = [
    "STATUSES",
    "VECTOR_WIDTH",
    "AssetRow",
    "RunRecord",
    "asset_rows",
    "ensure_tables",
    "finish_run",
    "insert_run",
    "list_runs",
    "log_epoch",
    "log_evaluation",
    "mark_stale_runs",
    "new_run_id",
    "reopen_run",
    "resolve_run",
    "resume_run",
    "stale_runs",
    "start_run",
    "trained_assets",
    "unfinished_note",
    "write_asset_samples",
    "write_epoch",
    "write_evaluation",
    "writing",
]
