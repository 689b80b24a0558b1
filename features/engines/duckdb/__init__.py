"""The DuckDB engine (the embedded default): models run inside the warehouse file.

engine.py       DuckDBEngine: catalog, transaction, view / table / frame, drop, data tests
python.py       Python models: inputs as Polars frames, the function called on them
incremental.py  incremental refresh, one function per step of its docstring
"""

from __future__ import annotations

from features.engines.duckdb.engine import DuckDBEngine

__all__ = ["DuckDBEngine"]
