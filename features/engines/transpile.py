"""DuckDB SQL → Spark SQL with sqlglot: one copy of every model, rewritten as it is run.

sqlglot does the dialect translation (functions, casts, ``NULLS LAST``, ``QUALIFY``, ``//`` → ``DIV``).
On top of it, a short tuple of transforms covers what a Spark engine has to supply itself:

    expand_stars            ``t.* EXCLUDE (a, b)`` and ``* REPLACE (expr AS a)``: expanded with the
                            relation's columns (known at run time, from the Spark catalog); at run
                            time a star that cannot be expanded is an error, not Spark's
    catalog_functions       ``FROM duckdb_columns()``: a relation the engine provides, shaped like
                            DuckDB's (``__fstore_duckdb_columns``), so catalog-reading views run as is
    reject_table_functions  any other DuckDB table function has no Spark equivalent: an error
    same_meaning            functions Spark spells alike but means otherwise, rewritten to the Spark
                            form with DuckDB's meaning: ``log(x)`` (base 10 in DuckDB, e in Spark) →
                            ``LOG(10, x)``; the day of the week (``dayofweek``, ``weekday``,
                            ``extract(dow ...)``: Sunday 0 in DuckDB, 1 in Spark) → ``DAYOFWEEK(x) - 1``
                            and ``isodow`` → ``WEEKDAY(x) + 1``; ``dayname`` / ``monthname`` (whole names
                            in DuckDB, three letters in Spark) → ``DATE_FORMAT``; ``list(x)`` (keeps
                            NULLs in DuckDB, Spark's ``COLLECT_LIST`` drops them) → a list of structs
    reject_unspeakable      what Spark cannot say: ``ASOF`` and ``POSITIONAL`` joins, an aggregate with
                            its own ``ORDER BY`` (``list(x ORDER BY ts)``: ``COLLECT_LIST`` drops the
                            order), a ``strftime`` directive Java's patterns lack: an error

Unsupported constructs (sqlglot's ``ErrorLevel.RAISE``) and the rejected ones are errors naming the
model; :func:`check_models` collects them for every model before anything runs. The golden fixtures
(tests/fixtures/golden/transpile.sql) run each case on DuckDB and on Spark side by side; a function
they do not cover may still mean something else on Spark.
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


def _star_relation(select: exp.Select, projection: exp.Expression) -> tuple[str, str | None]:
    """(qualifier, relation) a star projection expands; relation None when it cannot be told."""
    from sqlglot import exp

    aliases = {}
    for source in select.find_all(exp.Table):
        if isinstance(source.this, exp.Identifier):
            aliases[source.alias_or_name] = source.name
    table = projection.table if isinstance(projection, exp.Column) else ""
    if table:
        return table, aliases.get(table)
    return "", next(iter(aliases.values())) if len(aliases) == 1 else None


def _expand_stars(tree: exp.Expression, columns: Columns | None) -> exp.Expression:
    """``x.* EXCLUDE (a)`` → ``x.b, x.c``; ``* REPLACE (f(b) AS b)`` → ``a, f(b) AS b, c``. Left alone
    while columns are not known (``columns`` None: a check before anything runs); at run time a star
    whose relation's columns are unknown is an error."""
    from sqlglot import exp

    for select in tree.find_all(exp.Select):
        for projection in list(select.expressions):
            star = projection.this if isinstance(projection, exp.Column) else projection
            replaced = star.args.get("replace") or [] if isinstance(star, exp.Star) else []
            if not isinstance(star, exp.Star) or not (_excluded(star) or replaced):
                continue
            if columns is None:
                continue
            table, relation = _star_relation(select, projection)
            names = columns(relation) if relation else None
            if names is None:
                raise UntranspilableError(
                    f"`{projection.sql(dialect='duckdb')}`: the columns of `{relation or table or '*'}`"
                    " are not known, and Spark has no such star"
                )
            excluded = {e.name.lower() for e in _excluded(star)}
            swaps = {r.alias.lower(): r for r in replaced}
            keep = []
            for name in names:
                if name.lower() in excluded:
                    continue
                swap = swaps.get(name.lower())
                keep.append(swap.copy() if swap is not None else exp.column(name, table=table or None))
            index = select.expressions.index(projection)
            select.set("expressions", [*select.expressions[:index], *keep, *select.expressions[index + 1 :]])
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


def _day_of_week(node: exp.Expression, iso: bool) -> exp.Expression:
    """DuckDB's day of the week of ``node`` in Spark: Sunday 0 .. Saturday 6, or ISO Monday 1 .. 7."""
    from sqlglot import exp

    if iso:  # Spark's WEEKDAY: Monday 0 .. Sunday 6
        return exp.Paren(
            this=exp.Add(
                this=exp.Anonymous(this="WEEKDAY", expressions=[node]), expression=exp.Literal.number(1)
            )
        )
    return exp.Paren(this=exp.Sub(this=exp.DayOfWeek(this=node), expression=exp.Literal.number(1)))


_DOW = {"dow": False, "dayofweek": False, "weekday": False, "isodow": True}


def _date_part(node: exp.Expression) -> tuple[str, exp.Expression] | None:
    """(part, value) for ``extract(part FROM x)`` and ``date_part('part', x)``."""
    from sqlglot import exp

    if isinstance(node, exp.Extract) and isinstance(node.this, exp.Var | exp.Identifier):
        return node.this.name.lower(), node.expression
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("date_part", "datepart"):
        args = node.expressions
        if len(args) == 2 and isinstance(args[0], exp.Literal) and args[0].is_string:
            return args[0].this.lower(), args[1]
    return None


def _list_keeping_nulls(node: exp.ArrayAgg) -> None:
    """``list(x)`` as Spark has it with DuckDB's meaning: COLLECT_LIST of one-field structs (it drops
    NULL values, not structs holding one), unwrapped; NULL, not an empty list, when no row came."""
    import sqlglot
    from sqlglot import exp

    site: exp.Expression = node
    while isinstance(site.parent, exp.Filter | exp.Window):  # wrap the whole call, FILTER / OVER too
        site = site.parent
    value = exp.PropertyEQ(this=exp.to_identifier("v"), expression=node.this)
    node.set("this", exp.Struct(expressions=[value]))
    wrapper = sqlglot.parse_one(
        "CASE WHEN SIZE(__fstore_list) > 0 THEN TRANSFORM(__fstore_list, __fstore_e -> __fstore_e.v) END",
        read="spark",
    )
    for placeholder in list(wrapper.find_all(exp.Column)):
        if placeholder.name == "__fstore_list":
            placeholder.replace(site.copy())
    site.replace(wrapper)


def _same_meaning(tree: exp.Expression) -> exp.Expression:
    """Rewrite what Spark spells like DuckDB but computes otherwise (see the module docstring)."""
    from sqlglot import exp

    for node in list(tree.find_all(exp.Log, exp.DayOfWeek, exp.DayOfWeekIso, exp.Extract, exp.Anonymous)):
        if isinstance(node, exp.Log) and node.args.get("expression") is None:
            node.replace(exp.Log(this=exp.Literal.number(10), expression=node.this))
        elif isinstance(node, exp.DayOfWeek | exp.DayOfWeekIso):
            node.replace(_day_of_week(node.this, isinstance(node, exp.DayOfWeekIso)))
        elif (
            isinstance(node, exp.Anonymous)
            and node.name.lower() in ("weekday", "isodow")
            and len(node.expressions) == 1
        ):
            node.replace(_day_of_week(node.expressions[0], node.name.lower() == "isodow"))
        elif (part := _date_part(node)) is not None and part[0] in _DOW:
            node.replace(_day_of_week(part[1], _DOW[part[0]]))
    for node in list(tree.find_all(exp.Dayname, exp.Monthname)):
        pattern = "EEEE" if isinstance(node, exp.Dayname) else "MMMM"
        node.replace(exp.Anonymous(this="DATE_FORMAT", expressions=[node.this, exp.Literal.string(pattern)]))
    for node in list(tree.find_all(exp.ArrayAgg)):
        if not isinstance(node.this, exp.Order):
            _list_keeping_nulls(node)
    return tree


def _reject_unspeakable(tree: exp.Expression) -> exp.Expression:
    """Errors for what has no Spark form (see the module docstring)."""
    from sqlglot import exp

    for join in tree.find_all(exp.Join):
        method = str(join.args.get("method") or "").upper()
        if method in ("ASOF", "POSITIONAL"):
            raise UntranspilableError(f"{method} JOIN has no Spark equivalent")
    for order in tree.find_all(exp.Order):
        call = order.parent
        # STRING_AGG's order becomes Spark's LISTAGG ... WITHIN GROUP (ORDER BY ...), which keeps it
        if isinstance(call, exp.AggFunc) and call.this is order and not isinstance(call, exp.GroupConcat):
            raise UntranspilableError(
                f"`{call.sql(dialect='duckdb')}`: Spark has no aggregate that keeps this ORDER BY"
                " (COLLECT_LIST and FIRST drop it)"
            )
    for node in tree.find_all(exp.TimeToStr):
        text = node.sql(dialect="spark")
        if "%" in text:
            raise UntranspilableError(
                f"`{node.sql(dialect='duckdb')}`: a strftime directive Spark's date patterns lack"
            )
    return tree


def to_spark(sql: str, columns: Columns | None = None, *, pretty: bool = False) -> str:
    """Spark SQL for one DuckDB SELECT; raises UntranspilableError (sqlglot's reason) when it cannot."""
    import sqlglot
    from sqlglot import ErrorLevel

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
        tree = _expand_stars(tree, columns)
        tree = _catalog_functions(tree)
        tree = _reject_table_functions(tree)
        tree = _reject_unspeakable(tree)
        tree = _same_meaning(tree)
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
