"""The verify stage: the checker's errors that the annotations cause, and what to do about them.

1. The baseline: mypy over the project as it is (``Checker.check(..., "baseline")``).
2. A round: mypy over the annotated texts; an error counts when the baseline has no error
   with the same code and message on the same line (lines mapped back to the original,
   since added imports shift them).
3. Each such error has suspects (``_implicated``), most specific first: the annotations
   on its line, the callee's parameter it names (``Argument 2 to "f"``), the base's
   method a Liskov error names; for ``Incompatible return value``, the function's
   return; then the returns of what its line calls (operators included), the enclosing
   function's parameters the line uses, and last all of that function's annotations.
   Errors a function gets only for being annotated (``Need type annotation``) blame its
   annotations, or those of the method that sets the ``self.x`` they are about.
4. A round blames, for each error, the most specific group no earlier round blamed:
   their labels are excluded and the file is written again from the same guesses
   (``choose`` takes the next guess whose share of what is left clears the threshold,
   after the cheap checks). When every group was blamed, or from ``DROP_FROM_ROUND`` on,
   the blamed annotations are dropped. Rounds repeat until no new error is left, or
   ``MAX_ROUNDS``.

The writer's safety checks run on every text this stage produces (``write`` runs them).
"""

from __future__ import annotations

import difflib
import re
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from localtypes.analysis.slots import SlotKey, SlotKind
from localtypes.edit.plan import EXCLUDE_ALL, Added, SlotGuess, WriteOptions
from localtypes.edit.rounds import write
from localtypes.verify.checker import Checker, Diagnostic
from localtypes.verify.places import Places

# Checker runs after the baseline, at most.
MAX_ROUNDS = 5
# From this round on an implicated annotation is dropped rather than replaced.
DROP_FROM_ROUND = 4
# Errors an annotated function gets only because it is annotated (mypy then asks for the
# types of its empty collections): no other guess helps, the function's annotations go.
_TYPEDNESS = frozenset({"var-annotated", "empty-body", "has-type"})
_RETURN_MESSAGES = ("Incompatible return value", "Missing return statement", "Return value")
_CALLEE = re.compile(r'Argument (?:(\d+)|"(\w+)") to "(\w+)"(?: of "(\w+)")?')
_SUPERTYPE = re.compile(r'of "(\w+)" .*supertype "([\w.]+)"')
_SUPERTYPE_RETURN = re.compile(r'Return type .* of "(\w+)" incompatible .* supertype "([\w.]+)"')


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

    @property
    def labels(self) -> Dict[SlotKey, str]:
        return {item.slot.key: item.label for item in self.added}


@dataclass
class VerifyStats:
    """What the stage did, for the summary."""

    replaced: int = 0  # annotations whose label the checker changed
    dropped: int = 0  # annotations the checker removed
    remaining: int = 0  # new errors left when the rounds ran out (not attributed)
    baseline_errors: int = 0
    rounds: int = 0
    seconds: float = 0.0


def verify(files: Sequence[VerifyFile], checker: Checker) -> VerifyStats:
    """Run the stage over ``files`` (changed in place: ``text`` and ``added``)."""
    started = time.perf_counter()
    stats = VerifyStats()
    by_path = {f.path: f for f in files}
    initial = {f.path: f.labels for f in files}
    baseline = checker.check({f.path: f.encode(f.original) for f in files}, "baseline")
    stats.baseline_errors = len(baseline)
    known = Counter(_key(d, d.line) for d in baseline)
    maps: Dict[str, Dict[int, Optional[int]]] = {}
    suspected: Set[Tuple[str, SlotKey]] = set()  # blamed in an earlier round
    for round_number in range(1, MAX_ROUNDS + 1):
        stats.rounds = round_number
        texts = {f.path: f.encode(f.text) for f in files if f.text != f.original}
        found = checker.check(texts, "annotated")
        for f in files:
            if f.path not in maps:
                maps[f.path] = _line_map(f.original, f.text)
        new = _new_errors(found, known, maps)
        if not new:
            stats.remaining = 0
            break
        stats.remaining = len(new)
        if round_number == MAX_ROUNDS:
            break
        drop = round_number >= DROP_FROM_ROUND
        changed: Set[str] = set()
        places = {f.path: Places(f.text, set(f.labels)) for f in files if f.added}
        earlier = set(suspected)
        for error in new:
            groups, typedness = _implicated(error, places)
            # the most specific suspects no earlier round blamed; when all were, all of them
            fresh = next((group for group in groups if group - earlier), None)
            blamed = fresh if fresh is not None else set().union(*groups)
            final = drop or typedness or fresh is None
            suspected.update(blamed)
            for path, key in blamed:
                target = by_path[path]
                label = target.labels.get(key)
                if label is None:
                    continue
                target.blamed_by.setdefault(key, error.code or "error")
                excluded = target.excluded.setdefault(key, set())
                before = set(excluded)
                excluded.add(EXCLUDE_ALL if final else label)
                if excluded != before:
                    changed.add(path)
        if not changed:
            break
        for path in changed:
            target = by_path[path]
            _rewrite(target)
            maps.pop(path, None)
    for f in files:
        was, now = initial[f.path], f.labels
        stats.dropped += sum(1 for key in was if key not in now)
        stats.replaced += sum(1 for key, label in was.items() if key in now and now[key] != label)
    stats.seconds = time.perf_counter() - started
    return stats


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


Blame = Set[Tuple[str, SlotKey]]


def _implicated(error: Diagnostic, places: Dict[str, Places]) -> Tuple[List[Blame], bool]:
    """The annotations (path, slot key) an error may be due to, as groups from the most
    specific suspects to the least, and whether it is an error of typedness (then only
    dropping the one group, the function's annotations, helps)."""
    here = places.get(error.path)
    typedness = error.code in _TYPEDNESS
    function = here.enclosing(error.line) if here is not None else None
    direct: Blame = set()
    if here is not None and not typedness:
        direct.update((error.path, key) for key in here.on_line.get(error.line, ()))
    # a callee's parameter: ``Argument 2 to "f" of "C"``, ``Argument "days" to "Duration"``
    match = _CALLEE.search(error.message)
    if match:
        number, keyword, callee, owner = match.groups()
        qualified = f"{owner}.{callee}" if owner else callee
        for path, place in places.items():
            for target in place.by_name.get(qualified, []) or place.by_name.get(callee, []):
                for key in target.keys:
                    if key[0] is not SlotKind.PARAM:
                        continue
                    if keyword is not None and key[3] != keyword:
                        continue
                    if number is not None:
                        position = int(number) - 1
                        if position < len(target.params) and target.params[position] != key[3]:
                            continue
                    direct.add((path, key))
    # a base class's method: ``... of "m" incompatible with supertype "Base"``
    match = _SUPERTYPE.search(error.message) or _SUPERTYPE_RETURN.search(error.message)
    if match:
        method, base = match.groups()
        qualified = f"{base.rsplit('.', 1)[-1]}.{method}"
        for path, place in places.items():
            for target in place.by_name.get(qualified, []):
                direct.update((path, key) for key in target.keys)
    if direct and not typedness:
        return [direct], False
    if here is not None and error.code == "assignment" and error.line in here.initialised:
        # ``self.x = v`` against the type the annotated initialiser gave ``self.x``
        return [{(error.path, key) for key in here.initialised[error.line]}], True
    if here is not None and '"None"' in error.message and error.line in here.reads:
        # ``self.x`` read as the None an annotated initialiser set it to first
        return [{(error.path, key) for key in here.reads[error.line]}], True
    groups: List[Blame] = []
    if function is not None and here is not None:
        if typedness:
            return [{(error.path, key) for key in function.keys}], True
        if error.message.startswith(_RETURN_MESSAGES) and function.returns is not None:
            groups.append({(error.path, function.returns)})
    # functions called on the line: their returns
    called = here.calls.get(error.line, set()) if here is not None else set()
    if not called:
        called = _calls_on_line(error)
    returns: Blame = set()
    for name in called:
        for path, place in places.items():
            for target in place.by_name.get(name, []):
                if target.returns is not None:
                    returns.add((path, target.returns))
    groups.append(returns)
    if function is not None and here is not None:
        # the function's parameters the line uses, then all its annotations
        used = here.names.get(error.line, set())
        groups.append(
            {
                (error.path, key)
                for key in function.keys
                if key[0] is SlotKind.PARAM and key[3] in used
            }
        )
        groups.append({(error.path, key) for key in function.keys})
    return [group for group in groups if group], False


def _calls_on_line(error: Diagnostic) -> Set[str]:
    """The names called on an error's line of a file the stage did not annotate."""
    try:
        with open(error.path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        text = lines[error.line - 1].strip()
    except (OSError, UnicodeDecodeError, IndexError):
        return set()
    return set(re.findall(r"(\w+)\s*\(", text))
