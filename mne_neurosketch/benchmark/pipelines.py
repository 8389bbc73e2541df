"""The benchmark's pipelines: NeuroSketch, braindecode's baselines, classical ones.

Every deep network is trained by the same
:class:`~mne_neurosketch.NeuroSketchClassifier` recipe, so the comparison is
between architectures, not training tricks; each braindecode baseline also has
a ``<model>-customary`` pipeline trained the way braindecode's examples train
it (:mod:`~mne_neurosketch.benchmark._customary`). The classical pipelines
are MOABB's reference pipelines per paradigm, each with its own builder
(:mod:`~mne_neurosketch.benchmark._classical`). Model names and aliases come
from the model registry (:mod:`mne_neurosketch.models.registry`).
"""

# License: BSD (3-clause)

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from hashlib import sha1
from typing import TYPE_CHECKING

import numpy as np

from ..models.registry import BASELINES, resolve_model

# scikit-learn and torch are imported where they are used: 'neurosketch list'
# reads PIPELINES and must not wait for them.
if TYPE_CHECKING:  # for the annotations and linters only
    from sklearn.base import BaseEstimator

    from ._filterbank import StackFilterBank

__all__ = [
    "DEEP_MODELS",
    "LEVERS",
    "PIPELINES",
    "PipelineSpec",
    "StackFilterBank",
    "make_pipeline",
    "make_pipelines",
    "params_hash",
    "pipeline_spec",
    "pretraining_key",
    "resolve_model_name",
]

#: Suffix of the pipelines that train a braindecode model with its own recipe.
CUSTOMARY_SUFFIX = "-customary"


@dataclass(frozen=True)
class PipelineSpec:
    """What the benchmark knows about a named pipeline.

    Attributes
    ----------
    name : str
        Canonical name (a results column value).
    kind : ``"deep"`` | ``"classical"``
        Deep pipelines train a network; classical ones are scikit-learn
        pipelines.
    input : ``"signal"`` | ``"filterbank"``
        Data the pipeline is meant for: ``"filterbank"`` pipelines also accept
        a MOABB filter bank ``(n_trials, n_chans, n_times, n_bands)`` and use
        every band; ``"signal"`` pipelines take ``(n_trials, n_chans, n_times)``.
    module : str | None
        The model name of deep pipelines (see the model registry).
    description : str
        One line for ``neurosketch list``.
    recipe : ``"shared"`` | ``"customary"`` | None
        Training recipe of deep pipelines: the NeuroSketch recipe
        (``NeuroSketchClassifier``) or the model's customary braindecode one.
    build : callable | None
        Builder of classical pipelines (keyword arguments of
        :func:`make_pipeline`).
    needs : tuple of str
        Keyword arguments :func:`make_pipeline` must be given (facts about the
        data that arrays do not carry, e.g. ``sfreq``).
    """

    name: str
    kind: str
    input: str
    module: str | None
    description: str
    recipe: str | None = None
    build: Callable | None = None
    needs: tuple = ()


def _deep(model, recipe="shared"):
    entry = resolve_model(model)
    needs = entry.needs
    if recipe == "shared":
        return PipelineSpec(entry.name, "deep", "signal", entry.name,
                            entry.description, "shared", needs=needs)
    return PipelineSpec(entry.name + CUSTOMARY_SUFFIX, "deep", "signal", entry.name,
                        f"{entry.name}, customary braindecode recipe (cross-entropy, "
                        "AdamW, cosine, no augmentation)",
                        "customary", needs=needs)


def _classical(name, input, description, needs=()):
    def build(**kwargs):
        from ._classical import BUILDERS  # scikit-learn, imported on use

        return BUILDERS[name](**kwargs)

    return PipelineSpec(name, "classical", input, None, description, build=build,
                        needs=needs)


_CLASSICAL = (
    ("TSLR", "filterbank",
     "OAS covariances, Riemannian tangent space, logistic regression (MOABB TS+LR)"),
    ("MDM", "filterbank",
     "OAS covariances, minimum distance to the Riemannian mean (MOABB MDM)"),
    ("TSLR-aligned", "filterbank",
     "TSLR with each subject's covariances re-centred (Riemannian alignment)"),
    ("MDM-aligned", "filterbank",
     "MDM with each subject's covariances re-centred (Riemannian alignment)"),
    ("XdawnTSLR", "signal",
     "ERP: Xdawn covariances, tangent space, logistic regression (MOABB)"),
    ("XdawnMDM", "signal", "ERP: Xdawn covariances, MDM (MOABB)"),
    ("CCA", "signal", "SSVEP: canonical correlation with the stimulus sinusoids "
     "(MOABB SSVEP_CCA; needs sfreq= and freqs=)", ("sfreq", "freqs")),
    ("TRCA", "signal", "SSVEP: task-related component analysis (MOABB SSVEP_TRCA; "
     "needs sfreq= and freqs=)", ("sfreq", "freqs")),
)

PIPELINES: dict[str, PipelineSpec] = {
    spec.name: spec
    for spec in (
        *(_deep(m) for m in ("NeuroSketch", "NeuroSketchLarge", "NeuroSketchSD")),
        PipelineSpec("NeuroSketch-FB", "deep", "filterbank", "NeuroSketch",
                     "NeuroSketch-Base on the paradigm's filter bank, one image plane "
                     "per band", "shared"),
        PipelineSpec("NeuroSketch-ERP", "deep", "signal", "NeuroSketch",
                     "NeuroSketch-Base reading each trial next to the training "
                     "classes' averages (representations.ERPPrototypes)", "shared"),
        PipelineSpec("NeuroSketch-Select", "deep", "signal", "NeuroSketch",
                     "NeuroSketch-Base on the signal or next to the class averages "
                     "(NeuroSketch-ERP), whichever has the lower log loss on a "
                     "validation split of the training trials (SelectByValidation)",
                     "shared"),
        PipelineSpec("NeuroSketch-Spectrum", "deep", "signal", "NeuroSketch",
                     "NeuroSketch-Base on the real and imaginary spectrum, 3-35 Hz "
                     "(representations.ComplexSpectrum)", "shared", needs=("sfreq",)),
        PipelineSpec("NeuroSketch-Harmonics", "deep", "signal", "NeuroSketch",
                     "NeuroSketch-Base on 1 Hz bands at the stimulation frequencies "
                     "and their second harmonics (representations.HarmonicBands)",
                     "shared", needs=("sfreq", "freqs")),
        *(_deep(m) for m in BASELINES),
        *(_deep(m, "customary") for m in BASELINES),
        *(_classical(*args) for args in _CLASSICAL),
    )
}
DEEP_MODELS = tuple(name for name, spec in PIPELINES.items() if spec.kind == "deep")

#: Spellings of classical pipelines (the deep ones take the registry's aliases).
_ALIASES = {"ts+lr": "TSLR", "ts-lr": "TSLR", "xdawn+ts+lr": "XdawnTSLR",
            "xdawn+mdm": "XdawnMDM"}


@dataclass(frozen=True)
class Lever:
    """An option added to a shared-recipe deep pipeline by a ``+<lever>`` suffix.

    Attributes
    ----------
    description : str
        One line for ``neurosketch list``.
    params : dict
        ``NeuroSketchClassifier`` parameters the lever sets.
    finetune_only : bool
        Whether it changes only the fine-tuning of a transfer protocol (the
        pretrained model is then shared with the pipeline without it).
    members : str | None
        An ensemble of 3 networks: ``"seeds"`` or ``"folds"``
        (:class:`~mne_neurosketch.EnsembleClassifier`).
    """

    description: str
    params: dict = field(default_factory=dict)
    finetune_only: bool = False
    members: str | None = None


#: Suffixes of shared-recipe deep pipelines, e.g. ``"NeuroSketch-FB+dsbn+epoch0"``;
#: canonical names list them in this order.
LEVERS = {
    "dsbn": Lever("per-subject BatchNorm statistics: one subject per training batch, "
                  "the target's statistics from its unlabelled trials (domain_bn)",
                  {"domain_bn": True}),
    "epoch0": Lever("fine-tuning keeps the pretrained weights unless an epoch beats "
                    "them on the validation split (finetune_epoch0)",
                    {"finetune_epoch0": True}, finetune_only=True),
    "loss": Lever("the best epoch (and epoch 0) chosen by the validation loss, not "
                  "the accuracy, which a rare class can leave flat "
                  "(monitor='valid_loss')", {"monitor": "valid_loss"}),
    "ens3": Lever("mean of 3 networks trained with other seeds (EnsembleClassifier)",
                  members="seeds"),
    "folds3": Lever("mean of 3 networks, each validated on its own third of the "
                    "training trials (EnsembleClassifier)", members="folds"),
}
ENSEMBLE_SIZE = 3
#: What ``NeuroSketch-Select`` chooses from: the representations that need no
#: fact about the data from the user, and the score it chooses by (a proper
#: score, which neither class imbalance nor a small split makes a tie).
SELECT_CANDIDATES = ("NeuroSketch", "NeuroSketch-ERP")
SELECT_SCORING = "neg_log_loss"


def _split_levers(name: str) -> tuple[str, list[str]]:
    """``"NeuroSketch-FB+dsbn"`` -> ``("NeuroSketch-FB", ["dsbn"])`` (checked)."""
    base, *levers = name.strip().split("+")
    levers = [lever.strip().lower() for lever in levers]
    unknown = [lever for lever in levers if lever not in LEVERS]
    if unknown or len(set(levers)) != len(levers):
        raise ValueError(
            f"Invalid suffix in the pipeline name {name!r}: {'+'.join(levers)!r}. "
            f"Allowed suffixes are {', '.join('+' + k for k in LEVERS)}, each at "
            "most once (e.g. 'NeuroSketch-FB+dsbn+epoch0').")
    if sum(LEVERS[lever].members is not None for lever in levers) > 1:
        raise ValueError(f"The pipeline name {name!r} asks for two ensembles; "
                         "keep one of +ens3 and +folds3.")
    return base, [k for k in LEVERS if k in levers]


def pipeline_spec(name: str) -> PipelineSpec:
    """The :class:`PipelineSpec` of a pipeline name (that of its base with levers).

    Parameters
    ----------
    name : str
        A pipeline name, with or without ``+<lever>`` suffixes.

    Returns
    -------
    spec : PipelineSpec
        The spec, named canonically.
    """
    canonical = resolve_model_name(name)
    base, _ = _split_levers(canonical)
    return replace(PIPELINES[base], name=canonical)


def resolve_model_name(name: str) -> str:
    """Return the canonical pipeline name for ``name`` (case-insensitive).

    Parameters
    ----------
    name : str
        A name from :data:`PIPELINES` or an alias such as ``"TS+LR"``,
        ``"NeuroSketch-Base"`` or ``"EEGNetv4-customary"``.

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
    if "+" in key:
        base, levers = _split_levers(name)
        base = resolve_model_name(base)
        spec = PIPELINES[base]
        if spec.kind != "deep" or spec.recipe != "shared":
            raise ValueError(
                f"The suffixes {', '.join('+' + k for k in LEVERS)} apply to the "
                f"networks trained by NeuroSketchClassifier, not to {base!r}.")
        return "+".join([base, *levers])
    model, customary = key, ""
    if key.endswith(CUSTOMARY_SUFFIX):
        model, customary = key[: -len(CUSTOMARY_SUFFIX)], CUSTOMARY_SUFFIX
    try:
        canonical = resolve_model(model).name + customary
    except ValueError:
        canonical = None
    if canonical in PIPELINES:
        return canonical
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
        Training budget of deep pipelines; ``None`` keeps the recipe's
        default. Ignored by classical pipelines.
    device : str
        Device of deep pipelines (``"auto"``, ``"cpu"``, ``"cuda"``).
    random_state : int | None
        Seed of deep pipelines (classical ones are deterministic).
    **kwargs
        Other parameters: of ``NeuroSketchClassifier`` for shared-recipe deep
        pipelines (e.g. ``patience``, ``lr``, ``sfreq``), of
        ``braindecode.EEGClassifier`` for customary ones (and ``sfreq``);
        ``sfreq`` and ``freqs`` (stimulus frequency of each class: a list in
        sorted label order, or ``{label: Hz}``) for ``CCA``, ``TRCA`` and
        ``NeuroSketch-Harmonics``; :func:`~.runner.run_benchmark` reads both
        from the dataset.

    Returns
    -------
    pipeline : sklearn.base.BaseEstimator
        The estimator.
    """
    spec = pipeline_spec(name)
    _, levers = _split_levers(spec.name)
    for lever in levers:
        kwargs.update(LEVERS[lever].params)
    missing = [key for key in spec.needs if kwargs.get(key) is None]
    if missing:
        given = ", ".join(f"{key}=..." for key in missing)
        raise ValueError(
            f"The {spec.name!r} pipeline needs {given}, which arrays do not carry: "
            f"make_pipeline({spec.name!r}, {given}). run_benchmark builds pipelines "
            "from names without them; pass it {name: make_pipeline(name, ...)}."
        )
    if spec.kind == "classical":
        return spec.build(**kwargs)
    budget = dict(max_epochs=max_epochs, batch_size=batch_size, device=device,
                  random_state=random_state)
    if spec.recipe == "customary":
        from ._customary import make_customary

        return make_customary(spec.module, **budget, **kwargs)
    params = dict(module=spec.module, device=device, random_state=random_state)
    params.update({k: int(v) for k, v in budget.items()
                   if k in ("max_epochs", "batch_size") and v is not None})
    base = _split_levers(spec.name)[0]
    if base == "NeuroSketch-Select":
        from ..selection import SelectByValidation

        candidates = [(name, _shared_recipe(name, params, dict(kwargs)))
                      for name in SELECT_CANDIDATES]
        estimator = SelectByValidation(candidates, scoring=SELECT_SCORING,
                                       random_state=random_state)
    else:
        estimator = _shared_recipe(base, params, kwargs)
    members = [LEVERS[lever].members for lever in levers if LEVERS[lever].members]
    if members:
        from ..ensemble import EnsembleClassifier

        estimator = EnsembleClassifier(estimator, n_members=ENSEMBLE_SIZE,
                                       members=members[0], random_state=random_state)
    return estimator


def _shared_recipe(name, params, kwargs):
    """A NeuroSketchClassifier, after its input representation if ``name`` has one."""
    from ..estimator import NeuroSketchClassifier

    features = _features(name, kwargs)
    estimator = NeuroSketchClassifier(**params, **kwargs)
    if features is None:
        return estimator
    from sklearn.pipeline import make_pipeline as _sklearn_pipeline

    return _sklearn_pipeline(features, estimator)


def _features(name, kwargs):
    """The input representation of a deep pipeline that reads planes, or None
    (``freqs`` is the representation's only: it leaves ``kwargs``)."""
    from .. import representations

    if name == "NeuroSketch-ERP":
        return representations.ERPPrototypes()
    if name == "NeuroSketch-Spectrum":
        return representations.ComplexSpectrum(kwargs["sfreq"])
    if name == "NeuroSketch-Harmonics":
        freqs = kwargs.pop("freqs")
        if isinstance(freqs, Mapping):  # per class (None: a class without stimulus)
            freqs = [f for f in freqs.values() if f is not None]
        return representations.HarmonicBands(list(freqs), kwargs["sfreq"],
                                             n_harmonics=2)
    return None


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
    if isinstance(value, (set, frozenset)):  # a set's order changes between runs
        return sorted(_stable(v) for v in value)
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

    all_params = _as_stored(estimator, estimator.get_params(deep=True))
    owners = {"": estimator}
    owners.update((k, v) for k, v in all_params.items() if isinstance(v, BaseEstimator))
    for name, value in sorted(all_params.items()):
        if not _NOT_HASHED.search(name) and not _neutral(owners, name, value):
            params[name] = _stable(value)
    return params


#: Parameters added after benchmark results were first stored, per estimator
#: class, with the default that keeps the earlier behaviour: the hash leaves
#: them out at that value, so that stored fits still match on resume.
_NEUTRAL_DEFAULTS = {
    "NeuroSketchClassifier": {
        "warm_start": False, "init_weights": None, "freeze": None,
        "finetune_lr_scale": 1.0, "finetune_epochs": None, "callbacks": None,
        "finetune_epoch0": False, "domain_bn": False,
    },
}
#: Parameters of the fine-tuning alone (the pretraining does not read them).
_FINETUNE_ONLY = ("freeze", "finetune_lr_scale", "finetune_epochs", "finetune_epoch0")
#: The recipe's fields that switch an augmentation on.
_RECIPE_PROBABILITIES = ("mixup_p", "shift_p", "noise_p", "channel_mask_p",
                         "time_mask_p")


def _neutral(owners, name, value):
    """Whether ``name`` is a later-added parameter at its neutral default."""
    owner, _, param = name.rpartition("__")
    defaults = _NEUTRAL_DEFAULTS.get(type(owners.get(owner)).__name__, {})
    return param in defaults and _stable(value) == _stable(defaults[param])


def _as_stored(estimator, params):
    """A NeuroSketchClassifier's ``params`` as the hash read them before
    ``augmentation`` replaced the recipe keywords, so that the stored fits of a
    recipe (or of no augmentation) still match on resume."""
    if type(estimator).__name__ != "NeuroSketchClassifier":
        return params
    from ..augmentation import RecipeAugmentation, resolve_augmentation

    recipe = resolve_augmentation(estimator.augmentation)
    if recipe is None:
        recipe = RecipeAugmentation(**dict.fromkeys(_RECIPE_PROBABILITIES, 0.0))
    if not isinstance(recipe, RecipeAugmentation):
        return params  # a list of transforms: no stored form
    params = {k: v for k, v in params.items()
              if k != "augmentation" and not k.startswith("augmentation__")}
    if params.get("compile") == "auto":
        # "auto" replaced the default False; compiling changes the speed of a
        # fit, not its result, so stored fits keep their key.
        params["compile"] = False
    return {**params, **recipe.get_params(), "transforms": None}


def _network_budget(params: Mapping, keys) -> dict:
    """The training budget ``keys`` of the network in a pipeline's parameters.

    Parameters
    ----------
    params : dict
        Flattened parameters (``get_params(deep=True)`` or
        :func:`pipeline_params`): the network's own, or those of a network
        inside a Pipeline or a meta-estimator (``<step>__max_epochs``).
    keys : tuple of str
        The budget's parameters.

    Returns
    -------
    budget : dict
        ``{key: value}``; empty for a pipeline without a network.
    """
    owners = [k[: -len("max_epochs")] for k in params
              if k == "max_epochs" or k.endswith("__max_epochs")]
    if not owners:
        return {}
    prefix = min(owners, key=len)  # the outermost network
    return {k: params[prefix + k] for k in keys if prefix + k in params}


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


def pretraining_key(name: str, estimator: BaseEstimator) -> tuple[str, str]:
    """The pipeline name and parameters hash a transfer pretraining is cached under.

    The settings of the fine-tuning alone (``+epoch0``, ``finetune_*``,
    ``freeze``) are left out: a pipeline that differs from another only there
    reuses its pretrained models.

    Parameters
    ----------
    name : str
        The canonical pipeline name.
    estimator : sklearn.base.BaseEstimator
        The pipeline.

    Returns
    -------
    name, params_hash : str
        The key's two parts.
    """
    from sklearn.base import clone

    try:
        base, levers = _split_levers(name)
    except ValueError:  # a pipeline the caller named: no levers to read
        base, levers = name, []
    neutral = _NEUTRAL_DEFAULTS["NeuroSketchClassifier"]
    reset = {key: neutral[key.rpartition("__")[2]] for key in estimator.get_params()
             if key.rpartition("__")[2] in _FINETUNE_ONLY}
    kept = [lever for lever in levers if not LEVERS[lever].finetune_only]
    return "+".join([base, *kept]), params_hash(clone(estimator).set_params(**reset))


def __getattr__(name):
    if name == "StackFilterBank":  # defined with scikit-learn, imported on use
        from ._filterbank import StackFilterBank

        return StackFilterBank
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
