"""Runs ``annotate`` over many files: cache first, then one process, or a pool of them.

Each worker process loads the model once (in its initializer) and then reads, annotates,
writes and caches whole files by itself, sending back only a small ``FileOutcome``.
"""

from __future__ import annotations

import collections
import difflib
import enum
import io
import os
import sys
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import click

from localtypes import __version__
from localtypes.errors import LocaltypesError, SourceError
from localtypes.run.cache import Cache, CacheEntry, sha256_bytes
from localtypes.run.report import FileOutcome, Report, Status
from localtypes.settings import Settings

if TYPE_CHECKING:
    import queue

    from localtypes.model.predictor import Predictor


class Mode(str, enum.Enum):
    WRITE = "write"  # annotate in place
    DIFF = "diff"  # print unified diffs, write nothing
    CHECK = "check"  # write nothing, only count


@dataclass(frozen=True)
class Options:
    """Everything a worker needs besides the file: picklable."""

    settings: Settings
    mode: Mode
    cache_folder: Optional[str]  # None: no cache


# --- text: decode keeping encoding, BOM and newlines; write atomically ------------------


def _decode(data: bytes) -> Tuple[str, Callable[[str], bytes]]:
    """The text of a file and a function that encodes new text the same way."""
    from localtypes.run.files import decode_source

    decoded = decode_source(data)
    return decoded.text, decoded.encode


def _write(path: str, data: bytes) -> None:
    from localtypes.run.files import atomic_write

    atomic_write(Path(os.path.realpath(path)), data)  # through a link, never over it


def unified_diff(old: str, new: str, path: str) -> str:
    """A unified diff of one file, with ``a/`` and ``b/`` names as git prints them."""
    # Lines end at \n, \r or \r\n only (str.splitlines also breaks at \f, \x1c, ...).
    lines = difflib.unified_diff(
        io.StringIO(old, newline="").readlines(),
        io.StringIO(new, newline="").readlines(),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    out = []
    for line in lines:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)


# --- one file ---------------------------------------------------------------------------


def _failed(path: str, reason: str) -> FileOutcome:
    return FileOutcome(path=path, status=Status.FAILED, reason=reason)


def _finish(
    path: str,
    options: Options,
    old: bytes,
    new: Optional[bytes],
    added: Tuple[Tuple[str, int], ...],
    below: int,
    cached: bool,
) -> FileOutcome:
    """Write or diff the new bytes as the mode asks and build the outcome."""
    if new is None or new == old:
        return FileOutcome(path, Status.UNCHANGED, below_threshold=below, cached=cached)
    diff = None
    try:
        if options.mode is Mode.WRITE:
            _write(path, new)
        elif options.mode is Mode.DIFF:
            old_text, _ = _decode(old)
            new_text, _ = _decode(new)
            diff = unified_diff(old_text, new_text, path)
    except (OSError, SourceError) as exc:
        return _failed(path, f"cannot write: {exc}")
    return FileOutcome(path, Status.CHANGED, added, below, diff=diff, cached=cached)


def from_cache(path: str, options: Options, cache: Cache) -> Optional[FileOutcome]:
    """The outcome of a file whose bytes the cache knows, or None."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None  # the worker reports it
    entry = cache.get(sha256_bytes(data))
    if entry is None:
        return None
    return _finish(path, options, data, entry.output, entry.added, entry.below_threshold, True)


def _value(obj: Any, *names: str) -> str:
    """The first attribute of ``names`` that ``obj`` has, enum values unwrapped, as text."""
    for name in names:
        found = obj
        for part in name.split("."):
            found = getattr(found, part, None)
        if found is not None:
            return str(getattr(found, "value", found))
    return ""


def _count(result: Any) -> Tuple[Tuple[Tuple[str, int], ...], int]:
    """(annotations added by kind, slots left below the threshold) of an AnnotateResult."""
    counts: Dict[str, int] = {}
    for added in result.added:
        kind = _value(added, "kind") or _value(added, "slot.kind") or "other"
        counts[kind] = counts.get(kind, 0) + 1
    below = sum(1 for skipped in result.skipped if _value(skipped, "reason") == "below-threshold")
    return tuple(sorted(counts.items())), below


def annotate_file(path: str, options: Options, predictor: Predictor) -> FileOutcome:
    """Read, annotate and (as the mode says) write one file; never raises."""
    from localtypes.api import annotate

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return _failed(path, f"cannot read: {exc.strerror or exc}")
    try:
        text, encode = _decode(data)
        result = annotate(text, path, settings=options.settings, predictor=predictor)
        added, below = _count(result)
        new = encode(result.source) if result.changed else None
    except SourceError as exc:
        return _failed(path, str(exc))
    except LocaltypesError as exc:
        return _failed(path, str(exc))
    except RecursionError:
        return _failed(path, "too deeply nested to parse")
    except Exception as exc:  # a bug: name it, keep going with the other files
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return _failed(
            path,
            f"internal error {type(exc).__name__}: {exc} "
            f"(at {Path(where.filename).name}:{where.lineno}; please report)",
        )
    if options.cache_folder is not None:
        cache = Cache(Path(options.cache_folder))
        cache.put_result(sha256_bytes(data), new, added, below)
    return _finish(path, options, data, new, added, below, False)


# --- worker processes -------------------------------------------------------------------

_worker_predictor: Optional[Predictor] = None


def _init_worker(model: Optional[str], parent: int) -> None:
    """Load the model once per worker process; leave when the parent dies."""
    from localtypes.model.predictor import default_predictor

    global _worker_predictor
    _watch_parent(parent)
    _worker_predictor = default_predictor(model)
    _tune_gc()


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


def _watch_parent(parent: int) -> None:
    """Exit once the parent is gone (killed with -9, say): an orphaned worker would block
    on its task queue forever. A file mid-write is safe: writes are atomic renames."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="localtypes-parent-watch", daemon=True).start()


def _work(path: str, options: Options) -> FileOutcome:
    assert _worker_predictor is not None, "worker not initialised"
    return annotate_file(path, options, _worker_predictor)


def _in_process(paths: Sequence[str], options: Options) -> Iterator[FileOutcome]:
    from localtypes.model.predictor import default_predictor

    predictor = default_predictor(options.settings.model)
    _tune_gc()
    for path in paths:
        yield annotate_file(path, options, predictor)


def _in_pool(paths: Sequence[str], options: Options, workers: int) -> Iterator[FileOutcome]:
    """Annotate ``paths`` in ``workers`` processes: this one and ``workers - 1`` children.

    This process works too: it starts at once (its interpreter and imports are paid for)
    while the children start and load the model. Files go largest first, each to whichever
    process is free next; a thread keeps every child two files ahead.
    """
    import multiprocessing
    import queue
    import threading
    from concurrent.futures import FIRST_COMPLETED, wait

    from localtypes.model.predictor import default_predictor

    todo = collections.deque(_largest_first(paths))
    lock = threading.Lock()

    def take() -> Optional[str]:
        with lock:
            return todo.popleft() if todo else None

    # spawn: a forked child would inherit the parent's onnxruntime threads half-alive.
    executor = ProcessPoolExecutor(
        max_workers=workers - 1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(options.settings.model, os.getpid()),
    )
    finished: queue.SimpleQueue[Optional[FileOutcome]] = queue.SimpleQueue()

    def feed() -> None:
        running: Dict[Future[FileOutcome], str] = {}
        submitting = True
        try:
            while True:
                while submitting and len(running) < 2 * (workers - 1):
                    path = take()
                    if path is None:
                        break
                    try:
                        running[executor.submit(_work, path, options)] = path
                    except RuntimeError:  # the pool broke or shut down: this process goes on
                        with lock:
                            todo.appendleft(path)
                        submitting = False
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    finished.put(_outcome(future, running.pop(future)))
        finally:
            finished.put(None)

    feeder = threading.Thread(target=feed, name="localtypes-feeder", daemon=True)
    feeder.start()
    try:
        predictor = default_predictor(options.settings.model)
        _tune_gc()
        while True:
            yield from _drain(finished)
            path = take()
            if path is None:
                break
            yield annotate_file(path, options, predictor)
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
    except Exception as exc:  # a worker died (killed, out of memory)
        return _failed(path, f"worker failed: {type(exc).__name__}: {exc}")


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


# Work worth a process of its own: about the bytes one process annotates in the time a new
# one takes to start and load the model. Only the automatic job count looks at it.
BYTES_PER_WORKER = 256 * 1024


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


def _largest_first(paths: Sequence[str]) -> List[str]:
    """Big files first, so that no worker is left with a big file at the end."""
    return sorted(paths, key=_size, reverse=True)


# --- the run ----------------------------------------------------------------------------


def run(
    paths: Sequence[str],
    settings: Settings,
    *,
    mode: Mode,
    check: bool,
    quiet: bool,
    verbose: bool,
) -> Report:
    """Annotate every file under ``paths``; messages go to stderr, diffs to stdout."""
    from localtypes.model.store import load_store
    from localtypes.run.discovery import Walker, project_root

    # A progress bar only on a terminal; lines that would break it wait until it is done.
    show_bar = not quiet and not verbose and _isatty(sys.stderr)
    show_bar = show_bar and not (mode is Mode.DIFF and _isatty(sys.stdout))
    held: List[str] = []

    def say(line: str) -> None:
        if show_bar:
            held.append(line)
        else:
            click.echo(line, err=True)

    report = Report(
        check=check, write=mode is Mode.WRITE, verbose=verbose, quiet=quiet, out=say, err=say
    )
    store = load_store(settings.model)  # fail early, before any file, on a bad store
    root = project_root(paths)
    selection = Walker(root, settings.include, settings.exclude).select(paths)
    for raw, reason in selection.problems:
        report.fail(raw, reason)
    files = [str(path) for path in selection.files]
    cache = (
        Cache.open(settings.cache_dir, settings.cache_key(store.model_sha256, store.threshold))
        if settings.cache
        else None
    )
    options = Options(settings, mode, str(cache.folder) if cache else None)
    if verbose:
        click.echo(
            f"localtypes {__version__}: model {store.name} {store.version} ({store.path}); "
            f"target Python {'.'.join(map(str, settings.target_version or ()))}; "
            f"{len(files)} files under {root}",
            err=True,
        )

    def record(outcome: FileOutcome) -> None:
        if outcome.diff:
            click.echo(outcome.diff, nl=False)
        report.record(outcome)

    show_bar = show_bar and len(files) > 1
    bar_stream = sys.stderr if show_bar else io.StringIO()  # sys.stderr: injected by cli.main
    with click.progressbar(length=len(files), label="annotating", file=bar_stream) as bar:
        misses = []
        for path in files:
            outcome = from_cache(path, options, cache) if cache else None
            if outcome is None:
                misses.append(path)
            else:
                record(outcome)
                bar.update(1)
        workers = worker_count(settings.jobs, misses)
        if workers > 1:
            outcomes = _in_pool(_largest_first(misses), options, workers)
        else:
            outcomes = _in_process(misses, options) if misses else iter(())
        for outcome in outcomes:
            record(outcome)
            bar.update(1)
    for line in held:
        click.echo(line, err=True)
    if not quiet:
        click.echo(report.summary(), err=True)
    return report


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


__all__ = ["CacheEntry", "Mode", "Options", "annotate_file", "run", "unified_diff"]
