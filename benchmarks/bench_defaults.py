"""NeuroSketch at its defaults on datasets of several sizes, against the previous rule.

Runs ``NeuroSketchClassifier()`` with its ``"auto"`` budget (the rule in
``mne_neurosketch.estimator.auto_budget``: the batch grows with the training
set, about 16 batches an epoch, from 16 to 64), the previous release's rule
(batches of 16 and 100 epochs below 1000 training trials, the paper's 64 and
500 from there), EEGNet through the same estimator at its defaults, and the
classical pipeline of each paradigm, on:

- ``kalunga``: MOABB's Kalunga2016 (SSVEP, 4 classes, 64-128 trials per subject);
- ``muse``: Muse P300 (target vs non-target, about 1,000 trials per session),
  whole sessions and sub-sampled to 256 and 64 trials (``muse-256``, ``muse-64``);
- ``sim-seeddv``: a simulated SEED-DV (62 channels, 4 concepts, 48-64 windows per
  subject), drawn with seed 1 (the README's main job uses seed 0).

Each (dataset, subject, seed) is one stratified 80/20 split, seeded; the seed
also seeds the networks. Scores on the 20 % test part (accuracy; ROC-AUC for
Muse P300). The rules are compared, and a rule is chosen, on the networks'
inner validation accuracy (the 20 % of the training part that early stopping
holds out), never on the test part. Where two rules resolve to the same
batch size and epochs the fit is the same computation (a fit is a function of
its data, parameters and seed), so it runs once and both rows share it.
Networks run with ``compile=False``: ``"auto"`` would compile the 4,000-step
fits of the small-batch rule on Muse P300, which changes their speed, not
their recipe.

    python benchmarks/bench_defaults.py --out benchmarks/results/defaults/defaults.jsonl

Resumable: finished fits are lines of ``--out``; rerun to continue. Then
``--summary`` writes ``defaults_summary.rst`` next to it (the docs' results
page includes it).
"""

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
CASES = ("kalunga", "muse", "muse-256", "muse-64", "sim-seeddv")
#: The classical pipeline of each paradigm (SSVEP / multi-class, ERP).
CLASSICAL = ("TSLR", "XdawnTSLR")


def previous_budget(n_trials):
    """The previous release's rule (before ``auto_budget``)."""
    return (100, 16) if n_trials < 1000 else (500, 64)


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def _subsample(X, y, n, seed):
    from sklearn.model_selection import train_test_split

    if n >= len(y):
        return X, y
    idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y,
                              random_state=seed)
    return X[np.sort(idx)], y[np.sort(idx)]


def load_case(case, subjects):
    """``[(subject, X, y, X_classical)]`` and the score name of a case."""
    from mne_neurosketch.benchmark.datasets import resolve_dataset

    if case == "kalunga":
        os.environ.setdefault("MNE_DATASETS_SSVEPEXO_PATH", str(SHARED / "mne_data"))
        os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")  # files in place
        spec = resolve_dataset("Kalunga2016")
        out = []
        for s in subjects or [1, 2, 3, 4]:
            X, y, _ = spec.paradigms["signal"].get_data(spec.dataset, [s])
            Xf, yf, _ = spec.paradigms["filterbank"].get_data(spec.dataset, [s])
            assert (y == yf).all()
            out.append((s, X, y, Xf))
        return out, "accuracy"
    if case.startswith("muse"):
        spec = resolve_dataset("musep300", path=SHARED / "muse-p300")
        size = int(case.split("-")[1]) if "-" in case else None
        out = []
        for s in subjects or [1, 2]:
            X, y, meta = spec.paradigms["signal"].get_data(spec.dataset, [s])
            first = (meta["session"] == meta["session"].iloc[0]).to_numpy()
            X, y = X[first], y[first]
            if size:
                X, y = _subsample(X, y, size, seed=s)
            out.append((s, X, y, X))
        return out, "roc_auc"
    if case == "sim-seeddv":
        import tempfile

        from mne_neurosketch.benchmark import datasets as bd
        from mne_neurosketch.datasets import get_corpus

        corpus = get_corpus("seeddv")
        root = Path(tempfile.mkdtemp(prefix="bench-defaults-"))
        subjects = subjects or [1, 2]
        corpus.simulate(root, subjects, **dict(corpus.simulation, seed=1))
        dataset = corpus.moabb_dataset(root, subjects=subjects, cache=False)
        out = []
        for s in subjects:
            X, y, _ = bd._multiclass().get_data(dataset, [s])
            out.append((s, X, y, X))
        return out, "accuracy"
    raise ValueError(f"Unknown case {case!r}; choose from {CASES}.")


# ---------------------------------------------------------------------------
# one fit
# ---------------------------------------------------------------------------
def _estimator(pipeline, n_train, seed, amp):
    from mne_neurosketch import NeuroSketchClassifier
    from mne_neurosketch.benchmark.pipelines import make_pipeline

    if pipeline in CLASSICAL:
        return make_pipeline(pipeline)
    module = "EEGNet" if pipeline == "EEGNet" else "NeuroSketch"
    budget = {}
    if pipeline == "NeuroSketch-previous":
        epochs, batch = previous_budget(n_train)
        budget = dict(max_epochs=epochs, batch_size=batch)
    return NeuroSketchClassifier(module=module, random_state=seed, device="cpu",
                                 amp=amp, compile=False, **budget)


def run_one(job):
    """Fit and score one (case, subject, seed, pipeline); a result dict."""
    import torch
    from sklearn.metrics import get_scorer
    from sklearn.model_selection import train_test_split

    torch.set_num_threads(1)  # two jobs share the 2-core machine
    case, subject, seed, pipeline, amp, X, y, X_classical, scoring = job
    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=0.2, stratify=y, random_state=seed)
    est = _estimator(pipeline, len(train), seed, amp)
    data = X_classical if pipeline in CLASSICAL else X
    t0 = time.perf_counter()
    est.fit(data[train], y[train])
    fit_time = time.perf_counter() - t0
    score = float(get_scorer(scoring)(est, data[test], y[test]))
    row = dict(case=case, subject=int(subject), seed=int(seed), pipeline=pipeline,
               amp=str(amp), n_trials=int(len(y)), n_train=int(len(train)),
               score=score, fit_time=round(fit_time, 1))
    if hasattr(est, "history_"):
        hist = est.history_
        row.update(valid_acc=float(max(hist[:, "valid_acc"])),
                   epochs_run=len(hist), max_epochs=int(est.max_epochs_),
                   batch_size=int(est.batch_size_), train_path=est.train_path_,
                   inference_path=est.inference_path_)
    return row


# ---------------------------------------------------------------------------
# the plan
# ---------------------------------------------------------------------------
def _key(row):
    return (row["case"], row["subject"], row["seed"], row["pipeline"], row["amp"])


def _jobs(cases, seeds, subjects, done, fp32_case):
    from mne_neurosketch.estimator import auto_budget

    for case in cases:
        data, scoring = load_case(case, subjects)
        classical = "XdawnTSLR" if scoring == "roc_auc" else "TSLR"
        for subject, X, y, Xc in data:
            n_train = len(y) - int(np.ceil(0.2 * len(y)))
            same = auto_budget(n_train) == previous_budget(n_train)
            for seed in seeds:
                pipes = [("NeuroSketch", "auto"), ("EEGNet", "auto"), (classical, "auto")]
                if not same:
                    pipes.append(("NeuroSketch-previous", "auto"))
                if case == fp32_case and seed == seeds[0]:  # the numeric path's spread
                    pipes += [("NeuroSketch", False)]
                    pipes += [] if same else [("NeuroSketch-previous", False)]
                for pipeline, amp in pipes:
                    key = (case, int(subject), int(seed), pipeline, str(amp))
                    if key not in done:
                        yield (case, subject, seed, pipeline, amp, X, y, Xc, scoring)


def _read(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(args):
    from tqdm import tqdm

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {_key(r) for r in _read(out)}
    jobs = list(_jobs(args.cases, args.seeds, args.subjects, done, args.fp32_case))
    # the slow NeuroSketch fits first, so that two workers finish together
    jobs.sort(key=lambda j: (j[3] in (*CLASSICAL, "EEGNet"), -len(j[6])))
    with ProcessPoolExecutor(args.jobs) as pool, open(out, "a") as fid:
        futures = [pool.submit(run_one, job) for job in jobs]
        for fut in tqdm(as_completed(futures), total=len(futures), desc="fits"):
            row = fut.result()
            fid.write(json.dumps(row) + "\n")
            fid.flush()


# ---------------------------------------------------------------------------
# the summary
# ---------------------------------------------------------------------------
def _cell(values, pct):
    values = np.asarray(values, float) * (100 if pct else 1)
    if len(values) == 0:
        return ""
    return f"{values.mean():.1f} ± {values.std():.1f}" if pct else f"{values.mean():.0f}"


def summarize(path):
    import pandas as pd

    rows = pd.DataFrame(_read(Path(path)))
    rows.to_csv(Path(path).with_suffix(".csv"), index=False)  # linked from the docs
    # the previous rule's rows where it resolves to the same fit as "auto"
    shared = []
    for key, grp in rows[(rows.pipeline == "NeuroSketch")].groupby(["case", "subject"]):
        if not ((rows.case == key[0]) & (rows.subject == key[1])
                & (rows.pipeline == "NeuroSketch-previous")).any():
            shared.append(grp.assign(pipeline="NeuroSketch-previous"))
    rows = pd.concat([rows, *shared], ignore_index=True)
    auto = rows[rows.amp == "auto"]
    order = [c for c in CASES if c in set(auto.case)]
    pipes = ["NeuroSketch", "NeuroSketch-previous", "EEGNet", *CLASSICAL]
    lines = [
        "Defaults on datasets of several sizes",
        "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~",
        "",
        "Command: ``python benchmarks/bench_defaults.py --out "
        "benchmarks/results/defaults/defaults.jsonl`` (then ``--summary``).",
        "One stratified 80/20 split per subject and seed; test score in % (accuracy; "
        "ROC-AUC for Muse P300), mean ± standard deviation over subjects x seeds; "
        "in brackets the networks' inner validation accuracy (held out of the "
        "training part: what the rule was chosen on). ``NeuroSketch`` is "
        "``NeuroSketchClassifier()`` at its defaults, ``NeuroSketch-previous`` the "
        "previous release's rule (shown equal where both give the same batch size "
        "and epochs: the same fit); networks with ``compile=False``.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - dataset (trials per subject; subjects x seeds)",
        *[f"     - {p}" for p in pipes],
    ]
    for case in order:
        sub = auto[auto.case == case]
        n = f"{int(sub.n_trials.min())}-{int(sub.n_trials.max())}" if (
            sub.n_trials.nunique() > 1) else f"{int(sub.n_trials.iloc[0])}"
        runs = f"{sub.subject.nunique()} x {sub.seed.nunique()}"
        lines.append(f"   * - {case} ({n}; {runs})")
        for p in pipes:
            grp = sub[sub.pipeline == p]
            text = _cell(grp.score, True)
            if "valid_acc" in grp and grp.valid_acc.notna().any():
                text += f" [{_cell(grp.valid_acc.dropna(), True)}]"
            lines.append(f"     - {text}")
    budget = auto[auto.pipeline.str.startswith("NeuroSketch")].groupby(
        ["case", "pipeline"])[["batch_size", "max_epochs"]].agg(
        lambda v: "/".join(str(int(x)) for x in sorted(set(v.dropna()))))
    lines += ["", "Batch size and max_epochs each rule resolved to:", ""]
    for (case, pipe), row in budget.iterrows():
        lines.append(f"- {case}, {pipe}: batch {row.batch_size}, "
                     f"{row.max_epochs} epochs")
    fp32 = rows[rows.amp == "False"]
    if len(fp32):
        lines += ["", "The numeric path (first seed; bf16 is what ``amp='auto'`` "
                  "takes on this CPU, fp32 is ``amp=False``), test score in %:", ""]
        for (case, pipe), grp in fp32.groupby(["case", "pipeline"]):
            bf = auto[(auto.case == case) & (auto.pipeline == pipe)
                      & (auto.seed == grp.seed.iloc[0])]
            lines.append(f"- {case}, {pipe}: bf16 {_cell(bf.score, True)}, "
                         f"fp32 {_cell(grp.score, True)}")
    paths = sorted(set(auto.train_path.dropna()))
    lines += ["", f"Training paths taken: {', '.join(paths)}.", ""]
    text = "\n".join(lines)
    Path(path).with_name("defaults_summary.rst").write_text(text)
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "results/defaults/defaults.jsonl"))
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--subjects", type=int, nargs="+", default=None,
                        help="subjects of every case (default: each case's own)")
    parser.add_argument("--fp32-case", default="muse",
                        help="case also run with amp=False on the first seed")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--summary", action="store_true",
                        help="only write the summary of --out")
    args = parser.parse_args()
    if not args.summary:
        run(args)
    summarize(args.out)


if __name__ == "__main__":
    main()
