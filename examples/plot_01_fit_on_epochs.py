"""
.. _ex-fit-on-epochs:

Fit NeuroSketch on mne.Epochs
=============================

:class:`~mne_neurosketch.NeuroSketchClassifier` is a scikit-learn
classifier: it takes :class:`mne.Epochs` directly (labels from the event
names), builds a network sized from the data, and trains it with the
NeuroSketch paper's recipe (AdamW with warm-up and cosine decay, mixup, time
shifts, noise, channel and time masking, early stopping on a validation
split).

The recording here is simulated with MNE, so the example needs no download:
three kinds of events, each followed by a response over its own group of
channels.
"""

# Authors: mne-neurosketch developers
# License: BSD (3-clause)

import matplotlib.pyplot as plt
import mne
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay

from mne_neurosketch.estimator import NeuroSketchClassifier

rng = np.random.default_rng(42)

# %%
# A simulated recording
# ---------------------
# Five minutes of 16-channel EEG at 128 Hz: background noise with a slow
# drift, and 270 events every ~1.1 s. After a ``left`` event an evoked
# response appears over the left channels, after ``right`` over the right
# ones, after ``feet`` a 12 Hz burst over the midline.

sfreq, n_events = 128.0, 270
ch_names = [
    "Fp1",
    "Fp2",
    "F3",
    "Fz",
    "F4",
    "FC3",
    "FC4",
    "C3",
    "Cz",
    "C4",
    "CP3",
    "CP4",
    "P3",
    "Pz",
    "P4",
    "Oz",
]
groups = {"left": [5, 7, 10], "right": [6, 9, 11], "feet": [3, 8, 13]}
event_id = {"left": 1, "right": 2, "feet": 3}

onsets = (np.arange(n_events) * 1.1 * sfreq + sfreq).astype(int)
codes = rng.permutation(np.repeat([1, 2, 3], n_events // 3))
n_samples = onsets[-1] + 2 * int(sfreq)
data = np.cumsum(rng.standard_normal((len(ch_names), n_samples)), axis=1) * 0.05
data += rng.standard_normal(data.shape)
t = np.arange(int(0.8 * sfreq)) / sfreq
evoked_shape = np.sin(2 * np.pi * 3 * t) * np.exp(-(((t - 0.3) / 0.12) ** 2))
burst = np.sin(2 * np.pi * 12 * t) * np.exp(-(((t - 0.4) / 0.15) ** 2))
for onset, code in zip(onsets, codes):
    name = {v: k for k, v in event_id.items()}[code]
    shape = burst if name == "feet" else evoked_shape
    data[groups[name], onset : onset + t.size] += 1.5 * shape

info = mne.create_info(ch_names, sfreq, ch_types="eeg")
raw = mne.io.RawArray(data * 1e-5, info, verbose=False)  # volts, as MNE expects
events = np.c_[onsets, np.zeros(n_events, int), codes]

# %%
# Filtering and epochs, as for any MNE analysis
# ---------------------------------------------
# A band-pass removes the drift; the epochs cover 0.8 s after each event.

raw.filter(1.0, 40.0, verbose=False)

epochs = mne.Epochs(
    raw, events, event_id, tmin=0.0, tmax=0.8, baseline=None, preload=True, verbose=False
)
train, test = epochs[:210], epochs[210:]
print(epochs)

# %%
# Fit and predict
# ---------------
# ``NeuroSketchClassifier()`` alone trains the paper's Base model for up to
# 500 epochs (100 below 1000 training trials). To keep this example to a
# minute on a laptop CPU we train a narrower network (``module_kwargs``) for 40
# epochs; everything else is the default recipe.

clf = NeuroSketchClassifier(
    module_kwargs=dict(
        depths=(1, 1, 1, 1), widths=(16, 16, 32, 32), stem_channels=(16, 16, 16)
    ),
    max_epochs=40,
    batch_size=32,
    patience=None,
    random_state=0,
    verbose="warning",
)
clf.fit(train)  # labels: the event names
print(f"classes: {clf.classes_}")
print(f"test accuracy: {clf.score(test):.2f}")
y_pred = clf.predict(test)

# %%
# The training curve
# ------------------
# ``history_`` is skorch's per-epoch history. The training loss includes the
# augmentations (mixup makes it noisy); the validation split held out by the
# estimator selects the epoch whose weights are kept.

history = clf.history_
epochs_run = history[:, "epoch"]
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
ax_loss.plot(epochs_run, history[:, "train_loss"], label="train")
ax_loss.plot(epochs_run, history[:, "valid_loss"], label="validation")
ax_loss.set(xlabel="epoch", ylabel="loss (BCE with logits)", title="loss")
ax_loss.legend()
ax_acc.plot(epochs_run, history[:, "valid_acc"], color="C1")
best = int(np.argmax(history[:, "valid_acc"]))
ax_acc.axvline(epochs_run[best], color="0.5", ls="--", label="weights kept")
ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title="validation accuracy")
ax_acc.legend(loc="lower right")

# %%
# Where the errors are
# --------------------

y_true = [list(event_id)[code - 1] for code in test.events[:, 2]]
ConfusionMatrixDisplay.from_predictions(
    y_true, y_pred, labels=list(event_id), cmap="Blues", colorbar=False
)
plt.title("test set")
