"""Decide which predictions to write, and where each goes.

A prediction is written only when its slot has no annotation, is of a requested kind, its
top guess clears the threshold and is not ``Any``, its place can carry an annotation
without changing what the code means, and every name of the label can be spelled so that
it resolves (``localtypes.edit.spelling``). Everything else is rejected with a reason.

The cheap checks (``localtypes.edit.checks``) come first: a guess the module's own
evidence rules out (its default, its base class, its body, its callers) is set aside, and
the next guess is taken if its share of the confidence left clears the threshold (the
model's probabilities, conditioned on the guesses ruled out being wrong).
"""

from __future__ import annotations

import ast
import re
from typing import Dict, List, Optional, Sequence, Tuple

from localtypes.analysis.slots import Slot, SlotKind
from localtypes.edit.checks import ModuleChecks
from localtypes.edit.plan import (
    EXCLUDE_ALL,
    Choice,
    Context,
    ImportSpec,
    Plan,
    Reason,
    Rejection,
    Skip,
    SlotGuess,
    Target,
    WriteOptions,
)
from localtypes.edit.spelling import Speller
from localtypes.edit.stdtypes import BUILTIN_GENERICS, TYPING_NAMES
from localtypes.labels import ANY
from localtypes.module import CLASS, FUNCTION, MODULE, ModuleIndex, Scope

_TYPE_COMMENT = re.compile(r"#\s*type:(?!\s*ignore\b)")
# Calls whose result is a type, not a value: annotating their target would change its meaning.
_TYPE_FACTORIES = frozenset(
    {"TypeVar", "ParamSpec", "TypeVarTuple", "NewType", "NamedTuple", "namedtuple",
     "TypedDict", "Enum", "IntEnum", "Flag", "IntFlag", "StrEnum", "TypeAliasType"}
)  # fmt: skip


def choose(candidates: Sequence[SlotGuess], index: ModuleIndex, options: WriteOptions) -> Plan:
    """Pick and spell the annotations to write for ``candidates`` of the module ``index``."""
    planned: Dict[str, str] = {}  # local name -> origin, for imports this plan adds
    choices: List[Choice] = []
    rejected: List[Rejection] = []
    imports: List[ImportSpec] = []
    checks = ModuleChecks(index) if options.checks else None
    for candidate in candidates:
        slot = candidate.slot
        if slot.annotation is not None or slot.kind not in options.kinds:
            continue
        try:
            if checks is not None or candidate.excluded:
                candidate = checked(candidate, checks, options.min_confidence)
            choice = _choose_one(candidate, index, options, planned)
        except Skip as skip:
            rejected.append(
                Rejection(slot, skip.reason, candidate.label, candidate.confidence, skip.detail)
            )
            continue
        if checks is not None:
            checks.record(slot, choice.label)
        for spec in choice.imports:
            if spec not in imports:
                imports.append(spec)
            planned[spec.local] = spec.origin
        choices.append(choice)
    return Plan(tuple(choices), tuple(imports), tuple(rejected))


MIN_LEFT = 0.25


def checked(candidate: SlotGuess, checks: Optional[ModuleChecks], threshold: float) -> SlotGuess:
    """The first guess the cheap checks (and the checker's exclusions) let through, its
    confidence renormalised over what they left; raises ``Skip`` when they rule out every
    guess that could clear ``threshold``.

    ``X`` becomes ``X | None`` for a parameter whose default is None (the two merged).
    """
    slot = candidate.slot
    if candidate.label is None:
        return candidate
    if EXCLUDE_ALL in candidate.excluded:
        raise Skip(Reason.CHECKER, "every guess adds a checker error")
    ranked: Dict[str, float] = {}
    for label, confidence in ((candidate.label, candidate.confidence), *candidate.alternatives):
        adjusted = checks.adjust(slot, label) if checks is not None and label != ANY else label
        ranked[adjusted] = ranked.get(adjusted, 0.0) + confidence
    ruled_out = 0.0
    first_verdict = None
    for label, confidence in sorted(ranked.items(), key=lambda item: -item[1]):
        # The model's tail is not calibrated: however sure it was of what was ruled out,
        # what is left counts as at least a quarter (a fallback needs 0.175 at 0.7).
        share = confidence / max(1.0 - ruled_out, MIN_LEFT)
        if share < threshold:
            break
        if label in candidate.excluded:
            verdict: Optional[Tuple[Reason, str]] = (Reason.CHECKER, "adds a checker error")
        elif checks is not None and label != ANY:
            verdict = checks.rule_out(slot, label)
        else:
            verdict = None
        if verdict is None:
            return SlotGuess(slot, label, min(share, 1.0))
        first_verdict = first_verdict or verdict
        ruled_out += confidence
    if first_verdict is not None:
        raise Skip(*first_verdict)
    top, confidence = max(ranked.items(), key=lambda item: item[1])
    return SlotGuess(slot, top, confidence)


def _choose_one(
    candidate: SlotGuess, index: ModuleIndex, options: WriteOptions, planned: Dict[str, str]
) -> Choice:
    label = candidate.label
    if label is None:
        raise Skip(Reason.NO_PREDICTION)
    if label == ANY:
        raise Skip(Reason.ANY)
    if candidate.confidence < options.min_confidence:
        raise Skip(Reason.BELOW_THRESHOLD, f"{candidate.confidence:.3f}")
    target, context = _locate(candidate.slot, index)
    renderer = Speller(index, options, planned, context)
    text = renderer.render(label)
    return Choice(
        slot=candidate.slot,
        label=label,
        confidence=candidate.confidence,
        text=text,
        target=target,
        imports=tuple(renderer.imports),
        names=tuple(dict.fromkeys(renderer.heads)),
    )


def spell_guesses(
    slot: Slot,
    labels: Sequence[str],
    index: ModuleIndex,
    options: WriteOptions,
    *,
    checks: Optional[ModuleChecks] = None,
    new_imports: bool = False,
    limit: Optional[int] = None,
) -> List[Tuple[str, str]]:
    """Those of ``labels`` the writer could write at ``slot`` of the module ``index``, in
    their order, each with its text there (as ``annotate`` would write it: ``Path`` for
    ``pathlib.Path`` where the module imports ``Path``, quoted where a name is bound later):
    the slot can carry an annotation, the label is not ``Any``, and every name in it
    resolves where the annotation is evaluated (with ``checks``, the module's, to a type:
    not to a variable, function or module). A label that needs an import the module lacks
    is kept only with ``new_imports``. For clients that offer the ranked guesses
    themselves (the Type4Py API's ``fp=1``); the threshold and the cheap checks do not
    apply. Labels spelled alike are given once; at most ``limit``, the first."""
    try:
        _, context = _locate(slot, index)
    except Skip:
        return []
    kept: Dict[str, str] = {}  # text -> label
    for label in labels:
        if label == ANY or (checks is not None and checks.not_a_type(label)):
            continue
        speller = Speller(index, options, {}, context)
        try:
            text = speller.render(label)
        except Skip:
            continue
        if (new_imports or not speller.imports) and text not in kept:
            kept[text] = label
            if len(kept) == limit:
                break
    return [(label, text) for text, label in kept.items()]


# --- where the slot is and when its annotation runs ----------------------------------------


def _locate(slot: Slot, index: ModuleIndex) -> Tuple[Target, Context]:
    """Find the slot in the index by its position, and check its key agrees."""
    position = (slot.line, slot.column)
    future = index.future_annotations
    if slot.kind in (SlotKind.PARAM, SlotKind.RETURN):
        if slot.kind is SlotKind.PARAM:
            found = index.args.get(position)
            if found is None or found[1].arg != slot.name:
                raise Skip(Reason.NOT_FOUND, "no parameter at the slot's position")
            function = found[0]
        else:
            located = index.function_scopes.get(position)
            if located is None:
                raise Skip(Reason.NOT_FOUND, "no function at the slot's position")
            function = located
        if function.key.qualname != slot.scope or function.key.occurrence != slot.occurrence:
            raise Skip(Reason.NOT_FOUND, f"slot key disagrees with {function.key}")
        node = function.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        first_body_line = node.body[0].lineno
        if _has_type_comment(index, node.lineno, first_body_line - 1):
            raise Skip(Reason.TYPE_COMMENT)
        outer = function.parent
        assert outer is not None
        if slot.kind is SlotKind.RETURN and node.name == "__getattr__" and outer.key.kind == MODULE:
            raise Skip(Reason.MODULE_GETATTR)
        mode = "never" if future else ("import" if outer.runs_at_import() else "deferred")
        context = Context(node.lineno, mode, list(outer.lookup_chain()), outer.key.kind == CLASS)
        return Target(slot.kind, function.key, slot.name), context
    assigned = index.assigns.get(position)
    if assigned is None:
        raise Skip(Reason.NOT_FOUND, "no plain assignment at the slot's position")
    scope, statement, ordinal = assigned
    if (scope.key.qualname, scope.key.occurrence) != (slot.scope, slot.occurrence):
        raise Skip(Reason.NOT_FOUND, f"slot key disagrees with {scope.key}")
    _check_variable(slot, scope, statement, index)
    if future or scope.key.kind == FUNCTION:
        mode = "never"
    else:
        mode = "import" if scope.runs_at_import() else "deferred"
    context = Context(statement.lineno, mode, list(scope.lookup_chain()), scope.key.kind == CLASS)
    return Target(SlotKind.VARIABLE, scope.key, slot.name, ordinal), context


def _has_type_comment(index: ModuleIndex, first: int, last: int) -> bool:
    lines = index.lines[max(first - 1, 0) : max(last, first)]
    return any(_TYPE_COMMENT.search(line) for line in lines)


def _check_variable(slot: Slot, scope: Scope, statement: ast.Assign, index: ModuleIndex) -> None:
    name = slot.name
    if name.startswith("__") and name.endswith("__"):
        raise Skip(Reason.DUNDER)
    if name in index.annotated_names(scope):
        raise Skip(Reason.NOT_FOUND, "the name is annotated elsewhere in its scope")
    if _has_type_comment(index, statement.lineno, statement.end_lineno or statement.lineno):
        raise Skip(Reason.TYPE_COMMENT)
    if scope.key.kind == CLASS:
        node = scope.node
        assert isinstance(node, ast.ClassDef)
        plain_bases = all(isinstance(b, ast.Name) and b.id == "object" for b in node.bases)
        # In a dataclass, NamedTuple, Enum, ORM model... an annotation makes a field.
        if node.decorator_list or node.keywords or not plain_bases:
            raise Skip(Reason.CLASS_ATTRIBUTE)
    if scope.key.kind != FUNCTION and _is_type_expression(statement.value):
        raise Skip(Reason.TYPE_ALIAS)


def _is_type_expression(value: ast.expr) -> bool:
    """A value that defines a type (an alias, a TypeVar...): annotating it changes its role."""
    if isinstance(value, ast.Call):
        callee = value.func
        name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        return name in _TYPE_FACTORIES
    if isinstance(value, ast.Subscript):
        head = value.value
        name = head.attr if isinstance(head, ast.Attribute) else getattr(head, "id", "")
        return name in TYPING_NAMES or name in BUILTIN_GENERICS
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr):
        return all(
            isinstance(side, (ast.Name, ast.Attribute, ast.Subscript, ast.BinOp, ast.Constant))
            for side in (value.left, value.right)
        )
    return False
