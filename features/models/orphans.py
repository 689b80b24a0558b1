"""Orphans: relations an earlier build made from a model that no longer exists.

A model's relation (and its row in ``_fstore_models``) outlives the model: delete or rename
``sql/rolling_vol.sql`` and the table ``rolling_vol`` stays in the warehouse, never rebuilt again. Such
a relation is an *orphan*. fstore treats one the way dbt and SQLMesh treat a removed model:

    validate      a model that reads an orphan is a validation error naming both (it would read stale
                  rows forever, as if they were a source)
    fstore build  warns about the orphans it finds, with the command that drops them
    fstore clean --orphans          lists them (a dry run: nothing is changed)
    fstore clean --orphans --yes    drops them and forgets their bookkeeping, in one transaction

A renamed model is the old name's orphan plus a new model: once its dependents read the new name,
the build succeeds and warns about the old relation until it is cleaned.

Only relations fstore recorded as built by a model can be orphans: a table a user created by hand
(``fstore query --write``) never is. A table fstore owns (:mod:`features.system`) is one only when an
older fstore let a model replace it (it then holds the model's rows): the build refuses to run on it
(:func:`replaced_system_tables`) and ``clean`` drops it so fstore recreates it. While a model file
cannot be read (a syntax error), its relation is not called an orphan, so a typo never gets a table
dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from features.errors import ModelError
from features.models.state import MODELS_TABLE, TESTS_TABLE, relations
from features.warehouse import quote_ident, transaction

if TYPE_CHECKING:
    import duckdb

    from features.models.discovery import Discovery


@dataclass(frozen=True)
class Orphan:
    """One relation (or bookkeeping row) left by a model that no longer exists."""

    name: str  # as recorded by the build that made it
    relation: str  # table | view | "" (the relation is gone already; only its bookkeeping is left)
    model_kind: str  # sql | python
    built_at: datetime | None
    system: bool = False  # a name fstore owns: an older fstore let a model replace that table

    def describe(self) -> str:
        what = f"{self.relation} `{self.name}`" if self.relation else f"bookkeeping of `{self.name}`"
        when = f", built {self.built_at:%Y-%m-%d %H:%M}" if self.built_at else ""
        owner = "; fstore's own table, replaced by a model: fstore recreates it" if self.system else ""
        return f"{what} ({self.model_kind} model{when}{owner})"


def find_orphans(con: duckdb.DuckDBPyConnection, discovery: Discovery) -> list[Orphan]:
    """Every model fstore recorded building that ``discovery`` no longer defines, sorted by name.

    Names compare case-insensitively (as DuckDB's identifiers do). A recorded Python model counts as
    defined while some Python model file cannot be read (its models are unknown then).
    """
    from features.system import is_reserved

    existing = relations(con)
    if MODELS_TABLE not in existing:
        return []
    by_lower = {name.lower(): kind for name, kind in existing.items()}
    defined = {name.lower() for name in discovery.models} | {name.lower() for name in discovery.unread}
    rows = con.execute(f"select model, kind, built_at from {MODELS_TABLE} order by model").fetchall()
    orphans = []
    for name, kind, built_at in rows:
        lower = name.lower()
        if lower in defined or (kind == "python" and discovery.python_failed):
            continue
        orphans.append(Orphan(name, by_lower.get(lower, ""), kind or "sql", built_at, is_reserved(name)))
    return orphans


def replaced_system_tables(orphans: list[Orphan]) -> ModelError | None:
    """The error for tables fstore owns that an older fstore let a model replace (``sql/build_runs.sql``
    broke every later build, even once the file was gone): they must be dropped and recreated."""
    names = [o.name for o in orphans if o.system and o.relation]
    if not names:
        return None
    return ModelError(
        f"{', '.join(f'`{n}`' for n in names)}: fstore's own table(s), replaced by a model in an earlier"
        " build (a model may no longer take such a name), so they hold that model's rows, not fstore's",
        hint="`fstore clean --orphans --yes` drops them; the next build (or training run) recreates them",
    )


def orphan_warning(orphans: list[Orphan]) -> str | None:
    """One line for ``fstore build`` naming the orphan relations (None when there are none)."""
    present = [o.name for o in orphans if o.relation and not o.system]
    if not present:
        return None
    return (
        f"warning: {len(present)} orphan relation(s) left by deleted or renamed models: "
        f"{', '.join(present)} — `fstore clean --orphans` lists them, `--yes` drops them"
    )


def drop_orphans(con: duckdb.DuckDBPyConnection, orphans: list[Orphan]) -> None:
    """Drop every orphan relation and forget its bookkeeping, all in one transaction (views first, so
    no view is left reading a dropped table halfway)."""
    ordered = sorted(orphans, key=lambda o: (o.relation != "view", o.name))
    has_tests = TESTS_TABLE in relations(con)
    with transaction(con):
        for orphan in ordered:
            if orphan.relation in ("table", "view"):
                con.execute(f"drop {orphan.relation} if exists {quote_ident(orphan.name)}")
            con.execute(f"delete from {MODELS_TABLE} where model = ?", [orphan.name])
            if has_tests:
                con.execute(f"delete from {TESTS_TABLE} where model = ?", [orphan.name])


__all__ = ["Orphan", "drop_orphans", "find_orphans", "orphan_warning", "replaced_system_tables"]
