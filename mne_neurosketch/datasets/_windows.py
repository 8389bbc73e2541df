"""Lazy braindecode windows: each window is read from its recording on demand.

A :class:`LazyWindowsDataset` is a braindecode
:class:`~braindecode.datasets.EEGWindowsDataset` whose windows come from one
float32 array ``(n_chans, n_windows * n_times)`` (windows end to end) instead of an
``mne.io.Raw``. When that array is a memory-mapped cache file, ``__getitem__`` reads
the window's bytes with ``os.pread`` (one read per channel) rather than touching the
map, so the pages stay in the kernel's page cache and never count in the process'
resident memory: a training run's memory does not grow with the corpus.

The ``raw`` attribute is still there for braindecode's preprocessing and for users:
it is built on first access as a float64 :class:`mne.io.RawArray` of this recording
only (MNE computes in float64; this is the one place the data are copied to
float64). Once ``raw`` exists (or is assigned), windows are cut from it, so edits
made through braindecode ``preprocess`` are seen.
"""

# License: BSD (3-clause)

from __future__ import annotations

import mmap
import os

import mne
import numpy as np
from braindecode.datasets import EEGWindowsDataset
from braindecode.datasets.base import RecordDataset

__all__ = ["LazyWindowsDataset"]


class LazyWindowsDataset(EEGWindowsDataset):
    """Windows of one recording, read on demand (braindecode-compatible).

    Parameters
    ----------
    data : ndarray | numpy.memmap, shape (n_chans, n_windows * n_times)
        The windows end to end, float32. A memory map is read file-wise.
    metadata : pandas.DataFrame
        braindecode window metadata: ``i_window_in_trial``, ``i_start_in_trial``,
        ``i_stop_in_trial``, ``target`` and any extra columns.
    ch_names : list of str
        Channel names.
    ch_types : list of str
        MNE channel types.
    sfreq : float
        Sampling frequency in Hz.
    description : dict | pandas.Series | None
        braindecode description of the recording.
    annotations : mne.Annotations | None
        Put on ``raw`` when it is built.
    transform : callable | None
        Applied to each window.
    """

    def __init__(
        self,
        data,
        metadata,
        *,
        ch_names,
        ch_types,
        sfreq,
        description=None,
        annotations=None,
        transform=None,
    ):
        RecordDataset.__init__(self, description, transform)
        self._raw = None
        self._data = data
        self._file = _file_of(data)
        self._fd = None
        if self._file is not None:
            # Opened now: the windows stay readable if the entry is replaced later.
            try:
                self._fd = os.open(self._file[0], os.O_RDONLY)
            except OSError:  # e.g. too many open files: opened on first read
                pass
        self._ch_names = list(ch_names)
        self._ch_types = list(ch_types)
        self._sfreq = float(sfreq)
        self._annotations = annotations
        self.metadata = metadata
        self.targets_from = "metadata"
        self.last_target_only = True
        self.crop_inds = metadata.loc[
            :, ["i_window_in_trial", "i_start_in_trial", "i_stop_in_trial"]
        ].to_numpy()
        self.y = metadata.loc[:, "target"].to_list()
        self.raw_preproc_kwargs = []

    # -- MNE view -----------------------------------------------------------
    def _make_mne_info(self):
        return mne.create_info(self._ch_names, self._sfreq, self._ch_types)

    @property
    def raw(self):
        """The recording as a float64 :class:`mne.io.RawArray` (built on first use)."""
        if self._raw is None:
            raw = mne.io.RawArray(
                np.asarray(self._data, dtype=np.float64),
                self._make_mne_info(),
                verbose="error",
            )
            if self._annotations is not None:
                raw.set_annotations(self._annotations)
            self._raw = raw
        return self._raw

    @raw.setter
    def raw(self, value):
        self._raw = value
        self._ch_pos = None

    # -- windows ------------------------------------------------------------
    def _read(self, start, stop):
        """Samples ``start:stop`` of every channel, float32, without mapping pages."""
        if self._file is None:
            return np.array(self._data[:, start:stop], dtype=np.float32)
        path, offset, n_total, dtype = self._file
        if self._fd is None:
            try:
                self._fd = os.open(path, os.O_RDONLY)
            except OSError:  # the entry was replaced: the map still holds the data
                return np.array(self._data[:, start:stop], dtype=np.float32)
        n_chans = len(self._ch_names)
        size = dtype.itemsize
        out = np.empty((n_chans, stop - start), dtype=dtype)
        for c in range(n_chans):
            pos = offset + (c * n_total + start) * size
            buf = os.pread(self._fd, (stop - start) * size, pos)
            out[c] = np.frombuffer(buf, dtype=dtype)
        return out.astype(np.float32, copy=False)

    def __getitem__(self, index):
        crop_inds = self.crop_inds[index].tolist()
        _, start, stop = crop_inds
        if self._raw is not None:
            X = self._raw._getitem((slice(None), slice(start, stop)), return_times=False)
            X = np.array(X, dtype=np.float32)
        else:
            X = self._read(start, stop)
        if self.transform is not None:
            X = self.transform(X)
        y = self.y[index]
        if self.return_ch_pos:
            return X, y, crop_inds, self.ch_pos
        return X, y, crop_inds

    def __len__(self):
        return len(self.crop_inds)

    # -- pickling (DataLoader workers, Dask) --------------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_fd"] = None
        if self._file is not None:
            state["_data"] = None  # reopened from the file, never pickled
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._data is None:
            path, offset, n_total, dtype = self._file
            self._data = np.memmap(
                path, dtype=dtype, mode="c", offset=offset,
                shape=(len(self._ch_names), n_total),
            )

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            try:
                os.close(self._fd)
            except OSError:  # pragma: no cover - already closed
                pass


def _file_of(data):
    """``(path, offset, n_total, dtype)`` of a C-ordered 2-D file map, else None."""
    if (
        isinstance(data, np.memmap)
        and getattr(data, "filename", None)
        and data.ndim == 2
        and data.flags.c_contiguous
        and isinstance(data.base, mmap.mmap)  # the whole map, not a slice of it
    ):
        return (str(data.filename), int(data.offset), int(data.shape[1]), data.dtype)
    return None
