"""The benchmark's pipelines: NeuroSketch, braindecode's baselines, Riemannian classics.

Every deep network is trained by the same
:class:`~mne_neurosketch.NeuroSketchClassifier` recipe, so the
comparison is between architectures, not training tricks. The classical
pipelines are MOABB's reference Riemannian pipelines (``TSLR-SSVEP`` and
``MDM-SSVEP`` configs of MOABB's benchmark): OAS covariances, then the tangent
space and a logistic regression, or the minimum distance to the Riemannian
mean.
"""

# License: BSD (3-clause)

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from hashlib import sha1
from typing import TYPE_CHECKING

import numpy as np

# scikit-learn is imported where it is used: 'neurosketch list' reads PIPELINES
# and must not wait for it (1.5 s of CPU).
if TYPE_CHECKING:  # for the annotations and linters only
    from sklearn.base import BaseEstimator

    from ._filterbank import StackFilterBank

__all__ = [
    "DEEP_MODELS",
    "PIPELINES",
    "StackFilterBank",
    "make_pipeline",
    "make_pipelines",
    "params_hash",
    "resolve_model_name",
]


@dataclass(frozen=True)
class PipelineSpec:
    """What the benchmark knows about a named pipeline.

    Attributes
    ----------
    name : str
        Canonical name (a results column value).
    kind : ``"deep"`` | ``"classical"``
        Deep pipelines are trained by ``NeuroSketchClassifier``; classical ones
        are plain scikit-learn pipelines.
    input : ``"signal"`` | ``"filterbank"``
        Data the pipeline is meant for: ``"filterbank"`` pipelines also accept
        a MOABB filter bank ``(n_trials, n_chans, n_times, n_bands)`` and use
        every band; ``"signal"`` pipelines take ``(n_trials, n_chans, n_times)``.
    module : str | None
        The ``module=`` passed to ``NeuroSketchClassifier`` (deep pipelines).
    description : str
        One line for ``neurosketch list``.
    """

    name: str
    kind: str
    input: str
    module: str | None
    description: str


def _deep(name, module, description):
    return PipelineSpec(name, "deep", "signal", module, description)


PIPELINES: dict[str, PipelineSpec] = {
    spec.name: spec
    for spec in (
        _deep(
            "NeuroSketch",
            "NeuroSketch",
            "NeuroSketch-Base (the paper's default, 1.4 M parameters)",
        ),
        PipelineSpec(
            "NeuroSketch-FB",
            "deep",
            "filterbank",
            "NeuroSketch",
            "NeuroSketch-Base on the paradigm's filter bank, one image plane per band",
        ),
        _deep(
            "NeuroSketchLarge", "NeuroSketchLarge", "NeuroSketch-Large (4.2 M parameters)"
        ),
        _deep("NeuroSketchSD", "NeuroSketchSD", "NeuroSketch-SD (21 M parameters)"),
        _deep("EEGNet", "EEGNet", "braindecode EEGNet (Lawhern et al. 2018)"),
        _deep(
            "ShallowFBCSPNet",
            "ShallowFBCSPNet",
            "braindecode ShallowFBCSPNet (Schirrmeister et al. 2017)",
        ),
        _deep("Deep4Net", "Deep4Net", "braindecode Deep4Net (Schirrmeister et al. 2017)"),
        _deep(
            "EEGConformer", "EEGConformer", "braindecode EEGConformer (Song et al. 2023)"
        ),
        _deep("ATCNet", "ATCNet", "braindecode ATCNet (Altaheri et al. 2023)"),
        PipelineSpec(
            "TSLR",
            "classical",
            "filterbank",
            None,
            "OAS covariances, Riemannian tangent space, logistic regression "
            "(MOABB TS+LR)",
        ),
        PipelineSpec(
            "MDM",
            "classical",
            "filterbank",
            None,
            "OAS covariances, minimum distance to the Riemannian mean (MOABB MDM)",
        ),
    )
}
DEEP_MODELS = tuple(name for name, spec in PIPELINES.items() if spec.kind == "deep")

_ALIASES = {
    "ts+lr": "TSLR",
    "tslr": "TSLR",
    "ts-lr": "TSLR",
    "neurosketch-base": "NeuroSketch",
    "neurosketchbase": "NeuroSketch",
    "neurosketch-large": "NeuroSketchLarge",
    "neurosketch-sd": "NeuroSketchSD",
    "eegnetv4": "EEGNet",
    "shallowconvnet": "ShallowFBCSPNet",
    "deepconvnet": "Deep4Net",
}


def resolve_model_name(name: str) -> str:
    """Return the canonical pipeline name for ``name`` (case-insensitive).

    Parameters
    ----------
    name : str
        A name from :data:`PIPELINES` or an alias such as ``"TS+LR"``.

    Returns
    -------
    name : str
        The canonical name.
    """
    lowered = {key.lower(): key for key in PIPELINES}
    key = name.strip().lower()
    if key in lowered:
        return lowered[key]
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(
        f"Unknown model {name!r}. Choose from {', '.join(PIPELINES)} "
        "(run 'neurosketch list models' for descriptions)."
    )


def make_pipeline(
    name: str,
    *,
    max_epochs: int | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    random_state: int | None = 42,
    **kwargs,
) -> BaseEstimator:
    """Build the named pipeline, unfitted.

    Parameters
    ----------
    name : str
        A pipeline of :data:`PIPELINES` (or an alias, e.g. ``"TS+LR"``).
    max_epochs, batch_size : int | None
        Training budget of deep pipelines; ``None`` keeps the estimator's
        default (the paper's recipe). Ignored by classical pipelines.
    device : str
        Device of deep pipelines (``"auto"``, ``"cpu"``, ``"cuda"``).
    random_state : int | None
        Seed of deep pipelines (classical ones are deterministic).
    **kwargs
        Other ``NeuroSketchClassifier`` parameters for deep pipelines
        (e.g. ``patience``, ``lr``).

    Returns
    -------
    pipeline : sklearn.base.BaseEstimator
        The estimator.
    """
    spec = PIPELINES[resolve_model_name(name)]
    if spec.kind == "classical":
        from pyriemann.classification import MDM
        from pyriemann.estimation import Covariances
        from pyriemann.tangentspace import TangentSpace
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        from ._filterbank import StackFilterBank

        steps = [("stack", StackFilterBank()), ("cov", Covariances(estimator="oas"))]
        if spec.name == "TSLR":
            steps += [
                ("ts", TangentSpace(metric="riemann")),
                ("lr", LogisticRegression(C=1.0, max_iter=1000)),
            ]
        else:
            steps += [("mdm", MDM(metric="riemann"))]
        return Pipeline(steps)
    try:
        from ..estimator import NeuroSketchClassifier
    except ImportError as err:  # pragma: no cover - the estimator ships with the package
        raise ImportError(
            f"The deep pipeline {spec.name!r} needs mne_neurosketch.estimator ({err})."
        ) from err
    params = dict(module=spec.module, device=device, random_state=random_state)
    if max_epochs is not None:
        params["max_epochs"] = int(max_epochs)
    if batch_size is not None:
        params["batch_size"] = int(batch_size)
    params.update(kwargs)
    return NeuroSketchClassifier(**params)


def make_pipelines(models, **kwargs) -> dict[str, BaseEstimator]:
    """Build several named pipelines.

    Parameters
    ----------
    models : list of str
        Pipeline names (see :func:`make_pipeline`).
    **kwargs
        Passed to :func:`make_pipeline`.

    Returns
    -------
    pipelines : dict
        Canonical name to unfitted estimator, in the given order.
    """
    out = {}
    for name in models:
        canonical = resolve_model_name(name)
        if canonical in out:
            raise ValueError(f"Model {name!r} is given twice (as {canonical!r}).")
        out[canonical] = make_pipeline(canonical, **kwargs)
    return out


# Parameters that decide where or how verbosely a fit runs, not its result.
_NOT_HASHED = re.compile(r"(^|__)(device|verbose|n_jobs|callbacks__print_log)$")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _stable(value):
    from sklearn.base import BaseEstimator

    if isinstance(value, BaseEstimator):
        return type(value).__module__ + "." + type(value).__qualname__
    if isinstance(value, type):
        return value.__module__ + "." + value.__qualname__
    if isinstance(value, (list, tuple)):
        return [_stable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _stable(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    return _ADDRESS.sub("", repr(value))


def pipeline_params(estimator: BaseEstimator) -> dict:
    """The estimator's parameters as a JSON-able dict, without device/verbosity.

    Parameters
    ----------
    estimator : sklearn.base.BaseEstimator
        The (unfitted) pipeline.

    Returns
    -------
    params : dict
        ``{"class": ..., "<param>": value, ...}`` with nested estimators
        flattened as scikit-learn does (``step__param``).
    """
    params = {"class": _stable(estimator)}
    from sklearn.base import BaseEstimator

    all_params = estimator.get_params(deep=True)
    owners = {"": estimator}
    owners.update((k, v) for k, v in all_params.items() if isinstance(v, BaseEstimator))
    for name, value in sorted(all_params.items()):
        if not _NOT_HASHED.search(name) and not _neutral(owners, name, value):
            params[name] = _stable(value)
    return params


def _neutral(owners, name, value):
    """Whether ``name`` is a later-added parameter at its neutral default
    (``_hash_neutral_defaults`` of its estimator), left out of the hash so that
    fits stored before it existed still match."""
    owner, _, param = name.rpartition("__")
    defaults = getattr(owners.get(owner), "_hash_neutral_defaults", {})
    return param in defaults and _stable(value) == _stable(defaults[param])


def params_hash(estimator: BaseEstimator) -> str:
    """A short hash of what decides the estimator's results.

    The device, verbosity and number of jobs are left out, so resuming a run
    on another machine (e.g. a GPU) reuses the finished fits.

    Parameters
    ----------
    estimator : sklearn.base.BaseEstimator
        The pipeline.

    Returns
    -------
    digest : str
        12 hexadecimal characters.
    """
    text = json.dumps(pipeline_params(estimator), sort_keys=True, default=str)
    return sha1(text.encode()).hexdigest()[:12]


def __getattr__(name):
    if name == "StackFilterBank":  # defined with scikit-learn, imported on use
        from ._filterbank import StackFilterBank

        return StackFilterBank
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
