"""Du-IN: sEEG while reading Chinese words aloud, 61 words, 12 subjects.

Reads the published per-run pickles of the Hugging Face release
(``liulab-repository/Du-IN``)::

    data/seeg.he2023xuanwu/<NNN>/word-recitation/run<k>/dataset.bipolar.default.unaligned/data
    data/seeg.he2023xuanwu/<NNN>/word-recitation/run<k>/dataset.bipolar.default.unaligned/info

through the restricted unpickler of :mod:`mne_neurosketch.datasets._pickle` (the
files are pickles from the internet: only Du-IN's dict class and NumPy array
reconstruction are allowed).
"""

# License: BSD (3-clause)

from __future__ import annotations

import contextlib
import pickle
import re
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd

from ..splits import GroupedSplit, simple_split
from ..utils import _check_option, logger
from ._download import Remote, Source, make_data_path
from ._pickle import describe, load_pickle, load_records
from ._trials import class_patterns, nonflat_trials
from .base import CorpusMOABBDataset, CorpusReader, CorpusWindowsDataset, Recording

__all__ = [
    "DUIN_SELECTED_CHANNELS",
    "DuIN",
    "DuINMOABB",
    "list_du_in_runs",
    "read_du_in_channels",
    "read_du_in_run",
    "simulate_du_in",
    "train_trials",
]

SFREQ = 1000.0
N_TIMES = 3000
RELEASE_DIR = ("data", "seeg.he2023xuanwu")
RUN_SUBDIR = "dataset.bipolar.default.unaligned"

# Du-IN's hand-picked 10 channels per subject (Du-IN train/duin/run_cls.py), in
# the order Du-IN uses them; corpora.md section 1.3.
DUIN_SELECTED_CHANNELS = {
    1: "SM8 SM9 SM7 SM11 P4 SM10 SM6 P3 SM5 CI9".split(),
    2: "TI'2 TI'3 TI'1 TI'6 TI'4 TI'7 ST'3 ST'2 ST'4 FP'4".split(),
    3: "ST3 ST1 ST2 ST9 TI'4 TI'3 ST4 TI'2 ST7 TI'8".split(),
    4: "D12 D13 C4 C3 D11 D14 D10 D9 D5 C15".split(),
    5: "E8 E9 E6 E7 E11 E12 E5 E10 C10 E4".split(),
    6: "D3 D1 D6 D2 D5 D4 D7 D8 G8 E13".split(),
    7: "H2 H4 H3 H1 H6 H5 E4 H7 C13 E5".split(),
    8: "TI3 TI4 TI2 TI5 B9 TI6 TI7 TI9 TI10 B5".split(),
    9: "K9 K8 K6 K7 K11 K10 K5 K4 K3 I9".split(),
    10: "PI5 PI6 PI7 PI8 PI1 PI9 PI2 SM2 SP3 PI4".split(),
    11: "T2 T3 C9 T4 T5 C7 C8 T1 s1 C4".split(),
    12: "TI'4 TI'2 TI'3 TI'5 TI'8 TI'6 TI'7 TO'9 P'5 TO'8".split(),
}

# Released runs, bipolar channel count and epoch count per subject (NEMAR
# table, corpora.md section 1.1); used by simulate_du_in(full_size=True).
_RELEASE_TABLE = {
    1: ((1, 2, 3, 4, 5, 6), 104, 3065),
    2: ((1, 2, 3, 4, 5, 6), 115, 3625),
    3: ((1, 2, 3, 4, 5, 6), 67, 3442),
    4: ((1, 3, 4, 5, 6), 100, 3043),
    5: ((1, 2, 3, 4, 5), 123, 3048),
    6: ((1, 2, 3, 4, 5, 6), 101, 3365),
    7: ((1, 2, 3, 4, 5, 6), 94, 3546),
    8: ((1, 2, 3, 4, 5, 6), 98, 3628),
    9: ((1, 2, 3, 4, 5, 6), 147, 3473),
    10: ((1, 2, 3, 4, 5, 6), 88, 3501),
    11: ((1, 2, 3, 4, 5, 6), 90, 3161),
    12: ((1, 2, 3), 62, 1830),
}
N_SUBJECTS = len(_RELEASE_TABLE)
N_WORDS = 61
_RUN_RE = re.compile(r"^run(\d+)$")


def _subject_dir(root, subject):
    return Path(root) / f"{subject:03d}" / "word-recitation"


def list_du_in_runs(root, subject):
    """List the runs of one subject, ordered by run number.

    Parameters
    ----------
    root : path-like
        The release's ``data/seeg.he2023xuanwu`` folder.
    subject : int
        Subject number, 1 to 12.

    Returns
    -------
    runs : list of (int, Path)
        Run number and the ``dataset.bipolar.default.unaligned`` folder.
    """
    subject_dir = _subject_dir(root, subject)
    if not subject_dir.is_dir():
        raise FileNotFoundError(
            f"Du-IN subject {subject} not found: {subject_dir} does not exist. "
            "Download the subject's folder from liulab-repository/Du-IN."
        )
    runs = []
    for run_dir in subject_dir.iterdir():
        match = _RUN_RE.match(run_dir.name)
        if match and (run_dir / RUN_SUBDIR).is_dir():
            runs.append((int(match.group(1)), run_dir / RUN_SUBDIR))
    if not runs:
        raise FileNotFoundError(
            f"No Du-IN runs found in {subject_dir}: expected folders "
            f"run<k>/{RUN_SUBDIR}/ holding the 'data' and 'info' pickles."
        )
    return sorted(runs)


def read_du_in_channels(run_dir):
    """Read the channel names of one Du-IN run from its ``info`` pickle.

    Parameters
    ----------
    run_dir : path-like
        The run's ``dataset.bipolar.default.unaligned`` folder.

    Returns
    -------
    ch_names : list of str
        The bipolar channel names, in the order of the ``data_s`` rows.
    """
    fname = Path(run_dir) / "info"
    info = load_pickle(fname, what="Du-IN info file")
    ch_names = info.get("ch_names") if isinstance(info, dict) else None
    if not isinstance(ch_names, (list, tuple)) or not ch_names:
        raise ValueError(
            f"The Du-IN info file {fname} has no 'ch_names' list (got "
            f"{describe(info)}). It should be the pickled DotDict of the release."
        )
    return [str(ch) for ch in ch_names]


def read_du_in_run(run_dir, channels=None):
    """Read one Du-IN run from its ``data`` and ``info`` pickles.

    Parameters
    ----------
    run_dir : path-like
        The run's ``dataset.bipolar.default.unaligned`` folder.
    channels : list of str | None
        Channels to keep, in this order. ``None`` keeps all, in file order.

    Returns
    -------
    data : ndarray, shape (n_trials, n_channels, 3000)
        The epochs (float32, volts).
    words : list of str
        The word of each epoch.
    ch_names : list of str
        The channel names of ``data``.
    """
    run_dir = Path(run_dir)
    ch_names = read_du_in_channels(run_dir)
    if channels is None:
        picks = np.arange(len(ch_names))
    else:
        missing = [ch for ch in channels if ch not in ch_names]
        if missing:
            raise ValueError(
                f"Channels {missing} are not in {run_dir / 'info'} (it has "
                f"{len(ch_names)} channels). Pass channels='all' or a list of "
                "channels present in every run."
            )
        picks = np.array([ch_names.index(ch) for ch in channels])

    fname = run_dir / "data"
    records = load_records(
        fname, what="Du-IN data file", keys=("name", "data_s"), non_empty=True
    )
    data = np.empty((len(records), len(picks), N_TIMES), dtype=np.float32)
    words = []
    for ii, record in enumerate(records):
        signal = record["data_s"]
        if not isinstance(signal, np.ndarray) or signal.shape != (
            len(ch_names),
            N_TIMES,
        ):
            raise ValueError(
                f"Record {ii} of {fname}: 'data_s' should be an array of shape "
                f"({len(ch_names)}, {N_TIMES}) (channels of the info file x 3 s at "
                f"1000 Hz), got {describe(signal)}."
            )
        data[ii] = signal[picks]
        words.append(str(record["name"]))
    # Drop the records: a full run is about 1.5 GB of float64 as released.
    del records
    return data, words, [ch_names[p] for p in picks]


_LAYOUT = """Du-IN/                         (Hugging Face liulab-repository/Du-IN)
    data/seeg.he2023xuanwu/001/word-recitation/run1/dataset.bipolar.default.unaligned/data
    data/seeg.he2023xuanwu/001/word-recitation/run1/dataset.bipolar.default.unaligned/info
    ... (subjects 001-012, runs run1-run6)"""
_NORMALIZE = ("train", "subject", None)
_SPLITS = ("simple", "run")


def train_trials(y, runs, split="simple"):
    """Trials whose statistics the default z-scoring uses (the training part).

    Parameters
    ----------
    y : array-like, shape (n_trials,)
        Labels, in trial order.
    runs : array-like, shape (n_trials,)
        Run of each trial.
    split : 'simple' | 'run'
        ``simple``: the training part of the paper's stratified 60/20/20 split
        (:func:`mne_neurosketch.splits.simple_split`, seed 42). ``run``: the
        training part of the first split of ``GroupedSplit().split_with_valid``
        grouped by run (test = first run, validation = last run).

    Returns
    -------
    train : ndarray of int
        Trial indices.
    """
    try:
        if split == "simple":
            return np.sort(simple_split(y)[0])
        train, _, _ = next(GroupedSplit().split_with_valid(np.asarray(y), y, groups=runs))
    except ValueError as err:
        raise ValueError(
            f"Cannot compute the {split!r} split that normalize='train' takes its "
            f"statistics from ({err}). Load more trials or runs, or pass "
            "normalize='subject' or normalize=None."
        ) from err
    return np.sort(train)


_PATH_DOC = (
    "The downloaded repository (holding ``data/seeg.he2023xuanwu``) or that folder"
)

_PARAMS_DOC = """channels : 'paper' | 'all' | dict
        ``paper``: Du-IN's 10 hand-picked channels of each subject
        (:data:`DUIN_SELECTED_CHANNELS`, in that order); ``all``: every channel
        common to the subject's runs; or ``{subject: [names]}``.
    normalize : 'train' | 'subject' | None
        Per-channel z-scoring over trials and time. ``train`` (default) takes
        the statistics from the training trials of ``split`` only;
        ``subject`` from all the subject's trials (the paper's
        ``data_after_norm``, which lets test trials into the statistics);
        ``None`` keeps volts.
    split : 'simple' | 'run'
        The split whose training part ``normalize='train'`` uses (see
        :func:`train_trials`): the paper's ``simple`` split, or grouped by run.
    %(drop_flat)s"""

_NOTES_DOC = """
    The paper's protocol is ``PaperSplit("simple")`` on each subject's trials;
    a leakage-free alternative is ``GroupedSplit()`` with
    ``groups_of(windows, "run")``. Use the same ``split`` here so that the
    z-scoring statistics come from the training trials."""


class _DuINReader(CorpusReader):
    code = "Du-IN"
    publisher = "Hugging Face (https://huggingface.co/datasets/liulab-repository/Du-IN)"
    layout = _LAYOUT
    folder_names = (
        "data/seeg.he2023xuanwu",
        "seeg.he2023xuanwu",
        "Du-IN/data/seeg.he2023xuanwu",
    )
    subjects = tuple(range(1, N_SUBJECTS + 1))
    tasks = ("word_classification",)
    doi = None

    name = "duin"
    aliases = ("du-in", "Du-IN", "du_in")
    registered_tasks = ()
    n_chans, n_classes = 10, 61  # the paper's channels
    # The windows are z-scored (normalize=), unitless: read as µV so that MOABB's
    # arrays keep their values.
    to_volts = 1e-6
    # Words read aloud: sEEG of speech production, an executed movement, which
    # MOABB files under "imagery" with its motor datasets.
    moabb_paradigm = "imagery"
    protocol, protocol_params = "paper", {"method": "simple"}
    default_subjects, scorer, budget = None, None, {}  # all, accuracy, the recipe's
    description = "Du-IN, 61 spoken words, sEEG 10 channels (12 subjects)"
    simulation = {"class_signal": 0.5}
    doc_parts = (_PATH_DOC, _PARAMS_DOC, _NOTES_DOC)

    def __init__(
        self,
        path=None,
        *,
        channels="paper",
        normalize="train",
        split="simple",
        drop_flat=True,
    ):
        super().__init__(path, task=None)
        if not (channels in ("paper", "all") or isinstance(channels, dict)):
            raise ValueError(
                "Invalid value for the 'channels' parameter. Allowed values are "
                f"'paper', 'all' and a dict {{subject: [names]}}, but got {channels!r} "
                "instead."
            )
        self.channels = channels
        self.normalize = _check_option("normalize", normalize, _NORMALIZE)
        self.split = _check_option("split", split, _SPLITS)
        self.drop_flat = bool(drop_flat)
        if normalize is None:
            self.to_volts = 1.0  # not z-scored: the release's volts

    def _is_root(self, folder):
        return folder.name == RELEASE_DIR[1] and any(
            (folder / f"{s:03d}").is_dir() for s in self.subjects
        )

    n_times = N_TIMES
    sfreq = SFREQ

    def class_names(self):
        # The subject's words in sorted order (Du-IN's label order); the word
        # itself is in the windows' metadata column "word".
        return [f"word{k:02d}" for k in range(N_WORDS)]

    def _selection(self, subject):
        if self.channels == "paper":
            return list(DUIN_SELECTED_CHANNELS[subject])
        if self.channels == "all":
            return None
        if subject not in self.channels:
            raise ValueError(f"channels= gives no channel list for subject {subject}.")
        return [str(ch) for ch in self.channels[subject]]

    def cache_params(self):
        channels = (
            self.channels
            if not isinstance(self.channels, dict)
            else {str(k): list(v) for k, v in self.channels.items()}
        )
        return {
            **super().cache_params(),
            "channels": channels,
            "normalize": self.normalize,
            "split": self.split,
            "drop_flat": self.drop_flat,
        }

    def source_files(self, subject):
        files = []
        for _, run_dir in list_du_in_runs(self.root, subject):
            for name in ("data", "info"):
                if not (run_dir / name).is_file():
                    raise FileNotFoundError(
                        f"Missing Du-IN file {run_dir / name}; download the run again "
                        f"from {self.publisher}."
                    )
                files.append(run_dir / name)
        return files

    def _common_channels(self, runs):
        """All channels of the first run that every run has (Du-IN's rule)."""
        per_run = [read_du_in_channels(run_dir) for _, run_dir in runs]
        common = [ch for ch in per_run[0] if all(ch in chs for chs in per_run[1:])]
        if len(common) < len(per_run[0]):
            logger.info(f"Keeping the {len(common)} channels common to all runs")
        return common

    def read_subject(self, subject):
        runs = list_du_in_runs(self.root, subject)
        channels = self._selection(subject) or self._common_channels(runs)
        Xs, words, run_of, trial_in_run = [], [], [], []
        for run, run_dir in runs:
            X, run_words, _ = read_du_in_run(run_dir, channels)
            Xs.append(X)
            words += run_words
            run_of += [run] * len(run_words)
            trial_in_run += list(range(len(run_words)))
        X = np.concatenate(Xs)
        del Xs
        vocabulary = sorted(set(words))
        if len(vocabulary) > N_WORDS:
            raise ValueError(
                f"Du-IN subject {subject} has {len(vocabulary)} distinct words, more "
                f"than the corpus' {N_WORDS}; the files under "
                f"{_subject_dir(self.root, subject)} "
                "are not Du-IN word-recitation runs."
            )
        y = np.array([vocabulary.index(w) for w in words])
        keep = nonflat_trials(X) if self.drop_flat else np.arange(len(X))
        if len(keep) < len(X):
            logger.info(
                f"Du-IN subject {subject}: dropped {len(X) - len(keep)} trial(s) "
                "with a flat channel"
            )
            X, y = X[keep], y[keep]
        run_of, trial_in_run = np.asarray(run_of)[keep], np.asarray(trial_in_run)[keep]
        words = [words[k] for k in keep]
        _zscore(X, y, run_of, self.normalize, self.split)
        recordings = []
        for run, run_dir in runs:
            sel = np.flatnonzero(run_of == run)
            if not sel.size:
                continue
            recordings.append(
                Recording.from_windows(
                    X[sel],
                    y[sel],
                    ch_names=channels,
                    ch_types="seeg",
                    sfreq=SFREQ,
                    description=dict(subject=subject, session="0", run=str(run)),
                    metadata=pd.DataFrame(
                        {
                            "trial": trial_in_run[sel].astype(np.int64),
                            "word": [words[k] for k in sel],
                        }
                    ),
                    source=run_dir / "data",
                )
            )
        return recordings


def _zscore(X, y, runs, normalize, split):
    """Per-channel z-scoring in place, statistics over trials and time."""
    if normalize is None:
        return
    ref = X if normalize == "subject" else X[train_trials(y, runs, split)]
    # float64 statistics of the float32 trials (the sums need the precision).
    mean = ref.mean(axis=(0, 2), keepdims=True, dtype=np.float64)
    std = ref.std(axis=(0, 2), keepdims=True, dtype=np.float64)
    del ref
    X -= mean
    X /= np.where(std > 0, std, 1.0)


class DuIN(CorpusWindowsDataset):
    """Du-IN (sEEG, 61 words) as a braindecode dataset of 3-s trials.

    One recording per run (description ``subject``, ``session`` ``"0"``,
    ``run`` = run number), runs in run order, trials in file order; 1000 Hz,
    ``(10, 3000)`` trials with the paper's channels, channel type ``seeg``.
    Target ``k`` is the ``k``-th word of the subject's sorted vocabulary
    (Du-IN's label order; class names ``word00``..``word60``); per-trial
    metadata ``word`` (the Chinese word) and ``trial`` (index in its run file).
    Reference differences: the statistics of the default z-scoring exclude
    the validation and test trials (the paper normalised the whole subject,
    ``normalize="subject"``); the pickles are read with a restricted
    unpickler; trials are not shuffled.
    """

    reader_class = _DuINReader

    _legacy_protocols = {
        "simple": ("paper", {"method": "simple"}),
        "run": ("grouped", {"group": "run"}),
    }


class DuINMOABB(CorpusMOABBDataset):
    """Du-IN as a MOABB dataset (code ``"Du-IN"``): the trials of ``DuIN``.

    One session per subject and one MOABB run per Du-IN run; sEEG channels are
    kept. Use it with :class:`mne_neurosketch.paradigms.MultiClassDecoding`.
    """

    reader_class = _DuINReader


# --------------------------------------------------------------------------- #
# Simulation in the release format
# --------------------------------------------------------------------------- #
@contextlib.contextmanager
def _duin_dotdict_class():
    """Yield a stand-in DotDict that pickles as ``utils.DotDict.DotDict``.

    The stand-in is registered as ``sys.modules['utils.DotDict']`` (in a
    ``utils`` package) only inside the context, as the released files need.
    """

    class DotDict(dict):
        def __getattr__(self, key):
            try:
                return self[key]
            except KeyError as err:
                raise AttributeError(key) from err

    DotDict.__module__, DotDict.__qualname__ = "utils.DotDict", "DotDict"
    package = types.ModuleType("utils")
    package.__path__ = []
    module = types.ModuleType("utils.DotDict")
    module.DotDict = DotDict
    package.DotDict = module
    old = {key: sys.modules.get(key) for key in ("utils", "utils.DotDict")}
    sys.modules.update({"utils": package, "utils.DotDict": module})
    try:
        yield DotDict
    finally:
        for key, value in old.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def _synthetic_words(n_words):
    # Distinct two-character Chinese strings; the real 61 words are not
    # needed to exercise the format (only their sorted order matters).
    chars = "山水火木金土日月风云雨雪花草鸟鱼"
    pairs = [a + b for a in chars for b in chars if a != b]
    return pairs[:n_words]


def _pad_channels(selected, n_channels):
    extra = [f"X{ii}" for ii in range(1, n_channels - len(selected) + 1)]
    return list(selected) + extra


@_DuINReader.simulator
def simulate_du_in(
    path, sim, *, runs=(1, 2), n_words=3, n_trials_per_word=3, n_channels=12, protocol=4
):
    """Write synthetic Du-IN files in the layout of the public release.

    Each run gets a ``data`` pickle (a list of ``utils.DotDict.DotDict``
    records with ``name`` and float64 ``data_s`` of shape ``(n_channels,
    3000)`` in volts) and an ``info`` pickle (a DotDict with ``ch_names``),
    written with a stand-in class registered under the original module name
    exactly as the released files reference it.

    Parameters
    ----------
    path : path-like
        Root folder; files go to ``path/data/seeg.he2023xuanwu/<NNN>/...``.
    subjects : sequence of int
        Subjects to write (1 to 12). Their channel lists start with the
        subject's 10 paper channels.
    full_size : bool
        If True, use the released runs, channel and epoch counts of each
        subject and all 61 words (a full subject is several GB).
    class_signal : float
        Amplitude, in units of the noise standard deviation, of a
        word-specific pattern added to the 10 paper channels; 0 gives pure noise.
    seed : int
        Seed of the random generator.
    runs : sequence of int
        Run numbers to write when ``full_size`` is False.
    n_words : int
        Number of distinct words when ``full_size`` is False.
    n_trials_per_word : int
        Epochs per word and run when ``full_size`` is False.
    n_channels : int
        Bipolar channels per run when ``full_size`` is False (at least 10).
    protocol : int
        Pickle protocol.

    Returns
    -------
    root : Path
        ``path`` (the repository root; pass it as ``path=`` to :class:`DuIN`).
    """
    path = Path(path)
    rng = np.random.default_rng(sim.seed)
    patterns = class_patterns(
        N_WORDS, len(DUIN_SELECTED_CHANNELS[1]), N_TIMES, seed=sim.seed
    )
    with _duin_dotdict_class() as DotDict:
        for subject in sim.subjects:
            if subject not in _RELEASE_TABLE:
                raise ValueError(f"Du-IN subjects are 1 to 12, got {subject!r}.")
            selected = DUIN_SELECTED_CHANNELS[subject]
            if sim.full_size:
                sub_runs, n_chans, n_epochs = _RELEASE_TABLE[subject]
                words = _synthetic_words(N_WORDS)
                per_run = np.full(len(sub_runs), n_epochs // len(sub_runs))
                per_run[: n_epochs % len(sub_runs)] += 1
            else:
                if n_channels < len(selected):
                    raise ValueError(f"n_channels must be >= 10, got {n_channels}.")
                sub_runs, n_chans = tuple(runs), n_channels
                words = _synthetic_words(n_words)
                per_run = np.full(len(sub_runs), n_words * n_trials_per_word)
            ch_names = _pad_channels(selected, n_chans)
            label = {word: k for k, word in enumerate(sorted(words))}
            for run, n_run in zip(sub_runs, per_run):
                run_dir = (
                    _subject_dir(path.joinpath(*RELEASE_DIR), subject)
                    / f"run{run}"
                    / RUN_SUBDIR
                )
                run_dir.mkdir(parents=True, exist_ok=True)
                run_words = [words[ii % len(words)] for ii in range(n_run)]
                rng.shuffle(run_words)
                records = []
                for word in run_words:
                    signal = rng.standard_normal((n_chans, N_TIMES))
                    if sim.class_signal:
                        signal[: len(selected)] += (
                            sim.class_signal * patterns[label[word]]
                        )
                    records.append(DotDict(name=word, data_s=signal * 3e-5))
                with open(run_dir / "data", "wb") as fid:
                    pickle.dump(records, fid, protocol=protocol)
                del records
                with open(run_dir / "info", "wb") as fid:
                    pickle.dump(DotDict(ch_names=ch_names), fid, protocol=protocol)
                logger.debug(f"Wrote Du-IN subject {subject} run {run}: {run_dir}")
    return path


# --------------------------------------------------------------------------- download
# The preprocessed pickles, from the Hugging Face *dataset* repository named by
# the Du-IN README ("Stage 0: Download sEEG dataset": huggingface.co/datasets/
# liulab-repository/Du-IN, CC BY 4.0), through Hugging Face's resolve URLs
# (huggingface.co/datasets/<repo>/resolve/main/<path>, the form a third-party
# Du-IN loader uses for data/seeg.he2023xuanwu/<NNN>/word-recitation/run<k>/
# dataset.bipolar.default.unaligned/{data,info}). Runs per subject: the NEMAR
# table (corpora.md section 1.1). No checksum or size is published, so each
# file's SHA256 is recorded at its first download. Not verified here (no internet).
_HF = "https://huggingface.co/datasets/liulab-repository/Du-IN/resolve/main"


def _du_in_files(subjects):
    files = []
    for s in subjects or _DuINReader.subjects:
        for run in _RELEASE_TABLE[s][0]:
            rel = "/".join(
                [*RELEASE_DIR, f"{s:03d}", "word-recitation", f"run{run}", RUN_SUBDIR]
            )
            files += [Remote(f"{_HF}/{rel}/{n}", f"{rel}/{n}") for n in ("data", "info")]
    return files


_SOURCE = Source(
    code="Du-IN",
    folder="Du-IN",
    files=_du_in_files,
    page="https://huggingface.co/datasets/liulab-repository/Du-IN",
    licence="CC BY 4.0",
    notes="About 1.5 GB per run; ask for a few ``subjects``.",
)
data_path = make_data_path(_SOURCE)
