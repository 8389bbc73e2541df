"""Benchmarks: NeuroSketch against EEGNet, braindecode baselines and Riemannian pipelines.

MOABB-native (MOABB datasets, paradigms and results format), resumable (one
SQLite row per fit) and scalable on Dask. The ``neurosketch`` command wraps
:func:`run_benchmark` and :func:`make_report`.
"""

# License: BSD (3-clause)

from .datasets import CORPORA, BenchmarkDataset, list_datasets, resolve_dataset
from .pipelines import (
    DEEP_MODELS,
    PIPELINES,
    StackFilterBank,
    make_pipeline,
    make_pipelines,
    params_hash,
)
from .protocols import (
    PROTOCOLS,
    CrossSession,
    CrossSubject,
    Fold,
    Grouped,
    Paper,
    Protocol,
    WithinSession,
    make_protocol,
)
from .runner import RunSummary, run_benchmark
from .store import FitRecord, ResultsStore

__all__ = [
    "CORPORA",
    "DEEP_MODELS",
    "PIPELINES",
    "PROTOCOLS",
    "BenchmarkDataset",
    "CrossSession",
    "CrossSubject",
    "FitRecord",
    "Fold",
    "Grouped",
    "Paper",
    "Protocol",
    "ResultsStore",
    "RunSummary",
    "StackFilterBank",
    "WithinSession",
    "list_datasets",
    "make_pipeline",
    "make_pipelines",
    "make_protocol",
    "params_hash",
    "resolve_dataset",
    "run_benchmark",
]
