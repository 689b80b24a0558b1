"""Project configuration: typed, frozen defaults overridden by ``config/project.toml``.

A project is the folder that holds ``config/project.toml``. ``fstore`` finds it by walking up
from the current directory (like git or dbt) unless ``--project DIR`` names it. Every relative
path in the config resolves against that root. The TOML file holds only what differs from the
defaults below; an unknown section or key is an error naming the file and line.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.choices import (
    COMBINES,
    DEVICES,
    ENCODERS,
    MISSING_MODES,
    NORMALIZE_MODES,
    OUTPUT_FORMATS,
    SPLITS,
    TASKS,
)
from features.errors import ConfigError

CONFIG_RELPATH = Path("config") / "project.toml"


@dataclass(frozen=True)
class PathsConfig:
    """Where the project's files are; relative paths resolve against the project root."""

    warehouse: str = "data/warehouse.duckdb"  # disposable: rebuilt from the files below
    symbols: str = "config/symbols.json"  # the user's universe
    mapping: str = "config/asset_id_mapping.json"  # durable asset-ID record, kept in git
    sql: str = "sql"  # SQL models, one SELECT per file
    python_models: tuple[str, ...] = ("models",)  # folders scanned for @model Python functions
    raw: str = "data/raw"  # CSV / Parquet price files; empty -> synthetic market
    runs: str = "runs"  # training checkpoints
    snapshots: str = "data/snapshots"  # frozen training_set copies (Parquet)
    target: str = "target"  # build artifacts (lineage JSON, compiled SQL, plots)
    spark_output: str = "data/spark"  # Parquet written by the Spark engine


@dataclass(frozen=True)
class IngestConfig:
    """How price files under `[paths] raw` are read into `raw_prices`."""

    # extra column aliases, raw name (case-insensitive) -> canonical name (ts/open/high/low/close/volume/symbol)
    column_map: dict[str, str] = field(default_factory=dict)
    use_adjusted_close: bool = True  # 'Adj Close' replaces close when present (splits/dividends)
    # a row whose adjusted close is blank: "quarantine" it (never mix adjusted and raw prices), or
    # "fill" it with the adj/close ratio of its neighbours when both agree (exact between corporate actions)
    missing_adjusted_close: str = "quarantine"
    # price symbols outside the universe: "quarantine" their rows (build warns) or "error" (build stops)
    unknown_symbols: str = "quarantine"
    # file symbol (file-name stem or symbol column) -> universe symbol, e.g. { "BTC-USD" = "BTCUSD" }
    symbol_map: dict[str, str] = field(default_factory=dict)
    # strptime format of text dates, e.g. "%m/%d/%Y"; "" = detected per file (ambiguous files are an error)
    date_format: str = ""
    decimal: str = ""  # decimal mark of text numbers: "." or ","; "" = detected per file
    thousands: str = ""  # thousands separator: ",", ".", " ", "'" or "none"; "" = the other mark of `decimal`
    currency: tuple[str, ...] = ("$", "€", "£", "¥")  # signs stripped from text numbers ("$1,234.50")


@dataclass(frozen=True)
class SyntheticConfig:
    """The built-in synthetic market, generated when `[paths] raw` holds no price files."""

    seed: int = 7  # same seed -> byte-identical market
    years: float = 10.0  # about ten years of daily bars
    end_date: str = "2025-12-31"  # fixed so builds are reproducible on any day
    extra_symbols: int = 0  # add SYN0000.. symbols (benchmarks); they need IDs like any other


@dataclass(frozen=True)
class FeaturesConfig:
    """Settings the feature and label models read (through the one-row `feature_params` table)."""

    horizon: int = 1  # label horizon h in rows: fwd_ret_{h}d
    # a label is NULL when a step between the rows it spans exceeds this many times the asset's usual
    # spacing (median of its last 20 steps): 4 lets an equity's weekend next to a holiday through
    label_max_gap: float = 4.0
    # dim_symbol categories ranked among themselves by cross-sectional features (comma list); every
    # category not listed is ranked together. Crypto trades every day, equities/ETFs on weekdays.
    calendar_groups: str = "crypto"


# The choice lists (SPLITS, NORMALIZE_MODES, MISSING_MODES, ENCODERS, COMBINES, TASKS, DEVICES,
# OUTPUT_FORMATS) are defined once in the leaf module features.choices, so `fstore --help` offers them
# without loading this module; they are re-exported here, where the config validates against them.

MEMORY_LIMIT_FORMAT = r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$"  # e.g. "4GB", "3.5 GiB"


@dataclass(frozen=True)
class BuildConfig:
    """How `fstore build` runs."""

    # cap on DuckDB's memory during `fstore build` (it caches up to 80% of RAM otherwise; beyond the
    # cap it spills to disk): "" = DuckDB's default, else e.g. "4GB" (format: MEMORY_LIMIT_FORMAT)
    memory_limit: str = ""


@dataclass(frozen=True)
class SplitsConfig:
    """The train / valid / test split of the loader, by label date."""

    train_end: str = "0.7"  # last label date of train: an ISO date, or a fraction of the date range in (0, 1)
    valid_end: str = "0.85"  # last label date of valid (test follows): an ISO date or a fraction in (0, 1)
    embargo: int = -1  # rows after each boundary; -1 -> the label horizon


@dataclass(frozen=True)
class LoaderConfig:
    """How the loader turns `training_set` into windows (`training.WindowDataset`)."""

    lookback: int = 60  # rows per window
    stride: int = 1  # keep every stride-th window
    normalize: str = "global"  # global | per_asset | none; fitted on training rows only
    missing: str = "drop"  # drop: skip windows with a missing feature; fill: 0 after normalising
    missing_indicator: bool = False  # add one 0/1 channel per feature flagging every filled value
    label: str = "label_up"  # the target: label_up (0/1) | fwd_ret_{h}d (regression)


@dataclass(frozen=True)
class ModelConfig:
    """The `TradingModel` a training run builds (`training/model.py`)."""

    asset_embedding_dim: int = 16  # 4..32; enough for ~150 assets without overfitting
    encoder: str = "gru"  # the sequence encoder: gru | lstm | tcn (causal dilated convolutions)
    combine: str = "concat"  # how the asset embedding meets the features; none = without it (ablation)
    hidden: int = 64  # encoder width (GRU/LSTM hidden size, TCN channels) and head width
    layers: int = 1  # stacked encoder layers
    dropout: float = 0.1  # in [0, 1): in the head, the TCN, and between stacked GRU/LSTM layers
    task: str = "classification"  # classification (label_up) | regression (fwd_ret_{h}d)


@dataclass(frozen=True)
class TrainConfig:
    """A training run: optimiser, batches, stopping, device (`fstore train` flags override them)."""

    epochs: int = 5  # most epochs of a run (0 or more); early stopping may end it sooner
    batch_size: int = 1024  # training windows per optimiser step (per process with --nproc)
    lr: float = 2e-3  # AdamW learning rate (positive)
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay (0 or more)
    patience: int = 3  # early stopping: epochs without a better validation loss (at least 1)
    seed: int = 0  # fixes initialisation, dropout and batch order: same seed, same metrics on CPU
    device: str = "auto"  # cpu | cuda | auto (cuda when there is one)
    max_train_samples: int = 0  # 0 = all; >0 subsamples for quick runs
    threads: int = 1  # torch CPU threads (0 = default); 2 spinning threads were 14x slower on a busy box


@dataclass(frozen=True)
class Project:
    """A loaded project: its root folder and every config section."""

    root: Path
    config_file: Path | None = None
    paths: PathsConfig = PathsConfig()
    ingest: IngestConfig = IngestConfig()
    synthetic: SyntheticConfig = SyntheticConfig()
    features: FeaturesConfig = FeaturesConfig()
    build: BuildConfig = BuildConfig()
    splits: SplitsConfig = SplitsConfig()
    loader: LoaderConfig = LoaderConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()

    def path(self, relative: str | Path) -> Path:
        """Resolve a config path against the project root."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    @property
    def warehouse_path(self) -> Path:
        return self.path(self.paths.warehouse)

    @property
    def symbols_path(self) -> Path:
        return self.path(self.paths.symbols)

    @property
    def mapping_path(self) -> Path:
        return self.path(self.paths.mapping)

    def replace(self, **sections: Any) -> Project:
        return dataclasses.replace(self, **sections)


_SECTION_CLASSES = {
    "paths": PathsConfig,
    "ingest": IngestConfig,
    "synthetic": SyntheticConfig,
    "features": FeaturesConfig,
    "build": BuildConfig,
    "splits": SplitsConfig,
    "loader": LoaderConfig,
    "model": ModelConfig,
    "train": TrainConfig,
}


def find_project_root(start: Path | None = None) -> Path:
    """Walk up from ``start`` to the folder holding config/project.toml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_RELPATH).is_file():
            return folder
    raise ConfigError(
        f"no fstore project here: no {CONFIG_RELPATH} in {here} or any folder above it",
        hint="run inside a project, pass --project DIR, or create one with `fstore init DIR`",
    )


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(needle):
            return number
    return None


def _line_in_section(text: str, section: str, key: str) -> int | None:
    """The line of ``key = …`` inside ``[section]`` (the first one anywhere when not found there)."""
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped.strip("[] \t").split("]")[0].strip() == section
        elif inside and stripped.split("=")[0].strip().strip("\"'") == key:
            return number
    return _line_of(text, key)


def _coerce(section: str, key: str, value: Any, default: Any, cfg_file: Path, text: str) -> Any:
    line = _line_in_section(text, section, key)
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"[{section}] {key} must be a list of strings", file=cfg_file, line=line)
        return tuple(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"[{section}] {key} must be a table", file=cfg_file, line=line)
        return dict(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"[{section}] {key} must be true or false", file=cfg_file, line=line)
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"[{section}] {key} must be an integer, got {value!r}", file=cfg_file, line=line
            )
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"[{section}] {key} must be a number, got {value!r}", file=cfg_file, line=line)
        if not math.isfinite(value):
            raise ConfigError(
                f"[{section}] {key} must be a finite number, got {value!r}", file=cfg_file, line=line
            )
        return float(value)
    if isinstance(default, str):
        # a number where a string goes reads as its text (`train_end = 0.7`), but never as a path:
        # `warehouse = 5` would be the file ./5
        if isinstance(value, int | float) and not isinstance(value, bool) and section != "paths":
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(f"[{section}] {key} must be a string, got {value!r}", file=cfg_file, line=line)
        return value
    return value


def _check_memory_limit(value: str, cfg_file: Path, line: int | None) -> None:
    """``[build] memory_limit`` goes into a DuckDB SET statement: only a plain size is accepted."""
    import re

    if not re.fullmatch(MEMORY_LIMIT_FORMAT, value):
        raise ConfigError(
            f'[build] memory_limit must be a size like "4GB" or "3.5 GiB" (KB, MB, GB, TB, KiB,'
            f" MiB, GiB, TiB), got {value!r}",
            file=cfg_file,
            line=line,
        )


MAX_SYNTHETIC_YEARS = 200.0  # beyond this the calendar leaves the dates anyone trades on
MAX_EXTRA_SYMBOLS = 100_000  # SYN0000 … beyond this the market would not fit in memory


def _check_synthetic(config: SyntheticConfig, cfg_file: Path, text: str) -> None:
    """``[synthetic]`` values the generator can use: a real end date, a seed numpy accepts, a span of
    years that is a positive, finite number of days, no negative symbol count."""
    import datetime as dt

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(
            f"[synthetic] {key} {message}", file=cfg_file, line=_line_in_section(text, "synthetic", key)
        )

    try:
        end = dt.date.fromisoformat(config.end_date)
    except ValueError:
        raise fail("end_date", f'must be a date like "2025-12-31", got {config.end_date!r}') from None
    if config.seed < 0:
        raise fail("seed", f"must be a whole number >= 0, got {config.seed}")
    if not 0 < config.years <= MAX_SYNTHETIC_YEARS:
        raise fail("years", f"must be more than 0 and at most {MAX_SYNTHETIC_YEARS:g}, got {config.years!r}")
    if end.year - config.years < 1:
        raise fail(
            "end_date", f"minus years = {config.years:g} reaches before the year 1: got {config.end_date!r}"
        )
    if not 0 <= config.extra_symbols <= MAX_EXTRA_SYMBOLS:
        raise fail("extra_symbols", f"must be between 0 and {MAX_EXTRA_SYMBOLS}, got {config.extra_symbols}")


def load_project(root: Path | str | None = None, *, search: bool = True) -> Project:
    """Load the project at ``root`` (or found by walking up from the cwd)."""
    if root is None:
        root_path = find_project_root()
    else:
        root_path = Path(root).resolve()
        if search and not (root_path / CONFIG_RELPATH).is_file():
            if not root_path.is_dir():
                raise ConfigError(f"project folder {root_path} does not exist")
            raise ConfigError(
                f"{root_path} is not an fstore project: it has no {CONFIG_RELPATH}",
                hint="create one with `fstore init DIR`",
            )
    cfg_file = root_path / CONFIG_RELPATH
    if not cfg_file.is_file():
        return Project(root=root_path)
    import tomllib  # here, not at the top: `fstore --help` imports this module for its choice lists

    text = cfg_file.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=cfg_file) from None
    sections: dict[str, Any] = {}
    for name, values in raw.items():
        cls = _SECTION_CLASSES.get(name)
        if cls is None:
            known = ", ".join(sorted(_SECTION_CLASSES))
            raise ConfigError(
                f"unknown section [{name}] (known: {known})", file=cfg_file, line=_line_of(text, f"[{name}")
            )
        if not isinstance(values, dict):
            raise ConfigError(f"{name} must be a [section]", file=cfg_file, line=_line_of(text, name))
        defaults = cls()
        known_keys = {f.name for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in known_keys:
                raise ConfigError(
                    f"unknown key {key!r} in [{name}] (known: {', '.join(sorted(known_keys))})",
                    file=cfg_file,
                    line=_line_of(text, key),
                )
            kwargs[key] = _coerce(name, key, value, getattr(defaults, key), cfg_file, text)
            if (name, key) == ("build", "memory_limit") and kwargs[key]:
                _check_memory_limit(kwargs[key], cfg_file, _line_of(text, key))
        sections[name] = dataclasses.replace(defaults, **kwargs)
    if "synthetic" in sections:
        _check_synthetic(sections["synthetic"], cfg_file, text)
    return Project(root=root_path, config_file=cfg_file, **sections)


__all__ = [
    "COMBINES",
    "CONFIG_RELPATH",
    "DEVICES",
    "ENCODERS",
    "MEMORY_LIMIT_FORMAT",
    "MISSING_MODES",
    "NORMALIZE_MODES",
    "OUTPUT_FORMATS",
    "SPLITS",
    "TASKS",
    "BuildConfig",
    "FeaturesConfig",
    "IngestConfig",
    "LoaderConfig",
    "ModelConfig",
    "PathsConfig",
    "Project",
    "SplitsConfig",
    "SyntheticConfig",
    "TrainConfig",
    "find_project_root",
    "load_project",
]
