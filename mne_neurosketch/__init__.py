"""NeuroSketch neural decoding for the MNE / braindecode / MOABB ecosystem."""

from ._version import __version__
from .models import NeuroSketch, NeuroSketchSD, from_reference

__all__ = ["NeuroSketch", "NeuroSketchSD", "__version__", "from_reference"]
