"""
.. _ex-moabb-cross-validation:

Cross-validation with MOABB: NeuroSketch against EEGNet and ShallowFBCSPNet
============================================================================

Every corpus adapter also gives a MOABB dataset, and
:class:`~mne_neurosketch.paradigms.MultiClassDecoding` is a MOABB paradigm
that decodes its trials as they are. MOABB's evaluations and plots then work
unchanged.

To compare architectures and nothing else, every network here is trained by
:class:`~mne_neurosketch.NeuroSketchClassifier` with the same
recipe: ``module="EEGNet"`` or ``module="ShallowFBCSPNet"`` swaps the
braindecode network :footcite:p:`lawhern2018eegnet,schirrmeister2017deep`.

The data are a small synthetic THINGS-EEG2 corpus (17 occipital and parietal
channels, 1 s at 100 Hz) written in its real on-disk format, so that the
example runs in a few minutes on a laptop CPU.
"""

# Authors: mne-neurosketch developers
# License: BSD (3-clause)

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from moabb.analysis.plotting import paired_plot, score_plot
from moabb.evaluations import WithinSessionEvaluation

from mne_neurosketch import NeuroSketchClassifier
from mne_neurosketch.datasets import ThingsEEGMOABB, simulate_things_eeg
from mne_neurosketch.paradigms import MultiClassDecoding

# %%
# A MOABB dataset from corpus files
# ---------------------------------
# Three subjects, each with 20 repetitions of 4 images (the real test set has
# 80 repetitions of 200 images).

work = Path(tempfile.mkdtemp())
root = simulate_things_eeg(
    work,
    subjects=(1, 2, 3),
    tasks=("test",),
    n_test_images=4,
    n_test_repetitions=20,
    class_signal=0.6,
    seed=0,
)
dataset = ThingsEEGMOABB(path=root, subjects=[1, 2, 3], cache_dir=work / "cache")
paradigm = MultiClassDecoding()
X, y, metadata = paradigm.get_data(dataset, subjects=[1])
print(f"subject 1: X {X.shape}, classes {sorted(set(y))}")

# %%
# Three networks, one recipe
# --------------------------
# The training budget is cut to 30 epochs and NeuroSketch is narrowed, for
# time; the paper trains for up to 500 epochs.
#
# ShallowFBCSPNet's default temporal filter (25 samples) and pooling (75
# samples, stride 15) are sized for 250 Hz motor-imagery recordings. On these
# 1-s windows at 100 Hz that pooling averages the squared signal over almost
# the whole trial, which erases an evoked response's time course and leaves
# the network at chance. Scaled to 100 Hz (x 0.4: 10, 30 and 6 samples), it
# keeps the time course: on this run it scores 39-55 % (chance 25 %) where
# the defaults gave exactly chance on every subject.

recipe = dict(
    max_epochs=30, batch_size=16, patience=None, random_state=0, verbose="warning"
)
pipelines = {
    "NeuroSketch": NeuroSketchClassifier(
        module_kwargs=dict(
            depths=(1, 1, 1, 1), widths=(16, 16, 32, 32), stem_channels=(16, 16, 16)
        ),
        **recipe,
    ),
    "EEGNet": NeuroSketchClassifier(module="EEGNet", **recipe),
    "ShallowFBCSPNet": NeuroSketchClassifier(
        module="ShallowFBCSPNet",
        module_kwargs=dict(
            filter_time_length=10, pool_time_length=30, pool_time_stride=6
        ),
        **recipe,
    ),
}

# %%
# Within-session cross-validation
# -------------------------------
# MOABB runs a stratified 3-fold cross-validation inside each session of each
# subject and returns one row per subject, session and pipeline. Its results
# cache goes to a temporary folder here.

evaluation = WithinSessionEvaluation(
    paradigm=paradigm,
    datasets=[dataset],
    n_splits=3,
    random_state=0,
    overwrite=True,
    hdf5_path=str(work / "moabb_results"),
)
results = evaluation.process(pipelines)
print(results[["pipeline", "subject", "score", "time"]].round(3))

# %%
# MOABB's plots
# -------------
# The score plot shows every subject's accuracy per pipeline; the paired plot
# compares two pipelines subject by subject (points above the diagonal favour
# the pipeline on the y axis). On this toy problem with a short budget the
# ranking says little about real data: the :doc:`/benchmark_results` page
# shows the benchmark's results.

chance = 1 / len(set(y))
score_plot(results, chance_level=chance)
paired_plot(results, "EEGNet", "NeuroSketch", chance_level=chance)
plt.show()

# %%
# References
# ----------
# .. footbibliography::
