"""Choose the class-signal strength of the simulated SEED-DV main job.

The README's main job benchmarks NeuroSketch, EEGNet and TS+LR on a simulated
SEED-DV corpus (``simulated-seeddv``). This script scores the same pipelines,
with the same budget and protocol, on *another draw* of the simulator
(``--seed``, default 1; the main job uses seed 0), for several class-signal
amplitudes, so that the main job's own test folds never choose its difficulty.

    python benchmarks/calibrate_simulated.py --signals 0.1 0.05 0.03 --subjects 1 2 3

prints one line per amplitude and pipeline (mean accuracy over subjects).
``--protocol``, ``--n-splits`` and ``--max-epochs`` try the main job's
protocol and budget on the same draw, e.g. the transfer protocol of the
README::

    python benchmarks/calibrate_simulated.py --signals 0.2 --subjects 1 2 3 4 5 \
        --protocol transfer --n-splits 2 --max-epochs 4
"""

import argparse
import tempfile
import time
from pathlib import Path

from mne_neurosketch.benchmark import datasets as bd
from mne_neurosketch.benchmark.pipelines import PIPELINES, make_pipeline
from mne_neurosketch.benchmark.runner import run_benchmark
from mne_neurosketch.datasets import get_corpus


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=float, nargs="+", default=[0.1, 0.05, 0.03])
    parser.add_argument("--subjects", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--models", nargs="+", default=["NeuroSketch", "EEGNet", "TSLR"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--protocol", default="default")
    parser.add_argument("--n-splits", type=int, default=None)
    parser.add_argument("--max-epochs", type=int, default=None)
    args = parser.parse_args()
    corpus = get_corpus("seeddv")
    budget = dict(bd._SIMULATED_BUDGET)
    if args.max_epochs:
        budget["max_epochs"] = args.max_epochs
    protocol_params = {"n_splits": args.n_splits} if args.n_splits else None
    with tempfile.TemporaryDirectory() as tmp:
        for signal in args.signals:
            root = Path(tmp) / f"signal{signal}"
            kwargs = dict(corpus.simulation, class_signal=signal, seed=args.seed)
            corpus.simulate(root, args.subjects, **kwargs)
            spec = bd.BenchmarkDataset(
                code=f"calib-{signal}",
                dataset=corpus.moabb_dataset(root, subjects=args.subjects, cache=False),
                paradigms={"signal": bd._multiclass()},
                default_protocol="paper",
                protocol_params={"method": "simple"},
                subjects=list(args.subjects),
            )
            pipes = {
                m: make_pipeline(
                    m, random_state=42, **(budget if PIPELINES[m].kind == "deep" else {})
                )
                for m in args.models
            }
            t0 = time.perf_counter()
            df = run_benchmark(
                spec, pipes, results=Path(tmp) / f"r{signal}.sqlite", progress=False,
                protocol=args.protocol, protocol_params=protocol_params,
            )
            took = time.perf_counter() - t0
            for name, grp in df.groupby("pipeline"):
                scores = " ".join(f"{s:.2f}" for s in grp["score"])
                print(
                    f"class_signal={signal:<6} {name:<12} mean {grp['score'].mean():.3f}"
                    f"  subjects: {scores}",
                    flush=True,
                )
            print(f"  ({took:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
