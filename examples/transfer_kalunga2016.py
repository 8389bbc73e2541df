"""
.. _ex-transfer-kalunga:

Transfer across subjects on real SSVEP recordings (Kalunga2016)
===============================================================

With 60-odd training trials per subject, a network trained on one subject
alone loses to the Riemannian pipelines. This example gives NeuroSketch what
those pipelines get, MOABB's SSVEP filter bank (one band around each
stimulation frequency, each band one image plane), pretrains it on the other
subjects of MOABB's Kalunga2016 (4-class SSVEP, 8 channels), then fine-tunes
it on the target subject's training trials:

1. each subject is re-centred on its own unlabelled trials, band by band
   (:class:`~mne_neurosketch.alignment.EuclideanAlignment`), so that every
   subject's mean spatial covariance is the identity;
2. the network is pretrained on the aligned trials of the other subjects;
3. it starts again from those weights (``init_weights``) on the target's
   training trials, and is scored on the target's test trials.

The last section runs the same thing, for every subject and fold and with the
classical pipelines, through the benchmark's ``transfer`` and ``zero-shot``
protocols (the command line's ``neurosketch benchmark --protocol transfer``).

This example needs the Kalunga2016 recordings (MOABB downloads them from
Zenodo, about 150 MB, when ``MNE_DATASETS_SSVEPEXO_PATH`` or ``MNE_DATA``
points to a folder without them). The documentation build runs it when they
are on the machine (about 3 minutes on one CPU thread) and otherwise shows
the code with a note saying so. The numbers of the full benchmark are in
``benchmarks/results/kalunga2016/``; MOABB's own cross-subject evaluation of
the same pipelines is ``benchmarks/results/moabb_transfer/``.
"""

# Authors: mne-neurosketch developers
# License: BSD (3-clause)

import os
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import mne
import numpy as np
from moabb.datasets import Kalunga2016
from moabb.paradigms import FilterBankSSVEP
from sklearn.metrics import accuracy_score
from sklearn.model_selection import StratifiedKFold

from mne_neurosketch import NeuroSketchClassifier
from mne_neurosketch.alignment import EuclideanAlignment
from mne_neurosketch.benchmark import make_pipelines, resolve_dataset, run_benchmark

data = os.environ.get("MNE_DATASETS_SSVEPEXO_PATH") or mne.get_config("MNE_DATA")
if (
    os.environ.get("NEUROSKETCH_ALLOW_DOWNLOAD") is None
    and not (data and (Path(data) / "MNE-ssvepexo-data").is_dir())
):
    print(
        "Kalunga2016 is not on this machine: set MNE_DATASETS_SSVEPEXO_PATH to the "
        "folder holding MNE-ssvepexo-data/, or set NEUROSKETCH_ALLOW_DOWNLOAD=1 to "
        "let MOABB download it (about 150 MB)."
    )
    sys.exit(0)

# %%
# The trials of four subjects
# ---------------------------
# MOABB's filter-bank SSVEP paradigm: 2-s trials filtered around each of the
# three stimulation frequencies, ``(n_trials, n_chans, n_times, n_bands)``,
# in µV (MOABB's paradigms convert). Subject 3 is the target; subjects 1, 2
# and 4 are the sources.
dataset = Kalunga2016()
paradigm = FilterBankSSVEP()
X, labels, meta = paradigm.get_data(dataset, subjects=[1, 2, 3, 4])
X = X.astype(np.float32)
subjects = meta["subject"].to_numpy()
target = 3
is_target = subjects == target
print(f"{len(X)} trials of shape {X.shape[1:]}; target: {is_target.sum()} trials")

# %%
# Align each subject on its own trials
# ------------------------------------
# The sources use all their trials; the target only its training fold, so
# that its test trials play no part in the model.
train, test = next(
    StratifiedKFold(5, shuffle=True, random_state=42).split(
        X[is_target], labels[is_target]
    )
)
X_src = EuclideanAlignment().fit_transform(X[~is_target], subjects=subjects[~is_target])
y_src = labels[~is_target]
X_tgt, y_tgt = X[is_target], labels[is_target]
align = EuclideanAlignment().fit(X_tgt[train], X_target_unlabeled=X_tgt[train])
X_train, X_test = align.transform(X_tgt[train]), align.transform(X_tgt[test])

# %%
# Pretrain, then fine-tune
# ------------------------
# A short budget (20 epochs) keeps the example to a few minutes on a CPU;
# ``verbose=False`` leaves out the epoch tables.
params = dict(max_epochs=20, batch_size=32, random_state=42, verbose=False)
pretrained = NeuroSketchClassifier(**params).fit(X_src, y_src)
zero_shot = accuracy_score(y_tgt[test], pretrained.predict(X_test))

tuned = NeuroSketchClassifier(**params, init_weights=pretrained).fit(
    X_train, y_tgt[train]
)
transfer = accuracy_score(y_tgt[test], tuned.predict(X_test))

alone = NeuroSketchClassifier(**params).fit(X_train, y_tgt[train])
within = accuracy_score(y_tgt[test], alone.predict(X_test))
print(
    f"subject {target}, one fold: target only {within:.2f}, pretrained on the "
    f"others {zero_shot:.2f}, pretrained + fine-tuned {transfer:.2f} (chance 0.25)"
)

# %%
# Every subject and fold: the benchmark's transfer protocols
# ----------------------------------------------------------
# One fold of 13 test trials is noisy: one trial is 8 points of accuracy, and
# fine-tuning on 40 trials can lose what the pretraining gained on this fold.
# The averages over subjects and folds are what to read.
# ``transfer`` does the above for each target subject and each of its
# within-session folds, ``zero-shot`` scores the pretrained model as it is;
# TS+LR reads the same filter bank and gets the Riemannian re-centring of its
# covariance matrices. Pretrained models are cached next to the results file and reused
# across folds and protocols; a rerun skips every finished fit.
results = Path(tempfile.mkdtemp()) / "transfer.sqlite"
spec = resolve_dataset("Kalunga2016")
pipelines = make_pipelines(["TSLR", "NeuroSketch-FB"], max_epochs=20, batch_size=32)
scores = {}
for protocol in ("zero-shot", "transfer"):
    df = run_benchmark(
        spec,
        pipelines,
        protocol=protocol,
        results=results,
        subjects=[1, 2, 3, 4],
        progress=False,
        verbose="warning",
    )
    scores[protocol] = df.groupby(["subject", "pipeline"])["score"].mean().unstack()
    print(protocol)
    print(df.groupby("pipeline")["score"].agg(["mean", "std"]).round(3))

# %%
# Each subject's accuracy, without and with fine-tuning on its own trials.
fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
for ax, (protocol, table) in zip(axes, scores.items()):
    table.plot.bar(ax=ax, rot=0, title=protocol)
    ax.axhline(0.25, color="k", ls=":", lw=1, label="chance")
    ax.set(xlabel="target subject", ylabel="accuracy")
fig.tight_layout()
plt.show()
