"""Fingerprints: what a model's relation is built from, so an unchanged model is not rebuilt.

    definition  = hash(normalised SQL or Python source, settings, upstream definitions, source names)
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
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

    from features.models.discovery import Model


def digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def definition(model: Model, upstream_definitions: list[str], sources: list[str]) -> str:
    return digest("def", model.kind, model.code_hash, model.header.settings(), upstream_definitions, sources)


def fingerprint(definition_fp: str, upstream_fingerprints: list[str], source_versions: list[str]) -> str:
    return digest("fp", definition_fp, upstream_fingerprints, source_versions)


def data_version(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """A source relation's data version: recorded by its writer, else a content hash."""
    from features.warehouse import quote_ident, relation_fingerprint, source_version

    recorded = source_version(con, name)
    if recorded is not None:
        return f"recorded:{recorded}"
    return f"content:{relation_fingerprint(con, quote_ident(name))}"


def data_versions(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> dict[str, str]:
    """:func:`data_version` of each of ``names``, the recorded ones read in one query (a plan needs
    every source's; one query each cost a no-op build two catalog lookups a source)."""
    from features.warehouse import SOURCES_TABLE, quote_ident, relation_fingerprint, table_exists

    recorded: dict[str, str] = {}
    if names and table_exists(con, SOURCES_TABLE, views=False):
        rows = con.execute(
            f"select name, data_version from {SOURCES_TABLE} where list_contains(?, name)", [list(names)]
        ).fetchall()
        recorded = dict(rows)
    return {
        n: f"recorded:{recorded[n]}"
        if n in recorded
        else f"content:{relation_fingerprint(con, quote_ident(n))}"
        for n in names
    }


__all__ = ["data_version", "data_versions", "definition", "digest", "fingerprint"]
