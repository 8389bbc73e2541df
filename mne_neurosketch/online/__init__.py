"""Online decoding: a fitted estimator on a live Lab Streaming Layer stream.

Fit offline, then decode a running EEG stream with the same model, the same
preprocessing and the same decisions (:class:`OnlineDecoder`), publish them
as an LSL stream, and check them against :func:`replay`, the same code path
run over a recording. Filtering is causal (:class:`CausalFilter`; train with
:func:`causal_filter`), alignment runs with a running reference
(:class:`RunningAlignment`). Live streams need MNE-LSL
(``pip install mne-neurosketch[online]``); replaying a recording does not.
"""

# License: BSD (3-clause)

from ._alignment import RunningAlignment
from ._decoder import OnlineDecoder, replay
from ._filter import CausalFilter, causal_filter
from ._streams import ReplayStream

__all__ = [
    "CausalFilter",
    "OnlineDecoder",
    "ReplayStream",
    "RunningAlignment",
    "causal_filter",
    "replay",
]
