"""Every validation error of the issue, message checked; all problems reported together."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from features.config import load_project
from features.errors import ModelError, ValidationErrors
from features.models.discovery import discover
from features.models.state import relations
from features.models.validate import validate


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "p"
    (root / "config").mkdir(parents=True)
    (root / "config" / "project.toml").write_text('[paths]\npython_models = ["models"]\n')
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _validate(root: Path, sources: tuple[str, ...] = ("raw_prices",)) -> None:
    con = duckdb.connect()
    for name in sources:
        con.execute(f"create table {name} (asset_id integer, ts date, close double)")
    validate(discover(load_project(root)), relations(con))


def _error(root: Path, **kwargs) -> ModelError:
    with pytest.raises(ModelError) as info:
        _validate(root, **kwargs)
    return info.value


def test_syntax_error_points_at_file_line_column_with_the_line(tmp_path: Path) -> None:
    root = _project(tmp_path, {"sql/bad.sql": "-- materialized: table\nselect asset_id,\n  from where ts\n"})
    err = _error(root)
    text = str(err)
    assert text.startswith("sql/bad.sql:3:")
    assert (err.file, err.line) == ("sql/bad.sql", 3)
    assert "  from where ts" in text  # the offending line
    assert "^" in text.splitlines()[-1]
    caret_col = text.splitlines()[-1].index("^") - 4
    assert "  from where ts"[caret_col:].startswith("where")


def test_unknown_relation_suggests_close_names(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "sql/stg_prices.sql": "select * from raw_prices",
            "sql/feat.sql": "-- tags: x\nselect *\nfrom stg_prics\n",
        },
    )
    err = _error(root)
    assert str(err) == "sql/feat.sql:3:6: unknown model or relation `stg_prics` (did you mean `stg_prices`?)"


def test_unknown_source_suggests_warehouse_relations(tmp_path: Path) -> None:
    root = _project(tmp_path, {"sql/a.sql": "select * from raw_price"})
    assert "(did you mean `raw_prices`?)" in str(_error(root))


def test_cycle_is_spelled_out(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "sql/a.sql": "select * from c",
            "sql/b.sql": "select * from a",
            "sql/c.sql": "select * from b",
        },
    )
    err = _error(root)
    assert "cycle: a → b → c → a" in str(err)


def test_unknown_header_key_names_file_and_line(tmp_path: Path) -> None:
    root = _project(tmp_path, {"sql/a.sql": "-- materialized: table\n-- materialised: view\nselect 1 as x\n"})
    err = _error(root)
    assert str(err).startswith("sql/a.sql:2: unknown header key `materialised` (known keys: materialized,")


def test_bad_header_values(tmp_path: Path) -> None:
    root = _project(tmp_path, {"sql/a.sql": "-- materialized: snapshot\nselect 1 as x\n"})
    assert "sql/a.sql:1: materialized must be one of view, table, incremental" in str(_error(root))
    root = _project(tmp_path / "2", {"sql/a.sql": "-- test: not_nul(x)\nselect 1 as x\n"})
    assert "sql/a.sql:1: unknown test `not_nul`" in str(_error(root))


def test_python_parameter_naming_no_relation(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "sql/stg_prices.sql": "select * from raw_prices",
            "models/feats.py": (
                "from features import model\n\n\n@model\ndef ema(stg_price):\n    return stg_price\n"
            ),
        },
    )
    err = _error(root)
    assert str(err) == (
        "models/feats.py:4: python model `ema`: parameter `stg_price` names no model or warehouse relation "
        "(did you mean `stg_prices`?)"
    )


def test_duplicate_model_names_name_both_files(tmp_path: Path) -> None:
    root = _project(tmp_path, {"sql/a/x.sql": "select 1 as v", "sql/b/x.sql": "select 2 as v"})
    assert "two models are named `x`: sql/a/x.sql and sql/b/x.sql" in str(_error(root))


def test_incremental_needs_a_time_column(tmp_path: Path) -> None:
    root = _project(tmp_path, {"sql/a.sql": "-- materialized: incremental\nselect * from raw_prices\n"})
    assert "sql/a.sql:1: incremental model `a` needs a time_column" in str(_error(root))


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "sql/bad.sql": "select (1 from raw_prices",
            "sql/typo.sql": "select * from raw_pricez",
            "sql/hdr.sql": "-- colour: red\nselect 1 as x",
            "sql/a.sql": "select * from b",
            "sql/b.sql": "select * from a",
        },
    )
    with pytest.raises(ValidationErrors) as info:
        _validate(root)
    errors = info.value.errors
    assert len(errors) == 4
    text = str(info.value)
    assert text.startswith("4 problem(s) found; nothing was run:")
    for needle in ("sql/bad.sql:1:", "raw_pricez", "unknown header key `colour`", "cycle: a → b → a"):
        assert needle in text


@pytest.mark.parametrize(
    ("sql", "needle"),
    [
        (
            "select asset_id, lead(close) over (partition by asset_id order by ts) as nxt\nfrom raw_prices",
            "LEAD",
        ),
        (
            "select asset_id,\n avg(close) over (order by ts rows between 1 preceding and 2 following) as m\n"
            "from raw_prices",
            "FOLLOWING",
        ),
        (
            "select a.asset_id, b.close\nfrom raw_prices a\njoin raw_prices b on b.asset_id = a.asset_id"
            " and b.ts = a.ts + interval 1 day",
            "later date",
        ),
        ("select a.*\nfrom raw_prices a\njoin raw_prices b on b.ts > a.ts", "later date"),
    ],
)
def test_leakage_lint_rejects_look_ahead_in_feature_models(tmp_path: Path, sql: str, needle: str) -> None:
    root = _project(tmp_path, {"sql/feat.sql": sql})
    err = _error(root)
    assert "possible look-ahead leakage in `feat`" in str(err)
    assert needle in str(err)
    assert err.file == "sql/feat.sql" and err.line is not None
    labelled = _project(tmp_path / "ok", {"sql/feat.sql": "-- label: true\n" + sql})
    _validate(labelled)  # a label model may look ahead


def test_leakage_lint_accepts_past_looking_joins(tmp_path: Path) -> None:
    sql = "select a.*\nfrom raw_prices a\njoin raw_prices b on b.asset_id = a.asset_id and b.ts = a.ts - 1"
    _validate(_project(tmp_path, {"sql/feat.sql": sql}))


@pytest.mark.parametrize(
    ("decorator", "params", "message"),
    [
        ('lookahead="raw_prices.horizon"', "raw_prices", "lookahead is for label models (add label=True)"),
        (
            'label=True, lookahead="params.horizon"',
            "raw_prices",
            "lookahead must be a row count or `relation.column` naming one of its parameters,"
            " got 'params.horizon'",
        ),
        (
            'label=True, lookahead="raw_prices.h; drop table x"',
            "raw_prices",
            "lookahead must be a row count or `relation.column` naming one of its parameters,"
            " got 'raw_prices.h; drop table x'",
        ),
        (
            "lookback=3",
            "raw_prices, this=None",
            "takes `this`, so it reads no history before its new rows: drop lookback=3",
        ),
    ],
)
def test_python_lookahead_and_this_settings(
    tmp_path: Path, decorator: str, params: str, message: str
) -> None:
    root = _project(
        tmp_path,
        {
            "models/feats.py": (
                f"from features import model\n\n\n@model({decorator})\ndef f({params}):\n    return raw_prices\n"
            ),
        },
    )
    assert str(_error(root)) == f"models/feats.py:4: python model `f`: {message}"


@pytest.mark.parametrize("materialized", ["view", "snapshot"])
def test_a_python_model_is_stored_as_a_table(tmp_path: Path, materialized: str) -> None:
    root = _project(
        tmp_path,
        {
            "models/feats.py": (
                f'from features import model\n\n\n@model(materialized="{materialized}")\n'
                "def f(raw_prices):\n    return raw_prices\n"
            ),
        },
    )
    assert str(_error(root)) == (
        f"models/feats.py:4: python model `f`: materialized must be table or incremental, got `{materialized}`"
    )
