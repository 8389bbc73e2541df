#!/usr/bin/env bash
# Transfer benchmark on MOABB's Kalunga2016 (SSVEP, 4 classes, subjects 1-11).
#
# Usage: [KALUNGA_DATA=<MNE_DATA folder>] benchmarks/results/kalunga2016/run_transfer.sh [options]
#   options are passed to 'neurosketch benchmark' (e.g. --device cuda).
#
# Protocols (mne_neurosketch.benchmark.protocols): for each target subject,
#   zero-shot            pretrain on the 10 other subjects, score the target as is
#   transfer             ... then fine-tune on the target's training fold
#   *-unaligned          the same without the per-subject alignment (Euclidean
#                        alignment of the signals for NeuroSketch, Riemannian
#                        re-centring of the covariances for TSLR and MDM)
# The target's test folds are the within-session ones of kalunga2016.sqlite
# (MOABB's splitter, 5 folds, seed 42), so every row pairs with a row there.
#
# Resumable: every finished fit is in transfer.sqlite and every finished
# pretraining in transfer.pretrained/ (not committed; ~6 MB per model); rerun
# to continue.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${KALUNGA_DATA:-$here/../../../../shared/data/mne_data}"
export MNE_DATASETS_SSVEPEXO_PATH="$(cd "$data" && pwd)"
export MOABB_DOWNLOAD_PROVIDER=upstream
common=(--dataset Kalunga2016 --subjects 1-11 --results "$here/transfer.sqlite"
        --max-epochs 20 --batch-size 32 --no-progress "$@")
# Aligned first (the protocols the comparison is about). NeuroSketch's
# transfer before its zero-shot: it pretrains the models zero-shot then reads
# from the cache, so both have rows for a subject as soon as it is pretrained.
for suffix in "" -unaligned; do
    neurosketch benchmark "${common[@]}" --protocol "zero-shot$suffix" --models TSLR MDM
    neurosketch benchmark "${common[@]}" --protocol "transfer$suffix" --models NeuroSketch NeuroSketch-FB
    neurosketch benchmark "${common[@]}" --protocol "zero-shot$suffix" --models NeuroSketch NeuroSketch-FB
    neurosketch benchmark "${common[@]}" --protocol "transfer$suffix" --models TSLR MDM
done
# The filter bank without the other subjects, at the same budget (ablation).
neurosketch benchmark "${common[@]}" --protocol within-session --models NeuroSketch-FB
neurosketch report "$here/transfer.sqlite" --out "$here/transfer" --formats png \
    --title "Kalunga2016 (SSVEP), transfer protocols, subjects 1-11"
