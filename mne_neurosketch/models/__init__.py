"""NeuroSketch models as braindecode modules."""

from .neurosketch import PRESETS, NeuroSketch
from .neurosketch_sd import NeuroSketchSD
from .reference import convert_reference_state_dict, from_reference

#: Models of this package by name, as ``braindecode.models.util.models_dict``.
models_dict = {"NeuroSketch": NeuroSketch, "NeuroSketchSD": NeuroSketchSD}

__all__ = [
    "PRESETS",
    "NeuroSketch",
    "NeuroSketchSD",
    "convert_reference_state_dict",
    "from_reference",
    "models_dict",
]
