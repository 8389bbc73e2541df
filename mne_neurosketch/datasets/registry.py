"""The corpus registry, built from the corpus reader classes.

Each :class:`~mne_neurosketch.datasets.base.CorpusReader` subclass with a
``name`` states its registry facts (aliases, unit, paper protocol, default
subjects, scorer, budget, simulator, description) in its own class; a corpus is
registered by importing its module in :mod:`mne_neurosketch.datasets`. A reader
with ``registered_tasks`` gives one corpus per task, ``"<name>-<task>"``.

The benchmark (:func:`mne_neurosketch.benchmark.resolve_dataset`), its CLI and
the speed scripts read the corpora from here.
"""

# License: BSD (3-clause)

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from functools import cache

from .base import REGISTRY_FACTS, CorpusReader

__all__ = ["Corpus", "get_corpus", "list_corpora"]


@dataclass(frozen=True)
class Corpus:
    """A registered corpus: a reader class and, for multi-task corpora, a task.

    Parameters
    ----------
    name : str
        The canonical name (e.g. ``"seeddv"``, ``"chisco-read"``).
    reader : type of CorpusReader
        The reader class, which holds the facts.
    task : str | None
        The task (``None``: the reader's default).
    aliases : tuple of str
        Other names it is found under.
    """

    name: str
    reader: type
    task: str | None = None
    aliases: tuple = ()

    def __getattr__(self, fact):
        # The other facts stay in the reader class: one source.
        if fact not in REGISTRY_FACTS:
            raise AttributeError(f"{type(self).__name__} has no attribute {fact!r}")
        return getattr(self.reader, fact)

    @property
    def description(self) -> str:
        """One line for listings."""
        return self.reader.description.format(task=self.task)

    @property
    def task_kwargs(self) -> dict:
        """``{"task": task}`` for a per-task corpus, else ``{}``."""
        return {} if self.task is None else {"task": self.task}

    @property
    def code(self) -> str:
        """The dataset code of the results (the MOABB code, plus ``-<task>``)."""
        return self.reader.code + ("" if self.task is None else f"-{self.task}")

    @property
    def moabb_paradigm(self) -> str:
        """MOABB's kind of dataset for this corpus' task."""
        kind = self.reader.moabb_paradigm
        if isinstance(kind, dict):
            return kind[self.task or self.reader.tasks[0]]
        return kind

    @property
    def shape(self) -> tuple:
        """``(n_chans, n_times, n_classes, sfreq)`` of the windows (defaults)."""
        reader = self.reader(**self.task_kwargs)
        return self.reader.n_chans, reader.n_times, self.reader.n_classes, reader.sfreq

    def moabb_dataset(self, path=None, **kwargs):
        """The corpus as a MOABB dataset.

        Parameters
        ----------
        path : path-like | None
            The corpus folder (``None``: its MNE config key).
        **kwargs
            Other arguments of the MOABB class (``subjects``, ``cache_dir``, ...).

        Returns
        -------
        dataset : CorpusMOABBDataset
            The dataset.
        """
        return self.reader.moabb_class(path=path, **self.task_kwargs, **kwargs)

    def simulate(self, path, subjects=(1,), **kwargs):
        """Write a small synthetic version of the corpus in its real format.

        Parameters
        ----------
        path : path-like
            Where to write it.
        subjects : sequence of int
            The subjects.
        **kwargs
            Arguments of the simulator, over :attr:`simulation`.

        Returns
        -------
        root : pathlib.Path
            The corpus folder, as the simulator returns it.
        """
        return self.reader.simulate(path, subjects=tuple(subjects), **kwargs)

    @property
    def simulation(self) -> dict:
        """Simulator arguments of the benchmark's small simulated version."""
        kwargs = dict(self.reader.simulation)
        accepted = inspect.signature(self.reader.simulate).parameters
        if self.task is not None and "tasks" in accepted:
            kwargs.setdefault("tasks", (self.task,))
        return kwargs


def _key(name: str) -> str:
    """Spellings that differ by case, ``-``, ``_`` or spaces match."""
    return re.sub(r"[\s_\-]", "", str(name)).lower()


def _readers(cls=CorpusReader):
    for sub in cls.__subclasses__():
        if vars(sub).get("name"):
            yield sub
        yield from _readers(sub)


@cache
def _registry() -> tuple[dict, dict]:
    # Importing this module imported the package, so every corpus module it
    # lists has registered its reader.
    corpora, index = {}, {}
    for reader in sorted(set(_readers()), key=lambda r: r.name):
        tasks = reader.registered_tasks or (None,)
        for k, task in enumerate(tasks):
            name = reader.name if task is None else f"{reader.name}-{task}"
            spellings = (*reader.aliases, reader.code) if k == 0 else ()
            aliases = tuple(dict.fromkeys(spellings))
            corpora[name] = Corpus(name, reader, task, aliases)
    for corpus in corpora.values():
        for spelling in (corpus.name, *corpus.aliases):
            other = index.setdefault(_key(spelling), corpus.name)
            if other != corpus.name:
                raise RuntimeError(
                    f"The corpus name {spelling!r} of {corpus.name} is taken by {other}."
                )
    return corpora, index


def list_corpora() -> dict:
    """The registered corpora.

    Returns
    -------
    corpora : dict
        Canonical name to :class:`Corpus`, sorted by name.
    """
    return dict(_registry()[0])


def get_corpus(name: str, *, missing_ok: bool = False) -> Corpus | None:
    """Look a corpus up by its name or an alias (case, ``-`` and ``_`` ignored).

    Parameters
    ----------
    name : str
        A name or alias, e.g. ``"seeddv"``, ``"SEED-DV"``, ``"seed_dv"``.
    missing_ok : bool
        Return ``None`` for an unknown name instead of raising.

    Returns
    -------
    corpus : Corpus | None
        The corpus.
    """
    corpora, index = _registry()
    canonical = index.get(_key(name))
    if canonical is None:
        if missing_ok:
            return None
        raise ValueError(
            f"Invalid value for the 'name' parameter. Allowed values are "
            f"{', '.join(repr(c) for c in corpora)} (or an alias), but got {name!r} "
            "instead."
        )
    return corpora[canonical]
