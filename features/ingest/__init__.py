"""Raw prices in: files under ``data/raw`` (or the synthetic market) → ``raw_prices``.

    refresh_raw_prices(con, project)   the build step after the asset-ID step
    import_files(project, paths)       `fstore ingest`: check files exactly as a build would, copy them in
    preview_files(files, project)      the same check on a scratch database, writing nothing

Files are CSV (optionally ``.gz``) or Parquet, found recursively under ``project.paths.raw``, in two
layouts: **long** (a ``symbol`` column, any number of symbols per file) and **one file per symbol**
(the symbol is the file name's stem upper-cased, ``^GSPC.csv`` → ``^GSPC``, then ``[ingest]
symbol_map``). Columns are matched by name (:mod:`features.ingest.columns`); text dates and numbers
are parsed by the rules of :mod:`features.ingest.formats`; docs/ingest.md is the reference.

One pass (:mod:`features.ingest.scan`) reads, parses and checks every row inside DuckDB. Bad rows
never reach ``raw_prices``: they go to ``raw_prices_rejected`` with a ``reason``
(:data:`REJECT_REASONS`), the file's column that failed and its raw text. Rows of symbols outside
the universe are quarantined (``[ingest] unknown_symbols = "quarantine"``, a warning names them) or
stop everything (``"error"``); a symbol listed in config/symbols.json with no asset ID always stops
the build (the asset-ID contract). A blank adjusted close is quarantined or, by setting, filled
where that is exact (:func:`features.ingest.checks.fill_adjusted`); adjusted and raw prices are never
mixed. A file that cannot be parsed, or yields no usable row, raises :class:`IngestError` naming it
before anything is replaced: both tables are swapped in one transaction.

With no price files the deterministic synthetic market (:mod:`features.synthetic`) is generated
for the configured universe. Either way the input's cheap version (file names, sizes, mtimes and
the ingest config; or the synthetic parameters and universe) is recorded with
:func:`features.warehouse.record_source_version`, and an unchanged input is a no-op.
"""

from features.ingest.checks import REJECT_REASONS
from features.ingest.columns import ALIASES, resolve_columns
from features.ingest.copy import import_files
from features.ingest.files import INGEST_FORMAT, PRICE_SUFFIXES, files_version, price_files
from features.ingest.prices import (
    IngestSummary,
    check_symbols,
    declared_symbols,
    ingest_files,
    ingest_synthetic,
    preview_files,
    refresh_raw_prices,
)

__all__ = [
    "ALIASES",
    "INGEST_FORMAT",
    "PRICE_SUFFIXES",
    "REJECT_REASONS",
    "IngestSummary",
    "check_symbols",
    "declared_symbols",
    "files_version",
    "import_files",
    "ingest_files",
    "ingest_synthetic",
    "preview_files",
    "price_files",
    "refresh_raw_prices",
    "resolve_columns",
]
