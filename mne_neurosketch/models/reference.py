"""Load checkpoints trained with the original NeuroSketch implementation."""

# License: BSD (3-clause)

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from .neurosketch import NeuroSketch
from .neurosketch_sd import NeuroSketchSD

_DEPTH_KEYS = ("stage1_depth", "stage2_depth", "stage3_depth", "stage4_depth")
#: Keys of ``run/conf/model/NeuroSketch_{Base,Large}.yaml``.
BASE_KEYS = frozenset(
    {
        "name",
        "seg_dim",
        "stage1_dim",
        "stage2_dim",
        "stage3_dim",
        "embed_dim",
        "head_dim",
        "pooling",
        "residual",
        *_DEPTH_KEYS,
    }
)
#: Keys of ``run/conf/model/NeuroSketch_sd.yaml``.
SD_KEYS = frozenset(
    {
        "name",
        "seg_dim",
        "embed_dim",
        "drop_path_rate",
        "mlp_dropout",
        "cnn_dropout",
        "act_type",
        "head_dim",
        "mlp_ratio",
        *_DEPTH_KEYS,
    }
)
_ACTIVATIONS = {
    "ReLU": nn.ReLU,
    "GELU": nn.GELU,
    "SiLU": nn.SiLU,
    "Mish": nn.Mish,
    "HardSwish": nn.Hardswish,
}

# Reference state-dict key -> ours. Order matters: the first match wins.
_KEY_MAP = [
    (r"^encoder\.stem\.", "stem."),
    (r"^encoder\.features\.(\d+)\.patch_embed\.", r"blocks.\1.downsample."),
    (
        r"^encoder\.features\.(\d+)\.(?:cb|mhca)\.group_conv3x3\.",
        r"blocks.\1.conv_branch.conv.",
    ),
    (r"^encoder\.features\.(\d+)\.(?:cb|mhca)\.norm\.", r"blocks.\1.conv_branch.norm."),
    (
        r"^encoder\.features\.(\d+)\.(?:cb|mhca)\.projection\.",
        r"blocks.\1.conv_branch.proj.",
    ),
    (r"^encoder\.features\.(\d+)\.mlp\.conv1\.", r"blocks.\1.mlp.fc1."),
    (r"^encoder\.features\.(\d+)\.mlp\.conv2\.", r"blocks.\1.mlp.fc2."),
    (r"^encoder\.features\.(\d+)\.norm\.", r"blocks.\1.mlp_norm."),
    (r"^encoder\.norm\.", "final_norm."),
    (r"^pool\.p$", "pool.p"),
    (r"^fc\.", "final_layer."),
]
# Base/Large blocks own a BatchNorm their forward never uses: accepted, ignored.
_UNUSED_BASE = re.compile(r"^encoder\.features\.\d+\.norm\.")


def _is_sd(config: Mapping) -> bool:
    name = str(config.get("name", ""))
    if name:
        return name.lower().endswith("_sd")
    return bool(set(config) & (SD_KEYS - BASE_KEYS))


def _model_from_config(config, n_chans, n_times, n_outputs):
    unknown = set(config) - (SD_KEYS if _is_sd(config) else BASE_KEYS)
    if unknown:
        raise ValueError(
            f"Unknown key(s) {sorted(unknown)} in the reference model config. "
            f"Expected the keys of run/conf/model/NeuroSketch_*.yaml: for Base and "
            f"Large {sorted(BASE_KEYS)}, for SD {sorted(SD_KEYS)}."
        )
    missing = [k for k in _DEPTH_KEYS if k not in config]
    if missing:
        raise ValueError(f"The reference model config lacks {missing}.")
    depths = tuple(int(config[k]) for k in _DEPTH_KEYS)
    signal = dict(n_chans=n_chans, n_times=n_times, n_outputs=n_outputs)
    if not _is_sd(config):
        widths = tuple(
            int(config[k])
            for k in ("stage1_dim", "stage2_dim", "stage3_dim", "embed_dim")
        )
        return NeuroSketch(
            **signal,
            seg_dim=int(config.get("seg_dim", 3)),
            depths=depths,
            widths=widths,
            head_dim=int(config.get("head_dim", 4)),
            pooling=config.get("pooling", "gem"),
            residual=bool(config.get("residual", True)),
        )
    act = config.get("act_type", "ReLU")
    if act not in _ACTIVATIONS:
        raise ValueError(
            f"Unknown act_type {act!r} in the reference model config; allowed "
            f"values are {sorted(_ACTIVATIONS)}."
        )
    model = NeuroSketchSD(
        **signal,
        seg_dim=int(config.get("seg_dim", 3)),
        depths=depths,
        head_dim=int(config.get("head_dim", 32)),
        mlp_ratio=float(config.get("mlp_ratio", 3)),
        activation=_ACTIVATIONS[act],
        drop_prob=float(config.get("drop_path_rate", 0.0)),
        cnn_drop_prob=float(config.get("cnn_dropout", 0.0)),
        mlp_drop_prob=float(config.get("mlp_dropout", 0.0)),
    )
    embed = config.get("embed_dim")
    if embed is not None and int(embed) != model.stage_widths[-1][1]:
        raise ValueError(
            f"embed_dim={embed} in the reference config does not match the width "
            f"of the last NeuroSketch-SD stage ({model.stage_widths[-1][1]})."
        )
    return model


def convert_reference_state_dict(state_dict: Mapping, *, sd: bool) -> dict:
    """Rename a reference state dict to this package's parameter names.

    Parameters
    ----------
    state_dict : mapping
        State dict saved by the original implementation (keys such as
        ``encoder.features.0.cb.group_conv3x3.weight``).
    sd : bool
        Whether it comes from ``NeuroSketch_sd``. For Base/Large the unused
        per-block BatchNorm (``encoder.features.N.norm.*``) is dropped.

    Returns
    -------
    dict
        The state dict with this package's keys.
    """
    out = {}
    for key, value in state_dict.items():
        if not sd and _UNUSED_BASE.match(key):
            continue
        for pattern, repl in _KEY_MAP:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = value
                break
        else:
            raise KeyError(
                f"Unexpected key {key!r} in the reference state dict: it does not "
                "belong to a NeuroSketch checkpoint of the original implementation."
            )
    return out


def from_reference(config, state_dict, *, n_chans, n_times, n_outputs):
    """Build a model from an original NeuroSketch config and load its weights.

    Parameters
    ----------
    config : mapping
        The reference model config as a dict, with the keys of
        ``run/conf/model/NeuroSketch_Base.yaml``, ``NeuroSketch_Large.yaml``
        or ``NeuroSketch_sd.yaml`` (``name`` optional). SD is recognised from
        ``name`` or from its own keys (``act_type``, ``mlp_ratio``...).
    state_dict : mapping
        State dict saved by the original implementation (for a Lightning or
        Hugging Face checkpoint, the model's own state dict).
    n_chans, n_times, n_outputs : int
        Input channels, input samples and classes (``target_size``).

    Returns
    -------
    model : NeuroSketch | NeuroSketchSD
        The model with the weights loaded strictly, in eval mode.

    Raises
    ------
    ValueError
        On unknown config keys or values.
    KeyError
        On a state-dict key that the model does not have, or a missing one;
        the message names the key.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping (dict), got {type(config).__name__}.")
    config = dict(config)
    model = _model_from_config(config, n_chans, n_times, n_outputs)
    converted = convert_reference_state_dict(state_dict, sd=_is_sd(config))
    own = model.state_dict()
    missing = sorted(set(own) - set(converted))
    unexpected = sorted(set(converted) - set(own))
    if missing or unexpected:
        raise KeyError(
            f"The reference state dict does not fit the model built from the config: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected "
            f"{unexpected[:5]}{'...' if len(unexpected) > 5 else ''}. Check that the "
            "config is the one the checkpoint was trained with."
        )
    for key, value in converted.items():
        if own[key].shape != value.shape:
            raise ValueError(
                f"Shape mismatch for {key!r}: the checkpoint has {tuple(value.shape)}, "
                f"the model built from the config and n_chans={n_chans}, "
                f"n_outputs={n_outputs} has {tuple(own[key].shape)}."
            )
    model.load_state_dict({k: torch.as_tensor(v) for k, v in converted.items()})
    return model.eval()
