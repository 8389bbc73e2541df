"""NeuroSketchClassifier picks its training and inference paths by the machine."""

import mne
import numpy as np
import pytest
import torch
from _outputs import PROBA_ATOL, assert_same_outputs, assert_trials_differ

# _one_thread: the autouse fixture running these tiny networks on one thread.
from test_estimator import TINY, TRAINED, _one_thread, separable_task  # noqa: F401

from mne_neurosketch.estimator import NeuroSketchClassifier
from mne_neurosketch.inference import InferencePath, choose_inference_path
from mne_neurosketch.numerics import COMPILE_MIN_STEPS, resolve_compile


def _clf(**kwargs):
    params = dict(module_kwargs=TINY, max_epochs=1, batch_size=8, valid_size=None,
                  random_state=0, verbose=False, device="cpu")
    params.update(kwargs)
    return NeuroSketchClassifier(**params)


def _data(n=24, n_chans=3, n_times=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_chans, n_times)).astype(np.float32), np.arange(n) % 2


def _trained(**kwargs):
    """A network whose probabilities differ across trials (``_outputs``)."""
    X, y = separable_task()
    return _clf(**{**TRAINED, **kwargs}).fit(X, y), X


def _eager_proba(clf, X):
    module = clf.module_.eval()
    with torch.no_grad():
        return torch.softmax(module(torch.as_tensor(X)), -1).numpy()


def test_fp32_paths_are_logged_exposed_and_exact():
    with mne.utils.catch_logging() as log:
        clf, X = _trained(amp=False, compile=False, verbose="INFO")
    assert clf.train_path_ == "cpu: fp32"
    assert clf.inference_path_ == "cpu: fused+channels_last"
    text = log.getvalue()
    assert "path cpu: fp32" in text and "Inference path: cpu: fused+channels_last" in text
    # the folded inference path computes the eager module's probabilities
    before = clf.predict_proba(X)
    assert_same_outputs(before, _eager_proba(clf, X), PROBA_ATOL["fp32"])
    assert clf.net_.inference.amp_dtype is None
    # weights changed after fit: predict follows them, not a stale copy
    with torch.no_grad():
        for p in clf.module_.final_layer.parameters():
            p.zero_()
    np.testing.assert_allclose(clf.predict_proba(X), 1 / 3, atol=PROBA_ATOL["fp32"])
    assert_trials_differ(before - 1 / 3, PROBA_ATOL["fp32"])  # a stale copy fails


def test_forced_bf16_paths():
    clf, X = _trained(amp="bf16", compile=False)
    assert clf.train_path_ == "cpu: bf16" and clf.net_.amp_dtype == torch.bfloat16
    assert clf.inference_path_.endswith("+bf16")
    # bf16 autocast against the eager fp32 module: within bf16's rounding
    assert_same_outputs(clf.predict_proba(X), _eager_proba(clf, X), PROBA_ATOL["bf16"])


@pytest.mark.parametrize("amp_dtype", [None, torch.bfloat16], ids=["fp32", "bf16"])
def test_choose_inference_path(amp_dtype):
    """The chosen path: folded, channels-last for 2-D convolutions, autocast as
    asked; the model given is left as it was."""
    clf, X = _trained(amp=False)
    model = clf.module_.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.as_tensor(X)
    with torch.no_grad():
        eager = model(x)
    path = choose_inference_path(model, amp_dtype=amp_dtype)
    assert isinstance(path, InferencePath) and path.amp_dtype is amp_dtype
    name = "+bf16" if amp_dtype else ""
    assert path.description == f"cpu: fused+channels_last{name}"
    assert repr(path) == f"InferencePath({path.description!r})"
    conv = next(m for m in path.model.modules() if isinstance(m, torch.nn.Conv2d)
                and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    def n_norms(module):
        return sum(isinstance(m, torch.nn.BatchNorm2d) for m in module.modules())

    assert n_norms(path.model) < n_norms(model)  # BatchNorm folded
    logits = path(x)
    assert logits.dtype == torch.float32 and not logits.requires_grad
    atol = PROBA_ATOL["bf16" if amp_dtype else "fp32"]
    assert_same_outputs(torch.softmax(logits, -1).numpy(),
                        torch.softmax(eager, -1).numpy(), atol)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    # channels_last=False keeps the model's own layout (braindecode's baselines)
    assert choose_inference_path(model, channels_last=False).description == "cpu: fused"


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
