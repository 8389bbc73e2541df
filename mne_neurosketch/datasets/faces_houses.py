"""FacesHouses: Miller's ECoG faces-versus-houses task (``faces_basic``), 14 subjects."""

# License: BSD (3-clause)

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io

from ..utils import logger
from ._download import Remote, Source, make_data_path
from ._io import require_file
from ._trials import class_patterns
from .base import CorpusMOABBDataset, CorpusReader, CorpusWindowsDataset, Recording

__all__ = [
    "FACES_HOUSES_CHANNELS",
    "FACES_HOUSES_SUBJECTS",
    "FacesHouses",
    "FacesHousesMOABB",
    "simulate_faces_houses",
]

#: Subject codes of ``faces_basic``; subject ``k`` is ``FACES_HOUSES_SUBJECTS[k - 1]``.
FACES_HOUSES_SUBJECTS = (
    "aa", "ap", "ca", "de", "fp", "ha", "ja", "jm", "jt", "mv", "rn", "rr", "wc", "zt",
)  # fmt: skip
#: Number of ECoG channels per subject (the paper's ``input_channels`` list).
FACES_HOUSES_CHANNELS = dict(
    zip(FACES_HOUSES_SUBJECTS, (46, 41, 50, 31, 52, 39, 60, 56, 102, 58, 42, 40, 39, 58))
)

_SFREQ = 1000.0
_N_TIMES = 400
_ISI = 101
_LAYOUT = """\
faces_basic/
    data/<s>/<s>_faceshouses.mat    data (n_samples, n_channels), stim (n_samples, 1),
                                    srate (1000); s in aa ap ca de fp ha ja jm jt mv rn
                                    rr wc zt
    locs/<s>_xslocs.mat             (not read)"""


_PATH_DOC = "The ``faces_basic`` folder (or its parent)"

_PARAMS_DOC = """
    scale : None | "std" | float
        Per-subject scaling. ``None`` (the paper) keeps the raw amplifier units;
        subjects aa, ha and jt are about 1000 times larger than the others, which
        matters when subjects are pooled. ``"std"`` divides each subject by the
        standard deviation of its whole recording (unitless; label-free, computed
        before any split); a number multiplies (e.g. ``0.0298e-6`` for volts, the
        factor Miller's READMEs give for sibling experiments).
    min_stim_samples : int
        Stimulus runs shorter than this are spurious codes and skipped."""

_NOTES_DOC = """
    Windows are the paper's trials: 400 samples (0-400 ms at 1000 Hz) from each
    picture onset, all channels of the subject (31 to 102, ``ch_types="ecog"``,
    named ``ECOG001``...), label ``face`` = 0 and ``house`` = 1, in presentation
    order; no filtering, re-referencing, baseline or trial rejection.

    Difference from the paper's script: it epochs each stimulus run as it is and
    ``np.stack`` fails when one run is not 400 samples long (subject ``ha``); here
    every window is a fixed 400 samples from the onset, and runs shorter than
    ``min_stim_samples`` are skipped. Subjects are numbered 1..14 (the paper's
    preparation used 0..13 for the same order: aa, ap, ... zt); the description
    column ``subject_code`` gives the code; per-window metadata ``stimulus`` (picture
    id 1-100: each picture is shown 3 times, so repetitions of a picture fall on
    both sides of a random split) and ``onset`` (sample)."""


class _FacesHousesReader(CorpusReader):
    code = "FacesHouses"
    publisher = (
        "the Stanford Digital Repository (Miller's ECoG library, "
        "https://purl.stanford.edu/zk881ps0522, file faces_basic.zip)"
    )
    layout = _LAYOUT
    folder_names = ("faces_basic",)
    subjects = tuple(range(1, 15))
    tasks = ("faceshouses",)
    doi = "10.1371/journal.pcbi.1004660"

    name = "faceshouses"
    aliases = ("faces-houses", "FacesHouses", "faces_houses", "faces_basic")
    registered_tasks = ()
    n_chans, n_classes = 60, 2  # varies by subject; a typical count
    # Amplifier units of 0.0298 µV (corpora.md; subjects aa, ha and jt have a
    # range about 1000 times larger). ``scale=`` changes it (see __init__).
    to_volts = 0.0298e-6
    # Visual responses locked to each picture: MOABB's ERP kind.
    moabb_paradigm = "p300"
    protocol, protocol_params = "paper", {"method": "n_fold"}
    default_subjects, scorer, budget = None, None, {}  # all, accuracy, the recipe's
    description = "FacesHouses, faces vs houses, ECoG (14 subjects)"
    simulation = {"class_signal": 0.5}
    doc_parts = (_PATH_DOC, _PARAMS_DOC, _NOTES_DOC)

    def __init__(self, path=None, *, scale=None, min_stim_samples=200):
        super().__init__(path, task="faceshouses")
        if not (scale is None or scale == "std" or isinstance(scale, (int, float))):
            raise ValueError(
                f"Invalid value for the 'scale' parameter. Allowed values are None, "
                f"'std' or a number, but got {scale!r} instead."
            )
        self.scale = scale
        self.min_stim_samples = int(min_stim_samples)
        if scale == "std":
            self.to_volts = 1e-6  # unitless: read as µV
        elif scale is not None:
            self.to_volts = type(self).to_volts / float(scale)

    def _is_root(self, folder: Path) -> bool:
        return (folder / "data").is_dir()

    n_times = _N_TIMES
    sfreq = _SFREQ

    def class_names(self):
        return ["face", "house"]

    def source_files(self, subject):
        s = FACES_HOUSES_SUBJECTS[subject - 1]
        return [
            require_file(
                self.root / "data" / s / f"{s}_faceshouses.mat",
                f"FacesHouses file of subject {subject} ({s})",
                _LAYOUT,
            )
        ]

    def read_subject(self, subject):
        (fname,) = self.source_files(subject)
        data, stim = _read_mat(fname)
        onsets, codes, n_short, n_late = find_stimulus_onsets(
            stim, n_times=_N_TIMES, min_samples=self.min_stim_samples
        )
        if n_short:
            logger.info(
                f"{fname.name}: ignored {n_short} stimulus run(s) shorter than "
                f"{self.min_stim_samples} samples (spurious codes)"
            )
        if n_late:
            logger.info(
                f"{fname.name}: dropped {n_late} stimulus(es) too close to the end"
            )
        if len(onsets) == 0:
            raise ValueError(f"{fname}: no face or house stimulus found in 'stim'.")
        samples = (onsets[:, None] + np.arange(_N_TIMES)[None, :]).ravel()
        windows = np.ascontiguousarray(data[samples].T, dtype=np.float64)
        if self.scale == "std":
            windows /= data.std()
        elif self.scale is not None:
            windows *= float(self.scale)
        n_chans = data.shape[1]
        return [
            Recording(
                data=windows,
                y=(codes <= 50).astype(np.int64),  # face (51-100) -> 0, house (1-50) -> 1
                n_times=_N_TIMES,
                ch_names=[f"ECOG{k:03d}" for k in range(1, n_chans + 1)],
                ch_types=["ecog"] * n_chans,
                sfreq=_SFREQ,
                description=dict(
                    subject=subject,
                    session="0",
                    run="0",
                    subject_code=FACES_HOUSES_SUBJECTS[subject - 1],
                ),
                metadata=pd.DataFrame({"stimulus": codes, "onset": onsets}),
                source=str(fname),
            )
        ]


def _read_mat(fname: Path):
    """Read ``data`` and ``stim`` of a faces_basic file; clear errors naming it."""
    try:
        mat = scipy.io.loadmat(fname)
    except NotImplementedError as exc:  # MATLAB v7.3 (HDF5)
        raise ValueError(
            f"{fname} is a MATLAB v7.3 file; faces_basic files are v5/v7. Download the "
            "original file again."
        ) from exc
    except Exception as exc:  # scipy raises many types on truncated files
        raise ValueError(
            f"Cannot read {fname} ({type(exc).__name__}: {exc}). The file is truncated "
            "or corrupt; download faces_basic.zip again."
        ) from exc
    missing = [k for k in ("data", "stim", "srate") if k not in mat]
    if missing:
        raise KeyError(
            f"{fname} lacks the variable(s) {missing}; found "
            f"{sorted(k for k in mat if not k.startswith('__'))}. Is it a faces_basic "
            "file?"
        )
    data, stim = np.asarray(mat["data"]), np.asarray(mat["stim"])
    srate = float(np.asarray(mat["srate"]).ravel()[0])
    if srate != _SFREQ:
        raise ValueError(f"{fname}: srate is {srate}, expected {_SFREQ} Hz.")
    if data.ndim != 2 or stim.size != data.shape[0]:
        raise ValueError(
            f"{fname}: data has shape {data.shape} and stim {stim.shape}; expected data "
            "(n_samples, n_channels) and stim (n_samples, 1) of the same length."
        )
    return data, stim.ravel().astype(np.int64)


def find_stimulus_onsets(stim, *, n_times=_N_TIMES, min_samples=200):
    """Onsets and codes of the picture presentations in a ``stim`` channel.

    A presentation is a maximal run of samples whose code is neither 0 (no task) nor
    101 (inter-stimulus interval), as in the paper's ``split_epochs``; its code is
    its first sample's. Runs shorter than ``min_samples`` (spurious codes, such as
    the 3-sample glitches Miller's own code removes for subject ``ha``), runs whose
    code is not a picture id (1-100) and runs whose window would pass the end of the
    recording are skipped.

    Parameters
    ----------
    stim : array-like of int, shape (n_samples,)
        The stimulus channel.
    n_times : int
        Window length (for the end-of-recording check).
    min_samples : int
        Shortest run accepted as a presentation.

    Returns
    -------
    onsets : ndarray of int
        First sample of each presentation.
    codes : ndarray of int
        Picture id of each presentation (1-50 houses, 51-100 faces).
    n_short : int
        Runs skipped as too short.
    n_late : int
        Presentations skipped because their window passes the end.
    """
    stim = np.asarray(stim).ravel()
    active = (stim != 0) & (stim != _ISI)
    edges = np.diff(np.r_[0, active.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long_enough = (stops - starts) >= min_samples
    codes = stim[starts]
    picture = (codes >= 1) & (codes <= 100)
    fits = starts + n_times <= len(stim)
    keep = long_enough & picture & fits
    n_short = int(np.sum(~long_enough))
    n_late = int(np.sum(long_enough & picture & ~fits))
    return starts[keep], codes[keep].astype(np.int64), n_short, n_late


class FacesHouses(CorpusWindowsDataset):
    """FacesHouses (Miller) as a braindecode dataset of 400-ms ECoG windows."""

    reader_class = _FacesHousesReader


class FacesHousesMOABB(CorpusMOABBDataset):
    """FacesHouses as a MOABB dataset (code ``"FacesHouses"``), ECoG kept."""

    reader_class = _FacesHousesReader


@_FacesHousesReader.simulator
def simulate_faces_houses(path, sim, *, n_stimuli=None, n_chans=None, irregular=False):
    """Write synthetic ``faces_basic`` files in the real ``.mat`` format.

    Parameters
    ----------
    path : path-like
        Folder in which ``faces_basic/data/<s>/<s>_faceshouses.mat`` is written.
    subjects : iterable of int
        Subjects (1..14).
    full_size : bool
        Real shapes: 300 stimuli (200 for rr) and the subject's real channel count.
        Otherwise 8 stimuli and 5 channels.
    class_signal : float
        Amplitude, relative to the noise, of a face/house pattern added to the 400
        samples after each onset.
    seed : int
        Random seed.
    n_stimuli, n_chans : int | None
        Override the number of stimuli (half faces, half houses) and channels.
    irregular : bool
        Also make one picture run 399 samples long, one 401, and add a 3-sample
        spurious code (what breaks the paper's ``np.stack``).

    Returns
    -------
    root : pathlib.Path
        The ``faces_basic`` folder.
    """
    rng = np.random.default_rng(sim.seed)
    root = Path(path) / "faces_basic"
    for subject in sim.subjects:
        s = FACES_HOUSES_SUBJECTS[subject - 1]
        n_stim = n_stimuli or ((200 if s == "rr" else 300) if sim.full_size else 8)
        n_ch = n_chans or (FACES_HOUSES_CHANNELS[s] if sim.full_size else 5)
        half = n_stim // 2
        codes = rng.permutation(
            np.r_[rng.integers(51, 101, n_stim - half), rng.integers(1, 51, half)]
        )
        lengths = np.full(n_stim, _N_TIMES)
        if irregular and n_stim >= 3:
            lengths[1], lengths[2] = _N_TIMES - 1, _N_TIMES + 1
        parts = [np.zeros(500, np.uint8)]
        for code, n in zip(codes, lengths):
            parts += [np.full(n, code, np.uint8), np.full(400, _ISI, np.uint8)]
        parts.append(np.zeros(500, np.uint8))
        stim = np.concatenate(parts)
        if irregular:
            stim[250:253] = 77  # spurious glitch before the task
        n_samples = len(stim)
        noise_scale = 300.0
        data = rng.standard_normal((n_samples, n_ch)) * noise_scale
        if sim.class_signal:
            pats = class_patterns(2, n_ch, _N_TIMES, seed=sim.seed + 1)
            onsets = 500 + np.r_[0, np.cumsum(lengths + 400)[:-1]]
            for on, code in zip(onsets, codes):
                data[on : on + _N_TIMES] += (
                    pats[int(code <= 50)].T * sim.class_signal * noise_scale
                )
        data = np.round(data)  # integer amplifier units stored as float64
        (root / "data" / s).mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(
            root / "data" / s / f"{s}_faceshouses.mat",
            {"data": data, "stim": stim[:, None], "srate": np.array([[_SFREQ]])},
            do_compression=True,
        )
    return root


# --------------------------------------------------------------------------- download
# faces_basic.zip of K. J. Miller's ECoG library (Stanford Digital Repository,
# CC BY-SA 4.0). Size and MD5 are those of the repository's file listing, as
# quoted by a third-party download script; not verified here (no internet).
_SOURCE = Source(
    code="FacesHouses",
    folder="MNE-faceshouses-data",
    files=lambda subjects: [
        Remote(
            "https://stacks.stanford.edu/file/druid:zk881ps0522/faces_basic.zip",
            "faces_basic.zip",
            known_hash="md5:812d92b2be0de466ba6c6683b53ea7f8",
            size=613_144_696,
            unpack=True,
        )
    ],
    page="https://purl.stanford.edu/zk881ps0522",
    licence="CC BY-SA 4.0",
    notes="All 14 subjects come in one archive (585 MB); ``subjects`` is ignored.",
)
data_path = make_data_path(_SOURCE)
