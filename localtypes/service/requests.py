"""Reading a model request: media type, charset, body size, query string, JSON object, and
the options of each endpoint, whose values are parsed by the settings' table
(``localtypes.settings``): text from the query string, typed values from a JSON body.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Collection, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl

from localtypes.service.replies import JSON_TYPE, HTTPError
from localtypes.settings import parse_json_value, parse_target_version, parse_text_value

if TYPE_CHECKING:
    from wsgiref.types import WSGIEnvironment

MAX_CONTEXT_MODULES = 500
MAX_PATH_CHARS = 4096
MAX_QUERY_FIELDS = 16
# An option's bad value is quoted in the error: at most this much of the reason.
MAX_REASON_CHARS = 200

_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def target_version_pattern() -> str:
    """``target_version`` as this server takes it, as a regular expression (the served
    OpenAPI document's TargetVersion pattern, with ^...$ around it): a minor version the
    settings' parser accepts, "py" optional, or auto, or nothing; spaces and tabs around.
    Only ASCII classes, so that Python's re and the document's ECMA-262 regex agree."""
    minors: List[str] = []
    for minor in range(100):
        try:
            parse_target_version(f"3.{minor}")
        except ValueError:
            continue
        minors.append(f"0?{minor}" if minor < 10 else str(minor))
    versions = "|".join(minors)
    return rf"[ \t]*(([Pp][Yy])?3\.?({versions})|[Aa][Uu][Tt][Oo])?[ \t]*"


_TARGET_VERSION = re.compile(target_version_pattern())
# A UTF-16 surrogate on its own (JSON's "\ud800"): not text, and not encodable as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")
# curl --data-binary sends application/x-www-form-urlencoded unless told otherwise; the body
# is still taken verbatim as the source (never form-decoded), so the README's curl works.
_SOURCE_TYPES = frozenset(
    {"", "text/x-python", "text/x-script.python", "text/plain",
     "application/x-python", "application/x-www-form-urlencoded"}
)  # fmt: skip


@dataclass(frozen=True)
class SourceRequest:
    """What a POST asked for, validated."""

    source: str
    path: Optional[str]
    options: Dict[str, Any]
    # Other modules of the source's project (relative path -> source): evidence only.
    context: Dict[str, str] = field(default_factory=dict)


def read_request(
    environ: WSGIEnvironment, options: Collection[str], max_body_bytes: int
) -> SourceRequest:
    """The source, path and options of a POST; ``options`` names the settings it may set.

    Raises ``HTTPError`` (400, 413 or 415) for anything it cannot take.
    """
    media = _check_media_type(environ)
    if not environ.get("CONTENT_TYPE") and not content_length(environ):
        raise HTTPError(
            400,
            "the request has no body: send the Python source as the body (an empty source"
            ' with its media type), or JSON {"source": ...}',
        )
    text = _body_text(environ, max_body_bytes)
    query = _query(environ)
    if "source" in query:
        raise HTTPError(400, '"source" is not a query parameter: send it as the body')
    fields: Dict[str, Any] = dict(query)
    if media == JSON_TYPE:
        document = _json_object(text)
        _check_text(document)
        twice = sorted(set(document) & set(fields))
        if twice:
            raise HTTPError(400, f"{twice[0]!r} is given both in the query and in the body")
        fields.update(document)
        if "source" not in fields:
            raise HTTPError(400, 'the JSON body needs a "source" string')
        source = fields.pop("source")
        if not isinstance(source, str):
            raise HTTPError(400, '"source" must be a string')
    else:
        source = text
    path = fields.pop("path", None)
    if path is not None and (not isinstance(path, str) or len(path) > MAX_PATH_CHARS):
        raise HTTPError(400, f'"path" must be a string of at most {MAX_PATH_CHARS} characters')
    if "context" in query:
        raise HTTPError(400, '"context" is not a query parameter: send it in the JSON body')
    context = _context(fields.pop("context", None))
    unknown = sorted(set(fields) - set(options))
    if unknown:
        known = ", ".join(["source", "path", "context", *options])
        raise HTTPError(400, f"unknown field {unknown[0][:40]!r} (known: {known})")
    parsed = {name: _option(name, value, name in query) for name, value in fields.items()}
    return SourceRequest(source=source, path=path, options=parsed, context=context)


def _context(value: Any) -> Dict[str, str]:
    """``"context"``: other modules of the project, relative path -> source (each counts
    against the body limit like the source)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_CONTEXT_MODULES:
        raise HTTPError(
            400,
            f'"context" must be an object of at most {MAX_CONTEXT_MODULES} modules:'
            " relative path -> source",
        )
    for key, text in value.items():
        parts = key.split("/")
        if (
            len(key) > MAX_PATH_CHARS
            or not key.endswith((".py", ".pyi"))
            or key.startswith("/")
            or any(part in ("", ".", "..") for part in parts)
        ):
            raise HTTPError(
                400,
                f'"context" keys are relative paths such as "pkg/util.py", not {key[:60]!r}',
            )
        if not isinstance(text, str):
            raise HTTPError(400, f'"context" values are sources (strings), not for {key[:60]!r}')
    return dict(value)


def _option(name: str, value: Any, from_query: bool) -> Any:
    """A setting's value: from query text as from an environment variable, else from JSON."""
    if name == "target_version" and isinstance(value, str) and not _TARGET_VERSION.fullmatch(value):
        shown = value[:40] + ("..." if len(value) > 40 else "")
        raise HTTPError(
            400,
            f"bad value for 'target_version': expected a version like 3.9 or py39 (3.7 or"
            f" newer), auto or nothing, got {shown!r}",
        )
    try:
        return parse_text_value(name, value) if from_query else parse_json_value(name, value)
    except (TypeError, ValueError, OverflowError) as exc:
        reason = str(exc)
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[:MAX_REASON_CHARS] + "..."
        raise HTTPError(400, f"bad value for {name!r}: {reason}") from None


def _check_media_type(environ: WSGIEnvironment) -> str:
    """The body's media type, if it is Python source as text or JSON, plain and UTF-8."""
    media, params = _media_type(str(environ.get("CONTENT_TYPE", "")))
    if media != JSON_TYPE and media not in _SOURCE_TYPES:
        raise HTTPError(
            415,
            f"unsupported media type {media!r}: send Python source as text/x-python or"
            ' text/plain (UTF-8), or JSON {"source": ...} as application/json',
        )
    encoding = str(environ.get("HTTP_CONTENT_ENCODING", "identity")).strip().lower()
    if encoding not in ("", "identity"):
        raise HTTPError(415, f"unsupported content encoding {encoding[:40]!r}: send it plain")
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise HTTPError(415, f"unsupported charset {charset!r}: send UTF-8")
    return media


def _media_type(header: str) -> Tuple[str, Dict[str, str]]:
    media, _, rest = header.partition(";")
    params: Dict[str, str] = {}
    for part in rest.split(";"):
        name, _, value = part.partition("=")
        if name.strip():
            params[name.strip().lower()] = value.strip().strip('"')
    return media.strip().lower(), params


def _body_text(environ: WSGIEnvironment, limit: int) -> str:
    """The body as text, at most ``limit`` bytes of UTF-8, without a byte order mark."""
    length = content_length(environ)
    if length > limit:
        raise body_too_large(length, limit)
    body = bytes(environ["wsgi.input"].read(length)) if length else b""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPError(400, f"the body is not valid UTF-8 (byte {exc.start})") from None
    return text[1:] if text.startswith("\ufeff") else text  # a BOM is not source


def body_too_large(length: Optional[int], limit: int) -> HTTPError:
    """The 413 for a body over ``limit``, the same whoever refuses it (the app, or the HTTP
    server before the body is read); ``length`` None: a chunked body, its length unknown."""
    size = f"{length} bytes" if length is not None else f"more than {limit} bytes"
    return HTTPError(
        413,
        f"the body has {size}; this server accepts at most {limit} (max_body_bytes)",
        {"limit": limit},
    )


def _check_text(document: Any) -> None:
    """Refuse a JSON document with a lone surrogate in any string (key or value)."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            found = _SURROGATE.search(value)
            if found:
                raise HTTPError(
                    400,
                    f"invalid JSON: a lone surrogate (\\u{ord(found.group()):04x}) is not text",
                )


def content_length(environ: WSGIEnvironment) -> int:
    """The Content-Length the client declared (0 when absent or not a number)."""
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _query(environ: WSGIEnvironment) -> Dict[str, str]:
    raw = str(environ.get("QUERY_STRING", ""))
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        raise HTTPError(400, "too many query parameters") from None
    query: Dict[str, str] = {}
    for name, value in pairs:
        if name in query:
            raise HTTPError(400, f"query parameter {name[:40]!r} given twice")
        query[name] = value
    return query


def _json_object(text: str) -> Dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HTTPError(
            400, f"invalid JSON: {exc.msg}", {"line": exc.lineno, "column": exc.colno}
        ) from None
    except RecursionError:
        raise HTTPError(400, "invalid JSON: nested too deeply") from None
    except ValueError:  # an integer of more digits than Python converts (4300)
        raise HTTPError(400, "invalid JSON: a number has too many digits") from None
    if not isinstance(document, dict):
        raise HTTPError(400, 'the JSON body must be an object with a "source" string')
    return document


def request_id(environ: WSGIEnvironment) -> str:
    """The client's X-Request-Id when it is a sane token, else a new one."""
    given = environ.get("HTTP_X_REQUEST_ID")
    if isinstance(given, str) and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex
