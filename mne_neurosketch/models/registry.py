"""One registry of model names: this package's models and braindecode's.

The estimator (``NeuroSketchClassifier(module="...")``), the benchmark's
pipelines and the speed scripts resolve model names here. A name is matched
case-insensitively, ignoring ``-``, ``_`` and spaces, against each model's
name and aliases (``"NeuroSketch-Base"``, ``"EEGNetv4"``...). The module
imports neither torch nor braindecode: classes are imported when first asked
for, so that listings stay fast.
"""

# License: BSD (3-clause)

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["ModelEntry", "get_model", "model_names", "registry", "resolve_model"]


@dataclass(frozen=True)
class ModelEntry:
    """A model the package can build by name.

    Attributes
    ----------
    name : str
        Canonical name (the class name).
    target : str
        ``"module:qualname"`` of the class, imported by :attr:`cls`.
    description : str
        One line for listings.
    aliases : tuple of str
        Other accepted spellings.
    fixed : mapping
        Keyword arguments the class always has (e.g. ``preset="large"`` for
        ``NeuroSketchLarge``); the estimator refuses ``module_kwargs`` that
        contradict them.
    recipe : mapping | None
        The model's customary AdamW ``lr`` and ``weight_decay`` (braindecode
        baselines of the benchmark); ``None`` for the others.
    needs : tuple of str
        Signal parameters the model cannot infer from an array (``"sfreq"``
        for networks that design filters in Hz).
    """

    name: str
    target: str
    description: str
    aliases: tuple = ()
    fixed: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    recipe: MappingProxyType | None = None
    needs: tuple = ()

    @property
    def cls(self) -> type:
        """The model class (imported on first use)."""
        module, _, qualname = self.target.partition(":")
        return getattr(importlib.import_module(module), qualname)


def _own(name, module, description, aliases=(), **fixed):
    return ModelEntry(
        name, f"mne_neurosketch.models.{module}:{name}", description, aliases,
        MappingProxyType(fixed),
    )


def _bd(name, description, aliases=(), lr=None, weight_decay=0.0, needs=()):
    recipe = None if lr is None else MappingProxyType(
        dict(lr=lr, weight_decay=weight_decay))
    return ModelEntry(name, f"braindecode.models:{name}", description, aliases,
                      recipe=recipe, needs=needs)


#: This package's models, then the benchmark's braindecode baselines with
#: their customary learning rate and weight decay (AdamW): braindecode's
#: trialwise examples for ShallowFBCSPNet and Deep4Net, the authors' settings
#: otherwise (Adam at 1e-3; EEGConformer 2e-4). braindecode's other models are
#: added from ``braindecode.models.util.models_dict`` when first looked up.
_STATIC = (
    _own("NeuroSketch", "neurosketch",
         "NeuroSketch-Base (the paper's default, 1.4 M parameters)",
         ("NeuroSketch-Base",)),
    _own("NeuroSketchLarge", "neurosketch", "NeuroSketch-Large (4.2 M parameters)",
         ("NeuroSketch-Large",), preset="large"),
    _own("NeuroSketchSD", "neurosketch_sd", "NeuroSketch-SD (21 M parameters)",
         ("NeuroSketch-SD",)),
    _bd("EEGNet", "braindecode EEGNet (Lawhern et al. 2018)", ("EEGNetv4",),
        lr=1e-3),
    _bd("ShallowFBCSPNet", "braindecode ShallowFBCSPNet (Schirrmeister et al. 2017)",
        ("ShallowConvNet",), lr=0.0625 * 0.01),
    _bd("Deep4Net", "braindecode Deep4Net (Schirrmeister et al. 2017)",
        ("DeepConvNet",), lr=1 * 0.01, weight_decay=0.5 * 0.001),
    _bd("EEGConformer", "braindecode EEGConformer (Song et al. 2023)", lr=2e-4),
    _bd("ATCNet", "braindecode ATCNet (Altaheri et al. 2023)", lr=1e-3),
    _bd("EEGInceptionERP", "braindecode EEG-Inception for ERPs (Santamaria-Vazquez "
        "et al. 2020)", lr=1e-3),
    _bd("FBCNet", "braindecode FBCNet, filter bank inside the network (Mane et al. "
        "2021)", lr=1e-3, needs=("sfreq",)),
    _bd("IFNet", "braindecode IFNet, interactive frequency bands (Wang et al. 2023)",
        lr=1e-3, needs=("sfreq",)),
    _bd("EEGNeX", "braindecode EEGNeX (Chen et al. 2024)", lr=1e-3),
)
OWN_MODELS = tuple(e.name for e in _STATIC if e.target.startswith("mne_neurosketch"))
#: braindecode models the benchmark compares against (those with a recipe).
BASELINES = tuple(e.name for e in _STATIC if e.recipe is not None)

_cache: dict = {}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


def registry() -> MappingProxyType:
    """Every registered model, by canonical name (braindecode's included).

    Returns
    -------
    models : mapping of str to ModelEntry
        Read-only; imports braindecode on the first call.
    """
    if "full" not in _cache:
        from braindecode.models.util import models_dict

        entries = {e.name: e for e in _STATIC}
        for name in models_dict:
            entries.setdefault(name, _bd(name, f"braindecode {name}"))
        _cache["full"] = MappingProxyType(entries)
    return _cache["full"]


def _lookup(entries) -> dict:
    table = {}
    for entry in entries:
        for spelling in (entry.name, *entry.aliases):
            table.setdefault(_key(spelling), entry)
    return table


def resolve_model(name: str) -> ModelEntry:
    """The registry entry of a model name or alias.

    Parameters
    ----------
    name : str
        A model name (``"NeuroSketch"``, ``"EEGNet"``, any braindecode model)
        or an alias (``"NeuroSketch-Large"``, ``"EEGNetv4"``...).

    Returns
    -------
    entry : ModelEntry
        The model's entry.
    """
    if not isinstance(name, str):
        raise TypeError(f"A model name must be a str, got {type(name).__name__}.")
    entry = _lookup(_STATIC).get(_key(name))  # no braindecode import if known
    if entry is None:
        entries = registry()
        entry = _lookup(entries.values()).get(_key(name))
        if entry is None:
            close = difflib.get_close_matches(name, list(entries), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"Invalid value for the 'module' parameter: unknown model {name!r}."
                f"{hint} Allowed values are this package's models "
                f"({', '.join(OWN_MODELS)}) and braindecode's models "
                "(braindecode.models.util.models_dict)."
            )
    return entry


def get_model(name: str) -> type:
    """The model class of a name or alias.

    Parameters
    ----------
    name : str
        A model name or alias (see :func:`resolve_model`).

    Returns
    -------
    cls : type
        The model class (a braindecode model).
    """
    return resolve_model(name).cls


def model_names(*, own_only: bool = False) -> list:
    """Canonical model names, this package's first.

    Parameters
    ----------
    own_only : bool
        Only this package's models (no braindecode import).

    Returns
    -------
    names : list of str
        The names, in registry order.
    """
    if own_only:
        return list(OWN_MODELS)
    return list(registry())


# ---------------------------------------------------------------------------
# The estimator's ``module`` and ``module_kwargs``
# ---------------------------------------------------------------------------
#: Signal parameters the estimator sets from the data.
SIGNAL_PARAMS = ("n_chans", "n_times", "n_outputs")


def resolve_module(module, module_kwargs):
    """The estimator's ``module`` and ``module_kwargs`` as (class, keyword arguments)."""
    from torch import nn  # only here: the registry itself imports no torch

    kwargs = dict(module_kwargs or {})
    bad = sorted(set(kwargs) & set(SIGNAL_PARAMS))
    if bad:
        raise ValueError(
            f"module_kwargs must not contain {bad}: NeuroSketchClassifier sets "
            "n_chans, n_times and n_outputs from the data. Remove them."
        )
    if isinstance(module, str):
        entry = resolve_model(module)
        for key, value in entry.fixed.items():
            if key in kwargs and kwargs[key] != value:
                raise ValueError(
                    f"module={module!r} implies {key}={value!r}, but module_kwargs "
                    f"has {key}={kwargs[key]!r}. Use module='NeuroSketch' with "
                    f"module_kwargs={{'{key}': {kwargs[key]!r}}} instead."
                )
        return entry.cls, {**entry.fixed, **kwargs}
    if isinstance(module, type) and issubclass(module, nn.Module):
        return module, kwargs
    raise TypeError(
        "module must be a model name (str) or an nn.Module subclass, got "
        f"{type(module).__name__} instead. Pass the class, not an instance."
    )


def _check_module_kwargs(cls, kwargs, params):
    """Name the model and its parameters when ``module_kwargs`` has an unknown key."""
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return  # the model takes any keyword
    valid = [name for name, p in params.items() if name != "self"
             and name not in SIGNAL_PARAMS and p.kind is not p.VAR_POSITIONAL]
    unknown = sorted(set(kwargs) - set(valid))
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"Invalid module_kwargs key(s) {unknown} for {cls.__name__}.{hint} Valid "
        f"parameters of {cls.__name__} are: {', '.join(valid)}."
    )


def module_init_kwargs(module, module_kwargs, *, n_chans, n_times, n_outputs,
                       sfreq=None, n_bands=1):
    """The class and every keyword argument of the network built for these data.

    ``module``/``module_kwargs`` are the estimator's; the signal parameters
    come from the data; ``sfreq`` goes to models that take it, ``n_bands`` (a
    filter bank) to models that take it, or raises.
    """
    cls, kwargs = resolve_module(module, module_kwargs)
    params = inspect.signature(cls.__init__).parameters
    _check_module_kwargs(cls, kwargs, params)
    kwargs.update(n_chans=n_chans, n_times=n_times, n_outputs=n_outputs)
    if n_bands > 1:  # a filter bank: one input plane per band
        if "n_bands" not in params:
            raise ValueError(
                f"X is a filter bank of {n_bands} bands (n_trials, n_chans, n_times, "
                f"n_bands), but {cls.__name__} takes no n_bands parameter. Use a "
                "module that does (NeuroSketch, NeuroSketchSD), or stack the bands "
                "as channels (StackFilterBank).")
        kwargs.setdefault("n_bands", n_bands)
    if sfreq is not None and "sfreq" in params and "sfreq" not in kwargs:
        kwargs["sfreq"] = float(sfreq)
    return cls, kwargs

