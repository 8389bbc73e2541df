"""Where the benchmark's fits run: in this process, or on a Dask cluster.

Both executors take :class:`~._fitting._Task` objects with their data and
hand back ``(task, rows, error)`` as fits finish; :func:`_collect` writes the
rows of the finished ones to the store. Only the process that collects writes
the store, so workers need no access to it.
"""

# License: BSD (3-clause)

from __future__ import annotations

import traceback

from tqdm.auto import tqdm

from ..utils import logger
from ._fitting import _run_task, _Task, _uses_device
from .store import FitRecord, ResultsStore


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


class _Dask:
    """Runs tasks on a dask.distributed cluster; results come back as they finish.

    GPU fits ask for the worker resource ``GPU`` (one unit), so a worker started
    with ``--resources GPU=1`` trains one network at a time.
    """

    def __init__(self, scheduler=None, n_workers=None, gpu=False):
        from distributed import Client, LocalCluster, as_completed

        self._cluster = None
        if scheduler is None:
            self._cluster = LocalCluster(
                n_workers=n_workers or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                resources={"GPU": 1} if gpu else None,
            )
            self.client = Client(self._cluster)
        else:
            self.client = Client(scheduler)
        self._gpu = gpu
        self._pending = as_completed()
        self._tasks = {}
        logger.info(f"Dask cluster: {self.client}")

    def put_data(self, X, y):
        return self.client.scatter([X, y], broadcast=False)

    def submit(self, task, data):
        resources = {"GPU": 1} if self._gpu and _uses_device(task.estimator) else None
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
