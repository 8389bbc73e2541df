"""Input representations: what each plane holds, and their use with the estimator."""

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt
from sklearn.pipeline import make_pipeline

from mne_neurosketch import NeuroSketchClassifier
from mne_neurosketch.representations import ComplexSpectrum, ERPPrototypes, HarmonicBands

SFREQ = 128.0
TINY = dict(depths=(1, 1, 1, 1), widths=(8, 8, 8, 8), stem_channels=(8, 8, 8), head_dim=2)


def sines(freqs, n_chans=3, n_times=256, phase=0.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_times) / SFREQ
    X = 0.1 * rng.standard_normal((len(freqs), n_chans, n_times))
    X += np.sin(2 * np.pi * np.asarray(freqs)[:, None, None] * t + phase)
    return X.astype(np.float32)


def test_harmonic_bands_hold_their_frequency_and_equal_scipy():
    X = sines([13.0, 8.0])
    bands = HarmonicBands([8.0, 13.0], SFREQ, n_harmonics=2).fit(X)
    assert bands.bands_ == [(7.5, 8.5), (15.5, 16.5), (12.5, 13.5), (25.5, 26.5)]
    planes = bands.transform(X)
    assert planes.shape == (2, 3, 256, 4)
    power = (planes ** 2).mean(axis=(1, 2))  # (trial, band)
    assert power[0].argmax() == 2 and power[1].argmax() == 0
    assert power[0, 2] > 20 * power[0, 0]
    sos = butter(4, (12.5, 13.5), "bandpass", fs=SFREQ, output="sos")
    np.testing.assert_allclose(planes[..., 2], sosfiltfilt(sos, X, axis=-1), atol=1e-5)
    with pytest.raises(ValueError, match="'freqs' parameter: no band of \\[70.0\\]"):
        HarmonicBands([70.0], SFREQ).fit(X)


def test_complex_spectrum_keeps_the_phase():
    X, shifted = sines([10.0]), sines([10.0], phase=np.pi / 2)
    spectrum = ComplexSpectrum(SFREQ, fmin=5, fmax=20).fit(X)
    planes, planes_shifted = spectrum.transform(X), spectrum.transform(shifted)
    assert planes.shape == (1, 3, len(spectrum.freqs_), 2)
    at_10 = int(np.flatnonzero(spectrum.freqs_ == 10.0)[0])
    expected = np.fft.rfft(X, axis=-1)[..., spectrum.bins_] / 256
    np.testing.assert_allclose(planes[..., 0], expected.real, atol=1e-6)
    np.testing.assert_allclose(planes[..., 1], expected.imag, atol=1e-6)
    # same magnitude, phase turned by 90 degrees
    z, z_shifted = (p[0, 0, at_10, 0] + 1j * p[0, 0, at_10, 1]
                    for p in (planes, planes_shifted))
    assert abs(abs(z) - abs(z_shifted)) < 0.02 * abs(z)
    assert abs(np.angle(z_shifted / z) - np.pi / 2) < 0.05
    with pytest.raises(ValueError, match="trials of 128 samples, but fit saw 256"):
        spectrum.transform(X[..., :128])


def test_erp_prototypes_come_from_the_training_trials_only():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 2, 32)).astype(np.float32)
    y = np.arange(12) % 2
    proto = ERPPrototypes().fit(X[:8], y[:8])
    out = proto.transform(X[8:])
    assert out.shape == (4, 2, 32, 3)
    np.testing.assert_array_equal(out[..., 0], X[8:])
    np.testing.assert_allclose(out[0, ..., 1], X[:8][y[:8] == 0].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(out[3, ..., 2], X[:8][y[:8] == 1].mean(axis=0), atol=1e-6)
    with pytest.raises(ValueError, match="X has 8 and y has 3"):
        ERPPrototypes().fit(X[:8], y[:3])


def test_representations_feed_the_estimator_as_planes():
    X = sines([8.0, 13.0] * 12, n_times=128)
    y = np.array([0, 1] * 12)
    clf = make_pipeline(HarmonicBands([8.0, 13.0], SFREQ), NeuroSketchClassifier(
        module_kwargs=TINY, max_epochs=2, batch_size=8, valid_size=None,
        random_state=0, verbose=False, device="cpu"))
    clf.fit(X, y)
    assert clf[-1].n_bands_ == 2 and clf[-1].module_.n_bands == 2
    assert clf.predict_proba(X).shape == (24, 2)
