"""Immutable, named copies of ``training_set``, so a past run's exact data can be loaded again.

``create_snapshot(con, "NAME", folder)`` writes ``folder/NAME.parquet`` (rows sorted by asset, date), a
``NAME.json`` beside it with the same metadata, and a row in the warehouse's ``dataset_snapshots``
table (name, created_at, fingerprint, rows, mapping_version, path, num_embeddings, features,
file_bytes, file_sha256). A name is an identifier and is used once: creating an existing name is an
error, never an overwrite. The JSON sidecar keeps a snapshot loadable after the disposable warehouse is
rebuilt from scratch.

Crash safety: the Parquet file is written to a temp file and renamed whole, then the sidecar is
written whole, then the row is committed. A snapshot *exists* once its sidecar does (the warehouse row
is adopted from it when missing); a Parquet file without a sidecar, and temp files, are what a killed
``create`` left behind and are removed by the next ``create`` of that name, so a kill never blocks a name.

Verification: the file's size and SHA-256 are recorded at creation; every load checks them
(:meth:`Snapshot.verify`) and refuses, naming the snapshot, a file that was replaced or damaged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import duckdb

from features.dimension import current_version, num_embeddings
from features.errors import ConfigError, TrainingError
from features.warehouse import (
    TEMP_SUFFIX,
    atomic_path,
    atomic_write,
    quote_ident,
    scalar,
    table_exists,
)
from training.source import TRAINING_SET, Source, feature_columns, label_columns, training_set_fingerprint

TABLE = "dataset_snapshots"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COLUMNS = (
    "name",
    "created_at",
    "fingerprint",
    "rows",
    "mapping_version",
    "path",
    "num_embeddings",
    "features",
    "file_bytes",
    "file_sha256",
)
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Snapshot:
    name: str
    created_at: dt.datetime
    fingerprint: str  # training_set fingerprint when frozen
    rows: int
    mapping_version: str | None
    path: str  # absolute path of the Parquet file
    num_embeddings: int
    features: tuple[str, ...]
    file_bytes: int | None = None  # size of the Parquet file when written (None: an older snapshot)
    file_sha256: str | None = None  # its SHA-256

    def verify(self) -> None:
        """Refuse a Parquet file that is gone, or not the one written when the snapshot was created."""
        path = Path(self.path)
        if not path.is_file():
            raise TrainingError(f"snapshot {self.name}: its file {path} is gone", file=path)
        if self.file_bytes is None or self.file_sha256 is None:
            return  # created before fingerprints were recorded: nothing to compare with
        size = path.stat().st_size
        if size != self.file_bytes or file_sha256(path) != self.file_sha256:
            raise TrainingError(
                f"snapshot {self.name}: {path} is not the file frozen on {self.created_at:%Y-%m-%d %H:%M}"
                f" ({size:,} bytes now, {self.file_bytes:,} then; content fingerprint differs)",
                file=path,
                hint="a snapshot is immutable: restore the original file, or freeze the data again under"
                " a new name with `fstore snapshot create NEW_NAME`",
            )

    def source(self, con: duckdb.DuckDBPyConnection) -> Source:
        """The snapshot as the loader's input: its Parquet file registered on ``con`` as a view.

        The path goes to DuckDB through its relation API (``read_parquet``), never into SQL text.
        """
        view = f"_fstore_snapshot_{self.name}"
        con.register(view, con.read_parquet(self.path))
        relation = quote_ident(view)
        return Source(
            relation=relation,
            feature_names=self.features,
            label_columns=label_columns(con, relation),
            mapping_version=self.mapping_version,
            num_embeddings=self.num_embeddings,
            content_fingerprint=self.fingerprint,
            snapshot=self.name,
        )

    def sidecar(self) -> str:
        """The JSON written beside the Parquet file."""
        meta = asdict(self) | {"created_at": self.created_at.isoformat(), "features": list(self.features)}
        return json.dumps(meta, indent=2) + "\n"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ConfigError(
            f"snapshot name {name!r} is not an identifier",
            hint="use letters, digits and _ , starting with a letter or _ (e.g. v1_2025_06)",
        )


def _ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"create table if not exists {TABLE} ("
        " name varchar primary key, created_at timestamp not null, fingerprint varchar not null,"
        " rows bigint not null, mapping_version varchar, path varchar not null,"
        " num_embeddings integer not null, features varchar[] not null)"
    )
    for column, type_ in (("file_bytes", "bigint"), ("file_sha256", "varchar")):  # added later
        con.execute(f"alter table {TABLE} add column if not exists {column} {type_}")


def _from_row(row: tuple) -> Snapshot:
    data = dict(zip(_COLUMNS, row, strict=False))
    data["rows"], data["num_embeddings"] = int(data["rows"]), int(data["num_embeddings"])
    data["features"] = tuple(data["features"])
    return Snapshot(**data)


def _read_sidecar(path: Path) -> Snapshot | None:
    """The snapshot a JSON sidecar describes (None when it is missing or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["created_at"] = dt.datetime.fromisoformat(data["created_at"])
        data["features"] = tuple(data["features"])
        known = {f.name for f in fields(Snapshot)}
        return Snapshot(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def list_snapshots(con: duckdb.DuckDBPyConnection, folder: str | Path | None = None) -> list[Snapshot]:
    """Every snapshot recorded in the warehouse, oldest first; with ``folder``, also those only their
    sidecar records (a ``create`` killed before its row, or a warehouse rebuilt since)."""
    found: list[Snapshot] = []
    if table_exists(con, TABLE):
        have = {r[0] for r in con.execute(f"describe {TABLE}").fetchall()}
        cols = ", ".join(c if c in have else "null" for c in _COLUMNS)
        found = [_from_row(r) for r in con.execute(f"select {cols} from {TABLE}").fetchall()]
    if folder is not None and Path(folder).is_dir():
        names = {s.name for s in found}
        for sidecar in sorted(Path(folder).glob("*.json")):
            snap = _read_sidecar(sidecar) if sidecar.stem not in names else None
            if snap is not None and snap.name == sidecar.stem:
                found.append(snap)
    return sorted(found, key=lambda s: (s.created_at, s.name))


def get_snapshot(con: duckdb.DuckDBPyConnection, name: str, folder: str | Path | None = None) -> Snapshot:
    """Look ``name`` up in ``dataset_snapshots``, else in its JSON sidecar under ``folder``; verified."""
    check_name(name)
    for snap in list_snapshots(con, folder):
        if snap.name == name:
            snap.verify()
            return snap
    known = ", ".join(s.name for s in list_snapshots(con, folder)) or "none"
    raise ConfigError(
        f"no dataset snapshot named {name!r} (known: {known})",
        hint=f"create it with `fstore snapshot create {name}`",
    )


def _clear_leftovers(path: Path) -> None:
    """Remove what a killed ``create`` of this name left: temp files, and a Parquet file no sidecar
    vouches for."""
    for target in (path, path.with_suffix(".json")):
        for stale in target.parent.glob(f".{target.name}.*{TEMP_SUFFIX}*"):
            stale.unlink(missing_ok=True)
    if not path.with_suffix(".json").exists():
        path.unlink(missing_ok=True)


def _insert(con: duckdb.DuckDBPyConnection, snap: Snapshot) -> None:
    _ensure_table(con)
    con.execute(
        f"insert into {TABLE} ({', '.join(_COLUMNS)}) values ({', '.join('?' * len(_COLUMNS))})",
        [*(getattr(snap, c) for c in _COLUMNS[:7]), list(snap.features), snap.file_bytes, snap.file_sha256],
    )


def _refuse_taken(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    """An existing name is an error; a snapshot only its sidecar records is recorded in the warehouse
    first (a ``create`` killed after the sidecar)."""
    recorded = any(s.name == name for s in list_snapshots(con))
    sidecar = _read_sidecar(path.with_suffix(".json"))
    if not recorded and sidecar is None:
        return
    if not recorded and sidecar is not None and path.is_file():
        _insert(con, sidecar)
    raise ConfigError(
        f"dataset snapshot {name!r} already exists; snapshots are immutable",
        file=path,
        hint="choose a new name (`fstore snapshot list` shows the taken ones)",
    )


def create_snapshot(con: duckdb.DuckDBPyConnection, name: str, folder: str | Path) -> Snapshot:
    """Freeze the current ``training_set`` as snapshot ``name`` (needs a writable connection)."""
    check_name(name)
    folder = Path(folder).resolve()
    path = folder / f"{name}.parquet"
    _refuse_taken(con, name, path)
    _clear_leftovers(path)
    fingerprint = training_set_fingerprint(con)
    features = feature_columns(con, TRAINING_SET)
    ordered = con.sql(f"select * from {quote_ident(TRAINING_SET)} order by asset_id, ts")
    with atomic_path(path, suffix=".parquet") as tmp:  # the file appears only once complete
        # DuckDB's relation API takes the path as a value (COPY ... TO ? binds only on DuckDB >= 1.4)
        ordered.write_parquet(str(tmp))
        rows = scalar(con, "select count(*) from read_parquet(?)", [str(tmp)])
        size, digest = tmp.stat().st_size, file_sha256(tmp)
    snap = Snapshot(
        name=name,
        created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        fingerprint=fingerprint,
        rows=int(rows),
        mapping_version=current_version(con, required=False),
        path=str(path),
        num_embeddings=num_embeddings(con, fallback=TRAINING_SET),
        features=features,
        file_bytes=int(size),
        file_sha256=digest,
    )
    atomic_write(path.with_suffix(".json"), snap.sidecar())  # from here on the snapshot exists
    _insert(con, snap)
    return snap


__all__ = ["Snapshot", "check_name", "create_snapshot", "file_sha256", "get_snapshot", "list_snapshots"]
