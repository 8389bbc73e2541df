"""Save files: the format, the allow-list of classes, reading weight files.

:meth:`~mne_neurosketch.NeuroSketchClassifier.save` writes tensors and plain
values only, so that :func:`read` opens files with
``torch.load(weights_only=True)``: a file cannot run code. Classes it names (the
network, an activation) are looked up in :func:`trusted_classes`, never
imported. Format versions: 1; 2 adds the Epochs channel names; 3 the fit's
training settings; 4 its numeric path (``numerics``). Every version loads;
``tests/data/saved_v4.pt`` pins version 4.
"""

# License: BSD (3-clause)

import os
from pathlib import Path

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from torch import nn

from ..augmentation import RecipeAugmentation, resolve_augmentation
from ..models.registry import registry
from ..numerics import names_cuda
from ..utils import warn
from .net import Seeds

SAVE_FORMAT = "mne-neurosketch.NeuroSketchClassifier"
SAVE_VERSION = 4
#: The recipe's fields, keywords of the estimator in version 1-2 files.
_RECIPE_FIELDS = tuple(RecipeAugmentation().get_params())


def _to_portable(value, name):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [_to_portable(v, name) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {str(k): _to_portable(v, name) for k, v in value.items()}
    if isinstance(value, type):
        return {"__class__": f"{value.__module__}:{value.__qualname__}"}
    if isinstance(value, RecipeAugmentation):
        return {"__recipe__": _to_portable(value.get_params(), name)}
    raise ValueError(
        f"Parameter {name!r} holds a {type(value).__name__}, which save() cannot "
        "store. Use pickle to save this estimator, or pass plain values."
    )


def _class_path(cls):
    return f"{cls.__module__}:{cls.__qualname__}"


def trusted_classes():
    """The classes load() resolves by name: this package's and braindecode's
    models, and torch.nn's layers (e.g. an ``activation`` in ``module_kwargs``).

    All are imported already; a name outside this table is never imported.
    """
    classes = [entry.cls for entry in registry().values()]
    classes += [c for c in vars(nn).values()
                if isinstance(c, type) and issubclass(c, nn.Module)]
    return {_class_path(c): c for c in classes}


def _from_portable(value, resolve):
    """Undo :func:`_to_portable`; ``resolve`` maps a class name to a class."""
    if isinstance(value, list):
        return [_from_portable(v, resolve) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(_from_portable(v, resolve) for v in value["__tuple__"])
        if set(value) == {"__class__"}:
            return resolve(value["__class__"])
        if set(value) == {"__recipe__"}:
            return RecipeAugmentation(**_from_portable(value["__recipe__"], resolve))
        return {k: _from_portable(v, resolve) for k, v in value.items()}
    return value


#: Fields of a save file per format version: required, and optional.
_SAVE_FIELDS = {
    "format": str, "version": int, "params": dict, "module_class": dict,
    "module_init": dict, "classes": list, "classes_dtype": str, "n_features_in": int,
    "n_chans": int, "n_times": int, "sfreq": (int, float, type(None)),
    "scaling": (int, float), "state_dict": dict, "ch_names": (list, type(None)),
    "fit": dict,
    "n_bands": int,  # written for filter banks only: plain files stay as before
    "numerics": dict,
}


_REQUIRED_FIELDS = {
    1: set(_SAVE_FIELDS) - {"scaling", "ch_names", "fit", "n_bands"},
    2: set(_SAVE_FIELDS) - {"fit", "n_bands"},
    3: set(_SAVE_FIELDS) - {"n_bands", "numerics"},
    4: set(_SAVE_FIELDS) - {"n_bands"},
}


_OPTIONAL_FIELDS = {1: {"scaling"}, 2: {"n_bands"}, 3: {"n_bands"}, 4: {"n_bands"}}


#: Keys of the "fit" field: the fitted values the net was built with.
_FIT_FIELDS = ("max_epochs", "batch_size", "augmentation", "net_args")


def _legacy_params(params):
    """Parameters of a version 1-2 file, the recipe keywords as ``augmentation``."""
    fields = {k: params.pop(k) for k in _RECIPE_FIELDS if k in params}
    params.pop("transforms", None)  # save() could only store None
    if fields and fields != RecipeAugmentation().get_params():
        params["augmentation"] = RecipeAugmentation(**fields)
    return params


def check_save_file(data, path, name):
    """Raise a ValueError naming ``path`` unless ``data`` is a complete save file."""
    if not isinstance(data, dict) or data.get("format") != SAVE_FORMAT:
        raise ValueError(f"{path} is not a file written by {name}.save().")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(
            f"{path} has an invalid format version {version!r}; the file is damaged. "
            "Save the estimator again."
        )
    if version > SAVE_VERSION:
        raise ValueError(
            f"{path} was written by a newer mne-neurosketch (format version "
            f"{version}; this one reads versions up to {SAVE_VERSION}). Upgrade "
            "mne-neurosketch to load it."
        )
    required = _REQUIRED_FIELDS[version]
    missing = sorted(required - set(data))
    extra = sorted(set(data) - required - _OPTIONAL_FIELDS[version])
    problems = [f"field(s) {missing} missing"] if missing else []
    problems += [f"unexpected field(s) {extra}"] if extra else []
    for key in sorted(set(data) & set(_SAVE_FIELDS)):
        expected = _SAVE_FIELDS[key]
        if not isinstance(data[key], expected) or isinstance(data[key], bool):
            types = expected if isinstance(expected, tuple) else (expected,)
            names = [t.__name__ for t in types]
            problems.append(f"field {key!r} is a {type(data[key]).__name__}, "
                            f"expected {' or '.join(names)}")
    if problems:
        raise ValueError(
            f"{path} is a {name} file (format version {version}), but "
            f"{'; '.join(problems)}. The file is damaged or was edited; save the "
            "estimator again."
        )


def load_torch_file(path, hint):
    """``torch.load(weights_only=True)`` of ``path``; errors end with ``hint``."""
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {path}. {hint}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"Cannot read {path} ({err}). {hint}") from None


def _fit_record(data, est, path, resolve):
    """The fitted values a save file states its network was built with."""
    if data["version"] < 3:
        # Earlier files do not state them; they do not change predictions.
        batch_size = int(est.batch_size)
        return {"max_epochs": int(est.max_epochs), "batch_size": batch_size,
                "augmentation": resolve_augmentation(est.augmentation),
                "net_args": {"batch_size": batch_size, "n_train": batch_size,
                             "seeds": [0] * len(Seeds._fields), "finetune": False}}
    fit = data["fit"]
    args = fit.get("net_args")
    if set(fit) != set(_FIT_FIELDS) or not isinstance(args, dict) or set(args) != {
            "batch_size", "n_train", "seeds", "finetune"}:
        raise ValueError(
            f"{path} has an incomplete 'fit' field (keys {sorted(fit)}); the file "
            "is damaged or was edited. Save the estimator again.")
    return {**fit, "augmentation": _from_portable(fit["augmentation"], resolve)}


def _class_resolver(path, saved_module_class, module, extra):
    """Map the class names in a save file to classes, importing nothing."""
    trusted = trusted_classes()
    for cls in extra:
        if not isinstance(cls, type):
            raise TypeError(f"trusted_classes must hold classes, got {cls!r}.")
        trusted[_class_path(cls)] = cls
    network = saved_module_class.get("__class__")
    if module is not None:
        if not (isinstance(module, type) and issubclass(module, nn.Module)):
            raise TypeError(
                "module must be an nn.Module subclass (the network class the file "
                f"was saved with), got {module!r} instead."
            )
        trusted[network] = module

    def resolve(name):
        try:
            return trusted[name]
        except (KeyError, TypeError):
            pass
        if name == network:
            hint = (f"If you trust this file, pass its network class: "
                    f"NeuroSketchClassifier.load({str(path)!r}, module=YourNet).")
        else:
            hint = ("If you trust this file and the class is yours, pass it: "
                    f"NeuroSketchClassifier.load({str(path)!r}, "
                    "trusted_classes=[YourClass]).")
        raise ValueError(
            f"{path} names the class {name!r}, which load() does not import: it "
            "only resolves this package's models, braindecode's models and "
            f"torch.nn layers. {hint}"
        )

    return resolve


def is_state_dict(value):
    return isinstance(value, dict) and bool(value) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def read_weights_file(path):
    """(state dict, classes or None) from a save() file or a saved state dict."""
    data = load_torch_file(path, (
        "init_weights takes a file written by NeuroSketchClassifier.save() or "
        "torch.save(model.state_dict())."))
    if isinstance(data, dict) and data.get("format") == SAVE_FORMAT:
        check_save_file(data, path, "NeuroSketchClassifier")
        return data["state_dict"], np.asarray(data["classes"],
                                              dtype=data["classes_dtype"])
    if is_state_dict(data):
        return data, None
    raise ValueError(
        f"The init_weights file {path} holds neither a NeuroSketchClassifier.save() "
        "file nor a state dict (parameter name -> tensor).")


def _check_target_path(path):
    if path.is_dir():
        raise IsADirectoryError(
            f"Cannot save to {path}: it is a folder. save() writes one file; pass "
            f"a file name such as {path / 'classifier.pt'}."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"Cannot save to {path}: the folder {path.parent} does not exist. "
            "Create it first."
        )


def write(est, path):
    """Write the fitted estimator ``est`` to ``path`` (format :data:`SAVE_VERSION`)."""
    path = Path(path)
    _check_target_path(path)
    params = est.get_params(deep=False)
    # The trained weights are in the file; only a path to the initial ones
    # is kept (an estimator or a state dict there is not needed to predict).
    init = params["init_weights"]
    params["init_weights"] = str(init) if isinstance(init, (str, os.PathLike)) else None
    params = {k: _to_portable(v, k) for k, v in params.items()}
    net = est.net_
    torch.save({
        "format": SAVE_FORMAT,
        "version": SAVE_VERSION,
        "params": params,
        "module_class": _to_portable(type(est.module_), "module"),
        "module_init": _to_portable(net.get_params_for("module"), "module_kwargs"),
        "classes": [c.item() if hasattr(c, "item") else c for c in est.classes_],
        "classes_dtype": str(est.classes_.dtype),
        "n_features_in": int(est.n_features_in_),
        "n_chans": est.n_chans_,
        "n_times": est.n_times_,
        "sfreq": est.sfreq_,
        "scaling": est.scaling_,
        "ch_names": est.ch_names_,
        "fit": {
            "max_epochs": est.max_epochs_,
            "batch_size": est.batch_size_,
            "augmentation": _to_portable(est.augmentation_, "augmentation"),
            # pickles of 0.3 kept them on the estimator
            "net_args": getattr(net, "build_args", None) or est.__dict__["_net_args"],
        },
        "state_dict": {k: v.detach().cpu() for k, v in est.module_.state_dict().items()},
        "numerics": {
            "device": torch.device(net.device).type,
            "train_path": est.train_path_,
            "inference_path": est.inference_path_,
            "inference_bf16": bool(net.inference_choice[1]),
        },
        **({"n_bands": est.n_bands_} if getattr(est, "n_bands_", 1) > 1 else {}),
    }, path)


def _load_device(path, params, device):
    """``device``, or the saved one if available here (else the CPU, warned)."""
    if device is not None:
        return device
    device = params.get("device", "auto")
    if names_cuda(device) and not torch.cuda.is_available():
        warn(f"{path} was saved with device={device!r}, which is not available "
             "here; loading on the CPU.")
        return "cpu"
    return device


def _read_params(cls, path, data, resolve, module, device):
    params = _from_portable(data["params"], resolve)
    if data["version"] < 3:
        params = _legacy_params(params)
    unknown = sorted(set(params) - set(cls._get_param_names()))
    if unknown:
        raise ValueError(
            f"{path} sets unknown {cls.__name__} parameter(s) {unknown}; the "
            "file is damaged or was written by another version. Save the "
            "estimator again."
        )
    if module is not None:
        params["module"] = module
    params["device"] = _load_device(path, params, device)
    return params


def _set_fitted_attributes(est, data, path):
    try:
        est.classes_ = np.asarray(data["classes"], dtype=data["classes_dtype"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} has unreadable classes ({err}). Save the "
                         "estimator again.") from None
    est.label_encoder_ = LabelEncoder().fit(est.classes_)
    est.n_features_in_ = data["n_features_in"]
    est.n_chans_, est.n_times_ = data["n_chans"], data["n_times"]
    est.n_bands_ = data.get("n_bands", 1)
    est.sfreq_ = data["sfreq"]
    est.scaling_ = float(data.get("scaling", 1.0))
    est.ch_names_ = data.get("ch_names")


def _read_numerics(data, path):
    """The fit's own numeric decision (``numerics.inference_dtype``), or None."""
    numerics = data.get("numerics")
    if numerics is None:
        return None
    if set(numerics) != {"device", "train_path", "inference_path", "inference_bf16"}:
        raise ValueError(
            f"{path} has an incomplete 'numerics' field (keys {sorted(numerics)}); "
            "the file is damaged or was edited. Save the estimator again.")
    return numerics


def read(cls, path, *, module=None, trusted=(), device=None):
    """The fitted ``cls`` (NeuroSketchClassifier) that ``path`` holds."""
    path = Path(path)
    data = load_torch_file(path, f"Pass a file written by {cls.__name__}.save().")
    check_save_file(data, path, cls.__name__)
    resolve = _class_resolver(path, data["module_class"], module, trusted)
    est = cls(**_read_params(cls, path, data, resolve, module, device))
    _set_fitted_attributes(est, data, path)
    module_cls = _from_portable(data["module_class"], resolve)
    fit = _fit_record(data, est, path, resolve)
    est.max_epochs_, est.batch_size_ = fit["max_epochs"], fit["batch_size"]
    est.augmentation_ = fit["augmentation"]
    args = fit["net_args"]
    module_init = _from_portable(data["module_init"], resolve)
    net = est._build_net(module=(module_cls, module_init),
                         batch_size=args["batch_size"], n_train=args["n_train"],
                         seeds=Seeds(*args["seeds"]), finetune=args["finetune"])
    try:
        with torch.random.fork_rng(devices=[]):  # init weights are overwritten
            net.initialize()
        net.module_.load_state_dict(data["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        raise ValueError(
            f"The weights in {path} do not fit the {module_cls.__name__} built "
            f"from its saved parameters ({err}). The file is damaged, or "
            "module= is not the class it was saved with."
        ) from None
    numerics = _read_numerics(data, path)
    if numerics is not None:
        est.train_path_ = str(numerics["train_path"])
        net.restore_inference_choice(str(numerics["device"]), numerics["inference_bf16"])
    est.net_ = net
    est.history_ = net.history
    return est
