"""Every code block of README.rst and of the user guide runs, as written.

The blocks are read from the pages (``.. code-block::`` directives and ``::``
literal blocks; ``text`` blocks are file layouts and diagrams, not code).
``TABLE`` says, for each block, found by a marker that only it holds on its
page, what this test does with it:

- ``Python``: run in a fresh namespace, in a temporary folder, after
  ``setup``: the names the page's text gives the block (data from the real
  recordings of ``../shared/data``, or what an earlier block of the page
  defined), then ``check`` asserts what the block's comments say;
- ``Command``: the block's ``neurosketch`` commands run through the command
  line's entry point (the other commands of the block, installs, are not
  run), with ``extra`` arguments appended (a later option wins: a tiny
  budget, said in ``why``);
- ``NotRun``: a block this test does not run (an install, the docs build, a
  live stream), and why.

A block that reads recordings absent from ``../shared/data`` is skipped, and
the reason names them. A path such as ``/data/muse-p300`` stands for the
reader's download; the test points it at ``../shared/data``. A block missing
from ``TABLE``, or an entry whose block is gone, fails
``test_every_block_is_in_the_table``.
"""

import ast
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest

from mne_neurosketch.benchmark.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
GUIDE = sorted((ROOT / "doc" / "user_guide").glob("*.rst"))
PAGES = ("README.rst", "doc/index.rst", "doc/install.rst",
         *(str(page.relative_to(ROOT)) for page in GUIDE))


class Data(NamedTuple):
    """Recordings a block reads, under ``../shared/data``."""

    path: Path
    what: str


KALUNGA = Data(SHARED / "mne_data" / "MNE-ssvepexo-data", "MOABB's Kalunga2016")
MUSE = Data(SHARED / "muse-p300", "the Muse P300 recordings")
SEEDDV = Data(SHARED / "SEED-DV", "SEED-DV (not redistributable: a licence agreement)")
CHISCO = Data(SHARED / "Chisco", "Chisco (OpenNeuro ds005170, about 91 GB)")
FACES = Data(SHARED / "mne_data" / "MNE-faceshouses-data",
             "FacesHouses (faces_basic.zip, 585 MB, downloaded with accept=True)")


@dataclass(frozen=True)
class Python:
    setup: str = ""
    check: str = ""
    teardown: str = ""
    needs: tuple = ()
    paths: tuple = ()  # (the page's placeholder, Data)
    env: tuple = ()  # (variable, value)


@dataclass(frozen=True)
class Command:
    why: str
    extra: tuple = ()
    needs: tuple = ()
    paths: tuple = ()
    env: tuple = ()


@dataclass(frozen=True)
class NotRun:
    why: str


# --- what the pages' text gives the blocks ------------------------------------
CLASSIFIER = """\
from mne_neurosketch import NeuroSketchClassifier  # the page's first block
"""
EPOCHS = """\
from moabb.datasets import Kalunga2016
from moabb.paradigms import SSVEP

epochs, _, _ = SSVEP().get_data(Kalunga2016(), subjects=[1], return_epochs=True)
epochs_train, epochs_test = epochs[::2], epochs[1::2]
"""
ARRAYS = """\
import numpy as np
from moabb.datasets import Kalunga2016
from moabb.paradigms import SSVEP
from sklearn.preprocessing import LabelEncoder

X, labels, _ = SSVEP().get_data(Kalunga2016(), subjects=[1])  # 64 trials
X_train, y_train = X.astype(np.float32), LabelEncoder().fit_transform(labels)
"""
FILTER_BANK = CLASSIFIER + """\
from moabb.datasets import Kalunga2016

dataset = Kalunga2016()
train = slice(None, 48)  # the first 48 of subject 1's 64 trials
"""
TWO_SUBJECTS = CLASSIFIER + """\
from moabb.datasets import Kalunga2016
from moabb.paradigms import SSVEP

X, y, meta = SSVEP().get_data(Kalunga2016(), subjects=[1, 2])
target = (meta["subject"] == 1).to_numpy()
X_other_subjects, y_other_subjects = X[~target], y[~target]
X_calibration, y_calibration = X[target][:16], y[target][:16]
"""
MOABB = CLASSIFIER + """\
from moabb.datasets import Kalunga2016
from moabb.paradigms import SSVEP

dataset = Kalunga2016()
dataset.subject_list = [1, 2]  # two subjects: two cross-subject folds
paradigm = SSVEP()
"""
ONLINE_CALIBRATION = CLASSIFIER + f"""\
import mne
from mne_neurosketch.online import causal_filter  # the page's first block

# a short calibration recording: the first 30 s of a Muse P300 run
raw = mne.io.read_raw_fif("{MUSE.path / 'sub-05' / 'sub-05_ses-1_run-1_raw.fif'}",
                          preload=True).crop(0, 30)
events = mne.find_events(raw, stim_channel="STI", shortest_event=1)
event_id = dict(nontarget=1, target=2)
"""
LIVE = ("opens a live LSL stream (an amplifier's): examples/plot_07_online_decoding.py "
        "and tests/test_online.py run the decoder on a played recording")
BASE = """\
import numpy as np
from mne_neurosketch import NeuroSketch

base = NeuroSketch(n_chans=62, n_times=400, n_outputs=40)  # the page's previous block
X = np.random.default_rng(0).standard_normal((4, 62, 400)).astype(np.float32)
"""

INSTALL = "installs packages in a fresh environment: CI's .ci/run does"
TABLE = {
    ("README.rst", "--protocol transfer"): Command(
        "the install steps are those of .ci/run; the benchmark runs NeuroSketch "
        "alone, on 2 subjects for 1 epoch (TSLR's Riemannian means of the simulated "
        "SEED-DV's filter-bank covariances under the transfer protocol take minutes "
        "whatever the budget; EEGNet fine-tunes in tests/test_finetune.py)",
        extra=("--subjects", "1-2", "--max-epochs", "1", "--models", "NeuroSketch",
               "--no-progress")),
    ("README.rst", "pytest -n 2 tests"): NotRun(f"{INSTALL}, then runs this suite"),
    ("README.rst", "bash .ci/docs"): NotRun("the documentation build: .ci/run runs it"),
    ("README.rst", "NeuroSketch(n_chans=62"): Python(
        check="assert logits.shape == (8, 40)"),
    ("doc/index.rst", "NeuroSketch(n_chans=62"): Python(
        check="assert logits.shape == (8, 40)"),
    ("doc/install.rst", "torchaudio==2.11.0 -e ."): NotRun(INSTALL),
    ("doc/install.rst", "--index-url"): NotRun(f"{INSTALL} (CPU build)"),
    ("doc/install.rst", "python -m sphinx"): NotRun("the documentation build: .ci/docs"),
    ("doc/install.rst", "DOCS_VENV=.venv"): NotRun("the documentation build: .ci/run"),
    ("doc/install.rst", "__version__"): Python(
        check="import mne_neurosketch; assert mne_neurosketch.__version__"),
    ("doc/user_guide/benchmarks.rst", "neurosketch benchmark"): Command(
        "one subject, 1 epoch",
        extra=("--subjects", "1", "--max-epochs", "1", "--no-progress")),
    ("doc/user_guide/corpora.rst", "faces_houses.data_path()"): Python(
        needs=(FACES,), env=(("MNE_DATASETS_FACESHOUSES_PATH", str(FACES.path)),)),
    ("doc/user_guide/corpora.rst", "SEEDDV(subject_ids"): Python(
        needs=(SEEDDV,), paths=(("/data/SEED-DV", SEEDDV),)),
    ("doc/user_guide/corpora.rst", "MuseP300MOABB("): Python(
        needs=(MUSE,), paths=(("/data/muse-p300", MUSE),),
        check="assert evaluation.datasets == [dataset]"),
    ("doc/user_guide/corpora.rst", "--dataset musep300"): Command(
        "subject 5, 2 folds, 1 epoch",
        extra=("--subjects", "5", "--n-splits", "2", "--max-epochs", "1",
               "--no-progress"),
        needs=(MUSE,), paths=(("/data/muse-p300", MUSE),)),
    ("doc/user_guide/corpora.rst", "neurosketch prepare"): Command(
        "subject 1 of each", extra=("--subjects", "1"), needs=(CHISCO, SEEDDV),
        paths=(("/data/Chisco", CHISCO),),
        env=(("MNE_DATASETS_SEEDDV_PATH", str(SEEDDV.path)),)),
    ("doc/user_guide/estimator.rst", "clf.fit(epochs_train)"): Python(
        setup=EPOCHS, needs=(KALUNGA,), check="assert 0 <= accuracy <= 1"),
    ("doc/user_guide/estimator.rst", "FTSurrogate"): Python(setup=CLASSIFIER),
    ("doc/user_guide/estimator.rst", "Checkpoint"): Python(setup=CLASSIFIER),
    ("doc/user_guide/estimator.rst", "EEGClassifier("): Python(
        setup=ARRAYS, needs=(KALUNGA,),
        check="assert clf.history[-1, 'epoch'] == max_epochs"),
    ("doc/user_guide/estimator.rst", "FilterBankSSVEP"): Python(
        setup=FILTER_BANK, needs=(KALUNGA,),
        check="assert clf.n_bands_ == 3 and clf.scaling_ == 1.0"),
    ("doc/user_guide/estimator.rst", "clf[-1].n_bands_"): Python(
        check="assert clf[-1].n_bands_ == 3"),
    ("doc/user_guide/estimator.rst", "SelectByValidation("): Python(
        check="assert dsbn.domain_bn and len(ensemble.estimators_) == 3\n"
              "assert choice.best_name_ in ('signal', 'erp')\n"
              "assert set(choice.validation_scores_) == {'signal', 'erp'}"),
    ("doc/user_guide/estimator.rst", "warm_start=True"): Python(
        setup=TWO_SUBJECTS, needs=(KALUNGA,),
        check="assert len(clf.history_) == 10  # the fine-tuning epochs"),
    ("doc/user_guide/estimator.rst", "CrossSubjectEvaluation"): Python(
        setup=MOABB, needs=(KALUNGA,),
        check="assert sorted(results['subject'].astype(int)) == [1, 2]\n"
              "assert results['score'].between(0, 1).all()"),
    ("doc/user_guide/models.rst", "preset=\"large\""): Python(
        check="assert logits.shape == (4, 40)"),
    ("doc/user_guide/models.rst", "OnlinePredictor"): Python(
        setup=BASE, check="assert logits.shape == (4, 40)"),
    ("doc/user_guide/scaling.rst", "LocalCluster"): Python(
        teardown="client.close()\ncluster.close()"),
    ("doc/user_guide/online.rst", "[online]"): NotRun(f"{INSTALL} (the online extra)"),
    ("doc/user_guide/online.rst", "decoder.run(duration=600"): NotRun(LIVE),
    ("doc/user_guide/online.rst", "neurosketch online"): NotRun(
        f"{LIVE}; the second command is elided ('...')"),
    ("doc/user_guide/online.rst", "causal_filter(raw"): Python(
        setup=ONLINE_CALIBRATION, needs=(MUSE,),
        check="import os; assert os.path.isfile('clf.pt')"),
    ("doc/user_guide/online.rst", "RunningAlignment().fit"): NotRun(LIVE),
}


# --- reading the pages ----------------------------------------------------------
class Block(NamedTuple):
    page: str
    line: int
    language: str  # the directive's, or "::" for a literal block
    code: str


_DIRECTIVE = re.compile(r"^(\s*)\.\. (?:code-block|code|sourcecode)::\s*(\S*)\s*$")
_OPTION = re.compile(r"^\s+:[\w-]+:")


def _indent(line):
    return len(line) - len(line.lstrip())


def read_blocks(page):
    """The code blocks of a page, with the line each starts on."""
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        line = lines[i]
        match = _DIRECTIVE.match(line)
        if match:
            language = match.group(2) or "default"
        elif line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            language = "::"
        else:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and _OPTION.match(lines[j]):
            j += 1
        body = []
        while j < len(lines) and (not lines[j].strip()
                                  or _indent(lines[j]) > _indent(line)):
            body.append(lines[j])
            j += 1
        text = [row for row in body if row.strip()]
        if text:
            pad = min(_indent(row) for row in text)
            code = "\n".join(row[pad:] for row in body).strip("\n")
            blocks.append(Block(page, i + 1, language, code))
        i = j
    return [block for block in blocks if block.language != "text"]


def _find(page, marker, blocks):
    found = [b for b in blocks if b.page == page and marker in b.code]
    assert len(found) == 1, (
        f"{page}: {len(found)} code blocks hold {marker!r}; TABLE needs exactly one.")
    return found[0]


ALL_BLOCKS = [block for page in PAGES for block in read_blocks(page)]


def test_every_block_is_in_the_table():
    matched = [_find(page, marker, ALL_BLOCKS) for page, marker in TABLE]
    missing = [f"{b.page}:{b.line}" for b in ALL_BLOCKS if b not in matched]
    assert not missing, f"Code blocks without a TABLE entry: {', '.join(missing)}"
    assert len(set(matched)) == len(matched), "Two TABLE entries name one block."


# --- running them ----------------------------------------------------------------
@pytest.fixture
def doc_env(tmp_path, monkeypatch):
    """A temporary folder and MNE/MOABB settings that write nowhere else."""
    for name in ("mne_data", "cache", "home", "moabb_results"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNE_DATA", str(tmp_path / "mne_data"))
    monkeypatch.setenv("MNE_NEUROSKETCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("_MNE_FAKE_HOME_DIR", str(tmp_path / "home"))  # set_config
    monkeypatch.setenv("MOABB_RESULTS", str(tmp_path / "moabb_results"))
    monkeypatch.setenv("MNE_DATASETS_SSVEPEXO_PATH", str(KALUNGA.path.parent))
    monkeypatch.setenv("MOABB_DOWNLOAD_PROVIDER", "upstream")
    return monkeypatch


def _needs(entry):
    missing = [data for data in entry.needs if not data.path.is_dir()]
    if missing:
        pytest.skip("needs " + "; ".join(f"{d.what} in {d.path}" for d in missing)
                    + ", not found")


def _with_paths(code, entry):
    for placeholder, data in entry.paths:
        code = code.replace(placeholder, str(data.path))
    return code


def _commands(code):
    """The ``neurosketch`` commands of a shell block, one argument list each."""
    lines = code.replace("\\\n", " ").splitlines()
    parts = [part.strip() for line in lines for part in line.split("&&")]
    parts = [part[2:] if part.startswith("$ ") else part for part in parts]
    return [shlex.split(part)[1:] for part in parts if part.startswith("neurosketch ")]


def _param(page, marker):
    entry = TABLE[page, marker]
    slow = isinstance(entry, Command) or KALUNGA in getattr(entry, "needs", ())
    return pytest.param(page, marker, id=f"{Path(page).name}[{marker}]",
                        marks=pytest.mark.slow if slow else ())


@pytest.mark.parametrize("page, marker", [_param(*key) for key in TABLE])
def test_block_runs(page, marker, doc_env):
    entry = TABLE[page, marker]
    block = _find(page, marker, ALL_BLOCKS)
    if isinstance(entry, NotRun):
        pytest.skip(f"not run: {entry.why}")
    _needs(entry)
    for name, value in entry.env:
        doc_env.setenv(name, value)
    code = _with_paths(block.code, entry)
    if isinstance(entry, Command):
        commands = _commands(code)
        assert commands, f"{page}:{block.line} has no neurosketch command"
        for argv in commands:
            assert main([*argv, *entry.extra]) == 0, argv
        return
    where = f"{page}:{block.line}"
    ast.parse(code, where)  # a Python block, not a shell one
    namespace = {"__name__": "__doc_block__"}
    exec(compile(entry.setup, f"{where} (setup)", "exec"), namespace)
    try:
        exec(compile(code, where, "exec"), namespace)
        exec(compile(entry.check, f"{where} (check)", "exec"), namespace)
    finally:
        exec(compile(entry.teardown, f"{where} (teardown)", "exec"), namespace)
