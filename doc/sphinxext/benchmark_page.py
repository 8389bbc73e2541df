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
name is used as its caption instead. Nothing is typed by hand: rebuilding
the site after a benchmark run refreshes the page. When the folder is
missing or empty, the page says so.
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
