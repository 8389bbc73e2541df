"""Online decoding on a real LSL loopback, and the ``neurosketch online`` command.

Each live test runs in a subprocess (this file run as a script): liblsl can
abort when an inlet is destroyed (a known upstream bug), so the child writes
its results, closes decoder, stream and player in that order, and leaves with
``os._exit``. Streams have unique names (uuid4); liblsl resolves on this
machine only and logs errors only (``LSLAPICFG``).
"""

import json
import os
import subprocess
import sys
import uuid

import mne
import numpy as np
import pandas as pd
import pytest

if __name__ != "__main__":
    from _outputs import path_atol
    from test_online import BAND, EVENT_ID, SFREQ, clf, make_raw  # noqa: F401

    from mne_neurosketch.benchmark.cli import main
    from mne_neurosketch.online import replay

#: liblsl's configuration for the children: this machine only, errors only.
LSL_CONFIG = """\
[lab]
KnownPeers = {127.0.0.1}
[multicast]
ResolveScope = machine
[log]
level = -2
"""
LIVE_SECONDS = 15.0


def _child_env(tmp_path):
    config = tmp_path / "lsl_api.cfg"
    config.write_text(LSL_CONFIG)
    env = dict(os.environ, LSLAPICFG=str(config), OMP_NUM_THREADS="1",
               PYTHONWARNINGS="ignore")
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


def _run_child(tmp_path, *args, timeout=240):
    proc = subprocess.run([sys.executable, __file__, *map(str, args)],
                          env=_child_env(tmp_path), capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture
def recording(tmp_path, clf):
    """A 45-s recording with a sample counter, saved, and the model, saved."""
    pytest.importorskip("mne_lsl")
    raw = make_raw(seconds=45, seed=3, counter=True)
    events = mne.find_events(raw, "STI", consecutive=True, shortest_event=1,
                             verbose=False)
    names = {code: name for name, code in EVENT_ID.items()}
    raw.set_annotations(mne.Annotations(events[:, 0] / SFREQ, 0,
                                        [names[c] for c in events[:, 2]]))
    raw.save(tmp_path / "rec_raw.fif", verbose=False)
    clf.save(tmp_path / "clf.pt")
    return raw


def test_live_decisions_equal_replay_and_cli_live_run(tmp_path, clf, recording):
    # one child for both runs: starting one costs about 10 s on a busy machine
    proc = _run_child(tmp_path, tmp_path)
    result = json.loads((tmp_path / "live.json").read_text())
    live = pd.DataFrame(result["decisions"])
    stats = result["stats"]
    assert stats["samples_lost"] == 0
    assert stats["samples_received"] > 0.8 * LIVE_SECONDS * SFREQ
    assert len(live) >= 10
    # no gap in the counter: each decision's counter is its sample plus the first
    first = live["counter"] - live["sample"]
    assert first.nunique() == 1
    first = int(first.iloc[0])
    # the same decoder over the same samples, from the same first sample
    offline = replay(clf, recording.copy().crop(tmin=first / SFREQ), events="STI",
                     event_id=EVENT_ID, filter=BAND, counter="CNT", chunk_size=(1, 64))
    offline = offline[offline["sample"] < stats["samples_received"]]
    np.testing.assert_array_equal(live["counter"], offline["counter"])
    np.testing.assert_array_equal(live["label"].astype(str),
                                  offline["label"].astype(str))
    columns = [f"p_{c}" for c in clf.classes_]
    # the child loads the saved model: on the bf16 path, probabilities of two
    # processes agree to bf16's tolerance (measured 2.2e-5), in fp32 to 1e-6
    atol = 1e-6 if "bf16" not in clf.inference_path_ else path_atol(clf.inference_path_)
    assert np.abs(live[columns].to_numpy() - offline[columns].to_numpy()).max() <= atol
    # a second inlet read the same decisions, stamped with the windows' ends
    outlet = np.array(result["outlet"])
    np.testing.assert_array_equal(outlet[:, 0], live["index"])
    np.testing.assert_allclose(outlet[:, 1:], live[columns].to_numpy(), atol=1e-12)
    np.testing.assert_allclose(result["outlet_times"], live["window_end"], atol=1e-9)
    assert result["labels"] == [str(v) for v in live["label"]]
    assert (live["latency"] >= 0).all()
    # the command line: a short live run on the player's annotations as a
    # marker stream, its log written
    log = pd.read_csv(tmp_path / "cli.csv")
    assert len(log) > 0
    assert {"sample", "event", "label", "latency", "counter", "p_rare"} <= set(
        log.columns)
    assert "0 lost" in proc.stdout
    assert np.all(np.diff(log["counter"] - log["sample"]) == 0)
    # each marker is placed at its annotation's sample, give or take the one
    # sample by which PlayerLSL stamps annotations early
    onsets = recording.time_as_index(recording.annotations.onset)
    starts = log["counter"].to_numpy() - (clf.n_times_ - 1)
    nearest = np.abs(starts[:, None] - onsets[None]).argmin(1)
    assert np.abs(starts - onsets[nearest]).max() <= 1
    np.testing.assert_array_equal(log["event"],
                                  recording.annotations.description[nearest])


def test_cli_replay_equals_replay(tmp_path, clf, capsys):
    raw = make_raw(seconds=20, seed=4)
    raw.save(tmp_path / "rec_raw.fif", verbose=False)
    clf.save(tmp_path / "clf.pt")
    code = main(["online", "--model", str(tmp_path / "clf.pt"), "--replay",
                 str(tmp_path / "rec_raw.fif"), "--events", "STI", "--event-id",
                 "frequent=1", "rare=2", "--filter", "1", "20", "--log",
                 str(tmp_path / "replay.csv")])
    assert code == 0
    assert "decisions written" in capsys.readouterr().out
    log = pd.read_csv(tmp_path / "replay.csv")
    expected = replay(clf, raw, events="STI", event_id=EVENT_ID, filter=BAND)
    np.testing.assert_array_equal(log["sample"], expected["sample"])
    np.testing.assert_allclose(log["p_rare"], expected["p_rare"], atol=1e-6)


def test_cli_names_bad_online_arguments(tmp_path, clf, capsys):
    clf.save(tmp_path / "clf.pt")
    args = ["online", "--model", str(tmp_path / "clf.pt"), "--replay",
            str(tmp_path / "none_raw.fif"), "--hop", "0.5"]
    assert main(args) == 2
    assert "none_raw.fif" in capsys.readouterr().err
    make_raw(seconds=5).save(tmp_path / "rec_raw.fif", verbose=False)
    args[4] = str(tmp_path / "rec_raw.fif")
    assert main([*args, "--event-id", "rare=x"]) == 2
    assert "'--event-id' parameter" in capsys.readouterr().err
    assert main([*args, "--events", "STI"]) == 2
    assert "either hop" in capsys.readouterr().err


# --------------------------------------------------------------------------- child
def _player(folder, name, annotations=False):
    from mne_lsl.player import PlayerLSL

    return PlayerLSL(folder / "rec_raw.fif", chunk_size=16, n_repeat=1, name=name,
                     annotations=annotations, annotations_encoding="string").start()


def _child_decode(folder):
    from mne_lsl.lsl import StreamInlet, resolve_streams

    from mne_neurosketch.online import OnlineDecoder

    name, out = uuid.uuid4().hex, uuid.uuid4().hex
    player = _player(folder, name)
    decoder = OnlineDecoder(folder / "clf.pt", name, events="STI", event_id=EVENT_ID,
                            filter=BAND, counter="CNT", max_lag=None, outlet=out,
                            label_outlet=True)
    inlets = []
    for stream in (out, f"{out}-labels"):
        inlet = StreamInlet(resolve_streams(timeout=5, name=stream)[0])
        inlet.open_stream(timeout=5)
        inlets.append(inlet)
    decoder.run(LIVE_SECONDS)
    values, times = inlets[0].pull_chunk(timeout=2.0, max_samples=10_000)
    labels, _ = inlets[1].pull_chunk(timeout=2.0, max_samples=10_000)
    result = dict(decisions=decoder.decisions_.to_dict("list"), stats=decoder.stats(),
                  outlet=np.asarray(values).tolist(), outlet_times=list(times),
                  labels=[v[0] for v in labels])
    (folder / "live.json").write_text(json.dumps(result, default=str))
    for inlet in inlets:
        inlet._del()
    decoder.close()
    player.stop()


def _child_cli(folder):
    from mne_neurosketch.benchmark.cli import main

    name = uuid.uuid4().hex
    player = _player(folder, name, annotations=True)
    code = main(["online", "--model", str(folder / "clf.pt"), "--stream", name,
                 "--marker-stream", f"{name}-annotations", "--event-id", "frequent",
                 "rare", "--filter", "1", "20", "--counter", "CNT", "--duration", "4",
                 "--log", str(folder / "cli.csv"), "--no-progress"])
    player.stop()
    return code


if __name__ == "__main__":
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_online import BAND, EVENT_ID  # noqa: F811

    folder = Path(sys.argv[1])
    _child_decode(folder)
    code = _child_cli(folder)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip liblsl's destructors at exit (they can abort)
