"""Pipelines: MOABB's Riemannian references, the deep models, stable parameter hashes."""

import numpy as np
import pytest
from _outputs import assert_trials_differ
from moabb.pipelines import ExtendedSSVEPSignal
from pyriemann.classification import MDM
from pyriemann.estimation import Covariances
from pyriemann.tangentspace import TangentSpace
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline as sk_make_pipeline

from mne_neurosketch.benchmark import (
    PIPELINES,
    make_pipeline,
    make_pipelines,
    params_hash,
)
from mne_neurosketch.benchmark.pipelines import StackFilterBank, resolve_model_name
from mne_neurosketch.estimator import NeuroSketchClassifier


def _filterbank(rng, n=40, n_chans=4, n_times=128, n_bands=3):
    y = np.arange(n) % 2
    X = rng.standard_normal((n, n_chans, n_times, n_bands))
    X[y == 1, 0] *= 2.0  # class 1: more power on channel 0 in every band
    return X, y


def test_stack_filter_bank_matches_moabb(rng):
    X, _ = _filterbank(rng)
    np.testing.assert_array_equal(
        StackFilterBank().fit_transform(X), ExtendedSSVEPSignal().transform(X)
    )
    X3 = X[..., 0]
    np.testing.assert_array_equal(StackFilterBank().transform(X3), X3)
    with pytest.raises(ValueError, match="n_bands"):
        StackFilterBank().transform(X[0, 0])


def test_classical_pipelines_equal_moabb_configs(rng):
    """TSLR and MDM predict as MOABB's TSLR-SSVEP / MDM-SSVEP pipelines."""
    X, y = _filterbank(rng)
    ref = {
        "TSLR": sk_make_pipeline(
            ExtendedSSVEPSignal(),
            Covariances("oas"),
            TangentSpace(metric="riemann"),
            LogisticRegression(C=1.0, max_iter=1000),
        ),
        "MDM": sk_make_pipeline(
            ExtendedSSVEPSignal(), Covariances("oas"), MDM(metric="riemann")
        ),
    }
    for name, pipe in ref.items():
        ours = make_pipeline(name).fit(X[:30], y[:30])
        pipe.fit(X[:30], y[:30])
        expected = pipe.predict_proba(X[30:])
        assert_trials_differ(expected, 1e-7, min_spread=1e-4)  # a permutation shows
        np.testing.assert_allclose(ours.predict_proba(X[30:]), expected, rtol=1e-7)
        assert ours.score(X[30:], y[30:]) > 0.7


def test_deep_pipelines_and_aliases():
    assert resolve_model_name("ts+lr") == "TSLR"
    assert resolve_model_name("neurosketch-base") == "NeuroSketch"
    assert resolve_model_name("eegnet") == "EEGNet"
    with pytest.raises(ValueError, match="Unknown model 'CNN'.*EEGNet"):
        resolve_model_name("CNN")
    est = make_pipeline(
        "NeuroSketchLarge", max_epochs=3, batch_size=8, device="cpu", patience=2
    )
    assert isinstance(est, NeuroSketchClassifier)
    assert (
        est.module,
        est.max_epochs,
        est.batch_size,
        est.patience,
        est.random_state,
    ) == ("NeuroSketchLarge", 3, 8, 2, 42)
    pipes = make_pipelines(["EEGNet", "ShallowFBCSPNet", "TS+LR"], max_epochs=1)
    assert list(pipes) == ["EEGNet", "ShallowFBCSPNet", "TSLR"]
    with pytest.raises(ValueError, match="given twice"):
        make_pipelines(["TSLR", "ts+lr"])
    assert {spec.kind for spec in PIPELINES.values()} == {"deep", "classical"}


def test_params_hash():
    a = make_pipeline("EEGNet", max_epochs=5, device="cpu")
    assert params_hash(a) == params_hash(clone(a))
    # Where the fit runs does not change what it computes.
    assert params_hash(a) == params_hash(
        make_pipeline("EEGNet", max_epochs=5, device="cuda")
    )
    assert params_hash(a) != params_hash(
        make_pipeline("EEGNet", max_epochs=6, device="cpu")
    )
    assert params_hash(a) != params_hash(
        make_pipeline("Deep4Net", max_epochs=5, device="cpu")
    )
    assert params_hash(make_pipeline("TSLR")) != params_hash(make_pipeline("MDM"))
    assert len(params_hash(a)) == 12


def test_params_hash_of_stored_fits_unchanged():
    """Parameters added since (callbacks=) leave the stored fits' keys as they were."""
    from skorch.callbacks import EpochTimer

    from mne_neurosketch.benchmark.pipelines import pipeline_params

    plain = make_pipeline("NeuroSketch", max_epochs=100, batch_size=16)
    assert "callbacks" not in pipeline_params(plain)
    # Its hash before NeuroSketchClassifier had callbacks= (computed then).
    assert params_hash(plain) == "a92ee7e7f7ee"
    with_cb = make_pipeline("NeuroSketch", max_epochs=100, batch_size=16,
                            callbacks=[EpochTimer()])
    assert params_hash(with_cb) != params_hash(plain)
