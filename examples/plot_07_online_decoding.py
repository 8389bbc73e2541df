"""
.. _ex-online-decoding:

Online decoding of a live LSL stream
====================================

A P300 speller decides while the subject looks at the screen. This example
fits a NeuroSketch on calibration runs of the Muse P300 recordings (a
4-channel headband, target vs non-target flashes), then plays a held-out run
as a live Lab Streaming Layer stream with MNE-LSL's
:class:`~mne_lsl.player.PlayerLSL`, as an amplifier would send it, and
decodes it live with :class:`~mne_neurosketch.online.OnlineDecoder`: one
window after each flash, decided as soon as it is complete, published on an
LSL outlet. The decisions are then checked against
:func:`~mne_neurosketch.online.replay`, the same decoder run over the file,
and drawn against the true events with their latency.

The Muse P300 files are read from ``MNE_DATASETS_MUSEP300_PATH`` or
``../shared/data/muse-p300`` when present; otherwise the example writes
simulated recordings in the same format
(:func:`~mne_neurosketch.datasets.simulate_muse_p300`). It needs
``pip install mne-neurosketch[online]``.
"""

# Authors: mne-neurosketch developers
# License: BSD (3-clause)

import os
import tempfile
import uuid
from pathlib import Path

import matplotlib.pyplot as plt
import mne
import numpy as np
from mne_lsl.lsl import StreamInlet, resolve_streams
from mne_lsl.player import PlayerLSL

from mne_neurosketch import NeuroSketchClassifier
from mne_neurosketch.datasets import simulate_muse_p300
from mne_neurosketch.online import OnlineDecoder, causal_filter, replay

EVENT_ID = dict(nontarget=1, target=2)
BAND = (1.0, 30.0)
LIVE_SECONDS = 45

# %%
# The recordings
# --------------
# Real recordings when they are on this machine, else a simulated subject
# (3 runs of 200 flashes, a deflection after each target).


def muse_folder():
    candidates = [os.environ.get("MNE_DATASETS_MUSEP300_PATH"),
                  mne.get_config("MNE_DATASETS_MUSEP300_PATH")]
    candidates += [Path.cwd().resolve().parents[i] / "shared" / "data" / "muse-p300"
                   for i in (0, 1)]
    for folder in candidates:
        if folder and (Path(folder) / "sub-01").is_dir():
            return Path(folder)
    folder = Path(tempfile.mkdtemp()) / "muse-p300"
    simulate_muse_p300(folder, subjects=[1], n_runs=3, n_stimuli=200, seed=0)
    return folder


folder = muse_folder()
runs = sorted((folder / "sub-01").glob("sub-01_ses-1_run-*_raw.fif"))
calibration, held_out = runs[:-1], runs[-1]
print(f"{len(calibration)} calibration runs, live run {held_out.name}")

# %%
# Calibration: fit on the filter the decoder will run
# ---------------------------------------------------
# A live decoder cannot look ahead, so it filters causally. Train on exactly
# that: :func:`~mne_neurosketch.online.causal_filter` filters the continuous
# calibration recording as the decoder's filter will, then we cut epochs of
# 0.8 s after each flash.

raw = mne.concatenate_raws(
    [mne.io.read_raw_fif(f, preload=True, verbose=False) for f in calibration],
    verbose=False)
raw_f = causal_filter(raw, *BAND, verbose=False)
events = mne.find_events(raw_f, "STI", shortest_event=1, consecutive=True,
                         verbose=False)
epochs = mne.Epochs(raw_f, events, EVENT_ID, tmin=0.0, tmax=0.8, baseline=None,
                    preload=True, verbose=False)
clf = NeuroSketchClassifier(max_epochs=15, random_state=0, device="cpu",
                            compile=False, verbose=False).fit(epochs)
print(f"fitted on {len(epochs)} epochs of {clf.n_chans_} x {clf.n_times_}")

# %%
# The held-out run, live
# ----------------------
# We add a sample counter to the held-out run (many amplifiers send one): the
# decoder counts any gap in it as lost samples, and it tells which sample of
# the file the live stream started at. :class:`~mne_lsl.player.PlayerLSL`
# streams it in chunks of 8 samples (31 ms) at the recording's pace.

live_raw = mne.io.read_raw_fif(held_out, preload=True, verbose=False)
counter = mne.io.RawArray(np.arange(live_raw.n_times, dtype=float)[None],
                          mne.create_info(["CNT"], live_raw.info["sfreq"], "misc"),
                          verbose=False)
live_raw.add_channels([counter], force_update_info=True)
name, outlet = f"muse-{uuid.uuid4().hex[:8]}", f"decisions-{uuid.uuid4().hex[:8]}"
player = PlayerLSL(live_raw, chunk_size=8, n_repeat=1, name=name).start()

# %%
# The decoder connects to the stream by name (acquiring in its own thread),
# keeps the fit's channels in the fit's order and units, filters causally,
# and decides each window 0 to 0.8 s after an event of the stim channel with
# the estimator's own ``predict_proba``. Its decisions go out on an LSL
# outlet: the class index and the probabilities, stamped with the LSL time of
# the window's last sample. A second inlet, as a game or a speller would
# open, reads them.

decoder = OnlineDecoder(clf, name, events="STI", event_id=EVENT_ID, filter=BAND,
                        counter="CNT", outlet=outlet)
reader = StreamInlet(resolve_streams(timeout=5, name=outlet)[0])
reader.open_stream(timeout=5)
decoder.run(duration=LIVE_SECONDS)
received, _ = reader.pull_chunk(timeout=1.0, max_samples=10_000)
reader._del()
decoder.close()  # the outlet, then the stream
player.stop()
live = decoder.decisions_
print(f"the outlet carried {len(received)} decisions")
print(decoder.stats())

# %%
# The same decisions as offline
# -----------------------------
# :func:`~mne_neurosketch.online.replay` runs the same decoder over the file,
# without LSL, from the first sample the live stream delivered. Every live
# decision is there, with the same probabilities.

first = int(live["counter"].iloc[0] - live["sample"].iloc[0])
offline = replay(clf, live_raw.copy().crop(tmin=first / live_raw.info["sfreq"]),
                 events="STI", event_id=EVENT_ID, filter=BAND, counter="CNT")
offline = offline.set_index("counter").loc[live["counter"]]
same = (offline["label"].to_numpy() == live["label"].to_numpy()).mean()
delta = np.abs(offline["p_target"].to_numpy() - live["p_target"].to_numpy()).max()
print(f"{len(live)} live decisions: {100 * same:.0f} % equal to replay, "
      f"max |delta p| = {delta:.1g}")

# %%
# Decisions against the true events, and the latency
# ---------------------------------------------------
# Left: the probability of "target" for each flash, over time, with the true
# targets marked. Right: how long after its data arrived each decision was
# pushed on the outlet.

sfreq = live_raw.info["sfreq"]
seconds = (live["counter"] - (clf.n_times_ - 1)) / sfreq
target = live["event"] == "target"
fig, (ax, ax_lat) = plt.subplots(1, 2, figsize=(10, 3.5),
                                 gridspec_kw=dict(width_ratios=[2.2, 1]))
ax.plot(seconds, live["p_target"], ".", color="0.5", label="non-target flash")
ax.plot(seconds[target], live["p_target"][target], "o", color="C3",
        label="target flash")
ax.axhline(0.5, color="k", lw=0.5)
ax.set(xlabel="time in the run (s)", ylabel="p(target), live",
       title="Live decisions")
ax.legend(loc="upper right", fontsize="small")
ax_lat.hist(1e3 * live["latency"], bins=30, color="C0")
p50, p99 = np.percentile(1e3 * live["latency"], [50, 99])
ax_lat.set(xlabel="latency after the data arrived (ms)", ylabel="decisions",
           title=f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")
fig.tight_layout()

# %%
# On a real amplifier, replace the player by the amplifier's LSL app and pass
# its stream name; :ref:`online-decoding` explains the filter, the running
# alignment, late windows and lost samples, and the ``neurosketch online``
# command that does the same from a shell.
