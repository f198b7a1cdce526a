"""AWS Lambda entry point: `report_app.lambda_handler.handler(event, context)` behind API Gateway.

Accepts REST API (payload 1.0: ``httpMethod``, ``path``) and HTTP API (payload 2.0:
``requestContext.http.method``, ``rawPath``) events, with plain or base64 bodies, and serves the same
`LineWebhookApp` as `tickerlake bot serve`. The app (settings, lake, cache, fonts) is built on the first
invocation and reused while the container stays warm.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Mapping
from typing import Any

from report_app.line_bot import LineWebhookApp, Response

log = logging.getLogger(__name__)

_app: LineWebhookApp | None = None
_app_lock = threading.Lock()


def get_app() -> LineWebhookApp:
    """The process-wide app, built from the environment on first use."""
    global _app
    if _app is None:
        with _app_lock:
            if _app is None:
                _app = LineWebhookApp.from_settings()
    return _app


def reset_app(app: LineWebhookApp | None = None) -> None:
    """Replace (or forget) the cached app: for tests and configuration reloads."""
    global _app
    with _app_lock:
        _app = app


def parse_event(event: Mapping[str, Any]) -> tuple[str, str, dict[str, str], bytes]:
    """(method, path, headers, body bytes) of an API Gateway v1 or v2 event; ValueError if it is neither."""
    if event.get("version") == "2.0" or "rawPath" in event:
        method = ((event.get("requestContext") or {}).get("http") or {}).get("method")
        path = event.get("rawPath") or "/"
    else:
        method = event.get("httpMethod")
        path = event.get("path") or "/"
    if not method:
        raise ValueError("not an API Gateway proxy event: no HTTP method")
    headers = {str(k): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the base64 body of the event is not valid base64") from None
    else:
        body = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    return str(method).upper(), str(path), headers, body


def to_proxy_response(response: Response) -> dict[str, Any]:
    return {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": response.body.decode("utf-8", errors="replace"),
        "isBase64Encoded": False,
    }


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """The Lambda handler."""
    try:
        method, path, headers, body = parse_event(event)
    except ValueError as exc:
        log.warning("lambda: %s", exc)
        return to_proxy_response(Response.text(400, str(exc)))
    try:
        app = get_app()
    except ValueError as exc:  # missing LINE_* configuration: fail loudly, never process unverified input
        log.error("lambda: bot not configured: %s", exc)
        return to_proxy_response(Response.text(500, "bot not configured"))
    return to_proxy_response(app.handle(method, path, headers, body))
