"""The HTTP service: ``serve(settings)`` runs it; ``make_app`` is its WSGI app.

Modules: ``app`` (the WSGI app: routes, endpoints, the model's lifecycle), ``requests``
(reading and checking a request), ``replies`` (answers and HTTP errors), ``admission``
(what the model is given at once), ``workers`` (bounded, cancellable work), ``metrics``,
``logs``, and ``hosting`` (waitress: ``Service``, ``serve``).

The names below are imported on first use: importing this package (or ``workers``) does
not load the app, the model code or waitress.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localtypes.service.app import make_app
    from localtypes.service.hosting import ServeError, Service, serve

__all__ = ["ServeError", "Service", "make_app", "serve"]

_HOMES = {"make_app": "app", "Service": "hosting", "ServeError": "hosting", "serve": "hosting"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
