"""Common download formats build without edits, and every feature matches an independent reference
(issue 13's real-data check).

The test writes a year of prices per symbol in the layout of each common source — Yahoo Finance
(adjusted close with a dividend, a crypto pair, a byte-order mark with CRLF), Stooq (one file per
symbol, and the bulk ``<TICKER>`` layout), Nasdaq.com, Investing.com, FRED (close only, ``.`` on
holidays), CoinGecko, a Unix-epoch crypto export and a European ``;`` file — lays the files into
``data/raw`` of a project from ``fstore init``, runs ``fstore build`` and compares every row of every
column of ``training_set`` with values computed here, in plain Python, from the test's own reading of
the files it wrote and the definitions in the README's feature table. ``tests/test_ingest_formats.py``
checks the committed fixtures row by row at ingest; ``tests/test_features.py`` checks the features
on plain CSVs; this is the two together, through the CLI, on series long enough for every warm-up.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import random
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

START = dt.date(2023, 1, 2)
N_DAYS = 300  # equity rows; crypto files cover the same span, every day
CRYPTO = {"BTCUSD", "ETHUSD", "SOLUSD"}  # dim_symbol category crypto: their own calendar group
FEATURES = [
    "ret_1d",
    "ret_5d",
    "ret_20d",
    "vol_20",
    "sma_ratio_20",
    "rsi_14",
    "volume_z_20",
    "hl_range",
    "ppo",
    "ppo_signal",
    "ret_1d_cs_rank",
]
LABELS = ["fwd_ret_1d", "label_up"]
Row = tuple  # (ts, open, high, low, close, volume); None where the file has no such column


def fstore(root: Path, *args: str) -> str:
    env = dict(os.environ, COLUMNS="200")
    out = subprocess.run(
        [sys.executable, "-m", "features", *args], capture_output=True, text=True, cwd=root, env=env
    )
    assert out.returncode == 0, f"fstore {' '.join(args)}: {out.stderr}{out.stdout}"
    return out.stdout


# ------------------------------------------------------------------------------ prices, written as vendors do


def days(every_day: bool) -> list[dt.date]:
    weekdays = [START + dt.timedelta(i) for i in range(N_DAYS * 2) if (START + dt.timedelta(i)).weekday() < 5]
    end = weekdays[N_DAYS - 1]
    return (
        [START + dt.timedelta(i) for i in range((end - START).days + 1)] if every_day else weekdays[:N_DAYS]
    )


def walk(seed: int, ts: list[dt.date], price: float, vol: float = 0.015) -> list[tuple]:
    rng, out = random.Random(seed), []
    for day in ts:
        o, c = price * math.exp(rng.gauss(0, vol / 3)), price * math.exp(rng.gauss(0, vol))
        h, lo = (
            max(o, c) * math.exp(abs(rng.gauss(0, vol / 2))),
            min(o, c) * math.exp(-abs(rng.gauss(0, vol / 2))),
        )
        out.append((day, o, h, lo, c, rng.lognormvariate(15, 0.5)))
        price = c
    return out


def us(x: float, places: int = 2) -> str:
    return f"{x:,.{places}f}"


def eu(x: float, places: int = 2) -> str:
    return us(x, places).replace(",", "_").replace(".", ",").replace("_", ".")


def kmb(v: float) -> str:
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.2f}K"


def yahoo(bars: list[tuple], dividend_at: int | None = None) -> str:
    """Adjusted close = close × 0.97 before a dividend (the ratio changes there), = close after."""
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for i, (d, o, h, lo, c, v) in enumerate(bars):
        adj = c * (0.97 if dividend_at is not None and i < dividend_at else 1.0)
        lines.append(f"{d},{o:.6f},{h:.6f},{lo:.6f},{c:.6f},{adj:.6f},{round(v)}")
    return "\n".join(lines) + "\n"


def write_downloads(raw: Path) -> dict[str, Callable[[], list[Row]]]:
    """Write every vendor file into ``raw``; file name -> how the test reads that file back."""
    equity, crypto = days(False), days(True)
    files: dict[str, str] = {}
    files["AAPL.csv"] = yahoo(walk(1, equity, 180.0), dividend_at=150)
    files["BTC-USD.csv"] = yahoo(walk(2, crypto, 30000.0, 0.03))
    files["JPM.csv"] = "\ufeff" + yahoo(walk(3, equity, 140.0)).replace("\n", "\r\n")
    spy = walk(4, equity, 400.0, 0.01)
    files["spy.us.csv"] = "Date,Open,High,Low,Close,Volume\n" + "".join(
        f"{d},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{round(v)}\n" for d, o, h, lo, c, v in spy
    )
    qqq = walk(5, equity, 350.0)
    files["qqq.us.csv"] = (
        "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\n"
        + "".join(
            f"QQQ.US,D,{d:%Y%m%d},000000,{o:.4f},{h:.4f},{lo:.4f},{c:.4f},{round(v)},0\n"
            for d, o, h, lo, c, v in qqq
        )
    )
    msft = walk(6, equity, 370.0)
    files["MSFT.csv"] = "Date,Close/Last,Volume,Open,High,Low\n" + "".join(
        f"{d:%m/%d/%Y},${c:.2f},{round(v)},${o:.2f},${h:.2f},${lo:.2f}\n" for d, o, h, lo, c, v in msft[::-1]
    )
    ko = walk(7, equity, 1050.0)  # above 1,000: thousands separators in the prices
    files["KO.csv"] = '"Date","Price","Open","High","Low","Vol.","Change %"\n' + "".join(
        f'"{d:%m/%d/%Y}","{us(c)}","{us(o)}","{us(h)}","{us(lo)}","{kmb(v)}","0.00%"\n'
        for d, o, h, lo, c, v in ko[::-1]
    )
    gld = walk(8, equity, 180.0, 0.008)
    holidays = set(random.Random(9).sample(range(30, N_DAYS), 8))  # FRED writes "." on a holiday
    files["GLD.csv"] = "observation_date,GLD\n" + "".join(
        f"{d},{'.' if i in holidays else f'{c:.2f}'}\n" for i, (d, *_, c, _v) in enumerate(gld)
    )
    eth = walk(10, crypto, 2000.0, 0.04)
    files["ETHUSD.csv"] = "snapped_at,price,market_cap,total_volume\n" + "".join(
        f"{d} 00:00:00 UTC,{c:.6f},{c * 1.2e8:.2f},{v:.2f}\n" for d, *_, c, v in eth
    )
    sol = walk(11, crypto, 100.0, 0.05)
    files["SOLUSD.csv"] = "time,low,high,open,close,volume\n" + "".join(
        f"{int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp())},{lo:.4f},{h:.4f},{o:.4f},{c:.4f},{v:.8f}\n"
        for d, o, h, lo, c, v in sol
    )
    jnj = walk(12, equity, 1550.0, 0.01)
    files["JNJ.csv"] = "Date;Open;High;Low;Close;Volume\n" + "".join(
        f"{d:%d.%m.%Y};{eu(o)};{eu(h)};{eu(lo)};{eu(c)};{eu(round(v), 0)}\n" for d, o, h, lo, c, v in jnj
    )
    for name, text in files.items():
        (raw / name).write_bytes(text.encode("utf-8"))
    return {name: (lambda name=name: read_back(raw / name)) for name in files}


# ------------------------------------------------------------------------------ the test's own reading


def number(text: str) -> float | None:
    """$1,234.56 / 17.56M / 1.234,56 (a ';' file) as a person reads them; '.' and '' are missing."""
    text = text.strip().replace("$", "")
    if text in ("", "."):
        return None
    scale = {"K": 1e3, "M": 1e6, "B": 1e9}.get(text[-1:], 1.0)
    return float(text.rstrip("KMB").replace(",", "")) * scale


def read_back(path: Path) -> list[Row]:
    """(ts, open, high, low, close, volume) rows of one file: the adjusted close when there is one
    (open/high/low scaled by adj/close), rows without a close left out."""
    text = path.read_text(encoding="utf-8-sig")
    delim = ";" if path.name == "JNJ.csv" else ","
    rows = []
    for r in csv.DictReader(text.splitlines(), delimiter=delim):
        r = {k.strip("<>").lower(): v for k, v in r.items()}
        if delim == ";":
            r = {k: v.replace(".", "").replace(",", ".") if k != "date" else v for k, v in r.items()}
        raw_date = r.get("date") or r.get("observation_date") or r.get("snapped_at") or r.get("time")
        if "time" in r and "date" not in r:
            ts = dt.datetime.fromtimestamp(int(raw_date), tz=dt.UTC).date()
        elif "/" in raw_date:
            ts = dt.datetime.strptime(raw_date, "%m/%d/%Y").date()
        elif "." in raw_date:
            ts = dt.datetime.strptime(raw_date, "%d.%m.%Y").date()
        elif raw_date.isdigit():
            ts = dt.datetime.strptime(raw_date, "%Y%m%d").date()
        else:
            ts = dt.date.fromisoformat(raw_date[:10])
        close = number(r.get("close") or r.get("close/last") or r.get("price") or r.get("gld") or "")
        o, h, lo = (number(r[k]) if k in r else None for k in ("open", "high", "low"))
        vol = next((number(r[k]) for k in ("volume", "vol", "vol.", "total_volume") if k in r), None)
        if "adj close" in r:
            adj = number(r["adj close"])
            o, h, lo, close = o * adj / close, h * adj / close, lo * adj / close, adj
        if close is not None:
            rows.append((ts, o, h, lo, close, vol))
    return sorted(rows)


# ------------------------------------------------------------------------------ the README's definitions


def log_ret(close: list[float], k: int) -> list[float | None]:
    return [None if t < k else math.log(close[t] / close[t - k]) for t in range(len(close))]


def rolling(values: list[float | None], n: int, fn: Callable[[list[float]], float | None]) -> list:
    out = []
    for t in range(len(values)):
        window = values[t - n + 1 : t + 1] if t >= n - 1 else []
        out.append(fn(window) if len(window) == n and None not in window else None)
    return out


def rsi(close: list[float]) -> list[float | None]:
    out = []
    for t in range(len(close)):
        if t < 14:
            out.append(None)
            continue
        changes = [close[i] - close[i - 1] for i in range(t - 13, t + 1)]
        gains, losses = sum(max(c, 0) for c in changes) / 14, sum(max(-c, 0) for c in changes) / 14
        out.append(50.0 if gains + losses == 0 else 100 * gains / (gains + losses))
    return out


def volume_z(volume: list[float | None]) -> list[float | None]:
    def z(w: list[float]) -> float | None:
        sd = statistics.stdev(w)
        return None if sd == 0 else (w[-1] - statistics.fmean(w)) / sd

    return rolling(volume, 20, z)


def warm_up(span: int) -> int:
    """Updates until an EMA's seed weighs < 0.1%."""
    n, weight = 0, 1.0
    while weight >= 0.001:
        weight *= 1 - 2 / (span + 1)
        n += 1
    return n


def ema(values: list[float]) -> Callable[[int], list[float]]:
    def of(span: int) -> list[float]:
        a, out = 2 / (span + 1), [values[0]]
        for x in values[1:]:
            out.append(a * x + (1 - a) * out[-1])
        return out

    return of


def ppo(close: list[float]) -> tuple[list, list]:
    fast, slow = ema(close)(12), ema(close)(26)
    warm = max(warm_up(12), warm_up(26))
    line = [None if t < warm else fast[t] / slow[t] - 1 for t in range(len(close))]
    signal: list[float | None] = [None] * len(close)
    if len(close) > warm:
        sig = ema(line[warm:])(9)
        for t in range(warm + warm_up(9), len(close)):
            signal[t] = sig[t - warm]
    return line, signal


def labels(ts: list[dt.date], close: list[float]) -> tuple[list, list]:
    steps = [None] + [(ts[i] - ts[i - 1]).days for i in range(1, len(ts))]
    fwd: list[float | None] = [None] * len(ts)
    for t in range(20, len(ts) - 1):
        if steps[t + 1] <= 4.0 * statistics.median(steps[t - 19 : t + 1]):
            fwd[t] = math.log(close[t + 1] / close[t])
    up = [None if f is None or f == 0 else float(f > 0) for f in fwd]
    return fwd, up


def reference(series: dict[str, list[Row]]) -> dict[tuple[str, dt.date], dict[str, float | None]]:
    out = {}
    for symbol, rows in series.items():
        ts, _open, h, lo, close, volume = (list(col) for col in zip(*rows, strict=True))
        r1 = log_ret(close, 1)
        cols = {
            "ret_1d": r1,
            "ret_5d": log_ret(close, 5),
            "ret_20d": log_ret(close, 20),
            "vol_20": rolling(r1, 20, statistics.stdev),
            "sma_ratio_20": [
                None if m is None else c / m - 1
                for c, m in zip(close, rolling(close, 20, statistics.fmean), strict=True)
            ],
            "rsi_14": rsi(close),
            "volume_z_20": volume_z(volume),
            "hl_range": [None if a is None else (a - b) / c for a, b, c in zip(h, lo, close, strict=True)],
        }
        cols["ppo"], cols["ppo_signal"] = ppo(close)
        cols["fwd_ret_1d"], cols["label_up"] = labels(ts, close)
        for t, day in enumerate(ts):
            out[(symbol, day)] = {name: values[t] for name, values in cols.items()}
    # cross-sectional rank of ret_1d per date within the calendar group: PERCENT_RANK, ties lowest
    groups: dict[tuple, list[float]] = {}
    for (symbol, day), row in out.items():
        if row["ret_1d"] is not None:
            groups.setdefault((day, symbol in CRYPTO), []).append(row["ret_1d"])
    for (symbol, day), row in out.items():
        peers = groups.get((day, symbol in CRYPTO), [])
        v = row["ret_1d"]
        row["ret_1d_cs_rank"] = (
            None if v is None else 0.0 if len(peers) == 1 else sum(p < v for p in peers) / (len(peers) - 1)
        )
    return out


def agree(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


# ------------------------------------------------------------------------------ the check


SYMBOLS = {
    "AAPL.csv": "AAPL",
    "BTC-USD.csv": "BTCUSD",
    "JPM.csv": "JPM",
    "spy.us.csv": "SPY",
    "qqq.us.csv": "QQQ",
    "MSFT.csv": "MSFT",
    "KO.csv": "KO",
    "GLD.csv": "GLD",
    "ETHUSD.csv": "ETHUSD",
    "SOLUSD.csv": "SOLUSD",
    "JNJ.csv": "JNJ",
}


def test_common_downloads_build_without_edits_and_every_feature_matches(tmp_path: Path) -> None:
    fstore(tmp_path, "init", "p")
    root = tmp_path / "p"
    with (root / "config" / "project.toml").open("a") as handle:  # vendor names -> the universe's
        handle.write(
            '\n[ingest]\nsymbol_map = { "BTC-USD" = "BTCUSD", "SPY.US" = "SPY", "QQQ.US" = "QQQ" }\n'
        )
    readers = write_downloads(root / "data" / "raw")
    series = {SYMBOLS[name]: read() for name, read in readers.items()}
    fstore(root, "build", "--quiet")

    rejected = json.loads(
        fstore(root, "query", "select symbol, reason from raw_prices_rejected", "--format", "json")
    )
    assert {(r["symbol"], r["reason"]) for r in rejected} == {("GLD", "missing close")} and len(rejected) == 8
    listed = json.loads(
        fstore(root, "query", "select feature from training_features order by position", "--format", "json")
    )
    assert [r["feature"] for r in listed] == FEATURES, "a new feature needs its reference here"
    columns = ", ".join(FEATURES + LABELS)
    rows = json.loads(
        fstore(
            root,
            "query",
            f"select symbol, ts::varchar as ts, {columns} from training_set order by symbol, ts",
            "--format",
            "json",
            "--max-rows",
            "0",
        )
    )
    want = reference(series)
    assert sorted((r["symbol"], dt.date.fromisoformat(r["ts"])) for r in rows) == sorted(want)
    wrong = [
        (r["symbol"], r["ts"], name, r[name], want[(r["symbol"], dt.date.fromisoformat(r["ts"]))][name])
        for r in rows
        for name in FEATURES + LABELS
        if not agree(r[name], want[(r["symbol"], dt.date.fromisoformat(r["ts"]))][name])
    ]
    assert not wrong, f"{len(wrong)} values differ, e.g. {wrong[:5]}"
    # the check can fail: every feature has values, and the close-only and volume-less shapes are there
    for name in FEATURES + LABELS:
        assert sum(r[name] is not None for r in rows) > 1000, name
    assert all(r["hl_range"] is None for r in rows if r["symbol"] in ("GLD", "ETHUSD"))
    assert any(r["volume_z_20"] is not None for r in rows if r["symbol"] == "ETHUSD")
