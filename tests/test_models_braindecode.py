"""The generic checks braindecode applies to its own models, applied to ours.

Written from the description of braindecode's model test-suite (the tests
are not shipped with braindecode): every combination of signal parameters,
an ``EEGClassifier`` fit on ``mne.EpochsArray`` with inferred parameters,
``final_layer`` placement, ``activation`` / ``drop_prob`` parameters, batch
of one in train mode, config round-trip, ``torch.compile``, ``torch.export``,
TorchScript and ONNX.
"""

import inspect
import itertools
import types

import mne
import numpy as np
import pytest
import torch
from _outputs import assert_trials_differ, distinct_weights
from braindecode import EEGClassifier
from skorch.dataset import ValidSplit
from torch import nn

from mne_neurosketch.models import NeuroSketch, NeuroSketchLarge, NeuroSketchSD

N_CHANS, N_TIMES, SFREQ, N_OUTPUTS = 3, 1000, 250.0, 2
# Small but complete configurations keep the compile/export checks quick.
SMALL = {
    NeuroSketch: dict(
        depths=(1, 2, 1, 1), widths=(16, 16, 24, 32), stem_channels=(8, 8, 8)
    ),
    NeuroSketchSD: dict(
        depths=(1, 1, 1, 2),
        stage_widths=((16, 16), (16, 32), (32, 32), (32, 48)),
        stem_channels=(8, 8, 16),
        head_dim=8,
    ),
}
MODELS = [NeuroSketch, NeuroSketchSD]
# NeuroSketchLarge is NeuroSketch with another default preset: the checks of
# its construction and config apply; it compiles and exports as NeuroSketch.
SMALL[NeuroSketchLarge] = SMALL[NeuroSketch]
BUILT = [*MODELS, NeuroSketchLarge]
#: Trials of the equality checks: several, so that a permutation would show.
N_CHECK = 4


def _distinct(cls, **kwargs):
    """A model whose logits differ across trials (``_outputs.distinct_weights``)."""
    torch.manual_seed(0)
    return distinct_weights(cls(n_chans=N_CHANS, n_times=N_TIMES, n_outputs=N_OUTPUTS,
                                **{**SMALL.get(cls, {}), **kwargs}))


def _trials():
    generator = torch.Generator().manual_seed(1)
    return torch.randn(N_CHECK, N_CHANS, N_TIMES, generator=generator)


def _eager(model, x, atol=1e-5):
    """The model's logits of ``x``, checked to differ across trials by much
    more than ``atol`` (the default is that of ``torch.testing.assert_close``)."""
    with torch.no_grad():
        logits = model(x)
    assert_trials_differ(logits.numpy(), atol)
    return logits


def _chs_info():
    info = mne.create_info([f"C{i + 1}" for i in range(N_CHANS)], SFREQ, "eeg")
    rng = np.random.default_rng(0)
    for ch in info["chs"]:
        ch["loc"] = rng.standard_normal(12)
    return info["chs"]


def _epochs(n_epochs=10):
    info = mne.create_info([f"C{i + 1}" for i in range(N_CHANS)], SFREQ, "eeg")
    with info._unlock():
        for ch, loc in zip(
            info["chs"], np.random.default_rng(0).standard_normal((N_CHANS, 12))
        ):
            ch["loc"] = loc
    data = np.random.default_rng(1).standard_normal((n_epochs, N_CHANS, N_TIMES)) * 1e-5
    return mne.EpochsArray(data, info, verbose=False)


def _signal_combinations():
    """Every way to give the channels and the window, as braindecode tests."""
    channels = [
        dict(n_chans=N_CHANS),
        dict(chs_info=True),
        dict(n_chans=N_CHANS, chs_info=True),
    ]
    window = [
        dict(n_times=N_TIMES),
        dict(n_times=N_TIMES, sfreq=SFREQ),
        dict(sfreq=SFREQ, input_window_seconds=N_TIMES / SFREQ),
        dict(n_times=N_TIMES, input_window_seconds=N_TIMES / SFREQ),
        dict(n_times=N_TIMES, sfreq=SFREQ, input_window_seconds=N_TIMES / SFREQ),
    ]
    return [dict(**c, **w) for c, w in itertools.product(channels, window)]


@pytest.mark.parametrize("cls", BUILT)
@pytest.mark.parametrize("signal", _signal_combinations(), ids=lambda s: "-".join(s))
def test_build_from_signal_parameters(cls, signal):
    kwargs = dict(signal)
    if kwargs.get("chs_info"):
        kwargs["chs_info"] = _chs_info()
    model = cls(n_outputs=N_OUTPUTS, **kwargs, **SMALL[cls]).eval()
    x = torch.as_tensor(_epochs(3).get_data(), dtype=torch.float32)
    with torch.no_grad():
        out = model(x)
    assert out.shape[:2] == (3, N_OUTPUTS)
    assert model.n_chans == N_CHANS and model.n_times == N_TIMES


@pytest.mark.parametrize("cls", BUILT)
def test_required_signal_parameters(cls):
    with pytest.raises(ValueError, match="n_chans could not be inferred"):
        cls(n_outputs=2, n_times=N_TIMES, **SMALL[cls])
    # n_times is not required: the network is length-agnostic.
    model = cls(n_outputs=2, n_chans=N_CHANS, **SMALL[cls]).eval()
    with torch.no_grad():
        assert model(torch.randn(2, N_CHANS, 123)).shape == (2, 2)
    with pytest.raises(ValueError, match="n_outputs not specified"):
        cls(n_chans=N_CHANS, n_times=N_TIMES, **SMALL[cls])
    with pytest.raises(TypeError, match="not_a_parameter"):
        cls(n_outputs=2, n_chans=N_CHANS, n_times=N_TIMES, not_a_parameter=1)


@pytest.mark.parametrize("cls", MODELS)
def test_eegclassifier_fit_on_epochs_infers_signal(cls):
    epochs = _epochs(10)
    y = np.array([0, 1] * 5)
    clf = EEGClassifier(
        cls,
        optimizer=torch.optim.Adam,
        optimizer__lr=6.25e-4,
        batch_size=2,
        max_epochs=1,
        classes=[0, 1],
        train_split=ValidSplit(0.2, random_state=2409),
        verbose=0,
        **{f"module__{k}": v for k, v in SMALL[cls].items()},
    )
    clf.fit(epochs, y)
    module = clf.module_
    assert module.n_chans == N_CHANS and module.n_times == N_TIMES
    assert module.sfreq == SFREQ and module.n_outputs == 2
    assert len(module.chs_info) == N_CHANS
    assert clf.predict_proba(epochs).shape == (10, 2)
    names = [name for name, _ in module.named_children()]
    assert "final_layer" in names[-2:]


@pytest.mark.parametrize("cls", BUILT)
def test_final_layer_activation_and_drop_prob(cls):
    model = cls(n_chans=N_CHANS, n_times=N_TIMES, n_outputs=N_OUTPUTS, **SMALL[cls])
    names = [name for name, _ in model.named_children()]
    assert "final_layer" in names[-2:]
    assert isinstance(model.final_layer, nn.Linear)
    params = inspect.signature(cls.__init__).parameters
    activations = [p for name, p in params.items() if "activation" in name]
    assert activations and all(issubclass(p.default, nn.Module) for p in activations)
    assert any("drop_prob" in name for name in params)
    for name in (
        "n_chans",
        "n_outputs",
        "n_times",
        "chs_info",
        "input_window_seconds",
        "sfreq",
    ):
        assert name in params


@pytest.mark.parametrize("cls", MODELS)
def test_batch_of_one_in_train_mode(cls):
    model = cls(n_chans=N_CHANS, n_times=N_TIMES, n_outputs=N_OUTPUTS, **SMALL[cls])
    model.train()
    with torch.no_grad():
        out = model(torch.randn(1, N_CHANS, N_TIMES))
    assert out.shape[0] == 1
    assert model.training
    assert all(m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, N_CHANS, N_TIMES)).shape == (1, N_OUTPUTS)


@pytest.mark.parametrize("cls", BUILT)
def test_config_round_trip(cls):
    model = _distinct(cls)
    clone = cls.from_config(model.get_config()).eval()
    clone.load_state_dict(model.state_dict())
    x = _trials()
    eager = _eager(model, x)
    with torch.no_grad():
        torch.testing.assert_close(clone(x), eager)


@pytest.mark.parametrize("cls", MODELS)
def test_torch_compile_equals_eager(cls):
    model = _distinct(cls)
    x = _trials()
    compiled = torch.compile(model, mode="reduce-overhead", dynamic=False)
    eager = _eager(model, x, atol=1e-4)
    with torch.no_grad():
        fast = compiled(x)
    assert fast.shape == eager.shape
    torch.testing.assert_close(fast, eager, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cls", MODELS)
def test_torch_export(cls):
    model = _distinct(cls)
    x = _trials()
    program = torch.export.export(model, (x,), strict=False)
    assert isinstance(program, torch.export.ExportedProgram)
    eager = _eager(model, x)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), eager)


@pytest.mark.parametrize("cls", MODELS)
def test_torchscript(cls, tmp_path):
    model = _distinct(cls)
    x = _trials()
    eager = _eager(model, x)
    scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), eager)
    scripted.save(str(tmp_path / "model.pt"))
    loaded = torch.jit.load(str(tmp_path / "model.pt"))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), eager)


@pytest.mark.parametrize("cls", MODELS)
def test_onnx_export_equals_eager(cls, tmp_path):
    import onnxruntime as ort  # the test extra installs it: a broken install fails

    model = _distinct(cls)
    x = _trials()
    path = tmp_path / "model.onnx"
    torch.onnx.export(
        model, (x,), str(path), input_names=["x"], output_names=["logits"], dynamo=True
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {"x": x.numpy()})
    eager = _eager(model, x, atol=1e-5 + 1e-4 * float(np.abs(onnx_out).max()))
    np.testing.assert_allclose(onnx_out, eager.numpy(), rtol=1e-4, atol=1e-5)


def test_summary_table_matches_models():
    from importlib.resources import files

    import pandas as pd

    table = pd.read_csv(
        files("mne_neurosketch.models") / "summary.csv", index_col="Model"
    )
    badges = {"Convolution": ":bdg-success:`Convolution`"}
    for cls in BUILT:
        row = table.loc[cls.__name__]
        assert set(row["Modality"].split(", ")) <= {"EEG", "MEG", "iEEG", "ECoG", "sEMG"}
        for category in row["Categorization"].split(", "):
            assert badges[category] in cls.__doc__
        model = eval(row["get_#Parameters"], {cls.__name__: cls})  # noqa: S307
        assert sum(p.numel() for p in model.parameters()) == row["#Parameters"]


def _as_plain_module(model):
    """The model rebuilt as a bare ``nn.Module``, as braindecode's scripting test does.

    Children and attributes are copied onto an ``nn.Module`` instance and the
    class's public methods are bound to it, so ``torch.jit.script`` sees none
    of the braindecode mixin: a ``forward`` calling another Python method
    fails to script there.
    """
    plain = nn.Module()
    for name, child in model.named_children():
        plain.add_module(name, child)
    for name, value in vars(model).items():
        if name != "_modules":
            # The mixin keeps its signal parameters as _n_chans, _n_times...
            public = name[1:] if name in ("_n_chans", "_n_times", "_n_outputs") else name
            setattr(plain, public, value)
    for name, func in inspect.getmembers(type(model), inspect.isfunction):
        if not name.startswith("_"):
            setattr(plain, name, types.MethodType(func, plain))
    return plain


@pytest.mark.parametrize(
    "cls, kwargs",
    [(NeuroSketch, {}), (NeuroSketch, {"preset": "large"}), (NeuroSketchSD, {})],
    ids=["base", "large", "sd"],
)
def test_torchscript_of_plain_module(cls, kwargs):
    """The paper's configurations script once stripped to a plain nn.Module."""
    torch.manual_seed(0)
    model = distinct_weights(cls(n_chans=N_CHANS, n_times=N_TIMES, n_outputs=N_OUTPUTS,
                                 **kwargs))
    plain = _as_plain_module(model).eval()
    assert type(plain) is nn.Module
    x = _trials()
    eager = _eager(model, x)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), eager)
        scripted = torch.jit.script(plain)
        torch.testing.assert_close(scripted(x), eager)
    # a ValueError raised in TorchScript surfaces as torch.jit.Error
    with pytest.raises(torch.jit.Error, match="n_chans=3"):
        scripted(torch.randn(1, N_CHANS + 1, N_TIMES))  # the input check survives
