"""How a node writes its log: ``log_format = text | json`` (cluster.ini), and the one shape of a
request error's log line.

Owns: ``configure`` (the root handler on stderr, in the chosen format), ``JsonFormatter`` (one JSON
object per line: ``time``, ``level``, ``logger``, ``message``, the fields a call passed as
``extra``, and ``exception`` with the traceback text when there is one), and ``request_error``,
which every front end calls so that each such line names the client (address and client id), the
API, and the error's name and code, as text and as JSON fields.
Must not: decide what is worth logging (callers do) or write anywhere but the handler it installs.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

from kraft.config import LogFormat
from kraft.errors import KraftError

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# LogRecord's own attributes: everything else on a record came from ``extra`` and is a field.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

log = logging.getLogger("kraft.node.requests")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values JSON cannot carry become their ``str``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


def configure(log_format: LogFormat, stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send every log line to ``stream`` (stderr) in ``log_format``, replacing earlier handlers."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def request_error(front_end: str, api: str, client: str, client_id: str, error: KraftError,
                  *, unexpected: bool = False) -> None:
    """Log one failed request. An unexpected failure (a bug: the client got UNKNOWN_SERVER_ERROR) is
    an error with its traceback (call it from the ``except`` block); a client's mistake (a
    non-retriable kraft error) is info; a retriable one (a leader moved, a topic not created yet) is
    debug, since clients retry those on their own and a busy cluster answers many."""
    level = logging.ERROR if unexpected else logging.DEBUG if error.retriable else logging.INFO
    if not log.isEnabledFor(level):
        return
    log.log(level, "%s request %s from %s (client id %r) failed: %s (code %d): %s", front_end, api, client,
            client_id, error.name, error.code, error.message, exc_info=unexpected,
            extra={"front_end": front_end, "api": api, "client": client, "client_id": client_id,
                   "error": error.name, "code": error.code})
