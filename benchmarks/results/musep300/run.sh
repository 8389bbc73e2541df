#!/usr/bin/env bash
# Muse P300 (NeuroTechX eeg-notebooks; target vs non-target, ROC-AUC), subjects 1, 2, 3, 5:
# within-session and the transfer protocols, in one results file.
#
# Usage: [MUSE_DATA=<muse-p300 folder>] benchmarks/results/musep300/run.sh [options]
#   options are passed to 'neurosketch benchmark' (e.g. --device cuda).
# MUSE_DATA defaults to ../shared/data/muse-p300 next to the repository.
#
# Protocols (mne_neurosketch.benchmark.protocols):
#   within-session       MOABB's splitter, 5 folds, seed 42, per subject
#   zero-shot            pretrain on the 3 other subjects, score the target's
#                        within-session test folds as is
#   transfer             ... then fine-tune on the target's training fold
#   *-unaligned          the same without the per-subject alignment (Euclidean
#                        alignment of the signals for NeuroSketch, Riemannian
#                        re-centring of the covariances for TSLR and MDM)
# Every transfer row pairs with the within-session row of the same test fold.
#
# Resumable: every finished fit is in musep300.sqlite and every finished
# pretraining in musep300.pretrained/ (not committed); rerun to continue.
# The cheap classical pipelines run first, then NeuroSketch.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${MUSE_DATA:-$here/../../../../shared/data/muse-p300}"
data_args=(--dataset musep300 --path "$(cd "$data" && pwd)" --subjects 1 2 3 5
           --results "$here/musep300.sqlite" --no-progress "$@")
common=("${data_args[@]}" --max-epochs 10 --batch-size 64)
for protocol in within-session zero-shot transfer zero-shot-unaligned transfer-unaligned
do
    neurosketch benchmark "${common[@]}" --protocol "$protocol" \
        --models XdawnTSLR XdawnMDM TSLR MDM
done
for protocol in zero-shot transfer within-session zero-shot-unaligned transfer-unaligned
do
    neurosketch benchmark "${common[@]}" --protocol "$protocol" --models NeuroSketch
done
# braindecode's baselines, within-session: EEGNet, the ERP network
# EEGInceptionERP and the recent EEGNeX with the shared recipe at NeuroSketch's
# budget, then with their own customary recipe and its budget (100 epochs at
# batch 32; EEGInceptionERP-customary about 3-4 minutes a fit and
# EEGNeX-customary about 6 on one core of a 2-core CPU: 2-4 hours each).
for models in EEGNet EEGInceptionERP EEGNeX; do
    neurosketch benchmark "${common[@]}" --protocol within-session --models $models
done
for models in EEGNet-customary EEGNeX-customary EEGInceptionERP-customary; do
    neurosketch benchmark "${data_args[@]}" --protocol within-session --models $models
done
neurosketch report "$here/musep300.sqlite" --out "$here" --formats png \
    --title "Muse P300, subjects 1, 2, 3, 5"
