"""Per-subject BatchNorm statistics (domain_bn), "epoch 0" in fine-tuning, and the
pipeline names that switch them on (``+dsbn``, ``+epoch0``)."""

import numpy as np
import pytest
import sklearn
import torch
from skorch.callbacks import Callback
from test_estimator import TINY, _one_thread, make_task, tiny_clf  # noqa: F401
from test_transfer import folds_of, marked_subjects

from mne_neurosketch._estimator.domain import DomainBatchSampler
from mne_neurosketch.benchmark._fitting import _final_step
from mne_neurosketch.benchmark.pipelines import (
    make_pipeline,
    pretraining_key,
    resolve_model_name,
)
from mne_neurosketch.benchmark.protocols import Transfer, ZeroShot
from mne_neurosketch.benchmark.transfer import cache_file, fit_transfer
from mne_neurosketch.estimator import NeuroSketchClassifier


# ---------------------------------------------------------------- the sampler
def test_domain_batches_hold_one_subject_and_every_trial_once():
    groups = np.repeat(["a", "b", "c"], [17, 9, 33])
    sampler = DomainBatchSampler(groups, batch_size=8, seed=0)
    passes = [list(sampler) for _ in range(2)]
    for batches in passes:
        assert len(batches) == len(sampler)
        flat = np.concatenate(batches)
        np.testing.assert_array_equal(np.sort(flat), np.arange(len(groups)))
        assert all(len(set(groups[b])) == 1 for b in batches)
        assert min(len(b) for b in batches) > 1  # 17 = 8 + 9: no batch of one
    assert passes[0] != passes[1]  # a new order each pass
    assert list(DomainBatchSampler(groups, 8, seed=0)) == passes[0]  # seeded


# ---------------------------------------------------------------- domain_bn
class _BatchSubjects(Callback):
    """Records the subject marks (channel 0, sample 0) of each training batch."""

    def initialize(self):
        self.batches = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.batches.append(set(np.asarray(batch[0])[:, 0, 0].round(3).tolist()))


def _subjects_data(n=48):
    X, y = make_task(n, n_classes=2, seed=3)
    subjects = np.tile([1, 2, 3], n // 3)
    X *= subjects[:, None, None]  # each subject its own gain
    X[:, 0, 0] = subjects
    return X, y, subjects


def _first_batchnorm(clf):
    return next(m for m in clf.module_.modules() if isinstance(m, torch.nn.BatchNorm2d))


def _inputs_of(clf, layer, X):
    """What ``layer`` receives for ``X`` (the trained module in eval mode)."""
    seen = []
    handle = layer.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    with torch.no_grad():
        clf.module_.eval()(torch.as_tensor(X))
    handle.remove()
    return seen[0]


def _recorded(clf):
    hooks = [c for _, c in clf.net_.callbacks_ if isinstance(c, _BatchSubjects)]
    return hooks[0].batches


def test_domain_bn_trains_on_one_subject_per_batch_and_keeps_the_target_statistics():
    X, y, subjects = _subjects_data(54)
    hook = _BatchSubjects()
    clf = tiny_clf(domain_bn=True, amp=False, batch_size=6, callbacks=[hook])
    target = X[subjects == 3]
    clf.fit(X, y, subjects=subjects, X_target_unlabeled=target)
    recorded = _recorded(clf)
    assert recorded and all(len(b) == 1 for b in recorded)
    # Running statistics are those of the target's 18 trials (3 batches of 6).
    norm = _first_batchnorm(clf)
    feats = _inputs_of(clf, norm, target)
    np.testing.assert_allclose(norm.running_mean, feats.mean(dim=(0, 2, 3)),
                               rtol=1e-4, atol=1e-5)
    # Without domain_bn, batches mix subjects.
    plain = tiny_clf(amp=False, batch_size=6, callbacks=[_BatchSubjects()])
    plain.fit(X, y, subjects=subjects)
    assert any(len(b) > 1 for b in _recorded(plain))


def test_adapt_domain_sets_another_subjects_statistics_and_predictions():
    X, y, subjects = _subjects_data()
    clf = tiny_clf(domain_bn=True, amp=False).fit(X, y, subjects=subjects)
    before = clf.predict_proba(X[subjects == 1])
    clf.adapt_domain(X[subjects == 1])
    norm = _first_batchnorm(clf)
    mean_1 = norm.running_mean.clone()
    assert not np.allclose(before, clf.predict_proba(X[subjects == 1]))
    clf.adapt_domain(X[subjects == 3])
    assert not torch.allclose(mean_1, norm.running_mean)
    clf.adapt_domain(X[subjects == 1])  # recomputed from scratch, not averaged
    torch.testing.assert_close(mean_1, norm.running_mean)
    with pytest.raises(ValueError, match="X has 3 channels"):
        clf.adapt_domain(X[:, :3])
    with pytest.raises(ValueError, match="NaN|infinity"):
        clf.adapt_domain(np.full_like(X, np.nan))


def _windows(X, y, subjects=None):
    """A braindecode windows dataset of the trials (one window per trial)."""
    from braindecode.datasets import create_from_X_y

    windows = create_from_X_y(X, y, drop_last_window=False, sfreq=50.0,
                              window_size_samples=X.shape[2],
                              window_stride_samples=X.shape[2])
    if subjects is not None:
        windows.set_description({"subject": subjects}, overwrite=True)
    return windows


def test_domain_bn_reads_the_subjects_of_a_braindecode_dataset():
    X, y, subjects = _subjects_data(54)
    target = subjects == 3
    clf = tiny_clf(domain_bn=True, amp=False, batch_size=6, callbacks=[_BatchSubjects()])
    clf.fit(_windows(X, y, subjects), X_target_unlabeled=_windows(X[target], y[target]))
    assert _recorded(clf) and all(len(b) == 1 for b in _recorded(clf))
    # the same network as from the stacked trials with their subjects
    ref = tiny_clf(domain_bn=True, amp=False, batch_size=6).fit(
        X, y, subjects=subjects, X_target_unlabeled=X[target])
    torch.testing.assert_close(_first_batchnorm(clf).running_mean,
                               _first_batchnorm(ref).running_mean)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    # a description without subjects: the batches mix them
    plain = tiny_clf(domain_bn=True, amp=False, batch_size=6,
                     callbacks=[_BatchSubjects()])
    assert any(len(b) > 1 for b in _recorded(plain.fit(_windows(X, y))))


class _NoNorm(torch.nn.Module):
    def __init__(self, n_chans, n_outputs, n_times):
        super().__init__()
        self.final_layer = torch.nn.Linear(n_chans * n_times, n_outputs)

    def forward(self, x):
        return self.final_layer(x.flatten(1))


def test_domain_bn_needs_batchnorm_and_is_checked():
    X, y, subjects = _subjects_data(24)
    with pytest.raises(ValueError, match="domain_bn=True needs BatchNorm"):
        tiny_clf(module=_NoNorm, module_kwargs=None, domain_bn=True).fit(X, y)
    with pytest.raises(ValueError, match="'domain_bn' parameter"):
        tiny_clf(domain_bn="yes").fit(X, y)
    with pytest.raises(ValueError, match="'finetune_epoch0' parameter"):
        tiny_clf(finetune_epoch0=1).fit(X, y)


def test_domain_bn_requests_subjects_under_metadata_routing():
    with sklearn.config_context(enable_metadata_routing=True):
        on = tiny_clf(domain_bn=True).get_metadata_routing().fit.requests
        off = tiny_clf().get_metadata_routing().fit.requests
    assert on["subjects"] is True and on["X_target_unlabeled"] is True
    assert off["subjects"] is False and off["X_target_unlabeled"] is False


# ---------------------------------------------------------------- epoch 0
def test_epoch0_keeps_pretrained_weights_that_no_epoch_beats():
    X, y = make_task(60, n_classes=2, amp=3.0, seed=1)
    source = tiny_clf(max_epochs=15, valid_size=0.25, amp=False).fit(X, y)
    assert source.score(X, y) == 1.0  # a perfect start: nothing can beat it
    start = {k: v.clone() for k, v in source.module_.state_dict().items()}
    kwargs = dict(init_weights=source.module_.state_dict(), valid_size=0.25, amp=False,
                  lr=1e-2)
    kept = tiny_clf(finetune_epoch0=True, **kwargs).fit(X, y)
    assert kept.finetune_epoch_ == 0
    for name, value in kept.module_.state_dict().items():
        torch.testing.assert_close(value, start[name], rtol=0, atol=0)
    moved = tiny_clf(**kwargs).fit(X, y)
    assert moved.finetune_epoch_ is None
    assert any(not torch.equal(value, start[name])
               for name, value in moved.module_.state_dict().items())


def test_epoch0_gives_way_to_an_epoch_that_beats_it():
    X, y = make_task(60, n_classes=2, amp=3.0, seed=1)
    shuffled = np.random.default_rng(0).permutation(y)  # a start at chance
    source = tiny_clf(max_epochs=1, valid_size=None, amp=False).fit(X, shuffled)
    kwargs = dict(init_weights=source.module_.state_dict(), max_epochs=15,
                  valid_size=0.25, amp=False)
    tuned = tiny_clf(finetune_epoch0=True, **kwargs).fit(X, y)
    scores = tuned.history_[:, "valid_acc"]
    assert tuned.finetune_epoch_ == int(np.argmax(scores)) + 1
    assert tuned.score(X, y) > 0.8
    # Scoring epoch 0 draws no random number: the run is the one without it.
    plain = tiny_clf(**kwargs).fit(X, y)
    np.testing.assert_array_equal(tuned.predict_proba(X), plain.predict_proba(X))


# ---------------------------------------------------------------- the pipelines
def test_lever_names_build_their_options_and_share_pretraining():
    canonical = resolve_model_name("neurosketch-fb+EPOCH0+dsbn")
    assert canonical == "NeuroSketch-FB+dsbn+epoch0"
    est = make_pipeline("NeuroSketch+dsbn+epoch0")
    assert est.domain_bn and est.finetune_epoch0
    assert resolve_model_name("NeuroSketch-ERP+LOSS+dsbn") == "NeuroSketch-ERP+dsbn+loss"
    for _, candidate in make_pipeline("NeuroSketch-Select+loss").candidates:
        assert _final_step(candidate).monitor == "valid_loss"
    erp = make_pipeline("NeuroSketch-ERP+ens3", random_state=1)
    assert type(erp).__name__ == "EnsembleClassifier" and erp.n_members == 3
    assert erp.members == "seeds"
    # +epoch0 only changes the fine-tuning: the pretrained model is shared.
    plain = make_pipeline("NeuroSketch")
    assert pretraining_key("NeuroSketch+epoch0", make_pipeline("NeuroSketch+epoch0")) \
        == pretraining_key("NeuroSketch", plain)
    for name in ("NeuroSketch+dsbn", "NeuroSketch+loss"):  # these change the pretraining
        assert pretraining_key(name, make_pipeline(name)) \
            != pretraining_key("NeuroSketch", plain)
    for bad, match in [("TSLR+dsbn", "not to 'TSLR'"), ("NeuroSketch+x", "'x'"),
                       ("NeuroSketch+ens3+folds3", "two ensembles"),
                       ("EEGNet-customary+dsbn", "not to")]:
        with pytest.raises(ValueError, match=match):
            resolve_model_name(bad)


class _Recording(NeuroSketchClassifier):
    """Records the subjects each fit gets."""

    calls = []

    def fit(self, X, y=None, **kwargs):
        type(self).calls.append(kwargs.get("subjects"))
        return super().fit(X, y, **kwargs)


def test_transfer_pretrains_by_subject_and_zero_shot_adapts_to_the_target(tmp_path):
    X, y, meta = marked_subjects()
    est = _Recording(module_kwargs=TINY, max_epochs=1, batch_size=8, valid_size=None,
                     random_state=0, verbose=False, device="cpu", domain_bn=True,
                     amp=False)
    fold = folds_of(Transfer(), y, meta, 1)[0]
    path = cache_file(tmp_path, "fake", *pretraining_key("NS", est), fold)
    _Recording.calls = []
    tuned = fit_transfer(est, X, y, fold, cache=path)
    pretraining, finetuning = _Recording.calls
    np.testing.assert_array_equal(np.sort(np.unique(pretraining)), ["2", "3"])
    assert finetuning is None  # the target alone
    zero = folds_of(ZeroShot(), y, meta, 1)[0]
    model = fit_transfer(est, X, y, zero, cache=path)
    loaded = type(est).load(path)
    aligned = model.named_steps["align"].transform(X[zero.test])
    # the target's statistics (from its training fold), not the sources'
    assert not np.allclose(model.predict_proba(X[zero.test]),
                           loaded.predict_proba(aligned))
    reference = model.named_steps["align"].transform(X[zero.reference])
    np.testing.assert_allclose(model.predict_proba(X[zero.test]),
                               loaded.adapt_domain(reference).predict_proba(aligned),
                               rtol=1e-5, atol=1e-6)
    assert tuned.named_steps["model"].domain_bn


def test_adapted_statistics_are_saved_and_pickled(tmp_path):
    import pickle

    X, y, subjects = _subjects_data(24)
    clf = tiny_clf(domain_bn=True, finetune_epoch0=True).fit(X, y, subjects=subjects)
    clf.adapt_domain(X[subjects == 2])
    clf.save(tmp_path / "m.pt")
    loaded = NeuroSketchClassifier.load(tmp_path / "m.pt")
    assert loaded.domain_bn and loaded.finetune_epoch0
    for other in (loaded, pickle.loads(pickle.dumps(clf))):
        np.testing.assert_array_equal(other.predict_proba(X), clf.predict_proba(X))
