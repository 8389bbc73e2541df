"""The numeric path of a fit is decided by the device, never by a clock."""

import itertools
import json
import pickle
import subprocess
import sys
import time

import mne
import numpy as np
import pytest
import torch
from _outputs import assert_same_outputs, path_atol

from mne_neurosketch import NeuroSketchClassifier
from mne_neurosketch.numerics import (
    bf16_gradient_check,
    cpu_fast_path,
    cpu_has_bf16,
    inference_dtype,
    training_dtype,
)

TINY = dict(depths=(1, 1, 1, 1), widths=(8, 8, 8, 8), stem_channels=(8, 8, 8), head_dim=2)


def _data(n=32, n_chans=3, n_times=48, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.standard_normal((n, n_chans, n_times)).astype(np.float32)
    X[y == 1, 0] += np.sin(np.linspace(0, 6 * np.pi, n_times, dtype=np.float32))
    return X, y


def _clf(**kwargs):
    # trained enough for the outputs to differ across trials (checked below)
    params = dict(module_kwargs=TINY, max_epochs=10, lr=1e-2, batch_size=8,
                  valid_size=None, random_state=0, verbose=False, device="cpu")
    params.update(kwargs)
    return NeuroSketchClassifier(**params)


class _JumpingClock:
    """A clock that runs at random rates and jumps, as on a randomly busy machine."""

    def __init__(self, seed):
        self._rng = np.random.default_rng(seed)
        self._now = 1e6

    def __call__(self):
        self._now += float(self._rng.exponential(self._rng.choice([1e-6, 1e-3, 1.0])))
        return self._now


def test_the_rules():
    assert training_dtype(False, "cpu", torch.nn.Linear) is None
    assert training_dtype(True, "cpu", torch.nn.Linear) == torch.bfloat16
    assert training_dtype("bf16", "cpu", torch.nn.Linear) == torch.bfloat16
    # a braindecode model stays in fp32 on any CPU; so does a fit with no trials
    from braindecode.models import EEGNet

    from mne_neurosketch import NeuroSketch

    assert not cpu_fast_path(EEGNet) and cpu_fast_path(NeuroSketch)
    X, _ = _data()
    assert training_dtype("auto", "cpu", EEGNet, dict(
        n_chans=3, n_times=48, n_outputs=2), X) is None
    assert training_dtype("auto", "cpu", NeuroSketch, None, None) is None
    # prediction follows the training dtype, except where bf16 is emulated
    assert inference_dtype("auto", "cpu", None) is None
    assert inference_dtype(False, "cpu", torch.bfloat16) is None
    assert inference_dtype(True, "cpu", None) == torch.bfloat16
    expected = torch.bfloat16 if cpu_has_bf16() else None
    assert inference_dtype("auto", "cpu", torch.bfloat16) == expected
    with pytest.raises(ValueError, match="Invalid value for the 'amp' parameter"):
        training_dtype("fast", "cpu", NeuroSketch)



def test_amp_none_trains_in_fp32_and_other_values_are_refused():
    X, y = _data()
    assert _clf(amp=None, max_epochs=1).fit(X, y).train_path_ == "cpu: fp32"
    for bad in ("fast", 1):  # 1 is not True
        with pytest.raises(ValueError, match="'amp' parameter.*and None, but got"):
            _clf(amp=bad).fit(X, y)

def test_gradient_check_is_deterministic_and_catches_a_wrong_gradient():
    from mne_neurosketch import NeuroSketch

    torch.manual_seed(0)
    model = NeuroSketch(n_chans=3, n_times=48, n_outputs=2, **TINY).eval()
    x = torch.as_tensor(_data()[0][:8])
    first, second = bf16_gradient_check(model, x), bf16_gradient_check(model, x)
    assert first == second  # no timing, no randomness
    assert first[0] > 0.9 and first[1] == (first[0] >= 0.99)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.amp_rule
def test_auto_path_is_decided_by_the_device():
    X, y = _data()
    with mne.utils.catch_logging() as log:
        clf = _clf(verbose="INFO").fit(X, y)
    text = log.getvalue()
    checked = "bf16 gradient check" in text
    assert checked == cpu_has_bf16()  # the check runs only where bf16 has units
    bf16 = clf.train_path_ == "cpu: bf16"
    assert bf16 == (checked and "training in bf16" in text)
    assert clf.inference_path_.endswith("+bf16") == bf16  # predicts as it trained
    # a braindecode baseline: fp32 and its own layout on any CPU
    eegnet = _clf(module="EEGNet", module_kwargs=None).fit(X, y)
    assert eegnet.train_path_ == "cpu: fp32"
    assert eegnet.inference_path_ == "cpu: fused"


def test_the_choice_reads_no_clock(monkeypatch):
    X, y = _data()
    reference = _clf().fit(X, y)
    expected = reference.predict_proba(X)
    # the same fit with every clock of the process jumping at random
    for name in ("perf_counter", "process_time", "time", "monotonic"):
        monkeypatch.setattr(time, name, _JumpingClock(len(name)))
    clf = _clf().fit(X, y)
    assert clf.train_path_ == reference.train_path_
    assert clf.inference_path_ == reference.inference_path_
    # the outputs differ across trials, so an equality check has teeth
    assert_same_outputs(clf.predict_proba(X), expected)


_FRESH = """
import json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
if sys.argv[1] == "jumping":
    rng = np.random.default_rng(0)
    state = [1e6]
    def clock():
        state[0] += float(rng.exponential(rng.choice([1e-6, 1e-3, 1.0])))
        return state[0]
    for name in ("perf_counter", "process_time", "time", "monotonic"):
        setattr(time, name, clock)
from mne_neurosketch import NeuroSketchClassifier
rng = np.random.default_rng(0)
X = rng.standard_normal((32, 3, 48)).astype(np.float32)
y = np.arange(32) % 2
X[y == 1, 0] += 1.0
clf = NeuroSketchClassifier(module_kwargs=dict(depths=(1, 1, 1, 1), widths=(8, 8, 8, 8),
    stem_channels=(8, 8, 8), head_dim=2), max_epochs=10, lr=1e-2, valid_size=None,
    random_state=0, device="cpu", verbose=False).fit(X, y)
proba = clf.predict_proba(X).tobytes().hex()
print(json.dumps([clf.train_path_, clf.inference_path_, proba]))
"""


def test_fresh_processes_give_bit_identical_results():
    """Fresh processes, with normal and jumping clocks: the same fit and predictions."""
    # both at once: most of each one's time is importing the package
    procs = [subprocess.Popen([sys.executable, "-c", _FRESH, clock],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for clock in ("real", "jumping")]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    assert outputs[0] == outputs[1]


def test_save_records_the_numeric_path(tmp_path):
    X, y = _data()
    clf = _clf().fit(X, y)
    clf.save(tmp_path / "clf.pt")
    data = torch.load(tmp_path / "clf.pt", weights_only=True)
    assert data["numerics"] == {
        "device": "cpu", "train_path": clf.train_path_,
        "inference_path": clf.inference_path_,
        "inference_bf16": clf.inference_path_.endswith("+bf16"),
    }
    unpickled = pickle.loads(pickle.dumps(clf))
    assert_same_outputs(unpickled.predict_proba(X), clf.predict_proba(X))
    back = NeuroSketchClassifier.load(tmp_path / "clf.pt")
    assert_same_outputs(back.predict_proba(X), clf.predict_proba(X))
    assert back.train_path_ == clf.train_path_
    assert back.inference_path_ == clf.inference_path_
    # a file of the previous format (version 3, no record) loads and predicts
    # in fp32, the dtype a network rebuilt from a file trains in
    old = {k: v for k, v in data.items() if k != "numerics"}
    torch.save({**old, "version": 3}, tmp_path / "v3.pt")
    v3 = NeuroSketchClassifier.load(tmp_path / "v3.pt")
    proba = v3.predict_proba(X)  # prepares the path: inference_path_ set
    assert not v3.inference_path_.endswith("+bf16")
    assert_same_outputs(proba, clf.predict_proba(X),
                        path_atol(clf.inference_path_, v3.inference_path_))
    # a damaged record names the file
    data["numerics"].pop("device")
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"bad\.pt has an incomplete 'numerics'"):
        NeuroSketchClassifier.load(tmp_path / "bad.pt")


@pytest.mark.parametrize("amp", [False, "bf16"])
def test_each_forced_path_is_what_it_says(amp):
    X, y = _data()
    clf = _clf(amp=amp).fit(X, y)
    name = "bf16" if amp else "fp32"
    assert clf.train_path_ == f"cpu: {name}"
    assert clf.inference_path_.endswith("+bf16") == bool(amp)
    assert list(itertools.islice(clf.net_.history[:, "train_loss"], 1))
