"""Everything fstore does to talk to DuckDB and to write files, in one place.

    connect               open the warehouse (read-only or read-write), a held lock named with its PID
    transaction           begin … commit; on any error roll back and re-raise the *original* error
    quote_ident           an identifier as SQL text ("a""b")
    table_exists          is there a table (or view) of that name in the main schema
    first_row / scalar    one row / one value, with the result fully consumed
    row_hash_sum          the SQL aggregate behind every relation fingerprint
    relation_fingerprint  an order-independent fingerprint of a relation's rows
    atomic_write          replace a file whole: temp file in the same folder, fsync, rename, fsync folder
    atomic_path           the same for writers that want a path (torch.save, np.savez, DuckDB COPY)
    record_source_version / source_version   the data version of a source relation (ingest, dimension)

Paths and values reach SQL only as bound parameters; identifiers only through :func:`quote_ident`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from features.errors import WarehouseError, WarehouseLockedError

_PID = re.compile(r"PID (\d+)")


# --------------------------------------------------------------------------------------- connections


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
                hint="run `fstore build` first",
            )
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
    new = str(path) != ":memory:" and not path.exists()
    deadline = time.monotonic() + wait_s
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                if new and is_disk_full(exc):  # a full disk while creating it: leave no stub behind
                    for stub in (path, path.with_name(path.name + ".wal")):
                        stub.unlink(missing_ok=True)
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
            if "in-memory database in read-only mode" in str(exc):  # a data file, opened read-only
                raise _not_a_warehouse(path) from None
            raise WarehouseError(f"cannot open warehouse {path}: {exc}") from None
        if str(path) != ":memory:" and _opened_in_memory(con):
            con.close()
            raise _not_a_warehouse(path)
        return con


def _opened_in_memory(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether DuckDB opened the file as data: an existing CSV, JSON or Parquet file becomes an
    in-memory database holding a view of it, where a build would report success and keep nothing."""
    row = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchone()
    return row is not None and row[0] is None


def _not_a_warehouse(path: Path) -> WarehouseError:
    return WarehouseError(
        "not a DuckDB database file, so it cannot be the warehouse (DuckDB would read it as data, in"
        " memory, and keep nothing written to it)",
        file=path,
        hint="point [paths] warehouse in config/project.toml (or --db) at a .duckdb file; a missing one is created",
    )


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``begin`` … ``commit``; any error (or KeyboardInterrupt) rolls back and re-raises itself.

    A failed rollback (DuckDB may already have ended the transaction, e.g. on a full disk) is
    ignored, so the caller sees the error that caused it, never "cannot rollback - no transaction is
    active".
    """
    con.execute("begin transaction")
    try:
        yield con
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        raise


# --------------------------------------------------------------------------------------- SQL helpers


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def first_row(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> tuple | None:
    """The first row of a query, with the result fully consumed (DuckDB refuses new work otherwise)."""
    rows = con.execute(sql, list(params or [])).fetchall()
    return rows[0] if rows else None


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> Any:
    """The first value of the first row (None when there is no row)."""
    row = first_row(con, sql, params)
    return None if row is None else row[0]


def table_exists(con: duckdb.DuckDBPyConnection, name: str, *, views: bool = True) -> bool:
    """True when a table (or, with ``views``, a view) ``name`` exists in the main schema of the
    connection's own database (not of an attached one)."""
    kinds = "" if views else " and table_type = 'BASE TABLE'"
    return bool(
        scalar(
            con,
            "select count(*) from information_schema.tables where table_name = ?"
            " and table_schema = 'main' and table_catalog = current_database()" + kinds,
            [name],
        )
    )


def row_hash_sum(alias: str, *, where: str | None = None) -> str:
    """SQL aggregate: the sum of every row's hash, as text (HUGEINT: no overflow).

    Order-independent, so two relations holding the same rows in any order agree; unlike an XOR it
    does not cancel a duplicated row. Partial sums (per partition, per time range) add up.
    ``where`` (SQL text, placeholders allowed) sums only the rows it holds for, in the same pass.
    """
    condition = f" filter (where {where})" if where else ""
    return f"sum(hash({alias})){condition}::hugeint"


def relation_fingerprint(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """``rows:<count>:<sum of row hashes>`` of ``relation`` (SQL text usable after FROM, e.g. a quoted
    table name or ``read_parquet(?)`` — only quoted names here; parameters are not bound)."""
    count, total = first_row(
        con, f"select count(*), coalesce({row_hash_sum('t')}, 0)::varchar from {relation} t"
    )
    return f"rows:{count}:{total}"


# --------------------------------------------------------------------------------------- files


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


TEMP_SUFFIX = ".fstore-tmp"


def temp_name_pattern(path: str | Path) -> str:
    """The glob every temp file of :func:`atomic_path` for ``path`` matches (for clean-up)."""
    return f".{Path(path).name}.*{TEMP_SUFFIX}"


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete temp files a killed writer of ``path`` left behind; return them."""
    path = Path(path)
    stale = list(path.parent.glob(temp_name_pattern(path))) if path.parent.is_dir() else []
    for old in stale:
        old.unlink(missing_ok=True)
    return stale


def _new_temp(path: Path, suffix: str) -> Path:
    """Create an empty temp file beside ``path`` as ``open()`` would (the umask applies; ``mkstemp``
    would make it 0600, and so every file fstore writes); a replaced file's mode is kept."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}{suffix}"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temp file name", str(path))


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path in ``path``'s folder; on success fsync it, rename it over ``path``, fsync the
    folder. On any error the temp file is removed and ``path`` is untouched: a reader sees the old
    file or the new one, whole, never a part.

    ``suffix`` is kept at the end of the temp name for writers that look at it (``np.savez`` adds
    ``.npz`` unless the name ends with it, DuckDB's COPY picks a format by it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp(path, suffix)
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            exc.filename = str(path)  # a failed write() names no file; say which one it was
        raise
    _fsync_folder(path.parent)


def atomic_write(path: str | Path, data: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Replace ``path`` whole with ``data`` (see :func:`atomic_path`)."""
    path = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else data
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(payload)
        handle.flush()
    return path


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error (OSError or a DuckDB error's text) says the disk or a file-size limit is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "no space left" in text or "file too large" in text or "disk quota" in text


# --------------------------------------------------------------------------------------- source versions

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
        f"insert or replace into {SOURCES_TABLE} (name, data_version, updated_at) values (?, ?, now()::timestamp)",
        [name, version],
    )


def source_version(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """The recorded data version of source ``name``, or None if no writer recorded one."""
    if not table_exists(con, SOURCES_TABLE, views=False):
        return None
    return scalar(con, f"select data_version from {SOURCES_TABLE} where name = ?", [name])


__all__ = [
    "SOURCES_TABLE",
    "atomic_path",
    "atomic_write",
    "connect",
    "first_row",
    "is_disk_full",
    "quote_ident",
    "record_source_version",
    "relation_fingerprint",
    "remove_stale_temps",
    "row_hash_sum",
    "scalar",
    "source_version",
    "table_exists",
    "transaction",
]
