"""First-load vs cached-load time and peak memory of the corpus adapters.

For each corpus, one full-size synthetic subject (the real shapes, written in the
corpus' real on-disk format by ``simulate_<corpus>``) is loaded through the public
braindecode dataset class, first with an empty cache (read, preprocess, validate,
write the cache entry) and then from the cache (memory-mapped, checksum verified).
Each load runs in a fresh Python process; its peak resident memory (``VmHWM``,
reset after the imports) is reported next to the resident memory before the load
(the imported libraries); memory-mapped cache pages count as resident once read.
The source files sit in the OS page cache in both cases (the numbers are not
cold-disk reads).

Usage::

    python benchmarks/bench_datasets.py                  # all three corpora
    python benchmarks/bench_datasets.py --corpora seed-dv --repeat 3 --dir /tmp/bench
"""

# License: BSD (3-clause)

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _machine import folder_mb, process_memory_mb

# corpus -> (dataset class, simulate function, simulate kwargs, subject, load kwargs)
CORPORA = {
    "seed-dv": ("SEEDDV", "simulate_seed_dv", {}, 1, {}),
    # jt: the largest subject (102 channels, 300 stimuli)
    "faces-houses": ("FacesHouses", "simulate_faces_houses", {}, 9, {}),
    "things-eeg": ("ThingsEEG", "simulate_things_eeg", {"tasks": ("test",)}, 1, {}),
    "things-eeg-train": (
        "ThingsEEG",
        "simulate_things_eeg",
        {"tasks": ("train",)},
        1,
        {"task": "train"},
    ),
}


def _worker(corpus, root, cache_dir):
    import time

    import numpy as np

    from mne_neurosketch import datasets

    cls_name, _, _, subject, load_kwargs = CORPORA[corpus]
    # Reset the peak-RSS counter (Linux) so the peak is that of the load alone,
    # not of the package imports before it.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    base = process_memory_mb("VmRSS")
    t0 = time.perf_counter()
    ds = getattr(datasets, cls_name)(
        subject, path=root, cache_dir=cache_dir, verbose="error", **load_kwargs
    )
    elapsed = time.perf_counter() - t0
    X0 = ds[len(ds) - 1][0]
    assert np.isfinite(X0).all()
    print(
        json.dumps(
            dict(
                time=elapsed,
                n_windows=len(ds),
                window=list(X0.shape),
                rss_base_mb=base,
                rss_peak_mb=process_memory_mb("VmHWM"),
            )
        )
    )


def _run_worker(corpus, root, cache_dir):
    out = subprocess.run(
        [sys.executable, __file__, "--worker", corpus, str(root), str(cache_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpora",
        nargs="+",
        default=["seed-dv", "faces-houses", "things-eeg"],
        choices=sorted(CORPORA),
    )
    parser.add_argument("--repeat", type=int, default=3, help="loads of each kind")
    parser.add_argument("--dir", default=None, help="work folder (default: a temp dir)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(*args.worker)
        return

    from mne_neurosketch import datasets

    work = Path(args.dir or tempfile.mkdtemp(prefix="bench_datasets_"))
    rows = []
    for corpus in args.corpora:
        _, sim_name, sim_kwargs, subject, _ = CORPORA[corpus]
        data_dir = work / corpus / "data"
        if not data_dir.exists():
            print(f"[{corpus}] writing a full-size synthetic subject ...", flush=True)
            getattr(datasets, sim_name)(
                data_dir, subjects=(subject,), full_size=True, **sim_kwargs
            )
        first, cached = [], []
        for _ in range(args.repeat):
            cache_dir = work / corpus / "cache"
            shutil.rmtree(cache_dir, ignore_errors=True)
            first.append(_run_worker(corpus, data_dir, cache_dir))
            cached.append(_run_worker(corpus, data_dir, cache_dir))
        row = dict(
            corpus=corpus,
            subject=subject,
            source_mb=folder_mb(data_dir),
            cache_mb=folder_mb(work / corpus / "cache"),
            n_windows=first[0]["n_windows"],
            window=tuple(first[0]["window"]),
            first_s=statistics.median(r["time"] for r in first),
            cached_s=statistics.median(r["time"] for r in cached),
            rss_base_mb=statistics.median(r["rss_base_mb"] for r in first),
            first_peak_mb=max(r["rss_peak_mb"] for r in first),
            cached_peak_mb=max(r["rss_peak_mb"] for r in cached),
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    header = (
        "| corpus | windows | source MB | cache MB | first load s | cached load s "
        "| speed-up | peak RSS first / cached MB (before load) |"
    )
    print(header)
    print("|" + "---|" * 8)
    for r in rows:
        print(
            f"| {r['corpus']} (sub {r['subject']}) | {r['n_windows']} x "
            f"{r['window'][0]} x {r['window'][1]} | {r['source_mb']:.0f} | "
            f"{r['cache_mb']:.0f} | {r['first_s']:.2f} | {r['cached_s']:.2f} | "
            f"{r['first_s'] / r['cached_s']:.1f}x | {r['first_peak_mb']:.0f} / "
            f"{r['cached_peak_mb']:.0f} ({r['rss_base_mb']:.0f}) |"
        )
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
