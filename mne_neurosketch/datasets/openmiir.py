"""OpenMIIR: EEG of music perception and imagination, 12 pieces, 9 subjects.

Reads the raw FIF files and the stimulus metadata of the OpenMIIR release::

    eeg/mne/P01-raw.fif ... P14-raw.fif
    meta/Stimuli_Meta.v1.xlsx   (P01-P08)
    meta/Stimuli_Meta.v2.xlsx   (P09-P14)
"""

# License: BSD (3-clause)

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np
import pandas as pd

from ..utils import _check_option, logger, warn
from ._download import Remote, Source, make_data_path
from ._trials import class_patterns
from .base import CorpusMOABBDataset, CorpusReader, CorpusWindowsDataset, Recording

__all__ = [
    "OPENMIIR_CH_NAMES",
    "PARTICIPANTS",
    "STIMULUS_IDS",
    "OpenMIIR",
    "OpenMIIRMOABB",
    "merge_audio_onsets",
    "read_stimuli_metadata",
    "simulate_openmiir",
    "stimuli_version",
    "write_stimuli_metadata",
]

SFREQ = 512.0
STIM_CHANNEL = "STI 014"
AUDIO_ONSET, NOISE = 1000, 1111
# The 12 stimuli; label k is STIMULUS_IDS[k] (NeuroSketch STIMULUS_IDS2LABEL_ID).
STIMULUS_IDS = (1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24)
STIMULUS_NAMES = (
    "Chim Chim Cheree (lyrics)",
    "Take Me Out to the Ballgame (lyrics)",
    "Jingle Bells (lyrics)",
    "Mary Had a Little Lamb (lyrics)",
    "Chim Chim Cheree",
    "Take Me Out to the Ballgame",
    "Jingle Bells",
    "Mary Had a Little Lamb",
    "Emperor Waltz",
    "Hedwig's Theme",
    "Imperial March",
    "Eine Kleine Nachtmusik",
)
CONDITIONS = {"perception": (1,), "imagination": (2, 3, 4)}
# Subject ids of the paper (1..9) -> OpenMIIR participants; P05 is excluded.
PARTICIPANTS = ("P01", "P04", "P06", "P07", "P09", "P11", "P12", "P13", "P14")
_V1_PARTICIPANTS = ("Pilot3", "P01", "P04", "P05", "P06", "P07")
# Biosemi-64 names in the order of the released files (= MNE's biosemi64 montage).
OPENMIIR_CH_NAMES = [
    "Fp1", "AF7", "AF3", "F1", "F3", "F5", "F7", "FT7", "FC5", "FC3", "FC1", "C1",
    "C3", "C5", "T7", "TP7", "CP5", "CP3", "CP1", "P1", "P3", "P5", "P7", "P9",
    "PO7", "PO3", "O1", "Iz", "Oz", "POz", "Pz", "CPz", "Fpz", "Fp2", "AF8", "AF4",
    "AFz", "Fz", "F2", "F4", "F6", "F8", "FT8", "FC6", "FC4", "FC2", "FCz", "Cz",
    "C2", "C4", "C6", "T8", "TP8", "CP6", "CP4", "CP2", "P2", "P4", "P6", "P8",
    "P10", "PO8", "PO4", "O2",
]  # fmt: skip
# Columns of Stimuli_Meta.v*.xlsx (1-based) read by the OpenMIIR code.
_META_COLUMNS = {
    "id": 1,
    "label": 2,
    "audio_file": 3,
    "length_with_cue": 4,
    "length_of_cue": 5,
    "length_without_cue": 6,
    "length_of_cue_only": 7,
    "cue_bpm": 8,
    "beats_per_bar": 9,
    "approx_bar_length": 12,
    "num_bars": 15,
    "cue_bars": 16,
    "bpm": 17,
}
_N_META_COLUMNS = 17
_BAD_CHANNELS = ("interpolate", "zero")

_LAYOUT = """OpenMIIR/
    eeg/mne/P01-raw.fif  P04-raw.fif ... P14-raw.fif
    meta/Stimuli_Meta.v1.xlsx  (subjects P01-P07)
    meta/Stimuli_Meta.v2.xlsx  (subjects P09-P14)"""


def stimuli_version(participant: str) -> int:
    """Return the stimulus-metadata version (1 or 2) of an OpenMIIR participant.

    Parameters
    ----------
    participant : str
        E.g. ``"P01"``.

    Returns
    -------
    version : int
        1 for Pilot3 and P01-P07, else 2 (as in the OpenMIIR code).
    """
    return 1 if participant in _V1_PARTICIPANTS else 2


def read_stimuli_metadata(fname) -> dict:
    """Read ``Stimuli_Meta.v1.xlsx`` or ``v2.xlsx``.

    The first sheet holds a header row and one row per stimulus with 17
    columns; the fields are read by position as in the OpenMIIR code
    (``length_without_cue``, the song length in s, is column 6).

    Parameters
    ----------
    fname : path-like
        The spreadsheet.

    Returns
    -------
    meta : dict of int to dict
        Per stimulus id, the fields of :data:`_META_COLUMNS`.
    """
    from openpyxl import load_workbook

    fname = Path(fname)
    if not fname.is_file():
        raise FileNotFoundError(
            f"The OpenMIIR stimulus metadata {fname} does not exist; copy meta/ from "
            "the OpenMIIR repository (github.com/sstober/openmiir)."
        )
    try:
        workbook = load_workbook(fname, read_only=True, data_only=True)
    except Exception as err:
        raise ValueError(
            f"Could not read the OpenMIIR stimulus metadata {fname} ({err}); the file "
            "is truncated or not an .xlsx spreadsheet."
        ) from err
    try:
        rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    finally:
        workbook.close()
    if not rows or len(rows[0]) < _N_META_COLUMNS:
        raise ValueError(
            f"{fname}: expected a header row with {_N_META_COLUMNS} columns, got "
            f"{len(rows[0]) if rows else 0}. Is it Stimuli_Meta.v1/v2.xlsx?"
        )
    meta = {}
    for i_row, row in enumerate(rows[1:], start=2):
        if row is None or row[0] is None:
            continue
        fields = {}
        for key, col in _META_COLUMNS.items():
            value = row[col - 1] if col - 1 < len(row) else None
            if key not in ("label", "audio_file"):
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"{fname}, row {i_row}, column {col} ({key}): expected a "
                        f"number, got {value!r}."
                    ) from None
            fields[key] = value
        stim = int(fields["id"])
        fields["id"] = stim
        if not fields["length_without_cue"] > 0:
            raise ValueError(
                f"{fname}, row {i_row}: the song length (column 6) must be positive, "
                f"got {fields['length_without_cue']!r}."
            )
        meta[stim] = fields
    return meta


def merge_audio_onsets(events: np.ndarray) -> np.ndarray:
    """Move trial and noise events to the audio onset that follows them.

    The OpenMIIR recordings mark each trial (``stim_id * 10 + condition``) and
    noise (1111) event, then the actual start of the audio (1000). Like the
    OpenMIIR ``merge_trial_and_audio_onsets``, each trial or noise event takes
    the sample of the next event if that is an audio onset (else it keeps its
    own), audio-onset events are dropped and events above 1111 (feedback) are
    kept. Unlike the original, a trial event at the very end does not raise.

    Parameters
    ----------
    events : ndarray, shape (n_events, 3)
        Events from :func:`mne.find_events`.

    Returns
    -------
    merged : ndarray, shape (n_merged, 3)
        The merged events.
    """
    events = np.asarray(events)
    merged = []
    for i, (sample, prev, code) in enumerate(events):
        if code < AUDIO_ONSET or code == NOISE:
            nxt = events[i + 1] if i + 1 < len(events) else None
            if nxt is not None and nxt[2] == AUDIO_ONSET:
                sample = nxt[0]
            merged.append((sample, 0, code))
        elif code > NOISE:
            merged.append((sample, prev, code))
    return np.array(merged, dtype=np.int64).reshape(-1, 3)


_PATH_DOC = (
    "Folder holding ``eeg/mne`` and ``meta`` (or its parent holding ``OpenMIIR/``)"
)

_PARAMS_DOC = """
    task : 'perception' | 'imagination'
        Condition 1, or conditions 2-4 (cued, non-cued and free imagination).
    bad_channels : 'interpolate' | 'zero'
        Spherical-spline interpolation of the channels marked bad in the FIF
        files (default), or the paper's zeroing after epoching.
    l_freq, h_freq : float
        Band-pass edges in Hz (the paper's 0.5-30 Hz, 0.5 Hz transition bands,
        10-s FFT filter).
    patch_len : int
        Samples per window (the paper's 600, i.e. 1.17 s)."""


class _OpenMIIRReader(CorpusReader):
    code = "OpenMIIR"
    publisher = (
        "the OpenMIIR release (raw FIF via academictorrents "
        "c18c04a9f18ff7d133421012978c4a92f57f6b9c; meta/ from "
        "github.com/sstober/openmiir)"
    )
    layout = _LAYOUT
    folder_names = ("OpenMIIR", "openmiir")
    subjects = tuple(range(1, len(PARTICIPANTS) + 1))
    tasks = ("perception", "imagination")
    doi = None

    name = "openmiir"
    aliases = ("OpenMIIR",)
    registered_tasks = ("perception", "imagination")
    n_chans, n_classes = 64, 12
    to_volts = 1.0  # volts, as recorded (corpora.md)
    # Listening: auditory responses locked to the audio onset (MOABB's ERP kind);
    # imagining the music: imagery.
    moabb_paradigm = {"perception": "p300", "imagination": "imagery"}
    protocol, protocol_params = "paper", {"method": "n_fold"}
    default_subjects, scorer, budget = None, None, {}  # all, accuracy, the recipe's
    description = "OpenMIIR, music {task}, 12 pieces, EEG 64 x 600 (9 subjects)"
    simulation = {"class_signal": 0.5}
    doc_parts = (_PATH_DOC, _PARAMS_DOC, None)

    def __init__(
        self,
        path=None,
        *,
        task="perception",
        bad_channels="interpolate",
        l_freq=0.5,
        h_freq=30.0,
        patch_len=600,
    ):
        super().__init__(path, task=task)
        _check_option("bad_channels", bad_channels, _BAD_CHANNELS)
        if not isinstance(patch_len, (int, np.integer)) or patch_len < 1:
            raise ValueError(f"patch_len must be a positive int, got {patch_len!r}.")
        self.bad_channels = bad_channels
        self.l_freq, self.h_freq = l_freq, h_freq
        self.patch_len = int(patch_len)

    def _is_root(self, folder):
        return (folder / "eeg" / "mne").is_dir() or (folder / "meta").is_dir()

    @property
    def n_times(self):
        return self.patch_len

    sfreq = SFREQ

    def class_names(self):
        return list(STIMULUS_NAMES)

    def cache_params(self):
        return {
            **super().cache_params(),
            "reference": "average",
            "onsets": "audio",
            # caches written before the paper's patch order was matched are stale
            "patch_order": "stimulus, condition, time",
        }

    def _files(self, subject):
        participant = PARTICIPANTS[subject - 1]
        version = stimuli_version(participant)
        return (
            self.root / "eeg" / "mne" / f"{participant}-raw.fif",
            self.root / "meta" / f"Stimuli_Meta.v{version}.xlsx",
        )

    def source_files(self, subject):
        files = self._files(subject)
        for fname in files:
            if not fname.is_file():
                raise FileNotFoundError(
                    f"OpenMIIR subject {subject} ({PARTICIPANTS[subject - 1]}): {fname} "
                    f"does not exist. Download it from {self.publisher}. Expected "
                    f"layout:\n{self.layout}"
                )
        return list(files)

    def read_subject(self, subject):
        raw_fname, meta_fname = self.source_files(subject)
        meta = read_stimuli_metadata(meta_fname)
        raw, events = _load_raw(raw_fname)
        raw = _preprocess(raw, self.bad_channels, self.l_freq, self.h_freq)
        X, y, md = _epoch_patches(
            raw,
            events,
            meta,
            CONDITIONS[self.task],
            self.patch_len,
            raw_fname,
            meta_fname,
        )
        if self.bad_channels == "zero":
            X[:, [raw.ch_names.index(ch) for ch in raw.info["bads"]]] = 0.0
        participant = PARTICIPANTS[subject - 1]
        return [
            Recording.from_windows(
                X,
                y,
                ch_names=raw.ch_names,
                ch_types="eeg",
                sfreq=SFREQ,
                description=dict(
                    subject=subject,
                    session="0",
                    run="0",
                    task=self.task,
                    participant=participant,
                ),
                metadata=md,
                source=raw_fname,
            )
        ]


def _load_raw(fname):
    """Read a FIF file; return the 64 EEG channels and the merged events."""
    try:
        raw = mne.io.read_raw_fif(fname, preload=True, verbose="error")
    except Exception as err:
        raise ValueError(
            f"Could not read the OpenMIIR recording {fname} ({err}); the file is "
            "truncated or not a FIF raw file. Download it again."
        ) from err
    if STIM_CHANNEL not in raw.ch_names:
        raise ValueError(f"{fname} has no stim channel {STIM_CHANNEL!r}.")
    missing = [ch for ch in OPENMIIR_CH_NAMES if ch not in raw.ch_names]
    if missing:
        raise ValueError(
            f"{fname} lacks the Biosemi-64 EEG channels {missing}; it is not an "
            "OpenMIIR eeg/mne/*-raw.fif file."
        )
    events = mne.find_events(raw, STIM_CHANNEL, shortest_event=0, verbose="error")
    merged = merge_audio_onsets(events)
    n_trial_events = int(np.sum(merged[:, 2] < AUDIO_ONSET))
    n_moved = int(np.sum(events[:, 2] == AUDIO_ONSET))
    logger.info(f"{fname.name}: {n_trial_events} trial events, {n_moved} audio onsets")
    events = merged.copy()
    events[:, 0] -= raw.first_samp
    # EOG, mastoids (EXG5/6) and the stim channel are not decoded.
    raw.pick(OPENMIIR_CH_NAMES)
    return raw, events


def _preprocess(raw, bad_channels, l_freq, h_freq):
    """Bad channels, average reference and the paper's band-pass, in place."""
    raw.set_montage("biosemi64", verbose="error")
    if bad_channels == "interpolate" and raw.info["bads"]:
        logger.info(f"Interpolating bad channels {raw.info['bads']}")
        raw.interpolate_bads(reset_bads=True, verbose="error")
    # One reference for every subject: the average of the good EEG channels.
    raw.set_eeg_reference("average", projection=False, verbose="error")
    raw.filter(
        l_freq,
        h_freq,
        picks="eeg",
        filter_length="10s",
        l_trans_bandwidth=0.5,
        h_trans_bandwidth=0.5,
        method="fft",
        verbose="error",
    )
    return raw


def _epoch_patches(raw, events, meta, conditions, patch_len, raw_fname, meta_fname):
    """Cut stimulus-length trials and split them into non-overlapping patches."""
    data, sfreq = raw.get_data(), raw.info["sfreq"]
    Xs, ys, rows = [], [], []
    trial_ids = {tuple(ev): k for k, ev in enumerate(events[events[:, 2] < AUDIO_ONSET])}
    n_short = 0
    for label, stim in enumerate(STIMULUS_IDS):
        # As the paper's script: condition by condition in the order of
        # ``conditions``, then in time (its index-based n_fold split relies on it).
        onsets = np.concatenate(
            [events[events[:, 2] == stim * 10 + cond] for cond in conditions]
        )
        if not len(onsets):
            continue  # stimuli absent from the recording are tolerated
        if stim not in meta:
            raise ValueError(
                f"{meta_fname} has no row for stimulus {stim}, which occurs in "
                f"{raw_fname}; use the metadata file of the subject's version."
            )
        # Epochs from t=0 to the song length inclusive, as mne.Epochs(tmin=0, tmax=L).
        n_samples = int(round(meta[stim]["length_without_cue"] * sfreq)) + 1
        n_patches = n_samples // patch_len
        for onset in onsets:
            start = int(onset[0])
            if start + n_samples > data.shape[1] or n_patches == 0:
                n_short += 1
                continue
            trial = data[:, start : start + n_samples]
            trial = trial - trial[:, :1]  # the paper's baseline=(0, 0): one sample
            patches = trial[:, : n_patches * patch_len].reshape(
                trial.shape[0], n_patches, patch_len
            )
            Xs.append(patches.transpose(1, 0, 2))
            ys.append(np.full(n_patches, label))
            for k in range(n_patches):
                rows.append(
                    dict(
                        trial=trial_ids[tuple(onset)],
                        stimulus=stim,
                        condition=int(onset[2] % 10),
                        patch=k,
                        onset=start,
                    )
                )
    if n_short:
        warn(
            f"{raw_fname.name}: {n_short} trial(s) run past the end of the recording "
            "(or are shorter than one patch) and were skipped."
        )
    if not Xs:
        raise ValueError(
            f"{raw_fname} has no trial events for the conditions {list(conditions)} "
            f"(codes stimulus*10 + condition on {STIM_CHANNEL!r})."
        )
    return np.concatenate(Xs), np.concatenate(ys), pd.DataFrame(rows)


class OpenMIIR(CorpusWindowsDataset):
    """OpenMIIR as a braindecode dataset of 600-sample patches.

    Applies the paper's preprocessing (NeuroSketch ``prepare_openmiir_data.py``):
    trial events moved to the following audio onset, 0.5-30 Hz band-pass, epochs
    from the audio onset to the end of the song (``length of song`` of the
    subject's ``Stimuli_Meta`` version, inclusive) with the value at t = 0
    subtracted (``baseline=(0, 0)``), cut into non-overlapping ``patch_len``
    windows (the remainder dropped); 64 EEG channels, 512 Hz, volts; label =
    index of the stimulus in :data:`STIMULUS_IDS`. One recording per subject;
    per-window metadata ``trial`` (use it to group splits: the paper's random
    patch split puts patches of one trial on both sides), ``stimulus``,
    ``condition``, ``patch``, ``onset``.

    Differences from the reference, on purpose: bad channels are interpolated
    by default (the reference zeroes them, ``bad_channels="zero"``), and every
    subject is re-referenced to the average of its EEG channels (after
    interpolation; bad channels are excluded from the average when zeroing)
    with EOG and mastoid channels dropped. The reference code averaged P01-P07
    but left P09-P14 on the recording reference, depending on the MNE version.
    """

    reader_class = _OpenMIIRReader
    # Leakage-free by default: all patches of a trial on one side, 5 folds.
    split_protocol = ("grouped", {"group": "trial", "n_splits": 5})
    _legacy_protocols = {"trial": split_protocol}


class OpenMIIRMOABB(CorpusMOABBDataset):
    """OpenMIIR as a MOABB dataset (the patches of :class:`OpenMIIR`).

    Note that MOABB's evaluations split patches, not trials, like the paper.
    """

    reader_class = _OpenMIIRReader


# --------------------------------------------------------------------------- #
# Simulation in the release format
# --------------------------------------------------------------------------- #
# Song lengths (s). 24 and 2 are the fixture values of corpora.md, 22 the
# longest of the release (16.016 s in v1, 16.002 s in v2); the others are
# synthetic values within the release's 6.9-16 s range.
_SIM_LENGTHS = {
    1: 13.3, 2: 7.668, 3: 9.7, 4: 11.6, 11: 13.5, 12: 7.7, 13: 9.0, 14: 12.2,
    21: 8.3, 22: 16.016, 23: 9.2, 24: 6.871,
}  # fmt: skip
_META_HEADER = [
    "id", "name", "audio file", "length with cue (sec)", "length of cue (sec)",
    "length of song (sec)", "length of cue only (sec)", "cue bpm", "beats per bar",
    "num beats", "num cue beats", "approx. bar length (sec)", "lyrics", "meter",
    "num bars", "cue bars", "bpm",
]  # fmt: skip


def write_stimuli_metadata(fname, version=1, stimuli=STIMULUS_IDS):
    """Write a ``Stimuli_Meta.v*.xlsx`` with the release's 17-column layout.

    Columns 1-9, 12 and 15-17 hold the fields the OpenMIIR code reads (by
    position); the others are placeholders. The lengths are synthetic.

    Parameters
    ----------
    fname : path-like
        The spreadsheet to write.
    version : int
        1 or 2 (v2 has slightly different lengths).
    stimuli : sequence of int
        Stimulus ids to write a row for.
    """
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(_META_HEADER)
    for stim in stimuli:
        length = _SIM_LENGTHS[stim] - (0.014 if version == 2 and stim == 22 else 0.0)
        cue = 2.5
        name = STIMULUS_NAMES[STIMULUS_IDS.index(stim)]
        sheet.append([
            stim, name, f"S{stim:02d}_{name.replace(' ', '')}.wav", length + cue, cue,
            length, cue - 0.2, 120, 4, 0, 0, 2.0, int(stim < 10), "4/4",
            int(length // 2), 2, 120,
        ])  # fmt: skip
    Path(fname).parent.mkdir(parents=True, exist_ok=True)
    workbook.save(fname)


@_OpenMIIRReader.simulator
def simulate_openmiir(
    path, sim, *, stimuli=(24, 2), conditions=(1, 2, 3, 4), n_repetitions=1, bads=None
):
    """Write synthetic OpenMIIR recordings and metadata in the release format.

    Per subject, ``eeg/mne/<P>-raw.fif`` (written with MNE, single precision):
    the 64 Biosemi EEG channels, EXG1-4 (EOG), EXG5-6 (mastoids, EEG type) for
    P09 and later, and ``STI 014`` with, per trial, the event
    ``stimulus*10 + condition`` followed 0.1 s later by the audio onset (1000),
    plus a noise (1111) and feedback (2001) event after each block. Plus
    ``meta/Stimuli_Meta.v1.xlsx`` and ``v2.xlsx`` (17 columns).

    Parameters
    ----------
    path : path-like
        Root folder (pass it as ``path=``).
    subjects : sequence of int
        Subject ids 1-9.
    full_size : bool
        All 12 stimuli x 4 conditions x 5 repetitions (240 trials, about an
        hour at 512 Hz, roughly 0.5 GB per subject).
    class_signal : float
        Amplitude (in noise standard deviations) of a stimulus-specific pattern
        added during each song; 0 gives pure noise.
    seed : int
        Seed of the random generator.
    stimuli, conditions : sequence of int
        Stimuli and conditions when ``full_size`` is False.
    n_repetitions : int
        Trials per stimulus and condition when ``full_size`` is False.
    bads : list of str | None
        Channels marked bad in every file; ``None`` marks ``T8`` for subjects
        without mastoids (P01-P07) and none otherwise.

    Returns
    -------
    path : Path
        The root folder.
    """
    path = Path(path) / "OpenMIIR"
    rng = np.random.default_rng(sim.seed)
    if sim.full_size:
        stimuli, conditions, n_repetitions = STIMULUS_IDS, (1, 2, 3, 4), 5
    for version in (1, 2):
        write_stimuli_metadata(path / "meta" / f"Stimuli_Meta.v{version}.xlsx", version)
    patterns = class_patterns(len(STIMULUS_IDS), 64, int(SFREQ), seed=sim.seed)
    for subject in sim.subjects:
        participant = PARTICIPANTS[subject - 1]
        mastoids = stimuli_version(participant) == 2  # EXG5/6 from P09 on
        exg = ["EXG1", "EXG2", "EXG3", "EXG4"] + (["EXG5", "EXG6"] if mastoids else [])
        names = OPENMIIR_CH_NAMES + exg + [STIM_CHANNEL]
        types = (
            ["eeg"] * 64 + ["eog"] * 4 + (["eeg", "eeg"] if mastoids else []) + ["stim"]
        )
        # Trials: blocks of all stimuli in random order, per condition and repetition.
        events, t = [], 1.0
        trials = []
        for _ in range(n_repetitions):
            for cond in conditions:
                for stim in rng.permutation(stimuli):
                    onset = int(t * SFREQ)
                    audio = onset + int(0.1 * SFREQ)
                    events += [[onset, stim * 10 + cond], [audio, AUDIO_ONSET]]
                    trials.append((audio, int(stim)))
                    t += 0.1 + _SIM_LENGTHS[int(stim)] + 1.0
                events.append([int(t * SFREQ), NOISE])
                t += 1.0
                events.append([int(t * SFREQ), 2001])
                t += 1.0
        n_total = int((t + 20.0) * SFREQ)
        data = np.empty((len(names), n_total), dtype=np.float32)
        data[:-1] = rng.standard_normal((len(names) - 1, n_total), dtype=np.float32)
        if sim.class_signal:
            for audio, stim in trials:
                n = int(_SIM_LENGTHS[stim] * SFREQ)
                pat = np.tile(
                    patterns[STIMULUS_IDS.index(stim)], (1, n // int(SFREQ) + 1)
                )
                data[:64, audio : audio + n] += sim.class_signal * pat[:, :n]
        data[:-1] *= 1e-5
        data[-1] = 0
        for sample, code in events:
            data[-1, sample : sample + 2] = code
        raw = mne.io.RawArray(data, mne.create_info(names, SFREQ, types), verbose="error")
        del data
        raw.info["bads"] = (
            list(bads) if bads is not None else ([] if mastoids else ["T8"])
        )
        fname = path / "eeg" / "mne" / f"{participant}-raw.fif"
        fname.parent.mkdir(parents=True, exist_ok=True)
        raw.save(fname, fmt="single", overwrite=True, verbose="error")
    return path


# --------------------------------------------------------------------------- download
# The raw FIF files from the first HTTP mirror listed in the OpenMIIR README
# (github.com/sstober/openmiir, "Obtaining the Raw EEG Data": University of
# Potsdam, .../mlcog/OpenMIIR-RawEEG_v1/, flat P01-raw.fif ... as eeg/mne/README.md
# names them); the stimulus metadata from that GitHub repository (meta/, branch
# master). PDDL. No checksum or exact size is published (about 700 MB per
# subject), so each file's SHA256 is recorded at its first download. Not
# verified here (no internet); the mirror's availability is unknown.
_MIRROR = "http://www.ling.uni-potsdam.de/mlcog/OpenMIIR-RawEEG_v1"
_GITHUB = "https://raw.githubusercontent.com/sstober/openmiir/master"


def _openmiir_files(subjects):
    participants = [PARTICIPANTS[s - 1] for s in subjects or _OpenMIIRReader.subjects]
    files = [
        Remote(f"{_MIRROR}/{p}-raw.fif", f"eeg/mne/{p}-raw.fif") for p in participants
    ]
    for version in sorted({stimuli_version(p) for p in participants}):
        rel = f"meta/Stimuli_Meta.v{version}.xlsx"
        files.append(Remote(f"{_GITHUB}/{rel}", rel))
    return files


_SOURCE = Source(
    code="OpenMIIR",
    folder="OpenMIIR",
    files=_openmiir_files,
    page="https://github.com/sstober/openmiir",
    licence="PDDL",
    notes="About 700 MB per subject; the recordings are also on academictorrents "
    "(c18c04a9f18ff7d133421012978c4a92f57f6b9c).",
)
data_path = make_data_path(_SOURCE)
