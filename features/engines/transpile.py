"""DuckDB SQL → Spark SQL with sqlglot: one copy of every model, rewritten as it is run.

sqlglot does the dialect translation (functions, casts, ``NULLS LAST``, ``QUALIFY``, ``//`` → ``DIV``).
On top of it, a short tuple of transforms covers what a Spark engine has to supply itself:

    expand_star_exclude     ``t.* EXCLUDE (a, b)``: OSS Spark has no ``* EXCEPT``; expanded with the
                            relation's columns (known at run time, from the Spark catalog)
    catalog_functions       ``FROM duckdb_columns()``: a relation the engine provides, shaped like
                            DuckDB's (``__fstore_duckdb_columns``), so catalog-reading views run as is
    reject_table_functions  any other DuckDB table function has no Spark equivalent: an error

Unsupported constructs (sqlglot's ``ErrorLevel.RAISE``) and DuckDB-only table functions are errors
naming the model; :func:`check_models` collects them for every model before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from features.errors import ModelError, ValidationErrors

if TYPE_CHECKING:
    from sqlglot import exp

    from features.models.discovery import Model

Columns = Callable[[str], list[str] | None]  # relation name -> its columns in order (None: unknown)

CATALOG_RELATIONS = {"duckdb_columns": "__fstore_duckdb_columns"}


class UntranspilableError(ModelError):
    """A model's SQL has no Spark SQL equivalent (the reason is sqlglot's, or ours)."""


def _excluded(star: exp.Star) -> list[exp.Expression]:
    return (
        star.args.get("except_") or star.args.get("except") or []
    )  # the key's name varies by sqlglot version


def _expand_star_exclude(tree: exp.Expression, columns: Columns | None) -> exp.Expression:
    """``x.* EXCLUDE (a)`` → ``x.b, x.c``; left alone when the relation's columns are not known yet."""
    from sqlglot import exp

    if columns is None:
        return tree
    for select in tree.find_all(exp.Select):
        aliases = {}
        for source in select.find_all(exp.Table):
            if isinstance(source.this, exp.Identifier):
                aliases[source.alias_or_name] = source.name
        for projection in list(select.expressions):
            star = projection.this if isinstance(projection, exp.Column) else projection
            if not isinstance(star, exp.Star) or not _excluded(star):
                continue
            table = projection.table if isinstance(projection, exp.Column) else ""
            relation = (
                aliases.get(table) if table else (next(iter(aliases.values())) if len(aliases) == 1 else None)
            )
            names = columns(relation) if relation else None
            if names is None:
                continue
            excluded = {e.name.lower() for e in _excluded(star)}
            keep = [n for n in names if n.lower() not in excluded]
            replacement = [exp.column(n, table=table or None) for n in keep]
            index = select.expressions.index(projection)
            select.set(
                "expressions", [*select.expressions[:index], *replacement, *select.expressions[index + 1 :]]
            )
    return tree


def _catalog_functions(tree: exp.Expression) -> exp.Expression:
    """``FROM duckdb_columns()`` → ``FROM __fstore_duckdb_columns`` (a relation the engine registers)."""
    from sqlglot import exp

    for table in list(tree.find_all(exp.Table)):
        func = table.this
        if isinstance(func, exp.Anonymous) and func.name.lower() in CATALOG_RELATIONS:
            replacement = exp.to_table(CATALOG_RELATIONS[func.name.lower()])
            if table.alias:
                replacement.set("alias", table.args["alias"])
            table.replace(replacement)
    return tree


def _reject_table_functions(tree: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Anonymous):
            raise UntranspilableError(
                f"table function `{table.this.name}()` is DuckDB-only (no Spark equivalent)"
            )
    return tree


def to_spark(sql: str, columns: Columns | None = None, *, pretty: bool = False) -> str:
    """Spark SQL for one DuckDB SELECT; raises UntranspilableError (sqlglot's reason) when it cannot."""
    import sqlglot
    from sqlglot import ErrorLevel

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
        tree = _expand_star_exclude(tree, columns)
        tree = _catalog_functions(tree)
        tree = _reject_table_functions(tree)
        return tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE, comments=False, pretty=pretty)
    except sqlglot.errors.SqlglotError as exc:
        raise UntranspilableError(str(exc).splitlines()[0]) from None


def compile_for_spark(model: Model, columns: Columns | None = None) -> str:
    """``fstore compile NAME --dialect spark``: the SQL the Spark engine runs for ``model``.

    ``columns`` (e.g. read from the DuckDB warehouse) lets ``* EXCLUDE`` be expanded as it is on Spark.
    """
    try:
        return to_spark(model.sql, columns, pretty=True) + "\n"
    except UntranspilableError as err:
        raise UntranspilableError(
            f"`{model.name}` cannot run on Spark: {err.message}", file=model.file, model=model.name
        ) from None


def uses_catalog(sql: str) -> bool:
    """Whether the SQL reads a DuckDB catalog function the engine must provide."""
    lowered = sql.lower()
    return any(name in lowered for name in CATALOG_RELATIONS)


def check_models(models: Iterable[Model]) -> dict[str, str]:
    """Transpile every SQL model once; raise ValidationErrors naming each one that cannot run on Spark.

    Returns model → Spark SQL (stars not yet expanded: that needs the upstream columns).
    """
    compiled: dict[str, str] = {}
    problems: list[UntranspilableError] = []
    for model in models:
        if model.kind != "sql":
            continue
        try:
            compiled[model.name] = to_spark(model.sql)
        except UntranspilableError as err:
            problems.append(
                UntranspilableError(
                    f"`{model.name}` cannot run on Spark: {err.message}", file=model.file, model=model.name
                )
            )
    if problems:
        raise ValidationErrors(problems)
    return compiled


__all__ = [
    "CATALOG_RELATIONS",
    "UntranspilableError",
    "check_models",
    "compile_for_spark",
    "to_spark",
    "uses_catalog",
]
