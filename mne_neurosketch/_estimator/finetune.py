"""Fine-tuning: where a fit's weights come from, frozen layers and a new head.

A fit that starts from pretrained weights (``warm_start``, ``init_weights``,
or the target phase of ``fit(X_target_labeled=...)``) is a fine-tuning run.
:func:`starting_weights` finds them; the skorch net initialises as usual, then
:class:`LoadPretrained` (a callback, as skorch's ``LoadInitState``) copies
them in before the first epoch;
the net's optimizer groups apply ``freeze`` and the body's learning-rate scale
(``net.frozen_ids``, ``net.is_head``).
"""

# License: BSD (3-clause)

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator
from skorch.callbacks import Callback

from ..utils import logger
from .net import HEAD, is_head
from .persistence import is_state_dict, read_weights_file


def weights_of(module):
    """A copy of a module's weights (on the CPU)."""
    state = module.state_dict()
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def load_pretrained(module, state, classes, new_classes, source):
    """Copy pretrained weights into ``module``; a new head when classes differ."""
    own = module.state_dict()
    head = [k for k in own if is_head(k)]
    old_outputs = [tuple(state[k].shape) for k in head if k in state]
    new_head = (classes is not None and not np.array_equal(classes, new_classes)) or (
        old_outputs != [tuple(own[k].shape) for k in head if k in state])
    if new_head:
        if not head:
            raise ValueError(
                f"The classes differ from those of {source}, but "
                f"{type(module).__name__} has no '{HEAD}' layer to re-initialise. "
                "Fine-tune on the pretrained classes, or use a braindecode model.")
        what = ("the pretrained head does not fit" if classes is None else
                f"the classes differ ({np.asarray(classes).tolist()} -> "
                f"{np.asarray(new_classes).tolist()})")
        logger.info(f"Starting from {source}: {what}; keeping the pretrained body "
                    f"and re-initialising the head ({HEAD}).")
        state = {k: v for k, v in state.items() if not is_head(k)}
    missing = sorted(set(own) - set(state) - (set(head) if new_head else set()))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        problems = [f"{label} {keys[:5]}" for label, keys in (
            ("missing", missing), ("unexpected", unexpected),
            ("with another shape", wrong)) if keys]
        raise ValueError(
            f"The weights of {source} do not fit the {type(module).__name__} built "
            f"for these data (parameters {'; '.join(problems)}). Fine-tune with the "
            "module and module_kwargs they were trained with.")
    module.load_state_dict(state, strict=not new_head)
    return new_head


class Pretrained(NamedTuple):
    """Weights a fit starts from."""

    state: dict  # parameter name -> tensor
    classes: object  # ndarray of the classes they were trained on, or None
    source: str  # where they come from, for messages


class LoadPretrained(Callback):
    """Copy pretrained weights into the net's module when training begins.

    The skorch net initialises as usual; this callback then loads the weights,
    as skorch's ``LoadInitState`` loads a checkpoint.

    Parameters
    ----------
    pretrained : Pretrained
        The weights, their classes and their source.
    new_classes : ndarray
        The classes of this run; when they differ, the head is re-initialised.
    """

    def __init__(self, pretrained, new_classes):
        self.pretrained = pretrained
        self.new_classes = new_classes

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if self.pretrained is None:
            return  # loaded already: a later partial_fit continues
        load_pretrained(net.module_, *self.pretrained[:2], self.new_classes,
                        self.pretrained.source)
        self.pretrained = None  # the module holds them now; keep pickles small


def starting_weights(estimator):
    """The :class:`Pretrained` weights a fit of ``estimator`` starts from, or None
    for a new initialisation."""
    if estimator.warm_start and hasattr(estimator, "net_"):
        return Pretrained(weights_of(estimator.module_), estimator.classes_,
                          "the previous fit (warm_start)")
    weights = estimator.init_weights
    if weights is None:
        return None
    if isinstance(weights, BaseEstimator) and hasattr(type(weights), "module_"):
        if not hasattr(weights, "net_"):
            raise ValueError(
                "init_weights is an unfitted NeuroSketchClassifier. Fit it first; "
                "note that sklearn.base.clone (cross-validation, MOABB) resets an "
                "estimator passed as a parameter, so pass a file written by "
                "save() or a state dict there instead.")
        return Pretrained(weights_of(weights.module_), weights.classes_, "init_weights")
    if isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        return Pretrained(*read_weights_file(path), f"init_weights={str(path)!r}")
    if is_state_dict(weights):
        return Pretrained(dict(weights), None, "the state dict in init_weights")
    raise ValueError(
        "Invalid value for the 'init_weights' parameter. Allowed values are None, "
        "a file written by save(), a fitted NeuroSketchClassifier and a state "
        f"dict (parameter name -> tensor), but got a {type(weights).__name__} "
        "instead.")
