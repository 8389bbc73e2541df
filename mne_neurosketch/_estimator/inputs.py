"""What the estimator accepts as trials, turned into one validated array.

Arrays, :class:`mne.Epochs` (any data channel types, in per-type units, matched
by name to the fit's channels) and braindecode windows datasets (kept lazy, as
a :class:`~mne_neurosketch.datasets._array.WindowsArray`) enter through one
door: :func:`fit_trials` for the training set, :func:`fitted_trials` for
anything checked against it (``predict``'s X, ``X_valid``,
``X_target_labeled``). Both return :class:`Trials`: float32 trials shaped
``(n_trials, n_chans, n_times)`` (or ``(..., n_bands)``, a filter bank), their
labels, sampling rate and channel names. Nothing downstream converts again.
"""

# License: BSD (3-clause)

from typing import NamedTuple

import mne
import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ..datasets._array import WindowsArray, dataset_subjects, dataset_targets
from ..numerics import CHECK_TRIALS
from ..utils import logger, warn

#: Below this standard deviation, ``scaling="auto"`` reads array trials as volts.
_VOLT_STD = 1e-2
#: Default units of Epochs data per channel type (the rest stay in SI units).
_DEFAULT_UNITS = {
    "eeg": "uV", "ecog": "uV", "seeg": "uV", "dbs": "uV",
    "eog": "uV", "emg": "uV", "ecg": "uV", "mag": "fT", "grad": "fT/cm",
}


class Trials(NamedTuple):
    """Validated trials: float32, C-contiguous (or lazy windows), not scaled."""

    X: object  # ndarray | WindowsArray
    y: object  # ndarray | None
    sfreq: object  # float | None
    ch_names: object  # list of str | None (only Epochs have names)


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


def _convert(X, y, units, picks=None):
    """Epochs, datasets or arrays as ``Trials`` (not validated yet)."""
    if isinstance(X, mne.BaseEpochs):
        return Trials(*_epochs_to_array(X, y, units, picks))
    if isinstance(X, torch.utils.data.Dataset) and not isinstance(X, torch.Tensor):
        Xa, ya = WindowsArray(X), dataset_targets(X)
        if y is not None and len(y) != len(ya):
            raise ValueError(
                f"y has {len(y)} labels but the dataset X has {len(ya)} windows. "
                "Pass y=None to use the dataset's targets.")
        return Trials(Xa, ya if y is None else y, _dataset_sfreq(X), None)
    if isinstance(X, WindowsArray) and y is None:
        return Trials(X, dataset_targets(X.dataset)[X.indices], None, None)
    return Trials(X, y, None, None)


def _as_3d(X):
    """2-D trials as one channel; a filter bank of one band as the plain signal."""
    if X.ndim not in (2, 3, 4):
        raise ValueError(_ndim_message(X.shape))
    if X.ndim == 4 and X.shape[3] == 1:
        X = X[..., 0]
    elif X.ndim == 2:
        X = X[:, np.newaxis, :]
    return np.require(X, requirements=["C", "W"])


def fit_trials(est, X, y):
    """The training trials of ``est.fit(X, y)``, validated (``n_features_in_`` set)."""
    trials = _convert(X, y, est.units)
    X, y = trials.X, trials.y
    if isinstance(X, (np.ndarray, list)) and isinstance(y, (np.ndarray, list)):
        if len(X) != len(y):
            raise ValueError(
                f"X and y have different numbers of trials: X has {len(X)} and "
                f"y has {len(y)}. Pass one label per trial.")
    if isinstance(X, WindowsArray):  # read on demand, never stacked
        y = np.asarray(y)
        est.n_features_in_ = X.shape[1]
    else:
        X, y = validate_data(est, X, y, reset=True, allow_nd=True, dtype=np.float32,
                             order="C")
        X = _as_3d(X)
    check_classification_targets(y)
    return trials._replace(X=X, y=y)


def described_subjects(X):
    """The subjects of lazy windows, from their braindecode description (or None)."""
    if not isinstance(X, WindowsArray):
        return None
    subjects = dataset_subjects(X.dataset)
    if subjects is None:
        return None
    subjects = subjects[X.indices]  # those of the windows being fitted
    logger.info("Subjects read from the dataset's description "
                f"({len(np.unique(subjects))} subjects).")
    return subjects


def fitted_shape(est):
    """``(n_chans, n_times)``, or ``(n_chans, n_times, n_bands)`` (filter bank)."""
    n_bands = getattr(est, "n_bands_", 1)  # absent from older pickles
    return (est.n_chans_, est.n_times_, *((n_bands,) if n_bands > 1 else ()))


def _match_channels(est, epochs):
    """The fit's channel names to pick from ``epochs``, or a clear error."""
    fit_names = getattr(est, "ch_names_", None)
    if fit_names is None:
        return None  # fitted on arrays: the channel count is checked later
    names = _data_ch_names(epochs)
    if names == fit_names:
        return fit_names
    missing = [ch for ch in fit_names if ch not in epochs.ch_names]
    if missing:
        raise ValueError(
            f"The Epochs lack {len(missing)} of the {len(fit_names)} channels this "
            f"{type(est).__name__} was fitted on: {missing}. Pass Epochs with "
            "these channels (e.g. interpolate bad channels with "
            "epochs.interpolate_bads() rather than dropping them).")
    warn(f"The Epochs' data channels differ from the {len(fit_names)} channels "
         "used in fit (in order, or by extra or bad channels); picking the fit's "
         "channels by name, in the fit's order.")
    return fit_names


def _check_sfreq(est, sfreq, name):
    fitted = getattr(est, "sfreq_", None)
    if sfreq is not None and fitted is not None and not np.isclose(sfreq, fitted):
        raise ValueError(
            f"Invalid value for the '{name}' parameter: it is sampled at {sfreq:g} "
            f"Hz, but this {type(est).__name__} was fitted at {fitted:g} Hz, and "
            f"the network reads samples, not seconds. Resample {name} to "
            f"{fitted:g} Hz (e.g. epochs.resample({fitted:g})).")


def _shape_of(X):
    shape = getattr(X, "shape", None)
    if shape is None and isinstance(X, (list, tuple)):
        try:
            shape = np.shape(X)
        except ValueError:
            shape = None  # ragged: validate_data says so
    return shape


def _check_shape(est, shape, name):
    """A clear error unless trials of ``shape`` can be those of the fit."""
    fitted = fitted_shape(est)
    against = (f"this {type(est).__name__} was fitted on" if name == "X"
               else "X has")
    if len(shape) not in (2, 3, 4) or (len(shape) == 2 and est.n_chans_ != 1):
        raise ValueError(_ndim_message(shape, est.n_chans_).replace("X ", f"{name} ", 1))
    if len(shape) == 2:
        return  # one channel: validate_data compares n_times, in sklearn's words
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if tuple(shape[1:]) == fitted:
        return
    if len(fitted) == 2 and len(shape) == 4:
        raise ValueError(
            f"Invalid value for the '{name}' parameter: a 4-D {name} of shape "
            f"{tuple(shape)} is read as a filter bank (n_trials, n_chans, n_times, "
            f"n_bands), but {against} plain trials of {est.n_chans_} channels x "
            f"{est.n_times_} samples. Pass {name} shaped as in fit.")
    if shape[1] != est.n_chans_:
        raise ValueError(
            f"{name} has {shape[1]} channels, but {against} {est.n_chans_} "
            f"channels x {est.n_times_} samples. Pass trials with the channels used "
            "in fit, in the same order.")
    if len(shape) == 4 or len(fitted) == 3:
        raise ValueError(
            f"Invalid value for the '{name}' parameter: its trials have shape "
            f"{tuple(shape[1:])}, but {against} trials of shape {fitted}: "
            f"{getattr(est, 'n_bands_', 1)} filter-bank band(s) (n_bands, the last "
            f"axis of a 4-D X) of {est.n_chans_} channels x {est.n_times_} samples. "
            f"Pass {name} from the filter bank used in fit.")
    raise ValueError(
        f"{name} has trials of {shape[1]} channels x {shape[2]} samples, but "
        f"{against} {est.n_chans_} channels x {est.n_times_} samples. Crop or "
        "resample the trials to match.")


def fitted_trials(est, X, y=None, *, name="X"):
    """Trials checked against the fit of ``est``: channels matched by name
    (Epochs), sampling rate, shape. ``name`` is the argument, for messages."""
    trials = _convert(X, y, est.units,
                      _match_channels(est, X) if isinstance(X, mne.BaseEpochs) else None)
    _check_sfreq(est, trials.sfreq, name)
    shape = _shape_of(trials.X)
    if shape is not None:
        _check_shape(est, shape, name)
    X = trials.X
    if not isinstance(X, WindowsArray):  # lazy windows are read on demand
        X = _as_3d(validate_data(est, X, reset=False, allow_nd=True, dtype=np.float32,
                                 order="C"))
        _check_shape(est, X.shape, name)
    return trials._replace(X=X)


def encode_labels(est, y, name):
    """``y`` (labels of ``name``) encoded as in fit; an error for unseen labels."""
    if y is None:
        raise ValueError(f"{name.replace('X', 'y', 1)} is required with {name}.")
    y = np.asarray(y)
    unknown = np.setdiff1d(y, est.classes_)
    if len(unknown):
        raise ValueError(
            f"{name.replace('X', 'y', 1)} has labels not seen in y: "
            f"{unknown.tolist()}. Its classes must be among the training classes "
            f"{est.classes_.tolist()}.")
    return est.label_encoder_.transform(y)


def resolve_scaling(scaling, X):
    """The factor the training trials are multiplied by before they reach the network."""
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
    return float(scaling)  # checked by params.check_params


def first_trials(X, n=CHECK_TRIALS):
    """The first ``n`` trials as an array (read from lazy windows if need be)."""
    if isinstance(X, WindowsArray):
        return np.stack([X.window(i) for i in range(min(n, len(X)))])
    return np.asarray(X[:n], dtype=np.float32)
