"""One file's work: read it, annotate it through the core API, write it or diff it as the
mode says, and cache the result; or the same outcome straight from the cache.

Nothing here prints: the outcome (with its diff, if asked for) goes back to the runner,
from this process or from a worker process, and the report says it.
"""

from __future__ import annotations

import difflib
import enum
import io
import os
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Tuple

from localtypes.errors import LocaltypesError, SourceError
from localtypes.run.cache import Cache, sha256_bytes
from localtypes.run.files import atomic_write, decode_source
from localtypes.run.report import FileOutcome, Status
from localtypes.settings import Settings

if TYPE_CHECKING:
    from localtypes.api import AnnotateResult
    from localtypes.model.predictor import Predictor

# ``Skipped.reason`` of a slot left out because its best guess was not confident enough.
BELOW_THRESHOLD = "below-threshold"

Counts = Tuple[Tuple[str, int], ...]  # (kind, annotations added), sorted by kind


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
    # --verify: annotate only; the verify stage (localtypes.verify.run) checks, writes
    # and caches every file together.
    hold: bool = False


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


def _finish(
    path: str,
    options: Options,
    old: bytes,
    new: Optional[bytes],
    added: Counts,
    below: int,
    cached: bool,
) -> FileOutcome:
    """Write or diff the new bytes as the mode asks and build the outcome."""
    if new is None or new == old:
        return FileOutcome(path, Status.UNCHANGED, below_threshold=below, cached=cached)
    diff = None
    try:
        if options.mode is Mode.WRITE:
            atomic_write(Path(os.path.realpath(path)), new)  # through a link, never over it
        elif options.mode is Mode.DIFF:
            diff = unified_diff(decode_source(old).text, decode_source(new).text, path)
    except (OSError, SourceError) as exc:
        return FileOutcome.failure(path, f"cannot write: {exc}")
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


def counts(result: AnnotateResult) -> Tuple[Counts, int]:
    """(annotations added by kind, slots left below the confidence threshold)."""
    kinds = Counter(item.slot.kind.value for item in result.added)
    below = sum(1 for item in result.skipped if item.reason == BELOW_THRESHOLD)
    return tuple(sorted(kinds.items())), below


def annotate_file(path: str, options: Options, predictor: Predictor) -> FileOutcome:
    """Read, annotate and (as the mode says) write one file; never raises."""
    from localtypes.api import annotate

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return FileOutcome.failure(path, f"cannot read: {exc.strerror or exc}")
    try:
        decoded = decode_source(data)
        result = annotate(decoded.text, path, settings=options.settings, predictor=predictor)
        added, below = counts(result)
        new = decoded.encode(result.source) if result.changed else None
    except LocaltypesError as exc:  # SourceError among them: the file does not parse
        return FileOutcome.failure(path, str(exc))
    except RecursionError:
        return FileOutcome.failure(path, "too deeply nested to parse")
    except Exception as exc:  # a bug: name it, keep going with the other files
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return FileOutcome.failure(
            path,
            f"internal error {type(exc).__name__}: {exc} "
            f"(at {Path(where.filename).name}:{where.lineno}; please report)",
        )
    if options.hold:
        from localtypes.verify.run import hold

        return hold(path, data, decoded, result)
    if options.cache_folder is not None:
        Cache(Path(options.cache_folder)).put_result(sha256_bytes(data), new, added, below)
    return _finish(path, options, data, new, added, below, False)
