#!/usr/bin/env bash
# Round 3 levers on Kalunga2016's transfer protocols (SSVEP, 4 classes, subjects 1-11),
# each against the same pipeline without it, all computed by the same code in
# one results file, levers.sqlite (the protocols of run_transfer.sh):
#   NeuroSketch          the baseline: pretrain on the 10 other subjects
#                        (Euclidean alignment), fine-tune on the target's fold
#   NeuroSketch+epoch0   fine-tuning keeps the pretrained weights unless an epoch
#                        beats them on the validation split (the same pretrained
#                        models as NeuroSketch: pipelines.pretraining_key)
#   NeuroSketch+dsbn     per-subject BatchNorm statistics (new pretrainings)
#   +loss                the best epoch by validation loss (new pretrainings)
# and the lever that paid (+dsbn) on the filter bank (NeuroSketch-FB; about
# 2 hours a pipeline on one core of a 2-core CPU).
#
# Usage: [KALUNGA_DATA=<MNE_DATA folder>] benchmarks/results/kalunga2016/run_levers.sh [options]
#   options are passed to 'neurosketch benchmark' (e.g. --device cuda).
# Resumable: finished fits are in levers.sqlite, pretrained models in
# levers.pretrained/ (not committed); rerun to continue.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${KALUNGA_DATA:-$here/../../../../shared/data/mne_data}"
export MNE_DATASETS_SSVEPEXO_PATH="$(cd "$data" && pwd)"
export MOABB_DOWNLOAD_PROVIDER=upstream
common=(--dataset Kalunga2016 --subjects 1-11 --results "$here/levers.sqlite"
        --max-epochs 20 --batch-size 32 --no-progress "$@")
neurosketch benchmark "${common[@]}" --protocol transfer --models NeuroSketch
neurosketch benchmark "${common[@]}" --protocol transfer --models NeuroSketch+epoch0
neurosketch benchmark "${common[@]}" --protocol transfer --models NeuroSketch+dsbn
neurosketch benchmark "${common[@]}" --protocol zero-shot --models NeuroSketch NeuroSketch+dsbn
# The lever that paid, on the filter bank (about 5 minutes a subject on one
# core of a 2-core CPU), both levers together, then the filter bank's
# baseline computed by the same code (round 2's is in transfer.sqlite).
neurosketch benchmark "${common[@]}" --protocol transfer --models NeuroSketch-FB+dsbn
neurosketch benchmark "${common[@]}" --protocol transfer --models NeuroSketch+dsbn+epoch0
neurosketch benchmark "${common[@]}" --protocol transfer --models NeuroSketch-FB
# The levers that need no other subject, within-session at the same budget (a
# few seconds a fit): an ensemble of 3 seeds and the choice between the signal
# and the ERP prototypes on a validation split of the training fold, against
# NeuroSketch (about 30 minutes in all).
neurosketch benchmark "${common[@]}" --protocol within-session --models NeuroSketch
neurosketch benchmark "${common[@]}" --protocol within-session --models NeuroSketch+ens3
neurosketch benchmark "${common[@]}" --protocol within-session --models NeuroSketch-Select
# Model selection on the validation loss instead of the accuracy (+loss; its
# own pretraining), on the best transfer pipeline: about an hour.
neurosketch benchmark "${common[@]}" --protocol transfer --models NeuroSketch-FB+dsbn+loss
# With epoch 0 competing on that loss (the same pretrained models; 20 minutes).
neurosketch benchmark "${common[@]}" --protocol transfer --models NeuroSketch-FB+dsbn+epoch0+loss
