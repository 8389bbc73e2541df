"""The windows of one recording, as the corpus readers hand them on."""

# License: BSD (3-clause)

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import mne
import numpy as np
import pandas as pd

__all__ = ["Recording"]

_SESSION_RUN = re.compile(r"([0-9]+)(|[a-zA-Z]+[a-zA-Z0-9]*)")


@dataclass
class Recording:
    """Windows of one contiguous recording (one subject, session and run).

    The windows lie end to end in ``data`` so that window ``k`` is
    ``data[:, k * n_times:(k + 1) * n_times]``; :attr:`X` gives the
    ``(n_windows, n_chans, n_times)`` view. Build one with :meth:`from_windows`
    when the windows are at hand as a 3-D array.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_windows * n_times)
        The windows in the corpus' own unit (no rescaling), stored as float32
        (other dtypes are converted once, at construction).
    y : ndarray of int, shape (n_windows,)
        Class index of each window (``0 .. n_classes - 1``).
    n_times : int
        Samples per window.
    ch_names : list of str
        Channel names, in the order of the paper's trials.
    ch_types : list of str
        MNE channel types (``"eeg"``, ``"ecog"``, ``"seeg"``, ...).
    sfreq : float
        Sampling frequency in Hz.
    description : dict
        braindecode description of the recording: ``subject`` (int), ``session`` and
        ``run`` (strings MOABB accepts, e.g. ``"0"``) plus corpus columns.
    metadata : pandas.DataFrame | None
        Per-window columns (e.g. ``trial``, ``stimulus``, ``clip``), one row per window.
    source : str
        The file the windows were read from (named in error messages).
    """

    data: np.ndarray
    y: np.ndarray
    n_times: int
    ch_names: list
    ch_types: list
    sfreq: float
    description: dict
    metadata: pd.DataFrame | None = None
    source: str = ""

    def __post_init__(self):
        # float32 end to end: half the memory of float64, the network's dtype.
        if self.data.dtype != np.float32:
            self.data = np.ascontiguousarray(self.data, dtype=np.float32)

    @classmethod
    def from_windows(
        cls, X, y, *, ch_names, ch_types, sfreq, description, metadata=None, source=""
    ) -> Recording:
        """Build a recording from ``(n_windows, n_chans, n_times)`` windows.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_chans, n_times)
            The windows (copied into float32).
        y : array-like of int, shape (n_windows,)
            Class indices.
        ch_names : list of str
            Channel names.
        ch_types : str | list of str
            One MNE channel type for all channels, or one per channel.
        sfreq : float
            Sampling frequency in Hz.
        description : dict
            See :class:`Recording`.
        metadata : pandas.DataFrame | None
            Per-window columns.
        source : str
            The file the windows come from.

        Returns
        -------
        recording : Recording
            The recording.
        """
        X = np.asarray(X)
        if X.ndim != 3:
            raise ValueError(
                f"Windows read from {source or 'the input'} must be 3-D "
                f"(n_windows, n_chans, n_times), got shape {X.shape}."
            )
        n_windows, n_chans, n_times = X.shape
        data = np.ascontiguousarray(
            X.transpose(1, 0, 2).reshape(n_chans, n_windows * n_times), dtype=np.float32
        )
        if isinstance(ch_types, str):
            ch_types = [ch_types] * n_chans
        return cls(
            data=data,
            y=np.asarray(y, dtype=np.int64),
            n_times=int(n_times),
            ch_names=list(ch_names),
            ch_types=list(ch_types),
            sfreq=float(sfreq),
            description=dict(description),
            metadata=metadata,
            source=str(source),
        )

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return self.data.shape[1] // self.n_times

    @property
    def X(self) -> np.ndarray:
        """The windows as a ``(n_windows, n_chans, n_times)`` view of ``data``."""
        n_chans = self.data.shape[0]
        return self.data.reshape(n_chans, self.n_windows, self.n_times).transpose(1, 0, 2)

    def validate(self, n_classes: int | None = None, *, check_finite: bool = True):
        """Check shapes, labels, names and values; raise a clear error naming the file.

        Parameters
        ----------
        n_classes : int | None
            Labels must lie in ``0 .. n_classes - 1`` when given.
        check_finite : bool
            Also reject NaN and infinite samples.

        Returns
        -------
        self : Recording
            The recording, for chaining.
        """
        src = self.source or "the input"
        if self.data.ndim != 2 or self.data.shape[1] % self.n_times:
            raise ValueError(
                f"Data read from {src} has shape {self.data.shape}, not "
                f"(n_chans, n_windows * {self.n_times})."
            )
        if len(self.ch_names) != self.data.shape[0] or len(self.ch_types) != len(
            self.ch_names
        ):
            raise ValueError(
                f"{src}: {len(self.ch_names)} channel names and {len(self.ch_types)} "
                f"channel types for {self.data.shape[0]} channels."
            )
        if self.y.shape != (self.n_windows,):
            raise ValueError(
                f"{src}: {self.y.shape[0] if self.y.ndim else 0} labels for "
                f"{self.n_windows} windows."
            )
        if (
            n_classes is not None
            and self.y.size
            and (self.y.min() < 0 or self.y.max() >= n_classes)
        ):
            bad = np.unique(self.y[(self.y < 0) | (self.y >= n_classes)])
            raise ValueError(
                f"{src}: labels {bad.tolist()} are out of range for {n_classes} classes "
                "(expected 0 .. n_classes - 1). Check that the label file belongs to "
                "this corpus and task."
            )
        if self.metadata is not None and len(self.metadata) != self.n_windows:
            raise ValueError(
                f"{src}: {len(self.metadata)} metadata rows for {self.n_windows} windows."
            )
        for key in ("subject", "session", "run"):
            if key not in self.description:
                raise ValueError(f"{src}: the description lacks {key!r}.")
        for key in ("session", "run"):
            value = self.description[key]
            if not isinstance(value, str) or not _SESSION_RUN.fullmatch(value):
                raise ValueError(
                    f"{src}: {key} must be a string MOABB accepts such as '0' or "
                    f"'1train', got {value!r}."
                )
        if check_finite and not np.isfinite(self.data).all():
            raise ValueError(
                f"{src} contains NaN or infinite samples. Repair or exclude this file "
                "(e.g. interpolate the affected channels) before loading it."
            )
        return self

    def to_raw(
        self, class_names: Sequence[str] | None = None, *, to_volts: float = 1.0
    ) -> mne.io.RawArray:
        """Return the windows as a continuous :class:`mne.io.RawArray`.

        One annotation per window marks its onset and length; its description is the
        class name, so MOABB reads the trials from the annotations.

        Parameters
        ----------
        class_names : sequence of str | None
            Names of the classes (index = label). ``None`` leaves the raw without
            annotations.
        to_volts : float
            Factor from the corpus' unit to volts (:attr:`CorpusReader.to_volts`);
            the default 1 keeps the corpus' unit.

        Returns
        -------
        raw : mne.io.RawArray
            A float64 copy of this recording's data (MNE computes in float64),
            multiplied by ``to_volts``.
        """
        info = mne.create_info(list(self.ch_names), self.sfreq, list(self.ch_types))
        data = self.data.astype(np.float64)
        if to_volts != 1.0:
            data *= to_volts
        raw = mne.io.RawArray(data, info, copy="auto", verbose="error")
        if class_names is not None:
            raw.set_annotations(self.annotations(class_names))
        return raw

    def annotations(self, class_names: Sequence[str]) -> mne.Annotations:
        """One annotation per window: onset, length and class name.

        Parameters
        ----------
        class_names : sequence of str
            Names of the classes (index = label).

        Returns
        -------
        annotations : mne.Annotations
            The annotations, in seconds from the start of the recording.
        """
        width = self.n_times / self.sfreq
        return mne.Annotations(
            onset=np.arange(self.n_windows) * width,
            duration=np.full(self.n_windows, width),
            description=[class_names[k] for k in self.y],
        )
