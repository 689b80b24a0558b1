"""Immutable, named copies of ``training_set``, so a past run's exact data can be loaded again.

``create_snapshot(con, "NAME", folder)`` writes ``folder/NAME.parquet`` (rows sorted by asset, date), a
``NAME.json`` beside it with the same metadata, and a row in the warehouse's ``dataset_snapshots``
table (name, created_at, fingerprint, rows, mapping_version, path, num_embeddings, features). A name
is an identifier and is used once: creating an existing name is an error, never an overwrite. The
JSON sidecar keeps a snapshot loadable after the disposable warehouse is rebuilt from scratch.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from features.dimension import current_version, num_embeddings
from features.errors import ConfigError, TrainingError
from features.warehouse import atomic_path, atomic_write, quote_ident, scalar, table_exists
from training.source import TRAINING_SET, Source, feature_columns, label_columns, training_set_fingerprint

TABLE = "dataset_snapshots"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


def _from_row(row: tuple) -> Snapshot:
    name, created_at, fingerprint, rows, version, path, n_emb, features = row
    return Snapshot(name, created_at, fingerprint, int(rows), version, path, int(n_emb), tuple(features))


def list_snapshots(con: duckdb.DuckDBPyConnection) -> list[Snapshot]:
    """Every snapshot recorded in the warehouse, oldest first."""
    if not table_exists(con, TABLE):
        return []
    rows = con.execute(
        f"select name, created_at, fingerprint, rows, mapping_version, path, num_embeddings, features"
        f" from {TABLE} order by created_at, name"
    ).fetchall()
    return [_from_row(r) for r in rows]


def get_snapshot(con: duckdb.DuckDBPyConnection, name: str, folder: str | Path | None = None) -> Snapshot:
    """Look ``name`` up in ``dataset_snapshots``, else in its JSON sidecar under ``folder``."""
    check_name(name)
    for snap in list_snapshots(con):
        if snap.name == name:
            if not Path(snap.path).is_file():
                raise TrainingError(f"snapshot {name}: its file {snap.path} is gone", file=snap.path)
            return snap
    sidecar = Path(folder) / f"{name}.json" if folder is not None else None
    if sidecar is not None and sidecar.is_file():
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        data["created_at"] = dt.datetime.fromisoformat(data["created_at"])
        data["features"] = tuple(data["features"])
        return Snapshot(**data)
    known = ", ".join(s.name for s in list_snapshots(con)) or "none"
    raise ConfigError(
        f"no dataset snapshot named {name!r} (known: {known})",
        hint=f"create it with `fstore snapshot create {name}`",
    )


def create_snapshot(con: duckdb.DuckDBPyConnection, name: str, folder: str | Path) -> Snapshot:
    """Freeze the current ``training_set`` as snapshot ``name`` (needs a writable connection)."""
    check_name(name)
    folder = Path(folder).resolve()
    path = folder / f"{name}.parquet"
    if any(s.name == name for s in list_snapshots(con)) or path.exists():
        raise ConfigError(
            f"dataset snapshot {name!r} already exists; snapshots are immutable",
            file=path,
            hint="choose a new name (`fstore snapshot list` shows the taken ones)",
        )
    fingerprint = training_set_fingerprint(con)
    features = feature_columns(con, TRAINING_SET)
    ordered = con.sql(f"select * from {quote_ident(TRAINING_SET)} order by asset_id, ts")
    with atomic_path(path, suffix=".parquet") as tmp:  # the name appears only once the file is complete
        # DuckDB's relation API takes the path as a value (COPY ... TO ? binds only on DuckDB >= 1.4)
        ordered.write_parquet(str(tmp))
        rows = scalar(con, "select count(*) from read_parquet(?)", [str(tmp)])
    snap = Snapshot(
        name=name,
        created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        fingerprint=fingerprint,
        rows=int(rows),
        mapping_version=current_version(con, required=False),
        path=str(path),
        num_embeddings=num_embeddings(con, fallback=TRAINING_SET),
        features=features,
    )
    _ensure_table(con)
    con.execute(
        f"insert into {TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            snap.name,
            snap.created_at,
            snap.fingerprint,
            snap.rows,
            snap.mapping_version,
            snap.path,
            snap.num_embeddings,
            list(snap.features),
        ],
    )
    meta = asdict(snap) | {"created_at": snap.created_at.isoformat(), "features": list(snap.features)}
    atomic_write(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
    return snap


__all__ = ["Snapshot", "check_name", "create_snapshot", "get_snapshot", "list_snapshots"]
