"""An array-like view of a windows dataset that reads windows only when indexed.

:class:`WindowsArray` lets array code (scikit-learn's splitters, the estimator's
scaling, skorch's datasets) handle a braindecode windows dataset without stacking
it: indexing with a slice or index array returns another view, indexing with an
integer reads one window, and only ``np.asarray(view)`` reads them all (for the
pipelines that need an array).
"""

# License: BSD (3-clause)

from __future__ import annotations

import numbers

import numpy as np
import torch

__all__ = ["WindowsArray", "dataset_subjects", "dataset_targets"]


def _item(dataset, i):
    item = dataset[i]
    if not isinstance(item, (tuple, list)) or len(item) < 2:
        raise ValueError(
            "A dataset X must yield (X, y, ...) items, as braindecode windows "
            f"datasets do; item {i} is a {type(item).__name__}."
        )
    return item


def dataset_targets(dataset) -> np.ndarray:
    """The target of every item of a dataset, read without the windows if possible.

    braindecode windows datasets keep their targets in ``y`` (one list per
    recording); other datasets are iterated.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Yields ``(X, y, ...)``.

    Returns
    -------
    y : ndarray, shape (n_items,)
        The targets.
    """
    parts = getattr(dataset, "datasets", None)
    if parts is not None and all(
        isinstance(getattr(d, "y", None), list) and len(d.y) == len(d) for d in parts
    ):
        return np.asarray([t for d in parts for t in d.y])
    return np.asarray([_item(dataset, i)[1] for i in range(len(dataset))])


def dataset_subjects(dataset):
    """The subject of every item of a braindecode dataset, from its description.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        A braindecode concatenated dataset, each recording's ``description``
        holding a ``"subject"`` entry.

    Returns
    -------
    subjects : ndarray, shape (n_items,) | None
        The subjects; ``None`` if a recording has no ``"subject"`` (or the
        dataset is not a braindecode one).
    """
    subjects = []
    for part in getattr(dataset, "datasets", None) or ():
        description = getattr(part, "description", None)
        if description is None or "subject" not in description:
            return None
        subjects.extend([description["subject"]] * len(part))
    return np.asarray(subjects) if len(subjects) == len(dataset) else None


class WindowsArray:
    """A read-only ``(n_windows, n_chans, n_times)`` float32 view of a dataset.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Yields ``(X, y, ...)`` with ``X`` of shape ``(n_chans, n_times)``.
    indices : array-like of int | None
        The items of the view, in order; ``None`` takes all.
    scale : float
        Factor applied to each window as it is read.
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, dataset, indices=None, scale=1.0):
        self.dataset = dataset
        if indices is None:
            indices = np.arange(len(dataset))
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.scale = float(scale)
        if len(dataset) == 0:
            raise ValueError("The dataset X is empty: it holds no windows.")
        first = np.asarray(_item(dataset, 0)[0])
        if first.ndim != 2:
            raise ValueError(
                "A dataset X must yield windows of shape (n_chans, n_times); item 0 "
                f"has shape {first.shape}."
            )
        self._window_shape = first.shape

    @property
    def shape(self):
        """``(n_windows, n_chans, n_times)``."""
        return (len(self.indices), *self._window_shape)

    def __len__(self):
        return len(self.indices)

    def __repr__(self):
        return f"<WindowsArray of {len(self)} windows of {self._window_shape}>"

    def _view(self, indices, scale=None):
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.indices = indices
        out.scale = self.scale if scale is None else scale
        return out

    def window(self, i) -> np.ndarray:
        """Read window ``i`` of the view (float32, scaled)."""
        X = np.asarray(_item(self.dataset, int(self.indices[i]))[0], dtype=np.float32)
        return X * np.float32(self.scale) if self.scale != 1.0 else X

    def __getitem__(self, key):
        if isinstance(key, tuple):  # scikit-learn indexes with (rows, ...)
            if len(key) == 2 and key[1] is Ellipsis:
                key = key[0]
            else:
                raise IndexError("A WindowsArray is indexed along its first axis only.")
        if isinstance(key, numbers.Integral):
            return self.window(key)
        if isinstance(key, slice):
            return self._view(self.indices[key])
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        return self._view(self.indices[key])

    def __mul__(self, factor):
        return self._view(self.indices, self.scale * float(factor))

    __rmul__ = __mul__

    def to_numpy(self, dtype=np.float32) -> np.ndarray:
        """Read every window into one array.

        Parameters
        ----------
        dtype : numpy dtype
            float32 scales in float32 (as the network gets the windows); another
            dtype converts each window first, then scales in that dtype.

        Returns
        -------
        X : ndarray, shape (n_windows, n_chans, n_times)
            The windows.
        """
        dtype = np.dtype(dtype)
        out = np.empty(self.shape, dtype=dtype)
        for i in range(len(self)):
            if dtype == np.float32:
                out[i] = self.window(i)
            else:
                X = np.asarray(_item(self.dataset, int(self.indices[i]))[0], dtype=dtype)
                out[i] = X * self.scale if self.scale != 1.0 else X
        return out

    def __array__(self, dtype=None, copy=None):
        return self.to_numpy(np.float32 if dtype is None else dtype)

    def std(self) -> float:
        """Standard deviation over all samples, read one window at a time (two passes)."""
        n = len(self) * int(np.prod(self._window_shape))
        mean = sum(self.window(i).sum(dtype=np.float64) for i in range(len(self))) / n
        sq = sum(
            np.square(self.window(i) - mean, dtype=np.float64).sum()
            for i in range(len(self))
        )
        return float(np.sqrt(sq / n))


class WindowsTorchDataset(torch.utils.data.Dataset):
    """``(window, target)`` items of a :class:`WindowsArray`, for a DataLoader.

    Parameters
    ----------
    X : WindowsArray
        The windows.
    y : array-like | None
        One target per window; ``None`` yields a placeholder 0 (prediction).
    """

    def __init__(self, X, y=None):
        if y is not None and len(y) != len(X):
            raise ValueError(f"X has {len(X)} windows but y has {len(y)} targets.")
        self.X = X
        self.y = None if y is None else np.asarray(y)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X.window(i), (0 if self.y is None else self.y[i])
