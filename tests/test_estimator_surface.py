"""NeuroSketchClassifier's parameter surface: the augmentation parameter, its
deprecated keywords, the "auto" budget for small training sets, and load()."""

import warnings

import mne
import numpy as np
import pytest
import torch
from _outputs import assert_same_outputs
from braindecode.augmentation import SignFlip
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from skorch.callbacks import Callback

# _one_thread: the autouse fixture running these tiny networks on one thread.
from test_estimator import (  # noqa: F401
    TINY,
    _one_thread,
    noise_data,
    separable_task,
    tiny_clf,
    trained_clf,
)

from mne_neurosketch.augmentation import Mixup, RecipeAugmentation
from mne_neurosketch.estimator import NeuroSketchClassifier, auto_budget

RECIPE_PARTS = ["RandomShift", "SNRNoise", "ChannelMasking", "TimeMasking", "Mixup"]


def part_names(clf):
    return [type(t).__name__ for t in clf.net_.augmentation]


# ---------------------------------------------------------------------------
# One augmentation parameter
# ---------------------------------------------------------------------------
def test_augmentation_recipe_object_list_and_off():
    X, y = noise_data()
    recipe = tiny_clf(max_epochs=1).fit(X, y)
    assert part_names(recipe) == RECIPE_PARTS
    assert recipe.augmentation_.get_params() == RecipeAugmentation().get_params()
    light = RecipeAugmentation(mixup_p=0.0, channel_mask_p=0.0, noise_p=0.3)
    clf = tiny_clf(max_epochs=1, augmentation=light).fit(X, y)
    assert part_names(clf) == ["RandomShift", "SNRNoise", "TimeMasking"]
    assert clf.net_.augmentation[1].probability == 0.3
    assert clf.augmentation_ is not light  # a copy: later edits leave the fit alone
    flip = SignFlip(0.5, random_state=0)
    clf = tiny_clf(max_epochs=1, augmentation=[flip, Mixup(probability=1.0)]).fit(X, y)
    assert part_names(clf) == ["SignFlip", "Mixup"]
    assert clf.net_.augmentation[0] is not flip  # copied at each fit
    for off in (None, "off"):
        clf = tiny_clf(max_epochs=1, augmentation=off).fit(X, y)
        assert clf.net_.augmentation == [] and clf.augmentation_ is None
    for bad in ("paper", 0.5, [0.5]):
        with pytest.raises(ValueError, match=(
                r"Invalid value for the 'augmentation' parameter\. Allowed values are "
                r"'recipe', 'off', None, a RecipeAugmentation and a list")):
            tiny_clf(augmentation=bad).fit(X, y)


def test_recipe_fields_are_nested_parameters():
    X, y = noise_data(n=32)
    default = NeuroSketchClassifier().set_params(augmentation__mixup_p=0.2)
    assert default.augmentation.get_params() == RecipeAugmentation(
        mixup_p=0.2).get_params()
    with pytest.raises(ValueError, match=(
            r"augmentation__mixup_p sets a field of a RecipeAugmentation, but "
            r"augmentation=None\. Set augmentation=RecipeAugmentation")):
        NeuroSketchClassifier(augmentation=None).set_params(augmentation__mixup_p=0.2)
    clf = tiny_clf(max_epochs=1, augmentation=RecipeAugmentation())
    params = clf.get_params()
    assert params["augmentation__mixup_p"] == 0.5
    assert "mixup_p" not in params  # no longer a parameter of the estimator
    clf.set_params(augmentation__mixup_p=0.0, augmentation__time_mask_p=0.0)
    twin = clone(clf)
    assert twin.augmentation is not clf.augmentation
    assert twin.get_params()["augmentation__mixup_p"] == 0.0
    assert part_names(twin.fit(X, y)) == ["RandomShift", "SNRNoise", "ChannelMasking"]
    search = GridSearchCV(tiny_clf(max_epochs=1), {"augmentation__mixup_p": [0.0, 1.0]},
                          cv=StratifiedKFold(2, shuffle=True, random_state=0))
    search.fit(X, y)
    best = search.best_params_["augmentation__mixup_p"]
    assert search.best_estimator_.augmentation_.mixup_p == best
    assert ("Mixup" in part_names(search.best_estimator_)) == (best > 0)


# ---------------------------------------------------------------------------
# The keywords it replaces still work for one release
# ---------------------------------------------------------------------------
def test_deprecated_recipe_keywords_warn_and_train_the_same():
    X, y = noise_data()
    with pytest.warns(FutureWarning, match=(
            r"mixup_p=0\.0, noise_p=0\.0 are deprecated .* Pass augmentation="
            r"RecipeAugmentation\(mixup_p=0\.0, noise_p=0\.0\) instead")):
        old = tiny_clf(max_epochs=2, mixup_p=0.0, noise_p=0.0)
    new = tiny_clf(max_epochs=2, augmentation=RecipeAugmentation(mixup_p=0.0,
                                                                 noise_p=0.0))
    assert old.get_params()["augmentation__mixup_p"] == 0.0
    np.testing.assert_array_equal(old.fit(X, y).predict_proba(X),
                                  new.fit(X, y).predict_proba(X))
    with pytest.warns(FutureWarning, match="augmentation.shift_p"):
        assert old.shift_p == 0.5
    with pytest.warns(FutureWarning, match=r"shift_p=0\.1 are deprecated"):
        old.set_params(shift_p=0.1)
    assert old.augmentation.get_params()["shift_p"] == 0.1
    assert old.augmentation.mixup_p == 0.0  # the earlier fields are kept
    with pytest.warns(FutureWarning, match=r"Pass augmentation=\[SignFlip"):
        clf = tiny_clf(max_epochs=1, transforms=[SignFlip(0.5)])
    assert part_names(clf.fit(X, y)) == ["SignFlip", "Mixup"]  # mixup stayed on
    with pytest.raises(TypeError, match="unexpected keyword argument 'mixup'"):
        tiny_clf(mixup=0.5)
    with pytest.raises(ValueError, match=r"which augmentation=None does not use"):
        tiny_clf(augmentation=None, mixup_p=0.5)


# ---------------------------------------------------------------------------
# The "auto" budget for small training sets
# ---------------------------------------------------------------------------
class _StopAfterFirstBatch(Callback):
    """Ends training after one batch (skorch stops on KeyboardInterrupt): the
    test reads the budget the net was built with, not its training."""

    def on_batch_end(self, net, **kwargs):
        raise KeyboardInterrupt


def _auto_fit(n_trials, **params):
    X, y = noise_data(n=n_trials, n_chans=2, n_times=32)
    # compile=False: 4000 trials make 31,500 steps, where "auto" would compile
    # the step for the one batch this test trains
    params = {"max_epochs": "auto", "batch_size": "auto", "compile": False, **params}
    clf = tiny_clf(verbose="INFO", callbacks=[("stop", _StopAfterFirstBatch())],
                   **params)
    with mne.utils.catch_logging() as log:
        clf.fit(X, y)
    return clf, log.getvalue()


def test_auto_budget_on_a_small_training_set():
    clf, log = _auto_fit(120)  # a Kalunga2016 subject's size
    assert (clf.max_epochs_, clf.batch_size_) == (100, 16)
    assert clf.net_.max_epochs == 100
    assert clf.net_.iterator_train__batch_size == 16
    assert "120 training trials: max_epochs=100, batch_size=16 (the 'auto'" in log
    assert clf.augmentation_.get_params() == RecipeAugmentation().get_params()
    # explicit values override the rule, each on its own
    clf, log = _auto_fit(120, max_epochs=7)
    assert (clf.max_epochs_, clf.batch_size_) == (7, 16)
    assert "120 training trials: batch_size=16 (the 'auto' rule" in log
    # fewer trials than the rule's batch: the batch is the training set, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        X, y = noise_data(n=10)
        clf = tiny_clf(max_epochs=1, batch_size="auto").fit(X, y)
    assert clf.batch_size_ == 16
    assert [b["train_batch_size"] for b in clf.history_[-1, "batches"]] == [10]


def test_auto_budget_on_a_large_training_set_is_the_papers():
    clf, log = _auto_fit(4000)
    assert (clf.max_epochs_, clf.batch_size_) == (500, 64)
    assert clf.net_.max_epochs == 500
    assert clf.net_.iterator_train__batch_size == 64
    assert "4000 training trials: max_epochs=500, batch_size=64" in log
    assert NeuroSketchClassifier().get_params()["max_epochs"] == "auto"
    with pytest.raises(ValueError, match=(
            r"'batch_size' parameter\. Allowed values are 'auto' and positive "
            r"integers, but got 'big' instead")):
        tiny_clf(batch_size="big").fit(*noise_data())


def test_auto_batch_grows_with_the_training_set():
    # about 16 batches an epoch, from 16 to the paper's 64 (powers of two)
    sizes = {64: 16, 256: 16, 400: 32, 600: 32, 800: 64, 999: 64, 1000: 64}
    for n, batch in sizes.items():
        assert auto_budget(n) == (100 if n < 1000 else 500, batch), n
    batches = [auto_budget(n)[1] for n in range(1, 3000)]
    assert batches == sorted(batches)  # never smaller for more trials


# ---------------------------------------------------------------------------
# load() rebuilds what the file states
# ---------------------------------------------------------------------------
def _net_settings(net):
    schedule = net.callbacks[0][1].kwargs["lr_lambda"]
    return dict(max_epochs=net.max_epochs, batch_size=net.batch_size,
                train_batch=net.iterator_train__batch_size,
                drop_last=net.iterator_train__drop_last, schedule=repr(schedule),
                augmentation=repr(net.augmentation), freeze=net.freeze,
                finetune_lr_scale=net.finetune_lr_scale)


def _plain_params(clf):
    params = clf.get_params(deep=False)
    params["augmentation"] = params["augmentation"].get_params()
    return params


def test_load_rebuilds_the_saved_fit(tmp_path):
    X, y = separable_task(60)
    Xt, yt = separable_task(12, seed=1)
    recipe = RecipeAugmentation(mixup_p=0.0, shift_max=3)
    clf = tiny_clf(max_epochs=10, lr=1e-2, batch_size="auto", augmentation=recipe,
                   valid_size=0.2, freeze="body", finetune_lr_scale=0.5,
                   finetune_epochs=1)
    clf.fit(X, y, X_target_labeled=Xt, y_target_labeled=yt)  # ends fine-tuning
    clf.save(tmp_path / "clf.pt")
    loaded = NeuroSketchClassifier.load(tmp_path / "clf.pt")
    assert _plain_params(loaded) == _plain_params(clf)
    assert (loaded.max_epochs_, loaded.batch_size_) == (10, 16)
    assert loaded.augmentation_.get_params() == recipe.get_params()
    assert _net_settings(loaded.net_) == _net_settings(clf.net_)
    assert loaded.net_.freeze == "body" and loaded.net_.max_epochs == 1
    assert_same_outputs(loaded.predict_proba(X), clf.predict_proba(X))
    # refitting the loaded estimator trains like the original
    X2, y2 = separable_task(60, seed=2)
    assert_same_outputs(clone(loaded).fit(X2, y2).predict_proba(X2),
                        clone(clf).fit(X2, y2).predict_proba(X2))


def test_load_a_version_2_file_with_recipe_keywords(tmp_path):
    X, y = separable_task()
    clf = trained_clf(X, y, augmentation=RecipeAugmentation(noise_p=0.0))
    clf.save(tmp_path / "clf.pt")
    data = torch.load(tmp_path / "clf.pt", weights_only=True)
    params = {k: v for k, v in data["params"].items() if k != "augmentation"}
    params.update(RecipeAugmentation(noise_p=0.0).get_params(), transforms=None)
    params["noise_snr"] = {"__tuple__": [15.0, 30.0]}
    v2 = {k: v for k, v in data.items() if k != "fit"}
    torch.save({**v2, "version": 2, "params": params}, tmp_path / "v2.pt")
    loaded = NeuroSketchClassifier.load(tmp_path / "v2.pt")
    assert loaded.augmentation.get_params() == RecipeAugmentation(
        noise_p=0.0).get_params()
    assert_same_outputs(loaded.predict_proba(X), clf.predict_proba(X))
    damaged = {**data, "fit": {k: v for k, v in data["fit"].items()
                               if k != "net_args"}}
    torch.save(damaged, tmp_path / "damaged.pt")
    with pytest.raises(ValueError, match=r"damaged\.pt has an incomplete 'fit' field"):
        NeuroSketchClassifier.load(tmp_path / "damaged.pt")


# ---------------------------------------------------------------------------
# Metadata routing (MOABB's evaluations route ``subjects``)
# ---------------------------------------------------------------------------
def test_unused_metadata_is_not_requested():
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from mne_neurosketch.alignment import EuclideanAlignment

    X, y = noise_data(n=20)
    subjects = np.repeat([1, 2], 10)
    request = tiny_clf().get_metadata_routing().fit.requests
    assert request["subjects"] is False and request["X_target_unlabeled"] is False
    with sklearn.config_context(enable_metadata_routing=True):
        aligner = EuclideanAlignment().set_fit_request(subjects=True)
        pipe = make_pipeline(aligner, tiny_clf(max_epochs=1)).fit(X, y, subjects=subjects)
        assert pipe[-1].classes_.tolist() == [0, 1]
        # alone, it refuses 'subjects' as a scikit-learn classifier does
        for final in (tiny_clf(max_epochs=1), LogisticRegression()):
            with pytest.raises(TypeError, match="not routed to any object"):
                make_pipeline(final).fit(X.reshape(20, -1) if isinstance(
                    final, LogisticRegression) else X, y, subjects=subjects)
