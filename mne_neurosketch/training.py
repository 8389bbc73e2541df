"""The recipe's training engine: optimizer groups, loss, schedule and one step.

:class:`~mne_neurosketch.NeuroSketchClassifier` trains with :class:`TrainStep`
(through its skorch net), and so do the speed scripts in ``benchmarks/``, so
the speed they measure is the speed users get. The pieces:

- :func:`recipe_param_groups` / :func:`make_adamw`: AdamW whose weight decay
  skips biases and normalisation parameters, with an optional learning-rate
  scale for the body when fine-tuning; fused on CUDA;
- :class:`OneHotBCEWithLogitsLoss` (one-hot, mixup-able targets) and
  :class:`WarmupCosineSchedule`, the recipe's loss and learning-rate schedule;
- :class:`TrainStep`: augmentation on the device, autocast, gradient-norm
  clipping, the optimizer update, and optionally ``torch.compile``,
  channels-last and a CUDA graph;
- :class:`DeviceBatches`, which keeps a corpus on the device between epochs.

``benchmarks/bench_fit_speed.py`` measures the estimator's fit against a plain
PyTorch loop; ``benchmarks/bench_models.py`` the step's variants.
"""

# License: BSD (3-clause)

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "DeviceBatches",
    "OneHotBCEWithLogitsLoss",
    "TrainStep",
    "WarmupCosineSchedule",
    "make_adamw",
    "recipe_param_groups",
]


def _soft_targets(target, n_classes, dtype):
    """Targets as a ``(batch, n_classes)`` float tensor of class weights."""
    if isinstance(target, (tuple, list)):
        y_a, y_b, lam = target
        lam = torch.as_tensor(lam, dtype=dtype).view(-1, 1)
        return lam * _soft_targets(y_a, n_classes, dtype) + (1 - lam) * _soft_targets(
            y_b, n_classes, dtype
        )
    if target.ndim == 2:  # already one-hot or soft
        return target.to(dtype)
    return F.one_hot(target.long(), n_classes).to(dtype)



class OneHotBCEWithLogitsLoss(nn.Module):
    """BCE-with-logits on one-hot targets, mixup-aware.

    The reference trains with :class:`torch.nn.BCEWithLogitsLoss` on one-hot
    (or mixed one-hot) targets, averaged over trials and classes. Targets may
    be integer labels ``(batch,)``, soft targets ``(batch, n_classes)``, or
    the ``(y_a, y_b, lam)`` triple of :class:`Mixup`; since the loss is
    linear in the targets, the triple gives the same value as the mixed
    one-hot targets.
    """

    def forward(self, logits, target):
        """Compute the loss.

        Parameters
        ----------
        logits : torch.Tensor
            Shape ``(batch, n_classes)``.
        target : torch.Tensor | tuple of torch.Tensor
            See the class description.

        Returns
        -------
        loss : torch.Tensor
            Scalar loss.
        """
        logits = logits.float()
        soft = _soft_targets(target, logits.shape[-1], logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, soft.to(logits.device))



class WarmupCosineSchedule:
    """Linear warm-up then cosine decay, as a ``LambdaLR`` multiplier.

    The multiplier is ``step / n_warmup`` during the first
    ``n_warmup = ceil(warmup_ratio * total_steps)`` steps, then
    ``0.5 * (1 + cos(pi * progress))`` with ``progress`` going from 0 to 1
    over the remaining steps (the Hugging Face ``cosine`` schedule the
    reference trains with). A picklable callable for
    :class:`torch.optim.lr_scheduler.LambdaLR`, stepped once per batch.

    Parameters
    ----------
    total_steps : int
        Number of optimiser steps of the whole training.
    warmup_ratio : float, default=0.1
        Fraction of ``total_steps`` used for the warm-up.
    """

    def __init__(self, total_steps, warmup_ratio=0.1):
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}.")
        if not 0.0 <= warmup_ratio <= 1.0:
            raise ValueError(
                f"warmup_ratio must be between 0 and 1, got {warmup_ratio!r} instead.")
        self.total_steps = int(total_steps)
        self.warmup_ratio = warmup_ratio
        self.n_warmup = math.ceil(warmup_ratio * total_steps)

    def __call__(self, step):
        """Return the learning-rate multiplier at ``step``.

        Parameters
        ----------
        step : int
            Optimiser steps taken so far.

        Returns
        -------
        factor : float
            Multiplier of the base learning rate.
        """
        if step < self.n_warmup:
            return step / max(1, self.n_warmup)
        progress = (step - self.n_warmup) / max(1, self.total_steps - self.n_warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))

    def __repr__(self):
        return (f"{type(self).__name__}(total_steps={self.total_steps}, "
                f"warmup_ratio={self.warmup_ratio})")



def _decays(param: torch.Tensor) -> bool:
    """Weight decay applies to weights, not to biases and norm parameters."""
    return param.ndim > 1


def recipe_param_groups(
    named_params: Iterable[tuple[str, torch.Tensor]],
    *,
    weight_decay: float,
    lr: float | None = None,
    body_lr_scale: float = 1.0,
    is_head: Callable[[str], bool] | None = None,
) -> list[dict]:
    """The recipe's optimizer parameter groups.

    Weights (``ndim > 1``) decay, biases and normalisation parameters
    (``ndim <= 1``) do not, as in the reference's Hugging Face trainer. When
    fine-tuning, the body (parameters whose name ``is_head`` rejects) trains
    at ``lr * body_lr_scale``.

    Parameters
    ----------
    named_params : iterable of (str, torch.Tensor)
        The parameters to train, with their names.
    weight_decay : float
        Decoupled weight decay of the weights.
    lr : float | None
        The base learning rate; needed only when ``body_lr_scale != 1``.
    body_lr_scale : float, default=1.0
        Learning-rate factor of the body.
    is_head : callable | None
        ``is_head(name) -> bool``; ``None`` treats every parameter as head.

    Returns
    -------
    list of dict
        Non-empty parameter groups for a :class:`torch.optim.Optimizer`.
    """
    named = list(named_params)
    if body_lr_scale != 1.0 and lr is None:
        raise ValueError("recipe_param_groups needs lr when body_lr_scale != 1.")

    def scale_of(name):
        return 1.0 if is_head is None or is_head(name) else body_lr_scale

    groups = []
    for scale in dict.fromkeys([body_lr_scale, 1.0]):
        part = [p for n, p in named if scale_of(n) == scale]
        extra = {} if scale == 1.0 else {"lr": lr * scale}
        groups += [
            {"params": [p for p in part if _decays(p)], "weight_decay": weight_decay,
             **extra},
            {"params": [p for p in part if not _decays(p)], "weight_decay": 0.0,
             **extra},
        ]
    return [g for g in groups if g["params"]]


def make_adamw(
    model: nn.Module,
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    cuda_graph: bool = False,
    **kwargs,
) -> torch.optim.AdamW:
    """AdamW for ``model`` with the recipe's groups, fused on CUDA.

    Parameters
    ----------
    model : torch.nn.Module
        The model, already on its device.
    lr : float, default=1e-3
        Learning rate.
    weight_decay : float, default=0.05
        Decoupled weight decay of the weights (see :func:`recipe_param_groups`).
    cuda_graph : bool, default=False
        Make the optimizer capturable in a CUDA graph: the learning rate is a
        device tensor, so :meth:`TrainStep.set_lr` can still change it.
    **kwargs
        More arguments of :class:`torch.optim.AdamW`.

    Returns
    -------
    torch.optim.AdamW
        The optimizer.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    on_cuda = bool(named) and named[0][1].is_cuda
    if on_cuda:
        kwargs.setdefault("fused", True)
    if cuda_graph:
        if not on_cuda:
            raise ValueError("cuda_graph=True needs the model on a CUDA device.")
        kwargs["capturable"] = True
        lr = torch.tensor(float(lr), device=named[0][1].device)
    groups = recipe_param_groups(named, weight_decay=weight_decay)
    return torch.optim.AdamW(groups, lr=lr, **kwargs)


class TrainStep:
    """One training step of the recipe, made fast.

    A step zeroes the gradients, augments the batch (on its device), runs the
    forward pass under autocast, computes the loss in float32, back-propagates,
    clips the gradient norm and updates the parameters.
    :meth:`forward_backward` and :meth:`update` are its two halves (the
    estimator's skorch net runs its ``on_grad_computed`` callbacks between
    them); calling the step runs both.

    Parameters
    ----------
    model : torch.nn.Module
        The model, already on its device. Its parameter names are unchanged
        (the compiled module is kept aside), so its state dict stays loadable.
    criterion : callable
        ``criterion(logits, target) -> scalar loss``.
    optimizer : torch.optim.Optimizer
        Use :func:`make_adamw` (``cuda_graph=True`` when ``cuda_graph``).
    augmentation : sequence of callable, default=()
        Transforms ``(X, y) -> (X, y)`` applied to each training batch.
    amp_dtype : torch.dtype | None, default=None
        Autocast dtype, e.g. ``torch.bfloat16`` on a GPU or on a CPU with bf16
        units (AVX512-BF16, AMX). Leave ``None`` on CPUs without them, where
        it is an order of magnitude slower.
    channels_last : bool, default=False
        Convert the model's 4-D weights to channels-last.
    compile : bool, default=False
        Run the forward through :func:`torch.compile` (backward compiled too).
    max_grad_norm : float | None, default=None
        Clip the gradients' global norm to this value before the update.
    cuda_graph : bool, default=False
        Record the whole step in a CUDA graph at the first call and replay it
        for every batch of the same shape (other shapes, such as a smaller last
        batch, take the ordinary path). Recording runs three warm-up steps on
        the first batch; the model and optimizer state are restored afterwards,
        so training is unchanged. Not with ``augmentation``, whose random
        draws a graph would freeze.
    compile_kwargs : dict | None
        Extra arguments for :func:`torch.compile`.

    Examples
    --------
    >>> opt = make_adamw(model, cuda_graph=True)  # doctest: +SKIP
    >>> step = TrainStep(
    ...     model, loss_fn, opt, amp_dtype=torch.bfloat16, channels_last=True,
    ...     compile=True, cuda_graph=True,
    ... )  # doctest: +SKIP
    >>> batches = DeviceBatches(X, Y, batch_size=256, device="cuda")  # doctest: +SKIP
    >>> for xb, yb in batches:  # doctest: +SKIP
    ...     loss = step(xb, yb)
    """

    def __init__(
        self,
        model: nn.Module,
        criterion: Callable,
        optimizer: torch.optim.Optimizer,
        *,
        augmentation=(),
        amp_dtype: torch.dtype | None = None,
        channels_last: bool = False,
        compile: bool = False,
        max_grad_norm: float | None = None,
        cuda_graph: bool = False,
        compile_kwargs: dict | None = None,
    ):
        self.model = model
        self.criterion = criterion
        self.optimizer = optimizer
        self.augmentation = tuple(augmentation or ())
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last
        self.max_grad_norm = max_grad_norm
        self.device = next(model.parameters()).device
        if cuda_graph and self.augmentation:
            raise ValueError(
                "cuda_graph=True cannot record augmentation (its random draws would "
                "be frozen in the graph); pass augmentation=() or cuda_graph=False."
            )
        if cuda_graph and self.device.type != "cuda":
            raise ValueError("cuda_graph=True needs the model on a CUDA device.")
        if cuda_graph and not all(g.get("capturable") for g in optimizer.param_groups):
            raise ValueError(
                "cuda_graph=True needs a capturable optimizer; create it with "
                "make_adamw(model, cuda_graph=True)."
            )
        if channels_last:
            model.to(memory_format=torch.channels_last)
        self._forward = (
            torch.compile(model, **(compile_kwargs or {})) if compile else model
        )
        self.cuda_graph = cuda_graph
        self._graph = None
        self._static = None

    def set_lr(self, lr: float) -> None:
        """Set the learning rate of every parameter group (safe with CUDA graphs)."""
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr

    def autocast(self):
        """The autocast context of the forward pass (disabled without ``amp_dtype``)."""
        return torch.autocast(
            self.device.type,
            dtype=self.amp_dtype or torch.float32,
            enabled=self.amp_dtype is not None,
        )

    def forward_backward(self, x, y):
        """Zero the gradients, augment, forward, back-propagate.

        Returns
        -------
        loss : torch.Tensor
            The scalar loss (detached, on the device).
        logits : torch.Tensor
            The float32 logits of the augmented batch (detached).
        """
        self.optimizer.zero_grad(set_to_none=True)
        for transform in self.augmentation:
            x, y = transform(x, y)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            logits = self._forward(x)
        logits = logits.float()
        loss = self.criterion(logits, y)
        loss.backward()
        return loss.detach(), logits.detach()

    def update(self) -> None:
        """Clip the gradient norm (``max_grad_norm``) and step the optimizer."""
        if self.max_grad_norm is not None:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        self.optimizer.step()

    def _step(self, x, y):
        loss, _ = self.forward_backward(x, y)
        self.update()
        return loss

    def _snapshot(self):
        model_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        opt_state = {
            id(p): {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
            for p, s in self.optimizer.state.items()
        }
        return model_state, opt_state

    def _restore(self, snapshot):
        model_state, opt_state = snapshot
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                v.copy_(model_state[k])
            for p, state in self.optimizer.state.items():
                saved = opt_state.get(id(p))
                for k, v in state.items():
                    if not torch.is_tensor(v):
                        continue
                    if saved is None:  # fresh optimizer: no moments, step 0
                        v.zero_()
                    else:
                        v.copy_(saved[k])

    def _capture(self, x, y):
        snapshot = self._snapshot()
        self._static = (x.clone(), y.clone())
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self._step(*self._static)
        torch.cuda.current_stream().wait_stream(side)
        self.optimizer.zero_grad(set_to_none=True)
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph):
            self._static_loss = self._step(*self._static)
        self._restore(snapshot)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Run one step on ``(x, y)`` (on the model's device); return the loss.

        The loss stays on the device (no synchronisation); call ``.item()``
        only when you need the number.
        """
        if self.cuda_graph:
            if self._graph is None:
                self._capture(x, y)
            sx, sy = self._static
            if x.shape == sx.shape and y.shape == sy.shape:
                sx.copy_(x, non_blocking=True)
                sy.copy_(y, non_blocking=True)
                self._graph.replay()
                return self._static_loss.clone()
        return self._step(x, y)


class DeviceBatches:
    """Mini-batches of a corpus held on the device for the whole training.

    Copying a corpus that fits in device memory once, instead of every epoch,
    removes the host-to-device transfer and the loader from the loop.

    Parameters
    ----------
    X : array-like | torch.Tensor, shape (n_trials, n_chans, n_times)
        The inputs (converted to float32).
    y : array-like | torch.Tensor
        The targets, first axis ``n_trials`` (any dtype, kept).
    batch_size : int
        Trials per batch.
    device : str | torch.device
        Where to keep the data.
    shuffle : bool, default=True
        Draw a new permutation each epoch (on the device).
    drop_last : bool, default=False
        Skip the last incomplete batch (keeps every batch the same shape, so a
        :class:`TrainStep` with a CUDA graph replays for all of them).
    generator : torch.Generator | None
        Generator on ``device`` for reproducible shuffling.
    """

    def __init__(
        self,
        X,
        y,
        *,
        batch_size: int,
        device="cpu",
        shuffle: bool = True,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ):
        self.X = torch.as_tensor(X, dtype=torch.float32).to(device)
        self.y = torch.as_tensor(y).to(device)
        if len(self.X) != len(self.y):
            raise ValueError(
                f"X and y have different lengths ({len(self.X)} and {len(self.y)})."
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator

    def __len__(self) -> int:
        n, b = len(self.X), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n = len(self.X)
        if self.shuffle:
            order = torch.randperm(n, device=self.X.device, generator=self.generator)
        else:
            order = torch.arange(n, device=self.X.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield self.X.index_select(0, idx), self.y.index_select(0, idx)
