"""Optimised inference and training compute the same function as the plain model."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from _outputs import MARGIN, distinct_weights
from torch import nn
from torch.nn import functional as F

from mne_neurosketch import NeuroSketch, NeuroSketchSD
from mne_neurosketch.inference import (
    OnlinePredictor,
    OnnxModel,
    export_onnx,
    fuse_batchnorm,
    optimize_for_inference,
    predict_logits,
)
from mne_neurosketch.models import from_reference
from mne_neurosketch.models._modules import fold_time
from mne_neurosketch.training import DeviceBatches, TrainStep, make_adamw

# The device machine gets the reference files through this variable.
REFERENCE = Path(
    os.environ.get(
        "MNE_NEUROSKETCH_REFERENCE",
        Path(__file__).resolve().parents[2] / "shared" / "reference",
    )
)
REFERENCE_FILES = sorted(REFERENCE.glob("*.pt")) if REFERENCE.is_dir() else []
needs_reference = pytest.mark.skipif(
    not REFERENCE_FILES, reason="shared/reference is not beside the checkout"
)
RTOL = 1e-4  # relative L2, fp32
BF16_RTOL = 3e-2  # relative L2 of bf16-autocast logits against fp32


def _rel(a, b) -> float:
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return float((a - b).norm() / b.norm())


def _load_reference(path):
    d = torch.load(path, weights_only=True)
    model = from_reference(
        d["config"],
        d["state_dict"],
        n_chans=d["n_chans"],
        n_times=d["n_times"],
        n_outputs=d["n_outputs"],
    )
    return model.eval(), d


def _assert_rel(actual, expected, rtol):
    """Relative L2 error below ``rtol``, on outputs that the trials permuted
    would move by much more than ``rtol`` (so the check can fail)."""
    e = torch.as_tensor(expected).double()
    moved = _rel(e.roll(1, 0), e)
    assert moved > MARGIN * rtol, f"trials permuted move the outputs by {moved:.3g} only"
    error = _rel(actual, expected)
    assert error < rtol, f"relative error {error:.3g}, not below {rtol}"


def _small_neurosketch(n_chans=5, n_outputs=3, n_times=61, **kwargs):
    torch.manual_seed(0)
    kwargs.setdefault("widths", (8, 8, 12, 16))
    kwargs.setdefault("depths", (1, 1, 1, 1))
    kwargs.setdefault("stem_channels", (8, 8, 8))
    return distinct_weights(NeuroSketch(n_chans, n_outputs, n_times, **kwargs))


@pytest.mark.parametrize("n_times", [60, 61, 62])
def test_fold_time_matches_pad_and_reshape(n_times):
    x = torch.randn(2, 3, n_times, requires_grad=True)
    pad = (-n_times) % 3
    expected = (
        F.pad(x, (0, pad)).reshape(2, 3, -1, 3).permute(0, 1, 3, 2).reshape(2, 1, 9, -1)
    )
    folded = fold_time(x, 3)
    assert torch.equal(folded, expected)
    grad = torch.randn_like(folded)
    (g1,) = torch.autograd.grad(folded, x, grad)
    (g2,) = torch.autograd.grad(expected, x, grad)
    assert torch.equal(g1, g2)


@needs_reference
@pytest.mark.parametrize("path", REFERENCE_FILES, ids=lambda p: p.stem)
def test_fused_matches_reference(path):
    model, d = _load_reference(path)
    n_norms = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.inference_mode():
        plain = model(d["input"])
        fused_model = fuse_batchnorm(model)
        fused = fused_model(d["input"])
        fast = optimize_for_inference(model)(d["input"])
    # only the final BatchNorm (after a residual sum) cannot be folded
    assert (
        sum(isinstance(m, nn.BatchNorm2d) for m in fused_model.modules()) == 1 < n_norms
    )
    _assert_rel(fused, plain, RTOL)
    _assert_rel(fast, plain, RTOL)
    _assert_rel(fast, d["logits_float64"], RTOL)
    # the original model is untouched
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_fuse_neurosketch_sd_mlp_norm():
    torch.manual_seed(0)
    model = distinct_weights(
        NeuroSketchSD(
            4,
            3,
            40,
            depths=(1, 1, 1, 1),
            stage_widths=((16, 16), (16, 32), (32, 32), (32, 48)),
            stem_channels=(8, 8, 8),
            head_dim=8,
            drop_prob=0.0,
        )
    )
    x = torch.randn(3, 4, 40)
    with torch.inference_mode():
        fused_model = fuse_batchnorm(model)
        assert all(isinstance(b.mlp_norm, nn.Identity) for b in fused_model.blocks)
        _assert_rel(fused_model(x), model(x), RTOL)


@pytest.mark.parametrize("name", ["EEGNet", "ShallowFBCSPNet", "Deep4Net"])
def test_fuse_braindecode_models(name):
    from braindecode.models import Deep4Net, EEGNet, ShallowFBCSPNet

    cls = {"EEGNet": EEGNet, "ShallowFBCSPNet": ShallowFBCSPNet, "Deep4Net": Deep4Net}[
        name
    ]
    torch.manual_seed(0)
    model = distinct_weights(cls(n_chans=4, n_outputs=2, n_times=500))
    x = torch.randn(3, 4, 500)
    with torch.inference_mode():
        _assert_rel(optimize_for_inference(model)(x), model(x), RTOL)


def test_fused_model_is_inference_only():
    model = _small_neurosketch().train()
    fused = fuse_batchnorm(model)
    assert not fused.training and model.training
    assert not any(p.requires_grad for p in fused.parameters())
    same = fuse_batchnorm(model, inplace=True)
    assert same is model


def test_predict_logits_batches(rng):
    model = _small_neurosketch()
    X = rng.standard_normal((7, 5, 61)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(X)).numpy()
    out = predict_logits(optimize_for_inference(model), X, batch_size=3)
    assert out.shape == (7, 3)
    _assert_rel(out, expected, RTOL)
    with pytest.raises(ValueError, match="n_trials, n_chans, n_times"):
        predict_logits(model, X[0])
    with pytest.raises(ValueError, match="batch_size"):
        predict_logits(model, X, batch_size=0)


def test_onnx_matches_eager(tmp_path, rng):
    model = _small_neurosketch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = export_onnx(model, tmp_path / "model.onnx")
    session = OnnxModel(path, n_threads=1)
    X = rng.standard_normal((4, 5, 61)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(X)).numpy()
    _assert_rel(session(X), expected, RTOL)
    # the batch axis is dynamic: one trial at a time gives the same rows
    rows = np.concatenate([session(x[None]) for x in X])
    _assert_rel(rows, expected, RTOL)
    with pytest.raises(FileNotFoundError, match="export_onnx"):
        OnnxModel(tmp_path / "missing.onnx")


def test_online_predictor(rng):
    model = _small_neurosketch()
    online = OnlinePredictor(model, classes=["a", "b", "c"])
    trials = rng.standard_normal((4, 5, 61)).astype(np.float32)
    with torch.inference_mode():
        logits = model(torch.from_numpy(trials)).numpy()
    rows = []
    for trial, row in zip(trials, logits):
        proba = online.predict_proba(trial)
        assert proba.shape == (3,) and abs(proba.sum() - 1) < 1e-9
        assert online.predict(trial) == ["a", "b", "c"][int(np.argmax(row))]
        rows.append(online.decision_function(trial))
    _assert_rel(np.stack(rows), logits, RTOL)
    assert len(online.latencies_) == 12

    # streaming: the window is the latest n_times samples pushed
    stream = rng.standard_normal((5, 100)).astype(np.float32)
    assert not online.ready
    with pytest.raises(RuntimeError, match="push more samples"):
        online.predict()
    online.push(stream[:, :30])
    online.push(stream[:, 30:])
    assert online.ready
    before = online.decision_function()
    online.push(np.empty((5, 0), dtype=np.float32))  # an empty read: no-op
    online.push(stream[:, :0])
    np.testing.assert_array_equal(online.decision_function(), before)
    assert (
        _rel(online.decision_function(), online.decision_function(stream[:, -61:])) < 1e-6
    )

    with pytest.raises(ValueError, match=r"shape \(n_chans, n_times\)"):
        online.predict(trials[0, :, :50])
    bad = trials[0].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        online.predict(bad)
    with pytest.raises(ValueError, match="n_chans=5"):
        online.push(stream[:3])
    with pytest.raises(ValueError, match="outputs"):
        OnlinePredictor(model, classes=["a", "b"])


def _loss(logits, target):
    return F.binary_cross_entropy_with_logits(logits, target)


def _data(n=8, n_chans=5, n_times=61, n_outputs=3, device="cpu"):
    g = torch.Generator().manual_seed(1)
    X = torch.randn(n, n_chans, n_times, generator=g)
    y = F.one_hot(torch.randint(0, n_outputs, (n,), generator=g), n_outputs).float()
    return X.to(device), y.to(device)


def test_train_step_equals_plain_step():
    X, y = _data()
    model_a = _small_neurosketch(drop_prob=0.0).train()
    model_b = _small_neurosketch(drop_prob=0.0).train()
    # the recipe: decay the weights, not the biases and normalisation parameters
    params = list(model_a.parameters())
    opt_a = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim > 1], "weight_decay": 0.05},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=1e-3,
    )
    step = TrainStep(model_b, _loss, make_adamw(model_b, lr=1e-3), channels_last=True)
    for _ in range(2):
        opt_a.zero_grad()
        loss_a = _loss(model_a(X), y)
        loss_a.backward()
        opt_a.step()
        loss_b = step(X, y)
        assert abs(loss_a.item() - loss_b.item()) < 1e-5
    for (name, pa), pb in zip(model_a.named_parameters(), model_b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-6, msg=name)
    # parameter names are unchanged (the state dict stays loadable)
    assert model_a.state_dict().keys() == model_b.state_dict().keys()
    step.set_lr(1e-4)
    assert step.optimizer.param_groups[0]["lr"] == 1e-4
    with pytest.raises(ValueError, match="CUDA"):
        TrainStep(model_b, _loss, opt_a, cuda_graph=True)


def test_device_batches():
    X, y = _data(n=10)
    batches = DeviceBatches(
        X, y, batch_size=4, generator=torch.Generator().manual_seed(0)
    )
    assert len(batches) == 3
    seen = torch.cat([xb for xb, _ in batches])
    assert seen.shape == X.shape
    # every trial exactly once, with its own target
    order = [int(torch.nonzero((X == row).all(dim=(1, 2)))[0]) for row in seen]
    assert sorted(order) == list(range(10))
    assert len(DeviceBatches(X, y, batch_size=4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="different lengths"):
        DeviceBatches(X, y[:3], batch_size=4)


# ---------------------------------------------------------------- GPU ----
# (TF32 is off in every gpu test: tests/conftest.py)
class _CountingGraph:
    """A recorded CUDA graph that counts its replays."""

    def __init__(self, graph):
        self.graph, self.replays = graph, 0

    def replay(self):
        self.replays += 1
        self.graph.replay()


@pytest.mark.gpu
@needs_reference
@pytest.mark.parametrize("path", REFERENCE_FILES, ids=lambda p: p.stem)
def test_gpu_inference_matches_reference(path):
    model, d = _load_reference(path)
    fast = optimize_for_inference(model.cuda())
    with torch.inference_mode():
        out = fast(d["input"].cuda()).cpu()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out_bf16 = fast(d["input"].cuda()).float().cpu()
    _assert_rel(out, d["logits_float64"], RTOL)
    _assert_rel(out_bf16, d["logits_float64"], BF16_RTOL)


@pytest.mark.gpu
@pytest.mark.parametrize("compile", [False, True])
def test_gpu_cuda_graph_step_matches_eager(compile):
    X, y = _data(n=16, device="cuda")
    ref = _small_neurosketch(drop_prob=0.0).cuda().train()
    fast = _small_neurosketch(drop_prob=0.0).cuda().train()
    ref_step = TrainStep(ref, _loss, make_adamw(ref))
    step = TrainStep(
        fast,
        _loss,
        make_adamw(fast, cuda_graph=True),
        channels_last=True,
        compile=compile,
        cuda_graph=True,
    )
    for i in range(3):
        xb, yb = X[i % 2 * 8 : (i % 2 + 1) * 8], y[i % 2 * 8 : (i % 2 + 1) * 8]
        loss_ref, loss = ref_step(xb, yb), step(xb, yb)
        # the capture's warm-up steps were undone: both start from the same state
        assert abs(loss_ref.item() - loss.item()) < 1e-4
        # the graph ran: the batch went into its static input, the loss out of it
        assert isinstance(step._graph, (torch.cuda.CUDAGraph, _CountingGraph))
        assert torch.equal(step._static[0], xb) and torch.equal(step._static[1], yb)
        assert torch.equal(loss, step._static_loss)
        if i == 0:  # captured (and replayed once) by the first call
            step._graph = _CountingGraph(step._graph)
    assert step._graph.replays == 2  # the later calls replayed it
    for (name, pa), pb in zip(ref.named_parameters(), fast.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-3, atol=1e-5, msg=name)
    # a batch of another shape takes the ordinary path: no replay, no copy
    assert torch.isfinite(step(X[:5], y[:5]))
    assert step._graph.replays == 2 and torch.equal(step._static[0], X[:8])
    step.set_lr(1e-5)
    assert float(step.optimizer.param_groups[0]["lr"]) == pytest.approx(1e-5)


@pytest.mark.gpu
def test_gpu_bf16_step_trains():
    X, y = _data(n=16, device="cuda")
    model = _small_neurosketch(drop_prob=0.0).cuda().train()
    step = TrainStep(
        model,
        _loss,
        make_adamw(model, lr=3e-3, cuda_graph=True),
        amp_dtype=torch.bfloat16,
        channels_last=True,
        cuda_graph=True,
    )
    losses = [step(X, y).item() for _ in range(30)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert isinstance(step._graph, torch.cuda.CUDAGraph)  # recorded, then replayed
    assert losses[-1] == step._static_loss.item()


def test_old_import_path_warns_and_works():
    # models.optimize moved to inference/training: the old path still works
    with pytest.warns(FutureWarning, match="mne_neurosketch.inference.fuse_batchnorm"):
        from mne_neurosketch.models.optimize import fuse_batchnorm as old
    assert old is fuse_batchnorm
    with pytest.warns(FutureWarning, match="mne_neurosketch.training.TrainStep"):
        from mne_neurosketch.models.optimize import TrainStep as old_step
    assert old_step is TrainStep
    import mne_neurosketch.models.optimize as shim

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        shim.nope  # noqa: B018
