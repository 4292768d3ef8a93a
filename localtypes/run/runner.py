"""Runs ``annotate`` over many files: select them, answer what the cache knows, hand the
rest to one process or a pool of them (``concurrency``), and tell the report each outcome.

The runner prints nothing itself: the ``Report`` it is given says it all.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Callable,
    ContextManager,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

from localtypes.analysis.project import ModuleFacts
from localtypes.configs import Config, Configs, shown
from localtypes.run.cache import Cache, UnsafeCacheError
from localtypes.run.concurrency import annotate_files
from localtypes.run.discovery import Walker, project_root
from localtypes.run.project import Evidence, project_facts, remember_written
from localtypes.run.report import FileOutcome, Report, Status
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
    configs: Optional[Configs] = None,
) -> Report:
    """Annotate every file under ``paths`` as ``mode`` says; ``report`` counts and tells.

    ``stubs``: write a stub of each file under this folder instead (``localtypes.run.stubs``;
    the CLI runs it with ``Mode.CHECK``); the sources are never written.

    ``configs``: each file's settings (its nearest pyproject.toml's, under the environment
    and flags); without it every file takes ``settings``. The run itself (model, jobs,
    cache folder, verify) follows ``settings``.

    Raises ``ModelStoreError`` (before any file is touched) when the model store is
    missing or damaged, ``ConfigError`` when a pyproject.toml met on the way is broken.
    """
    from localtypes.model.store import load_store

    configs = configs or Configs.fixed(settings)
    store = load_store(settings.model)  # fail early, before any file, on a bad store
    root = project_root(paths)
    walker = Walker(root, settings.include, settings.exclude, configs)
    selection = walker.select(paths)
    for raw, reason in selection.problems:
        report.fail(raw, reason)
    files = [str(path) for path in selection.files]
    if stubs is not None:
        files = _one_stub_each(files, report)
    if settings.verify:
        from localtypes.verify import require_checker

        require_checker()  # a usage error, before any file
    projects = _projects(files, configs, root)
    stub_places = _stubs(stubs, paths) if stubs is not None else None
    caches: Dict[Settings, Optional[Cache]] = {}  # one folder per settings key
    cache_of: Dict[str, Optional[Cache]] = {}
    options: Dict[str, Options] = {}
    unsafe: List[str] = []  # a cache folder refused once is refused for every key: one warning
    for project in projects:
        own = project.config.settings
        if own not in caches:
            caches[own] = _open_cache(own, store, report, unsafe) if settings.cache else None
        cache = caches[own]
        # --verify: the workers annotate each file (verify off) and hold it; _verify checks them
        work = Options(
            replace(own, verify=False),
            mode,
            str(cache.folder) if cache else None,
            hold=settings.verify,
            records=report.wants_records,
            stubs=stub_places,
        )
        options.update((path, work) for path in project.files)
        cache_of.update((path, cache) for path in project.files)
    report.header(store, [p.describe(len(projects)) for p in projects], len(files), root)
    source = shown(configs.run.pyproject) if configs.run.pyproject else "the defaults"
    for project in projects:
        ignored = project.config.ignored
        if ignored and project.config.pyproject is not None:
            one = len(ignored) == 1
            report.warn(
                f"{shown(project.config.pyproject)} sets {', '.join(ignored)}, "
                f"{'a setting' if one else 'settings'} of the whole run: this run takes "
                f"{'it' if one else 'them'} from {source}"
            )
    # Every module of each project, selected or not, is evidence for its files annotated.
    # Beside the versioned result folders: the evidence depends on the code, not the settings.
    any_cache = next((cache for cache in caches.values() if cache is not None), None)
    evidence_cache = any_cache.folder.parent.parent if any_cache else None
    facts: Dict[str, ModuleFacts] = {}
    evidences: List[Tuple[_Project, Evidence]] = []
    for project in projects:
        evidence = project_facts(
            project.root, walker, project.files, evidence_cache, project.belongs
        )
        evidences.append((project, evidence))
        facts.update(evidence.files)
    with report.progress(len(files)):
        misses: List[str] = []
        for path in files:
            cache = cache_of[path]
            outcome = from_cache(path, options[path], cache, facts.get(path)) if cache else None
            if outcome is None:
                misses.append(path)
            else:
                report.record(outcome)
        held: List[FileOutcome] = []
        with _checker(settings, files, root, misses, paths) as session:
            for outcome in annotate_files(misses, options, settings.jobs, facts):
                if outcome.held is not None:
                    held.append(outcome)  # --verify: checked together, then written
                else:
                    report.record(outcome)
            if held and session is not None:
                _verify(held, session, options, store.threshold, report)
    if mode is Mode.WRITE and report.changed:
        for project, evidence in evidences:
            remember_written(
                project.root, walker, project.files, evidence_cache, evidence, project.belongs
            )
    report.finish()
    return report


@dataclass
class _Project:
    """The files of a run under one configuration (one pyproject.toml, or none)."""

    config: Config
    root: Path  # where its modules are looked for: its folder, within the run's root
    files: List[str] = field(default_factory=list)
    belongs: Optional[Callable[[str], bool]] = None

    def describe(self, count: int) -> str:
        """What the report says of the project's target version."""
        text = self.config.describe_target()
        if count == 1:
            return text[:1].upper() + text[1:]
        where = shown(self.config.folder) if self.config.folder else "files outside any project"
        return f"{where}: {text}"


def _projects(files: Sequence[str], configs: Configs, root: Path) -> List[_Project]:
    """The run's files grouped by their configuration, in the order first met."""
    found: Dict[Optional[Path], _Project] = {}
    for path in files:
        config = configs.for_file(Path(path))
        project = found.get(config.pyproject)
        if project is None:
            folder = config.folder.resolve() if config.folder is not None else None
            inside = folder is not None and (folder == root or root in folder.parents)
            mine = config.pyproject

            def belongs(module: str, mine: Optional[Path] = mine) -> bool:
                return configs.for_file(Path(module)).pyproject == mine

            project = found[config.pyproject] = _Project(
                config, folder if inside and folder else root, belongs=belongs
            )
        project.files.append(path)
    return list(found.values())


def _one_stub_each(files: List[str], report: Report) -> List[str]:
    """--stubs: a module given as both ``m.py`` and ``m.pyi`` has one stub, and it is the
    project's own ``m.pyi`` (what a type checker reads): ``m.py`` is skipped, not written
    over it."""
    given = {os.path.realpath(path) for path in files}
    kept = []
    for path in files:
        real = os.path.realpath(path)
        if real.endswith(".py") and real + "i" in given:
            reason = "--stubs: its stub is the .pyi beside it, written from that one"
            report.record(FileOutcome(path, Status.SKIPPED, reason=reason))
        else:
            kept.append(path)
    return kept


def _stubs(out: str, paths: Sequence[str]) -> Tuple[str, str]:
    from localtypes.run.stubs import stub_root

    return out, str(stub_root(paths))


def _checker(
    settings: Settings, files: List[str], root: Path, misses: List[str], paths: Sequence[str]
) -> ContextManager[Optional[Session]]:
    """--verify with files to annotate: the checker, its baseline checked in another
    process while the model works."""
    if not (settings.verify and misses):
        return contextlib.nullcontext()
    from localtypes.verify.dependants import dependants
    from localtypes.verify.run import Session

    # the modules under the paths given that the run's excludes leave out (its tests...)
    # and that import an annotated one are checked too: an annotation can break them
    others = Walker(root, settings.include, ()).select(list(paths)).files
    return Session(files, root, settings, also=dependants(files, others))


def _verify(
    held: List[FileOutcome],
    session: Session,
    options: Mapping[str, Options],
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


def _open_cache(
    settings: Settings, store: ModelStore, report: Report, unsafe: List[str]
) -> Optional[Cache]:
    """The cache of files with these settings, or None (with a warning, once) when its
    folder is not safe to use."""
    try:
        key = settings.cache_key(store.model_sha256, store.threshold)
        return Cache.open(settings.cache_dir, key)
    except UnsafeCacheError as exc:
        if str(exc) not in unsafe:
            unsafe.append(str(exc))
            report.warn(str(exc))
        return None
