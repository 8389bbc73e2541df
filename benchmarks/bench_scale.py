"""Memory and data rate of the streaming data path (issue 14), in fresh processes.

Steps, each in its own fresh Python process (peak resident memory = ``VmHWM`` of
that process, imports included; DataLoader worker processes are reported apart, as
the largest ``ru_maxrss`` of the children):

Chisco, one full-size synthetic subject (``simulate_chisco(full_size=True)``: 45
runs of 150 trials, 122 EEG channels x 2501 samples, task ``read``):

1. ``chisco-prepare``: build the cache entry (``neurosketch prepare``'s function),
   one run at a time;
2. ``chisco-pass``: one pass over every window of the subject from the cache
   through the estimator's DataLoader (batch 64, shuffled) - the data side of an
   epoch;
3. ``chisco-train``: ``NeuroSketchClassifier`` (NeuroSketch-Base, the recipe) fits
   one epoch on the lazy dataset; ``--train-windows`` windows spread evenly over
   all 45 runs (a full CPU epoch at this shape takes hours), batch
   ``--train-batch``.

SEED-DV, ``--seeddv-subjects`` full-size synthetic subjects (7 blocks x 40
concepts x 5 clips, 62 x 400), then the same on 2 subjects:

4. ``seeddv-prepare``: build the caches;
5. ``seeddv-fold-<n>``: the benchmark runner's cross-subject loading
   (``_planning._load(..., lazy=True)``), the first leave-one-subject-out fold, one
   pass over all of its training windows through the estimator's DataLoader, then
   NeuroSketch-Base fitted for one epoch on ``--fold-windows`` training windows
   spread over all training subjects and scored on as many test windows.

Data rate: windows/s delivered from the cache to a training loop (the estimator's
DataLoader, workers as configured) next to NeuroSketch-Base's CPU training
samples/s at the same shape, measured in the same process.

Usage::

    python benchmarks/bench_scale.py --dir /tmp/scale            # the full run
    python benchmarks/bench_scale.py --dir /tmp/scale --chisco-runs 3 \\
        --chisco-trials 20 --seeddv-subjects 3                   # a quick check

Results go to ``benchmarks/results/scale/scale_<device>.json`` and a summary
``scale_<device>_summary.rst`` (shown on the documentation's results page).
"""

# License: BSD (3-clause)

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _machine import cpu_name, folder_mb, process_memory_mb
from _rst import rst_table

HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------------ measuring
def _memory():
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return dict(peak_mb=process_memory_mb("VmHWM"), rss_mb=process_memory_mb("VmRSS"),
                workers_peak_mb=children)


def _iterate(loader, limit=None):
    """Pull batches as a training loop does; return (windows, seconds)."""
    import torch

    n, t0 = 0, time.perf_counter()
    for batch in loader:
        xb = batch[0]
        xb = xb if isinstance(xb, torch.Tensor) else torch.as_tensor(xb)
        n += len(xb)
        if limit is not None and n >= limit:
            break
    return n, time.perf_counter() - t0


def _loader(windows, batch_size=64, shuffle=True):
    """The estimator's loader over a lazy dataset (workers from the config)."""
    import torch

    from mne_neurosketch._estimator.net import _Loader
    from mne_neurosketch.datasets._array import WindowsArray, WindowsTorchDataset

    view = windows if isinstance(windows, WindowsArray) else WindowsArray(windows)
    return _Loader(WindowsTorchDataset(view, None), batch_size=batch_size,
                   shuffle=shuffle, generator=torch.Generator().manual_seed(0))


def _train_rate(n_chans, n_times, n_outputs, batch, steps):
    """NeuroSketch-Base training samples/s (forward, backward, AdamW step)."""
    import torch

    from mne_neurosketch.models import NeuroSketch

    torch.manual_seed(0)
    model = NeuroSketch(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, n_chans, n_times)
    y = torch.randint(0, n_outputs, (batch,))

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def _classifier(batch):
    from mne_neurosketch import NeuroSketchClassifier

    return NeuroSketchClassifier("NeuroSketch", max_epochs=1, batch_size=batch,
                                 valid_size=None, device="cpu", random_state=0,
                                 verbose=False)


def _spread(indices, n):
    import numpy as np

    indices = np.asarray(indices)
    if n >= len(indices):
        return indices
    return indices[np.linspace(0, len(indices) - 1, n).round().astype(int)]


# -------------------------------------------------------------------- children
def child_simulate_chisco(a):
    from mne_neurosketch.datasets.chisco import simulate_chisco

    t0 = time.perf_counter()
    full = a["runs"] == 45
    simulate_chisco(a["dir"], subjects=(1,), tasks=("read",), full_size=full,
                    runs=tuple(range(1, a["runs"] + 1)), n_categories=39,
                    n_trials_per_run=a["trials"], class_signal=0.5)
    return dict(seconds=time.perf_counter() - t0,
                source_mb=folder_mb(Path(a["dir"]) / "Chisco"))


def child_chisco_prepare(a):
    from mne_neurosketch.benchmark.prepare import prepare
    from mne_neurosketch.datasets.chisco import _ChiscoReader

    reader = _ChiscoReader(Path(a["dir"]) / "Chisco", task="read")
    base = _memory()
    t0 = time.perf_counter()
    (summary,) = prepare(reader, [1], cache_dir=a["cache"], progress=False)
    return dict(seconds=time.perf_counter() - t0, after_imports_mb=base["rss_mb"],
                runs=summary.n_recordings, windows=summary.n_windows,
                cache_mb=folder_mb(a["cache"]), **_memory())


def child_chisco_pass(a):
    from mne_neurosketch.datasets.chisco import Chisco

    base = _memory()
    t0 = time.perf_counter()
    ds = Chisco(1, path=Path(a["dir"]) / "Chisco", cache_dir=a["cache"])
    load_s = time.perf_counter() - t0
    n, seconds = _iterate(_loader(ds))
    return dict(after_imports_mb=base["rss_mb"], load_s=load_s, windows=n,
                seconds=seconds, windows_per_s=n / seconds, **_memory())


def child_chisco_train(a):
    import numpy as np

    from mne_neurosketch.datasets._array import WindowsArray
    from mne_neurosketch.datasets.chisco import Chisco

    base = _memory()
    ds = Chisco(1, path=Path(a["dir"]) / "Chisco", cache_dir=a["cache"])
    view = WindowsArray(ds)
    pick = _spread(np.arange(len(view)), a["train_windows"])
    y = np.asarray(ds.get_metadata()["target"])[pick]
    t0 = time.perf_counter()
    clf = _classifier(a["train_batch"]).fit(view[pick], y)
    seconds = time.perf_counter() - t0
    mem = _memory()  # before the speed measurement below builds another model
    runs = sorted({int(r) for r in ds.get_metadata()["run"].to_numpy()[pick]})
    return dict(after_imports_mb=base["rss_mb"], windows=len(pick),
                runs_touched=len(runs), batch=a["train_batch"], seconds=seconds,
                fit_samples_per_s=len(pick) / seconds,
                train_samples_per_s=_train_rate(122, 2501, 39, a["train_batch"], 2),
                epochs=len(clf.history_), **mem)


def child_simulate_seeddv(a):
    from mne_neurosketch.datasets.seed_dv import simulate_seed_dv

    t0 = time.perf_counter()
    n_distinct = min(a["distinct"], a["subjects"])
    simulate_seed_dv(a["dir"], subjects=tuple(range(1, n_distinct + 1)),
                     full_size=True, class_signal=0.5)
    # The other subjects are hard links to these files (same bytes, own name, own
    # cache entry): what is measured is how memory scales with the number of
    # subjects read, which does not depend on the samples' values.
    eeg = Path(a["dir"]) / "SEED-DV" / "EEG"
    for s in range(n_distinct + 1, a["subjects"] + 1):
        os.link(eeg / f"sub{(s - 1) % n_distinct + 1}.npy", eeg / f"sub{s}.npy")
    return dict(seconds=time.perf_counter() - t0, distinct_subjects=n_distinct,
                source_mb=folder_mb(Path(a["dir"]) / "SEED-DV"))


def child_seeddv_prepare(a):
    from mne_neurosketch.benchmark.prepare import prepare

    t0 = time.perf_counter()
    out = prepare("seeddv", list(range(1, a["subjects"] + 1)), path=a["dir"],
                  cache_dir=a["cache"], progress=False)
    return dict(seconds=time.perf_counter() - t0,
                windows=sum(p.n_windows for p in out),
                cache_mb=folder_mb(a["cache"]), **_memory())


def child_seeddv_fold(a):
    import numpy as np

    from mne_neurosketch.benchmark import resolve_dataset
    from mne_neurosketch.benchmark._planning import _load
    from mne_neurosketch.benchmark.protocols import make_protocol

    base = _memory()
    subjects = list(range(1, a["subjects"] + 1))
    spec = resolve_dataset("seeddv", path=a["dir"])
    t0 = time.perf_counter()
    X, labels, meta = _load(spec, spec.paradigm("signal"), subjects, lazy=True)
    load_s = time.perf_counter() - t0
    y = np.unique(labels, return_inverse=True)[1]
    fold = next(iter(make_protocol("cross-subject").split(y, meta)))
    n, seconds = _iterate(_loader(X[fold.train]))
    data = _memory()
    train = _spread(fold.train, a["fold_windows"])
    test = _spread(fold.test, a["fold_windows"])
    t1 = time.perf_counter()
    clf = _classifier(64).fit(X[train], y[train])
    score = float(clf.score(X[test], y[test]))
    fit_s = time.perf_counter() - t1
    mem = _memory()  # before the speed measurement below builds another model
    return dict(after_imports_mb=base["rss_mb"], subjects=len(subjects),
                data_peak_mb=data["peak_mb"],
                windows_total=len(X), train_windows=len(fold.train), load_s=load_s,
                pass_windows=n, pass_seconds=seconds, windows_per_s=n / seconds,
                fit_windows=len(train), fit_and_score_s=fit_s, score=score,
                train_samples_per_s=_train_rate(62, 400, 40, 64, 3), **mem)


CHILDREN = {name[len("child_"):]: fn for name, fn in globals().items()
            if name.startswith("child_")}


def _run_child(step, args):
    env = dict(os.environ, MNE_NEUROSKETCH_CACHE_DIR=str(args["cache"]))
    cmd = [sys.executable, __file__, "--child", step, "--child-args", json.dumps(args)]
    print(f"[{time.strftime('%H:%M:%S')}] {step} ...", flush=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"step {step} failed")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"    {json.dumps(result)}", flush=True)
    return result


# ----------------------------------------------------------------------- main
def _summary(res, args):
    lines = ["Scale: float32, lazy windows, streaming preparation (issue 14)",
             "~" * 62, ""]
    m = res["machine"]
    lines += [f"- machine: {m['cpu']} ({m['cores']} logical cores, shared with "
              "other jobs during the run), "
              f"{m['memory_gb']:.1f} GiB; {m['python']}, torch {m['torch']}; "
              f"{m['date']}; DataLoader workers {m['workers']}",
              "- peak = peak resident memory (``VmHWM``) of a fresh process, imports "
              f"included (importing the package alone: {m['import_mb']:.0f} MB); "
              "workers = largest DataLoader worker process",
              f"- command: ``{res['command']}``", ""]
    rows = []
    c = res.get("chisco")
    if c:
        p, d, t = c["prepare"], c["pass"], c["train"]
        lines.append(
            f"- Chisco: {p['runs']} runs, {p['windows']} windows of 122 x 2501 "
            f"(source {c['simulate']['source_mb'] / 1024:.1f} GB, float32 cache "
            f"{p['cache_mb'] / 1024:.1f} GB); the epoch is {t['windows']} windows "
            f"spread over all runs at batch {t['batch']} (a CPU epoch over every "
            "window takes hours at this shape, and NeuroSketch-Base's training "
            "activations grow with the batch; a full epoch at batch 64 is a GPU job)")
        rows += [
            ("Chisco: prepare (one run at a time)", p["peak_mb"], "-",
             f"{p['seconds']:.0f} s"),
            ("Chisco: one pass over all windows, loader batch 64", d["peak_mb"],
             d["workers_peak_mb"], f"{d['windows_per_s']:.0f} windows/s"),
            (f"Chisco: NeuroSketch-Base one epoch, {t['windows']} windows over "
             f"{t['runs_touched']} runs, batch {t['batch']}", t["peak_mb"],
             t["workers_peak_mb"], f"{t['seconds']:.0f} s"),
        ]
    s = res.get("seeddv")
    if s:
        n_all, n_sim = max(map(int, s["folds"])), s["simulate"]["distinct_subjects"]
        linked = "" if n_sim >= n_all else (
            f", {n_sim} simulated and the others hard links to their files (same "
            "bytes, own cache entries)")
        lines.append(
            f"- SEED-DV: {n_all} full-size synthetic subjects (7 blocks x 40 concepts x "
            f"5 clips of 62 x 400; source {s['simulate']['source_mb'] / 1024:.1f} GB, "
            f"float32 caches {s['prepare']['cache_mb'] / 1024:.1f} GB){linked}; "
            "the fit rows' peak is mostly NeuroSketch-Base's batch-64 training "
            "activations, the pass rows are the data path alone")
        for key in sorted(s["folds"], key=int):
            f = s["folds"][key]
            rows.append((
                f"SEED-DV cross-subject fold, {f['subjects']} subjects "
                f"({f['windows_total']} windows): load + one pass over the "
                f"{f['train_windows']} training windows", f["data_peak_mb"], "-",
                f"{f['windows_per_s']:.0f} windows/s"))
            rows.append((
                f"SEED-DV cross-subject fold, {f['subjects']} subjects: then "
                f"NeuroSketch-Base one epoch on {f['fit_windows']} windows (batch 64) "
                "and scoring", f["peak_mb"], f["workers_peak_mb"],
                f"{f['windows_per_s']:.0f} windows/s; fit+score "
                f"{f['fit_and_score_s']:.0f} s"))
    lines += ["", *rst_table(
        ["step", "peak (MB)", "workers (MB)", "time / rate"],
        [[name, f"{peak:.0f}", w if isinstance(w, str) else f"{w:.0f}", note]
         for name, peak, w, note in rows],
        "Peak resident memory per step (MB)")]
    lines += rst_table(
        ["shape", "windows/s from the cache", "NeuroSketch-Base training samples/s",
         "ratio"],
        [[shape, f"{data:.0f}", f"{train:.2f}", f"{data / train:.0f}x"]
         for shape, data, train in res["rates"]],
        "Data rate into training vs CPU training speed (same process, same shape)")
    if s and "ratio_20_vs_2" in s:
        lines += [f"- SEED-DV peak memory, {max(map(int, s['folds']))} vs 2 "
                  f"subjects: {s['ratio_20_vs_2']:.3f}x", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default="/tmp/neurosketch-scale",
                        help="scratch folder for the synthetic corpora and caches")
    parser.add_argument("--out", default=str(HERE / "results" / "scale"))
    parser.add_argument("--steps", default="chisco,seeddv")
    parser.add_argument("--chisco-runs", type=int, default=45)
    parser.add_argument("--chisco-trials", type=int, default=150)
    parser.add_argument("--train-windows", type=int, default=32)
    parser.add_argument("--train-batch", type=int, default=2)
    parser.add_argument("--seeddv-subjects", type=int, default=20)
    parser.add_argument("--fold-windows", type=int, default=256)
    parser.add_argument("--seeddv-distinct", type=int, default=20,
                        help="subjects simulated; the others link to their files")
    parser.add_argument("--keep", action="store_true", help="keep the scratch files")
    parser.add_argument("--summarize", action="store_true",
                        help="only rewrite the summary from the saved results")
    parser.add_argument("--child")
    parser.add_argument("--child-args")
    args = parser.parse_args(argv)
    if args.child:
        out = CHILDREN[args.child.replace("-", "_")](json.loads(args.child_args))
        print(json.dumps(out))
        return 0

    if args.summarize:
        res = json.loads((Path(args.out) / "scale_cpu.json").read_text())
        (Path(args.out) / "scale_cpu_summary.rst").write_text(_summary(res, args))
        print(_summary(res, args))
        return 0

    import torch

    from mne_neurosketch._estimator.net import _loader_workers

    scratch = Path(args.dir)
    scratch.mkdir(parents=True, exist_ok=True)
    import_mb = json.loads(subprocess.run(
        [sys.executable, "-c", "import json, mne_neurosketch, pathlib; "
         "s = pathlib.Path('/proc/self/status').read_text(); "
         "print(json.dumps(int(s.split('VmHWM:')[1].split()[0]) / 1024))"],
        capture_output=True, text=True, check=True).stdout)
    res = dict(
        command="python benchmarks/bench_scale.py " + " ".join(argv or sys.argv[1:]),
        machine=dict(cpu=cpu_name(),
                     cores=os.cpu_count(), python=platform.python_version(),
                     torch=torch.__version__, date=time.strftime("%Y-%m-%dT%H:%M:%S"),
                     memory_gb=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                     / 1024**3, workers=_loader_workers(), import_mb=import_mb),
        rates=[],
    )
    steps = args.steps.split(",")
    if "chisco" in steps:
        a = dict(dir=str(scratch / "chisco"), cache=str(scratch / "chisco-cache"),
                 runs=args.chisco_runs, trials=args.chisco_trials,
                 train_windows=args.train_windows, train_batch=args.train_batch)
        c = res["chisco"] = {}
        c["simulate"] = _run_child("simulate-chisco", a)
        c["prepare"] = _run_child("chisco-prepare", a)
        c["pass"] = _run_child("chisco-pass", a)
        c["train"] = _run_child("chisco-train", a)
        res["rates"].append(("Chisco 122 x 2501", c["pass"]["windows_per_s"],
                             c["train"]["train_samples_per_s"]))
        if not args.keep:
            shutil.rmtree(scratch / "chisco", ignore_errors=True)
            shutil.rmtree(scratch / "chisco-cache", ignore_errors=True)
    if "seeddv" in steps:
        a = dict(dir=str(scratch / "seeddv"), cache=str(scratch / "seeddv-cache"),
                 subjects=args.seeddv_subjects, fold_windows=args.fold_windows,
                 distinct=args.seeddv_distinct)
        s = res["seeddv"] = {"folds": {}}
        s["simulate"] = _run_child("simulate-seeddv", a)
        s["prepare"] = _run_child("seeddv-prepare", a)
        for n in (args.seeddv_subjects, 2):
            s["folds"][str(n)] = _run_child("seeddv-fold", dict(a, subjects=n))
        big, small = s["folds"][str(args.seeddv_subjects)], s["folds"]["2"]
        s["ratio_20_vs_2"] = big["peak_mb"] / small["peak_mb"]
        res["rates"].append(("SEED-DV 62 x 400", big["windows_per_s"],
                             big["train_samples_per_s"]))
        if not args.keep:
            shutil.rmtree(scratch / "seeddv", ignore_errors=True)
            shutil.rmtree(scratch / "seeddv-cache", ignore_errors=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "scale_cpu"
    if (out / f"{name}.json").is_file():  # keep the corpora not rerun
        old = json.loads((out / f"{name}.json").read_text())
        for key in ("chisco", "seeddv"):
            if key in old and key not in res:
                res[key] = old[key]
        shapes = {shape for shape, _, _ in res["rates"]}
        res["rates"] += [r for r in old.get("rates", []) if r[0] not in shapes]
        if old.get("command") != res["command"]:
            res["command"] = f"{old.get('command')}; then {res['command']}"
    (out / f"{name}.json").write_text(json.dumps(res, indent=1))
    (out / f"{name}_summary.rst").write_text(_summary(res, args))
    print(_summary(res, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
