"""CLI commands of the training side: train, runs, evaluate, embeddings, export-windows, snapshot.

torch is imported only inside the handlers, never at module import.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from pathlib import Path


def register(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    """Add this module's subcommands to the ``fstore`` parser."""
    _register_loader(sub, add_common)
    _register_training(sub, add_common)


# --------------------------------------------------------------------------- loader: export-windows, snapshot


def _cmd_export_windows(args: argparse.Namespace) -> int:
    from features.cli import _project, _warehouse_arg
    from training.export import export_windows
    from training.loader import WindowDataset

    project = _project(args)
    ds = WindowDataset.from_warehouse(
        _warehouse_arg(args, project),
        args.split,
        lookback=args.lookback,
        stride=args.stride,
        normalize=args.normalize,
        missing=args.missing,
        label=args.label,
        snapshot=args.snapshot,
        project=project,
    )
    out = export_windows(ds, args.out)
    print(
        f"wrote {len(ds)} {args.split} windows ({ds.lookback} x {ds.num_features}) to {out}"
        f" — mapping {ds.mapping_version}, fingerprint {ds.fingerprint}"
    )
    if ds.skipped_assets:
        skipped = ", ".join(f"{s} ({n} rows)" for s, n in sorted(ds.skipped_assets.items()))
        print(f"skipped (fewer than lookback + horizon rows after warm-up): {skipped}")
    return 0


def _cmd_snapshot_create(args: argparse.Namespace) -> int:
    from features.cli import _project, _warehouse_arg
    from features.warehouse import connect
    from training.snapshots import create_snapshot

    project = _project(args)
    con = connect(_warehouse_arg(args, project), wait_s=5.0)
    try:
        snap = create_snapshot(con, args.name, project.path(project.paths.snapshots))
    finally:
        con.close()
    print(
        f"snapshot {snap.name}: {snap.rows} rows, mapping {snap.mapping_version},"
        f" fingerprint {snap.fingerprint} -> {snap.path}"
    )
    return 0


def _cmd_snapshot_list(args: argparse.Namespace) -> int:
    from features.cli import _console, _project, _warehouse_arg
    from features.warehouse import connect
    from training.snapshots import list_snapshots

    project = _project(args)
    con = connect(_warehouse_arg(args, project), read_only=True)
    try:
        snaps = list_snapshots(con)
    finally:
        con.close()
    if args.format == "csv":
        print("name,created_at,fingerprint,rows,mapping_version,path")
        for s in snaps:
            print(f"{s.name},{s.created_at},{s.fingerprint},{s.rows},{s.mapping_version},{s.path}")
        return 0
    from rich.table import Table

    table = Table("name", "created_at", "fingerprint", "rows", "mapping_version", "path")
    for s in snaps:
        table.add_row(s.name, str(s.created_at), s.fingerprint, str(s.rows), str(s.mapping_version), s.path)
    _console().print(table)
    return 0


def _register_loader(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    p = sub.add_parser("export-windows", help="write one split's (X, asset_ids, y) windows to a .npz file")
    p.add_argument("--split", choices=["train", "valid", "test"], default="train")
    p.add_argument("--lookback", type=int, help="rows per window (default: [loader] lookback)")
    p.add_argument("--stride", type=int, help="keep every N-th window (default: [loader] stride)")
    p.add_argument("--normalize", choices=["global", "per_asset", "none"], help="default: [loader] normalize")
    p.add_argument("--missing", choices=["drop", "fill"], help="default: [loader] missing")
    p.add_argument("--label", help="label column (default: [loader] label)")
    p.add_argument(
        "--snapshot", metavar="NAME", help="read a frozen dataset snapshot instead of training_set"
    )
    p.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    add_common(p)
    p.set_defaults(handler=_cmd_export_windows)

    sp = sub.add_parser("snapshot", help="immutable, named copies of training_set: create, list")
    ssub = sp.add_subparsers(dest="snapshot_command", metavar="SUBCOMMAND")
    sp.set_defaults(handler=lambda a: (sp.print_help(), 2)[1])

    p = ssub.add_parser("create", help="freeze the current training_set as snapshot NAME (Parquet + a row)")
    p.add_argument("name", help="an identifier, used once (snapshots are immutable)")
    add_common(p)
    p.set_defaults(handler=_cmd_snapshot_create)

    p = ssub.add_parser("list", help="show the dataset snapshots")
    p.add_argument("--format", choices=["table", "csv"], default="table")
    add_common(p)
    p.set_defaults(handler=_cmd_snapshot_list)


# --------------------------------------------------------------------------- training: train, runs, evaluate, embeddings
# (issue 6; handlers stay thin: the work is in training.train / training.runs / training.embeddings)


def _cmd_train(args: argparse.Namespace) -> int:
    from features.cli import _project, _warehouse_arg
    from training import distributed
    from training.train import run_training

    project = _project(args)
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
    kwargs = {
        "db": _warehouse_arg(args, project),
        "epochs": args.epochs,
        "device": args.device,
        "resume": args.resume,
        "init_from": args.init_from,
        "plot_dir": Path(args.plot) if args.plot else None,
        "model_overrides": model,
        "train_overrides": train,
        "progress": not args.no_progress,
        "log": print if args.no_progress else None,
    }
    if args.nproc is not None and args.nproc != 1:
        result = distributed.launch(project, args.nproc, **kwargs)  # refuses < 1, and under torchrun
    elif distributed.under_torchrun():
        result = distributed.run_rank(project, **kwargs)  # join torchrun's group
        if result is None:
            return 0  # ranks other than 0 leave the report to rank 0
    else:
        result = run_training(project, **kwargs)
    test = result.test
    shown = ", ".join(
        f"{k} {test[k]:.4f}" for k in ("loss", "accuracy", "auc", "ic") if test.get(k) is not None
    )
    print(
        f"run {result.run_id} {result.status} on {result.device}: best epoch {result.best_epoch},"
        f" valid loss {_num(result.best_valid_loss)}; test {shown or '-'}"
    )
    print(f"checkpoints in {result.checkpoint}; `fstore embeddings {result.run_id}` shows what it learned")
    if args.plot:
        print(f"plots in {args.plot}")
    return 0


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _cmd_runs(args: argparse.Namespace) -> int:
    from features.cli import _project, _warehouse_arg
    from features.dimension import Rows
    from features.errors import WarehouseLockedError
    from features.query import format_result
    from features.warehouse import connect
    from training.runs import list_runs, mark_stale_runs

    project = _project(args)
    db = _warehouse_arg(args, project)
    with contextlib.suppress(WarehouseLockedError):  # a writer is busy: list anyway, fix stale rows later
        mark_stale_runs(db)
    con = connect(db, read_only=True, wait_s=5.0)
    try:
        columns, rows = list_runs(con, limit=args.limit)
    finally:
        con.close()
    if not rows and args.format == "table":
        print("no training runs yet: `fstore train` starts one")
        return 0
    if args.format == "table":  # compact: minutes, 4 decimals, so it fits a terminal
        rows = [
            tuple(
                v.strftime("%m-%d %H:%M")
                if hasattr(v, "strftime")
                else round(v, 4)
                if isinstance(v, float)
                else v
                for v in row
            )
            for row in rows
        ]
    out = format_result(Rows(columns, rows), args.format, max_rows=0)
    if out is not None:
        print(out, end="")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from features.cli import _project, _warehouse_arg
    from training.train import evaluate_run

    project = _project(args)
    m = evaluate_run(
        project, args.run, split=args.split, db=_warehouse_arg(args, project), device=args.device
    )
    shown = ", ".join(f"{k} {m[k]:.4f}" for k in ("loss", "accuracy", "auc", "ic") if m.get(k) is not None)
    print(f"run {m['run_id']} (best epoch {m['epoch']}) on {args.split}: {m['samples']} samples, {shown}")
    return 0


def _cmd_embeddings(args: argparse.Namespace) -> int:
    from features.cli import _project, _warehouse_arg
    from features.dimension import Rows
    from features.query import format_result
    from features.warehouse import connect
    from training.embeddings import cosine_matrix, load_embeddings, neighbours
    from training.runs import resolve_run

    project = _project(args)
    db = _warehouse_arg(args, project)
    con = connect(db, read_only=True, wait_s=5.0)
    try:
        run = resolve_run(con, args.run)
        emb = load_embeddings(con, run["run_id"], args.epoch)
        stats = con.execute(
            "select epoch, assets, round(norm_mean, 4), round(norm_std, 4), round(drift_mean, 5),"
            " round(drift_min, 5) from train_embedding_stats where run_id = ? order by epoch",
            [run["run_id"]],
        ).fetchall()
    finally:
        con.close()
    if args.symbol:
        rows = [(s, c, sc, round(cos, 4)) for s, c, sc, cos in neighbours(emb, args.symbol, args.top)]
        title = (
            f"run {emb.run_id}, epoch {emb.epoch}: {args.top} nearest neighbours of {args.symbol} (cosine)"
        )
        result = Rows(["symbol", "category", "subcategory", "cosine"], rows)
    else:
        sims = cosine_matrix(emb.vectors)
        n = len(emb.symbols)
        pairs = sorted(((sims[i, j], i, j) for i in range(n) for j in range(i + 1, n)), reverse=True)
        rows = [(emb.symbols[i], emb.symbols[j], round(float(s), 4)) for s, i, j in pairs[: args.top]]
        if args.format == "table":
            print(f"run {emb.run_id}: embedding norms and drift (cosine to the previous epoch) per epoch")
            format_result(
                Rows(["epoch", "assets", "norm_mean", "norm_std", "drift_mean", "drift_min"], stats), "table"
            )
        title = (
            f"epoch {emb.epoch}: the {args.top} most similar pairs (--symbol S for one asset's neighbours)"
        )
        result = Rows(["symbol", "symbol_2", "cosine"], rows)
    if args.format == "table":
        print(title)
    out = format_result(result, args.format, max_rows=0)
    if out is not None:
        print(out, end="")
    if args.plot:
        from training.plots import write_run_plots

        for path in write_run_plots(db, emb.run_id, Path(args.plot), epoch=emb.epoch):
            print(f"wrote {path}")
    return 0


def _register_training(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    p = sub.add_parser("train", help="train the TradingModel on training_set; log the run to the warehouse")
    p.add_argument("--epochs", type=int, help="total epochs of the run (default: [train] epochs)")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], help="default: [train] device (auto)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint")
    p.add_argument(
        "--init-from",
        metavar="RUN",
        help="start a new run from RUN's weights, growing its embedding table for symbols added since",
    )
    p.add_argument("--plot", metavar="DIR", help="write similarity, PCA and training-curve PNGs to DIR")
    p.add_argument("--seed", type=int)
    p.add_argument("--combine", choices=["concat", "add", "attention", "separate", "none"])
    p.add_argument("--encoder", choices=["gru", "lstm", "tcn"])
    p.add_argument("--embedding-dim", type=int, metavar="D", help="asset embedding size, 4..32")
    p.add_argument("--task", choices=["classification", "regression"])
    p.add_argument("--hidden", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--patience", type=int, help="early stopping: epochs without a better validation loss")
    p.add_argument("--max-train-samples", type=int, metavar="N", help="cap training samples per epoch")
    p.add_argument(
        "--threads", type=int, help="torch CPU threads (default: [train] threads = 1; 0 = torch's choice)"
    )
    p.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="data-parallel training (DDP) with N processes on this machine; under torchrun, leave it out",
    )
    p.add_argument("--no-progress", action="store_true", help="plain log lines instead of a progress bar")
    add_common(p)
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("runs", help="list training runs (newest first)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    add_common(p)
    p.set_defaults(handler=_cmd_runs)

    p = sub.add_parser("evaluate", help="score a run's best checkpoint on a split")
    p.add_argument("run", help="run ID, a unique prefix of one, or 'latest'")
    p.add_argument("--split", choices=["train", "valid", "test"], default="test")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    add_common(p)
    p.set_defaults(handler=_cmd_evaluate)

    p = sub.add_parser("embeddings", help="what a run learned: nearest neighbours, norms and drift, plots")
    p.add_argument("run", help="run ID, a unique prefix of one, or 'latest'")
    p.add_argument("--epoch", type=int, help="default: the run's best epoch")
    p.add_argument("--symbol", help="show this symbol's nearest neighbours by cosine similarity")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--plot", metavar="DIR", help="write similarity heatmap, PCA and curves PNGs to DIR")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    add_common(p)
    p.set_defaults(handler=_cmd_embeddings)
