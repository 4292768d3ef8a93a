"""The verify stage: the checker's errors that the annotations cause, and what to do about them.

1. The baseline: mypy over the project as it is (``Checker.check``).
2. A round: mypy over the annotated texts; an error counts when the baseline has no error
   with the same code and message on the same line (lines mapped back to the original,
   since added imports shift them).
3. Each such error has suspects (``blame.implicated``), most specific first: the
   annotations on its line or the parameter whose default it contradicts, the callee's
   parameter it names (``Argument 2 to "f"``), the base's method a Liskov error names; for
   a return value, the function's return; then the returns of what its line calls whose
   type the message quotes, the enclosing function's parameters the line uses (those whose
   type it quotes first), and last all of that function's annotations. Errors a function
   gets only for being annotated (``Need type annotation``) blame its annotations, or those
   of the method that sets the ``self.x`` they are about.
4. A round blames, for each error, the most specific group no earlier round blamed:
   their labels are excluded and the file is written again from the same guesses
   (``choose`` takes the next guess whose share of what is left clears the threshold,
   after the cheap checks). When every group was blamed, or from ``DROP_FROM_ROUND`` on,
   the blamed annotations are dropped. Rounds repeat until no new error is left, or
   ``MAX_ROUNDS``.
5. An annotation whose exclusion cured none of the errors that blamed it (each was still
   there the round after) was not their cause: once the rounds are done, such annotations
   are given back if the files then check with no new error beyond those the rounds left
   (``_restore``: at most two more checks; else the files stay as the rounds left them).

The writer's safety checks run on every text this stage produces (``write`` runs them).
"""

from __future__ import annotations

import difflib
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from localtypes.analysis.slots import SlotKey
from localtypes.edit.plan import EXCLUDE_ALL, Added, SlotGuess, WriteOptions
from localtypes.edit.rounds import write
from localtypes.verify.blame import Suspect, implicated
from localtypes.verify.checker import Checker, Diagnostic
from localtypes.verify.places import Places

# Checker runs after the baseline, at most.
MAX_ROUNDS = 5
# From this round on an implicated annotation is dropped rather than replaced.
DROP_FROM_ROUND = 4


@dataclass
class VerifyFile:
    """One annotated file the stage may change: its original text and its guesses."""

    path: str  # absolute
    original: str
    guesses: Tuple[SlotGuess, ...]
    options: WriteOptions
    encode: Callable[[str], bytes]
    text: str = ""  # the current annotated text
    added: Tuple[Added, ...] = ()
    excluded: Dict[SlotKey, Set[str]] = field(default_factory=dict)
    blamed_by: Dict[SlotKey, str] = field(default_factory=dict)  # the first error's code
    # how that error led to the annotation (``_implicated``'s group) and the error itself
    blamed_via: Dict[SlotKey, str] = field(default_factory=dict)
    blamed_for: Dict[SlotKey, Diagnostic] = field(default_factory=dict)

    @property
    def labels(self) -> Dict[SlotKey, str]:
        return {item.slot.key: item.label for item in self.added if not item.companion}


@dataclass
class VerifyStats:
    """What the stage did, for the summary."""

    replaced: int = 0  # annotations whose label the checker changed
    dropped: int = 0  # annotations the checker removed
    remaining: int = 0  # new errors left when the rounds ran out (not attributed)
    restored: int = 0  # annotations given back: their exclusion cured no error
    baseline_errors: int = 0
    rounds: int = 0
    seconds: float = 0.0


def verify(files: Sequence[VerifyFile], checker: Checker) -> VerifyStats:
    """Run the stage over ``files`` (changed in place: ``text`` and ``added``)."""
    started = time.perf_counter()
    stats = VerifyStats()
    by_path = {f.path: f for f in files}
    initial = {f.path: f.labels for f in files}
    if all(f.text == f.original for f in files):
        return stats  # no annotation to check: no checker run
    baseline = checker.check({f.path: f.encode(f.original) for f in files})
    stats.baseline_errors = len(baseline)
    known = Counter(_key(d, d.line) for d in baseline)
    maps: Dict[str, Dict[int, Optional[int]]] = {}
    left: Set[Place] = set()  # the new errors of the last check
    suspected: Set[Suspect] = set()  # blamed in an earlier round
    pending: Dict[Suspect, Set[Place]] = {}  # blamed last round, by these errors
    futile: Set[Suspect] = set()  # every error that blamed them outlived their exclusion
    effective: Set[Suspect] = set()
    located = _Located()
    for round_number in range(1, MAX_ROUNDS + 1):
        stats.rounds = round_number
        new = _check(files, checker, known, maps)
        now = {_place(d, maps) for d in new}
        left = now
        for suspect, errors in pending.items():
            (futile if errors <= now else effective).add(suspect)
        pending = {}
        if not new:
            stats.remaining = 0
            break
        stats.remaining = len(new)
        if round_number == MAX_ROUNDS:
            break
        drop = round_number >= DROP_FROM_ROUND
        changed: Set[str] = set()
        places = located(files)
        labels = {(f.path, key): label for f in files for key, label in f.labels.items()}
        earlier = set(suspected)
        for error in new:
            groups, typedness = implicated(error, places, labels)
            # the most specific suspects no earlier round blamed; when all were, all of them
            fresh = next(((via, group) for via, group in groups if group - earlier), None)
            if fresh is not None:
                via, blamed = fresh
            else:
                via, blamed = "all", set().union(*(group for _, group in groups))
            final = drop or typedness or fresh is None
            suspected.update(blamed)
            for path, key in blamed:
                target = by_path[path]
                label = target.labels.get(key)
                if label is None:
                    continue
                pending.setdefault((path, key), set()).add(_place(error, maps))
                target.blamed_by.setdefault(key, error.code or "error")
                target.blamed_via.setdefault(key, via)
                target.blamed_for.setdefault(key, error)
                excluded = target.excluded.setdefault(key, set())
                before = set(excluded)
                excluded.add(EXCLUDE_ALL if final else label)
                if excluded != before:
                    changed.add(path)
        if not changed:
            break
        for path in changed:
            _rewrite(by_path[path])
            maps.pop(path, None)
    # every round's exclusions were checked by the next (a round that changes nothing ends)
    stats.restored = _restore(futile - effective, by_path, checker, known, maps, left, located)
    for f in files:
        was, now_labels = initial[f.path], f.labels
        stats.dropped += sum(1 for key in was if key not in now_labels)
        stats.replaced += sum(
            1 for key, label in was.items() if key in now_labels and now_labels[key] != label
        )
    stats.seconds = time.perf_counter() - started
    return stats


def _check(
    files: Sequence[VerifyFile],
    checker: Checker,
    known: Counter[Tuple[str, Optional[int], str, str]],
    maps: Dict[str, Dict[int, Optional[int]]],
) -> List[Diagnostic]:
    """The new errors of the files as they are now (``maps`` filled for them)."""
    texts = {f.path: f.encode(f.text) for f in files if f.text != f.original}
    found = checker.check(texts)
    for f in files:
        if f.path not in maps:
            maps[f.path] = _line_map(f.original, f.text)
    return _new_errors(found, known, maps)


def _restore(
    futile: Set[Suspect],
    by_path: Dict[str, VerifyFile],
    checker: Checker,
    known: Counter[Tuple[str, Optional[int], str, str]],
    maps: Dict[str, Dict[int, Optional[int]]],
    left: Set[Place],
    located: _Located,
) -> int:
    """Give back the annotations whose exclusion cured none of the errors that blamed them
    (those errors outlived it; another suspect was their cause), if the files then check
    without a new error other than those ``left`` (the errors the rounds could not cure);
    else keep excluded those the new errors implicate and check once more; else go back to
    the files as they were. How many were given back."""
    if not futile:
        return 0
    files = list(by_path.values())
    touched = {path for path, _ in futile}
    saved = {
        path: ({k: set(v) for k, v in by_path[path].excluded.items()}, by_path[path].text,
               by_path[path].added)
        for path in touched
    }  # fmt: skip
    for path, key in futile:
        by_path[path].excluded.pop(key, None)
    _rewrite_all(by_path, touched, maps)
    new = [d for d in _check(files, checker, known, maps) if _place(d, maps) not in left]
    if new:
        # the restored annotations these errors implicate stay out; the others come back
        places = located(files)
        labels = {(f.path, key): label for f in files for key, label in f.labels.items()}
        again: Set[Suspect] = set()
        for error in new:
            groups, _ = implicated(error, places, labels)
            again.update(*(group for _, group in groups))
        for path, key in again & futile:
            by_path[path].excluded[key] = set(saved[path][0][key])
        futile = futile - again
        _rewrite_all(by_path, touched, maps)
        if not futile or any(
            _place(d, maps) not in left for d in _check(files, checker, known, maps)
        ):
            for path, (excluded, text, added) in saved.items():
                target = by_path[path]
                target.excluded, target.text, target.added = excluded, text, added
                maps.pop(path, None)
            return 0
    for path, key in futile:
        target = by_path[path]
        for record in (target.blamed_by, target.blamed_via, target.blamed_for):
            record.pop(key, None)
    return len(futile)


class _Located:
    """The files' ``Places``, each computed again only once its text changed: a round
    rewrites a few files, and reading where the annotations are costs a parse."""

    def __init__(self) -> None:
        self.known: Dict[str, Tuple[str, FrozenSet[SlotKey], Places]] = {}

    def __call__(self, files: Sequence[VerifyFile]) -> Dict[str, Places]:
        out: Dict[str, Places] = {}
        for f in files:
            if not f.added:
                continue
            keys = frozenset(f.labels)
            known = self.known.get(f.path)
            if known is None or known[0] != f.text or known[1] != keys:
                known = (f.text, keys, Places(f.text, set(keys)))
                self.known[f.path] = known
            out[f.path] = known[2]
        return out


def _rewrite_all(
    by_path: Dict[str, VerifyFile], paths: Set[str], maps: Dict[str, Dict[int, Optional[int]]]
) -> None:
    for path in paths:
        _rewrite(by_path[path])
        maps.pop(path, None)


def _rewrite(target: VerifyFile) -> None:
    """Write the file again from its original text, its guesses less what was excluded."""
    guesses = [
        replace(g, excluded=frozenset(target.excluded[g.slot.key]))
        if g.slot.key in target.excluded
        else g
        for g in target.guesses
    ]
    result = write(target.original, guesses, target.options, filename=target.path)
    target.text = result.source
    target.added = result.added


Place = Tuple[str, Optional[int], str]  # an error's file, line in the original and code


def _place(d: Diagnostic, maps: Dict[str, Dict[int, Optional[int]]]) -> Place:
    """Where an error is, in the original's lines (its message may change with a guess)."""
    line_map = maps.get(d.path)
    return (d.path, line_map.get(d.line) if line_map is not None else d.line, d.code)


def _key(d: Diagnostic, line: Optional[int]) -> Tuple[str, Optional[int], str, str]:
    return (d.path, line, d.code, d.message)


def _new_errors(
    found: Sequence[Diagnostic],
    known: Counter[Tuple[str, Optional[int], str, str]],
    maps: Dict[str, Dict[int, Optional[int]]],
) -> List[Diagnostic]:
    """The errors of ``found`` the baseline does not have: first matched on their line
    (mapped back), then the rest on their file, code and message alone (a line the map
    could not place)."""
    left = Counter(known)
    unmatched: List[Diagnostic] = []
    for d in found:
        line_map = maps.get(d.path)
        line = line_map.get(d.line) if line_map is not None else d.line
        key = _key(d, line)
        if line is not None and left[key] > 0:
            left[key] -= 1
        else:
            unmatched.append(d)
    anywhere = Counter({(p, c, m): n for (p, _, c, m), n in left.items() if n > 0})
    new: List[Diagnostic] = []
    for d in unmatched:
        if anywhere[(d.path, d.code, d.message)] > 0:
            anywhere[(d.path, d.code, d.message)] -= 1
        else:
            new.append(d)
    return new


def _line_map(old: str, new: str) -> Dict[int, Optional[int]]:
    """1-based line of ``new`` -> the same line in ``old`` (None for added lines)."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    mapping: Dict[int, Optional[int]] = {}
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        # Annotations change lines without adding any; imports add lines before the code:
        # in a changed block, the last lines match the old block's, line for line.
        extra = (j2 - j1) - (i2 - i1) if tag == "replace" else 0
        for offset in range(j2 - j1):
            if tag == "equal":
                mapping[j1 + offset + 1] = i1 + offset + 1
            elif tag == "replace" and extra >= 0 and offset >= extra:
                mapping[j1 + offset + 1] = i1 + offset - extra + 1
            else:
                mapping[j1 + offset + 1] = None
    return mapping
