"""The user's path end to end, through the ``fstore`` command only (issue 14's acceptance test).

A new project from ``fstore init``, the user's own universe and price files, then three vendor
downloads for symbols the user adds: a Nasdaq.com file (``$`` prices, quoted ``"29,044,171"``
volumes, MM/DD/YYYY, newest first), a day-first file whose dates are all ambiguous (refused until
``[ingest] date_format`` says how to read it) and a close-only ``Date,Close`` file. Then ingest,
symbols sync, build, train (short), predict, evaluate and embeddings. Every step's output is checked
against values computed here from the files the test wrote: the rows and closes, the asset IDs (new
symbols take the next free IDs, old ones never move), the close-only asset trained, one prediction per
asset at its newest date, evaluate's per-date IC and Rank IC recomputed in plain Python from the
scores ``fstore predict --as-of`` gives on that date, and the printed neighbours' cosines recomputed
from the stored vectors (and, in JSON, to full precision).

It is also the regression test of two defects found on the way: ``[ingest] date_format``, set as the
ambiguous file's error says, used to apply to every file with text dates (the Nasdaq file's rows with
a day above 12 rejected, the rest read with day and month swapped, exit 0; an ISO file with the same
header rejected whole), and ``fstore embeddings --format json`` rounded cosines to 4 decimals.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

# END is a day ≤ 12, so the day-first file (days 1-12 of each month: all ambiguous) ends on it too
START, END = dt.date(2022, 1, 3), dt.date(2024, 12, 12)
# the user's universe before (symbol: first price), then the symbols added with the downloads (10 in
# all: enough for quintiles, two names in each)
OLD = {"AAPL": 180.0, "MSFT": 370.0, "JPM": 140.0, "GS": 350.0, "XOM": 100.0, "CVX": 150.0, "SPY": 450.0}
NEW = {"NFLX": "Consumer", "ASML": "Technology", "XAUUSD": "Commodities"}  # added with the downloads
BAR = tuple[dt.date, float, float, float, float, int]  # ts, open, high, low, close, volume


def fstore(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``fstore ARGS`` run by a user in the project folder."""
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "features", *args], capture_output=True, text=True, cwd=root, env=env
    )


def ok(root: Path, *args: str) -> str:
    out = fstore(root, *args)
    assert out.returncode == 0, f"fstore {' '.join(args)}: {out.stderr}{out.stdout}"
    return out.stdout


def query(root: Path, *sql: str) -> list[list[dict]]:
    """The rows of each statement, from one ``fstore query "a; b; …" --format json``."""
    out = json.loads(ok(root, "query", "; ".join(sql), "--format", "json"))
    return out if len(sql) > 1 else [out]


# ------------------------------------------------------------------------------------------ the files


def business_days(keep=lambda d: True) -> list[dt.date]:
    days = (START + dt.timedelta(n) for n in range((END - START).days + 1))
    return [d for d in days if d.weekday() < 5 and keep(d)]


def bars(seed: int, days: list[dt.date], price: float) -> list[BAR]:
    """A random walk rounded to cents, with a consistent bar (low ≤ open, close ≤ high)."""
    rng, out = random.Random(seed), []
    for day in days:
        o, c = round(price * (1 + rng.gauss(0, 0.004)), 2), round(price * (1 + rng.gauss(0, 0.015)), 2)
        h, lo = (
            round(max(o, c) * (1 + abs(rng.gauss(0, 0.006))), 2),
            round(min(o, c) * (1 - abs(rng.gauss(0, 0.006))), 2),
        )
        out.append((day, o, h, lo, c, int(rng.lognormvariate(16, 0.4))))
        price = c
    return out


def write_plain(path: Path, rows: list[BAR]) -> None:
    lines = ["Date,Open,High,Low,Close,Volume"]
    lines += [f"{d.isoformat()},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{v}" for d, o, h, lo, c, v in rows]
    path.write_text("\n".join(lines) + "\n")


def write_nasdaq(path: Path, rows: list[BAR]) -> None:
    lines = ["Date,Close/Last,Volume,Open,High,Low"]
    lines += [
        f'{d:%m/%d/%Y},${c:.2f},"{v:,}",${o:.2f},${h:.2f},${lo:.2f}' for d, o, h, lo, c, v in rows[::-1]
    ]
    path.write_text("\n".join(lines) + "\n")


def write_day_first(path: Path, rows: list[BAR]) -> None:
    lines = ["Date,Open,High,Low,Close,Volume"]
    lines += [f"{d:%d/%m/%Y},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{v}" for d, o, h, lo, c, v in rows]
    path.write_text("\n".join(lines) + "\n")


def write_close_only(path: Path, rows: list[BAR]) -> None:
    path.write_text("Date,Close\n" + "".join(f"{d.isoformat()},{c:.2f}\n" for d, *_, c, _v in rows))


def parse(path: Path, date_format: str) -> list[tuple]:
    """(ts, open, high, low, close, volume) as a person reads the file: Python's csv and strptime,
    ``$`` and ``,`` removed from numbers, a missing column None."""

    def number(text: str | None) -> float | None:
        return None if text is None else float(text.replace("$", "").replace(",", ""))

    with path.open(newline="") as handle:
        rows = [
            (
                dt.datetime.strptime(r["Date"], date_format).date(),
                *(number(r.get(c)) for c in ("Open", "High", "Low")),
                number(r.get("Close", r.get("Close/Last"))),
                number(r.get("Volume")),
            )
            for r in csv.DictReader(handle)
        ]
    return sorted(rows)


# ------------------------------------------------------------------------------------------ reference


def pearson(a: list[float], b: list[float]) -> float:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    return cov / math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in order[i : j + 1]:
            out[k] = (i + j) / 2 + 1
        i = j + 1
    return out


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def same_rows(got: list[tuple], want: list[tuple]) -> bool:
    def close(x: float | None, y: float | None) -> bool:
        if x is None or y is None:
            return x is None and y is None
        return math.isclose(x, y, rel_tol=1e-12)

    return len(got) == len(want) and all(
        g[0] == w[0] and all(close(x, y) for x, y in zip(g[1:], w[1:], strict=True))
        for g, w in zip(got, want, strict=True)
    )


# ------------------------------------------------------------------------------------------ the path


def test_a_user_goes_from_vendor_files_to_predictions(tmp_path: Path) -> None:
    # init: the default template, trainable as it stands; the user keeps a universe of their own
    out = ok(tmp_path, "init", "p")
    assert "fstore build" in out and "fstore train" in out and "make" not in out
    root = tmp_path / "p"
    assert list((root / "sql").rglob("training_set.sql")) and list((root / "models").glob("*.py"))
    universe = {
        "sectors": {"Technology": ["AAPL", "MSFT"], "Finance": ["JPM", "GS"], "Energy": ["XOM", "CVX"]},
        "etfs": {"Market": ["SPY"]},
        "crypto": {},
        "indices": {},
    }
    (root / "config" / "symbols.json").write_text(json.dumps(universe, indent=2))
    toml = root / "config" / "project.toml"  # short windows keep training quick (init's [loader] has one)
    text = toml.read_text()
    toml.write_text(
        re.sub(r"(?m)^lookback = \d+$", "lookback = 10", text)
        if "[loader]" in text
        else text + "\n[loader]\nlookback = 10\n"
    )

    # the user's own files, then a first build: IDs in sorted order
    mine = tmp_path / "mine"
    mine.mkdir()
    for seed, (symbol, price) in enumerate(OLD.items()):
        write_plain(mine / f"{symbol}.csv", bars(seed, business_days(), price))
    out = ok(root, "ingest", str(mine))
    own = sum(len(parse(mine / f"{s}.csv", "%Y-%m-%d")) for s in OLD)
    assert f"{own:,} valid rows, {len(OLD)} symbol(s)" in out
    ok(root, "build", "--quiet")
    old_ids = {
        r["symbol"]: r["asset_id"] for r in json.loads(ok(root, "symbols", "list", "--format", "json"))
    }
    assert old_ids == {s: i for i, s in enumerate(sorted(OLD))}

    # three vendor downloads for three new symbols
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    write_nasdaq(downloads / "NFLX.csv", bars(11, business_days(), 300.0))
    write_day_first(downloads / "ASML.csv", bars(12, business_days(lambda d: d.day <= 12), 80.0))
    write_close_only(downloads / "XAUUSD.csv", bars(13, business_days(), 1800.0))
    symbols = json.loads((root / "config" / "symbols.json").read_text())
    for symbol, sub in NEW.items():
        group = "etfs" if sub == "Commodities" else "sectors"
        symbols[group].setdefault(sub, []).append(symbol)
    (root / "config" / "symbols.json").write_text(json.dumps(symbols, indent=2))

    # the ambiguous file is refused, naming the file and the setting; nothing is copied
    refused = fstore(root, "ingest", str(downloads))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "ASML.csv: its dates are ambiguous" in refused.stderr
    assert "[ingest] date_format" in refused.stderr
    assert sorted(p.name for p in (root / "data" / "raw").glob("[!.]*")) == sorted(f"{s}.csv" for s in OLD)
    with (root / "config" / "project.toml").open("a") as handle:
        handle.write('[ingest]\ndate_format = "%d/%m/%Y"\n')
    ingest = fstore(root, "ingest", str(downloads))
    assert ingest.returncode == 0, ingest.stderr
    formats = {"NFLX": "%m/%d/%Y", "ASML": "%d/%m/%Y", "XAUUSD": "%Y-%m-%d"}
    want = {s: parse(downloads / f"{s}.csv", formats[s]) for s in NEW}
    want |= {s: parse(mine / f"{s}.csv", "%Y-%m-%d") for s in OLD}
    assert f"{sum(len(rows) for rows in want.values()):,} valid rows, {len(want)} symbol(s)" in ingest.stdout
    assert "rejected" not in ingest.stdout
    assert "no asset ID yet: ASML, NFLX, XAUUSD" in ingest.stderr and "fstore symbols sync" in ingest.stderr

    # build before the sync: stopped, naming the symbols and the command
    stopped = fstore(root, "build", "--quiet")
    assert stopped.returncode != 0 and "fstore symbols sync" in stopped.stderr + stopped.stdout
    assert all(s in stopped.stderr + stopped.stdout for s in NEW)
    out = ok(root, "symbols", "sync")
    new_ids = {s: len(OLD) + i for i, s in enumerate(sorted(NEW))}  # next free IDs, sorted among themselves
    for symbol, asset_id in new_ids.items():
        assert re.search(rf"\+ {symbol} +ID {asset_id} ", out), out
    ids = {r["symbol"]: r["asset_id"] for r in json.loads(ok(root, "symbols", "list", "--format", "json"))}
    assert ids == old_ids | new_ids

    # build: every row as the test reads its own files, nothing rejected
    ok(root, "build", "--quiet")
    prices, rejected, close_only = query(
        root,
        "select symbol, ts::varchar as ts, open, high, low, close, volume from raw_prices order by symbol, ts",
        "select count(*) as n from raw_prices_rejected",
        "select count(*) as n, count(hl_range) as hl from training_set where symbol = 'XAUUSD'",
    )
    for symbol, rows in want.items():
        got = [
            (dt.date.fromisoformat(r["ts"]), r["open"], r["high"], r["low"], r["close"], r["volume"])
            for r in prices
            if r["symbol"] == symbol
        ]
        assert same_rows(got, rows), symbol
    assert {r["symbol"] for r in prices} == set(want) and rejected == [{"n": 0}]
    assert close_only == [{"n": len(want["XAUUSD"]), "hl": 0}]  # one row per close, no high/low

    # train (short): the close-only asset trains too
    out = ok(
        root,
        "train",
        "--epochs",
        "1",
        "--max-train-samples",
        "600",
        "--hidden",
        "8",
        "--embedding-dim",
        "4",
        "--batch-size",
        "128",
        "--seed",
        "1",
        "--no-progress",
    )
    (run,), samples, embeddings = query(
        root,
        "select run_id, status, epochs_done, best_epoch from train_runs",
        "select symbol, sum(samples) as n from train_asset_samples where split = 'train' group by symbol",
        "select symbol, asset_id, trained, dim, vector from train_embeddings"
        " where epoch = (select best_epoch from train_runs) order by asset_id",
    )
    assert run["status"] == "finished" and run["epochs_done"] == 1 and f"run {run['run_id']} finished" in out
    assert {r["symbol"] for r in samples if r["n"] > 0} == set(ids)
    assert [(r["symbol"], r["asset_id"], r["trained"]) for r in embeddings] == [
        (s, i, True) for s, i in sorted(ids.items(), key=lambda kv: kv[1])
    ]
    assert "XAUUSD" in out and "filled" in out  # its missing hl_range / volume_z_20 are said to be filled
    epoch = next(line for line in out.splitlines() if line.startswith("epoch 1:"))
    assert " auc " in epoch and " ic " not in epoch  # a classifier has no IC per epoch: not shown as "ic -"

    # predict: every asset at its newest date (every series ends on END, the newest complete window)
    out = ok(root, "predict", "latest", "--top", "3", "--no-progress")
    (preds,) = query(
        root,
        "select symbol, asset_id, ts::varchar as ts, as_of::varchar as as_of, score, rank, mapping_version from predictions",
    )
    assert sorted((p["symbol"], p["asset_id"]) for p in preds) == sorted(ids.items())
    assert all(max(rows)[0] == END for rows in want.values())
    assert {(p["ts"], p["as_of"], p["mapping_version"]) for p in preds} == {
        (END.isoformat(), END.isoformat(), "1.1")
    }
    by_score = [p["symbol"] for p in sorted(preds, key=lambda p: -p["score"])]
    assert [p["symbol"] for p in sorted(preds, key=lambda p: p["rank"])] == by_score
    top = out.split("top 3:")[1].split("bottom")[0]
    assert [s for s in by_score if f" {s} " in top] == by_score[:3]
    assert f"scored {len(ids)} assets as of {END.isoformat()}" in out

    # evaluate: the printed and stored summary is that of the stored daily series, and a test date's
    # IC, Rank IC and top-minus-bottom equal those recomputed from `fstore predict --as-of` scores
    out = ok(root, "evaluate", "latest", "--no-progress")
    daily, summary = query(
        root,
        "select ts::varchar as ts, n_assets, ic, rank_ic, top_minus_bottom from eval_daily order by ts",
        "select metric, value from eval_summary",
    )
    summary = {r["metric"]: r["value"] for r in summary}
    assert len(daily) > 20
    for name in ("ic", "rank_ic"):
        v = [d[name] for d in daily if d[name] is not None]
        mean = sum(v) / len(v)
        std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1))
        assert summary[f"{name}_mean"] == pytest.approx(mean, rel=1e-9)
        assert summary[f"{name}_std"] == pytest.approx(std, rel=1e-9)
        assert summary[f"{name}_t"] == pytest.approx(mean / std * math.sqrt(len(v)), rel=1e-9)
        assert summary[f"{name}_hit_rate"] == pytest.approx(sum(x > 0 for x in v) / len(v), rel=1e-12)
    mean_line = next(line for line in out.splitlines() if line.startswith("mean"))
    assert mean_line.split()[1:3] == [f"{summary['ic_mean']:.4f}", f"{summary['rank_ic_mean']:.4f}"]
    day = next(d for d in daily[len(daily) // 2 :] if d["n_assets"] == len(ids))
    ok(root, "predict", "latest", "--as-of", day["ts"], "--no-progress")
    (scored,) = query(
        root,
        "select p.symbol, p.asset_id, p.score, t.fwd_ret_1d from predictions p join training_set t using (asset_id, ts)"
        f" where p.as_of = '{day['ts']}' and p.ts = '{day['ts']}' and t.label_up is not null order by p.symbol",
    )
    assert len(scored) == day["n_assets"]
    s, r = [x["score"] for x in scored], [x["fwd_ret_1d"] for x in scored]
    assert day["ic"] == pytest.approx(pearson(s, r), rel=1e-6, abs=1e-9)
    assert day["rank_ic"] == pytest.approx(pearson(ranks(s), ranks(r)), rel=1e-6, abs=1e-9)
    # quintiles: assets sorted by (score, asset_id), the i-th of n in quintile ⌊5i/n⌋
    order = sorted(scored, key=lambda x: (x["score"], x["asset_id"]))
    q = [[x["fwd_ret_1d"] for i, x in enumerate(order) if 5 * i // len(order) == k] for k in (0, 4)]
    assert day["top_minus_bottom"] == pytest.approx(sum(q[1]) / len(q[1]) - sum(q[0]) / len(q[0]), rel=1e-9)

    # embeddings: neighbours of the close-only asset, their cosines from the stored vectors
    out = ok(root, "embeddings", "latest", "--symbol", "XAUUSD", "--top", "3", "--format", "json")
    neighbours = json.loads(out)
    vectors = {r["symbol"]: r["vector"][: r["dim"]] for r in embeddings}
    others = sorted((cosine(vectors["XAUUSD"], v), s) for s, v in vectors.items() if s != "XAUUSD")[::-1]
    assert [n["symbol"] for n in neighbours] == [s for _, s in others[:3]]
    for n, (want_cos, _) in zip(neighbours, others, strict=False):  # JSON: full precision
        assert n["cosine"] == pytest.approx(want_cos, rel=1e-5, abs=1e-7)  # float32 vectors
