"""Restricted unpickling of downloaded corpus pickles."""

import copyreg
import os
import pickle
import pickletools
import re
import struct
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
            with pytest.raises(UnsafePickleError, match=re.escape(str(fname))) as err:
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


# ---------------------------------------------------------------------------
# Sizes: nothing larger than the file can describe is allocated
# ---------------------------------------------------------------------------
class _Call:
    """Pickles as ``func(*args)`` (with ``state`` applied), without calling it."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        if self.state is None:
            return (self.func, self.args)
        return (self.func, self.args, self.state)


def _oversized_payloads():
    from numpy._core.multiarray import _reconstruct

    huge, blob = 10**12, b"x" * 2**16  # blob: pickled once, then referenced
    payloads = {
        "bytearray": pickle.dumps(_Call(bytearray, (huge,)), protocol=2),
        "array-shape": pickle.dumps(
            _Call(_reconstruct, (np.ndarray, (huge,), b"b")), protocol=4
        ),
        "object-array-state": pickle.dumps(
            _Call(
                _reconstruct,
                (np.ndarray, (0,), b"b"),
                (1, (10**10,), np.dtype("O"), False, [1, 2]),
            ),
            protocol=4,
        ),
        "ndarray-called": pickle.dumps(_Call(np.ndarray, ((huge,), "b")), protocol=2),
        # Many 1 MB arrays from a few bytes each: the sum is what counts.
        "repeated": pickle.dumps(
            [_Call(_reconstruct, (np.ndarray, (2**20,), b"b")) for _ in range(5000)],
            protocol=4,
        ),
        "list-copies": pickle.dumps([_Call(list, (blob,)) for _ in range(5000)],
                                    protocol=4),
    }
    # Length prefixes announcing 10**12 bytes (BINBYTES8, BINUNICODE8, BYTEARRAY8).
    for name, op in (("binbytes8", b"\x8e"), ("binunicode8", b"\x8d"),
                     ("bytearray8", b"\x96")):
        payloads[name] = b"\x80\x05" + op + struct.pack("<Q", huge) + b"abc."
    return payloads


def test_oversized_requests_refused_before_allocation(tmp_path):
    """Arrays and buffers beyond what the file holds are refused, naming the file."""
    for key, payload in _oversized_payloads().items():
        fname = tmp_path / f"{key}.pkl"
        fname.write_bytes(payload)
        assert len(payload) < 150_000, key
        with pytest.raises((UnsafePickleError, ValueError),
                           match=re.escape(str(fname))) as err:
            load_pickle(fname)
        msg = str(err.value)
        assert str(fname) in msg, key
        if isinstance(err.value, UnsafePickleError):
            assert "more than a genuine file" in msg or "called directly" in msg, key
        else:
            assert "truncated" in msg, key
    # A genuine pickle as large as the limits allow still loads.
    fname = tmp_path / "big.pkl"
    arrays = [np.arange(2**18, dtype=np.float64), np.array(["a", None] * 2**12)]
    fname.write_bytes(pickle.dumps(arrays, protocol=2))
    out = load_pickle(fname)
    np.testing.assert_array_equal(out[0], arrays[0])
    np.testing.assert_array_equal(out[1], arrays[1])


# ---------------------------------------------------------------------------
# Property-based: random and mutated files
# ---------------------------------------------------------------------------
#: Stand-in module names of the same lengths as those they replace in a pickle
#: ("numpy", "builtins"): importing either would show (the canary leaves a file,
#: the other is a standard module nothing here imports).
_CANARY, _STDLIB_UNUSED = "nspwn", "tabnanny"
_ALLOWED_TYPES = (dict, list, tuple, set, frozenset, str, bytes, bytearray, int, float,
                  complex, bool, type(None), np.ndarray, np.generic, np.dtype)


@pytest.fixture(scope="module")
def canary(tmp_path_factory):
    """A module on sys.path that leaves a marker file if it is ever imported."""
    import sys

    folder = tmp_path_factory.mktemp("canary")
    marker = folder / "imported"
    (folder / f"{_CANARY}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    sys.path.insert(0, str(folder))
    try:
        yield marker
    finally:
        sys.path.remove(str(folder))


def _genuine_pickles():
    rng = np.random.default_rng(1)
    with _duin_dotdict_class() as StandIn:
        records = [
            StandIn(name="w", data_s=rng.standard_normal((2, 3)).astype(np.float32)),
            {"ids": {1, 2}, "raw": b"\x00\xff", "z": 1 + 2j, "n": np.int64(7)},
        ]
        return records, [pickle.dumps(records, protocol=p) for p in (0, 2, 4, 5)]


def _substitute(payload, old, new):
    assert len(old) == len(new)
    return payload.replace(old.encode(), new.encode())


def _check_outcome(fname, sys_modules_before, canary):
    """Load ``fname``: a load of allowed types, or an error naming the file."""
    import sys

    try:
        obj = load_pickle(fname)
    except (UnsafePickleError, ValueError) as err:
        assert str(fname) in str(err)
        obj = None
    else:
        stack = [obj]
        while stack:  # every object built is of an allowed type
            item = stack.pop()
            assert isinstance(item, _ALLOWED_TYPES), type(item)
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, (list, tuple, set, frozenset)):
                stack.extend(item)
    assert set(sys.modules) == sys_modules_before  # nothing was imported
    assert not canary.exists()
    return obj


def test_genuine_pickles_load_unchanged(tmp_path):
    records, payloads = _genuine_pickles()
    for protocol, payload in zip((0, 2, 4, 5), payloads):
        fname = tmp_path / f"p{protocol}.pkl"
        fname.write_bytes(payload)
        out = load_pickle(fname)
        assert type(out[0]) is DotDict and out[0].name == "w"
        np.testing.assert_array_equal(out[0].data_s, records[0]["data_s"])
        assert out[1] == records[1]


_SETTINGS = dict(max_examples=60, deadline=None, database=None)  # no .hypothesis/ folder


@given(data=st.binary(max_size=200),
       header=st.sampled_from([b"", b"\x80\x02", b"\x80\x04"]))
@settings(**_SETTINGS)
def test_random_bytes_load_or_clear_error(tmp_path_factory, canary, data, header):
    import sys

    fname = tmp_path_factory.mktemp("random") / "data.pkl"
    fname.write_bytes(header + data)
    _check_outcome(fname, set(sys.modules), canary)


@st.composite
def _mutated(draw):
    _, payloads = _genuine_pickles()
    payload = bytearray(draw(st.sampled_from(payloads)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "rename"]))
        pos = draw(st.integers(0, max(len(payload) - 1, 0)))
        if kind == "flip" and payload:
            payload[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            payload[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del payload[pos : pos + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del payload[pos:]
        else:  # a global renamed to a module that must never be imported
            old, new = draw(st.sampled_from(
                [("numpy", _CANARY), ("builtins", _STDLIB_UNUSED),
                 ("utils.DotDict", f"{_CANARY}.DotDict")]))
            payload = bytearray(_substitute(bytes(payload), old, new))
    return bytes(payload)


@given(payload=_mutated())
@settings(**_SETTINGS)
def test_mutated_pickles_load_or_clear_error(tmp_path_factory, canary, payload):
    import sys

    assert _STDLIB_UNUSED not in sys.modules and _CANARY not in sys.modules
    fname = tmp_path_factory.mktemp("mutated") / "data.pkl"
    fname.write_bytes(payload)
    _check_outcome(fname, set(sys.modules), canary)


def test_renamed_globals_are_refused_not_imported(tmp_path, canary):
    """Every global renamed to an importable module is refused by name."""
    import sys

    _, payloads = _genuine_pickles()
    for i, payload in enumerate(payloads):
        for old, new in (("numpy", _CANARY), ("builtins", _STDLIB_UNUSED)):
            mutated = _substitute(payload, old, new)
            if mutated == payload:
                continue
            fname = tmp_path / f"{i}-{new}.pkl"
            fname.write_bytes(mutated)
            with pytest.raises(UnsafePickleError, match=f"'{new}") as err:
                load_pickle(fname)
            assert str(fname) in str(err.value)
            _check_outcome(fname, set(sys.modules), canary)


def test_crafted_dtype_and_array_states_refused(tmp_path):
    """States NumPy never writes (object flags on floats, a second state) are refused."""
    from numpy._core.multiarray import _reconstruct

    flags = np.dtype("O").__reduce__()[2][-1]  # "holds object pointers"
    genuine = np.dtype("f8").__reduce__()[2]
    crafted = {
        "dtype-flags": _Call(np.dtype, ("f8", False, True), genuine[:-1] + (flags,)),
        "array-twice": _Call(
            _reconstruct,
            (np.ndarray, (0,), b"b"),
            (1, (1,), np.dtype("f8"), False, b"\x00" * 8),
        ),
    }
    payloads = {"dtype-flags": pickle.dumps(crafted["dtype-flags"], protocol=2)}
    # BUILD applied twice to the same array.
    once = pickle.dumps(crafted["array-twice"], protocol=2)
    state_and_build = once[once.index(b"(K\x01") : -1]  # ... state, BUILD
    payloads["array-twice"] = once[:-1] + state_and_build[:-1] + b"b."
    assert pickle.loads(pickle.dumps(crafted["array-twice"], protocol=2)).shape == (1,)
    for key, payload in payloads.items():
        fname = tmp_path / f"{key}.pkl"
        fname.write_bytes(payload)
        with pytest.raises(UnsafePickleError,
                           match="dtype state|state of an array") as err:
            load_pickle(fname)
        assert str(fname) in str(err.value)
    fname.write_bytes(once)  # the genuine form loads
    np.testing.assert_array_equal(load_pickle(fname), np.zeros(1))
