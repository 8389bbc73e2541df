"""
.. _ex-from-reference:

Load a checkpoint trained with the original NeuroSketch code
============================================================

The original implementation of NeuroSketch (the ``Galaxy-Dawn/NeuroSketch``
repository) describes a model with a YAML file such as
``run/conf/model/NeuroSketch_Base.yaml`` and saves its weights under its own
parameter names (``encoder.features.0.cb.group_conv3x3.weight``...).
:func:`mne_neurosketch.from_reference` turns such a config and state dict into
a :class:`mne_neurosketch.NeuroSketch` with the same function, ready for
braindecode, skorch or MOABB.

This example has no checkpoint of the original code at hand, so it first
writes one: a small model of this package with random weights, renamed back
to the original key layout with the inverse of the mapping that
:func:`mne_neurosketch.models.convert_reference_state_dict` applies. It then
loads that file as a user would load their own, and checks that both models
give the same logits.
"""

# Authors: mne-neurosketch developers
# License: BSD (3-clause)

import re
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import yaml

from mne_neurosketch import NeuroSketch, from_reference
from mne_neurosketch.utils import set_random_seeds

set_random_seeds(42)

# %%
# The model config, as the original code writes it
# -------------------------------------------------
# The keys are those of ``NeuroSketch_Base.yaml``; the depths and widths are
# reduced so that the example runs in seconds. The input size and the number
# of classes are not part of the YAML: the original code takes them from the
# dataset config (``input_channels``, ``seq_len``, ``target_size``).

config_yaml = """
name: NeuroSketch
seg_dim: 3
stage1_depth: 1
stage2_depth: 2
stage3_depth: 1
stage4_depth: 1
stage1_dim: 32
stage2_dim: 48
stage3_dim: 64
embed_dim: 96
head_dim: 4
pooling: gem
residual: True
"""
config = yaml.safe_load(config_yaml)
n_chans, n_times, n_outputs = 17, 100, 5  # e.g. ThingsEEG-sized input

# %%
# A checkpoint in the original layout
# -----------------------------------
# We build the same network with this package and give every parameter and
# BatchNorm statistic a random value, so that each one matters for the
# check below.

source = NeuroSketch(
    n_chans=n_chans,
    n_outputs=n_outputs,
    n_times=n_times,
    depths=tuple(config[f"stage{i}_depth"] for i in range(1, 5)),
    widths=(
        config["stage1_dim"],
        config["stage2_dim"],
        config["stage3_dim"],
        config["embed_dim"],
    ),
)
with torch.no_grad():
    for name, tensor in source.state_dict().items():
        if name.endswith("running_var"):
            tensor.uniform_(0.5, 2.0)
        elif name == "pool.p":
            tensor.uniform_(2.0, 4.0)
        elif tensor.is_floating_point():
            tensor.normal_(0.0, 0.2)
source.eval()

# %%
# The original code names the same tensors differently. This table maps our
# names back to the original ones (the first matching pattern wins).

TO_REFERENCE = [
    (r"^stem\.", "encoder.stem."),
    (r"^blocks\.(\d+)\.downsample\.", r"encoder.features.\1.patch_embed."),
    (r"^blocks\.(\d+)\.conv_branch\.conv\.", r"encoder.features.\1.cb.group_conv3x3."),
    (r"^blocks\.(\d+)\.conv_branch\.norm\.", r"encoder.features.\1.cb.norm."),
    (r"^blocks\.(\d+)\.conv_branch\.proj\.", r"encoder.features.\1.cb.projection."),
    (r"^final_norm\.", "encoder.norm."),
    (r"^pool\.p$", "pool.p"),
    (r"^final_layer\.", "fc."),
]


def to_reference_key(key):
    """Return the original implementation's name of one of our parameters."""
    for pattern, replacement in TO_REFERENCE:
        new, n_subs = re.subn(pattern, replacement, key)
        if n_subs:
            return new
    raise KeyError(key)


reference_state = {to_reference_key(k): v.clone() for k, v in source.state_dict().items()}

# %%
# Each block of the original Base/Large model also owns a BatchNorm (``norm``)
# that its forward pass never uses; its tensors are in every original
# checkpoint, so we add them too. :func:`~mne_neurosketch.from_reference`
# accepts and ignores exactly these keys.

for i, block in enumerate(source.blocks):
    width = block.conv_branch.proj.out_channels
    prefix = f"encoder.features.{i}.norm."
    reference_state[prefix + "weight"] = torch.ones(width)
    reference_state[prefix + "bias"] = torch.zeros(width)
    reference_state[prefix + "running_mean"] = torch.zeros(width)
    reference_state[prefix + "running_var"] = torch.ones(width)
    reference_state[prefix + "num_batches_tracked"] = torch.tensor(0)

print(f"{len(reference_state)} tensors, for example:")
for key in list(reference_state)[24:30]:
    print(f"  {key:48s} {tuple(reference_state[key].shape)}")

tmp_dir = Path(tempfile.mkdtemp())
(tmp_dir / "NeuroSketch_Base.yaml").write_text(config_yaml, encoding="utf-8")
torch.save(reference_state, tmp_dir / "neurosketch_weights.pt")

# %%
# Loading it
# ----------
# This is all a user with a checkpoint of the original code needs: the YAML
# model config as a dict, the state dict, and the input and output sizes the
# model was trained with. The weights are loaded strictly: a missing or
# unexpected key, or a shape that does not fit ``n_chans`` and ``n_outputs``,
# raises an error that names it.

config = yaml.safe_load((tmp_dir / "NeuroSketch_Base.yaml").read_text(encoding="utf-8"))
state_dict = torch.load(tmp_dir / "neurosketch_weights.pt", weights_only=True)
model = from_reference(
    config, state_dict, n_chans=n_chans, n_times=n_times, n_outputs=n_outputs
)
print(model.__class__.__name__, "in eval mode:", not model.training)

# %%
# Same function, same logits
# --------------------------
# Both models see the same batch; in eval mode their logits agree to float32
# rounding.

x = torch.randn(64, n_chans, n_times)
with torch.no_grad():
    expected = source(x)
    logits = model(x)
rel_err = ((logits - expected).norm() / expected.norm()).item()
print(f"relative L2 error of the logits: {rel_err:.2e}")
assert rel_err < 1e-5

fig, ax = plt.subplots(figsize=(4.5, 4.5), layout="constrained")
ax.scatter(expected.flatten(), logits.flatten(), s=8, alpha=0.6)
lims = [expected.min().item(), expected.max().item()]
ax.plot(lims, lims, color="0.4", lw=1, ls="--")
ax.set(
    xlabel="logits of the source model",
    ylabel="logits after from_reference",
    title=f"{logits.numel()} logits, relative error {rel_err:.1e}",
)

# %%
# A wrong config is caught
# ------------------------
# Loading the same weights with a config that does not describe them (here a
# wider last stage) fails with a message that says what does not fit.

wrong = dict(config, embed_dim=128)
try:
    from_reference(
        wrong, state_dict, n_chans=n_chans, n_times=n_times, n_outputs=n_outputs
    )
except (KeyError, ValueError) as err:
    print(type(err).__name__, str(err)[:300])
