"""NeuroSketchClassifier: the paper's training recipe behind sklearn's fit/predict."""

# License: BSD (3-clause)

from __future__ import annotations

import contextlib
import copy
import difflib
import inspect
import multiprocessing
import numbers
import os
import re
from pathlib import Path
from typing import NamedTuple

import mne
import numpy as np
import torch
from braindecode import EEGClassifier
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import EarlyStopping, LRScheduler
from skorch.dataset import Dataset as _SkorchDataset
from skorch.dataset import unpack_data
from skorch.helper import predefined_split
from skorch.utils import TeeGenerator
from torch import nn

from .augmentation import Mixup, RecipeAugmentation
from .datasets._array import WindowsArray, WindowsTorchDataset, dataset_targets
from .inference import choose_inference_path
from .models.registry import OWN_MODELS, get_model, registry, resolve_model
from .numerics import (
    CHECK_TRIALS,
    check_amp,
    cpu_fast_path,
    cudnn_benchmark,
    inference_dtype,
    names_cuda,
    resolve_compile,
    resolve_device,
    resolve_flag,
    train_path,
    training_dtype,
)
from .training import (
    OneHotBCEWithLogitsLoss,
    TrainStep,
    WarmupCosineSchedule,
    recipe_param_groups,
)
from .utils import _check_option, logger, use_log_level, warn

__all__ = ["NeuroSketchClassifier", "auto_budget"]

#: This package's model names: class and the keyword arguments they fix
#: (read from the model registry, mne_neurosketch.models.registry).
_OWN_MODULES = {name: (get_model(name), dict(registry()[name].fixed))
                for name in OWN_MODELS}
#: Signal parameters the estimator sets from the data.
_SIGNAL_PARAMS = ("n_chans", "n_times", "n_outputs")
#: Below this standard deviation, ``scaling="auto"`` reads array trials as volts.
_VOLT_STD = 1e-2

#: Default units of Epochs data per channel type (the rest stay in SI units).
_DEFAULT_UNITS = {
    "eeg": "uV", "ecog": "uV", "seeg": "uV", "dbs": "uV",
    "eog": "uV", "emg": "uV", "ecg": "uV", "mag": "fT", "grad": "fT/cm",
}
_SAVE_FORMAT = "mne-neurosketch.NeuroSketchClassifier"
# 2: adds the Epochs channel names; 3: the fit's training settings; 4: its
# numeric path ("numerics": the device type, train and inference paths)
_SAVE_VERSION = 4

#: From this many training trials on, "auto" keeps the paper's 500 epochs
#: (tuned on corpora of about 10,000 windows); below, 100.
_SMALL_DATA = 1000
#: "auto" batch sizes: the power of two nearest n_trials / 16 (about 16
#: batches an epoch), within these bounds (64 is the paper's).
_AUTO_BATCH = (16, 64)


def auto_budget(n_trials):
    """The ``max_epochs`` and ``batch_size`` that ``"auto"`` resolves to.

    The batch grows with the training set, about 16 batches an epoch: 16 up
    to about 360 trials (Kalunga2016's 64-128 per subject), 32, then the
    paper's 64 from about 720 (Muse P300's sessions of about 1,000 trials).
    Epochs are 100 below 1,000 trials and the paper's 500 from there.
    ``benchmarks/bench_defaults.py`` chose it against the previous rule
    (batches of 16 below 1,000 trials) on the networks' inner validation
    accuracy, over seeds, on Kalunga2016, Muse P300 (whole sessions and
    sub-sampled to 256 and 64 trials) and a simulated SEED-DV: the two rules
    are the same fit on all but the whole Muse P300 sessions, where batches
    of 64 scored higher and varied less, over seeds and between bf16 and fp32
    (``benchmarks/results/defaults/``).

    Parameters
    ----------
    n_trials : int
        Trials passed to :meth:`NeuroSketchClassifier.fit` (before the
        validation hold-out).

    Returns
    -------
    max_epochs, batch_size : int
        The budget.
    """
    low, high = _AUTO_BATCH
    batch = 2 ** int(np.round(np.log2(max(n_trials, 1) / 16)))
    return (100 if n_trials < _SMALL_DATA else 500), int(np.clip(batch, low, high))


#: Recipe keywords of the constructor before ``augmentation`` replaced them.
_DEPRECATED_RECIPE = tuple(RecipeAugmentation().get_params())
_RECIPE_PROBABILITIES = ("mixup_p", "shift_p", "noise_p", "channel_mask_p",
                         "time_mask_p")


class _Seeds(NamedTuple):
    """The seeds of one training run, drawn from ``random_state`` in this order."""

    init: int  # torch's generator: weight initialisation, dropout
    split: int  # the stratified validation hold-out
    augment: int  # the augmentations' random streams
    shuffle: int  # the order of the training batches

    @classmethod
    def draw(cls, rng):
        return cls(*(int(s) for s in rng.randint(0, 2**31 - 1, size=len(cls._fields))))


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _log_info(text):
    """Sink of skorch's epoch table and early-stopping messages (no colours)."""
    logger.info(_ANSI.sub("", text))


def _softmax(logits):
    return torch.softmax(logits.float(), dim=-1)


def _loader_workers():
    """Worker processes that read lazy windows (``MNE_NEUROSKETCH_NUM_WORKERS``)."""
    if multiprocessing.current_process().daemon:
        return 0  # e.g. inside a Dask worker: daemons cannot start processes
    value = mne.get_config("MNE_NEUROSKETCH_NUM_WORKERS")
    if value is not None:
        try:
            return max(0, int(value))
        except ValueError:
            raise ValueError(
                "Invalid value for the 'MNE_NEUROSKETCH_NUM_WORKERS' config key. "
                f"Allowed values are non-negative integers, but got {value!r} instead."
            ) from None
    return min(4, max(0, (os.cpu_count() or 1) - 1))


class _Loader(torch.utils.data.DataLoader):
    """A DataLoader that reads windows with worker processes when they are lazy.

    Windows read on demand (a braindecode dataset passed to ``fit``/``predict``)
    are loaded by ``MNE_NEUROSKETCH_NUM_WORKERS`` processes (default: the CPU
    count minus one, at most 4) while the network trains; pinned memory is set
    on CUDA by the estimator. Arrays in memory keep the plain loader.
    """

    def __init__(self, dataset, **kwargs):
        lazy = isinstance(dataset, WindowsTorchDataset) or isinstance(
            getattr(dataset, "X", None), WindowsArray
        )
        if lazy and "num_workers" not in kwargs:
            kwargs["num_workers"] = _loader_workers()
        super().__init__(dataset, **kwargs)


# ---------------------------------------------------------------------------
# The skorch / braindecode net with the recipe's training step
# ---------------------------------------------------------------------------
class _RecipeNet(EEGClassifier):
    """EEGClassifier whose training step is :class:`~mne_neurosketch.training.TrainStep`.

    The step augments after the batch reaches the device (so the GPU does it),
    runs the forward pass under ``amp_dtype`` autocast, through
    ``torch.compile`` when ``compile_step``, clips the gradient norm and
    updates AdamW, whose weight decay skips biases and normalisation
    parameters. Predictions use ``inference``, the estimator's chosen
    :class:`~mne_neurosketch.inference.InferencePath`, when it is set.
    """

    def __init__(self, module, *args, augmentation=None, amp_dtype=None,
                 channels_last=False, freeze=None, body_lr_scale=1.0,
                 max_grad_norm=None, compile_step=False, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.augmentation = augmentation
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last
        self.freeze = freeze
        self.body_lr_scale = body_lr_scale
        self.max_grad_norm = max_grad_norm
        self.compile_step = compile_step

    def initialize_module(self):
        super().initialize_module()
        if self.channels_last:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def initialize_optimizer(self, triggered_directly=None):
        named = list(self.get_all_learnable_params())
        _, kwargs = self.get_params_for_optimizer("optimizer", iter(named))
        decay = kwargs.pop("weight_decay", 0.0)
        # Fine-tuning: frozen parameters get no gradient and no optimizer
        # group; the body (all but final_layer) may train at a scaled lr.
        names = {id(p): n for n, p in _plain_module(self.module_).named_parameters()}
        freeze = getattr(self, "freeze", None)  # absent from older pickles
        frozen = _frozen_ids(names, freeze, type(_plain_module(self.module_)))
        for _, param in named:
            if id(param) in frozen:
                param.requires_grad_(False)
        named = [(names.get(id(p), ""), p) for _, p in named if id(p) not in frozen]
        if not named:
            raise ValueError(
                f"freeze={freeze!r} freezes every parameter: nothing is left to "
                "fine-tune. Freeze fewer layers (the head, final_layer, must train)."
            )
        groups = recipe_param_groups(
            named, weight_decay=decay, lr=kwargs["lr"], is_head=_is_head,
            body_lr_scale=getattr(self, "body_lr_scale", 1.0))
        self.optimizer_ = self.optimizer(groups, **kwargs)
        self.__dict__.pop("_step", None)  # built for the new optimizer on first use
        return self

    def get_dataset(self, X, y=None):
        # Windows read on demand go to the DataLoader as they are, never stacked.
        if isinstance(X, WindowsArray):
            return WindowsTorchDataset(X, y)
        return super().get_dataset(X, y)

    def _to_device(self, x):
        if isinstance(x, torch.Tensor) and self.device is not None:
            return x.to(self.device, non_blocking=True)
        return x

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        device_type = torch.device(self.device).type
        return torch.autocast(device_type=device_type, dtype=self.amp_dtype)

    def infer(self, x, **fit_params):
        x = self._to_device(x)
        if self.channels_last and isinstance(x, torch.Tensor) and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            y = super().infer(x, **fit_params)
        return y.float() if isinstance(y, torch.Tensor) else y

    def evaluation_step(self, batch, training=False):
        inference = self.__dict__.get("inference")
        if training or inference is None:
            return super().evaluation_step(batch, training=training)
        Xi, _ = unpack_data(batch)
        return inference(self._to_device(torch.as_tensor(Xi)))

    def _train_step(self):
        step = self.__dict__.get("_step")
        if step is None:
            step = self._step = TrainStep(
                self.module_, self.criterion_, self.optimizer_,
                augmentation=self.augmentation or (),
                amp_dtype=self.amp_dtype, channels_last=self.channels_last,
                compile=getattr(self, "compile_step", False),
                max_grad_norm=getattr(self, "max_grad_norm", None))
        return step

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        self.__dict__.pop("inference", None)  # the weights change
        Xi, yi = unpack_data(batch)
        loss, y_pred = self._train_step().forward_backward(
            self._to_device(Xi), self._to_device(yi))
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        step = self.train_step_single(batch, **fit_params)
        self.notify("on_grad_computed",
                    named_parameters=TeeGenerator(self.get_all_learnable_params()),
                    batch=batch, training=True)
        self._train_step().update()
        return step

    def __getstate__(self):
        state = super().__getstate__()
        # The compiled step and the inference copy are rebuilt on first use
        # (a compiled module does not pickle; the device may differ); the
        # inference path's choice is kept in ``inference_choice``.
        for key in ("_step", "inference"):
            state.pop(key, None)
        return state


# ---------------------------------------------------------------------------
# Input conversion
# ---------------------------------------------------------------------------
def _resolve_module(module, module_kwargs):
    """Return the module class and its keyword arguments."""
    kwargs = dict(module_kwargs or {})
    bad = sorted(set(kwargs) & set(_SIGNAL_PARAMS))
    if bad:
        raise ValueError(
            f"module_kwargs must not contain {bad}: NeuroSketchClassifier sets "
            "n_chans, n_times and n_outputs from the data. Remove them."
        )
    if isinstance(module, str):
        entry = resolve_model(module)
        for key, value in entry.fixed.items():
            if key in kwargs and kwargs[key] != value:
                raise ValueError(
                    f"module={module!r} implies {key}={value!r}, but module_kwargs "
                    f"has {key}={kwargs[key]!r}. Use module='NeuroSketch' with "
                    f"module_kwargs={{'{key}': {kwargs[key]!r}}} instead."
                )
        return entry.cls, {**entry.fixed, **kwargs}
    if isinstance(module, type) and issubclass(module, nn.Module):
        return module, kwargs
    raise TypeError(
        "module must be a model name (str) or an nn.Module subclass, got "
        f"{type(module).__name__} instead. Pass the class, not an instance."
    )


def _check_module_kwargs(cls, kwargs, params):
    """Name the model and its parameters when ``module_kwargs`` has an unknown key."""
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return  # the model takes any keyword
    valid = [name for name, p in params.items() if name != "self"
             and name not in _SIGNAL_PARAMS and p.kind is not p.VAR_POSITIONAL]
    unknown = sorted(set(kwargs) - set(valid))
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"Invalid module_kwargs key(s) {unknown} for {cls.__name__}.{hint} Valid "
        f"parameters of {cls.__name__} are: {', '.join(valid)}."
    )


def _ndim_message(shape, fitted_chans=None):
    message = ("X must be 3-D (n_trials, n_chans, n_times), 2-D (n_trials, "
               "n_times) or, from a filter-bank paradigm, 4-D (n_trials, n_chans, "
               f"n_times, n_bands), got an array of shape {tuple(shape)}.")
    if len(shape) < 2:
        message += (" Reshape your data: X[np.newaxis] for a single trial of "
                    "one channel.")
    elif fitted_chans is not None and len(shape) == 2:
        message += (f" A 2-D X is read as one channel, but this estimator was "
                    f"fitted on {fitted_chans} channels; for a single trial pass "
                    "X[np.newaxis].")
    return message


def _epochs_units(epochs, units):
    types = set(epochs.get_channel_types(picks="data"))
    out = {t: u for t, u in _DEFAULT_UNITS.items() if t in types}
    out.update({t: u for t, u in (units or {}).items() if t in types})
    return out


def _data_ch_names(epochs):
    """Names of the good data channels, in order (what picks="data" returns)."""
    types = set(epochs.get_channel_types(picks="data", unique=True))
    by_type = mne.channel_indices_by_type(epochs.info)
    picked = sorted(i for t in types for i in by_type.get(t, []))
    bads = set(epochs.info["bads"])
    return [epochs.ch_names[i] for i in picked if epochs.ch_names[i] not in bads]


def _epochs_to_array(epochs, y, units, ch_names=None):
    """Channels ``ch_names`` (default: the good data channels) of ``epochs`` in
    per-type units, labels from the events, sfreq and the channel names."""
    if ch_names is None:
        ch_names = _data_ch_names(epochs)
    if not epochs.preload:
        epochs = epochs.copy().load_data()
    X = epochs.get_data(picks=ch_names, units=_epochs_units(epochs, units))
    if y is None:
        names = {code: name for name, code in epochs.event_id.items()}
        y = np.array([names.get(code, code) for code in epochs.events[:, 2]])
    return X, y, float(epochs.info["sfreq"]), list(ch_names)


def _dataset_sfreq(dataset):
    for ds in getattr(dataset, "datasets", [dataset]):
        for attr in ("windows", "raw"):
            info = getattr(getattr(ds, attr, None), "info", None)
            if info is not None:
                return float(info["sfreq"])
    return None


def _dataset_view(dataset):
    """A lazy array view of a (braindecode) dataset, its targets and sfreq."""
    X = WindowsArray(dataset)
    return X, dataset_targets(dataset), _dataset_sfreq(dataset)


def _resolve_scaling(scaling, X):
    """The factor the trials are multiplied by before they reach the network."""
    if scaling is None:
        return 1.0
    if scaling == "auto":
        # Networks with BatchNorm cannot learn from volt-scale signals: the
        # variance (~1e-10 V^2) drowns in BatchNorm's eps. Read them as µV.
        sample = X[: min(len(X), 256)]
        if isinstance(sample, WindowsArray):
            std = sample.std()  # one window at a time
        else:
            std = float(np.std(sample, dtype=np.float64))
        if 0 < std < _VOLT_STD:
            logger.info(f"Trials look like volts (std {std:.2g}); scaling them by "
                        "1e6 to µV (pass scaling=None to disable).")
            return 1e6
        return 1.0
    if isinstance(scaling, numbers.Real) and np.isfinite(scaling) and scaling > 0:
        return float(scaling)
    raise ValueError(
        "Invalid value for the 'scaling' parameter. Allowed values are 'auto', None "
        f"and a positive number, but got {scaling!r} instead."
    )


def _is_dataset(X):
    return isinstance(X, torch.utils.data.Dataset) and not isinstance(X, torch.Tensor)


# ---------------------------------------------------------------------------
# The augmentation parameter
# ---------------------------------------------------------------------------
def _augmentation_from_deprecated(augmentation, deprecated):
    """``augmentation`` with the deprecated recipe keywords folded in (warned)."""
    if not deprecated:
        return augmentation
    unknown = sorted(set(deprecated) - {*_DEPRECATED_RECIPE, "transforms"})
    if unknown:
        raise TypeError(f"NeuroSketchClassifier got an unexpected keyword argument "
                        f"{unknown[0]!r}.")
    given = ", ".join(f"{k}={v!r}" for k, v in deprecated.items())
    fields = {k: v for k, v in deprecated.items() if k != "transforms"}
    if isinstance(augmentation, RecipeAugmentation):
        recipe = clone(augmentation).set_params(**fields)
    elif isinstance(augmentation, str) and augmentation == "recipe":
        recipe = RecipeAugmentation(**fields)
    else:
        raise ValueError(
            f"{given} set(s) the recipe's augmentations, which augmentation="
            f"{augmentation!r} does not use. Pass augmentation=RecipeAugmentation"
            f"({', '.join(f'{k}={v!r}' for k, v in fields.items())}) instead.")
    new = recipe
    if deprecated.get("transforms") is not None:
        new = list(deprecated["transforms"])
        if recipe.mixup_p > 0:
            new.append(Mixup(recipe.mixup_alpha, recipe.mixup_p))
    hint = ("set_params(augmentation__mixup_p=...) and grid searches reach its fields"
            if new is recipe else "mixup, if wanted, goes last in the list")
    warn(f"The keyword(s) {given} are deprecated and will be removed in the next "
         f"release. Pass augmentation={new!r} instead "
         f"(from mne_neurosketch.augmentation); {hint}.", category=FutureWarning)
    return new


def _resolve_augmentation(augmentation):
    """The fit's augmentation: a RecipeAugmentation copy, a list copy, or None."""
    if augmentation is None or (isinstance(augmentation, str)
                                and augmentation == "off"):
        return None
    if isinstance(augmentation, str) and augmentation == "recipe":
        return RecipeAugmentation()
    if isinstance(augmentation, RecipeAugmentation):
        return clone(augmentation)
    if isinstance(augmentation, (list, tuple)):
        bad = [t for t in augmentation if not isinstance(t, nn.Module)]
        if not bad:
            return copy.deepcopy(list(augmentation))
    raise ValueError(
        "Invalid value for the 'augmentation' parameter. Allowed values are "
        "'recipe', 'off', None, a RecipeAugmentation and a list of braindecode "
        f"transforms, but got {augmentation!r} instead.")


def _hide_deprecated_keywords(init):
    """Leave ``**deprecated`` out of ``init``'s signature, which scikit-learn reads
    for the parameter names (and its checks call with every name it lists)."""
    sig = inspect.signature(init)
    init.__signature__ = sig.replace(parameters=[
        p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD])
    return init


def _is_auto(value):
    return isinstance(value, str) and value == "auto"


def _make_transforms(augmentation, seed):
    """The transforms of a resolved augmentation, seeded (recipe) or copied (list)."""
    if augmentation is None:
        return []
    if isinstance(augmentation, RecipeAugmentation):
        return augmentation.make_transforms(seed)
    return copy.deepcopy(list(augmentation))


# ---------------------------------------------------------------------------
# Save / load helpers (portable parameters for torch.load(weights_only=True))
# ---------------------------------------------------------------------------
def _to_portable(value, name):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [_to_portable(v, name) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {str(k): _to_portable(v, name) for k, v in value.items()}
    if isinstance(value, type):
        return {"__class__": f"{value.__module__}:{value.__qualname__}"}
    if isinstance(value, RecipeAugmentation):
        return {"__recipe__": _to_portable(value.get_params(), name)}
    raise ValueError(
        f"Parameter {name!r} holds a {type(value).__name__}, which save() cannot "
        "store. Use pickle to save this estimator, or pass plain values."
    )


def _class_path(cls):
    return f"{cls.__module__}:{cls.__qualname__}"


def _trusted_classes():
    """The classes load() resolves by name: this package's and braindecode's
    models, and torch.nn's layers (e.g. an ``activation`` in ``module_kwargs``).

    All are imported already; a name outside this table is never imported.
    """
    classes = [entry.cls for entry in registry().values()]
    classes += [c for c in vars(nn).values()
                if isinstance(c, type) and issubclass(c, nn.Module)]
    return {_class_path(c): c for c in classes}


def _from_portable(value, resolve):
    """Undo :func:`_to_portable`; ``resolve`` maps a class name to a class."""
    if isinstance(value, list):
        return [_from_portable(v, resolve) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(_from_portable(v, resolve) for v in value["__tuple__"])
        if set(value) == {"__class__"}:
            return resolve(value["__class__"])
        if set(value) == {"__recipe__"}:
            return RecipeAugmentation(**_from_portable(value["__recipe__"], resolve))
        return {k: _from_portable(v, resolve) for k, v in value.items()}
    return value


#: Fields of a save file per format version: required, and optional.
_SAVE_FIELDS = {
    "format": str, "version": int, "params": dict, "module_class": dict,
    "module_init": dict, "classes": list, "classes_dtype": str, "n_features_in": int,
    "n_chans": int, "n_times": int, "sfreq": (int, float, type(None)),
    "scaling": (int, float), "state_dict": dict, "ch_names": (list, type(None)),
    "fit": dict,
    "n_bands": int,  # written for filter banks only: plain files stay as before
    "numerics": dict,
}
_REQUIRED_FIELDS = {
    1: set(_SAVE_FIELDS) - {"scaling", "ch_names", "fit", "n_bands"},
    2: set(_SAVE_FIELDS) - {"fit", "n_bands"},
    3: set(_SAVE_FIELDS) - {"n_bands", "numerics"},
    4: set(_SAVE_FIELDS) - {"n_bands"},
}
_OPTIONAL_FIELDS = {1: {"scaling"}, 2: {"n_bands"}, 3: {"n_bands"}, 4: {"n_bands"}}
#: Keys of the "fit" field: the fitted values the net was built with.
_FIT_FIELDS = ("max_epochs", "batch_size", "augmentation", "net_args")


def _legacy_params(params):
    """Parameters of a version 1-2 file, the recipe keywords as ``augmentation``."""
    fields = {k: params.pop(k) for k in _DEPRECATED_RECIPE if k in params}
    params.pop("transforms", None)  # save() could only store None
    if fields and fields != RecipeAugmentation().get_params():
        params["augmentation"] = RecipeAugmentation(**fields)
    return params


def _check_save_file(data, path, name):
    """Raise a ValueError naming ``path`` unless ``data`` is a complete save file."""
    if not isinstance(data, dict) or data.get("format") != _SAVE_FORMAT:
        raise ValueError(f"{path} is not a file written by {name}.save().")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(
            f"{path} has an invalid format version {version!r}; the file is damaged. "
            "Save the estimator again."
        )
    if version > _SAVE_VERSION:
        raise ValueError(
            f"{path} was written by a newer mne-neurosketch (format version "
            f"{version}; this one reads versions up to {_SAVE_VERSION}). Upgrade "
            "mne-neurosketch to load it."
        )
    required = _REQUIRED_FIELDS[version]
    missing = sorted(required - set(data))
    extra = sorted(set(data) - required - _OPTIONAL_FIELDS[version])
    problems = [f"field(s) {missing} missing"] if missing else []
    problems += [f"unexpected field(s) {extra}"] if extra else []
    for key in sorted(set(data) & set(_SAVE_FIELDS)):
        expected = _SAVE_FIELDS[key]
        if not isinstance(data[key], expected) or isinstance(data[key], bool):
            types = expected if isinstance(expected, tuple) else (expected,)
            names = [t.__name__ for t in types]
            problems.append(f"field {key!r} is a {type(data[key]).__name__}, "
                            f"expected {' or '.join(names)}")
    if problems:
        raise ValueError(
            f"{path} is a {name} file (format version {version}), but "
            f"{'; '.join(problems)}. The file is damaged or was edited; save the "
            "estimator again."
        )


@contextlib.contextmanager
def _keep_global_rng():
    """Restore the global torch (CPU) and NumPy RNG states on exit.

    Predicting draws nothing on purpose, but torch's DataLoader draws a seed
    from the global generator on every pass.
    """
    state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        np.random.set_state(state)


def _first_trials(X, n=CHECK_TRIALS):
    """The first ``n`` trials as an array (read from lazy windows if need be)."""
    if isinstance(X, WindowsArray):
        return np.stack([X.window(i) for i in range(min(n, len(X)))])
    return np.asarray(X[:n], dtype=np.float32)


def _weights_version(module):
    """Changes whenever a parameter or buffer of ``module`` is modified in place."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t._version for t in tensors)


def _plain_module(module):
    """The module itself when wrapped by torch.compile."""
    return getattr(module, "_orig_mod", module)


# ---------------------------------------------------------------------------
# Fine-tuning: pretrained weights, frozen layers, a new head
# ---------------------------------------------------------------------------
_HEAD = "final_layer"


def _is_head(name):
    """Whether a parameter belongs to the head: braindecode names it final_layer
    (BDTCN nests it, as base_tcn.final_layer)."""
    return _HEAD in name.split(".")


def _frozen_ids(names, freeze, module_cls):
    """ids of the parameters ``freeze`` names (``names``: id -> parameter name)."""
    if freeze is None:
        return set()
    if freeze == "body":
        if not any(_is_head(n) for n in names.values()):
            raise ValueError(
                f"freeze='body' freezes all but the head, but {module_cls.__name__} "
                f"has no '{_HEAD}' layer. Pass the prefixes to freeze as a list.")
        return {i for i, n in names.items() if not _is_head(n)}
    frozen = set()
    for prefix in freeze:
        hits = {i for i, n in names.items()
                if n == prefix or n.startswith(prefix.rstrip(".") + ".")}
        if not hits:
            tops = sorted(dict.fromkeys(n.split(".")[0] for n in names.values()))
            raise ValueError(
                f"Invalid value for the 'freeze' parameter: {prefix!r} matches no "
                f"parameter of {module_cls.__name__}. Allowed values are 'body' and "
                f"parameter-name prefixes such as {tops}, but got {prefix!r} instead.")
        frozen |= hits
    return frozen


def _weights_of(estimator):
    """A copy of a fitted estimator's weights (on the CPU)."""
    state = estimator.module_.state_dict()
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def _is_state_dict(value):
    return isinstance(value, dict) and bool(value) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def _load_torch_file(path, hint):
    """``torch.load(weights_only=True)`` of ``path``; errors end with ``hint``."""
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {path}. {hint}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"Cannot read {path} ({err}). {hint}") from None


def _read_weights_file(path):
    """(state dict, classes or None) from a save() file or a saved state dict."""
    data = _load_torch_file(path, (
        "init_weights takes a file written by NeuroSketchClassifier.save() or "
        "torch.save(model.state_dict())."))
    if isinstance(data, dict) and data.get("format") == _SAVE_FORMAT:
        _check_save_file(data, path, "NeuroSketchClassifier")
        return data["state_dict"], np.asarray(data["classes"],
                                              dtype=data["classes_dtype"])
    if _is_state_dict(data):
        return data, None
    raise ValueError(
        f"The init_weights file {path} holds neither a NeuroSketchClassifier.save() "
        "file nor a state dict (parameter name -> tensor).")


def _load_pretrained(module, state, classes, new_classes, source):
    """Copy pretrained weights into ``module``; a new head when classes differ."""
    own = module.state_dict()
    head = [k for k in own if _is_head(k)]
    old_outputs = [tuple(state[k].shape) for k in head if k in state]
    new_head = (classes is not None and not np.array_equal(classes, new_classes)) or (
        old_outputs != [tuple(own[k].shape) for k in head if k in state])
    if new_head:
        if not head:
            raise ValueError(
                f"The classes differ from those of {source}, but "
                f"{type(module).__name__} has no '{_HEAD}' layer to re-initialise. "
                "Fine-tune on the pretrained classes, or use a braindecode model.")
        what = ("the pretrained head does not fit" if classes is None else
                f"the classes differ ({np.asarray(classes).tolist()} -> "
                f"{np.asarray(new_classes).tolist()})")
        logger.info(f"Starting from {source}: {what}; keeping the pretrained body "
                    f"and re-initialising the head ({_HEAD}).")
        state = {k: v for k, v in state.items() if not _is_head(k)}
    missing = sorted(set(own) - set(state) - (set(head) if new_head else set()))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        problems = [f"{label} {keys[:5]}" for label, keys in (
            ("missing", missing), ("unexpected", unexpected),
            ("with another shape", wrong)) if keys]
        raise ValueError(
            f"The weights of {source} do not fit the {type(module).__name__} built "
            f"for these data (parameters {'; '.join(problems)}). Fine-tune with the "
            "module and module_kwargs they were trained with.")
    module.load_state_dict(state, strict=not new_head)
    return new_head


# ---------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------
class NeuroSketchClassifier(ClassifierMixin, BaseEstimator):
    """NeuroSketch (or any braindecode model) trained with the paper's recipe.

    A scikit-learn classifier wrapping :class:`braindecode.EEGClassifier`
    (skorch). Each :meth:`fit` builds a new network sized from the data
    (``n_chans``, ``n_times``, number of classes), holds out a stratified
    validation split, and trains with the recipe of Zhang et al. (2025):
    AdamW, linear warm-up then cosine decay per step, one-hot targets with
    BCE-with-logits, mixup, random shift, additive noise, channel and time
    masking; early stopping restores the best weights. Any braindecode model
    trains with the same recipe, which keeps benchmarks fair.

    Parameters
    ----------
    module : str | type, default="NeuroSketch"
        The network: ``"NeuroSketch"`` (preset ``"base"``),
        ``"NeuroSketchLarge"`` (preset ``"large"``), ``"NeuroSketchSD"``, any
        braindecode model name (``"EEGNet"``, ``"ShallowFBCSPNet"``, ... from
        ``braindecode.models.util.models_dict``) or an :class:`torch.nn.Module`
        class taking ``n_chans``, ``n_outputs`` and ``n_times``.
    module_kwargs : dict | None
        Extra keyword arguments of the module, e.g. ``{"preset": "large"}``
        or ``{"drop_prob": 0.1}``. ``n_chans``, ``n_times`` and ``n_outputs``
        come from the data.
    max_epochs : int | "auto", default="auto"
        Maximum number of passes over the training set. ``"auto"`` chooses
        from the number of training trials (see Notes): 500, the paper's, for
        1000 trials or more; 100 below.
    batch_size : int | "auto", default="auto"
        Training and prediction batch size. ``"auto"``: about a sixteenth of
        the training trials, a power of two from 16 to the paper's 64 (see
        Notes and :func:`auto_budget`). When the training
        set is smaller, training uses it whole as one batch, with a warning
        for an explicit batch size (as scikit-learn's ``MLPClassifier`` clips
        its batch size).
    lr : float, default=1e-3
        Peak learning rate of AdamW.
    weight_decay : float, default=0.05
        AdamW weight decay, applied to weights with two or more dimensions
        (not to biases and normalisation parameters).
    warmup_ratio : float, default=0.1
        Fraction of the training steps with a linear learning-rate warm-up,
        followed by a cosine decay to zero at ``max_epochs``.
    max_grad_norm : float | None, default=1.0
        Gradient-norm clipping (the Hugging Face trainer default the reference
        runs with). ``None`` disables it.
    augmentation : "recipe" | RecipeAugmentation | list | None, default="recipe"
        The training-time augmentations. ``"recipe"``: the paper's (random
        shift, noise, channel and time masking, mixup; the values of
        :class:`~mne_neurosketch.augmentation.RecipeAugmentation`). A
        :class:`~mne_neurosketch.augmentation.RecipeAugmentation` sets their
        parameters, e.g. ``RecipeAugmentation(mixup_p=0)``; its fields are
        nested parameters (``set_params(augmentation__mixup_p=0.2)``, a grid
        search over ``augmentation__mixup_p``). A list of braindecode
        transforms (and those of :mod:`mne_neurosketch.augmentation`, whose
        :class:`~mne_neurosketch.augmentation.Mixup` goes last) is used as it
        is, copied at each fit. ``None`` or ``"off"`` trains without
        augmentation. The deprecated keywords ``mixup_p``, ... ``time_mask_len``
        and ``transforms`` still work in this release, with a warning.
    callbacks : list | None
        Extra :mod:`skorch.callbacks` (instances or ``(name, callback)``
        tuples) run after the recipe's own (learning-rate schedule, gradient
        clipping, early stopping), e.g. :class:`skorch.callbacks.Checkpoint`
        or :class:`skorch.callbacks.EpochScoring`. Copied at each fit.
    valid_size : float | int | None, default=0.2
        Fraction (or number) of the training trials held out, stratified and
        seeded, for early stopping and for choosing the best epoch. ``None``
        trains on everything for ``max_epochs``.
    patience : int | None, default=100
        Epochs without improvement of ``monitor`` before stopping. ``None``
        never stops early but still restores the best epoch's weights.
    monitor : {"valid_acc", "valid_loss"}, default="valid_acc"
        Validation metric that selects the best epoch (the paper uses top-1
        accuracy).
    sfreq : float | None
        Sampling frequency, passed to models that accept ``sfreq``. Taken
        from :class:`mne.Epochs` or braindecode datasets when ``None``.
    units : dict | None
        Units per channel type for :class:`mne.Epochs` input, e.g.
        ``{"ecog": "mV"}``; by default voltage channels are in µV and MEG in
        fT and fT/cm.
    scaling : "auto" | float | None, default="auto"
        Factor the trials are multiplied by (in fit and predict). ``"auto"``
        multiplies by 1e6 when the training trials' standard deviation is
        below 1e-2, i.e. when they look like volts (as MOABB paradigms and
        MNE return them): BatchNorm layers cannot learn from volt-scale
        signals. ``None`` leaves the trials as they are.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``
        or ``"cuda:N"``.
    amp : "auto" | "bf16" | bool, default="auto"
        bf16 autocast of training and prediction. ``"auto"`` decides from
        what the device is, never from a timing
        (:mod:`mne_neurosketch.numerics`): bf16 on CUDA devices that support
        it; on CPUs with bf16 units (AVX512-BF16, AMX), bf16 for this
        package's models when their gradients in bf16 agree with fp32's on
        the first training trials, fp32 for braindecode's models; fp32 on
        other CPUs, where bf16 is emulated and many times slower. Prediction
        runs in the dtype the network trained in. ``train_path_`` and
        ``inference_path_`` say what was taken (:meth:`save` records them);
        ``False`` gives fp32 everywhere, ``True`` or ``"bf16"`` bf16.
    channels_last : "auto" | bool, default="auto"
        Channels-last memory format for 4-D weights (``"auto"``: on CUDA).
    compile : "auto" | bool, default="auto"
        Run the training step through :func:`torch.compile`. ``"auto"``
        compiles when the fit has at least ``COMPILE_MIN_STEPS`` (2000)
        optimizer steps (``max_epochs`` x batches per epoch), enough to earn
        back the compilation time; ``True``/``False`` force it.
    random_state : int | numpy.random.RandomState | None
        Seeds weight initialisation, shuffling, the validation split and the
        augmentations for each fit. With an int, two fits on a CPU give
        identical predictions. ``None`` draws a new seed each fit.
    verbose : bool | str | int | None
        MNE-style log level for this estimator's calls (``None``: the current
        MNE level). At ``"INFO"`` an epoch table is logged.
    warm_start : bool, default=False
        When ``True`` and the estimator is fitted (or was loaded with
        :meth:`load`), :meth:`fit` continues from the current weights instead
        of a new initialisation, as in scikit-learn. That run is a
        fine-tuning run (see Notes).
    init_weights : str | path-like | NeuroSketchClassifier | dict | None
        Pretrained weights a fit starts from when it does not warm start: a
        file written by :meth:`save` (or by ``torch.save(model.state_dict())``),
        a fitted ``NeuroSketchClassifier``, or a state dict (parameter name ->
        tensor) of the same module built with the same ``module_kwargs``. Such
        a fit is a fine-tuning run (see Notes). :func:`sklearn.base.clone`
        (cross-validation, MOABB) resets an estimator passed here; pass a file
        or a state dict to cross-validate.
    freeze : "body" | list of str | None
        Parameters not trained in fine-tuning runs: ``"body"`` (all but the
        head, the parameters under a ``final_layer``, which braindecode
        classifiers have) or parameter-name prefixes such as ``["stem",
        "blocks.0"]``. ``None`` trains everything.
    finetune_lr_scale : float, default=1.0
        Factor on ``lr`` for the body's (non-``final_layer``) parameters in
        fine-tuning runs, e.g. ``0.1`` to move early layers ten times slower
        than the head.
    finetune_epochs : int | None
        Epochs of a fine-tuning run (``None``: ``max_epochs``). Fine-tuning on
        a subject's few calibration trials customarily takes a small budget,
        e.g. 20-50 epochs.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of channels (``n_times`` for 2-D input, seen as one channel).
    n_chans_, n_times_ : int
        Shape of the trials the network was built for.
    n_bands_ : int
        Filter-bank bands of the trials (``X.shape[-1]`` of a 4-D ``X`` from
        a MOABB filter-bank paradigm), 1 for a plain signal. It sets the
        network's ``n_bands`` unless ``module_kwargs`` does.
    ch_names_ : list of str | None
        Channel names of :class:`mne.Epochs` training data (``None`` for
        arrays and datasets). Epochs passed to :meth:`predict` are matched to
        them by name: reordered when their channels differ in order, an error
        when some are missing.
    sfreq_ : float | None
        Sampling frequency used, if known.
    scaling_ : float
        Factor applied to the trials (see ``scaling``).
    max_epochs_, batch_size_ : int
        ``max_epochs`` and ``batch_size`` of the last fit, ``"auto"`` resolved.
    augmentation_ : RecipeAugmentation | list | None
        The augmentation of the last fit (``"recipe"`` resolved to a
        :class:`~mne_neurosketch.augmentation.RecipeAugmentation`).
    net_ : braindecode.EEGClassifier
        The trained skorch net (its module is ``net_.module_``).
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Per-epoch training history (of the fine-tuning on ``X_target_labeled``
        when :meth:`fit` had one).
    n_finetune_trials_ : int
        Number of labeled target trials (``X_target_labeled``) the network was
        fine-tuned on in the last :meth:`fit`; 0 without.
    train_path_ : str
        How the last fit trained, e.g. ``"cpu: bf16+compile"`` or
        ``"cuda: bf16+channels_last+fused AdamW+compile"`` (see ``amp`` and
        ``compile``).
    inference_path_ : str
        How :meth:`predict` computes, e.g. ``"cpu: fused+channels_last+bf16"``:
        BatchNorm folded into the convolutions, under
        :func:`torch.inference_mode`, bf16 where it was chosen as for ``amp``
        (:func:`~mne_neurosketch.inference.choose_inference_path`).

    See Also
    --------
    mne_neurosketch.NeuroSketch, braindecode.EEGClassifier

    Notes
    -----
    Small training sets: ``max_epochs="auto"`` and ``batch_size="auto"``
    follow the number of trials passed to :meth:`fit` (before the validation
    hold-out), through :func:`auto_budget`. From 1000 trials on, they are the
    paper's (500 epochs, batches of 64), tuned on corpora of about 10,000
    windows. Below, 100 epochs, and batches of about a sixteenth of the
    trials, from 16 (a subject of Kalunga2016: 64-128 trials, where batches
    of 64 would make an epoch one or two optimiser steps) to 64 (a Muse P300
    session of about 1,000 trials, where batches of 16 scored lower and
    swung more between bf16 and fp32: ``benchmarks/bench_defaults.py``).
    The recipe's augmentations are kept: without them, NeuroSketch on
    Kalunga2016 subjects 1-3 scored 41 % against 50 % with them
    (``benchmarks/results/kalunga2016/``). The chosen values are logged and
    kept in ``max_epochs_`` and ``batch_size_``; pass numbers to override the
    rule.

    Inputs: arrays ``(n_trials, n_chans, n_times)`` (or ``(n_trials,
    n_times)``, one channel), :class:`mne.Epochs` (data channels of any types
    mixed, converted with ``units``; labels from ``y`` or, when ``y`` is
    ``None``, from the event names), and braindecode windows datasets
    (``y=None``, loaded into memory). Augmentations are the transforms of
    :mod:`mne_neurosketch.augmentation`, applied on the training device.

    Fine-tuning and transfer: a training run that starts from pretrained
    weights (``warm_start``, ``init_weights``, or the target phase of
    :meth:`fit` with ``X_target_labeled``) is a fine-tuning run: it trains for
    ``finetune_epochs`` with ``freeze`` and ``finetune_lr_scale`` applied
    (through the AdamW parameter groups, weight decay still skipping biases
    and normalisation parameters) and the same recipe otherwise. When the
    classes differ from the pretrained ones, the body is kept and the head
    (``final_layer``) re-initialised, which is logged. BatchNorm running
    statistics of frozen layers still adapt to the new data (they are
    buffers, not parameters). Runs that start from a new initialisation
    ignore these three settings.
    """

    #: Metadata fit accepts but does not use is not requested by default, so
    #: that a Pipeline under scikit-learn's metadata routing (as MOABB's
    #: evaluations run it) does not stop on it; a step that uses it (an
    #: alignment) requests it itself.
    __metadata_request__fit = {"subjects": False, "X_target_unlabeled": False}

    #: Parameters added after benchmark results were first stored, with the
    #: default that keeps the earlier behaviour: the benchmark's params_hash
    #: leaves them out at that value, so stored fits still match on resume.
    _hash_neutral_defaults = {
        "warm_start": False, "init_weights": None, "freeze": None,
        "finetune_lr_scale": 1.0, "finetune_epochs": None, "callbacks": None,
    }

    @_hide_deprecated_keywords
    def __init__(
        self,
        module="NeuroSketch",
        *,
        module_kwargs=None,
        max_epochs="auto",
        batch_size="auto",
        lr=1e-3,
        weight_decay=0.05,
        warmup_ratio=0.1,
        max_grad_norm=1.0,
        augmentation="recipe",
        callbacks=None,
        valid_size=0.2,
        patience=100,
        monitor="valid_acc",
        sfreq=None,
        units=None,
        scaling="auto",
        device="auto",
        amp="auto",
        channels_last="auto",
        compile="auto",
        random_state=None,
        verbose=None,
        warm_start=False,
        init_weights=None,
        freeze=None,
        finetune_lr_scale=1.0,
        finetune_epochs=None,
        **deprecated,
    ):
        self.module = module
        self.module_kwargs = module_kwargs
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.max_grad_norm = max_grad_norm
        self.augmentation = _augmentation_from_deprecated(augmentation, deprecated)
        self.callbacks = callbacks
        self.valid_size = valid_size
        self.patience = patience
        self.monitor = monitor
        self.sfreq = sfreq
        self.units = units
        self.scaling = scaling
        self.device = device
        self.amp = amp
        self.channels_last = channels_last
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.init_weights = init_weights
        self.freeze = freeze
        self.finetune_lr_scale = finetune_lr_scale
        self.finetune_epochs = finetune_epochs

    # -- sklearn plumbing --------------------------------------------------
    def set_params(self, **params):
        """Set the parameters of this estimator.

        Parameters
        ----------
        **params : dict
            Estimator parameters, and those of a
            :class:`~mne_neurosketch.augmentation.RecipeAugmentation` as
            ``augmentation__<field>`` (with ``augmentation="recipe"``, on a
            new one holding the recipe's values). The deprecated recipe keywords
            (``mixup_p``...) are still accepted, with a warning.

        Returns
        -------
        self : NeuroSketchClassifier
            This estimator.
        """
        old = {k: params.pop(k) for k in list(params)
               if k in _DEPRECATED_RECIPE or k == "transforms"}
        if old:
            params["augmentation"] = _augmentation_from_deprecated(
                params.get("augmentation", self.augmentation), old)
        nested = sorted(k for k in params if k.startswith("augmentation__"))
        augmentation = params.get("augmentation", self.augmentation)
        if nested and not isinstance(augmentation, RecipeAugmentation):
            if not (isinstance(augmentation, str) and augmentation == "recipe"):
                raise ValueError(
                    f"{nested[0]} sets a field of a RecipeAugmentation, but "
                    f"augmentation={augmentation!r}. Set augmentation="
                    "RecipeAugmentation(...) first.")
            params["augmentation"] = RecipeAugmentation()  # "recipe", made editable
        return super().set_params(**params)

    def _hash_params(self, params):
        """``get_params(deep=True)`` as the benchmark's ``params_hash`` read it
        before ``augmentation`` replaced the recipe keywords, so that the stored
        fits of a recipe (or of no augmentation) still match on resume."""
        recipe = _resolve_augmentation(self.augmentation)
        if recipe is None:
            recipe = RecipeAugmentation(**dict.fromkeys(_RECIPE_PROBABILITIES, 0.0))
        if not isinstance(recipe, RecipeAugmentation):
            return params  # a list of transforms: no stored form
        params = {k: v for k, v in params.items()
                  if k != "augmentation" and not k.startswith("augmentation__")}
        if params.get("compile") == "auto":
            # "auto" replaced the default False; compiling changes the speed of
            # a fit, not its result, so stored fits keep their key.
            params["compile"] = False
        return {**params, **recipe.get_params(), "transforms": None}

    def __getattr__(self, name):
        # Deprecated: the recipe's fields were attributes of the estimator.
        if name not in _DEPRECATED_RECIPE or "augmentation" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}")
        recipe = _resolve_augmentation(self.augmentation)
        if not isinstance(recipe, RecipeAugmentation):
            raise AttributeError(f"augmentation={self.augmentation!r} has no {name!r}.")
        warn(f"NeuroSketchClassifier.{name} is deprecated and will be removed in the "
             f"next release; read augmentation.{name} of a RecipeAugmentation "
             "instead.", category=FutureWarning)
        return getattr(recipe, name)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        return tags

    def _log_level(self):
        if self.verbose is None:
            return contextlib.nullcontext()
        return use_log_level(self.verbose)

    @property
    def module_(self):
        """The trained network (``net_.module_`` without a compile wrapper)."""
        check_is_fitted(self, "net_")
        return _plain_module(self.net_.module_)

    # -- data --------------------------------------------------------------
    def _as_array(self, X, y, *, reset=False):
        """Convert Epochs / datasets to arrays; return X, y, sfreq.

        With ``reset`` (the training X) the Epochs channel names are recorded
        in ``ch_names_``; otherwise Epochs channels are matched to them by name.
        """
        if isinstance(X, mne.BaseEpochs):
            picks = None if reset else self._match_channels(X)
            X, y, sfreq, ch_names = _epochs_to_array(X, y, self.units, picks)
            if reset:
                self.ch_names_ = ch_names
            return X, y, sfreq
        if reset:
            self.ch_names_ = None
        if _is_dataset(X):
            Xa, ya, sfreq = _dataset_view(X)
            if y is not None and len(y) != len(ya):
                raise ValueError(
                    f"y has {len(y)} labels but the dataset X has {len(ya)} windows. "
                    "Pass y=None to use the dataset's targets."
                )
            return Xa, (ya if y is None else y), sfreq
        if isinstance(X, WindowsArray) and y is None:
            return X, dataset_targets(X.dataset)[X.indices], None
        return X, y, None

    def _match_channels(self, epochs):
        """The fit's channel names to pick from ``epochs``, or a clear error."""
        fit_names = getattr(self, "ch_names_", None)
        if fit_names is None:
            return None  # fitted on arrays: the channel count is checked later
        names = _data_ch_names(epochs)
        if names == fit_names:
            return fit_names
        missing = [ch for ch in fit_names if ch not in epochs.ch_names]
        if missing:
            raise ValueError(
                f"The Epochs lack {len(missing)} of the {len(fit_names)} channels this "
                f"{type(self).__name__} was fitted on: {missing}. Pass Epochs with "
                "these channels (e.g. interpolate bad channels with "
                "epochs.interpolate_bads() rather than dropping them)."
            )
        warn(f"The Epochs' data channels differ from the {len(fit_names)} channels "
             f"used in fit (in order, or by extra or bad channels); picking the fit's "
             "channels by name, in the fit's order.")
        return fit_names

    def _check_ndim(self, X):
        if X.ndim not in (2, 3, 4):
            raise ValueError(_ndim_message(X.shape))
        if X.ndim == 4 and X.shape[3] == 1:
            return X[..., 0]  # a filter bank of one band is the plain signal
        return X[:, np.newaxis, :] if X.ndim == 2 else X

    def _check_fit_data(self, X, y):
        X, y, sfreq = self._as_array(X, y, reset=True)
        if isinstance(X, (np.ndarray, list)) and isinstance(y, (np.ndarray, list)):
            if len(X) != len(y):
                raise ValueError(
                    f"X and y have different numbers of trials: X has {len(X)} and "
                    f"y has {len(y)}. Pass one label per trial."
                )
        if isinstance(X, WindowsArray):  # read on demand, never stacked
            y = np.asarray(y)
            self.n_features_in_ = X.shape[1]
            check_classification_targets(y)
            return X, y, sfreq
        X, y = validate_data(
            self, X, y, reset=True, allow_nd=True, dtype=np.float32, order="C"
        )
        X = np.require(self._check_ndim(X), requirements=["C", "W"])
        check_classification_targets(y)
        return X, y, sfreq

    def _check_sfreq(self, sfreq):
        """A clear error when Epochs or a dataset run at another rate than the fit's."""
        fitted = getattr(self, "sfreq_", None)
        if sfreq is not None and fitted is not None and not np.isclose(sfreq, fitted):
            raise ValueError(
                f"Invalid value for the 'X' parameter: it is sampled at {sfreq:g} Hz, "
                f"but this {type(self).__name__} was fitted at {fitted:g} Hz, and "
                f"the network reads samples, not seconds. Resample X to {fitted:g} "
                f"Hz (e.g. epochs.resample({fitted:g})).")

    def _check_predict_data(self, X):
        check_is_fitted(self, "net_")
        X, _, sfreq = self._as_array(X, None)
        self._check_sfreq(sfreq)
        if isinstance(X, WindowsArray):  # read on demand, never stacked
            return self._scale(self._check_trial_shape(X))
        shape = getattr(X, "shape", None)
        if shape is None and isinstance(X, (list, tuple)):
            try:
                shape = np.shape(X)
            except ValueError:
                shape = None  # ragged: validate_data says so
        if shape is not None and (len(shape) not in (2, 3, 4) or (
                len(shape) == 2 and self.n_chans_ != 1)):
            raise ValueError(_ndim_message(shape, self.n_chans_))
        plain = len(self._fitted_trial_shape()) == 2
        if plain and shape is not None and len(shape) == 4 and shape[3] != 1:
            # a 4-D X is a filter bank: say so rather than count its channels
            raise ValueError(
                f"Invalid value for the 'X' parameter: a 4-D X of shape "
                f"{tuple(shape)} is read as a filter bank (n_trials, n_chans, "
                f"n_times, n_bands), but this {type(self).__name__} was fitted on "
                f"plain trials of {self.n_chans_} channels x {self.n_times_} "
                "samples. Pass X shaped as in fit.")
        if shape is not None and len(shape) >= 3 and shape[1] != self.n_chans_:
            raise ValueError(
                f"X has {shape[1]} channels, but this {type(self).__name__} was "
                f"fitted on {self.n_chans_} channels. Pass trials with the channels "
                "used in fit, in the same order."
            )
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32,
                          order="C")
        X = self._check_trial_shape(self._check_ndim(X))
        return self._scale(np.require(X, requirements=["C", "W"]))

    def _fitted_trial_shape(self):
        """``(n_chans, n_times)``, or ``(n_chans, n_times, n_bands)`` (filter bank)."""
        n_bands = getattr(self, "n_bands_", 1)  # absent from older pickles
        bands = (n_bands,) if n_bands > 1 else ()
        return (self.n_chans_, self.n_times_, *bands)

    def _check_trial_shape(self, X):
        """``X`` itself, if its trials have the fitted shape; else a clear error."""
        fitted = self._fitted_trial_shape()
        if tuple(X.shape[1:]) == fitted:
            return X
        if len(X.shape) == 4 or len(fitted) == 3:
            raise ValueError(
                f"Invalid value for the 'X' parameter: its trials have shape "
                f"{tuple(X.shape[1:])}, but this {type(self).__name__} was fitted "
                f"on trials of shape {fitted}: {getattr(self, 'n_bands_', 1)} "
                "filter-bank band(s) (n_bands, the last axis of a 4-D X) of "
                f"{self.n_chans_} channels x {self.n_times_} samples. Pass X from "
                "the filter bank used in fit."
            )
        raise ValueError(
            f"X has trials of {X.shape[1]} channels x {X.shape[2]} samples, but "
            f"this {type(self).__name__} was fitted on {self.n_chans_} channels x "
            f"{self.n_times_} samples. Crop or resample the trials to match."
        )

    def _scale(self, X):
        return X if self.scaling_ == 1.0 else X * np.float32(self.scaling_)

    def _split(self, X, y, X_valid, y_valid, seed):
        if X_valid is not None:
            X_valid, y_valid, _ = self._as_array(X_valid, y_valid)
            if y_valid is None:
                raise ValueError("y_valid is required with X_valid.")
            if not isinstance(X_valid, WindowsArray):
                X_valid = validate_data(self, X_valid, reset=False, allow_nd=True,
                                        dtype=np.float32, order="C")
                X_valid = np.require(self._check_ndim(X_valid),
                                     requirements=["C", "W"])
            if X_valid.shape[1:] != X.shape[1:]:
                raise ValueError(
                    f"X_valid has trials of shape {X_valid.shape[1:]}, but X has "
                    f"{X.shape[1:]}. Pass validation trials shaped like X."
                )
            unknown = sorted(set(np.unique(y_valid)) - set(self.classes_))
            if unknown:
                raise ValueError(f"y_valid has labels not seen in y: {unknown}.")
            return X, y, X_valid, self.label_encoder_.transform(y_valid)
        if self.valid_size is None:
            return X, y, None, None
        try:
            X_tr, X_va, y_tr, y_va = train_test_split(
                X, y, test_size=self.valid_size, stratify=y, random_state=seed
            )
        except ValueError as err:
            raise ValueError(
                f"Cannot hold out a stratified validation split with "
                f"valid_size={self.valid_size!r} from {len(y)} trials of "
                f"{len(self.classes_)} classes ({err}). Each class needs at least "
                "2 trials and the split at least one trial per class; increase "
                "valid_size, or pass valid_size=None to train without early stopping."
            ) from None
        return X_tr, y_tr, X_va, y_va

    # -- network -----------------------------------------------------------
    def _module_init_kwargs(self, n_chans, n_times, n_outputs, sfreq):
        cls, kwargs = _resolve_module(self.module, self.module_kwargs)
        params = inspect.signature(cls.__init__).parameters
        _check_module_kwargs(cls, kwargs, params)
        kwargs.update(n_chans=n_chans, n_times=n_times, n_outputs=n_outputs)
        n_bands = getattr(self, "n_bands_", 1)
        if n_bands > 1:  # a filter bank: one input plane per band
            if "n_bands" not in params:
                raise ValueError(
                    f"X is a filter bank of {n_bands} bands (n_trials, n_chans, "
                    f"n_times, n_bands), but {cls.__name__} takes no n_bands "
                    "parameter. Use a module that does (NeuroSketch, NeuroSketchSD)"
                    ", or stack the bands as channels (StackFilterBank)."
                )
            kwargs.setdefault("n_bands", n_bands)
        if sfreq is not None and "sfreq" in params and "sfreq" not in kwargs:
            kwargs["sfreq"] = float(sfreq)
        return cls, kwargs

    def _build_net(self, module_cls, module_init, *, batch_size, n_train, device, seeds,
                   valid_ds=None, finetune=False, check_trials=None):
        # batch_size: of training (clipped to the training set); prediction and
        # validation batches keep batch_size_. What save() stores to rebuild it:
        self._net_args = {"batch_size": int(batch_size), "n_train": int(n_train),
                          "seeds": list(seeds), "finetune": bool(finetune)}
        drop_last = n_train % batch_size == 1  # a 1-trial batch breaks BatchNorm
        n_batches = n_train // batch_size if drop_last else -(-n_train // batch_size)
        epochs = self.max_epochs_
        if finetune and self.finetune_epochs is not None:
            epochs = int(self.finetune_epochs)
        n_steps = max(1, epochs * n_batches)
        schedule = WarmupCosineSchedule(n_steps, self.warmup_ratio)
        callbacks = [
            ("lr_scheduler", LRScheduler(
                policy=torch.optim.lr_scheduler.LambdaLR, lr_lambda=schedule,
                step_every="batch")),
        ]
        if valid_ds is not None:
            callbacks.append(("early_stopping", self._early_stopping()))
        callbacks.extend(copy.deepcopy(list(self.callbacks or ())))
        augmentation = _make_transforms(self.augmentation_, seeds.augment)
        cuda = torch.device(device).type == "cuda"
        amp_dtype = training_dtype(self.amp, device, module_cls, module_init,
                                   check_trials)
        channels_last = resolve_flag("channels_last", self.channels_last, device)
        compiled = resolve_compile(self.compile, n_steps)
        net = _RecipeNet(
            module_cls,
            augmentation=augmentation,
            amp_dtype=amp_dtype,
            channels_last=channels_last,
            max_grad_norm=self.max_grad_norm,
            compile_step=compiled,
            criterion=OneHotBCEWithLogitsLoss,
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            # one fused kernel per update on CUDA; foreach on the CPU, where
            # fused is not faster
            **({"optimizer__fused": True} if cuda else {"optimizer__foreach": True}),
            lr=self.lr,
            batch_size=self.batch_size_,
            max_epochs=epochs,
            freeze=self.freeze if finetune else None,
            body_lr_scale=float(self.finetune_lr_scale) if finetune else 1.0,
            train_split=predefined_split(valid_ds) if valid_ds is not None else None,
            callbacks=callbacks,
            callbacks__print_log__sink=_log_info,
            predict_nonlinearity=_softmax,
            iterator_train__shuffle=True,
            iterator_train__batch_size=batch_size,
            iterator_train__drop_last=drop_last,
            iterator_train__generator=torch.Generator().manual_seed(seeds.shuffle),
            iterator_train=_Loader,
            iterator_valid=_Loader,
            iterator_train__pin_memory=cuda,
            iterator_valid__pin_memory=cuda,
            device=device,
            verbose=0,
            **{f"module__{k}": v for k, v in module_init.items()},
        )
        net.train_path = train_path(device, amp_dtype, channels_last, compiled)
        net.signal_args_set_ = True  # the module's signal kwargs are explicit
        return net

    def _resolve_budget(self, n_trials):
        """Set ``max_epochs_`` and ``batch_size_``: "auto" chosen from ``n_trials``."""
        chosen = []
        for name, value in zip(("max_epochs", "batch_size"), auto_budget(n_trials)):
            if _is_auto(getattr(self, name)):
                chosen.append(f"{name}={value}")
            else:
                value = getattr(self, name)
            setattr(self, f"{name}_", int(value))
        if chosen:
            logger.info(f"{n_trials} training trials: {', '.join(chosen)} (the "
                        "'auto' rule, estimator.auto_budget).")

    def _train_batch_size(self, n_trials, n_train, y_va, X_valid):
        """batch_size_, clipped to the training set as MLPClassifier does."""
        if n_train >= self.batch_size_:
            return self.batch_size_
        if _is_auto(self.batch_size):
            return n_train  # the rule's choice, not the user's: no warning
        held = "" if y_va is None or X_valid is not None else (
            f" ({n_trials} trials minus {len(y_va)} held out for validation "
            f"with valid_size={self.valid_size!r})")
        warn(f"batch_size={self.batch_size} is larger than the {n_train} training "
             f"trials{held}; training with batches of {n_train}.")
        return n_train

    def _early_stopping(self):
        acc = self.monitor == "valid_acc"
        patience = self.max_epochs_ + 1 if self.patience is None else int(self.patience)
        # The reference stops when top-1 accuracy has not improved by 0.001.
        return EarlyStopping(
            monitor=self.monitor, lower_is_better=not acc, patience=patience,
            threshold=1e-3 if acc else 1e-4, threshold_mode="abs" if acc else "rel",
            load_best=True, sink=_log_info,
        )

    def _check_params(self):
        check_amp(self.amp)
        # checked even without a validation set, where it would go unused
        _check_option("monitor", self.monitor, ("valid_acc", "valid_loss"))
        for name in ("max_epochs", "batch_size"):
            value = getattr(self, name)
            if not _is_auto(value) and (not isinstance(value, numbers.Integral)
                                        or isinstance(value, bool) or value < 1):
                raise ValueError(
                    f"Invalid value for the '{name}' parameter. Allowed values are "
                    f"'auto' and positive integers, but got {value!r} instead.")
        _resolve_augmentation(self.augmentation)
        if self.patience is not None and (
            not isinstance(self.patience, numbers.Integral) or self.patience < 1
        ):
            raise ValueError(
                f"patience must be a positive integer or None, got {self.patience!r}."
            )

    def _check_finetune_params(self):
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise ValueError(
                "Invalid value for the 'warm_start' parameter. Allowed values are "
                f"True and False, but got {self.warm_start!r} instead.")
        freeze = self.freeze
        if not (freeze is None or freeze == "body" or (
                isinstance(freeze, (list, tuple)) and freeze
                and all(isinstance(f, str) and f.strip(".") for f in freeze))):
            raise ValueError(
                "Invalid value for the 'freeze' parameter. Allowed values are None, "
                "'body' and a non-empty list of parameter-name prefixes (e.g. "
                f"['stem', 'blocks.0']), but got {freeze!r} instead.")
        scale = self.finetune_lr_scale
        if isinstance(scale, (bool, np.bool_)) or not isinstance(
                scale, numbers.Real) or not np.isfinite(scale) or scale <= 0:
            raise ValueError(
                "Invalid value for the 'finetune_lr_scale' parameter. Allowed values "
                f"are positive numbers (use freeze= to stop layers), but got {scale!r} "
                "instead.")
        epochs = self.finetune_epochs
        if epochs is not None and (not isinstance(epochs, numbers.Integral)
                                   or isinstance(epochs, (bool, np.bool_)) or epochs < 1):
            raise ValueError(
                "Invalid value for the 'finetune_epochs' parameter. Allowed values "
                f"are None and positive integers, but got {epochs!r} instead.")

    def _pretrained(self):
        """The weights this fit starts from: (state dict, classes, source) or None."""
        if self.warm_start and hasattr(self, "net_"):
            return _weights_of(self), self.classes_, "the previous fit (warm_start)"
        weights = self.init_weights
        if weights is None:
            return None
        if isinstance(weights, NeuroSketchClassifier):
            if not hasattr(weights, "net_"):
                raise ValueError(
                    "init_weights is an unfitted NeuroSketchClassifier. Fit it first; "
                    "note that sklearn.base.clone (cross-validation, MOABB) resets an "
                    "estimator passed as a parameter, so pass a file written by "
                    "save() or a state dict there instead.")
            return _weights_of(weights), weights.classes_, "init_weights"
        if isinstance(weights, (str, os.PathLike)):
            path = Path(weights)
            return (*_read_weights_file(path), f"init_weights={str(path)!r}")
        if _is_state_dict(weights):
            return dict(weights), None, "the state dict in init_weights"
        raise ValueError(
            "Invalid value for the 'init_weights' parameter. Allowed values are None, "
            "a file written by save(), a fitted NeuroSketchClassifier and a state "
            "dict (parameter name -> tensor), but got a "
            f"{type(weights).__name__} instead.")

    def _check_target(self, X_target_labeled, y_target_labeled, subjects, n_trials):
        """The labeled target trials, checked and encoded (or None)."""
        if subjects is not None and len(subjects) != n_trials:
            raise ValueError(
                f"subjects has {len(subjects)} entries but X has {n_trials} trials. "
                "Pass the subject of each training trial.")
        if (X_target_labeled is None) != (y_target_labeled is None):
            given, missing = (("X_target_labeled", "y_target_labeled")
                              if y_target_labeled is None else
                              ("y_target_labeled", "X_target_labeled"))
            raise ValueError(
                f"{given} was given without {missing}. Fine-tuning on the target "
                "subject needs both (MOABB routes both with calibration_labeled=True).")
        if X_target_labeled is None:
            return None, None
        X_t, y_t, _ = self._as_array(X_target_labeled, y_target_labeled)
        shape = tuple(X_t.shape if hasattr(X_t, "shape") else np.shape(X_t))
        if len(shape) == 2 and self.n_chans_ == 1:
            shape = (shape[0], 1, shape[1])  # 2-D: one channel, as for X
        if shape[1:] != self._fitted_trial_shape():
            raise ValueError(
                f"X_target_labeled has trials of shape {shape[1:]}, but X has "
                f"{self._fitted_trial_shape()}. Pass target trials shaped like X.")
        X_t = validate_data(self, X_t, reset=False, allow_nd=True, dtype=np.float32,
                            order="C")
        X_t = self._check_ndim(X_t)
        y_t = np.asarray(y_target_labeled if y_t is None else y_t)
        if len(y_t) != len(X_t) or len(y_t) < 2:
            raise ValueError(
                f"X_target_labeled has {len(X_t)} trials and y_target_labeled "
                f"{len(y_t)} labels. Pass one label per trial, and at least 2 trials.")
        unknown = np.setdiff1d(y_t, self.classes_)
        if len(unknown):
            raise ValueError(
                f"y_target_labeled has labels not seen in y: {unknown.tolist()}. The "
                "target's classes must be among the training classes "
                f"{self.classes_.tolist()}.")
        X_t = self._scale(np.require(X_t, requirements=["C", "W"]))
        return X_t, self.label_encoder_.transform(y_t)

    def _train(self, net, X, y, device, seed, start):
        """Train ``net`` from a new initialisation, or from ``start``'s weights."""
        # Seed inside a fork so the caller's global torch RNG is untouched.
        dev = torch.device(device)
        cuda_ids = [] if dev.type != "cuda" else [
            dev.index if dev.index is not None else torch.cuda.current_device()]
        with torch.random.fork_rng(devices=cuda_ids), cudnn_benchmark(device):
            torch.manual_seed(seed)
            if start is not None:
                net.initialize()  # the optimizer keeps the parameters loaded next
                _load_pretrained(_plain_module(net.module_), start[0], start[1],
                                 self.classes_, start[2])
                net.warm_start = True  # fit() must not re-initialise them
            net.fit(X, y)

    def _finetune_on_target(self, X_t, y_t, module_cls, module_init, device, seeds):
        """Fine-tune the source-trained network on the target's calibration trials.

        There is no validation split (the calibration trials are too few to hold
        some out): the run trains for the fine-tuning epochs and keeps the last
        weights.
        """
        net = self._build_net(module_cls, module_init,
                              batch_size=min(self.batch_size_, len(y_t)),
                              n_train=len(y_t), device=device, seeds=seeds,
                              finetune=True)
        logger.info(f"Fine-tuning on {len(y_t)} labeled target trials for "
                    f"{net.max_epochs} epochs.")
        start = (_weights_of(self), self.classes_, "the source training")
        self._train(net, X_t, y_t, device, seeds.init, start)
        self.net_ = net
        self.history_ = net.history
        self.n_finetune_trials_ = len(y_t)

    # -- public API --------------------------------------------------------
    def fit(self, X, y=None, *, X_valid=None, y_valid=None, X_target_labeled=None,
            y_target_labeled=None, subjects=None, X_target_unlabeled=None):
        """Build a new network and train it with the recipe.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_chans, n_times) | mne.Epochs | Dataset
            Training trials. A 2-D array is read as ``(n_trials, n_times)``
            with one channel; a 4-D array ``(n_trials, n_chans, n_times,
            n_bands)``, as MOABB's filter-bank paradigms return, is a filter
            bank (the network gets ``n_bands``, one input plane per band).
            A braindecode windows dataset (or any torch
            dataset yielding ``(X, y, ...)``) is streamed: its windows are read
            batch by batch by DataLoader workers (``MNE_NEUROSKETCH_NUM_WORKERS``),
            never stacked in memory.
        y : array-like of shape (n_trials,) | None
            Labels (integers or strings). ``None`` for datasets (their
            targets) and for Epochs (their event names).
        X_valid, y_valid : array-like | mne.Epochs | None
            A predefined validation set for early stopping, used instead of
            holding out ``valid_size`` of ``X``.
        X_target_labeled, y_target_labeled : array-like | mne.Epochs | None
            Labeled calibration trials of a target subject (MOABB's
            ``CrossSubjectEvaluation`` with ``cv_kwargs={"calibration_size":
            ..., "calibration_labeled": True}`` routes them when requested with
            ``set_fit_request``). After training on ``X``, the network is
            fine-tuned on them (a fine-tuning run, see Notes), without a
            validation split. Their labels must be among ``y``'s. MOABB routes
            them raw: after a signal-changing step (alignment), list them in
            the pipeline's ``transform_input`` so that they pass through it.
        subjects : array-like of shape (n_trials,) | None
            The subject of each trial of ``X``, as MOABB routes it. Checked for
            length and otherwise ignored: per-subject alignment is the job of a
            transform such as :class:`~mne_neurosketch.alignment.EuclideanAlignment`.
        X_target_unlabeled : array-like | None
            Unlabeled target trials, as MOABB routes them; ignored by the
            estimator (alignment transforms use them).

        Returns
        -------
        self : NeuroSketchClassifier
            The fitted estimator.
        """
        with self._log_level():
            self._check_params()
            self._check_finetune_params()
            start = self._pretrained()  # before this fit resets classes_
            X, y, sfreq = self._check_fit_data(X, y)
            self.label_encoder_ = LabelEncoder().fit(y)
            self.classes_ = self.label_encoder_.classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes to train, but "
                    f"y contains only one class: {self.classes_[0]!r}."
                )
            y = self.label_encoder_.transform(y)
            rng = check_random_state(self.random_state)
            seeds = _Seeds.draw(rng)
            self.scaling_ = _resolve_scaling(self.scaling, X)
            self._resolve_budget(len(y))
            self.augmentation_ = _resolve_augmentation(self.augmentation)
            X_tr, y_tr, X_va, y_va = self._split(X, y, X_valid, y_valid, seeds.split)
            X_tr = self._scale(X_tr)
            X_va = None if X_va is None else self._scale(X_va)
            batch_size = self._train_batch_size(len(y), len(y_tr), y_va, X_valid)
            device = resolve_device(self.device)
            self.n_chans_, self.n_times_ = int(X.shape[1]), int(X.shape[2])
            self.n_bands_ = int(X.shape[3]) if len(X.shape) == 4 else 1
            X_t, y_t = self._check_target(X_target_labeled, y_target_labeled,
                                          subjects, len(y))
            self.sfreq_ = self.sfreq if self.sfreq is not None else sfreq
            module_cls, module_init = self._module_init_kwargs(
                self.n_chans_, self.n_times_, len(self.classes_), self.sfreq_
            )
            valid_ds = None if X_va is None else _SkorchDataset(X_va, y_va)
            net = self._build_net(module_cls, module_init, batch_size=batch_size,
                                  n_train=len(y_tr), device=device, seeds=seeds,
                                  valid_ds=valid_ds, finetune=start is not None,
                                  check_trials=_first_trials(X_tr))
            self.train_path_ = net.train_path
            logger.info(
                f"{'Fine-tuning' if start else 'Training'} {module_cls.__name__} on "
                f"{len(y_tr)} trials "
                f"({self.n_chans_} channels x {self.n_times_} samples, "
                f"{len(self.classes_)} classes"
                + (f", {len(y_va)} validation trials" if X_va is not None else "")
                + f") on {device}, path {self.train_path_}."
            )
            self._train(net, X_tr, y_tr, device, seeds.init, start)
            self.net_ = net
            self.history_ = net.history
            self.n_finetune_trials_ = 0
            if X_t is not None:
                # Drawn after the source seeds, which stay those of a plain fit.
                self._finetune_on_target(X_t, y_t, module_cls, module_init, device,
                                         _Seeds.draw(rng))
            self.inference_path_ = self._prepare_inference()
        return self

    def _prepare_inference(self):
        """Prepare predict's path (numerics.inference_dtype); return its description."""
        net = self.net_
        device = torch.device(net.device)
        module = _plain_module(net.module_)
        trained = net.amp_dtype
        choice = getattr(net, "inference_choice", None)
        if choice is not None and choice[0] == device.type:
            # unpickled or loaded: the dtype decided after the fit
            trained = torch.bfloat16 if choice[1] else None
        amp_dtype = inference_dtype(self.amp, device, trained)
        # a baseline keeps its own memory layout on CPUs (numerics.cpu_fast_path)
        fast = cpu_fast_path(type(module)) or device.type == "cuda"
        path = choose_inference_path(module, amp_dtype=amp_dtype,
                                     channels_last=None if fast else False)
        net.inference = path
        net.inference_choice = (device.type, amp_dtype is not None)
        net.inference_version = _weights_version(net.module_)
        logger.info(f"Inference path: {path.description}.")
        return path.description

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_chans, n_times) | mne.Epochs | Dataset
            Trials shaped like the training trials.

        Returns
        -------
        proba : ndarray of shape (n_trials, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        with self._log_level():
            X = self._check_predict_data(X)
            net = self.net_
            if ("inference" not in net.__dict__  # unpickled or loaded
                    or net.inference_version != _weights_version(net.module_)):
                self.inference_path_ = self._prepare_inference()  # or new weights
            with cudnn_benchmark(self.net_.device), _keep_global_rng():
                return self.net_.predict_proba(X)

    def predict(self, X):
        """Predict class labels: the most probable class of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like | mne.Epochs | Dataset
            Trials, as for :meth:`predict_proba`.

        Returns
        -------
        y_pred : ndarray of shape (n_trials,)
            Predicted labels, from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y=None, sample_weight=None):
        """Mean accuracy on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like | mne.Epochs | Dataset
            Test trials.
        y : array-like of shape (n_trials,) | None
            True labels; ``None`` takes them from a dataset or Epochs ``X``.
        sample_weight : array-like of shape (n_trials,) | None
            Sample weights.

        Returns
        -------
        score : float
            Accuracy.
        """
        if y is None:
            X, y, sfreq = self._as_array(X, None)
            self._check_sfreq(sfreq)
            if y is None:
                raise ValueError("y is required when X is an array.")
        return super().score(X, y, sample_weight=sample_weight)

    # -- persistence -------------------------------------------------------
    def __setstate__(self, state):
        super().__setstate__(state)
        net = self.__dict__.get("net_")
        # A net trained on CUDA and unpickled on a CPU-only machine: skorch
        # moves it to the CPU; drop the CUDA-only autocast chosen by "auto".
        if net is not None and torch.device(net.device).type == "cpu" and (
            self.amp == "auto" and getattr(self, "train_path_", "").startswith("cuda")
        ):
            net.amp_dtype = None

    def save(self, path):
        """Save the parameters and trained weights to a file.

        The file holds only tensors and plain Python values, so
        :meth:`load` reads it with ``torch.load(weights_only=True)``, on any
        machine (with or without a GPU).

        Parameters
        ----------
        path : str | path-like
            Output file (conventionally ``.pt``).
        """
        check_is_fitted(self, "net_")
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(
                f"Cannot save to {path}: it is a folder. save() writes one file; pass "
                f"a file name such as {path / 'classifier.pt'}."
            )
        if not path.parent.is_dir():
            raise FileNotFoundError(
                f"Cannot save to {path}: the folder {path.parent} does not exist. "
                "Create it first."
            )
        params = self.get_params(deep=False)
        # The trained weights are in the file; only a path to the initial ones
        # is kept (an estimator or a state dict there is not needed to predict).
        init = params["init_weights"]
        is_path = isinstance(init, (str, os.PathLike))
        params["init_weights"] = str(init) if is_path else None
        params = {k: _to_portable(v, k) for k, v in params.items()}
        module_cls, module_init = self._module_init_kwargs(
            self.n_chans_, self.n_times_, len(self.classes_), self.sfreq_
        )
        state = {
            k: v.detach().cpu() for k, v in self.module_.state_dict().items()
        }
        torch.save({
            "format": _SAVE_FORMAT,
            "version": _SAVE_VERSION,
            "params": params,
            "module_class": _to_portable(module_cls, "module"),
            "module_init": _to_portable(module_init, "module_kwargs"),
            "classes": [c.item() if hasattr(c, "item") else c for c in self.classes_],
            "classes_dtype": str(self.classes_.dtype),
            "n_features_in": int(self.n_features_in_),
            "n_chans": self.n_chans_,
            "n_times": self.n_times_,
            "sfreq": self.sfreq_,
            "scaling": self.scaling_,
            "ch_names": self.ch_names_,
            "fit": {
                "max_epochs": self.max_epochs_,
                "batch_size": self.batch_size_,
                "augmentation": _to_portable(self.augmentation_, "augmentation"),
                "net_args": self._net_args,
            },
            "state_dict": state,
            "numerics": {
                "device": torch.device(self.net_.device).type,
                "train_path": self.train_path_,
                "inference_path": self.inference_path_,
                "inference_bf16": bool(self.net_.inference_choice[1]),
            },
            **({"n_bands": self.n_bands_} if getattr(self, "n_bands_", 1) > 1 else {}),
        }, path)

    @classmethod
    def load(cls, path, *, module=None, trusted_classes=(), device=None):
        """Load an estimator written by :meth:`save`.

        Classes named in the file (the network, an ``activation`` in
        ``module_kwargs``...) are looked up among this package's models,
        braindecode's models and :mod:`torch.nn`'s layers; nothing named in
        the file is imported. Pass your own network class as ``module``, and
        any other class of your own that the file names as ``trusted_classes``.

        Parameters
        ----------
        path : str | path-like
            File written by :meth:`save`.
        module : type | None
            The network class, when it is not one of this package's or
            braindecode's models (e.g. ``module=MyNet``). Only pass a class for
            a file you trust: its weights are loaded into it.
        trusted_classes : sequence of type
            Other classes of your own that the file names, e.g. an activation
            in ``module_kwargs`` (``trusted_classes=[MyActivation]``), matched
            by module and name.
        device : str | None
            Device to load onto; ``None`` uses the saved ``device`` parameter,
            falling back to the CPU when it names an unavailable CUDA device.

        Returns
        -------
        estimator : NeuroSketchClassifier
            The fitted estimator, ready to predict.
        """
        path = Path(path)
        data = _load_torch_file(path, f"Pass a file written by {cls.__name__}.save().")
        _check_save_file(data, path, cls.__name__)
        resolve = _class_resolver(path, data["module_class"], module, trusted_classes)
        params = _from_portable(data["params"], resolve)
        if data["version"] < 3:
            params = _legacy_params(params)
        unknown = sorted(set(params) - set(cls._get_param_names()))
        if unknown:
            raise ValueError(
                f"{path} sets unknown {cls.__name__} parameter(s) {unknown}; the "
                "file is damaged or was written by another version. Save the "
                "estimator again."
            )
        if module is not None:
            params["module"] = module
        if device is None:
            device = params.get("device", "auto")
            if names_cuda(device) and not torch.cuda.is_available():
                warn(f"{path} was saved with device={device!r}, which is not "
                     "available here; loading on the CPU.")
                device = "cpu"
        params["device"] = device
        est = cls(**params)
        try:
            est.classes_ = np.asarray(data["classes"], dtype=data["classes_dtype"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path} has unreadable classes ({err}). Save the "
                             "estimator again.") from None
        est.label_encoder_ = LabelEncoder().fit(est.classes_)
        est.n_features_in_ = data["n_features_in"]
        est.n_chans_, est.n_times_ = data["n_chans"], data["n_times"]
        est.n_bands_ = data.get("n_bands", 1)
        est.sfreq_ = data["sfreq"]
        est.scaling_ = float(data.get("scaling", 1.0))
        est.ch_names_ = data.get("ch_names")
        module_cls = _from_portable(data["module_class"], resolve)
        module_init = _from_portable(data["module_init"], resolve)
        fit = _fit_record(data, est, path, resolve)
        est.max_epochs_, est.batch_size_ = fit["max_epochs"], fit["batch_size"]
        est.augmentation_ = fit["augmentation"]
        args = fit["net_args"]
        net = est._build_net(module_cls, module_init, batch_size=args["batch_size"],
                             n_train=args["n_train"], device=resolve_device(device),
                             seeds=_Seeds(*args["seeds"]), finetune=args["finetune"])
        try:
            with torch.random.fork_rng(devices=[]):  # init weights are overwritten
                net.initialize()
            _plain_module(net.module_).load_state_dict(data["state_dict"])
        except (TypeError, ValueError, RuntimeError, KeyError) as err:
            raise ValueError(
                f"The weights in {path} do not fit the {module_cls.__name__} built "
                f"from its saved parameters ({err}). The file is damaged, or "
                "module= is not the class it was saved with."
            ) from None
        numerics = data.get("numerics")
        if numerics is not None:  # the fit's own decision (numerics.inference_dtype)
            if set(numerics) != {"device", "train_path", "inference_path",
                                 "inference_bf16"}:
                raise ValueError(
                    f"{path} has an incomplete 'numerics' field (keys "
                    f"{sorted(numerics)}); the file is damaged or was edited. Save "
                    "the estimator again.")
            est.train_path_ = str(numerics["train_path"])
            net.inference_choice = (str(numerics["device"]),
                                    bool(numerics["inference_bf16"]))
        est.net_ = net
        est.history_ = net.history
        return est


def _fit_record(data, est, path, resolve):
    """The fitted values a save file states its network was built with."""
    if data["version"] < 3:
        # Earlier files do not state them; they do not change predictions.
        batch_size = int(est.batch_size)
        return {"max_epochs": int(est.max_epochs), "batch_size": batch_size,
                "augmentation": _resolve_augmentation(est.augmentation),
                "net_args": {"batch_size": batch_size, "n_train": batch_size,
                             "seeds": [0] * len(_Seeds._fields), "finetune": False}}
    fit = data["fit"]
    args = fit.get("net_args")
    if set(fit) != set(_FIT_FIELDS) or not isinstance(args, dict) or set(args) != {
            "batch_size", "n_train", "seeds", "finetune"}:
        raise ValueError(
            f"{path} has an incomplete 'fit' field (keys {sorted(fit)}); the file "
            "is damaged or was edited. Save the estimator again.")
    return {**fit, "augmentation": _from_portable(fit["augmentation"], resolve)}


def _class_resolver(path, saved_module_class, module, extra):
    """Map the class names in a save file to classes, importing nothing."""
    trusted = _trusted_classes()
    for cls in extra:
        if not isinstance(cls, type):
            raise TypeError(f"trusted_classes must hold classes, got {cls!r}.")
        trusted[_class_path(cls)] = cls
    network = saved_module_class.get("__class__")
    if module is not None:
        if not (isinstance(module, type) and issubclass(module, nn.Module)):
            raise TypeError(
                "module must be an nn.Module subclass (the network class the file "
                f"was saved with), got {module!r} instead."
            )
        trusted[network] = module

    def resolve(name):
        try:
            return trusted[name]
        except (KeyError, TypeError):
            pass
        if name == network:
            hint = (f"If you trust this file, pass its network class: "
                    f"NeuroSketchClassifier.load({str(path)!r}, module=YourNet).")
        else:
            hint = ("If you trust this file and the class is yours, pass it: "
                    f"NeuroSketchClassifier.load({str(path)!r}, "
                    "trusted_classes=[YourClass]).")
        raise ValueError(
            f"{path} names the class {name!r}, which load() does not import: it "
            "only resolves this package's models, braindecode's models and "
            f"torch.nn layers. {hint}"
        )

    return resolve
