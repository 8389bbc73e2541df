"""Training and inference speed of NeuroSketch and braindecode baselines.

One run measures, for NeuroSketch Base/Large/SD and braindecode's EEGNet,
ShallowFBCSPNet, Deep4Net, EEGConformer and ATCNet at the six corpora's input
shapes, batch 1 and 64 (256 on a GPU):

- training samples/s (forward + backward + AdamW step, train mode);
- inference samples/s (eval mode, ``torch.inference_mode``);
- peak memory (GPU: ``torch.cuda.max_memory_allocated``; CPU: parameters,
  buffers and optimizer state plus the peak of the tensors one call allocates);
- FLOPs per sample (``torch.utils.flop_counter``) and the achieved GFLOP/s
  next to this machine's measured matmul peak (fp32 on CPU, bf16 on GPU).

The ``targets`` section puts the optimised paths of
:mod:`mne_neurosketch.inference` and :mod:`mne_neurosketch.training` side
by side with plain eager for NeuroSketch-Base at 62 x 400 (the issue's targets).
The variants compared in a cell are timed in rotation (one block of
each per round, medians over rounds, after warm-up), so that all see the same
machine load; on a CPU a matmul block runs in every round too and each row's
efficiency is against the matmul rate of its own rounds. The load average is
recorded with each row: a shared machine makes CPU numbers noisy.

Usage::

    python benchmarks/bench_models.py                    # CPU, and GPU if present
    python benchmarks/bench_models.py --device cuda --section targets
    python benchmarks/bench_models.py --quick            # a few cells, smoke test

Writes, under ``benchmarks/results/speed/``, ``models_<tag>.csv`` (one row per
measurement), ``models_<tag>.json`` (machine, matmul peaks, targets) and
``models_<tag>_summary.rst`` (the tables shown in the documentation).
"""

# License: BSD (3-clause)

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
import warnings
import weakref
from pathlib import Path

import torch
from _machine import machine_info, synchronize
from _rst import rst_table
from torch import nn
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

from mne_neurosketch.numerics import cudnn_benchmark

warnings.filterwarnings("ignore")  # braindecode/MNE deprecation noise in every cell

RESULTS = Path(__file__).resolve().parent / "results" / "speed"



def _corpus_shapes() -> list:
    """(name, n_chans, n_times, n_outputs, sfreq) of each corpus, from its registry
    facts (the first registered task of a multi-task corpus)."""
    from mne_neurosketch.datasets import list_corpora

    shapes = {}
    for corpus in list_corpora().values():
        shapes.setdefault(corpus.reader.code, (corpus.reader.code, *corpus.shape))
    return list(shapes.values())


SHAPES = _corpus_shapes()
#: Models measured, under the labels of the speed tables; each label is a name
#: or alias of the model registry (mne_neurosketch.models.registry).
MODELS = [
    "NeuroSketch-Base",
    "NeuroSketch-Large",
    "NeuroSketch-SD",
    "EEGNet",
    "ShallowFBCSPNet",
    "Deep4Net",
    "EEGConformer",
    "ATCNet",
]


# ---------------------------------------------------------------- timing ---
def _block(fn, device, calls) -> float:
    """Seconds per call of ``calls`` back-to-back calls of ``fn`` on ``device``."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / calls


class MatmulProbe:
    """Dense matmul throughput (GFLOP/s) of one timed block, on demand.

    Called between the timed blocks of the models on a CPU, it measures the
    peak under the same machine load as they run.
    """

    def __init__(self, device, dtype, n=None, tf32=False, min_block_s=0.2):
        self.n = n or (8192 if device.type == "cuda" else 1024)
        self.a = torch.randn(self.n, self.n, device=device).to(dtype)
        self.b = torch.randn(self.n, self.n, device=device).to(dtype)
        self.tf32, self.device = tf32, device
        est = self._time(2)  # warm-up
        self.calls = max(1, math.ceil(min_block_s / est))

    def _time(self, calls):
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = self.tf32
        try:
            return _block(lambda: self.a @ self.b, self.device, calls)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old

    def __call__(self) -> float:
        return 2 * self.n**3 / self._time(self.calls) / 1e9


def matmul_peak(device, dtype, *, tf32=False, n_blocks=7) -> float:
    """Median dense matmul throughput in GFLOP/s over ``n_blocks`` blocks."""
    probe = MatmulProbe(device, dtype, tf32=tf32, min_block_s=0.3)
    return statistics.median(probe() for _ in range(n_blocks))


# ------------------------------------------------------------------ models --
def build_model(name, n_chans, n_times, n_outputs, sfreq) -> nn.Module:
    """Model ``name`` for input ``(n_chans, n_times)`` with default settings."""
    from mne_neurosketch.models.registry import get_model

    sig = dict(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times)
    cls = get_model(name)
    if name.startswith("NeuroSketch"):  # these tables never gave them sfreq
        return cls(**sig)
    return cls(**sig, sfreq=sfreq)


_FLOPS: dict = {}


def count_flops(model, n_chans, n_times, train: bool, key=None) -> float:
    """FLOPs per sample (matmuls and convolutions) of inference or a training step.

    Counted on the model's device with batch 2; cached under ``key``.
    """
    if key is not None and (key, train) in _FLOPS:
        return _FLOPS[key, train]
    model.train(train)
    x = torch.randn(2, n_chans, n_times, device=next(model.parameters()).device)
    with FlopCounterMode(display=False) as counter:
        if train:
            model(x).sum().backward()
        else:
            with torch.no_grad():
                model(x)
    model.zero_grad(set_to_none=True)
    flops = counter.get_total_flops() / 2
    if key is not None:
        _FLOPS[key, train] = flops
    return flops


def _loss(logits, target):
    # the paper's recipe: one-hot (mixup-able) targets with BCE-with-logits
    return F.binary_cross_entropy_with_logits(logits, target)


def make_train_fn(
    model,
    x,
    y,
    *,
    device,
    amp_dtype=None,
    channels_last=False,
    fused_adamw=False,
    compile=False,
    cuda_graph=False,
):
    """A closure running one training step (see ``TrainStep``)."""
    from mne_neurosketch.training import TrainStep, make_adamw

    model.train()
    if fused_adamw or cuda_graph:
        opt = make_adamw(model, cuda_graph=cuda_graph)
    else:  # plain: torch's default AdamW (foreach on CUDA)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    step = TrainStep(
        model,
        _loss,
        opt,
        amp_dtype=amp_dtype,
        channels_last=channels_last,
        compile=compile,
        cuda_graph=cuda_graph,
    )
    return lambda: step(x, y), opt


def make_infer_fn(
    model,
    x,
    *,
    device,
    fuse=False,
    channels_last=False,
    compile=False,
    amp_dtype=None,
    compile_kwargs=None,
):
    """A closure running one inference batch."""
    from mne_neurosketch.inference import optimize_for_inference

    if fuse or channels_last or compile:
        model = optimize_for_inference(
            model,
            fuse=fuse,
            channels_last=channels_last,
            compile=compile,
            compile_kwargs=compile_kwargs,
        )
    model.eval()

    def run():
        with (
            torch.inference_mode(),
            torch.autocast(
                device.type,
                dtype=amp_dtype or torch.float32,
                enabled=amp_dtype is not None,
            ),
        ):
            return model(x)

    return run


class LiveTensorBytes(TorchDispatchMode):
    """Peak bytes of tensor storages allocated while active (CPU memory probe).

    Each storage an op returns is counted once until it is garbage collected;
    tensors alive before (parameters, optimizer state) are not counted.
    """

    def __init__(self):
        super().__init__()
        self.live, self.current, self.peak = {}, 0, 0

    def _free(self, key):
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key and key not in self.live:
                    self.live[key] = storage.nbytes()
                    self.current += storage.nbytes()
                    self.peak = max(self.peak, self.current)
                    weakref.finalize(storage, self._free, key)
        return out


def _state_bytes(objs) -> int:
    """Bytes of the parameters, buffers and optimizer state of ``objs``."""
    seen = {}
    for obj in objs:
        if isinstance(obj, nn.Module):
            tensors = [*obj.parameters(), *obj.buffers()]
        else:  # optimizer
            tensors = [
                v
                for st in obj.state.values()
                for v in st.values()
                if isinstance(v, torch.Tensor)
            ]
        for t in tensors:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(seen.values())


def _peak_memory(device, fn, track=()):
    """Peak bytes: CUDA allocator peak, or state + peak new tensors of one CPU call."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    probe = LiveTensorBytes()
    with probe:
        fn()
    return _state_bytes(track) + probe.peak


def _error(err) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text[:160]}"


def _with_cudnn_benchmark(fn, device, on):
    """``fn``, run under the package's :func:`~mne_neurosketch.numerics.cudnn_benchmark`
    (cuDNN autotuning on CUDA) when ``on``; as it is (torch's default: off) when not."""
    if not on:
        return fn

    def run():
        with cudnn_benchmark(device):
            return fn()

    return run


def _onnx_fn(model, x):
    import tempfile

    from mne_neurosketch.inference import OnnxModel, export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model.cpu(), Path(tmp) / "model.onnx", verbose=False)
        # no spinning: idle onnxruntime threads would slow the interleaved models
        session = OnnxModel(path, n_threads=torch.get_num_threads(), allow_spinning=False)
    x = x.cpu().numpy()
    return lambda: session(x)


def prepare(model_name, shape, batch, mode, device, variant, *, max_step_s, peak):
    """Build one measurement and warm it up.

    Returns ``(row, fn, est_s)``; ``fn`` is None when the cell cannot run
    (the model rejects the shape, out of memory, or it would take longer than
    ``max_step_s`` per call), with the reason in the row.
    """
    corpus, n_chans, n_times, n_outputs, sfreq = shape
    row = dict(
        model=model_name,
        corpus=corpus,
        n_chans=n_chans,
        n_times=n_times,
        n_outputs=n_outputs,
        batch=batch,
        mode=mode,
        variant=variant["name"],
        device=device.type,
    )
    opts = {k: v for k, v in variant.items() if k != "name"}
    onnx = opts.pop("onnx", False)
    tuned = opts.pop("cudnn_benchmark", False)
    torch.manual_seed(0)
    try:
        model = build_model(model_name, n_chans, n_times, n_outputs, sfreq).to(device)
        row["params"] = sum(p.numel() for p in model.parameters())
        flops = count_flops(
            model, n_chans, n_times, train=mode == "train", key=(model_name, corpus)
        )
    except Exception as err:  # the model does not accept this input size
        row["error"] = _error(err)
        return row, None, 0.0
    row["gflop_per_sample"] = flops / 1e9
    est = flops * batch / (0.3 * peak * 1e9)
    if est > max_step_s:
        row["skipped"] = f"estimated {est:.1f} s per call > --max-step-s {max_step_s}"
        return row, None, 0.0
    x = torch.randn(batch, n_chans, n_times, device=device)
    y = F.one_hot(torch.randint(0, n_outputs, (batch,)), n_outputs).float().to(device)
    synchronize(device)
    if device.type == "cuda":
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    try:
        if onnx:
            fn, track = _onnx_fn(model, x), None
        elif mode == "train":
            fn, opt = make_train_fn(model, x, y, device=device, **opts)
            track = (model, opt)
        else:
            fn, track = make_infer_fn(model, x, device=device, **opts), (model,)
        fn = _with_cudnn_benchmark(fn, device, tuned)
        start = time.perf_counter()
        fn()
        synchronize(device)
        row["first_call_s"] = time.perf_counter() - start
        est = _block(fn, device, 1)
        if device.type == "cuda":
            mem = torch.cuda.max_memory_allocated(device) - before
        elif track is None or opts.get("compile"):
            mem = None  # the tracker sees neither onnxruntime nor compiled graphs
        else:
            mem = _peak_memory(device, fn, track)
    except torch.OutOfMemoryError:
        row["error"] = "out of memory"
        return row, None, 0.0
    except Exception as err:
        row["error"] = _error(err)
        return row, None, 0.0
    row["peak_memory_mb"] = None if mem is None else mem / 2**20
    row["_flops"] = flops
    return row, fn, max(est, 1e-6)


def run_group(
    cells, device, *, peak, probe=None, n_blocks=5, max_s=20.0, min_block_s=0.2
):
    """Time prepared cells in rotation, so that all see the same machine load.

    Each round times one block (at least ``min_block_s``) of every cell and,
    with a ``probe``, one block of matmul; 3 to ``n_blocks`` rounds run (fewer
    when slow, see ``max_s``). The medians are reported; with a probe the
    efficiency is against the median matmul rate of the same rounds.
    """
    live = [
        (row, fn, max(1, math.ceil(min_block_s / est)), est)
        for row, fn, est in cells
        if fn is not None
    ]
    if not live:
        return
    round_s = sum(calls * est for _, _, calls, est in live)
    rounds = int(max(3, min(n_blocks, max_s // max(round_s, 1e-9))))
    times = [[] for _ in live]
    peaks = []
    for _ in range(rounds):
        if probe is not None:
            peaks.append(probe())
        for i, (_, fn, calls, _) in enumerate(live):
            times[i].append(_block(fn, device, calls))
    ref = statistics.median(peaks) if peaks else peak
    for (row, _, calls, _), ts in zip(live, times):
        sec = statistics.median(ts)
        flops = row.pop("_flops") * row["batch"]
        row.update(
            samples_per_s=row["batch"] / sec,
            ms_per_batch=sec * 1e3,
            spread=(max(ts) - min(ts)) / sec,
            calls=rounds * calls,
            gflops=flops / sec / 1e9,
            peak_gflops=ref,
            peak_fraction=flops / sec / 1e9 / ref,
            loadavg=os.getloadavg()[0],
        )


def measure(
    model_name,
    shape,
    batch,
    mode,
    device,
    variants,
    *,
    max_step_s,
    peak,
    probe=None,
    n_blocks=5,
):
    """Prepare ``variants`` of one cell, time them together, return their rows."""
    cells = [
        prepare(
            model_name, shape, batch, mode, device, v, max_step_s=max_step_s, peak=peak
        )
        for v in variants
    ]
    fast = device.type == "cuda"
    run_group(
        cells,
        device,
        peak=peak,
        probe=probe,
        n_blocks=n_blocks,
        max_s=max(5.0, 3 * max_step_s) if max_step_s < 1e8 else 600.0,
        min_block_s=0.1 if fast else 0.2,
    )
    rows = [row for row, _, _ in cells]
    for row in rows:
        row.pop("_flops", None)
    del cells
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


# --------------------------------------------------------------- sections ---
def plain_name(device) -> str:
    """``"eager fp32"``, or ``"eager tf32"`` on a GPU whose cuDNN convolutions
    may run in TF32 (``torch.backends.cudnn.allow_tf32``, PyTorch's default):
    the label says what ran."""
    tf32 = torch.device(device).type == "cuda" and torch.backends.cudnn.allow_tf32
    return f"eager {'tf32' if tf32 else 'fp32'}"


def plain_variant(device):
    return {"name": plain_name(device)}


#: The optimised variant the grid measures next to plain eager, per device type
#: and mode: one of :func:`target_variants` (no compile: cheap to start).
GRID_FAST = {
    ("cuda", "train"): "bf16+cl+fused",
    ("cuda", "infer"): "bf16+fused+cl",
    ("cpu", "train"): "cl",
    ("cpu", "infer"): "fused+cl",
}


def fast_variants(device, mode):
    """The optimised configuration kept for the grid (see ``GRID_FAST``)."""
    name = GRID_FAST[device.type, mode]
    return next(v for v in target_variants(device, mode) if v["name"] == name)


def target_variants(device, mode):
    """Variants compared for the issue's targets, the plain one first."""
    v = [plain_variant(device)]
    tuned = {"cudnn_benchmark": True}
    if device.type == "cuda":
        bf = {"amp_dtype": torch.bfloat16}
        if mode == "train":
            fused = dict(bf, channels_last=True, fused_adamw=True)
            graph = dict(bf, channels_last=True, cuda_graph=True)  # fused AdamW too
            return v + [
                dict(bf, name="bf16"),
                dict(bf, name="bf16+cl", channels_last=True),
                dict(fused, name="bf16+cl+fused"),
                dict(graph, name="bf16+cl+fused+graph"),
                dict(fused, name="bf16+cl+fused+compile", compile=True),
                dict(graph, name="bf16+cl+fused+compile+graph", compile=True),
                dict(tuned, name=f"{plain_name(device)}+cudnn.benchmark"),
                dict(graph, **tuned, name="bf16+cl+fused+graph+cudnn.benchmark"),
                dict(graph, **tuned, compile=True,
                     name="bf16+cl+fused+compile+graph+cudnn.benchmark"),
            ]
        fused = dict(bf, fuse=True, channels_last=True)
        return v + [
            dict(bf, name="bf16"),
            dict(fused, name="bf16+fused+cl"),
            dict(fused, name="bf16+fused+cl+compile", compile=True),
            dict(fused, **tuned, name="bf16+fused+cl+compile+cudnn.benchmark",
                 compile=True),
        ]
    if mode == "train":
        return v + [
            {"name": "cl", "channels_last": True},
            {"name": "compile", "compile": True},
            {"name": "cl+compile", "channels_last": True, "compile": True},
        ]
    fused = {"fuse": True, "channels_last": True}
    return v + [
        {"name": "fused", "fuse": True},
        dict(fused, name="fused+cl"),
        dict(fused, name="fused+cl+compile", compile=True),
        dict(fused, name="fused+cl+compile(freezing)", compile=True,
             compile_kwargs={"options": {"freezing": True}}),
        {"name": "onnxruntime", "onnx": True},
    ]


def _log(row):
    what = (
        f"{row['model']:18s} {row['corpus']:11s} b{row['batch']:<4d} {row['mode']:5s} "
        f"{row['variant']:28s}"
    )
    if "samples_per_s" in row:
        mem = row.get("peak_memory_mb")
        print(
            f"{what} {row['samples_per_s']:10.1f} samples/s {row['gflops']:8.1f} GFLOP/s "
            f"({100 * row['peak_fraction']:5.1f} % peak) "
            f"{'' if mem is None else f'{mem:8.0f} MB'}",
            flush=True,
        )
    else:
        print(f"{what} -- {row.get('skipped') or row.get('error')}", flush=True)


def run_device(device, args, save=lambda result: None) -> dict:
    """All sections on one device; ``save(result)`` after every row."""
    out = {"machine": machine_info(device), "device": device.type, "peaks_gflops": {}}
    out["machine"]["flush_denormal"] = args.flush_denormal
    peaks = out["peaks_gflops"]
    if device.type == "cuda":
        peaks["bf16"] = matmul_peak(device, torch.bfloat16)
        peaks["tf32"] = matmul_peak(device, torch.float32, tf32=True)
        peaks["fp32"] = matmul_peak(device, torch.float32)
        peak = peaks["bf16"]  # the reference for GPU efficiency
    else:
        peaks["fp32"] = matmul_peak(device, torch.float32)
        peak = peaks["fp32"]
    print(f"[{device}] matmul peak GFLOP/s: {peaks}", flush=True)
    out["peak_reference"] = "bf16" if device.type == "cuda" else "fp32"
    big = 256 if device.type == "cuda" else 64
    rows = out["rows"] = []
    out["targets"] = []

    # on a CPU, a matmul block runs between the models' blocks (load changes)
    probe = MatmulProbe(device, torch.float32) if device.type == "cpu" else None

    def cell(section, model_name, shape, batch, mode, variants, max_step_s=1e9):
        """Measure one cell's variants; record, log and save each row."""
        for row in measure(model_name, shape, batch, mode, device, variants,
                           max_step_s=max_step_s, peak=peak, probe=probe,
                           n_blocks=args.blocks):
            row["section"] = section
            rows.append(row)
            _log(row)
            out["machine"]["loadavg_end"] = list(os.getloadavg())
            out["targets"] = summarise_targets(rows, device, peak)
            save(out)

    if "targets" in args.section:
        shape = next(s for s in SHAPES if s[0] == "SEED-DV")
        for mode, batch in [("train", big), ("infer", 1), ("infer", big)]:
            cell("targets", "NeuroSketch-Base", shape, batch, mode,
                 target_variants(device, mode))
        if device.type == "cpu":
            # bf16 autocast on a CPU without bf16 units: measured, never a default
            variants = (
                {"name": "eager fp32"},
                {"name": "bf16", "amp_dtype": torch.bfloat16},
            )
            cell("bf16-cpu", "NeuroSketch-Base", shape, 8, "infer", variants)
    if "grid" in args.section:
        models = args.models or MODELS
        shapes = [s for s in SHAPES if not args.shapes or s[0] in args.shapes]
        for model_name in models:
            for shape in shapes:
                for batch in (1, big):
                    for mode in ("train", "infer"):
                        variants = [plain_variant(device)]
                        if model_name.startswith("NeuroSketch") and args.grid_fast:
                            variants.append(fast_variants(device, mode))
                        cell("grid", model_name, shape, batch, mode, variants,
                             max_step_s=args.max_step_s)
    return out


def _find(rows, section, mode, batch, variant):
    for r in rows:
        if (
            r.get("section") == section
            and r["mode"] == mode
            and r["batch"] == batch
            and r["variant"] == variant
            and "samples_per_s" in r
        ):
            return r
    return None


def summarise_targets(rows, device, peak) -> list[dict]:
    """The issue's targets as measured ratios, best optimised variant vs plain."""
    out = []

    def best(mode, batch):
        cands = [
            r
            for r in rows
            if r.get("section") == "targets"
            and r["mode"] == mode
            and r["batch"] == batch
            and "samples_per_s" in r
            and r["variant"] != plain_name(device)
        ]
        return max(cands, key=lambda r: r["samples_per_s"], default=None)

    def add(name, mode, batch, goal, kind):
        plain = _find(rows, "targets", mode, batch, plain_name(device))
        fast = best(mode, batch)
        if plain is None or fast is None:
            return
        value = (
            fast["peak_fraction"]
            if kind == "peak"
            else fast["samples_per_s"] / plain["samples_per_s"]
        )
        out.append(
            dict(
                target=name,
                goal=goal,
                kind=kind,
                value=value,
                met=value >= goal,
                best_variant=fast["variant"],
                plain_samples_per_s=plain["samples_per_s"],
                best_samples_per_s=fast["samples_per_s"],
                plain_peak_fraction=plain["peak_fraction"],
                best_peak_fraction=fast["peak_fraction"],
                speedup=fast["samples_per_s"] / plain["samples_per_s"],
            )
        )
        tuned_name = f"{plain_name(device)}+cudnn.benchmark"
        tuned = _find(rows, "targets", mode, batch, tuned_name)
        if tuned is not None:  # a fairer baseline: plain eager with cuDNN autotuning
            out[-1]["speedup_vs_tuned_eager"] = (
                fast["samples_per_s"] / tuned["samples_per_s"]
            )

    if device.type == "cpu":
        add("CPU inference b1, fraction of fp32 matmul peak", "infer", 1, 0.9, "peak")
        add("CPU inference b64, speed-up over eager", "infer", 64, 2.0, "ratio")
        add("CPU training b64, speed-up over eager", "train", 64, 1.5, "ratio")
        fp32, bf16 = (
            _find(rows, "bf16-cpu", "infer", 8, v) for v in ("eager fp32", "bf16")
        )
        if fp32 and bf16:
            out.append(
                dict(
                    target="CPU bf16 autocast inference b8, slow-down vs fp32",
                    goal=None,
                    kind="info",
                    value=fp32["samples_per_s"] / bf16["samples_per_s"],
                    met=None,
                )
            )
    else:
        over = f"speed-up over {plain_name(device).split()[1]} eager"  # tf32: default
        add(f"GPU training b256, {over}", "train", 256, 3.0, "ratio")
        add(f"GPU inference b256, {over}", "infer", 256, 1.0, "ratio")
    return out


# ----------------------------------------------------------------- output ---
CSV_COLUMNS = [
    "section",
    "model",
    "corpus",
    "n_chans",
    "n_times",
    "n_outputs",
    "batch",
    "mode",
    "variant",
    "device",
    "params",
    "gflop_per_sample",
    "samples_per_s",
    "ms_per_batch",
    "gflops",
    "peak_gflops",
    "peak_fraction",
    "peak_memory_mb",
    "spread",
    "calls",
    "first_call_s",
    "loadavg",
    "skipped",
    "error",
]


def _title(text, char):
    return [text, char * len(text), ""]


def machine_lines(result) -> list[str]:
    """Bullet list describing the machine and the conditions of a run."""
    m = result["machine"]
    return [
        f"- machine: {m.get('gpu') or m['cpu']}; CPU {m['cpu']} "
        f"({m['cpu_count']} logical "
        f"cores, {m['torch_threads']} torch threads, {m.get('memory_gib', '?')} GiB)",
        f"- software: Python {m['python']}, torch {m['torch']}"
        + (f", CUDA {m['cuda']}, cuDNN {m['cudnn']}" if "cuda" in m else ""),
        f"- date {m['date']}; load average (1 min) at start "
        f"{m['loadavg_start'][0]:.2f}, "
        f"at end {m.get('loadavg_end', [float('nan')])[0]:.2f}"
        + ("; denormals flushed to zero" if m.get("flush_denormal") else ""),
        "- measured matmul peak (GFLOP/s): "
        + ", ".join(f"{k} {v:,.0f}" for k, v in result["peaks_gflops"].items())
        + f"; efficiencies are against {result['peak_reference']}",
        "",
    ]


def _measure_cells(r):
    if "samples_per_s" not in r:
        return [r.get("skipped") or r.get("error"), "", "", "", "", ""]
    mem = r.get("peak_memory_mb")
    return [
        f"{r['samples_per_s']:,.1f}",
        f"{r['ms_per_batch']:,.2f}",
        f"{r['gflops']:,.1f}",
        f"{100 * r['peak_fraction']:.1f}",
        "" if mem is None else f"{mem:,.0f}",
        f"{r['loadavg']:.1f}",
    ]


def summary_rst(result: dict, tag: str) -> str:
    """The targets and the variants of NeuroSketch-Base as reStructuredText."""
    lines = [*_title(f"Model speed: {tag}", "~"), *machine_lines(result)]
    if result["targets"]:
        rows = []
        for t in result["targets"]:
            if t["kind"] == "info":
                rows.append([t["target"], "-", f"{t['value']:.1f}x", "-", "-"])
                continue
            fmt = (
                (lambda v: f"{100 * v:.0f} %")
                if t["kind"] == "peak"
                else (lambda v: f"{v:.2f}x")
            )
            rows.append(
                [
                    t["target"],
                    fmt(t["goal"]),
                    fmt(t["value"]),
                    t["best_variant"],
                    "yes" if t["met"] else "no",
                ]
            )
        lines += rst_table(
            ["target", "goal", "measured", "best variant", "met"],
            rows,
            "Targets (NeuroSketch-Base, 62 x 400, 40 classes)",
        )
    tgt = [r for r in result["rows"] if r.get("section") in ("targets", "bf16-cpu")]
    if tgt:
        header = [
            "mode",
            "batch",
            "variant",
            "samples/s",
            "ms/batch",
            "GFLOP/s",
            "% peak",
            "peak MB",
            "load",
        ]
        lines += rst_table(
            header,
            [[r["mode"], r["batch"], r["variant"], *_measure_cells(r)] for r in tgt],
            "Optimised variants against plain eager (NeuroSketch-Base, 62 x 400)",
        )
    grid = [r for r in result["rows"] if r.get("section") == "grid"]
    if grid:
        lines += [f"All models and shapes: ``models_{tag}.csv`` ({len(grid)} rows).", ""]
    return "\n".join(lines)


def write_outputs(result: dict, out_dir: Path, tag: str) -> Path:
    """Rows to ``models_<tag>.csv``, the rest to ``.json``, tables to ``_summary.rst``."""
    import csv

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"models_{tag}"
    with open(stem.with_suffix(".csv"), "w", newline="") as fid:
        writer = csv.DictWriter(fid, CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in result["rows"]:
            writer.writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
    meta = {k: v for k, v in result.items() if k != "rows"}
    meta["rows_file"] = stem.with_suffix(".csv").name
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=1, default=str))
    (out_dir / f"models_{tag}_summary.rst").write_text(summary_rst(result, tag))
    return stem


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="auto: CPU, then CUDA when present",
    )
    parser.add_argument(
        "--section", nargs="+", default=["targets", "grid"], choices=["targets", "grid"]
    )
    parser.add_argument("--models", nargs="+", choices=MODELS)
    parser.add_argument("--shapes", nargs="+", choices=[s[0] for s in SHAPES])
    parser.add_argument(
        "--max-step-s",
        type=float,
        default=None,
        help="skip grid cells whose estimated time per call exceeds this "
        "(default 3 s on CPU, 5 s on GPU)",
    )
    parser.add_argument(
        "--keep-denormals",
        action="store_true",
        help="do not flush denormal floats to zero on the CPU (freshly initialised "
        "networks produce many, and x86 CPUs compute them up to 10x slower)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads on the CPU"
    )
    parser.add_argument(
        "--blocks",
        type=int,
        default=5,
        help="timed blocks per cell (at least 3; the median is reported)",
    )
    parser.add_argument(
        "--no-grid-fast",
        dest="grid_fast",
        action="store_false",
        help="measure only plain eager in the grid",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: two models, two shapes, grid only",
    )
    parser.add_argument("--tag", default=None, help="result file suffix")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # for every variant alike; see --keep-denormals
    args.flush_denormal = torch.set_flush_denormal(not args.keep_denormals) and (
        not args.keep_denormals
    )
    if args.quick:
        args.models = args.models or ["NeuroSketch-Base", "EEGNet"]
        args.shapes = args.shapes or ["ThingsEEG", "FacesHouses"]
        args.section = ["grid"]
    devices = [torch.device("cpu")] if args.device in ("auto", "cpu") else []
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            parser.error("--device cuda but torch sees no CUDA device.")
        devices.append(torch.device("cuda"))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for device in devices:
        dev_args = argparse.Namespace(**vars(args))
        if dev_args.max_step_s is None:
            dev_args.max_step_s = 5.0 if device.type == "cuda" else 3.0
        tag = (args.tag or device.type) + ("_quick" if args.quick else "")
        result = run_device(
            device, dev_args, lambda res: write_outputs(res, out_dir, tag)
        )
        stem = write_outputs(result, out_dir, tag)
        print(summary_rst(result, tag))
        print(f"wrote {stem}.csv, .json and {stem.name}_summary.rst", flush=True)


if __name__ == "__main__":
    sys.exit(main())
