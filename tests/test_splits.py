"""The paper's splits, reproduced exactly, and the leakage-free grouped splitter."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split

from mne_neurosketch.datasets import SEEDDV, simulate_seed_dv
from mne_neurosketch.splits import (
    GroupedSplit,
    PaperSplit,
    groups_of,
    n_fold_split,
    simple_split,
)


@pytest.mark.parametrize(
    "n_classes,per_class,sizes",
    [(40, 35, (840, 280, 280)), (2, 150, (180, 60, 60)), (3, 7, None)],
)
def test_simple_split_matches_reference(n_classes, per_class, sizes):
    y = np.repeat(np.arange(n_classes), per_class)
    np.random.default_rng(0).shuffle(y)
    idx = np.arange(len(y))
    # The reference get_split, written out with sklearn calls.
    ref_train, tmp = train_test_split(
        idx, test_size=0.4, random_state=42, shuffle=True, stratify=y
    )
    ref_val, ref_test = train_test_split(
        tmp, test_size=0.5, random_state=42, shuffle=True, stratify=y[tmp]
    )
    train, valid, test = simple_split(y)
    np.testing.assert_array_equal(train, ref_train)
    np.testing.assert_array_equal(valid, ref_val)
    np.testing.assert_array_equal(test, ref_test)
    if sizes is not None:
        assert (len(train), len(valid), len(test)) == sizes
    assert len(np.unique(np.r_[train, valid, test])) == len(y)


@pytest.mark.parametrize("n_classes,per_class", [(40, 35), (2, 150), (200, 10)])
def test_n_fold_split_matches_reference(n_classes, per_class):
    y = np.tile(np.arange(n_classes), per_class)
    idx = np.arange(len(y))
    rest, ref_test = train_test_split(
        idx, test_size=0.2, random_state=42, shuffle=True, stratify=y
    )
    skf = StratifiedKFold(n_splits=3, shuffle=True, random_state=42)
    ref = [(rest[a], rest[b]) for a, b in skf.split(rest, y[rest])]
    folds = n_fold_split(y)
    assert len(folds) == 3
    for (train, valid, test), (ref_tr, ref_va) in zip(folds, ref):
        np.testing.assert_array_equal(train, ref_tr)
        np.testing.assert_array_equal(valid, ref_va)
        np.testing.assert_array_equal(test, ref_test)  # same test set every fold
    if (n_classes, per_class) == (40, 35):
        assert len(ref_test) == 280
        assert sorted(len(v) for _, v, _ in folds) == [373, 373, 374]


def test_paper_split_object():
    y = np.repeat(np.arange(4), 10)
    X = np.zeros((40, 2, 5))
    cv = PaperSplit()
    assert cv.get_n_splits() == 3
    folds = n_fold_split(y)
    for (tr, te), (ftr, _, fte) in zip(cv.split(X, y), folds):
        np.testing.assert_array_equal(tr, ftr)
        np.testing.assert_array_equal(te, fte)
    simple = list(PaperSplit("simple").split_with_valid(X, y))
    assert len(simple) == 1
    for a, b in zip(simple[0], simple_split(y)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="'method' parameter"):
        list(PaperSplit("random").split(X, y))
    with pytest.raises(ValueError, match="needs the labels"):
        list(PaperSplit().split(X))
    scores = cross_val_score(LogisticRegression(), X.reshape(40, -1), y, cv=PaperSplit())
    assert len(scores) == 3


def test_grouped_split_leave_one_group_out():
    groups = np.repeat(np.arange(7), 10)
    y = np.tile(np.arange(5), 14)
    X = np.zeros((70, 1))
    cv = GroupedSplit()
    splits = list(cv.split(X, y, groups))
    assert len(splits) == cv.get_n_splits(groups=groups) == 7
    for g, (train, test) in enumerate(splits):
        np.testing.assert_array_equal(np.unique(groups[test]), [g])
        assert set(groups[train]) == set(range(7)) - {g}
    triples = list(cv.split_with_valid(X, y, groups))
    for g, (train, valid, test) in enumerate(triples):
        assert set(groups[test]) == {g} and set(groups[valid]) == {(g - 1) % 7}
        assert set(groups[train]).isdisjoint({g, (g - 1) % 7})
        assert len(train) + len(valid) + len(test) == 70


def test_grouped_k_fold_is_leakage_free_and_stratified():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(12), 6)
    y = np.repeat(rng.integers(0, 2, 12), 6)
    cv = GroupedSplit(3, shuffle=True, random_state=0)
    splits = list(cv.split(np.zeros(72), y, groups))
    assert len(splits) == 3
    tested = np.concatenate([te for _, te in splits])
    assert sorted(tested) == list(range(72))
    for train, test in splits:
        assert set(groups[train]).isdisjoint(groups[test])
    # usable in sklearn with groups routed to it
    scores = cross_val_score(
        LogisticRegression(), rng.standard_normal((72, 3)), y, groups=groups, cv=cv
    )
    assert len(scores) == 3


def test_grouped_split_errors():
    X = np.zeros((10, 1))
    with pytest.raises(ValueError, match="needs groups="):
        list(GroupedSplit().split(X))
    with pytest.raises(ValueError, match="one entry per trial"):
        list(GroupedSplit().split(X, groups=np.zeros(3)))
    with pytest.raises(ValueError, match="Cannot split 1 group"):
        list(GroupedSplit().split(X, groups=np.zeros(10)))
    with pytest.raises(ValueError, match="at least 3"):
        list(GroupedSplit().split_with_valid(X, groups=np.repeat([0, 1], 5)))


def test_groups_of_windows(tmp_path):
    root = simulate_seed_dv(tmp_path, seed=0)
    ds = SEEDDV(1, path=root, cache=False)
    np.testing.assert_array_equal(groups_of(ds, "block"), np.repeat([0, 1], 15))
    trial = groups_of(ds, ["block", "trial"])
    assert len(np.unique(trial)) == 6
    with pytest.raises(KeyError, match="'stimulus'"):
        groups_of(ds, "stimulus")
