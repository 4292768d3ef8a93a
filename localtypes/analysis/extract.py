"""Source -> slots with the context the model reads.

Built on the standard library's ``ast`` (several times faster than a concrete syntax
tree, which only the writer needs). Training and inference both call ``extract``, so the
model sees the same features in both. Features never look at the module's annotations:
code to be annotated has none, so a model that leaned on them would learn a shortcut.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections import defaultdict
from typing import DefaultDict, Dict, Iterable, Iterator, List, Optional, Set, Tuple, Union

from localtypes.analysis.slots import ExtractedModule, ModuleInfo, Slot, SlotKind
from localtypes.errors import SourceError
from localtypes.labels import LabelError, normalize_node
from localtypes.labels import dotted_name as dotted
from localtypes.syntax import parse as parse_ast

FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]

# Bump whenever a change alters any slot's features: a model is only valid for the
# features it was trained on, and the loader refuses a store made for another version.
FEATURES_VERSION = 4

_SPLIT = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_DOC_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_ANNOTATION_ONLY_MODULES = frozenset({"typing", "typing_extensions", "__future__", "collections"})
MAX_USAGES = 24  # usage features per parameter: enough to characterise, bounded for long bodies


def subtokens(name: str) -> List[str]:
    """``parseHTTPResponse_v2`` -> parse, http, response, v, 2."""
    return [part.lower() for part in _SPLIT.findall(name)]


def extract(source: str, tree: Optional[ast.Module] = None) -> ExtractedModule:
    """Parse ``source`` (unless its ``tree`` is given) and return its slots and visible names.

    Raises ``SourceError`` (with line and column) when the source is not valid Python.
    The tree is only read, so a caller that already parsed the source can share it.
    """
    if tree is None:
        tree = parse_source(source)
    info = _module_info(tree)
    try:
        slots = tuple(_Collector(info).collect(tree))
    except RecursionError:
        raise SourceError("cannot analyse: expressions nested too deeply") from None
    return ExtractedModule(slots=slots, info=info)


def parse_source(source: str) -> ast.Module:
    """``ast.parse`` with its errors turned into ``SourceError`` (with line and column)."""
    try:
        with warnings.catch_warnings():
            # Invalid escape sequences and the like are the user's business, not ours to print.
            warnings.simplefilter("ignore")
            return parse_ast(source)
    except SyntaxError as exc:
        raise SourceError(f"invalid syntax: {exc.msg}", exc.lineno, exc.offset) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        reason = str(exc) or "nested too deeply"  # RecursionError and MemoryError say nothing
        raise SourceError(f"cannot parse: {reason}") from None


# --- walking the tree ---------------------------------------------------------------------

# Fields that never hold a child worth visiting: identifiers, flags, and the shared
# context/operator singletons (``Load()``, ``Add()``), which no feature looks at. Skipping
# them, and iterating fields without ``ast.iter_child_nodes``'s generators, makes the walks
# below (every node of every function, twice) about twice as fast. (Not "name": a string
# almost everywhere, but a ``Name`` node in 3.12's ``type X = ...``.)
_LEAF_FIELDS = frozenset(
    {
        "ctx", "op", "ops", "id", "attr", "arg", "asname", "module", "level", "conversion",
        "simple", "is_async", "kind", "tag", "lineno", "type_comment", "kwd_attrs", "n", "s",
    }
)  # fmt: skip
_CHILD_FIELDS: Dict[type, Tuple[str, ...]] = {ast.Constant: ()}  # a constant has no children


def _child_fields(cls: type) -> Tuple[str, ...]:
    """The fields of node type ``cls`` that can hold child nodes, in ``_fields`` order."""
    fields = _CHILD_FIELDS.get(cls)
    if fields is None:
        fields = tuple(f for f in getattr(cls, "_fields", ()) if f not in _LEAF_FIELDS)
        _CHILD_FIELDS[cls] = fields
    return fields


def _walk(node: ast.AST) -> List[ast.AST]:
    """``list(ast.walk(node))`` in the same (breadth-first) order, less the leaf singletons."""
    nodes = [node]
    AST, fields_of = ast.AST, _CHILD_FIELDS
    for node in nodes:  # appending while iterating: a queue
        fields = fields_of.get(type(node))
        if fields is None:
            fields = _child_fields(type(node))
        for field in fields:
            value = getattr(node, field, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, AST):
                        nodes.append(item)
            elif isinstance(value, AST):
                nodes.append(value)
    return nodes


# --- what the module can see -------------------------------------------------------------


def _module_statements(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, looking inside ``if``/``try``/``with`` blocks."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _module_statements(stmt.body)
            yield from _module_statements(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            yield from _module_statements(stmt.body)
            for handler in stmt.handlers:
                yield from _module_statements(handler.body)
            yield from _module_statements(stmt.orelse)
            yield from _module_statements(stmt.finalbody)
        elif isinstance(stmt, ast.With):
            yield from _module_statements(stmt.body)


def _module_info(tree: ast.Module) -> ModuleInfo:
    imports: Dict[str, str] = {}
    classes: List[str] = []
    aliases: List[str] = []
    future = False

    members: Dict[str, Tuple[str, ...]] = {}

    def add_classes(body: Iterable[ast.stmt], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                classes.append(prefix + stmt.name)
                members[prefix + stmt.name] = _class_members(stmt)
                add_classes(stmt.body, prefix + stmt.name + ".")

    for stmt in _module_statements(tree.body):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    imports[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    imports[head] = head
        elif isinstance(stmt, ast.ImportFrom):
            module = "." * stmt.level + (stmt.module or "")
            if module == "__future__":
                future = future or any(a.name == "annotations" for a in stmt.names)
                continue
            for alias in stmt.names:
                if alias.name != "*":
                    sep = "" if module.endswith(".") else "."
                    imports[alias.asname or alias.name] = f"{module}{sep}{alias.name}"
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name) and _is_type_alias(target.id, stmt):
                    aliases.append(target.id)
    add_classes(_module_statements(tree.body), "")
    return ModuleInfo(
        imports=imports,
        classes=tuple(dict.fromkeys(classes)),
        aliases=tuple(dict.fromkeys(aliases)),
        future_annotations=future,
        members=members,
    )


def _class_members(cls: ast.ClassDef) -> Tuple[str, ...]:
    """Names a class's instances answer to: methods, class attributes, ``self.x = ...``."""
    names: List[str] = []
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append(stmt.name)
            for node in _walk(stmt):
                if (
                    type(node) is ast.Attribute
                    and isinstance(node.ctx, ast.Store)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                ):
                    names.append(node.attr)
        elif isinstance(stmt, ast.Assign):
            names.extend(t.id for t in stmt.targets if isinstance(t, ast.Name))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.append(stmt.target.id)
    return tuple(dict.fromkeys(name for name in names if not name.startswith("__")))


_TYPE_FACTORIES = frozenset({"TypeVar", "ParamSpec", "TypeVarTuple", "NewType", "TypeAliasType"})


def _is_type_alias(name: str, stmt: Union[ast.Assign, ast.AnnAssign]) -> bool:
    """Whether a module-level assignment defines a type: an alias, a TypeVar, a NewType."""
    value = stmt.value
    if isinstance(stmt, ast.AnnAssign):
        annotation = dotted(stmt.annotation) or ""
        if annotation.rsplit(".", 1)[-1] == "TypeAlias":
            return True
    if isinstance(value, ast.Call):
        return (dotted(value.func) or "").rsplit(".", 1)[-1] in _TYPE_FACTORIES
    if isinstance(value, ast.Subscript) or (
        isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr)
    ):
        return True  # ``KeyT = Union[bytes, str]``, ``Pair = tuple[int, int]``
    bare = name.lstrip("_")
    capwords = bare[:1].isupper() and not bare.isupper()
    return capwords and isinstance(value, (ast.Name, ast.Attribute))


# --- expression summaries ------------------------------------------------------------------


def _callee(node: ast.Call) -> str:
    name = dotted(node.func)
    if name is None:
        return "?"
    return name.rsplit(".", 1)[-1]


def value_kind(node: Optional[ast.expr], prefix: str) -> List[str]:
    """Features describing an expression's shape: its literal type, callee, operator."""
    if node is None:
        return [f"{prefix}:none_expr"]
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None:
            return [f"{prefix}:None"]
        if isinstance(value, bool):
            return [f"{prefix}:bool"]
        kind = type(value).__name__
        extra = [f"{prefix}:empty_{kind}"] if value in ("", b"", 0) else []
        return [f"{prefix}:{kind}", *extra]
    if isinstance(node, ast.JoinedStr):
        return [f"{prefix}:fstring"]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
        kind = type(node).__name__.lower()
        elts = node.keys if isinstance(node, ast.Dict) else node.elts
        size = "empty" if not elts else "items"
        inner = [
            f"{prefix}:{kind}_of_{feat.split(':', 1)[1]}"
            for elt in elts[:1]
            if elt is not None
            for feat in value_kind(elt, prefix)[:1]
        ]
        out = [f"{prefix}:{kind}", f"{prefix}:{kind}_{size}", *inner]
        if isinstance(node, ast.Tuple):
            out.append(f"{prefix}:tuple{min(len(node.elts), 4)}")
        return out
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        return [f"{prefix}:{type(node).__name__.lower()}"]
    if isinstance(node, ast.Call):
        callee = dotted(node.func)
        out = [f"{prefix}:call"]
        if callee is not None:
            last = callee.rsplit(".", 1)[-1]
            out.append(f"{prefix}:call:{last}")
            if "." in callee:
                out.append(f"{prefix}:method:{last}")
                out.append(f"{prefix}:on:{callee.split('.')[0]}")
            out.extend(f"{prefix}:calltok:{tok}" for tok in subtokens(last)[-2:])
        return out
    if isinstance(node, ast.Attribute):
        name = dotted(node) or node.attr
        parts = name.split(".")
        out = [f"{prefix}:attr", f"{prefix}:attr:{node.attr}"]
        if len(parts) > 1:
            out.append(f"{prefix}:attrof:{parts[-2]}")
        return out
    if isinstance(node, ast.Name):
        return [f"{prefix}:name", f"{prefix}:name:{node.id}"]
    if isinstance(node, (ast.Compare, ast.BoolOp)) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
    ):
        if isinstance(node, ast.BoolOp):
            return [f"{prefix}:boolop", *value_kind(node.values[-1], prefix)[:1]]
        return [f"{prefix}:bool_expr"]
    if isinstance(node, ast.BinOp):
        op = type(node.op).__name__
        left = value_kind(node.left, prefix)[:1]
        return [f"{prefix}:binop:{op}", *(f"{f}_{op}" for f in left)]
    if isinstance(node, ast.UnaryOp):
        return [f"{prefix}:unary:{type(node.op).__name__}", *value_kind(node.operand, prefix)[:1]]
    if isinstance(node, ast.IfExp):
        return [f"{prefix}:ifexp", *value_kind(node.body, prefix), *value_kind(node.orelse, prefix)]
    if isinstance(node, ast.Subscript):
        base = dotted(node.value)
        out = [f"{prefix}:subscript"]
        if base is not None:
            out.append(f"{prefix}:subscript_of:{base.rsplit('.', 1)[-1]}")
        if isinstance(node.slice, ast.Slice):
            out.append(f"{prefix}:slice")
        return out
    if isinstance(node, ast.Await):
        return [f"{prefix}:await", *value_kind(node.value, prefix)[1:3]]
    if isinstance(node, ast.Lambda):
        return [f"{prefix}:lambda"]
    return [f"{prefix}:{type(node).__name__.lower()}"]


# --- docstrings ----------------------------------------------------------------------------


def _doc_param_types(doc: str) -> Tuple[Dict[str, str], Optional[str]]:
    """Parameter and return types written in a docstring (Sphinx, Google and NumPy styles)."""
    params: Dict[str, str] = {}
    returns: Optional[str] = None
    lines = doc.splitlines()
    section = ""
    for index, raw in enumerate(lines):
        line = raw.strip()
        match = re.match(r":param\s+([^:]+?)\s+(\w+)\s*:", line)
        if match:
            params[match.group(2)] = match.group(1)
            continue
        match = re.match(r":type\s+(\w+)\s*:\s*(.+)", line)
        if match:
            params[match.group(1)] = match.group(2)
            continue
        match = re.match(r":rtype:\s*(.+)", line)
        if match:
            returns = match.group(1)
            continue
        lowered = line.rstrip(":").lower()
        if lowered in ("args", "arguments", "parameters", "params", "keyword arguments"):
            section = "params"
            continue
        if lowered in ("returns", "return", "yields"):
            section = "returns"
            continue
        if set(line) <= {"-", "="}:
            continue
        if section == "params":
            match = re.match(r"\*{0,2}(\w+)\s*\(([^)]+)\)\s*:", line) or re.match(
                r"\*{0,2}(\w+)\s+:\s+(.+)", line
            )
            if match:
                params[match.group(1)] = match.group(2)
        elif section == "returns" and line and returns is None:
            match = re.match(r"([^:]+):", line)
            returns = match.group(1) if match else line
            if index + 1 < len(lines) and not lines[index + 1].strip():
                section = ""
    return params, returns


def _doc_features(text: Optional[str], prefix: str) -> List[str]:
    if not text:
        return []
    words = _DOC_WORD.findall(text)[:6]
    out = [f"{prefix}:{word.rsplit('.', 1)[-1].lower()}" for word in words]
    if words:
        out.append(f"{prefix}:first:{words[0].rsplit('.', 1)[-1].lower()}")
    return out


# --- the walk ----------------------------------------------------------------------------


def _decorator_names(node: Union[FunctionNode, ast.ClassDef]) -> List[str]:
    names = []
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = dotted(target)
        if name is not None:
            names.append(name.rsplit(".", 1)[-1])
    return names


def _is_stub_body(body: List[ast.stmt]) -> bool:
    for stmt in body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # docstring or ``...``
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Raise):
            continue
        return False
    return True


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


_SCOPE_TYPES = frozenset(_SCOPES)
# ``x: T = v`` in a body: the features read ``x = v`` (the code to annotate has no ``T``).
_ANNOTATION_FIELDS = frozenset({"annotation", "returns"})
_BODY_FIELDS: Dict[type, Tuple[str, ...]] = {}
# What ``_return_features`` looks at.
_FLOW_TYPES = frozenset(
    {ast.Return, ast.Yield, ast.YieldFrom, ast.Raise, ast.Assign, ast.AnnAssign}
)


class _Body:
    """The nodes of a function body (nested scopes excluded) that features look at.

    Built once per function and shared by the usage, reference and return features:
    ``names`` (every ``Name``), ``flow`` (returns, yields, raises, assignments), both in
    walk order, and each node's parent.
    """

    def __init__(self, body: List[ast.stmt]) -> None:
        self.names: List[ast.Name] = []
        self.flow: List[ast.AST] = []
        self.parents: Dict[ast.AST, ast.AST] = {}
        AST, Name, scopes, flows = ast.AST, ast.Name, _SCOPE_TYPES, _FLOW_TYPES
        # Nested defs and classes are scopes of their own, at the top of the body too: their
        # annotations must not reach this function's features (code to annotate has none).
        stack: List[ast.AST] = [stmt for stmt in reversed(body) if type(stmt) not in scopes]
        names, flow, parents = self.names, self.flow, self.parents
        fields_of = _BODY_FIELDS
        while stack:
            node = stack.pop()
            cls = type(node)
            if cls is Name:
                names.append(node)  # type: ignore[arg-type]
                continue  # its only child is the context
            if cls in flows:
                flow.append(node)
            fields = fields_of.get(cls)
            if fields is None:
                fields = fields_of[cls] = tuple(
                    f for f in _child_fields(cls) if f not in _ANNOTATION_FIELDS
                )
            for field in fields:
                value = getattr(node, field, None)
                if type(value) is list:
                    for child in value:
                        if isinstance(child, AST) and type(child) not in scopes:
                            parents[child] = node
                            stack.append(child)
                elif isinstance(value, AST) and type(value) not in scopes:
                    parents[value] = node
                    stack.append(value)


class _Collector:
    def __init__(self, info: ModuleInfo) -> None:
        self.info = info
        self.imports = info.imports
        self.occurrences: DefaultDict[str, int] = defaultdict(int)
        roots = sorted({origin.lstrip(".").split(".")[0] for origin in info.imports.values()})
        # typing imports only say "this file is annotated": code to annotate has none.
        roots = [root for root in roots if root and root not in _ANNOTATION_ONLY_MODULES]
        self.module_features = tuple(f"mi:{root}" for root in roots)[:20]
        # The same class, parameter and variable names recur all over a module.
        self._name_cache: Dict[Tuple[str, str], List[str]] = {}

    def _name_features(self, name: str, prefix: str) -> List[str]:
        """``_name_features``, once per module for each name (callers do not mutate it)."""
        feats = self._name_cache.get((name, prefix))
        if feats is None:
            feats = self._name_cache[name, prefix] = _name_features(name, prefix)
        return feats

    def collect(self, tree: ast.Module) -> Iterator[Slot]:
        yield from self._scope(tree.body, scope="", classes=(), in_function=False, node=None)

    def _label(self, annotation: Optional[ast.expr]) -> Tuple[Optional[str], Optional[str]]:
        if annotation is None:
            return None, None
        text = ast.unparse(annotation)
        try:
            return text, normalize_node(annotation, self.imports)
        except (LabelError, RecursionError):
            return text, None

    def _scope(
        self,
        body: List[ast.stmt],
        scope: str,
        classes: Tuple[str, ...],
        in_function: bool,
        node: Optional[Union[FunctionNode, ast.ClassDef]],
    ) -> Iterator[Slot]:
        """Slots of one scope's body: its variables, then nested defs in source order."""
        statements = _scope_statements(body)
        yield from self._variables(statements, scope, classes, in_function, node)
        for child in statements:
            if type(child) not in _SCOPE_TYPES:
                continue
            assert isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            qual = f"{scope}.{child.name}" if scope else child.name
            if isinstance(child, ast.ClassDef):
                yield from self._scope(child.body, qual, (*classes, child.name), False, child)
            else:
                yield from self._function(
                    child, qual, classes, in_class=isinstance(node, ast.ClassDef)
                )
                yield from self._scope(child.body, qual, (), True, child)

    # --- functions -----------------------------------------------------------------------

    def _function(
        self, fn: FunctionNode, scope: str, classes: Tuple[str, ...], in_class: bool
    ) -> Iterator[Slot]:
        occurrence = self.occurrences[scope]
        self.occurrences[scope] += 1
        decorators = _decorator_names(fn)
        doc = ast.get_docstring(fn) or ""
        doc_params, doc_return = _doc_param_types(doc)
        body = _Body(fn.body)
        common = self._function_features(fn, body, classes, decorators, in_class)
        args = fn.args
        positional = [*args.posonlyargs, *args.args]
        skip_first = in_class and "staticmethod" not in decorators and positional
        params: List[Tuple[ast.arg, str]] = [(arg, "posonly") for arg in args.posonlyargs]
        params += [(arg, "positional") for arg in args.args]
        if args.vararg:
            params.append((args.vararg, "vararg"))
        params += [(arg, "kwonly") for arg in args.kwonlyargs]
        if args.kwarg:
            params.append((args.kwarg, "kwarg"))
        defaults: Dict[str, Optional[ast.expr]] = {}
        for arg, default in zip(positional[len(positional) - len(args.defaults) :], args.defaults):
            defaults[arg.arg] = default
        for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults):
            if kw_default is not None:
                defaults[arg.arg] = kw_default
        usages = _usages(body, {arg.arg for arg, _ in params})
        names = [arg.arg for arg, _ in params]
        for index, (arg, param_kind) in enumerate(params):
            if skip_first and arg is positional[0]:
                continue
            annotation, label = self._label(arg.annotation)
            feats = [
                "k:param",
                f"pk:{param_kind}",
                f"pos:{min(index, 6)}",
                *self._name_features(arg.arg, "n"),
                *common,
                *(value_kind(defaults[arg.arg], "dv") if arg.arg in defaults else ["dv:absent"]),
                *usages.get(arg.arg, ()),
                *_doc_features(doc_params.get(arg.arg), "doc"),
            ]
            if index + 1 < len(names):
                feats.append(f"next:{names[index + 1]}")
            yield Slot(
                kind=SlotKind.PARAM,
                scope=scope,
                occurrence=occurrence,
                name=arg.arg,
                line=arg.lineno,
                column=arg.col_offset,
                annotation=annotation,
                label=label,
                features=tuple(dict.fromkeys(feats)),
            )
        annotation, label = self._label(fn.returns)
        feats = ["k:return", *common, *_return_features(fn, body)]
        feats += _doc_features(doc_return, "rdoc")
        feats += [f"param:{name}" for name in names[:6]]
        yield Slot(
            kind=SlotKind.RETURN,
            scope=scope,
            occurrence=occurrence,
            name="return",
            line=fn.lineno,
            column=fn.col_offset,
            annotation=annotation,
            label=label,
            features=tuple(dict.fromkeys(feats)),
        )

    def _function_features(
        self,
        fn: FunctionNode,
        body: _Body,
        classes: Tuple[str, ...],
        decorators: List[str],
        in_class: bool,
    ) -> List[str]:
        feats = [*self._name_features(fn.name, "f"), *self.module_features]
        if isinstance(fn, ast.AsyncFunctionDef):
            feats.append("async")
        if in_class:
            feats.append("method")
        if classes:
            feats.extend(self._name_features(classes[-1], "c"))
        feats.extend(f"d:{name}" for name in decorators)
        if _is_stub_body(fn.body):
            feats.append("stub_body")
        refs = [node.id for node in body.names if node.id[:1].isupper() and not node.id.isupper()]
        feats.extend(f"b:{name}" for name in list(dict.fromkeys(refs))[:10])
        return feats

    # --- variables -------------------------------------------------------------------------

    def _variables(
        self,
        statements: List[ast.stmt],
        scope: str,
        classes: Tuple[str, ...],
        in_function: bool,
        node: Optional[Union[FunctionNode, ast.ClassDef]],
    ) -> Iterator[Slot]:
        where = "function" if in_function else ("class" if classes else "module")
        declared: Set[str] = set()
        firsts: Dict[str, Union[ast.Assign, ast.AnnAssign]] = {}
        annotated: Dict[str, ast.AnnAssign] = {}
        for stmt in statements:
            if isinstance(stmt, (ast.Global, ast.Nonlocal)):
                declared.update(stmt.names)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                annotated.setdefault(stmt.target.id, stmt)
                firsts.setdefault(stmt.target.id, stmt)
            elif (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                firsts.setdefault(stmt.targets[0].id, stmt)
        occurrence = max(self.occurrences[scope] - 1, 0) if in_function else 0
        context = [f"scope:{where}", *self.module_features]
        if classes:
            context.extend(self._name_features(classes[-1], "c"))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            context.extend(self._name_features(node.name, "f")[:2])
        for name, stmt in firsts.items():
            if (
                name in declared
                or name == "__all__"
                or (name in annotated and stmt is not annotated[name])
            ):
                continue
            if isinstance(stmt, ast.AnnAssign):
                annotation, label = self._label(stmt.annotation)
                target: ast.expr = stmt.target
            else:
                annotation, label = None, None
                target = stmt.targets[0]
            value = stmt.value
            feats = ["k:variable", *self._name_features(name, "n"), *context]
            feats.extend(value_kind(value, "v") if value is not None else ["v:absent"])
            if name.isupper():
                feats.append("constant")
            yield Slot(
                kind=SlotKind.VARIABLE,
                scope=scope,
                occurrence=occurrence,
                name=name,
                line=target.lineno,
                column=target.col_offset,
                annotation=annotation,
                label=label,
                features=tuple(dict.fromkeys(feats)),
            )


# Per statement type, its fields that hold blocks of statements, in the order visited.
_BLOCK_FIELDS: Dict[type, Tuple[str, ...]] = {}
_HANDLER_FIELDS = frozenset({"handlers", "cases"})  # lists of handlers/cases with a body


def _scope_statements(body: List[ast.stmt]) -> List[ast.stmt]:
    """Statements of a scope at any block depth, without entering nested scopes.

    Pre-order, in source order: a statement, then its ``body``, ``except`` handlers,
    ``case`` blocks, ``orelse`` and ``finalbody``. A list, built once per scope for its two readers.
    """
    out: List[ast.stmt] = []

    def visit(stmts: List[ast.stmt]) -> None:
        for stmt in stmts:
            out.append(stmt)
            cls = type(stmt)
            if cls in _SCOPE_TYPES:
                continue
            fields = _BLOCK_FIELDS.get(cls)
            if fields is None:
                fields = _BLOCK_FIELDS[cls] = tuple(
                    f
                    for f in ("body", "handlers", "cases", "orelse", "finalbody")
                    if f in getattr(cls, "_fields", ())
                )
            for field in fields:
                value = getattr(stmt, field, None) or []
                if field in _HANDLER_FIELDS:
                    for handler in value:
                        visit(handler.body)
                else:
                    visit(value)

    visit(body)
    return out


def _name_features(name: str, prefix: str) -> List[str]:
    tokens = subtokens(name)
    feats = [f"{prefix}:{name.lower()}"]
    if name.startswith("__") and name.endswith("__"):
        feats.append(f"{prefix}:dunder")
    elif name.startswith("_"):
        feats.append(f"{prefix}:private")
    if tokens:
        feats.append(f"{prefix}f:{tokens[0]}")
        feats.append(f"{prefix}l:{tokens[-1]}")
        feats.extend(f"{prefix}t:{token}" for token in tokens[1:-1])
        if tokens[-1].endswith("s") and len(tokens[-1]) > 3:
            feats.append(f"{prefix}:plural")
    if name[:1].isupper():
        feats.append(f"{prefix}:capitalized")
    return feats


# --- how parameters are used ---------------------------------------------------------------


def _usages(body: _Body, names: Set[str]) -> Dict[str, List[str]]:
    """Per parameter: how the body uses it (attributes, calls it flows into, operators)."""
    found: Dict[str, List[str]] = {name: [] for name in names}
    parents = body.parents
    for node in body.names:
        if node.id not in found:
            continue
        bucket = found[node.id]
        if len(bucket) >= MAX_USAGES:
            continue
        if isinstance(node.ctx, ast.Store):
            bucket.append("u:reassigned")
            continue
        parent = parents.get(node)
        bucket.extend(_usage_of(node, parent, parents))
    return {name: list(dict.fromkeys(feats))[:MAX_USAGES] for name, feats in found.items()}


def _usage_of(
    node: ast.Name, parent: Optional[ast.AST], parents: Dict[ast.AST, ast.AST]
) -> List[str]:
    if parent is None:
        return []
    if isinstance(parent, ast.Attribute):
        grand = parents.get(parent)
        if isinstance(grand, ast.Call) and grand.func is parent:
            return [f"um:{parent.attr}"]
        if isinstance(parent.ctx, ast.Store):
            return [f"uset:{parent.attr}"]
        return [f"ua:{parent.attr}"]
    if isinstance(parent, ast.Call):
        if parent.func is node:
            return ["u:called"]
        callee = _callee(parent)
        for keyword in parent.keywords:
            if keyword.value is node:
                return [f"ukw:{keyword.arg}", f"uarg:{callee}"]
        if callee == "isinstance" and len(parent.args) == 2 and parent.args[0] is node:
            classes = parent.args[1]
            elts = classes.elts if isinstance(classes, ast.Tuple) else [classes]
            return [f"uisinstance:{(dotted(elt) or '?').rsplit('.', 1)[-1]}" for elt in elts]
        position = next((i for i, a in enumerate(parent.args) if a is node), -1)
        return [f"uarg:{callee}", f"uargpos:{callee}:{position}"]
    if isinstance(parent, ast.Subscript):
        if parent.value is node:
            index = parent.slice
            if isinstance(index, ast.Constant):
                return [f"u:index_{type(index.value).__name__}"]
            if isinstance(index, ast.Slice):
                return ["u:sliced"]
            return ["u:indexed"]
        return ["u:as_index"]
    if isinstance(parent, ast.Compare):
        ops = {type(op).__name__ for op in parent.ops}
        others = [c for c in [parent.left, *parent.comparators] if c is not node]
        out = [f"ucmp:{op}" for op in sorted(ops)]
        for other in others[:1]:
            out.extend(f"ucmpv{f[1:]}" for f in value_kind(other, "v")[:1])
        if parent.left is not node and ops & {"In", "NotIn"}:
            out.append("u:container")
        return out
    if isinstance(parent, ast.BinOp):
        other = parent.right if parent.left is node else parent.left
        op = type(parent.op).__name__
        return [f"ubin:{op}", *(f"ubin:{op}:{f[2:]}" for f in value_kind(other, "v")[:1])]
    if isinstance(parent, ast.AugAssign):
        return [f"uaug:{type(parent.op).__name__}"]
    if isinstance(parent, (ast.For, ast.comprehension)) and parent.iter is node:
        return ["u:iterated"]
    if isinstance(parent, (ast.If, ast.While, ast.IfExp, ast.BoolOp, ast.Assert)) or (
        isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not)
    ):
        return ["u:truth"]
    if isinstance(parent, ast.Return):
        return ["u:returned"]
    if isinstance(parent, (ast.Yield, ast.YieldFrom)):
        return ["u:yielded"]
    if isinstance(parent, ast.Await):
        return ["u:awaited"]
    if isinstance(parent, ast.withitem):
        return ["u:context_manager"]
    if isinstance(parent, ast.FormattedValue):
        return ["u:formatted"]
    if isinstance(parent, ast.Starred):
        return ["u:starred"]
    if isinstance(parent, (ast.Assign, ast.AnnAssign)):  # ``x: T = v`` reads as ``x = v``
        target = parent.targets[0] if isinstance(parent, ast.Assign) else parent.target
        if isinstance(target, ast.Attribute):
            return [f"ustore:{target.attr}", *(f"ustoret:{t}" for t in subtokens(target.attr)[-1:])]
        if isinstance(target, ast.Tuple):
            return ["u:unpacked"]
        return ["u:aliased"]
    if isinstance(parent, ast.Raise):
        return ["u:raised"]
    if isinstance(parent, (ast.List, ast.Tuple, ast.Set)):
        return ["u:in_collection"]
    if isinstance(parent, ast.Dict):
        return ["u:dict_value" if node in parent.values else "u:dict_key"]
    return [f"u:{type(parent).__name__.lower()}"]


# --- what a function returns ---------------------------------------------------------------


def _return_features(fn: FunctionNode, body: _Body) -> List[str]:
    returns: List[Optional[ast.expr]] = []
    assigned: Dict[str, ast.expr] = {}
    yields = False
    yield_from = False
    raises = False
    for node in body.flow:
        if isinstance(node, ast.Return):
            returns.append(node.value)
        elif isinstance(node, ast.Yield):
            yields = True
        elif isinstance(node, ast.YieldFrom):
            yield_from = True
        elif isinstance(node, ast.Raise):
            raises = True
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                assigned.setdefault(target.id, node.value)
        elif (  # ``x: T = v`` reads as ``x = v``
            isinstance(node, ast.AnnAssign)
            and node.value is not None
            and isinstance(node.target, ast.Name)
        ):
            assigned.setdefault(node.target.id, node.value)
    feats: List[str] = []
    if yields or yield_from:
        feats.append("r:generator")
        if yield_from:
            feats.append("r:yield_from")
    valued = [value for value in returns if value is not None and not _is_none(value)]
    if not valued:
        if _is_stub_body(fn.body):
            feats.append("r:stub")
            if raises:
                feats.append("r:raise_only")
        else:
            feats.append("r:no_value")
    if len(valued) < len(returns):
        feats.append("r:some_none")
    feats.append(f"r:count{min(len(valued), 3)}")
    for value in valued[:4]:
        feats.extend(value_kind(value, "r"))
        if isinstance(value, ast.Name) and value.id in ("self", "cls"):
            feats.append(f"r:{value.id}")
        elif isinstance(value, ast.Name) and value.id in assigned:
            # ``out = {}; ...; return out``: the variable's first value says what comes back.
            feats.extend(f"rv{feat[1:]}" for feat in value_kind(assigned[value.id], "r"))
        if isinstance(value, ast.Attribute) and dotted(value) is not None:
            feats.extend(f"r:attrtok:{tok}" for tok in subtokens(value.attr)[-1:])
    return feats


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None
