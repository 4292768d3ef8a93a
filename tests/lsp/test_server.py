"""``localtypes lsp`` as an editor meets it: the real server in a subprocess, the real
bundled model, a real LSP client over stdio, a real file of a real project."""

from __future__ import annotations

import ast
import io
import os
import re
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
from lsp_client import Client, apply_edits, sample_project
from lsprotocol import types

from localtypes.api import check_annotated
from localtypes.cli import main

pytestmark = pytest.mark.slow


def env(repo_root: Path) -> Dict[str, str]:
    """This checkout importable from the server's process, and no settings from outside."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOCALTYPES_")}
    model = os.environ.get("LOCALTYPES_MODEL")
    extra = {"LOCALTYPES_MODEL": model} if model else {}
    return {**clean, **extra, "PYTHONPATH": str(repo_root)}


def cli_annotated(module: Path, tmp: Path) -> str:
    """What ``localtypes annotate`` writes into a copy of ``module``'s project."""
    copy = tmp / "cli"
    copy.mkdir()
    for item in module.parent.iterdir():
        if item.is_file():
            (copy / item.name).write_bytes(item.read_bytes())
    out, err = io.StringIO(), io.StringIO()
    assert main(["annotate", "--no-cache", str(copy / module.name)], out, err) == 0, err
    return (copy / module.name).read_text("utf-8")


def annotations(text: str) -> Dict[tuple[str, str], str]:
    """(function's qualified name, parameter or "return") -> annotation, for every def."""
    found: Dict[tuple[str, str], str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                args = child.args
                for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                    if arg.annotation is not None:
                        found[(name, arg.arg)] = ast.unparse(arg.annotation)
                if child.returns is not None:
                    found[(name, "return")] = ast.unparse(child.returns)
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")

    visit(ast.parse(text), "")
    return found


def imports(text: str) -> set[str]:
    tree = ast.parse(text)
    return {ast.unparse(s) for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    return sample_project(tmp_path_factory.mktemp("project"), repo_root)


@pytest.fixture(scope="module")
def session(project: Path, repo_root: Path) -> Iterator[Client]:
    """One server for the tests below, initialized as VS Code does (hints resolved lazily)."""
    client = Client()
    client.start(env=env(repo_root), cwd=str(project.parent))
    try:
        client.initialize(project.parent.as_uri())
        yield client
    finally:
        assert client.stop() == 0
    assert "Traceback" not in client.stderr, client.stderr


def test_initialize_says_what_the_server_does(project: Path, repo_root: Path) -> None:
    client = Client()
    client.start(env=env(repo_root))
    try:
        result = client.initialize(project.parent.as_uri())
        capabilities = result.capabilities
        assert capabilities.inlay_hint_provider == types.InlayHintOptions(resolve_provider=True)
        assert isinstance(capabilities.code_action_provider, types.CodeActionOptions)
        assert list(capabilities.code_action_provider.code_action_kinds or []) == [
            "quickfix",
            "source.localtypes",
        ]
        sync = capabilities.text_document_sync
        assert isinstance(sync, types.TextDocumentSyncOptions)
        assert sync.change == types.TextDocumentSyncKind.Incremental
        assert result.server_info is not None and result.server_info.name == "localtypes"
    finally:
        assert client.stop() == 0  # shutdown, then exit: exit code 0


def test_hints_and_their_edits_are_what_annotate_writes(
    session: Client, project: Path, tmp_path: Path
) -> None:
    text = project.read_text("utf-8")
    uri = project.as_uri()
    session.open(uri, text)
    hints = session.hints(uri)
    expected = cli_annotated(project, tmp_path)
    wanted = annotations(expected)
    assert len(hints) == len(wanted) >= 10
    lines = text.split("\n")
    for hint in hints:
        assert hint.kind == types.InlayHintKind.Type
        assert hint.text_edits is None  # this client resolves them
        resolved = session.resolve(hint)
        assert resolved.text_edits
        one = apply_edits(text, resolved.text_edits)
        # only this slot's annotation and its imports, as the CLI wrote them (and the bare
        # containers of a function it annotates first: ``self.items: dict = {}``)
        added = check_annotated(text, one)
        assert added.get("empty-container", 0) <= 1
        assert sum(added.values()) - added.get("empty-container", 0) == 1
        (slot, annotation), *rest = annotations(one).items()
        assert not rest and wanted[slot] == annotation
        assert imports(one) <= imports(expected)
        label = hint.label
        assert isinstance(label, str) and label.strip(" :->") == annotation
        before = lines[hint.position.line][: hint.position.character]
        assert before.endswith(slot[1] if slot[1] != "return" else ")")
        assert isinstance(hint.tooltip, types.MarkupContent)
        assert "1. `" in hint.tooltip.value and "5. `" in hint.tooltip.value


def test_the_source_action_writes_what_annotate_writes(
    session: Client, project: Path, tmp_path: Path
) -> None:
    text = project.read_text("utf-8")
    uri = project.as_uri()
    session.open(uri, text)
    start = types.Position(0, 0)
    actions = session.actions(uri, start, start, only=["source"])
    assert [a.kind for a in actions] == ["source.localtypes"]
    edit = actions[0].edit
    assert edit is not None and edit.document_changes
    change = edit.document_changes[0]
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.version == 1
    assert apply_edits(text, change.edits) == cli_annotated(project, tmp_path)


def test_quick_fixes_on_a_slot(session: Client, project: Path) -> None:
    text = project.read_text("utf-8")
    uri = project.as_uri()
    session.open(uri, text)
    line = text.split("\n").index("def greeting(name=None, excited=False):")
    on_name = types.Position(line, len("def greeting(na"))
    actions = session.actions(uri, on_name, on_name, only=["quickfix"])
    assert actions and all(a.kind == "quickfix" for a in actions)
    first = actions[0]
    # the confidence in two decimals (1.00 when the model is all but sure)
    assert re.fullmatch(r"Annotate `name` as `Optional\[str\]` \((0\.\d\d|1\.00)\)", first.title)
    assert first.is_preferred is True
    assert [a.is_preferred for a in actions[1:]] == [False] * (len(actions) - 1)
    for action in actions:
        assert action.edit is not None and action.edit.document_changes
        change = action.edit.document_changes[0]
        assert isinstance(change, types.TextDocumentEdit)
        assert check_annotated(text, apply_edits(text, change.edits)) == {"param": 1}
    on_function = types.Position(line, len("def gre"))
    returns = session.actions(uri, on_function, on_function, only=["quickfix"])
    assert returns and returns[0].title.startswith("Annotate the return of `greeting` as `str`")
    nowhere = session.actions(uri, types.Position(0, 0), types.Position(0, 0), only=["quickfix"])
    assert nowhere == []


def hint_at(hints: List[types.InlayHint], line: int) -> List[str]:
    return [str(h.label) for h in hints if h.position.line == line]


def test_the_buffer_not_the_disk(session: Client, project: Path) -> None:
    text = project.read_text("utf-8")
    uri = project.as_uri()
    session.open(uri, text, version=1)
    before = session.hints(uri)
    last = len(text.split("\n")) - 1
    # incremental: a new function at the end, then two lines above everything
    added = (
        "\n\ndef count_words(text, limit=10, verbose=False):\n    words = text.split()\n"
        "    if verbose:\n        print(words)\n    return len(words[:limit])\n"
    )
    session.change(
        uri,
        2,
        types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(last, 0), types.Position(last, 0)), text=added
        ),
    )
    after = session.hints(uri)
    new_line = last + 2
    assert hint_at(after, new_line) == [": str", ": int", ": bool", " -> int"]
    assert [h.position for h in after if h.position.line < new_line] == [h.position for h in before]
    session.change(
        uri,
        3,
        types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(1, 0), types.Position(1, 0)), text="#\n#\n"
        ),
    )
    # no request now: once typing pauses the server analyses the buffer by itself, then
    # has the client ask again (workspace/inlayHint/refresh), and the answer is ready
    assert session.wait_refresh()
    shifted = session.hints(uri)
    assert [(h.position.line, h.label) for h in shifted] == [
        (h.position.line + 2, h.label) for h in after
    ]
    assert project.read_text("utf-8") == text  # nothing was written


def test_a_broken_buffer_has_no_hints_and_no_error(session: Client, project: Path) -> None:
    text = project.read_text("utf-8")
    uri = project.as_uri()
    session.open(uri, text, version=1)
    assert session.hints(uri)
    line = text.split("\n").index("def greeting(name=None, excited=False):")
    end = types.Position(line, len("def greeting(name=None, excited=False)"))
    session.change(
        uri, 2, types.TextDocumentContentChangePartial(range=types.Range(end, end), text="(")
    )
    assert session.hints(uri) == []  # an answer, not an error
    assert session.actions(uri, types.Position(0, 0), types.Position(0, 0)) == []
    assert session.shown == []
    session.change(uri, 3, types.TextDocumentContentChangeWholeDocument(text=text))  # full sync
    assert len(session.hints(uri)) >= 10


def test_settings_from_the_editor(session: Client, project: Path) -> None:
    text = project.read_text("utf-8")
    uri = project.as_uri()
    session.open(uri, text)
    every = session.hints(uri)
    session.configure({"localtypes": {"kinds": ["return"], "minConfidence": 0.9}})
    returns = session.hints(uri)
    assert returns and all(str(h.label).startswith(" -> ") for h in returns)
    assert len(returns) < len([h for h in every if str(h.label).startswith(" -> ")])
    session.configure({"python": {"analysis": {"typeCheckingMode": "basic"}}})  # not ours
    assert len(session.hints(uri)) == len(returns)
    session.configure({"localtypes": {"top-k": 0}})  # bad: named in the log, left out
    assert len(session.hints(uri)) == len(every)
    assert any("top-k" in m.message for m in session.messages)
    session.configure({})


def test_without_resolve_the_edits_come_with_the_hints(tmp_path: Path, repo_root: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.localtypes]\nkinds = ['param']\n", "utf-8")
    module = tmp_path / "names.py"
    text = 'def label(title="Größe", count=0):\n    return title * count\n'
    module.write_text(text, "utf-8")
    client = Client()
    client.start(env=env(repo_root))
    try:
        client.initialize(
            tmp_path.as_uri(), options={"top-k": 2}, resolve=False, encodings=["utf-8"]
        )
        client.open(module.as_uri(), text)
        hints = client.hints(module.as_uri())
        assert [str(h.label) for h in hints] == [": str", ": int"]  # kinds from pyproject
        count = hints[1]
        # UTF-8 columns: "Größe" is 7 bytes
        assert count.position == types.Position(0, len('def label(title="Größe", count'.encode()))
        assert count.text_edits is not None
        assert apply_edits(text, count.text_edits, "utf-8").startswith(
            'def label(title="Größe", count: int = 0):'
        )
        assert isinstance(count.tooltip, types.MarkupContent)
        assert "2. `" in count.tooltip.value and "3. `" not in count.tooltip.value
    finally:
        assert client.stop() == 0


def test_a_missing_model_is_said_not_crashed_on(project: Path, repo_root: Path) -> None:
    client = Client()
    client.start(env={**env(repo_root), "LOCALTYPES_MODEL": str(project.parent / "nowhere")})
    try:
        client.initialize(project.parent.as_uri())
        client.open(project.as_uri(), project.read_text("utf-8"))
        assert client.hints(project.as_uri()) == []
        errors = [m.message for m in client.messages if m.type == types.MessageType.Error]
        assert errors and all("no model store found" in m for m in errors)
    finally:
        assert client.stop() == 0
    assert "Traceback" not in client.stderr


SHAPES = """\
def scale(value, factor):
    return value * factor


def describe(item, width):
    return item.ljust(width)


def combine(first, second):
    return first + second
"""
CALLERS = """\
from shapes import combine, describe, scale

print(scale(2.5, 3))
print(scale(1.5, 2.0))
print(describe("name", 10).upper())
print(combine([1, 2], [3]))
"""


def test_call_sites_in_the_other_modules_count(
    session: Client, tmp_path: Path, repo_root: Path
) -> None:
    """As for ``localtypes annotate``: here the callers decide most annotations (alone,
    the module gets 2, with them 5)."""
    project = tmp_path / "two"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "two"\n', "utf-8")
    module = project / "shapes.py"
    module.write_text(SHAPES, "utf-8")
    (project / "main.py").write_text(CALLERS, "utf-8")
    session.open(module.as_uri(), SHAPES)
    start = types.Position(0, 0)
    (action,) = session.actions(module.as_uri(), start, start, only=["source.localtypes"])
    assert action.edit is not None and action.edit.document_changes
    change = action.edit.document_changes[0]
    assert isinstance(change, types.TextDocumentEdit)
    expected = cli_annotated(module, tmp_path)
    assert apply_edits(SHAPES, change.edits) == expected
    assert len(session.hints(module.as_uri())) == len(annotations(expected)) >= 4


def test_a_saved_caller_counts_at_once(session: Client, tmp_path: Path) -> None:
    project = tmp_path / "two"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "two"\n', "utf-8")
    module = project / "shapes.py"
    module.write_text(SHAPES, "utf-8")
    session.open(module.as_uri(), SHAPES)
    alone = session.hints(module.as_uri())
    callers = project / "main.py"
    callers.write_text(CALLERS, "utf-8")  # as the editor saves it
    session.open(callers.as_uri(), CALLERS)
    session.save(callers.as_uri())
    assert session.wait_refresh()
    assert len(session.hints(module.as_uri())) > len(alone)
