"""Corpus adapters: the NeuroSketch corpora as braindecode and MOABB datasets.

Each corpus comes as a braindecode :class:`~braindecode.datasets.BaseConcatDataset`
of windows (e.g. :class:`SEEDDV`) and as a MOABB dataset (e.g. :class:`SEEDDVMOABB`),
with a ``simulate_<corpus>`` function that writes synthetic files in the corpus' real
on-disk format. :mod:`mne_neurosketch.datasets.base` is the shared machinery.
Importing a corpus module here registers it (:func:`get_corpus`,
:func:`list_corpora`).
"""

from ._cache import default_cache_dir
from ._windows import LazyWindowsDataset
from .base import (
    CorpusMOABBDataset,
    CorpusReader,
    CorpusWindowsDataset,
    Recording,
    class_patterns,
    config_key,
    nonflat_trials,
    recordings_to_windows,
    resolve_path,
)
from .chisco import CHISCO_CH_NAMES, Chisco, ChiscoMOABB, simulate_chisco
from .du_in import DUIN_SELECTED_CHANNELS, DuIN, DuINMOABB, simulate_du_in
from .faces_houses import (
    FACES_HOUSES_CHANNELS,
    FACES_HOUSES_SUBJECTS,
    FacesHouses,
    FacesHousesMOABB,
    simulate_faces_houses,
)
from .muse_p300 import (
    MUSE_P300_CHANNELS,
    MuseP300,
    MuseP300MOABB,
    simulate_muse_p300,
)
from .openmiir import OPENMIIR_CH_NAMES, OpenMIIR, OpenMIIRMOABB, simulate_openmiir

# The corpus modules above registered their readers (one import line each).
from .registry import Corpus, get_corpus, list_corpora  # noqa: E402
from .seed_dv import SEED_DV_CHANNELS, SEEDDV, SEEDDVMOABB, simulate_seed_dv
from .things_eeg import (
    THINGS_EEG_CHANNELS,
    ThingsEEG,
    ThingsEEGMOABB,
    simulate_things_eeg,
)

__all__ = [
    "Chisco",
    "CHISCO_CH_NAMES",
    "ChiscoMOABB",
    "class_patterns",
    "Corpus",
    "config_key",
    "CorpusMOABBDataset",
    "CorpusReader",
    "CorpusWindowsDataset",
    "default_cache_dir",
    "DuIN",
    "DUIN_SELECTED_CHANNELS",
    "DuINMOABB",
    "FACES_HOUSES_CHANNELS",
    "FACES_HOUSES_SUBJECTS",
    "FacesHouses",
    "FacesHousesMOABB",
    "get_corpus",
    "MUSE_P300_CHANNELS",
    "MuseP300",
    "MuseP300MOABB",
    "nonflat_trials",
    "OpenMIIR",
    "OPENMIIR_CH_NAMES",
    "OpenMIIRMOABB",
    "LazyWindowsDataset",
    "list_corpora",
    "Recording",
    "recordings_to_windows",
    "resolve_path",
    "SEED_DV_CHANNELS",
    "SEEDDV",
    "SEEDDVMOABB",
    "simulate_chisco",
    "simulate_du_in",
    "simulate_faces_houses",
    "simulate_muse_p300",
    "simulate_openmiir",
    "simulate_seed_dv",
    "simulate_things_eeg",
    "THINGS_EEG_CHANNELS",
    "ThingsEEG",
    "ThingsEEGMOABB",
]
