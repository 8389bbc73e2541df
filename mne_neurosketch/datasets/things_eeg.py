"""ThingsEEG: THINGS-EEG2 preprocessed data (Gifford et al. 2022), 10 subjects."""

# License: BSD (3-clause)

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import logger
from ._download import manual_data_path
from ._io import load_npy_dict, require_file
from ._trials import class_patterns, nonflat_trials
from .base import CorpusMOABBDataset, CorpusReader, CorpusWindowsDataset, Recording

__all__ = ["THINGS_EEG_CHANNELS", "ThingsEEG", "ThingsEEGMOABB", "simulate_things_eeg"]

#: The 17 occipital and parietal channels of the preprocessed files, in file order.
THINGS_EEG_CHANNELS = ("P7 P5 P3 P1 Pz P2 P4 P6 P8 PO7 PO3 POz PO4 PO8 O1 Oz O2").split()

_SFREQ = 100.0
_N_TIMES = 100
_FILES = {"test": "preprocessed_eeg_test.npy", "train": "preprocessed_eeg_training.npy"}
_KEYS = ("preprocessed_eeg_data", "ch_names")
# Full-size numbers of the release (defaults for class names; the data decide the rest).
_N_TEST_IMAGES = 200
_N_TRAIN_CONCEPTS = 1654
_LAYOUT = """\
<folder>/sub-01 ... sub-10/
    preprocessed_eeg_training.npy   np.save(dict): preprocessed_eeg_data
                                    (16540, 4, 17, 100), ch_names (17), times (100)
    preprocessed_eeg_test.npy       np.save(dict): preprocessed_eeg_data
                                    (200, 80, 17, 100), ch_names, times"""


_PATH_DOC = "Folder holding ``sub-01/``... (or its parent holding ``ThingsEEG/``)"

_PARAMS_DOC = """
    task : "test" | "train"
        ``"test"`` (the paper's): 200 classes, one per test image, 80 repetitions
        each. ``"train"``: one class per concept; the concept of training condition
        ``i`` is ``i // images_per_concept`` (1654 concepts in the full release; the
        number comes from the array shape, not a hard-coded count).
    images_per_concept : int
        Training images per concept (10 in THINGS-EEG2).
    %(drop_flat)s"""

_NOTES_DOC = """
    Windows are the paper's trials: ``(17, 100)`` at 100 Hz (-200 to 790 ms),
    whitened (MVNN) and unitless as published, condition-major order
    (``'t r c l -> (t r) c l'``); per-window metadata ``image`` (condition index)
    and ``repetition``; the whole file is one recording (session ``"0"``, run
    ``"0"``).

    Differences from the paper's script: the file is chosen by its exact name (the
    script takes any file whose name contains ``test``/``train``); it is read with
    a restricted unpickler that only rebuilds numpy arrays (downloaded pickles could
    run code under ``np.load(allow_pickle=True)``); training labels come from the
    array shape.

    .. note:: In the 200-way test task the class is the image, so repetitions of the
       same image are on both sides of any trial-level split (within-session,
       repeated-stimulus decoding, by design). MVNN whitening used both partitions'
       covariance (Gifford's preprocessing)."""


class _ThingsEEGReader(CorpusReader):
    code = "ThingsEEG"
    publisher = (
        "OSF (THINGS-EEG2 preprocessed data, https://osf.io/3jk45 ; NeuroSketch links "
        "https://osf.io/hd6zk)"
    )
    layout = _LAYOUT
    folder_names = ("ThingsEEG", "THINGS-EEG2")
    subjects = tuple(range(1, 11))
    tasks = ("test", "train")
    doi = "10.1016/j.neuroimage.2022.119754"

    name = "thingseeg"
    aliases = ("things-eeg", "THINGS-EEG", "things_eeg", "things-eeg2")
    registered_tasks = ()
    n_chans, n_classes = 17, 200
    # Whitened (MVNN) and unitless as published: read as µV so that MOABB's
    # arrays keep their values.
    to_volts = 1e-6
    # Rapid serial visual presentation, responses locked to each image: MOABB's
    # ERP kind.
    moabb_paradigm = "p300"
    protocol, protocol_params = "paper", {"method": "n_fold"}
    default_subjects, scorer, budget = None, None, {}  # all, accuracy, the recipe's
    description = "THINGS-EEG2 test set, 200 concepts, EEG 17 x 100 (10 subjects)"
    # 8 images x 10 repetitions = 80 trials per subject.
    simulation = {
        "class_signal": 0.5,
        "tasks": ("test",),
        "n_test_images": 8,
        "n_test_repetitions": 10,
    }
    doc_parts = (_PATH_DOC, _PARAMS_DOC, _NOTES_DOC)

    def __init__(self, path=None, *, task="test", images_per_concept=10, drop_flat=True):
        super().__init__(path, task=task)
        self.images_per_concept = int(images_per_concept)
        self.drop_flat = bool(drop_flat)

    def _is_root(self, folder: Path) -> bool:
        return any(p.is_dir() for p in folder.glob("sub-*"))

    n_times = _N_TIMES
    sfreq = _SFREQ

    def class_names(self):
        if self.task == "test":
            return [f"image_{k:03d}" for k in range(_N_TEST_IMAGES)]
        return [f"concept_{k:04d}" for k in range(_N_TRAIN_CONCEPTS)]

    def source_files(self, subject):
        return [
            require_file(
                self.root / f"sub-{subject:02d}" / _FILES[self.task],
                f"ThingsEEG {self.task} file of subject {subject}",
                _LAYOUT,
            )
        ]

    def read_subject(self, subject):
        (fname,) = self.source_files(subject)
        content = load_npy_dict(fname, _KEYS)
        eeg = content["preprocessed_eeg_data"]
        if not isinstance(eeg, np.ndarray) or eeg.ndim != 4:
            raise ValueError(
                f"{fname}: 'preprocessed_eeg_data' must be a 4-D array (conditions, "
                f"repetitions, channels, times), got "
                f"{getattr(eeg, 'shape', type(eeg).__name__)}."
            )
        n_cond, n_rep, n_ch, n_t = eeg.shape
        ch_names = [str(c) for c in content["ch_names"]]
        if len(ch_names) != n_ch or n_t != _N_TIMES:
            raise ValueError(
                f"{fname}: data of shape {eeg.shape} with {len(ch_names)} channel names; "
                f"expected (conditions, repetitions, {len(ch_names)}, {_N_TIMES})."
            )
        image = np.repeat(
            np.arange(n_cond), n_rep
        )  # trial order: (condition, repetition)
        if self.task == "test":
            y = image
        else:
            if n_cond % self.images_per_concept:
                raise ValueError(
                    f"{fname}: {n_cond} training conditions is not a multiple of "
                    f"images_per_concept={self.images_per_concept}."
                )
            y = image // self.images_per_concept
        X = eeg.reshape(n_cond * n_rep, n_ch, n_t)
        metadata = pd.DataFrame(
            {"image": image, "repetition": np.tile(np.arange(n_rep), n_cond)}
        )
        if self.drop_flat:
            keep = nonflat_trials(X)
            if len(keep) < len(X):
                logger.info(f"{fname.name}: dropped {len(X) - len(keep)} flat trial(s)")
                X, y = X[keep], y[keep]
                metadata = metadata.iloc[keep].reset_index(drop=True)
        return [
            Recording.from_windows(
                X,
                y,
                ch_names=ch_names,
                ch_types="eeg",
                sfreq=_SFREQ,
                description=dict(subject=subject, session="0", run="0", task=self.task),
                metadata=metadata,
                source=str(fname),
            )
        ]


class ThingsEEG(CorpusWindowsDataset):
    """THINGS-EEG2 as a braindecode dataset of 1-s windows (17 x 100, 100 Hz)."""

    reader_class = _ThingsEEGReader


class ThingsEEGMOABB(CorpusMOABBDataset):
    """THINGS-EEG2 as a MOABB dataset (code ``"ThingsEEG"``).

    The MOABB events name every class of the full release (200 images or 1654
    concepts); classes absent from the files are ignored by MOABB.
    """

    reader_class = _ThingsEEGReader


@_ThingsEEGReader.simulator
def simulate_things_eeg(
    path,
    sim,
    *,
    tasks=("test", "train"),
    n_test_images=None,
    n_test_repetitions=None,
    n_train_concepts=None,
):
    """Write synthetic THINGS-EEG2 preprocessed files in the real format.

    Each file is ``np.save(fname, dict)`` with ``preprocessed_eeg_data`` (float64),
    ``ch_names`` and ``times``, exactly like the release.

    Parameters
    ----------
    path : path-like
        Folder in which ``ThingsEEG/sub-XX/`` is written.
    subjects : iterable of int
        Subjects (1..10).
    full_size : bool
        Real shapes: test ``(200, 80, 17, 100)`` (218 MB) and training
        ``(16540, 4, 17, 100)`` (900 MB). Otherwise test ``(4, 5, 17, 100)`` and
        training ``(20, 4, 17, 100)`` (2 concepts).
    class_signal : float
        Amplitude, relative to the noise, of a class pattern (image for the test
        file, concept for the training file).
    seed : int
        Random seed.
    tasks : iterable of str
        Files to write: ``"test"`` and/or ``"train"``.
    n_test_images, n_test_repetitions, n_train_concepts : int | None
        Override the shapes (10 images per training concept, 4 repetitions).

    Returns
    -------
    root : pathlib.Path
        The ``ThingsEEG`` folder.
    """
    rng = np.random.default_rng(sim.seed)
    root = Path(path) / "ThingsEEG"
    n_img = n_test_images or (_N_TEST_IMAGES if sim.full_size else 4)
    n_rep = n_test_repetitions or (80 if sim.full_size else 5)
    n_con = n_train_concepts or (_N_TRAIN_CONCEPTS if sim.full_size else 2)
    n_ch = len(THINGS_EEG_CHANNELS)
    times = np.round(np.linspace(-0.2, 0.79, _N_TIMES), 2)
    for subject in sim.subjects:
        d = root / f"sub-{subject:02d}"
        d.mkdir(parents=True, exist_ok=True)
        for task in tasks:
            if task == "test":
                shape, labels = (n_img, n_rep), np.arange(n_img)
            else:
                shape, labels = (n_con * 10, 4), np.repeat(np.arange(n_con), 10)
            eeg = rng.standard_normal((*shape, n_ch, _N_TIMES))
            if sim.class_signal:
                pats = class_patterns(labels.max() + 1, n_ch, _N_TIMES, seed=sim.seed + 1)
                eeg += sim.class_signal * pats[labels][:, None]
            content = {
                "preprocessed_eeg_data": eeg,
                "ch_names": list(THINGS_EEG_CHANNELS),
                "times": times,
            }
            np.save(d / _FILES[task], content)
            del eeg, content
    return root


# --------------------------------------------------------------------------- download
# THINGS-EEG2's preprocessed data are the OSF component anp5v ("Preprocessed EEG
# data") of the project 3jk45 (named by gifale95/eeg_encoding's README and by
# third-party READMEs, which unzip one archive per subject from it). OSF file
# URLs need file ids that no stored source gives, so the download is described,
# not automated. Not verified here (no internet).
data_path = manual_data_path(
    "ThingsEEG",
    "Download the archives of the subjects you need from the 'Preprocessed EEG "
    "data' component of THINGS-EEG2 on OSF (https://osf.io/anp5v/, part of "
    "https://osf.io/3jk45/; CC BY 4.0) and unzip them into one folder, so that it "
    "holds sub-XX/preprocessed_eeg_training.npy and sub-XX/preprocessed_eeg_test.npy.",
)
