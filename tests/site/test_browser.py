"""The site in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Every page loads from ``file://`` with no console error and no failed or remote request; a person's
path through it works (DAG → model → lineage → source column, a symbol search in the mapping, a run's
curves, the embedding map and a neighbour list); a 200-model DAG loads in under a second with labels
readable when zoomed. Screenshots go to ``target/site-screenshots/`` of this repository.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _site_kit import REPO, generated_project

from features.config import load_project
from features.site import generate_site
from features.warehouse import connect

CHROMIUM = Path(os.environ.get("FSTORE_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = REPO / "target" / "site-screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason=f"no Chromium at {CHROMIUM}: install Debian's `chromium` (apt-get install -y chromium), as .ci/run does",
    ),
]


class Watch:
    """Console errors, page errors, failed requests and any request that is not file:// or data:."""

    def __init__(self, page) -> None:
        self.problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        page.on(
            "request",
            lambda r: (
                r.url.split(":", 1)[0] not in ("file", "data") and self.problems.append(f"remote: {r.url}")
            ),
        )

    def clean(self) -> list[str]:
        out, self.problems[:] = list(self.problems), []
        return out


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    pg = context.new_page()
    pg.watch = Watch(pg)
    yield pg
    context.close()


def shot(page, name: str, full: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def visit(page, path: Path) -> None:
    page.goto(path.as_uri(), wait_until="load")


def test_every_page_loads_cleanly(page, trained_site: Path) -> None:
    files = sorted(trained_site.rglob("*.html"))
    assert len(files) >= 15
    for f in files:
        visit(page, f)
        page.wait_for_timeout(50)
        assert page.watch.clean() == [], f
        assert page.title().endswith("fstore docs")
    for name in ("index", "models", "sources", "assets", "runs", "embeddings"):
        visit(page, trained_site / f"{name}.html")
        shot(page, name, full=name in ("index", "runs"))
    visit(page, trained_site / "models" / "training_set.html")
    shot(page, "model-training_set", full=True)
    assert page.watch.clean() == []


def test_from_the_dag_to_a_model_and_along_its_lineage_to_a_source_column(page, trained_site: Path) -> None:
    visit(page, trained_site / "dag.html")
    page.wait_for_selector('#dag[data-ready="1"]')
    shot(page, "dag")
    page.hover('.node[data-id="price_features"] rect.box')
    lit = page.eval_on_selector_all(".node.lit", "ns => ns.map(n => n.dataset.id).sort()")
    assert lit == sorted(
        ["price_features", "stg_prices", "raw_prices", "dim_symbol", "cs_features", "training_set"]
    )
    assert page.locator(".edge.lit").count() >= 5
    shot(page, "dag-highlight")
    page.select_option("#dag-tag", "features")
    dimmed = page.eval_on_selector_all(".node.dim", "ns => ns.map(n => n.dataset.id).sort()")
    assert "price_features" not in dimmed and "training_set" in dimmed and "raw_prices" in dimmed
    page.select_option("#dag-tag", "")
    page.mouse.move(5, 5)

    page.click('.node[data-id="training_set"] text')
    page.wait_for_url("**/models/training_set.html")
    assert page.locator("h1").inner_text() == "training_set"
    row = page.locator("tr", has=page.locator("#col-ret_1d"))
    row.locator('a.colref[href$="price_features.html#col-ret_1d"]').click()
    page.wait_for_url("**/models/price_features.html#col-ret_1d")
    row = page.locator("tr", has=page.locator("#col-ret_1d"))
    row.locator('a.colref[href$="sources/raw_prices.html#col-close"]').first.click()
    page.wait_for_url("**/sources/raw_prices.html#col-close")
    assert page.locator("#col-close").is_visible()
    assert page.eval_on_selector(":target", "n => n.id") == "col-close"
    shot(page, "source-raw_prices")
    assert page.watch.clean() == []


def test_searching_a_symbol_in_the_mapping_shows_its_history(
    page, trained_project: Path, trained_site: Path
) -> None:
    con = connect(trained_project / "data" / "warehouse.duckdb", read_only=True)
    asset_id, version = con.execute(
        "select asset_id, first_version from dim_symbol where symbol = 'ABBV'"
    ).fetchone()
    con.close()
    visit(page, trained_site / "assets.html")
    page.fill("#asset-search", "ABBV")
    visible = page.locator("#mapping tbody tr:not(.hidden)")
    assert visible.count() == 1 and visible.first.locator("button.sym").inner_text() == "ABBV"
    page.press("#asset-search", "Enter")
    history = page.locator("#history")
    assert f"asset ID {asset_id}" in history.inner_text()
    assert page.locator("#history-table tbody tr").first.inner_text().startswith(f"{version} →")
    shot(page, "assets-search")
    assert page.watch.clean() == []


def test_a_runs_curves_and_two_runs_compared(page, trained_site: Path) -> None:
    visit(page, trained_site / "runs.html")
    assert page.locator("#chart-loss path.series").count() == 2  # train and valid of the newest run
    assert page.locator("#chart-loss circle.dot").count() == 4  # two epochs each
    second = page.locator("#runs input.cmp").nth(1)
    second.check()
    assert page.locator("#chart-loss path.series").count() == 4
    ids = page.eval_on_selector_all("#runs input.cmp", "cs => cs.map(c => c.value)")
    compare = page.locator("#compare-body").text_content() or ""
    assert ids[0] in compare and ids[1] in compare and "lr" in compare
    shot(page, "runs-compared", full=True)
    assert page.watch.clean() == []


def test_the_embedding_map_and_a_neighbour_list(page, trained_project: Path, trained_site: Path) -> None:
    visit(page, trained_site / "embeddings.html")
    run = page.eval_on_selector("#emb-run", "s => s.value")
    con = connect(trained_project / "data" / "warehouse.duckdb", read_only=True)
    epoch, n = con.execute(
        "select max(epoch), count(distinct asset_id) from train_embeddings where run_id = ?", [run]
    ).fetchone()
    nearest = con.execute(
        "select b.symbol from train_embeddings a join train_embeddings b using (run_id, epoch)"
        " where run_id = ? and epoch = ? and a.symbol = 'AAPL' and b.symbol <> 'AAPL'"
        " order by array_cosine_similarity(a.vector, b.vector) desc limit 3",
        [run, epoch],
    ).fetchall()
    con.close()
    assert page.locator("#emb-map circle.pt").count() == n
    page.hover('#emb-map circle.pt[data-symbol="MSFT"]')
    assert "MSFT" in page.locator(".tooltip").inner_text()
    page.fill("#emb-search", "AAPL")  # a point under another is found by name
    page.press("#emb-search", "Enter")
    items = page.locator("#nb-list li")
    assert items.count() == 10
    assert [items.nth(i).locator("button").inner_text() for i in range(3)] == [r[0] for r in nearest]
    assert page.locator("#emb-side .sel-head strong").inner_text() == "AAPL"
    on_top = page.evaluate(  # a point nothing covers, clicked where it is drawn
        """() => [...document.querySelectorAll('#emb-map circle.pt')].map(c => {
             const r = c.getBoundingClientRect();
             return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === c ? c.dataset.symbol : null;
           }).filter(Boolean)[0]"""
    )
    page.click(f'#emb-map circle.pt[data-symbol="{on_top}"]')
    assert page.locator("#emb-side .sel-head strong").inner_text() == on_top
    first = page.locator("#nb-list li button").first
    picked = first.inner_text()
    first.click()
    assert page.locator("#emb-side .sel-head strong").inner_text() == picked
    page.select_option("#emb-colour", "subcategory")
    assert page.locator("#emb-legend .legend-item").count() > 5
    shot(page, "embeddings-neighbours")
    assert page.watch.clean() == []


def test_a_200_model_dag_loads_within_a_second_and_reads_when_zoomed(page, tmp_path: Path) -> None:
    project = load_project(generated_project(tmp_path / "big", 200))
    site = generate_site(project).path
    visit(page, site / "dag.html")
    page.wait_for_selector('#dag[data-ready="1"]')
    load_ms = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; }"
    )
    print(f"200-model DAG page: load event after {load_ms:.0f} ms")
    assert load_ms < 1000
    assert page.locator(".node").count() == 200 + 2  # the models and their sources
    label = '.node[data-id="g000"] text'
    initial = page.eval_on_selector(label, "t => t.getBoundingClientRect().height")
    assert initial >= 9.5  # the first view is at a readable zoom, not the whole graph squeezed in
    shot(page, "dag-200")
    page.click("#zoom-in")
    page.click("#zoom-in")
    zoomed = page.eval_on_selector(label, "t => t.getBoundingClientRect().height")
    assert zoomed >= 1.6 * initial and zoomed >= 15
    page.click("#zoom-fit")
    page.fill("#dag-search", "g150")
    page.press("#dag-search", "Enter")
    box = page.eval_on_selector('.node[data-id="g150"] rect.box', "r => r.getBoundingClientRect().toJSON()")
    view = page.eval_on_selector("#dag", "r => r.getBoundingClientRect().toJSON()")
    assert view["left"] < box["left"] < view["right"] and view["top"] < box["top"] < view["bottom"]
    shot(page, "dag-200-found")
    assert page.watch.clean() == []
