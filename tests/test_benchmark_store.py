"""The SQLite results store: round trip, MOABB export, concurrency, crash safety."""

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from mne_neurosketch.benchmark import store as store_module
from mne_neurosketch.benchmark.store import FitRecord, ResultsStore, fit_key

MOABB_COLUMNS = [
    "score",
    "time",
    "samples",
    "samples_test",
    "n_classes",
    "subject",
    "session",
    "channels",
    "n_sessions",
    "dataset",
    "pipeline",
]


def _record(subject=1, fold=0, pipeline="TSLR", score=0.5, **kw):
    values = dict(
        dataset="Fake",
        protocol="within-session",
        subject=str(subject),
        session="0",
        fold=fold,
        pipeline=pipeline,
        params_hash="abc",
        score=score,
        fit_time=1.0 + fold,
        samples=40,
        samples_test=10,
        n_classes=2,
        channels=3,
        scores={"balanced_accuracy": score / 2},
    )
    values.update(kw)
    return FitRecord(**values)


def test_round_trip_and_moabb_format(tmp_path):
    store = ResultsStore(tmp_path / "sub" / "res.sqlite")
    assert len(store) == 0
    recs = [_record(s, f, score=0.1 * (f + 1) + s) for s in (1, 2) for f in range(3)]
    assert store.add(recs) == 6
    assert len(store) == 6
    assert recs[0].key in store and "nope" not in store
    assert store.keys() == {r.key for r in recs}

    folds = store.to_dataframe(level="fold")
    assert len(folds) == 6
    assert folds["versions"].iloc[0]["numpy"] == np.__version__
    assert folds["scores"].iloc[0] == {"balanced_accuracy": pytest.approx(0.55)}

    df = store.to_dataframe()
    assert list(df.columns[: len(MOABB_COLUMNS)]) == MOABB_COLUMNS
    assert len(df) == 2
    row = df[df["subject"] == "1"].iloc[0]
    # MOABB averages the folds of a session; "samples" counts train + test trials.
    assert row["score"] == pytest.approx(np.mean([1.1, 1.2, 1.3]))
    assert row["time"] == pytest.approx(2.0)
    assert row["samples"] == 50 and row["samples_test"] == 10
    assert row["n_folds"] == 3
    assert row["score_balanced_accuracy"] == pytest.approx(np.mean([1.1, 1.2, 1.3]) / 2)
    assert isinstance(row["subject"], str) and isinstance(row["session"], str)
    assert len(store.to_dataframe(subject=2)) == 1
    with pytest.raises(ValueError, match="Unknown column"):
        store.to_dataframe(color="red")


def test_duplicate_keys_are_ignored(tmp_path):
    store = ResultsStore(tmp_path / "res.sqlite")
    assert store.add(_record(score=0.9)) == 1
    # Same fit again (a second writer racing on it): the first row stays.
    assert store.add([_record(score=0.1), _record(fold=1)]) == 1
    df = store.to_dataframe(level="fold")
    assert sorted(df["fold"]) == [0, 1]
    assert df.loc[df["fold"] == 0, "score"].item() == 0.9


def test_key_identifies_the_fit():
    base = ("d", "p", "1", "0", 0, "EEGNet", "h")
    keys = {fit_key(*base)}
    for i in range(len(base)):
        changed = list(base)
        changed[i] = 1 if i == 4 else changed[i] + "x"
        keys.add(fit_key(*changed))
    assert len(keys) == len(base) + 1
    assert (
        fit_key(*base)
        == _record(
            dataset="d",
            protocol="p",
            subject="1",
            session="0",
            fold=0,
            pipeline="EEGNet",
            params_hash="h",
        ).key
    )


# Child processes load store.py alone (it needs only the standard library and
# pandas), so they start in a fraction of a second instead of importing torch.
_LOAD_STORE = textwrap.dedent(
    f"""
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location(
        "_store", {str(store_module.__file__)!r}
    )
    store_mod = importlib.util.module_from_spec(spec)
    sys.modules["_store"] = store_mod
    spec.loader.exec_module(store_mod)
    FitRecord, ResultsStore = store_mod.FitRecord, store_mod.ResultsStore
    """
)

_WRITER = _LOAD_STORE + textwrap.dedent(
    """
    store = ResultsStore(sys.argv[1])
    writer = int(sys.argv[2])
    for i in range(40):
        # Every other record is shared by both writers.
        subject, fold = (str(writer), i) if i % 2 else ("0", 10_000 + i)
        store.add(FitRecord(dataset="d", protocol="p", subject=subject, session="0",
                            fold=fold, pipeline="m", params_hash="h", score=0.5,
                            fit_time=0.0))
    """
)


def test_two_processes_write_at_once(tmp_path):
    path = tmp_path / "res.sqlite"
    ResultsStore(path)
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(k)])
        for k in (1, 2)
    ]
    assert [p.wait(120) for p in procs] == [0, 0]
    df = ResultsStore(path).to_dataframe(level="fold")
    # 20 private records per writer + 20 shared ones, each exactly once.
    assert len(df) == 60
    assert df.duplicated(["subject", "fold"]).sum() == 0


_KILLED_WRITER = _LOAD_STORE + textwrap.dedent(
    """
    store = ResultsStore(sys.argv[1])
    i = 0
    while True:
        rec = FitRecord(dataset="d", protocol="p", subject="1", session="0", fold=i,
                        pipeline="m", params_hash="h", score=i / 1e4, fit_time=0.0,
                        params={"blob": "x" * 2000})
        store.add(rec)
        print(rec.key, flush=True)
        i += 1
    """
)


def test_kill_loses_nothing_committed(tmp_path):
    path = tmp_path / "res.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    acknowledged = []
    deadline = time.monotonic() + 120
    while len(acknowledged) < 30 and time.monotonic() < deadline:
        acknowledged.append(proc.stdout.readline().strip())
    proc.send_signal(signal.SIGKILL)  # in the middle of a write, most likely
    proc.wait()
    assert len(acknowledged) == 30
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    store = ResultsStore(path)
    keys = store.keys()
    assert set(acknowledged) <= keys
    folds = store.to_dataframe(level="fold")["fold"]
    # Rows are whole and contiguous: fold i was written only after fold i - 1.
    assert sorted(folds) == list(range(len(folds)))


def test_bad_paths(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        ResultsStore(tmp_path)
    bad = tmp_path / "notes.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(sqlite3.DatabaseError, match="notes.sqlite"):
        ResultsStore(bad)


def test_moabb_export_empty(tmp_path):
    df = ResultsStore(tmp_path / "r.sqlite").to_dataframe()
    assert df.empty and list(df.columns[:11]) == MOABB_COLUMNS
    assert isinstance(df, pd.DataFrame)


def test_file_from_before_the_data_hash_column_opens(tmp_path):
    """A file written before the data_hash and numerics columns gains them; rows stay."""
    path = tmp_path / "old.sqlite"
    old_columns = [(n, k) for n, k in store_module._COLUMNS
                   if n not in store_module._APPENDED]
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE fits ({', '.join(f'{n} {k}' for n, k in old_columns)})")
    con.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    old = _record()
    row = dict(zip(store_module._COLUMN_NAMES, old._row()))
    for name in store_module._APPENDED:
        del row[name]
    con.execute(f"INSERT INTO fits VALUES ({', '.join('?' * len(row))})",
                list(row.values()))
    con.commit()
    con.close()
    store = ResultsStore(path)
    assert old.key in store
    new = _record(fold=1, data_hash="d1", numerics="cpu: bf16 / cpu: fused+bf16")
    assert store.add(new) == 1
    df = store.to_dataframe(level="fold")
    assert list(df["data_hash"]) == ["", "d1"]
    assert list(df["numerics"]) == ["", "cpu: bf16 / cpu: fused+bf16"]
    assert new.key == _record(fold=1, data_hash="d1").key  # not part of the key
    # The data hash is part of the key; without one the key is as before.
    assert new.key != _record(fold=1).key
    assert _record(fold=1).key == fit_key(
        "Fake", "within-session", "1", "0", 1, "TSLR", "abc"
    )
