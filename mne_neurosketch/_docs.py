"""Shared numpydoc entries: ``%(name)s`` in a docstring, filled by :func:`fill_doc`.

Each parameter described the same way in several places is written once here,
as MNE and MOABB do. :func:`mne_neurosketch.utils.verbose` fills these entries
too, so a function decorated with it needs no :func:`fill_doc`.
"""

# License: BSD (3-clause)

from __future__ import annotations

import re

__all__ = ["docdict", "fill_doc"]

docdict: dict[str, str] = {}

# ---------------------------------------------------------------- logging, seeds
docdict["verbose"] = """\
verbose : bool | str | int | None
    Control verbosity of the logging output. If ``None``, use the default
    verbosity level. See :func:`mne.verbose`."""

docdict["random_state"] = """\
random_state : int | None
    Seed of the random number generator; an int gives the same result on
    every call, ``None`` a new one each time."""

docdict["random_state_paper"] = """\
random_state : int
    Seed (the paper's is 42)."""

# ---------------------------------------------------------------- training
docdict["batch_wise"] = """\
batch_wise : bool, default=True
    Draw one apply/skip decision per batch (the reference) instead of one
    per trial (braindecode's default).
random_state : int | numpy.random.RandomState | None
    Seed or generator."""

docdict["X_trials"] = """\
X : array-like, shape (n_trials, n_chans, n_times)
    Trials."""

docdict["amp_estimator"] = """\
amp : "auto" | "bf16" | bool | None
    The estimator's ``amp``."""

# ---------------------------------------------------------------- corpora
docdict["path_corpus"] = """\
path : path-like | None
    The corpus folder; ``None`` reads the MNE config key
    ``MNE_DATASETS_<CODE>_PATH``."""

docdict["cache"] = """\
cache : bool
    Use the on-disk cache of preprocessed windows."""

docdict["cache_dir"] = """\
cache_dir : path-like | None
    Cache folder of the preprocessed windows; ``None`` uses
    ``MNE_NEUROSKETCH_CACHE_DIR``, else ``<MNE_DATA>/neurosketch_cache``."""

docdict["subjects_evaluate"] = """\
subjects : list of int | None
    Subjects to evaluate; ``None`` keeps all."""

docdict["drop_flat"] = """\
drop_flat : bool
    Drop trials with a flat channel (the paper's ``check_ieeg``)."""

# ---------------------------------------------------------------- scale-out
docdict["scheduler"] = """\
scheduler : str | None
    Address of a running Dask scheduler (e.g. ``tcp://host:8786``) to send
    the work to."""

docdict["n_workers"] = """\
n_workers : int | None
    Run on a local Dask cluster of this many worker processes (one task at a
    time each). ``None`` with no ``scheduler`` runs in this process."""

# ---------------------------------------------------------------- splitters
# The Parameters sections of split() and split_with_valid().
_SPLIT_X = """\
X : array-like, shape (n_trials, ...)
    Trials (only their number is used)."""

docdict["split_params"] = f"""\
Parameters
----------
{_SPLIT_X}
y : array-like, shape (n_trials,)
    Labels.
groups : None
    Ignored."""

docdict["split_params_groups"] = f"""\
Parameters
----------
{_SPLIT_X}
y : array-like, shape (n_trials,) | None
    Labels (used to stratify the k-fold).
groups : array-like, shape (n_trials,)
    Group of each trial."""

docdict["stratify"] = """\
stratify : bool
    Stratify on the labels."""

# A placeholder stands alone on its line; its indentation is the entry's.
_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s[ \t]*$", re.MULTILINE)


def fill_doc(obj):
    """Replace each ``%(name)s`` line of a docstring with ``docdict[name]``.

    Parameters
    ----------
    obj : callable | type
        The function or class; its ``__doc__`` is changed in place.

    Returns
    -------
    obj : callable | type
        The same object.

    Raises
    ------
    KeyError
        If the docstring names an entry :data:`docdict` does not have.
    """
    doc = obj.__doc__
    if not doc or "%(" not in doc:
        return obj

    def entry(match):
        indent, name = match.groups()
        if name not in docdict:
            raise KeyError(
                f"The docstring of {getattr(obj, '__qualname__', obj)!r} uses "
                f"%({name})s, which is not in mne_neurosketch._docs.docdict; add it "
                f"there or use one of {sorted(docdict)}."
            )
        return "\n".join(
            indent + line if line else line for line in docdict[name].splitlines()
        )

    obj.__doc__ = _PLACEHOLDER.sub(entry, doc)
    return obj
