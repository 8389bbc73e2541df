"""Training throughput of NeuroSketchClassifier: bf16, channels-last, compile.

Trains NeuroSketch-Base (or ``--module``) on synthetic trials of 62 channels x
400 samples, 40 classes, through the full estimator (the paper's recipe:
augmentations on the device, AdamW, warm-up + cosine, one-hot BCE; no
validation split, so every epoch is training only). Each configuration is a
fresh fit of ``--epochs`` epochs; the first epoch (cuDNN autotuning,
``torch.compile``) is discarded and throughput is ``n_train / median(epoch
duration)`` over the remaining epochs (skorch's per-epoch ``dur``). Inference
throughput (``predict_proba``, same batch size) and the peak GPU memory of the
fit are reported too.

On CUDA, PyTorch lets cuDNN run float32 convolutions in TF32 (10-bit
mantissa) by default: the rows of configurations that train in fp32 are then
labelled ``tf32`` (``label``; ``config`` keeps the name asked for), and
``--no-tf32`` measures true fp32.

Usage::

    python benchmarks/bench_estimator_gpu.py results/estimator_gpu.json
    python benchmarks/bench_estimator_gpu.py out.json --batch-sizes 64 256 \\
        --configs fp32 bf16 bf16+cl bf16+cl+compile --n-train 4096 --epochs 4
    python benchmarks/bench_estimator_gpu.py out.json --no-tf32   # fp32 is fp32
    # smoke test without a GPU (tiny, meaningless numbers)
    python benchmarks/bench_estimator_gpu.py out.json --device cpu --n-train 128 \\
        --epochs 2 --batch-sizes 64 --configs fp32
"""

# License: BSD (3-clause)

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_name, synchronize

#: name -> (amp, channels_last, compile)
CONFIGS = {
    "fp32": (False, False, False),
    "fp32+cl": (False, True, False),
    "bf16": ("bf16", False, False),
    "bf16+cl": ("bf16", True, False),
    "bf16+cl+compile": ("bf16", True, True),
    "fp32+compile": (False, False, True),
    "auto": ("auto", "auto", "auto"),  # what the estimator picks by default
}


def _data(n, n_chans, n_times, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_chans, n_times), dtype=np.float32)
    return X, np.arange(n) % n_classes


def precision_label(config, train_path, device):
    """``config``, with fp32 called tf32 where cuDNN ran the fp32 convolutions
    in TF32 (PyTorch's default on CUDA): the label says what ran."""
    tf32 = str(device).startswith("cuda") and torch.backends.cudnn.allow_tf32
    if not (tf32 and train_path.split(": ", 1)[-1].startswith("fp32")):
        return config
    return config.replace("fp32", "tf32") if "fp32" in config else f"{config} (tf32)"


def run_one(config, batch_size, args, X, y):
    from mne_neurosketch.estimator import NeuroSketchClassifier

    amp, channels_last, compile_ = CONFIGS[config]
    clf = NeuroSketchClassifier(
        args.module, max_epochs=args.epochs, batch_size=batch_size, valid_size=None,
        device=args.device, amp=amp, channels_last=channels_last, compile=compile_,
        random_state=0, verbose=False,
    )
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    clf.fit(X, y)
    fit_s = time.perf_counter() - t0
    durations = list(clf.history_[:, "dur"])
    steady = durations[1:] or durations
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    clf.predict_proba(X[:batch_size])  # warm-up
    synchronize(args.device)
    t0 = time.perf_counter()
    clf.predict_proba(X)
    synchronize(args.device)
    predict_s = time.perf_counter() - t0
    return {
        "config": config,
        "label": precision_label(config, clf.train_path_, args.device),
        "amp": amp,
        "channels_last": channels_last,
        "compile": compile_,
        "batch_size": batch_size,
        "train_path_": clf.train_path_,
        "inference_path_": clf.inference_path_,
        "n_train": len(y),
        "epoch_durations_s": durations,
        "train_samples_per_s": len(y) / statistics.median(steady),
        "first_epoch_s": durations[0],
        "fit_s": fit_s,
        "predict_samples_per_s": len(y) / predict_s,
        "peak_gpu_memory_mib": peak,
        "n_parameters": sum(p.numel() for p in clf.module_.parameters()),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSON file to write")
    parser.add_argument("--module", default="NeuroSketch")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available()
                        else "cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS),
                        default=["fp32", "fp32+cl", "bf16", "bf16+cl",
                                 "bf16+cl+compile"])
    parser.add_argument("--n-train", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--n-chans", type=int, default=62)
    parser.add_argument("--n-times", type=int, default=400)
    parser.add_argument("--n-classes", type=int, default=40)
    parser.add_argument("--no-tf32", action="store_true",
                        help="turn TF32 off (cuDNN and matmul): fp32 rows run in fp32")
    args = parser.parse_args(argv)
    if args.no_tf32:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False

    X, y = _data(args.n_train, args.n_chans, args.n_times, args.n_classes)
    results = []
    for batch_size in args.batch_sizes:
        for config in args.configs:
            try:
                row = run_one(config, batch_size, args, X, y)
            except Exception as err:  # keep the other rows (e.g. compile failing)
                row = {"config": config, "batch_size": batch_size,
                       "error": f"{type(err).__name__}: {err}"}
            results.append(row)
            print(json.dumps({k: v for k, v in row.items()
                              if k != "epoch_durations_s"}), flush=True)
    meta = {
        "module": args.module,
        "shape": [args.n_chans, args.n_times],
        "n_classes": args.n_classes,
        "device": args.device,
        "device_name": (torch.cuda.get_device_name(args.device)
                        if args.device.startswith("cuda") else cpu_name()),
        "torch": torch.__version__,
        "bf16_supported": (torch.cuda.is_bf16_supported()
                           if torch.cuda.is_available() else None),
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
