"""The transfer protocols: folds, leakage, alignment, the pretrained-model cache."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

# _one_thread: the autouse fixture running these tiny networks on one thread.
from test_estimator import TINY, _one_thread, make_task  # noqa: F401

from mne_neurosketch.benchmark import resolve_dataset
from mne_neurosketch.benchmark.pipelines import make_pipeline
from mne_neurosketch.benchmark.protocols import (
    Transfer,
    TransferUnaligned,
    WithinSession,
    ZeroShot,
    make_protocol,
)
from mne_neurosketch.benchmark.runner import run_benchmark
from mne_neurosketch.benchmark.store import ResultsStore
from mne_neurosketch.benchmark.transfer import (
    cache_file,
    fit_transfer,
    pretrained_dir,
)
from mne_neurosketch.estimator import NeuroSketchClassifier

N_PER_SUBJECT = 30


class RecordingClassifier(NeuroSketchClassifier):
    """Records the trials each fit gets (the test's view of the pretraining)."""

    calls = []
    fail = False  # raise after training, before the model is saved

    def fit(self, X, y=None, **kwargs):
        super().fit(X, y, **kwargs)
        type(self).calls.append(dict(X=np.array(X), init=self.init_weights))
        if type(self).fail:
            raise KeyboardInterrupt("interrupted")
        return self


def recorder(**kwargs):
    params = dict(module_kwargs=TINY, max_epochs=1, batch_size=8, valid_size=None,
                  random_state=0, verbose=False)
    RecordingClassifier.calls = []
    RecordingClassifier.fail = False
    return RecordingClassifier(**{**params, **kwargs})


def marked_subjects(n_subjects=3):
    """Trials of several subjects; channel 0 holds the subject's number (a mark
    that alignment-free pretraining keeps), and each subject has its own gain."""
    parts, labels, meta = [], [], []
    for s in range(1, n_subjects + 1):
        X, y = make_task(N_PER_SUBJECT, seed=s)
        X = X * s  # another amplitude per subject: what alignment removes
        X[:, 0] = s
        parts.append(X)
        labels.append(y)
        meta.append(pd.DataFrame({"subject": s, "session": "0", "run": "0"},
                                 index=range(len(y))))
    return np.concatenate(parts), np.concatenate(labels), pd.concat(meta)


def folds_of(protocol, y, meta, subject):
    return [f for f in protocol.split(y, meta) if f.subject == str(subject)]


def test_transfer_folds_are_the_within_session_folds_of_the_target():
    X, y, meta = marked_subjects()
    subjects = meta["subject"].to_numpy()
    for subject in (1, 2, 3):
        mask = subjects == subject
        idx = np.flatnonzero(mask)
        within = list(WithinSession().split(y[mask], meta[mask]))
        for protocol in (Transfer(), ZeroShot()):
            folds = folds_of(protocol, y, meta, subject)
            assert len(folds) == len(within) == 5
            for fold, ref in zip(folds, within):
                assert (fold.index, fold.session) == (ref.index, ref.session)
                np.testing.assert_array_equal(fold.test, idx[ref.test])
                np.testing.assert_array_equal(fold.reference, idx[ref.train])
                expected_train = idx[ref.train] if protocol.finetune else []
                np.testing.assert_array_equal(fold.train, expected_train)
                np.testing.assert_array_equal(fold.source, np.flatnonzero(~mask))
                assert set(fold.source_subjects) == {"1", "2", "3"} - {str(subject)}


@pytest.mark.parametrize("protocol", [TransferUnaligned(), Transfer()])
def test_no_target_trial_reaches_pretraining(protocol):
    X, y, meta = marked_subjects()
    fold = folds_of(protocol, y, meta, 2)[0]
    model = fit_transfer(recorder(), X, y, fold)
    pretraining, finetuning = RecordingClassifier.calls
    source = X[fold.source]
    assert pretraining["init"] is None and len(pretraining["X"]) == len(source)
    if not protocol.align:
        # Target trials carry the mark 2 in channel 0: none reached pretraining.
        assert set(np.unique(pretraining["X"][:, 0])) == {1.0, 3.0}
        assert 2.0 in np.unique(finetuning["X"][:, 0])
    else:
        # Each source subject was aligned on its own trials, and nothing else
        # went in: the pretraining set is exactly the aligned source trials.
        for s in (1, 3):
            part = pretraining["X"][fold.source_subjects == str(s)]
            cov = np.einsum("nct,ndt->cd", part, part) / (part.shape[0] * part.shape[2])
            np.testing.assert_allclose(cov, np.eye(len(cov)), atol=1e-3)
        # The target's reference is its training fold only (never its test
        # fold): its training trials come out re-centred.
        tuned = finetuning["X"].astype(np.float64)
        cov = np.einsum("nct,ndt->cd", tuned, tuned) / (tuned.shape[0] * tuned.shape[2])
        np.testing.assert_allclose(cov, np.eye(len(cov)), atol=1e-3)
        assert [name for name, _ in model.steps] == ["align", "model"]
    assert len(finetuning["X"]) == len(fold.train)
    assert finetuning["init"] is not None  # it started from the pretrained weights


def test_pretrained_model_is_cached_reused_and_resumable(tmp_path):
    X, y, meta = marked_subjects()
    folds = folds_of(Transfer(), y, meta, 1)
    path = cache_file(tmp_path, "Fake data", "NS", "abc", folds[0])
    # The key: dataset, pipeline and hash, then alignment, sources and target.
    assert path.parent == tmp_path / "Fake_data" / "NS-abc"
    assert path.name.startswith("aligned-") and path.name.endswith("-subject-1.pt")
    assert cache_file(tmp_path, "Fake data", "NS", "abc", folds[3]) == path
    other = folds_of(TransferUnaligned(), y, meta, 1)[0]
    assert cache_file(tmp_path, "Fake data", "NS", "abc", other) != path

    # An interrupted pretraining leaves no file that a rerun would read.
    est = recorder()
    RecordingClassifier.fail = True
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        fit_transfer(est, X, y, folds[0], cache=path)
    assert not path.exists()
    RecordingClassifier.fail = False
    RecordingClassifier.calls = []
    fit_transfer(est, X, y, folds[0], cache=path)
    assert path.is_file()
    assert [c["init"] for c in RecordingClassifier.calls] == [None, str(path)]
    # The other folds of the target fine-tune from the file: no new pretraining.
    RecordingClassifier.calls = []
    for fold in folds[1:]:
        fit_transfer(est, X, y, fold, cache=path)
    assert [c["init"] for c in RecordingClassifier.calls] == [str(path)] * 4

    # Zero-shot scores the very pretrained model (read from the cache).
    zero = folds_of(ZeroShot(), y, meta, 1)[0]
    RecordingClassifier.calls = []
    model = fit_transfer(est, X, y, zero, cache=path)
    assert RecordingClassifier.calls == []
    loaded = RecordingClassifier.load(path)
    aligned = model.named_steps["align"].transform(X[zero.test])
    np.testing.assert_array_equal(model.predict_proba(X[zero.test]),
                                  loaded.predict_proba(aligned))


def test_classical_pipelines_get_riemannian_recentring(tmp_path):
    X, y, meta = marked_subjects()
    X = X[:, 1:]  # drop the constant mark: covariances must be full rank
    fold = folds_of(Transfer(), y, meta, 3)[0]
    model = fit_transfer(make_pipeline("MDM"), X, y, fold)
    assert [name for name, _ in model.steps] == ["stack", "cov", "align", "model"]
    # The target's covariances are re-centred on its training fold's mean.
    from pyriemann.geometry.mean import mean_riemann

    covs = model[:3].transform(X[fold.reference])
    np.testing.assert_allclose(mean_riemann(covs), np.eye(covs.shape[1]), atol=1e-5)
    # Unaligned: the pipeline as it is, fitted on source + target training fold.
    plain = fit_transfer(make_pipeline("MDM"), X, y,
                         folds_of(TransferUnaligned(), y, meta, 3)[0])
    assert [name for name, _ in plain.steps] == ["model"]
    assert len(plain.predict(X[fold.test])) == len(fold.test)
    # Zero-shot: the source model is the same for every fold, so it is cached
    # (pickled: a classical pipeline has no weights file of its own).
    zero = folds_of(ZeroShot(), y, meta, 3)
    path = tmp_path / "MDM.pt"
    first = fit_transfer(make_pipeline("MDM"), X, y, zero[0], cache=path)
    cached = path.with_suffix(".pkl")
    stamp = cached.stat().st_mtime_ns
    second = fit_transfer(make_pipeline("MDM"), X, y, zero[1], cache=path)
    assert cached.stat().st_mtime_ns == stamp and not path.exists()
    np.testing.assert_array_equal(
        first.named_steps["model"].covmeans_, second.named_steps["model"].covmeans_)


def test_transfer_protocols_need_two_subjects():
    X, y, meta = marked_subjects(1)
    with pytest.raises(ValueError, match="at least 2 subjects"):
        list(make_protocol("transfer").split(y, meta))


def test_benchmark_runs_transfer_and_zero_shot_on_shared_pretraining(tmp_path):
    fake = resolve_dataset("fake")
    clf = NeuroSketchClassifier(module_kwargs=TINY, max_epochs=1, batch_size=16,
                                valid_size=None, random_state=0, verbose=False)
    pipes = {"NS": clf, "MDM": make_pipeline("MDM")}
    results = tmp_path / "r.sqlite"
    for name in ("zero-shot", "transfer"):
        df = run_benchmark(fake, pipes, protocol=name, results=results,
                           subjects=[1, 2], n_workers=1 if name == "transfer" else None,
                           progress=False)
        assert len(df) == 2 * 2  # subjects x pipelines, averaged over 5 folds
    cached = sorted(pretrained_dir(results).rglob("*.pt"))
    assert [p.name.split("-")[-1] for p in cached] == ["1.pt", "2.pt"]  # one each
    df = ResultsStore(results).to_dataframe(level="fold")
    assert len(df) == 2 * 2 * 2 * 5  # protocols x subjects x pipelines x folds
    assert set(df["protocol"]) == {"zero-shot[subjects=1,2]", "transfer[subjects=1,2]"}
    run_benchmark(fake, {"MDM": pipes["MDM"]}, protocol="within-session",
                  results=results, subjects=[1, 2], progress=False)
    within = ResultsStore(results).to_dataframe(level="fold", protocol="within-session")
    # Zero-shot uses no target label; transfer pairs fold for fold with
    # within-session (same test trials).
    zero = df[df["protocol"].str.startswith("zero-shot")]
    assert set(zero["samples"]) == {0}
    keys = ["subject", "session", "fold", "samples_test"]
    transfer = df[df["protocol"].str.startswith("transfer") & (df["pipeline"] == "MDM")]
    pd.testing.assert_frame_equal(
        transfer[keys].sort_values(keys).reset_index(drop=True),
        within[keys].sort_values(keys).reset_index(drop=True))
    # Resuming finds every fit.
    again = run_benchmark(fake, pipes, protocol="transfer", results=results,
                          subjects=[1, 2], progress=False)
    assert again.attrs["summary"].n_run == 0
    assert clone(clf).get_params()["init_weights"] is None  # the pipeline is untouched
