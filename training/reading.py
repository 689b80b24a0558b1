"""The loader's reads: DuckDB → Arrow → preallocated numpy arrays, with a lean connection.

    open_source     a Project, a project folder, a warehouse file or a caller's connection → a connection
    read_sorted     stream one (asset, date)-sorted query, Arrow batch by batch, into preallocated arrays;
                    the loader's own connection retries a query that outgrows its small buffer pool
    read_rows       every row's metadata (asset, day, label, "every feature the asset has is present"),
                    range by range, and the features each asset never has
    read_block      the feature rows a split's windows touch, into one float32 (N, F) block
    skipped_assets  symbol → usable rows of the assets too short for one window
    asset_symbols   asset ID → symbol, for messages

No read ever holds a full-size Arrow, Polars or float64 copy of the table: each query covers a range
of assets of about ``_QUERY_BYTES`` (DuckDB sorts a query's whole result before its first row comes
out, so this bounds DuckDB's copy) and each Arrow batch is copied into its place as it arrives.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from features.config import Project, find_project_root, load_project
from features.errors import ConfigError, FstoreError, TrainingError
from features.warehouse import connect, quote_ident
from training.source import Source

_READ_ROWS = 1 << 16  # Arrow batch size: bounds the transient copy that sits next to the block
# Bytes per DuckDB query: every read sorts (asset, date) inside DuckDB, which holds a query's whole
# result before the first row comes out, so reads go asset range by asset range to bound that copy.
_QUERY_BYTES = 8 << 20
# A connection the loader opened itself gets a small buffer pool: DuckDB otherwise keeps every column
# block it scanned cached (up to 80% of RAM), several times the float32 block on a large training_set.
# A query that needs more (an asset with millions of rows) is retried with 4x the limit.
_DUCKDB_MEMORY_MB = 32

try:
    import polars as pl
except ImportError:  # polars is a declared dependency; pyarrow alone also works (bare GPU images)
    pl = None


# --------------------------------------------------------------------------------------- connections


def open_source(
    db_or_project: Any, project: Project | None
) -> tuple[Project, duckdb.DuckDBPyConnection, bool]:
    """(project, connection, whether we opened it) from a Project, a folder, a .duckdb file or a
    connection. A connection opened here is read-only and lean (see ``_DUCKDB_MEMORY_MB``)."""
    if isinstance(db_or_project, duckdb.DuckDBPyConnection):
        return project or Project(root=Path.cwd()), db_or_project, False
    if db_or_project is None or isinstance(db_or_project, Project):
        project = db_or_project or project or load_project()
        return project, _lean(connect(project.warehouse_path, read_only=True)), True
    path = Path(db_or_project)
    if path.is_dir():
        project = project or load_project(path)
        return project, _lean(connect(project.warehouse_path, read_only=True)), True
    if project is None:
        try:
            project = load_project(find_project_root(path.resolve().parent))
        except ConfigError:
            project = Project(root=path.resolve().parent)  # a bare warehouse file: config defaults
    return project, _lean(connect(path, read_only=True)), True


def _lean(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A connection the loader opened itself: a small buffer pool (see ``_DUCKDB_MEMORY_MB``)."""
    try:
        con.execute(f"set memory_limit = '{_DUCKDB_MEMORY_MB}MiB'")
    except BaseException:
        con.close()
        raise
    return con


def release_freed() -> None:
    """Give freed heap pages back to the OS (glibc keeps them otherwise); a no-op elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


# --------------------------------------------------------------------------------------- streaming


def _arrow_columns(table: pa.Table | pa.RecordBatch) -> dict[str, np.ndarray]:
    """Arrow → Polars → numpy, column by column (NULL → NaN in float columns); no per-row Python."""
    if pl is not None:
        df = pl.from_arrow(table)
        return {name: df.get_column(name).to_numpy() for name in df.columns}
    return {name: table.column(name).to_numpy() for name in table.column_names}


def _arrow_matrix(batch: pa.RecordBatch) -> np.ndarray:
    """An Arrow batch of float32 columns as one (rows, F) float32 array (NULL → NaN)."""
    if pl is not None:
        return pl.from_arrow(batch).to_numpy()
    cols = [c.to_numpy(zero_copy_only=False) for c in batch.columns]
    return np.stack(cols, axis=1).astype(np.float32, copy=False)


def read_sorted(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    write: Callable[[pa.RecordBatch, int], int],
    at: int,
    grow: bool,
) -> int:
    """Stream one (asset, date)-sorted query, batch by batch, into preallocated arrays through
    ``write(batch, at)`` (returns the rows written); returns the next position.

    ``grow``: the connection is the loader's own, with a small buffer pool; a query that needs more
    memory runs again from ``at`` with four times the limit (a caller's connection keeps its settings).
    """
    limit = _DUCKDB_MEMORY_MB
    while True:
        pos = at
        try:
            for batch in con.sql(sql).to_arrow_reader(_READ_ROWS):
                pos += write(batch, pos)
            return pos
        except duckdb.OutOfMemoryException:
            limit *= 4
            if not grow or limit > 64 << 10:
                raise
            con.execute(f"set memory_limit = '{limit}MiB'")


def asset_chunks(counts: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Split consecutive assets (sorted) into runs of at most ``limit`` rows (an asset is never split).

    Returns ``[(first, stop), ...]`` index ranges into the assets ``counts`` counts the rows of.
    """
    chunks: list[tuple[int, int]] = []
    first, rows = 0, 0
    for i, c in enumerate(counts.tolist()):  # one step per asset (~thousands), not per row
        if rows and rows + c > limit:
            chunks.append((first, i))
            first, rows = i, 0
        rows += c
    if len(counts):
        chunks.append((first, len(counts)))
    return chunks


# --------------------------------------------------------------------------------------- row metadata


@dataclass
class Rows:
    """Metadata of every row of the source, sorted by (asset, date): 13 bytes a row.

    ``asset``, ``day`` (days since 1970-01-01): int32; ``y``: float32 (NULL → NaN); ``complete``: every
    feature *the asset has* is present in the row. ``absent``: asset ID → the features it has in no row
    at all (e.g. ``hl_range`` of a close-only series): they are filled, never a reason to drop a window.
    Planning drops each per-row array as soon as it is done with it.
    """

    asset: np.ndarray
    day: np.ndarray
    y: np.ndarray
    complete: np.ndarray
    absent: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.asset)


def _per_asset(con: duckdb.DuckDBPyConnection, source: Source) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per asset (ascending): its ID, its row count and, per feature, how many of its rows have a value."""
    values = "".join(
        f", count(nullif({quote_ident(f)}::double, 'nan'::double))" for f in source.feature_names
    )
    per_asset = con.sql(
        f"select asset_id::integer, count(*){values} from {source.relation} where asset_id is not null"
        " group by 1 order by 1"
    ).fetchall()
    f = len(source.feature_names)
    assets = np.array([r[0] for r in per_asset], dtype=np.int64)
    counts = np.array([r[1] for r in per_asset], dtype=np.int64)
    valued = np.array([r[2:] for r in per_asset], dtype=np.int64).reshape(len(per_asset), f)
    return assets, counts, valued


def absent_features(
    feature_names: tuple[str, ...], assets: np.ndarray, counts: np.ndarray, valued: np.ndarray
) -> dict[int, tuple[str, ...]]:
    """Asset ID → the features it never has: no row has a value although the asset has more rows than
    the feature's warm-up (the fewest rows without a value among the assets that have it). A late
    listing still inside a feature's warm-up is not missing that feature; a close-only series is."""
    has = valued > 0
    lacking = counts[:, None] - valued  # (A, F) rows without a value
    warmup = np.where(has, lacking, np.iinfo(np.int64).max).min(axis=0, initial=np.iinfo(np.int64).max)
    warmup = np.where(has.any(axis=0), warmup, -1)  # a feature no asset has is absent everywhere
    never = ~has & (counts[:, None] > warmup[None, :])  # (A, F)
    return {
        int(a): tuple(name for name, gone in zip(feature_names, row, strict=True) if gone)
        for a, row in zip(assets.tolist(), never, strict=True)
        if row.any()
    }


def _missing_sql(source: Source, absent: dict[int, tuple[str, ...]]) -> str:
    """SQL: the row misses a feature its asset has (a feature an asset never has does not count)."""
    terms = []
    for f in source.feature_names:
        term = f"coalesce(isnan({quote_ident(f)}::double), true)"
        without = sorted(a for a, names in absent.items() if f in names)
        if without:  # integer IDs the loader read itself
            term = f"({term} and asset_id not in ({', '.join(str(a) for a in without)}))"
        terms.append(term)
    return " or ".join(terms)


def read_rows(
    con: duckdb.DuckDBPyConnection, source: Source, label: str, grow: bool, task: Any = None
) -> Rows:
    """Every row's metadata, asset range by asset range straight into preallocated arrays; DuckDB
    never sorts or holds more than one range at a time. Refuses two rows for one asset and date.
    ``task``: a :class:`training.progress.Task` that counts the rows read."""
    assets, counts, valued = _per_asset(con, source)
    absent = absent_features(source.feature_names, assets, counts, valued)
    n = int(counts.sum())
    rows = Rows(
        asset=np.empty(n, dtype=np.int32),
        day=np.empty(n, dtype=np.int32),
        y=np.empty(n, dtype=np.float32),  # y is float32 in every batch anyway
        complete=np.empty(n, dtype=bool),
        absent=absent,
    )
    if task is not None:
        task.reset("reading rows", n)
    select = (
        f"select asset_id::integer as asset_id, (ts::date - date '1970-01-01')::integer as day,"
        f" {quote_ident(label)}::double as y, not ({_missing_sql(source, absent)}) as complete"
        f" from {source.relation}"
    )

    def write(batch: pa.RecordBatch, at: int) -> int:
        cols = _arrow_columns(batch)  # DuckDB → Arrow → Polars → numpy, one batch at a time
        m = len(cols["asset_id"])
        if at + m > n:
            raise TrainingError("training_set changed while it was read (more rows than counted)")
        rows.asset[at : at + m] = cols["asset_id"]
        rows.day[at : at + m] = cols["day"]
        rows.y[at : at + m] = cols["y"].astype(np.float32)
        rows.complete[at : at + m] = cols["complete"]
        if task is not None:
            task.advance(m)
        return m

    at = 0
    for i, j in asset_chunks(counts, _QUERY_BYTES // 48):  # ~48 bytes a row sorted in DuckDB
        where = f"asset_id between {int(assets[i])} and {int(assets[j - 1])}"
        at = read_sorted(con, f"{select} where {where} order by asset_id, ts", write, at, grow)
    if at != n:
        raise TrainingError(f"training_set changed while it was read ({at} rows, expected {n})")
    _refuse_duplicates(rows)
    return rows


def _refuse_duplicates(rows: Rows) -> None:
    dup = (rows.asset[1:] == rows.asset[:-1]) & (rows.day[1:] == rows.day[:-1])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise TrainingError(
            f"training_set has more than one row for asset_id {rows.asset[i]} on "
            f"{np.datetime64(int(rows.day[i]), 'D')}; the loader needs one row per asset and date"
        )


# --------------------------------------------------------------------------------------- feature rows


def read_block(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    out: np.ndarray,
    *,
    assets: np.ndarray,
    lo_day: np.ndarray,
    hi_day: np.ndarray,
    lengths: np.ndarray,
    grow: bool,
    task: Any = None,
) -> None:
    """Fill ``out`` (N, F) with the feature rows of each of ``assets`` (ascending) dated ``lo_day..hi_day``
    (``lengths`` rows each), in (asset, date) order: one query per range of assets of about
    ``_QUERY_BYTES``, streamed as Arrow record batches of float32 columns into ``out``; ``task`` counts them."""
    cols = ", ".join(f"t.{quote_ident(f)}::float" for f in source.feature_names)  # float32 from DuckDB

    def write(batch: pa.RecordBatch, at: int) -> int:
        part = _arrow_matrix(batch)  # (rows, F) float32; NULL → NaN
        if at + len(part) > len(out):
            raise TrainingError("training_set changed while it was read (more rows than expected)")
        out[at : at + len(part)] = part
        if task is not None:
            task.advance(len(part))
        return len(part)

    at = 0
    per_query = _QUERY_BYTES // (4 * out.shape[1] + 32)  # float32 features + sort keys, per row
    for i, j in asset_chunks(lengths, per_query):
        # The ranges go in as a VALUES list (one row per asset): registering an Arrow table would make
        # DuckDB import pandas, ~20 MB and ~0.5 s before the first batch.
        values = ", ".join(
            f"({a}, {d0}, {d1})"
            for a, d0, d1 in zip(
                assets[i:j].tolist(), lo_day[i:j].tolist(), hi_day[i:j].tolist(), strict=True
            )
        )
        sql = (
            f"with r(asset_id, lo, hi) as (values {values})"
            f" select {cols} from {source.relation} t join r on t.asset_id = r.asset_id"
            f" and (t.ts::date - date '1970-01-01')::integer between r.lo and r.hi"
            f" where t.asset_id between {int(assets[i])} and {int(assets[j - 1])}"
            f" order by t.asset_id, t.ts"
        )
        at = read_sorted(con, sql, write, at, grow)
    if at != len(out):
        raise TrainingError(f"training_set changed while it was read ({at} rows, expected {len(out)})")


def asset_symbols(con: duckdb.DuckDBPyConnection, source: Source, assets: Sequence[int]) -> dict[int, str]:
    """Asset ID → its symbol in the source (the ID as text when the source has no symbol column)."""
    names = {int(a): str(int(a)) for a in assets}
    if not names:
        return names
    try:
        ids = ", ".join(str(a) for a in names)  # integer IDs the loader read itself
        for a, sym in con.execute(
            f"select asset_id, any_value(symbol) from {source.relation} where asset_id in ({ids}) group by 1"
        ).fetchall():
            names[int(a)] = str(sym)
    except (duckdb.Error, FstoreError):
        pass  # no symbol column: report asset IDs
    return names


def skipped_assets(
    con: duckdb.DuckDBPyConnection, source: Source, assets: np.ndarray, usable: np.ndarray
) -> dict[str, int]:
    """Symbol → rows after warm-up, for assets too short to form one window (IDs without a symbol column)."""
    names = asset_symbols(con, source, [int(a) for a in assets])
    return {names[int(a)]: int(u) for a, u in zip(assets, usable, strict=True)}


__all__ = [
    "Rows",
    "absent_features",
    "asset_chunks",
    "asset_symbols",
    "open_source",
    "read_block",
    "read_rows",
    "read_sorted",
    "release_freed",
    "skipped_assets",
]
