"""One exception tree for everything fstore raises on purpose.

    FstoreError                      base: the CLI prints str(err) and exits with err.exit_code
    ├── ConfigError                  config/project.toml or a CLI argument is wrong
    ├── SymbolsConfigError           config/symbols.json is missing, malformed or inconsistent
    ├── MappingError                 config/asset_id_mapping.json is corrupt or disagrees with the warehouse
    │   └── UnknownSymbolError       symbols with no asset ID (prices, config or API callers)
    ├── WarehouseError               the DuckDB warehouse cannot be opened or used
    │   └── WarehouseLockedError     another process holds the write lock
    ├── IngestError                  a raw price file cannot be read
    ├── ModelError                   a SQL / Python model is invalid (syntax, reference, cycle, header)
    │   └── ValidationErrors         several problems found by validation, reported together
    ├── BuildError                   one or more models failed while building
    ├── DataTestError                data tests failed
    ├── SparkError                   the Spark engine cannot run a model
    └── TrainingError                a training run cannot start or continue

Every error carries structured detail (file, line, model, symbols) next to its message so that
tests and callers can check *what* went wrong without parsing text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class FstoreError(Exception):
    """Base class. ``str(err)`` is a complete message a person can act on."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
        model: str | None = None,
        symbols: Sequence[str] = (),
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.column = column
        self.model = model
        self.symbols = tuple(symbols)
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        text = f"{where}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(FstoreError):
    """config/project.toml, another config file or a command-line argument is wrong."""

    exit_code = 2


class SymbolsConfigError(FstoreError):
    """config/symbols.json is missing, not JSON, the wrong shape or inconsistent."""


class MappingError(FstoreError):
    """config/asset_id_mapping.json is corrupt, or it and the warehouse disagree."""


class UnknownSymbolError(MappingError):
    """One or more symbols have no asset ID."""


class WarehouseError(FstoreError):
    """The DuckDB warehouse cannot be opened or used."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the warehouse's write lock."""


class IngestError(FstoreError):
    """A raw price file cannot be read or has the wrong columns."""


class ModelError(FstoreError):
    """A SQL or Python model is invalid."""


class ValidationErrors(ModelError):
    """Several problems found while validating a project, reported at once."""

    def __init__(self, errors: Sequence[FstoreError]) -> None:
        self.errors = tuple(errors)
        lines = [f"{len(self.errors)} problem(s) found; nothing was run:"]
        lines += [f"  {err}" for err in self.errors]
        super().__init__("\n".join(lines))


class BuildError(FstoreError):
    """One or more models failed to build; relations they would replace are unchanged."""


class DataTestError(FstoreError):
    """One or more data tests failed."""


class SparkError(FstoreError):
    """The Spark engine cannot run the project."""


class TrainingError(FstoreError):
    """A training run cannot start, resume or continue."""


__all__ = [
    "BuildError",
    "ConfigError",
    "DataTestError",
    "FstoreError",
    "IngestError",
    "MappingError",
    "ModelError",
    "SparkError",
    "SymbolsConfigError",
    "TrainingError",
    "UnknownSymbolError",
    "ValidationErrors",
    "WarehouseError",
    "WarehouseLockedError",
]
