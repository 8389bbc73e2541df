"""NeuroSketchClassifier picks its training and inference paths by the machine."""

import mne
import numpy as np
import pytest
import torch

from mne_neurosketch.estimator import NeuroSketchClassifier
from mne_neurosketch.numerics import COMPILE_MIN_STEPS, resolve_compile

TINY = dict(depths=(1, 1, 1, 1), widths=(8, 8, 8, 8), stem_channels=(8, 8, 8), head_dim=2)


def _clf(**kwargs):
    params = dict(module_kwargs=TINY, max_epochs=1, batch_size=8, valid_size=None,
                  random_state=0, verbose=False, device="cpu")
    params.update(kwargs)
    return NeuroSketchClassifier(**params)


def _data(n=24, n_chans=3, n_times=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_chans, n_times)).astype(np.float32), np.arange(n) % 2


def _eager_proba(clf, X):
    module = clf.module_.eval()
    with torch.no_grad():
        return torch.softmax(module(torch.as_tensor(X)), -1).numpy()


def test_fp32_paths_are_logged_exposed_and_exact():
    X, y = _data()
    with mne.utils.catch_logging() as log:
        clf = _clf(amp=False, compile=False, verbose="INFO").fit(X, y)
    assert clf.train_path_ == "cpu: fp32"
    assert clf.inference_path_ == "cpu: fused+channels_last"
    text = log.getvalue()
    assert "path cpu: fp32" in text and "Inference path: cpu: fused+channels_last" in text
    # the folded inference path computes the eager module's probabilities
    np.testing.assert_allclose(clf.predict_proba(X), _eager_proba(clf, X), atol=1e-5)
    assert clf.net_.inference.amp_dtype is None
    # weights changed after fit: predict follows them, not a stale copy
    with torch.no_grad():
        for p in clf.module_.final_layer.parameters():
            p.zero_()
    np.testing.assert_allclose(clf.predict_proba(X), 0.5, atol=1e-6)


def test_forced_bf16_paths():
    X, y = _data()
    clf = _clf(amp="bf16", compile=False).fit(X, y)
    assert clf.train_path_ == "cpu: bf16" and clf.net_.amp_dtype == torch.bfloat16
    assert clf.inference_path_.endswith("+bf16")
    np.testing.assert_allclose(clf.predict_proba(X), _eager_proba(clf, X), atol=0.05)


def test_compile_choice():
    assert resolve_compile("auto", COMPILE_MIN_STEPS) is True
    assert resolve_compile("auto", COMPILE_MIN_STEPS - 1) is False
    assert resolve_compile(False, 10**6) is False
    assert resolve_compile(True, 1) is True
    X, y = _data()
    # a 3-step fit does not compile under "auto"
    assert "compile" not in _clf(amp=False).fit(X, y).train_path_
    with pytest.raises(ValueError, match="'compile' parameter.*'auto', True and False"):
        _clf(compile="fast").fit(X, y)


@pytest.mark.slow
def test_compiled_step_trains():
    X, y = _data(n=16)
    clf = _clf(amp=False, compile=True, batch_size=16).fit(X, y)
    assert clf.train_path_ == "cpu: fp32+compile"
    assert type(clf.net_._step._forward).__name__ == "OptimizedModule"
    # the module keeps its plain parameter names
    assert not any(k.startswith("_orig_mod") for k in clf.module_.state_dict())
    assert np.isfinite(clf.predict_proba(X)).all()
