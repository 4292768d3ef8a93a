"""Runs ``annotate`` over many files: select them, answer what the cache knows, hand the
rest to one process or a pool of them (``concurrency``), and tell the report each outcome.

The runner prints nothing itself: the ``Report`` it is given says it all.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, ContextManager, List, Optional, Sequence, Tuple

from localtypes.run.cache import Cache, UnsafeCacheError
from localtypes.run.concurrency import annotate_files
from localtypes.run.discovery import Walker, project_root
from localtypes.run.project import project_facts, remember_written
from localtypes.run.report import FileOutcome, Report
from localtypes.run.task import Mode, Options, from_cache
from localtypes.settings import Settings

if TYPE_CHECKING:
    from localtypes.model.store import ModelStore
    from localtypes.verify.run import Session


def run(
    paths: Sequence[str],
    settings: Settings,
    *,
    mode: Mode,
    report: Report,
    stubs: Optional[str] = None,
) -> Report:
    """Annotate every file under ``paths`` as ``mode`` says; ``report`` counts and tells.

    ``stubs``: write a stub of each file under this folder instead (``localtypes.run.stubs``;
    the CLI runs it with ``Mode.CHECK``); the sources are never written.

    Raises ``ModelStoreError`` (before any file is touched) when the model store is
    missing or damaged.
    """
    from localtypes.model.store import load_store

    store = load_store(settings.model)  # fail early, before any file, on a bad store
    root = project_root(paths)
    walker = Walker(root, settings.include, settings.exclude)
    selection = walker.select(paths)
    for raw, reason in selection.problems:
        report.fail(raw, reason)
    files = [str(path) for path in selection.files]
    cache = _open_cache(settings, store, report) if settings.cache else None
    if settings.verify:
        from localtypes.verify import require_checker

        require_checker()  # a usage error, before any file
    # --verify: the workers annotate each file (verify off) and hold it; _verify checks them
    work = replace(settings, verify=False) if settings.verify else settings
    options = Options(
        work,
        mode,
        str(cache.folder) if cache else None,
        hold=settings.verify,
        records=report.wants_records,
        stubs=_stubs(stubs, paths) if stubs is not None else None,
    )
    report.header(store, settings.target_version, len(files), root)
    # Every module of the project, selected or not, is evidence for the files annotated.
    # Beside the versioned result folders: the evidence depends on the code, not the settings.
    evidence_cache = cache.folder.parent.parent if cache else None
    evidence = project_facts(root, walker, files, evidence_cache)
    facts = evidence.files
    with report.progress(len(files)):
        misses: List[str] = []
        for path in files:
            outcome = from_cache(path, options, cache, facts.get(path)) if cache else None
            if outcome is None:
                misses.append(path)
            else:
                report.record(outcome)
        held: List[FileOutcome] = []
        with _checker(settings, files, root, misses) as session:
            for outcome in annotate_files(misses, options, settings.jobs, facts):
                if outcome.held is not None:
                    held.append(outcome)  # --verify: checked together, then written
                else:
                    report.record(outcome)
            if held and session is not None:
                _verify(held, session, options, store.threshold, report)
    if mode is Mode.WRITE and report.changed:
        remember_written(root, walker, files, evidence_cache, evidence)
    report.finish()
    return report


def _stubs(out: str, paths: Sequence[str]) -> Tuple[str, str]:
    from localtypes.run.stubs import stub_root

    return out, str(stub_root(paths))


def _checker(
    settings: Settings, files: List[str], root: Path, misses: List[str]
) -> ContextManager[Optional[Session]]:
    """--verify with files to annotate: the checker, its baseline checked in another
    process while the model works."""
    if not (settings.verify and misses):
        return contextlib.nullcontext()
    from localtypes.verify.run import Session

    return Session(files, root, settings)


def _verify(
    held: List[FileOutcome],
    session: Session,
    options: Options,
    threshold: float,
    report: Report,
) -> None:
    """--verify: the checker confirms the held files' annotations; then each is written or
    diffed and cached (``localtypes.verify.run``)."""
    from localtypes.verify.run import finish

    outcomes, stats = finish(held, session, options, threshold)
    for outcome in outcomes:
        report.record(outcome)
    report.checker = (stats.replaced, stats.dropped, stats.remaining)


def _open_cache(settings: Settings, store: ModelStore, report: Report) -> Optional[Cache]:
    """The run's cache, or None (with a warning) when its folder is not safe to use."""
    try:
        key = settings.cache_key(store.model_sha256, store.threshold)
        return Cache.open(settings.cache_dir, key)
    except UnsafeCacheError as exc:
        report.warn(str(exc))
        return None
