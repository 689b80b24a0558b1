"""SQL highlighting keeps the text exactly, classes tokens by kind and links relation names."""

from __future__ import annotations

import html
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from features.site.highlight import highlight_sql

REPO = Path(__file__).resolve().parents[2]
TAG = re.compile(r"<[^>]+>")


def text_of(markup: str) -> str:
    return html.unescape(TAG.sub("", markup))


def spans(markup: str, cls: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(rf'<span class="{cls}">(.*?)</span>', markup, re.S)]


def test_every_shipped_model_round_trips() -> None:
    files = sorted((REPO / "sql").rglob("*.sql"))
    assert files
    for f in files:
        sql = f.read_text()
        assert text_of(highlight_sql(sql)) == sql, f


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120))
def test_any_text_round_trips_and_never_raises(text: str) -> None:
    assert text_of(highlight_sql(text)) == text


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "select",
                "a",
                "from",
                "t",
                "'x y'",
                "42",
                "3.5",
                "--note\n",
                "/* c */",
                ",",
                "(",
                ")",
                "count",
                "::",
                "integer",
                "where",
                "<",
                "'<b>'",
                "\n",
                "  ",
            ]
        ),
        max_size=30,
    )
)
def test_token_soup_round_trips(parts: list[str]) -> None:
    sql = " ".join(parts)
    assert text_of(highlight_sql(sql)) == sql


def test_tokens_get_their_kind() -> None:
    sql = (
        "-- lead\nselect count(*) as n, 'it''s' as s, 1.5::double as x /* why */ from prices where close > 0"
    )
    out = highlight_sql(sql)
    assert spans(out, "k")[:2] == ["select", "as"]
    assert "where" in spans(out, "k") and "from" in spans(out, "k")
    assert spans(out, "f") == ["count"]
    assert spans(out, "s") == ["'it''s'"]
    assert spans(out, "m") == ["1.5", "0"]
    assert spans(out, "t") == ["double"]
    assert spans(out, "c") == ["-- lead", "/* why */"]
    assert "prices" in spans(out, "n")


def test_relation_names_link_to_their_page_and_markup_is_escaped() -> None:
    sql = "select '</pre><script>' as s from price_features p join dim_symbol d using (asset_id)"
    out = highlight_sql(
        sql, {"price_features": "models/price_features.html", "dim_symbol": "sources/dim_symbol.html"}
    )
    assert '<a class="n ref" href="models/price_features.html">price_features</a>' in out
    assert '<a class="n ref" href="sources/dim_symbol.html">dim_symbol</a>' in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert text_of(out) == sql
