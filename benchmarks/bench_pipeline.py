"""Windows per second from the cached corpus into the training loop.

Shows whether the data path can feed the model: a synthetic SEED-DV corpus in
its real on-disk format (``simulate_seed_dv``, full size by default: 1400
windows of 62 x 400 per subject) is loaded through
:class:`mne_neurosketch.datasets.SEEDDV` (first load builds the cache, second
load reads it), then one epoch is drawn

- through a torch ``DataLoader`` over the braindecode windows dataset (the
  generic path; 0 and 2 worker processes), each batch moved to the device;
- from the windows gathered once into one array and kept on the device
  (:class:`mne_neurosketch.training.DeviceBatches`);
- end to end: each path feeding real NeuroSketch-Base training steps
  (:class:`~mne_neurosketch.training.TrainStep`: bf16, channels-last,
  fused AdamW and a CUDA graph on a GPU; plain fp32 with channels-last on a CPU).

The windows/s of each path are put next to the training samples/s that
``bench_models.py`` measured for NeuroSketch-Base at 62 x 400 (read from
``benchmarks/results/models_*.json``): a ratio above 1 means the loader keeps up.

Usage::

    python benchmarks/bench_pipeline.py                 # 1 full-size subject
    python benchmarks/bench_pipeline.py --small --device cpu
"""

# License: BSD (3-clause)

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import machine_info, synchronize  # noqa: E402
from _rst import rst_table  # noqa: E402

RESULTS = HERE / "results" / "speed"


def _collate(items):
    X = torch.from_numpy(np.stack([it[0] for it in items])).float()
    y = torch.as_tensor([int(it[1]) for it in items])
    return X, y


def windows_array(ds) -> tuple[np.ndarray, np.ndarray]:
    """All windows of a braindecode windows dataset as ``(X, y)`` arrays."""
    X = np.stack([ds[i][0] for i in range(len(ds))]).astype(np.float32, copy=False)
    y = np.asarray([int(ds[i][1]) for i in range(len(ds))])
    return X, y


def epoch_rate(batches, device, *, n_repeat=3, step=None) -> dict:
    """Windows/s of one pass over ``batches`` (an iterable), after a warm-up pass.

    The untimed first pass starts the loader's persistent workers and, with
    ``step``, records the CUDA graph; the median of ``n_repeat`` passes is kept.
    """
    rates = []
    for i in range(n_repeat + 1):
        n, start = 0, time.perf_counter()
        for xb, yb in batches:
            xb = xb.to(device, non_blocking=True)
            yb = yb.to(device, non_blocking=True)
            if step is not None:
                step(xb, yb)
            n += len(xb)
        synchronize(device)
        if i:
            rates.append(n / (time.perf_counter() - start))
    return {"windows_per_s": statistics.median(rates), "all": rates}


def model_rates(device) -> dict:
    """NeuroSketch-Base 62 x 400 training samples/s on ``device`` (bench_models)."""
    import csv

    out = {}
    for path in sorted(RESULTS.glob("models_*.csv")):
        with open(path, newline="") as fid:
            for r in csv.DictReader(fid):
                if (
                    r["device"] == device.type
                    and r["model"] == "NeuroSketch-Base"
                    and r["corpus"] == "SEED-DV"
                    and r["mode"] == "train"
                    and int(r["batch"]) > 1
                    and r["samples_per_s"]
                ):
                    key = f"{path.stem}: {r['variant']} b{r['batch']}"
                    out[key] = float(r["samples_per_s"])
    return out


def summary_rst(result: dict) -> str:
    """The tables of one run as reStructuredText."""
    m = result["machine"]
    title = f"Data pipeline: SEED-DV windows into training ({result['device']})"
    lines = [
        title,
        "~" * len(title),
        "",
        f"- machine: {m.get('gpu') or m['cpu']}; {m['cpu_count']} logical cores; "
        f"load average {m['loadavg_start'][0]:.1f} -> {m['loadavg_end'][0]:.1f}",
        f"- {result['n_windows']} windows of 62 x 400 "
        f"({result['n_subjects']} subject(s), "
        f"{'full' if result['full_size'] else 'small'} size), "
        f"batch {result['batch_size']}; "
        f"first load {result['first_load_s']:.1f} s, cached load "
        f"{result['cached_load_s']:.2f} s, gathering into one array "
        f"{result['gather_array_s']:.2f} s",
        "",
    ]
    lines += rst_table(
        ["path", "windows/s"],
        [[k, f"{r['windows_per_s']:,.0f}"] for k, r in result["paths"].items()],
        "Windows per second of one epoch (median of repeats)",
    )
    if result["model_train_samples_per_s"]:
        best_loader = max(
            r["windows_per_s"]
            for k, r in result["paths"].items()
            if k.startswith("DataLoader,")
        )
        dev = result["paths"]["DeviceBatches (array on the device)"]["windows_per_s"]
        rows = [
            [k, f"{v:,.0f}", f"{best_loader / v:.2f}", f"{dev / v:.1f}"]
            for k, v in result["model_train_samples_per_s"].items()
        ]
        lines += rst_table(
            [
                "bench_models result",
                "training samples/s",
                "best DataLoader / model",
                "DeviceBatches / model",
            ],
            rows,
            "Loader rate over model consumption (above 1: the loader keeps up)",
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=1)
    parser.add_argument(
        "--small",
        action="store_true",
        help="2 blocks x 3 concepts per subject instead of the real size",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument(
        "--train-epochs",
        type=int,
        default=2,
        help="timed epochs of the end-to-end runs with NeuroSketch-Base",
    )
    parser.add_argument("--no-train", dest="train", action="store_false")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--dir", default=None, help="work folder (default: a temporary one)"
    )
    parser.add_argument("--tag", default=None)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--render", default=None, help="only rewrite the summary of this result .json"
    )
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render)
    device = torch.device(
        "cuda"
        if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        else "cpu"
    )
    from mne_neurosketch.datasets import SEEDDV, simulate_seed_dv

    result = {
        "machine": machine_info(device),
        "device": device.type,
        "batch_size": args.batch_size,
        "full_size": not args.small,
    }
    tmp = tempfile.TemporaryDirectory() if args.dir is None else None
    work = Path(args.dir or tmp.name)
    subjects = list(range(1, args.subjects + 1))
    start = time.perf_counter()
    root = simulate_seed_dv(work, subjects, full_size=not args.small)
    result["simulate_s"] = time.perf_counter() - start
    cache = work / "cache"
    timings = {}
    for name in ("first_load_s", "cached_load_s"):
        start = time.perf_counter()
        ds = SEEDDV(subjects, path=root, cache_dir=cache, verbose="error")
        timings[name] = time.perf_counter() - start
    result.update(timings, n_windows=len(ds))
    print(
        f"{len(ds)} windows; first load {timings['first_load_s']:.1f} s, "
        f"cached load {timings['cached_load_s']:.2f} s",
        flush=True,
    )

    paths = {}
    pin = device.type == "cuda"

    def loader(workers, drop_last=False):
        return DataLoader(
            ds,
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=workers,
            collate_fn=_collate,
            pin_memory=pin,
            persistent_workers=workers > 0,
            drop_last=drop_last,
        )

    for workers in args.workers:
        paths[f"DataLoader, {workers} workers"] = epoch_rate(loader(workers), device)
    start = time.perf_counter()
    X, y = windows_array(ds)
    result["gather_array_s"] = time.perf_counter() - start
    from mne_neurosketch.training import DeviceBatches

    on_device = DeviceBatches(X, y, batch_size=args.batch_size, device=device)
    paths["DeviceBatches (array on the device)"] = epoch_rate(on_device, device)
    if args.train:
        from mne_neurosketch import NeuroSketch
        from mne_neurosketch.training import TrainStep, make_adamw

        cuda = device.type == "cuda"
        model = NeuroSketch(62, 40, 400).to(device)
        # the fastest step without compilation (bench_models' bf16+cl+fused+graph)
        step = TrainStep(
            model,
            F.binary_cross_entropy_with_logits,
            make_adamw(model, cuda_graph=cuda),
            amp_dtype=torch.bfloat16 if cuda else None,
            channels_last=True,
            cuda_graph=cuda,
        )

        def train(xb, yb):
            step(xb, F.one_hot(yb, 40).float())

        best = max(
            args.workers, key=lambda w: paths[f"DataLoader, {w} workers"]["windows_per_s"]
        )
        feeds = {
            f"DataLoader ({best} workers) -> training": loader(best, drop_last=True),
            "DeviceBatches -> training": DeviceBatches(
                X, y, batch_size=args.batch_size, device=device, drop_last=True
            ),
        }
        for name, feed in feeds.items():
            paths[name] = epoch_rate(feed, device, n_repeat=args.train_epochs, step=train)
    result["paths"] = paths
    result["model_train_samples_per_s"] = model_rates(device)
    result["machine"]["loadavg_end"] = list(os.getloadavg())

    result.update(n_subjects=args.subjects, n_windows=len(ds))
    text = summary_rst(result)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"pipeline_{args.tag or device.type}{'_small' if args.small else ''}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    (out / f"{stem.name}_summary.rst").write_text(text)
    print(f"wrote {stem}.json and {stem.name}_summary.rst")
    if tmp is not None:
        tmp.cleanup()


def render(path) -> None:
    """Rewrite the summary of a result file with the current model rates."""
    path = Path(path)
    result = json.loads(path.read_text())
    result["model_train_samples_per_s"] = model_rates(torch.device(result["device"]))
    path.write_text(json.dumps(result, indent=1, default=str))
    (path.parent / f"{path.stem}_summary.rst").write_text(summary_rst(result))


if __name__ == "__main__":
    sys.exit(main())
