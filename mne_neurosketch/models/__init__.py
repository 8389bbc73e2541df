"""NeuroSketch models as braindecode modules, and the registry of model names.

The classes are imported on first use (PEP 562), so that reading the
registry (:mod:`mne_neurosketch.models.registry`) does not wait for torch.
"""

import importlib

_LAZY = {
    "PRESETS": ".neurosketch",
    "NeuroSketch": ".neurosketch",
    "NeuroSketchLarge": ".neurosketch",
    "NeuroSketchSD": ".neurosketch_sd",
    "convert_reference_state_dict": ".reference",
    "from_reference": ".reference",
}

__all__ = [
    "PRESETS",
    "NeuroSketch",
    "NeuroSketchLarge",
    "NeuroSketchSD",
    "convert_reference_state_dict",
    "from_reference",
    "get_model",
    "models_dict",
    "resolve_model",
]


def __getattr__(name):
    if name in ("get_model", "resolve_model"):
        from . import registry

        return getattr(registry, name)
    if name == "models_dict":
        #: This package's models by name, as ``braindecode.models.util.models_dict``.
        from .registry import OWN_MODELS, get_model

        value = {model: get_model(model) for model in OWN_MODELS}
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
