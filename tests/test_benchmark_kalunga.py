"""Real data: MOABB's Kalunga2016 (SSVEP) through the benchmark, reduced to one subject.

Skipped when ``../shared/data`` (next to the repository) is absent. The full run is
``benchmarks/results/kalunga2016/`` (see its README).
"""

from pathlib import Path

import numpy as np
import pytest
from moabb.pipelines import ExtendedSSVEPSignal
from pyriemann.estimation import Covariances
from pyriemann.tangentspace import TangentSpace
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder

from mne_neurosketch.benchmark import ResultsStore, resolve_dataset
from mne_neurosketch.benchmark.cli import main

DATA = Path(__file__).resolve().parent / ".." / ".." / "shared" / "data"
MNE_DATA = DATA / "mne_data"

pytestmark = pytest.mark.skipif(
    not (MNE_DATA / "MNE-ssvepexo-data").is_dir(),
    reason=f"Kalunga2016 recordings not found in {MNE_DATA}",
)


@pytest.fixture
def kalunga_env(monkeypatch):
    monkeypatch.setenv("MNE_DATASETS_SSVEPEXO_PATH", str(MNE_DATA.resolve()))
    monkeypatch.setenv("MOABB_DOWNLOAD_PROVIDER", "upstream")


def test_kalunga_one_subject(kalunga_env, tmp_path):
    results = tmp_path / "kalunga.sqlite"
    code = main(
        [
            "benchmark",
            "--dataset",
            "Kalunga2016",
            "--subjects",
            "1",
            "--models",
            "TSLR",
            "MDM",
            "EEGNet",
            "--max-epochs",
            "1",
            "--batch-size",
            "16",
            "--device",
            "cpu",
            "--results",
            str(results),
            "--no-progress",
        ]
    )
    assert code == 0
    folds = ResultsStore(results).to_dataframe(level="fold")
    assert len(folds) == 3 * 5  # 3 pipelines x 5 within-session folds
    assert set(folds["dataset"]) == {"Kalunga2016"}
    assert set(folds["n_classes"]) == {4} and set(folds["channels"]) == {8}
    assert set(folds.loc[folds["pipeline"] == "EEGNet", "device"]) == {"cpu"}

    # Independently: MOABB's TSLR-SSVEP pipeline on all three filter-bank bands
    # (MOABB 1.7.2's WithinSessionEvaluation would pass only the first band).
    spec = resolve_dataset("Kalunga2016")
    X, labels, meta = spec.paradigm("filterbank").get_data(spec.dataset, subjects=[1])
    assert X.shape[1:] == (8, 513, 3)
    assert set(meta["session"]) == {"0"}
    y = LabelEncoder().fit_transform(labels)
    pipe = make_pipeline(
        ExtendedSSVEPSignal(),
        Covariances("oas"),
        TangentSpace(metric="riemann"),
        LogisticRegression(max_iter=1000),
    )
    expected = cross_val_score(
        pipe, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=42)
    )
    ours = folds[folds["pipeline"] == "TSLR"].sort_values("fold")["score"].to_numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-10)
    assert ours.mean() > 0.5  # 4 classes: chance is 0.25


# The user guide's MOABB transfer route (CrossSubjectEvaluation with a labelled
# calibration slice) runs verbatim on these recordings in tests/test_doc_code_blocks.py.
