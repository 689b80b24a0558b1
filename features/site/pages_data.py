"""Pages about the data and what was learned: sources and coverage, asset IDs, training runs, embeddings."""

from __future__ import annotations

import json
from typing import Any

from features.site.context import SiteData
from features.site.html import badge, card, e, hint, number, page, stat, status, table, when
from features.site.pages_models import STALE_DAYS

# --------------------------------------------------------------------------------------- sources


def _strip(first: str | None, last: str | None, lo: str, span: float) -> str:
    """A bar placing [first, last] within the project's whole date range."""
    if not first or not last or span <= 0:
        return '<span class="strip"></span>'
    from datetime import date

    a = (date.fromisoformat(first[:10]) - date.fromisoformat(lo)).days / span * 100
    b = (date.fromisoformat(last[:10]) - date.fromisoformat(lo)).days / span * 100
    return f'<span class="strip" title="{e(first)} → {e(last)}"><i style="left:{a:.2f}%;width:{max(b - a, 0.6):.2f}%"></i></span>'


def _coverage_state(c: dict[str, Any]) -> str:
    if c.get("asset_id") is None:
        return "outside"
    if not c.get("has_data"):
        return "missing"
    if (c.get("stale_days") or 0) > STALE_DAYS:
        return "stale"
    return "ok"


def _coverage_rows(data: SiteData) -> tuple[str, dict[str, int]]:
    from datetime import date

    cov = data.coverage
    firsts = [c["first_date"][:10] for c in cov if c.get("first_date")]
    lasts = [c["last_date"][:10] for c in cov if c.get("last_date")]
    lo, hi = (min(firsts), max(lasts)) if firsts and lasts else ("", "")
    span = (date.fromisoformat(hi) - date.fromisoformat(lo)).days if lo else 0
    counts: dict[str, int] = {}
    out = []
    for c in cov:
        state = _coverage_state(c)
        counts[state] = counts.get(state, 0) + 1
        reasons = c.get("rejected_reasons") or {}
        why = ", ".join(f"{n:,} {r}" for r, n in sorted(reasons.items()))
        rejected = (
            number(c.get("rejected_rows")) if c.get("rejected_rows") else '<span class="muted">0</span>'
        )
        label = {
            "ok": "",
            "stale": badge(f"{c.get('stale_days')} d stale", "warn"),
            "missing": badge("no data", "bad"),
            "outside": badge("not in universe", "warn"),
        }[state]
        out.append(
            f'<tr data-state="{state}"{" data-rejected" if c.get("rejected_rows") else ""}>'
            f'<td><a href="assets.html#{e(c["symbol"])}"><strong>{e(c["symbol"])}</strong></a> {label}</td>'
            f'<td class="num">{number(c.get("asset_id"))}</td><td>{e(c.get("category") or "—")}</td>'
            f"<td>{e(c.get('first_date') or '—')}</td><td>{_strip(c.get('first_date'), c.get('last_date'), lo, span)}</td>"
            f'<td>{e(c.get("last_date") or "—")}</td><td class="num">{number(c.get("rows"))}</td>'
            f'<td class="num" title="{e(why)}">{rejected}{f"<div class=small>{e(why)}</div>" if why else ""}</td></tr>'
        )
    head = "".join(
        f"<th{' class=num' if i in (1, 6, 7) else ''}>{h}</th>"
        for i, h in enumerate(
            ["symbol", "ID", "category", "first", f"coverage {e(lo)} → {e(hi)}", "last", "rows", "rejected"]
        )
    )
    html = f'<div class="table-wrap"><table class="grid coverage" id="coverage"><thead><tr>{head}</tr></thead><tbody>{"".join(out)}</tbody></table></div>'
    return html, counts


def sources_page(data: SiteData) -> str:
    links = data.links("")
    cards = "".join(
        f'<a class="source-card" href="{links.source(n)}"><strong>{e(n)}</strong>'
        f"<span>{number(data.relation_rows.get(n))} rows · {len(s.get('columns', []))} columns</span>"
        f'<span class="muted">read by {e(", ".join(s.get("downstream", [])) or "—")}</span></a>'
        for n, s in data.sources.items()
    )
    body = f'<h1>Sources and coverage</h1><div class="source-cards">{cards}</div>'
    if not data.coverage:
        body += card(
            "Coverage",
            hint(
                "No prices yet: run <code>fstore build</code> (prices from <code>data/raw</code> or the synthetic market)."
            ),
        )
        return page(data.site, active="sources", title="Sources", body=body)
    rows, counts = _coverage_rows(data)
    rejected = sum(c.get("rejected_rows") or 0 for c in data.coverage)
    reasons: dict[str, int] = {}
    for c in data.coverage:
        for r, n in (c.get("rejected_reasons") or {}).items():
            reasons[r] = reasons.get(r, 0) + n
    why = ", ".join(f"{n:,} {r}" for r, n in sorted(reasons.items(), key=lambda x: -x[1]))
    stats = "".join(
        [
            stat("symbols with prices", number(sum(1 for c in data.coverage if c.get("has_data")))),
            stat("universe symbols with no data", number(counts.get("missing", 0))),
            stat(f"stale (> {STALE_DAYS} days behind)", number(counts.get("stale", 0))),
            stat("rejected rows", number(rejected), e(why)),
            stat("priced, not in the universe", number(counts.get("outside", 0))),
        ]
    )
    filters = "".join(
        f'<button data-state="{k}"{" aria-pressed=true" if k == "all" else ""}>{label}</button>'
        for k, label in (
            ("all", "all"),
            ("stale", "stale"),
            ("missing", "no data"),
            ("rejected", "rejected rows"),
            ("outside", "not in universe"),
        )
    )
    body += f"""<div class="stats">{stats}</div>
<section class="card"><h2>Coverage per symbol</h2>
<div class="toolbar"><input class="filter" type="search" placeholder="Filter symbols…" data-filter="coverage" aria-label="Filter symbols">
<span class="segmented" id="coverage-state">{filters}</span></div>
{rows}</section>"""
    return page(data.site, active="sources", title="Sources", body=body, wide=True)


# --------------------------------------------------------------------------------------- asset IDs


def _timeline(versions: list[dict[str, Any]]) -> str:
    """Mapping versions as points on a line, evenly spaced in order, with what each changed."""
    if not versions:
        return hint("No mapping versions yet.")
    step, pad, width = 150, 60, max(400, 120 + 150 * (len(versions) - 1))
    parts = [f'<line x1="{pad - 30}" y1="40" x2="{width - pad + 30}" y2="40" class="axis"/>']
    for i, v in enumerate(versions):
        x = pad + i * step
        change = (
            f"+{v.get('added') or 0} −{v.get('retired') or 0}"
            if v.get("kind") != "initial"
            else f"{v.get('total_symbols')} symbols"
        )
        parts.append(
            f'<g class="version k-{e(v.get("kind"))}" transform="translate({x},40)"><title>{e(v.get("version"))} · {e(v.get("kind"))}'
            f' · {e(v.get("created_at"))}</title><circle r="8"/><text y="-16" class="v">{e(v.get("version"))}</text>'
            f'<text y="28">{e(v.get("kind"))}</text><text y="44" class="muted">{e(change)}</text>'
            f'<text y="60" class="muted">{e(str(v.get("created_at") or "")[:10])}</text></g>'
        )
    return f'<div class="timeline-wrap"><svg class="timeline" width="{width}" height="112" viewBox="0 -10 {width} 112">{"".join(parts)}</svg></div>'


def assets_page(data: SiteData) -> str:
    symbols = data.mapping.get("symbols", [])
    if not symbols:
        body = "<h1>Asset IDs</h1>" + hint(
            "No asset-ID mapping in the warehouse yet: run <code>fstore build</code>."
        )
        return page(data.site, active="assets", title="Asset IDs", body=body)
    history: dict[str, list[dict[str, Any]]] = {}
    for h in data.mapping.get("history", []):
        history.setdefault(h["symbol"], []).append(h)
    rows = [
        [
            f'<button class="link sym" data-symbol="{e(s["symbol"])}">{e(s["symbol"])}</button>',
            number(s["asset_id"]),
            e(s.get("category")),
            e(s.get("subcategory")),
            badge("active", "ok") if s.get("is_active") else badge("retired", "muted"),
            e(s.get("first_version")),
            e(s.get("retired_version") or "—"),
            e(", ".join(s.get("indices") or [])),
        ]
        for s in symbols
    ]
    versions = data.mapping.get("versions", [])
    body = f"""<h1>Asset IDs</h1>
<p class="lede">{len(symbols)} symbols have an ID for <code>nn.Embedding</code>; IDs are never changed or reused.
Current mapping version <strong>{e(versions[-1]["version"]) if versions else "—"}</strong>.</p>
{card("Mapping versions", _timeline(versions))}
<div class="assets-grid">
<section class="card"><h2>Mapping</h2>
<div class="toolbar"><input id="asset-search" class="filter" type="search" placeholder="Search a symbol, ID or category…" data-filter="mapping" aria-label="Search the mapping">
<span class="muted small" id="asset-count"></span></div>
{table(["symbol", "ID", "category", "sub-category", "state", "since", "retired in", "indices"], rows, id="mapping", numeric=[1])}
</section>
<aside class="card history" id="history"><h2>Symbol history</h2><p class="muted">Pick a symbol to see every version of its entry.</p></aside>
</div>"""
    return page(
        data.site, active="assets", title="Asset IDs", body=body, data={"history": history}, wide=True
    )


# --------------------------------------------------------------------------------------- runs


def _run_config(run: dict[str, Any]) -> dict[str, Any]:
    try:
        cfg = json.loads(run.get("config") or "{}")
    except ValueError:
        return {}
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            flat[prefix] = value

    walk("", cfg)
    return flat


def runs_page(data: SiteData) -> str:
    if not data.runs:
        body = "<h1>Training runs</h1>" + hint(
            "No training runs yet. Train one with <code>fstore train</code>,"
            " then run <code>fstore docs generate</code> again."
        )
        return page(data.site, active="runs", title="Runs", body=body)
    rows = [
        [
            f'<input type="checkbox" class="cmp" value="{e(r["run_id"])}" aria-label="compare {e(r["run_id"])}"{" checked" if i == 0 else ""}>',
            f"<code>{e(r['run_id'])}</code>",
            status(r.get("status")),
            when(r.get("started_at")),
            f"{number(r.get('epochs_done'))} / best {number(r.get('best_epoch'))}",
            number(r.get("test_loss"), 4),
            number(r.get("test_auc"), 3),
            number(r.get("test_ic"), 3),
            e(f"{r.get('encoder')}·{r.get('combine')}·emb {r.get('embedding_dim')}"),
            number(r.get("num_params")),
        ]
        for i, r in enumerate(data.runs)
    ]
    payload = [
        {
            k: r.get(k)
            for k in (
                "run_id",
                "status",
                "started_at",
                "best_epoch",
                "test_loss",
                "test_auc",
                "test_ic",
                "test_accuracy",
            )
        }
        | {"metrics": r["metrics"], "config": _run_config(r)}
        for r in data.runs
    ]
    body = f"""<h1>Training runs</h1>
<section class="card"><h2>Runs</h2><p class="muted small">Tick one run to see its curves, two to compare them.</p>
{table(["", "run", "status", "started", "epochs", "test loss", "test AUC", "test IC", "model", "params"], rows, id="runs", numeric=[5, 6, 7, 9])}
</section>
<section class="card" id="curves"><h2>Curves per epoch <span class="muted small" id="curves-runs"></span></h2>
<div class="charts"><figure id="chart-loss"></figure><figure id="chart-auc"></figure><figure id="chart-ic"></figure><figure id="chart-accuracy"></figure></div>
</section>
<section class="card" id="compare"><h2>Compared</h2><div id="compare-body"><p class="muted">Tick a second run to compare.</p></div></section>"""
    return page(data.site, active="runs", title="Runs", body=body, data={"runs": payload})


# --------------------------------------------------------------------------------------- embeddings


def embeddings_page(data: SiteData) -> str:
    if not data.embeddings:
        body = "<h1>Embeddings</h1>" + hint(
            "No embeddings logged yet: train a run with <code>fstore train</code>, then run"
            " <code>fstore docs generate</code> again."
        )
        return page(data.site, active="embeddings", title="Embeddings", body=body)
    options = "".join(
        f'<option value="{e(r)}">{e(r)} (epoch {m["epoch"]})</option>' for r, m in data.embeddings.items()
    )
    body = f"""<h1>Embeddings</h1>
<p class="lede">Each asset's learned vector, projected on its first two principal components. Similar assets
should sit together; click one to list its nearest neighbours by cosine similarity in the full space.</p>
<div class="toolbar">
<label>run <select id="emb-run">{options}</select></label>
<label>colour by <select id="emb-colour"><option value="category">category</option><option value="subcategory">sub-category</option></select></label>
<input id="emb-search" type="search" placeholder="Find an asset…" aria-label="Find an asset">
<span class="muted small" id="emb-info"></span>
</div>
<div class="emb-grid">
<section class="card"><figure id="emb-map" class="emb-map"></figure><div id="emb-legend" class="legend"></div></section>
<aside class="card" id="emb-side"><h2>Nearest neighbours</h2><div id="emb-neighbours"><p class="muted">Click an asset on the map.</p></div></aside>
</div>"""
    return page(
        data.site,
        active="embeddings",
        title="Embeddings",
        body=body,
        data={"runs": data.embeddings},
        wide=True,
    )


__all__ = ["assets_page", "embeddings_page", "runs_page", "sources_page"]
