"""Per-subject evaluation splits of a corpus windows dataset."""

# License: BSD (3-clause)

from __future__ import annotations

import numpy as np

from ..splits import GroupedSplit, PaperSplit

__all__ = ["make_split", "split_per_subject"]

# Protocol name -> its parameters and their defaults (the names of
# mne_neurosketch.benchmark.protocols, which does not import the datasets).
_PROTOCOL_PARAMS = {
    "paper": {"method": "n_fold"},
    "grouped": {"group": "run", "n_splits": None},
}


def make_split(protocol, params):
    """The per-subject splitter and grouping column of a named protocol.

    Parameters
    ----------
    protocol : "paper" | "grouped"
        The protocol.
    params : dict
        Its parameters (``method``; ``group``, ``n_splits``).

    Returns
    -------
    splitter : PaperSplit | GroupedSplit
        Has ``split_with_valid(X, y, groups)``.
    column : str | None
        The metadata column holding the groups.
    """
    if protocol not in _PROTOCOL_PARAMS:
        allowed = ", ".join(repr(p) for p in _PROTOCOL_PARAMS)
        raise ValueError(
            f"Invalid value for the 'protocol' parameter. Allowed values are {allowed}, "
            f"but got {protocol!r} instead."
        )
    unknown = set(params) - set(_PROTOCOL_PARAMS[protocol])
    if unknown:
        raise TypeError(
            f"The {protocol!r} protocol has no parameter(s) {sorted(unknown)}; it takes "
            f"{sorted(_PROTOCOL_PARAMS[protocol])}."
        )
    params = {**_PROTOCOL_PARAMS[protocol], **params}
    if protocol == "paper":
        return PaperSplit(params["method"]), None
    return GroupedSplit(n_splits=params["n_splits"]), params["group"]


def split_per_subject(windows, splitter, column):
    """Train/validation/test window indices, each subject split on its own.

    Parameters
    ----------
    windows : braindecode.datasets.BaseConcatDataset
        The corpus windows (metadata ``target`` and ``subject``).
    splitter : PaperSplit | GroupedSplit
        Has ``split_with_valid(X, y, groups)``.
    column : str | None
        The metadata column holding the groups.

    Returns
    -------
    folds : list of tuple of ndarray
        ``(train, valid, test)`` indices into ``windows``; fold ``k`` joins the
        ``k``-th split of every subject.
    """
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
