"""Executors: run trial tasks in this process, a local process pool, or on a Dask cluster.

Each yields (task, result) pairs as tasks finish, in any order; only the caller (the parent
process) writes results. At most `window` tasks are in flight, so memory stays bounded and a
stopped sweep abandons little work.
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Generator, Hashable, Iterable
from typing import Any, Protocol, TypeVar

try:
    from numpy._core import multiarray as np_multiarray  # numpy >= 2
except ImportError:  # numpy 1.26
    from numpy.core import multiarray as np_multiarray  # type: ignore[no-redef]

from simulator.errors import ConfigError

Task = TypeVar("Task")
Result = Any
Runner = Callable[[Any], Result]


class Executor(Protocol):
    """Runs `fn` over tasks and yields (task, fn(task)) in completion order."""

    description: str

    def map_unordered(self, fn: Runner, tasks: Iterable[Task]) -> Generator[tuple[Task, Result], None, None]: ...

    def finished(self) -> list[tuple[Task, Result]]:
        """Tasks that finished but were not yielded because the caller stopped (e.g. Ctrl-C)."""
        ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs tasks one after the other in the calling process (one worker, no pool)."""

    description = "inline (1 worker)"

    def map_unordered(self, fn: Runner, tasks: Iterable[Task]) -> Generator[tuple[Task, Result], None, None]:
        for task in tasks:
            yield task, fn(task)

    def finished(self) -> list[tuple[Task, Result]]:
        return []

    def close(self) -> None:
        pass


class LocalExecutor:
    """A pool of `workers` processes on this machine (forkserver start: no inherited threads)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ConfigError(f"must be >= 1, got {workers}", argument="workers")
        self.workers = workers
        self.description = f"local process pool ({workers} workers)"
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        self._pool = cf.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context(method), initializer=_worker_init, initargs=(os.getpid(),)
        )
        self._leftover: list[tuple[Any, Result]] = []
        self._abandon = False

    def map_unordered(self, fn: Runner, tasks: Iterable[Task]) -> Generator[tuple[Task, Result], None, None]:
        pending: dict[cf.Future, Any] = {}
        todo = iter(tasks)
        window = 2 * self.workers
        try:
            while True:
                for task in todo:
                    pending[self._pool.submit(fn, task)] = task
                    if len(pending) >= window:
                        break
                if not pending:
                    return
                finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    task = pending.pop(future)
                    yield task, future.result()
        finally:
            for future, task in pending.items():
                if future.done() and not future.cancelled() and future.exception() is None:
                    self._leftover.append((task, future.result()))
                else:
                    future.cancel()
                    self._abandon = True

    def finished(self) -> list[tuple[Task, Result]]:
        leftover, self._leftover = self._leftover, []
        return leftover

    def close(self) -> None:
        """Shut the pool down; after an interruption, running tasks are abandoned (workers killed)."""
        if self._abandon:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)


PARENT_POLL_S = 0.5  # how often a worker checks that the process that started it is alive

# A faulty run keeps ~10^6 small long-lived objects (ledger parts, checks, verdicts); with the
# default generation-0 threshold (700 allocations) the collector walks them over and over, 13 %
# of a `run --ber 1e-7`. Processes that run simulations (the CLI, pool workers) collect less often.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_simulation_process() -> None:
    """Settings of a process that runs simulations (the CLI, pool workers); results do not change.

    - the garbage collector's thresholds are GC_THRESHOLDS;
    - numpy stops asking for transparent huge pages (`madvise(MADV_HUGEPAGE)` on every array of
      4 MiB or more). A faulty run allocates and frees hundreds of MB of such short-lived arrays
      (fault ledger columns, operands); where the kernel's THP defrag setting is `madvise` (the
      Linux default) each request may compact memory synchronously, and first touches then cost
      up to ~7 ms per MB instead of ~0.6 (measured on the CI machines: 170 MB of fresh arrays,
      1.2 s against 0.1 s). NUMPY_MADVISE_HUGEPAGE=1 in the environment keeps numpy's default.
    """
    gc.set_threshold(*GC_THRESHOLDS)
    if os.environ.get("NUMPY_MADVISE_HUGEPAGE") is None:
        set_madvise = getattr(np_multiarray, "_set_madvise_hugepage", None)  # numpy >= 1.20, private
        if set_madvise is not None:
            set_madvise(False)


def _worker_init(parent_pid: int) -> None:
    """In each pool worker: leave Ctrl-C to the parent (it decides what to keep), and exit as soon
    as the parent is gone, whatever killed it (SIGKILL included); tuned as the CLI's process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_simulation_process()
    start_ppid = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != start_ppid or not _alive(parent_pid):
                signal.raise_signal(signal.SIGKILL)  # like Linux's PR_SET_PDEATHSIG, on any POSIX system

    threading.Thread(target=watch, name="abftsim-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DaskExecutor:
    """Tasks on a Dask distributed cluster (`pip install abftsim[dask]`); workers need abftsim."""

    def __init__(self, address: str, connect_timeout_s: float = 20.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError(
                f"{address}: Dask is not installed (pip install 'abftsim[dask]')", argument="scheduler"
            ) from None
        try:
            self._client = Client(address, timeout=connect_timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"{address}: cannot connect: {exc}", argument="scheduler") from None
        workers = len(self._client.scheduler_info().get("workers", {}))
        self.window = max(2, 2 * sum(
            w.get("nthreads", 1) for w in self._client.scheduler_info().get("workers", {}).values()
        ))  # fmt: skip
        self.description = f"Dask scheduler {address} ({workers} workers)"

    def map_unordered(self, fn: Runner, tasks: Iterable[Task]) -> Generator[tuple[Task, Result], None, None]:
        from distributed import as_completed

        todo = iter(tasks)
        pending: dict[Hashable, Any] = {}  # future key -> task

        def submit(count: int) -> list[Any]:
            futures = []
            for task in todo:
                future = self._client.submit(fn, task, pure=False)
                pending[future.key] = task
                futures.append(future)
                if len(futures) >= count:
                    break
            return futures

        first = submit(self.window)
        if not first:
            return
        queue = as_completed(first, loop=self._client.loop, with_results=False)
        try:
            for future in queue:
                task = pending.pop(future.key)
                result = future.result()
                future.release()
                for more in submit(1):
                    queue.add(more)
                yield task, result
        finally:
            queue.clear()

    def finished(self) -> list[tuple[Task, Result]]:
        return []

    def close(self) -> None:
        self._client.close()


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """Dask when a scheduler address is given, else a local pool of `workers` (default: all cores)."""
    if scheduler:
        return DaskExecutor(scheduler)
    count = workers if workers is not None else (os.cpu_count() or 1)
    if count < 1:
        raise ConfigError(f"must be >= 1, got {count}", argument="workers")
    return InlineExecutor() if count == 1 else LocalExecutor(count)
