"""The cache of preprocessed windows against damaged, hostile and random entries.

The only outcomes allowed are a correct load, a rebuild (with at most one warning,
naming the entry) or a clear error naming the file.
"""

import json
import multiprocessing
import os
import shutil
import time
import warnings
import zlib

import numpy as np
import pytest
from _toy_corpus import _Toy, _ToyReader, make_toy, windows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mne_neurosketch.datasets import _cache

SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A toy corpus, its expected windows and one healthy cache entry of subject 1."""
    base = tmp_path_factory.mktemp("pristine")
    root = base / "toy"
    make_toy(root)
    cache_dir = base / "cache"
    expected = windows(_Toy(1, path=root, cache_dir=cache_dir))
    reader = _ToyReader(root)
    entry = _cache.entry_path(cache_dir, reader.code, 1, reader.cache_params())
    return root, expected, entry


class _Counting:
    """A fresh cache (a copy of the pristine one) and a count of real reads."""

    def __init__(self, pristine, tmp):
        self.root, self.expected, entry = pristine
        self.cache_dir = tmp / "cache"
        if self.cache_dir.exists():
            shutil.rmtree(self.cache_dir)
        rel = entry.relative_to(entry.parents[2])
        self.entry = self.cache_dir / rel
        shutil.copytree(entry.parents[2], self.cache_dir)
        self.counter = multiprocessing.Value("i", 0)

    def load(self):
        """Load subject 1; return the windows and the warnings raised."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = _Toy(1, path=self.root, cache_dir=self.cache_dir, counter=self.counter)
        caught = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        return windows(ds), caught

    def check_outcome(self, forged=False):
        """A correct load or one rebuild with one warning naming the entry.

        ``forged``: the manifest's checksum was recomputed after the edit, so a
        consistent edit (e.g. one recording less) is a valid entry and loads as such.
        """
        got, caught = self.load()
        if forged:
            assert got.ndim == 3 and got.shape[1:] == self.expected.shape[1:]
        else:
            np.testing.assert_array_equal(got, self.expected)
        assert self.counter.value in (0, 1)
        assert len(caught) <= 1
        for w in caught:
            assert str(self.entry) in str(w.message)
        # whatever happened, the entry is healthy now and loads the same again
        again, caught = self.load()
        np.testing.assert_array_equal(again, got)
        assert caught == [] and self.counter.value in (0, 1)
        return got


def _manifest(entry):
    return json.loads((entry / "manifest.json").read_text())


def _write_manifest(entry, manifest, *, resign=True):
    """Write a manifest; ``resign`` recomputes its checksum (a deliberate forger)."""
    if resign and isinstance(manifest, dict):
        body = {k: v for k, v in manifest.items() if k != "crc32"}
        manifest = dict(body, crc32=zlib.crc32(json.dumps(body, sort_keys=True).encode()))
    (entry / "manifest.json").write_text(json.dumps(manifest))


# ------------------------------------------------------------- the named cases
@pytest.mark.parametrize(
    "damage",
    ["no crc32", "no sources", "sources a string", "recordings a dict", "file name int"],
)
@pytest.mark.parametrize("resign", [False, True])
def test_manifest_schema(pristine, tmp_path, damage, resign):
    cache = _Counting(pristine, tmp_path)
    manifest = _manifest(cache.entry)
    files = manifest["recordings"][0]["files"]
    if damage == "no crc32":
        del files["data"]["crc32"]
    elif damage == "no sources":
        del manifest["sources"]
    elif damage == "sources a string":
        manifest["sources"] = "sub-1.npy"
    elif damage == "recordings a dict":
        manifest["recordings"] = {"0": manifest["recordings"][0]}
    else:
        files["y"]["name"] = 7
    _write_manifest(cache.entry, manifest, resign=resign)
    got, caught = cache.load()
    assert len(caught) == 1
    msg = str(caught[0].message)
    assert msg.startswith(f"Corrupt cache entry {cache.entry}, rebuilding it")
    assert "manifest.json" in msg
    np.testing.assert_array_equal(got, cache.expected)
    assert cache.counter.value == 1
    cache.check_outcome()
    assert cache.counter.value == 1  # rebuilt once, healthy since


def test_manifest_deleted_folder_kept(pristine, tmp_path):
    cache = _Counting(pristine, tmp_path)
    (cache.entry / "manifest.json").unlink()
    got, caught = cache.load()
    assert len(caught) == 1 and "no manifest.json" in str(caught[0].message)
    assert cache.counter.value == 1
    np.testing.assert_array_equal(got, cache.expected)
    # the cache works again for that key (it used to be disabled for good)
    cache.load()
    assert cache.counter.value == 1


def test_deeply_nested_manifest(pristine, tmp_path):
    cache = _Counting(pristine, tmp_path)
    (cache.entry / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    cache.check_outcome()
    assert cache.counter.value == 1


@pytest.mark.parametrize(
    "name", ["../outside.npy", "/etc/hostname", "sub/rec.npy", "..", "rec\x00.npy"]
)
def test_manifest_paths_confined(pristine, tmp_path, name):
    cache = _Counting(pristine, tmp_path)
    outside = cache.entry.parent / "outside.npy"
    np.save(outside, np.zeros(12, dtype=np.int64))  # a readable decoy
    manifest = _manifest(cache.entry)
    manifest["recordings"][0]["files"]["y"]["name"] = name
    _write_manifest(cache.entry, manifest)  # a forger recomputes the checksum
    got, caught = cache.load()
    assert len(caught) == 1
    assert f"names the file {name!r} outside its entry folder; refused" in str(
        caught[0].message
    )
    np.testing.assert_array_equal(got, cache.expected)
    assert cache.counter.value == 1


def test_leftover_tmp_folders_removed_when_old(pristine, tmp_path):
    cache = _Counting(pristine, tmp_path)
    parent = cache.entry.parent
    old = parent / f".{cache.entry.name}.tmp-999-deadbeef"
    young = parent / f".{cache.entry.name}.tmp-998-cafecafe"
    trash = parent / f".{cache.entry.name}.trash-0badf00d"
    for folder in (old, young, trash):
        folder.mkdir()
        (folder / "rec000_data.npy").write_bytes(b"partial")
    long_ago = time.time() - _cache.TMP_MAX_AGE - 60
    for path in (old, old / "rec000_data.npy", trash, trash / "rec000_data.npy"):
        os.utime(path, (long_ago, long_ago))
    cache.load()
    assert not old.exists() and not trash.exists()
    assert young.exists()  # a writer may still be busy with it
    assert cache.counter.value == 0


def test_cached_windows_survive_a_replaced_entry(pristine, tmp_path):
    """Windows are read from the entry's open file, even once it is discarded."""
    cache = _Counting(pristine, tmp_path)
    ds = _Toy(1, path=cache.root, cache_dir=cache.cache_dir)
    lazy = ds.datasets[0]
    assert lazy._file is not None and lazy._file[0].startswith(str(cache.entry))
    _cache.discard_entry(cache.entry)  # e.g. another process rebuilds it
    assert not cache.entry.exists()
    np.testing.assert_array_equal(windows(ds), cache.expected)


# ------------------------------------------------------------ property-based
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def _paths(obj, prefix=()):
    """Every path (tuple of keys/indices) into a JSON document."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@SETTINGS
@given(data=st.data())
def test_mutated_manifest(pristine, tmp_path, data):
    cache = _Counting(pristine, tmp_path)
    manifest = _manifest(cache.entry)
    paths = [p for p in _paths(manifest) if p]
    path = data.draw(st.sampled_from(paths), label="path")
    parent = manifest
    for key in path[:-1]:
        parent = parent[key]
    op = data.draw(st.sampled_from(["delete", "replace"]), label="op")
    if op == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(_json, label="value")
    resign = data.draw(st.booleans(), label="resign")
    _write_manifest(cache.entry, manifest, resign=resign)
    cache.check_outcome(forged=resign)


@SETTINGS
@given(manifest=_json)
def test_random_manifest(pristine, tmp_path, manifest):
    cache = _Counting(pristine, tmp_path)
    _write_manifest(cache.entry, manifest)
    cache.check_outcome()


@SETTINGS
@given(
    which=st.sampled_from(["rec000_data.npy", "rec001_y.npy", "manifest.json"]),
    op=st.sampled_from(["truncate", "flip", "random", "delete"]),
    where=st.floats(0, 1),
    blob=st.binary(max_size=300),
)
def test_mutated_entry_files(pristine, tmp_path, which, op, where, blob):
    cache = _Counting(pristine, tmp_path)
    target = cache.entry / which
    content = target.read_bytes()
    pos = min(int(where * len(content)), len(content) - 1)
    if op == "truncate":
        target.write_bytes(content[:pos])
    elif op == "flip":
        flipped = bytes([content[pos] ^ 0x5A])
        target.write_bytes(content[:pos] + flipped + content[pos + 1 :])
    elif op == "random":
        target.write_bytes(blob)
    else:
        target.unlink()
    cache.check_outcome()

