"""AWS Lambda entry point: `report_app.lambda_handler.handler(event, context)` behind API Gateway.

Accepts REST API (payload 1.0: ``httpMethod``, ``path``) and HTTP API (payload 2.0:
``requestContext.http.method``, ``rawPath``) events, with plain or base64 bodies, and serves the same
`LineWebhookApp` as `tickerlake bot serve`. The app (settings, lake, cache, fonts) is built on the first
invocation and reused while the container stays warm.

Cold start: when `DEPENDENCIES_BUCKET` is set, the heavy libraries are loaded from S3
(`report_app.dependency_loader.load_configured_dependencies`, docs/lambda-dependencies.md) *before* anything
that imports them; without it nothing is downloaded (the libraries are in the package or a layer). A failed
load fails the cold start loudly rather than an import somewhere later.

Secrets: before the app is built, `report_app.secrets.resolve_secrets` turns `LINE_CHANNEL_SECRET_ARN`,
`LINE_CHANNEL_ACCESS_TOKEN_ARN` and `OPENAI_API_KEY_ARN` into the plain variables (a plain variable that is
set wins). A secret that cannot be read answers 500 "bot not configured" with a one-line log naming the
variable and the ARN; the next invocation tries again.

End of every invocation: the buffered cache events are written (`report_app.cache_events.flush_all`) —
after the LINE reply went out, so the user does not wait for it, and before the container may freeze.
"""

from __future__ import annotations

import base64
import binascii
import logging
import sys
import threading
from collections.abc import Mapping
from typing import Any

from lake.logs import configure_logging

log = logging.getLogger(f"tickerlake.{__name__}")


def load_dependencies_at_cold_start() -> bool:
    """Load the S3 dependency bundle when DEPENDENCIES_BUCKET is set; True if it was loaded."""
    from report_app.settings import DependencySettings

    if not DependencySettings.from_env().bucket:
        return False
    from report_app.dependency_loader import load_configured_dependencies

    path = load_configured_dependencies()
    log.info("lambda: dependencies loaded from S3 into %s", path)
    return True


configure_logging()  # JSON lines with the structured fields (lake.logs), before anything logs
load_dependencies_at_cold_start()  # before the imports below, which may need the heavy libraries

from report_app.line_bot import LineWebhookApp, Response  # noqa: E402
from report_app.secrets import resolve_secrets  # noqa: E402

_app: LineWebhookApp | None = None
_app_lock = threading.Lock()


def get_app() -> LineWebhookApp:
    """The process-wide app, built from the environment on first use."""
    global _app
    if _app is None:
        with _app_lock:
            if _app is None:
                resolve_secrets()  # *_ARN → LINE_* / OPENAI_API_KEY, before the settings read them
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


def flush_cache_events() -> None:
    """Write the cache events buffered during this invocation (nothing to do if none was recorded)."""
    events = sys.modules.get("report_app.cache_events")  # not imported: no service, no events
    if events is None:
        return
    try:
        events.flush_all()
    except Exception:  # bookkeeping never fails the invocation
        log.exception("lambda: cache events flush failed")


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
    try:
        return to_proxy_response(app.handle(method, path, headers, body))
    except Exception:  # always answer: a bug must not turn into API Gateway's bare 502
        log.exception("lambda: webhook request failed")
        return to_proxy_response(Response.text(500, "internal error"))
    finally:
        flush_cache_events()
