"""Load and cached-load time and peak memory of Du-IN, Chisco and OpenMIIR.

For each corpus one synthetic subject is written in the release format at full
size (real channel counts, epoch lengths and trial counts), then loaded twice
through the public API, each load in a fresh process: the first load reads and
preprocesses the files and fills the on-disk cache, the second comes from the
cache. Peak memory is the peak resident set size of that process (``VmHWM``),
given with its value right after the imports.

Sizes (use the options to change them):

- Du-IN: subject 12, the smallest released subject (3 runs, 62 bipolar
  channels, 1830 epochs of 3000 samples: 2.7 GB of float64 pickles).
- Chisco: ``--chisco-runs`` full-size runs (default 4) of 150 trials of the
  ``read`` task (125 x 2501 float64 per trial, 375 MB per run); a full subject
  has 45 runs (about 17 GB for ``read``), which does not fit this machine, so
  the script also reports the time per run.
- OpenMIIR: P01 with all 12 stimuli x 4 conditions x 5 repetitions (240
  trials, about 56 min at 512 Hz), ``perception`` and ``imagination`` tasks.

Usage::

    python benchmarks/bench_datasets_part2.py [--root DIR] [--corpus du_in chisco]
"""

# License: BSD (3-clause)

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path

from _machine import folder_mb, process_memory_mb


def _vm_hwm_mb():
    """Peak resident memory of this process (VmHWM; reset by exec, unlike ru_maxrss)."""
    peak = process_memory_mb("VmHWM")
    if not math.isnan(peak):
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def _load(conn, corpus, root, cache_dir, kwargs):
    import warnings

    warnings.filterwarnings("ignore")
    import mne

    from mne_neurosketch.datasets.chisco import Chisco
    from mne_neurosketch.datasets.du_in import DuIN
    from mne_neurosketch.datasets.openmiir import OpenMIIR

    mne.set_log_level("error")
    cls = {"du_in": DuIN, "chisco": Chisco, "openmiir": OpenMIIR}[corpus]
    rss_imports = _vm_hwm_mb()
    start = time.perf_counter()
    ds = cls(kwargs.pop("subject"), path=root, cache_dir=cache_dir, **kwargs)
    ds[len(ds) - 1]
    seconds = time.perf_counter() - start
    conn.send(
        dict(
            seconds=round(seconds, 2),
            peak_rss_mb=round(_vm_hwm_mb()),
            rss_after_imports_mb=round(rss_imports),
            n_windows=len(ds),
            window_shape=list(ds[0][0].shape),
        )
    )


def _measure(corpus, root, cache_dir, kwargs):
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_load, args=(child, corpus, root, cache_dir, dict(kwargs)))
    proc.start()
    out = parent.recv()
    proc.join()
    return out


def _write(corpus, root, chisco_runs):
    from mne_neurosketch.datasets.chisco import simulate_chisco
    from mne_neurosketch.datasets.du_in import simulate_du_in
    from mne_neurosketch.datasets.openmiir import simulate_openmiir

    start = time.perf_counter()
    if corpus == "du_in":
        path = simulate_du_in(root, subjects=(12,), full_size=True)
        jobs = [dict(subject=12)]
    elif corpus == "chisco":
        path = simulate_chisco(
            root,
            tasks=("read",),
            runs=tuple(range(1, chisco_runs + 1)),
            n_trials_per_run=150,
            n_categories=39,
        )
        jobs = [dict(subject=1, task="read")]
    else:
        path = simulate_openmiir(root, subjects=(1,), full_size=True)
        jobs = [dict(subject=1, task="perception"), dict(subject=1, task="imagination")]
    return path, jobs, round(time.perf_counter() - start, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", default=None, help="scratch folder (default: a temp dir)"
    )
    parser.add_argument("--corpus", nargs="+", default=["du_in", "chisco", "openmiir"])
    parser.add_argument("--chisco-runs", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the written files")
    args = parser.parse_args()
    results = {}
    for corpus in args.corpus:
        root = Path(tempfile.mkdtemp(prefix=f"bench_{corpus}_", dir=args.root))
        try:
            path, jobs, write_s = _write(corpus, root / "data", args.chisco_runs)
            entry = dict(
                write_seconds=write_s, files_mb=round(folder_mb(root / "data")), loads=[]
            )
            for job in jobs:
                cache_dir = root / "cache"
                first = _measure(corpus, path, cache_dir, job)
                cached = _measure(corpus, path, cache_dir, job)
                entry["loads"].append(
                    dict(
                        params=job,
                        first_load=first,
                        cached_load=cached,
                        cache_mb=round(folder_mb(cache_dir)),
                    )
                )
                shutil.rmtree(cache_dir, ignore_errors=True)
            results[corpus] = entry
            print(json.dumps({corpus: entry}, indent=1), flush=True)
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
