"""Where the benchmark's fits run: in this process, or on a Dask cluster.

Both executors take :class:`~._fitting._Task` objects with their data and
hand back ``(task, rows, error)`` as fits finish; :func:`_collect` writes the
rows of the finished ones to the store. Only the process that collects writes
the store, so workers need no access to it.
"""

# License: BSD (3-clause)

from __future__ import annotations

import logging
import os
import traceback

from tqdm.auto import tqdm

from ..utils import logger
from ._fitting import _device_params, _run_task, _Task
from .store import FitRecord, ResultsStore

#: The Dask worker resource a fit on a GPU asks for (one unit: one fit per GPU).
GPU = "GPU"


class _Serial:
    """Runs tasks in this process as they are submitted.

    With ``progress``, a second line under the bar follows the epochs of the
    network being trained (a fit can take minutes).
    """

    def __init__(self, progress: bool = False):
        self._done = []
        self._progress = progress

    def put_data(self, X, y):
        return X, y

    def submit(self, task, data):
        line = _EpochLine(task) if self._progress else None
        try:
            self._done.append((task, _run_task(task, *data, on_epoch=line), None))
        except Exception:  # noqa: BLE001 - reported, not swallowed
            self._done.append((task, None, traceback.format_exc()))
        finally:
            if line is not None:
                line.close()

    def ready(self, block: bool):
        done, self._done = self._done, []
        return done

    def pending(self) -> int:
        return 0  # each fit is finished when submit returns

    def close(self):
        pass


class _EpochLine:
    """The inner progress line: the epochs of the fit in progress."""

    def __init__(self, task: _Task):
        self._desc = (
            f"  {task.pipeline_name}, subject {task.fold.subject} fold {task.fold.index}"
        )
        self._bar = None

    def __call__(self, epoch: int, max_epochs: int) -> None:
        if self._bar is None:
            self._bar = tqdm(
                total=max_epochs, desc=self._desc, unit="epoch", position=1, leave=False
            )
        self._bar.n = epoch
        self._bar.refresh()  # every epoch shows, however fast (tqdm skips < 0.1 s)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _visible_gpus(n_gpus):
    """The ids of this machine's first ``n_gpus`` GPUs, as CUDA_VISIBLE_DEVICES
    names them (the ids this process may use, when it is set)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return [str(i) for i in range(n_gpus)]
    ids = [v.strip() for v in visible.split(",") if v.strip()]
    return ids[:n_gpus]


def _worker_specs(n_gpus, n_workers=None):
    """The workers of a local cluster: one per GPU, each pinned to its GPU.

    Worker ``i`` sees only GPU ``i`` (``CUDA_VISIBLE_DEVICES``, so its
    ``cuda:0`` is that GPU) and offers one unit of the ``GPU`` resource: it
    trains one network at a time. ``n_workers`` beyond the GPUs are CPU
    workers that see no GPU (for the pipelines that need none); fewer use as
    many GPUs. Without GPUs, ``n_workers`` (default 1) CPU workers.

    Parameters
    ----------
    n_gpus : int
        GPUs of this machine to use.
    n_workers : int | None
        Workers in all (``None``: one per GPU, or one).

    Returns
    -------
    specs : dict
        ``distributed.SpecCluster`` worker specifications, by worker name.
    """
    from distributed import Nanny

    gpus = _visible_gpus(n_gpus if n_workers is None else min(n_gpus, n_workers))
    n_cpu = (n_workers or (0 if gpus else 1)) - len(gpus)
    specs = {}
    for i, gpu_id in enumerate(gpus):
        specs[f"gpu-{i}"] = {"cls": Nanny, "options": {
            "nthreads": 1, "resources": {GPU: 1},
            "env": {"CUDA_VISIBLE_DEVICES": gpu_id}}}
    for i in range(max(n_cpu, 0)):
        specs[f"cpu-{i}"] = {"cls": Nanny, "options": {
            "nthreads": 1, "env": {"CUDA_VISIBLE_DEVICES": ""}}}
    return specs


def _names_cuda(device) -> bool:
    from ..numerics import names_cuda

    return device is not None and names_cuda(str(device))


def _gpu_request(estimator, offered):
    """The Dask resources a fit of ``estimator`` asks for.

    One unit of ``GPU`` when its network will run on CUDA: its ``device``
    names CUDA, or is ``"auto"`` (CUDA where the worker has a GPU) and the
    workers offer GPUs. Nothing for CPU networks and networkless pipelines.

    Parameters
    ----------
    estimator : sklearn estimator
        The pipeline of the fit.
    offered : int
        Units of ``GPU`` the cluster's workers offer.

    Returns
    -------
    resources : dict | None
        ``{"GPU": 1}`` or ``None``.

    Raises
    ------
    ValueError
        If the estimator names a CUDA device and no worker offers a GPU: its
        fit would wait for one forever.
    """
    devices = list(_device_params(estimator).values())
    if any(_names_cuda(d) for d in devices):
        if not offered:
            names = sorted({str(d) for d in devices if _names_cuda(d)})
            raise ValueError(
                f"The pipeline {type(estimator).__name__} asks for device {names[0]!r}, "
                f"but no worker of the Dask cluster offers a GPU (the {GPU!r} worker "
                "resource), so its fits would wait forever. Start one worker per GPU "
                f"with --resources {GPU}=1 and CUDA_VISIBLE_DEVICES set to its GPU, "
                "or use device='auto' or device='cpu'.")
        return {GPU: 1}
    if offered and any(d == "auto" for d in devices):
        return {GPU: 1}
    return None


def _offered_gpus(scheduler_info) -> int:
    """Units of ``GPU`` the workers of a cluster offer (``Client.scheduler_info()``)."""
    workers = scheduler_info.get("workers", {}).values()
    return int(sum(w.get("resources", {}).get(GPU, 0) for w in workers))


class _Dask:
    """Runs tasks on a dask.distributed cluster; results come back as they finish.

    A fit whose network runs on CUDA asks for one unit of the worker resource
    ``GPU`` (:func:`_gpu_request`), so a worker offering ``GPU=1`` trains one
    network at a time; a local cluster on a machine with GPUs has one worker
    per GPU, pinned to it (:func:`_worker_specs`). A fit that names CUDA on a
    cluster whose workers offer no GPU is refused at once.

    Parameters
    ----------
    scheduler : str | None
        Address of a running scheduler; ``None`` starts a local cluster.
    n_workers : int | None
        Workers of the local cluster (see :func:`_worker_specs`).
    gpu : bool
        Whether the local cluster's workers use this machine's GPUs.
    n_gpus : int | None
        GPUs of this machine to use (``None``: all of them).
    """

    def __init__(self, scheduler=None, n_workers=None, gpu=False, n_gpus=None):
        from distributed import Client, as_completed

        self._cluster = None
        if scheduler is None:
            self._cluster = self._local_cluster(n_workers, gpu, n_gpus)
            self.client = Client(self._cluster)
        else:
            self.client = Client(scheduler)
        self._pending = as_completed()
        self._tasks = {}
        logger.info(f"Dask cluster: {self.client}")

    @staticmethod
    def _local_cluster(n_workers, gpu, n_gpus):
        from distributed import Scheduler, SpecCluster

        if gpu and n_gpus is None:
            import torch

            n_gpus = torch.cuda.device_count()
        from distributed.system import MEMORY_LIMIT

        specs = _worker_specs(n_gpus if gpu else 0, n_workers)
        for spec in specs.values():  # the machine's memory shared, as LocalCluster does
            spec["options"]["memory_limit"] = MEMORY_LIMIT // len(specs)
        scheduler = {"cls": Scheduler, "options": {"dashboard_address": None}}
        return SpecCluster(workers=specs, scheduler=scheduler,
                           silence_logs=logging.WARNING)

    def offered_gpus(self) -> int:
        """Units of the ``GPU`` resource the cluster's workers offer now."""
        return _offered_gpus(self.client.scheduler_info())

    def put_data(self, X, y):
        return self.client.scatter([X, y], broadcast=False)

    def submit(self, task, data):
        resources = _gpu_request(task.estimator, self.offered_gpus())
        future = self.client.submit(
            _run_task, task, *data, pure=False, resources=resources
        )
        self._tasks[future.key] = task
        self._pending.add(future)

    def ready(self, block: bool):
        if not block and not self._pending.has_ready():
            return []
        futures = (
            self._pending.next_batch(block=True)
            if block
            else self._pending.next_batch(block=False)
        )
        out = []
        for future in futures:
            task = self._tasks.pop(future.key)
            try:
                out.append((task, future.result(), None))
            except Exception:  # noqa: BLE001 - reported, not swallowed
                out.append((task, None, traceback.format_exc()))
            future.release()
        return out

    def pending(self) -> int:
        return self._pending.count()

    def close(self):
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _collect(executor, store: ResultsStore, summary, bar, block: bool):
    """Store the rows of the fits ``executor`` has finished; count them in
    ``summary`` (a :class:`~.runner.RunSummary`) and on ``bar``."""
    for task, rows, error in executor.ready(block):
        bar.update(1)
        if error is not None:
            summary.n_failed += 1
            last = error.strip().splitlines()[-1]
            summary.failures.append(f"{task.describe()}: {last}")
            logger.error(f"Fit failed: {task.describe()}\n{error}")
            continue
        store.add([FitRecord(**row) for row in rows])
        summary.n_run += 1
        for row in rows:
            logger.info(
                f"{task.describe()}: score {row['score']:.3f} "
                f"(fit {row['fit_time']:.1f} s on {row['device']})"
            )
