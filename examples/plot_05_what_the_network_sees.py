"""
.. _ex-what-the-network-sees:

What the network sees: the folded input and the feature maps
=============================================================

NeuroSketch reads a multichannel recording as an image. Its time axis is cut
into segments of ``seg_dim`` samples that are stacked under their channel,
so a ``(n_chans, n_times)`` trial becomes a one-channel image of
``(n_chans * seg_dim, ceil(n_times / seg_dim))`` pixels, and a 2-D CNN reads
it.

This example simulates a small two-class EEG problem (an alpha burst over
some channels or not), trains a small :class:`mne_neurosketch.NeuroSketch`
on it for a few seconds, and draws what the model sees: the trial, the folded
image, and the feature maps after the stem and after each of the four
stages, read with forward hooks.
"""

# Authors: mne-neurosketch developers
# License: BSD (3-clause)

from itertools import accumulate

import matplotlib.pyplot as plt
import mne
import numpy as np
import torch
from torch import nn

from mne_neurosketch import NeuroSketch
from mne_neurosketch.utils import set_random_seeds

set_random_seeds(0)
rng = np.random.default_rng(0)

# %%
# Simulated trials
# ----------------
# 200 trials of 12 channels, 2.4 s at 100 Hz, of noise with a slow drift. In
# class 1 a 10 Hz burst appears over the last three ("occipital") channels
# around 1.2 s. We keep them as :class:`mne.EpochsArray`, the object a user
# would have.

sfreq, n_times, n_trials = 100.0, 240, 200
ch_names = ["Fp1", "Fp2", "F3", "Fz", "F4", "C3", "Cz", "C4", "Pz", "O1", "Oz", "O2"]
times = np.arange(n_times) / sfreq
labels = rng.integers(0, 2, n_trials)
noise = np.cumsum(rng.standard_normal((n_trials, len(ch_names), n_times)), axis=-1)
noise -= noise.mean(axis=-1, keepdims=True)
data = 0.1 * noise + rng.standard_normal(noise.shape)
burst = np.sin(2 * np.pi * 10 * times) * np.exp(-(((times - 1.2) / 0.25) ** 2))
data[labels == 1, -3:, :] += 2 * burst
info = mne.create_info(ch_names, sfreq, ch_types="eeg")
epochs = mne.EpochsArray(
    data * 1e-6,
    info,
    events=np.c_[np.arange(n_trials) * n_times, np.zeros(n_trials, int), labels],
    event_id={"rest": 0, "alpha": 1},
    verbose=False,
)
print(epochs)

# %%
# A small NeuroSketch, trained for a few seconds
# ----------------------------------------------
# The paper's Base preset has about 1.4 M parameters; for this toy problem we
# shrink the stem, the depths and the widths. A plain PyTorch loop is enough
# here; the package's estimator adds the paper's full training recipe.

model = NeuroSketch(
    n_chans=len(ch_names),
    n_outputs=2,
    n_times=n_times,
    depths=(1, 1, 1, 1),
    widths=(16, 16, 32, 32),
    stem_channels=(16, 16, 16),
    drop_prob=0.0,
)
X = torch.as_tensor(epochs.get_data(copy=False) * 1e6, dtype=torch.float32)
y = torch.as_tensor(labels)
train, test = np.arange(0, 150), np.arange(150, n_trials)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(10):
    model.train()
    for batch in np.array_split(rng.permutation(train), 5):
        optimizer.zero_grad()
        loss = loss_fn(model(X[batch]), y[batch])
        loss.backward()
        optimizer.step()
model.eval()
with torch.no_grad():
    accuracy = (model(X[test]).argmax(1) == y[test]).float().mean().item()
print(f"held-out accuracy after 10 epochs: {accuracy:.2f}")

# %%
# Reading the intermediate images with hooks
# ------------------------------------------
# The input of the first stem convolution is the folded image; the output of
# the stem and of the last block of each stage are the feature maps. Forward
# hooks record them during one forward pass of a class-1 trial.

captured = {}


def keep(name, use_input=False):
    def hook(module, args, output=None):
        captured[name] = (args[0] if use_input else output)[0].detach()

    return hook


handles = [
    model.stem[0].register_forward_pre_hook(keep("folded", use_input=True)),
    model.stem.register_forward_hook(keep("stem")),
]
for stage, end in enumerate(accumulate(model.depths), start=1):
    handles.append(model.blocks[end - 1].register_forward_hook(keep(f"stage {stage}")))
trial = int(np.flatnonzero(labels[test] == 1)[0]) + test[0]
with torch.no_grad():
    model(X[trial : trial + 1])
for handle in handles:
    handle.remove()
for name, tensor in captured.items():
    print(f"{name:8s} {tuple(tensor.shape)}")

# %%
# The trial and the folded image
# ------------------------------
# With ``seg_dim=3`` each channel becomes three rows: row ``3c + k`` holds
# samples ``k, k + 3, k + 6, ...`` of channel ``c``. The burst on O1, Oz and
# O2 shows up as a patch in the bottom nine rows, around segment 40, where 3x3 kernels see
# neighbouring samples and neighbouring channels at once.

fig, (ax_trial, ax_fold) = plt.subplots(
    1, 2, figsize=(10, 4), layout="constrained", width_ratios=[1.3, 1]
)
offsets = np.arange(len(ch_names))[::-1] * 6
ax_trial.plot(times, X[trial].numpy().T + offsets, lw=0.8, color="k")
ax_trial.set(
    yticks=offsets,
    yticklabels=ch_names,
    xlabel="time (s)",
    title=f"trial {trial} (class 1), {len(ch_names)} x {n_times}",
)
ax_trial.axvspan(0.9, 1.5, color="C1", alpha=0.2, label="alpha burst")
ax_trial.legend(loc="upper right")
folded = captured["folded"][0].numpy()
image = ax_fold.imshow(
    folded,
    aspect="auto",
    cmap="RdBu_r",
    interpolation="nearest",
    vmin=-np.abs(folded).max(),
    vmax=np.abs(folded).max(),
)
ax_fold.set_yticks(np.arange(len(ch_names)) * model.seg_dim + 1, ch_names)
ax_fold.axvspan(
    0.9 * sfreq / model.seg_dim,
    1.5 * sfreq / model.seg_dim,
    ymin=0,
    ymax=3 / len(ch_names),
    fill=False,
    ec="C1",
    lw=2,
)
ax_fold.set(
    xlabel="segment (3 samples each)",
    title=f"folded image, {folded.shape[0]} x {folded.shape[1]}",
)
fig.colorbar(image, ax=ax_fold, label="µV")

# %%
# Feature maps after the stem and each stage
# ------------------------------------------
# For each stage we show the mean over feature maps (left) and the three maps
# with the largest mean activation. The stem divides the height and width by
# four and stage 2 by two more, so the later maps are coarse summaries of the image in
# which the burst region stands out; the head then pools them (GeM) into one
# vector per trial.

names = ["stem", "stage 1", "stage 2", "stage 3", "stage 4"]
fig, axes = plt.subplots(len(names), 4, figsize=(10, 10), layout="constrained")
for row, name in zip(axes, names):
    maps = captured[name].numpy()
    strongest = np.argsort(maps.mean(axis=(1, 2)))[::-1][:3]
    panels = [(f"mean of {maps.shape[0]} maps", maps.mean(0))]
    panels += [(f"map {k}", maps[k]) for k in strongest]
    for ax, (title, img) in zip(row, panels):
        ax.imshow(img, aspect="auto", cmap="magma", interpolation="nearest")
        ax.set_title(
            f"{name}: {title}" if title.startswith("mean") else title, fontsize=9
        )
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(f"{maps.shape[1]} x {maps.shape[2]}")
