"""When analyses run: one worker thread, one analysis per content, debounced after a change.

The model and the writer are CPU work: they run on one worker thread, so the event loop
keeps reading the client (a cancel, a change, shutdown) and two analyses never compete for
the cores. An analysis is cached by the text, its path and the settings, so a hint
request, a code action and a resolve of the same text share it, and undoing an edit costs
nothing; a save anywhere forgets them (another module's call sites may have changed).
A change schedules an analysis after ``DEBOUNCE_SECONDS`` of quiet; a request does not
wait for that, and work queued for a text the buffer no longer holds is dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, Optional, Tuple, TypeVar

from localtypes.lsp.analysis import Analysis, analyse
from localtypes.lsp.project import Projects
from localtypes.model.predictor import Predictor, default_predictor
from localtypes.settings import Settings

T = TypeVar("T")

DEBOUNCE_SECONDS = 0.2
# Analyses kept (a few per open file: the text before and after an edit, undo).
CACHE_SIZE = 16

Key = Tuple[Optional[str], str, Settings]


class Stale(Exception):
    """The buffer changed before the work started: nobody needs its result."""


class Engine:
    """Analyses for the server, computed on one worker thread."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="localtypes-lsp")
        self._cache: OrderedDict[Key, Analysis] = OrderedDict()
        self._running: Dict[Key, asyncio.Future[Analysis]] = {}
        self._timers: Dict[str, asyncio.TimerHandle] = {}
        self.projects = Projects()  # used on the worker thread only

    async def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the worker thread (after the work queued before it)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def predictor(self, settings: Settings) -> Predictor:
        """The model of ``settings`` (loaded once; call on the worker thread)."""
        return default_predictor(settings.model)

    def cached(self, text: str, path: Optional[str], settings: Settings) -> Optional[Analysis]:
        return self._cache.get(_key(text, path, settings))

    async def analysis(
        self,
        text: str,
        path: Optional[str],
        settings: Settings,
        current: Callable[[], bool],
    ) -> Analysis:
        """The analysis of ``text``; raises ``Stale`` if ``current()`` says, when the worker
        gets to it, that the buffer moved on."""
        key = _key(text, path, settings)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        running = self._running.get(key)
        if running is None:

            def work() -> Analysis:
                if not current():
                    raise Stale()
                return analyse(text, path, settings, self.predictor(settings), self.projects)

            running = asyncio.ensure_future(self.run(work))
            self._running[key] = running
            running.add_done_callback(lambda done: self._finished(key, done))
        # shield: a cancelled request must not cancel the work another request waits on
        return await asyncio.shield(running)

    def _finished(self, key: Key, done: asyncio.Future[Analysis]) -> None:
        self._running.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        self._cache[key] = done.result()
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def forget(self) -> None:
        """A file was saved: the project's modules are read again, and the analyses of
        unchanged buffers made again (their evidence may have changed)."""
        self._cache.clear()
        self.projects.forget()

    def debounce(self, uri: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` once ``uri`` has had no change for ``DEBOUNCE_SECONDS``."""
        self.cancel(uri)
        loop = asyncio.get_running_loop()
        self._timers[uri] = loop.call_later(DEBOUNCE_SECONDS, callback)

    def cancel(self, uri: str) -> None:
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()

    def close(self) -> None:
        for uri in list(self._timers):
            self.cancel(uri)
        self._executor.shutdown(wait=False, cancel_futures=True)


def _key(text: str, path: Optional[str], settings: Settings) -> Key:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return (path, digest, settings)
