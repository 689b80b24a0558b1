"""Where the loader's rows come from: the warehouse's ``training_set`` or a frozen snapshot of it.

A :class:`Source` names the relation to read (a table, or ``read_parquet`` over a snapshot file),
its feature and label columns, the asset-ID mapping version it was built with, ``num_embeddings``
for ``nn.Embedding`` and a content fingerprint. Nothing here reads the feature values themselves.

Feature list: the ``training_features(position, feature)`` relation when the warehouse has one,
otherwise every numeric column of ``training_set`` except ``asset_id`` and the label columns
(names starting ``fwd_ret_`` or ``label_``), in table order. No hand-kept list.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from features.errors import MappingError, TrainingError, WarehouseError

TRAINING_SET = "training_set"
FEATURE_LIST = "training_features"
MODELS_TABLE = "_fstore_models"
LABEL_PREFIXES = ("fwd_ret_", "label_")
KEY_COLUMNS = ("asset_id", "symbol", "ts")

_NUMERIC = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL.*)$"
)


@dataclass(frozen=True)
class Source:
    """The rows a dataset is cut from, and what identifies them."""

    relation: str  # SQL text usable after FROM: a table name or read_parquet('...')
    feature_names: tuple[str, ...]
    label_columns: tuple[str, ...]
    mapping_version: str | None
    num_embeddings: int
    content_fingerprint: str
    snapshot: str | None = None  # snapshot name when reading a frozen copy


def first_row(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """The first row of a query, with the result fully consumed (DuckDB 2 refuses new work otherwise)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def relation_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """True when a table or view ``name`` exists in the main schema."""
    row = first_row(
        con,
        "select count(*) from information_schema.tables where table_name = ? and table_schema = 'main'",
        [name],
    )
    return bool(row and row[0])


def is_label_column(name: str) -> bool:
    return name.startswith(LABEL_PREFIXES)


def column_types(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rel = con.sql(f"select * from {relation} limit 0")
    return {name: str(t) for name, t in zip(rel.columns, rel.types, strict=True)}


def feature_columns(
    con: duckdb.DuckDBPyConnection, relation: str = TRAINING_SET, *, use_feature_list: bool = True
) -> tuple[str, ...]:
    """The model's input columns, in order (see the module docstring for the rule)."""
    types = column_types(con, relation)
    missing = [c for c in ("asset_id", "ts") if c not in types]
    if missing:
        raise TrainingError(
            f"{relation} has no column(s) {', '.join(missing)}; the loader needs asset_id, ts, features and labels",
            hint="rebuild the warehouse with `fstore build`",
        )
    if use_feature_list and relation_exists(con, FEATURE_LIST):
        listed = [
            r[0] for r in con.execute(f"select feature from {FEATURE_LIST} order by position").fetchall()
        ]
        unknown = [f for f in listed if f not in types]
        if unknown:
            raise TrainingError(
                f"{FEATURE_LIST} names column(s) that {relation} lacks: {', '.join(unknown)}",
                hint="rebuild the warehouse with `fstore build`",
            )
        return tuple(listed)
    names = tuple(
        name
        for name, type_ in types.items()
        if name not in KEY_COLUMNS and not is_label_column(name) and _NUMERIC.match(type_)
    )
    if not names:
        raise TrainingError(f"{relation} has no numeric feature columns")
    return names


def label_columns(con: duckdb.DuckDBPyConnection, relation: str = TRAINING_SET) -> tuple[str, ...]:
    return tuple(name for name in column_types(con, relation) if is_label_column(name))


def mapping_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The current asset-ID mapping version: the ``mapping_versions`` row with the largest seq."""
    if not relation_exists(con, "mapping_versions"):
        return None
    row = first_row(con, "select version from mapping_versions order by seq desc limit 1")
    return None if row is None else str(row[0])


def num_embeddings(con: duckdb.DuckDBPyConnection, relation: str = TRAINING_SET) -> int:
    """``max(asset_id) + 1`` over ``dim_symbol`` (every ID ever issued); the data's own max without one."""
    source = "dim_symbol" if relation_exists(con, "dim_symbol") else relation
    row = first_row(con, f"select max(asset_id) from {source}")
    return 0 if row is None or row[0] is None else int(row[0]) + 1


def _recorded_fingerprint(con: duckdb.DuckDBPyConnection, model: str) -> str | None:
    """The engine's own fingerprint of ``model`` from ``_fstore_models``, when it keeps one."""
    if not relation_exists(con, MODELS_TABLE):
        return None
    cols = set(column_types(con, MODELS_TABLE))
    key = next((c for c in ("name", "model") if c in cols), None)
    if key is None or "fingerprint" not in cols:
        return None
    row = first_row(con, f"select fingerprint from {MODELS_TABLE} where {key} = ? limit 1", [model])
    return None if row is None or row[0] is None else f"model:{row[0]}"


def content_fingerprint(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """A cheap, order-independent hash of every row of ``relation``: row count + sum of row hashes."""
    count, total = first_row(con, f"select count(*), coalesce(sum(hash(t)), 0)::varchar from {relation} t")
    digest = hashlib.sha256(f"{count}:{total}".encode()).hexdigest()[:16]
    return f"rows:{digest}"


def training_set_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """Fingerprint of ``training_set``: the engine's record in ``_fstore_models`` or a content hash."""
    if not relation_exists(con, TRAINING_SET):
        raise WarehouseError(
            "the warehouse has no training_set yet", hint="run `fstore build` (or `make build`) first"
        )
    return _recorded_fingerprint(con, TRAINING_SET) or content_fingerprint(con, TRAINING_SET)


def warehouse_source(con: duckdb.DuckDBPyConnection) -> Source:
    """The live ``training_set`` of an open warehouse."""
    fingerprint = training_set_fingerprint(con)
    return Source(
        relation=TRAINING_SET,
        feature_names=feature_columns(con, TRAINING_SET),
        label_columns=label_columns(con, TRAINING_SET),
        mapping_version=mapping_version(con),
        num_embeddings=num_embeddings(con, TRAINING_SET),
        content_fingerprint=fingerprint,
    )


def parquet_relation(path: str | Path) -> str:
    text = str(path).replace("'", "''")
    return f"read_parquet('{text}')"


def check_asset_ids(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Every asset ID in the data must fit ``nn.Embedding(num_embeddings, ·)``."""
    lo, hi = first_row(con, f"select min(asset_id), max(asset_id) from {source.relation}")
    if lo is not None and (lo < 0 or hi >= source.num_embeddings):
        raise MappingError(
            f"asset IDs in the data span {lo}..{hi} but the mapping issues only 0..{source.num_embeddings - 1}",
            hint="the warehouse's training_set and dim_symbol disagree; rebuild with `fstore build`",
        )
