"""Where replications run: this process, local worker processes, or a dask.distributed cluster.

Every executor maps a pure function over tasks and returns the results in task order, so a run
gives the same numbers wherever it ran. Tasks and results are small (a scenario and an index in,
KPIs out); nothing large crosses a process or network boundary.

Interruptions (issue 13): inside `raising_on_signals()` SIGINT and SIGTERM become `Interrupted`,
a `BaseException` that unwinds through the executors' `close()`. `LocalExecutor.close()` then
terminates its worker processes instead of abandoning them (a worker blocked on the pool's queue
would otherwise outlive the command), and `DaskExecutor` cancels the cluster's tasks and
disconnects. Each notes on the `Interrupted` what it stopped, for the command's one-line message.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any, Protocol, TypeVar

from twin.errors import TwinError

T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[int], None]

SCHEDULER_ENV = "TWIN_SCHEDULER"
"""Environment variable naming a dask scheduler (`tcp://host:8786`) when `--scheduler` is not given."""

CONNECT_TIMEOUT = 3.0
"""Seconds to reach a scheduler (TCP connect, then dask's handshake) before giving up: a typo'd or
firewalled address fails in seconds, not after dask's own retries and a 20 s close on the way out."""

STOP_GRACE = 2.0
"""Seconds a terminated worker process gets to exit before it is killed."""

INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""What `timeout`, a CI cancel and Ctrl-C send: each stops a command cleanly."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwind, stop workers, write nothing, exit `128 + signum`.

    A `BaseException` (like `KeyboardInterrupt`) so that no `except Exception` on the way up
    swallows it. Executors append what they stopped to `stopped` (e.g. "stopped 2 workers").
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.stopped: list[str] = []

    @property
    def name(self) -> str:
        """The signal's name, e.g. `SIGTERM`."""
        try:
            return signal.Signals(self.signum).name
        except ValueError:  # pragma: no cover - only the two signals above are raised
            return f"signal {self.signum}"

    @property
    def exit_code(self) -> int:
        """The shell's convention for a command ended by a signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum

    def __str__(self) -> str:
        return f"interrupted ({self.name})"


@contextmanager
def raising_on_signals() -> Iterator[None]:
    """Within the block, the first SIGINT or SIGTERM raises `Interrupted` in the main thread.

    Later signals are ignored while the first unwinds, so cleanup (terminating workers, closing
    the dask client) is not cut short; it is bounded by `STOP_GRACE` and `CONNECT_TIMEOUT`. The
    previous handlers come back on exit. Outside the main thread (where Python cannot install
    handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if fired:
            return
        fired.append(signum)
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in INTERRUPT_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block is done, so cleanup is not cut half-way.

    A signal that arrives meanwhile is delivered (and raises) right after the block.
    """
    if not hasattr(signal, "pthread_sigmask") or (
        threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPT_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _in_flight_interrupt() -> Interrupted | None:
    """The `Interrupted` being handled or unwinding through the caller's `finally`/`__exit__`."""
    exc = sys.exc_info()[1]
    return exc if isinstance(exc, Interrupted) else None


def _worker_signals() -> None:
    """Worker start-up: ignore SIGINT, die on SIGTERM.

    Ctrl-C in a terminal reaches the whole process group; the parent alone decides what stops
    (and terminates its workers), so the workers do not each print a `KeyboardInterrupt`
    traceback. Forked workers inherit the parent's `raising_on_signals` handler: put SIGTERM
    back to its default so that `Process.terminate()` ends a worker instead of raising in it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


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
        self._futures: list[Future[Any]] = []

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
            self._pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_signals)
        futures = {self._pool.submit(fn, task): i for i, task in enumerate(tasks)}
        self._futures = list(futures)
        try:
            return _gather(futures, len(tasks), progress)
        except BrokenProcessPool as exc:
            self._pool = None
            raise TwinError(f"a worker process died during a replication ({exc})") from None

    def close(self) -> None:
        """Shut the pool down, if one was started, leaving no worker process behind.

        After a clean `map` the idle workers exit when told to. When replications are still
        running (a task failed, or the command was interrupted) nobody will read their results:
        queued ones are cancelled and the workers terminated (killed after `STOP_GRACE` s), so a
        failure is reported at once and no worker outlives the command. Signals are held
        meanwhile, so a second Ctrl-C cannot leave the pool half shut.
        """
        pool, self._pool = self._pool, None
        if pool is None:
            return
        interrupt = _in_flight_interrupt()
        with _signals_deferred():
            # CPython keeps the worker processes in `_processes` (pid -> Process)
            processes = [p for p in (getattr(pool, "_processes", None) or {}).values()]
            alive = [p for p in processes if p.is_alive()]
            busy = any(not f.done() for f in self._futures)
            self._futures = []
            if busy or interrupt is not None:
                pool.shutdown(wait=False, cancel_futures=True)
                _stop_processes(alive)
            pool.shutdown(wait=True, cancel_futures=True)
        if interrupt is not None and alive:
            interrupt.stopped.append(f"stopped {len(alive)} worker{'s' if len(alive) > 1 else ''}")

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskExecutor:
    """Tasks on a dask.distributed cluster, reached at `address` (e.g. `tcp://10.0.0.5:8786`)."""

    def __init__(self, address: str, timeout: float = CONNECT_TIMEOUT) -> None:
        check_scheduler_address(address)  # before importing dask: a typo fails at once
        try:
            from dask.distributed import Client
        except ImportError:  # pragma: no cover - the extra is installed by `make test`
            raise TwinError(
                "running on a cluster needs dask.distributed: pip install 'twin[cluster]'"
            ) from None
        # dask's Client can hang on a port that accepts but never answers, and one that failed
        # to start stalls 2 x timeout in its `__del__`: probe first, within `timeout`
        _probe_scheduler(address, timeout)
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
            pending = [f for f in futures if not f.done()]
            interrupt = _in_flight_interrupt()
            with _signals_deferred():
                self._client.cancel(pending)
            if interrupt is not None and pending:
                interrupt.stopped.append(
                    f"cancelled {len(pending)} replication{'s' if len(pending) > 1 else ''} "
                    f"on {self.address}"
                )
        return out

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster keeps running), within `STOP_GRACE` s."""
        with _signals_deferred(), suppress(Exception):
            self._client.close(timeout=STOP_GRACE)

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


_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
_HOST_PORT = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?):(?P<port>[0-9]{1,5})"
)


def check_scheduler_address(address: str) -> tuple[str, str, int]:
    """`(scheme, host, port)` of a scheduler address such as `tcp://10.0.0.5:8786` or `host:8786`.

    Checked before any connection is tried so that a malformed address is one clear error,
    not dask's retries. Raises `TwinError` naming the address and the form expected.
    """
    scheme, sep, rest = address.strip().partition("://")
    if not sep:
        scheme, rest = "tcp", address.strip()
    match = _HOST_PORT.fullmatch(rest)
    if scheme.lower() not in _SCHEMES or match is None or not 0 < int(match["port"]) < 65536:
        raise TwinError(
            f"--scheduler {address!r} is not a scheduler address: expected "
            f"[{'|'.join(_SCHEMES)}://]host:port, e.g. tcp://10.0.0.5:8786"
        )
    return scheme.lower(), match["host"].strip("[]"), int(match["port"])


def _probe_scheduler(address: str, timeout: float) -> None:
    """Raise `TwinError` unless something at `address` answers dask's handshake within `timeout`.

    A plain TCP connect first (a refused port fails at once, a dropped one after `timeout`),
    then dask's own connect and handshake under a hard deadline.
    """
    scheme, host, port = check_scheduler_address(address)
    where = f"cannot reach the dask scheduler at {address!r} within {timeout:g} s"
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise TwinError(f"{where}: {exc.strerror or exc}") from None
    if scheme != "tcp":  # tls/ws/ucx handshakes need the client's security settings
        return

    from distributed.comm import connect

    async def handshake() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    try:
        asyncio.run(handshake())
    except (OSError, TimeoutError, ValueError) as exc:
        raise TwinError(
            f"{where}: no dask scheduler answered ({exc or type(exc).__name__})"
        ) from None


def _stop_processes(processes: Sequence[Any]) -> None:
    """Terminate `processes` (multiprocessing `Process`es), kill any still alive after the grace."""
    for process in processes:
        with suppress(Exception):
            process.terminate()
    for process in processes:
        with suppress(Exception):
            process.join(STOP_GRACE)
            if process.is_alive():
                process.kill()
                process.join(STOP_GRACE)


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
