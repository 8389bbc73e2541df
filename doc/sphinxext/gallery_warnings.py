"""Turn warnings raised while a gallery example runs into errors.

sphinx-gallery calls :func:`reset_warnings` before and after each example
(``reset_modules`` in ``conf.py``), so a warning from our code or from an
example fails the build, as in MNE's documentation. The few third-party
warnings that an example cannot avoid are listed here by message.
"""

# License: BSD (3-clause)

from __future__ import annotations

import warnings

#: (message regex, category) of third-party warnings that are not ours.
THIRD_PARTY = [
    # MNE 1.13 deprecates montage names that braindecode and moabb still use.
    (r"Montage name 'standard_10", FutureWarning),
    # pandas 3.1 deprecates ``inplace=``, which braindecode 1.8 still passes.
    (r"The inplace keyword in DataFrame\.\w+ is deprecated", Warning),
    # moabb.analysis.plotting calls Colormap.set_under at import (matplotlib 3.11).
    (r"The set_(under|over|bad) function will be deprecated", PendingDeprecationWarning),
    # braindecode 1.8 EEGNet warns with its own default arguments.
    (r"Parameter 'final_layer_with_constraint=False' is deprecated", DeprecationWarning),
    # moabb's results store creates h5py datasets without a dtype (h5py 3.15).
    (r"Creating a dataset without passing data or dtype is deprecated", Warning),
    # moabb's score_plot passes seaborn a fixed palette longer than the pipelines.
    (r"The palette list has more values \(\d+\) than needed", UserWarning),
    # sphinx-gallery renders figures itself; plt.show() under agg says so.
    (r"FigureCanvasAgg is non-interactive", UserWarning),
    (r"Matplotlib is currently using agg", UserWarning),
]


_saved_filters = []


def reset_warnings(gallery_conf, fname, when):
    """Make every warning an error while an example runs.

    Before an example, the current filters are saved and every warning
    except :data:`THIRD_PARTY` becomes an error; after it, the saved filters
    come back, so the rest of the Sphinx build is not affected.

    Parameters
    ----------
    gallery_conf : dict
        The sphinx-gallery configuration (unused).
    fname : str | None
        The example being run (unused).
    when : {"before", "after"}
        Whether this is called before or after the example.
    """
    if when == "after":
        if _saved_filters:
            warnings.filters[:] = _saved_filters.pop()
        return
    if not _saved_filters:  # an example that failed may have skipped "after"
        _saved_filters.append(list(warnings.filters))
    warnings.resetwarnings()
    warnings.filterwarnings("error")
    for message, category in THIRD_PARTY:
        warnings.filterwarnings("ignore", message=message, category=category)
