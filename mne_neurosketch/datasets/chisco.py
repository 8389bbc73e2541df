"""Chisco: EEG of read and imagined Chinese sentences, 39 semantic categories.

Reads the OpenNeuro ds005170 derivatives::

    derivatives/preprocessed_pkl/sub-0X/eeg/sub-0X_task-{read,imagine}_run-0N_eeg.pkl
    derivatives/preprocessed_fif/sub-0X/eeg/sub-0X_task-{read,imagine}_run-0N_eeg.fif
    json/textmaps.json      {sentence: category}
    json/classnumber.json   {"0": category name, ...}

The pickles are read through the restricted unpickler of
:mod:`mne_neurosketch.datasets._pickle`, never with :func:`pickle.load`.
"""

# License: BSD (3-clause)

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from ..utils import _check_option, logger
from ._download import Remote, Source, make_data_path
from ._pickle import load_records
from ._trials import class_patterns, nonflat_trials
from .base import CorpusMOABBDataset, CorpusReader, CorpusWindowsDataset, Recording

__all__ = [
    "CHISCO_CH_NAMES",
    "Chisco",
    "ChiscoMOABB",
    "read_textmaps",
    "run_number",
    "simulate_chisco",
]

SFREQ = 500.0
N_TIMES = {"read": 2501, "imagine": 1651}  # 0-5 s and 5-8.3 s, inclusive, at 500 Hz
N_CLASSES = 39

# The 122 EEG channels of Chisco's montage.csv in montage order, i.e. the 133
# labels without the unused 10, 11, 84, 85, 110, 111, EKG, EMG and without
# VEO, HEO and Trigger (stored after the EEG, at indices 122-124 of each trial).
CHISCO_CH_NAMES = """
T9 FT9 FTT9h T7 TP7 TTP7h C5 FTT7h Ft7 FFT7h FC5 FCC5h CCP5h TPP5h P7 P9 P11 PO11
PO9 PPO7 P5 CPP5h CP3 C3 FC3 FFC5h F5 F7 AF7 AFF5h F3 FFC3h FCC3h C1 CCP3h CPP3h P3
PO3 POO7 POO9h POO11h I1 OI1 POO3 PO1 PPO1 CPP1h CP1 CCP1h FCC1h FC1 FFC1h F1 AF3
FP1 FPz AFz Fz FCz FCCz Cz CPPz PPOz POz POOz Oz Iz I2 OI2 POO4 PO2 PPO2 CPP2h CP2
CCP2h FCC2h FC2 FFC2h F2 AF4 Fp2 AF8 AFF6h F4 FFC4h FCC4h C2 CCP4h CPP4h P4 PO4 POO8
POO10h POO12h PO12 PO10 PPO8 P6 CPP6h CP4 C4 FC4 FFC6h F6 F8 FFT8h FC6 FCC6h CCP6h
TPP8h P8 P10 P12 TTP8h C6 FTT8h FT8 T10 FT10 FTT10h T8 TP8
""".split()
_EXTRA_CH_NAMES = ["VEO", "HEO", "Trigger"]
_N_STORED_CHANNELS = len(CHISCO_CH_NAMES) + len(_EXTRA_CH_NAMES)  # 125
_RUN_RE = re.compile(r"^sub-(\d+)_task-(read|imagine)_run-(\d+)_eeg\.(pkl|fif)$")
_SOURCES = ("auto", "pkl", "fif")

_LAYOUT = """Chisco/                                   (OpenNeuro ds005170)
    derivatives/preprocessed_pkl/sub-01/eeg/sub-01_task-read_run-01_eeg.pkl
    derivatives/preprocessed_pkl/sub-01/eeg/sub-01_task-imagine_run-010_eeg.pkl ...
    derivatives/preprocessed_fif/sub-01/eeg/sub-01_task-read_run-01_eeg.fif  (optional)
    json/textmaps.json
    json/classnumber.json"""


def run_number(fname) -> int:
    """Return the run number of a Chisco derivative file name.

    The release writes the run as ``"0" + str(N)``: ``run-01`` ... ``run-09``,
    then ``run-010`` ... ``run-045``; both parse to ``N``.

    Parameters
    ----------
    fname : path-like
        A derivative file; only its name is read.

    Returns
    -------
    run : int
        The run number.
    """
    match = _RUN_RE.match(Path(fname).name)
    if match is None:
        raise ValueError(
            f"{fname} is not a Chisco derivative file name "
            "(sub-XX_task-{read,imagine}_run-0N_eeg.{pkl,fif})."
        )
    return int(match.group(3))


def read_textmaps(fname) -> dict:
    """Read ``json/textmaps.json`` as ``{stripped sentence: category}``.

    Parameters
    ----------
    fname : path-like
        The ``textmaps.json`` of the release.

    Returns
    -------
    textmaps : dict of str to int
        Category index of each sentence.
    """
    fname = Path(fname)
    if not fname.is_file():
        raise FileNotFoundError(
            f"The Chisco sentence-to-category map {fname} does not exist; download "
            "json/textmaps.json of OpenNeuro ds005170 next to derivatives/."
        )
    try:
        raw = json.loads(fname.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{fname} is not valid UTF-8 JSON ({err}).") from err
    if not isinstance(raw, dict) or not raw:
        raise ValueError(
            f"{fname} should hold a non-empty {{sentence: category}} object."
        )
    out = {}
    for text, cat in raw.items():
        try:
            cat = int(cat)
        except (TypeError, ValueError):
            raise ValueError(
                f"{fname}: the category of {text!r} is {cat!r}, not an integer."
            ) from None
        if not 0 <= cat < N_CLASSES:
            raise ValueError(
                f"{fname}: the category of {text!r} is {cat}, outside 0..{N_CLASSES - 1}."
            )
        out[str(text).strip()] = cat
    return out


def _read_pkl_trials(fname, n_times):
    """Trials (n, 122, T) in volts (float32) and their texts from one pickle."""
    trials = load_records(
        fname, what="Chisco pickle", keys=("text", "input_features"), item="trial"
    )
    X = np.empty((len(trials), len(CHISCO_CH_NAMES), n_times), dtype=np.float32)
    texts = []
    for ii, trial in enumerate(trials):
        feats = trial["input_features"]
        expected = (1, _N_STORED_CHANNELS, n_times)
        if not isinstance(feats, np.ndarray) or feats.shape != expected:
            shape = getattr(feats, "shape", type(feats).__name__)
            raise ValueError(
                f"Trial {ii} of {fname}: 'input_features' should be an array of shape "
                f"{expected} (122 EEG + VEO, HEO, Trigger), got {shape}. Is the file "
                "from the other task?"
            )
        X[ii] = feats[0, : len(CHISCO_CH_NAMES)]
        texts.append("" if trial["text"] is None else str(trial["text"]))
    return X, texts


def _read_fif_trials(fname, n_times):
    """Trials (n, 122, T) in volts (float32) and their texts from one epochs file."""
    # The release does not use the -epo.fif suffix MNE expects: silence that warning.
    with mne.utils.use_log_level("error"):
        try:
            epochs = mne.read_epochs(fname, preload=True, verbose="error")
        except Exception as err:
            raise ValueError(
                f"Could not read the Chisco epochs file {fname} ({err}); the file is "
                "truncated or not MNE epochs. Download it again."
            ) from err
    if epochs.metadata is None or "Word" not in epochs.metadata:
        raise ValueError(
            f"The Chisco epochs file {fname} has no metadata column 'Word' holding the "
            "sentences; it is not a Chisco preprocessed_fif file."
        )
    missing = [ch for ch in CHISCO_CH_NAMES if ch not in epochs.ch_names]
    if missing:
        raise ValueError(f"{fname} lacks the Chisco EEG channels {missing}.")
    if len(epochs.times) != n_times:
        raise ValueError(
            f"{fname}: epochs of {len(epochs.times)} samples, expected {n_times}."
        )
    X = epochs.get_data(picks=CHISCO_CH_NAMES).astype(np.float32)
    texts = ["" if t is None else str(t) for t in epochs.metadata["Word"]]
    return X, texts


def _to_microvolts(X):
    # V -> µV, as the paper and Chisco's own loader; in place on the copy.
    X *= 1e6
    return X


_PATH_DOC = (
    "Folder holding ``derivatives/`` and ``json/`` (or its parent holding ``Chisco/``)"
)

_PARAMS_DOC = """
    task : 'read' | 'imagine'
        ``read`` is the 0-5 s epoch (2501 samples), ``imagine`` the 5-8.3 s epoch
        (1651 samples) after the same sentence onset.
    source : 'auto' | 'pkl' | 'fif'
        Which derivative to read: ``preprocessed_pkl`` (the paper's), the
        ``preprocessed_fif`` MNE epochs, or ``auto`` (pkl if present, else fif).
    %(drop_flat)s"""


class _ChiscoReader(CorpusReader):
    code = "Chisco"
    publisher = "OpenNeuro ds005170 (https://openneuro.org/datasets/ds005170)"
    layout = _LAYOUT
    folder_names = ("Chisco", "ds005170")
    subjects = (1, 2, 3, 4, 5)
    tasks = ("read", "imagine")
    doi = "10.18112/openneuro.ds005170.v1.1.2"

    name = "chisco"
    aliases = ("Chisco",)
    registered_tasks = ("read", "imagine")
    n_chans, n_classes = 122, 39
    to_volts = 1e-6  # the windows are in µV (_to_microvolts, as the paper)
    # Reading sentences shown on screen gives stimulus-locked visual responses
    # (MOABB's ERP kind); imagining speech is imagery.
    moabb_paradigm = {"read": "p300", "imagine": "imagery"}
    protocol, protocol_params = "paper", {"method": "n_fold"}
    default_subjects, scorer, budget = None, None, {}  # all, accuracy, the recipe's
    description = "Chisco, sentences ({task}), 39 classes, EEG 122 channels (5 subjects)"
    simulation = {"class_signal": 0.5}
    doc_parts = (_PATH_DOC, _PARAMS_DOC, None)

    def __init__(self, path=None, *, task="read", source="auto", drop_flat=True):
        super().__init__(path, task=task)
        self.source = _check_option("source", source, _SOURCES)
        self.drop_flat = bool(drop_flat)

    def _is_root(self, folder):
        return (folder / "derivatives").is_dir() or (folder / "json").is_dir()

    @property
    def n_times(self):
        return N_TIMES[self.task]

    sfreq = SFREQ

    def class_names(self):
        fname = self.root / "json" / "classnumber.json"
        if fname.is_file():
            names = json.loads(fname.read_text(encoding="utf-8"))
            try:
                return [str(names[str(k)]) for k in range(N_CLASSES)]
            except KeyError as err:
                raise ValueError(
                    f"{fname} lacks the name of category {err.args[0]}; it should map "
                    f"'0'..'{N_CLASSES - 1}' to names."
                ) from None
        return [f"category{k:02d}" for k in range(N_CLASSES)]

    def _run_files(self, subject):
        sub = f"sub-{subject:02d}"
        kinds = ("pkl", "fif") if self.source == "auto" else (self.source,)
        for kind in kinds:
            folder = self.root / "derivatives" / f"preprocessed_{kind}" / sub / "eeg"
            files = [
                f
                for f in (folder.iterdir() if folder.is_dir() else ())
                if (m := _RUN_RE.match(f.name))
                and m.group(2) == self.task
                and m.group(4) == kind
                and int(m.group(1)) == subject
            ]
            if files:
                # Order by run number, not by the file system (run-010 < run-02).
                return sorted(files, key=run_number)
        raise FileNotFoundError(
            f"No Chisco '{self.task}' files for subject {subject} under "
            f"{self.root / 'derivatives'} (looked in preprocessed_"
            f"{'{pkl,fif}' if self.source == 'auto' else self.source}/{sub}/eeg/). "
            f"Download them from {self.publisher}. Expected layout:\n{self.layout}"
        )

    def source_files(self, subject):
        textmaps = self.root / "json" / "textmaps.json"
        if not textmaps.is_file():
            raise FileNotFoundError(
                f"The Chisco sentence-to-category map {textmaps} does not exist; "
                f"download json/textmaps.json from {self.publisher}."
            )
        return [textmaps, *self._run_files(subject)]

    def read_subject(self, subject):
        # A generator: one run at a time (a full run is ~190 MB of float32).
        textmaps = read_textmaps(self.root / "json" / "textmaps.json")
        n_unmapped, n_flat = 0, 0
        for fname in self._run_files(subject):
            read = _read_pkl_trials if fname.suffix == ".pkl" else _read_fif_trials
            X, texts = read(fname, self.n_times)
            texts = [t.strip() for t in texts]
            mapped = np.array([t in textmaps for t in texts], dtype=bool)
            if not mapped.all():
                unknown = sorted({t for t, m in zip(texts, mapped) if not m})
                n_unmapped += int((~mapped).sum())
                logger.info(
                    f"{fname.name}: dropped {(~mapped).sum()} trial(s) whose sentence "
                    f"is not in textmaps.json: {unknown[:3]}"
                    f"{' ...' if len(unknown) > 3 else ''}"
                )
            keep = np.flatnonzero(mapped)
            if self.drop_flat:
                nonflat = keep[nonflat_trials(X[keep])] if keep.size else keep
                n_flat += keep.size - nonflat.size
                keep = nonflat
            if not keep.size:
                logger.info(f"{fname.name}: no trial left, skipped")
                continue
            run = run_number(fname)
            # All trials kept (the usual case): scale in place, no extra copy.
            X = X if keep.size == len(X) else X[keep]
            yield Recording.from_windows(
                _to_microvolts(X),
                [textmaps[texts[k]] for k in keep],
                ch_names=CHISCO_CH_NAMES,
                ch_types="eeg",
                sfreq=SFREQ,
                description=dict(
                    subject=subject, session="0", run=str(run), task=self.task
                ),
                metadata=pd.DataFrame(
                    {"trial": keep.astype(np.int64), "text": [texts[k] for k in keep]}
                ),
                source=fname,
            )
            del X
        logger.info(
            f"Chisco subject {subject} ({self.task}): {n_unmapped} trial(s) with a "
            f"sentence missing from textmaps.json dropped, {n_flat} trial(s) with a "
            "flat channel dropped"
        )


class Chisco(CorpusWindowsDataset):
    """Chisco (OpenNeuro ds005170) as a braindecode dataset of trials.

    Each run file becomes one recording (description ``subject``, ``session``
    ``"0"``, ``run`` = run number, ``task``), runs ordered by run number. The
    paper's preprocessing (NeuroSketch ``prepare_chisco_data.py``) is applied:
    the 122 EEG channels in montage order (VEO, HEO and Trigger dropped), scaled
    from V to µV, label = ``textmaps[text]``, trials with a flat channel
    dropped; 500 Hz, no filtering. Two fixes of the reference: the sentence is
    stripped before the look-up, and sentences missing from ``textmaps.json``
    are dropped and counted in the log instead of raising ``KeyError``; run
    files are sorted by run number instead of ``os.listdir`` order.
    Per-window metadata: ``trial`` (index in its file) and ``text``.
    """

    reader_class = _ChiscoReader

    _legacy_protocols = {
        "n_fold": ("paper", {"method": "n_fold"}),
        "simple": ("paper", {"method": "simple"}),
    }


class ChiscoMOABB(CorpusMOABBDataset):
    """Chisco as a MOABB dataset (the trials of :class:`Chisco`).

    One session per subject, one MOABB run per run file; the events are the 39
    category names of ``json/classnumber.json``. Use it with
    :class:`mne_neurosketch.paradigms.MultiClassDecoding`.
    """

    reader_class = _ChiscoReader


# --------------------------------------------------------------------------- #
# Simulation in the release format
# --------------------------------------------------------------------------- #
def _sentences(n):
    # Synthetic Chinese sentences (the real ones are in textdataset/*.xlsx).
    subjects = "我你他她我们老师学生朋友"
    verbs = ["想喝", "喜欢", "看见", "需要"]
    objects = ["水", "茶", "书", "灯", "门", "花"]
    out = []
    for ii in range(n):
        out.append(
            f"{subjects[ii % len(subjects)]}{verbs[(ii // 3) % len(verbs)]}"
            f"{objects[(ii // 12) % len(objects)]}{ii}"
        )
    return out


@_ChiscoReader.simulator
def simulate_chisco(
    path,
    sim,
    *,
    tasks=("read", "imagine"),
    runs=(1, 10),
    n_trials_per_run=6,
    n_categories=3,
    n_unmapped=0,
    fif=False,
    protocol=4,
):
    """Write synthetic Chisco derivatives in the layout of OpenNeuro ds005170.

    Writes, per subject, task and run, ``derivatives/preprocessed_pkl/...pkl``
    (a list of ``{"text", "input_features"}`` dicts; ``input_features`` float64
    ``(1, 125, T)`` in volts: 122 EEG channels then VEO, HEO and Trigger) and,
    with ``fif=True``, the ``preprocessed_fif`` MNE epochs with a ``Word``
    metadata column; plus ``json/textmaps.json`` and ``json/classnumber.json``.
    Every third sentence carries trailing whitespace, as the stripping must
    handle; the last ``n_unmapped`` sentences of each run are missing from
    ``textmaps.json``.

    Parameters
    ----------
    path : path-like
        Root folder (the corpus folder, pass it as ``path=``).
    subjects : sequence of int
        Subjects to write (1-5).
    full_size : bool
        Write 45 runs (run-01 ... run-045) of ``n_trials_per_run`` trials and
        all 39 categories (``n_trials_per_run`` defaults to 150 then; the
        release's exact count per run is not documented here).
    class_signal : float
        Amplitude (in noise standard deviations) of a category-specific pattern
        added to the EEG; 0 gives pure noise.
    seed : int
        Seed of the random generator.
    tasks : sequence of str
        Tasks to write.
    runs : sequence of int
        Run numbers when ``full_size`` is False (1 and 10 exercise ``run-01``
        and ``run-010``).
    n_trials_per_run : int
        Trials per run file.
    n_categories : int
        Categories used when ``full_size`` is False.
    n_unmapped : int
        Trials per run whose sentence is missing from ``textmaps.json``.
    fif : bool
        Also write the ``preprocessed_fif`` epochs.
    protocol : int
        Pickle protocol.

    Returns
    -------
    path : Path
        The corpus folder.
    """
    path = Path(path) / "Chisco"
    rng = np.random.default_rng(sim.seed)
    if sim.full_size:
        runs, n_categories = tuple(range(1, 46)), N_CLASSES
        n_trials_per_run = 150 if n_trials_per_run == 6 else n_trials_per_run
    n_mapped = n_trials_per_run - n_unmapped
    if n_mapped < 0:
        raise ValueError("n_unmapped must not exceed n_trials_per_run.")
    sentences = _sentences(len(runs) * n_trials_per_run)
    textmaps = {}
    (path / "json").mkdir(parents=True, exist_ok=True)
    patterns = {
        task: class_patterns(
            N_CLASSES, len(CHISCO_CH_NAMES), N_TIMES[task], seed=sim.seed
        )
        for task in tasks
    }
    for subject in sim.subjects:
        sub = f"sub-{subject:02d}"
        for task in tasks:
            n_times = N_TIMES[task]
            for i_run, run in enumerate(runs):
                run_sents = sentences[
                    i_run * n_trials_per_run : (i_run + 1) * n_trials_per_run
                ]
                trials, texts = [], []
                for k, sent in enumerate(run_sents):
                    cat = (i_run * n_trials_per_run + k) % n_categories
                    if k < n_mapped:
                        textmaps[sent] = cat
                    text = sent + (" \n" if k % 3 == 2 else "")
                    eeg = rng.standard_normal((len(CHISCO_CH_NAMES), n_times))
                    if sim.class_signal:
                        eeg += sim.class_signal * patterns[task][cat]
                    feats = np.empty((1, _N_STORED_CHANNELS, n_times))
                    feats[0, : len(CHISCO_CH_NAMES)] = eeg * 1e-5
                    feats[0, len(CHISCO_CH_NAMES) :] = (
                        rng.standard_normal((3, n_times)) * 5e-5
                    )
                    trials.append({"text": text, "input_features": feats})
                    texts.append(text)
                stem = f"{sub}_task-{task}_run-0{run}_eeg"
                folder = path / "derivatives" / "preprocessed_pkl" / sub / "eeg"
                folder.mkdir(parents=True, exist_ok=True)
                with open(folder / f"{stem}.pkl", "wb") as fid:
                    pickle.dump(trials, fid, protocol=protocol)
                if fif:
                    _write_fif(path, sub, stem, trials, texts)
    (path / "json" / "textmaps.json").write_text(
        json.dumps(textmaps, ensure_ascii=False), encoding="utf-8"
    )
    (path / "json" / "classnumber.json").write_text(
        json.dumps({str(k): f"类别{k}" for k in range(N_CLASSES)}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def _write_fif(path, sub, stem, trials, texts):
    folder = path / "derivatives" / "preprocessed_fif" / sub / "eeg"
    folder.mkdir(parents=True, exist_ok=True)
    info = mne.create_info(
        CHISCO_CH_NAMES + _EXTRA_CH_NAMES, SFREQ, ["eeg"] * 122 + ["eog", "eog", "stim"]
    )
    data = np.concatenate([t["input_features"] for t in trials])
    epochs = mne.EpochsArray(
        data, info, tmin=0.0, metadata=pd.DataFrame({"Word": texts}), verbose="error"
    )
    with mne.utils.use_log_level("error"):
        epochs.save(folder / f"{stem}.fif", overwrite=True, verbose="error")


# --------------------------------------------------------------------------- download
# OpenNeuro ds005170 through its public S3 bucket: textmaps.json and the
# preprocessed pickles of the asked subjects (runs missing from the release are
# skipped). OpenNeuro publishes no per-file checksum, so each file's SHA256 is
# recorded at its first download (see _download). Not run here (no internet).
_OPENNEURO = "https://s3.amazonaws.com/openneuro.org/ds005170"


def _chisco_files(subjects):
    files = [Remote(f"{_OPENNEURO}/json/textmaps.json", "json/textmaps.json")]
    for s in subjects or _ChiscoReader.subjects:
        for task in _ChiscoReader.tasks:
            for n in range(1, 46):  # run-01 ... run-09, run-010 ... run-045
                name = f"sub-{s:02d}_task-{task}_run-0{n}_eeg.pkl"
                rel = f"derivatives/preprocessed_pkl/sub-{s:02d}/eeg/{name}"
                files.append(Remote(f"{_OPENNEURO}/{rel}", rel, optional=True))
    return files


data_path = make_data_path(
    Source(
        code="Chisco",
        folder="ds005170",
        files=_chisco_files,
        page="https://openneuro.org/datasets/ds005170",
        licence="CC0",
        notes="About 90 GB for the whole release; ask for a few ``subjects``.",
    )
)
