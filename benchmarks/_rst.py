"""reStructuredText of the benchmark scripts' summaries (shown in the documentation)."""

# License: BSD (3-clause)


def rst_table(header, rows, caption="") -> list[str]:
    """A reStructuredText list-table (an empty cell shows as ``-``), as lines."""
    lines = [f".. list-table:: {caption}".rstrip(), "   :header-rows: 1", ""]
    for row in [header, *rows]:
        cells = [str(c) if str(c).strip() else "-" for c in row]
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {c}" for c in cells[1:]]
    return [*lines, ""]
