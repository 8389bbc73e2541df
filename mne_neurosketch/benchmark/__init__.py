"""Benchmarks: NeuroSketch against EEGNet, braindecode baselines and Riemannian pipelines.

MOABB-native (MOABB datasets, paradigms and results format), resumable (one
SQLite row per fit) and scalable on Dask. The ``neurosketch`` command wraps
:func:`run_benchmark` and :func:`make_report`.
"""

# License: BSD (3-clause)

# Names are imported from their modules on first use (PEP 562), so that
# ``neurosketch --help`` does not import MOABB, torch and scikit-learn.

import importlib

_LAZY = {
    "CORPORA": "datasets",
    "BenchmarkDataset": "datasets",
    "list_datasets": "datasets",
    "resolve_dataset": "datasets",
    "DEEP_MODELS": "pipelines",
    "PIPELINES": "pipelines",
    "StackFilterBank": "pipelines",
    "make_pipeline": "pipelines",
    "make_pipelines": "pipelines",
    "params_hash": "pipelines",
    "PROTOCOLS": "protocols",
    "CrossSession": "protocols",
    "CrossSubject": "protocols",
    "Fold": "protocols",
    "Grouped": "protocols",
    "Paper": "protocols",
    "Protocol": "protocols",
    "WithinSession": "protocols",
    "make_protocol": "protocols",
    "RunSummary": "runner",
    "run_benchmark": "runner",
    "FitRecord": "store",
    "ResultsStore": "store",
}

__all__ = sorted(set(_LAZY) - {"CORPORA"})  # CORPORA: deprecated


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
