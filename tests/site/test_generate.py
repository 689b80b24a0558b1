"""`fstore docs generate` on real projects: every page written, every link resolves, nothing refers to
the network, and what the pages show agrees with the warehouse read independently here."""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from _site_kit import default_project

from features.choices import SPLITS
from features.config import load_project
from features.models.discovery import discover
from features.site import generate_site
from features.site.embeddings import embedding_map
from features.warehouse import connect


class Page(HTMLParser):
    """Every link, script source and element id of one HTML file, plus the embedded page data."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self._in_data = False
        self.data_text = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.links += [v for k, v in attrs if k in ("href", "src") and v]
        if a.get("id"):
            self.ids.add(a["id"] or "")
        self._in_data = tag == "script" and a.get("id") == "page-data"

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data_text += data

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False

    @property
    def data(self):
        return json.loads(self.data_text)


def pages(site: Path) -> dict[str, Page]:
    return {str(p.relative_to(site)): Page(p.read_text()) for p in sorted(site.rglob("*.html"))}


def query(root: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = connect(root / "data" / "warehouse.duckdb", read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_every_page_is_written_and_every_link_resolves(trained_project: Path, trained_site: Path) -> None:
    project = load_project(trained_project)
    models = discover(project).models
    found = pages(trained_site)
    expected = {
        "index.html",
        "dag.html",
        "models.html",
        "sources.html",
        "assets.html",
        "runs.html",
        "embeddings.html",
    }
    assert expected | {f"models/{m}.html" for m in models} | {
        "sources/raw_prices.html",
        "sources/dim_symbol.html",
        "sources/feature_params.html",
    } == set(found)
    checked = 0
    for name, page in found.items():
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme == "data":
                continue
            assert not parts.scheme and not parts.netloc, (name, link)
            target = (trained_site / name).parent / unquote(parts.path) if parts.path else trained_site / name
            assert target.resolve().is_file(), (name, link)
            frag = unquote(parts.fragment)
            if frag:
                other = found[str(target.resolve().relative_to(trained_site.resolve()))]
                text = target.read_text()
                assert frag in other.ids or f'data-symbol="{frag}"' in text or f'data-id="{frag}"' in text, (
                    name,
                    link,
                )
            checked += 1
    assert checked > 300


def test_nothing_refers_to_the_network(trained_site: Path) -> None:
    remote = re.compile(
        r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", re.I
    )
    for path in trained_site.rglob("*"):
        if path.suffix in (".html", ".css", ".js"):
            text = path.read_text()
            assert not remote.search(text), path
            assert "fetch(" not in text and "XMLHttpRequest" not in text, path


def test_model_pages_show_what_the_warehouse_and_files_hold(
    trained_project: Path, trained_site: Path
) -> None:
    project = load_project(trained_project)
    for name, model in discover(project).models.items():
        text = (trained_site / "models" / f"{name}.html").read_text()
        if model.header.description:
            assert html.escape(model.header.description) in text, name
        catalog = query(
            trained_project,
            "select column_name, data_type from information_schema.columns where table_name = ? order by ordinal_position",
            [name],
        )
        assert catalog, name
        for column, dtype in catalog:
            assert re.search(
                rf'id="col-{re.escape(column)}".*?<code class="type">{re.escape(dtype)}</code>', text, re.S
            ), (
                name,
                column,
            )
        for test in model.tests:
            assert html.escape(test.name) in text
        rows = query(
            trained_project, "select rows from build_models where model = ? and status = 'success'", [name]
        )
        if rows and rows[0][0] is not None:
            assert f"{rows[0][0]:,}" in text


def test_runs_page_embeds_every_logged_metric(trained_project: Path, trained_site: Path) -> None:
    data = Page((trained_site / "runs.html").read_text()).data
    logged = query(
        trained_project, "select run_id, epoch, split, loss from train_metrics order by run_id, epoch, split"
    )
    embedded = sorted(
        (r["run_id"], m["epoch"], m["split"], m["loss"]) for r in data["runs"] for m in r["metrics"]
    )
    assert embedded == [tuple(r) for r in logged]
    assert len(data["runs"]) == 2


def test_embedding_map_is_a_pca_and_neighbours_are_by_cosine(
    trained_project: Path, trained_site: Path
) -> None:
    data = Page((trained_site / "embeddings.html").read_text()).data
    assert len(data["runs"]) == 2
    for run_id, emb in data["runs"].items():
        rows = query(
            trained_project,
            "select asset_id, dim, vector from train_embeddings where run_id = ? and epoch = ? order by asset_id",
            [run_id, emb["epoch"]],
        )
        vectors = np.array([r[2][: r[1]] for r in rows], dtype=np.float64)
        centred = vectors - vectors.mean(axis=0)
        values, axes = np.linalg.eigh(np.cov(centred, rowvar=False))  # eigen-decomposition, not an SVD
        ref = centred @ axes[:, ::-1][:, :2]
        got = np.array([[p["x"], p["y"]] for p in emb["points"]])
        for k in range(2):
            sign = np.sign(ref[:, k] @ got[:, k])
            assert np.allclose(got[:, k], sign * ref[:, k], atol=2e-5)
        assert emb["explained"][0] == pytest.approx(values[-1] / values.sum(), abs=1e-4)
        cos = query(
            trained_project,
            "select a.asset_id, list(array_cosine_similarity(a.vector, b.vector) order by"
            " array_cosine_similarity(a.vector, b.vector) desc, b.asset_id)[1:10]"
            " from train_embeddings a join train_embeddings b using (run_id, epoch)"
            " where a.asset_id <> b.asset_id and run_id = ? and epoch = ? group by a.asset_id",
            [run_id, emb["epoch"]],
        )
        by_id = {p["id"]: p for p in emb["points"]}
        for asset, sims in cos:
            assert [s for _, s in by_id[asset]["nn"]] == pytest.approx(sims, abs=2e-4)


def test_untrained_rows_are_those_whose_direction_never_moved(tmp_path: Path) -> None:
    from training.runs import ensure_tables, log_epoch, start_run  # noqa: F401 - tables only

    rng = np.random.default_rng(3)
    db = tmp_path / "w.duckdb"
    con = connect(db)
    ensure_tables(con)
    con.close()
    start = rng.normal(size=(12, 6)).astype(np.float32)
    later = start * np.float32(0.97)  # weight decay alone: a scaled copy
    moved = [1, 4, 5, 9]
    later[moved] += rng.normal(scale=0.05, size=(len(moved), 6)).astype(np.float32)
    assets = [(i, f"S{i}", "sectors", "X") for i in range(12)]
    log_epoch(db, "r1", 0, [], embedding=start, assets=assets)
    log_epoch(db, "r1", 1, [], embedding=later, previous=start, assets=assets)
    con = connect(db, read_only=True)
    try:
        emb = embedding_map(con, {"run_id": "r1", "best_epoch": 1})
    finally:
        con.close()
    assert emb is not None and emb["epoch"] == 1
    assert [p["id"] for p in emb["points"] if not p["untrained"]] == moved
    con = connect(db)
    con.executemany(  # the per-asset counts the training side logs (ensure_tables made the table)
        "insert into train_asset_samples (run_id, asset_id, symbol, split, samples) values ('r1', ?, ?, ?, ?)",
        [
            (i, f"S{i}", split, 0 if i in (2, 3) and split == "train" else 50)
            for i in range(12)
            for split in SPLITS
        ],
    )
    try:
        emb = embedding_map(con, {"run_id": "r1", "best_epoch": 1})
    finally:
        con.close()
    assert emb is not None and [p["id"] for p in emb["points"] if p["untrained"]] == [2, 3]
    assert "train_asset_samples" in emb["untrained_rule"]


def test_a_project_never_built_or_trained_gets_a_site_with_hints(tmp_path: Path) -> None:
    project = load_project(default_project(tmp_path / "fresh"))
    result = generate_site(project)
    text = {p: (result.path / p).read_text() for p in result.pages}
    assert "has not been built yet" in text["index.html"]
    assert "No training runs yet" in text["runs.html"] and "fstore train" in text["runs.html"]
    assert "No embeddings logged yet" in text["embeddings.html"]
    assert "No asset-ID mapping" in text["assets.html"]
    assert not (tmp_path / "fresh" / "data" / "warehouse.duckdb").exists()


def test_generation_reads_the_warehouse_only_and_removes_pages_of_deleted_models(
    tmp_path: Path, trained_project: Path
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(trained_project, root, ignore=shutil.ignore_patterns("runs"))
    project = load_project(root)
    db = project.warehouse_path
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    stale = root / "target" / "docs" / "models" / "gone.html"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("old")
    result = generate_site(project)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not stale.exists() and (result.path / "models" / "training_set.html").is_file()
    assert not list(result.path.rglob("*.fstore-tmp*"))


def test_text_from_the_project_cannot_break_out_of_the_page(tmp_path: Path) -> None:
    root = default_project(tmp_path / "hostile")
    sql = root / "sql" / "staging" / "stg_prices.sql"
    nasty = '</script><script>alert(1)</script> <b>bold</b> & "quoted"'
    text = sql.read_text()
    start = text.index("-- description:")
    end = text.index("\n", start)
    sql.write_text(text[:start] + f"-- description: {nasty}" + text[end:])
    site = generate_site(load_project(root)).path
    for name in ("dag.html", "models/stg_prices.html", "index.html", "models.html"):
        page = (site / name).read_text()
        assert "<script>alert(1)" not in page, name
        assert page.count("</script>") == page.count("<script"), name
    assert html.escape(nasty) in (site / "models" / "stg_prices.html").read_text()
    nodes = Page((site / "dag.html").read_text()).data["nodes"]
    assert nodes["stg_prices"]["description"] == nasty


def test_json_values_that_json_cannot_hold_become_empty() -> None:
    from features.site.collect import plain

    assert [plain(float("nan")), plain(float("inf")), plain(-float("inf")), plain(1.5)] == [
        None,
        None,
        None,
        1.5,
    ]
