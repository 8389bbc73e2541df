"""MuseP300: a visual oddball (P300) on a 4-channel Muse headband, 5 subjects."""

# License: BSD (3-clause)

from __future__ import annotations

import re
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from ..utils import logger
from .base import CorpusMOABBDataset, CorpusReader, CorpusWindowsDataset, Recording

__all__ = ["MUSE_P300_CHANNELS", "MuseP300", "MuseP300MOABB", "simulate_muse_p300"]

#: EEG channels of the Muse 2016 headband (reference Fpz), in file order.
MUSE_P300_CHANNELS = ("TP9", "AF7", "AF8", "TP10")

_SFREQ = 256.0
_STIM = "STI"
_EVENTS = {"NonTarget": 1, "Target": 2}
_RUN_FILE = re.compile(r"sub-(\d+)_ses-(\d+)_run-(\d+)_raw\.fif")
_LAYOUT = """\
muse-p300/
    sub-01/sub-01_ses-1_run-1_raw.fif ... (subjects 01-05, sessions and runs in time
                                           order; FIF raw, 256 Hz, TP9 AF7 AF8 TP10
                                           in volts, stim channel STI: 1 = non-target,
                                           2 = target)"""


_PATH_DOC = "The ``muse-p300`` folder holding ``sub-01/`` ... (or its parent)"

_PARAMS_DOC = """
    l_freq, h_freq : float | None
        Band-pass edges in Hz (MNE's default FIR filter), applied to each run.
    tmax : float
        End of each epoch in s after the stimulus; epochs start at the stimulus.
    reject : float | None
        Peak-to-peak rejection threshold in volts on any EEG channel; ``None`` keeps
        every epoch."""

_NOTES_DOC = """
    The recordings are the NeuroTechX eeg-notebooks visual P300 data (a Muse 2016
    headband, 4 EEG channels referenced to Fpz, 256 Hz), one FIF file per original
    CSV run. Each run is band-passed 1-30 Hz, cut into epochs from 0 to 0.8 s after
    each stimulus (206 samples, no baseline) and epochs whose peak-to-peak amplitude
    exceeds 100 µV on any channel are dropped. Filtering each run gives the same
    epochs as filtering the concatenated runs of a subject (MNE filters a
    concatenation piecewise between its boundaries). Label ``NonTarget`` = 0 and
    ``Target`` = 1 (about 1 in 6): the classes are unbalanced, score with ROC-AUC
    or balanced accuracy.

    Values are in volts. One recording per run file, in session and run order, with
    description columns ``subject``, ``session`` and ``run`` (the numbers in the
    file name, as strings) and per-window metadata ``onset`` (the stimulus sample
    in its run). Under this preprocessing subjects 1-5 keep 3048 (479 targets),
    1518 (236), 2315 (376), 85 (10) and 400 (69) epochs."""


class _MuseP300Reader(CorpusReader):
    code = "MuseP300"
    publisher = (
        "NeuroTechX eeg-notebooks v0.1 (https://github.com/NeuroTechX/eeg-notebooks, "
        "data/visual/P300/, BSD-3-Clause), one FIF file per CSV run, in volts, with "
        "the marker column as stim channel STI"
    )
    layout = _LAYOUT
    folder_names = ("muse-p300",)
    subjects = (1, 2, 3, 4, 5)
    tasks = ("p300",)
    n_sessions = 3  # subjects 1 and 3 have three sessions

    name = "musep300"
    aliases = ("muse-p300", "MuseP300", "muse_p300", "muse")
    registered_tasks = ()
    n_chans, n_classes = 4, 2
    to_volts = 1.0  # the FIF files are in volts
    moabb_paradigm = "p300"  # a visual oddball with Target/NonTarget events
    # Within-session cross-validation (the eeg-notebooks analysis); unbalanced
    # (1 target in 6): ROC-AUC. Subject 4 has 10 targets in one run, too few to
    # cross-validate, so it is left out by default.
    protocol, protocol_params = "within-session", {}
    default_subjects = (1, 2, 3, 5)
    scorer = "roc_auc"
    budget = {}
    description = (
        "MuseP300, visual P300 target vs non-target, EEG 4 x 206 at 256 Hz (5 subjects)"
    )
    simulation = {"n_runs": 2, "n_stimuli": 60}
    doc_parts = (_PATH_DOC, _PARAMS_DOC, _NOTES_DOC)

    def __init__(self, path=None, *, l_freq=1.0, h_freq=30.0, tmax=0.8, reject=100e-6):
        super().__init__(path, task="p300")
        for name, value in (("l_freq", l_freq), ("h_freq", h_freq)):
            _check_positive(name, value, allow_none=True)
        if l_freq is not None and h_freq is not None and l_freq >= h_freq:
            raise ValueError(
                f"Invalid value for the 'l_freq' parameter: it must be below h_freq "
                f"({h_freq}), but got {l_freq!r} instead."
            )
        _check_positive("tmax", tmax)
        _check_positive("reject", reject, allow_none=True)
        self.l_freq, self.h_freq, self.tmax, self.reject = l_freq, h_freq, tmax, reject

    def _is_root(self, folder: Path) -> bool:
        return any(folder.glob("sub-0[1-5]"))

    @property
    def n_times(self) -> int:
        # mne.Epochs(tmin=0, tmax) keeps samples 0 .. round(tmax * sfreq), inclusive.
        return int(round(self.tmax * _SFREQ)) + 1

    sfreq = _SFREQ

    def class_names(self):
        return list(_EVENTS)

    def source_files(self, subject):
        folder = self.root / f"sub-{subject:02d}"
        found = []
        for fname in folder.glob(f"sub-{subject:02d}_ses-*_run-*_raw.fif"):
            match = _RUN_FILE.fullmatch(fname.name)
            if match:
                found.append(((int(match[2]), int(match[3])), fname))
        if not found:
            raise FileNotFoundError(
                f"Missing MuseP300 files of subject {subject}: no "
                f"sub-{subject:02d}_ses-S_run-R_raw.fif in {folder}. Expected "
                f"layout:\n{_LAYOUT}"
            )
        return [fname for _, fname in sorted(found)]  # numeric session, run order

    def read_subject(self, subject):
        for fname in self.source_files(subject):  # a generator: one run at a time
            rec = self._read_run(subject, fname)
            if rec is not None:
                yield rec

    def _read_run(self, subject, fname):
        _, session, run = _RUN_FILE.fullmatch(fname.name).groups()
        raw, events = _read_run_file(fname)
        # Filtering each run equals filtering the concatenated runs: MNE filters a
        # concatenation piecewise between its boundaries.
        raw.filter(self.l_freq, self.h_freq, picks="eeg", verbose="error")
        present = {k: v for k, v in _EVENTS.items() if v in events[:, 2]}
        if not present:
            logger.info(f"{fname.name}: no target or non-target event, skipped")
            return None
        epochs = mne.Epochs(
            raw,
            events,
            present,
            tmin=0.0,
            tmax=self.tmax,
            baseline=None,
            picks=list(MUSE_P300_CHANNELS),
            reject=None if self.reject is None else dict(eeg=self.reject),
            preload=True,
            verbose="error",
        )
        n_dropped = len(events) - len(epochs)
        logger.info(f"{fname.name}: {len(epochs)} epochs, {n_dropped} dropped")
        if not len(epochs):
            return None
        return Recording.from_windows(
            epochs.get_data(copy=False),
            epochs.events[:, 2] - 1,
            ch_names=MUSE_P300_CHANNELS,
            ch_types="eeg",
            sfreq=_SFREQ,
            description=dict(subject=subject, session=session, run=run),
            metadata=pd.DataFrame({"onset": epochs.events[:, 0] - raw.first_samp}),
            source=fname,
        )


def _check_positive(name, value, *, allow_none=False):
    ok = (value is None and allow_none) or (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and value > 0
    )
    if not ok:
        allowed = "a positive number" + (" or None" if allow_none else "")
        raise ValueError(
            f"Invalid value for the {name!r} parameter. Allowed values are {allowed}, "
            f"but got {value!r} instead."
        )


def _read_run_file(fname):
    """Read one run: its EEG and stim channels and its 1/2 events; errors name it."""
    try:
        raw = mne.io.read_raw_fif(fname, preload=True, verbose="error")
    except Exception as exc:  # MNE raises many types on damaged files
        raise ValueError(
            f"Cannot read {fname} ({type(exc).__name__}: {exc}). The file is truncated "
            "or not a FIF raw file; convert or copy it again."
        ) from exc
    missing = [ch for ch in (*MUSE_P300_CHANNELS, _STIM) if ch not in raw.ch_names]
    if missing:
        raise ValueError(
            f"{fname} lacks the channel(s) {missing} (found {raw.ch_names}); a MuseP300 "
            f"run has the EEG channels {list(MUSE_P300_CHANNELS)} and the stim channel "
            f"{_STIM!r} holding the markers."
        )
    if raw.info["sfreq"] != _SFREQ:
        raise ValueError(
            f"{fname} is sampled at {raw.info['sfreq']} Hz, expected {_SFREQ} Hz."
        )
    events = mne.find_events(raw, stim_channel=_STIM, shortest_event=1, verbose="error")
    other = np.setdiff1d(events[:, 2], list(_EVENTS.values()))
    if other.size:
        logger.info(f"{fname.name}: ignored marker codes {other.tolist()}")
    return raw, events[np.isin(events[:, 2], list(_EVENTS.values()))]


class MuseP300(CorpusWindowsDataset):
    """MuseP300 as a braindecode dataset of 0.8-s epochs (4 x 206 at 256 Hz)."""

    reader_class = _MuseP300Reader


class MuseP300MOABB(CorpusMOABBDataset):
    """MuseP300 as a MOABB P300 dataset (code ``"MuseP300"``).

    The trials are those of :class:`MuseP300`. The dataset's paradigm is
    ``"p300"`` with events ``{"NonTarget": 1, "Target": 2}``, so
    :class:`moabb.paradigms.P300` (ROC-AUC) runs on it. Its raws are in volts and
    ``unit_factor`` is 1e6, as for MOABB's own datasets: MOABB's arrays are in µV.
    :class:`mne_neurosketch.paradigms.MultiClassDecoding` gives the trials without
    another filter.
    """

    reader_class = _MuseP300Reader


def _bump(n_times, peak, width):
    """A Gaussian bump of unit height peaking ``peak`` s after sample 0."""
    t = np.arange(n_times) / _SFREQ
    return np.exp(-0.5 * ((t - peak) / width) ** 2)


@_MuseP300Reader.simulator
def simulate_muse_p300(
    path,
    subjects=(1,),
    *,
    n_sessions=1,
    n_runs=2,
    n_stimuli=60,
    target_ratio=1 / 6,
    p300_amplitude=5e-6,
    noise=3e-6,
    n_artifacts=0,
    seed=0,
):
    """Write synthetic MuseP300 recordings in the real on-disk format.

    One float32 FIF raw file per run (TP9, AF7, AF8, TP10 in volts at 256 Hz and
    the stim channel ``STI`` with one-sample markers 1 = non-target, 2 = target),
    named ``sub-NN/sub-NN_ses-S_run-R_raw.fif``.

    Parameters
    ----------
    path : path-like
        The corpus folder to write (it receives ``sub-01/`` ...).
    subjects : iterable of int
        Subjects (1..5).
    n_sessions, n_runs : int
        Sessions per subject and runs per session.
    n_stimuli : int
        Stimuli per run, one every 0.5 to 0.7 s.
    target_ratio : float
        Fraction of the stimuli that are targets (at least one per run).
    p300_amplitude : float
        Peak, in volts, of the deflection added after each target (largest at the
        temporal channels TP9 and TP10), so a decoder can learn the classes.
    noise : float
        Standard deviation, in volts, of the white background noise.
    n_artifacts : int
        Stimuli per run (the first ones) followed by a 300 µV blink, which the
        100 µV peak-to-peak rejection drops.
    seed : int
        Random seed.

    Returns
    -------
    root : pathlib.Path
        The corpus folder.
    """
    rng = np.random.default_rng(seed)
    root = Path(path)
    n_wave = int(_SFREQ)  # 1 s of deflection per stimulus
    p300 = _bump(n_wave, 0.35, 0.08)
    blink = _bump(n_wave, 0.2, 0.05)
    gains = np.array([1.0, 0.5, 0.5, 1.0])[:, None]  # temporal > frontal
    info = mne.create_info([*MUSE_P300_CHANNELS, _STIM], _SFREQ, ["eeg"] * 4 + ["stim"])
    for subject in subjects:
        folder = root / f"sub-{subject:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for session in range(1, n_sessions + 1):
            for run in range(1, n_runs + 1):
                gaps = rng.integers(int(0.5 * _SFREQ), int(0.7 * _SFREQ), n_stimuli)
                onsets = int(_SFREQ) + np.cumsum(gaps)
                n_targets = max(1, int(round(n_stimuli * target_ratio)))
                codes = np.ones(n_stimuli, np.int64)
                codes[rng.choice(n_stimuli, n_targets, replace=False)] = 2
                n_samples = int(onsets[-1]) + 2 * n_wave
                data = np.zeros((5, n_samples))
                data[:4] = rng.standard_normal((4, n_samples)) * noise
                data[:4] += rng.normal(0, 20e-6, (4, 1))  # electrode offsets
                for k, (on, code) in enumerate(zip(onsets, codes)):
                    data[4, on] = code
                    if code == 2:
                        data[:4, on : on + n_wave] += gains * p300_amplitude * p300
                    if k < n_artifacts:
                        data[:2, on : on + n_wave] += 300e-6 * blink
                raw = mne.io.RawArray(data, info, verbose="error")
                raw.set_montage("standard_1020", verbose="error")
                raw.save(
                    folder / f"sub-{subject:02d}_ses-{session}_run-{run}_raw.fif",
                    fmt="single",
                    overwrite=True,
                    verbose="error",
                )
    return root
