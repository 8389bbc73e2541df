"""A toy corpus for the tests of the shared corpus machinery and the cache."""

import numpy as np

from mne_neurosketch.datasets.base import (
    CorpusMOABBDataset,
    CorpusReader,
    CorpusWindowsDataset,
    Recording,
)


class _ToyReader(CorpusReader):
    """A two-run corpus stored as one .npy per subject; counts real reads."""

    code = "Toy-Corpus"
    publisher = "the toy publisher (https://example.org/toy)"
    layout = "toy/sub-<n>.npy  (n_trials, 3, 20) float"
    folder_names = ("toy",)
    subjects = (1, 2)
    tasks = ("main", "other")

    def __init__(self, path=None, *, task="main", gain=1.0, counter=None):
        super().__init__(path, task=task)
        self.gain = gain
        self.counter = counter

    def _is_root(self, folder):
        return any(folder.glob("sub-*.npy"))

    n_times = 20
    sfreq = 100.0

    def class_names(self):
        return ["left", "right", "rest"]

    def cache_params(self):
        # Not the counter: it counts reads, it does not change the windows.
        return {"task": self.task, "gain": self.gain}

    def source_files(self, subject):
        fname = self.root / f"sub-{subject}.npy"
        if not fname.is_file():
            raise FileNotFoundError(f"Missing {fname}")
        return [fname]

    def read_subject(self, subject):
        if self.counter is not None:
            with self.counter.get_lock():
                self.counter.value += 1
        X = np.load(self.source_files(subject)[0]) * self.gain
        y = np.arange(len(X)) % 3
        half = len(X) // 2
        return [
            Recording.from_windows(
                X[sl],
                y[sl],
                ch_names=["A", "B", "C"],
                ch_types=["ecog", "ecog", "seeg"],
                sfreq=self.sfreq,
                description=dict(subject=subject, session="0", run=str(run)),
                source=str(self.source_files(subject)[0]),
            )
            for run, sl in enumerate((slice(0, half), slice(half, None)))
        ]


class _Toy(CorpusWindowsDataset):
    def __init__(self, subject_ids=None, path=None, **kwargs):
        cache = kwargs.pop("cache", True)
        cache_dir = kwargs.pop("cache_dir", None)
        super().__init__(
            _ToyReader(path, **kwargs), subject_ids, cache=cache, cache_dir=cache_dir
        )


class _ToyMOABB(CorpusMOABBDataset):
    def __init__(self, path=None, *, subjects=None, cache_dir=None):
        super().__init__(_ToyReader(path), subjects=subjects, cache_dir=cache_dir)


def make_toy(root, seed=0):
    """Write the toy corpus (2 subjects, 12 trials of 3 x 20) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {s: rng.standard_normal((12, 3, 20)) for s in (1, 2)}
    for s, X in arrays.items():
        np.save(root / f"sub-{s}.npy", X)
    return arrays


def windows(ds):
    """Every window of a dataset, stacked (float64)."""
    return np.stack([ds[i][0] for i in range(len(ds))]).astype(np.float64)
