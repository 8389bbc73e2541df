"""Shared pytest fixtures."""

import os

import pytest
import torch

REFERENCE_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "reference")


def pytest_configure(config):
    # One intra-op thread per pytest-xdist worker: the workers already share
    # the cores, and oversubscription makes small convolutions much slower.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"
)
