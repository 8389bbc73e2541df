"""Pair pipelines across protocols and results files, on their common subjects.

``neurosketch report`` compares the pipelines of one protocol. The transfer
protocols score the target's within-session test folds, so a transfer row and
a within-session row of the same subject pair up. This script puts every
(pipeline, protocol) of the given results files side by side, keeps the
subjects that all of them have finished (a pipeline that finished fewer
subjects than the others is left out, and named), and runs MOABB's paired
statistics.

Usage::

    python compare_protocols.py RESULTS.sqlite [RESULTS.sqlite ...] [--out DIR]

A (pipeline, protocol) found in several files is kept once per file, named
after the file.
"""

# License: BSD (3-clause)

import argparse
import re
from pathlib import Path

import pandas as pd
from moabb.analysis.meta_analysis import compute_dataset_statistics

from mne_neurosketch.benchmark.store import ResultsStore


def scores(paths) -> pd.DataFrame:
    """Every fold of every file, pipeline renamed '<pipeline> <protocol>' (and
    '(<file stem>)' when another file has the same pipeline and protocol, e.g.
    the same network computed by an earlier version of the code)."""
    df = pd.concat(
        [ResultsStore(p).to_dataframe(level="fold").assign(file=Path(p).stem)
         for p in paths], ignore_index=True
    )
    protocol = df["protocol"].map(lambda s: re.sub(r"\[subjects=.*\]", "", s))
    df["pipeline"] = df["pipeline"] + " " + protocol
    files = df.groupby("pipeline")["file"].transform("nunique")
    df.loc[files > 1, "pipeline"] += " (" + df.loc[files > 1, "file"] + ")"
    df["subject"] = df["subject"].astype(str)
    return df


def common(df: pd.DataFrame):
    """Subject-session scores (mean over folds) of the subjects that every
    pipeline has finished (as many folds as the most complete pipeline).

    A pipeline that has finished fewer subjects than the others (a long run
    stopped part-way) is left out, so that it does not shrink the comparison
    of the rest; its finished subjects are printed."""
    n = df.groupby(["pipeline", "subject"]).size().unstack("pipeline")
    finished = n.eq(n.max(axis=1), axis=0)
    partial = finished.columns[finished.sum() < finished.sum().max()]
    for pipeline in partial:
        done = sorted(finished.index[finished[pipeline]], key=int)
        print(f"Left out, subjects finished only {', '.join(done) or 'none'}: {pipeline}")
    complete = finished.drop(columns=partial).all(axis=1)
    keep = sorted(complete[complete].index, key=int)
    df = df[df["subject"].isin(keep) & ~df["pipeline"].isin(partial)]
    df = df.groupby(["dataset", "pipeline", "subject", "session"], as_index=False)[
        "score"
    ].mean()
    return df, keep


def main(argv=None) -> None:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+")
    parser.add_argument("--out", help="also write scores.csv and stats.csv here")
    args = parser.parse_args(argv)
    df, subjects = common(scores(args.results))
    table = (
        df.groupby(["pipeline", "subject"])["score"].mean().unstack("pipeline") * 100
    )
    print(f"Subjects finished by every pipeline: {', '.join(subjects)}")
    print("Mean ± std over these subjects (percent):")
    print(table.agg(["mean", "std"]).T.round(1).to_string())
    stats = compute_dataset_statistics(df)
    columns = ["pipe1", "pipe2", "p", "smd", "nsub"]
    stats = stats[stats["pipe1"] != stats["pipe2"]][columns]
    print("\nOne-sided paired tests that pipe1 > pipe2 (MOABB; permutation below 20 "
          "subjects):")
    print(stats.sort_values("p").to_string(index=False))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        table.round(2).to_csv(out / "scores_by_subject.csv")
        stats.to_csv(out / "paired_stats.csv", index=False)


if __name__ == "__main__":
    main()
