"""The NeuroSketch training recipe as braindecode transforms, loss and schedule.

The reference implementation (Zhang et al. 2025) augments every training
batch with, in this order: a random time shift (p 0.5, up to 20 % of the
window), additive Gaussian noise at 15-30 dB SNR (p 0.1), channel masking
(p 0.5, 20 % of the channels), time masking (p 0.5, 4 masks of up to 50
samples), then mixup (p 0.5, alpha 0.5) on one-hot targets trained with
BCE-with-logits, under AdamW with a linear warm-up over 10 % of the steps and
a cosine decay. The classes here implement each part as a
:class:`braindecode.augmentation.Transform` (reusing
:class:`~braindecode.augmentation.ChannelsDropout` and
:class:`~braindecode.augmentation.Mixup`, which have the same effect), so
they also work with :class:`braindecode.augmentation.AugmentedDataLoader`.

Filter-bank batches ``(batch, n_chans, n_times, n_bands)`` (MOABB's
filter-bank layout) are augmented with one draw for all bands: the bands ride
along the same shift, channel mask and time masks, and the noise keeps the
drawn SNR in every band.
"""

# License: BSD (3-clause)

from __future__ import annotations

import math

import numpy as np
import torch
from braindecode.augmentation import ChannelsDropout, Transform
from braindecode.augmentation import Mixup as _BraindecodeMixup
from torch import nn
from torch.nn import functional as F

__all__ = [
    "ChannelMasking",
    "Mixup",
    "OneHotBCEWithLogitsLoss",
    "RandomShift",
    "SNRNoise",
    "TimeMasking",
    "WarmupCosineSchedule",
    "make_recipe_transforms",
]


class _BatchWiseMixin:
    """Optionally draw one apply/skip decision per batch instead of per trial.

    braindecode transforms decide per trial; the reference decides once per
    batch (one ``random.random() < p`` for the whole batch). A filter-bank
    batch ``(batch, n_chans, n_times, n_bands)`` is augmented as ``(batch,
    n_chans, n_bands, n_times)``, so one draw hits every band alike.
    """

    batch_wise: bool

    def forward(self, X, y=None):
        """Augment ``X`` (a filter bank with the same draw on every band)."""
        if X.ndim != 4:
            return super().forward(X, y)
        out = super().forward(X.movedim(3, 2), y)
        if y is None:
            return out.movedim(2, 3)
        return out[0].movedim(2, 3), out[1]

    def _get_mask(self, batch_size, device):
        if not self.batch_wise:
            return super()._get_mask(batch_size, device)
        apply = bool(self.probability > self.rng.uniform())
        return torch.full((batch_size,), apply, dtype=torch.bool, device=device)


def _torch_generator(rng: np.random.RandomState, device) -> torch.Generator:
    """A torch generator on ``device`` seeded from a numpy ``rng``.

    Noise is drawn on the data's device (no host-to-device copy) yet stays
    reproducible from the transform's ``random_state``.
    """
    seed = int(rng.randint(0, 2**31 - 1))
    return torch.Generator(device=device).manual_seed(seed)


def _check_probability(name, value):
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r} instead.")


# ---------------------------------------------------------------------------
# Random shift
# ---------------------------------------------------------------------------
def random_shift(X, y, n_shift):
    """Shift the time axis by ``n_shift`` samples, filling with zeros.

    Parameters
    ----------
    X : torch.Tensor
        Batch of shape ``(batch, n_chans, n_times)``.
    y : torch.Tensor
        Targets, returned unchanged.
    n_shift : int
        Samples to shift by; positive delays the signal, negative advances it.

    Returns
    -------
    X : torch.Tensor
        The shifted batch.
    y : torch.Tensor
        The targets.
    """
    if n_shift == 0:
        return X, y
    out = torch.zeros_like(X)
    if n_shift > 0:
        out[..., n_shift:] = X[..., :-n_shift]
    else:
        out[..., :n_shift] = X[..., -n_shift:]
    return out, y


class RandomShift(_BatchWiseMixin, Transform):
    """Shift trials in time by a random number of samples, filling with zeros.

    One shift, uniform in ``[-max_shift, max_shift]`` samples, is drawn per
    call (per batch), as in the NeuroSketch reference.

    Parameters
    ----------
    probability : float
        Probability of applying the shift.
    max_shift : float | int, default=0.2
        Largest shift: a float in ``[0, 1)`` is a fraction of the window
        length (``int(max_shift * n_times)`` samples), an int is a number of
        samples.
    batch_wise : bool, default=True
        Draw one apply/skip decision per batch (the reference) instead of one
        per trial (braindecode's default).
    random_state : int | numpy.random.RandomState | None
        Seed or generator.
    """

    operation = staticmethod(random_shift)

    def __init__(self, probability, max_shift=0.2, batch_wise=True, random_state=None):
        _check_probability("probability", probability)
        super().__init__(probability=probability, random_state=random_state)
        if isinstance(max_shift, float) and not 0.0 <= max_shift < 1.0:
            raise ValueError(
                "max_shift must be a fraction in [0, 1) or a number of samples, "
                f"got {max_shift!r} instead."
            )
        self.max_shift = max_shift
        self.batch_wise = batch_wise

    def get_augmentation_params(self, *batch):
        """Draw the shift.

        Parameters
        ----------
        *batch : tuple of torch.Tensor
            ``(X, y)``.

        Returns
        -------
        params : dict
            ``n_shift``, the shift in samples.
        """
        n_times = batch[0].shape[-1]
        if isinstance(self.max_shift, float):
            max_shift = int(self.max_shift * n_times)
        else:
            max_shift = min(int(self.max_shift), n_times - 1)
        return {"n_shift": int(self.rng.randint(-max_shift, max_shift + 1))}


# ---------------------------------------------------------------------------
# Additive noise at a given SNR
# ---------------------------------------------------------------------------
def snr_noise(X, y, snr_db, generator=None):
    """Add white Gaussian noise at a given signal-to-noise ratio per trial.

    The noise standard deviation of trial ``i`` is
    ``std(X[i]) / 10 ** (snr_db[i] / 20)``, the std taken over channels and
    time, so ``snr_db`` is the ratio of the signal and noise amplitudes in dB.

    Parameters
    ----------
    X : torch.Tensor
        Batch of shape ``(batch, n_chans, n_times)``.
    y : torch.Tensor
        Targets, returned unchanged.
    snr_db : torch.Tensor
        SNR in dB of each trial, shape ``(batch,)``.
    generator : torch.Generator | None
        Generator for the noise, on ``X``'s device.

    Returns
    -------
    X : torch.Tensor
        The noisy batch.
    y : torch.Tensor
        The targets.
    """
    # std over channels and time (per band of a filter bank, axis 2 of 4).
    snr = snr_db.view(-1, *([1] * (X.ndim - 1)))
    sigma = X.std(dim=(1, -1), keepdim=True) / 10 ** (snr / 20)
    noise = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)
    return X + noise * sigma, y


class SNRNoise(_BatchWiseMixin, Transform):
    """Add Gaussian noise at a random SNR between ``snr_db[0]`` and ``snr_db[1]``.

    Unlike :class:`braindecode.augmentation.GaussianNoise`, whose noise std is
    fixed, the noise scales with each trial's own standard deviation.

    Parameters
    ----------
    probability : float
        Probability of adding noise.
    snr_db : tuple of float, default=(15.0, 30.0)
        Range of the SNR in dB, drawn uniformly per trial.
    batch_wise : bool, default=True
        Draw one apply/skip decision per batch (the reference) instead of one
        per trial.
    random_state : int | numpy.random.RandomState | None
        Seed or generator.
    """

    operation = staticmethod(snr_noise)

    def __init__(
        self, probability, snr_db=(15.0, 30.0), batch_wise=True, random_state=None
    ):
        _check_probability("probability", probability)
        super().__init__(probability=probability, random_state=random_state)
        lo, hi = snr_db
        if lo > hi:
            raise ValueError(
                f"snr_db must be (low, high) with low <= high, got {snr_db}."
            )
        self.snr_db = (float(lo), float(hi))
        self.batch_wise = batch_wise

    def get_augmentation_params(self, *batch):
        """Draw the SNR of each trial and a generator for the noise.

        Parameters
        ----------
        *batch : tuple of torch.Tensor
            ``(X, y)``.

        Returns
        -------
        params : dict
            ``snr_db`` (tensor of shape ``(batch,)``) and ``generator``.
        """
        X = batch[0]
        snr = self.rng.uniform(self.snr_db[0], self.snr_db[1], size=X.shape[0])
        return {
            "snr_db": torch.as_tensor(snr, dtype=X.dtype, device=X.device),
            "generator": _torch_generator(self.rng, X.device),
        }


# ---------------------------------------------------------------------------
# Channel masking (braindecode's ChannelsDropout with a hard mask)
# ---------------------------------------------------------------------------
def channel_masking(X, y, keep):
    """Zero the channels where ``keep`` is False.

    Parameters
    ----------
    X : torch.Tensor
        Batch of shape ``(batch, n_chans, n_times)``.
    y : torch.Tensor
        Targets, returned unchanged.
    keep : torch.Tensor of bool
        Shape ``(batch, n_chans)``.

    Returns
    -------
    X : torch.Tensor
        The masked batch.
    y : torch.Tensor
        The targets.
    """
    keep = keep.view(*keep.shape, *([1] * (X.ndim - 2)))  # over time (and bands)
    return X * keep.to(X.dtype), y


class ChannelMasking(_BatchWiseMixin, ChannelsDropout):
    """Set each channel to zero with probability ``p_drop``.

    This is :class:`braindecode.augmentation.ChannelsDropout` with a hard 0/1
    mask (braindecode's uses a steep sigmoid, a differentiable relaxation
    that scales channels drawn near ``p_drop`` by values strictly between 0
    and 1) and, by default, one apply/skip decision per batch as in the
    reference.

    Parameters
    ----------
    probability : float
        Probability of masking.
    p_drop : float, default=0.2
        Probability of zeroing each channel of each trial.
    batch_wise : bool, default=True
        Draw one apply/skip decision per batch (the reference) instead of one
        per trial.
    random_state : int | numpy.random.RandomState | None
        Seed or generator.
    """

    operation = staticmethod(channel_masking)

    def __init__(self, probability, p_drop=0.2, batch_wise=True, random_state=None):
        _check_probability("probability", probability)
        _check_probability("p_drop", p_drop)
        super().__init__(
            probability=probability, p_drop=p_drop, random_state=random_state
        )
        self.batch_wise = batch_wise

    def get_augmentation_params(self, *batch):
        """Draw which channels to keep.

        Parameters
        ----------
        *batch : tuple of torch.Tensor
            ``(X, y)``.

        Returns
        -------
        params : dict
            ``keep``, a boolean tensor of shape ``(batch, n_chans)``.
        """
        X = batch[0]
        keep = self.rng.uniform(size=X.shape[:2]) >= self.p_drop
        return {"keep": torch.as_tensor(keep, device=X.device)}


# ---------------------------------------------------------------------------
# Time masking
# ---------------------------------------------------------------------------
def time_masking(X, y, starts, lengths):
    """Zero, on all channels, the spans ``[start, start + length)`` of each trial.

    Parameters
    ----------
    X : torch.Tensor
        Batch of shape ``(batch, n_chans, n_times)``.
    y : torch.Tensor
        Targets, returned unchanged.
    starts, lengths : torch.Tensor of int
        Shape ``(batch, n_masks)``.

    Returns
    -------
    X : torch.Tensor
        The masked batch.
    y : torch.Tensor
        The targets.
    """
    t = torch.arange(X.shape[-1], device=X.device)
    starts, stops = starts.unsqueeze(-1), (starts + lengths).unsqueeze(-1)
    masked = ((t >= starts) & (t < stops)).any(dim=1)  # (batch, n_times)
    keep = (~masked).view(X.shape[0], *([1] * (X.ndim - 2)), X.shape[-1])
    return X * keep.to(X.dtype), y


class TimeMasking(_BatchWiseMixin, Transform):
    """Zero ``n_masks`` random time spans of each trial, on all channels.

    Each span's length is uniform in ``[0, max_len)`` samples and its start
    uniform in ``[0, n_times - length)``, drawn independently per trial, as
    in the reference. (braindecode's
    :class:`~braindecode.augmentation.SmoothTimeMask` masks one span of
    fixed length with smooth edges, a different effect.)

    Parameters
    ----------
    probability : float
        Probability of masking.
    n_masks : int, default=4
        Number of spans per trial.
    max_len : int, default=50
        Exclusive upper bound of a span's length in samples.
    batch_wise : bool, default=True
        Draw one apply/skip decision per batch (the reference) instead of one
        per trial.
    random_state : int | numpy.random.RandomState | None
        Seed or generator.
    """

    operation = staticmethod(time_masking)

    def __init__(self, probability, n_masks=4, max_len=50, batch_wise=True,
                 random_state=None):
        _check_probability("probability", probability)
        super().__init__(probability=probability, random_state=random_state)
        if int(n_masks) < 0 or int(max_len) < 1:
            raise ValueError(
                f"n_masks must be >= 0 and max_len >= 1, got {n_masks} and {max_len}."
            )
        self.n_masks = int(n_masks)
        self.max_len = int(max_len)
        self.batch_wise = batch_wise

    def get_augmentation_params(self, *batch):
        """Draw the spans.

        Parameters
        ----------
        *batch : tuple of torch.Tensor
            ``(X, y)``.

        Returns
        -------
        params : dict
            ``starts`` and ``lengths``, int tensors of shape ``(batch, n_masks)``.
        """
        X = batch[0]
        size = (X.shape[0], self.n_masks)
        lengths = self.rng.randint(0, self.max_len, size=size)
        n_starts = np.maximum(X.shape[-1] - lengths, 1)
        starts = np.floor(self.rng.uniform(size=size) * n_starts).astype(int)
        return {
            "starts": torch.as_tensor(starts, device=X.device),
            "lengths": torch.as_tensor(lengths, device=X.device),
        }


# ---------------------------------------------------------------------------
# Mixup and its loss
# ---------------------------------------------------------------------------
def mixup(X, y, lam, idx_perm):
    """Mix each trial with another one of the batch (vectorised).

    Same result as :func:`braindecode.augmentation.functional.mixup`:
    ``X_mix[i] = lam[i] * X[i] + (1 - lam[i]) * X[idx_perm[i]]``.

    Parameters
    ----------
    X : torch.Tensor
        Batch of shape ``(batch, n_chans, n_times)``.
    y : torch.Tensor
        Integer targets of shape ``(batch,)``.
    lam : torch.Tensor
        Mixing coefficients, shape ``(batch,)``.
    idx_perm : torch.Tensor
        Permutation of the batch.

    Returns
    -------
    X : torch.Tensor
        The mixed batch.
    y : tuple of torch.Tensor
        ``(y, y[idx_perm], lam)``, as braindecode's mixup returns.
    """
    idx_perm = idx_perm.to(X.device)
    lam = lam.to(device=X.device, dtype=X.dtype)
    lam_x = lam.view(-1, *([1] * (X.ndim - 1)))
    X_mix = lam_x * X + (1 - lam_x) * X[idx_perm]
    return X_mix, (y, y[idx_perm], lam)


class Mixup(_BraindecodeMixup):
    """Mixup applied to a batch with probability ``probability``.

    braindecode's :class:`~braindecode.augmentation.Mixup` (one coefficient
    ``lam ~ Beta(alpha, alpha)`` per batch and a random pairing), applied to a
    whole batch with probability ``probability`` as in the reference. The
    targets always come out as the triple ``(y_a, y_b, lam)`` (``lam`` is 1
    when the batch is left unmixed), which
    :class:`OneHotBCEWithLogitsLoss` and
    :func:`braindecode.training.mixup_criterion` accept. Put it last in a
    :class:`~braindecode.augmentation.Compose`.

    Parameters
    ----------
    alpha : float, default=0.5
        Beta distribution parameter.
    probability : float, default=0.5
        Probability of mixing a batch.
    beta_per_sample : bool, default=False
        Draw one coefficient per trial instead of per batch.
    random_state : int | numpy.random.RandomState | None
        Seed or generator.
    """

    operation = staticmethod(mixup)

    def __init__(self, alpha=0.5, probability=0.5, beta_per_sample=False,
                 random_state=None):
        _check_probability("probability", probability)
        super().__init__(alpha=alpha, beta_per_sample=beta_per_sample,
                         random_state=random_state)
        self._probability = probability

    def forward(self, X, y):
        """Mix the batch, or return it with the identity triple.

        Parameters
        ----------
        X : torch.Tensor
            Batch of shape ``(batch, n_chans, n_times)``.
        y : torch.Tensor
            Integer targets of shape ``(batch,)``.

        Returns
        -------
        X : torch.Tensor
            The (possibly mixed) batch.
        y : tuple of torch.Tensor
            ``(y_a, y_b, lam)``.
        """
        y = torch.as_tensor(y, device=X.device)
        if self.probability > self.rng.uniform() and X.shape[0] > 1:
            # The draw needs only the batch size; braindecode's reads a 3-D X.
            params = self.get_augmentation_params(X.flatten(2), y)
            return self.operation(X, y, **params)
        lam = torch.ones(X.shape[0], dtype=X.dtype, device=X.device)
        return X, (y, y, lam)


def _soft_targets(target, n_classes, dtype):
    """Targets as a ``(batch, n_classes)`` float tensor of class weights."""
    if isinstance(target, (tuple, list)):
        y_a, y_b, lam = target
        lam = torch.as_tensor(lam, dtype=dtype).view(-1, 1)
        return lam * _soft_targets(y_a, n_classes, dtype) + (1 - lam) * _soft_targets(
            y_b, n_classes, dtype
        )
    if target.ndim == 2:  # already one-hot or soft
        return target.to(dtype)
    return F.one_hot(target.long(), n_classes).to(dtype)


class OneHotBCEWithLogitsLoss(nn.Module):
    """BCE-with-logits on one-hot targets, mixup-aware.

    The reference trains with :class:`torch.nn.BCEWithLogitsLoss` on one-hot
    (or mixed one-hot) targets, averaged over trials and classes. Targets may
    be integer labels ``(batch,)``, soft targets ``(batch, n_classes)``, or
    the ``(y_a, y_b, lam)`` triple of :class:`Mixup`; since the loss is
    linear in the targets, the triple gives the same value as the mixed
    one-hot targets.
    """

    def forward(self, logits, target):
        """Compute the loss.

        Parameters
        ----------
        logits : torch.Tensor
            Shape ``(batch, n_classes)``.
        target : torch.Tensor | tuple of torch.Tensor
            See the class description.

        Returns
        -------
        loss : torch.Tensor
            Scalar loss.
        """
        logits = logits.float()
        soft = _soft_targets(target, logits.shape[-1], logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, soft.to(logits.device))


# ---------------------------------------------------------------------------
# Learning-rate schedule
# ---------------------------------------------------------------------------
class WarmupCosineSchedule:
    """Linear warm-up then cosine decay, as a ``LambdaLR`` multiplier.

    The multiplier is ``step / n_warmup`` during the first
    ``n_warmup = ceil(warmup_ratio * total_steps)`` steps, then
    ``0.5 * (1 + cos(pi * progress))`` with ``progress`` going from 0 to 1
    over the remaining steps (the Hugging Face ``cosine`` schedule the
    reference trains with). A picklable callable for
    :class:`torch.optim.lr_scheduler.LambdaLR`, stepped once per batch.

    Parameters
    ----------
    total_steps : int
        Number of optimiser steps of the whole training.
    warmup_ratio : float, default=0.1
        Fraction of ``total_steps`` used for the warm-up.
    """

    def __init__(self, total_steps, warmup_ratio=0.1):
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}.")
        _check_probability("warmup_ratio", warmup_ratio)
        self.total_steps = int(total_steps)
        self.warmup_ratio = warmup_ratio
        self.n_warmup = math.ceil(warmup_ratio * total_steps)

    def __call__(self, step):
        """Return the learning-rate multiplier at ``step``.

        Parameters
        ----------
        step : int
            Optimiser steps taken so far.

        Returns
        -------
        factor : float
            Multiplier of the base learning rate.
        """
        if step < self.n_warmup:
            return step / max(1, self.n_warmup)
        progress = (step - self.n_warmup) / max(1, self.total_steps - self.n_warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))

    def __repr__(self):
        return (f"{type(self).__name__}(total_steps={self.total_steps}, "
                f"warmup_ratio={self.warmup_ratio})")


def make_recipe_transforms(
    *,
    shift_p=0.5,
    shift_max=0.2,
    noise_p=0.1,
    noise_snr=(15.0, 30.0),
    channel_mask_p=0.5,
    channel_mask_ratio=0.2,
    time_mask_p=0.5,
    time_mask_n=4,
    time_mask_len=50,
    mixup_p=0.5,
    mixup_alpha=0.5,
    transforms=None,
    random_state=None,
):
    """Build the recipe's augmentations, in the reference's order.

    Parts whose probability is 0 are left out. Applied in order (or through
    :class:`braindecode.augmentation.Compose` or
    :class:`~braindecode.augmentation.AugmentedDataLoader`), they map
    ``(X, y)`` to ``(X_aug, (y_a, y_b, lam))`` when mixup is on and to
    ``(X_aug, y)`` otherwise.

    Parameters
    ----------
    shift_p, shift_max : float
        :class:`RandomShift` probability and largest shift.
    noise_p : float
        :class:`SNRNoise` probability.
    noise_snr : tuple of float
        Its SNR range in dB.
    channel_mask_p, channel_mask_ratio : float
        :class:`ChannelMasking` probability and fraction of channels zeroed.
    time_mask_p : float
        :class:`TimeMasking` probability.
    time_mask_n, time_mask_len : int
        Number of spans and exclusive upper bound of their length.
    mixup_p, mixup_alpha : float
        :class:`Mixup` probability and Beta parameter.
    transforms : list of braindecode.augmentation.Transform | None
        Input transforms to use instead of shift, noise and masking (mixup
        stays controlled by ``mixup_p``).
    random_state : int | numpy.random.RandomState | None
        Seeds every transform (each gets its own stream).

    Returns
    -------
    transforms : list of braindecode.augmentation.Transform
        The transforms, mixup last (possibly empty).
    """
    rng = np.random.RandomState(random_state) if not isinstance(
        random_state, np.random.RandomState) else random_state

    def seed():
        return int(rng.randint(0, 2**31 - 1))

    if transforms is None:
        parts = [
            (shift_p, lambda: RandomShift(shift_p, shift_max, random_state=seed())),
            (noise_p, lambda: SNRNoise(noise_p, noise_snr, random_state=seed())),
            (channel_mask_p, lambda: ChannelMasking(
                channel_mask_p, channel_mask_ratio, random_state=seed())),
            (time_mask_p, lambda: TimeMasking(
                time_mask_p, time_mask_n, time_mask_len, random_state=seed())),
        ]
        out = [make() for p, make in parts if p > 0]
    else:
        out = list(transforms)
    if mixup_p > 0:
        out.append(Mixup(mixup_alpha, mixup_p, random_state=seed()))
    return out
