"""The golden fixture format itself: a malformed fixture is an error naming its line, never a case
silently dropped or an expectation silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from _golden import FixtureError, load_cases

GOOD = """\
# A comment line, then two cases.
# title: first
# lookback: 3
-- time_column: ts
select 1;

# title: second
# xfail: not yet
select 2
from t;
select 3;
"""


def _load(tmp_path: Path, text: str, statements: tuple[int, ...] = (1, 2)) -> list:
    path = tmp_path / "cases.sql"
    path.write_text(text, encoding="utf-8")
    return load_cases(path, ("lookback",), statements)


def test_cases_keep_their_meta_sql_and_lines(tmp_path: Path) -> None:
    first, second = _load(tmp_path, GOOD)
    assert (first.line, first.meta, first.sql) == (
        2,
        {"title": "first", "lookback": "3"},
        "-- time_column: ts\nselect 1",
    )
    assert second.meta == {"title": "second", "xfail": "not yet"}
    assert [(s.line, s.sql) for s in second.statements] == [(9, "select 2\nfrom t"), (11, "select 3")]
    assert first.rows("lookback") == 3 and second.rows("lookback") == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# title: a\n# lookbak: 3\nselect 1;\n", "cases.sql:2: unknown key `lookbak`"),
        ("# title: a\n# title: b\nselect 1;\n", "cases.sql:2: `title` given twice"),
        ("select 1;\n", "cases.sql:1: SQL before any `# title:` line"),
        ("# lookback: 1\nselect 1;\n", "cases.sql:1: a case needs a `# title:`"),
        ("# title: a\nselect 1\n", "cases.sql:2: statement not ended"),
        ("# title: a\nselect 1;\n# title: a\nselect 2;\n", "titles used twice: ['a']"),
        ("# title: a\nselect 1;\nselect 2;\nselect 3;\n", "cases.sql:1: 3 statement(s)"),
    ],
)
def test_malformed_fixtures_are_errors_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FixtureError) as info:
        _load(tmp_path, text)
    assert message in str(info.value)


def test_bad_values_are_errors(tmp_path: Path) -> None:
    (case,) = _load(tmp_path, "# title: a\n# lookback: three\nselect 1;\n")
    with pytest.raises(FixtureError, match="must be a row count or none"):
        case.rows("lookback")
