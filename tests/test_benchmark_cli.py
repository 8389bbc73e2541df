"""The ``neurosketch`` command: help, list, benchmark, report and errors."""

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mne_neurosketch.benchmark import ResultsStore
from mne_neurosketch.benchmark.cli import _parser, main


def test_help_a_newcomer_can_follow(capsys):
    with pytest.raises(SystemExit, match="^0$"):  # argparse's exit status
        main(["--help"])
    out = capsys.readouterr().out
    assert "benchmark" in out and "report" in out and "list" in out
    with pytest.raises(SystemExit, match="^0$"):
        main(["benchmark", "--help"])
    out = capsys.readouterr().out
    for text in (
        "neurosketch benchmark --dataset simulated-seeddv",
        "--scheduler",
        "--n-workers",
        "--max-epochs",
        "--device",
        "resum",
    ):
        assert text in out
    assert main([]) == 2  # no command: the help, and a usage error status


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for text in (
        "NeuroSketch",
        "ShallowFBCSPNet",
        "TSLR",
        "simulated-seeddv",
        "Kalunga2016",
        "within-session",
        "grouped",
        "NeuroSketch-Select",
        "+dsbn",
        "+epoch0",
    ):
        assert text in out


def test_benchmark_then_report(tmp_path, capsys):
    results = tmp_path / "res.sqlite"
    code = main(
        [
            "benchmark",
            "--dataset",
            "fake",
            "--models",
            "TS+LR",
            "MDM",
            "--subjects",
            "1-2",
            "--n-splits",
            "3",
            "--results",
            str(results),
            "--report",
            str(tmp_path / "rep"),
            "--no-progress",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "protocol" in out
    assert re.search(r"\| TSLR +\|", out) and re.search(r"\| MDM +\|", out)
    df = ResultsStore(results).to_dataframe()
    assert sorted(df["subject"].unique()) == ["1", "2"]
    assert set(df["protocol"]) == {"within-session(n_splits=3)"}
    rep = tmp_path / "rep"
    for name in (
        "summary.md",
        "summary.csv",
        "results.csv",
        "stats.csv",
        "report.md",
        "score_plot.png",
        "score_plot.svg",
        "significance.png",
    ):
        assert (rep / name).is_file(), name
    # Without NeuroSketch, the first pipeline is the paired plots' reference.
    assert [p.name for p in rep.glob("paired_*.png")] == ["paired_TSLR_vs_MDM.png"]
    summary = pd.read_csv(rep / "summary.csv")
    assert set(summary["pipeline"]) == {"TSLR", "MDM"}
    # MOABB's FakeDataset is noise: the scores only have to be scores here
    assert summary["score_mean"].between(0, 1).all()
    # Rerun: nothing new to fit, same table.
    assert (
        main(
            [
                "benchmark",
                "--dataset",
                "fake",
                "--models",
                "TSLR",
                "MDM",
                "--subjects",
                "1",
                "2",
                "--n-splits",
                "3",
                "--results",
                str(results),
                "--no-progress",
            ]
        )
        == 0
    )
    assert len(ResultsStore(results)) == 2 * 2 * 3
    out = capsys.readouterr().out
    assert f"12 fits already in {results}, skipped." in out
    assert "Warning: only 2 subjects" in out  # too few for the statistics

    assert (
        main(["report", str(results), "--out", str(tmp_path / "r2"), "--no-plots"]) == 0
    )
    out = capsys.readouterr().out
    assert re.search(r"\| TSLR +\|", out)
    assert (tmp_path / "r2" / "summary.md").is_file()
    assert not list((tmp_path / "r2").glob("*.png"))


def test_clear_errors(tmp_path, capsys):
    res = str(tmp_path / "r.sqlite")
    assert (
        main(["benchmark", "--dataset", "nope", "--models", "TSLR", "--results", res])
        == 2
    )
    assert "Unknown dataset 'nope'" in capsys.readouterr().err
    assert (
        main(["benchmark", "--dataset", "fake", "--models", "CNN", "--results", res]) == 2
    )
    assert "Unknown model 'CNN'" in capsys.readouterr().err
    assert (
        main(
            [
                "benchmark",
                "--dataset",
                "fake",
                "--models",
                "TSLR",
                "--subjects",
                "7",
                "--results",
                res,
            ]
        )
        == 2
    )
    assert "no subject(s) [7]" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.sqlite")]) == 2
    assert "missing.sqlite does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="^2$"):
        main(["benchmark", "--dataset", "fake", "--max-epochs", "0"])
    assert "--max-epochs" in capsys.readouterr().err


def _corrupt_sqlite(path):
    """A results store whose pages after the schema are overwritten with noise."""
    import sqlite3

    from mne_neurosketch.benchmark.store import _COLUMN_NAMES

    ResultsStore(path)
    con = sqlite3.connect(path)
    for i in range(200):
        row = dict.fromkeys(_COLUMN_NAMES)
        row.update(key=f"k{i}", dataset="d", protocol="p", subject="1", session="0",
                   fold=i, pipeline="X", params_hash="h", params="{}" + " " * 500)
        con.execute(
            f"INSERT INTO fits ({','.join(row)}) VALUES ({','.join('?' * len(row))})",
            list(row.values()),
        )
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    with open(path, "r+b") as f:
        f.seek(3 * 4096)
        f.write(np.random.default_rng(0).bytes(5 * 4096))
    return path


def _damaged(tmp_path, kind):
    if kind == "folder":
        return tmp_path
    if kind == "not-sqlite":
        path = tmp_path / "notes.sqlite"
        path.write_text("these are my notes, not a results file\n")
        return path
    return _corrupt_sqlite(tmp_path / "corrupt.sqlite")


_FAKE = ["benchmark", "--dataset", "fake", "--models", "TSLR", "--no-progress"]


@pytest.mark.parametrize(
    "argv, match",
    [
        (_FAKE + ["--subjects", "a-b"], "'--subjects' parameter: 'a-b'"),
        (_FAKE + ["--subjects", "5-1"], "'--subjects' parameter: '5-1'"),
        (_FAKE + ["--device", "gpu"], "'device' parameter.*but got 'gpu'"),
    ],
)
def test_bad_arguments_one_line_status_2(tmp_path, capsys, argv, match):
    assert main(argv + ["--results", str(tmp_path / "r.sqlite")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(match, err), err
    assert not (tmp_path / "r.sqlite").exists()  # refused before any work


@pytest.mark.parametrize("command", ["benchmark", "report"])
@pytest.mark.parametrize(
    "kind, match",
    [
        ("folder", "is a folder"),
        ("not-sqlite", "not an SQLite file"),
        ("corrupt", "malformed"),
    ],
)
def test_damaged_results_file_one_line_status_2(tmp_path, capsys, command, kind, match):
    path = _damaged(tmp_path, kind)
    before = path.read_bytes() if path.is_file() else None
    if command == "benchmark":
        argv = _FAKE + ["--subjects", "1", "--results", str(path)]
    else:
        argv = ["report", str(path), "--out", str(tmp_path / "rep")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("neurosketch: error: ") and str(path) in err
    assert re.search(match, err), err
    if before is not None:
        assert path.read_bytes() == before  # the user's file is left as it was


def test_verbose_levels():
    parser = _parser()
    assert parser.parse_args(["report", "r.sqlite"]).verbose == "warning"
    assert parser.parse_args(["report", "r.sqlite", "-v"]).verbose == "info"
    assert parser.parse_args(["report", "r.sqlite", "--verbose", "DEBUG"]).verbose == (
        "debug"
    )
    with pytest.raises(SystemExit, match="^2$"):
        parser.parse_args(["report", "r.sqlite", "--verbose", "loud"])


def test_console_script():
    exe = shutil.which("neurosketch", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the neurosketch console script is not installed")
    proc = subprocess.run(
        [exe, "list", "protocols"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "cross-subject" in proc.stdout


def test_killed_run_resumes(tmp_path):
    """SIGKILL mid-run: the fits already committed stay, the rerun does only the rest."""
    results = tmp_path / "res.sqlite"
    args = [
        "benchmark",
        "--dataset",
        "fake",
        "--models",
        "TSLR",
        "EEGNet",
        "--max-epochs",
        "3",
        "--batch-size",
        "8",
        "--device",
        "cpu",
        "--n-splits",
        "3",
        "--results",
        str(results),
        "--no-progress",
    ]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from mne_neurosketch.benchmark.cli import "
            "main; sys.exit(main(sys.argv[1:]))",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    n_before = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists():
            n_before = len(ResultsStore(results))
            if n_before >= 3:
                break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = ResultsStore(results).to_dataframe(level="fold")
    total = 3 * 3 * 2  # subjects x folds x models
    assert 3 <= len(before) < total, "the run was not interrupted mid-way"
    assert main(args) == 0
    after = ResultsStore(results).to_dataframe(level="fold")
    assert len(after) == total
    kept = after.merge(before, on=["subject", "fold", "pipeline"], suffixes=("", "_0"))
    # The committed fits were skipped, not redone.
    assert len(kept) == len(before)
    assert (kept["created"] == kept["created_0"]).all()


def test_muse_p300_benchmark_scores_roc_auc(tmp_path, monkeypatch):
    # A registered corpus brings its scorer, default protocol and simulator.
    from mne_neurosketch.benchmark import ResultsStore

    monkeypatch.setenv("MNE_NEUROSKETCH_CACHE_DIR", str(tmp_path / "cache"))
    results = tmp_path / "muse.sqlite"
    code = main(["benchmark", "--dataset", "simulated-muse-p300", "--models", "TSLR",
                 "--subjects", "1-2", "--path", str(tmp_path / "sim"),
                 "--results", str(results), "--no-progress"])
    assert code == 0
    df = ResultsStore(results).to_dataframe()
    assert set(df["subject"].astype(str)) == {"1", "2"}
    assert df["protocol"].str.startswith("within-session").all()
    assert df["score"].min() > 0.8  # ROC-AUC (chance 0.5): 1.0 on the simulation
    # Unbalanced classes (1 target in 6): ROC-AUC, not accuracy (which would
    # give 0.83 for always answering "non-target").
    from mne_neurosketch.benchmark import resolve_dataset

    spec = resolve_dataset("muse", path=tmp_path / "sim")
    assert spec.paradigm().scoring == "roc_auc"
    assert spec.default_protocol == "within-session"
    assert spec.subjects == [1, 2, 3, 5]


def test_no_process_wide_changes(tmp_path, capsys):
    """main() may run inside a user's process: it leaves its settings as they were."""
    import logging
    import os
    import warnings

    from mne.utils import logger

    def settings():
        return (
            os.environ.get("PYTHONWARNINGS"),
            os.environ.get("MNE_DATA"),
            list(warnings.filters),
            logger.level,
            logging.getLogger("moabb").level,
        )

    before = settings()
    argv = _FAKE + ["--subjects", "1", "--n-splits", "2", "-v",
                    "--results", str(tmp_path / "r.sqlite")]
    assert main(argv) == 0
    assert settings() == before
    bad = tmp_path / "x.sqlite"
    assert main(["benchmark", "--dataset", "nope", "--results", str(bad), "-v"]) == 2
    assert settings() == before
    assert not bad.exists()  # a typo in a name leaves no empty results file
    assert "'nope'" in capsys.readouterr().err


def test_version(capsys):
    from mne_neurosketch import __version__

    with pytest.raises(SystemExit, match="^0$"):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"mne-neurosketch {__version__}"


def _bench(tmp_path, *extra, results="r.sqlite"):
    """``neurosketch benchmark`` of TSLR on MOABB's fake subject 1."""
    return main(["benchmark", "--dataset", "fake", "--models", "TSLR", "--subjects", "1",
                 "--results", str(tmp_path / results), "--no-progress", *extra])


def _protocols(path):
    return sorted(ResultsStore(path).to_dataframe()["protocol"].unique())


def test_protocol_options_reach_the_protocol(tmp_path, capsys):
    assert _bench(tmp_path, "--n-splits", "2", "--seed", "7", results="seed.sqlite") == 0
    assert "stratified 2-fold per subject and session, seed 7" in capsys.readouterr().out
    assert _bench(tmp_path, "--protocol", "paper", "--split", "simple") == 0
    # (the paper's splits keep the paper's seed)
    assert "protocol paper: one stratified 60/20/20" in capsys.readouterr().out
    assert _protocols(tmp_path / "r.sqlite") == ["paper(method=simple)"]
    # --group names the grouped protocol's metadata column
    assert _bench(tmp_path, "--protocol", "grouped", "--group", "block") == 2
    assert "no per-trial metadata column ['block']" in capsys.readouterr().err
    assert _bench(tmp_path, "--protocol", "grouped", "--group", "run",
                  "--n-splits", "2") == 0
    assert _protocols(tmp_path / "r.sqlite") == ["grouped(n_splits=2)",
                                                 "paper(method=simple)"]


def test_several_datasets_and_the_deep_budget(tmp_path, capsys):
    code = main(["benchmark", "--dataset", "fake", "simulated-faceshouses",
                 "--path", str(tmp_path / "data"), "--models", "TSLR", "EEGNet",
                 "--subjects", "1", "--n-splits", "2", "--max-epochs", "1",
                 "--patience", "3", "--seed", "7", "--device", "cpu",
                 "--results", str(tmp_path / "r.sqlite"), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    budgets = re.findall(r"EEGNet: max_epochs=1, batch_size=\w+, patience=3, "
                         r"device=cpu, seed=7", out)
    assert len(budgets) == 2  # once per dataset
    df = ResultsStore(tmp_path / "r.sqlite").to_dataframe()
    assert df["dataset"].nunique() == 2 and "FacesHouses-simulated" in set(df["dataset"])
    assert set(df["pipeline"]) == {"TSLR", "EEGNet"}


def test_benchmark_on_dask_workers_and_scheduler(tmp_path, capsys):
    from distributed import LocalCluster

    assert _bench(tmp_path, "--scheduler", "tcp://127.0.0.1:1", "--n-workers", "1") == 2
    assert "give --scheduler or --n-workers, not both" in capsys.readouterr().err
    assert _bench(tmp_path, "--n-splits", "2", "--n-workers", "1",
                  results="workers.sqlite") == 0
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        assert _bench(tmp_path, "--n-splits", "2", "--scheduler",
                      cluster.scheduler_address, results="scheduler.sqlite") == 0
    serial = ResultsStore(tmp_path / "workers.sqlite").to_dataframe()
    remote = ResultsStore(tmp_path / "scheduler.sqlite").to_dataframe()
    assert len(serial) == len(remote) == 1  # one subject-session row
    assert serial["score"].iloc[0] == remote["score"].iloc[0]


def test_report_reference_formats_and_title(tmp_path, capsys):
    assert main(["benchmark", "--dataset", "fake", "--models", "TSLR", "MDM",
                 "--subjects", "1", "2", "--n-splits", "2", "--no-progress",
                 "--results", str(tmp_path / "r.sqlite")]) == 0
    out = tmp_path / "rep"
    assert main(["report", str(tmp_path / "r.sqlite"), "--out", str(out),
                 "--reference", "TSLR", "--formats", "pdf", "--title", "Fake check"]) == 0
    # by default the first pipeline, MDM, would be the reference
    assert [p.name for p in out.glob("paired_*")] == ["paired_MDM_vs_TSLR.pdf"]
    assert not list(out.glob("*.png")) and not list(out.glob("*.svg"))
    assert (out / "score_plot.pdf").is_file()
    assert (out / "report.md").read_text().splitlines()[0] == "# Fake check"
