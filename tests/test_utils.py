"""Shared argument checks (MNE's wording) and the docdict."""

from pathlib import Path

import pytest

from mne_neurosketch._docs import docdict, fill_doc
from mne_neurosketch.splits import PaperSplit, simple_split
from mne_neurosketch.utils import _check_option, _validate_type, verbose


def test_check_option_wording():
    assert _check_option("level", "fold", ("moabb", "fold")) == "fold"
    with pytest.raises(ValueError, match=(
            r"^Invalid value for the 'level' parameter\. Allowed values are 'moabb' "
            r"and 'fold', but got 'folds' instead\.$")):
        _check_option("level", "folds", ("moabb", "fold"))
    with pytest.raises(ValueError, match=r"'a', 'b' and 'c', but got \['a'\]"):
        _check_option("x", ["a"], "abc")  # unhashable value: a clear error too


def test_validate_type_wording():
    assert _validate_type(Path("x"), "path-like", "results") == Path("x")
    assert _validate_type(None, (int, None), "n") is None
    with pytest.raises(TypeError, match=(
            r"^n_workers must be an instance of int or None, got float instead\.$")):
        _validate_type(3.0, ("int", None), "n_workers")
    with pytest.raises(TypeError, match="int, str or None, got bool"):
        _validate_type(True, ("int", str, None), "seed")


def test_fill_doc_indents_entries_and_names_unknown_ones():
    def f(random_state=None, verbose=None):
        """Do.

        Parameters
        ----------
        %(random_state)s
        %(verbose)s
        """

    fill_doc(f)
    lines = f.__doc__.splitlines()
    start = lines.index("        random_state : int | None")
    assert lines[start + 1].startswith("            Seed")
    assert "        verbose : bool | str | int | None" in lines

    def g():
        """Do.

        %(no_such_entry)s
        """

    with pytest.raises(KeyError, match="no_such_entry"):
        fill_doc(g)
    # No entry holds a bare '%': MNE's verbose formats the docstring again.
    assert not [name for name, text in docdict.items() if "%" in text]


def test_verbose_fills_our_entries_then_mne_wraps():
    @verbose
    def prepare_like(cache_dir=None, verbose=None):
        """Do.

        Parameters
        ----------
        %(cache_dir)s
        %(verbose)s
        """
        return cache_dir

    assert "cache_dir : path-like | None" in prepare_like.__doc__
    assert "%(" not in prepare_like.__doc__
    assert prepare_like("x", verbose="error") == "x"


def test_filled_docstrings_of_splits():
    assert "random_state : int" in simple_split.__doc__
    assert "groups : None" in PaperSplit.split.__doc__
    section = "Parameters\n        ----------\n        X : array-like"
    assert section in PaperSplit.split.__doc__
    assert "%(" not in PaperSplit.__doc__
    with pytest.raises(ValueError, match="Invalid value for the 'method' parameter"):
        list(PaperSplit("nfold").split(range(10), [0, 1] * 5))
