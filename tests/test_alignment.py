"""Euclidean and Riemannian re-centring, alone, in pipelines and under MOABB."""

from collections import OrderedDict

import numpy as np
import pytest
from pyriemann.estimation import Covariances
from pyriemann.tangentspace import TangentSpace
from pyriemann.transfer import TLCenter, encode_domains
from sklearn import config_context
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mne_neurosketch.alignment import EuclideanAlignment, RiemannianAlignment


def mean_cov(X):
    return np.mean([x @ x.T / x.shape[1] for x in X], axis=0)


def two_subjects(rng, n=60, n_chans=4, n_times=200):
    """Class 1 has more power on channel 0; subject 2 has other channel gains."""
    y = np.repeat([0, 1], n // 2)
    X = rng.standard_normal((n, n_chans, n_times))
    X[y == 1, 0] *= 2.0
    gains = np.array([8.0, 0.3, 2.0, 0.1])[:n_chans]
    X2 = rng.standard_normal((n, n_chans, n_times))
    X2[y == 1, 0] *= 2.0
    return X, (gains[:, None] * X2), y


def test_each_subject_recentred_to_identity(rng):
    X1, X2, _ = two_subjects(rng)
    X = np.concatenate([X1, X2])
    subjects = np.repeat(["s1", "s2"], len(X1))
    out = EuclideanAlignment(reg=0).fit_transform(X, subjects=subjects)
    assert out.shape == X.shape
    for s in ("s1", "s2"):
        np.testing.assert_allclose(mean_cov(out[subjects == s]), np.eye(4), atol=1e-8)
    # Computed independently: R^-1/2 X with R the subject's mean covariance.
    values, vectors = np.linalg.eigh(mean_cov(X2))
    whitener = vectors @ np.diag(values ** -0.5) @ vectors.T
    np.testing.assert_allclose(out[subjects == "s2"], whitener @ X2, rtol=1e-8)


def test_filter_bank_aligned_band_by_band(rng):
    # A MOABB filter bank (n_trials, n_chans, n_times, n_bands): each band is
    # re-centred with its own reference, as if aligned alone.
    X1, X2, _ = two_subjects(rng)
    bank = np.stack([X1, 3.0 * X2[::-1]], axis=-1)
    subjects = np.repeat(["s1", "s2"], len(X1) // 2)
    out = EuclideanAlignment().fit_transform(bank, subjects=subjects)
    assert out.shape == bank.shape
    for band in range(2):
        alone = EuclideanAlignment().fit_transform(bank[..., band], subjects=subjects)
        np.testing.assert_allclose(out[..., band], alone, rtol=1e-10)
    target = EuclideanAlignment().fit(bank[:10])
    np.testing.assert_allclose(
        target.transform(bank[10:20])[..., 1],
        EuclideanAlignment().fit(bank[:10, ..., 1]).transform(bank[10:20, ..., 1]),
        rtol=1e-10)


def test_alignment_removes_the_subject_shift(rng):
    # log-variance + LDA trained on subject 1, tested on subject 2 whose
    # channels have other gains: the raw features are shifted, aligned not.
    X1, X2, y = two_subjects(rng)

    def cross_subject_accuracy(train, test):
        def feats(X):
            return np.log(X.var(axis=-1))

        clf = LinearDiscriminantAnalysis().fit(feats(train), y)
        return clf.score(feats(test), y)

    raw = cross_subject_accuracy(X1, X2)
    ea = EuclideanAlignment()
    aligned = cross_subject_accuracy(ea.fit_transform(X1), ea.transform(X2))
    assert raw <= 0.6  # the shifted features land on one side
    assert aligned >= 0.85


def test_target_calibration_sets_the_test_reference(rng):
    X1, X2, _ = two_subjects(rng)
    calib, test = X2[:20], X2[20:]
    ea = EuclideanAlignment(reg=0).fit(X1, X_target_unlabeled=calib)
    values, vectors = np.linalg.eigh(mean_cov(calib))
    whitener = vectors @ np.diag(values ** -0.5) @ vectors.T
    np.testing.assert_allclose(ea.target_whitener_, whitener, rtol=1e-8)
    np.testing.assert_allclose(ea.transform(test), whitener @ test, rtol=1e-8)
    # A single trial is fine once the target reference is known.
    assert ea.transform(test[:1]).shape == (1, 4, 200)
    # Labeled calibration gives the same reference (labels are not used).
    labeled = EuclideanAlignment(reg=0).fit(
        X1, X_target_labeled=calib, y_target_labeled=np.zeros(20))
    np.testing.assert_allclose(labeled.target_whitener_, whitener)


def test_float32_in_float32_out(rng):
    X = rng.standard_normal((10, 3, 50)).astype(np.float32)
    ea = EuclideanAlignment()
    assert ea.fit_transform(X).dtype == np.float32
    assert ea.transform(X).dtype == np.float32
    assert ea.transform(X.astype(np.float64)).dtype == np.float64


def test_riemannian_matches_pyriemann_tlcenter(rng):
    X1, X2, y = two_subjects(rng)
    covs = Covariances("oas").fit_transform(np.concatenate([X1, X2]))
    subjects = np.repeat(["s1", "s2"], len(X1))
    ours = RiemannianAlignment().fit_transform(covs, subjects=subjects)
    _, y_enc = encode_domains(covs, np.tile(y, 2), subjects)
    theirs = TLCenter(target_domain="s2").fit_transform(covs, y_enc)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-10)


def test_pipeline_routes_moabb_metadata(rng):
    X1, X2, y = two_subjects(rng)
    with config_context(enable_metadata_routing=True):
        ea = EuclideanAlignment().set_fit_request(
            subjects=True, X_target_unlabeled=True)
        pipe = make_pipeline(ea, Covariances("oas"), TangentSpace(),
                             LogisticRegression().set_fit_request(sample_weight=False))
        calib = np.arange(len(X2)) % 3 == 0  # both classes, as MOABB draws it
        pipe.fit(np.concatenate([X1, X1]), np.tile(y, 2),
                 subjects=np.repeat([1, 2], len(X1)), X_target_unlabeled=X2[calib])
    assert pipe[0].target_whitener_ is not None
    assert pipe.score(X2[~calib], y[~calib]) >= 0.85


def _learnable_fake(**kwargs):
    """MOABB's FakeDataset (noise) with a class signal: three times the
    amplitude on C3 during the right-hand trials."""
    from moabb.datasets.fake import FakeDataset

    class _LearnableFake(FakeDataset):
        def _generate_raw(self, n_events, duration):
            raw = super()._generate_raw(n_events, duration)
            data, n = raw._data, int(self.interval[1] * self.sfreq)
            for onset in np.flatnonzero(data[-1] == self.event_id["right_hand"]):
                data[0, onset:onset + n] *= 3.0  # channel 0 is C3, the last stim
            return raw

    return _LearnableFake(["left_hand", "right_hand"], **kwargs)


def test_moabb_cross_subject_with_calibration(tmp_path):
    from moabb.evaluations import CrossSubjectEvaluation
    from moabb.paradigms import LeftRightImagery

    dataset = _learnable_fake(n_subjects=3, n_sessions=1, n_runs=1, n_events=30,
                              duration=60, seed=3)
    with config_context(enable_metadata_routing=True):
        pipes = OrderedDict(
            EA_TSLR=make_pipeline(
                EuclideanAlignment().set_fit_request(subjects=True,
                                                     X_target_unlabeled=True),
                Covariances("oas"), TangentSpace(), LogisticRegression()),
            RA_TSLR=make_pipeline(
                Covariances("oas"),
                RiemannianAlignment().set_fit_request(subjects=True,
                                                      X_target_unlabeled=True),
                TangentSpace(), LogisticRegression()),
        )
    evaluation = CrossSubjectEvaluation(
        paradigm=LeftRightImagery(), datasets=[dataset], overwrite=True,
        hdf5_path=str(tmp_path), cv_kwargs={"calibration_size": 0.3})
    results = evaluation.process(pipes)
    assert set(results["pipeline"]) == {"EA_TSLR", "RA_TSLR"}
    assert len(results) == 6  # 3 target subjects x 2 pipelines
    # ROC-AUC, chance 0.5: each target subject 0.86-1.0 over seeds 0-3
    assert results["score"].min() > 0.75


@pytest.mark.parametrize("bad, match", [
    (np.zeros((5, 3)), "3-D or 4-D array"),
    (np.full((5, 3, 10), np.nan), "NaN"),
])
def test_bad_input_is_named(bad, match):
    with pytest.raises(ValueError, match=match):
        EuclideanAlignment().fit(bad)


def test_errors_say_how_to_fix(rng):
    X = rng.standard_normal((6, 3, 40))
    with pytest.raises(ValueError, match="subjects has 2 entries but X has 6"):
        EuclideanAlignment().fit(X, subjects=[1, 2])
    ea = EuclideanAlignment().fit(X)
    with pytest.raises(ValueError, match="single trial"):
        ea.transform(X[:1])
    with pytest.raises(ValueError, match="fitted on 3"):
        ea.transform(rng.standard_normal((6, 4, 40)))
    with pytest.raises(ValueError, match="square covariance"):
        RiemannianAlignment().fit(X)


def test_riemannian_estimates_raw_target_covariances(rng):
    # MOABB routes the raw calibration slice even to a step after Covariances.
    X1, X2, _ = two_subjects(rng)
    covs = Covariances("oas").fit_transform(X1)
    from_raw = RiemannianAlignment().fit(covs, X_target_unlabeled=X2[:20])
    from_covs = RiemannianAlignment().fit(
        covs, X_target_unlabeled=Covariances("oas").fit_transform(X2[:20]))
    np.testing.assert_allclose(from_raw.target_whitener_, from_covs.target_whitener_)
