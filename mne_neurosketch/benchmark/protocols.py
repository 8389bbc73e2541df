"""Evaluation protocols: how trials are split into training and test sets.

A protocol turns the trials of one subject (or of all subjects, for
cross-subject) into folds. Each :class:`Fold` names the trials to train on,
those to score, optionally a validation set, and the subject and session the
score belongs to. The MOABB protocols are MOABB's own splitters
(:mod:`moabb.evaluations.splitters`, same seeds), so their scores are
comparable with MOABB's published tables; this module only labels their
folds. The paper's and the grouped protocols, which MOABB lacks, use
:mod:`mne_neurosketch.splits`.
"""

# License: BSD (3-clause)

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# pandas, scikit-learn and MOABB are imported where they are used, so that the
# command line's help can list the protocols without loading them.

__all__ = [
    "PROTOCOLS",
    "CrossSession",
    "CrossSubject",
    "Fold",
    "Grouped",
    "Paper",
    "Protocol",
    "Transfer",
    "TransferUnaligned",
    "WithinSession",
    "ZeroShot",
    "ZeroShotUnaligned",
    "make_protocol",
]


@dataclass(frozen=True)
class Fold:
    """One train/test split.

    Attributes
    ----------
    index : int
        Fold number within its subject and session (0-based).
    subject : str
        The test subject.
    session : str
        The test session, or ``"all"`` when the test trials pool sessions.
    train, test : ndarray of int
        Trial indices into the arrays the protocol split.
    valid : ndarray of int | None
        Validation trials (the paper's protocol); ``None`` lets the estimator
        carve its own validation set from ``train``.
    score_by_session : bool
        Score the test trials of each session separately (MOABB's
        cross-subject evaluation does).
    source : ndarray of int | None
        Transfer protocols: the trials of the OTHER subjects to pretrain on
        (never the test subject's); ``train`` is then the test subject's
        fine-tuning fold.
    source_subjects : ndarray of str | None
        The subject of each ``source`` trial (each is aligned on its own).
    reference : ndarray of int | None
        Transfer protocols: the test subject's trials whose signals (never
        labels) give its alignment reference.
    align : bool
        Transfer protocols: re-centre each subject on its own trials.
    """

    index: int
    subject: str
    session: str
    train: np.ndarray
    test: np.ndarray
    valid: np.ndarray | None = None
    score_by_session: bool = False
    source: np.ndarray | None = None
    source_subjects: np.ndarray | None = None
    reference: np.ndarray | None = None
    align: bool = False


_MISSING = object()


class Protocol:
    """Base class of the protocols.

    Attributes
    ----------
    name : str
        The protocol's name in results and on the command line.
    scope : ``"subject"`` | ``"dataset"``
        ``"subject"``: folds use one subject's trials (loaded one subject at a
        time); ``"dataset"``: folds mix subjects.
    """

    name = ""
    scope = "subject"

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"

    @property
    def id(self) -> str:
        """The name, with the parameters that differ from their defaults.

        Stored with every result, so runs with different parameters never
        mistake each other's fits for their own.
        """
        defaults = {
            name: param.default
            for name, param in inspect.signature(type(self).__init__).parameters.items()
            if name != "self"
        }
        changed = {k: v for k, v in vars(self).items() if defaults.get(k, _MISSING) != v}
        if not changed:
            return self.name
        return (
            f"{self.name}("
            + ",".join(f"{k}={v}" for k, v in sorted(changed.items()))
            + ")"
        )

    def split(self, y: np.ndarray, metadata) -> Iterator[Fold]:
        """Yield the folds.

        Parameters
        ----------
        y : ndarray, shape (n_trials,)
            Labels.
        metadata : pandas.DataFrame
            One row per trial with at least ``subject`` and ``session``
            (MOABB's metadata).

        Yields
        ------
        fold : Fold
            The folds, in a fixed order.
        """
        raise NotImplementedError

    def describe(self) -> str:
        """One line describing the protocol and its parameters.

        Returns
        -------
        text : str
            The description.
        """
        return self.id

    def expected_folds(self, n_subjects: int, n_sessions: int) -> int | None:
        """How many folds :meth:`split` should give, before the data are loaded.

        The runner sizes its progress bar with it (and corrects the total if a
        subject turns out to differ).

        Parameters
        ----------
        n_subjects : int
            Number of subjects.
        n_sessions : int
            Sessions per subject, as the dataset declares them.

        Returns
        -------
        n_folds : int | None
            The number of folds, or ``None`` when only the data can tell.
        """
        return None


def _unique(values) -> list:
    import pandas as pd

    return list(pd.unique(pd.Series(values).astype(str)))


def _as_str(metadata):
    """Metadata with a 0..n-1 index (MOABB's splitters yield index values) and
    ``subject``/``session`` as strings (the labels of the folds)."""
    return metadata.reset_index(drop=True).astype({"subject": str, "session": str})


def _labelled(pairs, metadata, order):
    """Number the folds of MOABB's splitters within each (subject, session).

    ``order`` is ``"subject"`` or ``("subject", "session")``: the columns a
    fold's test trials share. Folds come back in the metadata's subject and
    session order (MOABB's within-session splitter visits them shuffled).
    """
    cols = [order] if isinstance(order, str) else list(order)
    rank = {c: {v: i for i, v in enumerate(_unique(metadata[c]))} for c in cols}
    labelled = []
    for train, test in pairs:
        key = tuple(metadata[c].iat[test[0]] for c in cols)
        labelled.append((tuple(rank[c][v] for c, v in zip(cols, key)), key, train, test))
    labelled.sort(key=lambda item: item[0])  # stable: fold order kept per key
    counts = {}
    for _, key, train, test in labelled:
        k = counts[key] = counts.get(key, -1) + 1
        yield k, key, np.asarray(train), np.asarray(test)


class WithinSession(Protocol):
    """MOABB's within-session evaluation: k-fold inside each session.

    MOABB's :class:`~moabb.evaluations.splitters.WithinSessionSplitter` (the
    splitter of :class:`moabb.evaluations.WithinSessionEvaluation`):
    ``StratifiedKFold(n_splits, shuffle=True)`` seeded with ``random_state``
    afresh on each subject's session.

    Parameters
    ----------
    n_splits : int
        Number of folds (MOABB's default is 5).
    random_state : int
        Seed of the shuffling (MOABB's benchmark uses 42).
    """

    name = "within-session"

    def __init__(self, n_splits: int = 5, random_state: int = 42):
        self.n_splits = n_splits
        self.random_state = random_state

    def describe(self) -> str:  # noqa: D102
        return (
            f"within-session (MOABB): stratified {self.n_splits}-fold per subject and "
            f"session, seed {self.random_state}"
        )

    def expected_folds(self, n_subjects, n_sessions):  # noqa: D102
        return self.n_splits * n_subjects * n_sessions

    def split(self, y, metadata):  # noqa: D102
        from moabb.evaluations.splitters import WithinSessionSplitter

        metadata = _as_str(metadata)
        for (subject, session), grp in metadata.groupby(["subject", "session"]):
            _check_enough(
                y[grp.index], self.n_splits, f"subject {subject} session {session}"
            )
        cv = WithinSessionSplitter(
            n_folds=self.n_splits, shuffle=True, random_state=self.random_state
        )
        pairs = cv.split(y, metadata)
        for k, (subject, session), train, test in _labelled(
            pairs, metadata, ("subject", "session")
        ):
            yield Fold(k, subject, session, train, test)


class CrossSession(Protocol):
    """MOABB's cross-session evaluation: leave one session out per subject.

    MOABB's :class:`~moabb.evaluations.splitters.CrossSessionSplitter`.
    Subjects with a single session are skipped (with a warning by the runner).
    """

    name = "cross-session"

    def describe(self) -> str:  # noqa: D102
        return "cross-session (MOABB): leave one session out per subject"

    def expected_folds(self, n_subjects, n_sessions):  # noqa: D102
        return n_subjects * n_sessions if n_sessions > 1 else 0

    def split(self, y, metadata):  # noqa: D102
        from moabb.evaluations.splitters import CrossSessionSplitter

        metadata = _as_str(metadata)
        pairs = CrossSessionSplitter().split(y, metadata)
        for k, (subject,), train, test in _labelled(pairs, metadata, "subject"):
            # LeaveOneGroupOut: one session per test set.
            yield Fold(k, subject, metadata["session"].iat[test[0]], train, test)


class CrossSubject(Protocol):
    """MOABB's cross-subject evaluation: leave one subject out, scored per session.

    MOABB's :class:`~moabb.evaluations.splitters.CrossSubjectSplitter`.

    Parameters
    ----------
    n_splits : int | None
        ``None`` leaves one subject out; an int uses ``GroupKFold(n_splits)``
        over subjects (MOABB's ``n_splits``).
    """

    name = "cross-subject"
    scope = "dataset"

    def __init__(self, n_splits: int | None = None):
        self.n_splits = n_splits

    def describe(self) -> str:  # noqa: D102
        how = (
            "leave one subject out"
            if self.n_splits is None
            else (f"GroupKFold({self.n_splits}) over subjects")
        )
        return f"cross-subject (MOABB): {how}, scored per session"

    def expected_folds(self, n_subjects, n_sessions):  # noqa: D102
        return n_subjects  # each subject is tested once

    def split(self, y, metadata):  # noqa: D102
        from moabb.evaluations.splitters import CrossSubjectSplitter
        from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

        metadata = _as_str(metadata)
        subjects = metadata["subject"].to_numpy()
        if len(set(subjects)) < 2:
            raise ValueError(
                "The cross-subject protocol needs at least 2 subjects; pass more "
                "with --subjects."
            )
        if self.n_splits is None:
            cv = CrossSubjectSplitter(cv_class=LeaveOneGroupOut)
        else:
            cv = CrossSubjectSplitter(cv_class=GroupKFold, n_splits=self.n_splits)
        for k, (train, test) in enumerate(cv.split(y, metadata)):
            # A GroupKFold test set holds several subjects: one Fold (score) each.
            for subject in _unique(subjects[test]):
                test_s = test[subjects[test] == subject]
                yield Fold(k, subject, "all", train, test_s, score_by_session=True)


class Paper(Protocol):
    """The NeuroSketch paper's per-subject protocol, every fold.

    Trials of each subject (sessions pooled) are split at random, stratified
    by class, with the paper's seed: ``"n_fold"`` keeps a fixed 20 % test set
    and runs the 3 train/validation folds of the remaining 80 % (all three,
    where the original scripts only ever ran fold 0); ``"simple"`` is one
    60/20/20 split. The validation set is given to the estimator for early
    stopping. See :mod:`mne_neurosketch.splits`.

    Parameters
    ----------
    method : ``"n_fold"`` | ``"simple"``
        The paper's split method.
    """

    name = "paper"

    def __init__(self, method: str = "n_fold"):
        from ..utils import _check_option  # here: the CLI's help imports this module

        self.method = _check_option("method", method, ("n_fold", "simple"))

    def describe(self) -> str:  # noqa: D102
        if self.method == "simple":
            return (
                "paper: one stratified 60/20/20 train/valid/test split per subject, "
                "seed 42"
            )
        return (
            "paper: fixed stratified 20% test set, 3 train/valid folds of the rest per "
            "subject, seed 42"
        )

    def expected_folds(self, n_subjects, n_sessions):  # noqa: D102
        return n_subjects * (3 if self.method == "n_fold" else 1)

    def split(self, y, metadata):  # noqa: D102
        from ..splits import PaperSplit

        subjects = metadata["subject"].astype(str).to_numpy()
        sessions = metadata["session"].astype(str).to_numpy()
        cv = PaperSplit(self.method)
        for subject in _unique(subjects):
            idx = np.flatnonzero(subjects == subject)
            session = _pooled(sessions[idx])
            for k, (train, valid, test) in enumerate(cv.split_with_valid(idx, y[idx])):
                yield Fold(k, subject, session, idx[train], idx[test], valid=idx[valid])


class Grouped(Protocol):
    """Leakage-free protocol: whole groups (blocks, trials, runs) held out.

    Per subject, leave one group out (or a grouped k-fold) with
    :class:`mne_neurosketch.splits.GroupedSplit`, so windows cut from the same
    block, trial or run never sit on both sides. With at least 3 groups the
    previous fold's test group is the validation set (early stopping without
    leakage; for SEED-DV's 7 blocks this is the corpus authors' protocol).

    Parameters
    ----------
    group : str
        The metadata column holding the groups (``"run"``: the corpus datasets
        of :mod:`mne_neurosketch.datasets` store one block, trial or run per
        MOABB run).
    n_splits : int | None
        ``None`` leaves one group out; an int uses a stratified grouped k-fold.
    """

    name = "grouped"

    def __init__(self, group: str = "run", n_splits: int | None = None):
        self.group = group
        self.n_splits = n_splits

    @property
    def extra_columns(self) -> tuple:
        """Metadata columns to request from the dataset (beyond subject/session/run)."""
        return (self.group,)

    def expected_folds(self, n_subjects, n_sessions):  # noqa: D102
        # Leave-one-group-out: the number of groups is in the data.
        return None if self.n_splits is None else n_subjects * self.n_splits

    def split(self, y, metadata):  # noqa: D102
        from ..splits import GroupedSplit

        if self.group not in metadata.columns:
            raise ValueError(
                f"The grouped protocol needs the metadata column {self.group!r}, but "
                f"the dataset gives only {list(metadata.columns)}; choose one with "
                "--group."
            )
        subjects = metadata["subject"].astype(str).to_numpy()
        sessions = metadata["session"].astype(str).to_numpy()
        # Groups are distinct per session: run "0" of session "1" is not run "0" of "0".
        groups = (sessions + "/" + metadata[self.group].astype(str).to_numpy()).astype(
            str
        )
        cv = GroupedSplit(self.n_splits)
        for subject in _unique(subjects):
            idx = np.flatnonzero(subjects == subject)
            try:
                n_parts = cv.get_n_splits(groups=groups[idx])
                if n_parts >= 3:
                    parts = cv.split_with_valid(idx, y[idx], groups[idx])
                else:
                    parts = (
                        (tr, None, te) for tr, te in cv.split(idx, y[idx], groups[idx])
                    )
                parts = list(parts)
            except ValueError as err:
                raise ValueError(
                    f"Subject {subject}: {err} Choose another --group or protocol."
                ) from err
            for k, (train, valid, test) in enumerate(parts):
                yield Fold(
                    k,
                    subject,
                    _pooled(sessions[idx[test]]),
                    idx[train],
                    idx[test],
                    valid=None if valid is None else idx[valid],
                )


class Transfer(WithinSession):
    """Pretrain on the other subjects, fine-tune on the target's training fold.

    For each target subject, a model is pretrained on every trial of all the
    OTHER subjects of the run (never the target's), then fine-tuned on the
    target's training fold and scored on its test fold. The target's folds
    are exactly those of :class:`WithinSession` (MOABB's within-session
    splitter, same seed), so each score pairs with a within-session row.
    With ``align``, each subject is re-centred on its own unlabelled trials
    (the target: on its training fold only): Euclidean alignment of the
    signals for the networks, Riemannian re-centring of the covariances for
    the classical pipelines (:mod:`mne_neurosketch.alignment`). See
    :mod:`mne_neurosketch.benchmark.transfer` for how each kind of pipeline is
    pretrained and fine-tuned, and for the cache of pretrained weights.

    Parameters
    ----------
    n_splits : int
        Folds per target subject and session (as :class:`WithinSession`).
    random_state : int
        Seed of the folds (as :class:`WithinSession`).
    """

    name = "transfer"
    scope = "dataset"
    #: Fine-tune on the target's training fold (else score the pretrained model).
    finetune = True
    #: Re-centre each subject on its own trials.
    align = True

    def describe(self) -> str:  # noqa: D102
        what = (
            "pretrain on the other subjects, fine-tune on the target's training fold"
            if self.finetune
            else "pretrain on the other subjects, no fine-tuning"
        )
        aligned = "per-subject alignment" if self.align else "no alignment"
        return (
            f"{self.name}: {what}, {aligned}; target scored on its within-session "
            f"stratified {self.n_splits}-fold test folds, seed {self.random_state}"
        )

    def split(self, y, metadata):  # noqa: D102
        metadata = _as_str(metadata)
        subjects = metadata["subject"].to_numpy()
        if len(set(subjects)) < 2:
            raise ValueError(
                f"The {self.name} protocol needs at least 2 subjects (one to test, "
                "the others to pretrain on); pass more with --subjects."
            )
        within = WithinSession(self.n_splits, self.random_state)
        for subject in _unique(subjects):
            idx = np.flatnonzero(subjects == subject)
            source = np.flatnonzero(subjects != subject)
            # The target's folds, split on its trials alone: the within-session
            # protocol's folds, index for index.
            for fold in within.split(y[idx], metadata.iloc[idx]):
                train, test = idx[fold.train], idx[fold.test]
                # Leakage-free by construction; checked all the same.
                assert not np.isin(source, np.concatenate([train, test])).any()
                assert subject not in set(subjects[source])
                yield Fold(
                    fold.index,
                    subject,
                    fold.session,
                    train if self.finetune else np.empty(0, int),
                    test,
                    source=source,
                    source_subjects=subjects[source],
                    # The target's training fold, unlabelled, is its alignment
                    # reference even without fine-tuning.
                    reference=train,
                    align=self.align,
                )


class TransferUnaligned(Transfer):
    """Transfer (pretrain + fine-tune) without the per-subject alignment."""

    name = "transfer-unaligned"
    align = False


class ZeroShot(Transfer):
    """Pretrain on the other subjects, no fine-tuning; the transfer test folds.

    The model pretrained on the other subjects (the same one as
    :class:`Transfer`'s, read from the cache) scores the target's
    within-session test folds as it is. The target's training fold is used
    only, unlabelled, as its alignment reference (``Fold.reference``).
    """

    name = "zero-shot"
    finetune = False


class ZeroShotUnaligned(ZeroShot):
    """Zero-shot (pretrained, no fine-tuning) without the per-subject alignment."""

    name = "zero-shot-unaligned"
    align = False


def _pooled(sessions) -> str:
    unique = sorted(set(sessions))
    return unique[0] if len(unique) == 1 else "all"


def _check_enough(y, n_splits, where):
    counts = np.unique(y, return_counts=True)[1]
    if counts.min() < n_splits:
        raise ValueError(
            f"{where}: the smallest class has {counts.min()} trials, fewer than "
            f"n_splits={n_splits}; lower --n-splits."
        )


PROTOCOLS = {
    cls.name: cls
    for cls in (
        WithinSession,
        CrossSession,
        CrossSubject,
        Paper,
        Grouped,
        Transfer,
        TransferUnaligned,
        ZeroShot,
        ZeroShotUnaligned,
    )
}


def make_protocol(name: str, **params) -> Protocol:
    """Build a protocol by name.

    Parameters
    ----------
    name : str
        One of ``"within-session"``, ``"cross-session"``, ``"cross-subject"``,
        ``"paper"``, ``"grouped"``, ``"transfer"``, ``"transfer-unaligned"``,
        ``"zero-shot"`` and ``"zero-shot-unaligned"``.
    **params
        The protocol's parameters; ``None`` values are dropped (defaults kept).

    Returns
    -------
    protocol : Protocol
        The protocol.
    """
    key = name.strip().lower().replace("_", "-")
    if key not in PROTOCOLS:
        raise ValueError(
            f"Unknown protocol {name!r}. Choose from {', '.join(PROTOCOLS)}."
        )
    cls = PROTOCOLS[key]
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in params.items() if v is not None and k in accepted}
    return cls(**kwargs)
