"""Log lines: one JSON object per line for machines (each carrying the id of the request it was
written for), or a short readable line for a person watching a terminal."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from app.observability.redact import redact_text, redact_value
from app.observability.requestid import current_request_id

# Everything a LogRecord carries by itself; whatever else is on a record came from `extra=`
# (uvicorn's color_message repeats the message with terminal escapes: not worth a field).
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}

# Set on the handler configure_logging installs, so calling it again replaces, never stacks.
_OURS = "_trainctl_json"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in entry:
                entry[key] = redact_value(key, value)
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ASCII-only output: U+2028 and friends would let one record span "lines" for some
        # log shippers; json.dumps escapes newlines, so one record is always one line.
        return json.dumps(entry, default=str, ensure_ascii=True)


class ConsoleFormatter(logging.Formatter):
    """``12:03:04.120 INFO  access  POST /v1/training-runs 202 8.1ms  req=3f2a...``: the time, the
    level, where from, the message, then any extra fields; colored when `color`."""

    COLORS = {"DEBUG": "2", "INFO": "32", "WARNING": "33", "ERROR": "31", "CRITICAL": "1;31"}
    # The access line's fields are already in its message.
    _SHOWN_IN_MESSAGE = frozenset({"method", "route", "path", "status", "duration_ms", "client"})

    def __init__(self, *, color: bool = False) -> None:
        super().__init__()
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        level = f"{record.levelname:<5}"
        if self.color:
            level = f"\x1b[{self.COLORS.get(record.levelname, '0')}m{level}\x1b[0m"
        source = record.name.removeprefix("trainctl.").removeprefix("app.")
        parts = [when, level, f"{source:<12}", redact_text(record.getMessage())]
        extras = [
            f"{key}={redact_value(key, value)}"
            for key, value in vars(record).items()
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in self._SHOWN_IN_MESSAGE
        ]
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            extras.append(f"req={str(request_id)[:8]}")
        line = "  ".join([" ".join(parts[:3]), parts[3], *([" ".join(extras)] if extras else [])])
        if record.exc_info:
            line += "\n" + redact_text(self.formatException(record.exc_info))
        return line


def wants_json(log_format: str, stream: TextIO) -> bool:
    """JSON unless a person is reading: `auto` means readable lines on a terminal only."""
    if log_format == "json":
        return True
    if log_format == "console":
        return False
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure_logging(level: str = "INFO", *, stream: TextIO | None = None, log_format: str = "auto") -> None:
    """Send every logger's records, uvicorn's included, to `stream` (stdout): JSON lines, or
    readable lines when `log_format` is `console` (or `auto` and the stream is a terminal).

    uvicorn must then be started with ``log_config=None`` (keep this configuration) and
    ``access_log=False`` (the observability middleware writes the access lines).
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
    target = stream or sys.stdout
    handler = logging.StreamHandler(target)
    if wants_json(log_format, target):
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            ConsoleFormatter(color=log_format == "auto" or bool(os.environ.get("FORCE_COLOR")))
        )
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    # mlflow is imported lazily, and its import would give its own loggers (and alembic's and
    # sqlalchemy's) a plain-text stderr handler that bypasses this one. Processes started
    # later (the step runner) inherit this too; they may set it back to true.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    # azure-core logs every HTTP request and response header set at INFO, and alembic one line
    # per migration step of MLflow's own store (dozens at first start): noise, not signal.
    for noisy in ("azure.core.pipeline.policies.http_logging_policy", "alembic"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    logging.captureWarnings(True)
