"""The data every page is rendered from, gathered once by the generator (:mod:`features.site.generate`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from features.site.html import Links, Site


@dataclass
class SiteData:
    """Artifacts plus what the read-only warehouse queries returned (empty where a table is missing)."""

    site: Site
    manifest: dict[str, Any]
    run_results: dict[str, Any] | None = None
    warehouse: bool = False  # a warehouse file was there to read
    builds: list[dict[str, Any]] = field(default_factory=list)  # build_runs, newest first
    model_builds: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> last build row
    tests: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (model, test) -> latest
    relation_rows: dict[str, int] = field(default_factory=dict)
    coverage: list[dict[str, Any]] = field(default_factory=list)
    mapping: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    embeddings: dict[str, dict[str, Any]] = field(default_factory=dict)  # run_id -> embedding map

    @property
    def models(self) -> dict[str, dict[str, Any]]:
        return self.manifest.get("models", {})

    @property
    def sources(self) -> dict[str, dict[str, Any]]:
        return self.manifest.get("sources", {})

    def links(self, root: str) -> Links:
        return Links(root, frozenset(self.models), frozenset(self.sources))

    def tags(self) -> list[str]:
        return sorted({t for m in self.models.values() for t in m.get("tags", [])})

    def test_results(self, model: str) -> list[dict[str, Any]]:
        """The model's declared tests, each with its latest result (``last``: None if never run)."""
        out = []
        for t in self.models[model].get("tests", []):
            out.append({**t, "last": self.tests.get((model, t["name"]))})
        return out


__all__ = ["SiteData"]
