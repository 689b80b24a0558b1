"""Pages about the project's models: overview, DAG, model index, one page per model and per source."""

from __future__ import annotations

from typing import Any

from features.choices import DEFAULT_STALE_DAYS
from features.site.context import SiteData
from features.site.html import (
    Links,
    badge,
    card,
    e,
    hint,
    number,
    page,
    stat,
    status,
    table,
    when,
)

STALE_DAYS = (
    DEFAULT_STALE_DAYS  # as `fstore sources`: days behind the newest bar of the symbol's calendar group
)
KIND_LABEL = {"view": "view", "table": "table", "incremental": "incremental", "python": "python"}


def kind_class(model: dict[str, Any]) -> str:
    """The colour family of a node: python, or the SQL model's materialization."""
    return "python" if model["kind"] == "python" else model["materialized"]


def model_badges(model: dict[str, Any]) -> str:
    kind = "k-python" if model["kind"] == "python" else "muted"
    out = badge(model["kind"], kind) + badge(model["materialized"], f"k-{model['materialized']}")
    out += "".join(badge(t, "tag") for t in model.get("tags", []))
    return out


# --------------------------------------------------------------------------------------- overview


def _last_build_card(data: SiteData) -> str:
    if not data.builds:
        return card("Last build", hint("No build logged yet: run <code>fstore build</code>."))
    b = data.builds[0]
    rr = data.run_results
    items = [
        ("status", status(b.get("status"))),
        ("started", when(b.get("started_at"))),
        (
            "models",
            f"{b.get('models_built', 0)} built · {b.get('models_up_to_date', 0)} up to date"
            f" · {b.get('models_failed', 0)} failed · {b.get('models_skipped', 0)} skipped",
        ),
        ("tests failed", number(b.get("tests_failed"))),
    ]
    if b.get("message") not in (None, "build", "test"):
        items.append(("note", e(b.get("message"))))
    if rr:
        items.append(
            (
                "last command",
                f"<code>fstore {e(rr.get('command'))}</code> · {number(rr.get('elapsed_seconds'), 2)} s"
                f" · {status(rr.get('status'))}",
            )
        )
    body = '<dl class="kv">' + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"
    return card("Last build", body)


def _attention_tests(data: SiteData, links: Links) -> str:
    bad = [t for t in data.tests.values() if t.get("status") in ("fail", "warn", "error")]
    bad.sort(key=lambda t: (t["status"] != "fail", t["status"] != "error", t["model"], t["test"]))
    body = table(
        ["model", "test", "status", "failures", "when"],
        (
            [
                f'<a href="{links.model(t["model"])}#tests">{e(t["model"])}</a>',
                f"<code>{e(t['test'])}</code>",
                status(t["status"]),
                number(t.get("failures")),
                when(t.get("at")),
            ]
            for t in bad
        ),
        empty="Every data test passed on its last run." if data.tests else "No data test has run yet.",
        numeric=[3],
    )
    return card("Failing and warning tests", body, id="tests")


def stale_symbols(data: SiteData) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(stale universe symbols, universe symbols without any price)."""
    universe = [c for c in data.coverage if c.get("asset_id") is not None]
    stale = [c for c in universe if c.get("has_data") and (c.get("stale_days") or 0) > STALE_DAYS]
    missing = [c for c in universe if not c.get("has_data")]
    return stale, missing


def _stale_card(data: SiteData, root: str) -> str:
    stale, missing = stale_symbols(data)
    if not data.coverage:
        return card("Stale symbols", hint("No prices in the warehouse yet."))
    rows = [
        [
            f'<a href="{root}assets.html#{e(c["symbol"])}">{e(c["symbol"])}</a>',
            e(c.get("category")),
            e(c.get("last_date")),
            f"{number(c.get('stale_days'))} days behind",
        ]
        for c in sorted(stale, key=lambda c: -(c.get("stale_days") or 0))
    ] + [
        [
            f'<a href="{root}assets.html#{e(c["symbol"])}">{e(c["symbol"])}</a>',
            e(c.get("category")),
            "—",
            badge("no data", "bad"),
        ]
        for c in missing
    ]
    body = table(
        ["symbol", "category", "last bar", "staleness"],
        rows,
        empty=f"Every universe symbol is within {STALE_DAYS} days of the newest bar of its calendar group.",
    )
    return card(
        "Stale symbols",
        body + f'<p class="more"><a href="{root}sources.html">coverage of every symbol →</a></p>',
    )


def models_table(data: SiteData, links: Links, *, id: str = "models-table") -> str:
    rows = []
    for name, m in data.models.items():
        built = m.get("built") or {}
        rows.append(
            [
                f'<a href="{links.model(name)}"><strong>{e(name)}</strong></a>',
                model_badges(m),
                number(built.get("rows")),
                when(built.get("at")),
                f'<span class="desc">{e(m.get("description") or "")}</span>',
            ]
        )
    return table(
        ["model", "kind", "rows", "built", "description"],
        rows,
        id=id,
        numeric=[2],
        empty="No models in this project yet (add a .sql file under sql/).",
    )


def _tests_stat(data: SiteData) -> str:
    declared = sum(len(m.get("tests", [])) for m in data.models.values())
    results = [t.get("status") for t in data.tests.values()]
    note = ", ".join(f"{results.count(s)} {s}" for s in ("pass", "warn", "fail", "error") if results.count(s))
    return stat("data tests", number(declared), note or "none run yet", "#tests")


def overview_page(data: SiteData) -> str:
    links = data.links("")
    kinds: dict[str, int] = {}
    for m in data.models.values():
        kinds[kind_class(m)] = kinds.get(kind_class(m), 0) + 1
    symbols = data.mapping.get("symbols", [])
    active = sum(1 for s in symbols if s.get("is_active"))
    versions = data.mapping.get("versions", [])
    with_data = [c for c in data.coverage if c.get("has_data")]
    first = min((c["first_date"] for c in with_data if c.get("first_date")), default=None)
    last = max((c["last_date"] for c in with_data if c.get("last_date")), default=None)
    stats = "".join(
        [
            stat(
                "models",
                number(len(data.models)),
                " · ".join(f"{n} {k}" for k, n in sorted(kinds.items())),
                "models.html",
            ),
            stat("sources", number(len(data.sources)), "", "sources.html"),
            stat(
                "asset IDs",
                number(len(symbols)),
                f"{active} active · mapping {e(versions[-1]['version']) if versions else '—'}",
                "assets.html",
            ),
            stat(
                "symbols with prices",
                number(len(with_data)),
                f"{e(first or '—')} → {e(last or '—')}",
                "sources.html",
            ),
            _tests_stat(data),
            stat(
                "training runs",
                number(len(data.runs)),
                e(data.runs[0]["status"]) + " latest" if data.runs else "none yet",
                "runs.html",
            ),
        ]
    )
    lede = (
        f"{len(data.models)} models over {len(data.sources)} sources, {len(symbols)} asset IDs"
        f" and {len(data.runs)} training run{'s' if len(data.runs) != 1 else ''}."
    )
    if not data.warehouse:
        lede += " The warehouse has not been built yet: run <code>fstore build</code> for columns, rows and tests."
    body = f"""
<div class="hero"><h1>{e(data.site.project)}</h1><p class="lede">{lede}</p>
<p class="muted small">Site generated {e(data.site.generated_at)}.</p>
<p class="actions"><a class="button" href="dag.html">Open the DAG</a>
<a class="button ghost" href="embeddings.html">Explore the embeddings</a></p></div>
<div class="stats">{stats}</div>
<div class="cols2">{_last_build_card(data)}{_attention_tests(data, links)}</div>
{_stale_card(data, "")}
{card("Models", models_table(data, links))}
"""
    return page(data.site, active="index", title="Overview", body=body)


def models_page(data: SiteData) -> str:
    links = data.links("")
    search = '<input class="filter" type="search" placeholder="Filter models…" data-filter="models-table" aria-label="Filter models">'
    body = f'<h1>Models</h1><div class="toolbar">{search}</div>{models_table(data, links)}'
    return page(data.site, active="models", title="Models", body=body)


# --------------------------------------------------------------------------------------- DAG


def dag_page(data: SiteData, lay: Any, nodes: dict[str, dict[str, Any]]) -> str:
    """The graph page: server-drawn SVG from the layout; site.js adds pan, zoom, highlight, filter."""
    links = data.links("")
    edges = "".join(
        f'<path class="edge" data-s="{e(r.source)}" data-t="{e(r.target)}" d="{r.d}"/>' for r in lay.routes
    )
    boxes = []
    for name, b in lay.boxes.items():
        info = nodes[name]
        href = links.relation(name) or "#"
        boxes.append(
            f'<g class="node k-{e(info["class"])}" data-id="{e(name)}" data-tags="{e(" ".join(info["tags"]))}"'
            f' transform="translate({b.x:.1f},{b.y:.1f})"><a href="{href}">'
            f"<title>{e(name)} · {e(info['label'])}</title>"
            f'<rect class="box" width="{b.w:.1f}" height="{b.h:.1f}" rx="6"/>'
            f'<rect class="stripe" width="5" height="{b.h:.1f}" rx="2"/>'
            f'<text x="14" y="{b.h / 2 + 4.5:.1f}">{e(name)}</text></a></g>'
        )
    tags = "".join(f'<option value="{e(t)}">{e(t)}</option>' for t in data.tags())
    legend = "".join(
        f'<span class="legend-item"><i class="sw k-{k}"></i>{k}</span>'
        for k in ("source", "view", "table", "incremental", "python")
    )
    pad = 24
    body = f"""
<div class="dag-head"><h1>DAG</h1>
<div class="toolbar">
<input id="dag-search" type="search" placeholder="Find a model…" aria-label="Find a model" list="dag-names">
<datalist id="dag-names">{"".join(f'<option value="{e(n)}">' for n in lay.boxes)}</datalist>
<label>tag <select id="dag-tag"><option value="">all</option>{tags}</select></label>
<span class="zoom"><button id="zoom-out" title="zoom out">−</button><button id="zoom-fit" title="fit">fit</button><button id="zoom-in" title="zoom in">+</button></span>
<span class="legend">{legend}</span>
</div>
<p class="muted small">{len(data.models)} models, {len(data.sources)} sources, {len(lay.routes)} edges.
Drag to pan, scroll to zoom, hover a node to light up its upstream and downstream, click it to open it.</p>
</div>
<div id="dag" class="dag" tabindex="0">
<div id="dag-card" class="dag-card" hidden></div>
<svg id="dag-svg" xmlns="http://www.w3.org/2000/svg" data-width="{lay.width + 2 * pad:.0f}" data-height="{lay.height + 2 * pad:.0f}">
<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L8,4L0,8z"/></marker>
<marker id="arrow-lit" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L8,4L0,8z"/></marker></defs>
<g id="dag-view"><g transform="translate({pad},{pad})"><g class="edges">{edges}</g><g class="nodes">{"".join(boxes)}</g></g></g>
</svg></div>
"""
    return page(data.site, active="dag", title="DAG", body=body, data={"nodes": nodes}, wide=True)


def dag_nodes(data: SiteData) -> dict[str, dict[str, Any]]:
    """Node info for the DAG page: class, label, tags, upstream and downstream (sources included)."""
    nodes: dict[str, dict[str, Any]] = {}
    for name, s in data.sources.items():
        nodes[name] = {
            "class": "source",
            "label": "source",
            "tags": [],
            "up": [],
            "down": list(s.get("downstream", [])),
            "rows": data.relation_rows.get(name),
        }
    for name, m in data.models.items():
        nodes[name] = {
            "class": kind_class(m),
            "label": f"{m['kind']} · {m['materialized']}",
            "tags": list(m.get("tags", [])),
            "up": [*m.get("sources", []), *m.get("upstream", [])],
            "down": list(m.get("downstream", [])),
            "description": m.get("description"),
            "rows": (m.get("built") or {}).get("rows"),
        }
    return nodes


__all__ = [
    "STALE_DAYS",
    "dag_nodes",
    "dag_page",
    "kind_class",
    "model_badges",
    "models_page",
    "models_table",
    "overview_page",
    "stale_symbols",
]
