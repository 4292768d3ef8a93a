"""A real LSP client over stdio (pygls's own) driving ``localtypes lsp`` in a subprocess.

Tests stay synchronous: the client's event loop is private and each call runs it until
the answer arrives, so nothing depends on an asyncio plugin for pytest.
"""

from __future__ import annotations

import asyncio
import sys
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
            self.call(self.lsp.stop(), timeout=20)
            self.loop.close()
        return server.returncode if server is not None else None
