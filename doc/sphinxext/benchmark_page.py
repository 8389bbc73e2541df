"""Generate the benchmark results page from ``benchmarks/results/``.

At ``builder-inited`` every file the benchmark code wrote under
``benchmarks/results/`` (subfolders become sections) is turned into
reStructuredText in ``doc/generated/benchmark_results.rst.inc``, which
``doc/benchmark_results.rst`` includes:

- ``<name>_summary.rst``: the benchmark's own summary of ``<name>.csv`` /
  ``<name>.json``, included as written; the raw files become download links;
- ``*.csv`` without a summary: a table (floats to 4 significant digits), or
  a download link when it has more than :data:`MAX_ROWS` rows;
- ``*.json`` without a summary: a table of its flattened keys and values
  (or a download link when large);
- ``*.png``, ``*.svg``, ``*.jpg``: a figure;
- other ``*.rst``: included as written;
- ``*.md``, ``*.txt``: shown as a literal block.

A ``<name>.rst`` or ``<name>.txt`` next to a table or figure of the same
name is used as its caption instead.

A folder written by :func:`mne_neurosketch.benchmark.report.make_report`
(it holds ``summary.csv`` and ``report.md``) is curated instead of dumped:
its ``README.rst`` first, then the scores (mean ± std per pipeline) beside
MOABB's score plot, the scores per subject, the paired statistics beside the
significance matrix, and the paired and meta-analysis figures; the raw files
become download links.

Nothing is typed by hand: rebuilding the site after a benchmark run
refreshes the page. When the folder is missing or empty, the page says so.
"""

# License: BSD (3-clause)

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

IMAGES = (".png", ".svg", ".jpg", ".jpeg")
TEXT = (".md", ".txt")
CAPTION_EXT = (".rst", ".txt")
INCLUDE = "benchmark_results.rst.inc"
#: Larger tables are linked for download instead of shown.
MAX_ROWS = 60
SUMMARY = "_summary"


def _title(text: str, char: str) -> list[str]:
    return [text, char * len(text), ""]


def _pretty(stem: str) -> str:
    return stem.replace("_", " ").replace("-", " ").strip().capitalize()


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value).replace("\n", " ").replace("|", "/")
    return text if text.strip() else "-"


def _table(header, rows, caption) -> list[str]:
    lines = [
        f".. list-table:: {caption}",
        "   :header-rows: 1",
        "   :class: benchmark-table",
        "",
    ]
    for row in [list(header), *rows]:
        lines.append(f"   * - {_cell(row[0])}")
        lines += [f"     - {_cell(v)}" for v in row[1:]]
    return [*lines, ""]


def _flatten(obj, prefix=""):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _flatten(value, f"{prefix}{key}.")
    elif isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        for i, value in enumerate(obj):
            yield from _flatten(value, f"{prefix}{i}.")
    else:
        yield prefix.rstrip("."), obj


def _caption(path: Path) -> str:
    for ext in CAPTION_EXT:
        side = path.with_suffix(ext)
        if side != path and side.exists():
            return " ".join(side.read_text(encoding="utf-8").split())
    return ""


def _is_caption(path: Path) -> bool:
    if path.suffix not in CAPTION_EXT or path.stem.endswith(SUMMARY):
        return False
    return any(path.with_suffix(ext).exists() for ext in (".csv", ".json", *IMAGES))


def _summary_of(path: Path) -> Path | None:
    """The benchmark's ``<name>_summary.rst`` of a raw result file, if any."""
    summary = path.with_name(path.stem + SUMMARY + ".rst")
    return summary if summary.exists() else None


def _download(path: Path, srcdir: Path) -> str:
    rel = Path(os.path.relpath(path, srcdir)).as_posix()
    return f":download:`{path.name} <{rel}>`"


def _render_file(path: Path, results: Path, out_images: Path, srcdir: Path) -> list[str]:
    rel = path.relative_to(results).as_posix()
    caption = _caption(path)
    if path.suffix in (".csv", ".json") and _summary_of(path) is not None:
        return []  # shown through its summary, linked from there
    if path.suffix == ".csv":
        import pandas as pd

        frame = pd.read_csv(path)
        lines = [*_title(_pretty(path.stem), "~")]
        if len(frame) > MAX_ROWS:
            return lines + [f"{len(frame)} rows: {_download(path, srcdir)}.", ""]
        lines += _table(
            frame.columns, frame.itertuples(index=False), caption or f"``{rel}``"
        )
        return lines
    if path.suffix == ".json":
        items = list(_flatten(json.loads(path.read_text(encoding="utf-8"))))
        lines = [*_title(_pretty(path.stem), "~")]
        if len(items) > MAX_ROWS:
            return lines + [f"{len(items)} values: {_download(path, srcdir)}.", ""]
        return lines + _table(["key", "value"], items, caption or f"``{rel}``")
    if path.suffix.lower() in IMAGES:
        target = out_images / rel.replace("/", "__")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        link = target.relative_to(srcdir).as_posix()
        return [
            f".. figure:: /{link}",
            f"   :alt: {_pretty(path.stem)}",
            "   :width: 90%",
            "",
            f"   {caption or _pretty(path.stem)} (``{rel}``)",
            "",
        ]
    if path.suffix == ".rst":
        # include paths are relative to the including page, doc/benchmark_results.rst
        lines = [f".. include:: {Path(os.path.relpath(path, srcdir)).as_posix()}", ""]
        if path.stem.endswith(SUMMARY):
            raw = [
                path.with_name(path.stem[: -len(SUMMARY)] + ext)
                for ext in (".csv", ".json")
            ]
            links = [_download(r, srcdir) for r in raw if r.exists()]
            if links:
                lines += [f"Raw results: {', '.join(links)}.", ""]
        return lines
    if path.suffix in TEXT:
        body = path.read_text(encoding="utf-8").splitlines()
        return [
            *_title(_pretty(path.stem), "~"),
            f"``{rel}``:",
            "",
            "::",
            "",
            *[f"   {line}" for line in body],
            "",
        ]
    return []


def _figure(path: Path, results: Path, out_images: Path, srcdir: Path, caption: str):
    return _render_file(path, results, out_images, srcdir)[:-2] + [
        f"   {caption} (``{path.relative_to(results).as_posix()}``)",
        "",
    ]


def _grid(*columns: list[str]) -> list[str]:
    """Columns side by side on wide screens (sphinx-design), stacked on narrow."""
    lines = [f".. grid:: 1 1 {len(columns)} {len(columns)}", "   :gutter: 2", ""]
    for column in columns:
        lines += ["   .. grid-item::", ""]
        lines += [f"      {line}" if line else "" for line in column]
        lines.append("")
    return lines


def is_report(folder: Path) -> bool:
    """Whether ``folder`` holds a report written by ``make_report``."""
    return (folder / "summary.csv").is_file() and (folder / "report.md").is_file()


def render_report(folder: Path, results: Path, out_images: Path, srcdir: Path):
    """A report folder as tables a reader reads, each beside its figure."""
    import pandas as pd

    def _beside(table, stem, caption):  # the table, and its figure if drawn
        png = folder / f"{stem}.png"
        if not png.is_file():
            return table
        return _grid(table, _figure(png, results, out_images, srcdir, caption))

    lines = []
    if (folder / "README.rst").is_file():
        lines += _render_file(folder / "README.rst", results, out_images, srcdir)
    summary = pd.read_csv(folder / "summary.csv").sort_values(
        "score_mean", ascending=False
    )
    several = summary["dataset"].nunique() > 1
    rows = [
        (
            f"{r.pipeline} ({r.dataset})" if several else r.pipeline,
            f"{100 * r.score_mean:.1f} ± {100 * r.score_std:.1f}",
            int(r.n_subjects),
            f"{r.fit_time_mean:.1f}",
        )
        for r in summary.itertuples()
    ]
    table = _table(
        ["pipeline", "score (%), mean ± std", "subjects", "fit time (s)"],
        rows,
        "Scores over subjects",
    )
    lines += [*_title("Scores", "~"), *_beside(table, "score_plot", "MOABB's score plot")]
    if (folder / "results.csv").is_file() and not several:
        per = pd.read_csv(folder / "results.csv")
        per = per.groupby(["subject", "pipeline"])["score"].mean().unstack()
        per = per.reindex(columns=list(summary["pipeline"]))
        lines += [*_title("Scores per subject (%)", "~")]
        lines += _table(
            ["subject", *per.columns],
            [(s, *(f"{100 * v:.1f}" for v in row)) for s, row in per.iterrows()],
            "Each subject's score (mean over its folds)",
        )
    if (folder / "stats.csv").is_file():
        stats = pd.read_csv(folder / "stats.csv")
        stats = stats[stats["pipe1"] != stats["pipe2"]]  # old reports kept self-pairs
        stats = stats[stats["smd"] > 0].sort_values("p")  # each pair once: the winner
        table = _table(
            ["better", "than", "p", "effect (SMD)", "subjects"],
            [
                (r.pipe1, r.pipe2, f"{r.p:.2g}", f"{r.smd:.2f}", int(r.nsub))
                for r in stats.itertuples()
            ],
            "Paired one-sided tests (MOABB: permutation test under 20 subjects)",
        )
        lines += [
            *_title("Statistics", "~"),
            *_beside(table, "significance", "MOABB's significance matrix"),
        ]
    for prefix, title in (("paired_", "Paired plots"), ("meta_", "Meta-analysis")):
        figures = sorted(folder.glob(f"{prefix}*.png"))
        if figures:
            lines += _title(title, "~")
            cells = [
                _figure(f, results, out_images, srcdir, _pretty(f.stem[len(prefix) :]))
                for f in figures
            ]
            for i in range(0, len(cells), 2):
                lines += _grid(*cells[i : i + 2])
    raw = [
        f
        for f in sorted(folder.iterdir())
        if f.suffix in (".csv", ".md", ".sqlite", ".sh", ".py")
    ]
    lines += [
        f"Raw files: {', '.join(_download(f, srcdir) for f in raw)}.",
        "",
    ]
    return lines


def render_results(results: Path, srcdir: Path) -> str:
    """Return the reStructuredText of the results found under ``results``."""
    files = (
        sorted(p for p in results.rglob("*") if p.is_file()) if results.is_dir() else []
    )
    shown = [
        p
        for p in files
        if not _is_caption(p)
        and (p.suffix in (".csv", ".json", ".rst", *TEXT) or p.suffix.lower() in IMAGES)
    ]
    if not shown:
        return "\n".join(
            [
                ".. note::",
                "",
                "   No benchmark results have been written yet: "
                "``benchmarks/results/`` is missing or holds no tables (``.csv``, "
                "``.json``) or figures. Run the benchmark (see "
                ":doc:`user_guide/benchmarks`), write its outputs there and rebuild "
                "the documentation; this page is generated from those files.",
                "",
            ]
        )
    out_images = srcdir / "generated" / "benchmarks"
    if out_images.exists():
        shutil.rmtree(out_images)
    lines = [f"Generated from {len(shown)} file(s) under ``benchmarks/results/``.", ""]
    section = None
    for path in shown:
        folder = path.parent.relative_to(results).as_posix()
        if folder != "." and folder != section:
            section = folder
            lines += _title(_pretty(folder.replace("/", " / ")), "-")
            if is_report(path.parent):
                lines += render_report(path.parent, results, out_images, srcdir)
        if not is_report(path.parent):
            lines += _render_file(path, results, out_images, srcdir)
    return "\n".join(lines)


def _on_builder_inited(app):
    srcdir = Path(app.srcdir)
    results = srcdir.parent / "benchmarks" / "results"
    target = srcdir / "generated" / INCLUDE
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render_results(results, srcdir)
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        # written only on change: Sphinx tracks includes, so the page is
        # rebuilt exactly when the results change
        target.write_text(text, encoding="utf-8")


def setup(app):
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
