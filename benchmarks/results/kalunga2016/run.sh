#!/usr/bin/env bash
# Within-session benchmark on MOABB's Kalunga2016 (SSVEP, 4 classes, subjects 1-11).
#
# Usage: [KALUNGA_DATA=<MNE_DATA folder>] benchmarks/results/kalunga2016/run.sh [options]
#   options are passed to 'neurosketch benchmark', e.g. on a GPU machine:
#   KALUNGA_DATA=/data/mne_data benchmarks/results/kalunga2016/run.sh --device cuda
# KALUNGA_DATA defaults to ../shared/data/mne_data next to the repository; it holds
# MNE-ssvepexo-data/ as MOABB's downloader places it.
#
# Resumable: every finished fit is in kalunga2016.sqlite; rerun to continue.
# The models run one after the other (cheap ones first) so that a partial run
# still has complete results for the models it finished.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${KALUNGA_DATA:-$here/../../../../shared/data/mne_data}"
export MNE_DATASETS_SSVEPEXO_PATH="$(cd "$data" && pwd)"
export MOABB_DOWNLOAD_PROVIDER=upstream
common=(--dataset Kalunga2016 --subjects 1-11 --results "$here/kalunga2016.sqlite"
        --max-epochs 100 --batch-size 16 "$@")
for models in "TSLR MDM" EEGNet ShallowFBCSPNet NeuroSketch; do
    # shellcheck disable=SC2086
    neurosketch benchmark "${common[@]}" --models $models --no-progress
done
# braindecode's baselines with their own customary recipe and its budget (100
# epochs at batch 32; mne_neurosketch.benchmark._customary), as separate rows:
# the classic ones, then those braindecode ships for SSVEP / filter-bank data
# (FBCNet, IFNet) and a recent general one (EEGNeX).
for models in EEGNet-customary ShallowFBCSPNet-customary FBCNet-customary \
              IFNet-customary EEGNeX-customary; do
    neurosketch benchmark --dataset Kalunga2016 --subjects 1-11 \
        --results "$here/kalunga2016.sqlite" --models $models --no-progress "$@"
done
# Round 3's input representations at the shared recipe (about 90 s a fit on one
# core): the real and imaginary spectrum, then 1 Hz bands at the stimulation
# frequencies and their second harmonics (read from the event names 13, 17, 21).
neurosketch benchmark "${common[@]}" --models NeuroSketch-Spectrum --no-progress
neurosketch benchmark "${common[@]}" --models NeuroSketch-Harmonics --no-progress
# One command for the shared-recipe rows (finds every fit above in the store),
# then the report of all of them.
neurosketch benchmark "${common[@]}" --models TSLR MDM EEGNet ShallowFBCSPNet NeuroSketch \
    --no-progress
neurosketch report "$here/kalunga2016.sqlite" --out "$here" --formats png \
    --title "Kalunga2016 (SSVEP), within-session, subjects 1-11"
