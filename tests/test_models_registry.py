"""The model registry: model names, NeuroSketchLarge, the estimator's look-up."""

import inspect

import pytest
import torch
from braindecode.models import EEGNet
from braindecode.models.util import models_dict as braindecode_models

# _one_thread: the autouse fixture running tiny networks on one thread.
from test_estimator import _one_thread  # noqa: F401

from mne_neurosketch import models
from mne_neurosketch._estimator.persistence import trusted_classes
from mne_neurosketch.benchmark.pipelines import PIPELINES
from mne_neurosketch.models import NeuroSketch, NeuroSketchLarge, NeuroSketchSD
from mne_neurosketch.models.registry import (
    BASELINES,
    get_model,
    registry,
    resolve_model,
    resolve_module,
)


def test_large_is_the_large_preset_weight_for_weight():
    torch.manual_seed(0)
    large = NeuroSketchLarge(n_chans=4, n_outputs=3, n_times=64).eval()
    torch.manual_seed(0)
    preset = NeuroSketch(n_chans=4, n_outputs=3, n_times=64, preset="large").eval()
    assert large.depths == (3, 3, 3, 3) and large.preset == "large"
    a, b = large.state_dict(), preset.state_dict()
    assert list(a) == list(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    x = torch.randn(2, 4, 64)
    with torch.no_grad():
        torch.testing.assert_close(large(x), preset(x), rtol=0, atol=0)


def test_large_signature_and_preset():
    sig = inspect.signature(NeuroSketchLarge)
    assert sig.parameters["preset"].default == "large"
    assert set(sig.parameters) == set(inspect.signature(NeuroSketch).parameters)
    assert NeuroSketchLarge(4, 2, 64, "large").widths == (96, 144, 256, 384)
    with pytest.raises(ValueError, match="'preset' parameter.*got 'base'"):
        NeuroSketchLarge(4, 2, 64, preset="base")


def test_registry_names_and_aliases():
    assert resolve_model("NeuroSketch-Base").cls is NeuroSketch
    assert resolve_model("neurosketch_large").cls is NeuroSketchLarge
    assert resolve_model("NeuroSketch-SD").cls is NeuroSketchSD
    assert get_model("EEGNetv4") is EEGNet
    assert resolve_model("eegnex").name == "EEGNeX"
    # every braindecode model, under its own name
    assert set(braindecode_models) <= set(registry())
    assert all(registry()[n].cls is cls for n, cls in braindecode_models.items())
    with pytest.raises(ValueError, match="Did you mean 'EEGNet'"):
        resolve_model("EEGNett")
    with pytest.raises(TypeError, match="must be a str"):
        resolve_model(EEGNet)


def test_models_dict_lists_every_own_model():
    assert models.models_dict == {
        "NeuroSketch": NeuroSketch,
        "NeuroSketchLarge": NeuroSketchLarge,
        "NeuroSketchSD": NeuroSketchSD,
    }


def test_estimator_and_pipelines_resolve_from_the_registry():
    assert resolve_module("NeuroSketch-Large", None) == (
        NeuroSketchLarge, {"preset": "large"}
    )
    assert resolve_module("EEGNetv4", {"drop_prob": 0.1}) == (
        EEGNet, {"drop_prob": 0.1}
    )
    with pytest.raises(ValueError, match="implies preset='large'"):
        resolve_module("NeuroSketchLarge", {"preset": "base"})
    trusted = trusted_classes()
    assert trusted["mne_neurosketch.models.neurosketch:NeuroSketchLarge"] is (
        NeuroSketchLarge
    )
    for spec in PIPELINES.values():
        if spec.kind == "deep":
            assert resolve_model(spec.module).name == spec.module


@pytest.mark.parametrize("shape", [(8, 512, 4), (4, 205, 2)], ids=["kalunga", "muse"])
def test_baselines_build_on_the_real_datasets_shapes(shape):
    """Kalunga2016: 8 channels x 2 s at 256 Hz, 4 classes; Muse P300: 4 x 0.8 s."""
    n_chans, n_times, n_outputs = shape
    x = torch.randn(2, n_chans, n_times)
    for name in BASELINES:
        model = get_model(name)(n_chans=n_chans, n_times=n_times,
                                n_outputs=n_outputs, sfreq=256.0).eval()
        with torch.no_grad():
            assert model(x).shape == (2, n_outputs), name


def test_estimator_saves_and_loads_neurosketch_large(tmp_path):
    from _outputs import assert_same_outputs
    from test_estimator import TINY, TRAINED, separable_task

    from mne_neurosketch.estimator import NeuroSketchClassifier

    X, y = separable_task()
    clf = NeuroSketchClassifier(
        "NeuroSketch-Large", module_kwargs=TINY,
        valid_size=None, device="cpu", verbose=False, random_state=0, **TRAINED,
    ).fit(X, y)
    assert type(clf.module_) is NeuroSketchLarge
    clf.save(tmp_path / "large.pt")
    loaded = NeuroSketchClassifier.load(tmp_path / "large.pt")
    assert type(loaded.module_) is NeuroSketchLarge
    assert_same_outputs(loaded.predict_proba(X), clf.predict_proba(X))
