"""The training commands: ``fstore train``, ``runs``, ``evaluate``, ``predict``, ``embeddings``.

Handlers stay thin: the work is in ``training.train``, ``training.runs``, ``training.evaluate``,
``training.predict`` and ``training.embeddings``. torch is imported only inside the handlers, never at
module import.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.choices import COMBINES, DEVICES, ENCODERS, OUTPUT_FORMATS, SPLITS, TASKS
from features.cli.common import Command, arg, load, print_rows, warehouse_path

if TYPE_CHECKING:
    from features.config import Project

_SHOWN_METRICS = ("loss", "accuracy", "auc", "ic")


def _metrics(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {values[k]:.4f}" for k in _SHOWN_METRICS if values.get(k) is not None)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


# --------------------------------------------------------------------------- train


def _training_kwargs(args: argparse.Namespace, project: Project) -> dict[str, Any]:
    """The keyword arguments of ``run_training`` (and the DDP launcher) from the command line."""
    model = {
        "combine": args.combine,
        "encoder": args.encoder,
        "asset_embedding_dim": args.embedding_dim,
        "task": args.task,
        "hidden": args.hidden,
    }
    train = {
        "seed": args.seed,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "max_train_samples": args.max_train_samples,
        "patience": args.patience,
        "threads": args.threads,
    }
    return {
        "db": warehouse_path(args, project),
        "epochs": args.epochs,
        "device": args.device,
        "resume": args.resume,
        "init_from": args.init_from,
        "plot_dir": Path(args.plot) if args.plot else None,
        "model_overrides": model,
        "train_overrides": train,
        "progress": not args.no_progress,
        "log": print if args.no_progress else None,
        "warn": warn,
    }


def warn(text: str) -> None:
    """A warning a person must see, on stderr (module level: DDP ranks get it pickled)."""
    print(f"warning: {text}", file=sys.stderr)


def _limited(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def _report_assets(result: Any) -> None:
    """Which assets trained nothing (and why), and which features some assets never have."""
    if result.untrained:
        print(
            f"{len(result.untrained)} of {result.num_assets} assets have no training windows; their"
            " embedding rows stay at their random start (train_embeddings.trained = false):"
        )
        for symbol, why in sorted(result.untrained.items())[:20]:
            print(f"  {symbol}: {why}")
        if len(result.untrained) > 20:
            print(
                f"  … {len(result.untrained) - 20} more: `select * from train_asset_samples where samples = 0`"
            )
    by_features: dict[tuple[str, ...], list[str]] = {}
    for symbol, names in result.absent_features.items():
        by_features.setdefault(tuple(names), []).append(symbol)
    for names, symbols in sorted(by_features.items()):
        print(
            f"{len(symbols)} asset(s) never have {', '.join(names)} (filled with the training mean): "
            + _limited(sorted(symbols))
        )


def cmd_train(args: argparse.Namespace) -> int:
    project = load(args)
    if args.plot:  # refused before torch is imported or any data is read
        from training.plots import check_plot_dir

        check_plot_dir(args.plot)
    from training import distributed
    from training.train import run_training

    kwargs = _training_kwargs(args, project)
    if args.nproc is not None and args.nproc != 1:
        result = distributed.launch(project, args.nproc, **kwargs)  # refuses < 1, and under torchrun
    elif distributed.under_torchrun():
        result = distributed.run_rank(project, **kwargs)  # join torchrun's group
        if result is None:
            return 0  # ranks other than 0 leave the report to rank 0
    else:
        result = run_training(project, **kwargs)
    print(
        f"run {result.run_id} {result.status} on {result.device}: best epoch {result.best_epoch},"
        f" valid loss {_num(result.best_valid_loss)}; test {_metrics(result.test) or '-'}"
    )
    _report_assets(result)
    print(f"checkpoints in {result.checkpoint}; `fstore embeddings {result.run_id}` shows what it learned")
    if args.plot:
        print(f"plots in {args.plot}")
    return 0


# --------------------------------------------------------------------------- runs, evaluate


def _compact(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A runs row for a terminal: timestamps to the minute, floats to 4 decimals."""
    return tuple(
        v.strftime("%m-%d %H:%M") if hasattr(v, "strftime") else round(v, 4) if isinstance(v, float) else v
        for v in row
    )


def cmd_runs(args: argparse.Namespace) -> int:
    from features.dimension import Rows
    from features.errors import WarehouseLockedError
    from features.warehouse import connect
    from training.runs import list_runs, mark_stale_runs

    project = load(args)
    db = warehouse_path(args, project)
    with contextlib.suppress(WarehouseLockedError):  # a writer is busy: list anyway, fix stale rows later
        mark_stale_runs(db)
    with connect(db, read_only=True, wait_s=5.0) as con:
        columns, rows = list_runs(con, limit=args.limit)
    if not rows and args.format == "table":
        print("no training runs yet: `fstore train` starts one")
        return 0
    if args.format == "table":
        rows = [_compact(row) for row in rows]
    print_rows(Rows(columns, rows), args.format)
    return 0


def _date(text: str) -> Any:
    """An ISO date argument (argparse turns the ValueError into a usage error naming the option)."""
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date (2025-06-30)") from None


def _say(text: str) -> None:
    """A status line on stderr (stdout stays the command's result)."""
    from features.cli.common import err_console

    err_console().print(text, highlight=False, soft_wrap=True)


def _ic_rows(summary: dict[str, Any]) -> Any:
    from features.dimension import Rows
    from training.evaluate import summary_rows

    rows = [
        (label, _num(ic), _num(rank_ic)) for label, ic, rank_ic in summary_rows(summary, ("ic", "rank_ic"))
    ]
    return Rows(["per date", "IC", "Rank IC"], rows)


def _print_evaluation(m: dict[str, Any]) -> None:
    s = m["summary"]
    where = m["split"] + (f" of snapshot {m['snapshot']}" if m["snapshot"] else "")
    print(
        f"run {m['run_id']} (best epoch {m['epoch']}) on {where}, mapping {m['mapping_version'] or '-'}:"
        f" {m['samples']} samples over {int(s['dates'])} dates; pooled {_metrics(m) or '-'}"
    )
    print_rows(_ic_rows(s), "table")
    quintiles = "  ".join(f"Q{q} {_num(s.get(f'q{q}_mean'))}" for q in range(1, 6))
    print(f"quintiles (mean forward return per date): {quintiles}")
    print(
        f"top minus bottom: mean {_num(s.get('top_minus_bottom_mean'))}, t-stat {_num(s.get('top_minus_bottom_t'))},"
        f" hit rate {_num(s.get('top_minus_bottom_hit_rate'))} over {int(s['top_minus_bottom_dates'])} dates;"
        f" top-quintile turnover {_num(s.get('top_turnover_mean'))}"
    )
    if m["unknown"]:
        shown = ", ".join(m["unknown"][:20]) + (", …" if len(m["unknown"]) > 20 else "")
        print(f"not scored ({len(m['unknown'])} assets the run does not know): {shown}")
    print("stored in eval_daily and eval_summary")
    if m["plot"] is not None:
        print(f"wrote {m['plot']}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from training.train import evaluate_run

    project = load(args)
    _say(f"loading the {args.split} split of run {args.run} …")
    m = evaluate_run(
        project,
        args.run,
        split=args.split,
        db=warehouse_path(args, project),
        device=args.device,
        snapshot=args.snapshot,
        plot_dir=Path(args.plot) if args.plot else None,
        progress=not args.no_progress,
    )
    _print_evaluation(m)
    return 0


def _prediction_rows(rows: list[Any], digits: int | None = None) -> Any:
    """Rows of a prediction, by rank; ``digits`` rounds score and prob for a terminal."""
    from features.dimension import Rows

    def num(v: float | None) -> float | None:
        return v if v is None or digits is None else round(v, digits)

    columns = ["rank", "symbol", "asset_id", "ts", "score", "prob"]
    return Rows(columns, [(r.rank, r.symbol, r.asset_id, r.ts, num(r.score), num(r.prob)) for r in rows])


def _print_prediction(p: Any, top: int) -> None:
    from features.dimension import Rows

    print(
        f"run {p.run_id} (mapping {p.mapping_version or '-'}) scored {len(p.rows)} assets as of {p.as_of};"
        f" stored in predictions"
    )
    table = _prediction_rows(p.rows, digits=4)
    k = min(max(top, 0), len(table.rows))
    print(f"top {k}:")
    print_rows(Rows(table.columns, table.rows[:k]), "table")
    bottom = table.rows[max(k, len(table.rows) - k) :]
    if bottom:
        print(f"bottom {len(bottom)}:")
        print_rows(Rows(table.columns, bottom), "table")
    for reason, symbols in p.unscored.items():
        rule = (
            f" (newest window more than {p.max_age_days} days before {p.as_of})" if reason == "stale" else ""
        )
        shown = ", ".join(symbols[:20]) + (", …" if len(symbols) > 20 else "")
        print(f"not scored, {reason}{rule}: {len(symbols)}: {shown}")


def cmd_predict(args: argparse.Namespace) -> int:
    from training.predict import predict_run

    project = load(args)
    _say(f"loading the newest windows for run {args.run} …")
    p = predict_run(
        project,
        args.run,
        as_of=args.as_of,
        db=warehouse_path(args, project),
        device=args.device,
        max_age_days=args.max_age,
        progress=not args.no_progress,
    )
    if args.format == "table":
        _print_prediction(p, args.top)
    else:
        print_rows(_prediction_rows(p.rows), args.format)
    return 0


# --------------------------------------------------------------------------- embeddings


def _rounded(value: float, digits: int | None) -> float:
    return value if digits is None else round(value, digits)


def _neighbour_rows(emb: Any, args: argparse.Namespace) -> tuple[str, Any]:
    """``--symbol S``: its nearest neighbours by cosine similarity (title, rows); untrained rows are left
    out unless ``--include-untrained``."""
    from features.dimension import Rows
    from training.embeddings import neighbours

    found = neighbours(emb, args.symbol, args.top, include_untrained=args.include_untrained)
    digits = 4 if args.format == "table" else None  # csv/json: full precision
    rows = [(s, c, sc, _rounded(cos, digits)) for s, c, sc, cos in found]
    title = f"run {emb.run_id}, epoch {emb.epoch}: {args.top} nearest neighbours of {args.symbol} (cosine)"
    if not emb.is_trained(emb.index_of(args.symbol)):
        warn(
            f"{args.symbol} had no training windows in run {emb.run_id}: its row is still at its random start"
        )
    return title, Rows(["symbol", "category", "subcategory", "cosine"], rows)


def _pair_rows(emb: Any, stats: list[tuple[Any, ...]], args: argparse.Namespace) -> tuple[str, Any]:
    """No ``--symbol``: the most similar pairs of trained rows (title, rows); a table first shows norms
    and drift."""
    from features.dimension import Rows
    from training.embeddings import cosine_matrix

    sims = cosine_matrix(emb.vectors)
    keep = [i for i in range(len(emb.symbols)) if args.include_untrained or emb.is_trained(i)]
    pairs = sorted(((sims[i, j], i, j) for a, i in enumerate(keep) for j in keep[a + 1 :]), reverse=True)
    digits = 4 if args.format == "table" else None  # csv/json: full precision
    rows = [(emb.symbols[i], emb.symbols[j], _rounded(float(s), digits)) for s, i, j in pairs[: args.top]]
    if args.format == "table":
        print(f"run {emb.run_id}: embedding norms and drift (cosine to the previous epoch) per epoch")
        columns = ["epoch", "assets", "norm_mean", "norm_std", "drift_mean", "drift_min"]
        print_rows(Rows(columns, stats), "table", max_rows=200)
    title = f"epoch {emb.epoch}: the {args.top} most similar pairs (--symbol S for one asset's neighbours)"
    return title, Rows(["symbol", "symbol_2", "cosine"], rows)


def cmd_embeddings(args: argparse.Namespace) -> int:
    from features.warehouse import connect
    from training.embeddings import load_embeddings
    from training.runs import resolve_run, unfinished_note

    project = load(args)
    db = warehouse_path(args, project)
    if args.plot:
        from training.plots import check_plot_dir

        check_plot_dir(args.plot)
    with connect(db, read_only=True, wait_s=5.0) as con:
        run = resolve_run(con, args.run)
        emb = load_embeddings(con, run["run_id"], args.epoch)
        stats = con.execute(
            "select epoch, assets, round(norm_mean, 4), round(norm_std, 4), round(drift_mean, 5),"
            " round(drift_min, 5) from train_embedding_stats where run_id = ? order by epoch",
            [run["run_id"]],
        ).fetchall()
    note = unfinished_note(run)
    if note:
        warn(note)
    title, result = _neighbour_rows(emb, args) if args.symbol else _pair_rows(emb, stats, args)
    if args.format == "table":
        print(title)
    print_rows(result, args.format)
    if emb.untrained and args.format == "table":
        shown = "shown" if args.include_untrained else "left out; --include-untrained shows them"
        print(
            f"untrained ({len(emb.untrained)}: no training windows in this run, {shown}): "
            + _limited(emb.untrained, 40)
        )
    elif emb.untrained and not args.include_untrained:
        warn(f"{len(emb.untrained)} untrained rows left out: {_limited(emb.untrained, 40)}")
    if args.plot:
        from training.plots import write_run_plots

        for path in write_run_plots(db, emb.run_id, Path(args.plot), epoch=emb.epoch):
            print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------- the commands

_RUN = arg("run", help="run ID, a unique prefix of one, or 'latest' (the newest finished run)")

TRAIN = Command(
    "train",
    "train the TradingModel on training_set; log the run to the warehouse",
    cmd_train,
    args=(
        arg("--epochs", type=int, help="total epochs of the run (default: [train] epochs)"),
        arg("--device", choices=DEVICES, help="default: [train] device (auto)"),
        arg("--resume", metavar="RUN", help="continue RUN from its last checkpoint"),
        arg(
            "--init-from",
            metavar="RUN",
            help="start a new run from RUN's weights, growing its embedding table for symbols added since",
        ),
        arg("--plot", metavar="DIR", help="write similarity, PCA and training-curve PNGs to DIR"),
        arg("--seed", type=int),
        arg("--combine", choices=COMBINES),
        arg("--encoder", choices=ENCODERS),
        arg("--embedding-dim", type=int, metavar="D", help="asset embedding size, 4..32"),
        arg("--task", choices=TASKS),
        arg("--hidden", type=int),
        arg("--batch-size", type=int),
        arg("--lr", type=float),
        arg("--patience", type=int, help="early stopping: epochs without a better validation loss"),
        arg("--max-train-samples", type=int, metavar="N", help="cap training samples per epoch"),
        arg(
            "--threads", type=int, help="torch CPU threads (default: [train] threads = 1; 0 = torch's choice)"
        ),
        arg(
            "--nproc",
            type=int,
            metavar="N",
            help="data-parallel training (DDP) with N processes on this machine; under torchrun, leave it out",
        ),
        arg("--no-progress", action="store_true", help="plain log lines instead of a progress bar"),
    ),
)
RUNS = Command(
    "runs",
    "list training runs (newest first)",
    cmd_runs,
    args=(
        arg("--limit", type=int, default=50),
        arg("--format", choices=OUTPUT_FORMATS, default="table"),
    ),
)
EVALUATE = Command(
    "evaluate",
    "a run on a split: per-date IC / Rank IC, quintile spreads and pooled AUC (eval_daily, eval_summary)",
    cmd_evaluate,
    args=(
        _RUN,
        arg("--split", choices=SPLITS, default="test"),
        arg(
            "--snapshot",
            metavar="NAME",
            help="evaluate on a frozen snapshot instead of the live training_set",
        ),
        arg("--plot", metavar="DIR", help="write the cumulative IC and quintile curves (PNG) to DIR"),
        arg("--device", choices=DEVICES, default="cpu"),
        arg("--no-progress", action="store_true", help="no progress bar"),
    ),
)
PREDICT = Command(
    "predict",
    "score every asset's newest complete window with a run; write the predictions table",
    cmd_predict,
    args=(
        _RUN,
        arg(
            "--as-of",
            type=_date,
            metavar="DATE",
            help="the newest window on or before DATE (default: the newest data)",
        ),
        arg("--top", type=int, default=10, help="how many top and bottom names to print (table format)"),
        arg(
            "--max-age",
            type=int,
            default=7,
            metavar="DAYS",
            help="skip an asset whose newest window ends more than DAYS before the as-of date (default 7)",
        ),
        arg("--device", choices=DEVICES, default="cpu"),
        arg("--format", choices=OUTPUT_FORMATS, default="table", help="csv/json: every scored row"),
        arg("--no-progress", action="store_true", help="no progress bar"),
    ),
)
EMBEDDINGS = Command(
    "embeddings",
    "what a run learned: nearest neighbours, norms and drift, plots",
    cmd_embeddings,
    args=(
        _RUN,
        arg("--epoch", type=int, help="default: the run's best epoch"),
        arg("--symbol", help="show this symbol's nearest neighbours by cosine similarity"),
        arg("--top", type=int, default=10),
        arg(
            "--include-untrained",
            action="store_true",
            help="also rank rows whose asset had no training windows (still at their random start)",
        ),
        arg("--plot", metavar="DIR", help="write similarity heatmap, PCA and curves PNGs to DIR"),
        arg("--format", choices=OUTPUT_FORMATS, default="table"),
    ),
)

__all__ = [
    "EMBEDDINGS",
    "EVALUATE",
    "PREDICT",
    "RUNS",
    "TRAIN",
    "cmd_embeddings",
    "cmd_evaluate",
    "cmd_predict",
    "cmd_runs",
    "cmd_train",
    "warn",
]
