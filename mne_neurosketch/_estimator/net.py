"""The skorch net that trains with the recipe, its data loader and seeds.

:class:`RecipeNet` is braindecode's ``EEGClassifier`` with the training step of
:class:`~mne_neurosketch.training.TrainStep` and the prediction path of
:mod:`~mne_neurosketch.inference`. :func:`build_net` sets it up from the
estimator's parameters: the recipe's loss, AdamW, warm-up/cosine schedule,
early stopping, and the numeric path chosen by :mod:`~mne_neurosketch.numerics`.
"""

# License: BSD (3-clause)

import contextlib
import copy
import multiprocessing
import os
import re
from typing import NamedTuple

import mne
import numpy as np
import torch
from braindecode import EEGClassifier
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from skorch.dataset import unpack_data
from skorch.helper import predefined_split
from skorch.utils import TeeGenerator

from ..augmentation import transforms_of
from ..datasets._array import WindowsArray, WindowsTorchDataset
from ..inference import choose_inference_path
from ..numerics import (
    cudnn_benchmark,
    resolve_compile,
    resolve_flag,
    train_path,
    training_dtype,
)
from ..training import (
    OneHotBCEWithLogitsLoss,
    TrainStep,
    WarmupCosineSchedule,
    recipe_param_groups,
)
from ..utils import logger
from .domain import DomainBatchSampler

#: The layer braindecode's classifiers name their head.
HEAD = "final_layer"


def is_head(name):
    """Whether a parameter belongs to the head: braindecode names it final_layer
    (BDTCN nests it, as base_tcn.final_layer)."""
    return HEAD in name.split(".")


def frozen_ids(names, freeze, module_cls):
    """ids of the parameters ``freeze`` names (``names``: id -> parameter name)."""
    if freeze is None:
        return set()
    if freeze == "body":
        if not any(is_head(n) for n in names.values()):
            raise ValueError(
                f"freeze='body' freezes all but the head, but {module_cls.__name__} "
                f"has no '{HEAD}' layer. Pass the prefixes to freeze as a list.")
        return {i for i, n in names.items() if not is_head(n)}
    frozen = set()
    for prefix in freeze:
        hits = {i for i, n in names.items()
                if n == prefix or n.startswith(prefix.rstrip(".") + ".")}
        if not hits:
            tops = sorted(dict.fromkeys(n.split(".")[0] for n in names.values()))
            raise ValueError(
                f"Invalid value for the 'freeze' parameter: {prefix!r} matches no "
                f"parameter of {module_cls.__name__}. Allowed values are 'body' and "
                f"parameter-name prefixes such as {tops}, but got {prefix!r} instead.")
        frozen |= hits
    return frozen


class Seeds(NamedTuple):
    """The seeds of one training run, drawn from ``random_state`` in this order."""

    init: int  # torch's generator: weight initialisation, dropout
    split: int  # the stratified validation hold-out
    augment: int  # the augmentations' random streams
    shuffle: int  # the order of the training batches

    @classmethod
    def draw(cls, rng):
        return cls(*(int(s) for s in rng.randint(0, 2**31 - 1, size=len(cls._fields))))

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _log_info(text):
    """Sink of skorch's epoch table and early-stopping messages (no colours)."""
    logger.info(_ANSI.sub("", text))


def _softmax(logits):
    return torch.softmax(logits.float(), dim=-1)

def _loader_workers():
    """Worker processes that read lazy windows (``MNE_NEUROSKETCH_NUM_WORKERS``)."""
    if multiprocessing.current_process().daemon:
        return 0  # e.g. inside a Dask worker: daemons cannot start processes
    value = mne.get_config("MNE_NEUROSKETCH_NUM_WORKERS")
    if value is not None:
        try:
            return max(0, int(value))
        except ValueError:
            raise ValueError(
                "Invalid value for the 'MNE_NEUROSKETCH_NUM_WORKERS' config key. "
                f"Allowed values are non-negative integers, but got {value!r} instead."
            ) from None
    return min(4, max(0, (os.cpu_count() or 1) - 1))


class _Loader(torch.utils.data.DataLoader):
    """A DataLoader that reads windows with worker processes when they are lazy.

    Windows read on demand (a braindecode dataset passed to ``fit``/``predict``)
    are loaded by ``MNE_NEUROSKETCH_NUM_WORKERS`` processes (default: the CPU
    count minus one, at most 4) while the network trains; pinned memory is set
    on CUDA by the estimator. Arrays in memory keep the plain loader.
    """

    def __init__(self, dataset, **kwargs):
        lazy = isinstance(dataset, WindowsTorchDataset) or isinstance(
            getattr(dataset, "X", None), WindowsArray
        )
        if lazy and "num_workers" not in kwargs:
            kwargs["num_workers"] = _loader_workers()
        if kwargs.get("batch_sampler") is not None:  # it decides the batches
            for key in ("batch_size", "shuffle", "drop_last", "generator"):
                kwargs.pop(key, None)
        super().__init__(dataset, **kwargs)

@contextlib.contextmanager
def _keep_global_rng():
    """Restore the global torch (CPU) and NumPy RNG states on exit.

    Predicting draws nothing on purpose, but torch's DataLoader draws a seed
    from the global generator on every pass.
    """
    state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        np.random.set_state(state)

def _weights_version(module):
    """Changes whenever a parameter or buffer of ``module`` is modified in place."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t._version for t in tensors)

class RecipeNet(EEGClassifier):
    """EEGClassifier whose training step is :class:`~mne_neurosketch.training.TrainStep`.

    The step augments after the batch reaches the device (so the GPU does it),
    runs the forward pass under ``amp_dtype`` autocast, through
    ``torch.compile`` when ``compile_step``, clips the gradient norm and
    updates AdamW, whose weight decay skips biases and normalisation
    parameters. Predictions use ``inference``, the estimator's chosen
    :class:`~mne_neurosketch.inference.InferencePath`, when it is set.
    """

    def __init__(self, module, *args, augmentation=None, amp_dtype=None,
                 channels_last=False, freeze=None, finetune_lr_scale=1.0,
                 max_grad_norm=None, compile_step=False, build_args=None, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.augmentation = augmentation
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last
        self.freeze = freeze
        self.finetune_lr_scale = finetune_lr_scale
        self.max_grad_norm = max_grad_norm
        self.compile_step = compile_step
        self.build_args = build_args  # what save() stores to build the net again
        self.signal_args_set_ = True  # the module's signal kwargs are explicit
        self.inference_choice = None  # (device type, bf16) of predict's path

    @property
    def train_path(self):
        """How the net trains, e.g. ``"cpu: bf16+compile"``."""
        return train_path(self.device, self.amp_dtype, self.channels_last,
                          self.compile_step)

    def initialize_module(self):
        super().initialize_module()
        if self.channels_last:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def initialize_optimizer(self, triggered_directly=None):
        named = list(self.get_all_learnable_params())
        _, kwargs = self.get_params_for_optimizer("optimizer", iter(named))
        decay = kwargs.pop("weight_decay", 0.0)
        # Fine-tuning: frozen parameters get no gradient and no optimizer
        # group; the body (all but final_layer) may train at a scaled lr.
        names = {id(p): n for n, p in self.module_.named_parameters()}
        freeze = getattr(self, "freeze", None)  # absent from older pickles
        frozen = frozen_ids(names, freeze, type(self.module_))
        for _, param in named:
            if id(param) in frozen:
                param.requires_grad_(False)
        named = [(names.get(id(p), ""), p) for _, p in named if id(p) not in frozen]
        if not named:
            raise ValueError(
                f"freeze={freeze!r} freezes every parameter: nothing is left to "
                "fine-tune. Freeze fewer layers (the head, final_layer, must train)."
            )
        groups = recipe_param_groups(
            named, weight_decay=decay, lr=kwargs["lr"], is_head=is_head,
            body_lr_scale=self._finetune_lr_scale())
        self.optimizer_ = self.optimizer(groups, **kwargs)
        self.__dict__.pop("_step", None)  # built for the new optimizer on first use
        return self

    def _finetune_lr_scale(self):
        # pickles of 0.4 named it body_lr_scale
        return getattr(self, "finetune_lr_scale", getattr(self, "body_lr_scale", 1.0))

    def get_dataset(self, X, y=None):
        # Windows read on demand go to the DataLoader as they are, never stacked.
        if isinstance(X, WindowsArray):
            return WindowsTorchDataset(X, y)
        return super().get_dataset(X, y)

    def _to_device(self, x):
        if isinstance(x, torch.Tensor) and self.device is not None:
            return x.to(self.device, non_blocking=True)
        return x

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        device_type = torch.device(self.device).type
        return torch.autocast(device_type=device_type, dtype=self.amp_dtype)

    def infer(self, x, **fit_params):
        x = self._to_device(x)
        if self.channels_last and isinstance(x, torch.Tensor) and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            y = super().infer(x, **fit_params)
        return y.float() if isinstance(y, torch.Tensor) else y

    def evaluation_step(self, batch, training=False):
        inference = self.__dict__.get("inference")
        if training or inference is None:
            return super().evaluation_step(batch, training=training)
        Xi, _ = unpack_data(batch)
        return inference(self._to_device(torch.as_tensor(Xi)))

    def _train_step(self):
        step = self.__dict__.get("_step")
        if step is None:
            step = self._step = TrainStep(
                self.module_, self.criterion_, self.optimizer_,
                augmentation=self.augmentation or (),
                amp_dtype=self.amp_dtype, channels_last=self.channels_last,
                compile=getattr(self, "compile_step", False),
                max_grad_norm=getattr(self, "max_grad_norm", None))
        return step

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        self.__dict__.pop("inference", None)  # the weights change
        Xi, yi = unpack_data(batch)
        loss, y_pred = self._train_step().forward_backward(
            self._to_device(Xi), self._to_device(yi))
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        step = self.train_step_single(batch, **fit_params)
        self.notify("on_grad_computed",
                    named_parameters=TeeGenerator(self.get_all_learnable_params()),
                    batch=batch, training=True)
        self._train_step().update()
        return step

    # -- prediction's path (numerics.inference_dtype) ---------------------------
    def trained_dtype(self):
        """The autocast dtype predictions should keep: the fit's, or the one
        chosen when the net was saved or pickled on this kind of device."""
        choice = getattr(self, "inference_choice", None)
        if choice is not None and choice[0] == torch.device(self.device).type:
            return torch.bfloat16 if choice[1] else None
        return self.amp_dtype

    def restore_inference_choice(self, device_type, bf16):
        """Keep the choice a saved net's prediction path was built with."""
        self.inference_choice = (device_type, bool(bf16))

    def prepare_inference(self, amp_dtype, channels_last):
        """Build predict's path; return its description."""
        path = choose_inference_path(self.module_, amp_dtype=amp_dtype,
                                     channels_last=channels_last)
        self.inference = path
        self.inference_choice = (torch.device(self.device).type, amp_dtype is not None)
        self.inference_version = _weights_version(self.module_)
        return path.description

    def inference_is_stale(self):
        """Whether predict's path is missing (unpickled, loaded) or the weights
        changed since it was built."""
        return ("inference" not in self.__dict__
                or self.inference_version != _weights_version(self.module_))

    def predict_proba(self, X):
        with cudnn_benchmark(self.device), _keep_global_rng():
            return super().predict_proba(X)

    def __getstate__(self):
        state = super().__getstate__()
        # The compiled step and the inference copy are rebuilt on first use
        # (a compiled module does not pickle; the device may differ); the
        # inference path's choice is kept in ``inference_choice``.
        for key in ("_step", "inference"):
            state.pop(key, None)
        return state

def _early_stopping(est):
    acc = est.monitor == "valid_acc"
    patience = est.max_epochs_ + 1 if est.patience is None else int(est.patience)
    # The reference stops when top-1 accuracy has not improved by 0.001.
    return EarlyStopping(
        monitor=est.monitor, lower_is_better=not acc, patience=patience,
        threshold=1e-3 if acc else 1e-4, threshold_mode="abs" if acc else "rel",
        load_best=True, sink=_log_info,
    )


class Epoch0(Callback):
    """Let the starting weights of a fine-tuning run compete as epoch 0.

    Before the first epoch, the pretrained weights are scored on the validation
    set with the monitored metric; after the last, they are put back when no
    fine-tuning epoch beat them by early stopping's threshold (ties keep them,
    as a later epoch that only ties is not an improvement). ``chosen_epoch_``
    is 0 when they were kept, else the best epoch's number.

    Parameters
    ----------
    valid_ds : torch.utils.data.Dataset
        The validation set.
    early_stopping : skorch.callbacks.EarlyStopping
        The run's early stopping (its monitor and threshold).
    """

    def __init__(self, valid_ds, early_stopping):
        self.valid_ds = valid_ds
        self.early_stopping = early_stopping

    def _score(self, net):
        # drawing nothing from the random streams: the run trains as without it
        total, correct, loss = 0, 0, 0.0
        with torch.no_grad(), _keep_global_rng():
            for Xi, yi in net.get_iterator(self.valid_ds, training=False):
                logits = net.evaluation_step((Xi, yi), training=False)
                yi = net._to_device(torch.as_tensor(yi))
                loss += float(net.get_loss(logits, yi, training=False)) * len(yi)
                correct += int((logits.argmax(-1) == yi).sum())
                total += len(yi)
        return correct / total if self.early_stopping.monitor == "valid_acc" else (
            loss / total)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.start_score_ = self._score(net)
        self.start_weights_ = copy.deepcopy(net.module_.state_dict())
        self.chosen_epoch_ = 0
        logger.info(f"Epoch 0 (the pretrained weights): {self.early_stopping.monitor} "
                    f"= {self.start_score_:.4f}.")

    def _beats_start(self, score):
        """Whether ``score`` improves on epoch 0's as early stopping counts it."""
        es, start = self.early_stopping, self.start_score_
        margin = es.threshold * abs(start) if es.threshold_mode == "rel" else es.threshold
        return score < start - margin if es.lower_is_better else score > start + margin

    def on_train_end(self, net, X=None, y=None, **kwargs):
        es = self.early_stopping
        best = int(es.best_epoch_)  # the epoch early stopping restored (from 1)
        if best and self._beats_start(float(net.history[best - 1, es.monitor])):
            self.chosen_epoch_ = best
            return
        net.module_.load_state_dict(self.start_weights_)
        logger.info(f"No fine-tuning epoch beat the pretrained weights on "
                    f"{es.monitor}: keeping them (epoch 0).")

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("start_weights_", None)  # the module holds the chosen weights
        return state


def build_net(est, module_cls, module_init, *, batch_size, n_train, device, seeds,
              valid_ds=None, start=None, finetune=False, check_trials=None,
              groups=None):
    """The :class:`RecipeNet` of one training run of ``est``.

    ``batch_size`` is the training batch (clipped to the training set);
    prediction and validation batches keep ``est.batch_size_``. ``start``: the
    :class:`~mne_neurosketch._estimator.finetune.LoadPretrained` of a
    fine-tuning run, which then takes ``finetune_epochs``, ``freeze`` and
    ``finetune_lr_scale`` (``finetune``: those settings without a ``start``, as
    for a loaded net). ``check_trials``: the first training trials, for
    :func:`~mne_neurosketch.numerics.training_dtype`'s gradient check.
    ``groups``: the subject of each training trial, for ``domain_bn``'s
    one-subject batches (:class:`~mne_neurosketch._estimator.domain.DomainBatchSampler`).
    """
    finetune = finetune or start is not None
    drop_last = n_train % batch_size == 1  # a 1-trial batch breaks BatchNorm
    n_batches = n_train // batch_size if drop_last else -(-n_train // batch_size)
    sampler = None
    if groups is not None:  # domain_bn: one subject per batch
        sampler = DomainBatchSampler(groups, batch_size, seeds.shuffle)
        n_batches = len(sampler)
    epochs = est.max_epochs_
    if finetune and est.finetune_epochs is not None:
        epochs = int(est.finetune_epochs)
    n_steps = max(1, epochs * n_batches)
    schedule = WarmupCosineSchedule(n_steps, est.warmup_ratio)
    callbacks = [("lr_scheduler", LRScheduler(
        policy=torch.optim.lr_scheduler.LambdaLR, lr_lambda=schedule,
        step_every="batch"))]
    if start is not None:
        callbacks.append(("load_pretrained", start))
    if valid_ds is not None:
        early_stopping = _early_stopping(est)
        callbacks.append(("early_stopping", early_stopping))
        if start is not None and est.finetune_epoch0:  # after early stopping's end
            callbacks.append(("epoch0", Epoch0(valid_ds, early_stopping)))
    callbacks.extend(copy.deepcopy(list(est.callbacks or ())))
    cuda = torch.device(device).type == "cuda"
    return RecipeNet(
        module_cls,
        augmentation=transforms_of(est.augmentation_, seeds.augment),
        amp_dtype=training_dtype(est.amp, device, module_cls, module_init, check_trials),
        channels_last=resolve_flag("channels_last", est.channels_last, device),
        max_grad_norm=est.max_grad_norm,
        compile_step=resolve_compile(est.compile, n_steps),
        build_args={"batch_size": int(batch_size), "n_train": int(n_train),
                    "seeds": list(seeds), "finetune": finetune},
        criterion=OneHotBCEWithLogitsLoss,
        **_optimizer_params(est.lr, est.weight_decay, cuda),
        batch_size=est.batch_size_,
        max_epochs=epochs,
        freeze=est.freeze if finetune else None,
        finetune_lr_scale=float(est.finetune_lr_scale) if finetune else 1.0,
        train_split=predefined_split(valid_ds) if valid_ds is not None else None,
        callbacks=callbacks,
        callbacks__print_log__sink=_log_info,
        predict_nonlinearity=_softmax,
        **_loader_params(batch_size, drop_last, seeds.shuffle, cuda),
        **({} if sampler is None else {"iterator_train__batch_sampler": sampler}),
        device=device,
        verbose=0,
        **{f"module__{k}": v for k, v in module_init.items()},
    )


def _optimizer_params(lr, weight_decay, cuda):
    """AdamW: one fused kernel per update on CUDA; foreach on the CPU, where
    fused is not faster."""
    return {"optimizer": torch.optim.AdamW, "lr": lr,
            "optimizer__weight_decay": weight_decay,
            f"optimizer__{'fused' if cuda else 'foreach'}": True}


def _loader_params(batch_size, drop_last, seed, pin_memory):
    """skorch's iterator parameters: seeded shuffling, pinned memory on CUDA."""
    train = dict(shuffle=True, batch_size=batch_size, drop_last=drop_last,
                 generator=torch.Generator().manual_seed(seed), pin_memory=pin_memory)
    return {"iterator_train": _Loader, "iterator_valid": _Loader,
            "iterator_valid__pin_memory": pin_memory,
            **{f"iterator_train__{k}": v for k, v in train.items()}}


def train(net, X, y, seed):
    """Fit ``net`` on ``X``, ``y``, seeded, leaving the global RNGs as they were."""
    dev = torch.device(net.device)
    cuda_ids = [] if dev.type != "cuda" else [
        dev.index if dev.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda_ids), cudnn_benchmark(net.device):
        torch.manual_seed(seed)
        net.fit(X, y)
    return net
