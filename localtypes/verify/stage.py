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

import ast
import difflib
import re
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from localtypes.analysis.slots import SlotKey, SlotKind
from localtypes.edit.plan import EXCLUDE_ALL, Added, SlotGuess, WriteOptions
from localtypes.edit.rounds import write
from localtypes.module import CLASS, ModuleIndex
from localtypes.syntax import parameters, parse_source
from localtypes.verify.checker import Checker, Diagnostic

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
        places = {f.path: _Places(f) for f in files if f.added}
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


@dataclass
class _Function:
    first: int
    last: int
    keys: FrozenSet[SlotKey]
    returns: Optional[SlotKey]
    params: Tuple[str, ...]  # positional parameters, without self/cls


class _Places:
    """Where a file's annotations are in its current text, by line and by function."""

    def __init__(self, target: VerifyFile) -> None:
        keys = set(target.labels)
        self.on_line: Dict[int, Set[SlotKey]] = {}
        self.functions: List[_Function] = []
        self.by_name: Dict[str, List[_Function]] = {}
        self.calls: Dict[int, Set[str]] = {}
        self.names: Dict[int, Set[str]] = {}  # line -> names used on it
        # line of ``self.x = ...`` -> the annotations of the method that first sets self.x
        # (mypy takes the attribute's type from there once that method is annotated)
        self.initialised: Dict[int, FrozenSet[SlotKey]] = {}
        self.reads: Dict[int, FrozenSet[SlotKey]] = {}  # the same for lines reading self.x
        try:
            tree = parse_source(target.text)
        except Exception:  # the writer's output parses; be safe anyway
            return
        index = ModuleIndex(tree, target.text)
        for scope in index.scopes.values():
            node = scope.node
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            qualname, occurrence = scope.key.qualname, scope.key.occurrence
            mine: Set[SlotKey] = set()
            positional: List[str] = []
            method = scope.parent is not None and scope.parent.key.kind == CLASS
            for position, parameter in enumerate(parameters(node.args)):
                arg = parameter.arg
                if parameter.kind in ("posonly", "positional") and not (method and position == 0):
                    positional.append(arg.arg)
                key: SlotKey = (SlotKind.PARAM, qualname, occurrence, arg.arg)
                if key in keys and arg.annotation is not None:
                    mine.add(key)
                    self._mark(arg.annotation, key)
            returns: Optional[SlotKey] = (SlotKind.RETURN, qualname, occurrence, "return")
            if returns in keys and node.returns is not None:
                mine.add(returns)
                self._mark(node.returns, returns)
            else:
                returns = None
            function = _Function(
                node.lineno, node.end_lineno or node.lineno, frozenset(mine), returns,
                tuple(positional),
            )  # fmt: skip
            self.functions.append(function)
            name = qualname.rsplit(".", 1)[-1]
            self.by_name.setdefault(name, []).append(function)
            if name == "__init__" and "." in qualname:
                self.by_name.setdefault(qualname.rsplit(".", 2)[-2], []).append(function)
            self.by_name.setdefault(qualname, []).append(function)
        for stmt in ast.walk(tree):
            if isinstance(stmt, ast.Name):
                self.names.setdefault(stmt.lineno, set()).add(stmt.id)
            called = _called(stmt)
            if called and isinstance(stmt, (ast.expr, ast.stmt)):
                for line in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1):
                    self.calls.setdefault(line, set()).update(called)
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                for key in keys:
                    if key[0] is SlotKind.VARIABLE and key[3] == stmt.target.id:
                        self._mark(stmt.annotation, key)
        self.functions.sort(key=lambda f: f.last - f.first)
        self._attributes(index, keys)

    def _attributes(self, index: ModuleIndex, keys: Set[SlotKey]) -> None:
        """``initialised`` and ``reads``: for the lines that set or read ``self.x``, the
        annotations of the method (of the class or a base in the module) that sets it first."""
        first: Dict[str, Dict[str, FrozenSet[SlotKey]]] = {}  # class -> attr -> keys
        uses: List[Tuple[str, int, str, bool]] = []  # (class, line, attr, is a store)
        bases: Dict[str, List[str]] = {}
        declared: Set[str] = set()  # attributes a class declares with an annotation
        for cls in index.scopes.values():
            if cls.key.kind != CLASS:
                continue
            node = cls.node
            assert isinstance(node, ast.ClassDef)
            name = cls.key.qualname
            bases[name] = [b.id for b in node.bases if isinstance(b, ast.Name)]
            mine_first = first.setdefault(name, {})
            for method in index.scopes.values():
                if method.parent is not cls or not isinstance(
                    method.node, (ast.FunctionDef, ast.AsyncFunctionDef)
                ):
                    continue
                qualname, occurrence = method.key.qualname, method.key.occurrence
                mine = frozenset(k for k in keys if k[1] == qualname and k[2] == occurrence)
                for stmt in method.statements:
                    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        continue
                    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Attribute):
                        declared.add(stmt.target.attr)  # ``self.x: T = ...``
                    for item in ast.walk(stmt):
                        if (
                            isinstance(item, ast.Attribute)
                            and isinstance(item.value, ast.Name)
                            and item.value.id == "self"
                        ):
                            store = isinstance(item.ctx, ast.Store)
                            if store:
                                mine_first.setdefault(item.attr, mine)
                            uses.append((name, item.lineno, item.attr, store))
            declared.update(  # ``x: T`` in the class body
                stmt.target.id
                for stmt in node.body
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            )

        def owner(cls: str, attr: str, seen: Set[str]) -> FrozenSet[SlotKey]:
            # a base that sets it declares it (mypy reads the MRO from the base up)
            for base in bases.get(cls, []):
                if base not in seen:
                    seen.add(base)
                    found = owner(base, attr, seen)
                    if found:
                        return found
            return first.get(cls, {}).get(attr, frozenset())

        for cls_name, line, attr, store in uses:
            if attr in declared:
                continue  # its type is declared: no initialiser decides it
            keys_of = owner(cls_name, attr, {cls_name})
            if keys_of:
                target = self.initialised if store else self.reads
                target[line] = target.get(line, frozenset()) | keys_of

    def _mark(self, node: ast.expr, key: SlotKey) -> None:
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
            self.on_line.setdefault(line, set()).add(key)

    def enclosing(self, line: int) -> Optional[_Function]:
        for function in self.functions:  # smallest first
            if function.first <= line <= function.last:
                return function
        return None


Blame = Set[Tuple[str, SlotKey]]


def _implicated(error: Diagnostic, places: Dict[str, _Places]) -> Tuple[List[Blame], bool]:
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


_OPERATORS = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv", ast.FloorDiv: "floordiv",
    ast.Mod: "mod", ast.Pow: "pow", ast.MatMult: "matmul", ast.BitAnd: "and", ast.BitOr: "or",
    ast.BitXor: "xor", ast.LShift: "lshift", ast.RShift: "rshift",
}  # fmt: skip
_COMPARISONS = {
    ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge",
    ast.In: "contains", ast.NotIn: "contains",
}  # fmt: skip


def _called(node: ast.AST) -> Set[str]:
    """The names of what a node calls: a function or method, or an operator's methods."""
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return {str(name)} if name else set()
    if isinstance(node, (ast.BinOp, ast.AugAssign)):
        op = _OPERATORS.get(type(node.op), "")
        names = {f"__{op}__", f"__r{op}__"}
        return names | {f"__i{op}__"} if isinstance(node, ast.AugAssign) else names
    if isinstance(node, ast.Compare):
        return {f"__{_COMPARISONS.get(type(op), 'eq')}__" for op in node.ops}
    if isinstance(node, ast.Subscript):
        return {"__getitem__", "__setitem__"}
    if isinstance(node, ast.UnaryOp):
        return {"__neg__", "__pos__", "__invert__", "__bool__"}
    return set()


def _calls_on_line(error: Diagnostic) -> Set[str]:
    """The names called on an error's line of a file the stage did not annotate."""
    try:
        with open(error.path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        text = lines[error.line - 1].strip()
    except (OSError, UnicodeDecodeError, IndexError):
        return set()
    return set(re.findall(r"(\w+)\s*\(", text))
