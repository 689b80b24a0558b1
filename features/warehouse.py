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
