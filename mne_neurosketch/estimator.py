"""NeuroSketchClassifier: the paper's training recipe behind sklearn's fit/predict.

This file is the scikit-learn face. The work is done in the rooms of
:mod:`mne_neurosketch._estimator` (``doc/architecture.rst`` draws the flow):
``inputs`` (any accepted X to validated trials), ``params`` (what each
parameter accepts), ``net`` (the skorch net, its loader, seeds),
``finetune`` (pretrained weights as a skorch callback), ``persistence`` (the
save format), ``deprecated`` (keywords to delete); the numeric path comes from
:mod:`mne_neurosketch.numerics`, the network from the model registry.
"""

# License: BSD (3-clause)

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.dataset import Dataset as _SkorchDataset

from ._estimator import persistence
from ._estimator.deprecated import (
    augmentation_from_deprecated,
    deprecated_attribute,
    fold_deprecated_params,
    hide_deprecated_keywords,
)
from ._estimator.domain import recompute_statistics
from ._estimator.finetune import LoadPretrained, Pretrained, starting_weights, weights_of
from ._estimator.inputs import (
    described_subjects,
    encode_labels,
    first_trials,
    fit_trials,
    fitted_trials,
    resolve_scaling,
)
from ._estimator.net import (
    RecipeNet,
    Seeds,
    _Loader,  # noqa: F401 (a name pickles refer to, as _log_info, _softmax)
    _log_info,  # noqa: F401
    _softmax,  # noqa: F401
    build_net,
    train,
)
from ._estimator.params import check_params, is_auto
from .augmentation import resolve_augmentation
from .models.registry import module_init_kwargs
from .numerics import cpu_fast_path, inference_dtype, resolve_device
from .utils import _check_subjects, _log_level, logger, warn

__all__ = ["NeuroSketchClassifier", "auto_budget"]

# Pickles written before the estimator had rooms name these here.
_RecipeNet, _Seeds = RecipeNet, Seeds

#: From this many training trials on, "auto" keeps the paper's 500 epochs
#: (tuned on corpora of about 10,000 windows); below, 100.
_SMALL_DATA = 1000
#: "auto" batch sizes: the power of two nearest n_trials / 16 (about 16
#: batches an epoch), within these bounds (64 is the paper's).
_AUTO_BATCH = (16, 64)


def auto_budget(n_trials):
    """The ``max_epochs`` and ``batch_size`` that ``"auto"`` resolves to.

    The batch grows with the training set, about 16 batches an epoch: 16 up
    to about 360 trials (Kalunga2016's 64-128 per subject), 32, then the
    paper's 64 from about 720 (Muse P300's sessions of about 1,000 trials).
    Epochs are 100 below 1,000 trials and the paper's 500 from there.
    ``benchmarks/bench_defaults.py`` chose it against the previous rule
    (batches of 16 below 1,000 trials) on the networks' inner validation
    accuracy, over seeds, on Kalunga2016, Muse P300 (whole sessions and
    sub-sampled to 256 and 64 trials) and a simulated SEED-DV: the two rules
    are the same fit on all but the whole Muse P300 sessions, where batches
    of 64 scored higher and varied less, over seeds and between bf16 and fp32
    (``benchmarks/results/defaults/``).

    Parameters
    ----------
    n_trials : int
        Trials passed to :meth:`NeuroSketchClassifier.fit` (before the
        validation hold-out).

    Returns
    -------
    max_epochs, batch_size : int
        The budget.
    """
    low, high = _AUTO_BATCH
    batch = 2 ** int(np.round(np.log2(max(n_trials, 1) / 16)))
    return (100 if n_trials < _SMALL_DATA else 500), int(np.clip(batch, low, high))


class NeuroSketchClassifier(ClassifierMixin, BaseEstimator):
    """NeuroSketch (or any braindecode model) trained with the paper's recipe.

    A scikit-learn classifier wrapping :class:`braindecode.EEGClassifier`
    (skorch). Each :meth:`fit` builds a new network sized from the data
    (``n_chans``, ``n_times``, number of classes), holds out a stratified
    validation split, and trains with the recipe of Zhang et al. (2025):
    AdamW, linear warm-up then cosine decay per step, one-hot targets with
    BCE-with-logits, mixup, random shift, additive noise, channel and time
    masking; early stopping restores the best weights. Any braindecode model
    trains with the same recipe, which keeps benchmarks fair.

    Parameters
    ----------
    module : str | type, default="NeuroSketch"
        The network: ``"NeuroSketch"`` (preset ``"base"``),
        ``"NeuroSketchLarge"`` (preset ``"large"``), ``"NeuroSketchSD"``, any
        braindecode model name (``"EEGNet"``, ``"ShallowFBCSPNet"``, ... from
        ``braindecode.models.util.models_dict``) or an :class:`torch.nn.Module`
        class taking ``n_chans``, ``n_outputs`` and ``n_times``.
    module_kwargs : dict | None
        Extra keyword arguments of the module, e.g. ``{"preset": "large"}``
        or ``{"drop_prob": 0.1}``. ``n_chans``, ``n_times`` and ``n_outputs``
        come from the data.
    max_epochs : int | "auto", default="auto"
        Maximum number of passes over the training set. ``"auto"`` chooses
        from the number of training trials (see Notes): 500, the paper's, for
        1000 trials or more; 100 below.
    batch_size : int | "auto", default="auto"
        Training and prediction batch size. ``"auto"``: about a sixteenth of
        the training trials, a power of two from 16 to the paper's 64 (see
        Notes and :func:`auto_budget`). When the training
        set is smaller, training uses it whole as one batch, with a warning
        for an explicit batch size (as scikit-learn's ``MLPClassifier`` clips
        its batch size).
    lr : float, default=1e-3
        Peak learning rate of AdamW.
    weight_decay : float, default=0.05
        AdamW weight decay, applied to weights with two or more dimensions
        (not to biases and normalisation parameters).
    warmup_ratio : float, default=0.1
        Fraction of the training steps with a linear learning-rate warm-up,
        followed by a cosine decay to zero at ``max_epochs``.
    max_grad_norm : float | None, default=1.0
        Gradient-norm clipping (the Hugging Face trainer default the reference
        runs with). ``None`` disables it.
    augmentation : "recipe" | RecipeAugmentation | list | None, default="recipe"
        The training-time augmentations. ``"recipe"``: the paper's (random
        shift, noise, channel and time masking, mixup; the values of
        :class:`~mne_neurosketch.augmentation.RecipeAugmentation`). A
        :class:`~mne_neurosketch.augmentation.RecipeAugmentation` sets their
        parameters, e.g. ``RecipeAugmentation(mixup_p=0)``; its fields are
        nested parameters (``set_params(augmentation__mixup_p=0.2)``, a grid
        search over ``augmentation__mixup_p``). A list of braindecode
        transforms (and those of :mod:`mne_neurosketch.augmentation`, whose
        :class:`~mne_neurosketch.augmentation.Mixup` goes last) is used as it
        is, copied at each fit. ``None`` or ``"off"`` trains without
        augmentation. The deprecated keywords ``mixup_p``, ... ``time_mask_len``
        and ``transforms`` still work in this release, with a warning.
    callbacks : list | None
        Extra :mod:`skorch.callbacks` (instances or ``(name, callback)``
        tuples) run after the recipe's own (learning-rate schedule, gradient
        clipping, early stopping), e.g. :class:`skorch.callbacks.Checkpoint`
        or :class:`skorch.callbacks.EpochScoring`. Copied at each fit.
    valid_size : float | int | None, default=0.2
        Fraction (or number) of the training trials held out, stratified and
        seeded, for early stopping and for choosing the best epoch. ``None``
        trains on everything for ``max_epochs``.
    patience : int | None, default=100
        Epochs without improvement of ``monitor`` before stopping. ``None``
        never stops early but still restores the best epoch's weights.
    monitor : {"valid_acc", "valid_loss"}, default="valid_acc"
        Validation metric that selects the best epoch (the paper uses top-1
        accuracy).
    sfreq : float | None
        Sampling frequency, passed to models that accept ``sfreq``. Taken
        from :class:`mne.Epochs` or braindecode datasets when ``None``.
    units : dict | None
        Units per channel type for :class:`mne.Epochs` input, e.g.
        ``{"ecog": "mV"}``; by default voltage channels are in µV and MEG in
        fT and fT/cm.
    scaling : "auto" | float | None, default="auto"
        Factor the trials are multiplied by (in fit and predict). ``"auto"``
        multiplies by 1e6 when the training trials' standard deviation is
        below 1e-2, i.e. when they look like volts (as MOABB paradigms and
        MNE return them): BatchNorm layers cannot learn from volt-scale
        signals. ``None`` leaves the trials as they are.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``
        or ``"cuda:N"``.
    amp : "auto" | "bf16" | bool, default="auto"
        bf16 autocast of training and prediction. ``"auto"`` decides from
        what the device is, never from a timing
        (:mod:`mne_neurosketch.numerics`): bf16 on CUDA devices that support
        it; on CPUs with bf16 units (AVX512-BF16, AMX), bf16 for this
        package's models when their gradients in bf16 agree with fp32's on
        the first training trials, fp32 for braindecode's models; fp32 on
        other CPUs, where bf16 is emulated and many times slower. Prediction
        runs in the dtype the network trained in. ``train_path_`` and
        ``inference_path_`` say what was taken (:meth:`save` records them);
        ``False`` gives fp32 everywhere, ``True`` or ``"bf16"`` bf16.
    channels_last : "auto" | bool, default="auto"
        Channels-last memory format for 4-D weights (``"auto"``: on CUDA).
    compile : "auto" | bool, default="auto"
        Run the training step through :func:`torch.compile`. ``"auto"``
        compiles when the fit has at least ``COMPILE_MIN_STEPS`` (2000)
        optimizer steps (``max_epochs`` x batches per epoch), enough to earn
        back the compilation time; ``True``/``False`` force it.
    random_state : int | numpy.random.RandomState | None
        Seeds weight initialisation, shuffling, the validation split and the
        augmentations for each fit. With an int, two fits on a CPU give
        identical predictions. ``None`` draws a new seed each fit.
    verbose : bool | str | int | None
        MNE-style log level for this estimator's calls (``None``: the current
        MNE level). At ``"INFO"`` an epoch table is logged.
    warm_start : bool, default=False
        When ``True`` and the estimator is fitted (or was loaded with
        :meth:`load`), :meth:`fit` continues from the current weights instead
        of a new initialisation, as in scikit-learn. That run is a
        fine-tuning run (see Notes).
    init_weights : str | path-like | NeuroSketchClassifier | dict | None
        Pretrained weights a fit starts from when it does not warm start: a
        file written by :meth:`save` (or by ``torch.save(model.state_dict())``),
        a fitted ``NeuroSketchClassifier``, or a state dict (parameter name ->
        tensor) of the same module built with the same ``module_kwargs``. Such
        a fit is a fine-tuning run (see Notes). :func:`sklearn.base.clone`
        (cross-validation, MOABB) resets an estimator passed here; pass a file
        or a state dict to cross-validate.
    freeze : "body" | list of str | None
        Parameters not trained in fine-tuning runs: ``"body"`` (all but the
        head, the parameters under a ``final_layer``, which braindecode
        classifiers have) or parameter-name prefixes such as ``["stem",
        "blocks.0"]``. ``None`` trains everything.
    finetune_lr_scale : float, default=1.0
        Factor on ``lr`` for the body's (non-``final_layer``) parameters in
        fine-tuning runs, e.g. ``0.1`` to move early layers ten times slower
        than the head.
    finetune_epochs : int | None
        Epochs of a fine-tuning run (``None``: ``max_epochs``). Fine-tuning on
        a subject's few calibration trials customarily takes a small budget,
        e.g. 20-50 epochs.
    finetune_epoch0 : bool, default=False
        In fine-tuning runs with a validation split, let the pretrained
        weights compete as "epoch 0": they are scored on the validation split
        before the first epoch and kept when no fine-tuning epoch beats them
        (``finetune_epoch_`` says which epoch was kept). On a subject whose
        few calibration trials would pull the network away from a good
        pretrained model, fine-tuning then cannot make it worse on the
        validation split.
    domain_bn : bool, default=False
        Per-subject BatchNorm statistics (domain-specific batch
        normalisation, with shared affine parameters): with ``subjects`` in
        :meth:`fit` (or a braindecode dataset whose description names each
        recording's ``"subject"``), every training batch holds one subject's
        trials, so each subject is normalised by its own statistics; after
        training, the running statistics used to predict are recomputed on
        ``X_target_unlabeled`` (the unlabelled trials of the subject to
        predict) when given, else on the training trials. :meth:`adapt_domain`
        recomputes them on another subject's unlabelled trials. It needs a
        module with BatchNorm layers, as NeuroSketch has. Under metadata
        routing, it requests ``subjects`` and ``X_target_unlabeled``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of channels (``n_times`` for 2-D input, seen as one channel).
    n_chans_, n_times_ : int
        Shape of the trials the network was built for.
    n_bands_ : int
        Filter-bank bands of the trials (``X.shape[-1]`` of a 4-D ``X`` from
        a MOABB filter-bank paradigm), 1 for a plain signal. It sets the
        network's ``n_bands`` unless ``module_kwargs`` does.
    ch_names_ : list of str | None
        Channel names of :class:`mne.Epochs` training data (``None`` for
        arrays and datasets). Epochs passed to :meth:`predict` are matched to
        them by name: reordered when their channels differ in order, an error
        when some are missing.
    sfreq_ : float | None
        Sampling frequency used, if known.
    scaling_ : float
        Factor applied to the trials (see ``scaling``).
    max_epochs_, batch_size_ : int
        ``max_epochs`` and ``batch_size`` of the last fit, ``"auto"`` resolved.
    augmentation_ : RecipeAugmentation | list | None
        The augmentation of the last fit (``"recipe"`` resolved to a
        :class:`~mne_neurosketch.augmentation.RecipeAugmentation`).
    net_ : braindecode.EEGClassifier
        The trained skorch net (its module is ``net_.module_``).
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Per-epoch training history (of the fine-tuning on ``X_target_labeled``
        when :meth:`fit` had one).
    finetune_epoch_ : int | None
        With ``finetune_epoch0``, the epoch a fine-tuning run kept (0: the
        pretrained weights); ``None`` otherwise.
    n_finetune_trials_ : int
        Number of labeled target trials (``X_target_labeled``) the network was
        fine-tuned on in the last :meth:`fit`; 0 without.
    train_path_ : str
        How the last fit trained, e.g. ``"cpu: bf16+compile"`` or
        ``"cuda: bf16+channels_last+fused AdamW+compile"`` (see ``amp`` and
        ``compile``).
    inference_path_ : str
        How :meth:`predict` computes, e.g. ``"cpu: fused+channels_last+bf16"``:
        BatchNorm folded into the convolutions, under
        :func:`torch.inference_mode`, bf16 where it was chosen as for ``amp``
        (:func:`~mne_neurosketch.inference.choose_inference_path`).

    See Also
    --------
    mne_neurosketch.NeuroSketch, braindecode.EEGClassifier

    Notes
    -----
    Small training sets: ``max_epochs="auto"`` and ``batch_size="auto"``
    follow the number of trials passed to :meth:`fit` (before the validation
    hold-out), through :func:`auto_budget`. From 1000 trials on, they are the
    paper's (500 epochs, batches of 64), tuned on corpora of about 10,000
    windows. Below, 100 epochs, and batches of about a sixteenth of the
    trials, from 16 (a subject of Kalunga2016: 64-128 trials, where batches
    of 64 would make an epoch one or two optimiser steps) to 64 (a Muse P300
    session of about 1,000 trials, where batches of 16 scored lower and
    swung more between bf16 and fp32: ``benchmarks/bench_defaults.py``).
    The recipe's augmentations are kept: without them, NeuroSketch on
    Kalunga2016 subjects 1-3 scored 41 % against 50 % with them
    (``benchmarks/results/kalunga2016/``). The chosen values are logged and
    kept in ``max_epochs_`` and ``batch_size_``; pass numbers to override the
    rule.

    What to pass on a small SSVEP or ERP dataset (the defaults cannot know
    it from an array): when training on other subjects' trials, their
    ``subjects`` with ``domain_bn=True`` after
    :class:`~mne_neurosketch.alignment.EuclideanAlignment` (Kalunga2016
    transfer: 64.9 % against 58.3 %, 11 subjects, p = 0.014; Muse P300's
    4 subjects: 54.2 % against 54.3 % ROC-AUC); for SSVEP, the
    filter bank of MOABB's ``FilterBankSSVEP`` (67.1 % with both) or,
    trained on the target alone,
    :class:`~mne_neurosketch.representations.HarmonicBands` at the
    stimulation frequencies before the estimator (Kalunga2016
    within-session: 54.9 % against 50.7 %, p = 0.065); for ERPs,
    :class:`~mne_neurosketch.representations.ERPPrototypes` before the
    estimator (Muse P300: 61.0 % ROC-AUC against 58.6 %, 4 subjects, not
    significant); when pretraining on other subjects and fine-tuning,
    ``monitor="valid_loss"`` in both runs (Kalunga2016 filter bank: 68.1 %
    against 67.1 %, level with MDM's 68.3 %; Muse P300, whose targets are
    rare: 59.1 % against 54.3 % ROC-AUC; neither significant, and
    within-session it moved little, so the default stays).
    ``finetune_epoch0`` did not pay (it cost 2.2 points of Muse P300
    transfer, and with ``monitor="valid_loss"`` moved nothing) and an
    ensemble of 3 seeds paid only where each network was noisy (Kalunga2016
    within-session at 20 epochs: 36.9 % against 33.5 %); both stay off
    (``benchmarks/results/*/levers/``).

    Inputs: arrays ``(n_trials, n_chans, n_times)`` (or ``(n_trials,
    n_times)``, one channel), :class:`mne.Epochs` (data channels of any types
    mixed, converted with ``units``; labels from ``y`` or, when ``y`` is
    ``None``, from the event names), and braindecode windows datasets
    (``y=None``, loaded into memory). Augmentations are the transforms of
    :mod:`mne_neurosketch.augmentation`, applied on the training device.

    Fine-tuning and transfer: a training run that starts from pretrained
    weights (``warm_start``, ``init_weights``, or the target phase of
    :meth:`fit` with ``X_target_labeled``) is a fine-tuning run: it trains for
    ``finetune_epochs`` with ``freeze`` and ``finetune_lr_scale`` applied
    (through the AdamW parameter groups, weight decay still skipping biases
    and normalisation parameters) and the same recipe otherwise. When the
    classes differ from the pretrained ones, the body is kept and the head
    (``final_layer``) re-initialised, which is logged. BatchNorm running
    statistics of frozen layers still adapt to the new data (they are
    buffers, not parameters). Runs that start from a new initialisation
    ignore these three settings.
    """

    #: Metadata fit accepts but does not use is not requested by default, so
    #: that a Pipeline under scikit-learn's metadata routing (as MOABB's
    #: evaluations run it) does not stop on it; a step that uses it (an
    #: alignment) requests it itself.
    __metadata_request__fit = {"subjects": False, "X_target_unlabeled": False}

    def _get_metadata_request(self):
        # domain_bn uses them: requested, as an alignment requests them
        requests = super()._get_metadata_request()
        if self.domain_bn:
            for name in ("subjects", "X_target_unlabeled"):
                if requests.fit.requests.get(name) is False:
                    requests.fit.add_request(param=name, alias=True)
        return requests

    @hide_deprecated_keywords
    def __init__(self, module="NeuroSketch", *, module_kwargs=None, max_epochs="auto",
                 batch_size="auto", lr=1e-3, weight_decay=0.05, warmup_ratio=0.1,
                 max_grad_norm=1.0, augmentation="recipe", callbacks=None,
                 valid_size=0.2, patience=100, monitor="valid_acc", sfreq=None,
                 units=None, scaling="auto", device="auto", amp="auto",
                 channels_last="auto", compile="auto", random_state=None, verbose=None,
                 warm_start=False, init_weights=None, freeze=None, finetune_lr_scale=1.0,
                 finetune_epochs=None, finetune_epoch0=False, domain_bn=False,
                 **deprecated):
        self.module = module
        self.module_kwargs = module_kwargs
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.max_grad_norm = max_grad_norm
        self.augmentation = augmentation_from_deprecated(augmentation, deprecated)
        self.callbacks = callbacks
        self.valid_size = valid_size
        self.patience = patience
        self.monitor = monitor
        self.sfreq = sfreq
        self.units = units
        self.scaling = scaling
        self.device = device
        self.amp = amp
        self.channels_last = channels_last
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.init_weights = init_weights
        self.freeze = freeze
        self.finetune_lr_scale = finetune_lr_scale
        self.finetune_epochs = finetune_epochs
        self.finetune_epoch0 = finetune_epoch0
        self.domain_bn = domain_bn

    # -- scikit-learn plumbing ---------------------------------------------
    def set_params(self, **params):
        """Set the parameters of this estimator.

        Parameters
        ----------
        **params : dict
            Estimator parameters, and those of a
            :class:`~mne_neurosketch.augmentation.RecipeAugmentation` as
            ``augmentation__<field>`` (with ``augmentation="recipe"``, on a
            new one holding the recipe's values). The deprecated recipe keywords
            (``mixup_p``...) are still accepted, with a warning.

        Returns
        -------
        self : NeuroSketchClassifier
            This estimator.
        """
        return super().set_params(**fold_deprecated_params(params, self.augmentation))

    def __getattr__(self, name):
        return deprecated_attribute(self, name)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        return tags

    def _log_level(self):
        return _log_level(self.verbose)

    @property
    def module_(self):
        """The trained network (``net_.module_``)."""
        check_is_fitted(self, "net_")
        return self.net_.module_

    # -- fit ---------------------------------------------------------------
    def fit(self, X, y=None, *, X_valid=None, y_valid=None, X_target_labeled=None,
            y_target_labeled=None, subjects=None, X_target_unlabeled=None):
        """Build a new network and train it with the recipe.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_chans, n_times) | mne.Epochs | Dataset
            Training trials. A 2-D array is read as ``(n_trials, n_times)``
            with one channel; a 4-D array ``(n_trials, n_chans, n_times,
            n_bands)``, as MOABB's filter-bank paradigms return, is a filter
            bank (the network gets ``n_bands``, one input plane per band).
            A braindecode windows dataset (or any torch
            dataset yielding ``(X, y, ...)``) is streamed: its windows are read
            batch by batch by DataLoader workers (``MNE_NEUROSKETCH_NUM_WORKERS``),
            never stacked in memory.
        y : array-like of shape (n_trials,) | None
            Labels (integers or strings). ``None`` for datasets (their
            targets) and for Epochs (their event names).
        X_valid, y_valid : array-like | mne.Epochs | None
            A predefined validation set for early stopping, used instead of
            holding out ``valid_size`` of ``X``.
        X_target_labeled, y_target_labeled : array-like | mne.Epochs | None
            Labeled calibration trials of a target subject (MOABB's
            ``CrossSubjectEvaluation`` with ``cv_kwargs={"calibration_size":
            ..., "calibration_labeled": True}`` routes them when requested with
            ``set_fit_request``). After training on ``X``, the network is
            fine-tuned on them (a fine-tuning run, see Notes), without a
            validation split. Their labels must be among ``y``'s. MOABB routes
            them raw: after a signal-changing step (alignment), list them in
            the pipeline's ``transform_input`` so that they pass through it.
        subjects : array-like of shape (n_trials,) | None
            The subject of each trial of ``X``, as MOABB routes it. With
            ``domain_bn``, each training batch holds one subject's trials
            (``None``: for a braindecode dataset ``X``, the ``"subject"`` of
            its description, if it has one);
            otherwise checked for length and ignored (per-subject alignment is
            the job of a transform such as
            :class:`~mne_neurosketch.alignment.EuclideanAlignment`).
        X_target_unlabeled : array-like | None
            Unlabeled trials of the subject to predict, as MOABB routes them.
            With ``domain_bn``, the BatchNorm statistics are theirs (see
            :meth:`adapt_domain`); otherwise ignored (alignment transforms use
            them).

        Returns
        -------
        self : NeuroSketchClassifier
            The fitted estimator.
        """
        with self._log_level():
            check_params(self)
            start = starting_weights(self)  # before this fit resets classes_
            trials = fit_trials(self, X, y)
            self._set_data_attributes(trials)
            y = self._set_classes(trials.y)
            if self.domain_bn and subjects is None:
                subjects = described_subjects(trials.X)
            _check_subjects(subjects, len(y))
            rng = check_random_state(self.random_state)
            seeds = Seeds.draw(rng)
            self.scaling_ = resolve_scaling(self.scaling, trials.X)
            self._resolve_budget(len(y))
            self.augmentation_ = resolve_augmentation(self.augmentation)
            X_tr, y_tr, X_va, y_va, groups = self._split(
                trials.X, y, X_valid, y_valid, seeds.split, subjects)
            target = self._target_trials(X_target_labeled, y_target_labeled)
            start = None if start is None else LoadPretrained(start, self.classes_)
            net = self._build_net(
                batch_size=self._train_batch_size(len(y), len(y_tr), y_va, X_valid),
                n_train=len(y_tr), seeds=seeds, start=start,
                valid_ds=None if X_va is None else _SkorchDataset(X_va, y_va),
                check_trials=first_trials(X_tr),
                groups=groups if self.domain_bn else None)
            self._log_training(net, start, len(y_tr), y_va)
            self._use(train(net, X_tr, y_tr, seeds.init), n_finetune=0)
            if target is not None:
                # Drawn after the source seeds, which stay those of a plain fit.
                self._finetune_on_target(*target, Seeds.draw(rng))
            if self.domain_bn:
                if X_target_unlabeled is None:
                    self._domain_statistics(trials.X, "the training trials")
                else:
                    self._domain_statistics(fitted_trials(
                        self, X_target_unlabeled, name="X_target_unlabeled").X,
                        "X_target_unlabeled")
            self.inference_path_ = self._prepare_inference()
        return self

    def _domain_statistics(self, X, what):
        """domain_bn: the BatchNorm statistics become those of the trials ``X``."""
        if not recompute_statistics(self.net_, self._scale(X), what=what):
            raise ValueError(
                f"domain_bn=True needs BatchNorm layers, but {self.module!r} has "
                "none. Use a module with BatchNorm (NeuroSketch) or domain_bn=False.")

    def adapt_domain(self, X):
        """Set the BatchNorm statistics to those of a subject's unlabelled trials.

        Domain-specific normalisation at test time (AdaBN): the network
        normalises the subject it is about to predict by that subject's own
        statistics. Use it on a model trained with ``domain_bn=True`` before
        predicting a new subject; the labels are never needed.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_chans, n_times) | mne.Epochs
            Unlabelled trials of the subject to predict, shaped like the
            training trials (e.g. its calibration trials; never the trials
            being scored if they must stay unseen).

        Returns
        -------
        self : NeuroSketchClassifier
            The estimator, its statistics replaced.
        """
        check_is_fitted(self, "net_")
        with self._log_level():
            self._domain_statistics(fitted_trials(self, X, name="X").X,
                                    "the trials passed to adapt_domain")
            self.inference_path_ = self._prepare_inference()
        return self

    def _set_data_attributes(self, trials):
        self.ch_names_ = trials.ch_names
        self.n_chans_, self.n_times_ = int(trials.X.shape[1]), int(trials.X.shape[2])
        self.n_bands_ = int(trials.X.shape[3]) if len(trials.X.shape) == 4 else 1
        self.sfreq_ = self.sfreq if self.sfreq is not None else trials.sfreq

    def _set_classes(self, y):
        """Set ``classes_``; return ``y`` encoded."""
        self.label_encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.label_encoder_.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes to train, but "
                f"y contains only one class: {self.classes_[0]!r}.")
        return self.label_encoder_.transform(y)

    def _scale(self, X):
        return X if self.scaling_ == 1.0 else X * np.float32(self.scaling_)

    def _split(self, X, y, X_valid, y_valid, seed, subjects=None):
        """Scaled training and validation trials (``X_valid`` or a hold-out),
        and the subjects of the training trials (or None)."""
        if X_valid is None and y_valid is not None:
            raise ValueError(
                "y_valid was given without X_valid. Pass both for a predefined "
                "validation set, or neither to hold out valid_size of X.")
        if X_valid is not None:
            valid = fitted_trials(self, X_valid, y_valid, name="X_valid")
            y_va = encode_labels(self, valid.y, "X_valid")
            if len(y_va) != len(valid.X):
                raise ValueError(
                    f"X_valid has {len(valid.X)} trials and y_valid {len(y_va)} "
                    "labels. Pass one label per trial.")
            return self._scale(X), y, self._scale(valid.X), y_va, subjects
        if self.valid_size is None:
            return self._scale(X), y, None, None, subjects
        groups = np.zeros(len(y)) if subjects is None else np.asarray(subjects)
        try:
            # the same split as without subjects: it depends on y alone
            X_tr, X_va, y_tr, y_va, groups, _ = train_test_split(
                X, y, groups, test_size=self.valid_size, stratify=y, random_state=seed)
        except ValueError as err:
            raise ValueError(
                f"Cannot hold out a stratified validation split with "
                f"valid_size={self.valid_size!r} from {len(y)} trials of "
                f"{len(self.classes_)} classes ({err}). Each class needs at least "
                "2 trials and the split at least one trial per class; increase "
                "valid_size, or pass valid_size=None to train without early stopping."
            ) from None
        return (self._scale(X_tr), y_tr, self._scale(X_va), y_va,
                None if subjects is None else groups)

    def _target_trials(self, X_target_labeled, y_target_labeled):
        """The labeled target trials, scaled, and their encoded labels (or None)."""
        if (X_target_labeled is None) != (y_target_labeled is None):
            given, missing = (("X_target_labeled", "y_target_labeled")
                              if y_target_labeled is None else
                              ("y_target_labeled", "X_target_labeled"))
            raise ValueError(
                f"{given} was given without {missing}. Fine-tuning on the target "
                "subject needs both (MOABB routes both with calibration_labeled=True).")
        if X_target_labeled is None:
            return None
        target = fitted_trials(self, X_target_labeled, y_target_labeled,
                               name="X_target_labeled")
        if len(target.y) != len(target.X) or len(target.y) < 2:
            raise ValueError(
                f"X_target_labeled has {len(target.X)} trials and y_target_labeled "
                f"{len(target.y)} labels. Pass one label per trial, and at least 2 "
                "trials.")
        return self._scale(target.X), encode_labels(self, target.y, "X_target_labeled")

    def _resolve_budget(self, n_trials):
        """Set ``max_epochs_`` and ``batch_size_``: "auto" chosen from ``n_trials``."""
        chosen = []
        for name, value in zip(("max_epochs", "batch_size"), auto_budget(n_trials)):
            if is_auto(getattr(self, name)):
                chosen.append(f"{name}={value}")
            else:
                value = getattr(self, name)
            setattr(self, f"{name}_", int(value))
        if chosen:
            logger.info(f"{n_trials} training trials: {', '.join(chosen)} (the "
                        "'auto' rule, estimator.auto_budget).")

    def _train_batch_size(self, n_trials, n_train, y_va, X_valid):
        """batch_size_, clipped to the training set as MLPClassifier does."""
        if n_train >= self.batch_size_:
            return self.batch_size_
        if is_auto(self.batch_size):
            return n_train  # the rule's choice, not the user's: no warning
        held = "" if y_va is None or X_valid is not None else (
            f" ({n_trials} trials minus {len(y_va)} held out for validation "
            f"with valid_size={self.valid_size!r})")
        warn(f"batch_size={self.batch_size} is larger than the {n_train} training "
             f"trials{held}; training with batches of {n_train}.")
        return n_train

    def _build_net(self, *, module=None, device=None, **kwargs):
        """The net of one training run on this fit's data (``net.build_net``)."""
        module_cls, module_init = module or module_init_kwargs(
            self.module, self.module_kwargs, n_chans=self.n_chans_,
            n_times=self.n_times_, n_outputs=len(self.classes_), sfreq=self.sfreq_,
            n_bands=getattr(self, "n_bands_", 1))
        device = resolve_device(self.device) if device is None else device
        return build_net(self, module_cls, module_init, device=device, **kwargs)

    def _log_training(self, net, start, n_train, y_va):
        self.train_path_ = net.train_path
        logger.info(
            f"{'Fine-tuning' if start else 'Training'} {net.module.__name__} on "
            f"{n_train} trials ({self.n_chans_} channels x {self.n_times_} samples, "
            f"{len(self.classes_)} classes"
            + (f", {len(y_va)} validation trials" if y_va is not None else "")
            + f") on {net.device}, path {self.train_path_}.")

    def _use(self, net, n_finetune):
        self.net_ = net
        self.history_ = net.history
        self.n_finetune_trials_ = n_finetune
        epoch0 = dict(net.callbacks_).get("epoch0")
        self.finetune_epoch_ = None if epoch0 is None else epoch0.chosen_epoch_

    def _finetune_on_target(self, X_t, y_t, seeds):
        """Fine-tune the source-trained network on the target's calibration trials.

        There is no validation split (the calibration trials are too few to hold
        some out): the run trains for the fine-tuning epochs and keeps the last
        weights.
        """
        start = LoadPretrained(Pretrained(weights_of(self.module_), self.classes_,
                                          "the source training"), self.classes_)
        net = self._build_net(batch_size=min(self.batch_size_, len(y_t)),
                              n_train=len(y_t), seeds=seeds, start=start,
                              device=self.net_.device)
        logger.info(f"Fine-tuning on {len(y_t)} labeled target trials for "
                    f"{net.max_epochs} epochs.")
        self._use(train(net, X_t, y_t, seeds.init), n_finetune=len(y_t))

    # -- predict -----------------------------------------------------------
    def _prepare_inference(self):
        """Prepare predict's path (numerics.inference_dtype); return its description."""
        net = self.net_
        amp_dtype = inference_dtype(self.amp, net.device, net.trained_dtype())
        # a baseline keeps its own memory layout on CPUs (numerics.cpu_fast_path)
        fast = cpu_fast_path(type(net.module_)) or str(net.device).startswith("cuda")
        description = net.prepare_inference(amp_dtype, None if fast else False)
        logger.info(f"Inference path: {description}.")
        return description

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_chans, n_times) | mne.Epochs | Dataset
            Trials shaped like the training trials.

        Returns
        -------
        proba : ndarray of shape (n_trials, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        with self._log_level():
            check_is_fitted(self, "net_")
            X = self._scale(fitted_trials(self, X).X)
            if self.net_.inference_is_stale():  # unpickled, loaded or new weights
                self.inference_path_ = self._prepare_inference()
            return self.net_.predict_proba(X)

    def predict(self, X):
        """Predict class labels: the most probable class of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like | mne.Epochs | Dataset
            Trials, as for :meth:`predict_proba`.

        Returns
        -------
        y_pred : ndarray of shape (n_trials,)
            Predicted labels, from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y=None, sample_weight=None):
        """Mean accuracy on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like | mne.Epochs | Dataset
            Test trials.
        y : array-like of shape (n_trials,) | None
            True labels; ``None`` takes them from a dataset or Epochs ``X``.
        sample_weight : array-like of shape (n_trials,) | None
            Sample weights.

        Returns
        -------
        score : float
            Accuracy.
        """
        if y is None:
            check_is_fitted(self, "net_")
            X, y = fitted_trials(self, X)[:2]
            if y is None:
                raise ValueError("y is required when X is an array.")
        return super().score(X, y, sample_weight=sample_weight)

    # -- persistence -------------------------------------------------------
    def __setstate__(self, state):
        super().__setstate__(state)
        net = self.__dict__.get("net_")
        # A net trained on CUDA and unpickled on a CPU-only machine: skorch
        # moves it to the CPU; drop the CUDA-only autocast chosen by "auto".
        if net is not None and torch.device(net.device).type == "cpu" and (
            self.amp == "auto" and getattr(self, "train_path_", "").startswith("cuda")
        ):
            net.amp_dtype = None

    def save(self, path):
        """Save the parameters and trained weights to a file.

        The file holds only tensors and plain Python values, so
        :meth:`load` reads it with ``torch.load(weights_only=True)``, on any
        machine (with or without a GPU).

        Parameters
        ----------
        path : str | path-like
            Output file (conventionally ``.pt``).
        """
        check_is_fitted(self, "net_")
        persistence.write(self, path)

    @classmethod
    def load(cls, path, *, module=None, trusted_classes=(), device=None):
        """Load an estimator written by :meth:`save`.

        Classes named in the file (the network, an ``activation`` in
        ``module_kwargs``...) are looked up among this package's models,
        braindecode's models and :mod:`torch.nn`'s layers; nothing named in
        the file is imported. Pass your own network class as ``module``, and
        any other class of your own that the file names as ``trusted_classes``.

        Parameters
        ----------
        path : str | path-like
            File written by :meth:`save`.
        module : type | None
            The network class, when it is not one of this package's or
            braindecode's models (e.g. ``module=MyNet``). Only pass a class for
            a file you trust: its weights are loaded into it.
        trusted_classes : sequence of type
            Other classes of your own that the file names, e.g. an activation
            in ``module_kwargs`` (``trusted_classes=[MyActivation]``), matched
            by module and name.
        device : str | None
            Device to load onto; ``None`` uses the saved ``device`` parameter,
            falling back to the CPU when it names an unavailable CUDA device.

        Returns
        -------
        estimator : NeuroSketchClassifier
            The fitted estimator, ready to predict.
        """
        return persistence.read(cls, path, module=module, trusted=trusted_classes,
                                device=device)
