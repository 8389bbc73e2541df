"""NeuroSketchClassifier: the paper's training recipe behind sklearn's fit/predict."""

# License: BSD (3-clause)

from __future__ import annotations

import contextlib
import copy
import difflib
import importlib
import inspect
import numbers
import re
from pathlib import Path

import mne
import numpy as np
import torch
from braindecode import EEGClassifier
from braindecode.models.util import models_dict as _braindecode_models
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import EarlyStopping, GradientNormClipping, LRScheduler
from skorch.dataset import Dataset as _SkorchDataset
from skorch.dataset import unpack_data
from skorch.helper import predefined_split
from torch import nn

from .augmentation import (
    OneHotBCEWithLogitsLoss,
    WarmupCosineSchedule,
    make_recipe_transforms,
)
from .models import NeuroSketch, NeuroSketchSD
from .utils import ProgressBar, logger, use_log_level, warn

__all__ = ["NeuroSketchClassifier"]

#: This package's model names: class and the keyword arguments they imply.
_OWN_MODULES = {
    "NeuroSketch": (NeuroSketch, {}),
    "NeuroSketchLarge": (NeuroSketch, {"preset": "large"}),
    "NeuroSketchSD": (NeuroSketchSD, {}),
}
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
_SAVE_VERSION = 1


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _log_info(text):
    """Sink of skorch's epoch table and early-stopping messages (no colours)."""
    logger.info(_ANSI.sub("", text))


def _softmax(logits):
    return torch.softmax(logits.float(), dim=-1)


# ---------------------------------------------------------------------------
# The skorch / braindecode net with the recipe's training step
# ---------------------------------------------------------------------------
class _RecipeNet(EEGClassifier):
    """EEGClassifier whose training step augments on the device and runs AMP.

    Augmentation happens after the batch reaches the device (so the GPU does
    it); forward passes run under bf16 autocast when ``amp_dtype`` is set;
    weight decay skips biases and normalisation parameters (``ndim <= 1``),
    as the Hugging Face trainer of the reference does.
    """

    def __init__(self, module, *args, augmentation=None, amp_dtype=None,
                 channels_last=False, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.augmentation = augmentation
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last

    def initialize_module(self):
        super().initialize_module()
        if self.channels_last:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def initialize_optimizer(self, triggered_directly=None):
        named = list(self.get_all_learnable_params())
        _, kwargs = self.get_params_for_optimizer("optimizer", iter(named))
        decay = kwargs.pop("weight_decay", 0.0)
        groups = [
            {"params": [p for _, p in named if p.ndim > 1], "weight_decay": decay},
            {"params": [p for _, p in named if p.ndim <= 1], "weight_decay": 0.0},
        ]
        self.optimizer_ = self.optimizer([g for g in groups if g["params"]], **kwargs)
        return self

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

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi, yi = self._to_device(Xi), self._to_device(yi)
        for transform in self.augmentation or ():
            Xi, yi = transform(Xi, yi)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}


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
        if module in _OWN_MODULES:
            cls, implied = _OWN_MODULES[module]
            for key, value in implied.items():
                if key in kwargs and kwargs[key] != value:
                    raise ValueError(
                        f"module={module!r} implies {key}={value!r}, but module_kwargs "
                        f"has {key}={kwargs[key]!r}. Use module='NeuroSketch' with "
                        f"module_kwargs={{'{key}': {kwargs[key]!r}}} instead."
                    )
            return cls, {**implied, **kwargs}
        if module in _braindecode_models:
            return _braindecode_models[module], kwargs
        names = sorted(set(_OWN_MODULES) | set(_braindecode_models))
        close = difflib.get_close_matches(module, names, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown module {module!r}.{hint} Pass one of this package's models "
            f"({', '.join(_OWN_MODULES)}), a braindecode model name "
            "(braindecode.models.util.models_dict) or an nn.Module class."
        )
    if isinstance(module, type) and issubclass(module, nn.Module):
        return module, kwargs
    raise TypeError(
        "module must be a model name (str) or an nn.Module subclass, got "
        f"{type(module).__name__} instead. Pass the class, not an instance."
    )


def _epochs_units(epochs, units):
    types = set(epochs.get_channel_types(picks="data"))
    out = {t: u for t, u in _DEFAULT_UNITS.items() if t in types}
    out.update({t: u for t, u in (units or {}).items() if t in types})
    return out


def _epochs_to_array(epochs, y, units):
    """Data channels of ``epochs`` in per-type units, and labels from events."""
    if not epochs.preload:
        epochs = epochs.copy().load_data()
    X = epochs.get_data(picks="data", units=_epochs_units(epochs, units))
    if y is None:
        names = {code: name for name, code in epochs.event_id.items()}
        y = np.array([names.get(code, code) for code in epochs.events[:, 2]])
    return X, y, float(epochs.info["sfreq"])


def _dataset_sfreq(dataset):
    for ds in getattr(dataset, "datasets", [dataset]):
        for attr in ("windows", "raw"):
            info = getattr(getattr(ds, attr, None), "info", None)
            if info is not None:
                return float(info["sfreq"])
    return None


def _dataset_to_array(dataset):
    """Load every window of a (braindecode) dataset into memory."""
    n = len(dataset)
    if n == 0:
        raise ValueError("The dataset X is empty: it holds no windows.")
    X, y = [], []
    iterator = range(n)
    if n > 1000:
        iterator = ProgressBar(iterator, mesg="Loading windows")
    for i in iterator:
        item = dataset[i]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise ValueError(
                "A dataset X must yield (X, y, ...) items, as braindecode windows "
                f"datasets do; item 0 is a {type(item).__name__}."
            )
        X.append(np.asarray(item[0], dtype=np.float32))
        y.append(item[1])
    return np.stack(X), np.asarray(y), _dataset_sfreq(dataset)


def _resolve_scaling(scaling, X):
    """The factor the trials are multiplied by before they reach the network."""
    if scaling is None:
        return 1.0
    if scaling == "auto":
        # Networks with BatchNorm cannot learn from volt-scale signals: the
        # variance (~1e-10 V^2) drowns in BatchNorm's eps. Read them as µV.
        std = float(np.std(X[: min(len(X), 256)], dtype=np.float64))
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


def _resolve_device(device):
    if device == "auto" or device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            "Invalid value for the 'device' parameter. Allowed values are 'auto', "
            f"'cpu', 'cuda' or 'cuda:N', but got {device!r} instead."
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available on this machine. "
            "Use device='auto' or device='cpu'."
        )
    return str(dev)


def _resolve_amp(amp, device):
    on_cuda = torch.device(device).type == "cuda"
    if amp == "auto":
        return torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else None
    if amp is True or amp == "bf16":
        return torch.bfloat16
    if amp is False or amp is None:
        return None
    raise ValueError(
        "Invalid value for the 'amp' parameter. Allowed values are 'auto', 'bf16', "
        f"True and False, but got {amp!r} instead."
    )


def _resolve_flag(name, value, device):
    if value == "auto":
        return torch.device(device).type == "cuda"
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(
        f"Invalid value for the '{name}' parameter. Allowed values are 'auto', "
        f"True and False, but got {value!r} instead."
    )


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
    raise ValueError(
        f"Parameter {name!r} holds a {type(value).__name__}, which save() cannot "
        "store. Use pickle to save this estimator, or pass plain values."
    )


def _from_portable(value):
    if isinstance(value, list):
        return [_from_portable(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(_from_portable(v) for v in value["__tuple__"])
        if set(value) == {"__class__"}:
            return _import_class(value["__class__"])
        return {k: _from_portable(v) for k, v in value.items()}
    return value


def _import_class(path):
    module_name, _, qualname = path.partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ValueError(f"{path!r} in the saved file is not an nn.Module class.")
    return obj


@contextlib.contextmanager
def _cudnn_benchmark(device):
    """Let cuDNN pick the fastest convolution algorithms while on CUDA."""
    if torch.device(device).type != "cuda":
        yield
        return
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old


def _plain_module(module):
    """The module itself when wrapped by torch.compile."""
    return getattr(module, "_orig_mod", module)


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
    max_epochs : int, default=500
        Maximum number of passes over the training set (the paper's runs use
        500; pass fewer on a CPU).
    batch_size : int, default=64
        Training and prediction batch size.
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
    mixup_p, mixup_alpha : float, default=0.5
        Probability of mixing a batch, and the Beta parameter of the mixing
        coefficient. ``mixup_p=0`` turns mixup off.
    shift_p : float, default=0.5
        Probability of shifting a batch in time (zero fill).
    shift_max : float | int, default=0.2
        Largest shift, as a fraction of the window (float) or in samples (int).
    noise_p : float, default=0.1
        Probability of adding Gaussian noise to a batch.
    noise_snr : tuple of float, default=(15.0, 30.0)
        Range of the noise SNR in dB, drawn per trial.
    channel_mask_p : float, default=0.5
        Probability of masking channels in a batch.
    channel_mask_ratio : float, default=0.2
        Probability of zeroing each channel of each trial.
    time_mask_p : float, default=0.5
        Probability of time masking a batch.
    time_mask_n : int, default=4
        Number of masked spans per trial.
    time_mask_len : int, default=50
        Exclusive upper bound of a span's length in samples.
    transforms : list of braindecode.augmentation.Transform | None
        Input augmentations to use instead of shift, noise and masking (mixup
        stays controlled by ``mixup_p``). Copied at each fit.
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
        bf16 autocast: ``"auto"`` uses it on CUDA devices that support it.
    channels_last : "auto" | bool, default="auto"
        Channels-last memory format for 4-D weights (``"auto"``: on CUDA).
    compile : bool, default=False
        Compile the module with :func:`torch.compile`.
    random_state : int | numpy.random.RandomState | None
        Seeds weight initialisation, shuffling, the validation split and the
        augmentations for each fit. With an int, two fits on a CPU give
        identical predictions. ``None`` draws a new seed each fit.
    verbose : bool | str | int | None
        MNE-style log level for this estimator's calls (``None``: the current
        MNE level). At ``"INFO"`` an epoch table is logged.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of channels (``n_times`` for 2-D input, seen as one channel).
    n_chans_, n_times_ : int
        Shape of the trials the network was built for.
    sfreq_ : float | None
        Sampling frequency used, if known.
    scaling_ : float
        Factor applied to the trials (see ``scaling``).
    net_ : braindecode.EEGClassifier
        The trained skorch net (its module is ``net_.module_``).
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Per-epoch training history.

    See Also
    --------
    mne_neurosketch.NeuroSketch, braindecode.EEGClassifier

    Notes
    -----
    Inputs: arrays ``(n_trials, n_chans, n_times)`` (or ``(n_trials,
    n_times)``, one channel), :class:`mne.Epochs` (data channels of any types
    mixed, converted with ``units``; labels from ``y`` or, when ``y`` is
    ``None``, from the event names), and braindecode windows datasets
    (``y=None``, loaded into memory). Augmentations are the transforms of
    :mod:`mne_neurosketch.augmentation`, applied on the training device.
    """

    def __init__(
        self,
        module="NeuroSketch",
        *,
        module_kwargs=None,
        max_epochs=500,
        batch_size=64,
        lr=1e-3,
        weight_decay=0.05,
        warmup_ratio=0.1,
        max_grad_norm=1.0,
        mixup_p=0.5,
        mixup_alpha=0.5,
        shift_p=0.5,
        shift_max=0.2,
        noise_p=0.1,
        noise_snr=(15.0, 30.0),
        channel_mask_p=0.5,
        channel_mask_ratio=0.2,
        time_mask_p=0.5,
        time_mask_n=4,
        time_mask_len=50,
        transforms=None,
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
        compile=False,
        random_state=None,
        verbose=None,
    ):
        self.module = module
        self.module_kwargs = module_kwargs
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.max_grad_norm = max_grad_norm
        self.mixup_p = mixup_p
        self.mixup_alpha = mixup_alpha
        self.shift_p = shift_p
        self.shift_max = shift_max
        self.noise_p = noise_p
        self.noise_snr = noise_snr
        self.channel_mask_p = channel_mask_p
        self.channel_mask_ratio = channel_mask_ratio
        self.time_mask_p = time_mask_p
        self.time_mask_n = time_mask_n
        self.time_mask_len = time_mask_len
        self.transforms = transforms
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

    # -- sklearn plumbing --------------------------------------------------
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
    def _as_array(self, X, y):
        """Convert Epochs / datasets to arrays; return X, y, sfreq."""
        if isinstance(X, mne.BaseEpochs):
            return _epochs_to_array(X, y, self.units)
        if _is_dataset(X):
            Xa, ya, sfreq = _dataset_to_array(X)
            if y is not None and len(y) != len(ya):
                raise ValueError(
                    f"y has {len(y)} labels but the dataset X has {len(ya)} windows. "
                    "Pass y=None to use the dataset's targets."
                )
            return Xa, (ya if y is None else y), sfreq
        return X, y, None

    def _check_ndim(self, X):
        if X.ndim not in (2, 3):
            raise ValueError(
                "X must be 3-D (n_trials, n_chans, n_times) or 2-D (n_trials, "
                f"n_times), got an array of shape {X.shape}."
            )
        return X[:, np.newaxis, :] if X.ndim == 2 else X

    def _check_fit_data(self, X, y):
        X, y, sfreq = self._as_array(X, y)
        if isinstance(X, (np.ndarray, list)) and isinstance(y, (np.ndarray, list)):
            if len(X) != len(y):
                raise ValueError(
                    f"X and y have different numbers of trials: X has {len(X)} and "
                    f"y has {len(y)}. Pass one label per trial."
                )
        X, y = validate_data(
            self, X, y, reset=True, allow_nd=True, dtype=np.float32, order="C"
        )
        X = np.require(self._check_ndim(X), requirements=["C", "W"])
        check_classification_targets(y)
        return X, y, sfreq

    def _check_predict_data(self, X):
        check_is_fitted(self, "net_")
        X, _, _ = self._as_array(X, None)
        shape = getattr(X, "shape", None)
        if shape is not None and len(shape) == 3 and shape[1] != self.n_chans_:
            raise ValueError(
                f"X has {shape[1]} channels, but this {type(self).__name__} was "
                f"fitted on {self.n_chans_} channels. Pass trials with the channels "
                "used in fit, in the same order."
            )
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32,
                          order="C")
        X = self._check_ndim(X)
        if X.shape[1:] != (self.n_chans_, self.n_times_):
            raise ValueError(
                f"X has trials of {X.shape[1]} channels x {X.shape[2]} samples, but "
                f"this {type(self).__name__} was fitted on {self.n_chans_} channels x "
                f"{self.n_times_} samples. Crop or resample the trials to match."
            )
        return self._scale(np.require(X, requirements=["C", "W"]))

    def _scale(self, X):
        return X if self.scaling_ == 1.0 else X * np.float32(self.scaling_)

    def _split(self, X, y, X_valid, y_valid, seed):
        if X_valid is not None:
            X_valid, y_valid, _ = self._as_array(X_valid, y_valid)
            if y_valid is None:
                raise ValueError("y_valid is required with X_valid.")
            X_valid = validate_data(self, X_valid, reset=False, allow_nd=True,
                                    dtype=np.float32, order="C")
            X_valid = np.require(self._check_ndim(X_valid), requirements=["C", "W"])
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
        kwargs.update(n_chans=n_chans, n_times=n_times, n_outputs=n_outputs)
        if sfreq is not None and "sfreq" in params and "sfreq" not in kwargs:
            kwargs["sfreq"] = float(sfreq)
        return cls, kwargs

    def _build_net(self, module_cls, module_init, *, n_train, device, seeds,
                   valid_ds=None):
        batch_size = int(self.batch_size)
        drop_last = n_train % batch_size == 1  # a 1-trial batch breaks BatchNorm
        n_batches = n_train // batch_size if drop_last else -(-n_train // batch_size)
        schedule = WarmupCosineSchedule(
            max(1, int(self.max_epochs) * n_batches), self.warmup_ratio
        )
        callbacks = [
            ("lr_scheduler", LRScheduler(
                policy=torch.optim.lr_scheduler.LambdaLR, lr_lambda=schedule,
                step_every="batch")),
        ]
        if self.max_grad_norm is not None:
            callbacks.append(("grad_clip", GradientNormClipping(self.max_grad_norm)))
        if valid_ds is not None:
            callbacks.append(("early_stopping", self._early_stopping()))
        callbacks.extend(copy.deepcopy(list(self.callbacks or ())))
        augmentation = make_recipe_transforms(
            shift_p=self.shift_p, shift_max=self.shift_max,
            noise_p=self.noise_p, noise_snr=self.noise_snr,
            channel_mask_p=self.channel_mask_p,
            channel_mask_ratio=self.channel_mask_ratio,
            time_mask_p=self.time_mask_p, time_mask_n=self.time_mask_n,
            time_mask_len=self.time_mask_len,
            mixup_p=self.mixup_p, mixup_alpha=self.mixup_alpha,
            transforms=copy.deepcopy(self.transforms),
            random_state=int(seeds[2]),
        )
        cuda = torch.device(device).type == "cuda"
        net = _RecipeNet(
            module_cls,
            augmentation=augmentation,
            amp_dtype=_resolve_amp(self.amp, device),
            channels_last=_resolve_flag("channels_last", self.channels_last, device),
            criterion=OneHotBCEWithLogitsLoss,
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            optimizer__foreach=True,
            lr=self.lr,
            batch_size=batch_size,
            max_epochs=int(self.max_epochs),
            train_split=predefined_split(valid_ds) if valid_ds is not None else None,
            callbacks=callbacks,
            callbacks__print_log__sink=_log_info,
            predict_nonlinearity=_softmax,
            iterator_train__shuffle=True,
            iterator_train__drop_last=drop_last,
            iterator_train__generator=torch.Generator().manual_seed(int(seeds[3])),
            iterator_train__pin_memory=cuda,
            iterator_valid__pin_memory=cuda,
            device=device,
            compile=bool(self.compile),
            verbose=0,
            **{f"module__{k}": v for k, v in module_init.items()},
        )
        net.signal_args_set_ = True  # the module's signal kwargs are explicit
        return net

    def _early_stopping(self):
        if self.monitor not in ("valid_acc", "valid_loss"):
            raise ValueError(
                "Invalid value for the 'monitor' parameter. Allowed values are "
                f"'valid_acc' and 'valid_loss', but got {self.monitor!r} instead."
            )
        acc = self.monitor == "valid_acc"
        patience = self.max_epochs + 1 if self.patience is None else int(self.patience)
        # The reference stops when top-1 accuracy has not improved by 0.001.
        return EarlyStopping(
            monitor=self.monitor, lower_is_better=not acc, patience=patience,
            threshold=1e-3 if acc else 1e-4, threshold_mode="abs" if acc else "rel",
            load_best=True, sink=_log_info,
        )

    def _check_params(self):
        for name in ("max_epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if self.patience is not None and (
            not isinstance(self.patience, numbers.Integral) or self.patience < 1
        ):
            raise ValueError(
                f"patience must be a positive integer or None, got {self.patience!r}."
            )

    # -- public API --------------------------------------------------------
    def fit(self, X, y=None, *, X_valid=None, y_valid=None):
        """Build a new network and train it with the recipe.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_chans, n_times) | mne.Epochs | Dataset
            Training trials. A 2-D array is read as ``(n_trials, n_times)``
            with one channel. A braindecode windows dataset (or any torch
            dataset yielding ``(X, y, ...)``) is loaded into memory.
        y : array-like of shape (n_trials,) | None
            Labels (integers or strings). ``None`` for datasets (their
            targets) and for Epochs (their event names).
        X_valid, y_valid : array-like | mne.Epochs | None
            A predefined validation set for early stopping, used instead of
            holding out ``valid_size`` of ``X``.

        Returns
        -------
        self : NeuroSketchClassifier
            The fitted estimator.
        """
        with self._log_level():
            self._check_params()
            X, y, sfreq = self._check_fit_data(X, y)
            self.label_encoder_ = LabelEncoder().fit(y)
            self.classes_ = self.label_encoder_.classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes to train, but "
                    f"y contains only one class: {self.classes_[0]!r}."
                )
            y = self.label_encoder_.transform(y)
            seeds = check_random_state(self.random_state).randint(0, 2**31 - 1, size=4)
            self.scaling_ = _resolve_scaling(self.scaling, X)
            X_tr, y_tr, X_va, y_va = self._split(X, y, X_valid, y_valid, int(seeds[1]))
            X_tr = self._scale(X_tr)
            X_va = None if X_va is None else self._scale(X_va)
            if len(y_tr) < self.batch_size:
                held = "" if X_va is None or X_valid is not None else (
                    f" ({len(y)} trials minus {len(y_va)} held out for validation "
                    f"with valid_size={self.valid_size!r})")
                raise ValueError(
                    f"batch_size={self.batch_size} is larger than the {len(y_tr)} "
                    f"training trials{held}. Reduce batch_size to at most "
                    f"{len(y_tr)}."
                )
            device = _resolve_device(self.device)
            self.n_chans_, self.n_times_ = int(X.shape[1]), int(X.shape[2])
            self.sfreq_ = self.sfreq if self.sfreq is not None else sfreq
            module_cls, module_init = self._module_init_kwargs(
                self.n_chans_, self.n_times_, len(self.classes_), self.sfreq_
            )
            valid_ds = None if X_va is None else _SkorchDataset(X_va, y_va)
            net = self._build_net(module_cls, module_init, n_train=len(y_tr),
                                  device=device, seeds=seeds, valid_ds=valid_ds)
            logger.info(
                f"Training {module_cls.__name__} on {len(y_tr)} trials "
                f"({self.n_chans_} channels x {self.n_times_} samples, "
                f"{len(self.classes_)} classes"
                + (f", {len(y_va)} validation trials" if X_va is not None else "")
                + f") on {device}."
            )
            # Seed inside a fork so the caller's global torch RNG is untouched.
            dev = torch.device(device)
            cuda_ids = [] if dev.type != "cuda" else [
                dev.index if dev.index is not None else torch.cuda.current_device()]
            with torch.random.fork_rng(devices=cuda_ids), _cudnn_benchmark(device):
                torch.manual_seed(int(seeds[0]))
                net.fit(X_tr, y_tr)
            self.net_ = net
            self.history_ = net.history
        return self

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
            with _cudnn_benchmark(self.net_.device):
                return self.net_.predict_proba(X)

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_chans, n_times) | mne.Epochs | Dataset
            Trials shaped like the training trials.

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
            X, y, _ = self._as_array(X, None)
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
            self.amp == "auto"
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
        params = {k: _to_portable(v, k) for k, v in self.get_params(deep=False).items()}
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
            "state_dict": state,
        }, Path(path))

    @classmethod
    def load(cls, path, *, device=None):
        """Load an estimator written by :meth:`save`.

        Parameters
        ----------
        path : str | path-like
            File written by :meth:`save`.
        device : str | None
            Device to load onto; ``None`` uses the saved ``device`` parameter,
            falling back to the CPU when it names an unavailable CUDA device.

        Returns
        -------
        estimator : NeuroSketchClassifier
            The fitted estimator, ready to predict.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No such file: {path}")
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(
                f"Cannot read {path} as a saved {cls.__name__} ({err}). Was it "
                "written by NeuroSketchClassifier.save()?"
            ) from None
        if not isinstance(data, dict) or data.get("format") != _SAVE_FORMAT:
            raise ValueError(f"{path} is not a file written by {cls.__name__}.save().")
        params = _from_portable(data["params"])
        if device is None:
            device = params["device"]
            if device != "auto" and torch.device(device).type == "cuda" and not (
                torch.cuda.is_available()
            ):
                warn(f"{path} was saved with device={device!r}, which is not "
                     "available here; loading on the CPU.")
                device = "cpu"
        params["device"] = device
        est = cls(**params)
        est.classes_ = np.asarray(data["classes"], dtype=data["classes_dtype"])
        est.label_encoder_ = LabelEncoder().fit(est.classes_)
        est.n_features_in_ = data["n_features_in"]
        est.n_chans_, est.n_times_ = data["n_chans"], data["n_times"]
        est.sfreq_ = data["sfreq"]
        est.scaling_ = float(data.get("scaling", 1.0))
        module_cls = _from_portable(data["module_class"])
        module_init = _from_portable(data["module_init"])
        net = est._build_net(module_cls, module_init, n_train=est.batch_size,
                             device=_resolve_device(device), seeds=[0, 0, 0, 0])
        with torch.random.fork_rng(devices=[]):  # init weights are overwritten
            net.initialize()
        _plain_module(net.module_).load_state_dict(data["state_dict"])
        est.net_ = net
        est.history_ = net.history
        return est
