"""Logging, seeding and small checks shared by the package."""

# License: BSD (3-clause)

from __future__ import annotations

import random

import numpy as np
import torch
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

    Parameters
    ----------
    seed : int
        The seed.
    cuda : bool | None
        Also seed every CUDA device. ``None`` seeds them when CUDA is available.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if cuda or (cuda is None and torch.cuda.is_available()):
        torch.cuda.manual_seed_all(seed)
