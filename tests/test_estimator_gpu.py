"""NeuroSketchClassifier on CUDA: bf16 autocast, channels-last, compile, moving back."""

import pickle

import numpy as np
import pytest
import torch
from conftest import requires_cuda

from mne_neurosketch.estimator import NeuroSketchClassifier

pytestmark = [requires_cuda, pytest.mark.gpu]

TINY = dict(depths=(1, 1, 1, 1), widths=(16, 16, 16, 16), stem_channels=(8, 8, 8),
            head_dim=2)


def _task(n=256, n_chans=6, n_times=120, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(n_times) / n_times
    X = rng.standard_normal((n, n_chans, n_times))
    X[:, 0] += np.where(y[:, None] == 1, 1.0, -1.0) * np.sin(2 * np.pi * 4 * t)
    return X.astype(np.float32), y


def _clf(**kwargs):
    params = dict(module_kwargs=TINY, max_epochs=15, batch_size=16, lr=5e-3,
                  valid_size=0.25, patience=None, random_state=0, verbose=False)
    params.update(kwargs)
    return NeuroSketchClassifier(**params)


def test_auto_device_uses_cuda_with_bf16_and_channels_last():
    X, y = _task()
    clf = _clf().fit(X, y)
    assert clf.net_.device.startswith("cuda")
    assert next(clf.module_.parameters()).is_cuda
    if torch.cuda.is_bf16_supported():
        assert clf.net_.amp_dtype == torch.bfloat16
    conv = next(m for m in clf.module_.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert clf.net_.get_iterator(
        clf.net_.get_dataset(X, y), training=True).loader.pin_memory
    # the fast path: fused AdamW, and predictions through the folded module
    assert "fused AdamW" in clf.train_path_
    assert all(g.get("fused") for g in clf.net_.optimizer_.param_groups)
    assert clf.inference_path_.startswith("cuda: fused+channels_last")
    proba = clf.predict_proba(X)  # numpy in, numpy (float32) out
    assert proba.dtype == np.float32 and np.allclose(proba.sum(1), 1, atol=1e-5)
    X_test, y_test = _task(seed=1)
    assert clf.score(X_test, y_test) > 0.8  # learnable: a class-dependent sign


def test_gpu_matches_cpu_fp32_closely():
    X, y = _task()
    gpu = _clf(amp=False, channels_last=False).fit(X, y)
    p_gpu = gpu.predict_proba(X)
    state = {k: v.cpu() for k, v in gpu.module_.state_dict().items()}
    cpu = _clf(device="cpu", max_epochs=1, amp=False).fit(X, y)
    cpu.module_.load_state_dict(state)
    # cuDNN may use TF32 convolutions: close, not bit-equal
    np.testing.assert_allclose(cpu.predict_proba(X), p_gpu, atol=5e-3)


def test_pickle_and_save_load_to_cpu(tmp_path):
    X, y = _task()
    clf = _clf().fit(X, y)
    proba = clf.predict_proba(X)
    clf2 = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(clf2.predict_proba(X), proba, atol=1e-6)
    clf.save(tmp_path / "gpu.pt")
    on_cpu = NeuroSketchClassifier.load(tmp_path / "gpu.pt", device="cpu")
    assert next(on_cpu.module_.parameters()).device.type == "cpu"
    assert on_cpu.net_.amp_dtype is None  # "auto" means no autocast on the CPU
    # bf16 training autocast vs fp32 CPU inference: same decisions, close probas
    np.testing.assert_allclose(on_cpu.predict_proba(X), proba, atol=0.05)


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
