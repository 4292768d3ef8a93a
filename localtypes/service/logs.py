"""The service's logs: one JSON object per line on stderr.

Two loggers: ``localtypes.server`` (lifecycle, errors, requests stopped) and
``localtypes.access`` (one line per request, when ``access_log`` is on). A record's
``fields`` become keys of its JSON line, in the order given.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Dict

log = logging.getLogger("localtypes.server")
access_log = logging.getLogger("localtypes.access")


def log_event(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log ``message`` with ``fields``, which the JSON formatter writes as keys of the line."""
    # stacklevel: the record names the caller, not this helper.
    logger.log(level, message, extra={"fields": fields}, stacklevel=2)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: Dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(stream: Any = None) -> None:
    """Structured logs on stderr, unless the embedding program configured logging already."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # waitress warns on every request that waits for a thread; the in-flight gauge says it.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
