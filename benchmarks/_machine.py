"""The machine a benchmark script measures on: its description, its clocks' sync
with a GPU, and the memory and disk a measured step used.

Shared by the scripts of this folder (each puts the folder on ``sys.path``
when run as a script, as Python does). torch is imported on use, so that a
script measuring its own memory does not count it where it would not load it.
"""

# License: BSD (3-clause)

from __future__ import annotations

import datetime
import math
import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device) -> dict:
    """Describe the machine the numbers come from (and its GPU, for a CUDA device)."""
    import torch

    device = torch.device(device)
    info = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_start": list(os.getloadavg()),
    }
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    if device.type == "cuda":
        prop = torch.cuda.get_device_properties(device)
        info.update(
            gpu=prop.name,
            gpu_memory_gib=round(prop.total_memory / 2**30, 1),
            gpu_sms=prop.multi_processor_count,
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
            matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
        )
    return info


def synchronize(device) -> None:
    """Wait for the work queued on ``device`` (a GPU's kernels run asynchronously);
    nothing to wait for on the CPU. Call it before reading a clock."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def process_memory_mb(field: str) -> float:
    """A memory field of this process from ``/proc/self/status``, in MiB.

    ``VmRSS`` is the resident memory now, ``VmHWM`` its peak. NaN where the
    file or the field is missing (not Linux).
    """
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return math.nan
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return math.nan


def folder_mb(folder) -> float:
    """Size of the files under ``folder``, in MiB."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2**20
