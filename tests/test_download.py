"""Downloads through pooch with checksums, against a local HTTP server.

The server (http.server on 127.0.0.1, in a thread) serves fixture files made
at test time; nothing leaves the machine.
"""

import dataclasses
import functools
import hashlib
import http.server
import threading
import zipfile

import pytest

from mne_neurosketch.datasets import _download
from mne_neurosketch.datasets._download import Remote, Source, fetch


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "host"
    root.mkdir()
    handler = functools.partial(_Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}", httpd.requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def _md5(path):
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def _corpus(root, url, *, hash_of_zip=None):
    """A host with an archive (checksum known) and a file published without one."""
    (root / "corpus").mkdir()
    with zipfile.ZipFile(root / "corpus" / "data.zip", "w") as archive:
        archive.writestr("faces_basic/data/aa/aa_faceshouses.mat", b"fixture " * 100)
    (root / "corpus" / "textmaps.json").write_text('{"a sentence": 0}')
    known = hash_of_zip or _md5(root / "corpus" / "data.zip")
    return Source(
        code="TestCorpus",
        folder="MNE-testcorpus-data",
        files=lambda subjects: [
            Remote(
                f"{url}/corpus/data.zip",
                "data.zip",
                known_hash=known,
                size=2000,
                unpack=True,
            ),
            Remote(f"{url}/corpus/textmaps.json", "json/textmaps.json", size=20),
            Remote(
                f"{url}/corpus/missing.pkl", "runs/missing.pkl", size=10, optional=True
            ),
        ],
        page=url,
    )


def test_download_checks_unpacks_records_and_resumes(server, tmp_path):
    root, url, requests = server
    source = _corpus(root, url)
    folder = fetch(source, path=tmp_path / "data", update_path=False)
    assert folder == tmp_path / "data" / "MNE-testcorpus-data"
    assert (folder / "faces_basic" / "data" / "aa" / "aa_faceshouses.mat").is_file()
    assert (folder / "json" / "textmaps.json").read_text() == '{"a sentence": 0}'
    assert not (folder / "runs" / "missing.pkl").exists()  # optional, 404: skipped
    # The file published without a checksum has its SHA256 recorded.
    record = (folder / "neurosketch-downloads.json").read_text()
    digest = hashlib.sha256((folder / "json" / "textmaps.json").read_bytes()).hexdigest()
    assert f'"json/textmaps.json": "sha256:{digest}"' in record

    # A second call finds everything (but the optional file) and downloads nothing.
    n = len(requests)
    fetch(source, path=tmp_path / "data", update_path=False)
    assert requests[n:] == ["/corpus/missing.pkl"]

    # A local copy that no longer matches its recorded checksum is fetched again.
    (folder / "json" / "textmaps.json").write_text("truncat")
    fetch(source, path=tmp_path / "data", update_path=False)
    assert (folder / "json" / "textmaps.json").read_text() == '{"a sentence": 0}'

    # download=False only checks.
    (folder / "json" / "textmaps.json").unlink()
    with pytest.raises(FileNotFoundError, match="json/textmaps.json"):
        fetch(source, path=tmp_path / "data", download=False, update_path=False)


def test_checksum_mismatch_is_a_clear_error(server, tmp_path):
    root, url, _ = server
    source = _corpus(root, url, hash_of_zip="md5:" + "0" * 32)
    with pytest.raises(ValueError, match=r"data\.zip does not match its checksum md5:0+"):
        fetch(source, path=tmp_path / "data", update_path=False)
    folder = tmp_path / "data" / "MNE-testcorpus-data"
    assert not (folder / "data.zip").exists()  # the bad file is not kept
    assert not (folder / "faces_basic").exists()


def test_large_download_asks_first(server, tmp_path, monkeypatch):
    root, url, requests = server
    source = _corpus(root, url)
    monkeypatch.setattr(_download, "ASK_ABOVE", 100)  # the fixture is "large"
    with pytest.raises(RuntimeError, match="Pass accept=True"):
        fetch(source, path=tmp_path / "data", update_path=False)
    assert requests == []  # asked before anything was fetched
    fetch(source, path=tmp_path / "data", update_path=False, accept=True)
    assert requests


def test_update_path_sets_the_config_key(server, tmp_path, monkeypatch):
    import mne

    (tmp_path / "home" / ".mne").mkdir(parents=True)
    monkeypatch.setenv("_MNE_FAKE_HOME_DIR", str(tmp_path / "home"))
    monkeypatch.delenv("MNE_DATASETS_TESTCORPUS_PATH", raising=False)
    root, url, _ = server
    folder = fetch(_corpus(root, url), path=tmp_path / "data")
    assert mne.get_config("MNE_DATASETS_TESTCORPUS_PATH") == str(folder)
    # ... so that the next call needs no path.
    assert fetch(_corpus_again(root, url), update_path=False) == folder


def _corpus_again(root, url):
    return Source(
        code="TestCorpus",
        folder="MNE-testcorpus-data",
        files=lambda subjects: [
            Remote(f"{url}/corpus/textmaps.json", "json/textmaps.json", size=20)
        ],
        page=url,
    )


def test_corpora_that_cannot_be_downloaded_say_how(tmp_path, monkeypatch):
    from mne_neurosketch.datasets import seed_dv

    (tmp_path / "home" / ".mne").mkdir(parents=True)
    monkeypatch.setenv("_MNE_FAKE_HOME_DIR", str(tmp_path / "home"))
    monkeypatch.delenv("MNE_DATASETS_SEEDDV_PATH", raising=False)
    with pytest.raises(FileNotFoundError, match="licence agreement.*MNE_DATASETS_SEEDDV"):
        seed_dv.data_path()
    assert seed_dv.data_path(tmp_path) == tmp_path

    from mne_neurosketch.datasets import things_eeg

    monkeypatch.delenv("MNE_DATASETS_THINGSEEG_PATH", raising=False)
    with pytest.raises(FileNotFoundError, match=r"osf\.io/anp5v.*preprocessed_eeg_test"):
        things_eeg.data_path()


# ------------------------------------------------------------- declared corpora
# Each automated corpus' declared files, served from a local host laid out like
# the real one (fixtures written by the corpus' simulate_* function): the
# download must land where the corpus reader looks.


def _served(source, prefixes):
    """``source`` with its URLs' host prefixes replaced (old prefix -> local URL)."""

    def files(subjects):
        remotes = []
        for remote in source.files(subjects):
            url = remote.url
            for old, new in prefixes.items():
                url = url.replace(old, new)
            remotes.append(dataclasses.replace(remote, url=url))
        return remotes

    return dataclasses.replace(source, files=files)


def test_du_in_declared_files_download_into_the_reader_layout(server, tmp_path):
    from mne_neurosketch.datasets import du_in

    root, url, requests = server
    # Subject 12 has runs 1-3 in the release; the host holds exactly those.
    du_in.simulate_du_in(root, subjects=(12,), runs=(1, 2, 3), n_trials_per_word=2)
    source = _served(du_in._SOURCE, {du_in._HF: url})
    names = [r.fname for r in source.files([12])]
    assert len(names) == 6 and all(
        n.startswith("data/seeg.he2023xuanwu/012/") for n in names
    )

    folder = _download.make_data_path(source)(
        subjects=[12], path=tmp_path / "dl", update_path=False, accept=True
    )
    assert sorted(requests) == sorted("/" + n for n in names)
    assert [
        r for r, _ in du_in.list_du_in_runs(folder / "data/seeg.he2023xuanwu", 12)
    ] == [1, 2, 3]
    got = du_in.DuIN(12, path=folder, normalize=None, cache=False).datasets[0]
    ref = du_in.DuIN(12, path=root, normalize=None, cache=False).datasets[0]
    assert len(got) == len(ref) > 0
    assert (got[0][0] == ref[0][0]).all()


def test_openmiir_declared_files_download_into_the_reader_layout(server, tmp_path):
    import shutil

    from mne_neurosketch.datasets import openmiir

    root, url, requests = server
    sim = openmiir.simulate_openmiir(tmp_path / "sim", subjects=(1, 5), stimuli=(24,))
    # The mirror is flat (Pxx-raw.fif); the metadata come from GitHub's meta/.
    (root / "mirror").mkdir()
    for fif in (sim / "eeg" / "mne").glob("*-raw.fif"):
        shutil.copy(fif, root / "mirror" / fif.name)
    shutil.copytree(sim / "meta", root / "github" / "meta")
    source = _served(
        openmiir._SOURCE,
        {openmiir._MIRROR: f"{url}/mirror", openmiir._GITHUB: f"{url}/github"},
    )
    assert sorted(r.fname for r in source.files([1, 5])) == [
        "eeg/mne/P01-raw.fif",
        "eeg/mne/P09-raw.fif",
        "meta/Stimuli_Meta.v1.xlsx",
        "meta/Stimuli_Meta.v2.xlsx",
    ]

    folder = _download.make_data_path(source)(
        subjects=[5], path=tmp_path / "dl", update_path=False, accept=True
    )
    assert sorted(requests) == [
        "/github/meta/Stimuli_Meta.v2.xlsx",
        "/mirror/P09-raw.fif",
    ]
    got = openmiir.OpenMIIR(5, path=folder, cache=False).datasets[0]
    ref = openmiir.OpenMIIR(5, path=sim, cache=False).datasets[0]
    assert len(got) == len(ref) > 0
    assert (got[0][0] == ref[0][0]).all()


def test_chisco_declared_files_download_into_the_reader_layout(server, tmp_path):
    import json
    import shutil

    from mne_neurosketch.datasets import chisco

    root, url, requests = server
    sim = chisco.simulate_chisco(tmp_path / "sim", subjects=(1,), tasks=("read",),
                                 runs=(1, 10))
    shutil.copytree(sim, root, dirs_exist_ok=True)  # the bucket's layout
    # not among the declared files: the category names, written beside them
    names = json.loads((root / "json" / "classnumber.json").read_text())
    source = _served(Source(code="Chisco", folder="ds005170", files=chisco._chisco_files,
                            page=url), {chisco._OPENNEURO: url})
    declared = [r.fname for r in source.files([1])]
    assert declared[0] == "json/textmaps.json"
    assert len(declared) == 1 + 2 * 45  # 45 possible runs of each task
    run = "derivatives/preprocessed_pkl/sub-01/eeg/sub-01_task-read_run-010_eeg.pkl"
    assert run in declared

    folder = _download.make_data_path(source)(
        subjects=[1], path=tmp_path / "dl", update_path=False, accept=True
    )
    assert {"/json/textmaps.json", f"/{run}"} <= set(requests)
    # the runs missing from the release (here all but 1 and 10) are skipped
    assert sorted(p.name for p in folder.rglob("*.pkl")) == [
        "sub-01_task-read_run-010_eeg.pkl", "sub-01_task-read_run-01_eeg.pkl"]
    (folder / "json" / "classnumber.json").write_text(json.dumps(names))
    got = chisco.Chisco(1, path=folder, task="read", cache=False).datasets
    ref = chisco.Chisco(1, path=sim, task="read", cache=False).datasets
    assert len(got) == len(ref) == 2
    assert (got[0][0][0] == ref[0][0][0]).all()


def test_faces_houses_declared_archive_downloads_into_the_reader_layout(
        server, tmp_path):
    import shutil

    from mne_neurosketch.datasets import faces_houses

    root, url, requests = server
    sim = faces_houses.simulate_faces_houses(tmp_path / "sim", subjects=(1,))
    shutil.make_archive(str(root / "faces_basic"), "zip", sim.parent, "faces_basic")
    (remote,) = faces_houses._SOURCE.files(None)
    assert (remote.fname, remote.unpack) == ("faces_basic.zip", True)
    assert remote.known_hash == "md5:812d92b2be0de466ba6c6683b53ea7f8"
    # the archive served here is a simulated one: its own checksum and size
    local = dataclasses.replace(remote, known_hash=_md5(root / "faces_basic.zip"),
                                size=(root / "faces_basic.zip").stat().st_size)
    source = _served(dataclasses.replace(faces_houses._SOURCE, files=lambda s: [local]),
                     {remote.url.rsplit("/", 1)[0]: url})
    folder = _download.make_data_path(source)(path=tmp_path / "dl",
                                              update_path=False, accept=True)
    assert requests == ["/faces_basic.zip"]
    got = faces_houses.FacesHouses(1, path=folder, cache=False).datasets[0]
    ref = faces_houses.FacesHouses(1, path=sim, cache=False).datasets[0]
    assert len(got) == len(ref) > 0
    assert (got[0][0] == ref[0][0]).all()
