"""Source -> slots with the context the model reads.

Built on the standard library's ``ast`` (several times faster than a concrete syntax
tree, which only the writer needs) and on the module index, so that slots carry the
index's scope keys. Training and inference both call ``extract``, so the model sees the
same features in both. Features never look at the module's annotations: code to be
annotated has none, so a model that leaned on them would learn a shortcut.
"""

from __future__ import annotations

import ast
from typing import Dict, Iterator, List, Optional, Set, Tuple, Union

from localtypes.analysis.features.body import FunctionBody, is_stub_body
from localtypes.analysis.features.docstrings import doc_features, doc_param_types
from localtypes.analysis.features.names import decorator_names, name_features
from localtypes.analysis.features.returns import return_features
from localtypes.analysis.features.usage import usages
from localtypes.analysis.features.values import value_kind
from localtypes.analysis.neighbours import module_relations
from localtypes.analysis.project import ModuleFacts
from localtypes.analysis.slots import ExtractedModule, ModuleInfo, Slot, SlotKind
from localtypes.analysis.static import StaticTyper
from localtypes.analysis.visible import module_info
from localtypes.errors import SourceError
from localtypes.labels import LabelError, normalize_node
from localtypes.module import CLASS, FUNCTION, ModuleIndex, Scope
from localtypes.syntax import FunctionNode, parameters, parse_source

_ANNOTATION_ONLY_MODULES = frozenset({"typing", "typing_extensions", "__future__", "collections"})


def extract(
    source: str,
    tree: Optional[ast.Module] = None,
    *,
    index: Optional[ModuleIndex] = None,
    facts: Optional[ModuleFacts] = None,
) -> ExtractedModule:
    """The slots of ``source`` and what it can see.

    Parses ``source`` unless its ``tree`` or its ``index`` (``ModuleIndex``) is given; they
    are only read, so a caller that already has them can share them. ``facts`` are the
    module's cross-file features from the project index (``ProjectIndex.facts``). Raises
    ``SourceError`` (with line and column) when the source is not valid Python.
    """
    if index is None:
        index = ModuleIndex(tree if tree is not None else parse_source(source), source)
    info = module_info(index)
    try:
        collector = _Collector(index, info, facts or {})
        slots = tuple(collector.collect())
        relations = module_relations(index, slots, collector.bodies)
    except RecursionError:
        raise SourceError("cannot analyse: expressions nested too deeply") from None
    return ExtractedModule(slots=slots, info=info, relations=relations)


class _Collector:
    def __init__(self, index: ModuleIndex, info: ModuleInfo, facts: ModuleFacts) -> None:
        self.index = index
        self.info = info
        self.imports = info.imports
        self.facts = facts
        self.typer = StaticTyper(info, tuple(index.bindings))
        roots = sorted({origin.lstrip(".").split(".")[0] for origin in info.imports.values()})
        # typing imports only say "this file is annotated": code to annotate has none.
        roots = [root for root in roots if root and root not in _ANNOTATION_ONLY_MODULES]
        self.module_features = tuple(f"mi:{root}" for root in roots)[:20]
        # The same class, parameter and variable names recur all over a module.
        self._name_cache: Dict[Tuple[str, str], List[str]] = {}
        # id(function node) -> its body's nodes, built once (the relations read them too)
        self.bodies: Dict[int, FunctionBody] = {}

    def _name_features(self, name: str, prefix: str) -> List[str]:
        """``name_features``, once per module for each name (callers do not mutate it)."""
        feats = self._name_cache.get((name, prefix))
        if feats is None:
            feats = self._name_cache[name, prefix] = name_features(name, prefix)
        return feats

    def collect(self) -> Iterator[Slot]:
        """Every slot, scope by scope in source order: a function's parameters and return,
        then the variables of its body."""
        for scope in self.index.scopes.values():
            if scope.key.kind == FUNCTION:
                yield from self._function(scope)
            yield from self._variables(scope)

    def _label(self, annotation: Optional[ast.expr]) -> Tuple[Optional[str], Optional[str]]:
        if annotation is None:
            return None, None
        text = ast.unparse(annotation)
        try:
            return text, normalize_node(annotation, self.imports)
        except (LabelError, RecursionError):
            return text, None

    # --- functions -----------------------------------------------------------------------

    def _function(self, function: Scope) -> Iterator[Slot]:
        fn = function.node
        assert isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        outer = function.parent
        assert outer is not None
        scope, occurrence = function.key.qualname, function.key.occurrence
        in_class = outer.key.kind == CLASS
        decorators = decorator_names(fn)
        doc = ast.get_docstring(fn) or ""
        doc_params, doc_return = doc_param_types(doc)
        body = self.bodies[id(fn)] = FunctionBody(fn.body)
        common = self._function_features(fn, body, outer.enclosing_classes, decorators, in_class)
        params = list(parameters(fn.args))
        # A method's first positional parameter is self or cls: never a slot.
        first = params[0].arg if params and params[0].kind in ("posonly", "positional") else None
        skip_first = in_class and "staticmethod" not in decorators
        used = usages(body, {param.arg.arg for param in params})
        names = [param.arg.arg for param in params]
        for index, (arg, param_kind, default) in enumerate(params):
            if skip_first and arg is first:
                continue
            annotation, label = self._label(arg.annotation)
            decided = self.typer.expr(default) if default is not None else None
            feats = [
                "k:param",
                f"pk:{param_kind}",
                f"pos:{min(index, 6)}",
                *([f"sd:{decided}"] if decided else []),
                *self.facts.get((scope, occurrence, arg.arg), ()),
                *self._name_features(arg.arg, "n"),
                *common,
                *(value_kind(default, "dv") if default is not None else ["dv:absent"]),
                *used.get(arg.arg, ()),
                *doc_features(doc_params.get(arg.arg), "doc"),
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
        decided = self.typer.returns(fn, body)
        feats = [
            "k:return",
            *([f"sr:{decided}"] if decided else []),
            *self.facts.get((scope, occurrence, "return"), ()),
            *common,
            *return_features(fn, body),
        ]
        feats += doc_features(doc_return, "rdoc")
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
        body: FunctionBody,
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
        if is_stub_body(fn.body):
            feats.append("stub_body")
        refs = [node.id for node in body.names if node.id[:1].isupper() and not node.id.isupper()]
        feats.extend(f"b:{name}" for name in list(dict.fromkeys(refs))[:10])
        return feats

    # --- variables -------------------------------------------------------------------------

    def _variables(self, owner: Scope) -> Iterator[Slot]:
        statements, scope = owner.statements, owner.key.qualname
        classes = owner.enclosing_classes
        in_function = owner.key.kind == FUNCTION
        node = owner.node
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
        occurrence = owner.key.occurrence
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
            decided = self.typer.expr(value)
            feats = ["k:variable", *([f"sv:{decided}"] if decided else [])]
            feats += [*self._name_features(name, "n"), *context]
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
