"""Fingerprints: what a model's relation is built from, so an unchanged model is not rebuilt.

    definition  = hash(normalised SQL or Python source, settings, the rows it reads back and ahead,
                       upstream definitions, source names,
                       content of the files the SQL reads, if any: features.models.seeds)
    fingerprint = hash(definition, upstream fingerprints, source data versions)

A model whose fingerprint matches the stored one is up to date. An incremental model whose *definition*
matches refreshes incrementally; otherwise it is rebuilt in full. A source's data version comes from
:func:`features.warehouse.source_version` (recorded by whoever wrote it) or, failing that, from a cheap
content hash (:func:`features.warehouse.relation_fingerprint`: row count and the sum of row hashes;
a warehouse built by an older fstore, which hashed with an XOR, sees its sources change once and
rebuilds what reads them).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

    from features.models.discovery import Model


def digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def definition(model: Model, upstream_definitions: list[str], sources: list[str]) -> str:
    """What the model computes: a changed definition rebuilds it (and an incremental one) in full.

    A model reading files (``read_csv('seeds/x.csv')``) has their content in it, so editing a seed
    rebuilds the model and its descendants; a model reading none has no file part."""
    from features.models.seeds import files_digest

    files = files_digest(model.sql) if model.kind == "sql" else None
    read = ("files", files) if files is not None else ()
    # the derived extent counts too: when fstore learns to read a model's SQL differently, rows an
    # incremental refresh planned with the old extent are rebuilt rather than trusted
    extent = (model.lookback, model.ahead)
    return digest(
        "def",
        model.kind,
        model.code_hash,
        model.header.settings(),
        extent,
        upstream_definitions,
        sources,
        *read,
    )


def fingerprint(definition_fp: str, upstream_fingerprints: list[str], source_versions: list[str]) -> str:
    return digest("fp", definition_fp, upstream_fingerprints, source_versions)


def data_version(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """A source relation's data version: recorded by its writer, else a content hash."""
    from features.warehouse import quote_ident, relation_fingerprint, source_version

    recorded = source_version(con, name)
    if recorded is not None:
        return f"recorded:{recorded}"
    return f"content:{relation_fingerprint(con, quote_ident(name))}"


__all__ = ["data_version", "definition", "digest", "fingerprint"]
