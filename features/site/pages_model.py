"""One page per model (description, columns with lineage, tests, last build, settings, SQL) and per source."""

from __future__ import annotations

import re
from typing import Any

from features.site.context import SiteData
from features.site.highlight import highlight_sql
from features.site.html import Links, badge, card, e, hint, number, page, status, table, when
from features.site.pages_models import model_badges

_SETTING = re.compile(r"^--\s*[A-Za-z_][A-Za-z0-9_]*\s*:")


def header_notes(sql: str | None) -> str:
    """The free-text comment lines of a SQL model's header (its settings lines left out)."""
    notes = []
    for line in (sql or "").splitlines():
        text = line.strip()
        if not text:
            continue
        if not text.startswith("--"):
            break
        if not _SETTING.match(text):
            notes.append(text[2:].strip())
    return " ".join(notes)


def _columns(model: dict[str, Any], links: Links) -> str:
    rows = []
    for c in model.get("columns", []):
        lin = c.get("lineage")
        if lin is None and model["kind"] == "python":
            reads = " ".join(
                links.relation_link(u) for u in [*model.get("sources", []), *model.get("upstream", [])]
            )
            direct = f'<span class="muted">function of</span> {reads}'
            sources = '<span class="muted" title="a Python function is opaque to column lineage">—</span>'
        elif lin is None:
            direct = sources = '<span class="muted">not traced</span>'
        else:
            direct = (
                " ".join(links.column_link(q) for q in lin["direct"]) or '<span class="muted">computed</span>'
            )
            sources = " ".join(links.column_link(q) for q in lin["sources"]) or '<span class="muted">—</span>'
        rows.append(
            [
                f'<a class="anchor" id="col-{e(c["name"])}" href="#col-{e(c["name"])}"><code>{e(c["name"])}</code></a>',
                f'<code class="type">{e(c.get("type") or "?")}</code>',
                f'<span class="lineage">{direct}</span>',
                f'<span class="lineage">{sources}</span>',
            ]
        )
    empty = "Columns appear once the model is built (fstore build)."
    note = ""
    if model["kind"] == "python":
        note = '<p class="muted small">A Python function is opaque to column lineage: each column comes from its inputs as a whole, and lineage through it stops here.</p>'
    return note + table(
        ["column", "type", "computed from", "source columns"], rows, id="columns", empty=empty
    )


def _tests(data: SiteData, name: str, links: Links) -> str:
    rows = []
    for t in data.test_results(name):
        last = t["last"] or {}
        rows.append(
            [
                f"<code>{e(t['name'])}</code>",
                badge(t["severity"], "warn" if t["severity"] == "warn" else "muted"),
                status(last.get("status")) if last else '<span class="muted">not run</span>',
                number(last.get("failures")),
                when(last.get("at")),
            ]
        )
    return table(
        ["test", "severity", "last result", "failures", "when"],
        rows,
        numeric=[3],
        empty="No data tests declared (add `-- test: not_null(...)` to the header).",
    )


def _last_build(data: SiteData, name: str, model: dict[str, Any]) -> str:
    b = data.model_builds.get(name)
    built = model.get("built") or {}
    if not b and not built:
        return hint("Not built yet.")
    items = []
    if b:
        items += [
            ("status", status(b.get("status"))),
            ("action", e(b.get("action"))),
            ("rows", number(b.get("rows"))),
            ("time", f"{number(b.get('seconds'), 2)} s"),
            ("when", when(b.get("at"))),
        ]
        if b.get("error"):
            items.append(("error", f'<pre class="error">{e(b["error"])}</pre>'))
    if built:
        items += [("rows now", number(built.get("rows"))), ("built at", when(built.get("at")))]
    return '<dl class="kv">' + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _settings(model: dict[str, Any]) -> str:
    s = model.get("settings", {})
    w = model.get("window", {})
    items = [
        ("materialized", e(s.get("materialized"))),
        ("unique key", e(", ".join(s.get("unique_key") or []) or "—")),
        ("time column", e(s.get("time_column") or "—")),
        ("partition by", e(s.get("partition_by") or "—")),
        ("label model", "yes (may look ahead)" if s.get("label") else "no"),
    ]
    body = '<dl class="kv">' + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"
    if s.get("materialized") == "incremental":
        back = w.get("lookback")
        back_text = "its whole history" if back is None else f"{back} row{'s' if back != 1 else ''}"
        if w.get("continues_from_this"):
            source = "it continues from its own last rows"
        elif w.get("lookback_declared"):
            source = "declared"
        else:
            source = "derived from the SQL" if model["kind"] == "sql" else "the default for a Python model"
        ahead = w.get("lookahead_from") or (
            "unbounded" if w.get("lookahead") is None else str(w.get("lookahead"))
        )
        body += (
            f'<p class="window">An incremental refresh re-reads <strong>{e(back_text)}</strong> per partition'
            f" ({e(source)}) and looks ahead <strong>{e(ahead)}</strong> row(s).</p>"
        )
    return body


def _neighbours(model: dict[str, Any], links: Links) -> str:
    ups = [*model.get("sources", []), *model.get("upstream", [])]
    up = "".join(f"<li>{links.relation_link(u)}</li>" for u in ups) or "<li>—</li>"
    down = "".join(f"<li>{links.relation_link(d)}</li>" for d in model.get("downstream", [])) or "<li>—</li>"
    return (
        f'<dl class="kv"><dt>upstream</dt><dd><ul class="names">{up}</ul></dd>'
        f'<dt>downstream</dt><dd><ul class="names">{down}</ul></dd></dl>'
    )


def _code(model: dict[str, Any], links: Links) -> str:
    if model["kind"] == "sql":
        refs = {n: links.relation(n) for n in [*model.get("upstream", []), *model.get("sources", [])]}
        return f'<pre class="code sql">{highlight_sql(model.get("sql") or "", {k: v for k, v in refs.items() if v})}</pre>'
    py = model.get("python") or {}
    return f'<pre class="code python">{e(py.get("source") or "(source not found)")}</pre>'


def model_page(data: SiteData, name: str) -> str:
    links = data.links("../")
    m = data.models[name]
    notes = header_notes(m.get("sql")) if m["kind"] == "sql" else ""
    desc = m.get("description")
    about = (
        f'<p class="description">{e(desc)}</p>'
        if desc
        else '<p class="description muted">No description: add'
        " <code>-- description: …</code> to the header.</p>"
    )
    if notes:
        about += f'<p class="notes">{e(notes)}</p>'
    fps = m.get("fingerprints", {})
    fp = (
        f'<p class="muted small mono">definition {e(str(fps.get("definition"))[:12])} · code {e(str(fps.get("code"))[:12])}'
        f" · built from {e(str(fps.get('built') or '—')[:12])}</p>"
    )
    body = f"""
<p class="crumbs"><a href="../models.html">Models</a> / {e(name)}</p>
<div class="title-row"><h1>{e(name)}</h1><div class="badges">{model_badges(m)}</div>
<a class="button ghost small" href="../dag.html#{e(name)}">show in DAG</a></div>
<p class="muted mono small">{e(m.get("file"))}</p>
{about}
<div class="model-grid">
<div class="main-col">
{card("Columns", _columns(m, links), id="columns-card")}
{card("Data tests", _tests(data, name, links), id="tests")}
{card("SQL" if m["kind"] == "sql" else "Python", _code(m, links), id="code")}
</div>
<aside class="side-col">
{card("Last build", _last_build(data, name, m))}
{card("Settings", _settings(m))}
{card("Lineage", _neighbours(m, links))}
{card("Fingerprints", fp)}
</aside>
</div>
"""
    return page(data.site, active="models", title=name, body=body, root="../")


def _readers(data: SiteData, source: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """source column -> model columns computed directly from it, and -> every model column it feeds."""
    direct: dict[str, list[str]] = {}
    feeds: dict[str, list[str]] = {}
    for name, m in data.models.items():
        for c in m.get("columns", []):
            lin = c.get("lineage") or {}
            for key, out in (("direct", direct), ("sources", feeds)):
                for q in lin.get(key, []):
                    rel, _, col = q.partition(".")
                    if rel == source:
                        out.setdefault(col, []).append(f"{name}.{c['name']}")
    return direct, feeds


def source_page(data: SiteData, name: str) -> str:
    links = data.links("../")
    s = data.sources[name]
    direct, feeds = _readers(data, name)

    def cols(qualified: list[str]) -> str:
        return (
            '<span class="lineage">' + (" ".join(links.column_link(q) for q in qualified) or "—") + "</span>"
        )

    rows = [
        [
            f'<a class="anchor" id="col-{e(c["name"])}" href="#col-{e(c["name"])}"><code>{e(c["name"])}</code></a>',
            f'<code class="type">{e(c.get("type") or "?")}</code>',
            cols(direct.get(c["name"], [])),
            cols(feeds.get(c["name"], [])),
        ]
        for c in s.get("columns", [])
    ]
    used = ", ".join(links.relation_link(d) for d in s.get("downstream", [])) or "—"
    body = f"""
<p class="crumbs"><a href="../sources.html">Sources</a> / {e(name)}</p>
<div class="title-row"><h1>{e(name)}</h1><div class="badges">{badge("source", "k-source")}</div></div>
<p class="description">A relation fstore writes (or one already in the warehouse) that models read.
{number(data.relation_rows.get(name))} rows. Read by {used}.</p>
{card("Columns", table(["column", "type", "read directly by", "feeds (every model column computed from it)"], rows, id="columns", empty="Not in the warehouse yet."))}
"""
    return page(data.site, active="sources", title=name, body=body, root="../")


__all__ = ["header_notes", "model_page", "source_page"]
