"""What an endpoint answers: a ``Reply``, or an ``HTTPError`` that becomes a JSON error."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

JSON_TYPE = "application/json"
RETRY_AFTER_SECONDS = 1


class HTTPError(Exception):
    """An error answer: status, message, and optional extra JSON fields and headers."""

    def __init__(
        self,
        status: int,
        message: str,
        extra: Optional[Dict[str, Any]] = None,
        headers: Iterable[Tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra or {}
        self.headers = list(headers)


def unavailable(message: str) -> HTTPError:
    """A 503 that tells the client when to try again."""
    return HTTPError(503, message, headers=[("Retry-After", str(RETRY_AFTER_SECONDS))])


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: List[Tuple[str, str]] = field(default_factory=list)


def json_reply(status: int, document: Any, headers: Iterable[Tuple[str, str]] = ()) -> Reply:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Reply(status, body, headers=list(headers))


def error_reply(error: HTTPError) -> Reply:
    return json_reply(error.status, {"error": error.message, **error.extra}, error.headers)
