"""Opening the DuckDB warehouse, with errors a person can act on.

DuckDB lets one process hold a file for writing. A second writer gets DuckDB's lock error, which
we turn into :class:`WarehouseLockedError` naming the file and, when DuckDB reports it, the PID.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import duckdb

from features.errors import WarehouseError, WarehouseLockedError

_PID = re.compile(r"PID (\d+)")


def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    wait_s: float = 0.0,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; create its folder when writing. ``wait_s`` retries a held lock."""
    path = Path(path)
    if str(path) != ":memory:":
        if read_only and not path.exists():
            raise WarehouseError(
                f"warehouse {path} does not exist yet",
                hint="run `fstore build` (or `make build`) first",
            )
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise WarehouseError(f"cannot open warehouse {path}: {text}") from None
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            pid = _PID.search(text)
            holder = f" (held by process {pid.group(1)})" if pid else ""
            raise WarehouseLockedError(
                f"warehouse {path} is locked by another fstore or DuckDB process{holder}",
                file=path,
                hint="wait for that build/training run to finish, or stop it, then try again",
            ) from None
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open warehouse {path}: {exc}") from None


SOURCES_TABLE = "_fstore_sources"


def _ensure_sources_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"create table if not exists {SOURCES_TABLE} ("
        " name varchar primary key, data_version varchar not null, updated_at timestamp not null)"
    )


def record_source_version(con: duckdb.DuckDBPyConnection, name: str, version: str) -> None:
    """Record that source relation ``name`` now holds data ``version`` (any string; equal = unchanged).

    Writers of source relations (the asset-ID dimension, raw price ingestion) call this so the model
    engine can tell whether downstream models must rebuild without scanning the data.
    """
    _ensure_sources_table(con)
    con.execute(
        f"insert or replace into {SOURCES_TABLE} values (?, ?, now()::timestamp)",
        [name, version],
    )


def source_version(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """The recorded data version of source ``name``, or None if no writer recorded one."""
    exists = con.execute(
        "select count(*) from duckdb_tables() where table_name = ? and schema_name = 'main'",
        [SOURCES_TABLE],
    ).fetchall()[0][0]
    if not exists:
        return None
    row = con.execute(f"select data_version from {SOURCES_TABLE} where name = ?", [name]).fetchall()
    row = row[0] if row else None
    return row[0] if row else None
