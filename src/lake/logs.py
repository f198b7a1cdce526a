"""Logging: every module logs under ``tickerlake.*`` with structured fields, and this sets up the output.

A log call names what happened in its message and passes the facts as fields::

    log.info("cache hit", extra={"tier": "l1", "key": key})

`configure_logging` puts one handler on the ``tickerlake`` logger:

- ``text`` (a terminal, the CLI): ``INFO tickerlake.report_app.cache: cache hit tier=l1 key=...``;
- ``json`` (AWS Lambda, whose ``log_format = "JSON"`` keeps a JSON line as it is): one object a line,
  ``{"timestamp", "level", "logger", "message", ...fields, "exception"?}``, so CloudWatch Logs Insights can
  filter on ``tier`` or ``key``.

``TICKERLAKE_LOG_LEVEL`` (or ``--log-level``) sets the level; ``TICKERLAKE_LOG_FORMAT`` = ``auto`` (json on
Lambda, text elsewhere), ``json`` or ``text``.

The JSON formatter is the standard library's: twenty lines, no dependency in the Lambda package, and it
writes exactly the ``extra`` fields (python-json-logger would do the same with one more package to ship).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from typing import Any, TextIO

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "fields_of", "on_lambda"]

#: The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of a record: what the call passed as `extra=`."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def on_lambda() -> bool:
    """True inside AWS Lambda (the runtime sets AWS_LAMBDA_FUNCTION_NAME)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


class TextFormatter(logging.Formatter):
    """``LEVEL logger: message`` and the record's fields as ``key=value`` (values with blanks quoted)."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        parts = []
        for key, value in fields_of(record).items():
            shown = str(value)
            parts.append(f" {key}={json.dumps(shown) if (' ' in shown or not shown) else shown}")
        return text + "".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: timestamp (UTC), level, logger, message, the fields, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in fields_of(record).items():
            body.setdefault(key, value)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False)


def configure_logging(
    level: str | None = None, fmt: str | None = None, *, stream: TextIO | None = None
) -> logging.Handler:
    """One handler on the ``tickerlake`` logger (replacing the one set before); level and format from the
    arguments, else TICKERLAKE_LOG_LEVEL / TICKERLAKE_LOG_FORMAT. Returns the handler."""
    from lake.config import LakeSettings

    settings = LakeSettings.from_env(log_level=level, log_format=fmt)
    use_json = settings.log_format == "json" or (settings.log_format == "auto" and on_lambda())
    root = logging.getLogger("tickerlake")
    for handler in list(root.handlers):
        if getattr(handler, "_tickerlake", False):
            root.removeHandler(handler)
    # Lambda reads stdout and stderr alike; a terminal keeps stdout for the command's output.
    handler = logging.StreamHandler(stream or (sys.stdout if use_json and on_lambda() else sys.stderr))
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler._tickerlake = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    root.propagate = not on_lambda()  # the runtime's root handler would write every line a second time
    return handler
