"""SEED-DV (EEG2Video, NeurIPS 2024): EEG while watching video clips of 40 concepts."""

# License: BSD (3-clause)

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import logger
from ._download import manual_data_path
from ._io import load_npy, require_file
from ._trials import class_patterns
from .base import CorpusMOABBDataset, CorpusReader, CorpusWindowsDataset, Recording

__all__ = ["SEEDDV", "SEEDDVMOABB", "SEED_DV_CHANNELS", "simulate_seed_dv"]

#: The 62 channels of SEED-DV, in the order of the ``sub*.npy`` arrays.
SEED_DV_CHANNELS = (
    "FP1 FPZ FP2 AF3 AF4 F7 F5 F3 F1 FZ F2 F4 F6 F8 FT7 FC5 FC3 FC1 FCZ FC2 FC4 FC6 FT8 "
    "T7 C5 C3 C1 CZ C2 C4 C6 T8 TP7 CP5 CP3 CP1 CPZ CP2 CP4 CP6 TP8 P7 P5 P3 P1 PZ P2 P4 "
    "P6 P8 PO7 PO5 PO3 POZ PO4 PO6 PO8 CB1 O1 OZ O2 CB2"
).split()

_SFREQ = 200.0
_HINT = 600  # 3-s hint before the 5 clips of a concept
_CLIP = 400  # 2-s clips
_N_CLIPS = 5
_SLOT = _HINT + _N_CLIPS * _CLIP  # 2600 samples per concept
_LABEL_FILE = "All_video_label.npy"

# task -> (meta file, number of classes)
_META_TASKS = {
    "color": ("All_video_color.npy", 7),
    "speed": ("All_video_optical_flow_score.npy", 2),
    "number": ("All_video_obj_number.npy", 3),
    "human": ("All_video_human_apperance.npy", 2),
    "face": ("All_video_face_apperance.npy", 2),
}
_CLASS_NAMES = {
    "concept": [f"concept_{k:02d}" for k in range(1, 41)],
    "color": [f"color_{k}" for k in range(7)],
    "speed": ["slow", "fast"],
    "number": ["objects_1", "objects_2", "objects_3"],
    "human": ["no_human", "human"],
    "face": ["no_face", "face"],
}

_LAYOUT = """\
SEED-DV/
    EEG/sub1.npy ... sub20.npy          (7, 62, 104000) float, 200 Hz
    meta-info/All_video_label.npy       (7, 40) concept ids 1..40
    meta-info/All_video_color.npy ...   (7, 200) per-clip meta (for the meta tasks)
  (meta-info/ may also sit under Video/, as the NeuroSketch scripts expect)"""


_PATH_DOC = (
    "Folder holding ``EEG/`` and ``meta-info/`` (or its parent holding ``SEED-DV/``)"
)

_PARAMS_DOC = """
    task : "concept" | "color" | "speed" | "number" | "human" | "face"
        ``"concept"`` (40 classes) is the paper's task. The others are the per-clip
        tasks the paper declares but its script cannot prepare: dominant colour
        (7 classes; a colour file without a 0 is read as 1-based), speed (2: optical
        flow score above ``speed_threshold``), number of objects (3), human and face
        presence (2 each).
    speed_threshold : float | None
        Optical-flow threshold of the speed task; ``None`` uses the median of the
        meta file (the paper's median split). Ignored by the other tasks."""

_NOTES_DOC = """
    The paper's preprocessing (``prepare_seed_data.py``): in each block, each of the
    ``n_concepts`` slots of 2600 samples (3-s hint + 5 clips of 2 s) gives 5 windows
    of 400 samples starting 600, 1000, 1400, 1800 and 2200 samples into the slot;
    windows in block, concept, clip order; label = concept id - 1; no filtering,
    normalisation or trial rejection; values in the file's unit (probably V).
    ``n_blocks`` and ``n_concepts`` are read from the array shapes. ``sub1_session2.npy``
    is not read (as in the paper).

    Each block is one recording (MOABB run ``str(block)``; description columns
    ``subject``, ``session``, ``run``, ``block``, ``task``); per-window metadata
    ``concept`` (1..40), ``clip`` (0..4) and ``trial`` (the 10-s viewing, unique per
    subject).

    Differences from the paper's script: it reads ``meta-info/`` both at the top level
    (as released) and under ``Video/`` (as the script expects); the EEG file is read
    without ``allow_pickle``; the meta tasks work.

    .. warning:: The 5 clips of one viewing are consecutive 2-s windows. The paper's
       random clip-level split puts them on both sides; leave-one-block-out
       (:class:`mne_neurosketch.splits.GroupedSplit` with ``groups_of(ds, "block")``)
       is the corpus' official, leakage-free protocol."""


class _SEEDDVReader(CorpusReader):
    code = "SEED-DV"
    publisher = (
        "BCMI lab, Shanghai Jiao Tong University (https://bcmi.sjtu.edu.cn/home/eeg2video/"
        "; apply with the licence form, the data is not redistributable)"
    )
    layout = _LAYOUT
    folder_names = ("SEED-DV",)
    subjects = tuple(range(1, 21))
    tasks = ("concept", "color", "speed", "number", "human", "face")

    name = "seeddv"
    aliases = ("seed-dv", "SEED-DV", "seed_dv")
    registered_tasks = ()
    n_chans, n_classes = 62, 40
    to_volts = 1.0  # the arrays look like volts (std about 1e-5; corpora.md)
    # Visual responses locked to each clip's onset: MOABB's ERP kind is the closest
    # (no motor imagery here; "ssvep"/"rstate" assume flicker or rest).
    moabb_paradigm = "p300"
    protocol, protocol_params = "paper", {"method": "n_fold"}
    default_subjects, scorer, budget = None, None, {}  # all, accuracy, the recipe's
    description = "SEED-DV, 40 video concepts, EEG 62 x 400 at 200 Hz (20 subjects)"
    # 4 blocks x 4 concepts x 5 clips = 80 windows per subject; the concept
    # response has a fifth of the background's amplitude (see
    # mne_neurosketch.benchmark.datasets for why).
    simulation = {"n_blocks": 4, "n_concepts": 4, "class_signal": 0.2}
    doc_parts = (_PATH_DOC, _PARAMS_DOC, _NOTES_DOC)

    def __init__(self, path=None, *, task="concept", speed_threshold=None):
        super().__init__(path, task=task)
        self.speed_threshold = speed_threshold

    def _is_root(self, folder: Path) -> bool:
        return (folder / "EEG").is_dir()

    n_times = _CLIP
    sfreq = _SFREQ

    def class_names(self):
        return list(_CLASS_NAMES[self.task])

    def _meta_file(self, name: str) -> Path:
        for folder in (self.root / "meta-info", self.root / "Video" / "meta-info"):
            if (folder / name).is_file():
                return folder / name
        return require_file(
            self.root / "meta-info" / name, f"SEED-DV file {name}", _LAYOUT
        )

    def source_files(self, subject):
        files = [
            require_file(
                self.root / "EEG" / f"sub{subject}.npy", "SEED-DV EEG file", _LAYOUT
            ),
            self._meta_file(_LABEL_FILE),
        ]
        if self.task in _META_TASKS:
            files.append(self._meta_file(_META_TASKS[self.task][0]))
        return files

    def _concepts(self, fname: Path) -> np.ndarray:
        labels = load_npy(fname)
        if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.number):
            raise ValueError(
                f"{fname} must be a 2-D (n_blocks, n_concepts) array of concept ids, got "
                f"shape {labels.shape} ({labels.dtype})."
            )
        if (
            not np.array_equal(labels, np.round(labels))
            or labels.min() < 1
            or (labels.max() > 40)
        ):
            raise ValueError(
                f"{fname} holds values {np.unique(labels)[:10].tolist()}..., expected "
                "concept ids 1..40."
            )
        return labels.astype(np.int64)

    def _meta_labels(self, fname: Path, shape) -> np.ndarray:
        """Per-clip labels (n_blocks, n_concepts * 5) of a meta task, 0-based."""
        values = load_npy(fname)
        if values.shape != shape:
            raise ValueError(
                f"{fname} has shape {values.shape}, expected {shape} (n_blocks, "
                "n_concepts * 5) to match the label file."
            )
        n_classes = _META_TASKS[self.task][1]
        if self.task == "speed":
            thr = self.speed_threshold
            if thr is None:
                thr = float(np.median(values))
            logger.info(f"SEED-DV speed: optical-flow threshold {thr:.4g}")
            return (values > thr).astype(np.int64)
        if not np.array_equal(values, np.round(values)):
            raise ValueError(f"{fname} must hold integer codes for the {self.task} task.")
        values = values.astype(np.int64)
        # Object number is 1..3; colour may be coded 0..6 or 1..7 (unverified):
        # a file without a 0 is taken as 1-based.
        if self.task == "number" or (self.task == "color" and values.min() >= 1):
            values = values - 1
        if values.min() < 0 or values.max() >= n_classes:
            raise ValueError(
                f"{fname}: codes {np.unique(values).tolist()} are out of range for the "
                f"{self.task} task ({n_classes} classes)."
            )
        return values

    def read_subject(self, subject):
        eeg_file, label_file = self.source_files(subject)[:2]
        concepts = self._concepts(label_file)
        n_blocks, n_concepts = concepts.shape
        eeg = load_npy(eeg_file, mmap=True)
        expected = (n_blocks, len(SEED_DV_CHANNELS), n_concepts * _SLOT)
        if eeg.shape != expected:
            raise ValueError(
                f"{eeg_file} has shape {eeg.shape}, expected {expected} (blocks, 62 "
                f"channels, {n_concepts} concepts x {_SLOT} samples) to match "
                f"{label_file}."
            )
        if self.task == "concept":
            y_all = np.repeat(concepts, _N_CLIPS, axis=1) - 1
        else:
            meta_file = self.source_files(subject)[2]
            y_all = self._meta_labels(meta_file, (n_blocks, n_concepts * _N_CLIPS))
        starts = (
            np.arange(n_concepts)[:, None] * _SLOT
            + _HINT
            + _CLIP * np.arange(_N_CLIPS)[None, :]
        ).ravel()
        samples = (starts[:, None] + np.arange(_CLIP)[None, :]).ravel()
        for b in range(n_blocks):  # a generator: one block at a time
            try:
                data = np.asarray(eeg[b][:, samples], dtype=np.float32)
            except (OSError, ValueError) as exc:
                raise ValueError(f"Cannot read block {b} of {eeg_file}: {exc}") from exc
            metadata = pd.DataFrame(
                {
                    "concept": np.repeat(concepts[b], _N_CLIPS),
                    "clip": np.tile(np.arange(_N_CLIPS), n_concepts),
                    "trial": b * n_concepts + np.repeat(np.arange(n_concepts), _N_CLIPS),
                }
            )
            yield Recording(
                data=np.ascontiguousarray(data),
                y=y_all[b].astype(np.int64),
                n_times=_CLIP,
                ch_names=list(SEED_DV_CHANNELS),
                ch_types=["eeg"] * len(SEED_DV_CHANNELS),
                sfreq=_SFREQ,
                description=dict(
                    subject=subject, session="0", run=str(b), block=b, task=self.task
                ),
                metadata=metadata,
                source=str(eeg_file),
            )


class SEEDDV(CorpusWindowsDataset):
    """SEED-DV as a braindecode dataset of 2-s windows (62 x 400 at 200 Hz).

    Examples
    --------
    >>> from mne_neurosketch.datasets import SEEDDV, simulate_seed_dv
    >>> root = simulate_seed_dv(tmp_path)  # doctest: +SKIP
    >>> windows = SEEDDV(1, path=root)  # doctest: +SKIP
    """

    reader_class = _SEEDDVReader


class SEEDDVMOABB(CorpusMOABBDataset):
    """SEED-DV as a MOABB dataset (code ``"SEED-DV"``).

    The same trials as :class:`SEEDDV` (one MOABB run per block, session ``"0"``),
    with every data channel kept; raws in volts, MOABB arrays in µV; use it with
    :class:`mne_neurosketch.paradigms.MultiClassDecoding`.
    """

    reader_class = _SEEDDVReader


@_SEEDDVReader.simulator
def simulate_seed_dv(
    path, sim, *, n_blocks=None, n_concepts=None, layout="release", meta=True
):
    """Write a synthetic SEED-DV corpus in the real on-disk format.

    Parameters
    ----------
    path : path-like
        Folder in which ``SEED-DV/`` is created.
    subjects : iterable of int
        Subjects to write (``EEG/sub<n>.npy``).
    full_size : bool
        Real shapes (7 blocks x 40 concepts: ``(7, 62, 104000)`` float64, 361 MB per
        subject). Otherwise 2 blocks x 3 concepts (7.4 MB).
    class_signal : float
        Amplitude, relative to the noise, of a concept-specific pattern added to each
        clip window (0 gives pure noise).
    seed : int
        Random seed.
    n_blocks, n_concepts : int | None
        Override the number of blocks and concepts.
    layout : "release" | "neurosketch"
        Put ``meta-info/`` at the top level (as released) or under ``Video/`` (as the
        NeuroSketch script expects).
    meta : bool
        Also write the per-clip meta files (colour, speed, number, human, face).

    Returns
    -------
    root : pathlib.Path
        The ``SEED-DV`` folder.
    """
    nb = n_blocks or (7 if sim.full_size else 2)
    nc = n_concepts or (40 if sim.full_size else 3)
    if not 1 <= nc <= 40:
        raise ValueError(f"n_concepts must be in 1..40, got {nc}.")
    rng = np.random.default_rng(sim.seed)
    root = Path(path) / "SEED-DV"
    meta_dir = root / ("meta-info" if layout == "release" else "Video/meta-info")
    (root / "EEG").mkdir(parents=True, exist_ok=True)
    meta_dir.mkdir(parents=True, exist_ok=True)
    concepts = np.stack([rng.permutation(np.arange(1, nc + 1)) for _ in range(nb)])
    np.save(meta_dir / _LABEL_FILE, concepts)
    if meta:
        shape = (nb, nc * _N_CLIPS)
        np.save(meta_dir / "All_video_color.npy", rng.integers(0, 7, shape))
        np.save(meta_dir / "All_video_optical_flow_score.npy", rng.gamma(2.0, 1.0, shape))
        np.save(meta_dir / "All_video_obj_number.npy", rng.integers(1, 4, shape))
        np.save(meta_dir / "All_video_human_apperance.npy", rng.integers(0, 2, shape))
        np.save(meta_dir / "All_video_face_apperance.npy", rng.integers(0, 2, shape))
    n_ch = len(SEED_DV_CHANNELS)
    scale = 1e-5
    patterns = (
        class_patterns(40, n_ch, _CLIP, seed=sim.seed + 1) * sim.class_signal * scale
    )
    for subject in sim.subjects:
        fname = root / "EEG" / f"sub{subject}.npy"
        out = np.lib.format.open_memmap(
            fname, mode="w+", dtype=np.float64, shape=(nb, n_ch, nc * _SLOT)
        )
        for b in range(nb):
            block = rng.standard_normal((n_ch, nc * _SLOT)) * scale
            if sim.class_signal:
                for j, c in enumerate(concepts[b]):
                    for k in range(_N_CLIPS):
                        s = j * _SLOT + _HINT + k * _CLIP
                        block[:, s : s + _CLIP] += patterns[c - 1]
            out[b] = block
        out.flush()
        del out
    return root


# --------------------------------------------------------------------------- download
# SEED-DV is given only to those who sign its licence agreement.
data_path = manual_data_path(
    "SEED-DV",
    "Apply for it on the BCMI lab's page (https://bcmi.sjtu.edu.cn/home/eeg2video/): "
    "fill in and send the licence agreement; the download link comes by e-mail. "
    "Unpack it so that one folder holds EEG/sub1.npy ... and meta-info/.",
)
