"""Each part of the NeuroSketch recipe, tested for its effect on a batch."""

import numpy as np
import pytest
import torch
from braindecode.augmentation import AugmentedDataLoader, ChannelsDropout
from braindecode.augmentation import Mixup as BraindecodeMixup
from braindecode.augmentation.functional import mixup as mixup_loop
from torch.utils.data import TensorDataset

from mne_neurosketch.augmentation import (
    ChannelMasking,
    Mixup,
    OneHotBCEWithLogitsLoss,
    RandomShift,
    RecipeAugmentation,
    SNRNoise,
    TimeMasking,
    WarmupCosineSchedule,
    make_recipe_transforms,
)


def _batch(n=16, n_chans=5, n_times=100, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, n_chans, n_times, generator=gen)
    y = torch.arange(n) % 3
    return X, y


def _find_shift(orig, shifted):
    """The shift k such that shifted == orig delayed by k, zero filled."""
    n_times = orig.shape[-1]
    for k in range(-n_times + 1, n_times):
        expected = torch.zeros_like(orig)
        if k >= 0:
            expected[..., k:] = orig[..., : n_times - k]
        else:
            expected[..., :k] = orig[..., -k:]
        if torch.equal(expected, shifted):
            return k
    return None


def test_random_shift_zero_fills_within_20_percent():
    X, y = _batch(n_times=50)
    shifts = set()
    for seed in range(40):
        Xs, ys = RandomShift(1.0, 0.2, random_state=seed)(X, y)
        k = _find_shift(X, Xs)
        assert k is not None, "output is not a zero-filled time shift of the input"
        assert abs(k) <= 10  # int(0.2 * 50)
        assert torch.equal(ys, y)
        shifts.add(k)
    assert min(shifts) < 0 < max(shifts)  # both directions occur


def test_random_shift_in_samples_and_probability():
    X, y = _batch(n_times=50)
    for seed in range(20):
        k = _find_shift(X, RandomShift(1.0, 3, random_state=seed)(X, y)[0])
        assert abs(k) <= 3
    assert torch.equal(RandomShift(0.0, random_state=0)(X, y)[0], X)
    with pytest.raises(ValueError, match="max_shift"):
        RandomShift(0.5, 1.5)


def test_batch_wise_decision_applies_to_all_or_none():
    X, y = _batch(n=32)
    n_applied = 0
    for seed in range(60):
        Xm = SNRNoise(0.5, random_state=seed)(X, y)[0]  # changes every trial
        changed = (Xm != X).flatten(1).any(1)
        assert changed.all() or not changed.any()
        n_applied += int(changed.all())
    assert 15 <= n_applied <= 45  # about half of the batches
    # per-trial decisions (braindecode's default) mix both in one batch
    Xm = SNRNoise(0.5, batch_wise=False, random_state=0)(X, y)[0]
    changed = (Xm != X).flatten(1).any(1)
    assert changed.any() and not changed.all()


def test_snr_noise_has_the_requested_snr():
    X, y = _batch(n=64, n_chans=4, n_times=5000)
    X = X * torch.linspace(0.1, 10, 64).view(-1, 1, 1)  # SNR is per-trial relative
    Xn, _ = SNRNoise(1.0, (15.0, 30.0), random_state=0)(X, y)
    noise = Xn - X
    snr = 20 * torch.log10(X.std(dim=(1, 2)) / noise.std(dim=(1, 2)))
    assert snr.min() > 14.8 and snr.max() < 30.2
    assert snr.max() - snr.min() > 8  # drawn over the range, not fixed
    # fixed SNR
    Xn, _ = SNRNoise(1.0, (20.0, 20.0), random_state=1)(X, y)
    snr = 20 * torch.log10(X.std(dim=(1, 2)) / (Xn - X).std(dim=(1, 2)))
    np.testing.assert_allclose(snr.numpy(), 20.0, atol=0.2)


def test_channel_masking_zeroes_whole_channels():
    X, y = _batch(n=200, n_chans=10, n_times=20)
    Xm, _ = ChannelMasking(1.0, 0.2, random_state=0)(X, y)
    zero = (Xm == 0).all(-1)
    kept = (Xm == X).all(-1)
    assert (zero | kept).all()  # a hard mask: channels are zeroed or untouched
    assert 0.16 < zero.float().mean() < 0.24  # 20 % of 2000 channels
    assert isinstance(ChannelMasking(0.5), ChannelsDropout)  # braindecode's transform


def test_time_masking_spans():
    X, y = _batch(n=100, n_chans=3, n_times=300)
    Xm, _ = TimeMasking(1.0, n_masks=4, max_len=50, random_state=0)(X, y)
    masked = (Xm == 0).all(1)  # (batch, time), same on every channel
    assert torch.equal((Xm == 0).any(1), masked)
    assert torch.equal(Xm[~masked.unsqueeze(1).expand_as(X)], X[~masked.unsqueeze(1)
                                                                 .expand_as(X)])
    n_masked = masked.sum(1)
    assert n_masked.max() <= 4 * 49
    assert n_masked.float().mean() > 40  # about 4 x 24.5 minus overlaps
    # count spans: each trial has at most 4 runs of masked samples
    starts = (masked[:, 1:] & ~masked[:, :-1]).sum(1) + masked[:, 0].long()
    assert starts.max() <= 4
    lengths = []
    for row in masked:
        run = 0
        for v in row.tolist() + [False]:
            if v:
                run += 1
            elif run:
                lengths.append(run)
                run = 0
    assert max(lengths) <= 4 * 49  # overlapping spans merge


def test_mixup_is_a_convex_combination_of_inputs_and_targets():
    n = 12
    X = torch.arange(n, dtype=torch.float32).view(n, 1, 1).expand(n, 2, 5).clone()
    y = torch.arange(n)  # trial i has label i and constant value i
    Xm, (y_a, y_b, lam) = Mixup(alpha=0.5, probability=1.0, random_state=0)(X, y)
    assert torch.equal(y_a, y)
    assert sorted(y_b.tolist()) == list(range(n))  # a permutation of the batch
    assert ((lam >= 0) & (lam <= 1)).all() and torch.unique(lam).numel() == 1
    expected = lam.view(-1, 1, 1) * X + (1 - lam.view(-1, 1, 1)) * X[y_b]
    torch.testing.assert_close(Xm, expected)
    # the loss sees the same convex combination of one-hot targets
    from mne_neurosketch.training import _soft_targets

    soft = _soft_targets((y_a, y_b, lam), n, torch.float32)
    torch.testing.assert_close(soft.sum(1), torch.ones(n))
    for i in range(n):
        if y_b[i] != i:
            assert soft[i, i] == pytest.approx(lam[i].item())
            assert soft[i, y_b[i]] == pytest.approx(1 - lam[i].item())
    # the value in each mixed trial encodes the same pair and weight
    torch.testing.assert_close(Xm[:, 0, 0], soft @ torch.arange(n, dtype=torch.float32))


def test_mixup_probability_and_braindecode_equivalence():
    X, y = _batch(n=8)
    n_mixed = 0
    mix = Mixup(0.5, probability=0.5, random_state=0)
    for _ in range(200):
        Xm, (_, _, lam) = mix(X, y)
        if (lam < 1).any():
            n_mixed += 1
        else:
            assert torch.equal(Xm, X)
    assert 70 < n_mixed < 130
    # braindecode's Mixup draws the parameters; our vectorised op gives the
    # same result as its loop-based one
    params = BraindecodeMixup(0.5, random_state=3).get_augmentation_params(X, y)
    Xo, yo = Mixup.operation(X, y, **params)
    Xt, yt = mixup_loop(X, y, **params)
    torch.testing.assert_close(Xo, Xt)
    for a, b in zip(yo, yt):
        torch.testing.assert_close(a, b)


def test_onehot_bce_matches_mixed_targets():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, generator=gen)
    y_a, y_b = torch.tensor([0, 1, 2, 3, 0, 1]), torch.tensor([1, 1, 0, 2, 3, 3])
    lam = torch.full((6,), 0.3)
    loss = OneHotBCEWithLogitsLoss()
    soft = 0.3 * torch.nn.functional.one_hot(y_a, 4) + 0.7 * torch.nn.functional.one_hot(
        y_b, 4)
    expected = torch.nn.BCEWithLogitsLoss()(logits, soft.float())
    torch.testing.assert_close(loss(logits, (y_a, y_b, lam)), expected)
    torch.testing.assert_close(
        loss(logits, y_a),
        torch.nn.BCEWithLogitsLoss()(logits, torch.nn.functional.one_hot(y_a, 4).float()),
    )


def test_warmup_cosine_schedule_values():
    sched = WarmupCosineSchedule(total_steps=100, warmup_ratio=0.1)
    assert sched.n_warmup == 10
    assert sched(0) == 0.0
    assert sched(5) == pytest.approx(0.5)
    assert sched(10) == pytest.approx(1.0)
    assert sched(55) == pytest.approx(0.5)
    assert sched(100) == pytest.approx(0.0, abs=1e-12)
    values = [sched(s) for s in range(101)]
    assert np.all(np.diff(values[:11]) > 0) and np.all(np.diff(values[10:]) < 0)
    # inside torch's LambdaLR, stepped per batch
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=1e-3)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, sched)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        lr_sched.step()
    assert lrs[0] == 0.0 and lrs[10] == pytest.approx(1e-3)
    assert lrs[99] < 1e-6
    with pytest.raises(ValueError, match="total_steps"):
        WarmupCosineSchedule(0)


def test_recipe_order_switches_and_seeding():
    recipe = make_recipe_transforms(random_state=0)
    assert [type(t) for t in recipe] == [RandomShift, SNRNoise, ChannelMasking,
                                        TimeMasking, Mixup]
    assert [t.probability for t in recipe] == [0.5, 0.1, 0.5, 0.5, 0.5]
    assert make_recipe_transforms(shift_p=0, noise_p=0, channel_mask_p=0,
                                  time_mask_p=0, mixup_p=0) == []

    def run(seed):
        X, y = _batch(n=8)
        for t in make_recipe_transforms(random_state=seed, shift_p=1, channel_mask_p=1):
            X, y = t(X, y)
        return X

    torch.testing.assert_close(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_recipe_augmentation_object():
    """The recipe's values live in RecipeAugmentation; the transforms default to them."""
    recipe = RecipeAugmentation(time_mask_n=2, noise_snr=(20.0, 20.0))
    parts = recipe.make_transforms(random_state=3)
    X, y = _batch(n=8)
    for mine, theirs in zip(parts, make_recipe_transforms(
            random_state=3, time_mask_n=2, noise_snr=(20.0, 20.0))):
        torch.testing.assert_close(mine(X, y)[0], theirs(X, y)[0])
    assert parts[3].n_masks == 2 and parts[1].snr_db == (20.0, 20.0)
    values = RecipeAugmentation().get_params()
    assert (RandomShift(1.0).max_shift, SNRNoise(1.0).snr_db, ChannelMasking(1.0).p_drop,
            TimeMasking(1.0).n_masks, TimeMasking(1.0).max_len, Mixup().alpha,
            Mixup().probability) == (
        values["shift_max"], values["noise_snr"], values["channel_mask_ratio"],
        values["time_mask_n"], values["time_mask_len"], values["mixup_alpha"],
        values["mixup_p"])
    flip = [RandomShift(1.0, 3)]  # input transforms replace shift, noise, masking
    assert [type(t) for t in recipe.make_transforms(0, inputs=flip)] == [RandomShift,
                                                                       Mixup]
    with pytest.raises(TypeError, match="positional argument"):
        RecipeAugmentation(0.5)  # keyword-only, as its fields are named parameters


def test_recipe_in_braindecode_augmented_dataloader():
    X, y = _batch(n=16)
    loader = AugmentedDataLoader(
        TensorDataset(X, y),
        transforms=make_recipe_transforms(mixup_p=1.0, random_state=0),
        batch_size=8,
    )
    batches = list(loader)
    assert len(batches) == 2
    Xb, (y_a, y_b, lam) = batches[0]
    assert Xb.shape == (8, 5, 100) and y_a.shape == y_b.shape == lam.shape == (8,)
    loss = OneHotBCEWithLogitsLoss()(torch.zeros(8, 3), (y_a, y_b, lam))
    assert torch.isfinite(loss)
