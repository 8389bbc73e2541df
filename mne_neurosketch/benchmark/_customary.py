"""braindecode baselines trained with their own customary recipe.

The benchmark trains every network with the shared NeuroSketch recipe; these
pipelines train a braindecode model the way braindecode's examples do, so a
reader can tell the architecture from the recipe: a plain
:class:`braindecode.EEGClassifier`, cross-entropy, AdamW at the model's usual
learning rate (``ModelEntry.recipe`` in the model registry), a cosine
schedule over the epochs, no mixup and no augmentation, no validation split
(a fixed number of epochs).
"""

# License: BSD (3-clause)

from __future__ import annotations

import numpy as np
import torch
from braindecode import EEGClassifier
from skorch.callbacks import LRScheduler

from ..models.registry import BASELINES, resolve_model
from ..numerics import resolve_device

__all__ = ["CustomaryEEGClassifier", "make_customary"]

#: Training budget of the customary recipe (braindecode's examples use 16-64).
CUSTOMARY_BATCH_SIZE = 32
CUSTOMARY_MAX_EPOCHS = 100


class CustomaryEEGClassifier(EEGClassifier):
    """:class:`braindecode.EEGClassifier` that seeds its fit and takes float64.

    The benchmark gives classical pipelines float64 arrays; the network runs in
    float32. ``random_state`` seeds torch when the network is (re)initialised,
    so a stored fit can be reproduced.
    """

    def __init__(self, *args, random_state=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.random_state = random_state

    def initialize(self):
        """Seed torch, then initialise as :class:`braindecode.EEGClassifier`."""
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        return super().initialize()

    def get_dataset(self, X, y=None):
        """The skorch dataset of ``X`` cast to float32."""
        if isinstance(X, np.ndarray) and X.dtype != np.float32:
            X = X.astype(np.float32)
        return super().get_dataset(X, y)


def make_customary(
    model: str,
    *,
    max_epochs: int | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    random_state: int | None = 42,
    sfreq: float | None = None,
    **kwargs,
) -> CustomaryEEGClassifier:
    """Build a braindecode model with its customary recipe, unfitted.

    Parameters
    ----------
    model : str
        A model of the registry with a customary recipe (``ModelEntry.recipe``:
        the benchmark's braindecode baselines), or its alias.
    max_epochs, batch_size : int | None
        Training budget; ``None`` keeps the recipe's (100 epochs, batch 32).
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    random_state : int | None
        Seed of the network's initialisation and batch order.
    sfreq : float | None
        Sampling frequency, for models that need it (FBCNet, IFNet,
        EEGInceptionERP).
    **kwargs
        Other :class:`braindecode.EEGClassifier` parameters (e.g. ``lr``).

    Returns
    -------
    clf : CustomaryEEGClassifier
        The estimator.
    """
    entry = resolve_model(model)
    recipe = entry.recipe
    if recipe is None:
        raise ValueError(
            f"Invalid value for the 'model' parameter. Allowed values are "
            f"{', '.join(BASELINES)}, but got {model!r} instead."
        )
    epochs = CUSTOMARY_MAX_EPOCHS if max_epochs is None else int(max_epochs)
    if device == "auto":  # only "auto": a cluster's workers may have the GPU named
        device = resolve_device(device)
    params = dict(
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        optimizer__lr=recipe["lr"],
        optimizer__weight_decay=recipe["weight_decay"],
        batch_size=CUSTOMARY_BATCH_SIZE if batch_size is None else int(batch_size),
        max_epochs=epochs,
        train_split=None,
        callbacks=[("lr_scheduler", LRScheduler("CosineAnnealingLR",
                                                T_max=max(epochs - 1, 1)))],
        iterator_train__shuffle=True,
        # every trial each epoch: small corpora have fewer trials than a batch
        iterator_train__drop_last=False,
        device=device,
        verbose=0,
        random_state=random_state,
    )
    if sfreq is not None:
        params["module__sfreq"] = float(sfreq)
    params.update(kwargs)
    return CustomaryEEGClassifier(entry.cls, **params)
