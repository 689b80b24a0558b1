"""Fixtures for the docs-site tests: the default project built and trained briefly once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from _site_kit import MODEL, TRAIN, build_and_record, default_project


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, built, with two short training runs (different seeds and learning rates)."""
    import torch

    from training.train import run_training

    torch.set_num_threads(1)
    root = default_project(tmp_path_factory.mktemp("site") / "default")
    project, _ = build_and_record(root)
    run_training(project, epochs=2, train_overrides=TRAIN, model_overrides=MODEL)
    run_training(project, epochs=2, train_overrides={**TRAIN, "seed": 1, "lr": 0.01}, model_overrides=MODEL)
    return root


@pytest.fixture(scope="session")
def trained_site(trained_project: Path) -> Path:
    """The site of the trained default project (target/docs)."""
    from features.config import load_project
    from features.site import generate_site

    return generate_site(load_project(trained_project)).path
