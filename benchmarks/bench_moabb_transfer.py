"""MOABB's own cross-subject evaluation of the transfer pipelines, next to the
package's ``transfer`` and ``zero-shot`` protocols, on MOABB's Kalunga2016.

The same subjects (1-11 of the real recordings: SSVEP, 8 channels, 4
classes, 64 to 128 trials per subject), pipelines and training budget under:

- MOABB's :class:`~moabb.evaluations.CrossSubjectEvaluation`, run by MOABB,
  with ``cs_mode="train_and_target_labeled_20p"`` (MOABB 1.7's labelled 20 %
  calibration) and ``"train_and_target_unlabeled_20p"`` (the same slice
  without its labels): for each target subject, the pipeline is fitted on
  every trial of the 10 others, with the first 20 % of the target's trials
  routed to the steps that request them, and scored on the other 80 %;
- the package's ``neurosketch benchmark --protocol transfer`` (pretrained on
  the 10 others, fine-tuned on the training part of each of the target's
  stratified 5 folds, scored on its test part) and ``--protocol zero-shot``
  (the same pretrained model, not fine-tuned).

Pipelines: ``NeuroSketch`` (Euclidean alignment per subject, then
NeuroSketch-Base on MOABB's SSVEP paradigm, fine-tuned on the target's
labelled trials where a protocol gives them) and ``TSLR`` (Riemannian
re-centring per subject of the filter bank's covariances, tangent space,
logistic regression). The summary (``moabb_transfer_summary.rst``) says what
each protocol trains on what.

    python benchmarks/bench_moabb_transfer.py --out benchmarks/results/moabb_transfer

Resumable: MOABB's results (HDF5) and the package's results file (SQLite, with
its cache of pretrained networks) live in ``--work``; rerun to continue, or
``--summary`` to rewrite the summary from them. The recordings are read from
``MNE_DATASETS_SSVEPEXO_PATH``, else ``--data`` (default:
``../shared/data/mne_data`` next to the repository).
"""

# License: BSD (3-clause)

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _machine import machine_info  # noqa: E402
from _rst import rst_table  # noqa: E402

#: MOABB's modes: the same first 20 % of the target, without and with labels.
MOABB_MODES = {"moabb-unlabeled": "train_and_target_unlabeled_20p",
               "moabb-labeled": "train_and_target_labeled_20p"}
#: The package's protocols: its zero-shot reads transfer's pretrained models.
PACKAGE = {"package-transfer": "transfer", "package-zero-shot": "zero-shot"}
PROTOCOLS = {
    "moabb-unlabeled": "MOABB unlabelled 20 %",
    "moabb-labeled": "MOABB labelled 20 %",
    "package-zero-shot": "package zero-shot",
    "package-transfer": "package transfer",
}
PIPELINES = ("NeuroSketch", "TSLR")


def _subjects(text):
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def moabb_pipelines(args, labeled):
    """The package's transfer pipelines, with the requests of a MOABB mode.

    Returns ``{name: (input kind, pipeline)}``. Without labels the aligners'
    default requests (``subjects``, ``X_target_unlabeled``) are all it takes.
    """
    from sklearn import config_context
    from sklearn.pipeline import make_pipeline

    from mne_neurosketch.alignment import EuclideanAlignment
    from mne_neurosketch.benchmark.pipelines import make_pipeline as package_pipeline

    clf = package_pipeline("NeuroSketch", max_epochs=args.max_epochs,
                           batch_size=args.batch_size, device="cpu",
                           random_state=args.seed)
    classical = package_pipeline("TSLR-aligned")
    if not labeled:
        network = make_pipeline(EuclideanAlignment(), clf)
        return {"NeuroSketch": ("signal", network), "TSLR": ("filterbank", classical)}
    with config_context(enable_metadata_routing=True):
        # fine-tuned on the labelled slice, which passes the aligner first
        # (fitted with the target's slice as its reference)
        network = make_pipeline(
            EuclideanAlignment().set_fit_request(X_target_labeled=True),
            clf.set_fit_request(X_target_labeled=True, y_target_labeled=True),
            transform_input=["X_target_labeled"])
        # no step of TS+LR learns from a few target labels: the slice is the
        # aligner's reference for the target (unsupervised)
        classical.named_steps["align"].set_fit_request(X_target_labeled=True)
    return {"NeuroSketch": ("signal", network), "TSLR": ("filterbank", classical)}


def run_moabb(args, spec, protocol):
    """MOABB's evaluation in one mode, one paradigm per pipeline; MOABB's frame."""
    import pandas as pd
    from moabb.evaluations import CrossSubjectEvaluation

    mode = MOABB_MODES[protocol]
    frames = []
    for name, (kind, pipeline) in moabb_pipelines(args, "labeled" in mode).items():
        evaluation = CrossSubjectEvaluation(
            paradigm=spec.paradigm(kind), datasets=[spec.dataset], cs_mode=mode,
            hdf5_path=str(args.work / "moabb" / mode), random_state=args.seed,
            n_jobs=1)
        start = time.perf_counter()
        frame = evaluation.process({name: pipeline})
        print(f"MOABB {mode} {name}: {time.perf_counter() - start:.0f} s, "
              f"{frame['score'].mean():.3f} mean accuracy", flush=True)
        frames.append(frame.assign(input=kind))
    return pd.concat(frames, ignore_index=True)


def package_command(args, protocol="transfer"):
    """The ``neurosketch benchmark`` arguments of one of the package's protocols."""
    return ["benchmark", "--dataset", "Kalunga2016", "--protocol", protocol,
            "--subjects", *map(str, args.subject_list), "--models", *PIPELINES,
            "--max-epochs", str(args.max_epochs), "--batch-size", str(args.batch_size),
            "--seed", str(args.seed), "--device", "cpu",
            "--results", str(args.work / "transfer.sqlite"), "--no-progress"]


def run_package(args, protocol):
    """One of the package's protocols through its command line."""
    from mne_neurosketch.benchmark.cli import main

    start = time.perf_counter()
    code = main(package_command(args, PACKAGE[protocol]))
    if code != 0:
        raise RuntimeError(f"neurosketch benchmark stopped with status {code}.")
    print(f"{protocol}: {time.perf_counter() - start:.0f} s", flush=True)


def _rows(args):
    """One row per protocol, pipeline and subject, from the stored results."""
    import pandas as pd

    from mne_neurosketch.benchmark import ResultsStore

    rows = []
    for protocol in MOABB_MODES:
        path = args.work / f"{protocol}.csv"
        if not path.is_file():
            continue
        for _, r in pd.read_csv(path).iterrows():
            rows.append(dict(protocol=protocol, pipeline=r["pipeline"],
                             subject=int(r["subject"]), score=r["score"], n_folds=1,
                             n_train=int(r["samples"]), n_test=int(r["samples_test"]),
                             time_s=r["time"]))
    store = args.work / "transfer.sqlite"
    if store.is_file():
        names = {value: key for key, value in PACKAGE.items()}
        for _, r in ResultsStore(store).to_dataframe().iterrows():
            # e.g. "transfer[subjects=1,2,3]"
            protocol = names[re.match(r"[\w-]+", str(r["protocol"])).group()]
            rows.append(dict(protocol=protocol, pipeline=r["pipeline"],
                             subject=int(r["subject"]), score=r["score"],
                             n_folds=int(r["n_folds"]), n_train=int(r["samples"]),
                             n_test=int(r["samples_test"]), time_s=r["time"]))
    return pd.DataFrame(rows).sort_values(["protocol", "pipeline", "subject"])


def _mean_std(scores):
    return f"{100 * scores.mean():.1f} ± {100 * scores.std():.1f}"


EXPLANATION = """\
What is trained on what, for each of the {n} target subjects:

- **MOABB** (``CrossSubjectEvaluation``, one subject left out at a time): one
  fit per target and mode. The pipeline is fitted on every trial of the other
  subjects (``subjects`` routed to the aligners: each source subject is
  re-centred on its own trials) and receives, in the same ``fit``, the
  target's *first* 20 % of trials in recording order (12 to 25 trials, not
  stratified); it is scored once, on the other 80 %.

  - *unlabelled 20 %* (``cs_mode="train_and_target_unlabeled_20p"``): the
    slice is ``X_target_unlabeled``, the aligners' reference for the target
    (their default request); no model sees a target label;
  - *labelled 20 %* (``cs_mode="train_and_target_labeled_20p"``): the slice
    comes with its labels. ``NeuroSketch``, trained on the sources (20 % of
    them held out for best-epoch selection), is fine-tuned on the slice,
    aligned with the slice's own reference (the pipeline's
    ``transform_input``), for as many epochs, without a validation split
    (the last epoch is kept). No step of TS+LR learns from a few target
    labels: for ``TSLR`` the slice is only the aligner's reference, as in
    the unlabelled mode.

- **package** (``neurosketch benchmark``, the target's within-session
  stratified 5 folds, seed 42): one model per target pretrained on every
  trial of the other subjects (the same sources and alignment, cached and
  shared by both protocols); the target's alignment reference is the
  training part of each fold (80 %: 51 to 103 trials, every class in its
  share).

  - *zero-shot*: the pretrained model scores each test part (20 %) as it is;
  - *transfer*: it is first fine-tuned on the training part: ``NeuroSketch``
    starts from the pretrained weights (20 % of the part held out for
    best-epoch selection); ``TSLR`` is refitted on the sources and the part
    together. Each score is the mean over the 5 folds.

Kalunga2016's recordings begin with rest trials: MOABB's slice holds
{slice}, so the labelled mode fine-tunes NeuroSketch mostly on "rest", and
the 80 % it is tested on holds few rest trials; the package's folds are
stratified. MOABB 1.7's evaluations give a filter-bank paradigm's *first band
only* to the pipelines (``make_process_pipelines(...)[0]`` in
``moabb/evaluations/base.py``): MOABB's ``TSLR`` rows read 12.5-13.5 Hz
alone, the package's runner the three bands (12.5-13.5, 16.5-17.5 and
20.5-21.5 Hz), so those rows differ by their input as well as by their
protocol. ``NeuroSketch`` reads MOABB's SSVEP paradigm (7-45 Hz) in both.
"""


def calibration_slices(spec, subjects):
    """Class counts of the first 20 % of each subject's trials (MOABB's slice)."""
    import numpy as np

    _, labels, meta = spec.paradigm("signal").get_data(spec.dataset, subjects=subjects)
    slices = {}
    for subject in subjects:
        mine = labels[(meta["subject"] == subject).to_numpy()]
        n = max(int(np.floor(0.2 * len(mine))), 1)
        names, counts = np.unique(mine[:n], return_counts=True)
        slices[str(subject)] = {str(k): int(v) for k, v in zip(names, counts)}
    return slices


def _slice_text(slices):
    """``"8 rest, 1 '13', ... (subjects 1-6, ...)"`` for the distinct slices."""
    groups = {}
    for subject, counts in slices.items():
        text = ", ".join(f"{v} '{k}'" for k, v in sorted(counts.items()))
        groups.setdefault(text, []).append(subject)
    return "; ".join(f"{text} (subject{'s' * (len(s) > 1)} {', '.join(s)})"
                     for text, s in groups.items())


def summary_rst(df, meta):
    """The reST summary (the documentation's results page includes it)."""
    machine = meta["machine"]
    lines = ["MOABB's cross-subject evaluation next to the transfer protocols",
             "~" * 63, "",
             f"Command: ``{meta['command']}``. Kalunga2016 (SSVEP, 4 classes, chance "
             f"25 %), subjects {meta['subjects']}; NeuroSketch-Base "
             f"{meta['max_epochs']} epochs at batch {meta['batch_size']} in each "
             "phase (a budget for a shared 2-core CPU, fixed in advance, not "
             f"tuned), seed {meta['seed']}; on {machine['cpu']} "
             f"({machine['cpu_count']} cores, {machine['torch_threads']} torch "
             "thread). The package's protocols are ``neurosketch "
             f"{' '.join(meta['package_command'])}`` and the same with "
             "``--protocol zero-shot``.",
             "", "Accuracy in %, mean ± std over subjects:", ""]
    header = ["pipeline", *PROTOCOLS.values(),
              "package transfer - MOABB labelled (paired)"]
    rows = []
    for name in PIPELINES:
        mine = df[df["pipeline"] == name].pivot(index="subject", columns="protocol",
                                                values="score")
        cells = [_mean_std(mine[p].dropna()) if p in mine else "" for p in PROTOCOLS]
        pair = ["package-transfer", "moabb-labeled"]
        both = mine[pair].dropna() if set(pair) <= set(mine) else mine.iloc[:0]
        diff = _mean_std(both[pair[0]] - both[pair[1]]) if len(both) else ""
        rows.append([name, *cells, diff])
    lines += rst_table(header, rows)
    lines += ["Per subject (accuracy in %; MOABB: one score on the last 80 % of "
              "the target's trials, package: the mean of 5 folds):", ""]
    wide = df.pivot_table(index="subject", columns=["pipeline", "protocol"],
                          values="score")
    columns = [(p, q) for p in PIPELINES for q in PROTOCOLS if (p, q) in wide]
    lines += rst_table(["subject", *[f"{p}, {PROTOCOLS[q]}" for p, q in columns]],
                       [[s, *[f"{100 * wide.loc[s, c]:.1f}" for c in columns]]
                        for s in wide.index])
    lines += [EXPLANATION.format(n=df["subject"].nunique(),
                                 slice=_slice_text(meta["calibration_slices"])),
              "Wall time: " + ", ".join(f"{PROTOCOLS[k]} {v / 60:.1f} min"
                                        for k, v in meta["wall_s"].items()) + ".", ""]
    return "\n".join(lines)


def write_results(args, meta):
    """The CSV, JSON and reST summary in ``--out``."""
    df = _rows(args)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "moabb_transfer.csv", index=False)
    means = df.groupby(["protocol", "pipeline"])["score"].agg(["mean", "std", "count"])
    meta["scores"] = {f"{p}/{q}": {k: float(v) for k, v in row.items()}
                      for (p, q), row in means.iterrows()}
    (args.out / "moabb_transfer.json").write_text(json.dumps(meta, indent=1) + "\n")
    text = summary_rst(df, meta)
    (args.out / "moabb_transfer_summary.rst").write_text(text)
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "moabb_transfer")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir())
                        / "neurosketch-moabb-transfer",
                        help="MOABB's and the package's results files (resumable)")
    parser.add_argument("--data", type=Path,
                        default=HERE.parent.parent / "shared" / "data" / "mne_data",
                        help="the MNE_DATA folder holding MNE-ssvepexo-data/")
    parser.add_argument("--subjects", default="1-11")
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--summary", action="store_true",
                        help="only rewrite the summary from the results in --work")
    args = parser.parse_args()
    args.subject_list = _subjects(args.subjects)
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MNE_DATASETS_SSVEPEXO_PATH", str(args.data.resolve()))
    os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")
    import mne
    import torch

    torch.set_num_threads(args.threads)
    mne.set_log_level("WARNING")
    meta_file = args.work / "meta.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    if not args.summary:
        import moabb
        import sklearn

        import mne_neurosketch
        from mne_neurosketch.benchmark import resolve_dataset

        spec = resolve_dataset("Kalunga2016")
        spec.check_subjects(args.subject_list)
        spec.dataset.subject_list = args.subject_list
        meta.update(
            command="python benchmarks/bench_moabb_transfer.py " + " ".join(sys.argv[1:]),
            subjects=args.subjects, max_epochs=args.max_epochs,
            batch_size=args.batch_size, seed=args.seed, moabb_modes=MOABB_MODES,
            package_command=package_command(args), machine=machine_info("cpu"),
            versions={m.__name__: m.__version__ for m in
                      (moabb, sklearn, torch, mne, mne_neurosketch)},
            calibration_slices=calibration_slices(spec, args.subject_list))
        # wall time of each protocol, summed over the runs of a resumed benchmark
        wall = meta.setdefault("wall_s", {})
        for protocol in PROTOCOLS:
            start = time.perf_counter()
            if protocol in MOABB_MODES:
                run_moabb(args, spec, protocol).to_csv(args.work / f"{protocol}.csv",
                                                       index=False)
            else:
                run_package(args, protocol)
            wall[protocol] = wall.get(protocol, 0.0) + time.perf_counter() - start
            meta_file.write_text(json.dumps(meta, indent=1))
    write_results(args, meta)


if __name__ == "__main__":
    main()
