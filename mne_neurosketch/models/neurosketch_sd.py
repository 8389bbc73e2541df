"""NeuroSketch-SD: the scaled-up NeuroSketch with MLP branches."""

# License: BSD (3-clause)

from __future__ import annotations

from typing import Literal

import torch
from braindecode.models.base import EEGModuleMixin
from torch import nn

from ._folded import FoldedImageMixin
from ._modules import BN_EPS, ConvNormAct, DropPath, drop_path_rates


def _round_to(value: float, divisor: int) -> int:
    """Round ``value`` to a multiple of ``divisor``, never below 90 % of it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class _SDBlock(nn.Module):
    """NeuroSketch-SD block: embedding, grouped-conv branch, then an MLP branch.

    Striding blocks downsample with 2x2 average pooling (ceil mode) and a 1x1
    conv; widening blocks with a 1x1 conv. Both branches are residual with
    stochastic depth; the MLP branch sees a BatchNorm of its input.
    """

    def __init__(
        self,
        in_ch,
        out_ch,
        stride,
        head_dim,
        mlp_ratio,
        drop_path,
        cnn_drop,
        mlp_drop,
        activation,
    ):
        super().__init__()
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential()
            if stride != 1:
                self.downsample.add_module(
                    "pool",
                    nn.AvgPool2d(2, stride=2, ceil_mode=True, count_include_pad=False),
                )
            self.downsample.add_module("conv", nn.Conv2d(in_ch, out_ch, 1, bias=False))
            self.downsample.add_module("norm", nn.BatchNorm2d(out_ch, eps=BN_EPS))
        else:
            self.downsample = nn.Identity()
        self.conv_branch = nn.Sequential()
        self.conv_branch.add_module(
            "conv",
            nn.Conv2d(out_ch, out_ch, 3, 1, 1, groups=out_ch // head_dim, bias=False),
        )
        self.conv_branch.add_module("norm", nn.BatchNorm2d(out_ch, eps=BN_EPS))
        self.conv_branch.add_module("act", activation())
        self.conv_branch.add_module("drop", nn.Dropout(cnn_drop))
        self.conv_branch.add_module("proj", nn.Conv2d(out_ch, out_ch, 1, bias=False))
        self.mlp_norm = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        hidden = _round_to(out_ch * mlp_ratio, 32)
        self.mlp = nn.Sequential()
        self.mlp.add_module("fc1", nn.Conv2d(out_ch, hidden, 1))
        self.mlp.add_module("act", activation())
        self.mlp.add_module("drop", nn.Dropout(mlp_drop))
        self.mlp.add_module("fc2", nn.Conv2d(hidden, out_ch, 1))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        x = x + self.drop_path(self.conv_branch(x))
        return x + self.drop_path(self.mlp(self.mlp_norm(x)))


class NeuroSketchSD(FoldedImageMixin, EEGModuleMixin, nn.Module):
    r"""NeuroSketch-SD from Zhang et al. (2025) [Zhang2025SD]_.

    :bdg-success:`Convolution`

    The scaled-up NeuroSketch variant of the reference implementation
    (``NeuroSketch_sd``): the same folded 2-D input as :class:`NeuroSketch`,
    with wider stages (96 to 1024 feature maps) and blocks that add an MLP
    branch to the grouped-convolution branch, in the style of Next-ViT's
    convolution block. 21.3 M parameters at 40 classes.

    .. rubric:: Architectural Overview

    1. **Folding** of ``(batch, n_chans, n_times)`` into a one-channel image
       of height ``n_chans * seg_dim``, as in :class:`NeuroSketch`
       (``seg_dim=1`` keeps the raw ``n_chans x n_times`` image); a filter
       bank ``(batch, n_chans, n_times, n_bands)`` gives ``n_bands`` planes.
    2. **Stem.** Four 3x3 Conv-BatchNorm-activation layers (widths
       ``stem_channels`` and ``stem_channels[-1]``, strides 2, 1, 1, 2); the
       first takes the ``n_bands`` planes as input channels.
    3. **Four stages.** Stage ``s`` has ``depths[s]`` blocks of width
       ``stage_widths[s][0]`` except the last, of width
       ``stage_widths[s][1]``. The first block of stages 2-4 halves the
       resolution with 2x2 average pooling and a 1x1 conv. A block adds a
       grouped 3x3 conv branch (groups ``width // head_dim``) and a
       BatchNorm + MLP branch (hidden width ``mlp_ratio * width`` rounded to
       a multiple of 32), each through stochastic depth.
    4. **Head.** BatchNorm, GeM pooling and the linear `NeuroSketchSD.final_layer`.

    .. rubric:: Convolutional Details

    - **Temporal / spatial**: as in :class:`NeuroSketch`, 3x3 kernels mix
      neighbouring channel-segment rows and neighbouring segments.
    - This model contains no attention and no recurrent units.

    Parameters
    ----------
    seg_dim : int, default=3
        Number of samples per time segment of the folding.
    depths : tuple of 4 int, default=(4, 4, 4, 4)
        Number of blocks in each stage.
    stage_widths : tuple of 4 (int, int)
        ``(width of the blocks, width of the last block)`` of each stage;
        default ``((96, 128), (192, 256), (384, 512), (768, 1024))``.
    stem_channels : tuple of 3 int, default=(64, 32, 64)
        Widths of the stem convolutions.
    head_dim : int, default=16
        Channels per group of the grouped convolutions.
    mlp_ratio : float, default=2
        Hidden width of the MLP branch relative to the block width.
    pooling : {"gem", "max", "avg"}, default="gem"
        Global pooling before the head.
    activation : type[nn.Module], default=nn.Mish
        Activation class of the stem (``act_type`` in the reference config).
    block_activation : type[nn.Module], default=nn.ReLU
        Activation class of the blocks' conv branches and MLPs. The reference
        passes ``act_type`` to the stem only, so its blocks always use ReLU;
        this default reproduces it.
    drop_prob : float, default=0.4
        Stochastic-depth rate of the last block (``drop_path_rate``), rising
        linearly from 0.
    cnn_drop_prob : float, default=0.3
        Dropout in the conv branches (``cnn_dropout``).
    mlp_drop_prob : float, default=0.1
        Dropout in the MLP branches (``mlp_dropout``).
    n_bands : int, default=1
        Number of filter-bank bands of the input, as in :class:`NeuroSketch`:
        more than 1 takes MOABB's filter-bank layout ``(batch, n_chans,
        n_times, n_bands)``, one image plane per band.

    References
    ----------
    .. [Zhang2025SD] Zhang, G., Yuan, Z., Yang, J., Chen, J., Meng, L. & Yang, Y.
       (2025). NeuroSketch: An effective framework for neural decoding via
       systematic architectural optimization. arXiv:2512.09524.
    """

    _HUB_NOTES_TEMPLATE = ""

    def __init__(
        self,
        n_chans: int | None = None,
        n_outputs: int | None = None,
        n_times: int | None = None,
        *,
        seg_dim: int = 3,
        depths: tuple[int, int, int, int] = (4, 4, 4, 4),
        stage_widths: tuple[tuple[int, int], ...] = (
            (96, 128),
            (192, 256),
            (384, 512),
            (768, 1024),
        ),
        stem_channels: tuple[int, int, int] = (64, 32, 64),
        head_dim: int = 16,
        mlp_ratio: float = 2,
        pooling: Literal["gem", "max", "avg"] = "gem",
        activation: type[nn.Module] = nn.Mish,
        block_activation: type[nn.Module] = nn.ReLU,
        drop_prob: float = 0.4,
        cnn_drop_prob: float = 0.3,
        mlp_drop_prob: float = 0.1,
        n_bands: int = 1,
        chs_info: list[dict] | None = None,
        input_window_seconds: float | None = None,
        sfreq: float | None = None,
    ):
        self._init_signal(n_chans, n_outputs, n_times, chs_info, input_window_seconds,
                          sfreq, seg_dim=seg_dim, n_bands=n_bands)
        del n_outputs, n_chans, chs_info, n_times, input_window_seconds, sfreq
        depths = tuple(depths)
        stage_widths = tuple(tuple(w) for w in stage_widths)
        if len(depths) != 4 or len(stage_widths) != 4 or min(depths) < 1:
            raise ValueError(
                "depths and stage_widths must have 4 entries (one per stage, each "
                f"stage at least one block), got depths={depths} and "
                f"stage_widths={stage_widths}."
            )
        bad = [w for pair in stage_widths for w in pair if w % head_dim]
        if bad:
            raise ValueError(
                f"Every width must be divisible by head_dim={head_dim}, but {bad} "
                "are not. Change stage_widths or head_dim."
            )
        self.depths = depths
        self.stage_widths = stage_widths
        self.stem_channels = tuple(stem_channels)
        self.head_dim = head_dim
        self.mlp_ratio = mlp_ratio
        self.pooling = pooling
        self.activation = activation
        self.block_activation = block_activation
        self.drop_prob = drop_prob
        self.cnn_drop_prob = cnn_drop_prob
        self.mlp_drop_prob = mlp_drop_prob

        c1, c2, c3 = self.stem_channels
        self.stem = nn.Sequential(
            ConvNormAct(self.n_bands, c1, 3, 2, activation),
            ConvNormAct(c1, c2, 3, 1, activation),
            ConvNormAct(c2, c3, 3, 1, activation),
            ConvNormAct(c3, c3, 3, 2, activation),
        )
        rates = iter(drop_path_rates(drop_prob, depths))
        blocks, in_ch = [], c3
        for stage, (depth, (width, last_width)) in enumerate(zip(depths, stage_widths)):
            for i in range(depth):
                out_ch = last_width if i == depth - 1 else width
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(
                    _SDBlock(
                        in_ch,
                        out_ch,
                        stride,
                        head_dim,
                        mlp_ratio,
                        next(rates),
                        cnn_drop_prob,
                        mlp_drop_prob,
                        block_activation,
                    )
                )
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self._make_head(in_ch, pooling)
