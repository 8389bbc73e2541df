"""Fast inference: the same logits as the trained model, computed faster.

Every transformation here computes the same function as the model it starts
from (checked in ``tests/test_optimize.py`` against the reference logits):

- :func:`fuse_batchnorm` folds eval-mode BatchNorm into the adjacent
  convolutions;
- :func:`optimize_for_inference` adds channels-last, ``torch.inference_mode``
  and optionally ``torch.compile`` (``predict_logits`` runs it over arrays);
- :func:`export_onnx` / :class:`OnnxModel` run the model with onnxruntime;
- :class:`OnlinePredictor` classifies single trials in a BCI loop;
- :func:`choose_inference_path` prepares a model for the estimator's
  ``predict`` (folded, channels-last, in the autocast dtype that
  :mod:`mne_neurosketch.numerics` chose).

What pays where is measured by ``benchmarks/bench_models.py`` and
``benchmarks/bench_fit_speed.py``.
"""

# License: BSD (3-clause)

from __future__ import annotations

import copy
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .numerics import cpu_has_bf16, dtype_name
from .utils import logger, verbose

__all__ = [
    "InferencePath",
    "OnlinePredictor",
    "OnnxModel",
    "choose_inference_path",
    "cpu_has_bf16",
    "export_onnx",
    "fuse_batchnorm",
    "optimize_for_inference",
    "predict_logits",
]

_CONVS = (nn.Conv1d, nn.Conv2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


# ----------------------------------------------------------------------------
# BatchNorm folding
# ----------------------------------------------------------------------------
def _fold_norm_into_next_conv(norm: nn.modules.batchnorm._BatchNorm, conv) -> nn.Module:
    """Return ``conv`` with the eval-mode ``norm`` that precedes it folded in.

    Valid only for an unpadded pointwise convolution: ``W (s x + t) + b`` is
    ``(W s) x + (W t + b)`` only when no zero padding enters the sum.
    """
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    shift = norm.bias - norm.running_mean * scale
    fused = copy.deepcopy(conv)
    w = conv.weight
    fused.weight = nn.Parameter(w * scale.view(1, -1, *([1] * (w.dim() - 2))))
    extra = (w.sum(dim=tuple(range(2, w.dim()))) * shift).sum(dim=1)
    bias = extra if conv.bias is None else conv.bias + extra
    fused.bias = nn.Parameter(bias)
    return fused


def _is_plain_conv(module) -> bool:
    # Subclasses (e.g. braindecode's Conv2dWithConstraint) change forward.
    return type(module) in _CONVS


def _is_plain_norm(module) -> bool:
    return type(module) in _NORMS and module.track_running_stats and module.affine


def _fuse_sequential(seq: nn.Sequential) -> int:
    """Fold each ``Conv -> BatchNorm`` pair of ``seq`` in place; return the count."""
    names = list(seq._modules)
    count = 0
    for first, second in zip(names[:-1], names[1:]):
        conv, norm = seq._modules[first], seq._modules[second]
        if _is_plain_conv(conv) and _is_plain_norm(norm):
            seq._modules[first] = fuse_conv_bn_eval(conv, norm)
            seq._modules[second] = nn.Identity()
            count += 1
    return count


def fuse_batchnorm(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """Fold eval-mode BatchNorm layers into the adjacent convolutions.

    A BatchNorm that directly follows a convolution inside an
    :class:`~torch.nn.Sequential` (NeuroSketch's stem, embeddings and conv
    branches; the same pattern in braindecode models) is folded into that
    convolution's weight and bias and replaced by :class:`~torch.nn.Identity`.
    In NeuroSketch-SD the BatchNorm in front of each MLP is folded into the
    MLP's first pointwise convolution. Convolution subclasses with their own
    ``forward`` (such as weight-norm constrained convs) are left alone.

    The result computes the same function as ``model.eval()`` up to float
    rounding; it is for inference only (the folded statistics no longer
    update), so it is returned in eval mode with gradients off.

    Parameters
    ----------
    model : torch.nn.Module
        The model, e.g. :class:`~mne_neurosketch.NeuroSketch`.
    inplace : bool, default=False
        Modify ``model`` itself instead of a deep copy.

    Returns
    -------
    torch.nn.Module
        The fused model in eval mode.
    """
    from .models.neurosketch_sd import _SDBlock

    fused = model if inplace else copy.deepcopy(model)
    fused.eval()
    count = 0
    with torch.no_grad():
        for module in list(fused.modules()):
            if isinstance(module, nn.Sequential):
                count += _fuse_sequential(module)
            if isinstance(module, _SDBlock) and _is_plain_norm(module.mlp_norm):
                fc1 = module.mlp.fc1
                if (
                    _is_plain_conv(fc1)
                    and fc1.kernel_size == (1, 1)
                    and fc1.padding == (0, 0)
                ):
                    module.mlp.fc1 = _fold_norm_into_next_conv(module.mlp_norm, fc1)
                    module.mlp_norm = nn.Identity()
                    count += 1
    for p in fused.parameters():
        p.requires_grad_(False)
    logger.debug(f"Folded {count} BatchNorm layers into convolutions.")
    return fused


# ----------------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------------
def _uses_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def optimize_for_inference(
    model: nn.Module,
    *,
    fuse: bool = True,
    channels_last: bool | None = None,
    compile: bool = False,
    compile_kwargs: dict | None = None,
) -> nn.Module:
    """Return a copy of ``model`` prepared for fast inference.

    Parameters
    ----------
    model : torch.nn.Module
        A trained braindecode-style model (input ``(batch, n_chans, n_times)``).
        It is not modified.
    fuse : bool, default=True
        Fold BatchNorm into the convolutions (:func:`fuse_batchnorm`).
    channels_last : bool | None, default=None
        Store the 2-D convolution weights channels-last, which lets oneDNN
        (CPU) and cuDNN (GPU) pick their fastest kernels. ``None`` turns it on
        for models with 2-D convolutions.
    compile : bool, default=False
        Wrap the result with :func:`torch.compile`. The first call compiles
        (seconds to minutes); a changed input shape compiles again.
    compile_kwargs : dict | None
        Extra arguments for :func:`torch.compile`.

    Returns
    -------
    torch.nn.Module
        The prepared model, in eval mode without gradients. Call it inside
        :func:`torch.inference_mode` (as :func:`predict_logits` does).

    Notes
    -----
    On x86 CPUs, arithmetic on denormal floats (magnitudes below about
    1e-38, frequent in the small activations of freshly initialised or
    weakly trained networks) can be ten times slower;
    ``torch.set_flush_denormal(True)`` (a process-wide switch) flushes them
    to zero at a relative cost far below the fp32 tolerance of the logits.
    ``benchmarks/bench_models.py`` measures with it on.
    """
    if fuse:
        fast = fuse_batchnorm(model)
    else:
        fast = copy.deepcopy(model).eval()
        for p in fast.parameters():
            p.requires_grad_(False)
    if channels_last is None:
        channels_last = _uses_conv2d(fast)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    if compile:
        fast = torch.compile(fast, **(compile_kwargs or {}))
    return fast


def predict_logits(
    model: nn.Module,
    X,
    *,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Logits of ``model`` for every trial of ``X``, computed in batches.

    Parameters
    ----------
    model : torch.nn.Module
        The model (plain or from :func:`optimize_for_inference`); put in eval mode.
    X : array-like, shape (n_trials, n_chans, n_times)
        The trials. Converted to float32.
    batch_size : int, default=64
        Trials per forward pass.
    device : str | torch.device | None
        Where to compute; ``None`` uses the device of the model's parameters.

    Returns
    -------
    np.ndarray, shape (n_trials, n_outputs)
        The logits as float32.
    """
    X = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    if X.dim() != 3:
        raise ValueError(
            f"X must have shape (n_trials, n_chans, n_times), got {tuple(X.shape)}."
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
    if device is None:
        param = next(iter(model.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            xb = X[start : start + batch_size].to(device, non_blocking=True)
            out.append(model(xb).float().cpu())
    if not out:
        raise ValueError("X holds no trials.")
    return torch.cat(out).numpy()


# ----------------------------------------------------------------------------
# ONNX
# ----------------------------------------------------------------------------
@verbose
def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    n_chans: int | None = None,
    n_times: int | None = None,
    fuse: bool = True,
    dynamic_batch: bool = True,
    opset_version: int = 18,
    verbose=None,
) -> str:
    """Export ``model`` to an ONNX file runnable with onnxruntime.

    Parameters
    ----------
    model : torch.nn.Module
        The model; ``n_chans`` and ``n_times`` default to its attributes.
    path : path-like
        Output file (``.onnx``).
    n_chans, n_times : int | None
        Input size of the exported graph.
    fuse : bool, default=True
        Fold BatchNorm first (onnxruntime folds it too, but a smaller graph
        loads faster).
    dynamic_batch : bool, default=True
        Let the batch dimension vary; otherwise the graph takes batch 1.
    opset_version : int, default=18
        ONNX opset.
    %(verbose)s

    Returns
    -------
    str
        The path written.
    """
    n_chans = int(n_chans if n_chans is not None else model.n_chans)
    n_times = int(n_times if n_times is not None else model.n_times)
    module = fuse_batchnorm(model) if fuse else copy.deepcopy(model).eval()
    module = module.cpu().float()
    example = torch.randn(2 if dynamic_batch else 1, n_chans, n_times)
    kwargs = dict(input_names=["X"], output_names=["logits"], opset_version=opset_version)
    path = os.fspath(path)
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1)
        kwargs["dynamic_shapes"] = {"x": {0: batch}}
    import warnings

    with warnings.catch_warnings():
        # the exporter reports its own progress through warnings and prints
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), path, dynamo=True, verbose=False, **kwargs)
    logger.info(f"Exported {type(model).__name__} to {path}.")
    return path


class OnnxModel:
    """Run an ONNX export of a model with onnxruntime.

    Parameters
    ----------
    path : path-like
        File written by :func:`export_onnx`.
    n_threads : int | None
        Intra-op threads of onnxruntime; ``None`` lets it choose.
    allow_spinning : bool, default=True
        Let idle onnxruntime threads spin for the next call: lower latency in
        a tight loop, but CPU time taken from other work in the process.

    Attributes
    ----------
    session : onnxruntime.InferenceSession
        The underlying session.
    """

    def __init__(self, path, *, n_threads: int | None = None, allow_spinning=True):
        import onnxruntime as ort

        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"ONNX file {path!r} does not exist. Write it with "
                "mne_neurosketch.inference.export_onnx first."
            )
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if n_threads is not None:
            opts.intra_op_num_threads = int(n_threads)
        if not allow_spinning:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            os.fspath(path), opts, providers=["CPUExecutionProvider"]
        )
        self._input = self.session.get_inputs()[0].name

    def __call__(self, X) -> np.ndarray:
        """Logits ``(batch, n_outputs)`` of ``X`` shaped ``(batch, n_chans, n_times)``."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        return self.session.run(None, {self._input: X})[0]


# ----------------------------------------------------------------------------
# Online single-trial prediction
# ----------------------------------------------------------------------------
class OnlinePredictor:
    """Classify single trials as they arrive, for a closed BCI loop.

    The model is prepared once (BatchNorm folded, channels-last, eval,
    gradients off, warmed up) and each call runs one trial of shape
    ``(n_chans, n_times)`` without batching overhead. Samples can also be
    streamed in with :meth:`push`; :meth:`predict_proba` without argument
    then classifies the latest ``n_times`` samples.

    Parameters
    ----------
    model : torch.nn.Module
        Trained model with ``n_chans`` and ``n_times`` attributes (any
        braindecode model), or an :class:`OnnxModel` (then give ``n_chans``
        and ``n_times``).
    classes : array-like | None
        Labels of the outputs, returned by :meth:`predict`; default ``0..n-1``.
    n_chans, n_times : int | None
        Trial size; default from the model.
    compile : bool, default=False
        Use :func:`torch.compile` (faster per trial after a one-off compilation).
    n_warmup : int, default=3
        Trials run at construction so the first real trial pays no set-up.

    Attributes
    ----------
    latencies_ : list of float
        Seconds spent in each prediction, for latency monitoring.
    """

    def __init__(
        self,
        model,
        *,
        classes=None,
        n_chans: int | None = None,
        n_times: int | None = None,
        compile: bool = False,
        n_warmup: int = 3,
    ):
        self.n_chans = int(n_chans if n_chans is not None else model.n_chans)
        self.n_times = int(n_times if n_times is not None else model.n_times)
        if isinstance(model, OnnxModel):
            self._run = model
        else:
            fast = optimize_for_inference(model, compile=False).cpu()
            if compile:
                fast = torch.compile(fast)

            def _run(x: np.ndarray) -> np.ndarray:
                with torch.inference_mode():
                    return fast(torch.from_numpy(x)).float().numpy()

            self._run = _run
        self._buffer = np.zeros((self.n_chans, self.n_times), dtype=np.float32)
        self._filled = 0
        self.latencies_: list[float] = []
        warm = np.zeros((1, self.n_chans, self.n_times), dtype=np.float32)
        for _ in range(n_warmup):
            n_outputs = self._run(warm).shape[1]
        if n_warmup < 1:
            n_outputs = self._run(warm).shape[1]
        self.classes_ = np.arange(n_outputs) if classes is None else np.asarray(classes)
        if len(self.classes_) != n_outputs:
            raise ValueError(
                f"classes has {len(self.classes_)} entries but the model has "
                f"{n_outputs} outputs."
            )

    @property
    def ready(self) -> bool:
        """Whether :meth:`push` has delivered at least ``n_times`` samples."""
        return self._filled >= self.n_times

    def push(self, samples) -> None:
        """Append ``samples`` of shape ``(n_chans, n_new)`` to the sliding window.

        An empty chunk (``n_new == 0``) leaves the window as it is.
        """
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 2 or samples.shape[0] != self.n_chans:
            raise ValueError(
                f"samples must have shape (n_chans={self.n_chans}, n_new), got "
                f"{samples.shape}."
            )
        if samples.shape[1] == 0:
            return  # a stream read that returned nothing: the window is unchanged
        n_new = min(samples.shape[1], self.n_times)
        self._buffer = np.roll(self._buffer, -n_new, axis=1)
        self._buffer[:, -n_new:] = samples[:, -n_new:]
        self._filled += samples.shape[1]

    def _trial(self, trial) -> np.ndarray:
        if trial is None:
            if not self.ready:
                raise RuntimeError(
                    f"Only {self._filled} of the {self.n_times} samples of a window "
                    "were pushed; push more samples or pass a trial."
                )
            trial = self._buffer
        trial = np.asarray(trial, dtype=np.float32)
        if trial.shape != (self.n_chans, self.n_times):
            raise ValueError(
                f"A trial must have shape (n_chans, n_times)=({self.n_chans}, "
                f"{self.n_times}), got {trial.shape}."
            )
        if not np.isfinite(trial).all():
            raise ValueError("The trial contains NaN or Inf; clean the signal first.")
        return trial[None]

    def decision_function(self, trial=None) -> np.ndarray:
        """Logits ``(n_outputs,)`` of one trial (default: the pushed window)."""
        x = self._trial(trial)
        start = time.perf_counter()
        logits = self._run(x)[0]
        self.latencies_.append(time.perf_counter() - start)
        return logits

    def predict_proba(self, trial=None) -> np.ndarray:
        """Softmax probabilities ``(n_outputs,)`` of one trial."""
        logits = self.decision_function(trial).astype(np.float64)
        e = np.exp(logits - logits.max())
        return e / e.sum()

    def predict(self, trial=None):
        """The most likely class label of one trial."""
        return self.classes_[int(np.argmax(self.decision_function(trial)))]


def _forward(model, x, amp_dtype):
    with torch.inference_mode(), torch.autocast(
        x.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
    ):
        return model(x).float()


class InferencePath:
    """A prepared model and the way to run it fast (see :func:`choose_inference_path`).

    Attributes
    ----------
    model : torch.nn.Module
        The prepared model (BatchNorm folded, eval, gradients off).
    amp_dtype : torch.dtype | None
        Autocast dtype of the forward pass.
    description : str
        The path taken, e.g. ``"cpu: fused+channels_last+bf16"``.
    """

    def __init__(self, model, amp_dtype, description):
        self.model = model
        self.amp_dtype = amp_dtype
        self.description = description

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Float32 logits of a batch already on the model's device."""
        return _forward(self.model, x, self.amp_dtype)

    def __repr__(self):
        return f"InferencePath({self.description!r})"


# ----------------------------------------------------------------------------
# The inference path
# ----------------------------------------------------------------------------
def choose_inference_path(
    model: nn.Module,
    *,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool | None = None,
) -> InferencePath:
    """The fast inference path of ``model`` on its device.

    The model's BatchNorm is folded and its 2-D convolutions stored
    channels-last (:func:`optimize_for_inference`), both exact up to float
    rounding, and the forward runs under ``amp_dtype`` autocast. The dtype
    is the caller's decision (the estimator's comes from
    :func:`mne_neurosketch.numerics.inference_dtype`): nothing here times or
    probes, so the same model takes the same path on the same kind of
    machine. ``torch.compile`` is not used: a prediction call rarely runs
    long enough to repay its compilation.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model; not modified.
    amp_dtype : torch.dtype | None
        Autocast dtype of the forward pass (``None``: fp32).
    channels_last : bool | None
        As in :func:`optimize_for_inference` (``None``: for 2-D convolutions).

    Returns
    -------
    InferencePath
        The prepared model with its autocast dtype and a description.
    """
    device = next(model.parameters()).device
    if channels_last is None:
        channels_last = _uses_conv2d(model)
    fast = optimize_for_inference(model, channels_last=channels_last)
    names = ["fused"] + (["channels_last"] if channels_last else [])
    if amp_dtype is not None:
        names.append(dtype_name(amp_dtype))
    return InferencePath(fast, amp_dtype, f"{device.type}: {'+'.join(names)}")
