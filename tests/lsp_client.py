"""A real LSP client over stdio (pygls's own) driving ``localtypes lsp`` in a subprocess.

Tests stay synchronous: the client's event loop is private and each call runs it until
the answer arrives, so nothing depends on an asyncio plugin for pytest.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Dict, List, Optional, TypeVar

from lsprotocol import types
from pygls.lsp.client import LanguageClient

T = TypeVar("T")

TIMEOUT = 60.0  # seconds for one answer (a cold model load on a busy 2-core machine)


class Client:
    """``localtypes lsp`` started as a user's editor starts it, and a client to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.lsp = LanguageClient("localtypes-tests", "1")
        self.messages: List[types.LogMessageParams] = []
        self.shown: List[types.ShowMessageParams] = []
        self.refreshes = 0
        self.stderr = ""  # what the server wrote on stderr, once stopped

        @self.lsp.feature(types.WINDOW_LOG_MESSAGE)
        def log_message(params: types.LogMessageParams) -> None:
            self.messages.append(params)

        @self.lsp.feature(types.WINDOW_SHOW_MESSAGE)
        def show_message(params: types.ShowMessageParams) -> None:
            self.shown.append(params)

        @self.lsp.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
        def refresh(params: None) -> None:
            self.refreshes += 1

    def call(self, awaitable: Awaitable[T], timeout: float = TIMEOUT) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, timeout))

    def start(self, *args: str, **kwargs: Any) -> None:
        command = [sys.executable, "-m", "localtypes", "lsp", *args]
        self.call(self.lsp.start_io(*command, **kwargs))

    def initialize(
        self,
        root_uri: Optional[str],
        options: Any = None,
        resolve: bool = True,
        encodings: Optional[List[str]] = None,
    ) -> types.InitializeResult:
        resolve_support = (
            types.ClientInlayHintResolveOptions(properties=["textEdits", "tooltip"])
            if resolve
            else None
        )
        capabilities = types.ClientCapabilities(
            general=types.GeneralClientCapabilities(position_encodings=encodings),
            text_document=types.TextDocumentClientCapabilities(
                inlay_hint=types.InlayHintClientCapabilities(resolve_support=resolve_support)
            ),
            workspace=types.WorkspaceClientCapabilities(
                inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True),
                workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
            ),
        )
        result = self.call(
            self.lsp.initialize_async(
                types.InitializeParams(
                    capabilities=capabilities,
                    root_uri=root_uri,
                    initialization_options=options,
                    process_id=None,
                )
            )
        )
        self.lsp.initialized(types.InitializedParams())
        return result

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.lsp.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", version, text))
        )

    def change(self, uri: str, version: int, *changes: Any) -> None:
        self.lsp.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=version, uri=uri), list(changes)
            )
        )

    def save(self, uri: str) -> None:
        self.lsp.text_document_did_save(
            types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri))
        )

    def wait_refresh(self, seconds: float = 10.0) -> bool:
        """Wait until the server next asks for the hints again (after its debounce)."""
        seen = self.refreshes
        deadline = time.monotonic() + seconds
        while self.refreshes == seen and time.monotonic() < deadline:
            self.call(asyncio.sleep(0.05))
        return self.refreshes > seen

    def hints(self, uri: str, lines: int = 100_000) -> List[types.InlayHint]:
        everything = types.Range(types.Position(0, 0), types.Position(lines, 0))
        found = self.call(
            self.lsp.text_document_inlay_hint_async(
                types.InlayHintParams(types.TextDocumentIdentifier(uri), everything)
            )
        )
        return list(found or [])

    def resolve(self, hint: types.InlayHint) -> types.InlayHint:
        return self.call(self.lsp.inlay_hint_resolve_async(hint))

    def actions(
        self, uri: str, start: types.Position, end: types.Position, only: Optional[List[str]] = None
    ) -> List[types.CodeAction]:
        found = self.call(
            self.lsp.text_document_code_action_async(
                types.CodeActionParams(
                    types.TextDocumentIdentifier(uri),
                    types.Range(start, end),
                    types.CodeActionContext(diagnostics=[], only=only),
                )
            )
        )
        return [action for action in found or [] if isinstance(action, types.CodeAction)]

    def configure(self, settings: Dict[str, Any]) -> None:
        self.lsp.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=settings)
        )

    def stop(self) -> Optional[int]:
        """Shutdown, exit, and the server's exit code."""
        server = self.lsp._server
        try:
            self.call(self.lsp.shutdown_async(None), timeout=20)
            self.lsp.exit(None)
            if server is not None:
                self.call(server.wait(), timeout=20)
        finally:
            if server is not None and server.returncode is None:
                server.kill()
                self.call(server.wait(), timeout=20)
            if server is not None and server.stderr is not None:
                self.stderr = self.call(server.stderr.read(), timeout=20).decode("utf-8", "replace")
            self.call(self.lsp.stop(), timeout=20)
            self.loop.close()
        return server.returncode if server is not None else None


# A real module (the bundled example) and two functions that need more: an Optional
# parameter (an import under Python 3.9) and a return the model is unsure of.
EXTRA = """

def greeting(name=None, excited=False):
    if name is None:
        name = "stranger"
    text = "Hello, " + name
    return text + "!" if excited else text


def read_lines(path, encoding="utf-8"):
    with open(path, encoding=encoding) as handle:
        return [line.rstrip("\\n") for line in handle]
"""
PYPROJECT = '[project]\nrequires-python = ">=3.9"\n'


def sample_source(repo_root: Path) -> str:
    return (repo_root / "examples" / "inventory.py").read_text("utf-8") + EXTRA


def sample_project(root: Path, repo_root: Path) -> Path:
    """A project of one module (the sample) whose oldest Python is 3.9."""
    (root / "pyproject.toml").write_text(PYPROJECT, "utf-8")
    module = root / "inventory.py"
    module.write_text(sample_source(repo_root), "utf-8")
    return module


def apply_edits(text: str, edits: Any, encoding: str = "utf-16") -> str:
    """``text`` with LSP text edits applied, as an editor applies them (``\\n`` lines)."""
    lines = text.split("\n")

    def offset(position: types.Position) -> int:
        line = lines[position.line] if position.line < len(lines) else ""
        units, index = 0, 0
        while index < len(line) and units < position.character:
            char = line[index]
            units += {
                "utf-8": len(char.encode()),
                "utf-16": len(char.encode("utf-16-le")) // 2,
            }.get(encoding, 1)
            index += 1
        return sum(len(part) + 1 for part in lines[: position.line]) + index

    spans = sorted((offset(e.range.start), offset(e.range.end), e.new_text) for e in edits)
    out, position = [], 0
    for start, end, new in spans:
        out.append(text[position:start])
        out.append(new)
        position = end
    out.append(text[position:])
    return "".join(out)
