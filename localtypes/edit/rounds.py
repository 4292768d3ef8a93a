"""The writer: top guesses in, a safely edited source out (choose, apply, then the checks)."""

from __future__ import annotations

import ast
import dataclasses
from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import (
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
)

from localtypes.analysis.slots import Slot, SlotKey, SlotKind
from localtypes.edit.choose import choose
from localtypes.edit.companions import companions
from localtypes.edit.plan import (
    Added,
    Choice,
    Edit,
    ImportSpec,
    Reason,
    Rejection,
    SlotGuess,
    Target,
    WriteOptions,
)
from localtypes.edit.safety import UnsafeEditError, check_edit
from localtypes.edit.splice import Applied
from localtypes.edit.splice import apply_annotations as _apply
from localtypes.errors import LocaltypesError, SourceError
from localtypes.module import FUNCTION, ModuleIndex, ScopeKey
from localtypes.syntax import parameters, parse_source

# Adding imports changes what the model sees of the module, so a second pass over the output
# could pick more slots; the writer repeats until nothing changes (idempotence), at most this.
MAX_ROUNDS = 3


_T = TypeVar("_T")


@dataclass(frozen=True)
class WriteResult:
    """The new source and what happened to each candidate slot."""

    source: str
    added: Tuple[Added, ...]
    skipped: Tuple[Rejection, ...]

    @property
    def changed(self) -> bool:
        return bool(self.added)


def apply_annotations(source: str, edits: Mapping[Target, Edit], index: ModuleIndex) -> Applied:
    """``localtypes.edit.splice.apply_annotations`` (the seam tests use to break the writer)."""
    return _apply(source, edits, index)


def write(
    source: str,
    candidates: Sequence[SlotGuess],
    options: WriteOptions,
    filename: str = "<unknown>",
) -> WriteResult:
    """Write the chosen annotations among ``candidates`` (slots of ``source``) into ``source``."""
    return write_rounds(source, lambda _index: candidates, options, filename, max_rounds=1)


def write_rounds(
    source: str,
    guess: Callable[[ModuleIndex], Sequence[SlotGuess]],
    options: WriteOptions,
    filename: str = "<unknown>",
    max_rounds: int = MAX_ROUNDS,
    tree: Optional[ast.Module] = None,
) -> WriteResult:
    """Annotate ``source`` with the guesses ``guess`` makes, until a pass adds nothing.

    ``guess`` gets each pass's module index (to read, not to change). ``tree``: the
    source's syntax tree, when the caller parsed it already (it is not changed).
    """
    original = tree if tree is not None else parse_source(source)
    current = source
    tree = original
    first: Dict[SlotKey, Slot] = {}
    added: List[Added] = []
    skipped: Tuple[Rejection, ...] = ()
    written: Dict[Target, str] = {}
    imports: List[ImportSpec] = []
    names: Set[str] = set()
    for round_number in range(max_rounds):
        if round_number > 0:
            tree = parse_source(current)
        # Stubs are never run: their annotations are written as in typeshed.
        index = ModuleIndex(tree, current, stub=filename.endswith(".pyi"))
        candidates = guess(index)
        if round_number == 0:
            keys = Counter(c.slot.key for c in candidates)
            # Keys the extractor gives twice (a class defined twice) cannot be mapped back.
            first = {c.slot.key: c.slot for c in candidates if keys[c.slot.key] == 1}
        plan = choose(candidates, index, options)
        skipped = tuple(
            dataclasses.replace(item, slot=_original(item.slot, first, round_number))
            for item in plan.rejected
        )
        if not plan.choices:
            break
        edits = {choice.target: Edit(choice.text, choice.imports) for choice in plan.choices}
        extra: Dict[Target, Slot] = {}
        if options.checks:
            for companion in companions(index, _first_annotated(plan.choices, index)):
                scope = companion.scope.key
                target = Target(SlotKind.VARIABLE, scope, companion.name, companion.ordinal)
                if target not in edits:
                    edits[target] = Edit(companion.label)
                    first_target = companion.statement.targets[0]
                    extra[target] = Slot(
                        SlotKind.VARIABLE, scope.qualname, scope.occurrence, companion.name,
                        first_target.lineno, first_target.col_offset, None, companion.label,
                    )  # fmt: skip
        applied = _guarded(partial(apply_annotations, current, edits, index))
        for target, slot in extra.items():
            if target in applied.written:
                label = edits[target].text
                added.append(Added(slot, label, label, 1.0, companion=True))
                written[target] = label
        for choice in plan.choices:
            slot = _original(choice.slot, first, round_number)
            if choice.target in applied.written:
                added.append(Added(slot, choice.label, choice.text, choice.confidence))
                written[choice.target] = choice.text
                names.update(choice.names)
            else:
                miss = Rejection(slot, Reason.NOT_FOUND, choice.label, choice.confidence)
                skipped = (*skipped, miss)
        imports.extend(spec for spec in applied.imports if spec not in imports)
        if applied.source == current:
            break
        current = applied.source
        if not _visible_to_model(applied.imports):
            break  # the model would see the same module: another pass would add nothing
    if current != source:
        _guarded(partial(check_edit, original, current, written, imports, names, filename))
    return WriteResult(current, tuple(added), skipped)


def _first_annotated(choices: Sequence[Choice], index: ModuleIndex) -> Set[ScopeKey]:
    """The functions that get their first annotation from ``choices``."""
    found: Set[ScopeKey] = set()
    for choice in choices:
        key = choice.target.scope
        if choice.target.kind is SlotKind.VARIABLE or key.kind != FUNCTION or key in found:
            continue
        scope = index.scopes.get(key)
        node = scope.node if scope is not None else None
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if node.returns is None and all(p.arg.annotation is None for p in parameters(node.args)):
            found.add(key)
    return found


def _visible_to_model(imports: Sequence[ImportSpec]) -> bool:
    """Whether an edit can change what the model predicts for the other slots.

    The extractor never reads annotations (``tests/analysis/test_extract.py`` holds it to that on
    real annotated modules), nor typing imports (neither module features nor pointer
    candidates); other imports are visible.
    """
    return any(spec.module != "typing" for spec in imports)


def _original(slot: Slot, first: Dict[SlotKey, Slot], round_number: int) -> Slot:
    """The slot as found in the source given (later passes see shifted line numbers)."""
    return first.get(slot.key, slot) if round_number else slot


def _guarded(step: Callable[[], _T]) -> _T:
    """Run a writer step; an unexpected exception is a writer bug, reported, never a crash."""
    try:
        return step()
    except LocaltypesError:
        raise
    except RecursionError:
        raise SourceError("cannot rewrite: nested too deeply") from None
    except Exception as exc:  # a bug: the file must stay untouched and the run go on
        raise UnsafeEditError(f"internal error in the writer: {exc!r}") from exc
