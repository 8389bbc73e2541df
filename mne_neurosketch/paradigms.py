"""A MOABB paradigm for multi-class decoding of EEG, ECoG and sEEG trials."""

# License: BSD (3-clause)

from __future__ import annotations

from moabb.paradigms.base import BaseParadigm

__all__ = ["MultiClassDecoding"]


class MultiClassDecoding(BaseParadigm):
    """N-class trial decoding for any MOABB dataset, EEG, ECoG or sEEG.

    MOABB's own paradigms are tied to a kind of experiment (motor imagery, P300,
    SSVEP) and band-pass filter by default. This one decodes the dataset's events as
    they are: no filter unless ``fmin``/``fmax`` are given, the dataset's interval as
    the trial, and every data channel the dataset returns (the corpus datasets of
    :mod:`mne_neurosketch.datasets` keep ECoG and sEEG). MOABB's evaluations
    (:class:`~moabb.evaluations.WithinSessionEvaluation` and the others) run it
    unchanged.

    Parameters
    ----------
    events : list of str | None
        Events to decode; ``None`` uses all the dataset's events.
    n_classes : int | None
        Number of classes; if given, a dataset needs at least that many events and
        the first ``n_classes`` of ``events`` (or of the dataset's) are used.
    fmin : float | None
        Low edge of the band-pass, in Hz; ``fmin`` and ``fmax`` both ``None``
        (default) means no filter, so the trials equal the corpus' preprocessed
        trials.
    fmax : float | None
        High edge of the band-pass, in Hz.
    tmin : float
        Start of the trial relative to the dataset's interval start, in s.
    tmax : float | None
        End of the trial relative to the interval start, in s; ``None`` uses the
        dataset's interval end.
    baseline : tuple | None
        Baseline of :class:`mne.Epochs`, relative to the interval start.
    channels : list of str | None
        Channels to keep; ``None`` keeps all.
    resample : float | None
        Resample the trials to this frequency.
    scorer : str | callable | None
        sklearn scorer; ``None`` uses ``"accuracy"`` (the paper's metric, also
        for two classes, unlike MOABB's ``roc_auc``).

    Examples
    --------
    >>> from moabb.evaluations import WithinSessionEvaluation
    >>> from mne_neurosketch.paradigms import MultiClassDecoding
    >>> paradigm = MultiClassDecoding()
    >>> evaluation = WithinSessionEvaluation(paradigm=paradigm, datasets=[dataset])
    ... # doctest: +SKIP
    """

    def __init__(
        self,
        events=None,
        n_classes=None,
        fmin=None,
        fmax=None,
        tmin=0.0,
        tmax=None,
        baseline=None,
        channels=None,
        resample=None,
        scorer=None,
    ):
        if n_classes is not None and (not isinstance(n_classes, int) or n_classes < 2):
            raise ValueError(f"n_classes must be an int >= 2 or None, got {n_classes!r}.")
        if events is not None and n_classes is not None and len(events) < n_classes:
            raise ValueError(
                f"n_classes={n_classes} but only {len(events)} events were given."
            )
        super().__init__(filters=[[fmin, fmax]], events=events, tmin=tmin, tmax=tmax,
                         baseline=baseline, channels=channels, resample=resample,
                         scorer=scorer)
        self.n_classes = n_classes
        self.fmin = fmin
        self.fmax = fmax

    def is_valid(self, dataset) -> bool:
        """Whether the dataset has the requested events (and enough of them).

        Parameters
        ----------
        dataset : moabb.datasets.base.BaseDataset
            The dataset.

        Returns
        -------
        valid : bool
            ``True`` if the paradigm can run on the dataset.
        """
        if self.events is not None and not set(self.events) <= set(dataset.event_id):
            return False
        return len(self._event_names(dataset)) >= (self.n_classes or 2)

    def _event_names(self, dataset) -> list:
        """The requested events (all the dataset's by default), before ``n_classes``."""
        return list(self.events) if self.events is not None else list(dataset.event_id)

    def used_events(self, dataset) -> dict:
        """Return the ``{event name: code}`` mapping decoded on ``dataset``.

        Parameters
        ----------
        dataset : moabb.datasets.base.BaseDataset
            The dataset to decode.

        Returns
        -------
        event_id : dict
            The events used.
        """
        names = self._event_names(dataset)
        if self.n_classes is not None:
            names = names[: self.n_classes]
        return {name: dataset.event_id[name] for name in names}

    @property
    def datasets(self) -> list:
        """Datasets MOABB would pick by default: none (pass them explicitly)."""
        return []

    @property
    def scoring(self):
        """The scorer: ``scorer`` if given, else ``"accuracy"``."""
        return self.scorer if self.scorer is not None else "accuracy"
