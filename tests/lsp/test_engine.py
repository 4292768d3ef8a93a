"""The engine: one analysis per content, shared by concurrent requests, dropped when
the buffer moved on, kept for the recent texts."""

from __future__ import annotations

import asyncio
import threading
from typing import List

import pytest

from localtypes.lsp import engine as engine_module
from localtypes.lsp.analysis import Analysis
from localtypes.lsp.config import document_settings
from localtypes.lsp.engine import CACHE_SIZE, Engine, Stale
from localtypes.model.predictor import Predictor

SOURCE = "def count_words(text, limit=10):\n    return len(text.split()[:limit])\n"


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch, predictor: Predictor) -> List[str]:
    """The texts really analysed (the real analysis, counted)."""
    seen: List[str] = []
    real = engine_module.analyse

    def counted(text: str, *args: object) -> Analysis:
        seen.append(text)
        assert threading.current_thread() is not threading.main_thread()  # on the worker
        return real(text, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "analyse", counted)
    return seen


def test_one_analysis_per_content(calls: List[str]) -> None:
    settings, _ = document_settings(None, None, {})

    async def scenario() -> None:
        engine = Engine()
        try:
            first, second = await asyncio.gather(
                engine.analysis(SOURCE, None, settings, lambda: True),
                engine.analysis(SOURCE, None, settings, lambda: True),
            )
            assert first is second and first.hints
            again = await engine.analysis(SOURCE, None, settings, lambda: True)
            assert again is first  # from the cache
            assert engine.cached(SOURCE, None, settings) is first
        finally:
            engine.close()

    asyncio.run(scenario())
    assert calls == [SOURCE]


def test_work_for_an_old_text_is_dropped(calls: List[str]) -> None:
    settings, _ = document_settings(None, None, {})

    async def scenario() -> None:
        engine = Engine()
        try:
            with pytest.raises(Stale):
                await engine.analysis(SOURCE, None, settings, lambda: False)
            assert engine.cached(SOURCE, None, settings) is None
        finally:
            engine.close()

    asyncio.run(scenario())
    assert calls == []


def test_the_cache_keeps_the_recent_texts(calls: List[str]) -> None:
    settings, _ = document_settings(None, None, {})
    texts = [f"x = {i}\n" for i in range(CACHE_SIZE + 1)]

    async def scenario() -> None:
        engine = Engine()
        try:
            for text in texts:
                await engine.analysis(text, None, settings, lambda: True)
            assert engine.cached(texts[0], None, settings) is None
            assert engine.cached(texts[-1], None, settings) is not None
        finally:
            engine.close()

    asyncio.run(scenario())
    assert calls == texts


def test_debounce_calls_once_after_the_last_change() -> None:
    fired: List[str] = []

    async def scenario() -> None:
        engine = Engine()
        try:
            for _ in range(3):
                engine.debounce("file:///a.py", lambda: fired.append("a"))
                await asyncio.sleep(0)  # the loop runs: a pending timer would fire if due
            engine.debounce("file:///b.py", lambda: fired.append("b"))
            engine.cancel("file:///b.py")
            await asyncio.sleep(engine_module.DEBOUNCE_SECONDS * 2)
        finally:
            engine.close()

    asyncio.run(scenario())
    assert fired == ["a"]
