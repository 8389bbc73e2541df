"""``neurosketch prepare``: caches built ahead, serially or on Dask workers."""

import re

import numpy as np
import pytest

from mne_neurosketch.benchmark.cli import main
from mne_neurosketch.benchmark.prepare import prepare
from mne_neurosketch.datasets._cache import entry_path
from mne_neurosketch.datasets.seed_dv import SEEDDV, simulate_seed_dv


def _windows(ds):
    return np.stack([ds[i][0] for i in range(len(ds))])


def _entries(reader, cache_dir, subjects):
    return [
        entry_path(cache_dir, reader.code, s, reader.cache_params()) for s in subjects
    ]


def test_prepare_serial_then_served_by_cache(tmp_path):
    simulate_seed_dv(tmp_path, subjects=(1, 2), seed=4)
    cache_dir = tmp_path / "cache"
    reference = SEEDDV([1, 2], path=tmp_path, cache=False)
    prepared = prepare(SEEDDV(1, path=tmp_path, cache=False), [1, 2],
                       cache_dir=cache_dir, progress=False)
    assert [(p.subject, p.n_recordings, p.n_windows) for p in prepared] == [
        (1, 2, 30), (2, 2, 30)
    ]
    reader = reference.reader
    entries = _entries(reader, cache_dir, [1, 2])
    assert all((e / "manifest.json").is_file() for e in entries)
    # the cache now serves the subjects: no recording is read again
    read = []
    for s in (1, 2):
        reader.load_subject(s, cache_dir=cache_dir, on_recording=read.append)
    assert read == []
    cached = SEEDDV([1, 2], path=tmp_path, cache_dir=cache_dir)
    np.testing.assert_array_equal(_windows(cached), _windows(reference))


def test_prepare_cli(tmp_path, capsys):
    cache_dir = tmp_path / "cache"
    code = main(["prepare", "--dataset", "simulated-seeddv", "--path",
                 str(tmp_path / "sim"), "--subjects", "1-2", "--cache-dir",
                 str(cache_dir), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"subject 1: \d+ runs, \d+ windows", out) and "subject 2:" in out
    assert str(cache_dir) in out
    assert len(list((cache_dir / "SEED-DV").glob("sub-*/*/manifest.json"))) == 2
    # a MOABB dataset is refused with a clear message and exit status 2
    assert main(["prepare", "--dataset", "fake", "--no-progress"]) == 2
    assert "prepare builds the cache of the corpora" in capsys.readouterr().err


def test_prepare_on_dask_workers(tmp_path):
    simulate_seed_dv(tmp_path, subjects=(1, 2), seed=5)
    cache_dir = tmp_path / "cache"
    prepared = prepare("seeddv", [2, 1], path=tmp_path, cache_dir=cache_dir,
                       n_workers=1, progress=False)
    assert [p.subject for p in prepared] == [2, 1]  # in the order asked
    reader = SEEDDV(1, path=tmp_path, cache=False).reader
    entries = _entries(reader, cache_dir, [1, 2])
    assert all((e / "manifest.json").is_file() for e in entries)
    with pytest.raises(ValueError, match="not both"):
        prepare("seeddv", [1], path=tmp_path, scheduler="tcp://x:1", n_workers=1)
