"""``localtypes annotate --verify`` over many files: the per-file work holds its result
(``hold``, in whichever process annotated the file), then the runner hands every held file
to ``finish``, which checks them together, writes or diffs them and caches the verified
result. Also ``verify_sources`` for one module and its context (``POST /annotate``).
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from localtypes.edit.plan import Added, Rejection, SlotGuess, WriteOptions
from localtypes.run.report import FileOutcome, Status
from localtypes.settings import OLDEST_SUPPORTED
from localtypes.verify.checker import Checker
from localtypes.verify.stage import VerifyFile, VerifyStats, verify

if TYPE_CHECKING:
    from localtypes.api import AnnotateResult
    from localtypes.run.files import DecodedSource
    from localtypes.run.records import SlotRecord
    from localtypes.run.task import Options
    from localtypes.settings import Settings

BELOW_THRESHOLD = "below-threshold"


@dataclass(frozen=True)
class Held:
    """A file annotated in memory, waiting for the verify stage (picklable)."""

    data: bytes  # the file's bytes as read
    decoded: DecodedSource
    output: str  # the annotated text
    added: Tuple[Added, ...]
    guesses: Tuple[SlotGuess, ...]
    below: int
    salt: str = ""  # the digest of the file's project evidence: part of its cache key
    skipped: Tuple[Rejection, ...] = ()  # what the writer left out (for the records)
    options: Optional[WriteOptions] = None  # what it was written with (its target...)


def hold(
    path: str, data: bytes, decoded: DecodedSource, result: AnnotateResult, salt: str = ""
) -> FileOutcome:
    """The outcome of a file the verify stage will finish: nothing written, nothing cached."""
    below = sum(1 for item in result.skipped if item.reason == BELOW_THRESHOLD)
    held = Held(
        data,
        decoded,
        result.source,
        result.added,
        result.guesses,
        below,
        salt,
        result.skipped,
        result.options,
    )
    return FileOutcome(path, Status.UNCHANGED, below_threshold=below, held=held)


def write_options(settings: Settings, threshold: float) -> WriteOptions:
    """What ``localtypes.api.annotate`` writes with these settings and the model's threshold."""
    return WriteOptions(
        min_confidence=threshold if settings.min_confidence is None else settings.min_confidence,
        kinds=frozenset(settings.kinds),
        target_version=settings.target_version or OLDEST_SUPPORTED,
    )


def cache_base(settings: Settings) -> Path:
    """Where the checker's mirrors and incremental cache live: in localtypes' cache folder."""
    from localtypes.run.cache import default_cache_dir

    base = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    return base / "verify"


class Session:
    """The checker for one run, opened before the model works: with a core to spare, the
    project is checked in another process meanwhile (``Checker.warm``). A context
    manager."""

    def __init__(
        self, files: Sequence[str], root: Path, settings: Settings, also: Sequence[str] = ()
    ) -> None:
        """``also``: modules of the project that are checked but not annotated (those that
        import an annotated one: ``localtypes.verify.dependants``)."""
        self.folder = _CacheFolder(settings)
        self.checker = Checker(root, [*files, *also], self.folder.__enter__())
        self.warming: Optional[subprocess.Popen[bytes]] = None
        if spare_core():
            with contextlib.suppress(OSError):  # else the stage checks it all itself
                self.warming = self.checker.warm()

    def ready(self) -> Checker:
        """The checker, once the warming process is done."""
        if self.warming is not None:
            self.warming.wait()
            self.warming = None
        return self.checker

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.warming is not None:
            try:
                self.warming.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.warming.kill()
                self.warming.wait()
        # The run (the CLI's) ends soon after: what is left of mypy's builds is kept out of
        # the collection that the interpreter's exit would run over it.
        gc.freeze()
        self.folder.__exit__()


def spare_core() -> bool:
    """Whether a core is idle for the warming process: on a busy machine it would only
    slow the model down, and the stage's own first check costs less than its start."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average (Windows)
        return cores > 1
    # the model takes one core
    return cores - load >= 1.5


def finish(
    outcomes: Sequence[FileOutcome],
    session: Session,
    options: Union[Options, Mapping[str, Options]],
    threshold: float,
) -> Tuple[List[FileOutcome], VerifyStats]:
    """Check the held files together (with the rest of the run's files as they are on
    disk), then write or diff each as the mode says and cache it; the outcomes and what
    the checker did.

    ``options``: for every file, or each file's. One checker run serves files of every
    configuration: they are checked against one baseline, so that an error one
    sub-project's annotations cause in another's code is seen; each file is written again
    with its own options (target version, threshold, kinds).
    """
    from localtypes.run.cache import Cache, content_key
    from localtypes.run.task import Options, _finish

    def options_of(path: str) -> Options:
        return options if isinstance(options, Options) else options[path]

    targets: List[VerifyFile] = []
    for outcome in outcomes:
        held = outcome.held
        assert isinstance(held, Held)
        write = held.options or write_options(options_of(outcome.path).settings, threshold)
        targets.append(
            VerifyFile(
                path=str(Path(outcome.path).resolve()),
                original=held.decoded.text,
                guesses=held.guesses,
                options=write,
                encode=held.decoded.encode,
                text=held.output,
                added=held.added,
            )
        )
    stats = verify(targets, session.ready())
    finished: List[FileOutcome] = []
    for outcome, target in zip(outcomes, targets):
        held = outcome.held
        assert isinstance(held, Held)
        changed = target.text != held.decoded.text
        new = held.decoded.encode(target.text) if changed else None
        added = tuple(sorted(Counter(item.kind for item in target.added).items()))
        records = _records(held, target)
        own = options_of(outcome.path)
        if own.cache_folder is not None:
            Cache(Path(own.cache_folder)).put_result(
                content_key(held.data, held.salt), new, added, held.below, held.salt, records
            )
        plain = replace(own, hold=False)
        finished.append(
            _finish(outcome.path, plain, held.data, new, added, held.below, False, records)
        )
    return finished, stats


def _records(held: Held, target: VerifyFile) -> Tuple[SlotRecord, ...]:
    """The slots' records once the checker is done: what it dropped is left out."""
    from localtypes.edit.plan import Reason
    from localtypes.run.records import slot_records

    kept = {item.slot.key for item in target.added}
    dropped = tuple(
        Rejection(item.slot, Reason.CHECKER, item.label, item.confidence)
        for item in held.added
        if item.slot.key not in kept
    )
    before = {item.slot.key: item.label for item in held.added}
    return slot_records(target.added, held.skipped + dropped, held.guesses, before)


class _CacheFolder:
    """``cache_base`` when the cache is on; a temporary folder, removed after, when not."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.temporary: Optional[tempfile.TemporaryDirectory[str]] = None

    def __enter__(self) -> Path:
        if self.settings.cache:
            return cache_base(self.settings)
        self.temporary = tempfile.TemporaryDirectory(prefix="localtypes-verify-")
        return Path(self.temporary.name)

    def __exit__(self, *exc: object) -> None:
        if self.temporary is not None:
            self.temporary.cleanup()


def verify_result(
    result: AnnotateResult, source: str, context: Mapping[str, str], options: WriteOptions
) -> AnnotateResult:
    """``annotate``'s result for one module, verified with its context (other modules by
    relative path) in a temporary project: mypy's incremental cache of the standard
    library is kept in localtypes' cache folder across calls."""
    from localtypes.api import AnnotateResult
    from localtypes.edit.plan import Reason

    relative = _relative(result.path or "module.py")
    with tempfile.TemporaryDirectory(prefix="localtypes-verify-") as folder:
        root = Path(folder) / "project"
        written: Dict[str, str] = {relative: source}
        for name, text in context.items():
            written.setdefault(_relative(name), text)
        paths: List[str] = []
        for name, text in written.items():
            file = root / name
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text, encoding="utf-8")
            paths.append(str(file))
        target = VerifyFile(
            path=str((root / relative).resolve()),
            original=source,
            guesses=result.guesses,
            options=options,
            encode=lambda text: text.encode("utf-8"),
            text=result.source,
            added=result.added,
        )
        checker = Checker(root, paths, _service_cache(), python=sys.executable, key="one-module")
        stats = verify([target], checker)
    kept = {item.slot.key for item in target.added}
    dropped = tuple(
        Rejection(item.slot, Reason.CHECKER, item.label, item.confidence)
        for item in result.added
        if item.slot.key not in kept
    )
    return AnnotateResult(
        model=result.model,
        path=result.path,
        source=target.text,
        changed=target.text != source,
        added=target.added,
        skipped=result.skipped + dropped,
        guesses=result.guesses,
        checker={
            "replaced": stats.replaced,
            "dropped": stats.dropped,
            "remaining": stats.remaining,
        },
    )


def _service_cache() -> Path:
    from localtypes.run.cache import default_cache_dir

    configured = os.environ.get("LOCALTYPES_CACHE_DIR")
    return (Path(configured) if configured else default_cache_dir()) / "verify"


def _relative(name: str) -> str:
    """A safe relative path for a module name given by a client."""
    parts = [p for p in Path(name.replace("\\", "/")).parts if p not in ("", ".", "..", "/")]
    cleaned = os.path.join(*parts) if parts else "module.py"
    return cleaned if cleaned.endswith((".py", ".pyi")) else cleaned + ".py"
