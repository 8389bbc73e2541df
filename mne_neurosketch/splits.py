"""Train/validation/test splits: the paper's protocols and leakage-free grouped ones.

The NeuroSketch paper splits each subject's trials at random (``simple``: stratified
60/20/20; ``n_fold``: a fixed stratified 20 % test set and a stratified 3-fold split
of the rest, seed 42). :func:`simple_split` and :func:`n_fold_split` reproduce those
indices exactly. Where windows of one trial, block or run are near-duplicates
(SEED-DV clips of one viewing, OpenMIIR patches of one rendition, Du-IN trials of
one run), a random split leaks; :class:`GroupedSplit` keeps each group on one side
(leave-one-group-out, e.g. leave-one-block-out for SEED-DV, or grouped k-fold).

Both splitters follow sklearn's cross-validator API (``split``/``get_n_splits``) and
also offer ``split_with_valid``, which yields ``(train, valid, test)`` triples for
early stopping on a validation part.
"""

# License: BSD (3-clause)

from __future__ import annotations

import numpy as np
from sklearn.model_selection import (
    BaseCrossValidator,
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)
from sklearn.model_selection._split import GroupsConsumerMixin

from ._docs import fill_doc
from .utils import _check_option

__all__ = ["GroupedSplit", "PaperSplit", "groups_of", "n_fold_split", "simple_split"]


def _labels(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(
            f"y must be a non-empty 1-D array of labels, got shape {y.shape}."
        )
    return y


@fill_doc
def simple_split(
    y,
    *,
    train_ratio=0.6,
    eval_ratio=0.2,
    test_ratio=0.2,
    random_state=42,
    stratify=True,
):
    """The paper's ``simple`` split: stratified train/validation/test (60/20/20).

    Exactly the reference ``get_split``: ``train_test_split(idx,
    test_size=1 - train_ratio, stratify=y, random_state=42, shuffle=True)``, then the
    rest split with ``test_size=1 - eval_ratio / (eval_ratio + test_ratio)``,
    stratified on its labels, same seed. With ``test_ratio=0`` the validation and
    test parts are the same indices (as in the reference).

    Parameters
    ----------
    y : array-like, shape (n_trials,)
        Labels of the subject's trials, in trial order.
    train_ratio, eval_ratio, test_ratio : float
        Proportions of the three parts.
    %(random_state_paper)s
    %(stratify)s

    Returns
    -------
    train, valid, test : ndarray of int
        Trial indices of the three parts.
    """
    y = _labels(y)
    idx = np.arange(len(y))
    train, tmp = train_test_split(
        idx,
        test_size=(1 - train_ratio),
        random_state=random_state,
        shuffle=True,
        stratify=y if stratify else None,
    )
    if test_ratio == 0:
        return train, tmp, tmp
    val_size = eval_ratio / (eval_ratio + test_ratio)
    valid, test = train_test_split(
        tmp,
        test_size=(1 - val_size),
        random_state=random_state,
        shuffle=True,
        stratify=y[tmp] if stratify else None,
    )
    return train, valid, test


@fill_doc
def n_fold_split(y, *, n_fold=3, test_ratio=0.2, random_state=42, stratify=True):
    """The paper's ``n_fold`` split: a fixed test set, k folds on the rest.

    Exactly the reference ``get_n_fold_split``: ``train_test_split(idx,
    test_size=test_ratio, stratify=y, random_state=42, shuffle=True)`` gives the test
    set (the same for every fold), then ``StratifiedKFold(n_fold, shuffle=True,
    random_state=42)`` on the remaining trials gives each fold's train and validation
    parts.

    Parameters
    ----------
    y : array-like, shape (n_trials,)
        Labels of the subject's trials, in trial order.
    n_fold : int
        Number of folds (the paper's is 3).
    test_ratio : float
        Proportion of the test set; ``0`` uses every trial as test (reference
        behaviour).
    %(random_state_paper)s
    stratify : bool
        Stratify on the labels (``KFold`` otherwise).

    Returns
    -------
    folds : list of tuple of ndarray
        ``(train, valid, test)`` trial indices of each fold.
    """
    y = _labels(y)
    idx = np.arange(len(y))
    if test_ratio > 0:
        rest, test = train_test_split(
            idx,
            test_size=test_ratio,
            random_state=random_state,
            shuffle=True,
            stratify=y if stratify else None,
        )
    else:
        rest, test = idx, idx
    if stratify:
        cv = StratifiedKFold(n_splits=n_fold, shuffle=True, random_state=random_state)
        inner = cv.split(rest, y[rest])
    else:
        inner = KFold(n_splits=n_fold, shuffle=True, random_state=random_state).split(
            rest
        )
    return [(rest[tr], rest[va], test) for tr, va in inner]


@fill_doc
class PaperSplit(BaseCrossValidator):
    """The paper's random trial-level protocols as an sklearn cross-validator.

    ``split`` yields ``(train, test)``: the paper's training part and its test part;
    the validation part (used by the paper only for model selection) is left out.
    ``split_with_valid`` yields the full ``(train, valid, test)`` triples.

    .. warning:: Trial-level random splits put windows of the same trial, block or
       stimulus on both sides for SEED-DV, OpenMIIR and ThingsEEG; use
       :class:`GroupedSplit` for a leakage-free estimate.

    Parameters
    ----------
    method : "n_fold" | "simple"
        The protocol: :func:`n_fold_split` (one split per fold) or
        :func:`simple_split` (one split).
    n_fold : int
        Folds of ``"n_fold"``.
    train_ratio, eval_ratio, test_ratio : float
        Proportions (``"simple"`` uses all three, ``"n_fold"`` only ``test_ratio``).
    %(random_state_paper)s
    %(stratify)s
    """

    def __init__(
        self,
        method="n_fold",
        *,
        n_fold=3,
        train_ratio=0.6,
        eval_ratio=0.2,
        test_ratio=0.2,
        random_state=42,
        stratify=True,
    ):
        self.method = method
        self.n_fold = n_fold
        self.train_ratio = train_ratio
        self.eval_ratio = eval_ratio
        self.test_ratio = test_ratio
        self.random_state = random_state
        self.stratify = stratify

    def _triples(self, y):
        if y is None:
            raise ValueError("PaperSplit needs the labels: call split(X, y).")
        _check_option("method", self.method, ("n_fold", "simple"))
        if self.method == "n_fold":
            return n_fold_split(
                y,
                n_fold=self.n_fold,
                test_ratio=self.test_ratio,
                random_state=self.random_state,
                stratify=self.stratify,
            )
        return [
            simple_split(
                y,
                train_ratio=self.train_ratio,
                eval_ratio=self.eval_ratio,
                test_ratio=self.test_ratio,
                random_state=self.random_state,
                stratify=self.stratify,
            )
        ]

    @fill_doc
    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` indices of each split.

        %(split_params)s

        Yields
        ------
        train, test : ndarray of int
            Indices.
        """
        for train, _, test in self.split_with_valid(X, y):
            yield train, test

    @fill_doc
    def split_with_valid(self, X, y=None, groups=None):
        """Yield ``(train, valid, test)`` indices of each split.

        %(split_params)s

        Yields
        ------
        train, valid, test : ndarray of int
            Indices.
        """
        if y is not None and len(X) != len(y):
            raise ValueError(f"X has {len(X)} trials but y has {len(y)} labels.")
        yield from self._triples(y)

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits: ``n_fold`` for ``"n_fold"``, 1 for ``"simple"``.

        Parameters
        ----------
        X, y, groups : object
            Ignored.

        Returns
        -------
        n_splits : int
            The number of splits.
        """
        return self.n_fold if self.method == "n_fold" else 1


class GroupedSplit(GroupsConsumerMixin, BaseCrossValidator):
    """Leakage-free splits that keep every group (block, run, trial) on one side.

    With ``n_splits=None`` it is leave-one-group-out: one split per group, that group
    as test. For SEED-DV with ``groups`` = the block this is the corpus' official
    leave-one-block-out protocol; for Du-IN use the run, for OpenMIIR the trial. With
    an int it is a grouped k-fold (stratified on the labels when ``stratify`` and ``y``
    are given, :class:`~sklearn.model_selection.StratifiedGroupKFold`).

    ``split_with_valid`` also holds out a validation part: the test groups of the
    previous split, cyclically (for leave-one-block-out over 7 blocks: test block
    ``i``, validation block ``i - 1``, train on the other 5, as in the SEED-DV
    authors' evaluation).

    MOABB's evaluations accept it: ``WithinSessionEvaluation(paradigm,
    cv_class=GroupedSplit, cv_kwargs={"n_splits": None}, groups="run")`` is
    leave-one-block-out on SEED-DV (its MOABB dataset has one run per block; without
    ``cv_kwargs`` MOABB passes its own ``n_splits=5``).

    Parameters
    ----------
    n_splits : int | None
        ``None`` for leave-one-group-out, else the number of folds.
    stratify : bool
        Stratify the grouped k-fold on the labels (when ``y`` is given).
    shuffle : bool
        Shuffle the groups of the k-fold.
    random_state : int | None
        Seed when ``shuffle``.
    """

    def __init__(self, n_splits=None, *, stratify=True, shuffle=False, random_state=None):
        self.n_splits = n_splits
        self.stratify = stratify
        self.shuffle = shuffle
        self.random_state = random_state

    def _check_groups(self, X, groups):
        if groups is None:
            raise ValueError(
                "GroupedSplit needs groups=: pass one group id per trial, e.g. "
                "groups_of(windows, 'block') or a column of the MOABB metadata."
            )
        groups = np.asarray(groups)
        if groups.ndim != 1 or len(groups) != len(X):
            raise ValueError(
                f"groups must have one entry per trial ({len(X)}), got shape "
                f"{groups.shape}."
            )
        n_groups = len(np.unique(groups))
        need = 2 if self.n_splits is None else self.n_splits
        if n_groups < need:
            raise ValueError(
                f"Cannot split {n_groups} group(s) into {need} folds; every split "
                "needs a test group distinct from the training groups."
            )
        return groups

    def _test_parts(self, X, y, groups):
        groups = self._check_groups(X, groups)
        if self.n_splits is None:
            for g in np.unique(groups):
                yield np.flatnonzero(groups == g)
            return
        if self.stratify and y is not None:
            cv = StratifiedGroupKFold(
                self.n_splits,
                shuffle=self.shuffle,
                random_state=self.random_state if self.shuffle else None,
            )
        else:
            cv = GroupKFold(
                self.n_splits,
                shuffle=self.shuffle,
                random_state=self.random_state if self.shuffle else None,
            )
        for _, test in cv.split(X, y, groups):
            yield test

    @fill_doc
    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` indices; no group is on both sides.

        %(split_params_groups)s

        Yields
        ------
        train, test : ndarray of int
            Indices.
        """
        n = len(X)
        for test in self._test_parts(X, y, groups):
            yield np.setdiff1d(np.arange(n), test), test

    @fill_doc
    def split_with_valid(self, X, y=None, groups=None):
        """Yield ``(train, valid, test)``; validation = the previous split's test part.

        %(split_params_groups)s

        Yields
        ------
        train, valid, test : ndarray of int
            Indices; the three parts share no group.
        """
        tests = list(self._test_parts(X, y, groups))
        if len(tests) < 3:
            raise ValueError(
                f"split_with_valid needs at least 3 groups or folds, got {len(tests)}."
            )
        n = len(X)
        for i, test in enumerate(tests):
            valid = tests[i - 1]
            train = np.setdiff1d(np.arange(n), np.concatenate([test, valid]))
            yield train, valid, test

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits.

        Parameters
        ----------
        X, y : object
            Ignored.
        groups : array-like | None
            Needed for leave-one-group-out (one split per distinct group).

        Returns
        -------
        n_splits : int
            The number of splits.
        """
        if self.n_splits is not None:
            return self.n_splits
        if groups is None:
            raise ValueError("groups is needed to count leave-one-group-out splits.")
        return len(np.unique(np.asarray(groups)))


def groups_of(windows, by) -> np.ndarray:
    """Group ids of each window of a braindecode windows dataset.

    Parameters
    ----------
    windows : braindecode.datasets.BaseConcatDataset
        Windows, e.g. a corpus dataset of :mod:`mne_neurosketch.datasets`.
    by : str | list of str
        Metadata or description column(s), e.g. ``"block"``, ``"run"``, ``"trial"``;
        several columns are combined.

    Returns
    -------
    groups : ndarray, shape (n_windows,)
        One group id per window, in window order.
    """
    md = windows.get_metadata()
    cols = [by] if isinstance(by, str) else list(by)
    missing = [c for c in cols if c not in md.columns]
    if missing:
        raise KeyError(
            f"Columns {missing} are not in the windows' metadata or description; "
            f"available: {sorted(map(str, md.columns))}."
        )
    if len(cols) == 1:
        return md[cols[0]].to_numpy()
    return md[cols].astype(str).agg("-".join, axis=1).to_numpy()
