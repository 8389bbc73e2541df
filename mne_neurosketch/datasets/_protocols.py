"""Per-subject evaluation splits of a corpus windows dataset."""

# License: BSD (3-clause)

from __future__ import annotations

import numpy as np

from ..splits import GroupedSplit, PaperSplit

__all__ = ["protocol_splits"]


def protocol_splits(windows, protocol, protocols):
    """Train/validation/test window indices of a named protocol, per subject.

    Each subject is split on its own (the paper's within-subject protocols);
    fold ``k`` joins the ``k``-th split of every subject.

    Parameters
    ----------
    windows : braindecode.datasets.BaseConcatDataset
        The corpus windows (metadata ``target`` and ``subject``).
    protocol : str
        A key of ``protocols``.
    protocols : dict
        ``{name: (splitter, group_column or None)}``; the splitter has
        ``split_with_valid(X, y, groups)``.

    Returns
    -------
    folds : list of tuple of ndarray
        ``(train, valid, test)`` indices into ``windows``.
    """
    if protocol not in protocols:
        allowed = ", ".join(repr(p) for p in protocols)
        raise ValueError(
            f"Invalid value for the 'protocol' parameter. Allowed values are {allowed}, "
            f"but got {protocol!r} instead."
        )
    splitter, column = protocols[protocol]
    md = windows.get_metadata()
    y = md["target"].to_numpy()
    subjects = md["subject"].to_numpy()
    per_subject = []
    for subject in np.unique(subjects):
        idx = np.flatnonzero(subjects == subject)
        groups = None if column is None else md[column].to_numpy()[idx]
        triples = splitter.split_with_valid(idx, y[idx], groups)
        per_subject.append([tuple(idx[part] for part in triple) for triple in triples])
    n_folds = min(len(folds) for folds in per_subject)
    return [
        tuple(np.concatenate([folds[k][i] for folds in per_subject]) for i in range(3))
        for k in range(n_folds)
    ]


# The protocols of each corpus: name -> (splitter, grouping column).
PAPER_SIMPLE = (PaperSplit("simple"), None)
PAPER_N_FOLD = (PaperSplit("n_fold"), None)


def grouped(column, n_splits=None):
    """A leakage-free protocol keeping each ``column`` value on one side."""
    return (GroupedSplit(n_splits=n_splits), column)
