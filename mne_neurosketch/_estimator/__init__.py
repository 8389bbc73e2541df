"""The rooms behind :class:`~mne_neurosketch.NeuroSketchClassifier` (private).

``estimator.py`` is the scikit-learn face; each module here holds one concern:

- ``inputs``: any accepted X (array, Epochs, braindecode dataset) to validated
  trials, through one door (``fit_trials``, ``fitted_trials``);
- ``params``: what each constructor parameter accepts, checked at fit;
- ``net``: the skorch net that trains with the recipe, its loader and seeds;
- ``finetune``: pretrained weights (a skorch callback), frozen layers, a new head;
- ``persistence``: the save file, its allow-list of classes, weight files;
- ``deprecated``: keywords to delete when their time comes.

``doc/architecture.rst`` draws how data flows through them.
"""
