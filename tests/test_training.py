"""The training engine: the recipe's optimizer groups, schedule and step."""

import pytest
import torch
from _outputs import assert_trials_differ, distinct_weights
from torch.nn import functional as F

from mne_neurosketch import NeuroSketch
from mne_neurosketch.training import (
    TrainStep,
    WarmupCosineSchedule,
    make_adamw,
    recipe_param_groups,
)

SMALL = dict(widths=(8, 8, 12, 16), depths=(1, 1, 1, 1), stem_channels=(8, 8, 8),
             drop_prob=0.0)


def _model(**kwargs):
    torch.manual_seed(0)
    return NeuroSketch(n_chans=5, n_outputs=3, n_times=61, **SMALL, **kwargs)


def _batch(n=8):
    g = torch.Generator().manual_seed(1)
    X = torch.randn(n, 5, 61, generator=g)
    y = F.one_hot(torch.arange(n) % 3, 3).float()
    return X, y


def test_groups_exclude_biases_and_norms():
    model = _model()
    groups = recipe_param_groups(model.named_parameters(), weight_decay=0.05)
    decay, no_decay = groups
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"])
    ids = {id(p) for p in no_decay["params"]}
    # every bias and every normalisation weight is in the group without decay
    norm_types = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.LayerNorm)
    norms = [m for m in model.modules() if isinstance(m, norm_types)]
    assert norms
    for norm in norms:
        assert id(norm.weight) in ids and id(norm.bias) in ids
    biases = [p for n, p in model.named_parameters() if n.endswith(".bias")]
    assert biases and all(id(p) in ids for p in biases)
    # each parameter exactly once
    n_grouped = sum(len(g["params"]) for g in groups)
    assert n_grouped == len(list(model.parameters()))


def test_groups_scale_the_body_lr():
    model = _model()
    groups = recipe_param_groups(
        model.named_parameters(), weight_decay=0.1, lr=1e-3, body_lr_scale=0.1,
        is_head=lambda name: name.startswith("final_layer"))
    body = [g for g in groups if g.get("lr") == pytest.approx(1e-4)]
    head = [g for g in groups if "lr" not in g]
    head_ids = {id(p) for g in head for p in g["params"]}
    assert body and head
    assert head_ids == {id(p) for n, p in model.named_parameters()
                        if n.startswith("final_layer")}
    with pytest.raises(ValueError, match="needs lr"):
        recipe_param_groups(model.named_parameters(), weight_decay=0.1,
                            body_lr_scale=0.5)
    # make_adamw uses the same groups
    opt = make_adamw(model, weight_decay=0.05)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]


def test_schedule_warms_up_then_decays():
    schedule = WarmupCosineSchedule(100, warmup_ratio=0.1)
    factors = [schedule(s) for s in range(101)]
    assert factors[0] == 0.0 and factors[10] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(factors[:10], factors[1:11]))  # linear warm-up
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))  # cosine decay
    assert factors[55] == pytest.approx(0.5, abs=1e-6)  # half-way through the decay
    assert factors[100] == pytest.approx(0.0, abs=1e-12)


def test_step_decreases_loss_and_clips():
    X, y = _batch()
    model = _model().train()
    step = TrainStep(model, F.binary_cross_entropy_with_logits,
                     make_adamw(model, lr=1e-2), max_grad_norm=1e-3)
    losses = [step(X, y).item() for _ in range(5)]
    assert losses[-1] < 0.9 * losses[0]
    # gradients are clipped before the update (they stay on the parameters)
    norm = torch.linalg.vector_norm(
        torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]))
    assert norm <= 1e-3 * (1 + 1e-4)


def test_step_augments_each_batch():
    X, y = _batch()
    model = distinct_weights(_model()).train()  # its logits depend on the input
    seen = []

    def flip(xb, yb):
        seen.append(xb.shape)
        return -xb, yb

    step = TrainStep(model, F.binary_cross_entropy_with_logits, make_adamw(model),
                     augmentation=[flip])
    loss, logits = step.forward_backward(X, y)
    assert seen == [X.shape]
    with torch.no_grad():  # the logits are those of the augmented batch
        flipped, plain = model(-X), model(X)
    assert_trials_differ(flipped.numpy(), 1e-4 * float(flipped.abs().max()))
    torch.testing.assert_close(logits, flipped, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(logits, plain, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="augmentation"):
        TrainStep(model, F.binary_cross_entropy_with_logits, make_adamw(model),
                  augmentation=[flip], cuda_graph=True)
