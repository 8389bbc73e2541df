"""The ``neurosketch`` command: run benchmarks and report their results."""

# License: BSD (3-clause)

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import textwrap
import time

__all__ = ["main"]

_DESCRIPTION = """\
Is NeuroSketch better than EEGNet on my data? Train NeuroSketch, braindecode's
baselines and Riemannian pipelines on the same trials, folds and training recipe,
store one row per fit, and report MOABB-style tables, figures and statistics.
"""

_BENCHMARK_EPILOG = """\
examples:
  # the quick demonstration: a simulated SEED-DV corpus written in its real
  # format and read back through the adapter (no download, a few minutes on CPU)
  neurosketch benchmark --dataset simulated-seeddv --models NeuroSketch EEGNet TSLR \\
      --results results.sqlite

  # a MOABB dataset, MOABB's within-session protocol, 11 subjects
  neurosketch benchmark --dataset Kalunga2016 --subjects 1-11 \\
      --models TSLR MDM EEGNet ShallowFBCSPNet NeuroSketch \\
      --max-epochs 100 --batch-size 16 --results kalunga.sqlite --report kalunga/

  # your SEED-DV download, the paper's protocol (all 3 folds), on a GPU
  neurosketch benchmark --dataset seeddv --path /data/SEED-DV --device cuda \\
      --models NeuroSketch EEGNet --results seeddv.sqlite

  # the same on a Dask cluster (or --n-workers 4 for a local one)
  neurosketch benchmark ... --scheduler tcp://scheduler:8786

Stopping and resuming: every finished fit is committed to the results file at
once; run the same command again and it skips the finished fits.

'neurosketch list models|datasets|protocols' lists the choices.
"""

_REPORT_EPILOG = """\
example:
  neurosketch report results.sqlite --out report/

writes summary.md/.csv (mean ± std per dataset x model), results.csv (MOABB
format), stats.csv and meta-analysis tables, MOABB's score, paired and
meta-analysis plots (PNG and SVG) and report.md.
"""


def _subjects(values):
    """Parse ``1 2 5``, ``1-11`` and ``1,2,3`` into a list of ints (or names)."""
    out = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                try:
                    lo, hi = int(lo), int(hi)
                except ValueError:
                    lo = hi = None
                if lo is None or hi < lo:
                    raise ValueError(
                        f"Invalid value for the '--subjects' parameter: {part!r} is not "
                        "a range of subject numbers; use e.g. 1-11 (first <= last), "
                        "'1 2 5' or 1,2,5."
                    )
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part) if part.isdigit() else part)
    return out


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    # Only light modules here: the help must not wait for torch or MOABB.
    from .._version import __version__
    from .protocols import PROTOCOLS

    parser = argparse.ArgumentParser(
        prog="neurosketch",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"mne-neurosketch {__version__}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    bench = sub.add_parser(
        "benchmark",
        help="run models x datasets x subjects x folds and store the results",
        description=_DESCRIPTION,
        epilog=_BENCHMARK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = bench.add_argument_group("what to run")
    what.add_argument(
        "--dataset",
        "--datasets",
        nargs="+",
        required=True,
        metavar="NAME",
        help="dataset(s): a corpus ('neurosketch list datasets' lists them), "
        "simulated-<corpus> (no download), a MOABB dataset class (Kalunga2016, ...) "
        "or 'fake'",
    )
    what.add_argument(
        "--models",
        nargs="+",
        default=["NeuroSketch", "EEGNet", "TSLR"],
        metavar="MODEL",
        help="models (default: NeuroSketch EEGNet TSLR): NeuroSketch, "
        "NeuroSketchLarge, braindecode's baselines (EEGNet, ShallowFBCSPNet, ...), "
        "TSLR, MDM; 'neurosketch list models' lists them all",
    )
    what.add_argument(
        "--protocol",
        default="default",
        choices=["default", *PROTOCOLS],
        help="how trials are split (default: the paper's for the corpora, "
        "within-session for MOABB datasets)",
    )
    what.add_argument(
        "--subjects",
        nargs="+",
        metavar="S",
        help="subjects, e.g. '1 2 3' or '1-11' (default: all; 1-5 for simulated corpora)",
    )
    what.add_argument(
        "--path",
        metavar="DIR",
        help="corpus folder (else MNE_DATASETS_<CODE>_PATH); for simulated corpora "
        "where to write them; for MOABB datasets the MNE_DATA folder",
    )
    proto = bench.add_argument_group("protocol options")
    proto.add_argument(
        "--split",
        choices=["n_fold", "simple"],
        help="paper protocol: 'n_fold' (fixed 20%% test, 3 folds) or 'simple' (60/20/20)",
    )
    proto.add_argument(
        "--n-splits",
        type=_positive_int,
        metavar="K",
        help="folds of within-session (default 5), grouped k-fold, or cross-subject "
        "GroupKFold (default: leave one out)",
    )
    proto.add_argument(
        "--group",
        metavar="COLUMN",
        help="grouped protocol: metadata column of the groups (default 'run': "
        "SEED-DV blocks, Du-IN runs)",
    )
    proto.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    budget = bench.add_argument_group("training budget of the deep models")
    budget.add_argument(
        "--max-epochs",
        type=_positive_int,
        metavar="N",
        help="maximum epochs (default: 10 on simulated corpora, else the estimator's "
        "'auto': 500, or 100 below 1000 training trials)",
    )
    budget.add_argument(
        "--batch-size",
        type=_positive_int,
        metavar="N",
        help="batch size (default: 16 on simulated corpora, else the estimator's "
        "'auto': about a sixteenth of the training trials, from 16 to 64)",
    )
    budget.add_argument(
        "--patience",
        type=_positive_int,
        metavar="N",
        help="early-stopping patience in epochs (default: the recipe's 100)",
    )
    budget.add_argument(
        "--device",
        default="auto",
        help="'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N' (default auto)",
    )
    where = bench.add_argument_group("where results go and where fits run")
    where.add_argument(
        "--results",
        default="results.sqlite",
        metavar="FILE",
        help="results file (SQLite, default results.sqlite); rerunning skips its fits",
    )
    where.add_argument("--report", metavar="DIR", help="also write the report to DIR")
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="send fits to a running Dask scheduler, e.g. tcp://host:8786 (start GPU "
        "workers with '--nthreads 1 --resources GPU=1')",
    )
    where.add_argument(
        "--n-workers",
        type=_positive_int,
        metavar="N",
        help="run fits on a local Dask cluster of N worker processes",
    )
    _add_common(bench)

    rep = sub.add_parser(
        "report",
        help="write tables, figures and statistics from a results file",
        description="Write tables, MOABB figures and statistics from a results file.",
        epilog=_REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rep.add_argument("results", metavar="RESULTS", help="the results file (SQLite)")
    rep.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="output folder (default: <RESULTS without suffix>_report)",
    )
    rep.add_argument(
        "--reference",
        default="NeuroSketch",
        help="model the paired plots compare with (default NeuroSketch)",
    )
    rep.add_argument(
        "--formats",
        nargs="+",
        default=["png", "svg"],
        help="figure formats (default png svg)",
    )
    rep.add_argument("--no-plots", action="store_true", help="tables and statistics only")
    rep.add_argument("--title", help="title of report.md")
    _add_common(rep, progress=False)

    prep = sub.add_parser(
        "prepare",
        help="build a corpus' cache of windows ahead of training, one run at a time",
        description="Read a corpus and write its preprocessed windows to the cache, "
        "one run at a time (the memory needed does not grow with the corpus).",
    )
    prep.add_argument("--dataset", required=True, metavar="NAME",
                      help="a corpus, e.g. seeddv, chisco-read or simulated-seeddv")
    prep.add_argument("--subjects", nargs="+", metavar="S",
                      help="subjects, e.g. '1 2 3' or '1-11' (default: all)")
    prep.add_argument("--path", help="the corpus folder (default: its MNE config key)")
    prep.add_argument("--cache-dir", metavar="DIR",
                      help="cache folder (default: MNE_NEUROSKETCH_CACHE_DIR)")
    prep.add_argument("--scheduler", metavar="ADDRESS",
                      help="prepare subjects on a running Dask scheduler's workers "
                      "(they read and write the shared cache folder)")
    prep.add_argument("--n-workers", type=_positive_int, metavar="N",
                      help="prepare on a local Dask cluster of N processes")
    _add_common(prep)

    _add_online(sub)

    lst = sub.add_parser("list", help="list the available models, datasets or protocols")
    lst.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=["all", "models", "datasets", "protocols"],
    )
    return parser


_ONLINE_EPILOG = """\
examples:
  # P300: a window after each event of the stim channel STI, decisions on an outlet
  neurosketch online --model clf.pt --stream Muse --events STI \\
      --event-id nontarget=1 target=2 --filter 1 30 --outlet decisions

  # SSVEP or motor imagery: a window every 0.25 s, averaged over 4 windows
  neurosketch online --model clf.pt --stream EEG --hop 0.25 --smoothing 4 \\
      --duration 600 --log decisions.csv

  # events from a marker stream (string markers named as in --event-id)
  neurosketch online --model clf.pt --stream EEG --marker-stream Markers \\
      --event-id Target NonTarget

  # the same decoder on a recording, no LSL (events from STI or its annotations)
  neurosketch online --model clf.pt --replay run.fif --events STI --log replay.csv

Ctrl-C stops a live run cleanly; the log then holds every decision made.
"""


def _add_online(sub):
    online = sub.add_parser(
        "online",
        help="decode a live LSL stream (or replay a recording) with a saved model",
        description="Decode a live Lab Streaming Layer stream with a model saved by "
        "NeuroSketchClassifier.save(), through the same causal path as "
        "mne_neurosketch.online.replay (needs mne-neurosketch[online]).",
        epilog=_ONLINE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    online.add_argument("--model", required=True, metavar="FILE",
                        help="the fitted estimator, a file written by save()")
    source = online.add_mutually_exclusive_group(required=True)
    source.add_argument("--stream", metavar="NAME", help="the LSL stream to decode")
    source.add_argument("--replay", metavar="FILE",
                        help="decode this recording (FIF) instead, without LSL")
    mode = online.add_argument_group("windows (give --hop, --events or --marker-stream)")
    mode.add_argument("--hop", type=float, metavar="S",
                      help="sliding windows: seconds between two windows")
    mode.add_argument("--smoothing", type=_positive_int, default=1, metavar="N",
                      help="sliding windows: average the last N windows (default 1)")
    mode.add_argument("--events", metavar="CHANNEL",
                      help="a window after each event of this stim channel "
                      "(with --replay, 'annotations' uses the file's annotations)")
    mode.add_argument("--marker-stream", metavar="NAME",
                      help="a window after each marker of this LSL stream")
    mode.add_argument("--event-id", nargs="+", metavar="NAME=CODE",
                      help="the events to decide, e.g. 'nontarget=1 target=2' or, "
                      "for string markers, their names (default: all)")
    mode.add_argument("--tmin", type=float, default=0.0, metavar="S",
                      help="start of an event's window relative to it (default 0)")
    proc = online.add_argument_group("processing and output")
    proc.add_argument("--filter", nargs=2, metavar=("LO", "HI"), type=_edge,
                      help="causal band-pass in Hz ('none' for no edge), as the "
                      "model was trained (mne_neurosketch.online.causal_filter)")
    proc.add_argument("--counter", metavar="CHANNEL",
                      help="a sample-counter channel: gaps count lost samples")
    proc.add_argument("--max-lag", type=float, default=0.5, metavar="S",
                      help="drop windows completed more than S seconds behind the "
                      "stream (default 0.5)")
    proc.add_argument("--outlet", metavar="NAME",
                      help="publish the decisions on this LSL stream (class index "
                      "and probabilities)")
    proc.add_argument("--label-outlet", action="store_true",
                      help="also publish the labels as strings on NAME-labels")
    proc.add_argument("--duration", type=float, metavar="S",
                      help="stop after S seconds (default: until Ctrl-C)")
    proc.add_argument("--log", metavar="FILE",
                      help="write the decisions to this CSV file at the end")
    _add_common(online)


def _edge(text):
    """A band edge in Hz, or None for 'none'."""
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a frequency in Hz or 'none', got {text!r}") from None


_LEVELS = ("debug", "info", "warning", "error")


def _add_common(parser, progress=True):
    parser.add_argument(
        "--verbose",
        metavar="LEVEL",
        type=str.lower,
        choices=_LEVELS,
        default="warning",
        help="log level, as MNE's: 'info' logs each fit, 'debug' also each network's "
        "epochs and tracebacks (default warning)",
    )
    parser.add_argument(
        "-v",
        dest="verbose",
        action="store_const",
        const="info",
        help="same as --verbose info",
    )
    if progress:
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _overrides(args, names) -> dict:
    """The options the user gave (``run_benchmark`` applies the dataset's others)."""
    return {
        key: getattr(args, name)
        for name, key in names.items()
        if getattr(args, name) is not None
    }


def _cmd_benchmark(args) -> int:
    import pandas as pd

    from .datasets import resolve_dataset
    from .pipelines import resolve_model_name
    from .report import format_table, summary_table, warn_few_subjects
    from .runner import run_benchmark
    from .store import ResultsStore

    if args.scheduler and args.n_workers:
        raise ValueError("give --scheduler or --n-workers, not both.")
    models = [resolve_model_name(m) for m in args.models]
    _check_device(args.device, local=args.scheduler is None)
    specs = [resolve_dataset(name, path=args.path, subjects=args.subjects)
             for name in args.dataset]  # a typo leaves no empty results file
    store = ResultsStore(args.results)  # a bad path fails before any work
    t0 = time.perf_counter()
    frames = []
    failures = []
    skipped = 0
    for spec in specs:
        print(f"Dataset {spec.code}: {spec.description}", flush=True)
        try:
            df = run_benchmark(
                spec,
                models,
                protocol=args.protocol,
                protocol_params=_overrides(
                    args, {"split": "method", "group": "group", "n_splits": "n_splits"}
                ),
                results=store,
                subjects=args.subjects,
                budget=_overrides(
                    args, {k: k for k in ("max_epochs", "batch_size", "patience")}
                ),
                device=args.device,
                random_state=args.seed,
                scheduler=args.scheduler,
                n_workers=args.n_workers,
                progress=not args.no_progress,
                verbose=args.verbose.upper(),
            )
            summary = df.attrs["summary"]
        except RuntimeError as err:
            summary = getattr(err, "summary", None)
            if summary is None:
                raise
            failures.append(str(err))
            df = err.results
        _print_settings(summary.settings[spec.code], args)
        skipped += summary.n_skipped
        frames.append(df)
    results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    elapsed = time.perf_counter() - t0
    if skipped:
        print(f"{skipped} fits already in {args.results}, skipped.")
    print()
    print(format_table(summary_table(results)))
    print(
        f"\nScores: mean ± std over subjects, in percent. {len(results)} subject-session "
        f"rows in {args.results}; wall time {elapsed:.0f} s."
    )
    for line in warn_few_subjects(results):
        print(line)
    if args.report:
        from .report import make_report

        make_report(store, args.report)
        print(f"Report written to {args.report}")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    return 0


def _print_settings(settings: dict, args) -> None:
    """What run_benchmark resolved for one dataset."""
    print(f"  protocol {settings['protocol']}; subjects {_short(settings['subjects'])}")
    for name, budget in settings["budget"].items():
        values = ", ".join(f"{k}={v}" for k, v in budget.items())
        print(f"  {name}: {values}, device={args.device}, seed={args.seed}")


def _check_device(device: str, local: bool) -> None:
    """Refuse a device name torch does not know (and, run here, a missing GPU)."""
    from ..numerics import resolve_device

    if local:
        resolve_device(device)
        return
    import torch

    try:  # on a cluster, the workers may have the GPU this machine lacks
        torch.device(device if device != "auto" else "cpu")
    except (RuntimeError, TypeError):
        resolve_device(device)  # raises the estimator's message


def _short(subjects) -> str:
    subjects = list(subjects)
    if (
        len(subjects) > 2
        and all(isinstance(s, int) for s in subjects)
        and (subjects == list(range(subjects[0], subjects[-1] + 1)))
    ):
        return f"{subjects[0]}-{subjects[-1]}"
    return " ".join(map(str, subjects))


def _cmd_report(args) -> int:
    from pathlib import Path

    from .report import format_table, make_report, summary_table, warn_few_subjects
    from .store import ResultsStore

    path = Path(args.results)
    if not path.exists():
        raise FileNotFoundError(
            f"the results file {path} does not exist; run "
            "'neurosketch benchmark ... --results FILE' first."
        )
    store = ResultsStore(path)
    out = args.out or str(path.with_suffix("")) + "_report"
    files = make_report(
        store,
        out,
        reference=args.reference,
        formats=tuple(args.formats),
        title=args.title,
        plots=not args.no_plots,
    )
    for protocol in files:
        df = store.to_dataframe(protocol=protocol)
        print(f"Protocol {protocol}:")
        print(format_table(summary_table(df)))
        for line in warn_few_subjects(df):
            print(line)
        print()
    print(f"Report written to {out} ({sum(len(v) for v in files.values())} files).")
    return 0


def _cmd_prepare(args) -> int:
    from .prepare import prepare

    prepared = prepare(
        args.dataset,
        args.subjects,
        path=args.path,
        cache_dir=args.cache_dir,
        scheduler=args.scheduler,
        n_workers=args.n_workers,
        progress=not args.no_progress,
    )
    for p in prepared:
        print(f"subject {p.subject}: {p.n_recordings} runs, {p.n_windows} windows")
    print(f"Cache: {prepared[0].cache_dir if prepared else args.cache_dir}")
    return 0


def _cmd_online(args) -> int:
    from ..online._cli import run_online

    return run_online(args)


def _cmd_list(args) -> int:
    from .datasets import list_datasets
    from .pipelines import LEVERS, PIPELINES
    from .protocols import PROTOCOLS

    datasets = list_datasets() if args.what in ("all", "datasets") else {}
    width = max([24, *(len(name) + 2 for name in [*datasets, *PIPELINES])])
    if args.what in ("all", "models"):
        print("Models (--models):")
        for name, spec in PIPELINES.items():
            print(f"  {name:<{width}}{spec.description}")
        print("Suffixes of the NeuroSketchClassifier pipelines (e.g. "
              "NeuroSketch-FB+dsbn+epoch0):")
        for name, lever in LEVERS.items():
            print(f"  {'+' + name:<{width}}{lever.description}")
    if args.what in ("all", "datasets"):
        print("Datasets (--dataset):")
        for name, text in datasets.items():
            print(
                textwrap.fill(
                    text,
                    100,
                    initial_indent=f"  {name:<{width}}",
                    subsequent_indent=" " * (width + 2),
                )
            )
    if args.what in ("all", "protocols"):
        print("Protocols (--protocol):")
        for name, cls in PROTOCOLS.items():
            doc = (cls.__doc__ or "").strip().splitlines()[0]
            print(f"  {name:<{width}}{doc}")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``neurosketch`` command.

    Parameters
    ----------
    argv : list of str | None
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    code : int
        Exit status.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    level = getattr(args, "verbose", "warning")
    # Settings for this command only: main() may run inside a user's process.
    with _quiet(level if args.command != "list" else None):
        return _run(args, level)


def _run(args, level: str) -> int:
    commands = {
        "benchmark": _cmd_benchmark,
        "report": _cmd_report,
        "prepare": _cmd_prepare,
        "list": _cmd_list,
        "online": _cmd_online,
    }
    try:
        if getattr(args, "subjects", None) is not None:
            args.subjects = _subjects(args.subjects)
        return commands[args.command](args)
    except _USER_ERRORS as err:
        if level == "debug":
            import traceback

            traceback.print_exc()
        print(f"neurosketch: error: {_one_line(err, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\nneurosketch: interrupted; finished fits are saved, rerun the same "
            "command to resume.",
            file=sys.stderr,
        )
        return 130


# OSError covers a --results folder, a missing or unreadable file.
_USER_ERRORS = (ValueError, OSError, ImportError, sqlite3.DatabaseError)


def _one_line(err: BaseException, args) -> str:
    """The error's message on one line, naming the results file if it did not."""
    text = " ".join(str(err).split())
    results = getattr(args, "results", None)
    if isinstance(err, sqlite3.DatabaseError) and results and str(results) not in text:
        text = (
            f"the results file {results} is damaged ({text}); give another --results "
            "path or move this file away."
        )
    return text


@contextlib.contextmanager
def _quiet(level: str | None):
    """Hide the libraries' deprecation notices and set MNE's and MOABB's log level
    (``None``: leave them) while a command runs; everything is restored after.

    ``PYTHONWARNINGS`` carries the filter to the Dask worker processes started
    meanwhile.
    """
    import logging
    import warnings

    moabb_log = logging.getLogger("moabb")
    moabb_level = moabb_log.level
    env = os.environ.get("PYTHONWARNINGS")
    with warnings.catch_warnings(), contextlib.ExitStack() as stack:
        warnings.filterwarnings("ignore", category=FutureWarning)
        if env is None:
            os.environ["PYTHONWARNINGS"] = "ignore::FutureWarning"
        if level is not None:
            from mne.utils import use_log_level

            stack.enter_context(use_log_level(level.upper()))
            moabb_log.setLevel(level.upper())
        try:
            yield
        finally:
            moabb_log.setLevel(moabb_level)
            if env is None:
                os.environ.pop("PYTHONWARNINGS", None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
