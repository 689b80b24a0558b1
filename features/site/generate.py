"""``fstore docs generate``: the static site in ``target/docs/``, as a tuple of small named steps.

    load_models → refresh_manifest → read_artifacts → read_warehouse → read_training → render_pages
    → write_site

The warehouse is opened read-only (a missing one is fine: the pages say what to run). Every file is
written with :func:`features.warehouse.atomic_write`; pages of models that no longer exist are removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from features.site.context import SiteData
from features.site.html import Site, slug

if TYPE_CHECKING:
    import duckdb

    from features.config import Project
    from features.models.dag import Dag

SITE_DIR = "docs"
STATIC = Path(__file__).resolve().parent / "static"
EMBEDDING_RUNS = 10  # runs whose embedding map is embedded in the page (newest first)


@dataclass
class SiteResult:
    """What ``generate_site`` wrote."""

    path: Path
    pages: list[str]
    seconds: float


@dataclass
class GenerateContext:
    project: Project
    db: Path
    out: Path
    con: duckdb.DuckDBPyConnection | None = None
    dag: Dag | None = None
    have: frozenset[str] = frozenset()  # the warehouse's relation names
    data: SiteData | None = None
    files: dict[str, str | bytes] = field(default_factory=dict)  # path under out -> content


def load_models(ctx: GenerateContext) -> None:
    """Discover and validate the models, against the warehouse's relations when there is one."""
    from features.errors import ValidationErrors
    from features.models.dag import build_dag
    from features.models.discovery import discover

    found = discover(ctx.project)
    if ctx.db.exists():
        from features.models.state import relations
        from features.models.validate import validate
        from features.warehouse import connect

        ctx.con = connect(ctx.db, read_only=True)
        ctx.dag = validate(found, relations(ctx.con))
        return
    if found.problems:
        raise found.problems[0] if len(found.problems) == 1 else ValidationErrors(found.problems)
    ctx.dag = build_dag(found.models)


def refresh_manifest(ctx: GenerateContext) -> None:
    """Write target/manifest.json from the project as it is now (lineage reused where unchanged)."""
    from features.artifacts import write_manifest

    assert ctx.dag is not None
    write_manifest(ctx.project, ctx.dag, ctx.con)


def read_artifacts(ctx: GenerateContext) -> None:
    from features.artifacts import read_manifest, read_run_results

    manifest = read_manifest(ctx.project)
    assert manifest is not None
    site = Site(
        project=manifest["project"]["name"],
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=manifest.get("fstore_version", ""),
    )
    ctx.data = SiteData(site=site, manifest=manifest, run_results=read_run_results(ctx.project))


def read_warehouse(ctx: GenerateContext) -> None:
    """Build log, test results, row counts, coverage and the asset-ID mapping (read-only)."""
    import features.site.collect as collect
    from features.site.coverage import symbol_coverage

    assert ctx.data is not None
    if ctx.con is None:
        return
    d = ctx.data
    d.warehouse = True
    ctx.have = have = collect.relation_names(ctx.con)
    d.builds = collect.build_history(ctx.con, have)
    d.model_builds = collect.last_model_builds(ctx.con, have)
    d.tests = collect.last_test_results(ctx.con, have)
    d.relation_rows = collect.relation_rows(ctx.con, [*d.models, *d.sources])
    d.coverage = [{k: collect.plain(v) for k, v in c.items()} for c in symbol_coverage(ctx.con, ctx.project)]
    d.mapping = collect.mapping(ctx.con, have)


def read_training(ctx: GenerateContext) -> None:
    """Training runs with their metrics, and the embedding map of the newest runs that logged one."""
    import features.site.collect as collect
    from features.site.embeddings import embedding_map

    assert ctx.data is not None
    if ctx.con is None:
        return
    ctx.data.runs = collect.training_runs(ctx.con, ctx.have)
    for run in ctx.data.runs:
        if len(ctx.data.embeddings) >= EMBEDDING_RUNS:
            break
        found = embedding_map(ctx.con, run, have=ctx.have)
        if found is not None:
            ctx.data.embeddings[run["run_id"]] = found


def render_pages(ctx: GenerateContext) -> None:
    from features.site.layout import layout
    from features.site.pages_data import assets_page, embeddings_page, runs_page, sources_page
    from features.site.pages_model import model_page, source_page
    from features.site.pages_models import dag_nodes, dag_page, models_page, overview_page

    d = ctx.data
    assert d is not None
    nodes = dag_nodes(d)
    edges = [(u, n) for n, info in nodes.items() for u in info["up"]]
    lay = layout(list(nodes), edges)
    ctx.files["index.html"] = overview_page(d)
    ctx.files["dag.html"] = dag_page(d, lay, nodes)
    ctx.files["models.html"] = models_page(d)
    ctx.files["sources.html"] = sources_page(d)
    ctx.files["assets.html"] = assets_page(d)
    ctx.files["runs.html"] = runs_page(d)
    ctx.files["embeddings.html"] = embeddings_page(d)
    for name in d.models:
        ctx.files[f"models/{slug(name)}.html"] = model_page(d, name)
    for name in d.sources:
        ctx.files[f"sources/{slug(name)}.html"] = source_page(d, name)
    for asset in sorted(STATIC.iterdir()):
        if asset.is_file():
            ctx.files[f"static/{asset.name}"] = asset.read_bytes()


def write_site(ctx: GenerateContext) -> None:
    """Write every file atomically, then remove pages this generation did not write."""
    from features.warehouse import atomic_write

    for rel, content in ctx.files.items():
        target = ctx.out / rel
        data = content.encode("utf-8") if isinstance(content, str) else content
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            continue  # unchanged: no write, no fsync (regenerating an unchanged project writes little)
        atomic_write(target, data)
    for folder in ("models", "sources", "static"):
        for old in (ctx.out / folder).glob("*") if (ctx.out / folder).is_dir() else []:
            if old.is_file() and f"{folder}/{old.name}" not in ctx.files:
                old.unlink()


STEPS: tuple[Callable[[GenerateContext], None], ...] = (
    load_models,
    refresh_manifest,
    read_artifacts,
    read_warehouse,
    read_training,
    render_pages,
    write_site,
)


def site_dir(project: Project) -> Path:
    return project.path(project.paths.target) / SITE_DIR


def generate_site(project: Project, *, db: str | Path | None = None, out: Path | None = None) -> SiteResult:
    """Generate the site (see the module docstring); return where it is and which pages it wrote."""
    start = time.perf_counter()
    ctx = GenerateContext(
        project=project,
        db=Path(db) if db is not None else project.warehouse_path,
        out=out or site_dir(project),
    )
    try:
        for step in STEPS:
            step(ctx)
    finally:
        if ctx.con is not None:
            ctx.con.close()
    pages = sorted(p for p in ctx.files if p.endswith(".html"))
    return SiteResult(ctx.out, pages, time.perf_counter() - start)


__all__ = ["STEPS", "SiteResult", "generate_site", "site_dir"]
