"""Golden SQL fixtures (sqlglot-style): read tests/fixtures/golden/*.sql, and the data to run them on.

A fixture file is a list of cases. A case is a block of ``# key: value`` lines followed by one or more
SQL statements, each ending with a line that ends in ``;``::

    # title: LAG(x, 3) looks 3 rows back
    # lookback: 3
    -- time_column: ts
    -- partition_by: asset_id
    select asset_id, ts, lag(close, 3) over (partition by asset_id order by ts) as x from prices;

``--`` lines are part of the SQL (a model's header is its leading ``-- key: value`` lines, so a case's
SQL is exactly a model file). A ``#`` line that is not ``key: value`` is a comment; a ``key: value``
line after a case's statements starts the next case. Every case needs a ``title``; each test module
names the keys its file accepts, so a misspelt key is an error rather than a silently ignored
expectation. ``# xfail: reason`` marks the case's verdict test ``xfail(strict=True)``: it must fail
today and turns into an error the day the code is fixed, so the marker is removed with the fix.

The cases run on an in-memory DuckDB holding a small generated market (``prices``: four assets with
different calendars — one with gaps, one listing late, one delisting early — and ``dim_symbol``).
``prices`` is a view, so a test can show a model a restricted or perturbed history and compare.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from features.config import load_project
from features.errors import FstoreError, ValidationErrors
from features.models.discovery import Model, discover
from features.models.validate import validate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "golden"
_META = re.compile(r"^#\s*([a-z_]+)\s*:\s*(.*?)\s*$")

START = date(2024, 1, 1)
DAYS = 90
RELATIONS = ("prices", "dim_symbol")  # what the fixtures may read
REL_TOL, ABS_TOL = 1e-9, 1e-12  # windows over fewer rows may sum in another order


class FixtureError(Exception):
    """A fixture file is malformed (the message names the file and line)."""


@dataclass(frozen=True)
class Statement:
    line: int
    sql: str


@dataclass(frozen=True)
class Case:
    """One golden case: its meta (``# key: value``) and its statements, where they are in the file."""

    file: str
    line: int
    meta: dict[str, str]
    statements: tuple[Statement, ...] = field(default=())

    @property
    def title(self) -> str:
        return self.meta["title"]

    @property
    def name(self) -> str:
        """The model name this case gets when it is discovered as a project file."""
        return f"case_{self.line}"

    @property
    def sql(self) -> str:
        return self.statements[0].sql

    def flag(self, key: str, default: bool) -> bool:
        value = self.meta.get(key)
        if value is None:
            return default
        if value not in ("true", "false"):
            raise FixtureError(f"{self.file}:{self.line}: `{key}` must be true or false, got `{value}`")
        return value == "true"

    def rows(self, key: str) -> int | None:
        """A row count (``none``: unbounded)."""
        value = self.meta.get(key, "0")
        if value == "none":
            return None
        if not value.isdigit():
            raise FixtureError(f"{self.file}:{self.line}: `{key}` must be a row count or none, got `{value}`")
        return int(value)


def load_cases(file: str | Path, keys: Iterable[str], statements: Sequence[int] = (1,)) -> list[Case]:
    """Every case of ``tests/fixtures/golden/<file>`` (or of the path ``file``); ``keys``: meta keys
    allowed besides ``title`` and ``xfail``; ``statements``: how many statements a case may hold."""
    path = file if isinstance(file, Path) else FIXTURES / file
    filename = path.name
    allowed = {"title", "xfail", *keys}
    cases: list[Case] = []
    meta: dict[str, str] = {}
    meta_line = 0
    done: list[Statement] = []
    current: list[str] = []
    start = 0

    def finish() -> None:
        where = f"{filename}:{meta_line}"
        if "title" not in meta:
            raise FixtureError(f"{where}: a case needs a `# title:`")
        if len(done) not in statements:
            raise FixtureError(f"{where}: {len(done)} statement(s); a case here holds {statements}")
        cases.append(Case(filename, meta_line, dict(meta), tuple(done)))

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.rstrip()
        if not current and text.startswith("#"):
            match = _META.match(text)
            if match is None:
                continue  # a comment
            if done:
                finish()
                meta, meta_line, done = {}, 0, []
            key, value = match.groups()
            if key not in allowed:
                raise FixtureError(f"{filename}:{number}: unknown key `{key}` (known: {sorted(allowed)})")
            if key in meta:
                raise FixtureError(f"{filename}:{number}: `{key}` given twice in one case")
            meta[key] = value
            meta_line = meta_line or number
            continue
        if not current and not text.strip():
            continue
        if not meta:
            raise FixtureError(f"{filename}:{number}: SQL before any `# title:` line")
        if not current:
            start = number
        current.append(text)
        if text.endswith(";"):
            done.append(Statement(start, "\n".join(current)[:-1].strip()))
            current = []
    if current:
        raise FixtureError(f"{filename}:{start}: statement not ended by a line ending in `;`")
    if meta:
        finish()
    titles = [c.title for c in cases]
    duplicates = sorted({t for t in titles if titles.count(t) > 1})
    if duplicates:
        raise FixtureError(f"{filename}: titles used twice: {duplicates}")
    return cases


def params(cases: Iterable[Case], *, xfail: bool = True) -> list[object]:
    """``pytest.param`` per case, id ``<line>-<title>``; ``xfail``: honour ``# xfail:`` (verdict tests)."""
    out = []
    for case in cases:
        marks = []
        if xfail and "xfail" in case.meta:
            marks.append(pytest.mark.xfail(strict=True, reason=case.meta["xfail"]))
        slug = re.sub(r"[^a-z0-9]+", "-", case.title.lower()).strip("-")
        out.append(pytest.param(case, id=f"{case.line}-{slug}", marks=marks))
    return out


# --------------------------------------------------------------------------- models, as fstore sees them


def discover_cases(root: Path, cases: Iterable[Case]) -> tuple[dict[str, Model], dict[str, list[str]]]:
    """Write each case as ``sql/<case.name>.sql`` of a fresh project, then discover and validate it as
    ``fstore build`` does: (models by name, every problem's message by model name)."""
    sql_dir = root / "sql"
    sql_dir.mkdir(parents=True)
    for case in cases:
        (sql_dir / f"{case.name}.sql").write_text(case.sql + "\n", encoding="utf-8")
    discovery = discover(load_project(root, search=False))
    problems: dict[str, list[str]] = {}
    try:
        validate(discovery, RELATIONS)
    except ValidationErrors as errors:
        found: list[FstoreError] = list(errors.errors)
    except FstoreError as error:
        found = [error]
    else:
        found = []
    for error in found:
        name = error.model or Path(error.file or "").stem
        problems.setdefault(name, []).append(str(error))
    return discovery.models, problems


# --------------------------------------------------------------------------- the market the cases run on


def price_rows() -> list[tuple[int, date, float, float]]:
    """(asset_id, ts, close, volume): asset 0 trades daily, 1 skips every 5th day, 2 lists on day 20,
    3 delists after day 75. Closes are a seeded random walk, so no two windows agree by accident."""
    rng = random.Random(20240101)
    rows = []
    for asset in range(4):
        close = 50.0 + 40 * asset
        for day in range(DAYS):
            close *= math.exp(rng.gauss(0, 0.02))
            volume = float(rng.randint(1_000, 9_000))
            if (asset == 1 and day % 5 == 4) or (asset == 2 and day < 20) or (asset == 3 and day > 75):
                continue
            rows.append((asset, START + timedelta(days=day), round(close, 6), volume))
    return rows


def market() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with ``__prices_all`` (plus ``rn``: the row's position in its asset, from 1,
    and ``n``: the asset's row count), the view ``prices`` over all of it, and ``dim_symbol``."""
    con = duckdb.connect()
    con.execute("create table __raw (asset_id integer, ts date, close double, volume double)")
    con.executemany("insert into __raw values (?, ?, ?, ?)", price_rows())
    con.execute(
        "create table __prices_all as select *, row_number() over (partition by asset_id order by ts) as rn,"
        " count(*) over (partition by asset_id) as n from __raw"
    )
    con.execute(
        "create table dim_symbol as select * from (values (0, 'AAA', 'equity'), (1, 'BBB', 'equity'),"
        " (2, 'CCC', 'crypto'), (3, 'DDD', 'crypto')) v(asset_id, symbol, asset_class)"
    )
    show_prices(con, "true")
    return con


def show_prices(con: duckdb.DuckDBPyConnection, where: str, *, select: str = "close, volume") -> None:
    """Point the view ``prices`` at the rows of ``__prices_all`` matching ``where`` (``p.`` columns)."""
    con.execute(
        f"create or replace view prices as select p.asset_id, p.ts, {select} from __prices_all p where {where}"
    )


def day(n: int) -> date:
    return START + timedelta(days=n)


Rows = dict[tuple[object, ...], tuple[object, ...]]


def keyed(con: duckdb.DuckDBPyConnection, sql: str, keys: Sequence[str] = ("asset_id", "ts")) -> Rows:
    """The query's rows by their ``keys`` columns (which must be there and unique)."""
    cursor = con.execute(sql)
    names = [d[0].lower() for d in cursor.description]
    missing = [k for k in keys if k not in names]
    if missing:
        raise FixtureError(f"the query returns no {missing} column(s) to match rows by: {names}")
    index = [names.index(k) for k in keys]
    out: Rows = {}
    for row in cursor.fetchall():
        key = tuple(row[i] for i in index)
        if key in out:
            raise FixtureError(f"two rows for {dict(zip(keys, key, strict=True))}")
        out[key] = row
    return out


def same_value(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return a == b


def same_row(a: Sequence[object], b: Sequence[object]) -> bool:
    return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))


def differing(expected: Rows, actual: Rows, keys: Iterable[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Keys whose row differs (or is missing on either side)."""
    return [k for k in keys if k not in expected or k not in actual or not same_row(expected[k], actual[k])]


def sorted_rows(rows: Iterable[Sequence[object]]) -> list[tuple[object, ...]]:
    return sorted((tuple(r) for r in rows), key=lambda r: [(v is None, repr(v)) for v in r])


def same_bag(a: Iterable[Sequence[object]], b: Iterable[Sequence[object]]) -> bool:
    """Two results hold the same rows, in any order (floats within tolerance)."""
    left, right = sorted_rows(a), sorted_rows(b)
    return len(left) == len(right) and all(same_row(x, y) for x, y in zip(left, right, strict=True))
