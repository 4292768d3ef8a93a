"""Bounded, cancellable work for the HTTP service.

A few worker threads run the model jobs: at most ``size`` at once, a caller waits at most
``queue_timeout`` for a free worker (then ``Overloaded``), and at most ``timeout`` for the
job (then ``TimedOut``). A job past its time is cancelled by raising ``Cancelled`` in its
worker thread (``PyThreadState_SetAsyncExc``): Python-level work such as feature extraction
stops at its next bytecode. A C call in progress (an onnxruntime run, an ``ast`` parse)
finishes first, so the service bounds those by size before they start. A cancelled job
keeps its slot until its thread has really stopped, so the count of busy workers is true.

A job must not take locks whose ``with`` is written in Python (``Condition``, logging
handlers, the import lock of a module imported for the first time): a cancellation landing
just after such a lock is taken would leave it taken. The service warms every code path up
before it reports ready, so later imports are lookups.

Workers get large stacks: deep but legal code drives parsers into deep native recursion,
which must not overflow a thread's default 8 MiB and take the whole process down.
"""

from __future__ import annotations

import ctypes
import enum
import threading
import time
from queue import SimpleQueue
from typing import Callable, Generic, List, Optional, Set, TypeVar, Union

T = TypeVar("T")

WORKER_STACK_BYTES = 64 << 20


class Cancelled(BaseException):
    """Raised inside a worker whose job ran out of time.

    A ``BaseException`` so that ``except Exception`` in the job's code cannot swallow it.
    """


class Overloaded(Exception):
    """No worker became free within the queue timeout."""


class TimedOut(Exception):
    """The job did not finish within its time budget (it has been cancelled)."""


class _State(enum.Enum):
    QUEUED = 1
    RUNNING = 2
    DONE = 3
    ABANDONED = 4  # timed out before a worker took it


class _Job(Generic[T]):
    def __init__(self, fn: Callable[[], T]) -> None:
        self.fn = fn
        self.state = _State.QUEUED
        self.thread = 0
        self.value: Optional[T] = None
        self.error: Optional[BaseException] = None
        self.done = threading.Event()


_STOP = None  # sentinel on the queue: a worker exits


def _set_async_exc(thread_id: int, exc: Optional[type[BaseException]]) -> None:
    """Raise ``exc`` in another thread at its next bytecode; ``None`` clears a pending one."""
    target = ctypes.py_object(exc) if exc is not None else None  # None is NULL: clear
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), target)


class Budget:
    """A shared amount (such as slots in the model at once) that jobs take and give back.

    Safe under ``Cancelled``: a job cancelled while waiting or holding gives back exactly
    what it took. Only ``threading.Lock`` is used in the job's thread: its ``with`` is
    implemented in C, so an asynchronous exception cannot land between taking the lock and
    the block that releases it, as it can with ``Condition`` (whose ``__enter__`` is Python).
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self._free = total
        self._lock = threading.Lock()

    @property
    def free(self) -> int:
        return self._free

    def run(self, amount: int, fn: Callable[[], T], timeout: Optional[float] = None) -> T:
        """Wait until ``amount`` is free (``amount`` <= ``total``), run ``fn``, give it back.

        Raises ``Overloaded`` when ``amount`` did not become free within ``timeout``.
        """
        taken = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                with self._lock:
                    if self._free >= amount:
                        self._free -= amount
                        taken = amount  # no call in between: Cancelled cannot split these
                        break
                if deadline is not None and time.monotonic() >= deadline:
                    raise Overloaded()
                time.sleep(0.005)  # only while the budget is exhausted
            return fn()
        finally:
            while taken:
                try:
                    with self._lock:
                        self._free += taken
                        taken = 0  # likewise atomic with the line above
                except Cancelled:
                    continue  # arrived while giving back: finish giving back


class WorkerPool:
    """``size`` worker threads, each running one job at a time."""

    def __init__(self, size: int, name: str = "localtypes-worker") -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._queue: SimpleQueue[Union[_Job[object], None]] = SimpleQueue()
        self._lock = threading.Lock()
        self._busy = 0
        self._jobs: Set[_Job[object]] = set()  # queued or running
        self._threads: List[threading.Thread] = []
        previous = threading.stack_size(WORKER_STACK_BYTES)
        try:
            for number in range(size):
                thread = threading.Thread(target=self._work, name=f"{name}-{number}", daemon=True)
                thread.start()
                self._threads.append(thread)
        finally:
            threading.stack_size(previous)

    @property
    def busy(self) -> int:
        """Slots held now: jobs queued or running, cancelled ones still unwinding included."""
        with self._lock:
            return self._busy

    def run(self, fn: Callable[[], T], *, queue_timeout: float, timeout: float) -> T:
        """Run ``fn`` on a worker and return its result or raise its exception."""
        if not self._slots.acquire(timeout=queue_timeout):
            raise Overloaded()
        job: _Job[T] = _Job(fn)
        with self._lock:
            self._busy += 1
            self._jobs.add(job)  # type: ignore[arg-type]  # jobs of any result type
        self._queue.put(job)  # type: ignore[arg-type]  # the queue holds jobs of any result type
        if not job.done.wait(timeout):
            with self._lock:
                if job.state is _State.QUEUED:
                    job.state = _State.ABANDONED  # the worker that takes it skips it
                elif job.state is _State.RUNNING:
                    _set_async_exc(job.thread, Cancelled)
            if job.state is not _State.DONE:
                raise TimedOut()
            job.done.wait()  # it finished just now: DONE is set right before done
        if job.error is not None:
            raise job.error
        return job.value  # type: ignore[return-value]  # set whenever error is None

    def close(self) -> None:
        """Ask the workers to exit once the queued jobs are done (does not wait)."""
        for _ in self._threads:
            self._queue.put(_STOP)

    def shutdown(self, timeout: float) -> bool:
        """Drop the queued jobs, cancel the running ones, and wait up to ``timeout`` for
        the workers to exit; False if one is still running (inside a C call)."""
        with self._lock:
            for job in list(self._jobs):
                if job.state is _State.QUEUED:
                    job.state = _State.ABANDONED
                    job.error = TimedOut()
                    job.done.set()
                elif job.state is _State.RUNNING:
                    _set_async_exc(job.thread, Cancelled)
        self.close()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _work(self) -> None:
        while True:
            job = self._queue.get()  # no Cancelled can be pending here (see _settle)
            if job is _STOP:
                return
            assert job is not None
            try:
                self._run(job)
            except Cancelled:  # delivered between _run's try blocks (the call to _settle)
                job.error = job.error or TimedOut()
                self._settle(job)
            with self._lock:
                self._busy -= 1
                self._jobs.discard(job)
            self._slots.release()

    def _run(self, job: _Job[object]) -> None:
        # From RUNNING until _settle clears it, a Cancelled may arrive wherever Python checks
        # for one (calls, backward jumps): inside the try, or else in _work's handler.
        try:
            with self._lock:
                if job.state is not _State.QUEUED:
                    return  # abandoned while queued
                job.state = _State.RUNNING
                job.thread = threading.get_ident()
            job.value = job.fn()
        except Cancelled:
            job.error = TimedOut()
        except Exception as exc:  # handed to the waiting request thread
            job.error = exc
        self._settle(job)

    def _settle(self, job: _Job[object]) -> None:
        """Mark the job done and drop a cancellation that was sent too late to matter."""
        while True:
            try:
                with self._lock:
                    job.state = _State.DONE
                    # A cancellation sent just as the job ended would hit the next job.
                    _set_async_exc(job.thread, None)
                break
            except Cancelled:
                job.error = job.error or TimedOut()
        job.done.set()
