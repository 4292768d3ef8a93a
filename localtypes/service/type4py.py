"""Type4Py's API over the core ``predict``: ``/api/predict`` and ``/api/predict/fetch``.

The Type4Py VS Code extension (its "local model" setting calls
``http://localhost:5001/api/predict``) and HiTyper speak this API:

- ``POST`` (or ``GET``) ``/api/predict?tc=0&fp=1`` with the source as the body, whatever
  its media type (the extension sends ``text/plain``);
- ``POST /api/predict/fetch`` with JSON ``{"f": source, "tc": 0, "fp": 1}``, for pages in a
  browser: its answers carry ``Access-Control-Allow-Origin: *``.

``tc`` is required, and only 0 is served: Type4Py's own server answers ``tc=1`` with the
same error. ``fp=1`` (the default, as in Type4Py) keeps the guesses the writer could write
at each slot with the names the module already sees, spelled as the writer would write
them (``localtypes.edit.choose.spell_guesses``): text an editor can insert as it is.
``fp=0`` gives every guess as ``/predict`` does. ``ai``, ``fh`` and ``ev`` (the
extension's telemetry ids), and any other field, are ignored.

An answer is HTTP 200 with ``{"response": {...}, "error": null}``, or ``{"response": null,
"error": "..."}`` for a request that cannot be answered (Type4Py's convention, which its
clients read); the service's limits still answer 413 and 503 as on every endpoint.

The response has Type4Py's module shape (libsa4py's): ``funcs``, ``classes`` (each with its
``funcs``), ``variables``, ``variables_p``, ``mod_var_ln``, ``imports`` and ``session_id``.
Functions nested in functions are listed with the module's functions, as Type4Py does; a
``q_name`` says where each is (``outer.<locals>.inner``). Lines are 1-based and columns
0-based, in characters.
"""

from __future__ import annotations

import ast
import json
import re
import secrets
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set, Tuple, Union
from urllib.parse import parse_qsl

from localtypes.analysis.slots import SlotKind
from localtypes.api import SlotPrediction, predict
from localtypes.edit.checks import ModuleChecks
from localtypes.edit.choose import spell_guesses
from localtypes.edit.plan import WriteOptions
from localtypes.errors import SourceError
from localtypes.model.predictor import Predictor
from localtypes.module import CLASS, FUNCTION, ModuleIndex, Scope, ScopeKey
from localtypes.service.requests import MAX_QUERY_FIELDS, body_too_large, content_length
from localtypes.settings import MAX_TOP_K
from localtypes.syntax import parameters, parse_source

if TYPE_CHECKING:
    from wsgiref.types import WSGIEnvironment

PREDICT_PATH = "/api/predict"
FETCH_PATH = "/api/predict/fetch"
TYPE_CHECKING_ERROR = "Type-checking is not available yet!"
# /fetch is for pages in a browser, which read an answer only when it allows their origin.
CORS_HEADERS = (("Access-Control-Allow-Origin", "*"),)
PREFLIGHT_HEADERS = (
    ("Access-Control-Allow-Methods", "POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type"),
    ("Access-Control-Max-Age", "86400"),
)

_SURROGATE = re.compile("[\ud800-\udfff]")
_RETURNS = re.compile(r"\s*:returns?:\s*(.*)")
_FLAGS = {"0": False, "1": True, "false": False, "true": True}


class Type4PyError(Exception):
    """A request answered, as Type4Py does, with 200 and ``{"response": null, "error": ...}``."""


@dataclass(frozen=True)
class Type4PyRequest:
    """What a Type4Py client asked for, validated."""

    source: str
    filtered: bool  # fp=1: only the types the writer could write at each slot


def envelope(
    response: Optional[Dict[str, Any]] = None, error: Optional[str] = None
) -> Dict[str, Any]:
    """Type4Py's answer: the response, or the error that stood in its way."""
    return {"response": response, "error": error}


# --- reading a request ---------------------------------------------------------------------


def read_request(environ: WSGIEnvironment, max_body_bytes: int) -> Type4PyRequest:
    """The source and ``fp`` of a call to either endpoint.

    Raises ``HTTPError`` (413) for a body over the limit, ``Type4PyError`` for anything
    else it cannot take.
    """
    body = _read_body(environ, max_body_bytes)
    encoding = str(environ.get("HTTP_CONTENT_ENCODING", "identity")).strip().lower()
    if encoding not in ("", "identity"):
        raise Type4PyError(f"unsupported content encoding {encoding[:40]!r}: send it plain")
    if str(environ.get("PATH_INFO")) == FETCH_PATH:
        fields = _json_fields(_text(body))
        source = fields.get("f")
        _check_type_checking(fields)
        if not isinstance(source, str):
            raise Type4PyError('the JSON body needs the source as a string in "f"')
        if _SURROGATE.search(source):
            raise Type4PyError('"f" holds a lone surrogate: it is not text')
    else:
        fields = _query(environ)
        _check_type_checking(fields)
        source = _text(body)
    filtered = _flag(fields, "fp")
    return Type4PyRequest(
        source=source[1:] if source.startswith("\ufeff") else source,  # a BOM is not source
        filtered=True if filtered is None else filtered,
    )


def _read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    length = content_length(environ)
    if length > limit:
        raise body_too_large(length, limit)
    return bytes(environ["wsgi.input"].read(length)) if length else b""


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Type4PyError(f"the body is not valid UTF-8 (byte {exc.start})") from None


def _query(environ: WSGIEnvironment) -> Dict[str, Any]:
    raw = str(environ.get("QUERY_STRING", ""))
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        raise Type4PyError("too many query parameters") from None
    query: Dict[str, Any] = {}
    for name, value in pairs:
        query.setdefault(name, value)  # Type4Py (Flask) reads the first of a repeated one
    return query


def _json_fields(text: str) -> Dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Type4PyError(
            f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise Type4PyError("invalid JSON: nested too deeply") from None
    except ValueError:  # an integer of more digits than Python converts
        raise Type4PyError("invalid JSON: a number has too many digits") from None
    if not isinstance(document, dict):
        raise Type4PyError('the JSON body must be an object: {"f": source, "tc": 0, "fp": 1}')
    return document


def _check_type_checking(fields: Dict[str, Any]) -> None:
    checked = _flag(fields, "tc")
    if checked is None:
        raise Type4PyError('"tc" is required: send tc=0 (type-checking is not available)')
    if checked:
        raise Type4PyError(TYPE_CHECKING_ERROR)


def _flag(fields: Dict[str, Any], name: str) -> Optional[bool]:
    """A 0/1 field (true/false too), None when absent."""
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _FLAGS:
        return _FLAGS[value.strip().lower()]
    raise Type4PyError(f'"{name}" must be 0 or 1')


# --- answering -------------------------------------------------------------------------------


def predict_module(
    request: Type4PyRequest,
    *,
    predictor: Predictor,
    top_k: int,
    target_version: Optional[Tuple[int, int]] = None,
) -> Dict[str, Any]:
    """The envelope for ``request``: ``predict``'s guesses in Type4Py's module shape.

    ``top_k`` guesses per slot at most; with ``fp=1`` the model is asked for more, so that
    guesses the writer could not write leave room for those it could. A source that does
    not parse is an error in the envelope; ``TooManySlots`` and cancellations propagate.
    """
    source = request.source
    try:
        # One parse for the model and the shape: what the index works out once (the
        # module's names) serves both, and a large source's tree is held once.
        index = ModuleIndex(parse_source(source), source)
        guesses = MAX_TOP_K if request.filtered else top_k
        prediction = predict(source, top_k=guesses, predictor=predictor, index=index)
        options = WriteOptions(
            min_confidence=0.0,
            kinds=frozenset(SlotKind),
            target_version=target_version or (sys.version_info[0], sys.version_info[1]),
        )
        shaper = _Shaper(index, prediction.slots, options if request.filtered else None, top_k)
        return envelope(shaper.module())
    except SourceError as exc:
        return envelope(error=f"the source is not valid Python: {exc}")
    except RecursionError:
        return envelope(error="cannot analyse the source: nested too deeply")


Ranked = List[List[Any]]  # [[type, score], ...], best first


class _Shaper:
    """Lays the slots of one module out the way Type4Py's response does."""

    def __init__(
        self,
        index: ModuleIndex,
        slots: Tuple[SlotPrediction, ...],
        options: Optional[WriteOptions],
        top_k: int,
    ) -> None:
        self.index = index
        self.lines = index.lines
        self.options = options  # None: fp=0, every guess
        self.checks = ModuleChecks(index) if options is not None else None
        self.top_k = top_k
        self.params: Dict[ScopeKey, Dict[str, SlotPrediction]] = {}
        self.returns: Dict[ScopeKey, SlotPrediction] = {}
        self.variables: Dict[Tuple[int, int], SlotPrediction] = {}  # by the target's place
        # Slots are found again by position, as the writer finds them.
        for item in slots:
            slot = item.slot
            position = (slot.line, slot.column)
            if slot.kind is SlotKind.PARAM:
                found = index.args.get(position)
                if found is not None:
                    self.params.setdefault(found[0].key, {})[slot.name] = item
            elif slot.kind is SlotKind.RETURN:
                function = index.function_scopes.get(position)
                if function is not None:
                    self.returns[function.key] = item
            else:
                self.variables[position] = item
        self.children: Dict[ScopeKey, List[Scope]] = {}
        for scope in index.scopes.values():
            if scope.parent is not None:
                self.children.setdefault(scope.parent.key, []).append(scope)

    def module(self) -> Dict[str, Any]:
        scopes = list(self.index.scopes.values())
        return {
            "funcs": [
                self.function(scope)
                for scope in scopes
                if scope.key.kind == FUNCTION and scope.parent and scope.parent.key.kind != CLASS
            ],
            "classes": [self.class_(scope) for scope in scopes if scope.key.kind == CLASS],
            **self.scope_variables(self.index.module, "mod_var_ln"),
            "imports": self.imports(),
            "session_id": secrets.token_urlsafe(32),
        }

    def class_(self, scope: Scope) -> Dict[str, Any]:
        node = scope.node
        assert isinstance(node, ast.ClassDef)
        methods = self.children.get(scope.key, [])
        return {
            "name": node.name,
            "q_name": _qualname(scope),
            "cls_lc": self.span(node),
            "funcs": [self.function(child) for child in methods if child.key.kind == FUNCTION],
            **self.scope_variables(scope, "cls_var_ln"),
        }

    def function(self, scope: Scope) -> Dict[str, Any]:
        node = scope.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        slots = self.params.get(scope.key, {})
        params: Dict[str, str] = {}
        params_p: Dict[str, Ranked] = {}
        # Every parameter, self and *args/**kwargs included: those that are no slot (self,
        # cls) get an empty list, so a client finds each name it looks up.
        for parameter in parameters(node.args):
            name = parameter.arg.arg
            annotation = parameter.arg.annotation
            params[name] = ast.unparse(annotation) if annotation is not None else ""
            params_p[name] = self.ranked(slots.get(name))
        return {
            "name": node.name,
            "q_name": _qualname(scope),
            "fn_lc": self.span(node),
            "params": params,
            "params_p": params_p,
            "ret_type": ast.unparse(node.returns) if node.returns is not None else "",
            "ret_type_p": self.ranked(self.returns.get(scope.key)),
            "ret_exprs": [
                self.text(statement)
                for statement in scope.statements
                if isinstance(statement, ast.Return)
            ],
            **self.scope_variables(scope, "fn_var_ln"),
            "docstring": _docstring(node),
        }

    def scope_variables(self, scope: Scope, lines_key: str) -> Dict[str, Any]:
        """``variables`` (annotation as written, "" for none), ``variables_p`` and where
        each is first bound: the variable slots, and the names annotated in the scope."""
        found: List[Tuple[ast.Name, str, Ranked]] = []
        names: Set[str] = set()
        for statement in scope.statements:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target, annotation = statement.targets[0], None
            elif isinstance(statement, ast.AnnAssign):
                target, annotation = statement.target, statement.annotation
            else:
                continue
            if not isinstance(target, ast.Name) or target.id in names:
                continue
            item = self.variables.get((target.lineno, target.col_offset))
            if item is None and annotation is None:
                continue  # not a slot (``global``, ``nonlocal``...)
            names.add(target.id)
            written = ast.unparse(annotation) if annotation is not None else ""
            found.append((target, written, self.ranked(item)))
        return {
            "variables": {target.id: annotation for target, annotation, _ in found},
            "variables_p": {target.id: ranked for target, _, ranked in found},
            lines_key: {target.id: self.span(target) for target, _, _ in found},
        }

    def ranked(self, item: Optional[SlotPrediction]) -> Ranked:
        if item is None:
            return []
        # Rounded as /predict rounds them, so both answers agree.
        scores = {guess.label: round(guess.confidence, 4) for guess in item.guesses}
        if self.options is None:
            return [[label, score] for label, score in list(scores.items())[: self.top_k]]
        # fp=1: what the writer would write there, spelled as it would: text that can be
        # inserted as it is (``Path`` where the module imports it, not ``pathlib.Path``).
        spelled = spell_guesses(
            item.slot, list(scores), self.index, self.options, checks=self.checks,
            limit=self.top_k,
        )  # fmt: skip
        return [[text, scores[label]] for label, text in spelled]

    def imports(self) -> List[str]:
        """Every module and name imported anywhere in the module, once each, the module's
        own first. Read off the scopes' statements: walking every node of a large tree
        takes seconds."""
        names: Dict[str, None] = {}
        for scope in self.index.scopes.values():
            for node in scope.statements:
                if isinstance(node, ast.Import):
                    names.update((alias.name, None) for alias in node.names)
                elif isinstance(node, ast.ImportFrom):
                    if node.module:
                        names[node.module] = None
                    names.update((a.name, None) for a in node.names if a.name != "*")
        return list(names)

    # --- positions

    def span(self, node: Union[ast.stmt, ast.expr]) -> List[List[int]]:
        """``[[first_line, column], [last_line, column]]`` of a node, columns in characters."""
        end_line = node.end_lineno or node.lineno
        start = self.column(node.lineno, node.col_offset)
        end = self.column(end_line, node.end_col_offset or 0)
        return [[node.lineno, start], [end_line, end]]

    def column(self, line: int, offset: int) -> int:
        """The character column of ``ast``'s UTF-8 byte ``offset`` on ``line``."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if text.isascii():
            return offset
        return len(text.encode("utf-8")[:offset].decode("utf-8", "ignore"))

    def text(self, node: ast.stmt) -> str:
        """A statement's source on one line (its lines joined by a space), as Type4Py
        shows ``ret_exprs``. Sliced from the lines: ``ast.get_source_segment`` splits the
        whole source again for every call."""
        first, last = node.lineno, node.end_lineno or node.lineno
        start, end = node.col_offset, node.end_col_offset or 0
        pieces = [self.lines[number - 1].encode("utf-8") for number in range(first, last + 1)]
        pieces[-1] = pieces[-1][:end]
        pieces[0] = pieces[0][start:]
        parts = [piece.decode("utf-8", "replace").strip() for piece in pieces]
        return " ".join(part.removesuffix("\\").rstrip() for part in parts if part)


def _qualname(scope: Scope) -> str:
    """Python's ``__qualname__``: ``Outer.method``, ``outer.<locals>.inner``."""
    parts: List[str] = []
    current: Optional[Scope] = scope
    while current is not None and current.parent is not None:
        node = current.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        parts.append(node.name)
        if current.parent.key.kind == FUNCTION:
            parts.append("<locals>")
        current = current.parent
    return ".".join(reversed(parts))


def _docstring(node: ast.AST) -> Dict[str, Optional[str]]:
    """Type4Py's docstring fields: the first line, the rest, and what it says is returned
    (``:returns:`` or a ``Returns:`` section), each None when absent."""
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    text = ast.get_docstring(node) or ""
    lines = text.splitlines()
    returns: Optional[str] = None
    for number, line in enumerate(lines):
        found = _RETURNS.match(line)
        if found and found.group(1).strip():
            returns = found.group(1).strip()
            break
        if line.strip() in ("Returns:", "Return:"):
            following = [later.strip() for later in lines[number + 1 :] if later.strip()]
            returns = following[0] if following else None
            break
    return {
        "func": (lines[0].strip() or None) if lines else None,
        "long_descr": "\n".join(lines[1:]).strip() or None,
        "ret": returns,
    }
