"""The corpus registry: built from the reader classes, complete, read by the benchmark."""

import inspect
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import get_scorer

from mne_neurosketch.benchmark import resolve_dataset
from mne_neurosketch.benchmark.datasets import list_datasets
from mne_neurosketch.benchmark.protocols import make_protocol
from mne_neurosketch.datasets import (
    CorpusMOABBDataset,
    CorpusWindowsDataset,
    get_corpus,
    list_corpora,
)
from mne_neurosketch.datasets.base import REGISTRY_FACTS

CORPORA = list_corpora()
# MOABB's kinds of dataset (moabb.paradigms: MotorImagery, P300, SSVEP, CVEP, ...).
MOABB_KINDS = {"imagery", "p300", "ssvep", "cvep", "rstate"}
KALUNGA = Path(__file__).resolve().parent / ".." / ".." / "shared" / "data" / "mne_data"


def test_the_registry_has_every_corpus_module():
    readers = {c.reader.__module__.rsplit(".", 1)[-1] for c in CORPORA.values()}
    assert readers == {
        "chisco",
        "du_in",
        "faces_houses",
        "muse_p300",
        "openmiir",
        "seed_dv",
        "things_eeg",
    }
    assert "chisco-imagine" in CORPORA and "openmiir-imagination" in CORPORA


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_every_corpus_states_every_fact(name, tmp_path):
    """Fails when a registered corpus lacks a fact or its simulator."""
    corpus = CORPORA[name]
    reader = corpus.reader
    missing = [fact for fact in REGISTRY_FACTS if fact not in vars(reader)]
    assert not missing, f"{reader.__name__} does not state {missing}"
    assert callable(reader.simulate)
    assert issubclass(reader.windows_class, CorpusWindowsDataset)
    assert issubclass(reader.moabb_class, CorpusMOABBDataset)
    assert reader.name == reader.name.lower() and corpus.description
    assert "{" not in corpus.description
    assert isinstance(reader.to_volts, float) and 0 < reader.to_volts <= 1
    assert corpus.moabb_paradigm in MOABB_KINDS
    # The protocol in the benchmark's vocabulary, with valid parameters.
    protocol = make_protocol(reader.protocol, **reader.protocol_params)
    assert protocol.name == reader.protocol
    if reader.default_subjects is not None:
        assert set(reader.default_subjects) <= set(reader.subjects)
    if reader.scorer is not None:
        get_scorer(reader.scorer)
    assert isinstance(reader.budget, dict)
    assert set(corpus.simulation) <= set(inspect.signature(reader.simulate).parameters)
    assert corpus.task is None or corpus.task in reader.tasks
    n_chans, n_times, n_classes, sfreq = corpus.shape
    assert min(n_chans, n_times, n_classes) >= 1 and sfreq > 0
    try:
        names = reader(**corpus.task_kwargs).class_names()
    except FileNotFoundError:  # Chisco reads its classes from the corpus: simulate it
        root = corpus.simulate(tmp_path, [1], **corpus.simulation)
        names = reader(path=root, **corpus.task_kwargs).class_names()
    assert len(names) == n_classes


def test_spellings_and_unknown_names():
    assert get_corpus("SEED_DV") is get_corpus("seed-dv") is CORPORA["seeddv"]
    assert get_corpus("Chisco").name == "chisco-read"
    assert get_corpus("openmiir").name == "openmiir-perception"
    assert get_corpus("muse").name == "musep300"
    assert get_corpus("nope", missing_ok=True) is None
    with pytest.raises(ValueError, match="'name' parameter.*'seeddv'.*'nope'"):
        get_corpus("nope")


def test_list_datasets_reads_the_registry():
    names = list_datasets()
    for name, corpus in CORPORA.items():
        assert names[name].startswith(corpus.description)
        assert f"simulated-{name}" in names


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_every_corpus_resolves_under_every_alias(name, tmp_path, monkeypatch):
    """Each spelling gives the same dataset, real and simulated, with its facts."""
    corpus = CORPORA[name]
    sim = resolve_dataset(f"simulated-{name}", path=tmp_path / "sim", subjects=[1])
    assert sim.code == corpus.code + "-simulated"
    for spelling in (name, *corpus.aliases):
        spec = resolve_dataset(spelling, path=tmp_path / "sim")
        assert type(spec.dataset) is corpus.reader.moabb_class
        assert spec.code == corpus.code and spec.description == corpus.description
        assert spec.dataset.reader.task == (corpus.task or corpus.reader.tasks[0])
        assert spec.dataset.paradigm == corpus.moabb_paradigm
        assert spec.default_protocol == corpus.protocol
        assert spec.protocol_params == corpus.protocol_params
        assert spec.subjects == list(corpus.default_subjects or corpus.reader.subjects)
        assert spec.paradigm().scoring == (corpus.scorer or "accuracy")
        again = resolve_dataset(f"simulated-{spelling}", path=tmp_path / "sim")
        assert again.code == sim.code
    # The one unit conversion: MOABB raws in volts, MOABB arrays in µV.
    monkeypatch.setenv("MNE_NEUROSKETCH_CACHE_DIR", str(tmp_path / "cache"))
    assert sim.dataset.unit_factor == 1e6
    sessions = sim.dataset.get_data([1])[1]
    raws = [raw for runs in sessions.values() for raw in runs.values()]
    recordings = sim.dataset.reader.load_subject(1, cache=False)
    assert len(raws) == len(recordings)
    raw, rec = raws[0], recordings[0]
    np.testing.assert_allclose(raw.get_data(), rec.data * corpus.to_volts, rtol=1e-6)


def test_corpora_table_is_deprecated():
    import mne_neurosketch.benchmark.datasets as bd

    with pytest.warns(FutureWarning, match="list_corpora"):
        table = bd.CORPORA
    assert table == CORPORA


def test_reader_without_unit_keeps_the_old_moabb_view(tmp_path):
    from _toy_corpus import _ToyMOABB

    with pytest.warns(FutureWarning, match="declares no to_volts"):
        dataset = _ToyMOABB(tmp_path)
    assert dataset.unit_factor == 1.0 and dataset.paradigm == "imagery"


@pytest.mark.skipif(
    not (KALUNGA / "MNE-ssvepexo-data").is_dir(),
    reason=f"Kalunga2016 recordings not found in {KALUNGA}",
)
def test_moabb_path_leaves_the_environment_alone(tmp_path, monkeypatch):
    """path= reaches MOABB's reads without changing the process' environment."""
    monkeypatch.setenv("_MNE_FAKE_HOME_DIR", str(tmp_path))  # no user config
    monkeypatch.setenv("MOABB_DOWNLOAD_PROVIDER", "upstream")
    for key in [k for k in os.environ if k.startswith("MNE_DATA")]:
        monkeypatch.delenv(key)
    before = dict(os.environ)
    spec = resolve_dataset("Kalunga2016", path=KALUNGA)
    assert dict(os.environ) == before
    files = spec.dataset.data_path(1)
    assert Path(files[0]).resolve().is_relative_to(KALUNGA.resolve())
    X, _, _ = spec.paradigm().get_data(spec.dataset, subjects=[1])
    assert X.shape[0] > 0
    assert dict(os.environ) == before


def test_benchmark_arrays_reach_pipelines_in_microvolts(tmp_path, monkeypatch):
    """SEED-DV is stored in volts; MOABB hands the pipelines µV, which the
    estimator's scaling="auto" leaves alone (no second scaling)."""
    from mne_neurosketch._estimator.inputs import resolve_scaling

    monkeypatch.setenv("MNE_NEUROSKETCH_CACHE_DIR", str(tmp_path / "cache"))
    spec = resolve_dataset("simulated-seeddv", path=tmp_path, subjects=[1])
    X, _, _ = spec.paradigm().get_data(spec.dataset, [1])
    windows = get_corpus("seeddv").reader.windows_class(1, path=tmp_path, cache=False)
    volts = np.stack([windows[i][0] for i in range(len(windows))])
    np.testing.assert_allclose(X.std(), volts.std() * 1e6, rtol=1e-4)
    assert resolve_scaling("auto", volts) == 1e6
    assert resolve_scaling("auto", X) == 1.0
