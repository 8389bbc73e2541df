"""What a benchmark run fits: protocols, pipelines, units of subjects, their tasks.

:func:`_plan` resolves one dataset's protocol, subjects and pipelines into a
:class:`_Plan`; the plan loads each unit of subjects (one subject, or all of
them for folds that mix subjects) once per paradigm, through MOABB or as a lazy
view of a corpus cache, and yields the :class:`~._fitting._Task` of each fold
and pipeline. Nothing here fits or stores.
"""

# License: BSD (3-clause)

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.preprocessing import LabelEncoder

from ..datasets._array import WindowsArray, dataset_targets
from ..datasets.base import CorpusMOABBDataset, CorpusWindowsDataset
from ..utils import _validate_type, logger
from ._fitting import _fit_hash, _Task, _uses_device
from .datasets import BenchmarkDataset
from .pipelines import _network_budget, make_pipelines, pipeline_spec
from .protocols import Protocol, make_protocol


@dataclass
class _Plan:
    """The fits of one dataset under one protocol."""

    spec: BenchmarkDataset
    protocol: Protocol
    protocol_id: str
    subjects: list
    estimators: dict
    inputs: dict  # pipeline name -> input kind
    hashes: dict  # pipeline name -> (params hash, data hash, params)
    wanted: list = field(default_factory=list)
    pretrained: str | None = None  # cache folder of pretrained models

    def settings(self) -> dict:
        """What was resolved for this dataset (see :class:`~.runner.RunSummary`)."""
        budget = {
            name: _network_budget(est.get_params(deep=True),
                                 ("max_epochs", "batch_size", "patience"))
            for name, est in self.estimators.items()
            if _uses_device(est)
        }
        return dict(
            protocol=self.protocol.describe(), subjects=list(self.subjects),
            budget=budget,
        )

    def expected_fits(self, unit=None) -> int | None:
        """Fits expected for ``unit`` (default: every subject), before loading."""
        subjects = self.subjects if unit is None else unit
        if unit is None and self.protocol.scope == "subject":
            # Summed per subject, as the units are loaded.
            per = [self.expected_fits((s,)) for s in subjects]
            return None if None in per else sum(per)
        n_folds = self.protocol.expected_folds(
            len(subjects), int(getattr(self.spec.dataset, "n_sessions", 1) or 1)
        )
        return None if n_folds is None else n_folds * len(self.estimators)

    def iter_units(self):
        """Yield ``(unit, {input kind: [tasks]}, {input kind: (X, y)})`` per unit."""
        for unit in _units(self.spec, self.protocol, self.subjects):
            loaded = {}
            extra = [
                c
                for c in getattr(self.protocol, "extra_columns", ())
                if c not in ("subject", "session", "run")
            ]
            for kind in sorted(set(self.inputs.values())):
                loaded[kind] = _load(
                    self.spec, self.spec.paradigm(kind), unit, extra,
                    lazy=self.protocol.scope == "dataset",  # several subjects at once
                )
            X0, labels0, meta = next(iter(loaded.values()))
            for kind, (X, labels, m) in loaded.items():
                if len(labels) != len(labels0) or not np.array_equal(labels, labels0):
                    raise RuntimeError(
                        f"{self.spec.code}: the {kind!r} paradigm gives other trials "
                        "than the others; the pipelines would not be compared on the "
                        "same data."
                    )
            y = LabelEncoder().fit_transform(labels0)
            sessions = meta["session"].astype(str).to_numpy()
            n_sessions = {
                str(s): int(
                    meta.loc[meta["subject"].astype(str) == str(s), "session"].nunique()
                )
                for s in meta["subject"].unique()
            }
            folds = list(self.protocol.split(y, meta))
            if not folds:
                logger.warning(
                    f"{self.spec.code}: the {self.protocol.name} protocol gives no fold "
                    f"for subject(s) {list(unit)} (e.g. a single session for "
                    "cross-session); skipped."
                )
            tasks = {kind: [] for kind in loaded}
            for fold in folds:
                for name, estimator in self.estimators.items():
                    h, data_h, params = self.hashes[name]
                    tasks[self.inputs[name]].append(
                        _Task(
                            pipeline_name=name,
                            estimator=estimator,
                            params_hash=h,
                            data_hash=data_h,
                            fold=fold,
                            dataset=self.spec.code,
                            protocol=self.protocol_id,
                            scoring=self.spec.paradigm(self.inputs[name]).scoring,
                            n_classes=len(np.unique(y)),
                            n_sessions=n_sessions,
                            sessions=sessions,
                            params=params,
                            log_level=logger.level,
                            pretrained=self.pretrained,
                        )
                    )
            yield unit, tasks, {k: (X, y) for k, (X, _, _) in loaded.items()}


def _plan(spec: BenchmarkDataset, proto: Protocol, subjects, estimators) -> _Plan:
    subjects = list(spec.subjects if subjects is None else subjects)
    spec.check_subjects(subjects)
    proto_id = proto.id
    if proto.scope == "dataset":
        # The training set depends on which subjects take part.
        proto_id += "[subjects=" + ",".join(map(str, sorted(subjects))) + "]"
    # Inputs without a paradigm of their own share the "signal" one (loaded once).
    inputs = {
        name: kind if kind in spec.paradigms else "signal"
        for name, kind in ((n, _input_kind(n)) for n in estimators)
    }
    hashes = {
        name: _fit_hash(est, spec.paradigm(inputs[name]))
        for name, est in estimators.items()
    }
    plan = _Plan(spec, proto, proto_id, subjects, estimators, inputs, hashes)
    plan.wanted = [(spec.code, proto_id, name, *hashes[name][:2]) for name in estimators]
    return plan


def _input_kind(name: str) -> str:
    try:
        return pipeline_spec(name).input
    except ValueError:
        return "signal"


def _protocol_for(spec: BenchmarkDataset, protocol, params, random_state) -> Protocol:
    """The protocol to run on ``spec``: the dataset's defaults, then ``params``."""
    if isinstance(protocol, Protocol):
        if params:
            raise ValueError(
                "protocol_params applies to a protocol given by name; set the "
                f"parameters of the {type(protocol).__name__} object instead."
            )
        return protocol
    _validate_type(protocol, (str, Protocol, None), "protocol")
    name = spec.default_protocol if protocol in (None, "default") else protocol
    merged = {"random_state": random_state}  # dropped by protocols that do not shuffle
    if name == spec.default_protocol:
        merged.update(spec.protocol_params)
    merged.update(params or {})
    return make_protocol(name, **merged)


def _pipelines_for(spec: BenchmarkDataset, pipelines, budget, device, random_state):
    """Estimators given as objects as they are; names built with ``spec``'s budget."""
    if isinstance(pipelines, Mapping):
        return dict(pipelines)
    kwargs = dict(device=device, random_state=random_state,
                  **{**spec.budget, **(budget or {})})
    out, facts = {}, {}
    for name in pipelines:
        # Only the pipelines that need a fact get it (others' hashes stay as
        # they were); each fact is read from the data once.
        needs = pipeline_spec(name).needs
        for key in needs:
            if key not in facts:
                facts[key] = _DATA_FACTS[key](spec)
        extra = {key: facts[key] for key in needs}
        if "freqs" in extra and pipeline_spec(name).kind == "classical":
            _check_all_stimulated(name, spec, extra["freqs"])
        out.update(make_pipelines([name], **kwargs, **extra))
    return out


def _sampling_rate(spec: BenchmarkDataset) -> float:
    """Sampling rate of the trials the pipelines get (networks that need it)."""
    paradigm = spec.paradigm()
    if getattr(paradigm, "resample", None):
        return float(paradigm.resample)
    # MOABB datasets do not state it: read the first subject's epochs.
    epochs, _, _ = paradigm.get_data(
        spec.dataset, subjects=spec.subjects[:1], return_epochs=True
    )
    return float(epochs.info["sfreq"])


def _stimulus_freqs(spec: BenchmarkDataset) -> dict:
    """Stimulus frequency (Hz) of each class, keyed by the label code the
    benchmark gives it, read from the event names of an SSVEP dataset ("13" ->
    13.0; None for a class without one, e.g. "rest")."""
    names = _class_names(spec)
    freqs = {code: _as_hz(name) for code, name in enumerate(names)}
    if all(f is None for f in freqs.values()):
        raise ValueError(
            f"{spec.code}'s classes {names} name no stimulus frequency (Hz), which "
            "the pipelines that need freqs= read from them. Run those from Python: "
            "run_benchmark(..., pipelines={name: make_pipeline(name, sfreq=..., "
            "freqs=[...])})."
        )
    return freqs


def _class_names(spec: BenchmarkDataset) -> list:
    """The dataset's class names, in the order of their label codes (the
    benchmark's LabelEncoder sorts them)."""
    return sorted(spec.paradigm().used_events(spec.dataset))


def _as_hz(name: str) -> float | None:
    try:
        return float(name)
    except ValueError:
        return None


def _check_all_stimulated(name: str, spec: BenchmarkDataset, freqs: dict) -> None:
    """CCA and TRCA score each class by its stimulus frequency: all need one."""
    names = _class_names(spec)
    missing = [names[code] for code, f in freqs.items() if f is None]
    if missing:
        raise ValueError(
            f"The {name!r} pipeline decodes stimulus frequencies only, and "
            f"{spec.code}'s class(es) {missing} have none: leave {name!r} out of the "
            "models (NeuroSketch-Harmonics and the Riemannian pipelines decode every "
            "class)."
        )


#: Facts about a dataset that arrays do not carry, by the pipelines' ``needs``.
_DATA_FACTS = {"sfreq": _sampling_rate, "freqs": _stimulus_freqs}


def _select(df: pd.DataFrame, wanted) -> pd.DataFrame:
    """The rows of ``df`` that belong to the ``wanted`` pipelines of the plans."""
    if df.empty:
        return df
    keys = set(wanted)
    columns = ("dataset", "protocol", "pipeline", "params_hash", "data_hash")
    mask = [key in keys for key in zip(*(df[c] for c in columns))]
    return df[np.asarray(mask, bool)].reset_index(drop=True)


# ----------------------------------------------------------------------------- data
def _units(spec: BenchmarkDataset, protocol: Protocol, subjects):
    """Subject sets loaded together: one subject at a time unless folds mix subjects."""
    if protocol.scope == "dataset":
        return [tuple(subjects)]
    return [(s,) for s in subjects]


def _streams(spec: BenchmarkDataset, paradigm) -> bool:
    """Whether MOABB's trials are exactly the corpus' cached windows."""
    from ..paradigms import MultiClassDecoding

    untouched = ("fmin", "fmax", "tmax", "baseline", "channels", "resample", "events",
                 "n_classes")
    return (
        isinstance(spec.dataset, CorpusMOABBDataset)
        and type(paradigm) is MultiClassDecoding
        and all(getattr(paradigm, name, None) is None for name in untouched)
        and paradigm.tmin == 0
    )


def _load_windows(spec: BenchmarkDataset, subjects):
    """Several subjects' trials as a lazy view of the corpus cache (never stacked).

    Gives what :func:`_load` gets from MOABB (same trials, order, labels and
    metadata), but each window is read from the memory-mapped cache when a fit
    needs it, so a cross-subject fold's memory does not grow with the subjects.
    """
    ds = spec.dataset
    windows = CorpusWindowsDataset(
        ds.reader, list(subjects), cache=ds.cache, cache_dir=ds.cache_dir
    )
    labels = np.asarray(windows.class_names)[dataset_targets(windows)]
    metadata = pd.DataFrame(
        {
            key: np.concatenate([[d.description[key]] * len(d) for d in windows.datasets])
            for key in ("subject", "session", "run")
        }
    )
    return WindowsArray(windows, scale=ds.array_factor), labels, metadata


def _load(spec: BenchmarkDataset, paradigm, subjects, extra_columns=(), lazy=False):
    """``(X, labels, metadata)`` of ``subjects`` under ``paradigm``, as MOABB gives
    them (a lazy view of the corpus cache when ``lazy`` and the trials allow)."""
    if lazy and not extra_columns and _streams(spec, paradigm):
        return _load_windows(spec, subjects)
    kwargs = {}
    if extra_columns:
        from moabb.datasets.base import BaseDataset

        method = getattr(type(spec.dataset), "get_additional_metadata", None)
        if method is None or method is BaseDataset.get_additional_metadata:
            raise ValueError(
                f"{spec.code} gives no per-trial metadata column {list(extra_columns)} "
                "(MOABB's get_additional_metadata); group by 'run' (--group run) or "
                "choose another protocol."
            )
        kwargs["additional_metadata"] = list(extra_columns)
    X, labels, metadata = paradigm.get_data(
        spec.dataset, subjects=list(subjects), **kwargs
    )
    X = np.asarray(X)
    return X, np.asarray(labels), metadata.reset_index(drop=True)
