"""NeuroSketch neural decoding for the MNE / braindecode / MOABB ecosystem."""

from ._version import __version__
from .estimator import NeuroSketchClassifier
from .models import NeuroSketch, NeuroSketchSD, from_reference

__all__ = [
    "NeuroSketch",
    "NeuroSketchClassifier",
    "NeuroSketchSD",
    "__version__",
    "from_reference",
]
