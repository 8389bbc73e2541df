"""Restricted unpickling of downloaded corpus pickles."""

import copyreg
import os
import pickle
import pickletools
import subprocess

import numpy as np
import pytest

from mne_neurosketch.datasets._pickle import DotDict, UnsafePickleError, load_pickle
from mne_neurosketch.datasets.du_in import _duin_dotdict_class


def _globals_in(payload):
    """(module, name) pairs a pickle asks for, read without unpickling it."""
    found, strings = [], []
    for op, arg, _ in pickletools.genops(payload):
        if op.name in ("GLOBAL", "INST"):
            found.append(tuple(arg.split(" ", 1)))
        elif op.name == "STACK_GLOBAL":
            found.append(tuple(strings[-2:]))
        if isinstance(arg, str):
            strings.append(arg)
    return found


class _NumPy1Pickler(pickle._Pickler):
    """Writes NumPy globals under the NumPy 1 module names (numpy.core.*)."""

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", "") or ""
        if not module.startswith("numpy._core"):
            return super().save_global(obj, name)
        module = module.replace("numpy._core", "numpy.core")
        name = name or obj.__qualname__
        if self.proto >= 4:
            self.save(module)
            self.save(name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_du_in_records_round_trip(tmp_path, rng, protocol):
    """DotDict records under 'utils.DotDict' load as our DotDict, arrays intact."""
    fname = tmp_path / "data"
    with _duin_dotdict_class() as StandIn:
        records = [
            StandIn(name="菠萝", data_s=rng.standard_normal((3, 5))),
            StandIn(name="嘴巴", data_s=np.arange(4, dtype=np.float32)),
            StandIn(meta={"scalar": np.float64(2.5), "ids": {1, 2}, "raw": b"\x00\x01"}),
        ]
        payload = pickle.dumps(records, protocol=protocol)
    fname.write_bytes(payload)
    assert ("utils.DotDict", "DotDict") in _globals_in(payload)
    assert "utils.DotDict" not in __import__("sys").modules  # stand-in was removed
    out = load_pickle(fname)
    assert [type(r) for r in out] == [DotDict] * 3
    assert out[0].name == "菠萝" and out[1]["name"] == "嘴巴"
    np.testing.assert_array_equal(out[0].data_s, records[0]["data_s"])
    assert out[1].data_s.dtype == np.float32
    assert out[2].meta == {"scalar": 2.5, "ids": {1, 2}, "raw": b"\x00\x01"}
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        out[0].missing


@pytest.mark.parametrize("protocol", [2, 4])
def test_numpy1_module_names(tmp_path, rng, protocol):
    """Files written by NumPy 1 name numpy.core.multiarray; both spellings load."""
    arrays = [rng.standard_normal((2, 3)), np.float64(1.5), np.arange(3, dtype=np.int16)]
    fname = tmp_path / "np1.pkl"
    with open(fname, "wb") as fid:
        _NumPy1Pickler(fid, protocol=protocol).dump(arrays)
    names = _globals_in(fname.read_bytes())
    assert ("numpy.core.multiarray", "_reconstruct") in names
    assert not any(mod.startswith("numpy._core") for mod, _ in names)
    out = load_pickle(fname)
    np.testing.assert_array_equal(out[0], arrays[0])
    assert out[1] == 1.5 and out[2].dtype == np.int16


def _evil_payloads(marker):
    """Pickles whose loading would create ``marker`` if they ran."""
    cmd = f"touch {marker}"

    class ViaSystem:
        def __reduce__(self):
            return (os.system, (cmd,))

    class ViaEval:
        def __reduce__(self):
            return (eval, (f"open({str(marker)!r}, 'w').close()",))

    class ViaSubprocess:
        def __reduce__(self):
            return (subprocess.call, (["touch", str(marker)],))

    payloads = {}
    for proto in (0, 2, 4, 5):
        payloads[f"os.system-p{proto}"] = pickle.dumps(ViaSystem(), protocol=proto)
        payloads[f"eval-p{proto}"] = pickle.dumps(ViaEval(), protocol=proto)
    payloads["subprocess"] = pickle.dumps(ViaSubprocess(), protocol=4)
    # Hidden inside an otherwise genuine-looking list of Du-IN records.
    with _duin_dotdict_class() as StandIn:
        payloads["nested"] = pickle.dumps(
            [StandIn(name="a", data_s=np.zeros(2)), StandIn(name=ViaSystem())], protocol=4
        )
    # Hand-written opcodes: INST (protocol 0) and OBJ-free GLOBAL/REDUCE.
    payloads["inst"] = f"(S'{cmd}'\nios\nsystem\n.".encode()
    payloads["global-reduce"] = (
        f"cbuiltins\nexec\n(S'import os; os.system(\"{cmd}\")'\ntR.".encode()
    )
    # An extension code registered for os.system (EXT2 opcode).
    copyreg.add_extension("os", "system", 0x7A1)
    try:
        payloads["ext"] = pickle.dumps(ViaSystem(), protocol=2)
    finally:
        copyreg.remove_extension("os", "system", 0x7A1)
    payloads["persid"] = b"\x80\x02X\x04\x00\x00\x00evilQ."
    return payloads


def test_hostile_pickles_refused_and_nothing_runs(tmp_path):
    """Every code-running pickle is refused, names the file, and runs nothing."""
    marker = tmp_path / "pwned"
    payloads = _evil_payloads(marker)
    # Sanity: a plain pickle.load of one of them does run code.
    pickle.loads(payloads["os.system-p4"])
    assert marker.exists()
    marker.unlink()
    for key, payload in payloads.items():
        fname = tmp_path / f"{key}.pkl"
        fname.write_bytes(payload)
        if key == "ext":
            copyreg.add_extension("os", "system", 0x7A1)
        try:
            with pytest.raises(UnsafePickleError) as err:
                load_pickle(fname)
        finally:
            if key == "ext":
                copyreg.remove_extension("os", "system", 0x7A1)
        msg = str(err.value)
        assert str(fname) in msg, key
        assert "Refusing to unpickle" in msg and "pickle.load" in msg, key
        if key != "persid":
            assert any(
                f"'{name}" in msg
                for name in (
                    "posix.system",
                    "os.system",
                    "builtins.eval",
                    "builtins.exec",
                    "subprocess.call",
                )
            ), (key, msg)
        assert not marker.exists(), f"{key} ran code"


def test_restricted_helpers_refuse_misuse(tmp_path):
    """Allowed helpers only accept the forms pickle itself writes."""
    # _codecs.encode with another codec, copyreg._reconstructor on a non-dict.
    bad_codec = b"c_codecs\nencode\n(S'abc'\nS'rot13'\ntR."
    bad_recon = b"ccopyreg\n_reconstructor\n(cbuiltins\nlist\ncbuiltins\nlist\n(ltR."
    for name, payload in (("_codecs", bad_codec), ("copyreg", bad_recon)):
        fname = tmp_path / name
        fname.write_bytes(payload)
        with pytest.raises(UnsafePickleError, match=name[:5]) as err:
            load_pickle(fname)
        assert str(fname) in str(err.value)


def test_truncated_and_missing(tmp_path, rng):
    """Truncated or non-pickle files and missing files give clear errors."""
    payload = pickle.dumps([rng.standard_normal((4, 100))], protocol=4)
    fname = tmp_path / "data"
    fname.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ValueError, match=r"Du-IN data file .*data .*truncated"):
        load_pickle(fname, what="Du-IN data file")
    fname.write_bytes(b"this is not a pickle")
    with pytest.raises(ValueError, match="not a valid pickle"):
        load_pickle(fname)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pickle(tmp_path / "nope")


def test_dotdict_pickles_itself(tmp_path):
    """Our DotDict survives a plain pickle round trip (used by on-disk caches)."""
    obj = DotDict(a=1, b=DotDict(c=np.arange(2)))
    back = pickle.loads(pickle.dumps(obj))
    assert type(back) is DotDict and back.a == 1
    np.testing.assert_array_equal(back.b.c, [0, 1])
    back.d = 3
    assert back["d"] == 3
