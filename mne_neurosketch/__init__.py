"""NeuroSketch neural decoding for the MNE / braindecode / MOABB ecosystem."""

import warnings

with warnings.catch_warnings():
    # braindecode 1.8 builds montages at import under names that MNE 1.13
    # deprecates; users cannot act on that notice.
    warnings.filterwarnings("ignore", "Montage name .standard_10", FutureWarning)
    import braindecode.models  # noqa: F401

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
