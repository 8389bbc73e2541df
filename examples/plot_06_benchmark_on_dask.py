"""
.. _ex-benchmark-on-dask:

Run the benchmark on a Dask cluster
===================================

:func:`mne_neurosketch.benchmark.run_benchmark` runs pipelines x datasets x
subjects x folds and writes one row per fit to a SQLite results store. The
fits are independent, so it can hand them to a Dask cluster; each finished
fit is committed at once, and a rerun skips what is already stored.

Here the cluster is a :class:`distributed.LocalCluster` of two workers on
this machine. On a real cluster only the address changes: pass
``scheduler="tcp://host:8786"`` of a scheduler started with ``dask
scheduler`` / ``dask worker``, ``dask-jobqueue`` or Kubernetes. The
``neurosketch benchmark`` command takes the same options.
"""

# Authors: mne-neurosketch developers
# License: BSD (3-clause)

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from distributed import Client, LocalCluster
from moabb.analysis.plotting import paired_plot, score_plot

from mne_neurosketch import NeuroSketchClassifier
from mne_neurosketch.benchmark import (
    ResultsStore,
    make_pipeline,
    resolve_dataset,
    run_benchmark,
)
from mne_neurosketch.benchmark.report import make_report, summary_table
from mne_neurosketch.datasets import simulate_things_eeg

# %%
# A corpus and three pipelines
# ----------------------------
# We write a small THINGS-EEG2 test set (3 subjects, 20 repetitions of 4
# images) in its real on-disk format and open it as a downloaded corpus would
# be opened: by name and folder. (``"simulated-thingseeg"`` and the other
# ``simulated-*`` names do both steps at once, with a smaller corpus.) The
# pipelines are any scikit-learn estimators; :func:`~mne_neurosketch.benchmark.
# make_pipeline` builds the benchmark's own by name, here the classical
# tangent-space and logistic-regression pipeline ``"TSLR"``.

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
dataset = resolve_dataset("thingseeg", path=root)
recipe = dict(
    max_epochs=20, batch_size=16, patience=None, random_state=0, verbose="warning"
)
pipelines = {
    "NeuroSketch": NeuroSketchClassifier(
        module_kwargs=dict(
            depths=(1, 1, 1, 1), widths=(16, 16, 32, 32), stem_channels=(16, 16, 16)
        ),
        **recipe,
    ),
    "EEGNet": NeuroSketchClassifier(module="EEGNet", **recipe),
    "TSLR": make_pipeline("TSLR"),
}
results_file = work / "results.sqlite"

# %%
# The fits on the cluster
# -----------------------
# Two workers, one fit at a time each. Here they are threads of this process
# (``processes=False``) so that the example also runs inside the
# documentation build; in a script, worker processes are the better layout,
# with the code under ``if __name__ == "__main__":`` as Python's
# multiprocessing requires. The dashboard is turned off.

cluster = LocalCluster(
    n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
)
client = Client(cluster)
print(client)

results = run_benchmark(
    dataset,
    pipelines,
    results=results_file,
    subjects=[1, 2, 3],
    scheduler=cluster.scheduler_address,
    progress=False,
    verbose="warning",
)
print(results.attrs["summary"])
print(results.groupby(["pipeline", "subject"])["score"].mean().unstack().round(2))

# %%
# Resuming
# --------
# Running the same benchmark again finds every fit in the store and skips it;
# after an interruption (a lost worker, a killed job) the same call runs only
# what is missing.

again = run_benchmark(
    dataset,
    pipelines,
    results=results_file,
    subjects=[1, 2, 3],
    scheduler=cluster.scheduler_address,
    progress=False,
    verbose="warning",
)
print(again.attrs["summary"])
client.close()
cluster.close()

# %%
# Tables and figures
# ------------------
# The store keeps every fit with its parameters and package versions;
# :func:`~mne_neurosketch.benchmark.report.make_report` writes the tables,
# statistics and MOABB's figures that the benchmark results page of this
# documentation is built from.

store = ResultsStore(results_file)
print(summary_table(store.to_dataframe()).round(3).to_string())
files = make_report(results_file, work / "report", formats=("png",))
for protocol, written in files.items():
    for fname in written:
        print(protocol, Path(fname).relative_to(work))

# %%
# The same figures, drawn here with MOABB's plotting functions on the store's
# results (the report saves them as PNG and SVG): every subject's score per
# pipeline, and two pipelines compared subject by subject.

df = store.to_dataframe()
chance = 1 / df["n_classes"].iloc[0]
score_plot(df, chance_level=chance)
pipes = list(dict.fromkeys(df["pipeline"]))
paired_plot(df, pipes[1], pipes[0], chance_level=chance)
plt.show()
