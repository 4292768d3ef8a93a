"""The language server: pygls wiring from LSP messages to the buffers, the engine and the
analyses. Everything here translates; what to show is decided in ``analysis``.

- ``textDocument/inlayHint``: a ``: T`` / `` -> T`` hint for each annotation ``localtypes
  annotate`` writes into the buffer, its tooltip the top-k guesses; its text edits write
  that annotation and its imports (computed on ``inlayHint/resolve`` when the client
  resolves them, else at once).
- ``textDocument/codeAction``: on a slot, a quick fix per guess that can be written; on
  the file, ``source.localtypes``: what ``localtypes annotate`` writes.
- Buffers follow the client (full and incremental sync): an open file is never read
  from disk (its project's settings and other modules are, see ``project``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from localtypes import __version__
from localtypes.errors import LocaltypesError
from localtypes.lsp.analysis import Analysis, Hint, SlotView
from localtypes.lsp.config import document_settings, editor_overrides, for_us
from localtypes.lsp.edits import replacements
from localtypes.lsp.engine import Engine, Stale
from localtypes.lsp.text import UTF16, Buffer
from localtypes.settings import Settings

SOURCE_ACTION = "source.localtypes"


class LocaltypesServer(LanguageServer):
    """The server's state: open buffers, the editor's settings, the engine."""

    def __init__(self) -> None:
        super().__init__("localtypes", __version__)
        self.buffers: Dict[str, Buffer] = {}
        self.overrides: Dict[str, Any] = {}
        self.engine = Engine()
        self._told: Set[str] = set()  # messages already shown, so each is shown once

    # --- helpers -------------------------------------------------------------------------

    @property
    def encoding(self) -> str:
        try:
            return str(self.workspace.position_encoding)
        except RuntimeError:  # not initialized yet
            return UTF16

    def tell(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """Say ``message`` in the client's log (once per distinct message)."""
        if message in self._told:
            return
        if len(self._told) > 1000:
            self._told.clear()
        self._told.add(message)
        self.window_log_message(types.LogMessageParams(type=kind, message=f"localtypes: {message}"))

    def settings_for(self, uri: str) -> Settings:
        path = _path(uri)
        try:
            root = self.workspace.root_path
        except RuntimeError:
            root = None
        settings, problem = document_settings(path, root, self.overrides)
        if problem:
            self.tell(f"{problem}; using the defaults")
        return settings

    def set_overrides(self, document: Any) -> None:
        values, problems = editor_overrides(document)
        self.overrides = values
        for problem in problems:
            self.tell(f"settings: {problem}")

    async def analysis(self, uri: str) -> Optional[Analysis]:
        """The analysis of the buffer as it is now; None when there is no such buffer or
        it changed before the work ran."""
        buffer = self.buffers.get(uri)
        if buffer is None:
            return None
        self.engine.cancel(uri)  # a request does not wait for the debounce
        text = buffer.text
        try:
            found = await self.engine.analysis(
                text, _path(uri), self.settings_for(uri), lambda: self._is_current(uri, text)
            )
        except Stale:
            return None
        except LocaltypesError as exc:  # the model store is missing or damaged...
            self.tell(str(exc), types.MessageType.Error)
            return None
        if found.problem:
            self.tell(f"{_name(uri)}: no predictions: {found.problem}", types.MessageType.Log)
        return found

    async def current(self, uri: str) -> Optional[Tuple[Analysis, Buffer]]:
        """The analysis of the buffer and the buffer, while it still holds the text that
        was analysed; None otherwise (no such buffer, or it changed meanwhile)."""
        found = await self.analysis(uri)
        buffer = self.buffers.get(uri)
        if found is None or buffer is None or buffer.text != found.text:
            return None
        return found, buffer

    def _is_current(self, uri: str, text: str) -> bool:
        buffer = self.buffers.get(uri)
        return buffer is not None and buffer.text == text

    def schedule(self, uri: str) -> None:
        """Analyse ``uri`` once typing pauses, then have the client ask for hints again."""

        def start() -> None:
            task = asyncio.ensure_future(self._background(uri))
            task.add_done_callback(lambda t: None if t.cancelled() else t.exception())

        self.engine.debounce(uri, start)

    async def _background(self, uri: str) -> None:
        try:
            found = await self.analysis(uri)
        except Exception as exc:  # a bug: said once, the server goes on
            self.tell(f"internal error {type(exc).__name__}: {exc}", types.MessageType.Error)
            return
        if found is not None and self._can_refresh():
            self.workspace_inlay_hint_refresh(None)

    def _can_refresh(self) -> bool:
        workspace = self.client_capabilities.workspace
        hints = workspace.inlay_hint if workspace else None
        return bool(hints and hints.refresh_support)

    def resolves_edits(self) -> bool:
        """Whether the client resolves an inlay hint's text edits lazily."""
        document = self.client_capabilities.text_document
        hints = document.inlay_hint if document else None
        support = hints.resolve_support if hints else None
        return bool(support and "textEdits" in support.properties)

    def text_edits(self, buffer: Buffer, old: str, new: str) -> List[types.TextEdit]:
        return [
            types.TextEdit(_range(buffer, edit.start, edit.end), edit.text)
            for edit in replacements(old, new)
        ]

    def workspace_edit(self, uri: str, buffer: Buffer, new: str) -> types.WorkspaceEdit:
        edits = self.text_edits(buffer, buffer.text, new)
        workspace = self.client_capabilities.workspace
        changes = workspace.workspace_edit if workspace else None
        if changes and changes.document_changes:
            # Versioned: the client refuses the edit if the buffer moved on meanwhile.
            document = types.OptionalVersionedTextDocumentIdentifier(uri, buffer.version)
            return types.WorkspaceEdit(
                document_changes=[types.TextDocumentEdit(document, list(edits))]
            )
        return types.WorkspaceEdit(changes={uri: list(edits)})


def _path(uri: str) -> Optional[str]:
    return to_fs_path(uri) if uri.startswith("file:") else None


def _name(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


def _range(buffer: Buffer, start: int, end: int) -> types.Range:
    return types.Range(_position(buffer, start), _position(buffer, end))


def _position(buffer: Buffer, offset: int) -> types.Position:
    line, character = buffer.position(offset)
    return types.Position(line, character)


def _tooltip(view: SlotView) -> types.MarkupContent:
    rows = "\n".join(
        f"{rank}. `{guess.label}` {guess.confidence:.2f}"
        for rank, guess in enumerate(view.guesses, 1)
    )
    return types.MarkupContent(
        types.MarkupKind.Markdown, f"localtypes: guesses for {view.subject}\n\n{rows}"
    )


def _matches(kind: str, only: Optional[Sequence[str]]) -> bool:
    """Whether a code action of ``kind`` is among those asked for (LSP: by prefix)."""
    return only is None or any(kind == want or kind.startswith(f"{want}.") for want in only)


def make_server() -> LocaltypesServer:
    """The server with every feature registered."""
    server = LocaltypesServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: LocaltypesServer, params: types.InitializeParams) -> None:
        ls.set_overrides(params.initialization_options)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: LocaltypesServer, params: types.InitializedParams) -> None:
        # Load the model now, so the first hints do not wait for it.
        settings = ls.settings_for("")
        try:
            await ls.engine.run(lambda: ls.engine.predictor(settings))
        except LocaltypesError as exc:
            ls.tell(f"cannot load the model: {exc}", types.MessageType.Error)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(
        ls: LocaltypesServer, params: types.DidChangeConfigurationParams
    ) -> None:
        if not for_us(params.settings):
            return
        ls.set_overrides(params.settings)
        for uri in ls.buffers:
            ls.schedule(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LocaltypesServer, params: types.DidOpenTextDocumentParams) -> None:
        document = params.text_document
        ls.buffers[document.uri] = Buffer(document.text, document.version, ls.encoding)
        ls.schedule(document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LocaltypesServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        buffer = ls.buffers.get(uri)
        if buffer is None:
            return
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                start, end = change.range.start, change.range.end
                buffer.apply((start.line, start.character), (end.line, end.character), change.text)
            else:
                buffer.replace_all(change.text)
        buffer.version = params.text_document.version
        ls.schedule(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: LocaltypesServer, params: types.DidSaveTextDocumentParams) -> None:
        # Call sites in the saved module are evidence for the other open modules.
        ls.engine.forget()
        for uri in ls.buffers:
            ls.schedule(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LocaltypesServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.engine.cancel(params.text_document.uri)
        ls.buffers.pop(params.text_document.uri, None)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: LocaltypesServer, params: None) -> None:
        ls.engine.close()

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=True))
    async def inlay_hint(
        ls: LocaltypesServer, params: types.InlayHintParams
    ) -> List[types.InlayHint]:
        uri = params.text_document.uri
        try:
            current = await ls.current(uri)
            if current is None:
                return []
            found, buffer = current
            first, last = _span(buffer, params.range)
            shown = [h for h in found.hints if first <= h.view.insert_at <= last]
            eager = not ls.resolves_edits()
            if eager:  # the client takes the edits now or never
                await ls.engine.run(lambda: [found.hint_output(hint) for hint in shown])
            return [_inlay_hint(ls, uri, buffer, found, hint, eager) for hint in shown]
        except Exception as exc:  # a bug: no hints, one line in the client's log
            ls.tell(f"internal error {type(exc).__name__}: {exc}", types.MessageType.Error)
            return []

    @server.feature(types.INLAY_HINT_RESOLVE)
    async def inlay_hint_resolve(ls: LocaltypesServer, hint: types.InlayHint) -> types.InlayHint:
        data = hint.data if isinstance(hint.data, dict) else {}
        uri = data.get("uri")
        try:
            buffer = ls.buffers.get(uri) if isinstance(uri, str) else None
            if not isinstance(uri, str) or buffer is None or buffer.version != data.get("version"):
                return hint  # the buffer moved on: this hint is about to be replaced
            found = await ls.analysis(uri)
            if found is None or found.text != buffer.text:
                return hint
            key = data.get("key")
            chosen = next((h for h in found.hints if list(h.view.slot.key) == key), None)
            if chosen is not None:
                output = await ls.engine.run(lambda: found.hint_output(chosen))
                if output is not None:
                    hint.text_edits = ls.text_edits(buffer, found.text, output)
            return hint
        except Exception as exc:
            ls.tell(f"internal error {type(exc).__name__}: {exc}", types.MessageType.Error)
            return hint

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, SOURCE_ACTION],
            resolve_provider=False,
        ),
    )
    async def code_action(
        ls: LocaltypesServer, params: types.CodeActionParams
    ) -> List[types.CodeAction]:
        uri = params.text_document.uri
        try:
            current = await ls.current(uri)
            if current is None:
                return []
            found, buffer = current
            only = params.context.only
            actions: List[types.CodeAction] = []
            if _matches(types.CodeActionKind.QuickFix, only):
                first, last = _span(buffer, params.range)
                for view in found.view_at(first, last):
                    actions.extend(await _quick_fixes(ls, uri, buffer, found, view))
            if _matches(SOURCE_ACTION, only) and found.annotated not in (None, found.text):
                assert found.annotated is not None
                count = len(found.hints)
                actions.append(
                    types.CodeAction(
                        title=f"Annotate the file with localtypes ({count} annotations)",
                        kind=SOURCE_ACTION,
                        edit=ls.workspace_edit(uri, buffer, found.annotated),
                    )
                )
            return actions
        except Exception as exc:
            ls.tell(f"internal error {type(exc).__name__}: {exc}", types.MessageType.Error)
            return []

    return server


def _span(buffer: Buffer, where: types.Range) -> Tuple[int, int]:
    """The offsets in ``buffer`` where an editor's range starts and ends."""
    return (
        buffer.offset(where.start.line, where.start.character),
        buffer.offset(where.end.line, where.end.character),
    )


def _inlay_hint(
    ls: LocaltypesServer, uri: str, buffer: Buffer, found: Analysis, hint: Hint, eager: bool
) -> types.InlayHint:
    edits = None
    if eager:
        output = found.hint_output(hint)  # computed above, on the worker
        edits = None if output is None else ls.text_edits(buffer, found.text, output)
    return types.InlayHint(
        position=_position(buffer, hint.view.insert_at),
        label=hint.label,
        kind=types.InlayHintKind.Type,
        text_edits=edits,
        tooltip=_tooltip(hint.view),
        data={"uri": uri, "version": buffer.version, "key": list(hint.view.slot.key)},
    )


async def _quick_fixes(
    ls: LocaltypesServer, uri: str, buffer: Buffer, found: Analysis, view: SlotView
) -> List[types.CodeAction]:
    chosen = next((h for h in found.hints if h.view.slot.key == view.slot.key), None)
    candidates, preferred = await ls.engine.run(
        lambda: (found.candidates(view), found.hint_output(chosen) if chosen else None)
    )
    return [
        types.CodeAction(
            title=f"Annotate {view.subject} as `{candidate.text}` ({candidate.confidence:.2f})",
            kind=types.CodeActionKind.QuickFix,
            edit=ls.workspace_edit(uri, buffer, candidate.output),
            is_preferred=candidate.output == preferred if preferred is not None else None,
        )
        for candidate in candidates
    ]


def serve_stdio() -> None:
    """Run the server on this process's stdin and stdout until the client says exit."""
    import sys

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # stdout carries the protocol: a stray print must not corrupt it.
    sys.stdout = sys.stderr
    server = make_server()
    try:
        server.start_io(stdin, stdout)
    finally:
        server.engine.close()
