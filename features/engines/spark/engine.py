"""SparkEngine: the build loop's :class:`~features.engines.base.Engine` on a SparkSession.

Stateless: every selected model is built in full (no fingerprints or incremental refresh), and the
DuckDB warehouse's bookkeeping and build log are not written. Spark's own exceptions are mapped at
the seam (:meth:`SparkEngine.transaction`) to a :class:`~features.errors.SparkError` holding their
first line (the rest is a query plan or a JVM stack trace).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from features.errors import FstoreError, SparkError

if TYPE_CHECKING:
    import duckdb

    from features.config import Project
    from features.engines.base import Stats, Window
    from features.engines.spark.tables import SparkBuild
    from features.models.checks import CheckResult, DataTest
    from features.models.dag import Dag
    from features.models.discovery import Model


class SparkEngine:
    """Runs models in a SparkSession (``master``: a Spark master URL, default ``local[2]``)."""

    name: ClassVar[str] = "spark"
    stateful: ClassVar[bool] = False
    in_warehouse: ClassVar[bool] = False

    def __init__(
        self, warehouse: duckdb.DuckDBPyConnection, project: Project, *, master: str | None = None
    ) -> None:
        self.warehouse = warehouse
        self.project = project
        self.master = master
        self._build: SparkBuild | None = None
        self._created = False

    @property
    def b(self) -> SparkBuild:
        assert self._build is not None, "SparkEngine.start() first"
        return self._build

    # ------------------------------------------------------------------ lifecycle

    def start(self, dag: Dag, names: Sequence[str]) -> list[str]:
        """Transpile every SQL model first (all untranspilable ones reported before Spark starts),
        start the session, export the sources, read unselected upstream models from earlier output."""
        from features.engines.spark.session import require_pyspark, session
        from features.engines.spark.tables import (
            SparkBuild,
            catalog_last,
            export_sources,
            output_dir,
            register_sources,
            register_unselected,
        )
        from features.engines.transpile import check_models

        order = catalog_last(dag, names)
        compiled = check_models(dag.models[n] for n in order)
        require_pyspark()
        spark, self._created = session(self.master)
        out = output_dir(self.project)
        out.mkdir(parents=True, exist_ok=True)
        self._build = SparkBuild(spark, self.project, dag, out, compiled)
        sources = sorted({s for n in order for s in dag.sources[n]})
        register_sources(self.b, export_sources(self.warehouse, sources, out))
        register_unselected(self.b, dag, order)
        return order

    def close(self) -> None:
        if self._created and self._build is not None:
            self._build.spark.stop()
        self._created = False

    # ------------------------------------------------------------------ catalog

    def relations(self) -> dict[str, str]:
        """Every relation registered in this build (all are temp views; tables are backed by Parquet)."""
        return dict.fromkeys(self.b.columns, "view")

    def columns(self) -> dict[str, set[str]]:
        return {name: set(cols) for name, cols in self.b.columns.items()}

    def row_count(self, name: str) -> int:
        return int(self.b.spark.table(name).count())

    # ------------------------------------------------------------------ writes

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """No transaction on Spark (a table's files are staged, then swapped in); foreign errors are
        mapped here to a SparkError holding the exception's type and first line."""
        from features.engines.spark.checks import first_line

        try:
            yield
        except FstoreError:
            raise
        except Exception as exc:
            raise SparkError(f"{type(exc).__name__}: {first_line(exc)}") from exc

    def create_view(self, model: Model) -> None:
        from features.engines.spark.tables import register, sql_frame

        register(self.b, model.name, sql_frame(self.b, model))

    def create_table(self, model: Model) -> int:
        from features.engines.spark.tables import sql_frame, write_table

        return write_table(self.b, model, sql_frame(self.b, model))

    def python_frame(self, model: Model, func: Callable[..., Any]) -> Any:
        from features.engines.spark.python import python_frame

        return python_frame(self.b, model, func)

    def create_table_from_frame(self, model: Model, frame: Any) -> int:
        """A Spark DataFrame, or a Polars frame / Arrow table (sent to Spark through Arrow)."""
        from pyspark.sql import DataFrame
        from pyspark.sql.pandas.types import to_arrow_schema

        from features.engines.spark.python import spark_schema
        from features.engines.spark.tables import write_table

        if not isinstance(frame, DataFrame):
            table = frame.to_arrow() if hasattr(frame, "to_arrow") else frame
            schema = spark_schema(table.schema)
            frame = self.b.spark.createDataFrame(table.cast(to_arrow_schema(schema)))
        return write_table(self.b, model, frame)

    def drop(self, name: str, kind: str) -> None:
        self.b.spark.catalog.dropTempView(name)
        self.b.columns.pop(name, None)

    # ------------------------------------------------------------------ incremental

    def refresh(self, model: Model, window: Window) -> tuple[int, Stats]:
        raise SparkError(
            f"`{model.name}`: the Spark engine builds every model in full (no incremental refresh)"
        )

    def input_stats(self, model: Model, window: Window) -> Stats:
        raise SparkError(f"`{model.name}`: the Spark engine keeps no incremental state")

    # ------------------------------------------------------------------ data tests

    def run_tests(self, tests: Sequence[DataTest]) -> Iterator[CheckResult]:
        from features.engines.spark.checks import run_checks

        yield from run_checks(self.b, tests)


__all__ = ["SparkEngine"]
