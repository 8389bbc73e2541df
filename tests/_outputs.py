"""Comparisons between two ways of computing a network's outputs that can fail.

A comparison of two paths (streamed and stacked trials, folded and plain
BatchNorm, saved and loaded, pickled and original, GPU and CPU) only tests
something when the outputs of different trials differ by much more than its
tolerance: on a network that gives every trial the same probabilities, it
passes with the trials permuted or the input ignored. :func:`assert_same_outputs`
checks that first, with a tolerance that follows the numeric path.
"""

import numpy as np
import torch

#: The largest difference in probability expected between two computations of
#: the same network on the same trials, by the numeric path of the less exact
#: one. fp32: the rounding of float32 accumulations in another order (folded
#: BatchNorm, another memory layout or kernel), measured up to 3e-7 on the
#: tests' networks; 1e-5 is about 80 float32 epsilons. bf16: autocast rounds
#: the inputs of convolutions and matrix products to 8 bits, measured up to
#: 5e-3 against fp32; 2e-2 is about 2.5 bf16 epsilons.
PROBA_ATOL = {"fp32": 1e-5, "bf16": 2e-2}

#: Outputs of different trials must differ by this factor times the tolerance
#: (in median over trials), and by at least MIN_SPREAD, for a comparison to
#: tell a right answer from trials out of order.
MARGIN = 5.0
MIN_SPREAD = 1e-2


def path_atol(*paths):
    """The tolerance of comparisons between outputs computed on ``paths``.

    Parameters
    ----------
    *paths : str | torch.dtype | None
        Inference paths (``inference_path_``, e.g. ``"cpu: fused+bf16"``) or
        autocast dtypes (``None``: fp32).

    Returns
    -------
    atol : float
        The bf16 tolerance if any path computes in bf16, else the fp32 one.
    """
    bf16 = any(p is torch.bfloat16 or (isinstance(p, str) and "bf16" in p)
               for p in paths)
    return PROBA_ATOL["bf16" if bf16 else "fp32"]


def trial_gaps(outputs):
    """How far each trial's outputs are from those of another trial (a fixed
    random pairing, the same on every call)."""
    out = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    other = np.random.default_rng(0).permutation(len(out))
    return np.abs(out - out[other]).max(axis=1)


def assert_trials_differ(outputs, atol, min_spread=MIN_SPREAD):
    """Assert that a comparison at ``atol`` would catch the trials permuted.

    Parameters
    ----------
    outputs : array-like, shape (n_trials, ...)
        Outputs (probabilities, logits) of the trials.
    atol : float
        The comparison's tolerance.
    min_spread : float
        The least median difference between trials accepted, whatever
        ``atol``: a network's probabilities should differ by more than
        rounding (a classical pipeline compared at 1e-7 may ask for less).
    """
    gap = float(np.median(trial_gaps(outputs)))
    need = max(MARGIN * atol, min_spread)
    assert gap > need, (
        f"the outputs of different trials differ by {gap:.3g} (median), not more "
        f"than {need:.3g}: a comparison at atol={atol:g} could not tell these "
        "trials apart. Train the network further or on a separable task.")


def assert_same_outputs(actual, expected, atol=0.0):
    """Assert ``actual == expected`` within ``atol`` (exactly when 0), on
    outputs that differ across trials by much more than ``atol``.

    Parameters
    ----------
    actual, expected : array-like, shape (n_trials, ...)
        The two paths' outputs, trial by trial.
    atol : float
        Absolute tolerance; 0 asks for bitwise equality, whose trial spread is
        checked against the fp32 tolerance.
    """
    expected = np.asarray(expected)
    assert_trials_differ(expected, atol or PROBA_ATOL["fp32"])
    if atol:
        np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)
    else:
        np.testing.assert_array_equal(actual, expected)


def distinct_weights(model, seed=0):
    """Give ``model`` weights whose outputs differ across trials; return it in eval mode.

    A fresh network hardly depends on its input: its truncated-normal
    (std 0.02) weights shrink the signal layer after layer, and every trial
    gets the same logits to 1e-6. Here convolutions and linear layers get
    He-normal weights and BatchNorm layers non-trivial statistics (so that
    folding them matters too).
    """
    g = torch.Generator().manual_seed(seed)
    convs = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, convs):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g)
                               * (2 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.affine:
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g))
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(1 + 0.2 * torch.randn(n, generator=g))
                m.bias.copy_(torch.randn(n, generator=g))
    return model.eval()
