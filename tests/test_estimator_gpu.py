"""NeuroSketchClassifier on CUDA: bf16 autocast, channels-last, compile, moving back.

Run with ``pytest -m gpu --gpu`` (``benchmarks/run_gpu_checks.sh``): without
``--gpu`` these tests skip, with it they fail when CUDA does not work. The
conftest turns TF32 off for every gpu test, so fp32 here means fp32.
"""

import pickle

import numpy as np
import pytest
import torch
from _outputs import PROBA_ATOL, assert_same_outputs, path_atol
from test_estimator import channels_last_conv

from mne_neurosketch.estimator import NeuroSketchClassifier

pytestmark = pytest.mark.gpu

TINY = dict(depths=(1, 1, 1, 1), widths=(16, 16, 16, 16), stem_channels=(8, 8, 8),
            head_dim=2)

#: fp32 probabilities of the same network from cuDNN (TF32 off) and from the
#: CPU's kernels: both float32, summed in other orders; ten times the
#: tolerance of two fp32 paths on one device.
CROSS_DEVICE_FP32_ATOL = 10 * PROBA_ATOL["fp32"]


def _task(n=256, n_chans=6, n_times=120, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(n_times) / n_times
    X = rng.standard_normal((n, n_chans, n_times))
    X[:, 0] += np.where(y[:, None] == 1, 1.0, -1.0) * np.sin(2 * np.pi * 4 * t)
    return X.astype(np.float32), y


def _clf(**kwargs):
    params = dict(module_kwargs=TINY, max_epochs=15, batch_size=16, lr=5e-3,
                  valid_size=0.25, patience=None, random_state=0, verbose=False,
                  device="cuda")
    params.update(kwargs)
    return NeuroSketchClassifier(**params)


def test_auto_device_uses_cuda_with_bf16_and_channels_last():
    X, y = _task()
    clf = _clf(device="auto").fit(X, y)
    assert clf.net_.device.startswith("cuda")
    assert next(clf.module_.parameters()).is_cuda
    if torch.cuda.is_bf16_supported():
        assert clf.net_.amp_dtype == torch.bfloat16
    # a convolution whose weight is channels-last in one layout only
    channels_last_conv(clf.module_)
    assert clf.net_.get_iterator(
        clf.net_.get_dataset(X, y), training=True).loader.pin_memory
    # the fast path: fused AdamW, and predictions through the folded module
    assert "fused AdamW" in clf.train_path_
    assert all(g.get("fused") for g in clf.net_.optimizer_.param_groups)
    assert clf.inference_path_.startswith("cuda: fused+channels_last")
    channels_last_conv(clf.net_.inference.model)
    proba = clf.predict_proba(X)  # numpy in, numpy (float32) out
    assert proba.dtype == np.float32 and np.allclose(proba.sum(1), 1, atol=1e-5)
    X_test, y_test = _task(seed=1)
    assert clf.score(X_test, y_test) > 0.8  # learnable: a class-dependent sign


def test_gpu_matches_cpu_fp32_closely():
    X, y = _task()
    gpu = _clf(amp=False, channels_last=False).fit(X, y)
    assert gpu.train_path_.startswith("cuda: fp32")
    assert not torch.backends.cudnn.allow_tf32  # fp32 convolutions, not TF32
    p_gpu = gpu.predict_proba(X)
    state = {k: v.cpu() for k, v in gpu.module_.state_dict().items()}
    cpu = _clf(device="cpu", max_epochs=1, amp=False).fit(X, y)
    cpu.module_.load_state_dict(state)
    assert_same_outputs(cpu.predict_proba(X), p_gpu, CROSS_DEVICE_FP32_ATOL)


def test_pickle_and_save_load_to_cpu(tmp_path, monkeypatch):
    # a bit-for-bit comparison on the GPU: deterministic cuDNN kernels
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    X, y = _task()
    clf = _clf().fit(X, y)
    proba = clf.predict_proba(X)
    clf2 = pickle.loads(pickle.dumps(clf))
    assert_same_outputs(clf2.predict_proba(X), proba)
    clf.save(tmp_path / "gpu.pt")
    on_cpu = NeuroSketchClassifier.load(tmp_path / "gpu.pt", device="cpu")
    assert next(on_cpu.module_.parameters()).device.type == "cpu"
    assert on_cpu.net_.amp_dtype is None  # "auto" means no autocast on the CPU
    # bf16 autocast on the GPU vs the CPU's path: within bf16's rounding
    assert_same_outputs(on_cpu.predict_proba(X), proba,
                        path_atol(clf.inference_path_, on_cpu.inference_path_))


def test_compile():
    X, y = _task()
    clf = _clf(compile=True, max_epochs=2).fit(X, y)
    assert clf.train_path_.endswith("+compile")
    assert type(clf.net_._step._forward).__name__ == "OptimizedModule"
    assert clf.predict_proba(X).shape == (256, 2)


@pytest.mark.parametrize("module", ["EEGNet", "ShallowFBCSPNet"])
def test_braindecode_baselines_on_gpu(module):
    X, y = _task(n_times=256)
    clf = NeuroSketchClassifier(module, max_epochs=2, batch_size=16, valid_size=0.25,
                                random_state=0, verbose=False).fit(X, y)
    assert clf.net_.device.startswith("cuda")
    assert clf.predict(X).shape == (256,)
