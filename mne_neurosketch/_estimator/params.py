"""The estimator's parameters: what each accepts, checked at the start of fit.

As scikit-learn's ``_parameter_constraints``: one table, read by
:func:`check_params`, and every message in MNE's words
(:func:`~mne_neurosketch.utils._check_option`).
"""

# License: BSD (3-clause)

import numbers

import numpy as np

from ..augmentation import resolve_augmentation
from ..numerics import AMP_VALUES
from ..utils import _check_option, _Rule


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def _is_real(value):
    return isinstance(value, numbers.Real) and not _is_bool(value) and np.isfinite(value)


def _is_prefixes(value):
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(v, str) and v.strip(".") for v in value)


_POSITIVE_INT = _Rule("positive integers", lambda v: isinstance(
    v, numbers.Integral) and not _is_bool(v) and v >= 1)
_POSITIVE = _Rule("positive numbers", lambda v: _is_real(v) and v > 0)
_NON_NEGATIVE = _Rule("non-negative numbers", lambda v: _is_real(v) and v >= 0)
_FRACTION = _Rule("numbers from 0 to 1", lambda v: _is_real(v) and 0 <= v <= 1)
_PREFIXES = _Rule("a non-empty list of parameter-name prefixes (e.g. ['stem', "
                  "'blocks.0'])", _is_prefixes)

#: What each parameter accepts (values, and rules for ranges of values).
#: ``module``, ``module_kwargs``, ``device``, ``init_weights`` and
#: ``valid_size`` are checked where they are used, against the data or the
#: machine; ``augmentation`` by ``augmentation.resolve_augmentation``.
CONSTRAINTS = {
    "max_epochs": ("auto", _POSITIVE_INT),
    "batch_size": ("auto", _POSITIVE_INT),
    "lr": (_POSITIVE,),
    "weight_decay": (_NON_NEGATIVE,),
    "warmup_ratio": (_FRACTION,),
    "max_grad_norm": (None, _POSITIVE),
    "patience": (None, _POSITIVE_INT),
    "monitor": ("valid_acc", "valid_loss"),
    "scaling": ("auto", None, _POSITIVE),
    "amp": AMP_VALUES,
    "channels_last": ("auto", True, False),
    "compile": ("auto", True, False),
    "warm_start": (True, False),
    "freeze": (None, "body", _PREFIXES),
    "finetune_lr_scale": (_POSITIVE,),
    "finetune_epochs": (None, _POSITIVE_INT),
    "finetune_epoch0": (True, False),
    "domain_bn": (True, False),
}


def check_params(estimator):
    """Raise a ValueError naming the first parameter of ``estimator`` that its
    :data:`CONSTRAINTS` entry does not allow."""
    for name, allowed in CONSTRAINTS.items():
        _check_option(name, getattr(estimator, name), allowed)
    resolve_augmentation(estimator.augmentation)


def is_auto(value):
    """Whether a parameter is left to the estimator (``"auto"``)."""
    return isinstance(value, str) and value == "auto"
