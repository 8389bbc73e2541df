"""Draw the NeuroSketch architecture figure from the model itself.

At ``builder-inited`` this builds :class:`mne_neurosketch.NeuroSketch` for
the paper's SEED-DV input size, runs one forward pass with hooks, and draws
(top) how the time axis is folded into the image the CNN sees and (bottom)
every stage with the feature-map shapes measured on the pass. The page
includes ``generated/architecture.png``; nothing in the figure is typed by
hand, so it follows the code.
"""

# License: BSD (3-clause)

from __future__ import annotations

from itertools import accumulate
from pathlib import Path

N_CHANS, N_TIMES, N_OUTPUTS = 62, 400, 40  # SEED-DV, as in the paper


def measure_stages(model, n_chans, n_times):
    """Run one pass and return ``[(name, detail, shape), ...]`` in order.

    Shapes are measured with forward hooks on the model's own submodules:
    the stem's first convolution sees the folded image, the last block of
    each stage gives the stage output.
    """
    import torch

    seen = {}

    def keep(name, use_input=False):
        def hook(module, args, output=None):
            seen[name] = tuple((args[0] if use_input else output).shape[1:])

        return hook

    handles = [model.stem[0].register_forward_pre_hook(keep("folded", True))]
    handles.append(model.stem.register_forward_hook(keep("stem")))
    ends = list(accumulate(model.depths))
    for stage, end in enumerate(ends, start=1):
        handles.append(model.blocks[end - 1].register_forward_hook(keep(f"stage{stage}")))
    handles.append(model.pool.register_forward_hook(keep("pool")))
    handles.append(model.final_layer.register_forward_hook(keep("head")))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, n_chans, n_times))
    for handle in handles:
        handle.remove()

    starts = [0, *ends[:-1]]
    rows = [
        ("input", "(n_chans, n_times)", (n_chans, n_times)),
        ("fold", f"seg_dim={model.seg_dim}", seen["folded"]),
        ("stem", "4 conv, strides 2,1,1,2", seen["stem"]),
    ]
    for stage, (start, depth) in enumerate(zip(starts, model.depths), start=1):
        strided = sum(
            1
            for b in model.blocks[start : start + depth]
            if getattr(b.downsample, "conv", None) is not None
            and b.downsample.conv.stride != (1, 1)
        )
        detail = f"{depth} blocks" + (f", {strided} stride 2" if strided else "")
        rows.append((f"stage {stage}", detail, seen[f"stage{stage}"]))
    rows.append(("BN + GeM", "trainable exponent", seen["pool"]))
    rows.append(("linear", "final_layer", seen["head"]))
    return rows


def _draw_folding(ax, seg_dim=3, n_chans=3, n_times=8):
    """Show sample indices before and after folding (real ``fold_time`` via hook)."""
    import numpy as np
    import torch
    from matplotlib.patches import Rectangle

    from mne_neurosketch import NeuroSketch

    model = NeuroSketch(
        n_chans=n_chans,
        n_outputs=2,
        n_times=n_times,
        seg_dim=seg_dim,
        depths=(1, 1, 1, 1),
        widths=(4, 4, 4, 4),
        stem_channels=(4, 4, 4),
    )
    captured = {}
    model.stem[0].register_forward_pre_hook(lambda m, a: captured.update(x=a[0]))
    # value = channel * 100 + sample index + 1, so 0 marks the zero padding
    x = (torch.arange(n_chans)[:, None] * 100 + torch.arange(n_times) + 1).float()
    model.eval()
    with torch.no_grad():
        model(x[None])
    folded = captured["x"][0, 0].numpy()

    colors = np.array([[0.80, 0.88, 0.97], [0.99, 0.86, 0.75], [0.84, 0.94, 0.82]])
    ax.set_axis_off()
    ax.set_xlim(-0.5, n_times + 1 + folded.shape[1] + 0.5)
    ax.set_ylim(-0.5, folded.shape[0] + 0.8)
    ax.invert_yaxis()
    top = (folded.shape[0] - n_chans) / 2

    def cell(col, row, value):
        ch = int(value // 100) if value else None
        face = colors[ch % 3] if ch is not None else (0.93, 0.93, 0.93)
        ax.add_patch(
            Rectangle((col - 0.5, row - 0.5), 1, 1, facecolor=face, edgecolor="white")
        )
        label = f"t{int(value % 100) - 1}" if value else "0"
        ax.text(col, row, label, ha="center", va="center", fontsize=6.5)

    for c in range(n_chans):
        for t in range(n_times):
            cell(t, top + c, float(x[c, t]))
        ax.text(-0.9, top + c, f"ch{c}", ha="right", va="center", fontsize=7)
    ax.annotate(
        "",
        xy=(n_times + 0.7, folded.shape[0] / 2 - 0.5),
        xytext=(n_times - 0.2, folded.shape[0] / 2 - 0.5),
        arrowprops=dict(arrowstyle="-|>", color="0.3"),
    )
    off = n_times + 1.5
    for r in range(folded.shape[0]):
        for s in range(folded.shape[1]):
            cell(off + s, r, float(folded[r, s]))
    ax.text(
        n_times / 2 - 0.5,
        -0.9 + top,
        f"input ({n_chans} x {n_times})",
        ha="center",
        fontsize=8,
    )
    ax.text(
        off + folded.shape[1] / 2 - 0.5,
        -0.9,
        f"folded image ({n_chans}*{seg_dim} x ceil({n_times}/{seg_dim}))",
        ha="center",
        fontsize=8,
    )


def draw_architecture(fname, n_chans=N_CHANS, n_times=N_TIMES, n_outputs=N_OUTPUTS):
    """Write the architecture figure of the Base preset to ``fname``."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from mne_neurosketch import NeuroSketch

    model = NeuroSketch(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times)
    rows = measure_stages(model, n_chans, n_times)
    n_params = sum(p.numel() for p in model.parameters())

    fig = plt.figure(figsize=(11, 5.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.25, 1])
    _draw_folding(top.subplots())
    top.suptitle(
        "1. Folding: time segments of seg_dim samples are stacked under their channel",
        fontsize=10,
        x=0.02,
        ha="left",
    )

    ax = bottom.subplots()
    ax.set_axis_off()
    ax.set_xlim(0, len(rows))
    ax.set_ylim(-0.3, 1.1)
    palette = ["#cfd8dc", "#ffe0b2", "#b3e5fc"] + ["#c8e6c9"] * 4 + ["#e1bee7", "#f8bbd0"]
    for i, (name, detail, shape) in enumerate(rows):
        ax.add_patch(
            FancyBboxPatch(
                (i + 0.08, 0.15),
                0.84,
                0.85,
                boxstyle="round,pad=0.02",
                facecolor=palette[i],
                edgecolor="0.35",
            )
        )
        ax.text(
            i + 0.5, 0.74, name, ha="center", va="center", fontsize=9, fontweight="bold"
        )
        ax.text(
            i + 0.5,
            0.42,
            " x ".join(map(str, shape)),
            ha="center",
            va="center",
            fontsize=8,
            family="monospace",
        )
        ax.text(
            i + 0.5,
            -0.05,
            detail,
            ha="center",
            va="top",
            fontsize=7,
            wrap=True,
            color="0.25",
        )
        if i:
            ax.annotate(
                "",
                xy=(i + 0.08, 0.57),
                xytext=(i - 0.08, 0.57),
                arrowprops=dict(arrowstyle="-|>", color="0.3"),
            )
    bottom.suptitle(
        f"2. NeuroSketch-Base on a {n_chans} x {n_times} input, {n_outputs} classes "
        f"({n_params:,} parameters); shapes measured on a forward pass "
        "(channels x height x width)",
        fontsize=10,
        x=0.02,
        ha="left",
    )
    Path(fname).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(fname, dpi=110)
    plt.close(fig)
    return rows


def _on_builder_inited(app):
    draw_architecture(Path(app.srcdir) / "generated" / "architecture.png")


def setup(app):
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
