"""HTML building blocks shared by every page: the page shell, escaping, badges, tables, embedded data.

Every page is one HTML file that works from ``file://``: CSS and JS are local files under
``static/``, page data is embedded as JSON in ``<script type="application/json" id="page-data">``
(``fetch`` of local files is blocked on ``file://``), and nothing refers to the network.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

NAV = (
    ("index", "index.html", "Overview"),
    ("dag", "dag.html", "DAG"),
    ("models", "models.html", "Models"),
    ("sources", "sources.html", "Sources"),
    ("assets", "assets.html", "Asset IDs"),
    ("runs", "runs.html", "Runs"),
    ("embeddings", "embeddings.html", "Embeddings"),
)

# a tiny inline SVG icon, so the browser never asks for /favicon.ico (a failed request on file://)
FAVICON = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
    "%3Crect width='16' height='16' rx='3' fill='%232f5bd3'/%3E%3Cpath d='M4 4h8M4 8h5M4 12h3' "
    "stroke='white' stroke-width='2'/%3E%3C/svg%3E"
)


def e(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute (None -> empty)."""
    return "" if value is None else html.escape(str(value), quote=True)


def page_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>`` or ``<!--`` can end it early)."""
    text = json.dumps(data, separators=(",", ":"), default=str, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def slug(name: str) -> str:
    """A file name for a model or source page (names are identifiers; anything else is replaced)."""
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in name) or "_"


@dataclass(frozen=True)
class Links:
    """URLs relative to the page being written (``root`` is "" or "../")."""

    root: str
    models: frozenset[str]
    sources: frozenset[str]

    def model(self, name: str, column: str | None = None) -> str:
        return f"{self.root}models/{slug(name)}.html" + (f"#col-{e(column)}" if column else "")

    def source(self, name: str, column: str | None = None) -> str:
        return f"{self.root}sources/{slug(name)}.html" + (f"#col-{e(column)}" if column else "")

    def relation(self, name: str, column: str | None = None) -> str | None:
        if name in self.models:
            return self.model(name, column)
        if name in self.sources:
            return self.source(name, column)
        return None

    def column_link(self, qualified: str) -> str:
        """``relation.column`` as a link to that column on its page (plain text when unknown)."""
        relation, _, column = qualified.partition(".")
        href = self.relation(relation, column or None)
        text = f'<span class="rel">{e(relation)}</span>.<span class="col">{e(column)}</span>'
        return (
            f'<a class="colref" href="{href}">{text}</a>' if href else f'<span class="colref">{text}</span>'
        )

    def relation_link(self, name: str) -> str:
        href = self.relation(name)
        return f'<a href="{href}">{e(name)}</a>' if href else e(name)


def badge(text: Any, kind: str = "") -> str:
    return f'<span class="badge {e(kind)}">{e(text)}</span>'


STATUS_KIND = {
    "pass": "ok",
    "success": "ok",
    "finished": "ok",
    "up_to_date": "muted",
    "warn": "warn",
    "running": "warn",
    "interrupted": "warn",
    "tests_failed": "bad",
    "fail": "bad",
    "error": "bad",
    "failed": "bad",
    "skipped": "bad",
}


def status(text: Any) -> str:
    return badge(text or "—", STATUS_KIND.get(str(text), "muted"))


def number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    if isinstance(value, int | float):
        return f"{value:,.0f}" if digits == 0 else f"{value:,.{digits}f}"
    return e(value)


def when(value: Any) -> str:
    """An ISO timestamp shortened to minutes, with the full value on hover."""
    if not value:
        return "—"
    text = str(value).replace("T", " ")
    return f'<time datetime="{e(value)}" title="{e(value)}">{e(text[:16])}</time>'


def table(
    headers: Sequence[str],
    body: Iterable[Sequence[str]],
    *,
    cls: str = "",
    id: str = "",
    empty: str = "nothing here",
    numeric: Sequence[int] = (),
) -> str:
    """A table of already-escaped cells; ``numeric`` columns are right-aligned."""
    rows = list(body)
    if not rows:
        return f'<p class="empty">{e(empty)}</p>'
    num = set(numeric)

    def cell(tag: str, i: int, value: str) -> str:
        return f'<{tag} class="num">{value}</{tag}>' if i in num else f"<{tag}>{value}</{tag}>"

    head = "".join(cell("th", i, e(h)) for i, h in enumerate(headers))
    lines = ["<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows]
    ident = f' id="{e(id)}"' if id else ""
    return (
        f'<div class="table-wrap"><table class="grid {e(cls)}"{ident}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div>"
    )


def card(title: str, body: str, *, cls: str = "", id: str = "") -> str:
    ident = f' id="{e(id)}"' if id else ""
    return f'<section class="card {e(cls)}"{ident}><h2>{e(title)}</h2>{body}</section>'


def stat(label: str, value: str, note: str = "", href: str = "") -> str:
    inner = f'<div class="stat-value">{value}</div><div class="stat-label">{e(label)}</div>'
    if note:
        inner += f'<div class="stat-note">{note}</div>'
    return f'<a class="stat" href="{href}">{inner}</a>' if href else f'<div class="stat">{inner}</div>'


def hint(text: str) -> str:
    """A friendly note where there is nothing to show yet (``text`` is already HTML)."""
    return f'<p class="hint">{text}</p>'


@dataclass(frozen=True)
class Site:
    """What every page's shell needs."""

    project: str
    generated_at: str
    version: str


def page(
    site: Site,
    *,
    active: str,
    title: str,
    body: str,
    root: str = "",
    data: Any = None,
    wide: bool = False,
) -> str:
    """A whole HTML document: head, top navigation, ``body``, footer, embedded data and the script."""
    nav = "".join(
        f'<a href="{root}{href}"' + (' aria-current="page"' if key == active else "") + f">{e(label)}</a>"
        for key, href, label in NAV
    )
    payload = (
        f'<script type="application/json" id="page-data">{page_json(data)}</script>'
        if data is not None
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · {e(site.project)} · fstore docs</title>
<link rel="icon" href="{FAVICON}">
<link rel="stylesheet" href="{root}static/site.css">
</head>
<body data-page="{e(active)}">
<header class="top">
  <a class="brand" href="{root}index.html"><span class="logo">f</span>fstore <span>docs</span></a>
  <nav>{nav}</nav>
  <span class="project" title="project">{e(site.project)}</span>
</header>
<main class="{"wide" if wide else ""}">
{body}
</main>
<footer>Generated by fstore {e(site.version)} from <code>target/manifest.json</code>,
<code>target/run_results.json</code> and the warehouse (read-only).</footer>
{payload}
<script src="{root}static/site.js"></script>
</body>
</html>
"""


__all__ = [
    "NAV",
    "Links",
    "Site",
    "badge",
    "card",
    "e",
    "hint",
    "number",
    "page",
    "page_json",
    "slug",
    "stat",
    "status",
    "table",
    "when",
]
