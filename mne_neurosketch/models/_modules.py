"""Building blocks shared by :class:`NeuroSketch` and :class:`NeuroSketchSD`."""

# License: BSD (3-clause)

from __future__ import annotations

import torch
from torch import nn

#: BatchNorm epsilon of the reference implementation.
BN_EPS = 1e-5


def fold_time(x: torch.Tensor, seg_dim: int) -> torch.Tensor:
    """Fold ``(batch, n_chans, n_times)`` into a one-channel 2-D image.

    The time axis is zero-padded at the end to a multiple of ``seg_dim`` and
    cut into segments of ``seg_dim`` samples; sample ``k`` of every segment of
    channel ``c`` becomes row ``c * seg_dim + k``. The result has shape
    ``(batch, 1, n_chans * seg_dim, ceil(n_times / seg_dim))``.
    """
    batch, n_chans, n_times = x.shape
    if seg_dim == 1:
        return x.unsqueeze(1)
    n_full, rest = divmod(n_times, seg_dim)
    if not rest:
        # (B, C, n_seg, seg) -> (B, C, seg, n_seg): one copy, done by reshape.
        x = x.reshape(batch, n_chans, n_full, seg_dim).transpose(2, 3)
        return x.reshape(batch, 1, n_chans * seg_dim, n_full)
    # With padding, write the transposed full segments and the zero-padded
    # last one straight into the output: one copy instead of pad + transpose.
    out = x.new_empty((batch, n_chans, seg_dim, n_full + 1))
    head = x[..., : n_full * seg_dim].reshape(batch, n_chans, n_full, seg_dim)
    out[..., :n_full] = head.transpose(2, 3)
    out[..., :rest, n_full] = x[..., n_full * seg_dim:]
    out[..., rest:, n_full] = 0.0
    return out.view(batch, 1, n_chans * seg_dim, n_full + 1)


class ConvNormAct(nn.Sequential):
    """Convolution without bias, BatchNorm and an activation."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, activation):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            bias=False,
        )
        self.norm = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.act = activation()


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch per sample during training.

    Kept samples are scaled by ``1 / (1 - drop_prob)`` so the expected output
    is unchanged; in eval mode this is the identity.
    """

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class GeM(nn.Module):
    """Generalised-mean pooling over the two spatial axes, trainable exponent.

    ``(mean(clamp(x, eps) ** p)) ** (1 / p)``; ``p = 1`` is average pooling and
    ``p -> inf`` tends to max pooling.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.p = nn.Parameter(torch.full((1,), float(p)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(min=self.eps).pow(self.p)
        return x.mean(dim=(2, 3)).pow(1.0 / self.p)


def make_pool(pooling: str) -> nn.Module:
    """Return the global pooling layer named ``pooling`` (output ``(B, C)``)."""
    if pooling == "gem":
        return GeM()
    if pooling == "max":
        return nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(1))
    if pooling == "avg":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    raise ValueError(
        "Invalid value for the 'pooling' parameter. Allowed values are 'gem', "
        f"'max', and 'avg', but got {pooling!r} instead."
    )


def drop_path_rates(drop_prob: float, depths) -> list[float]:
    """Linearly increasing stochastic-depth rates, 0 for the first block."""
    return torch.linspace(0, drop_prob, sum(depths)).tolist()


def check_input(x: torch.Tensor, n_chans: int) -> None:
    """Raise a readable error for input that is not ``(batch, n_chans, n_times)``."""
    if x.dim() != 3:
        raise ValueError(
            "Expected input of shape (batch, n_chans, n_times), got a tensor with "
            f"{x.dim()} dimensions: {list(x.shape)}."
        )
    if x.shape[1] != n_chans:
        raise ValueError(
            f"The model was built for n_chans={n_chans} but got input with "
            f"{x.shape[1]} channels (shape {list(x.shape)}). Rebuild the model "
            "with the right n_chans or pick the same channels as at training."
        )


def init_weights(module: nn.Module) -> None:
    """Initialise as the reference: truncated normal convs, unit BN, Xavier head."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
