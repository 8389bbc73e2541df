"""CCA, TRCA and TS+LR on Kalunga2016's three stimulated classes, within session.

MOABB's SSVEP paradigm with the 13, 17 and 21 Hz classes (CCA and TRCA cannot
decode the "rest" class), 5-fold stratified cross-validation per subject, the
benchmark's own pipelines (``make_pipeline``). Run with the recordings in
MOABB's layout; nothing is written to the MNE configuration::

    MNE_DATASETS_SSVEPEXO_PATH=/work/shared/data/mne_data \\
    MOABB_DOWNLOAD_PROVIDER=upstream python benchmarks/kalunga_ssvep_methods.py 1 2 3
"""

import argparse
import sys

from moabb.datasets import Kalunga2016
from moabb.paradigms import SSVEP
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.preprocessing import LabelEncoder

from mne_neurosketch.benchmark import make_pipeline


def main(subjects):
    paradigm = SSVEP(events=["13", "17", "21"], n_classes=3)
    for subject in subjects:
        X, labels, _ = paradigm.get_data(Kalunga2016(), subjects=[subject])
        encoder = LabelEncoder().fit(labels)
        y = encoder.transform(labels)
        facts = dict(sfreq=256.0, freqs=[float(c) for c in encoder.classes_])
        cv = StratifiedKFold(5, shuffle=True, random_state=42)
        scores = {
            name: cross_val_score(
                make_pipeline(name, **(facts if name != "TSLR" else {})),
                X * 1e6, y, cv=cv,
            ).mean()
            for name in ("CCA", "TRCA", "TSLR")
        }
        print(f"subject {subject} {X.shape}: "
              + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()), flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("subjects", nargs="*", type=int, default=[1, 2, 3])
    sys.exit(main(parser.parse_args().subjects))
