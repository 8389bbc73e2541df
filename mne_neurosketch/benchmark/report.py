"""Tables, MOABB figures and statistics from a results store.

:func:`make_report` writes, for each protocol in the results:

- ``summary.csv`` / ``summary.md``: mean and standard deviation of the score
  over subjects (and sessions) per dataset x pipeline, with the training budget;
- ``results.csv``: the results in MOABB's format (one row per subject and session);
- ``stats.csv``: MOABB's per-dataset statistics
  (:func:`moabb.analysis.meta_analysis.compute_dataset_statistics`: permutation
  test under 20 subjects, Wilcoxon above, standardised mean difference; one
  row per pair of different pipelines) and ``meta_p.csv`` / ``meta_smd.csv``,
  the meta-analysis over datasets
  (:func:`~moabb.analysis.meta_analysis.find_significant_differences`);
- figures, as PNG and SVG: MOABB's score plot, paired plots of the reference
  pipeline against each other one, the significance matrix, and the
  meta-analysis plots;
- ``report.md`` tying them together (the docs' results page includes it),
  with a warning when a dataset has too few subjects for its statistics
  (:func:`warn_few_subjects`).
"""

# License: BSD (3-clause)

from __future__ import annotations

import logging
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import logger
from .pipelines import _network_budget
from .store import _as_store, _distinct

__all__ = ["format_table", "make_report", "summary_table", "warn_few_subjects"]

# Parameters shown as the training budget of deep pipelines.
_BUDGET_KEYS = ("max_epochs", "batch_size", "patience", "valid_size", "lr")
_ALPHA = 0.05
# MOABB's exact sign-flip permutation test over n subjects cannot give a p-value
# below 2**-n, so fewer subjects than this can never reach _ALPHA.
_MIN_SUBJECTS = math.ceil(math.log2(1 / _ALPHA))


def _label_pipelines(df: pd.DataFrame) -> pd.DataFrame:
    """Tell apart runs of one pipeline with different parameters (``name@hash``)."""
    df = df.copy()
    n_hashes = df.groupby("pipeline")["params_hash"].nunique()
    multi = set(n_hashes[n_hashes > 1].index)
    if multi:
        df["pipeline"] = [
            f"{p}@{h[:6]}" if p in multi else p
            for p, h in zip(df["pipeline"], df["params_hash"])
        ]
    return df


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of the scores per dataset x pipeline.

    Parameters
    ----------
    results : pandas.DataFrame
        Results in MOABB's format (:meth:`ResultsStore.to_dataframe`).

    Returns
    -------
    table : pandas.DataFrame
        Columns ``dataset, pipeline, score_mean, score_std, n_subjects,
        n_sessions, n_folds, fit_time_mean``, one row per dataset and pipeline
        (sample standard deviation over subject-sessions).
    """
    if results.empty:
        return pd.DataFrame(
            columns=[
                "dataset",
                "pipeline",
                "score_mean",
                "score_std",
                "n_subjects",
                "n_sessions",
                "n_folds",
                "fit_time_mean",
            ]
        )
    agg = dict(
        score_mean=("score", "mean"),
        score_std=("score", "std"),
        n_subjects=("subject", "nunique"),
        n_sessions=("session", "size"),
        n_folds=("n_folds", "max") if "n_folds" in results else ("score", "size"),
        fit_time_mean=("time", "mean"),
    )
    return results.groupby(["dataset", "pipeline"], sort=False).agg(**agg).reset_index()


def format_table(table: pd.DataFrame, *, percent: bool = True) -> str:
    """Render :func:`summary_table` as a Markdown table (datasets x pipelines).

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`summary_table`.
    percent : bool
        Show scores in percent.

    Returns
    -------
    text : str
        A Markdown table, one row per pipeline and one column per dataset,
        cells ``mean ± std`` (``mean`` alone for a single subject), followed
        by ``(k of n subjects)`` where a pipeline has fewer subjects than the
        dataset's most complete one (a partial run: not comparable as is).
    """
    if table.empty:
        return "(no results)"
    scale, fmt = (100.0, ".1f") if percent else (1.0, ".3f")
    n_max = table.groupby("dataset")["n_subjects"].transform("max")

    def cell(mean, std, n, n_all):  # one subject has no spread
        text = f"{mean * scale:{fmt}}"
        text = text if np.isnan(std) else f"{text} ± {std * scale:{fmt}}"
        return text if n == n_all else f"{text} ({n} of {n_all} subjects)"

    cells = table.assign(cell=[
        cell(*row) for row in zip(table["score_mean"], table["score_std"],
                                  table["n_subjects"], n_max)
    ])
    wide = cells.pivot(index="pipeline", columns="dataset", values="cell")
    wide = wide.reindex(index=list(dict.fromkeys(table["pipeline"])))
    wide.columns.name = None
    align = ["left"] + ["right"] * len(wide.columns)  # names left, scores right
    return wide.to_markdown(missingval="", colalign=align)


def warn_few_subjects(results: pd.DataFrame) -> list[str]:
    """Warnings for datasets with too few subjects for the paired statistics.

    MOABB's paired test under 20 subjects is an exact sign-flip permutation
    test, whose smallest p-value over ``n`` subjects is ``2**-n``: below
    5 subjects no difference can be significant at 0.05.

    Parameters
    ----------
    results : pandas.DataFrame
        Results in MOABB's format.

    Returns
    -------
    lines : list of str
        One warning per such dataset (empty when there is none, or when there
        is a single pipeline and nothing to compare).
    """
    if results.empty or results["pipeline"].nunique() < 2:
        return []
    lines = []
    for dataset, grp in results.groupby("dataset", sort=False):
        n = grp["subject"].nunique()
        if n >= _MIN_SUBJECTS:
            continue
        if n < 2:
            why = "there are no paired statistics"
        else:
            why = (
                f"the paired permutation test cannot give p below 1/2^{n} = "
                f"{2.0**-n:.3g}, so no difference can be significant at {_ALPHA}"
            )
        lines.append(
            f"Warning: only {n} subject{'s' * (n != 1)} in {dataset}: {why}. Run at "
            f"least {_MIN_SUBJECTS} subjects (e.g. --subjects 1-{_MIN_SUBJECTS}) to "
            "tell the pipelines apart."
        )
    return lines


def _budget(fold_df: pd.DataFrame) -> pd.DataFrame:
    """One row per pipeline: its training budget and where it ran."""
    rows = []
    for (pipeline, h), grp in fold_df.groupby(["pipeline", "params_hash"], sort=False):
        params = grp["params"].iloc[0].get("pipeline", {})
        budget = _network_budget(params, _BUDGET_KEYS)
        rows.append(
            dict(
                pipeline=pipeline,
                params_hash=h,
                budget=", ".join(f"{k}={v}" for k, v in budget.items()) or "-",
                device=_distinct(grp["device"]),
                numerics=_distinct(grp["numerics"]) or "-",
                fits=len(grp),
                fit_time_total_s=round(float(grp["fit_time"].sum()), 1),
            )
        )
    return pd.DataFrame(rows)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_")


def _save(fig, out: Path, stem: str, formats) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    for fmt in formats:
        path = out / f"{stem}.{fmt}"
        fig.savefig(path, bbox_inches="tight", dpi=110)
        paths.append(path)
    plt.close(fig)
    return paths


def _figures(df, out, reference, formats, stats) -> list[Path]:
    """MOABB's score, paired, significance and meta-analysis figures."""
    from moabb.analysis import plotting as mplt
    from moabb.analysis.chance_level import chance_by_chance

    paths = []
    chance = chance_by_chance(df)
    fig, _ = mplt.score_plot(df, chance_level=chance)
    paths += _save(fig, out, "score_plot", formats)
    pipelines = list(dict.fromkeys(df["pipeline"]))
    ref = reference if reference in pipelines else pipelines[0]
    for other in pipelines:
        if other == ref:
            continue
        fig = mplt.paired_plot(df, other, ref, chance_level=chance)
        paths += _save(
            fig, out, f"paired_{_safe_name(other)}_vs_{_safe_name(ref)}", formats
        )
    tested = [] if stats is None else sorted(set(stats["pipe1"]) | set(stats["pipe2"]))
    if len(tested) > 1:
        from moabb.analysis.meta_analysis import find_significant_differences

        P, T = find_significant_differences(stats)
        fig = mplt.summary_plot(P, T)
        paths += _save(fig, out, "significance", formats)
        for other in tested:
            if other == ref or ref not in tested:
                continue
            fig = mplt.meta_analysis_plot(stats, ref, other)
            paths += _save(
                fig, out, f"meta_{_safe_name(ref)}_vs_{_safe_name(other)}", formats
            )
    return paths


def _complete(g: pd.DataFrame) -> pd.DataFrame:
    """The pipelines of one dataset that have every subject-session (paired tests)."""
    keys = ["subject", "session"]
    n_rows = len(g[keys].drop_duplicates())
    covered = g.groupby("pipeline")[keys].apply(lambda x: len(x.drop_duplicates()))
    partial = sorted(covered.index[covered < n_rows])
    if partial:
        logger.warning(
            f"{', '.join(partial)} lack some subjects of {g['dataset'].iloc[0]}; "
            "left out of its statistics (run them on every subject to compare)."
        )
    return g[~g["pipeline"].isin(partial)]


def _statistics(df: pd.DataFrame):
    """MOABB's per-dataset statistics, or None when there is nothing to compare."""
    from moabb.analysis.meta_analysis import compute_dataset_statistics

    usable = pd.concat([_complete(g) for _, g in df.groupby("dataset")] or [df[:0]])
    usable = usable.groupby("dataset").filter(
        lambda g: g["subject"].nunique() >= 2 and g["pipeline"].nunique() >= 2
    )
    if usable.empty:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        stats = compute_dataset_statistics(usable)
    # A pipeline against itself is no comparison (MOABB lists it with p=1).
    stats = stats[stats["pipe1"] != stats["pipe2"]].drop(columns="index")
    return stats.reset_index(drop=True)


def make_report(
    results,
    out_dir,
    *,
    reference: str = "NeuroSketch",
    formats=("png", "svg"),
    title: str | None = None,
    plots: bool = True,
) -> dict[str, list[Path]]:
    """Write tables, statistics and figures for the results.

    Parameters
    ----------
    results : path-like | ResultsStore
        The results store.
    out_dir : path-like
        Folder to write into (created). With several protocols in the store,
        one sub-folder per protocol.
    reference : str
        Pipeline the paired and meta-analysis plots compare the others with
        (default NeuroSketch; the first pipeline if absent).
    formats : tuple of str
        Figure formats.
    title : str | None
        Title of ``report.md``.
    plots : bool
        Draw the figures (tables and statistics are always written).

    Returns
    -------
    files : dict
        Protocol to the list of files written.
    """
    store = _as_store(results)
    out_dir = Path(out_dir).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    folds = store.to_dataframe(level="fold")
    if folds.empty:
        raise ValueError(f"The results store {store.path} holds no results yet.")
    written = {}
    protocols = list(dict.fromkeys(folds["protocol"]))
    for protocol in protocols:
        out = out_dir if len(protocols) == 1 else out_dir / _safe_name(protocol)
        out.mkdir(parents=True, exist_ok=True)
        written[protocol] = _report_protocol(
            store,
            folds[folds["protocol"] == protocol],
            protocol,
            out,
            reference,
            formats,
            title,
            plots,
        )
    return written


def _report_protocol(store, folds, protocol, out, reference, formats, title, plots):
    df = _label_pipelines(store.to_dataframe(protocol=protocol))
    folds = _label_pipelines(folds)
    table = summary_table(df)
    paths = [out / "results.csv", out / "summary.csv", out / "summary.md"]
    df.to_csv(paths[0], index=False)
    table.to_csv(paths[1], index=False)
    markdown = format_table(table)
    paths[2].write_text(markdown + "\n")
    stats = _statistics(df)
    if stats is not None:
        stats.to_csv(out / "stats.csv", index=False)
        paths.append(out / "stats.csv")
        if df["pipeline"].nunique() > 1:
            from moabb.analysis.meta_analysis import find_significant_differences

            P, T = find_significant_differences(stats)
            P.to_csv(out / "meta_p.csv", index_label="pipeline")
            T.to_csv(out / "meta_smd.csv", index_label="pipeline")
            paths += [out / "meta_p.csv", out / "meta_smd.csv"]
    figures = []
    if plots:
        moabb_log = logging.getLogger("moabb.analysis.plotting")
        level = moabb_log.level
        moabb_log.setLevel(logging.ERROR)  # its name-shortening notices
        try:
            import matplotlib.pyplot as plt

            # Interactive mode off: no window opens, and the user's backend is kept.
            with warnings.catch_warnings(), plt.ioff():
                warnings.simplefilter("ignore")
                figures = _figures(df, out, reference, formats, stats)
        except Exception as err:  # noqa: BLE001 - tables are written regardless
            logger.warning(f"Could not draw the figures ({type(err).__name__}: {err}).")
        finally:
            moabb_log.setLevel(level)
    paths += figures
    budget = _budget(folds)
    report = _markdown(
        store, protocol, title, markdown, table, budget, stats, folds, figures, out
    )
    (out / "report.md").write_text(report)
    paths.append(out / "report.md")
    logger.info(f"Report for {protocol} written to {out}")
    return paths


def _markdown(
    store, protocol, title, markdown, table, budget, stats, folds, figures, out
):
    versions = folds["versions"].iloc[0] if len(folds) else {}
    lines = [
        f"# {title or 'NeuroSketch benchmark'}",
        "",
        f"Protocol: **{protocol}**. Results file: `{store.path.name}` "
        f"({len(folds)} fits). Scores: mean ± standard deviation over subjects "
        "(and sessions), in percent; each subject's score is the mean over its folds.",
        "",
        markdown,
        "",
        "## Training budget and cost",
        "",
        _df_markdown(budget),
        "",
    ]
    warnings_ = warn_few_subjects(store.to_dataframe(protocol=protocol))
    if stats is not None or warnings_:
        lines += ["## Statistics (MOABB)", ""]
        lines += [f"> {line}" for line in warnings_] + ([""] if warnings_ else [])
    if stats is not None:
        lines += [
            "Per dataset, one-sided tests that `pipe1` scores higher than `pipe2` "
            "(permutation test below 20 subjects, Wilcoxon above) and the "
            "standardised mean difference (`smd`).",
            "",
            _df_markdown(stats[["dataset", "pipe1", "pipe2", "p", "smd", "nsub"]]),
            "",
        ]
    if figures:
        lines += ["## Figures", ""]
        for fig in figures:
            if fig.suffix == ".png":
                lines.append(f"![{fig.stem}]({fig.relative_to(out).as_posix()})")
        lines.append("")
    lines += [
        "## Software",
        "",
        ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        "",
    ]
    return "\n".join(lines)


def _df_markdown(df: pd.DataFrame) -> str:
    if df.empty:
        return "(none)"
    return df.to_markdown(index=False, floatfmt=".4g", missingval="")
