"""``localtypes lsp``: the predictions in any editor, as a language server over stdio.

Modules: ``text`` (a buffer, its lines and positions as LSP counts them), ``edits`` (the
smallest replacements between two texts), ``config`` (the project's settings and the
editor's overrides), ``analysis`` (what one text's hints and actions are, from the core
API), ``engine`` (the worker thread, the cache, the debounce) and ``server`` (pygls).

pygls and lsprotocol come with the ``lsp`` extra; importing this package needs neither.
"""

from __future__ import annotations

import importlib.util

from localtypes.errors import LocaltypesError


class LspUnavailable(LocaltypesError):
    """The ``lsp`` extra (pygls, lsprotocol) is not installed."""


def serve_stdio() -> None:
    """Run the language server on stdin and stdout; ``LspUnavailable`` without the extra."""
    missing = [name for name in ("pygls", "lsprotocol") if importlib.util.find_spec(name) is None]
    if missing:
        raise LspUnavailable(
            f"localtypes lsp needs the lsp extra ({', '.join(missing)} not installed): "
            "pip install 'localtypes[lsp]'"
        )
    from localtypes.lsp.server import serve_stdio as serve

    serve()
