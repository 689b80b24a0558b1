"""Where the loader's rows come from: the warehouse's ``training_set`` or a frozen snapshot of it.

A :class:`Source` names the relation to read (the table, or a snapshot's Parquet file registered as
a view), its feature and label columns, the asset-ID mapping version it was built with,
``num_embeddings`` for ``nn.Embedding`` and a content fingerprint. Nothing here reads the feature
values themselves.

The asset-ID facts have one reader each: the mapping version and ``num_embeddings`` are the
dimension's (``features.dimension.current_version`` / ``num_embeddings``), the recorded fingerprint is
read from the build engine's bookkeeping table (``features.models.state.MODELS_TABLE``, keyed by
``model``), the content fingerprint is the warehouse toolkit's; :func:`check_asset_ids` is the one
check that the data's IDs fit the embedding table.

Feature list: the ``training_features(position, feature)`` relation when the warehouse has one,
otherwise every numeric column of ``training_set`` except ``asset_id`` and the label columns
(names starting ``fwd_ret_`` or ``label_``), in table order. No hand-kept list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from features.dimension import current_version, num_embeddings
from features.errors import MappingError, TrainingError, WarehouseError
from features.models.state import MODELS_TABLE
from features.warehouse import first_row, quote_ident, relation_fingerprint, scalar, table_exists

TRAINING_SET = "training_set"
FEATURE_LIST = "training_features"
LABEL_PREFIXES = ("fwd_ret_", "label_")
KEY_COLUMNS = ("asset_id", "symbol", "ts")

_NUMERIC = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL.*)$"
)


@dataclass(frozen=True)
class Source:
    """The rows a dataset is cut from, and what identifies them."""

    relation: str  # SQL text usable after FROM: a quoted table or view name
    feature_names: tuple[str, ...]
    label_columns: tuple[str, ...]
    mapping_version: str | None
    num_embeddings: int
    content_fingerprint: str
    snapshot: str | None = None  # snapshot name when reading a frozen copy


def is_label_column(name: str) -> bool:
    """Label columns are named ``fwd_ret_*`` or ``label_*``."""
    return name.startswith(LABEL_PREFIXES)


def column_types(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Column name → DuckDB type of ``relation`` (SQL text usable after FROM)."""
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
    if use_feature_list and table_exists(con, FEATURE_LIST):
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
    """The label columns of ``relation``, in table order."""
    return tuple(name for name in column_types(con, relation) if is_label_column(name))


def _recorded_fingerprint(con: duckdb.DuckDBPyConnection, model: str) -> str | None:
    """The build engine's own fingerprint of ``model``, from its bookkeeping table, when it has one.

    Only the table's key and fingerprint columns are read (``features.models.state.load_states`` would
    bind every column, which a table written by an older build lacks, and read every model's SQL).
    """
    if not table_exists(con, MODELS_TABLE, views=False):
        return None
    value = scalar(con, f"select fingerprint from {MODELS_TABLE} where model = ?", [model])
    return None if value is None else f"model:{value}"


def training_set_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """Fingerprint of ``training_set``: the build engine's record of it, else the warehouse toolkit's
    content fingerprint (row count + sum of row hashes)."""
    if not table_exists(con, TRAINING_SET):
        raise WarehouseError("the warehouse has no training_set yet", hint="run `fstore build` first")
    return _recorded_fingerprint(con, TRAINING_SET) or relation_fingerprint(con, quote_ident(TRAINING_SET))


def warehouse_source(con: duckdb.DuckDBPyConnection) -> Source:
    """The live ``training_set`` of an open warehouse."""
    fingerprint = training_set_fingerprint(con)
    return Source(
        relation=quote_ident(TRAINING_SET),
        feature_names=feature_columns(con, TRAINING_SET),
        label_columns=label_columns(con, TRAINING_SET),
        mapping_version=current_version(con, required=False),
        num_embeddings=num_embeddings(con, fallback=TRAINING_SET),
        content_fingerprint=fingerprint,
    )


def check_asset_ids(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Every asset ID in the data must fit ``nn.Embedding(num_embeddings, ·)``."""
    lo, hi = first_row(con, f"select min(asset_id), max(asset_id) from {source.relation}")
    if lo is not None and (lo < 0 or hi >= source.num_embeddings):
        raise MappingError(
            f"asset IDs in the data span {lo}..{hi} but the mapping issues only 0..{source.num_embeddings - 1}",
            hint="the warehouse's training_set and dim_symbol disagree; rebuild with `fstore build`",
        )


__all__ = [
    "FEATURE_LIST",
    "TRAINING_SET",
    "Source",
    "check_asset_ids",
    "column_types",
    "feature_columns",
    "is_label_column",
    "label_columns",
    "training_set_fingerprint",
    "warehouse_source",
]
