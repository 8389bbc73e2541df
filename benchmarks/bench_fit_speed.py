"""Does the estimator users run train and predict as fast as the speed tables?

In one run, side by side on the CPU, NeuroSketch-Base at 62 x 400, 40 classes,
batch 64, on synthetic trials:

- **fit**: (a) a plain eager PyTorch loop (``torch.optim.AdamW``, one-hot
  BCE-with-logits, no augmentation, no compile, fp32) over the same model and
  the same number of epochs, against (b) ``NeuroSketchClassifier.fit`` with
  its defaults (the recipe's augmentations on every batch, warm-up + cosine,
  gradient clipping; ``amp``/``compile`` ``"auto"``) and ``valid_size=None``
  so both run the same optimizer steps. (b) counts the whole ``fit`` call
  (input checks, the bf16 probe, building the net, choosing the inference
  path); samples/s is ``n_trials * epochs / wall time`` for both.
- **fit, compiled** (``--compile``): (b) with ``compile=True``; the compile
  time is reported separately (first epoch minus the median later epoch,
  skorch's per-epoch ``dur``), with the steady-state samples/s of the later
  epochs, so the number of steps at which compiling pays can be read off.
- **predict**: the eager model (``model.eval()`` under ``torch.no_grad``, fp32,
  batches of 64) against ``NeuroSketchClassifier.predict`` on the same
  trials and weights (whole call: checks, scaling, softmax).

Denormals are flushed to zero for every path (``torch.set_flush_denormal``),
as ``bench_models.py`` does. Paths alternate within each repeat; the best
repeat of each is reported.

Usage::

    python benchmarks/bench_fit_speed.py benchmarks/results/speed/fit_speed_cpu.json
    python benchmarks/bench_fit_speed.py out.json --n-trials 192 --epochs 2 \\
        --repeats 1 --compile
"""

# License: BSD (3-clause)

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine_info  # noqa: E402

warnings.filterwarnings("ignore")  # braindecode/MNE deprecation noise, as bench_models

SHAPE = dict(n_chans=62, n_times=400, n_outputs=40)


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SHAPE["n_chans"], SHAPE["n_times"]), dtype=np.float32)
    return X, np.arange(n) % SHAPE["n_outputs"]


def _timed(fn, *args, **kwargs):
    """``(wall seconds, process CPU seconds, result)`` of ``fn(*args, **kwargs)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu, out


def eager_fit(X, y, *, epochs, batch_size, seed=0):
    """Plain PyTorch: AdamW, one-hot BCE, fp32, eager. Returns the model."""
    from mne_neurosketch.models import NeuroSketch

    torch.manual_seed(seed)
    model = NeuroSketch(**SHAPE).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    target = F.one_hot(yt, SHAPE["n_outputs"]).float()
    for _ in range(epochs):
        for idx in torch.randperm(len(Xt)).split(batch_size):
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(Xt[idx]), target[idx])
            loss.backward()
            opt.step()
    return model


def estimator_fit(X, y, *, epochs, batch_size, compile="auto"):
    """``NeuroSketchClassifier.fit`` with the defaults. Returns the estimator."""
    from mne_neurosketch import NeuroSketchClassifier

    clf = NeuroSketchClassifier(
        max_epochs=epochs, batch_size=batch_size, valid_size=None, random_state=0,
        compile=compile,
    )
    return clf.fit(X, y)


def eager_predict(model, X, batch_size):
    model.eval()
    with torch.no_grad():
        for xb in torch.from_numpy(X).split(batch_size):
            model(xb).softmax(-1)


def run(args) -> dict:
    torch.set_flush_denormal(True)
    machine = machine_info(torch.device("cpu"))
    X, y = _data(args.n_trials)
    n_samples = args.n_trials * args.epochs
    names = ("eager fit", "NeuroSketchClassifier.fit", "eager predict",
             "NeuroSketchClassifier.predict")
    wall = {k: [] for k in names}  # samples per wall-clock second
    cpu = {k: [] for k in names}  # samples per process CPU second

    def record(name, n, seconds):
        wall[name].append(n / seconds[0])
        cpu[name].append(n / seconds[1])

    clf = None
    for rep in range(args.repeats):
        *t, model = _timed(eager_fit, X, y, epochs=args.epochs,
                           batch_size=args.batch_size)
        record("eager fit", n_samples, t)
        *t, clf = _timed(estimator_fit, X, y, epochs=args.epochs,
                         batch_size=args.batch_size)
        record("NeuroSketchClassifier.fit", n_samples, t)
        model.load_state_dict(clf.module_.state_dict())  # same weights to predict
        *t, _ = _timed(eager_predict, model, X, args.batch_size)
        record("eager predict", len(X), t)
        *t, _ = _timed(clf.predict, X)
        record("NeuroSketchClassifier.predict", len(X), t)
        rates = ", ".join(f"{k} {v[-1]:.2f}/s" for k, v in wall.items())
        print(f"repeat {rep}: {rates}", flush=True)
    best = {k: max(v) for k, v in wall.items()}
    best_cpu = {k: max(v) for k, v in cpu.items()}
    result = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "model": "NeuroSketch-Base",
        "shape": SHAPE,
        "batch_size": args.batch_size,
        "n_trials": args.n_trials,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "samples_per_s": wall,
        "samples_per_cpu_s": cpu,
        "best_samples_per_s": best,
        "train_path_": clf.train_path_,
        "inference_path_": clf.inference_path_,
        "fit_ratio": best["NeuroSketchClassifier.fit"] / best["eager fit"],
        "predict_ratio": best["NeuroSketchClassifier.predict"] / best["eager predict"],
        "fit_ratio_cpu_time": (best_cpu["NeuroSketchClassifier.fit"]
                               / best_cpu["eager fit"]),
        "predict_ratio_cpu_time": (best_cpu["NeuroSketchClassifier.predict"]
                                   / best_cpu["eager predict"]),
    }
    if args.compile:
        t_fit, _, comp = _timed(estimator_fit, X, y, epochs=args.epochs,
                                batch_size=args.batch_size, compile=True)
        durs = [h["dur"] for h in comp.history_]
        steady = float(np.median(durs[1:])) if len(durs) > 1 else float("nan")
        result["compiled"] = {
            "train_path_": comp.train_path_,
            "fit_samples_per_s": n_samples / t_fit,
            "epoch_durations_s": durs,
            "compile_s": durs[0] - steady,
            "steady_samples_per_s": args.n_trials / steady,
        }
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    return result


def summary(result) -> str:
    m, b = result["machine"], result["best_samples_per_s"]
    lines = [
        "Estimator speed against plain PyTorch (CPU)",
        "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~",
        "",
        f"Command: ``{result['command']}``",
        "",
        f"- machine: {m.get('cpu', '?')}; torch CPU capability "
        f"{result['cpu_capability']}; load average {m['loadavg_start'][0]:.1f} -> "
        f"{m['loadavg_end'][0]:.1f}",
        f"- NeuroSketch-Base, 62 x 400, 40 classes, batch {result['batch_size']}, "
        f"{result['n_trials']} trials x {result['epochs']} epochs, best of "
        f"{result['repeats']}",
        f"- estimator paths: training ``{result['train_path_']}``, inference "
        f"``{result['inference_path_']}``",
        "",
        f"- fit: eager {b['eager fit']:.2f} samples/s, NeuroSketchClassifier.fit "
        f"{b['NeuroSketchClassifier.fit']:.2f} samples/s: **{result['fit_ratio']:.2f}x** "
        "(goal 1.4x; the whole fit call counted)",
        f"- predict: eager {b['eager predict']:.2f} samples/s, "
        f"NeuroSketchClassifier.predict {b['NeuroSketchClassifier.predict']:.2f} "
        f"samples/s: **{result['predict_ratio']:.2f}x** (goal 2x)",
        f"- the same ratios in samples per process CPU second (less sensitive to "
        f"other processes' load): fit {result['fit_ratio_cpu_time']:.2f}x, predict "
        f"{result['predict_ratio_cpu_time']:.2f}x",
    ]
    if "compiled" in result:
        c = result["compiled"]
        batch = result["batch_size"]
        saved = batch / b["NeuroSketchClassifier.fit"] - batch / c["steady_samples_per_s"]
        pays = f"about {c['compile_s'] / saved:.0f} steps" if saved > 0 else "never"
        lines += [
            f"- compile=True (``{c['train_path_']}``): compile {c['compile_s']:.1f} s, "
            f"steady {c['steady_samples_per_s']:.2f} samples/s "
            f"(**{c['steady_samples_per_s'] / b['eager fit']:.2f}x** the eager loop), "
            f"whole fit {c['fit_samples_per_s']:.2f} samples/s; against the "
            f"uncompiled fit, compiling pays after {pays}",
            "",
            "A fit of a few steps is dominated by fixed costs (the bf16 probes, "
            "building the net, choosing the inference path, compiling); a real fit "
            "(the recipe's 500 epochs) runs at the steady rate.",
        ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSON file to write (.rst beside it)")
    parser.add_argument("--n-trials", type=int, default=320)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--compile", action="store_true",
                        help="also time a compile=True fit (compile time separately)")
    args = parser.parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    text = summary(result)
    args.out.with_name(args.out.stem + "_summary.rst").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
