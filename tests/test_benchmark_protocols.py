"""Protocols: the folds match MOABB's and the paper's splitters, without leakage."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold

from mne_neurosketch.benchmark.protocols import (
    CrossSession,
    CrossSubject,
    Grouped,
    Paper,
    WithinSession,
    make_protocol,
)
from mne_neurosketch.splits import n_fold_split, simple_split


def _meta(n_subjects=3, n_sessions=2, n_runs=3, per_run=12, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(1, n_subjects + 1):
        for ses in range(n_sessions):
            for run in range(n_runs):
                for _ in range(per_run):
                    rows.append((s, str(ses), str(run)))
    meta = pd.DataFrame(rows, columns=["subject", "session", "run"])
    y = rng.permutation(np.arange(len(meta)) % 3)
    return y, meta


def _check_disjoint(fold):
    assert not set(fold.train) & set(fold.test)
    if fold.valid is not None:
        assert not set(fold.valid) & set(fold.test)
        assert not set(fold.valid) & set(fold.train)


def test_within_session_equals_moabb_splitter():
    y, meta = _meta()
    folds = list(WithinSession(n_splits=4, random_state=7).split(y, meta))
    assert len(folds) == 3 * 2 * 4
    for subject in (1, 2, 3):
        for session in ("0", "1"):
            idx = np.flatnonzero((meta.subject == subject) & (meta.session == session))
            mine = [
                f for f in folds if f.subject == str(subject) and f.session == session
            ]
            cv = StratifiedKFold(4, shuffle=True, random_state=7)
            for fold, (train, test) in zip(mine, cv.split(idx, y[idx]), strict=True):
                np.testing.assert_array_equal(fold.train, idx[train])
                np.testing.assert_array_equal(fold.test, idx[test])
                _check_disjoint(fold)
            # Each trial of the session is tested exactly once.
            assert sorted(np.concatenate([f.test for f in mine])) == list(idx)


def test_cross_session_and_subject():
    y, meta = _meta()
    folds = list(CrossSession().split(y, meta))
    assert len(folds) == 3 * 2
    for fold in folds:
        assert set(meta.session.iloc[fold.test]) == {fold.session}
        assert fold.session not in set(meta.session.iloc[fold.train])
        assert set(meta.subject.iloc[fold.train].astype(str)) == {fold.subject}
    # A subject with a single session gives no cross-session fold.
    one = meta[meta.session == "0"].reset_index(drop=True)
    assert list(CrossSession().split(y[: len(one)], one)) == []

    proto = CrossSubject()
    assert proto.scope == "dataset"
    folds = list(proto.split(y, meta))
    assert [f.subject for f in folds] == ["1", "2", "3"]
    for fold in folds:
        assert fold.score_by_session
        assert set(meta.subject.iloc[fold.test].astype(str)) == {fold.subject}
        assert fold.subject not in set(meta.subject.iloc[fold.train].astype(str))
    with pytest.raises(ValueError, match="at least 2 subjects"):
        list(proto.split(y[:10], meta.iloc[:10]))


@pytest.mark.parametrize("method", ["n_fold", "simple"])
def test_paper_protocol_uses_the_paper_splits(method):
    y, meta = _meta(n_subjects=2)
    folds = list(Paper(method).split(y, meta))
    assert len(folds) == 2 * (3 if method == "n_fold" else 1)
    for subject in ("1", "2"):
        idx = np.flatnonzero(meta.subject.astype(str) == subject)
        expected = n_fold_split(y[idx]) if method == "n_fold" else [simple_split(y[idx])]
        mine = [f for f in folds if f.subject == subject]
        for fold, (train, valid, test) in zip(mine, expected, strict=True):
            np.testing.assert_array_equal(fold.train, idx[train])
            np.testing.assert_array_equal(fold.valid, idx[valid])
            np.testing.assert_array_equal(fold.test, idx[test])
            assert fold.session == "all"  # sessions are pooled
            _check_disjoint(fold)


def test_grouped_keeps_groups_on_one_side():
    y, meta = _meta(n_subjects=2, n_sessions=2, n_runs=2)
    groups = meta.session + "/" + meta.run
    folds = list(Grouped("run").split(y, meta))
    assert len(folds) == 2 * 4  # leave one of 4 (session, run) groups out
    for fold in folds:
        _check_disjoint(fold)
        test_groups = set(groups.iloc[fold.test])
        assert len(test_groups) == 1
        assert not test_groups & set(groups.iloc[fold.train])
        assert fold.valid is not None and not test_groups & set(groups.iloc[fold.valid])
    with pytest.raises(ValueError, match="'block'"):
        list(Grouped("block").split(y, meta))
    one_run = meta.assign(run="0", session="0")
    with pytest.raises(ValueError, match="Subject 1"):
        list(Grouped("run").split(y, one_run))


def test_make_protocol_and_ids():
    assert make_protocol("within_session").id == "within-session"
    assert make_protocol("within-session", n_splits=3, group=None).id == (
        "within-session(n_splits=3)"
    )
    assert make_protocol("paper", method="simple").id == "paper(method=simple)"
    # Parameters a protocol does not take are ignored (one CLI for all).
    assert make_protocol("cross-session", n_splits=3).id == "cross-session"
    with pytest.raises(ValueError, match="Unknown protocol 'loo'"):
        make_protocol("loo")
    with pytest.raises(ValueError, match="lower --n-splits"):
        y, meta = _meta(n_subjects=1, n_sessions=1, n_runs=1, per_run=6)
        list(WithinSession(n_splits=5).split(y, meta))


@pytest.mark.parametrize(
    "protocol",
    [
        WithinSession(n_splits=4),
        CrossSession(),
        CrossSubject(),
        CrossSubject(n_splits=2),
        Paper("n_fold"),
        Paper("simple"),
        Grouped("run", n_splits=2),
    ],
    ids=repr,
)
def test_expected_folds_before_loading(protocol):
    """What the progress bar is sized with equals the folds the data give."""
    y, meta = _meta(n_subjects=3, n_sessions=2)
    expected = protocol.expected_folds(n_subjects=3, n_sessions=2)
    assert expected == len(list(protocol.split(y, meta)))
    # Leave-one-group-out: only the data know the number of groups.
    assert Grouped("run").expected_folds(3, 2) is None
