"""Shared pytest fixtures, the ``--gpu`` option and the forced numeric path.

- Tests run on the CPU unless marked ``gpu``: for every other test CUDA looks
  absent (``torch.cuda.is_available()`` is False, and processes the test
  starts get ``CUDA_VISIBLE_DEVICES=""``), so ``device="auto"`` means the CPU
  even on a machine with a GPU. Without ``--gpu`` the ``gpu`` tests skip and the
  session ends with an error if anything initialised CUDA.
- ``pytest --gpu`` runs the ``gpu`` tests and makes them fail, not skip, when
  CUDA does not work.
- ``MNE_NEUROSKETCH_FORCE_AMP=bf16`` or ``fp32`` (read here only, never by the
  package) makes ``amp="auto"`` take that path wherever it could take it, so
  that the suite can be run once per numeric path: a threshold that holds on
  one path only fails one of the runs.
"""

import os

import numpy as np
import pytest
import torch

REFERENCE_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "reference")

#: ``MNE_NEUROSKETCH_FORCE_AMP`` values: the dtype "auto" trains in.
FORCED_AMP = {"bf16": torch.bfloat16, "fp32": None}


def pytest_addoption(parser):
    parser.addoption(
        "--gpu", action="store_true", default=False,
        help="run the tests marked gpu, failing (not skipping) when CUDA does not work")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "amp_rule: a test of amp='auto''s own rule, which "
        "MNE_NEUROSKETCH_FORCE_AMP leaves alone")
    # One intra-op thread per pytest-xdist worker: the workers already share
    # the cores, and oversubscription makes small convolutions much slower.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
    forced = os.environ.get("MNE_NEUROSKETCH_FORCE_AMP")
    if forced is not None and forced not in FORCED_AMP:
        raise pytest.UsageError(
            "Invalid value for the 'MNE_NEUROSKETCH_FORCE_AMP' environment variable. "
            f"Allowed values are {sorted(FORCED_AMP)}, but got {forced!r} instead.")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--gpu"):
        return
    skip = pytest.mark.skip(reason="a gpu test: run with --gpu on a machine with CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    forced = os.environ.get("MNE_NEUROSKETCH_FORCE_AMP")
    return [f"amp='auto' forced to {forced} (MNE_NEUROSKETCH_FORCE_AMP)" if forced
            else "amp='auto' as the package decides it",
            f"gpu tests: {'run (--gpu)' if config.getoption('--gpu') else 'skipped'}"]


def cuda_problem():
    """Why CUDA cannot run a kernel here, or ``None`` when it can."""
    if not torch.cuda.is_available():
        return "torch.cuda.is_available() is False"
    try:
        value = (torch.ones(2, device="cuda") * 2).sum().item()
    except RuntimeError as err:
        return f"a CUDA kernel failed: {err}"
    return None if value == 4.0 else f"a CUDA kernel computed {value}, not 4.0"


@pytest.fixture(scope="session")
def _working_cuda():
    problem = cuda_problem()
    if problem is not None:
        pytest.fail(f"--gpu was given but CUDA does not work: {problem}.", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _cpu_suite_leaves_cuda_alone(request):
    yield
    if not request.config.getoption("--gpu"):
        assert not torch.cuda.is_initialized(), (
            "CUDA was initialised during a run without --gpu: a test not marked gpu "
            "touched the GPU.")


@pytest.fixture(autouse=True)
def _device_of_the_test(request, monkeypatch):
    """CPU unless the test is marked gpu; a working GPU when it is."""
    if "gpu" in request.keywords:
        request.getfixturevalue("_working_cuda")
        # what the gpu tests claim: fp32 means fp32 (no TF32), set per test
        monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
        monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
        return
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # processes the test starts


@pytest.fixture(autouse=True)
def _forced_amp(request, monkeypatch):
    """``amp="auto"`` trains in MNE_NEUROSKETCH_FORCE_AMP's dtype wherever "auto"
    may take bf16 (CUDA; this package's models on a CPU with bf16 units), in
    place of the gradient check's verdict; elsewhere, and for ``amp=True`` or
    ``False``, the package's rule decides. Tests marked ``amp_rule`` (of the
    rule itself) and processes a test starts are not affected."""
    forced = os.environ.get("MNE_NEUROSKETCH_FORCE_AMP")
    if forced is None or "amp_rule" in request.keywords:
        return
    from mne_neurosketch._estimator import net
    from mne_neurosketch.numerics import cpu_fast_path, cpu_has_bf16

    rule = net.training_dtype

    def training_dtype(amp, device, module_cls, module_init=None, X=None):
        if amp != "auto":
            return rule(amp, device, module_cls, module_init, X)
        # where the rule could answer bf16: CUDA, or a CPU with bf16 units
        # running its gradient check (which needs the training trials X)
        may_bf16 = torch.device(device).type == "cuda" or (
            X is not None and cpu_has_bf16() and cpu_fast_path(module_cls))
        return FORCED_AMP[forced] if may_bf16 else None

    monkeypatch.setattr(net, "training_dtype", training_dtype)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
