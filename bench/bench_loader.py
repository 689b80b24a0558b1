"""Loader benchmark: WindowDataset against memory bandwidth and a per-sample DataLoader baseline.

Runs unchanged on CPU and GPU machines::

    .venv/bin/python bench/bench_loader.py            # figures as text
    .venv/bin/python bench/bench_loader.py --markdown # the same as a table for docs/benchmarks.md

Data: the default project's warehouse (data/warehouse.duckdb) when it has a training_set, otherwise
a synthetic training_set of the default project's size (154 assets, ten years of business days,
20 features, NULL warm-up rows, late listings) written to a temporary DuckDB file. The script says
which. Figures (lookback 60, batch 1024 unless noted):

* gather bytes/s: bytes of X produced per second by ``batches()`` vs a large single-thread numpy copy;
* samples/s vs a per-sample ``torch.utils.data.Dataset`` + ``DataLoader`` over the same block;
* warehouse open → first batch, seconds (in a fresh process, imports excluded and shown apart);
* train + valid + test, as a training run loads them (``WindowDataset.splits``: one open, one read of
  the row metadata; on code without it, three ``from_warehouse`` calls sharing the train statistics):
  seconds, CPU seconds and peak RSS growth over the three blocks, best of three fresh processes
  (``--splits-only`` runs just this);
* peak RSS growth while loading (open → first batch) vs the float32 block, at two sizes: the default
  project's warehouse and a large ``training_set`` written directly in DuckDB by :func:`make_large`
  (2,000 assets × up to 5,000 business days × the default project's 11 features; ``--large-db PATH``
  keeps it between runs). Each measurement is a fresh child process, imports done before the
  baseline; the peak is the kernel's high-water mark (VmHWM, reset after imports) cross-checked by
  sampling RSS every millisecond; best of two runs, plus a third with tracemalloc for the share that
  is the loader's own numpy arrays. ``--memory-only`` runs just these;
* on CUDA: on-device windows/s at batch 1024 and 4096, the pinned-host path, and the share of a
  small GRU training step spent waiting for data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LOOKBACK = 60
BATCH = 1024


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_synthetic(path: Path, assets: int = 154, features: int = 20, years: int = 10) -> None:
    """A training_set shaped like the default project's, generated inside DuckDB (seconds)."""
    import duckdb

    con = duckdb.connect(str(path))
    feats = ", ".join(
        f"case when d.i < {5 + k} then null else (random() - 0.5) * {k + 1} end as f{k:02d}"
        for k in range(features)
    )
    con.execute("select setseed(0.42)")
    con.execute(
        f"""
        create table training_set as
        with days as (
            select ts::date as ts from range(date '2025-12-31' - interval '{years} years', date '2025-12-31',
                                              interval 1 day) r(ts)
            where dayofweek(ts) between 1 and 5
        ), grid as (
            select a.asset_id, days.ts from range({assets}) a(asset_id), days
            where days.ts >= date '2025-12-31' - interval '{years} years' + to_days(((a.asset_id * 37) % 9) * 100)
        ), d as (
            select asset_id::integer as asset_id, ts,
                   row_number() over (partition by asset_id order by ts) - 1 as i,
                   count(*) over (partition by asset_id) as n
            from grid
        )
        select d.asset_id, 'SYM' || lpad(d.asset_id::varchar, 4, '0') as symbol, d.ts, {feats},
               case when d.i = d.n - 1 then null else (random() - 0.5) / 10 end as fwd_ret_1d,
               case when d.i = d.n - 1 then null else (random() > 0.5)::integer end as label_up
        from d order by d.asset_id, d.ts
        """
    )
    con.execute(
        f"create table dim_symbol as select range::integer as asset_id, 'SYM' || lpad(range::varchar, 4, '0')"
        f" as symbol, 'sectors' as category, 'Synthetic' as subcategory, true as is_active from range({assets})"
    )
    con.execute(
        "create table mapping_versions as select '1.0' as version, 1 as seq, now()::timestamp as created_at"
    )
    con.close()


FEATURES = (
    "ret_1d",
    "ret_5d",
    "ret_20d",
    "vol_20",
    "sma_ratio_20",
    "rsi_14",
    "volume_z_20",
    "hl_range",
    "macd",
    "macd_signal",
    "ret_1d_cs_rank",
)  # the default project's feature columns (training_set's schema), warm-up rows per feature below
WARMUP = (1, 5, 20, 20, 19, 14, 19, 0, 25, 33, 1)


def make_large(path: Path, assets: int = 2000, rows: int = 5000) -> None:
    """A large ``training_set`` with the default warehouse's schema, written directly in DuckDB.

    ``assets`` × up to ``rows`` business days (a ninth of the assets list later, with fewer rows),
    the 11 DOUBLE feature columns of the default project (NULL during each feature's warm-up),
    ``fwd_ret_1d`` / ``label_up`` (NULL on an asset's last row), ``dim_symbol``, ``mapping_versions``,
    the ``training_features`` view and a ``_fstore_models`` row, like a built warehouse; stored in
    (asset_id, ts) order. Not the synthetic market's prices: the loader only reads this table.
    """
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("select setseed(0.42)")
    feats = ", ".join(
        f"case when d.i < {w} then null else (random() - 0.5) * {k + 1} end::double as {name}"
        for k, (name, w) in enumerate(zip(FEATURES, WARMUP, strict=True))
    )
    con.execute(
        f"""
        create table training_set as
        with days as (
            select ts::date as ts, row_number() over (order by ts) - 1 as k
            from range(date '2000-01-03', date '2000-01-03' + interval '{rows * 7 // 5 + 7} days',
                       interval 1 day) r(ts)
            where dayofweek(ts) between 1 and 5
        ), d as (
            select a.asset_id::integer as asset_id, days.ts,
                   days.k - ((a.asset_id * 37) % 9) * {rows // 40} as i,
                   {rows} - ((a.asset_id * 37) % 9) * {rows // 40} as n
            from range({assets}) a(asset_id), days
            where days.k < {rows} and days.k >= ((a.asset_id * 37) % 9) * {rows // 40}
        )
        select d.asset_id, 'SYN' || lpad(d.asset_id::varchar, 4, '0') as symbol, d.ts, {feats},
               case when d.i = d.n - 1 then null else (random() - 0.5) / 10 end::double as fwd_ret_1d,
               case when d.i = d.n - 1 then null else (random() > 0.5)::integer end as label_up
        from d order by d.asset_id, d.ts
        """
    )
    con.execute(
        f"create table dim_symbol as select range::integer as asset_id, 'SYN' || lpad(range::varchar, 4, '0')"
        f" as symbol, 'sectors' as category, 'Synthetic' as subcategory, true as is_active from range({assets})"
    )
    con.execute(
        "create table mapping_versions as select '1.0' as version, 1 as seq, now()::timestamp as created_at"
    )
    con.execute("create table _fstore_models as select 'training_set' as model, md5('large') as fingerprint")
    con.execute(
        "create view training_features as select (row_number() over (order by column_index) - 1)::integer"
        " as position, column_name as feature, data_type from duckdb_columns()"
        " where table_name = 'training_set' and column_name not in ('asset_id', 'symbol', 'ts')"
        " and not starts_with(column_name, 'fwd_ret_') and not starts_with(column_name, 'label_')"
    )
    con.execute("checkpoint")
    con.close()


def find_data(tmp: Path) -> tuple[Path, str]:
    default = REPO / "data" / "warehouse.duckdb"
    if default.exists():
        import duckdb

        try:
            con = duckdb.connect(str(default), read_only=True)
            has = con.execute(
                "select count(*) from information_schema.tables where table_name = 'training_set'"
            ).fetchall()[0][0]
            con.close()
        except duckdb.Error:
            has = 0
        if has:
            return default, f"default project warehouse {default}"
    path = tmp / "bench.duckdb"
    make_synthetic(path)
    return (
        path,
        "synthetic training_set (154 assets x 10 years of business days x 20 features; no warehouse built)",
    )


class PeakRSS:
    """Peak resident set size of this process from now on: the kernel's high-water mark (VmHWM, reset
    through /proc/self/clear_refs) and, as a cross-check, RSS sampled every millisecond by a thread."""

    def __init__(self) -> None:
        import threading

        self.base = _rss_bytes()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.sampled = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self.sampled = max(self.sampled, _rss_bytes())

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.sampled = max(self.sampled, _rss_bytes())
        hwm = self.sampled
        if self.hwm_reset:
            with open("/proc/self/status") as fh:
                line = next(x for x in fh if x.startswith("VmHWM:"))
            hwm = max(hwm, int(line.split()[1]) * 1024)
        return {
            "rss_base": self.base,
            "rss_peak_growth": hwm - self.base,
            "rss_sampled_growth": self.sampled - self.base,
        }


def child_first_batch(db: str, mode: str) -> dict:
    """Run in a fresh process. ``time``: open → first batch. ``memory``: peak RSS growth while loading."""
    t0 = time.perf_counter()
    import duckdb  # noqa: F401  (imports are not part of loading: done before the baseline)
    import numpy  # noqa: F401
    import torch

    from training.loader import WindowDataset

    imports = time.perf_counter() - t0
    if mode == "time":
        t1, c1 = time.perf_counter(), time.process_time()
        ds = WindowDataset.from_warehouse(db, "train", lookback=LOOKBACK)
        x, _, _ = next(ds.batches(BATCH, seed=0))
        return {
            "imports_s": imports,
            "open_to_first_batch_s": time.perf_counter() - t1,
            "open_to_first_batch_cpu_s": time.process_time() - c1,
            "x_shape": list(x.shape),
        }
    if mode == "splits":
        return _child_splits(db, imports)
    import tracemalloc

    traced = mode == "memory-traced"
    peak = PeakRSS()
    if traced:
        tracemalloc.start()  # numpy reports its buffers here: the loader's own arrays, not DuckDB's
    c1 = time.process_time()
    ds = WindowDataset.from_warehouse(db, "train", lookback=LOOKBACK)
    next(ds.batches(BATCH, seed=0))
    cpu = time.process_time() - c1
    traced_peak = tracemalloc.get_traced_memory()[1] if traced else None
    if traced:
        tracemalloc.stop()
    out = peak.stop()
    return {
        **out,
        "rss_after_load": _rss_bytes() - out["rss_base"],  # warehouse connection closed, block kept
        "numpy_peak": traced_peak,
        "load_cpu_s": cpu,
        "block_bytes": ds.block_bytes,
        "samples": len(ds),
        "torch_threads": torch.get_num_threads(),
    }


def _load_three(db: str) -> dict:
    """train, valid and test the way a training run loads them."""
    from training.loader import WindowDataset

    if hasattr(WindowDataset, "splits"):
        return WindowDataset.splits(db, ("train", "valid", "test"), lookback=LOOKBACK)
    train = WindowDataset.from_warehouse(db, "train", lookback=LOOKBACK)  # before one-read splits
    rest = {
        s: WindowDataset.from_warehouse(db, s, lookback=LOOKBACK, stats=train.stats)
        for s in ("valid", "test")
    }
    return {"train": train, **rest}


def _child_splits(db: str, imports: float) -> dict:
    peak = PeakRSS()
    t1, c1 = time.perf_counter(), time.process_time()
    data = _load_three(db)
    wall, cpu = time.perf_counter() - t1, time.process_time() - c1
    out = peak.stop()
    return {
        **out,
        "imports_s": imports,
        "splits_s": wall,
        "splits_cpu_s": cpu,
        "blocks_bytes": sum(ds.block_bytes for ds in data.values()),
        "samples": {split: len(ds) for split, ds in data.items()},
    }


def splits_figures(db: Path, runs: int = 3) -> dict:
    """Loading train + valid + test in fresh child processes: the best wall, CPU and peak of ``runs``."""
    best: dict = {}
    for _ in range(runs):
        cmd = [sys.executable, __file__, "--child", "splits", "--db", str(db)]
        child = subprocess.run(cmd, capture_output=True, text=True, check=True)
        got = json.loads(child.stdout.strip().splitlines()[-1])
        for key in ("splits_s", "splits_cpu_s", "rss_peak_growth"):
            got[key] = min(got[key], best.get(key, got[key]))
        best = got
    return best


def _splits_rows(m: dict) -> list[tuple[str, str]]:
    blocks = m["blocks_bytes"]
    counts = ", ".join(f"{split} {n:,}" for split, n in m["samples"].items())
    return [
        (
            "train + valid + test load (a run's data step)",
            f"{m['splits_s']:.2f} s, CPU {m['splits_cpu_s']:.2f} s; peak RSS growth "
            f"{m['rss_peak_growth'] / 2**20:.1f} MiB = {m['rss_peak_growth'] / blocks:.2f}x the three blocks"
            f" of {blocks / 2**20:.1f} MiB ({counts} windows)",
        )
    ]


def memory_figures(db: Path, runs: int = 2) -> dict:
    """Peak RSS growth while loading the train split, each run in a fresh child process (best of
    ``runs``: RSS is not disturbed by load, the spread is the allocator's), plus one traced run."""
    best: dict | None = None
    for mode in ["memory"] * runs + ["memory-traced"]:
        cmd = [sys.executable, __file__, "--child", mode, "--db", str(db)]
        child = subprocess.run(cmd, capture_output=True, text=True, check=True)
        got = json.loads(child.stdout.strip().splitlines()[-1])
        if mode == "memory-traced":
            best["numpy_peak"] = got["numpy_peak"]
        elif best is None or got["rss_peak_growth"] < best["rss_peak_growth"]:
            best = got
    return best


def _memory_rows(label: str, m: dict) -> list[tuple[str, str]]:
    block = m["block_bytes"]
    return [
        (
            f"{label}: peak RSS growth while loading",
            f"{m['rss_peak_growth'] / 2**20:.1f} MiB = {m['rss_peak_growth'] / block:.2f}x the float32 block"
            f" of {block / 2**20:.1f} MiB ({m['samples']:,} windows; CPU {m['load_cpu_s']:.2f} s;"
            f" process after imports {m['rss_base'] / 2**20:.0f} MiB)",
        ),
        (
            f"{label}:   of it, the loader's numpy arrays",
            f"{m['numpy_peak'] / 2**20:.1f} MiB = {m['numpy_peak'] / block:.2f}x the block"
            " (the rest: DuckDB instance and buffers, Arrow batches)",
        ),
        (
            f"{label}: RSS growth after load (warehouse closed)",
            f"{m['rss_after_load'] / 2**20:.1f} MiB = {m['rss_after_load'] / block:.2f}x",
        ),
    ]


def memcpy_bandwidth() -> float:
    """Single-thread numpy copy of 256 MiB, best of 5 (bytes/s, counting bytes written)."""
    import numpy as np

    src = np.ones(64 * 1024 * 1024, dtype=np.float32)
    dst = np.empty_like(src)
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return src.nbytes / best


def _epoch_rate(ds, batch: int, seconds: float = 1.0) -> tuple[float, float]:
    """(samples/s, X bytes/s) over whole shuffled epochs (a new seed each), for about ``seconds``."""
    import torch

    sync = torch.cuda.synchronize if ds.device.type == "cuda" else (lambda: None)
    for _ in ds.batches(batch, seed=1):  # warm-up epoch
        pass
    sync()
    n = nbytes = epoch = 0
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        epoch += 1
        for x, _ids, _y in ds.batches(batch, seed=1 + epoch):
            n += x.shape[0]
            nbytes += x.numel() * 4
        sync()
    dt = time.perf_counter() - t
    return n / dt, nbytes / dt


def baseline_rate(ds, seconds: float = 3.0) -> float:
    """A per-sample Dataset + DataLoader (default collate) over the same block: samples/s."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, Dataset

    block = ds._block.cpu().numpy()
    starts = ds._starts.cpu().numpy()
    ids = ds._asset_ids.cpu().numpy()
    y = ds._y.cpu().numpy()

    class PerSample(Dataset):
        def __len__(self) -> int:
            return len(starts)

        def __getitem__(self, i: int):
            s = starts[i]
            return torch.from_numpy(np.array(block[s : s + LOOKBACK])), int(ids[i]), float(y[i])

    loader = DataLoader(
        PerSample(), batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    n, t = 0, time.perf_counter()
    for x, _a, _y in loader:
        n += x.shape[0]
        if time.perf_counter() - t > seconds:
            break
    return n / (time.perf_counter() - t)


def gpu_figures(db: Path) -> dict:
    import torch

    from training.loader import WindowDataset

    out: dict = {"gpu": torch.cuda.get_device_name(0)}
    ds = WindowDataset.from_warehouse(db, "train", lookback=LOOKBACK, device="cuda")
    for b in (1024, 4096):
        rate, bw = _epoch_rate(ds, b)
        out[f"device_windows_s_{b}"] = rate
        out[f"device_bytes_s_{b}"] = bw
    pinned = WindowDataset.from_warehouse(
        db, "train", lookback=LOOKBACK, device="cuda", block_on_device=False
    )
    out["pinned_windows_s_1024"] = _epoch_rate(pinned, 1024)[0]

    # share of a training step spent waiting for data: a small GRU + embedding model
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(ds.num_embeddings, 16)
            self.gru = torch.nn.GRU(ds.num_features + 16, 64, batch_first=True)
            self.head = torch.nn.Linear(64, 1)

        def forward(self, x, a):
            e = self.emb(a)[:, None, :].expand(-1, x.shape[1], -1)  # (B, L, E)
            h, _ = self.gru(torch.cat([x, e], dim=-1))  # (B, L, H)
            return self.head(h[:, -1]).squeeze(-1)  # (B,)

    net = Net().cuda()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    batches = ds.batches(BATCH, seed=3)
    wait = step = 0.0
    for i in range(60):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        x, a, y = next(batches)
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x, a), y).backward()
        opt.step()
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        if i >= 10:
            wait += t1 - t0
            step += t2 - t0
    out["data_wait_share"] = wait / step
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a markdown table too")
    parser.add_argument(
        "--child", choices=["time", "memory", "memory-traced", "splits"], help=argparse.SUPPRESS
    )
    parser.add_argument("--db", help="a warehouse file to read instead of the default project's")
    parser.add_argument(
        "--large-db",
        help="the large training_set for the memory figures (built with make_large() when missing; ~1 GB)",
    )
    parser.add_argument(
        "--memory-only", action="store_true", help="only peak RSS at the default and the large size"
    )
    parser.add_argument("--no-large", action="store_true", help="skip the large size")
    parser.add_argument(
        "--splits-only", action="store_true", help="only the train + valid + test load (time and peak RSS)"
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_first_batch(args.db, args.child)))
        return 0

    import torch

    from training.loader import WindowDataset

    with tempfile.TemporaryDirectory() as tmp:
        db, what = (Path(args.db), f"warehouse {args.db}") if args.db else find_data(Path(tmp))
        if args.splits_only:
            rows = [("data", what), *_splits_rows(splits_figures(db))]
            width = max(len(k) for k, _ in rows)
            for k, v in rows:
                print(f"{k:<{width}}  {v}")
            return 0
        splits = splits_figures(db)
        large = None
        if not args.no_large:
            large_db = Path(args.large_db) if args.large_db else Path(tmp) / "large.duckdb"
            if not large_db.exists():
                make_large(large_db)
            large = memory_figures(large_db)
        first = memory_figures(db)
        if args.memory_only:
            copy_bw = gather_bw = rate = base = 0.0
            gpu = None
        else:
            for _ in range(3):  # open -> first batch: best of three fresh processes
                cmd = [sys.executable, __file__, "--child", "time", "--db", str(db)]
                child = subprocess.run(cmd, capture_output=True, text=True, check=True)
                got = json.loads(child.stdout.strip().splitlines()[-1])
                for key in ("open_to_first_batch_s", "open_to_first_batch_cpu_s", "imports_s"):
                    got[key] = min(got[key], first.get(key, got[key]))
                first.update(got)
            ds = WindowDataset.from_warehouse(db, "train", lookback=LOOKBACK)
            # Best of three interleaved rounds: the machine may be shared, and memcpy, the loader and
            # the baseline should each be seen at their best under the same conditions.
            copy_bw = gather_bw = rate = base = 0.0
            for _ in range(3):
                copy_bw = max(copy_bw, memcpy_bandwidth())
                r, bw = _epoch_rate(ds, BATCH)
                rate, gather_bw = max(rate, r), max(gather_bw, bw)
                base = max(base, baseline_rate(ds, seconds=1.5))
            gpu = gpu_figures(db) if torch.cuda.is_available() else None

    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()
    rows = [
        (
            "machine",
            f"{platform.machine()}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, "
            + (gpu["gpu"] if gpu else "no GPU")
            + f"; load average {load[0]:.1f} at the end",
        ),
        ("data", what),
        (
            "train split",
            f"{first['samples']:,} windows, block {first['block_bytes'] / 2**20:.1f} MiB",
        ),
    ]
    if not args.memory_only:
        rows += [
            ("memcpy (numpy, 1 thread)", f"{copy_bw / 1e9:.2f} GB/s"),
            (
                "window gather, batches() on CPU",
                f"{gather_bw / 1e9:.2f} GB/s of X = {gather_bw / copy_bw:.0%} of memcpy"
                f" ({rate / 1e6:.2f} M windows/s)",
            ),
            (
                "per-sample Dataset+DataLoader",
                f"{base:,.0f} samples/s -> loader is {rate / base:.0f}x faster",
            ),
            (
                "warehouse open -> first batch",
                f"{first['open_to_first_batch_s']:.2f} s, CPU {first['open_to_first_batch_cpu_s']:.2f} s"
                f" (imports {first['imports_s']:.2f} s before it, not counted)",
            ),
        ]
    rows += _splits_rows(splits)
    rows += _memory_rows("default", first)
    if large is not None:
        rows += [("large", f"make_large(): {large['samples']:,} train windows")]
        rows += _memory_rows("large", large)
    if gpu:
        rows += [
            (
                "on-device gather, batch 1024",
                f"{gpu['device_windows_s_1024'] / 1e6:.1f} M windows/s "
                f"({gpu['device_bytes_s_1024'] / 1e9:.0f} GB/s)",
            ),
            (
                "on-device gather, batch 4096",
                f"{gpu['device_windows_s_4096'] / 1e6:.1f} M windows/s "
                f"({gpu['device_bytes_s_4096'] / 1e9:.0f} GB/s)",
            ),
            (
                "host block, pinned + non_blocking, 1024",
                f"{gpu['pinned_windows_s_1024'] / 1e6:.2f} M windows/s",
            ),
            ("GRU step time waiting for data", f"{gpu['data_wait_share']:.1%}"),
        ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    if args.markdown:
        print("\n| measure | result |\n|---|---|")
        for k, v in rows:
            print(f"| {k} | {v} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
