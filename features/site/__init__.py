"""``fstore docs``: a static, self-contained website of a project, generated from its artifacts.

    generate_site(project)   target/docs/: overview, DAG, a page per model and source, coverage,
                             asset IDs, training runs, embeddings (features.site.generate)
    serve_site(path, port)   serve it on 127.0.0.1 (features.site.serve)

Inputs are ``target/manifest.json`` and ``target/run_results.json`` (features.artifacts) and
read-only queries of the warehouse. The pages need no network and work from ``file://``.
"""

from __future__ import annotations

from features.site.generate import SiteResult, generate_site, site_dir
from features.site.serve import make_server, serve_site

__all__ = ["SiteResult", "generate_site", "make_server", "serve_site", "site_dir"]
