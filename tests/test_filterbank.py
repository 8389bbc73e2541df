"""Filter-bank input: NeuroSketch's image planes, the estimator and the augmentations."""

import numpy as np
import pandas as pd
import pytest
import torch
from _outputs import assert_same_outputs
from test_estimator import TRAINED, separable_task

from mne_neurosketch import NeuroSketchClassifier
from mne_neurosketch.alignment import EuclideanAlignment
from mne_neurosketch.augmentation import (
    ChannelMasking,
    Mixup,
    RandomShift,
    SNRNoise,
    TimeMasking,
)
from mne_neurosketch.benchmark.protocols import Transfer
from mne_neurosketch.benchmark.transfer import fit_transfer
from mne_neurosketch.models import NeuroSketch, NeuroSketchSD

TINY = dict(depths=(1, 1, 1, 1), widths=(8, 8, 8, 8), head_dim=4, stem_channels=(4, 4, 4))
SD_TINY = dict(
    depths=(1, 1, 1, 1),
    stage_widths=((16, 16), (16, 16), (16, 16), (16, 16)),
    stem_channels=(8, 8, 8),
    head_dim=8,
)


# -- the models ---------------------------------------------------------------
@pytest.mark.parametrize("cls, kwargs", [(NeuroSketch, TINY), (NeuroSketchSD, SD_TINY)],
                         ids=["base", "sd"])
def test_first_conv_takes_one_plane_per_band(cls, kwargs):
    model = cls(n_chans=8, n_times=256, n_outputs=4, n_bands=3, **kwargs).eval()
    conv = model.stem[0].conv
    assert conv.in_channels == 3
    assert conv.weight.shape[:2] == (kwargs["stem_channels"][0], 3)
    with torch.no_grad():
        assert model(torch.randn(2, 8, 256, 3)).shape == (2, 4)
    # braindecode's config round trip keeps the band count.
    assert cls.from_config(model.get_config()).n_bands == 3


@pytest.mark.parametrize("band", range(3))
def test_plane_b_is_band_b_of_moabb_layout(band):
    """Band ``b`` (last axis, MOABB's layout) meets the first conv's input ``b``."""
    torch.manual_seed(0)
    bank = NeuroSketch(n_chans=8, n_times=100, n_outputs=4, n_bands=3, **TINY).eval()
    single = NeuroSketch(n_chans=8, n_times=100, n_outputs=4, **TINY).eval()
    state = bank.state_dict()
    state["stem.0.conv.weight"] = state["stem.0.conv.weight"][:, band:band + 1]
    single.load_state_dict(state)
    with torch.no_grad():
        bank.stem[0].conv.weight[:, [b for b in range(3) if b != band]] = 0.0
        x = torch.randn(2, 8, 100, 3)  # 100 samples: the folding pads
        out = bank(x)
        torch.testing.assert_close(out, single(x[..., band].contiguous()))
        other = (band + 1) % 3
        assert not torch.allclose(out, single(x[..., other].contiguous()))


def test_one_band_is_the_plain_model():
    torch.manual_seed(0)
    default = NeuroSketch(n_chans=8, n_times=100, n_outputs=4, **TINY).eval()
    torch.manual_seed(0)
    one = NeuroSketch(n_chans=8, n_times=100, n_outputs=4, n_bands=1, **TINY).eval()
    assert one.stem[0].conv.in_channels == 1
    for key, value in default.state_dict().items():
        assert torch.equal(value, one.state_dict()[key]), key
    x = torch.randn(2, 8, 100)
    with torch.no_grad():
        expected = default(x)
        assert torch.equal(one(x), expected)
        # A filter bank of one band is the plain signal.
        assert torch.equal(one(x[..., None]), expected)


def test_bad_n_bands_and_bad_input():
    for bad in (0, 2.5, True, "3"):
        with pytest.raises(ValueError, match="'n_bands' parameter.*positive"):
            NeuroSketch(n_chans=8, n_times=100, n_outputs=2, n_bands=bad, **TINY)
    bank = NeuroSketch(n_chans=8, n_times=100, n_outputs=2, n_bands=3, **TINY)
    for shape in [(2, 8, 100), (2, 8, 100, 2)]:
        with pytest.raises(ValueError, match=r"n_bands=3.*\(batch, n_chans"):
            bank(torch.randn(*shape))
    with pytest.raises(ValueError, match="n_chans=8 but got input with 5"):
        bank(torch.randn(2, 5, 100, 3))
    plain = NeuroSketch(n_chans=8, n_times=100, n_outputs=2, **TINY)
    with pytest.raises(ValueError, match="n_bands=1"):
        plain(torch.randn(2, 8, 100, 3))


def test_filter_bank_model_scripts():
    model = NeuroSketchSD(n_chans=4, n_times=64, n_outputs=2, n_bands=3, **SD_TINY).eval()
    x = torch.randn(2, 4, 64, 3)
    scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))


# -- the estimator on MOABB's filter-bank paradigm ------------------------------
@pytest.fixture(scope="module")
def moabb_filter_bank():
    """A real ``FilterBankSSVEP`` array of MOABB's simulated SSVEP dataset."""
    import mne
    from moabb.datasets.fake import FakeDataset
    from moabb.paradigms import FilterBankSSVEP

    dataset = FakeDataset(
        event_list=("13", "17", "21"), n_sessions=1, n_runs=1, n_subjects=1,
        paradigm="ssvep", channels=("O1", "Oz", "O2", "PO3", "POz", "PO4", "PO7", "PO8"),
        sfreq=128, duration=90, n_events=18, seed=0,
    )
    with mne.utils.use_log_level("ERROR"):
        X, y, _ = FilterBankSSVEP(n_classes=3).get_data(dataset, subjects=[1])
    assert X.ndim == 4 and X.shape[1:] == (8, 385, 3)
    return X * 1e-5, y  # volt-scale amplitudes, as from real recordings


def _classifier(**kwargs):
    params = dict(module_kwargs=TINY, max_epochs=2, batch_size=8, valid_size=None,
                  device="cpu", random_state=0, verbose=False)
    return NeuroSketchClassifier(**{**params, **kwargs})


def test_classifier_fits_moabb_filter_bank(moabb_filter_bank):
    X, y = moabb_filter_bank
    clf = _classifier().fit(X, y)
    assert clf.n_bands_ == 3
    assert clf.module_.n_bands == 3
    assert clf.module_.stem[0].conv.in_channels == 3
    assert clf.scaling_ == 1e6  # "auto" reads the 4-D array as volts
    proba = clf.predict_proba(X)
    assert proba.shape == (len(y), 3)
    assert set(clf.predict(X)) <= set(y)
    with pytest.raises(ValueError, match=r"'X' parameter.*\(8, 385, 2\).*n_bands"):
        clf.predict(X[..., :2])
    with pytest.raises(ValueError, match=r"'X' parameter.*\(8, 385\).*\(8, 385, 3\)"):
        clf.predict(X[..., 0])


def test_filter_bank_save_load_round_trip(tmp_path):
    # MOABB's simulated SSVEP carries no class signal: a separable bank instead,
    # so that the comparison sees probabilities that differ across trials
    X, y = separable_task()
    X = np.stack([X, 0.5 * X, X[..., ::-1]], axis=-1)
    clf = _classifier(**TRAINED).fit(X, y)
    clf.save(tmp_path / "fb.pt")
    loaded = NeuroSketchClassifier.load(tmp_path / "fb.pt")
    assert loaded.n_bands_ == 3
    assert_same_outputs(loaded.predict_proba(X), clf.predict_proba(X))


def test_one_band_bank_is_the_signal_and_models_without_bands(moabb_filter_bank):
    X, y = moabb_filter_bank
    clf = _classifier().fit(X[..., :1], y)
    assert clf.n_bands_ == 1
    assert clf.module_.stem[0].conv.in_channels == 1
    np.testing.assert_array_equal(clf.predict(X[..., 0]), clf.predict(X[..., :1]))
    with pytest.raises(ValueError, match="ShallowFBCSPNet takes no n_bands"):
        NeuroSketchClassifier(module="ShallowFBCSPNet", max_epochs=1, batch_size=8,
                              valid_size=None, device="cpu").fit(X, y)


def test_fine_tuning_on_filter_bank_target_trials(moabb_filter_bank):
    X, y = moabb_filter_bank
    clf = _classifier(finetune_epochs=1).fit(
        X[:12], y[:12], X_target_labeled=X[12:], y_target_labeled=y[12:])
    assert clf.n_finetune_trials_ == 6
    assert clf.module_.n_bands == 3
    with pytest.raises(ValueError, match=r"X_target_labeled.*\(8, 385, 2\)"):
        _classifier().fit(X[:12], y[:12], X_target_labeled=X[12:, ..., :2],
                          y_target_labeled=y[12:])


def test_transfer_protocol_on_filter_bank(moabb_filter_bank, tmp_path):
    # Two pseudo-subjects of the MOABB array, the second with other channel
    # gains: the transfer protocol aligns each band of each subject, pretrains
    # on subject 1, fine-tunes on subject 2's training fold.
    X, y = moabb_filter_bank
    X = X.copy()
    half = len(X) // 2
    X[half:] *= np.linspace(0.5, 4.0, X.shape[1])[None, :, None, None]
    meta = pd.DataFrame({"subject": np.repeat([1, 2], [half, len(X) - half]),
                         "session": "0", "run": "0"})
    fold = next(f for f in Transfer(n_splits=3).split(y, meta) if f.subject == "2")
    assert set(fold.source) <= set(range(half))  # no target trial pretrains
    model = fit_transfer(_classifier(), X, y, fold, cache=tmp_path / "fb.pt")
    align = model.named_steps["align"]
    assert isinstance(align, EuclideanAlignment)
    assert align.target_whitener_.shape == (3, 8, 8)  # one reference per band
    assert model.named_steps["model"].n_bands_ == 3
    assert (tmp_path / "fb.pt").is_file()
    proba = model.predict_proba(X[fold.test])
    assert proba.shape == (len(fold.test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


# -- the augmentations on (batch, n_chans, n_times, n_bands) ---------------------
@pytest.mark.parametrize("make", [
    lambda: RandomShift(1.0, max_shift=10, random_state=1),
    lambda: ChannelMasking(1.0, p_drop=0.5, random_state=1),
    lambda: TimeMasking(1.0, n_masks=4, max_len=20, random_state=1),
], ids=["shift", "channel_mask", "time_mask"])
def test_augmentations_hit_every_band_alike(make):
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(4, 8, 100, 3, generator=gen)
    y = torch.arange(4)
    out, out_y = make()(X, y)
    assert out.shape == X.shape
    assert not torch.equal(out, X)
    torch.testing.assert_close(out_y, y)
    for band in range(3):
        # A fresh transform with the same seed draws the same shift / masks.
        expected, _ = make()(X[..., band].contiguous(), y)
        torch.testing.assert_close(out[..., band], expected, rtol=0, atol=0)


def test_snr_noise_keeps_the_snr_in_every_band():
    gen = torch.Generator().manual_seed(0)
    scales = torch.tensor([1.0, 100.0, 1e4])
    X = torch.randn(4, 8, 200, 3, generator=gen) * scales
    out, _ = SNRNoise(1.0, snr_db=(20.0, 20.0), random_state=0)(X, torch.arange(4))
    noise = out - X
    snr = 20 * torch.log10(X.std(dim=(1, 2)) / noise.std(dim=(1, 2)))  # (trial, band)
    torch.testing.assert_close(snr, torch.full_like(snr, 20.0), rtol=0, atol=1.0)


def test_mixup_mixes_whole_filter_bank_trials():
    X = torch.randn(6, 4, 50, 3)
    out, (y_a, y_b, lam) = Mixup(alpha=0.5, probability=1.0, random_state=0)(
        X, torch.arange(6))
    assert torch.all(lam < 1)
    expected = lam.view(-1, 1, 1, 1) * X + (1 - lam.view(-1, 1, 1, 1)) * X[y_b]
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(y_a, torch.arange(6))


def test_benchmark_pipeline_asks_for_the_filter_bank():
    from mne_neurosketch.benchmark.pipelines import (
        PIPELINES,
        make_pipeline,
        resolve_model_name,
    )

    name = resolve_model_name("neurosketch-fb")
    assert PIPELINES[name].input == "filterbank"
    assert PIPELINES[name].kind == "deep"
    clf = make_pipeline(name, max_epochs=1)
    assert isinstance(clf, NeuroSketchClassifier)
    assert clf.module == "NeuroSketch"
