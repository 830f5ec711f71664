"""Where replications run: this process, local worker processes, or a dask.distributed cluster.

Every executor maps a pure function over tasks and returns the results in task order, so a run
gives the same numbers wherever it ran. Tasks and results are small (a scenario and an index in,
KPIs out); nothing large crosses a process or network boundary.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from twin.errors import TwinError

T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[int], None]

SCHEDULER_ENV = "TWIN_SCHEDULER"
"""Environment variable naming a dask scheduler (`tcp://host:8786`) when `--scheduler` is not given."""


class Executor(Protocol):
    """Runs `fn` over `tasks`; results come back in task order."""

    workers: int

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        """`[fn(t) for t in tasks]`, possibly in parallel; `progress(1)` after each one."""
        ...

    def close(self) -> None:
        """Release workers or connections (the executor is not used afterwards)."""
        ...


class LocalExecutor:
    """Runs in this process when `workers == 1`, else on worker processes kept for repeated maps."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise TwinError(f"--workers (={workers}) must be >= 1")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        """Run in this process for one worker or one task, else on the pool."""
        if self.workers == 1 or len(tasks) <= 1:
            out = []
            for task in tasks:
                out.append(fn(task))
                if progress:
                    progress(1)
            return out
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers)
        futures = {self._pool.submit(fn, task): i for i, task in enumerate(tasks)}
        try:
            return _gather(futures, len(tasks), progress)
        except BrokenProcessPool as exc:
            self._pool = None
            raise TwinError(f"a worker process died during a replication ({exc})") from None

    def close(self) -> None:
        """Shut the pool down, if one was started."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)  # after a failure, queued tasks do not run
            self._pool = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskExecutor:
    """Tasks on a dask.distributed cluster, reached at `address` (e.g. `tcp://10.0.0.5:8786`)."""

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        try:
            from dask.distributed import Client
        except ImportError:  # pragma: no cover - the extra is installed by `make test`
            raise TwinError(
                "running on a cluster needs dask.distributed: pip install 'twin[cluster]'"
            ) from None
        try:
            self._client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise TwinError(
                f"cannot reach the dask scheduler at {address!r} within {timeout:g} s: {exc}"
            ) from None
        self.address = address
        self.workers = max(1, sum(self._client.nthreads().values()))

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        """Submit every task (`pure=False`: each runs even if equal to an earlier one)."""
        from dask.distributed import CancelledError, KilledWorker
        from dask.distributed import as_completed as dask_completed

        futures = self._client.map(fn, list(tasks), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out: list[Any] = [None] * len(futures)
        try:
            # this client is not the default one (set_as_default=False): name its loop explicitly
            for future in dask_completed(futures, loop=self._client.loop):
                out[index[future.key]] = future.result()
                if progress:
                    progress(1)
        except (KilledWorker, CancelledError) as exc:
            raise TwinError(
                f"the cluster lost a replication ({type(exc).__name__}: {exc})"
            ) from None
        finally:
            self._client.cancel([f for f in futures if not f.done()])
        return out

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster keeps running)."""
        self._client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(workers: int = 1, scheduler: str | None = None) -> LocalExecutor | DaskExecutor:
    """A dask executor when `scheduler` (or `$TWIN_SCHEDULER`) names one, else local processes."""
    address = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if address:
        return DaskExecutor(address)
    return LocalExecutor(workers)


def _gather(futures: dict[Future[Any], int], n: int, progress: Progress | None) -> list[Any]:
    """Results of `futures` (future → task index) in task order."""
    out: list[Any] = [None] * n
    try:
        for future in as_completed(futures):
            out[futures[future]] = future.result()
            if progress:
                progress(1)
    except BaseException:
        for future in futures:  # one failed: the rest would only delay the error
            future.cancel()
        raise
    return out
