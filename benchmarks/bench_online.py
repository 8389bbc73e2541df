"""Online decoding on a live LSL stream: losses, agreement with replay, latency, CPU.

For each case, a NeuroSketch is fitted on causally filtered calibration runs
(``mne_neurosketch.online.causal_filter``), then held-out runs, concatenated
and given a sample-counter channel, are played by MNE-LSL's ``PlayerLSL`` in
another process (chunks of 8 samples, about 31 ms) and decoded live by
``OnlineDecoder`` in this one, with a decision outlet:

- ``muse``: Muse P300 subject 1 (real EEG, 4 x 206 windows at 256 Hz):
  sessions 1-2 fit, session 3 (5 runs, 10 min) live, event-locked on ``STI``;
- ``kalunga``: Kalunga2016 subject 10 (real EEG, SSVEP, 8 x 512 windows):
  runs 1 and 4 fit, runs 2-3 (12 min) live, sliding windows every 0.25 s.

Reported: samples received and lost (counter gaps, buffer overflows),
agreement of every live decision with ``replay`` of the same file from the
same first sample, windows dropped as late (``max_lag`` 0.5 s), decision
latency after the data arrived (p50, p99), the CPU share of one core of this
process (decoder and liblsl's threads; the player runs elsewhere), and
``predict_proba`` on one window alone (one thread) for comparison. The
``muse`` case also measures the cost of training on a zero-phase filter and
decoding causally: ROC-AUC on session 3 of a model fitted on zero-phase (MNE's
default) or causal filtering, each tested on causal (as online) and
zero-phase windows.

    python benchmarks/bench_online.py --minutes 10 --out benchmarks/results/online

writes ``online_<case>.json`` and ``online_summary.rst`` into ``--out``.
The machine is whatever runs it: say how loaded it was (``loadavg`` is saved).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
SHARED = HERE.parent.parent / "shared" / "data"
MUSE = SHARED / "muse-p300" / "sub-01"
KALUNGA = SHARED / "mne_data" / "MNE-ssvepexo-data" / "zenodo" / "2392979"
#: liblsl's configuration: this machine only, errors only.
LSL_CONFIG = "[lab]\nKnownPeers = {127.0.0.1}\n[multicast]\nResolveScope = machine\n" \
             "[log]\nlevel = -2\n"
CHUNK = 8
CASES = {
    "muse": dict(fit=sorted(MUSE.glob("sub-01_ses-[12]_*_raw.fif")),
                 live=sorted(MUSE.glob("sub-01_ses-3_*_raw.fif")), band=(1.0, 30.0),
                 event_id=dict(nontarget=1, target=2), stim="STI", windows=[0.0],
                 n_times=206, decode=dict(events="STI")),
    "kalunga": dict(fit=[KALUNGA / f"subject10_run{r}_raw.fif" for r in (1, 4)],
                    live=[KALUNGA / f"subject10_run{r}_raw.fif" for r in (2, 3)],
                    band=(5.0, 45.0), event_id={f"code{c}": c for c in (1, 2, 3, 4)},
                    stim="stim", windows=[1.0, 2.0, 3.0], n_times=512,
                    decode=dict(hop=0.25)),
}


def _read(files):
    import mne

    raws = [mne.io.read_raw_fif(f, preload=True, verbose=False) for f in files]
    return mne.concatenate_raws(raws, verbose=False)


def _epochs(raw, case):
    """Windows of each event (at each offset of ``case["windows"]``)."""
    import mne

    events = mne.find_events(raw, case["stim"], shortest_event=1, consecutive=True,
                             verbose=False)
    sfreq = raw.info["sfreq"]
    parts = [mne.Epochs(raw, events, case["event_id"], tmin=t,
                        tmax=t + (case["n_times"] - 1) / sfreq, baseline=None,
                        preload=True, verbose=False) for t in case["windows"]]
    if len(parts) == 1:
        return parts[0]
    shifted = [np.c_[p.events[:, :1] + int(round(t * sfreq)), p.events[:, 1:]]
               for p, t in zip(parts, case["windows"])]
    return mne.EpochsArray(np.concatenate([p.get_data() for p in parts]), parts[0].info,
                           np.concatenate(shifted), event_id=case["event_id"],
                           verbose=False)


def _fit(epochs, args):
    from mne_neurosketch import NeuroSketchClassifier

    clf = NeuroSketchClassifier(max_epochs=args.max_epochs, random_state=0,
                                device="cpu", compile=False, verbose=False)
    t0 = time.perf_counter()
    clf.fit(epochs)
    print(f"  fitted on {len(epochs)} windows in {time.perf_counter() - t0:.0f} s "
          f"({clf.train_path_})", flush=True)
    return clf


def _auc(clf, epochs):
    from sklearn.metrics import roc_auc_score

    proba = clf.predict_proba(epochs)[:, list(clf.classes_).index("target")]
    return float(roc_auc_score(epochs.events[:, 2] == 2, proba))


def filter_study(case, clf_causal, args):
    """ROC-AUC on the live session of models fitted on each filter."""
    from mne_neurosketch.online import causal_filter

    fit_raw, live_raw = _read(case["fit"]), _read(case["live"])
    lo, hi = case["band"]
    zero = _fit(_epochs(fit_raw.copy().filter(lo, hi, picks="eeg", verbose=False),
                        case), args)
    tests = {"causal": _epochs(causal_filter(live_raw, lo, hi, verbose=False), case),
             "zero-phase": _epochs(live_raw.copy().filter(lo, hi, picks="eeg",
                                                          verbose=False), case)}
    return {f"fit {f} / test {t}": _auc(model, tests[t])
            for f, model in (("causal", clf_causal), ("zero-phase", zero))
            for t in tests}


def _with_counter(raw, folder):
    import mne

    counter = mne.io.RawArray(np.arange(raw.n_times, dtype=np.float64)[None],
                              mne.create_info(["CNT"], raw.info["sfreq"], "misc"),
                              verbose=False)
    raw = raw.copy().add_channels([counter], force_update_info=True)
    raw.set_annotations(None)
    fname = Path(folder) / "live_raw.fif"
    raw.save(fname, overwrite=True, verbose=False)
    return raw, fname


_PLAYER = """
import os, sys, time
from mne_lsl.player import PlayerLSL
player = PlayerLSL(sys.argv[1], chunk_size=int(sys.argv[2]), n_repeat=1,
                   name=sys.argv[3]).start()
time.sleep(float(sys.argv[4]))
player.stop()
os._exit(0)
"""


def _wait_for(name, timeout=120):
    from mne_lsl.lsl import resolve_streams

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if resolve_streams(timeout=1.0, name=name):
            return
    raise RuntimeError(f"the player's stream {name} did not appear")


def inference_alone(clf, n_chans, n_times, n=500):
    """predict_proba on one window, one thread: p50, p99 (s)."""
    from mne_neurosketch.online._decoder import torch_threads

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, n_chans, n_times)).astype(np.float32)
    times = []
    with torch_threads(1):
        for _ in range(n):
            t0 = time.perf_counter()
            clf.predict_proba(x)
            times.append(time.perf_counter() - t0)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def live(case, clf, args, folder):
    """Decode the live recording through LSL; compare with replay."""
    from mne_neurosketch.online import OnlineDecoder, replay

    raw, fname = _with_counter(_read(case["live"]), folder)
    seconds = min(args.minutes * 60, raw.times[-1] - 5)
    name, out = f"bench-{uuid.uuid4().hex}", f"bench-out-{uuid.uuid4().hex}"
    player = subprocess.Popen([sys.executable, "-c", _PLAYER, str(fname), str(CHUNK),
                               name, str(seconds + 30)])
    kwargs = dict(event_id=case["event_id"], filter=case["band"], counter="CNT",
                  **case["decode"])
    try:
        _wait_for(name)
        load = os.getloadavg()
        decoder = OnlineDecoder(clf, name, max_lag=0.5, outlet=out, **kwargs)
        print(f"  decoding {seconds:.0f} s live: {decoder!r}", flush=True)
        decoder.run(seconds, progress=args.progress)
        decoder.close()
    finally:
        player.kill()
        player.wait()
    decisions, stats = decoder.decisions_, decoder.stats()
    first = int(decisions["counter"].iloc[0] - decisions["sample"].iloc[0])
    offline = replay(clf, raw.copy().crop(tmin=first / raw.info["sfreq"]), **kwargs)
    offline = offline[offline["sample"] < stats["samples_received"]]
    matched = offline.set_index("counter").loc[decisions["counter"]]
    columns = [f"p_{c}" for c in clf.classes_]
    agree = (matched["label"].astype(str).to_numpy()
             == decisions["label"].astype(str).to_numpy())
    inf50, inf99 = inference_alone(clf, clf.n_chans_, clf.n_times_)
    rate = stats["windows_decided"] / stats["duration"]
    return dict(
        seconds=stats["duration"], loadavg_at_start=list(load),
        loadavg_at_end=list(os.getloadavg()), window=[clf.n_chans_, clf.n_times_],
        samples_received=stats["samples_received"], samples_lost=stats["samples_lost"],
        counter_gaps=int((np.diff(decisions["counter"] - decisions["sample"]) != 0)
                         .sum()),
        windows_decided=stats["windows_decided"], windows_late=stats["windows_late"],
        windows_incomplete=stats["windows_incomplete"],
        windows_in_replay=len(offline), decisions_per_s=rate,
        agreement=float(agree.mean()),
        max_abs_dp=float(np.abs(matched[columns].to_numpy()
                                - decisions[columns].to_numpy()).max()),
        latency_p50_ms=1e3 * stats["latency_p50"],
        latency_p99_ms=1e3 * stats["latency_p99"],
        latency_max_ms=1e3 * float(decisions["latency"].max()),
        first_decisions_latency_ms=[round(1e3 * v, 1) for v in decisions["latency"][:5]],
        decoder_inference_p50_ms=1e3 * stats["inference_p50"],
        decoder_inference_p99_ms=1e3 * stats["inference_p99"],
        inference_alone_p50_ms=1e3 * inf50, inference_alone_p99_ms=1e3 * inf99,
        cpu_share=stats["cpu_share"], decoder_thread_cpu_share=stats["decoder_cpu_share"],
    )


def run_case(name, args):
    import torch
    from _machine import machine_info

    from mne_neurosketch.online import causal_filter

    torch.set_num_threads(1)
    case = CASES[name]
    print(f"{name}: fitting", flush=True)
    fit_raw = causal_filter(_read(case["fit"]), *case["band"], verbose=False)
    clf = _fit(_epochs(fit_raw, case), args)
    result = dict(case=name, machine=machine_info("cpu"), max_epochs=args.max_epochs,
                  chunk=CHUNK, band=list(case["band"]))
    with tempfile.TemporaryDirectory() as folder:
        result["live"] = live(case, clf, args, folder)
    print(json.dumps(result["live"], indent=1), flush=True)
    if name == "muse" and args.filter_study:
        print("muse: causal vs zero-phase", flush=True)
        result["filter_study_auc"] = filter_study(case, clf, args)
        print(result["filter_study_auc"], flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"online_{name}.json").write_text(json.dumps(result, indent=1))


def summary(out):
    from _rst import rst_table

    out = Path(out)
    rows, studies = [], []
    for path in sorted(out.glob("online_*.json")):
        r = json.loads(path.read_text())
        lv = r["live"]
        rows.append([
            r["case"], f"{lv['window'][0]} x {lv['window'][1]}",
            f"{lv['seconds'] / 60:.1f}", f"{lv['decisions_per_s']:.1f}",
            f"{lv['samples_received']} / {lv['samples_lost']}",
            f"{100 * lv['agreement']:.1f} % ({lv['max_abs_dp']:.1g})",
            f"{lv['windows_late']}",
            f"{lv['latency_p50_ms']:.1f} / {lv['latency_p99_ms']:.1f}",
            f"{lv['inference_alone_p50_ms']:.1f} / {lv['inference_alone_p99_ms']:.1f}",
            f"{100 * lv['cpu_share']:.0f} %",
            f"{lv['loadavg_at_start'][0]:.1f}, {lv['loadavg_at_end'][0]:.1f}"])
        if "filter_study_auc" in r:
            studies = [[k, f"{v:.3f}"] for k, v in r["filter_study_auc"].items()]
    machine = r["machine"]
    lines = ["Online decoding of a live LSL stream (loopback)",
             "~" * 47, "",
             "Command: ``python benchmarks/bench_online.py --minutes 10`` (then "
             "``--summary``). A NeuroSketch fitted on causally filtered calibration "
             "runs decodes held-out runs played by MNE-LSL's ``PlayerLSL`` in "
             f"another process (chunks of {r['chunk']} samples): Muse P300 "
             "event-locked on its stim channel, Kalunga2016 with a window every "
             "0.25 s. Agreement: every live decision against ``replay`` of the same "
             "file from the same first sample. Latency: from the arrival of the "
             "window's last sample (or its event) to the push of the decision on "
             "the outlet. CPU: this process (decoder and liblsl threads) over wall "
             "time; 100 % is one core. Inference alone: ``predict_proba`` of one "
             "window, one thread, in a loop after the live run.", "",
             f"- machine: {machine['cpu']}, {machine['cpu_count']} cores shared with "
             "other engineers' test runs while this ran (the load average at the "
             f"start and end of each live run is in the table); {machine['date']}",
             "",
             *rst_table(["case", "window", "minutes", "decisions/s",
                         "samples received / lost",
                         "agreement with replay (max difference of p)",
                         "late windows dropped", "latency p50 / p99 (ms)",
                         "inference alone p50 / p99 (ms)", "CPU (one core)",
                         "load avg start, end"], rows)]
    if studies:
        lines += ["ROC-AUC on Muse P300 session 3 (subject 1, one fit per filter, "
                  "seed 0), by the filter the model was fitted on and the filter of "
                  "the test windows (the decoder's is causal):", "",
                  *rst_table(["fit / test", "ROC-AUC"], studies)]
    (out / "online_summary.rst").write_text("\n".join(lines))
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="minutes of live decoding per case (default 10)")
    parser.add_argument("--max-epochs", type=int, default=60,
                        help="training epochs of each fit (default 60)")
    parser.add_argument("--no-filter-study", dest="filter_study", action="store_false",
                        help="skip the causal vs zero-phase fits")
    parser.add_argument("--progress", action="store_true", help="a status line")
    parser.add_argument("--out", default=str(HERE / "results" / "online"))
    parser.add_argument("--summary", action="store_true",
                        help="only write online_summary.rst from the JSON files")
    args = parser.parse_args(argv)
    if not args.summary:
        config = Path(tempfile.mkdtemp()) / "lsl_api.cfg"
        config.write_text(LSL_CONFIG)
        os.environ["LSLAPICFG"] = str(config)  # before liblsl loads, for the player too
        for name in args.cases:
            run_case(name, args)
    summary(args.out)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip liblsl's destructors at exit (they can abort)
