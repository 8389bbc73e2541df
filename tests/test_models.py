"""NeuroSketch models: fidelity to the original implementation and input handling."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mne_neurosketch.models import (
    NeuroSketch,
    NeuroSketchSD,
    convert_reference_state_dict,
    from_reference,
)
from mne_neurosketch.models._modules import fold_time

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
REFERENCE_FILES = sorted(REFERENCE.glob("*.pt")) if REFERENCE.is_dir() else []
needs_reference = pytest.mark.skipif(
    not REFERENCE_FILES, reason="shared/reference is not beside the checkout"
)
# The tiny configuration used where only behaviour, not size, matters.
TINY = dict(depths=(1, 1, 1, 1), widths=(8, 8, 8, 8), head_dim=4, stem_channels=(4, 4, 4))


def _load(path):
    return torch.load(path, weights_only=True)


def _rel_l2(a, b):
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm())


@needs_reference
@pytest.mark.parametrize("path", REFERENCE_FILES, ids=lambda p: p.stem)
def test_from_reference_reproduces_logits(path):
    ref = _load(path)
    model = from_reference(
        ref["config"],
        ref["state_dict"],
        n_chans=ref["n_chans"],
        n_times=ref["n_times"],
        n_outputs=ref["n_outputs"],
    )
    assert not model.training
    expected_cls = NeuroSketchSD if ref["variant"] == "sd" else NeuroSketch
    assert type(model) is expected_cls
    with torch.no_grad():
        logits = model(ref["input"])
    assert logits.shape == ref["logits_float64"].shape
    assert _rel_l2(logits, ref["logits_float64"]) < 1e-4
    # float64 evaluation of the same weights is exact to rounding.
    with torch.no_grad():
        logits64 = model.double()(ref["input"].double())
    assert _rel_l2(logits64, ref["logits_float64"]) < 1e-6


@needs_reference
@pytest.mark.parametrize("path", REFERENCE_FILES, ids=lambda p: p.stem)
def test_reference_parameter_count(path):
    ref = _load(path)
    model = from_reference(
        ref["config"],
        ref["state_dict"],
        n_chans=ref["n_chans"],
        n_times=ref["n_times"],
        n_outputs=ref["n_outputs"],
    )
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params + _unused_bn_params(model) == ref["n_params"]


def _unused_bn_params(model):
    """Parameters of the per-block BatchNorm that Base/Large never use."""
    if isinstance(model, NeuroSketchSD):
        return 0
    return sum(2 * width * depth for width, depth in zip(model.widths, model.depths))


@needs_reference
def test_full_size_parameter_counts():
    counts = json.loads((REFERENCE / "param_counts.json").read_text())
    for key, expected in counts.items():
        variant, n_cls = key.split("_")
        n_outputs = int(n_cls.removesuffix("cls"))
        if variant == "sd":
            model = NeuroSketchSD(n_chans=4, n_times=64, n_outputs=n_outputs)
        else:
            model = NeuroSketch(
                n_chans=4, n_times=64, n_outputs=n_outputs, preset=variant
            )
        n_params = sum(p.numel() for p in model.parameters())
        assert n_params + _unused_bn_params(model) == expected, key


def test_fold_time_layout():
    # Independent construction: row c * seg + k, column j holds x[c, j * seg + k].
    n_chans, n_times, seg = 3, 8, 3
    x = torch.arange(2 * n_chans * n_times, dtype=torch.float32).reshape(
        2, n_chans, n_times
    )
    img = fold_time(x, seg)
    n_seg = -(-n_times // seg)
    assert img.shape == (2, 1, n_chans * seg, n_seg)
    padded = np.zeros((2, n_chans, n_seg * seg), np.float32)
    padded[:, :, :n_times] = x.numpy()
    for c in range(n_chans):
        for k in range(seg):
            for j in range(n_seg):
                np.testing.assert_array_equal(
                    img[:, 0, c * seg + k, j].numpy(), padded[:, c, j * seg + k]
                )
    assert fold_time(x, 1).shape == (2, 1, n_chans, n_times)


@needs_reference
def test_from_reference_rejects_bad_input():
    ref = _load(REFERENCE / "base_10ch_301t_5cls.pt")
    sizes = dict(
        n_chans=ref["n_chans"], n_times=ref["n_times"], n_outputs=ref["n_outputs"]
    )
    with pytest.raises(ValueError, match="Unknown key.*'stage5_depth'"):
        from_reference({**ref["config"], "stage5_depth": 2}, ref["state_dict"], **sizes)
    extra = dict(ref["state_dict"], **{"encoder.extra.weight": torch.zeros(1)})
    with pytest.raises(KeyError, match="encoder.extra.weight"):
        from_reference(ref["config"], extra, **sizes)
    missing = {k: v for k, v in ref["state_dict"].items() if k != "fc.bias"}
    with pytest.raises(KeyError, match="final_layer.bias"):
        from_reference(ref["config"], missing, **sizes)
    with pytest.raises(ValueError, match="Shape mismatch for 'final_layer.weight'"):
        from_reference(ref["config"], ref["state_dict"], **{**sizes, "n_outputs": 9})
    with pytest.raises(TypeError, match="config must be a mapping"):
        from_reference([("seg_dim", 3)], ref["state_dict"], **sizes)


@needs_reference
def test_unused_block_norm_is_ignored_only_for_base():
    ref = _load(REFERENCE / "base_10ch_301t_5cls.pt")
    converted = convert_reference_state_dict(ref["state_dict"], sd=False)
    block_norm = [
        k for k in ref["state_dict"] if re.match(r"encoder\.features\.\d+\.norm\.", k)
    ]
    n_blocks = sum(ref["config"][f"stage{i}_depth"] for i in range(1, 5))
    # weight, bias, running_mean, running_var, num_batches_tracked per block
    assert len(block_norm) == 5 * n_blocks
    assert len(ref["state_dict"]) - len(converted) == len(block_norm) > 0
    assert not any("mlp_norm" in k for k in converted)


@pytest.mark.parametrize(
    "n_chans, n_times", [(2, 1), (2, 10), (7, 301), (64, 400), (256, 50)]
)
@pytest.mark.parametrize("cls", [NeuroSketch, NeuroSketchSD])
def test_any_input_size(cls, n_chans, n_times):
    kwargs = (
        TINY
        if cls is NeuroSketch
        else dict(
            depths=(1, 1, 1, 1),
            stage_widths=((16, 16),) * 4,
            stem_channels=(4, 4, 4),
            head_dim=8,
        )
    )
    model = cls(n_chans=n_chans, n_times=n_times, n_outputs=3, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.randn(2, n_chans, n_times))
    assert out.shape == (2, 3)
    assert torch.isfinite(out).all()


def test_presets_and_overrides():
    base = NeuroSketch(n_chans=4, n_times=100, n_outputs=2)
    large = NeuroSketch(n_chans=4, n_times=100, n_outputs=2, preset="large")
    assert base.depths == (2, 2, 2, 2) and base.widths == (96, 128, 160, 192)
    assert large.depths == (3, 3, 3, 3) and large.widths == (96, 144, 256, 384)
    assert len(large.blocks) == 12
    custom = NeuroSketch(
        n_chans=4, n_times=100, n_outputs=2, preset="large", depths=(1, 1, 1, 1)
    )
    assert custom.widths == large.widths and len(custom.blocks) == 4
    # Stage 2's first three blocks stride, as in the reference.
    strides = [
        b.downsample.conv.stride[0] if hasattr(b.downsample, "conv") else 1
        for b in large.blocks
    ]
    assert strides == [1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1]
    # Drop-path rates rise linearly from 0 to drop_prob.
    rates = [b.drop_path.drop_prob for b in large.blocks]
    np.testing.assert_allclose(rates, np.linspace(0, 0.2, 12), atol=1e-7)
    for pooling, layer in [("max", nn.AdaptiveMaxPool2d), ("avg", nn.AdaptiveAvgPool2d)]:
        m = NeuroSketch(n_chans=4, n_times=100, n_outputs=2, pooling=pooling, **TINY)
        assert isinstance(m.pool[0], layer)
        assert m(torch.randn(2, 4, 100)).shape == (2, 2)
    plain = NeuroSketch(n_chans=4, n_times=100, n_outputs=2, residual=False, **TINY)
    assert plain(torch.randn(2, 4, 100)).shape == (2, 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="'preset' parameter.*'huge'"):
        NeuroSketch(n_chans=4, n_times=100, n_outputs=2, preset="huge")
    with pytest.raises(ValueError, match="'pooling' parameter"):
        NeuroSketch(n_chans=4, n_times=100, n_outputs=2, pooling="median")
    with pytest.raises(ValueError, match="divisible by head_dim=4.*\\[10\\]"):
        NeuroSketch(n_chans=4, n_times=100, n_outputs=2, widths=(8, 8, 8, 10))
    with pytest.raises(ValueError, match="4 entries"):
        NeuroSketch(n_chans=4, n_times=100, n_outputs=2, depths=(1, 1, 1))
    with pytest.raises(ValueError, match="n_outputs"):
        NeuroSketch(n_chans=4, n_times=100)


def test_bad_forward_input():
    model = NeuroSketch(n_chans=4, n_times=100, n_outputs=2, **TINY)
    with pytest.raises(ValueError, match="3 dimensions|got a tensor with 2 dimensions"):
        model(torch.randn(4, 100))
    with pytest.raises(ValueError, match="n_chans=4 but got input with 5 channels"):
        model(torch.randn(2, 5, 100))


def test_nan_input_propagates():
    # Documented behaviour: forward does not scan for NaN (it would cost a
    # device sync per batch); the estimator validates its input instead.
    model = NeuroSketch(n_chans=4, n_times=100, n_outputs=2, **TINY).eval()
    x = torch.randn(1, 4, 100)
    x[0, 0, 0] = float("nan")
    assert torch.isnan(model(x)).any()
