"""The NeuroSketch training recipe's augmentations as braindecode transforms.

The reference implementation (Zhang et al. 2025) augments every training
batch with, in this order: a random time shift, additive Gaussian noise at a
random SNR, channel masking, time masking, then mixup on one-hot targets
trained with BCE-with-logits, under AdamW with a linear warm-up and
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

import copy

import numpy as np
import torch
from braindecode.augmentation import ChannelsDropout, Transform
from braindecode.augmentation import Mixup as _BraindecodeMixup
from sklearn.base import BaseEstimator, clone

from ._docs import fill_doc

# The loss and the schedule live in training.py; pickles name them here.
from .training import OneHotBCEWithLogitsLoss, WarmupCosineSchedule  # noqa: F401
from .utils import _check_option, _Rule

__all__ = [
    "ChannelMasking",
    "Mixup",
        "RandomShift",
    "RecipeAugmentation",
    "SNRNoise",
    "TimeMasking",
    "make_recipe_transforms",
]


class RecipeAugmentation(BaseEstimator):
    """The recipe's augmentations and their parameters.

    The defaults are the recipe of the reference (Zhang et al. 2025), written
    here only. Pass an instance as ``NeuroSketchClassifier(augmentation=...)``:
    its fields are then nested parameters of the estimator, as in a
    scikit-learn pipeline (``set_params(augmentation__mixup_p=0.2)``, a grid
    over ``augmentation__mixup_p``), and :func:`sklearn.base.clone` copies it.
    A part whose probability is 0 is left out.

    Parameters
    ----------
    mixup_p : float, default=0.5
        Probability of mixing a batch (:class:`Mixup`).
    mixup_alpha : float, default=0.5
        Beta parameter of the mixing coefficient.
    shift_p : float, default=0.5
        Probability of shifting a batch in time (:class:`RandomShift`).
    shift_max : float | int, default=0.2
        Largest shift, as a fraction of the window (float) or in samples (int).
    noise_p : float, default=0.1
        Probability of adding Gaussian noise to a batch (:class:`SNRNoise`).
    noise_snr : tuple of float, default=(15.0, 30.0)
        Range of the noise SNR in dB, drawn per trial.
    channel_mask_p : float, default=0.5
        Probability of masking channels in a batch (:class:`ChannelMasking`).
    channel_mask_ratio : float, default=0.2
        Probability of zeroing each channel of each trial.
    time_mask_p : float, default=0.5
        Probability of time masking a batch (:class:`TimeMasking`).
    time_mask_n : int, default=4
        Number of masked spans per trial.
    time_mask_len : int, default=50
        Exclusive upper bound of a span's length in samples.
    """

    def __init__(self, *, mixup_p=0.5, mixup_alpha=0.5, shift_p=0.5, shift_max=0.2,
                 noise_p=0.1, noise_snr=(15.0, 30.0), channel_mask_p=0.5,
                 channel_mask_ratio=0.2, time_mask_p=0.5, time_mask_n=4,
                 time_mask_len=50):
        self.mixup_p = mixup_p
        self.mixup_alpha = mixup_alpha
        self.shift_p = shift_p
        self.shift_max = shift_max
        self.noise_p = noise_p
        self.noise_snr = noise_snr
        self.channel_mask_p = channel_mask_p
        self.channel_mask_ratio = channel_mask_ratio
        self.time_mask_p = time_mask_p
        self.time_mask_n = time_mask_n
        self.time_mask_len = time_mask_len

    def make_transforms(self, random_state=None, *, inputs=None):
        """Build the transforms, in the reference's order, mixup last.

        Applied in order (or through
        :class:`braindecode.augmentation.Compose` or
        :class:`~braindecode.augmentation.AugmentedDataLoader`), they map
        ``(X, y)`` to ``(X_aug, (y_a, y_b, lam))`` when mixup is on and to
        ``(X_aug, y)`` otherwise.

        Parameters
        ----------
        random_state : int | numpy.random.RandomState | None
            Seeds every transform (each gets its own stream).
        inputs : list of braindecode.augmentation.Transform | None
            Input transforms to use instead of shift, noise and masking (mixup
            stays controlled by ``mixup_p``).

        Returns
        -------
        transforms : list of braindecode.augmentation.Transform
            The transforms, mixup last (possibly empty).
        """
        rng = random_state if isinstance(random_state, np.random.RandomState) else (
            np.random.RandomState(random_state))

        def seed():
            return int(rng.randint(0, 2**31 - 1))

        if inputs is None:
            parts = [
                (self.shift_p, lambda: RandomShift(
                    self.shift_p, self.shift_max, random_state=seed())),
                (self.noise_p, lambda: SNRNoise(
                    self.noise_p, self.noise_snr, random_state=seed())),
                (self.channel_mask_p, lambda: ChannelMasking(
                    self.channel_mask_p, self.channel_mask_ratio, random_state=seed())),
                (self.time_mask_p, lambda: TimeMasking(
                    self.time_mask_p, self.time_mask_n, self.time_mask_len,
                    random_state=seed())),
            ]
            out = [make() for p, make in parts if p > 0]
        else:
            out = list(inputs)
        if self.mixup_p > 0:
            out.append(Mixup(self.mixup_alpha, self.mixup_p, random_state=seed()))
        return out


#: The recipe's values, the transforms' defaults.
_RECIPE = RecipeAugmentation().get_params()


class _BatchWiseMixin:
    """Optionally draw one apply/skip decision per batch instead of per trial.

    braindecode transforms decide per trial; the reference decides once per
    batch (one ``random.random() < p`` for the whole batch). A filter-bank
    batch ``(batch, n_chans, n_times, n_bands)`` is augmented as ``(batch,
    n_chans, n_bands, n_times)``, so one draw hits every band alike.
    """

    def __init__(self, probability, *, batch_wise=True, **kwargs):
        _check_probability("probability", probability)
        super().__init__(probability=probability, **kwargs)
        self.batch_wise = batch_wise

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
# The transforms. Each operation maps a batch X of shape (batch, n_chans,
# n_times) and its targets y to the augmented (X, y); y passes unchanged
# except through mixup.
# ---------------------------------------------------------------------------
def random_shift(X, y, n_shift):
    """Shift the time axis by ``n_shift`` samples (> 0 delays), filling with zeros."""
    if n_shift == 0:
        return X, y
    out = torch.zeros_like(X)
    if n_shift > 0:
        out[..., n_shift:] = X[..., :-n_shift]
    else:
        out[..., :n_shift] = X[..., -n_shift:]
    return out, y


@fill_doc
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
    %(batch_wise)s
    """

    operation = staticmethod(random_shift)

    def __init__(self, probability, max_shift=_RECIPE["shift_max"], batch_wise=True,
                 random_state=None):
        if isinstance(max_shift, float) and not 0.0 <= max_shift < 1.0:
            raise ValueError(
                "max_shift must be a fraction in [0, 1) or a number of samples, "
                f"got {max_shift!r} instead."
            )
        super().__init__(probability, batch_wise=batch_wise, random_state=random_state)
        self.max_shift = max_shift

    def get_augmentation_params(self, *batch):
        """Draw the shift of the batch ``(X, y)``: ``{"n_shift": samples}``."""
        n_times = batch[0].shape[-1]
        if isinstance(self.max_shift, float):
            max_shift = int(self.max_shift * n_times)
        else:
            max_shift = min(int(self.max_shift), n_times - 1)
        return {"n_shift": int(self.rng.randint(-max_shift, max_shift + 1))}


def snr_noise(X, y, snr_db, generator=None):
    """Add white Gaussian noise at ``snr_db[i]`` dB to trial ``i``.

    The noise standard deviation of trial ``i`` is
    ``std(X[i]) / 10 ** (snr_db[i] / 20)``, the std taken over channels and
    time, so ``snr_db`` is the ratio of the signal and noise amplitudes in dB.
    ``generator`` (on ``X``'s device) draws the noise.
    """
    # std over channels and time (per band of a filter bank, axis 2 of 4).
    snr = snr_db.view(-1, *([1] * (X.ndim - 1)))
    sigma = X.std(dim=(1, -1), keepdim=True) / 10 ** (snr / 20)
    noise = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)
    return X + noise * sigma, y


@fill_doc
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
    %(batch_wise)s
    """

    operation = staticmethod(snr_noise)

    def __init__(self, probability, snr_db=_RECIPE["noise_snr"], batch_wise=True,
                 random_state=None):
        lo, hi = snr_db
        if lo > hi:
            raise ValueError(
                f"snr_db must be (low, high) with low <= high, got {snr_db}."
            )
        super().__init__(probability, batch_wise=batch_wise, random_state=random_state)
        self.snr_db = (float(lo), float(hi))

    def get_augmentation_params(self, *batch):
        """Draw the SNR of each trial of ``(X, y)`` and a generator for the noise."""
        X = batch[0]
        snr = self.rng.uniform(self.snr_db[0], self.snr_db[1], size=X.shape[0])
        return {
            "snr_db": torch.as_tensor(snr, dtype=X.dtype, device=X.device),
            "generator": _torch_generator(self.rng, X.device),
        }


def channel_masking(X, y, keep):
    """Zero the channels where ``keep`` (bool, ``(batch, n_chans)``) is False."""
    keep = keep.view(*keep.shape, *([1] * (X.ndim - 2)))  # over time (and bands)
    return X * keep.to(X.dtype), y


@fill_doc
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
    %(batch_wise)s
    """

    operation = staticmethod(channel_masking)

    def __init__(self, probability, p_drop=_RECIPE["channel_mask_ratio"],
                 batch_wise=True, random_state=None):
        _check_probability("p_drop", p_drop)
        super().__init__(probability, batch_wise=batch_wise, p_drop=p_drop,
                         random_state=random_state)

    def get_augmentation_params(self, *batch):
        """Draw which channels of ``(X, y)`` to keep: ``{"keep": bool tensor}``."""
        X = batch[0]
        keep = self.rng.uniform(size=X.shape[:2]) >= self.p_drop
        return {"keep": torch.as_tensor(keep, device=X.device)}


def time_masking(X, y, starts, lengths):
    """Zero, on all channels, the spans ``[start, start + length)`` of each trial.

    ``starts`` and ``lengths`` are int tensors of shape ``(batch, n_masks)``.
    """
    t = torch.arange(X.shape[-1], device=X.device)
    starts, stops = starts.unsqueeze(-1), (starts + lengths).unsqueeze(-1)
    masked = ((t >= starts) & (t < stops)).any(dim=1)  # (batch, n_times)
    keep = (~masked).view(X.shape[0], *([1] * (X.ndim - 2)), X.shape[-1])
    return X * keep.to(X.dtype), y


@fill_doc
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
    %(batch_wise)s
    """

    operation = staticmethod(time_masking)

    def __init__(self, probability, n_masks=_RECIPE["time_mask_n"],
                 max_len=_RECIPE["time_mask_len"], batch_wise=True, random_state=None):
        if int(n_masks) < 0 or int(max_len) < 1:
            raise ValueError(
                f"n_masks must be >= 0 and max_len >= 1, got {n_masks} and {max_len}."
            )
        super().__init__(probability, batch_wise=batch_wise, random_state=random_state)
        self.n_masks = int(n_masks)
        self.max_len = int(max_len)

    def get_augmentation_params(self, *batch):
        """Draw the spans of ``(X, y)``: ``starts``, ``lengths`` (batch, n_masks)."""
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
# Mixup
# ---------------------------------------------------------------------------
def mixup(X, y, lam, idx_perm):
    """Mix each trial with another one of the batch (vectorised).

    Same result as :func:`braindecode.augmentation.functional.mixup`:
    ``X_mix[i] = lam[i] * X[i] + (1 - lam[i]) * X[idx_perm[i]]``; the targets
    come out as ``(y, y[idx_perm], lam)``, as braindecode's mixup returns them.
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

    def __init__(self, alpha=_RECIPE["mixup_alpha"], probability=_RECIPE["mixup_p"],
                 beta_per_sample=False, random_state=None):
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


def make_recipe_transforms(*, transforms=None, random_state=None, **recipe):
    """Build the recipe's augmentations, in the reference's order.

    ``RecipeAugmentation(**recipe).make_transforms(random_state,
    inputs=transforms)``; see :meth:`RecipeAugmentation.make_transforms`.

    Parameters
    ----------
    transforms : list of braindecode.augmentation.Transform | None
        Input transforms to use instead of shift, noise and masking (mixup
        stays controlled by ``mixup_p``).
    random_state : int | numpy.random.RandomState | None
        Seeds every transform (each gets its own stream).
    **recipe
        Parameters of :class:`RecipeAugmentation` (``mixup_p``,
        ``shift_p``...); the others keep the recipe's values.

    Returns
    -------
    transforms : list of braindecode.augmentation.Transform
        The transforms, mixup last (possibly empty).
    """
    return RecipeAugmentation(**recipe).make_transforms(random_state, inputs=transforms)


# ---------------------------------------------------------------------------
# The estimator's ``augmentation`` parameter
# ---------------------------------------------------------------------------
def resolve_augmentation(augmentation):
    """A fit's augmentation: a RecipeAugmentation copy, a list copy, or None.

    ``augmentation`` is :class:`~mne_neurosketch.NeuroSketchClassifier`'s
    parameter: ``"recipe"``, ``"off"``, ``None``, a :class:`RecipeAugmentation`
    or a list of braindecode transforms.
    """
    _check_option("augmentation", augmentation, ("recipe", "off", None, _Rule(
        "a RecipeAugmentation", lambda v: isinstance(v, RecipeAugmentation)), _Rule(
        "a list of braindecode transforms", lambda v: isinstance(v, (list, tuple))
        and all(isinstance(t, torch.nn.Module) for t in v))))
    if augmentation is None or augmentation == "off":
        return None
    if isinstance(augmentation, str):
        return RecipeAugmentation()
    if isinstance(augmentation, RecipeAugmentation):
        return clone(augmentation)
    return copy.deepcopy(list(augmentation))


def transforms_of(augmentation, seed):
    """The transforms of a resolved augmentation, seeded (recipe) or copied (list)."""
    if augmentation is None:
        return []
    if isinstance(augmentation, RecipeAugmentation):
        return augmentation.make_transforms(seed)
    return copy.deepcopy(list(augmentation))
