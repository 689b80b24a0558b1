"""fstore training side: the DuckDB → Polars → torch loader, the TradingModel and logged runs.

Importing this package does not import torch; the submodules that need it do.
"""

__all__: list[str] = []
