"""
.. _ex-corpus-end-to-end:

A corpus from files to a confusion matrix: SEED-DV
==================================================

The corpus adapters of :mod:`mne_neurosketch.datasets` read a corpus as its
authors publish it, apply the NeuroSketch paper's preprocessing and give a
braindecode windows dataset. This example runs the whole chain on SEED-DV
(EEG recorded while watching videos of 40 concepts):

1. write a small synthetic SEED-DV in the real on-disk format (the real one
   is obtained from its authors; see :doc:`/user_guide/corpora`);
2. read it into windows with :class:`~mne_neurosketch.datasets.SEEDDV`;
3. compare the paper's random split with the leakage-free
   leave-one-block-out split of :mod:`mne_neurosketch.splits`;
4. fit :class:`~mne_neurosketch.NeuroSketchClassifier` on the
   training blocks and draw the confusion matrix on the held-out block.
"""

# Authors: mne-neurosketch developers
# License: BSD (3-clause)

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from braindecode.datasets import BaseConcatDataset
from matplotlib.colors import ListedColormap
from sklearn.metrics import ConfusionMatrixDisplay

from mne_neurosketch.datasets import SEEDDV, simulate_seed_dv
from mne_neurosketch.estimator import NeuroSketchClassifier
from mne_neurosketch.splits import GroupedSplit, PaperSplit, groups_of

# %%
# The corpus on disk
# ------------------
# The real subject file ``EEG/sub1.npy`` holds 7 blocks x 62 channels x 520 s
# at 200 Hz, and ``meta-info/All_video_label.npy`` the concept shown in each
# slot. The simulated corpus has the same format with 4 blocks of 4 concepts,
# and a concept-specific pattern added to the noise so that there is
# something to learn.

work = Path(tempfile.mkdtemp())
root = simulate_seed_dv(
    work, subjects=(1,), n_blocks=4, n_concepts=4, class_signal=0.5, seed=0
)
for fname in sorted(p for p in root.rglob("*") if p.is_file()):
    data = np.load(fname)
    print(f"{fname.relative_to(work)!s:42s} {data.dtype} {data.shape}")

# %%
# Windows
# -------
# Each 10-s viewing gives five 2-s windows (62 x 400), labelled with the
# concept; each block is one recording. Preprocessed windows are cached on
# disk, so a second load is fast.

windows = SEEDDV(subject_ids=1, path=root, cache_dir=work / "cache")
print(windows.description)

# %%
# The adapter keeps the values in the unit of the files, volts for SEED-DV;
# braindecode and MOABB work in µV, and the network's BatchNorm layers need
# values well above their epsilon (1e-5), so each window is scaled on the fly
# by a braindecode ``transform``.


def to_microvolts(x):
    """Volts to microvolts."""
    return x * 1e6


windows.transform = to_microvolts
print(windows.datasets[0].metadata[["target", "concept", "clip", "trial"]].head(6))
y = np.array([windows[i][1] for i in range(len(windows))])
blocks = groups_of(windows, "block")
print(f"{len(windows)} windows, {len(set(y))} classes, {len(set(blocks))} blocks")

# %%
# Two ways to split
# -----------------
# The paper splits windows at random (its ``n_fold`` protocol: a stratified
# 20 % test set). The five windows of one viewing are consecutive pieces of
# the same 10 s of EEG, so a random split puts near-copies of test windows in
# the training set. Leave-one-block-out, the corpus' official protocol, keeps
# every block on one side.

paper_train, paper_test = next(PaperSplit(method="n_fold").split(np.zeros(len(y)), y))
lobo = GroupedSplit(n_splits=None)
train_idx, test_idx = list(lobo.split(np.zeros(len(y)), y, groups=blocks))[-1]

trials = groups_of(windows, "trial")
shared = len(set(trials[paper_test]) & set(trials[paper_train]))
print(
    f"paper split: {shared} of {len(set(trials[paper_test]))} test viewings "
    "also have windows in the training set"
)
print(
    f"leave-one-block-out: test block {set(blocks[test_idx])}, "
    f"{len(set(trials[test_idx]) & set(trials[train_idx]))} shared viewings"
)

assignment = np.zeros((2, len(y)))
assignment[0, paper_test] = 1
assignment[1, test_idx] = 1
fig, ax = plt.subplots(figsize=(9, 1.8), layout="constrained")
ax.imshow(
    assignment,
    aspect="auto",
    cmap=ListedColormap(["#9ecae1", "#e6550d"]),
    interpolation="nearest",
)
for edge in np.flatnonzero(np.diff(blocks)) + 0.5:
    ax.axvline(edge, color="k", lw=1)
ax.set(
    yticks=[0, 1],
    yticklabels=["paper (random)", "leave-one-block-out"],
    xlabel="window (in recording order; black lines separate blocks)",
    title="test windows (orange) of each protocol",
)

# %%
# Fit on three blocks, test on the fourth
# ---------------------------------------
# The estimator accepts the braindecode windows directly. A narrow network
# trained for 30 epochs keeps the example to a couple of minutes on a laptop
# CPU; the paper trains the Base model for up to 500.

by_block = windows.split("block")
train_blocks = sorted(set(blocks[train_idx]))
test_block = int(blocks[test_idx][0])
train_set = BaseConcatDataset([by_block[str(b)] for b in train_blocks])
test_set = BaseConcatDataset([by_block[str(test_block)]])

clf = NeuroSketchClassifier(
    module_kwargs=dict(
        depths=(1, 1, 1, 1), widths=(16, 16, 32, 32), stem_channels=(16, 16, 16)
    ),
    max_epochs=30,
    batch_size=16,
    patience=None,
    random_state=0,
    verbose="warning",
)
clf.fit(train_set)
y_test = np.array([test_set[i][1] for i in range(len(test_set))])
y_pred = clf.predict(test_set)
print(
    f"accuracy on block {test_block}: {np.mean(y_pred == y_test):.2f} "
    f"(chance {1 / len(clf.classes_):.2f})"
)

ConfusionMatrixDisplay.from_predictions(
    y_test,
    y_pred,
    display_labels=[f"concept {c + 1}" for c in clf.classes_],
    cmap="Blues",
    colorbar=False,
)
plt.title(f"held-out block {test_block}")
