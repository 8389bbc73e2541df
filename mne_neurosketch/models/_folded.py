"""What NeuroSketch and NeuroSketch-SD share: the input image planes and the head."""

# License: BSD (3-clause)

from __future__ import annotations

import torch
from torch import nn

from ._modules import BN_EPS, check_input, fold_time, init_weights, make_pool


def check_bands(n_bands) -> int:
    """``n_bands`` as an int, or an MNE-style error."""
    if isinstance(n_bands, bool) or not isinstance(n_bands, int) or n_bands < 1:
        raise ValueError(
            "Invalid value for the 'n_bands' parameter. Allowed values are positive "
            f"integers (1 for a plain signal), but got {n_bands!r} instead."
        )
    return n_bands


def to_planes(x: torch.Tensor, n_chans: int, n_bands: int, seg_dim: int) -> torch.Tensor:
    """Check the input and fold it into ``n_bands`` image planes.

    ``(batch, n_chans, n_times)`` (one band) or a filter bank in MOABB's layout
    ``(batch, n_chans, n_times, n_bands)`` becomes
    ``(batch, n_bands, n_chans * seg_dim, ceil(n_times / seg_dim))``: plane
    ``b`` is band ``b`` folded by :func:`fold_time`.
    """
    if n_bands == 1 and x.dim() != 4:
        check_input(x, n_chans)
        return fold_time(x, seg_dim)
    if x.dim() != 4 or x.shape[3] != n_bands:
        raise ValueError(
            f"The model was built for n_bands={n_bands}: expected input of shape "
            f"(batch, n_chans, n_times, n_bands={n_bands}) (MOABB's filter-bank "
            f"layout), got {list(x.shape)}. Rebuild the model with n_bands equal to "
            "the number of bands of the input."
        )
    batch, n_times = x.shape[0], x.shape[2]
    # Bands become batch entries for the folding, then the image planes.
    bands = x.permute(0, 3, 1, 2).reshape(batch * n_bands, x.shape[1], n_times)
    check_input(bands, n_chans)
    planes = fold_time(bands, seg_dim)
    return planes.reshape(batch, n_bands, planes.shape[2], planes.shape[3])


class FoldedImageMixin:
    """What the models that read a recording as ``n_bands`` image planes share.

    Listed before :class:`~braindecode.models.base.EEGModuleMixin` in the
    bases; a subclass's ``__init__`` (which braindecode instruments to record
    its arguments, so the mixin has none) calls :meth:`_init_signal`, builds
    ``stem`` (whose first convolution takes ``n_bands`` planes) and
    ``blocks``, then calls :meth:`_make_head`.
    """

    def _init_signal(self, n_chans, n_outputs, n_times, chs_info,
                     input_window_seconds, sfreq, *, seg_dim, n_bands):
        """Initialise the braindecode signal parameters, ``seg_dim`` and ``n_bands``."""
        super().__init__(
            n_outputs=n_outputs,
            n_chans=n_chans,
            chs_info=chs_info,
            n_times=n_times,
            input_window_seconds=input_window_seconds,
            sfreq=sfreq,
        )
        self.n_bands = check_bands(n_bands)
        self.seg_dim = seg_dim
        self._in_chans = int(self.n_chans)

    def _make_head(self, width: int, pooling: str) -> None:
        """Final BatchNorm, global pooling and ``final_layer``; initialise all."""
        self.final_norm = nn.BatchNorm2d(width, eps=BN_EPS)
        self.pool = make_pool(pooling)
        self.final_layer = nn.Linear(width, self.n_outputs)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature maps ``(batch, width, H, W)`` before pooling."""
        x = self.stem(to_planes(x, self._in_chans, self.n_bands, self.seg_dim))
        return self.final_norm(self.blocks(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, n_outputs)``.

        ``x`` is ``(batch, n_chans, n_times)``, or ``(batch, n_chans, n_times,
        n_bands)`` for a filter bank.
        """
        # Written out rather than calling forward_features: TorchScript cannot
        # follow a method call once the model is converted to a plain nn.Module
        # (braindecode's generic scripting test does this).
        x = self.stem(to_planes(x, self._in_chans, self.n_bands, self.seg_dim))
        return self.final_layer(self.pool(self.final_norm(self.blocks(x))))
