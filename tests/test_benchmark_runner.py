"""The runner: MOABB-equal scores, resume, failures, simulated corpora and Dask."""

import numpy as np
import pandas as pd
import pytest
import torch
from moabb.evaluations import WithinSessionEvaluation

from mne_neurosketch.benchmark import (
    ResultsStore,
    WithinSession,
    make_pipeline,
    resolve_dataset,
    run_benchmark,
)
from mne_neurosketch.benchmark._fitting import _fit_hash

SCORE_COLS = [
    "dataset",
    "protocol",
    "pipeline",
    "subject",
    "session",
    "score",
    "samples",
    "samples_test",
]


def _sorted(df):
    return df.sort_values(["pipeline", "subject", "session"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def fake():
    return resolve_dataset("fake")


def test_within_session_equals_moabb(fake, tmp_path):
    """Same folds and seed as MOABB's WithinSessionEvaluation, so the same scores."""
    pipelines = {"TSLR": make_pipeline("TSLR"), "MDM": make_pipeline("MDM")}
    ours = run_benchmark(
        fake, pipelines, results=tmp_path / "r.sqlite", subjects=[1, 2], progress=False
    )
    assert ours.attrs["summary"].n_run == 2 * 2 * 5
    evaluation = WithinSessionEvaluation(
        paradigm=fake.paradigm(),
        datasets=[fake.dataset],
        random_state=42,
        overwrite=True,
        hdf5_path=str(tmp_path / "moabb"),
    )
    fake.dataset.subject_list = [1, 2]
    try:
        theirs = evaluation.process(pipelines)
    finally:
        fake.dataset.subject_list = [1, 2, 3]
    merged = ours.merge(
        theirs, on=["pipeline", "subject", "session"], suffixes=("", "_moabb")
    )
    assert len(merged) == 4
    # MOABB stores float32 scores.
    np.testing.assert_allclose(merged["score"], merged["score_moabb"], rtol=1e-6)
    np.testing.assert_array_equal(merged["samples"], merged["samples_moabb"])
    assert set(ours["protocol"]) == {"within-session"}
    assert set(ours["dataset"]) == {fake.code}


def test_resume_skips_finished_fits(fake, tmp_path):
    pipes = {"TSLR": make_pipeline("TSLR")}
    proto = WithinSession(n_splits=3)
    store = tmp_path / "r.sqlite"
    first = run_benchmark(
        fake, pipes, protocol=proto, results=store, subjects=[1], progress=False
    )
    assert first.attrs["summary"].n_run == 3
    full = run_benchmark(
        fake, pipes, protocol=proto, results=store, subjects=[1, 2], progress=False
    )
    summary = full.attrs["summary"]
    assert (summary.n_total, summary.n_skipped, summary.n_run) == (6, 3, 3)
    again = run_benchmark(
        fake, pipes, protocol=proto, results=store, subjects=[1, 2], progress=False
    )
    assert again.attrs["summary"].n_run == 0
    fresh = run_benchmark(
        fake,
        pipes,
        protocol=proto,
        results=tmp_path / "fresh.sqlite",
        subjects=[1, 2],
        progress=False,
    )
    pd.testing.assert_frame_equal(_sorted(full)[SCORE_COLS], _sorted(fresh)[SCORE_COLS])
    # Other protocol parameters are other fits, not reused ones.
    other = run_benchmark(
        fake,
        pipes,
        protocol=WithinSession(n_splits=2),
        results=store,
        subjects=[1],
        progress=False,
    )
    assert other.attrs["summary"].n_run == 2
    assert set(other["protocol"]) == {"within-session(n_splits=2)"}
    assert len(ResultsStore(store)) == 8


def test_fit_hash_does_not_change_once_data_are_loaded(fake, tmp_path):
    # MOABB sets paradigm.n_classes when it loads data; a hash that saw it
    # would differ between a first and a resumed run.
    pipe = make_pipeline("TSLR")
    before = _fit_hash(pipe, fake.paradigm())
    fake.paradigm().get_data(fake.dataset, subjects=[1])
    run_benchmark(fake, {"TSLR": pipe}, protocol=WithinSession(n_splits=2),
                  results=tmp_path / "r.sqlite", subjects=[1], progress=False)
    assert _fit_hash(pipe, fake.paradigm()) == before


def test_failed_fits_are_reported_and_others_kept(fake, tmp_path):
    store = tmp_path / "r.sqlite"
    pipes = {
        "TSLR": make_pipeline("TSLR"),
        # Every fold's fit fails: max_epochs must be positive.
        "EEGNet": make_pipeline("EEGNet", max_epochs=0, device="cpu"),
    }
    with pytest.raises(RuntimeError, match=r"(?s)3 fit\(s\) failed.*EEGNet.*max_epochs"):
        run_benchmark(
            fake,
            pipes,
            protocol=WithinSession(n_splits=3),
            results=store,
            subjects=[1],
            progress=False,
            verbose="CRITICAL",
        )
    df = ResultsStore(store).to_dataframe(level="fold")
    assert list(df["pipeline"]) == ["TSLR"] * 3


def test_deep_pipelines_on_a_simulated_corpus(tmp_path):
    """simulated-seeddv: real SEED-DV files, read back by the adapter, paper protocol."""
    spec = resolve_dataset("simulated-seeddv", path=tmp_path / "sim", subjects=[1])
    assert spec.code == "SEED-DV-simulated"
    assert (tmp_path / "sim" / "SEED-DV" / "EEG" / "sub1.npy").is_file()
    pipes = {
        "TSLR": make_pipeline("TSLR"),
        "EEGNet": make_pipeline("EEGNet", max_epochs=1, batch_size=16, device="cpu"),
    }
    df = run_benchmark(
        spec, pipes, results=tmp_path / "r.sqlite", subjects=[1], progress=False
    )
    assert set(df["protocol"]) == {"paper(method=simple)"}
    folds = ResultsStore(tmp_path / "r.sqlite").to_dataframe(level="fold")
    # 4 blocks x 4 concepts x 5 clips = 80 windows: 48 train, 16 valid, 16 test.
    assert set(folds["samples"]) == {48} and set(folds["samples_test"]) == {16}
    assert set(folds["device"]) == {"cpu"}
    # how each network computed: its training and inference paths
    numerics = dict(zip(folds["pipeline"], folds["numerics"]))
    assert numerics == {"TSLR": "", "EEGNet": "cpu: fp32 / cpu: fused"}
    assert set(folds["channels"]) == {62}
    assert spec.dataset.unit_factor == 1e6  # raws in volts, arrays in µV
    # Scored on the 16 test windows (learnability: tests/test_seed_dv.py).
    tslr = df.loc[df["pipeline"] == "TSLR", "score"].item()
    assert (tslr * 16) == pytest.approx(round(tslr * 16))
    # A second resolve reuses the files (so the adapter's cache stays valid).
    mtime = (tmp_path / "sim" / "SEED-DV" / "EEG" / "sub1.npy").stat().st_mtime_ns
    resolve_dataset("simulated-seeddv", path=tmp_path / "sim", subjects=[1])
    assert (tmp_path / "sim" / "SEED-DV" / "EEG" / "sub1.npy").stat().st_mtime_ns == mtime


def test_dask_local_cluster_equals_serial(fake, tmp_path):
    """A real distributed.LocalCluster on loopback gives the serial run's results."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the Dask workers, so float results match
    try:
        pipes = {
            "TSLR": make_pipeline("TSLR"),
            "MDM": make_pipeline("MDM"),
            "EEGNet": make_pipeline("EEGNet", max_epochs=1, batch_size=16, device="cpu"),
        }
        proto = WithinSession(n_splits=2)
        serial = run_benchmark(
            fake,
            pipes,
            protocol=proto,
            results=tmp_path / "s.sqlite",
            subjects=[1, 2],
            progress=False,
        )
        dask = run_benchmark(
            fake,
            pipes,
            protocol=proto,
            results=tmp_path / "d.sqlite",
            subjects=[1, 2],
            n_workers=2,
            progress=False,
        )
    finally:
        torch.set_num_threads(threads)
    assert dask.attrs["summary"].n_run == 3 * 2 * 2
    pd.testing.assert_frame_equal(_sorted(serial)[SCORE_COLS], _sorted(dask)[SCORE_COLS])


@pytest.mark.parametrize("level, table", [("INFO", False), ("DEBUG", True)])
def test_epoch_tables_only_at_debug(fake, tmp_path, level, table):
    from mne.utils import catch_logging

    pipelines = {"EEGNet": make_pipeline("EEGNet", max_epochs=2, batch_size=8,
                                         device="cpu")}
    with catch_logging(verbose=level) as log:
        run_benchmark(fake, pipelines, results=tmp_path / "r.sqlite", subjects=[1],
                      protocol=WithinSession(n_splits=2), progress=False,
                      verbose=level)
    text = log.getvalue()
    assert "fits run" in text  # the run's own INFO line
    assert ("valid_acc" in text) is table


def test_report_leaves_partial_pipelines_out_of_statistics(fake, tmp_path):
    from mne_neurosketch.benchmark.report import make_report

    results = tmp_path / "r.sqlite"
    both = {"TSLR": make_pipeline("TSLR"), "MDM": make_pipeline("MDM")}
    run_benchmark(fake, both, results=results, subjects=[1, 2, 3], progress=False)
    partial = {"MDM-one": make_pipeline("MDM")}
    run_benchmark(fake, partial, results=results, subjects=[1], progress=False)
    files = make_report(results, tmp_path / "report", formats=("png",))
    names = {p.name for p in next(iter(files.values()))}
    stats = pd.read_csv(tmp_path / "report" / "stats.csv")
    assert set(stats["pipe1"]) | set(stats["pipe2"]) == {"TSLR", "MDM"}
    assert {"significance.png", "score_plot.png"} <= names
    summary = (tmp_path / "report" / "summary.md").read_text()
    # the partial pipeline is listed, flagged so that no one reads it as comparable
    partial_row = next(line for line in summary.splitlines() if "MDM-one" in line)
    assert "(1 of 3 subjects)" in partial_row
    assert "subjects)" not in summary.replace(partial_row, "")


def test_cross_subject_streams_the_corpus_cache(tmp_path, monkeypatch):
    """A cross-subject unit is a lazy view of the cache: MOABB's trials, never stacked."""
    from mne_neurosketch.benchmark._planning import _load
    from mne_neurosketch.datasets._array import WindowsArray

    monkeypatch.setenv("MNE_NEUROSKETCH_CACHE_DIR", str(tmp_path / "cache"))
    spec = resolve_dataset("simulated-seeddv", path=tmp_path / "sim", subjects=[1, 2])
    paradigm = spec.paradigm("signal")
    X, labels, meta = _load(spec, paradigm, [2, 1])
    lazy, lazy_labels, lazy_meta = _load(spec, paradigm, [2, 1], lazy=True)
    assert isinstance(lazy, WindowsArray) and lazy.shape == X.shape
    np.testing.assert_array_equal(lazy.to_numpy(np.float64), X)  # MOABB's float64
    np.testing.assert_allclose(np.asarray(lazy), X, rtol=1e-6)  # the network's float32
    np.testing.assert_array_equal(lazy_labels, labels)
    for col in ("subject", "session", "run"):
        np.testing.assert_array_equal(lazy_meta[col].astype(str), meta[col].astype(str))
    pipes = {
        "TSLR": make_pipeline("TSLR"),
        "EEGNet": make_pipeline("EEGNet", max_epochs=1, batch_size=16, device="cpu"),
    }
    df = run_benchmark(spec, pipes, protocol="cross-subject",
                       results=tmp_path / "r.sqlite", subjects=[1, 2], progress=False)
    assert len(df) == 4 and set(df["pipeline"]) == {"TSLR", "EEGNet"}
    # 4 classes (chance 0.25): TSLR learns across subjects (0.93, 0.94); one
    # epoch of EEGNet checks the streaming, not learning
    assert df.loc[df["pipeline"] == "TSLR", "score"].min() > 0.7
    assert df["score"].between(0, 1).all()


def test_progress_total_known_up_front_and_epoch_line(fake, tmp_path, capsys):
    pipelines = {
        "TSLR": make_pipeline("TSLR"),
        "EEGNet": make_pipeline("EEGNet", max_epochs=2, batch_size=8, device="cpu"),
    }
    run_benchmark(fake, pipelines, results=tmp_path / "r.sqlite", subjects=[1, 2],
                  protocol=WithinSession(n_splits=2), progress=True)
    frames = capsys.readouterr().err.replace("\r", "\n").splitlines()
    fits = [f for f in frames if f.startswith("Fits")]
    # 2 subjects x 1 session x 2 folds x 2 pipelines, from the first frame on.
    assert fits and all("/8 " in f for f in fits), fits
    # The inner line follows the epochs of each network fit.
    assert any("EEGNet, subject 1 fold 0" in f and "2/2" in f for f in frames)

    # A rerun skips everything and says so on the bar.
    run_benchmark(fake, pipelines, results=tmp_path / "r.sqlite", subjects=[1, 2],
                  protocol=WithinSession(n_splits=2), progress=True)
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "8/8" in last and "8 already in r.sqlite" in last


def test_python_api_and_cli_run_the_same_fits(tmp_path):
    """run_benchmark applies the dataset's budget and protocol; the CLI only parses.

    Both run EEGNet for 1 epoch on the simulated SEED-DV: its budget (batch
    size 16, no early stopping) and protocol (paper, simple) come from the
    dataset in both, and so do the stored keys and parameters.
    """
    from mne_neurosketch.benchmark.cli import main
    from mne_neurosketch.benchmark.pipelines import params_hash

    sim = tmp_path / "sim"
    spec = resolve_dataset("simulated-seeddv", path=sim, subjects=[1])
    api = run_benchmark(
        spec, ["EEGNet", "TSLR"], results=tmp_path / "api.sqlite",
        budget={"max_epochs": 1}, device="cpu", progress=False,
    )
    assert api.attrs["summary"].settings[spec.code]["budget"] == {
        "EEGNet": {"max_epochs": 1, "batch_size": 16, "patience": None}
    }
    code = main([
        "benchmark", "--dataset", "simulated-seeddv", "--path", str(sim),
        "--subjects", "1", "--models", "EEGNet", "TSLR", "--max-epochs", "1",
        "--device", "cpu", "--results", str(tmp_path / "cli.sqlite"), "--no-progress",
    ])
    assert code == 0
    rows = {
        name: ResultsStore(tmp_path / f"{name}.sqlite").to_dataframe(level="fold")
        for name in ("api", "cli")
    }
    assert sorted(rows["api"]["key"]) == sorted(rows["cli"]["key"])
    assert len(rows["api"]) == 2
    for name in ("api", "cli"):
        by_pipe = rows[name].set_index("pipeline")
        eegnet = by_pipe.loc["EEGNet", "params"]["pipeline"]
        assert (eegnet["max_epochs"], eegnet["batch_size"]) == (1, 16)
        assert set(by_pipe["protocol"]) == {"paper(method=simple)"}
    pd.testing.assert_series_equal(
        rows["api"].sort_values("pipeline")["params"].reset_index(drop=True),
        rows["cli"].sort_values("pipeline")["params"].reset_index(drop=True),
    )
    # The stored params_hash is params_hash() of the pipeline that was fitted.
    eegnet = make_pipeline("EEGNet", max_epochs=1, batch_size=16, patience=None,
                           device="cpu")
    stored = rows["api"].set_index("pipeline")["params_hash"]
    assert stored["EEGNet"] == params_hash(eegnet)
    assert stored["TSLR"] == params_hash(make_pipeline("TSLR"))


def test_params_hash_column_and_data_settings_key(fake, tmp_path):
    """The column is params_hash(estimator); other trials (band) are other fits."""
    import copy
    from dataclasses import replace

    from mne_neurosketch.benchmark.pipelines import params_hash

    pipe = make_pipeline("TSLR")
    store = tmp_path / "r.sqlite"
    kwargs = dict(protocol=WithinSession(n_splits=2), results=store, subjects=[1],
                  progress=False)
    first = run_benchmark(fake, {"TSLR": pipe}, **kwargs)
    assert set(first["params_hash"]) == {params_hash(pipe)}
    paradigm = copy.deepcopy(fake.paradigms["signal"])
    paradigm.filters = [[10, 30]]
    other = replace(fake, paradigms={"signal": paradigm})
    scaled = run_benchmark(other, {"TSLR": pipe}, **kwargs)
    assert scaled.attrs["summary"].n_run == 2  # not taken for the unscaled fits
    assert set(scaled["params_hash"]) == {params_hash(pipe)}
    assert set(scaled["data_hash"]) != set(first["data_hash"])
    assert len(ResultsStore(store)) == 4
    # Each call returns its own fits only.
    assert len(first) == len(scaled) == 1


def _fake_ssvep(events):
    """MOABB's simulated SSVEP dataset, named by its stimulus frequencies."""
    from moabb.datasets.fake import FakeDataset

    from mne_neurosketch.benchmark.datasets import BenchmarkDataset, _moabb_paradigms

    dataset = FakeDataset(event_list=events, n_sessions=1, n_runs=1, n_subjects=1,
                          paradigm="ssvep", channels=("O1", "Oz", "O2"), sfreq=128,
                          duration=120, n_events=30, seed=0)
    return BenchmarkDataset("FakeSSVEP", dataset, _moabb_paradigms(dataset),
                            subjects=[1])


def test_names_of_ssvep_pipelines_get_the_stimulus_frequencies(tmp_path):
    """What a name builds (CLI, run_benchmark) is what a user builds by hand
    with the dataset's sampling rate and event names."""
    from mne_neurosketch.benchmark.pipelines import params_hash
    from mne_neurosketch.benchmark.report import make_report

    spec = _fake_ssvep(("13", "17", "21"))
    budget = dict(max_epochs=1, batch_size=8)
    df = run_benchmark(spec, ["NeuroSketch-Harmonics", "CCA"], budget=budget,
                       protocol=WithinSession(n_splits=2),
                       results=tmp_path / "r.sqlite", progress=False)
    assert df.attrs["summary"].n_run == 2 * 2
    by_hand = {
        "NeuroSketch-Harmonics": make_pipeline(
            "NeuroSketch-Harmonics", sfreq=128.0, freqs=[13.0, 17.0, 21.0], **budget),
        # label codes in the sorted order of the event names
        "CCA": make_pipeline("CCA", sfreq=128.0, freqs={0: 13.0, 1: 17.0, 2: 21.0}),
    }
    for name, pipe in by_hand.items():
        assert set(df.loc[df["pipeline"] == name, "params_hash"]) == {params_hash(pipe)}
    assert df["score"].between(0, 1).all()
    # The budget of a network behind a representation step is reported.
    budget = {"max_epochs": 1, "batch_size": 8, "patience": 100}
    assert df.attrs["summary"].settings["FakeSSVEP"]["budget"] == {
        "NeuroSketch-Harmonics": budget}
    make_report(tmp_path / "r.sqlite", tmp_path / "report", plots=False)
    rows = (tmp_path / "report" / "report.md").read_text().splitlines()
    row = next(r for r in rows if r.startswith("| NeuroSketch-Harmonics ") and "cpu" in r)
    assert "max_epochs=1, batch_size=8, patience=100, valid_size=0.2" in row


def test_stimulus_frequencies_of_a_class_without_one(tmp_path):
    from mne_neurosketch.benchmark._planning import _pipelines_for

    spec = _fake_ssvep(("13", "17", "rest"))
    harmonics = _pipelines_for(spec, ["NeuroSketch-Harmonics"], None, "cpu", 0)
    bands = harmonics["NeuroSketch-Harmonics"][0]
    assert bands.freqs == [13.0, 17.0]  # bands of the stimulated classes only
    # CCA cannot score "rest": said before any fit.
    with pytest.raises(ValueError, match=r"'CCA' pipeline.*FakeSSVEP's class\(es\) "
                                         r"\['rest'\] have none: leave 'CCA' out"):
        run_benchmark(spec, ["CCA"], results=tmp_path / "r.sqlite", progress=False)
    imagery = resolve_dataset("fake")  # events fake1, fake2, fake3
    with pytest.raises(ValueError, match=r"classes \['fake1', 'fake2', 'fake3'\] "
                                         r"name no stimulus frequency"):
        _pipelines_for(imagery, ["NeuroSketch-Harmonics"], None, "cpu", 0)


def test_bad_arguments_named(fake, tmp_path):
    with pytest.raises(TypeError, match="pipelines must be an instance of"):
        run_benchmark(fake, make_pipeline("TSLR"), results=tmp_path / "r.sqlite")
    with pytest.raises(TypeError, match="results must be an instance of path-like"):
        run_benchmark(fake, ["TSLR"], results=3)
    with pytest.raises(ValueError, match="protocol_params applies to a protocol given"):
        run_benchmark(fake, ["TSLR"], protocol=WithinSession(), results=tmp_path / "r",
                      protocol_params={"n_splits": 2})


def test_devices_resolved_as_the_estimator_does(monkeypatch):
    """Which fits ask a Dask worker for a GPU, and where a fit is said to have run:
    "auto" resolves through numerics.resolve_device, on a machine with CUDA or not."""
    from types import SimpleNamespace

    from mne_neurosketch.benchmark._fitting import (
        _device_of,
        _device_params,
        _on_cuda,
        _uses_device,
    )

    net = make_pipeline("EEGNet", max_epochs=1, device="auto")
    assert _device_params(net) == {"device": "auto"}
    assert _uses_device(net) and not _uses_device(make_pipeline("TSLR"))
    fitted = SimpleNamespace(device="auto")  # no net_: the parameter is read
    for cuda in (False, True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        assert _on_cuda("auto") is cuda
        assert _on_cuda("cuda:0") is cuda  # named, but absent here: not on a GPU
        assert not _on_cuda("cpu") and not _on_cuda(None)
        assert _device_of(fitted) == ("cuda" if cuda else "cpu")
    assert _device_of(SimpleNamespace(device="cuda:1")) == "cuda:1"  # as it ran
    assert _device_of(make_pipeline("TSLR")) == "cpu"


# ---------------------------------------------------------------------------
# Dask on GPUs: one worker per GPU, the GPU resource only for CUDA fits
# ---------------------------------------------------------------------------
def test_local_cluster_plan_has_one_pinned_worker_per_gpu(monkeypatch):
    from mne_neurosketch.benchmark._executors import _worker_specs

    def plan(*args, **kwargs):
        return {name: (spec["options"]["env"]["CUDA_VISIBLE_DEVICES"],
                       spec["options"].get("resources"), spec["options"]["nthreads"])
                for name, spec in _worker_specs(*args, **kwargs).items()}

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert plan(2) == {"gpu-0": ("0", {"GPU": 1}, 1), "gpu-1": ("1", {"GPU": 1}, 1)}
    # more workers than GPUs: the others see no GPU and offer none
    assert plan(2, n_workers=3) == {**plan(2), "cpu-0": ("", None, 1)}
    assert plan(2, n_workers=1) == {"gpu-0": ("0", {"GPU": 1}, 1)}
    assert plan(0) == {"cpu-0": ("", None, 1)}
    assert plan(0, n_workers=2) == {"cpu-0": ("", None, 1), "cpu-1": ("", None, 1)}
    # this process may use GPUs 3 and 5 only: so may its workers, one each
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert plan(2) == {"gpu-0": ("3", {"GPU": 1}, 1), "gpu-1": ("5", {"GPU": 1}, 1)}


def test_gpu_resource_only_for_fits_that_use_cuda():
    from mne_neurosketch.benchmark._executors import _gpu_request

    gpu = {"GPU": 1}
    cases = [  # (pipeline, resources with no GPU offered, with 2 offered)
        (make_pipeline("TSLR"), None, None),
        (make_pipeline("EEGNet", device="cpu"), None, None),
        (make_pipeline("EEGNet-customary"), None, None),  # braindecode's "cpu"
        (make_pipeline("EEGNet", device="auto"), None, gpu),  # CUDA where offered
        (make_pipeline("NeuroSketch-ERP"), None, gpu),  # nested: ...__device="auto"
        (make_pipeline("EEGNet", device="cuda"), "error", gpu),
        (make_pipeline("EEGNet", device="cuda:1"), "error", gpu),
    ]
    for estimator, without, with_two in cases:
        assert _gpu_request(estimator, 2) == with_two
        if without != "error":
            assert _gpu_request(estimator, 0) == without
            continue
        with pytest.raises(ValueError, match=(
                r"asks for device 'cuda(:1)?', but no worker of the Dask cluster "
                r"offers a GPU \(the 'GPU' worker resource\), so its fits would wait "
                r"forever")):
            _gpu_request(estimator, 0)


def test_dask_workers_pinned_to_their_gpus_and_cuda_fits_refused_without(monkeypatch):
    """A real local cluster on the plan (GPU ids and resources, no GPU touched):
    each worker sees its GPU only; a cluster offering none refuses a CUDA fit
    at once instead of queueing it forever."""
    import os
    from types import SimpleNamespace

    from mne_neurosketch.benchmark._executors import _Dask

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")  # GPUs 0 and 1 (named, never used)
    executor = _Dask(n_workers=3, gpu=True, n_gpus=2)
    try:
        executor.client.wait_for_workers(3, timeout=120)
        assert executor.offered_gpus() == 2
        # (a lambda travels by value: the worker reads its own environment)
        seen = executor.client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
        assert sorted(seen.values()) == ["", "0", "1"]
    finally:
        executor.close()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # as in the CPU suite
    executor = _Dask(n_workers=1)
    try:
        executor.client.wait_for_workers(1, timeout=120)
        assert executor.offered_gpus() == 0
        task = SimpleNamespace(estimator=make_pipeline("EEGNet", device="cuda"))
        with pytest.raises(ValueError, match="no worker of the Dask cluster offers"):
            executor.submit(task, None)
        assert executor.pending() == 0
    finally:
        executor.close()
