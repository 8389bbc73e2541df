"""Keywords of the estimator that are deprecated: delete this file with them.

Before ``augmentation``, the recipe's fields (``mixup_p``, ... ``time_mask_len``)
and ``transforms`` were keywords and attributes of the estimator. They still
work in this release, with a FutureWarning.
"""

# License: BSD (3-clause)

import inspect

from sklearn.base import clone

from ..augmentation import Mixup, RecipeAugmentation, resolve_augmentation
from ..utils import warn

#: Recipe keywords of the constructor before ``augmentation`` replaced them.
DEPRECATED_RECIPE = tuple(RecipeAugmentation().get_params())


def augmentation_from_deprecated(augmentation, deprecated):
    """``augmentation`` with the deprecated recipe keywords folded in (warned)."""
    if not deprecated:
        return augmentation
    unknown = sorted(set(deprecated) - {*DEPRECATED_RECIPE, "transforms"})
    if unknown:
        raise TypeError(f"NeuroSketchClassifier got an unexpected keyword argument "
                        f"{unknown[0]!r}.")
    given = ", ".join(f"{k}={v!r}" for k, v in deprecated.items())
    fields = {k: v for k, v in deprecated.items() if k != "transforms"}
    if isinstance(augmentation, RecipeAugmentation):
        recipe = clone(augmentation).set_params(**fields)
    elif isinstance(augmentation, str) and augmentation == "recipe":
        recipe = RecipeAugmentation(**fields)
    else:
        raise ValueError(
            f"{given} set(s) the recipe's augmentations, which augmentation="
            f"{augmentation!r} does not use. Pass augmentation=RecipeAugmentation"
            f"({', '.join(f'{k}={v!r}' for k, v in fields.items())}) instead.")
    new = recipe
    if deprecated.get("transforms") is not None:
        new = list(deprecated["transforms"])
        if recipe.mixup_p > 0:
            new.append(Mixup(recipe.mixup_alpha, recipe.mixup_p))
    hint = ("set_params(augmentation__mixup_p=...) and grid searches reach its fields"
            if new is recipe else "mixup, if wanted, goes last in the list")
    warn(f"The keyword(s) {given} are deprecated and will be removed in the next "
         f"release. Pass augmentation={new!r} instead "
         f"(from mne_neurosketch.augmentation); {hint}.", category=FutureWarning)
    return new


def hide_deprecated_keywords(init):
    """Leave ``**deprecated`` out of ``init``'s signature, which scikit-learn reads
    for the parameter names (and its checks call with every name it lists)."""
    sig = inspect.signature(init)
    init.__signature__ = sig.replace(parameters=[
        p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD])
    return init


def fold_deprecated_params(params, augmentation):
    """``set_params``'s ``params`` with the deprecated keywords (warned) folded into
    ``augmentation``, and ``augmentation__*`` given a RecipeAugmentation to set."""
    old = {k: params.pop(k) for k in list(params)
           if k in DEPRECATED_RECIPE or k == "transforms"}
    if old:
        params["augmentation"] = augmentation_from_deprecated(
            params.get("augmentation", augmentation), old)
    nested = sorted(k for k in params if k.startswith("augmentation__"))
    augmentation = params.get("augmentation", augmentation)
    if nested and not isinstance(augmentation, RecipeAugmentation):
        if not (isinstance(augmentation, str) and augmentation == "recipe"):
            raise ValueError(
                f"{nested[0]} sets a field of a RecipeAugmentation, but "
                f"augmentation={augmentation!r}. Set augmentation="
                "RecipeAugmentation(...) first.")
        params["augmentation"] = RecipeAugmentation()  # "recipe", made editable
    return params


def deprecated_attribute(estimator, name):
    """A recipe field read as an attribute of the estimator (warned)."""
    if name not in DEPRECATED_RECIPE or "augmentation" not in estimator.__dict__:
        raise AttributeError(
            f"{type(estimator).__name__!r} object has no attribute {name!r}")
    recipe = resolve_augmentation(estimator.augmentation)
    if not isinstance(recipe, RecipeAugmentation):
        raise AttributeError(f"augmentation={estimator.augmentation!r} has no {name!r}.")
    warn(f"NeuroSketchClassifier.{name} is deprecated and will be removed in the "
         f"next release; read augmentation.{name} of a RecipeAugmentation "
         "instead.", category=FutureWarning)
    return getattr(recipe, name)
