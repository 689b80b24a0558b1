"""The SparkSession fstore runs in: the active one, or a new one on a master URL (``local[2]``)."""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING

from features.errors import SparkError

if TYPE_CHECKING:
    import pyspark.sql

DEFAULT_MASTER = "local[2]"


def require_pyspark() -> None:
    """Fail with what to install when pyspark or Java is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkError(
            "the Spark engine needs pyspark",
            hint="install the spark extra: pip install 'fstore[spark]' (in this repo: `make spark-setup`)",
        ) from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkError("the Spark engine needs Java 17 (no `java` on PATH and no JAVA_HOME)")


def session(
    master: str | None = None, *, shuffle_partitions: int = 4
) -> tuple[pyspark.sql.SparkSession, bool]:
    """The active SparkSession, or a new one on ``master`` (default ``local[2]``); True when created here."""
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    # workers run this interpreter (the venv with polars and fstore), not whatever `python` is on PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    local = (master or DEFAULT_MASTER).startswith("local")
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no hostname lookup warning in local mode
    builder = (
        SparkSession.builder.master(master or DEFAULT_MASTER)
        .appName("fstore")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.sources.partitionOverwriteMode", "static")
    )
    if local:
        # local mode: the driver JVM is also the executor; it must hold the driver-side Python inputs
        builder = builder.config("spark.driver.memory", os.environ.get("FSTORE_SPARK_DRIVER_MEMORY", "2g"))
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # JVM start-up failures come as several exception types
        raise SparkError(f"cannot start Spark on {master or DEFAULT_MASTER}: {exc}") from None
    # FATAL, not ERROR: a failing query reaches us as an exception (reported per model); at ERROR
    # Spark also logs it with the whole JVM stack trace as JSON
    spark.sparkContext.setLogLevel("FATAL")
    return spark, True


__all__ = ["DEFAULT_MASTER", "require_pyspark", "session"]
