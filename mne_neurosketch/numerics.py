"""How a fit computes: bf16 or fp32, decided from what the device is.

A fit's numbers are a function of its data, its parameters, its seed, the
software and the kind of machine, never of how busy the machine is: nothing
here reads a clock. ``amp="auto"`` (:class:`~mne_neurosketch.NeuroSketchClassifier`)
resolves through these rules:

- **CUDA**: bf16 autocast where the GPU supports it, for training and
  prediction alike.
- **CPU**: bf16 autocast only on CPUs with bf16 units (AVX512-BF16 or AMX,
  :func:`cpu_has_bf16`; elsewhere bf16 is emulated, many times slower than
  fp32), only for the models that :func:`cpu_fast_path` names, and only when
  :func:`bf16_gradient_check` finds bf16's gradients on the first training
  trials pointing the same way as fp32's (a deterministic check).
  ``benchmarks/bench_numerics.py`` measured the rule's evidence
  (``benchmarks/results/speed/numerics_cpu_summary.rst``): on an AVX512-BF16
  CPU, at the shapes of Kalunga2016, Muse P300 and SEED-DV, a NeuroSketch
  training step ran 1.5-1.9x (Base) and 1.1-1.8x (Large) faster in bf16, and
  EEGNet's 1.0-1.2x, with its inference 0.8x (slower).
- **Prediction** runs in the dtype the network trained in (the dtype its
  validation scores, and so its early stopping, were computed in), falling
  back to fp32 on a CPU without bf16 units.

``amp=False`` asks for fp32 everywhere; ``amp=True`` (or ``"bf16"``) for bf16
everywhere, emulated or not.
"""

# License: BSD (3-clause)

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ._docs import fill_doc
from .utils import _check_option, logger

__all__ = [
    "BF16_MIN_GRAD_COSINE",
    "bf16_gradient_check",
    "cpu_fast_path",
    "cpu_has_bf16",
    "inference_dtype",
    "training_dtype",
]

#: bf16 autocast trains only when its gradients on the check batch point the
#: same way as fp32's (cosine similarity at least this).
BF16_MIN_GRAD_COSINE = 0.99

#: Trials of the training set that :func:`bf16_gradient_check` runs on.
CHECK_TRIALS = 8


def cpu_fast_path(module_cls) -> bool:
    """Whether ``module_cls`` takes the CPU fast path under ``amp="auto"``.

    This package's 2-D convolutional models do: bf16 on CPUs with bf16 units
    (measured faster by ``benchmarks/bench_numerics.py``) and channels-last
    inference. braindecode's baselines keep fp32 and their own memory layout
    on CPUs: no bf16 gain was measured for EEGNet, and a baseline's bf16 pass
    once hung in oneDNN's kernel generation on an AMX CPU.

    Parameters
    ----------
    module_cls : type
        The network class.

    Returns
    -------
    fast : bool
        Whether it is one of this package's models.
    """
    from .models import NeuroSketch, NeuroSketchSD

    return issubclass(module_cls, (NeuroSketch, NeuroSketchSD))


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic units (AVX512-BF16 or AMX).

    Without them bf16 autocast is emulated, tens of times slower than fp32.

    Returns
    -------
    has_bf16 : bool
        What torch reports for the CPU's instruction sets.
    """
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def dtype_name(dtype) -> str:
    """Short name of an autocast dtype for path descriptions (``None``: fp32)."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(
        dtype, str(dtype).replace("torch.", ""))


def _gradients(model, x, amp_dtype):
    model.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=amp_dtype or torch.float32,
                        enabled=amp_dtype is not None):
        logits = model(x)
    logits.float().logsumexp(-1).mean().backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()
                      if p.grad is not None])


def bf16_gradient_check(model: torch.nn.Module, x: torch.Tensor):
    """Whether bf16 autocast computes the same gradients as fp32 on ``x``.

    A deterministic check (no timing): the same model and trials give the
    same verdict on the same kind of machine. Put the model in eval mode (no
    dropout draws) for a like-for-like comparison; its gradients are left
    cleared.

    Parameters
    ----------
    model : torch.nn.Module
        A model on its device, e.g. a fresh copy of the one to train.
    x : torch.Tensor, shape (n, n_chans, n_times)
        The check batch.

    Returns
    -------
    cosine : float
        Cosine similarity of the bf16 and fp32 gradients.
    ok : bool
        ``cosine >= BF16_MIN_GRAD_COSINE``.
    """
    g32, g16 = _gradients(model, x, None), _gradients(model, x, torch.bfloat16)
    model.zero_grad(set_to_none=True)
    cosine = float(torch.nn.functional.cosine_similarity(g32, g16, dim=0))
    return cosine, cosine >= BF16_MIN_GRAD_COSINE


#: Values of the estimator's ``amp`` (``None``, as ``False``: fp32).
AMP_VALUES = ("auto", "bf16", True, False, None)


def check_amp(amp):
    """Validate the estimator's ``amp`` parameter."""
    _check_option("amp", amp, AMP_VALUES)


_AUTO = object()


def _forced_dtype(amp):
    """The dtype ``amp`` forces (bf16 or ``None``), or ``_AUTO`` for "auto"."""
    check_amp(amp)
    if amp is True or amp == "bf16":
        return torch.bfloat16
    if amp is False or amp is None:
        return None
    return _AUTO


@fill_doc
def training_dtype(amp, device, module_cls, module_init=None, X=None):
    """The autocast dtype a fit trains in (``None``: fp32).

    Parameters
    ----------
    %(amp_estimator)s
    device : str | torch.device
        The training device.
    module_cls : type
        The network class.
    module_init : dict | None
        Its constructor arguments, to build a throwaway copy for the check.
    X : array-like | None
        Training trials; the first :data:`CHECK_TRIALS` feed
        :func:`bf16_gradient_check`. Without them (fine-tuning, a loaded
        file) ``"auto"`` stays in fp32 on a CPU.

    Returns
    -------
    dtype : torch.dtype | None
        ``torch.bfloat16`` or ``None``.
    """
    forced = _forced_dtype(amp)
    if forced is not _AUTO:
        return forced
    if torch.device(device).type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if X is None or not (cpu_has_bf16() and cpu_fast_path(module_cls)):
        return None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # a throwaway module: the caller's RNG is untouched
        module = module_cls(**(module_init or {}))
    x = torch.as_tensor(np.asarray(X[:CHECK_TRIALS]), dtype=torch.float32)
    cosine, ok = bf16_gradient_check(module.eval(), x)
    logger.info(f"bf16 gradient check: cosine {cosine:.4f} with fp32's (at least "
                f"{BF16_MIN_GRAD_COSINE}): training in {'bf16' if ok else 'fp32'}.")
    return torch.bfloat16 if ok else None


@fill_doc
def inference_dtype(amp, device, trained_dtype):
    """The autocast dtype of prediction (``None``: fp32).

    Parameters
    ----------
    %(amp_estimator)s
    device : str | torch.device
        The prediction device.
    trained_dtype : torch.dtype | None
        The dtype the network trained in.

    Returns
    -------
    dtype : torch.dtype | None
        The training dtype, except fp32 under ``"auto"`` on a CPU without
        bf16 units; ``amp=True`` gives bf16 and ``amp=False`` fp32.
    """
    forced = _forced_dtype(amp)
    if forced is not _AUTO:
        return forced
    if trained_dtype is None:
        return None
    if torch.device(device).type == "cpu" and not cpu_has_bf16():
        return None
    return trained_dtype


def resolve_device(device):
    if device == "auto" or device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            "Invalid value for the 'device' parameter. Allowed values are 'auto', "
            f"'cpu', 'cuda' or 'cuda:N', but got {device!r} instead."
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available on this machine. "
            "Use device='auto' or device='cpu'."
        )
    return str(dev)



def names_cuda(device):
    try:
        return device != "auto" and torch.device(device).type == "cuda"
    except (RuntimeError, TypeError):
        return False  # resolve_device explains what is wrong



#: ``compile="auto"`` compiles the training step from this many optimizer
#: steps (epochs x batches) on: ``torch.compile`` costs a fixed time that a
#: short fit does not earn back. ``benchmarks/bench_fit_speed.py`` measured
#: NeuroSketch-Base (62 x 400, batch 64) on a shared 2-core CPU: 277 s of
#: compilation, then 2.6x the eager loop's samples/s, so it paid after about
#: ten steps there. The threshold is set far above that so that short fits
#: (tests, the gallery, quick checks) never wait for a compiler; the recipe's
#: 500 epochs of a few batches reach it.
COMPILE_MIN_STEPS = 2000



def resolve_compile(compile, n_steps):
    _check_option("compile", compile, ("auto", True, False))
    if compile == "auto":
        return n_steps >= COMPILE_MIN_STEPS
    return bool(compile)



def train_path(device, amp_dtype, channels_last, compiled):
    """A short description of the training path, e.g. ``"cpu: bf16+compile"``."""
    names = [dtype_name(amp_dtype)]
    if channels_last:
        names.append("channels_last")
    if torch.device(device).type == "cuda":
        names.append("fused AdamW")
    if compiled:
        names.append("compile")
    return f"{torch.device(device).type}: {'+'.join(names)}"



def resolve_flag(name, value, device):
    _check_option(name, value, ("auto", True, False))
    if value == "auto":
        return torch.device(device).type == "cuda"
    return bool(value)



@contextlib.contextmanager
def cudnn_benchmark(device):
    """Let cuDNN pick the fastest convolution algorithms while on CUDA."""
    if torch.device(device).type != "cuda":
        yield
        return
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old
