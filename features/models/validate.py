"""Validate a whole project before anything runs, and report every problem at once.

Checks: discovery problems (syntax, headers, duplicates), references to unknown relations (with "did
you mean"), Python parameters that name no relation, cycles, incremental settings (and incremental SQL
no refresh can follow exactly, found by :mod:`features.models.lookback`), and the leakage lint
(look-aheads in models not marked ``-- label: true``).
"""

from __future__ import annotations

from collections.abc import Iterable

from features.errors import FstoreError, ModelError, ValidationErrors
from features.models.dag import Dag, build_dag, cycle_error, did_you_mean, find_cycle
from features.models.discovery import Discovery, Model


def _reference_problems(model: Model, known: set[str]) -> list[FstoreError]:
    problems: list[FstoreError] = []
    for ref in model.refs:
        if ref.name in known:
            continue
        hint = did_you_mean(ref.name, known - {model.name})
        if model.kind == "python":
            message = f"python model `{model.name}`: parameter `{ref.name}` names no model or warehouse relation{hint}"
        else:
            message = f"unknown model or relation `{ref.name}`{hint}"
        problems.append(
            ModelError(message, file=model.file, line=ref.line, column=ref.column, model=model.name)
        )
    return problems


def _settings_problems(model: Model) -> list[FstoreError]:
    h = model.header
    line = h.lines.get("materialized") or model.python_line or None
    if h.materialized == "incremental" and not h.time_column:
        return [
            ModelError(
                f"incremental model `{model.name}` needs a time_column (e.g. `-- time_column: ts`)",
                file=model.file,
                line=line,
                model=model.name,
            )
        ]
    if h.materialized == "incremental" and model.refresh_problem:
        return [
            ModelError(
                f"incremental model `{model.name}` cannot be refreshed exactly: {model.refresh_problem}",
                file=model.file,
                line=line,
                model=model.name,
            )
        ]
    return []


def _leak_problems(model: Model) -> list[FstoreError]:
    if model.header.label:
        return []
    return [
        ModelError(
            f"possible look-ahead leakage in `{model.name}`: {message}; mark the model `-- label: true` "
            "if it computes labels",
            file=model.file,
            line=line,
            model=model.name,
        )
        for line, message in model.leaks
    ]


def validate(discovery: Discovery, relations: Iterable[str]) -> Dag:
    """Check everything; return the DAG or raise ValidationErrors listing every problem."""
    models = discovery.models
    known = set(models) | set(relations)
    problems: list[FstoreError] = list(discovery.problems)
    for name in sorted(models):
        model = models[name]
        problems += _reference_problems(model, known)
        problems += _settings_problems(model)
        problems += _leak_problems(model)
    dag = build_dag(models)
    cycle = find_cycle(dag.upstream)
    if cycle:
        problems.append(cycle_error(cycle, models))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ValidationErrors(problems)
    return dag


__all__ = ["validate"]
