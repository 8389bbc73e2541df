"""NeuroSketch neural decoding for the MNE / braindecode / MOABB ecosystem."""

# The public names are imported on first use (PEP 562), so that the
# ``neurosketch`` command's help and listings do not wait for torch and
# braindecode (about 10 s on a loaded 2-core machine).

import importlib

from ._version import __version__

_LAZY = {
    "EnsembleClassifier": ".ensemble",
    "NeuroSketch": ".models",
    "NeuroSketchClassifier": ".estimator",
    "NeuroSketchSD": ".models",
    "SelectByValidation": ".selection",
    "from_reference": ".models",
}

__all__ = [
    "EnsembleClassifier",
    "NeuroSketch",
    "NeuroSketchClassifier",
    "NeuroSketchSD",
    "SelectByValidation",
    "__version__",
    "from_reference",
]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import warnings

    with warnings.catch_warnings():
        # braindecode 1.8 builds montages at import under names that MNE 1.13
        # deprecates; users cannot act on that notice.
        warnings.filterwarnings("ignore", "Montage name .standard_10", FutureWarning)
        import braindecode.models  # noqa: F401

    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
