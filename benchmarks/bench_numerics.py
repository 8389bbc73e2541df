"""The speed evidence behind ``amp="auto"``'s CPU rule (mne_neurosketch.numerics).

Times a training step (forward, backward) and an inference forward pass in
fp32 and under bf16 autocast, side by side in one process, for NeuroSketch
(Base and Large) and braindecode's EEGNet at the trial shapes of Kalunga2016
(8 x 513), Muse P300 (4 x 206) and SEED-DV (62 x 400), and writes the ratios
with the CPU's instruction sets. Process CPU time, best of ``--repeats``.

    python benchmarks/bench_numerics.py benchmarks/results/speed/numerics_cpu.json

The rule reads none of this at run time: it is decided by the device (bf16
units or not) and the model family, and this file is why.
"""

import argparse
import json
import time
from pathlib import Path

import torch
from _machine import cpu_name

from mne_neurosketch.numerics import cpu_fast_path, cpu_has_bf16

SHAPES = {"Kalunga2016": (8, 513, 16), "Muse P300": (4, 206, 64),
          "SEED-DV": (62, 400, 16)}


def _models():
    from braindecode.models import EEGNet

    from mne_neurosketch import NeuroSketch
    from mne_neurosketch.models import NeuroSketchLarge

    return {"NeuroSketch-Base": NeuroSketch, "NeuroSketch-Large": NeuroSketchLarge,
            "EEGNet": EEGNet}


def _best(fn, repeats):
    fn()  # warm-up: kernel selection, weight casts
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def _train_step(model, x, y, dtype):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
        out = model(x)
    torch.nn.functional.cross_entropy(out.float(), y).backward()


def _infer(model, x, dtype):
    with torch.inference_mode(), torch.autocast(
            "cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
        model(x)


def _cpu_flags():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return sorted(f for f in line.split() if "avx512" in f or "amx" in f or f == "avx2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="JSON file to write")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for name, cls in _models().items():
        for dataset, (n_chans, n_times, batch) in SHAPES.items():
            model = cls(n_chans=n_chans, n_times=n_times, n_outputs=4)
            x, y = torch.randn(batch, n_chans, n_times), torch.randint(0, 4, (batch,))
            t = {dt: _best(lambda dt=dt: _train_step(model.train(), x, y, dt),
                           args.repeats) for dt in (None, torch.bfloat16)}
            i = {dt: _best(lambda dt=dt: _infer(model.eval(), x, dt), args.repeats)
                 for dt in (None, torch.bfloat16)}
            row = dict(model=name, dataset=dataset, shape=[n_chans, n_times],
                       batch=batch, train_fp32_s=t[None],
                       train_speedup=t[None] / t[torch.bfloat16],
                       infer_fp32_s=i[None], infer_speedup=i[None] / i[torch.bfloat16],
                       rule_bf16=bool(cpu_has_bf16() and cpu_fast_path(cls)))
            rows.append(row)
            print(f"{name:18s} {dataset:12s} b{batch:<3d} training bf16 "
                  f"{row['train_speedup']:.2f}x fp32, inference "
                  f"{row['infer_speedup']:.2f}x", flush=True)
    info = dict(cpu=cpu_name(), flags=_cpu_flags(),
                bf16_units=cpu_has_bf16(), torch=torch.__version__,
                capability=torch.backends.cpu.get_cpu_capability(),
                threads=torch.get_num_threads(), date=time.strftime("%Y-%m-%d"))
    out = Path(args.out)
    out.write_text(json.dumps(dict(machine=info, rows=rows), indent=1))
    lines = ["bf16 against fp32 on this CPU (the evidence of numerics' rule)",
             "~" * 63, "", f"Command: ``python benchmarks/bench_numerics.py {out}``",
             "", f"- CPU flags: {', '.join(info['flags'])}; bf16 units: "
             f"{info['bf16_units']}; torch {info['torch']} ({info['capability']}), "
             f"{info['threads']} threads; {info['date']}",
             "- ratios of process CPU time, fp32 over bf16 (above 1: bf16 faster), "
             "best of repeats", "",
             "=================  ============  =====  ========  =========  ========",
             "model              shape         batch  training  inference  rule",
             "=================  ============  =====  ========  =========  ========"]
    for r in rows:
        shape = "x".join(map(str, r["shape"]))
        lines.append(f"{r['model']:<17s}  {shape:<12s}  {r['batch']:<5d}  "
                     f"{r['train_speedup']:<8.2f}  {r['infer_speedup']:<9.2f}  "
                     f"{'bf16' if r['rule_bf16'] else 'fp32':<8s}")
    lines.append(lines[-len(rows) - 1])
    out.with_name(out.stem + "_summary.rst").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
