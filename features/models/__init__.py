"""The model engine: discovery, DAG, materialization, incremental refresh, data tests."""

from features.models.python import PythonModelSpec, model

__all__ = ["PythonModelSpec", "model"]
