"""What we tried when NeuroSketch lost on Kalunga2016: the same run without augmentation.

NeuroSketch-Base with the paper's recipe but no mixup, shift, noise or masking,
on subjects 1-3 (a small run: the full run's budget, 100 epochs, batch 16),
stored in ``kalunga2016_noaug.sqlite`` under the name ``NeuroSketch-noaug``.

Usage: MNE_DATASETS_SSVEPEXO_PATH=<mne_data> MOABB_DOWNLOAD_PROVIDER=upstream \
    python benchmarks/results/kalunga2016/variant_noaug.py
"""

from pathlib import Path

from mne_neurosketch.benchmark import make_pipeline, run_benchmark

if __name__ == "__main__":  # Dask-safe entry point
    here = Path(__file__).resolve().parent
    pipelines = {
        "NeuroSketch-noaug": make_pipeline(
            "NeuroSketch", max_epochs=100, batch_size=16, augmentation=None
        )
    }
    run_benchmark(
        "Kalunga2016",
        pipelines,
        subjects=[1, 2, 3],
        results=here / "kalunga2016_noaug.sqlite",
        progress=False,
    )
