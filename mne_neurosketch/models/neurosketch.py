"""NeuroSketch (Base and Large): a 2-D CNN on the folded multichannel signal."""

# License: BSD (3-clause)

from __future__ import annotations

from typing import Literal

import torch
from braindecode.models.base import EEGModuleMixin
from torch import nn

from ._folded import FoldedImageMixin
from ._modules import BN_EPS, ConvNormAct, DropPath, drop_path_rates

#: Stage depths and widths of the paper's configurations
#: (``NeuroSketch_Base.yaml`` and ``NeuroSketch_Large.yaml``).
PRESETS = {
    "base": dict(depths=(2, 2, 2, 2), widths=(96, 128, 160, 192)),
    "large": dict(depths=(3, 3, 3, 3), widths=(96, 144, 256, 384)),
}


class _SketchBlock(nn.Module):
    """One NeuroSketch block: optional strided embedding, then a conv branch.

    ``downsample`` (conv ``kernel_size`` + BatchNorm) exists only when the
    block strides or changes width. The branch is a grouped conv, BatchNorm,
    activation and a 1x1 projection, added to its input when ``residual``.
    """

    def __init__(
        self, in_ch, out_ch, kernel_size, stride, groups, drop_path, residual, activation
    ):
        super().__init__()
        pad = (kernel_size - 1) // 2
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential()
            self.downsample.add_module(
                "conv", nn.Conv2d(in_ch, out_ch, kernel_size, stride, pad, bias=False)
            )
            self.downsample.add_module("norm", nn.BatchNorm2d(out_ch, eps=BN_EPS))
        else:
            self.downsample = nn.Identity()
        self.conv_branch = nn.Sequential()
        self.conv_branch.add_module(
            "conv",
            nn.Conv2d(out_ch, out_ch, kernel_size, 1, pad, groups=groups, bias=False),
        )
        self.conv_branch.add_module("norm", nn.BatchNorm2d(out_ch, eps=BN_EPS))
        self.conv_branch.add_module("act", activation())
        self.conv_branch.add_module("proj", nn.Conv2d(out_ch, out_ch, 1, bias=False))
        self.drop_path = DropPath(drop_path)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        out = self.drop_path(self.conv_branch(x))
        return x + out if self.residual else out


class NeuroSketch(FoldedImageMixin, EEGModuleMixin, nn.Module):
    r"""NeuroSketch from Zhang et al. (2025) [Zhang2025]_.

    :bdg-success:`Convolution`

    NeuroSketch treats a multichannel recording as an image: the time axis is
    cut into segments of ``seg_dim`` samples that are stacked under their
    channel, and a compact 2-D CNN designed like a modern vision backbone
    decodes the image. It reached state-of-the-art decoding on six EEG, ECoG
    and sEEG corpora (spoken words, imagined sentences, faces vs houses,
    visual objects, video concepts and music).

    .. rubric:: Architectural Overview

    1. **Folding.** ``(batch, n_chans, n_times)`` is zero-padded at the end to
       a multiple of ``seg_dim`` and reshaped to a one-channel image of height
       ``n_chans * seg_dim`` and width ``ceil(n_times / seg_dim)``; row
       ``c * seg_dim + k`` holds sample ``k`` of every segment of channel ``c``.
       A filter bank ``(batch, n_chans, n_times, n_bands)`` (MOABB's
       filter-bank paradigms) is folded band by band into ``n_bands`` image
       planes.
    2. **Stem.** Four ``seg_dim x seg_dim`` Conv-BatchNorm-activation layers
       (widths ``stem_channels`` then ``widths[0]``, strides 2, 1, 1, 2); the
       first takes the ``n_bands`` planes as input channels.
    3. **Four stages** of blocks of widths ``widths`` and depths ``depths``.
       A block is an optional embedding (strided or widening conv +
       BatchNorm, only where needed), then a grouped ``seg_dim x seg_dim``
       conv with ``head_dim`` groups, BatchNorm, activation and a 1x1
       projection, added residually through stochastic depth. As in the
       reference, the first three blocks of stage 2 stride by 2.
    4. **Head.** BatchNorm, global generalised-mean (GeM) pooling with a
       trainable exponent, and the linear layer `NeuroSketch.final_layer`.

    .. rubric:: Convolutional Details

    - **Temporal / spatial**: the folding puts time segments and channels on
      the same image axis, so ``seg_dim x seg_dim`` kernels mix neighbouring
      samples within a segment and neighbouring channels; the width axis runs
      over segments. Channels adjacent in the input order are treated as
      neighbours, so the channel order matters.
    - This model contains no attention and no recurrent units.

    .. rubric:: Usage and Configuration

    ``preset="base"`` (1.40 M parameters at 40 classes) and ``"large"``
    (4.21 M) are the paper's two configurations; any of ``depths``,
    ``widths``, ``head_dim``... overrides the preset. The network holds no
    augmentation, so ``forward`` is pure and exports to TorchScript,
    ``torch.export`` and ONNX. Inputs containing NaN or Inf propagate to the
    logits; :class:`mne_neurosketch.NeuroSketchClassifier` rejects them
    before training. Use :func:`mne_neurosketch.models.from_reference` to
    load a checkpoint trained with the original implementation.

    Parameters
    ----------
    preset : {"base", "large"}, default="base"
        Paper configuration providing ``depths`` and ``widths``.
    seg_dim : int, default=3
        Number of samples per time segment; also the kernel size of every
        non-pointwise convolution.
    depths : tuple of 4 int | None, default=None
        Number of blocks in each stage. ``None`` takes the preset's.
    widths : tuple of 4 int | None, default=None
        Feature maps of each stage (``stage1_dim``, ``stage2_dim``,
        ``stage3_dim``, ``embed_dim`` in the reference). ``None`` takes the
        preset's.
    head_dim : int, default=4
        Number of groups of the grouped convolution of each block.
    pooling : {"gem", "max", "avg"}, default="gem"
        Global pooling before the head.
    residual : bool, default=True
        Whether blocks add their branch to their input.
    stem_channels : tuple of 3 int, default=(64, 32, 64)
        Widths of the first three stem convolutions.
    activation : type[nn.Module], default=nn.ReLU
        Activation class used after every BatchNorm in the stem and blocks.
    drop_prob : float, default=0.2
        Stochastic-depth (drop-path) rate of the last block; rates increase
        linearly from 0 over the blocks, as in the reference.
    n_bands : int, default=1
        Number of filter-bank bands, as braindecode's FBCNet ``n_bands``, but
        the bands come filtered in the input: ``1`` takes ``(batch, n_chans,
        n_times)`` (the paper's model); more take ``(batch, n_chans, n_times,
        n_bands)``, the ``X`` of MOABB's ``FilterBankSSVEP`` and
        ``FilterBankMotorImagery``, one image plane per band.

    References
    ----------
    .. [Zhang2025] Zhang, G., Yuan, Z., Yang, J., Chen, J., Meng, L. & Yang, Y.
       (2025). NeuroSketch: An effective framework for neural decoding via
       systematic architectural optimization. arXiv:2512.09524.
    """

    _HUB_NOTES_TEMPLATE = ""

    def __init__(
        self,
        n_chans: int | None = None,
        n_outputs: int | None = None,
        n_times: int | None = None,
        preset: Literal["base", "large"] = "base",
        *,
        seg_dim: int = 3,
        depths: tuple[int, int, int, int] | None = None,
        widths: tuple[int, int, int, int] | None = None,
        head_dim: int = 4,
        pooling: Literal["gem", "max", "avg"] = "gem",
        residual: bool = True,
        stem_channels: tuple[int, int, int] = (64, 32, 64),
        activation: type[nn.Module] = nn.ReLU,
        drop_prob: float = 0.2,
        n_bands: int = 1,
        chs_info: list[dict] | None = None,
        input_window_seconds: float | None = None,
        sfreq: float | None = None,
    ):
        self._init_signal(n_chans, n_outputs, n_times, chs_info, input_window_seconds,
                          sfreq, seg_dim=seg_dim, n_bands=n_bands)
        del n_outputs, n_chans, chs_info, n_times, input_window_seconds, sfreq
        if preset not in PRESETS:
            raise ValueError(
                "Invalid value for the 'preset' parameter. Allowed values are "
                f"'base' and 'large', but got {preset!r} instead."
            )
        depths = tuple(PRESETS[preset]["depths"] if depths is None else depths)
        widths = tuple(PRESETS[preset]["widths"] if widths is None else widths)
        _check_stages(depths, widths, head_dim, seg_dim)
        self.preset = preset
        self.depths = depths
        self.widths = widths
        self.head_dim = head_dim
        self.pooling = pooling
        self.residual = residual
        self.stem_channels = tuple(stem_channels)
        self.activation = activation
        self.drop_prob = drop_prob

        stem_widths = (self.n_bands, *self.stem_channels, widths[0])
        self.stem = nn.Sequential(
            *[
                ConvNormAct(cin, cout, seg_dim, stride, activation)
                for cin, cout, stride in zip(
                    stem_widths[:-1], stem_widths[1:], (2, 1, 1, 2)
                )
            ]
        )
        rates = iter(drop_path_rates(drop_prob, depths))
        blocks, in_ch = [], widths[0]
        for stage, (depth, width) in enumerate(zip(depths, widths)):
            for i in range(depth):
                stride = 2 if stage == 1 and i <= 2 else 1
                blocks.append(
                    _SketchBlock(
                        in_ch,
                        width,
                        seg_dim,
                        stride,
                        head_dim,
                        next(rates),
                        residual,
                        activation,
                    )
                )
                in_ch = width
        self.blocks = nn.Sequential(*blocks)
        self._make_head(widths[-1], pooling)


def _check_stages(depths, widths, head_dim, seg_dim):
    if len(depths) != 4 or len(widths) != 4:
        raise ValueError(
            f"depths and widths must have 4 entries (one per stage), got "
            f"depths={depths} and widths={widths}."
        )
    if any(d < 1 for d in depths):
        raise ValueError(f"Every stage needs at least one block, got depths={depths}.")
    bad = [w for w in widths if w % head_dim]
    if bad:
        raise ValueError(
            f"Every stage width must be divisible by head_dim={head_dim}, but "
            f"{bad} are not. Change widths or head_dim."
        )
    if seg_dim < 1:
        raise ValueError(f"seg_dim must be a positive integer, got {seg_dim}.")


class NeuroSketchLarge(NeuroSketch):
    """NeuroSketch-Large: :class:`NeuroSketch` with ``preset="large"``.

    :bdg-success:`Convolution`

    The paper's larger configuration (stage depths ``(3, 3, 3, 3)``, widths
    ``(96, 144, 256, 384)``, 4.21 M parameters at 40 classes) as a class of
    its own, so that it has a name in the model registry and in braindecode's
    style. It takes the parameters of :class:`NeuroSketch` and builds the
    same network, weight for weight, as ``NeuroSketch(..., preset="large")``
    under the same seed.
    """

    def __init__(self, *args, **kwargs):
        if len(args) > 3:  # preset given by position, as NeuroSketch takes it
            args, kwargs["preset"] = args[:3], args[3]
        preset = kwargs.pop("preset", "large")
        if preset != "large":
            raise ValueError(
                "Invalid value for the 'preset' parameter. NeuroSketchLarge is the "
                f"'large' preset, but got {preset!r} instead. Use "
                "NeuroSketch(preset=...) for another preset."
            )
        super().__init__(*args, preset="large", **kwargs)


def _large_signature():
    """NeuroSketch's signature with ``preset="large"`` (what introspection shows)."""
    import inspect

    sig = inspect.signature(NeuroSketch.__init__)
    return sig.replace(parameters=[
        p.replace(default="large") if p.name == "preset" else p
        for p in sig.parameters.values()
    ])


NeuroSketchLarge.__init__.__signature__ = _large_signature()
