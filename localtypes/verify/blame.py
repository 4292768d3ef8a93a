"""Which annotations a new checker error may be due to (the verify stage's suspects).

``implicated`` gives groups of suspects, from the most specific to the least, each named
by how the error leads to it (the evaluation counts what each path drops):

- ``line``: the annotations on the error's line; ``default``: for ``Incompatible default
  for parameter "x"``, only ``x``'s;
- ``callee``: the parameter of the callee an error names (``Argument 2 to "f" of "C"``),
  or the return of a callee that ``does not return a value``;
- ``supertype``: the base's method a Liskov error names;
- ``initialiser``/``initialiser-read``: the annotations of the method that first sets the
  ``self.x`` the error is about (mypy takes the attribute's type from there);
- ``typedness``: all of the function's, for errors it gets only for being annotated;
- ``return``: the function's return, for an incompatible return value;
- ``call-returns``: the returns of what the line calls whose type the message quotes;
- ``params-used``: the function's parameters the line uses, those whose type the message
  quotes first;
- ``function``: all of the function's annotations;
- ``call-returns-unnamed``: the returns of what the line calls whose type the message does
  not quote;
- ``outer-function``: the annotations of the functions around the error's function (its
  line may use a closure variable their annotations typed), the last resort.

A suspect the message quotes the type of produced the mismatch: an annotation whose type
the message does not name (``bool`` of ``__eq__`` for ``"str" has no attribute "x"``) is
blamed after those it does, or, for the returns of calls, last.
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, Optional, Set, Tuple

from localtypes.analysis.slots import SlotKey, SlotKind
from localtypes.verify.checker import Diagnostic
from localtypes.verify.places import Function, Places

Suspect = Tuple[str, SlotKey]  # (path, slot key)
Blame = Set[Suspect]
Group = Tuple[str, Blame]  # how the error leads to the annotations, and which

# Errors an annotated function gets only because it is annotated (mypy then asks for the
# types of its empty collections): no other guess helps, the function's annotations go.
TYPEDNESS = frozenset({"var-annotated", "empty-body", "has-type"})
_RETURN_MESSAGES = (
    "Incompatible return value",
    "Missing return statement",
    "Return value",
    "No return value expected",  # a return annotated None that returns a value
)
_CALLEE = re.compile(r'Argument (?:(\d+)|"(\w+)") to "(\w+)"(?: of "(\w+)")?')
_NO_VALUE = re.compile(r'^"(\w+)"(?: of "(\w+)")? does not return a value')
_DEFAULT = re.compile(r'^Incompatible default for (?:parameter|argument) "(\w+)"')
_SUPERTYPE = re.compile(r'of "(\w+)" .*supertype "([\w.]+)"')
_SUPERTYPE_RETURN = re.compile(r'Return type .* of "(\w+)" incompatible .* supertype "([\w.]+)"')
_QUOTED = re.compile(r'"([^"]*)"')
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
# heads that say nothing about which annotation produced a type
_VAGUE = frozenset({"None", "Any", "object", "Optional", "Union"})


def implicated(
    error: Diagnostic, places: Dict[str, Places], labels: Mapping[Suspect, str]
) -> Tuple[List[Group], bool]:
    """The annotations (path, slot key) an error may be due to, as groups from the most
    specific suspects to the least, and whether it is an error of typedness (then only
    dropping the one group helps). ``labels``: each annotation's label."""
    here = places.get(error.path)
    typedness = error.code in TYPEDNESS
    function = here.enclosing(error.line) if here is not None else None
    if not typedness:
        direct = _direct(error, places, here)
        if direct is not None:
            return [direct], False
    if here is not None and error.code == "assignment" and error.line in here.initialised:
        # ``self.x = v`` against the type the annotated initialiser gave ``self.x``
        return [("initialiser", {(error.path, key) for key in here.initialised[error.line]})], True
    if here is not None and '"None"' in error.message and error.line in here.reads:
        # ``self.x`` read as the None an annotated initialiser set it to first
        return [("initialiser-read", {(error.path, key) for key in here.reads[error.line]})], True
    groups: List[Group] = []
    if function is not None and here is not None:
        if typedness:
            return [("typedness", {(error.path, key) for key in function.keys})], True
        if error.message.startswith(_RETURN_MESSAGES) and function.returns is not None:
            groups.append(("return", {(error.path, function.returns)}))
    quoted = quoted_heads(error.message)
    returns = _returns_called(error, places)
    named_returns = {s for s in returns if _named(labels.get(s), quoted)}
    groups.append(("call-returns", named_returns))
    if function is not None and here is not None:
        used = _params_used(error, here, function)
        named = {s for s in used if _named(labels.get(s), quoted)}
        groups.append(("params-used", named))
        groups.append(("params-used", used - named))
        groups.append(("function", {(error.path, key) for key in function.keys}))
    # the last resort, so that no error is left with fewer suspects than before
    groups.append(("call-returns-unnamed", returns - named_returns))
    if here is not None:
        # a nested function's line may use what an enclosing function's annotations typed
        # (a closure variable built from its parameter): those come after everything else
        for outer in here.enclosing_all(error.line)[1:]:
            groups.append(("outer-function", {(error.path, key) for key in outer.keys}))
    return [(via, group) for via, group in groups if group], False


def _direct(
    error: Diagnostic, places: Dict[str, Places], here: Optional[Places]
) -> Optional[Group]:
    """The suspects an error names or sits on, if any: one group."""
    default = _DEFAULT.match(error.message)
    if default and here is not None:
        # the parameter the default contradicts, not its neighbours on the line
        named = {
            (error.path, key)
            for key in here.on_line.get(error.line, ())
            if key[0] is SlotKind.PARAM and key[3] == default.group(1)
        }
        if named:
            return ("default", named)
    line: Blame = set()
    if here is not None:
        line.update((error.path, key) for key in here.on_line.get(error.line, ()))
    parts = {
        "line": line,
        "callee": _callee_params(error, places) | _callee_returns(error, places),
        "supertype": _supertype_methods(error, places),
    }
    found: Blame = set().union(*parts.values())
    if not found:
        return None
    return ("+".join(name for name, part in parts.items() if part), found)


def _functions(
    places: Dict[str, Places], name: str, owner: Optional[str]
) -> List[Tuple[str, Function]]:
    """The functions a message names, with their paths: ``owner.name`` in any file when
    some file has it, else any function or method called ``name``."""
    if owner:
        qualified = [
            (path, target)
            for path, place in places.items()
            for target in place.by_name.get(f"{owner}.{name}", [])
        ]
        if qualified:
            return qualified
    return [
        (path, target) for path, place in places.items() for target in place.by_name.get(name, [])
    ]


def _callee_params(error: Diagnostic, places: Dict[str, Places]) -> Blame:
    """The callee's parameter an error names: ``Argument 2 to "f" of "C"``,
    ``Argument "days" to "Duration"``."""
    match = _CALLEE.search(error.message)
    found: Blame = set()
    if not match:
        return found
    number, keyword, callee, owner = match.groups()
    for path, target in _functions(places, callee, owner):
        for key in target.keys:
            if key[0] is not SlotKind.PARAM:
                continue
            if keyword is not None and key[3] != keyword:
                continue
            if number is not None:
                position = int(number) - 1
                if position < len(target.params) and target.params[position] != key[3]:
                    continue
            found.add((path, key))
    return found


def _callee_returns(error: Diagnostic, places: Dict[str, Places]) -> Blame:
    """``"f" of "C" does not return a value``: f's return (annotated ``None``)."""
    match = _NO_VALUE.match(error.message)
    if not match:
        return set()
    callee, owner = match.groups()
    return {
        (path, target.returns)
        for path, target in _functions(places, callee, owner)
        if target.returns is not None
    }


def _supertype_methods(error: Diagnostic, places: Dict[str, Places]) -> Blame:
    """A base class's method: ``... of "m" incompatible with supertype "Base"``."""
    match = _SUPERTYPE.search(error.message) or _SUPERTYPE_RETURN.search(error.message)
    found: Blame = set()
    if match:
        method, base = match.groups()
        qualified = f"{base.rsplit('.', 1)[-1]}.{method}"
        for path, place in places.items():
            for target in place.by_name.get(qualified, []):
                found.update((path, key) for key in target.keys)
    return found


def _returns_called(error: Diagnostic, places: Dict[str, Places]) -> Blame:
    """The returns of the functions called on the error's line (operators included);
    not ``__init__``'s: a call of a class gives an instance, whatever ``__init__`` says."""
    here = places.get(error.path)
    called = here.calls.get(error.line, set()) if here is not None else set()
    if not called:
        called = _calls_on_line(error)
    returns: Blame = set()
    for name in called - {"__init__"}:
        for path, place in places.items():
            for target in place.by_name.get(name, []):
                if (
                    target.returns is not None
                    and target.returns[1].rsplit(".", 1)[-1] != "__init__"
                ):
                    returns.add((path, target.returns))
    return returns


def _params_used(error: Diagnostic, here: Places, function: Function) -> Blame:
    used = here.names.get(error.line, set())
    return {
        (error.path, key) for key in function.keys if key[0] is SlotKind.PARAM and key[3] in used
    }


def heads(type_text: str) -> Set[str]:
    """The outermost type names of a type as written: ``a.B[int] | None`` -> {B, None}."""
    previous = None
    while previous != type_text:
        previous, type_text = type_text, _BRACKETS.sub("", type_text)
    names = (part.strip().rsplit(".", 1)[-1] for part in re.split(r"[|,]", type_text))
    return {name for name in names if name.isidentifier()}


def quoted_heads(message: str) -> Set[str]:
    """The type names a checker message quotes (and the other quoted names with them)."""
    found: Set[str] = set()
    for text in _QUOTED.findall(message):
        found |= heads(text)
    return found - _VAGUE


def _named(label: Optional[str], quoted: Set[str]) -> bool:
    """Whether a message quoting ``quoted`` names the type ``label``."""
    return label is not None and bool((heads(label) - _VAGUE) & quoted)


def _calls_on_line(error: Diagnostic) -> Set[str]:
    """The names called on an error's line of a file the stage did not annotate."""
    try:
        with open(error.path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        text = lines[error.line - 1].strip()
    except (OSError, UnicodeDecodeError, IndexError):
        return set()
    return set(re.findall(r"(\w+)\s*\(", text))
