"""Deprecated: fast inference moved to :mod:`mne_neurosketch.inference`, training
to :mod:`mne_neurosketch.training` (braindecode keeps ``models`` to modules).

Importing a name from here still works and emits a :class:`FutureWarning`.
"""

# License: BSD (3-clause)

import importlib
import warnings

_MOVED = {
    "fuse_batchnorm": "inference",
    "optimize_for_inference": "inference",
    "predict_logits": "inference",
    "export_onnx": "inference",
    "OnnxModel": "inference",
    "OnlinePredictor": "inference",
    "make_adamw": "training",
    "TrainStep": "training",
    "DeviceBatches": "training",
}

__all__ = sorted(_MOVED)


def __getattr__(name):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    new = f"mne_neurosketch.{_MOVED[name]}"
    warnings.warn(
        f"mne_neurosketch.models.optimize.{name} moved to {new}.{name}; import it "
        "from there. The old path will be removed in a future release.",
        FutureWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(new), name)
