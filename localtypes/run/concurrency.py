"""Where files are annotated: in this process alone, or here and in a pool of processes.

Each worker process loads the model once (in its initializer) and then reads, annotates,
writes and caches whole files by itself, sending back only a small ``FileOutcome``.

Ctrl-C reaches every process of the terminal's group: the workers start with SIGINT
blocked (so that none dies of it, with a traceback, while it starts), then take it only
while working on a file (a file being written is finished first: it is left old or new,
with no temporary file); the main process stops the pool and the command exits with 130.
"""

from __future__ import annotations

import collections
import os
import signal
import time
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from localtypes.analysis.project import ModuleFacts
from localtypes.run.report import FileOutcome
from localtypes.run.task import Options, annotate_file

if TYPE_CHECKING:
    import queue

    from localtypes.model.predictor import Predictor

# Work worth a process of its own: about the bytes one process annotates in the time a new
# one takes to start and load the model. Only the automatic job count looks at it.
BYTES_PER_WORKER = 256 * 1024


def annotate_files(
    paths: Sequence[str],
    options: Union[Options, Mapping[str, Options]],
    jobs: Optional[int],
    facts: Optional[Mapping[str, ModuleFacts]] = None,
) -> Iterator[FileOutcome]:
    """The outcome of every file of ``paths``, as each is done, in ``worker_count`` processes.

    ``options``: for every file, or each file's (its settings follow its nearest
    pyproject.toml; all share one model). ``facts``: each file's evidence from the rest of
    its project. Both are sent along with the file.
    """
    if not paths:
        return iter(())
    evidence = facts or {}
    per_file = {path: options for path in paths} if isinstance(options, Options) else options
    workers = worker_count(jobs, paths)
    if workers > 1:
        return _in_pool(paths, per_file, workers, evidence)
    return _in_process(paths, per_file, evidence)


def worker_count(jobs: Optional[int], paths: Sequence[str]) -> int:
    """``jobs`` processes (never more than files); when automatic, as many as pay off."""
    if jobs is not None:
        return min(jobs, len(paths))
    total = sum(_size(path) for path in paths)
    return max(1, min(os.cpu_count() or 1, len(paths), total // BYTES_PER_WORKER))


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def largest_first(paths: Sequence[str]) -> List[str]:
    """Big files first, so that no worker is left with a big file at the end."""
    return sorted(paths, key=_size, reverse=True)


# --- this process ------------------------------------------------------------------------


def _load_predictor(model: Optional[str]) -> Predictor:
    """The model for this process, loaded once, and the garbage collector tuned for it."""
    from localtypes.model.predictor import default_predictor

    predictor = default_predictor(model)
    _tune_gc()
    return predictor


def _tune_gc() -> None:
    """Fewer cyclic-GC passes while annotating (about 15% of the run on the bench tree).

    Every file makes hundreds of thousands of short-lived AST nodes, which refcounting
    frees (trees hold no cycles), yet each 700 allocations start a collection that also
    walks the loaded model and modules: those are frozen out of it, and young collections
    come less often.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _in_process(
    paths: Sequence[str], options: Mapping[str, Options], facts: Mapping[str, ModuleFacts]
) -> Iterator[FileOutcome]:
    predictor = _load_predictor(options[paths[0]].settings.model)
    for path in paths:
        yield annotate_file(path, options[path], predictor, facts.get(path))


# --- worker processes --------------------------------------------------------------------

_worker_predictor: Optional[Predictor] = None
_worker_error: Optional[str] = None  # why the model could not be loaded
_working = False  # whether Ctrl-C interrupts this worker now


def _init_worker(model: Optional[str], parent: int) -> None:
    """Load the model once per worker process; leave when the parent dies.

    A model that cannot be loaded is not raised here (the pool would log a traceback):
    every file then fails with the reason, and the main process, which loads the same
    model, stops the run with it.
    """
    global _worker_predictor, _worker_error
    _watch_parent(parent)
    signal.signal(signal.SIGINT, _on_interrupt)
    if hasattr(signal, "pthread_sigmask"):  # POSIX
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by the feeder
    try:
        _worker_predictor = _load_predictor(model)
    except Exception as exc:
        _worker_error = str(exc) or type(exc).__name__


def _on_interrupt(signum: int, frame: object) -> None:
    """Ctrl-C in a worker: stop the file at hand; between files, the parent decides."""
    if _working:
        raise KeyboardInterrupt


def _watch_parent(parent: int) -> None:
    """Exit once the parent is gone (killed with -9, say): an orphaned worker would block
    on its task queue forever. A file mid-write is safe: writes are atomic renames."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="localtypes-parent-watch", daemon=True).start()


def _work(path: str, options: Options, facts: Optional[ModuleFacts] = None) -> FileOutcome:
    global _working
    if _worker_predictor is None:
        return FileOutcome.failure(path, f"cannot load the model: {_worker_error}")
    _working = True
    try:
        return annotate_file(path, options, _worker_predictor, facts)
    except KeyboardInterrupt:
        return FileOutcome.failure(path, "interrupted (Ctrl-C)")
    finally:
        _working = False


def _in_pool(
    paths: Sequence[str],
    options: Mapping[str, Options],
    workers: int,
    facts: Mapping[str, ModuleFacts],
) -> Iterator[FileOutcome]:
    """Annotate ``paths`` in ``workers`` processes: this one and ``workers - 1`` children.

    This process works too: it starts at once (its interpreter and imports are paid for)
    while the children start and load the model. Files go largest first, each to whichever
    process is free next; a thread keeps every child two files ahead.
    """
    import multiprocessing
    import queue
    import threading

    todo = collections.deque(largest_first(paths))
    lock = threading.Lock()
    model = options[paths[0]].settings.model  # the run's: one model for every file

    def take() -> Optional[str]:
        with lock:
            return todo.popleft() if todo else None

    # spawn: a forked child would inherit the parent's onnxruntime threads half-alive.
    executor = ProcessPoolExecutor(
        max_workers=workers - 1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(model, os.getpid()),
    )
    finished: queue.SimpleQueue[Optional[FileOutcome]] = queue.SimpleQueue()
    # Futures as they end, from their done-callbacks: unlike ``wait()``, a callback also
    # hears of a future that ``shutdown(cancel_futures=True)`` cancels (``wait()`` would
    # block on it forever, and the run would hang after Ctrl-C).
    ended: queue.SimpleQueue[Future[FileOutcome]] = queue.SimpleQueue()

    def feed() -> None:
        # The workers, started from this thread, inherit its signal mask: see the top.
        if hasattr(signal, "pthread_sigmask"):  # POSIX
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        running: Dict[Future[FileOutcome], str] = {}
        submitting = True
        try:
            while True:
                while submitting and len(running) < 2 * (workers - 1):
                    path = take()
                    if path is None:
                        break
                    try:
                        future = executor.submit(_work, path, options[path], facts.get(path))
                        running[future] = path
                        future.add_done_callback(ended.put)
                    except RuntimeError:  # the pool broke or shut down: this process goes on
                        with lock:
                            todo.appendleft(path)
                        submitting = False
                if not running:
                    return
                future = ended.get()
                finished.put(_outcome(future, running.pop(future)))
        finally:
            finished.put(None)

    feeder = threading.Thread(target=feed, name="localtypes-feeder", daemon=True)
    feeder.start()
    try:
        predictor = _load_predictor(model)
        while True:
            yield from _drain(finished)
            path = take()
            if path is None:
                break
            yield annotate_file(path, options[path], predictor, facts.get(path))
        while True:
            outcome = finished.get()
            if outcome is None:
                break
            yield outcome
    finally:
        with lock:
            todo.clear()  # the feeder submits nothing more
        executor.shutdown(wait=True, cancel_futures=True)
        feeder.join()


def _outcome(future: Future[FileOutcome], path: str) -> FileOutcome:
    try:
        return future.result()
    except BaseException as exc:  # a worker died (killed, out of memory), or was cancelled
        return FileOutcome.failure(path, f"worker failed: {type(exc).__name__}: {exc}")


def _drain(finished: queue.SimpleQueue[Optional[FileOutcome]]) -> Iterator[FileOutcome]:
    """The outcomes the children have finished so far, without waiting."""
    import queue

    while True:
        try:
            outcome = finished.get_nowait()
        except queue.Empty:
            return
        if outcome is None:
            finished.put(None)  # the end marker stays for the final wait
            return
        yield outcome
