"""Type4Py's API over real HTTP: /api/predict and /api/predict/fetch on a waitress server on
127.0.0.1, the real model store, real files.

The answers are held to a JSON Schema written here from issue 13's description of Type4Py's
shape (not to the OpenAPI document, which test_openapi.py fuzzes the server with), and their
guesses to /predict's for the same slots.
"""

from __future__ import annotations

import ast
import builtins
import json
import logging
import socket
import sysconfig
import urllib.parse
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import pytest
from serving import LOOPBACK, Answer, Running, metric, running, test_settings, wait_until

from localtypes.service.admission import MAX_SLOTS
from localtypes.service.logs import JsonFormatter

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (dev extra) is missing")

ROOT = Path(__file__).resolve().parents[2]
STDLIB = Path(sysconfig.get_paths()["stdlib"])
MAX_BODY = 256 << 10
TYPE_CHECKING_ERROR = "Type-checking is not available yet!"

# A module with what the shape must place: nested functions and classes, methods (static,
# async, decorated), *args/**kwargs, annotations, docstrings, non-ASCII text before a name.
CRAFTED = '''\
"""A module for the shape checks."""

import os.path
from collections import OrderedDict as OD
from typing import List

LIMIT: int = 10
names = []
café = "naïve"
greeting = "héllo"; count = 2


def outer(first, *args, flag=False, **kwargs):
    """Short line.

    Longer description
    over two lines.

    :returns: what it found
    """
    found = []

    def inner(x):
        return x + 1

    class Local:
        def method(self, y):
            return y

    if flag:
        return inner(first)
    return [first,
            *args]


class Shop:
    """A shop."""

    rate = 0.2
    title: str = "shop"

    def __init__(self, name: str, stock=0) -> None:
        self.name = name

    @property
    def label(self):
        return self.name.upper()

    async def fetch(self, url, *, timeout=3.0):
        data = await something(url)
        return data

    @staticmethod
    def make(count):
        return Shop(str(count))
'''

FILES = {
    "inventory.py": (ROOT / "examples" / "inventory.py").read_bytes(),
    "shlex.py": (STDLIB / "shlex.py").read_bytes(),
    "textwrap.py": (STDLIB / "textwrap.py").read_bytes(),
    "crafted.py": CRAFTED.encode(),
}

# --- the shape, as issue 13 describes it ------------------------------------------------------

RANKED = {
    "type": "array",
    "items": {
        "type": "array",
        "prefixItems": [{"type": "string", "minLength": 1}, {"type": "number", "minimum": 0,
                                                              "maximum": 1}],
        "minItems": 2,
        "maxItems": 2,
    },
}  # fmt: skip
POSITION = {
    "type": "array",
    "prefixItems": [{"type": "integer", "minimum": 1}, {"type": "integer", "minimum": 0}],
    "minItems": 2,
    "maxItems": 2,
}
SPAN = {"type": "array", "items": POSITION, "minItems": 2, "maxItems": 2}
BY_NAME = {"type": "object", "additionalProperties": {"type": "string"}}
RANKED_BY_NAME = {"type": "object", "additionalProperties": RANKED}
LOCATIONS = {"type": "object", "additionalProperties": SPAN}
OPTIONAL_TEXT = {"type": ["string", "null"]}
FUNCTION = {
    "type": "object",
    "required": ["name", "q_name", "fn_lc", "params", "params_p", "ret_type_p", "ret_exprs",
                 "variables", "variables_p", "fn_var_ln", "docstring"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "q_name": {"type": "string", "minLength": 1},
        "fn_lc": SPAN,
        "params": BY_NAME,
        "params_p": RANKED_BY_NAME,
        "ret_type_p": RANKED,
        "ret_exprs": {"type": "array", "items": {"type": "string"}},
        "variables": BY_NAME,
        "variables_p": RANKED_BY_NAME,
        "fn_var_ln": LOCATIONS,
        "docstring": {
            "type": "object",
            "required": ["func", "long_descr", "ret"],
            "properties": {"func": OPTIONAL_TEXT, "long_descr": OPTIONAL_TEXT,
                           "ret": OPTIONAL_TEXT},
        },
    },
}  # fmt: skip
CLASS = {
    "type": "object",
    "required": ["name", "q_name", "cls_lc", "funcs", "variables", "variables_p", "cls_var_ln"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "q_name": {"type": "string", "minLength": 1},
        "cls_lc": SPAN,
        "funcs": {"type": "array", "items": FUNCTION},
        "variables": BY_NAME,
        "variables_p": RANKED_BY_NAME,
        "cls_var_ln": LOCATIONS,
    },
}
MODULE = {
    "type": "object",
    "required": ["funcs", "classes", "variables", "variables_p", "mod_var_ln", "imports",
                 "session_id"],
    "properties": {
        "funcs": {"type": "array", "items": FUNCTION},
        "classes": {"type": "array", "items": CLASS},
        "variables": BY_NAME,
        "variables_p": RANKED_BY_NAME,
        "mod_var_ln": LOCATIONS,
        "imports": {"type": "array", "items": {"type": "string"}},
        "session_id": {"type": "string", "minLength": 16},
    },
}  # fmt: skip
ENVELOPE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["response", "error"],
    "properties": {"response": True, "error": True},
    "additionalProperties": False,
    "oneOf": [
        {"properties": {"response": MODULE, "error": {"type": "null"}}},
        {"properties": {"response": {"type": "null"}, "error": {"type": "string",
                                                                 "minLength": 1}}},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    with running(test_settings(max_body_bytes=MAX_BODY, access_log=True)) as served:
        yield served


def type4py(
    api: Running,
    source: Optional[bytes],
    query: str = "tc=0&fp=1",
    *,
    method: str = "POST",
    content_type: Optional[str] = "text/plain",
) -> Answer:
    """A call as the Type4Py extension makes it: the source as text/plain, flags in the query."""
    path = "/api/predict" + (f"?{query}" if query else "")
    return api.request(path, source, method=method, content_type=content_type)


def fetch(api: Running, document: Any, raw: Optional[bytes] = None) -> Answer:
    body = raw if raw is not None else json.dumps(document).encode()
    return api.request("/api/predict/fetch", body, content_type="application/json")


def envelope(answer: Answer) -> Dict[str, Any]:
    """The answer's envelope, held to the schema: HTTP 200 and JSON, never a traceback."""
    assert answer.status == 200, answer.body[:300]
    assert answer.headers["Content-Type"] == "application/json"
    assert b"Traceback" not in answer.body
    document = answer.json()
    jsonschema.validate(document, ENVELOPE, cls=jsonschema.Draft202012Validator)
    return dict(document)


def response(answer: Answer) -> Dict[str, Any]:
    document = envelope(answer)
    assert document["error"] is None, document["error"]
    return dict(document["response"])


def error(answer: Answer, *words: str) -> str:
    document = envelope(answer)
    assert document["response"] is None
    message = str(document["error"])
    for word in words:
        assert word in message, message
    return message


def functions(module: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [*module["funcs"], *(f for cls in module["classes"] for f in cls["funcs"])]


def variable_tables(module: Dict[str, Any]) -> Iterator[Tuple[Dict[str, Any], str]]:
    """Each table of variables with the key of its locations."""
    yield module, "mod_var_ln"
    for cls in module["classes"]:
        yield cls, "cls_var_ln"
    for function in functions(module):
        yield function, "fn_var_ln"


# --- the shape on real files -------------------------------------------------------------


@pytest.mark.parametrize("fp", ["0", "1"])
@pytest.mark.parametrize("name", sorted(FILES))
def test_the_response_has_type4pys_shape(api: Running, name: str, fp: str) -> None:
    module = response(type4py(api, FILES[name], f"tc=0&fp={fp}"))
    tree = ast.parse(FILES[name])
    defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    # Every def and class once, each with its whole extent.
    assert sorted((f["name"], f["fn_lc"][0][0]) for f in functions(module)) == sorted(
        (d.name, d.lineno) for d in defs
    )
    assert len(module["classes"]) == len(classes)
    ends = {(d.name, d.lineno): d.end_lineno for d in defs}
    for function in functions(module):
        (first, _), (last, _) = function["fn_lc"]
        assert last == ends[(function["name"], first)]
        variables = set(function["variables"])
        assert variables == set(function["variables_p"]) == set(function["fn_var_ln"])
    for table, lines_key in variable_tables(module):
        assert set(table["variables"]) == set(table["variables_p"]) == set(table[lines_key])


def test_the_shape_places_every_part(api: Running) -> None:
    module = response(type4py(api, CRAFTED.encode(), "tc=0&fp=0"))
    lines = CRAFTED.splitlines()

    def line_of(text: str) -> int:
        return next(number for number, line in enumerate(lines, 1) if line.startswith(text))

    # Functions nested in functions are the module's, as in Type4Py; q_name says where.
    assert [f["q_name"] for f in module["funcs"]] == ["outer", "outer.<locals>.inner"]
    assert [c["q_name"] for c in module["classes"]] == ["outer.<locals>.Local", "Shop"]
    local, shop = module["classes"]
    assert [f["q_name"] for f in local["funcs"]] == ["outer.<locals>.Local.method"]
    assert [f["name"] for f in shop["funcs"]] == ["__init__", "label", "fetch", "make"]

    outer = module["funcs"][0]
    assert outer["fn_lc"] == [[line_of("def outer"), 0], [line_of("            *args]"), 18]]
    assert outer["params"] == {"first": "", "args": "", "flag": "", "kwargs": ""}
    assert list(outer["params_p"]) == ["first", "args", "flag", "kwargs"]
    assert all(outer["params_p"][name] for name in ("first", "args", "kwargs"))
    assert outer["ret_exprs"] == ["return inner(first)", "return [first, *args]"]
    assert outer["docstring"] == {
        "func": "Short line.",
        "long_descr": "Longer description\nover two lines.\n\n:returns: what it found",
        "ret": "what it found",
    }
    assert outer["variables"] == {"found": ""}
    assert outer["fn_var_ln"] == {"found": [[line_of("    found"), 4], [line_of("    found"), 9]]}

    init, label, fetch_method, make = shop["funcs"]
    assert init["params"] == {"self": "", "name": "str", "stock": ""}
    assert init["params_p"]["self"] == [] and init["params_p"]["name"]
    assert init["ret_type"] == "None"
    # A decorated def starts at its def, as Type4Py's positions do.
    assert label["fn_lc"][0] == [line_of("    def label"), 4]
    assert fetch_method["q_name"] == "Shop.fetch" and fetch_method["fn_var_ln"]["data"]
    assert list(make["params_p"]) == ["count"] and make["params_p"]["count"]
    assert shop["variables"] == {"rate": "", "title": "str"}
    assert shop["variables_p"]["title"] and shop["variables_p"]["rate"]
    assert shop["cls_lc"][0] == [line_of("class Shop"), 0]

    assert module["variables"] == {"LIMIT": "int", "names": "", "café": "", "greeting": "",
                                   "count": ""}  # fmt: skip
    # Columns are characters, not UTF-8 bytes.
    assert module["mod_var_ln"]["café"] == [[line_of("café"), 0], [line_of("café"), 4]]
    row = line_of("greeting")
    assert module["mod_var_ln"]["count"] == [[row, 20], [row, 25]]
    assert module["imports"] == ["os.path", "collections", "OrderedDict", "typing", "List"]


def test_each_answer_has_its_own_session_id(api: Running) -> None:
    first = response(type4py(api, b"x = 1\n"))
    second = response(type4py(api, b"x = 1\n"))
    assert first["session_id"] != second["session_id"]


# --- the same guesses as /predict --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_guesses_are_predicts_for_the_same_slots(api: Running, name: str) -> None:
    """With fp=0 every slot's ranked types and scores are /predict's, in its order."""
    source = FILES[name]
    module = response(type4py(api, source, "tc=0&fp=0"))
    slots = api.request("/predict", source, content_type="text/x-python").json()["slots"]
    by_def = {(f["name"], f["fn_lc"][0][0]): f for f in functions(module)}
    def_line = {(s["scope"], s["occurrence"]): s["line"] for s in slots if s["kind"] == "return"}
    variables = {
        (name, span[0][0]): table
        for table, lines_key in variable_tables(module)
        for name, span in table[lines_key].items()
    }
    assert len(slots) > 10
    for slot in slots:
        expected = [[p["type"], p["confidence"]] for p in slot["predictions"]]
        if slot["kind"] == "variable":
            table = variables[(slot["name"], slot["line"])]
            assert table["variables_p"][slot["name"]] == expected, slot
            assert table["variables"][slot["name"]] == (slot["annotation"] or "")
            continue
        short = slot["scope"].rsplit(".", 1)[-1]
        function = by_def[(short, def_line[(slot["scope"], slot["occurrence"])])]
        if slot["kind"] == "return":
            assert function["ret_type_p"] == expected, slot
        else:
            assert function["params_p"][slot["name"]] == expected, slot
            assert function["params"][slot["name"]] == (slot["annotation"] or "")


def _module_names(source: bytes) -> Set[str]:
    """The builtins, and what the module imports or defines (classes, aliases) outside its
    functions and classes: an independent oracle for fp=1."""
    names: Set[str] = set(dir(builtins))
    pending: List[ast.stmt] = list(ast.parse(source).body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            pending.extend(node.body)
        elif isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _heads(text: str) -> Set[str]:
    """The first names of the dotted names a type uses (quoted forward references too)."""
    tree = ast.parse(text, mode="eval").body
    if isinstance(tree, ast.Constant) and isinstance(tree.value, str):
        tree = ast.parse(tree.value, mode="eval").body
    heads: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            heads.add(node.id)
    return heads


@pytest.mark.parametrize("name", sorted(FILES))
def test_fp_1_keeps_only_types_whose_names_the_file_sees(api: Running, name: str) -> None:
    source = FILES[name]
    everything = response(type4py(api, source, "tc=0&fp=0"))
    seen = response(type4py(api, source, "tc=0&fp=1"))
    assert response(type4py(api, source, "tc=0")) | {"session_id": ""} == seen | {
        "session_id": ""
    }  # fp=1 is the default, as in Type4Py
    visible = _module_names(source)
    kept = dropped = 0
    pairs = list(zip(functions(everything), functions(seen)))
    lists: List[Tuple[Any, Any]] = []
    for full, filtered in pairs:
        lists += [(full["params_p"][p], filtered["params_p"][p]) for p in full["params_p"]]
        lists.append((full["ret_type_p"], filtered["ret_type_p"]))
    for (full_table, key), (seen_table, _) in zip(
        variable_tables(everything), variable_tables(seen)
    ):
        lists += [
            (full_table["variables_p"][v], seen_table["variables_p"][v]) for v in full_table[key]
        ]
    for full, filtered in lists:
        scores = [score for _, score in filtered]
        assert scores == sorted(scores, reverse=True)
        for text, _ in filtered:
            assert _heads(text) <= visible, (text, visible)
            assert text != "Any"
        kept += len(filtered)
        dropped += sum(1 for t, _ in full if t == "Any" or not _heads(t) <= visible)
        # Never a better guess than the model's best, and never more than top_k.
        assert len(filtered) <= 5
        assert not filtered or filtered[0][1] <= full[0][1]
    assert kept > 0
    if name == "inventory.py":
        assert dropped > 0
        load = next(f for f in functions(seen) if f["name"] == "load_inventory")
        full_load = next(f for f in functions(everything) if f["name"] == "load_inventory")
        # The writer's spelling: the file has `from pathlib import Path`.
        assert "str | pathlib.Path" in [t for t, _ in full_load["params_p"]["path"]]
        assert "str | Path" in [t for t, _ in load["params_p"]["path"]]


# --- errors in the envelope ----------------------------------------------------------------


def test_tc_1_answers_type4pys_error(api: Running) -> None:
    assert error(type4py(api, FILES["inventory.py"], "tc=1&fp=1")) == TYPE_CHECKING_ERROR
    assert error(fetch(api, {"f": "x = 1\n", "tc": 1, "fp": 1})) == TYPE_CHECKING_ERROR
    assert error(fetch(api, {"f": "x = 1\n", "tc": True})) == TYPE_CHECKING_ERROR


@pytest.mark.parametrize("query", ["", "fp=1", "tc=", "tc=2", "tc=yes", "tc=0&fp=3"])
def test_tc_is_required_and_flags_are_0_or_1(api: Running, query: str) -> None:
    message = error(type4py(api, b"x = 1\n", query))
    assert ("tc" in message) or ("fp" in message)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"\xff\xfedef f(): pass\n", ["UTF-8"]),
        (b"def broken(:\n    pass\n", ["not valid Python", "line 1"]),
        (b"x = 1\x00\n", ["not valid Python"]),
        (b"def f(:\n" * 3000, ["not valid Python"]),
        (b"x = " + b"(" * 5000 + b")" * 5000 + b"\n", []),
    ],
)
def test_a_bad_body_is_an_error_in_the_envelope(
    api: Running, body: bytes, words: List[str]
) -> None:
    error(type4py(api, body), *words)


def test_a_compressed_body_is_an_error_in_the_envelope(api: Running) -> None:
    answer = api.request("/api/predict?tc=0", b"x = 1\n", content_type="text/plain",
                         headers={"Content-Encoding": "gzip"})  # fmt: skip
    error(answer, "encoding")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"f": "x = 1\\n"', ["invalid JSON"]),
        (b"[1, 2]", ["object"]),
        (b'{"tc": 0}', ['"f"']),
        (b'{"f": 3, "tc": 0}', ['"f"']),
        (b'{"f": "x = 1\\n"}', ['"tc"']),
        (b'{"f": "x = 1\\n", "tc": 0, "fp": "maybe"}', ['"fp"']),
        (b'{"f": "x = \'\\ud800\'\\n", "tc": 0}', ["surrogate"]),
        (b'{"f": "def (:", "tc": 0}', ["not valid Python"]),
        (b"\xff{}", ["UTF-8"]),
        (b"[" * 100_000 + b"]" * 100_000, ["JSON"]),
        (b'{"f": "", "tc": 0, "x": ' + b"9" * 5000 + b"}", ["digits"]),
    ],
)
def test_a_bad_fetch_body_is_an_error_in_the_envelope(
    api: Running, raw: bytes, words: List[str]
) -> None:
    answer = fetch(api, None, raw)
    error(answer, *words)
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


def test_fetch_answers_as_predict_with_cors(api: Running) -> None:
    source = FILES["inventory.py"].decode()
    answer = fetch(api, {"f": source, "tc": 0, "fp": 0, "ai": "x", "fh": "y", "ev": "z"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    direct = response(type4py(api, source.encode(), "tc=0&fp=0"))
    assert response(answer) | {"session_id": ""} == direct | {"session_id": ""}
    # fp as strings, as a page may send it; absent: 1.
    default = response(fetch(api, {"f": source, "tc": "0"}))
    assert response(fetch(api, {"f": source, "tc": 0, "fp": "1"})) | {"session_id": ""} == (
        default | {"session_id": ""}
    )


def test_the_preflight_allows_a_json_post_from_any_origin(api: Running) -> None:
    answer = api.request(
        "/api/predict/fetch",
        method="OPTIONS",
        headers={"Origin": "http://example.test", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )  # fmt: skip
    assert answer.status == 204 and answer.body == b""
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert "content-type" in answer.headers["Access-Control-Allow-Headers"].lower()
    # /api/predict is the extension's (not a browser's): no CORS there, as in Type4Py.
    plain = type4py(api, b"x = 1\n")
    assert "Access-Control-Allow-Origin" not in plain.headers
    assert api.request("/api/predict", method="OPTIONS").status == 405


def test_the_get_variant_reads_the_body_too(api: Running) -> None:
    source = FILES["shlex.py"]
    got = response(type4py(api, source, "tc=0&fp=1", method="GET"))
    posted = response(type4py(api, source, "tc=0&fp=1"))
    assert got | {"session_id": ""} == posted | {"session_id": ""}
    assert got["funcs"] or got["classes"]
    # Any media type, or none, is the source (Type4Py reads the raw body).
    for content_type in (None, "text/x-python", "application/octet-stream"):
        assert response(type4py(api, source, content_type=content_type))["classes"]
    # No body: an empty module.
    empty = response(type4py(api, None, method="GET", content_type=None))
    assert empty["funcs"] == [] and empty["classes"] == [] and empty["variables"] == {}


def test_ignored_fields_change_nothing(api: Running) -> None:
    plain = response(type4py(api, FILES["inventory.py"], "tc=0&fp=1"))
    extra = response(type4py(api, FILES["inventory.py"], "tc=0&fp=1&ai=a1&fh=abc&ev=1.2.3"))
    assert plain | {"session_id": ""} == extra | {"session_id": ""}


# --- limits, logs, metrics ---------------------------------------------------------------


def test_limits_answer_413_as_elsewhere(api: Running) -> None:
    body = b"x = 1\n" * (MAX_BODY // 6 + 1)
    as_json = b'{"tc": 0, "f": "' + b"x" * MAX_BODY + b'"}'
    for answer in (type4py(api, body), fetch(api, None, as_json)):
        assert answer.status == 413, answer.body[:300]
        document = answer.json()
        assert document["limit"] == MAX_BODY and str(MAX_BODY) in document["error"]
    # fetch's refusals carry the CORS header, so that a page can read them.
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    params = ", ".join(f"a{i}" for i in range(MAX_SLOTS + 10))
    too_many = type4py(api, f"def f({params}):\n    pass\n".encode())
    assert too_many.status == 413 and str(MAX_SLOTS) in too_many.json()["error"]


def test_nothing_the_client_sent_is_logged(api: Running, caplog: pytest.LogCaptureFixture) -> None:
    """The query's values (ai, fh, ev: the extension's ids), the body and the source never
    reach a log line; each request still gets its access line."""
    secrets = ["SECRETai42", "SECRETfh42", "SECRETev42", "SECRETbody42"]
    query = "tc=0&fp=1&" + urllib.parse.urlencode(dict(zip(("ai", "fh", "ev"), secrets)))
    source = f"def {secrets[3]}(a):\n    return a\n".encode()
    with caplog.at_level(logging.DEBUG):
        response(type4py(api, source, query))
        error(type4py(api, source, query.replace("tc=0", "tc=1")))
        error(type4py(api, b"def (:\n" + source, query))
        assert type4py(api, source + b"#" * MAX_BODY, query).status == 413
        fetched = {"f": source.decode(), "tc": 0, "ai": secrets[0], "fh": secrets[1],
                   "ev": secrets[2]}  # fmt: skip
        response(fetch(api, fetched))
        # Refused by waitress itself, before the app: logged by the server's own path.
        with socket.create_connection((LOOPBACK, api.service.port), timeout=10) as connection:
            connection.sendall(
                f"POST /api/predict?{query} HTTP/1.1\r\nHost: localhost\r\n"
                f"Content-Length: {100 * MAX_BODY}\r\n\r\n".encode()
            )
            assert connection.recv(65536).startswith(b"HTTP/1.1 413")

        def paths() -> List[str]:
            access = [r for r in caplog.records if r.name == "localtypes.access"]
            return [r.fields["path"] for r in access]  # type: ignore[attr-defined]

        # The server logs its own refusal once it has sent it.
        wait_until(lambda: paths().count("/api/predict") == 5, what="the access lines")
    assert paths().count("/api/predict/fetch") == 1
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    for secret in secrets:
        assert secret not in logged


def test_metrics_count_the_type4py_endpoints(api: Running) -> None:
    type4py(api, b"x = 1\n")
    fetch(api, {"f": "x = 1\n", "tc": 0})
    text = api.request("/metrics").body.decode()
    assert metric(text, "localtypes_requests_total", endpoint="/api/predict", status="200") >= 1
    assert (
        metric(text, "localtypes_requests_total", endpoint="/api/predict/fetch", status="200") >= 1
    )
