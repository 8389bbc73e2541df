"""Logging, seeding and small checks shared by the package."""

# License: BSD (3-clause)

from __future__ import annotations

from mne.utils import ProgressBar, logger, set_log_level, use_log_level, verbose, warn

__all__ = [
    "ProgressBar",
    "logger",
    "set_log_level",
    "set_random_seeds",
    "use_log_level",
    "verbose",
    "warn",
]


def set_random_seeds(seed: int, cuda: bool | None = None) -> None:
    """Seed Python, NumPy and torch (and CUDA when available or asked).

    A thin wrapper of :func:`braindecode.util.set_random_seeds` that decides
    ``cuda`` by itself.

    Parameters
    ----------
    seed : int
        The seed.
    cuda : bool | None
        Also seed every CUDA device. ``None`` seeds them when CUDA is available.
    """
    import torch
    from braindecode.util import set_random_seeds as _braindecode_seeds

    if cuda is None:
        cuda = torch.cuda.is_available()
    _braindecode_seeds(seed, cuda=bool(cuda))
