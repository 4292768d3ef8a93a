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
from typing import TYPE_CHECKING, Dict, Optional, Tuple

from localtypes.analysis.project import ModuleFacts
from localtypes.analysis.slots import SlotKind
from localtypes.edit.plan import COMPANION
from localtypes.errors import LocaltypesError, SourceError
from localtypes.run.cache import Cache, content_key
from localtypes.run.files import WriteRefused, decode_source, replace_source, write_problem
from localtypes.run.project import facts_digest
from localtypes.run.records import SlotRecord, records_of
from localtypes.run.report import FileOutcome, Status
from localtypes.settings import Settings

if TYPE_CHECKING:
    from localtypes.api import AnnotateResult
    from localtypes.model.predictor import Predictor

# ``Skipped.reason`` of a slot left out because its best guess was not confident enough.
BELOW_THRESHOLD = "below-threshold"
SKIP_FILE = "# localtypes: skip-file"

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
    # The report asks for each slot's record (``localtypes.run.records``): sent back with
    # the outcome. The cache stores them whatever this says.
    records: bool = False
    # --stubs: (OUT, the stub root) (``localtypes.run.stubs``): a .pyi stub of each file
    # is written under OUT, whatever the mode; the sources are never written.
    stubs: Optional[Tuple[str, str]] = None


# How git writes a byte of a file name that needs quoting (quote_c_style); other bytes
# below 0x20 and from 0x7f up become octal escapes.
_GIT_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}
_GIT_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})


def git_name(name: str) -> str:
    """A file name as git writes it in a diff header (``git apply`` reads it back).

    A name with a control character, a quote, a backslash or a non-ASCII byte is quoted C
    style (``"a/new\\nline.py"``, ``"a/caf\\303\\251.py"``); one with a space is
    followed by a tab, which ends the name.
    """
    raw = os.fsencode(name)
    if all(0x20 <= byte < 0x7F and byte not in (0x22, 0x5C) for byte in raw):
        return f"{name}\t" if " " in name else name
    quoted = "".join(
        _GIT_ESCAPES.get(byte) or (f"\\{byte:03o}" if byte < 0x20 or byte >= 0x7F else chr(byte))
        for byte in raw
    )
    return f'"{quoted}"'


def unified_diff(old: str, new: str, path: str) -> str:
    """A unified diff of one file, with ``a/`` and ``b/`` names as git prints them."""
    # Lines end at \n, \r or \r\n only (str.splitlines also breaks at \f, \x1c, ...).
    lines = difflib.unified_diff(
        io.StringIO(old, newline="").readlines(),
        io.StringIO(new, newline="").readlines(),
        fromfile=git_name(f"a/{path}"),
        tofile=git_name(f"b/{path}"),
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
    records: Optional[Tuple[SlotRecord, ...]] = None,
) -> FileOutcome:
    """Write or diff the new bytes as the mode asks and build the outcome."""
    records = records if options.records else None
    if options.stubs is not None:  # whatever the mode: the sources are never written
        return _stub(path, options, old, new, added, below, cached, records)
    if new is None or new == old:
        return FileOutcome(
            path, Status.UNCHANGED, below_threshold=below, cached=cached, records=records
        )
    diff = encoding = None
    try:
        if options.mode is Mode.WRITE:
            # through a link, never over it; only if the file still holds ``old``
            replace_source(Path(os.path.realpath(path)), old, new)
        elif options.mode is Mode.DIFF:
            before, after = decode_source(old), decode_source(new)
            bom = "\ufeff" if before.bom else ""  # the first line's bytes, as git sees them
            diff = unified_diff(bom + before.text, bom + after.text, path)
            encoding = before.encoding  # printed as the file's bytes, so that it applies
    except WriteRefused as exc:
        return FileOutcome.failure(path, str(exc))
    except (OSError, SourceError) as exc:
        return FileOutcome.failure(path, f"cannot write: {exc}")
    return FileOutcome(
        path,
        Status.CHANGED,
        added,
        below,
        diff=diff,
        diff_encoding=encoding,
        cached=cached,
        records=records,
    )


def _stub(
    path: str,
    options: Options,
    old: bytes,
    new: Optional[bytes],
    added: Counts,
    below: int,
    cached: bool,
    records: Optional[Tuple[SlotRecord, ...]],
) -> FileOutcome:
    """--stubs: write the stub of the annotated text (or of the file as it is, when
    nothing was added); the source is never written."""
    from localtypes.edit.target import resolve_target
    from localtypes.run.stubs import write_stub
    from localtypes.syntax import parse_source

    assert options.stubs is not None
    out, root = options.stubs
    try:
        text = decode_source(new or old).text
        # the file's own target, as annotate inferred it (never the running Python)
        target = resolve_target(options.settings.target_version, parse_source(text), text)
        write_stub(path, text, out, root, target)
    except (OSError, ValueError, LocaltypesError) as exc:  # ValueError: outside the root
        return FileOutcome.failure(path, f"cannot write its stub: {exc}")
    status = Status.CHANGED if new is not None and new != old else Status.UNCHANGED
    return FileOutcome(
        path,
        status,
        added if status is Status.CHANGED else (),
        below,
        cached=cached,
        records=records,
    )


def from_cache(
    path: str, options: Options, cache: Cache, facts: Optional[ModuleFacts] = None
) -> Optional[FileOutcome]:
    """The outcome of a file whose bytes (and project evidence) the cache knows, or None."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None  # the worker reports it
    entry = cache.get(content_key(data, facts_digest(facts or {})))
    if entry is None or (options.records and entry.records is None):
        return None  # without records a report asks for: recomputed (and filed with them)
    if entry.output is not None and not _checks_out(path, options, data, entry.output, entry.added):
        return None  # recomputed, as a damaged entry is
    return _finish(
        path, options, data, entry.output, entry.added, entry.below_threshold, True, entry.records
    )


def _checks_out(path: str, options: Options, old: bytes, new: bytes, added: Counts) -> bool:
    """Whether a cached output passes the checks a fresh one passes, with these counts.

    The cache is a folder on disk: what it holds is written only if it is the file plus
    annotations (and their imports) that the writer could have written, as
    ``localtypes.api.check_annotated`` works out.
    """
    from localtypes.api import check_annotated

    try:
        before, after = decode_source(old), decode_source(new)
        if (before.encoding, before.bom) != (after.encoding, after.bom):
            return False
        found = check_annotated(before.text, after.text, path, kinds=options.settings.kinds)
    except Exception:  # UnsafeEditError, SourceError, or whatever a planted entry triggers
        return False
    # a bare ``x: list = []`` reads as a companion whether the model or the writer chose it
    return _merged(found) == _merged(dict(added))


def _merged(counts: Dict[str, int]) -> Dict[str, int]:
    merged = dict(counts)
    if COMPANION in merged:
        merged[SlotKind.VARIABLE.value] = merged.get(SlotKind.VARIABLE.value, 0) + merged.pop(
            COMPANION
        )
    return merged


def counts(result: AnnotateResult) -> Tuple[Counts, int]:
    """(annotations added by kind, slots left below the confidence threshold)."""
    kinds = Counter(item.kind for item in result.added)
    below = sum(1 for item in result.skipped if item.reason == BELOW_THRESHOLD)
    return tuple(sorted(kinds.items())), below


def annotate_file(
    path: str, options: Options, predictor: Predictor, facts: Optional[ModuleFacts] = None
) -> FileOutcome:
    """Read, annotate and (as the mode says) write one file; never raises. ``facts``: the
    file's evidence from the rest of its project (``localtypes.run.project``)."""
    from localtypes.api import annotate

    try:
        data = Path(path).read_bytes()
        problem = None
        if options.mode is Mode.WRITE:  # say it now rather than after the model's work
            problem = write_problem(Path(path), os.stat(path))
    except OSError as exc:
        return FileOutcome.failure(path, f"cannot read: {exc.strerror or exc}")
    if problem is not None:
        return FileOutcome.failure(path, problem)
    try:
        decoded = decode_source(data)
        result = annotate(
            decoded.text, path, settings=options.settings, predictor=predictor, facts=facts
        )
        added, below = counts(result)
        records = records_of(result)
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
    if result.skipped_file:  # not cached: the comment is found again at once
        return FileOutcome(path, Status.SKIPPED, reason=SKIP_FILE)
    if options.hold:
        from localtypes.verify.run import hold

        return hold(path, data, decoded, result, facts_digest(facts or {}))
    if options.cache_folder is not None:
        salt = facts_digest(facts or {})
        Cache(Path(options.cache_folder)).put_result(
            content_key(data, salt), new, added, below, salt, records
        )
    return _finish(path, options, data, new, added, below, False, records)
