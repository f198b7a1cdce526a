"""The LINE webhook: ``POST /callback`` -> verified events -> report replies.

One framework-free app (`LineWebhookApp.handle(method, path, headers, body)`) is served by the local
server (`tickerlake bot serve`, stdlib ThreadingHTTPServer) and by the Lambda handler alike.

- The signature (``X-Line-Signature``, HMAC-SHA256 of the raw body with the channel secret) is checked by
  line-bot-sdk v3's `WebhookParser` before anything is parsed: a missing header or a body over
  `max_body_bytes` is refused with 400/413, a wrong signature (or a tampered body) with 401.
- Processing is synchronous: the report (a cache hit in milliseconds, a rules miss in about a second) is
  built and replied inside the request, then 200 is returned. LINE's reply token must be used within a
  minute and the sender does not retry on a slow answer unless redelivery is enabled, in which case the
  duplicate is dropped (below). A deployment with an LLM narrative on every miss should pre-warm the
  cache (the Dagster `reports` asset) so the webhook stays fast.
- Duplicates: an event with ``deliveryContext.isRedelivery`` true, or whose ``webhookEventId`` was seen
  before (a small SQLite table next to the L1 cache, with an in-memory LRU in front), is acknowledged and
  not answered again.
- A reply holds at most 5 messages of at most 5,000 characters: the report text split at paragraph, line
  or character boundaries, then the PDF link.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, ReplyMessageRequest, TextMessage
from linebot.v3.webhooks import MessageEvent, TextMessageContent

from lake.exceptions import InvalidArgumentValue, LakeError
from pipelines.exceptions import UnknownTicker

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 5000
MAX_MESSAGES = 5
MAX_BODY_BYTES = 1024 * 1024
DEFAULT_API_BASE_URL = "https://api.line.me"
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")

TEXTS = {
    "unknown": "ไม่พบหุ้น {text} คุณหมายถึง {suggestion} หรือเปล่า?\n(Unknown ticker {text}: did you mean {suggestion}?)",
    "unknown_no_hint": "ไม่พบหุ้น {text} ลองพิมพ์สัญลักษณ์ DR เช่น DBS19\n(Unknown ticker {text}: try a DR symbol such as DBS19.)",
    "no_data": "ยังไม่มีข้อมูลที่คำนวณไว้ของ {text} ในวันที่ขอ\n(No precomputed data for {text} on that date yet.)",
    "bad_input": "ไม่เข้าใจคำขอ: {error}\n(Could not read the request: {error})",
    "error": "ขออภัย ระบบขัดข้องชั่วคราว กรุณาลองใหม่อีกครั้ง\n(Sorry, something went wrong; please try again.)",
    "pdf": "📄 รายงาน PDF / PDF report: {url}",
}


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain; charset=utf-8"})

    @classmethod
    def text(cls, status: int, message: str) -> Response:
        return cls(status, message.encode("utf-8"))


def utf16_len(text: str) -> int:
    """LINE counts message length in UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, limit: int) -> int:
    """The largest index i such that text[:i] fits `limit` UTF-16 units."""
    units, index = 0, 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def split_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split text into chunks of at most `limit` characters, at a blank line, else a line, else a space."""
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        if utf16_len(rest) <= limit:
            chunks.append(rest)
            break
        cut = _cut(rest, limit)
        window = rest[:cut]
        for separator in ("\n\n", "\n", " "):
            at = window.rfind(separator)
            if at > cut // 2:
                cut = at
                break
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return chunks


def reply_texts(report_text: str, pdf_url: str | None) -> list[str]:
    """The messages of a report reply: the text chunks (at most 4 with a PDF link, 5 without), then the link."""
    room = MAX_MESSAGES - (1 if pdf_url else 0)
    chunks = split_message(report_text)
    if len(chunks) > room:
        chunks = chunks[:room]
        last = chunks[-1]
        chunks[-1] = last[: _cut(last, MAX_MESSAGE_CHARS - 2)].rstrip() + " …"
    if pdf_url:
        chunks.append(TEXTS["pdf"].format(url=pdf_url)[:MAX_MESSAGE_CHARS])
    return chunks


class SeenEvents:
    """Webhook event ids already handled: an LRU in memory in front of a SQLite table (kept `ttl` seconds).

    The table survives a process restart on the same machine (a warm Lambda, the local server); the LRU
    alone remains if SQLite cannot be used.
    """

    def __init__(self, path: str | Path | None, *, ttl: float = 24 * 3600, memory: int = 4096) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._recent: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._memory = memory
        self._conn: sqlite3.Connection | None = None
        self._marks = 0
        if path is not None:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS seen_events (event_id TEXT PRIMARY KEY, seen_at REAL NOT NULL)"
                )
                self._conn = conn
            except (sqlite3.Error, OSError) as exc:
                log.warning(
                    "seen events: SQLite unavailable at %s (%s); keeping ids in memory only", path, exc
                )

    def first_time(self, event_id: str) -> bool:
        """Record the id; True if it was not seen before (so the event is to be handled)."""
        now = time.time()
        with self._lock:
            if event_id in self._recent:
                self._recent.move_to_end(event_id)
                return False
            self._recent[event_id] = now
            while len(self._recent) > self._memory:
                self._recent.popitem(last=False)
            if self._conn is None:
                return True
            try:
                cursor = self._conn.execute(
                    "INSERT OR IGNORE INTO seen_events (event_id, seen_at) VALUES (?, ?)", (event_id, now)
                )
                self._marks += 1
                if self._marks % 500 == 0:
                    self._conn.execute("DELETE FROM seen_events WHERE seen_at < ?", (now - self.ttl,))
                return cursor.rowcount == 1
            except sqlite3.Error as exc:
                log.warning("seen events: SQLite write failed (%s); relying on memory", exc)
                return True


def parse_request_text(text: str) -> tuple[str, str | None, str]:
    """'DBS19', 'DBS19 en', 'dbs19 2025-11-10 th' -> (ticker text, date or None, lang)."""
    words = text.split()
    lang, date, rest = "th", None, []
    for word in words:
        lowered = word.lower()
        if lowered in ("th", "en", "thai", "english", "ไทย"):
            lang = "en" if lowered in ("en", "english") else "th"
        elif _DATE_RE.fullmatch(word):
            date = word
        else:
            rest.append(word)
    return " ".join(rest), date, lang


class LineWebhookApp:
    """The webhook application.

    Parameters
    ----------
    channel_secret, access_token: LINE_CHANNEL_SECRET, LINE_CHANNEL_ACCESS_TOKEN.
    service: a `ReportService`, or a zero-argument callable returning one (built on first use).
    api_base_url: LINE_API_BASE_URL (default https://api.line.me), e.g. a local fake in tests.
    seen: the duplicate-event registry.
    """

    def __init__(
        self,
        channel_secret: str,
        access_token: str,
        service: Any | Callable[[], Any],
        *,
        api_base_url: str | None = None,
        seen: SeenEvents | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if not channel_secret or not access_token:
            raise ValueError(
                "LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN are required to run the LINE bot"
            )
        self.parser = WebhookParser(channel_secret)
        self.configuration = Configuration(
            access_token=access_token, host=api_base_url or DEFAULT_API_BASE_URL
        )
        self._service = service
        self._service_lock = threading.Lock()
        self.seen = seen or SeenEvents(None)
        self.max_body_bytes = max_body_bytes

    @classmethod
    def from_settings(cls, settings: Any | None = None, *, service: Any | None = None) -> LineWebhookApp:
        """The app from the environment; ValueError naming the missing LINE_* variables."""
        from lake.config import Settings
        from report_app.service import ReportService

        settings = settings or Settings.from_env()
        missing = [
            name
            for name, value in (
                ("LINE_CHANNEL_SECRET", settings.line_channel_secret),
                ("LINE_CHANNEL_ACCESS_TOKEN", settings.line_channel_access_token),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"the LINE bot needs {' and '.join(missing)} set in the environment")
        seen_path = Path(settings.cache_sqlite_path).with_name("line_events.db")
        return cls(
            settings.line_channel_secret,
            settings.line_channel_access_token,
            service if service is not None else (lambda: ReportService.from_settings(settings)),
            api_base_url=settings.line_api_base_url,
            seen=SeenEvents(seen_path),
        )

    @property
    def service(self) -> Any:
        if callable(self._service) and not hasattr(self._service, "report"):
            with self._service_lock:
                if callable(self._service) and not hasattr(self._service, "report"):
                    self._service = self._service()
        return self._service

    # ------------------------------------------------------------------------------------------ HTTP

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        """One HTTP request; headers are matched case-insensitively."""
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if path in ("/", "/health") and method in ("GET", "HEAD"):
            return Response.text(200, "ok")
        if path != "/callback":
            return Response.text(404, "not found")
        if method != "POST":
            return Response(405, b"method not allowed", {"Allow": "POST", "Content-Type": "text/plain"})
        lowered = {name.lower(): value for name, value in headers.items()}
        signature = lowered.get("x-line-signature")
        if not signature:
            log.warning("webhook refused: no X-Line-Signature header")
            return Response.text(400, "missing X-Line-Signature")
        if len(body) > self.max_body_bytes:
            log.warning("webhook refused: body of %d bytes over %d", len(body), self.max_body_bytes)
            return Response.text(413, "body too large")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return Response.text(400, "body is not UTF-8")
        try:
            events = self.parser.parse(text, signature)
        except InvalidSignatureError:
            log.warning("webhook refused: invalid signature")
            return Response.text(401, "invalid signature")
        except (ValueError, KeyError, TypeError) as exc:  # signed but not a webhook body
            log.warning("webhook refused: signed body is not a LINE webhook payload (%s)", type(exc).__name__)
            return Response.text(400, "invalid webhook body")
        for event in events:
            try:
                self.handle_event(event)
            except Exception:  # one bad event must not make LINE redeliver the whole batch
                log.exception("webhook event failed")
        return Response.text(200, "OK")

    # ------------------------------------------------------------------------------------------ events

    def handle_event(self, event: Any) -> None:
        if not isinstance(event, MessageEvent) or not isinstance(event.message, TextMessageContent):
            log.info("webhook event ignored type=%s", getattr(event, "type", type(event).__name__))
            return
        event_id = getattr(event, "webhook_event_id", None)
        context = getattr(event, "delivery_context", None)
        if context is not None and getattr(context, "is_redelivery", False):
            log.info("webhook duplicate skipped event_id=%s reason=redelivery", event_id)
            return
        if event_id and not self.seen.first_time(event_id):
            log.info("webhook duplicate skipped event_id=%s reason=seen", event_id)
            return
        messages = self.answer(event.message.text)
        self.reply(event.reply_token, messages)

    def answer(self, text: str) -> list[str]:
        """The reply messages for one chat text."""
        ticker, date, lang = parse_request_text(text)
        shown = ticker or text.strip()
        if not ticker:
            return [TEXTS["unknown_no_hint"].format(text=repr(text.strip()))]
        try:
            result = self.service.report(ticker, date, lang)
        except UnknownTicker as exc:
            template = "unknown" if exc.suggestion else "unknown_no_hint"
            return [TEXTS[template].format(text=shown, suggestion=exc.suggestion)]
        except InvalidArgumentValue as exc:
            return [TEXTS["bad_input"].format(error=exc)]
        except LakeError as exc:
            log.warning("report unavailable for %s: %s", shown, exc)
            return [TEXTS["no_data"].format(text=shown)]
        except Exception:
            log.exception("report failed for %s", shown)
            return [TEXTS["error"]]
        log.info("report answered ticker=%s date=%s cache=%s", result.symbol, result.date, result.cache)
        return reply_texts(result.text, result.pdf_url)

    def reply(self, reply_token: str, texts: list[str]) -> None:
        request = ReplyMessageRequest(replyToken=reply_token, messages=[TextMessage(text=t) for t in texts])
        try:
            with ApiClient(self.configuration) as client:
                MessagingApi(client).reply_message(request)
        except Exception as exc:  # the token may have expired; nothing to retry
            log.warning("LINE reply failed: %s: %s", type(exc).__name__, exc)


def make_http_handler(app: LineWebhookApp):
    """A `http.server` request handler class serving `app`."""
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        server_version = "tickerlake-bot"
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            length_header = self.headers.get("Content-Length", "0")
            try:
                length = int(length_header)
            except ValueError:
                length = -1
            if length < 0:
                response = Response.text(400, "bad Content-Length")
            elif length > app.max_body_bytes:  # refused before reading it
                response = Response.text(413, "body too large")
                self.close_connection = True
            else:
                body = self.rfile.read(length) if length else b""
                response = app.handle(method, self.path, dict(self.headers.items()), body)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(response.body)

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self._serve("POST")

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve("HEAD")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.info("http %s %s", self.address_string(), format % args)

    return Handler


def make_server(app: LineWebhookApp, host: str = "127.0.0.1", port: int = 8080):
    """A ThreadingHTTPServer serving the webhook (call `serve_forever()`)."""
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer((host, port), make_http_handler(app))
    server.daemon_threads = True
    return server


def event_body(events: list[dict[str, Any]], destination: str = "U0") -> bytes:
    """A webhook body (for tests and local trials)."""
    return json.dumps({"destination": destination, "events": events}).encode("utf-8")
