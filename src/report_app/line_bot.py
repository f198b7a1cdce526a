"""The LINE webhook: ``POST /callback`` -> verified events -> report replies.

One framework-free app (`LineWebhookApp.handle(method, path, headers, body)`) is served by the local
server (`tickerlake bot serve`, stdlib ThreadingHTTPServer) and by the Lambda handler alike.

- The signature (``X-Line-Signature``, HMAC-SHA256 of the raw body with the channel secret) is checked
  before anything is parsed: a missing header or a body over `max_body_bytes` is refused with 400/413, a
  wrong signature (or a tampered body) with 401. A signed body nested deeper than `MAX_JSON_DEPTH` is
  refused with 400 before it reaches a JSON parser (no RecursionError); then line-bot-sdk v3's
  `WebhookParser` parses it.
- Processing is synchronous: the report (a cache hit in milliseconds, a rules miss in about a second) is
  built and replied inside the request, then 200 is returned. LINE's reply token must be used within a
  minute and the sender does not retry on a slow answer unless redelivery is enabled, in which case the
  duplicate is dropped (below). A deployment with an LLM narrative on every miss should pre-warm the
  cache (the Dagster `reports` asset) so the webhook stays fast.
- Duplicates: an event whose ``webhookEventId`` was seen before is acknowledged and not answered again.
  Seen by this container: a small SQLite table next to the L1 cache, with an in-memory LRU in front. Seen
  by any container: before answering, the event is *claimed* in the cache bucket with a conditional PUT
  (``If-None-Match: *``) of ``cache/webhook_events/<id>.json``; a claim that already exists means another
  container (or an earlier delivery) answered it. A redelivery (``deliveryContext.isRedelivery``) nobody
  claimed is answered (its first delivery was never handled); when the bucket cannot tell (no store, an id
  that is not a ULID, the store down) a redelivery is dropped, as before.
- Outbound calls to the LINE API have a connect and a read timeout (`DEFAULT_API_TIMEOUT`) and at most two
  connection retries: a reply that fails is logged and dropped, never retried in a loop.
- The local server (`make_server`) bounds the connections it serves at once (`DEFAULT_MAX_CONNECTIONS`;
  more get 503 at once), waits at most `DEFAULT_READ_TIMEOUT` seconds for any read, and closes a connection
  whose request (headers and body) has not arrived within `DEFAULT_REQUEST_TIMEOUT` seconds.
- A reply holds at most 5 messages of at most 5,000 characters: the report text split at paragraph, line
  or character boundaries, then the PDF link.
"""

from __future__ import annotations

import collections
import datetime as dt
import io
import itertools
import json
import logging
import os
import re
import socket
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

from lake import layout
from lake.exceptions import InvalidArgumentValue, LakeError, PreconditionFailed
from pipelines.exceptions import UnknownTicker

log = logging.getLogger(f"tickerlake.{__name__}")

MAX_MESSAGE_CHARS = 5000
MAX_MESSAGES = 5
MAX_BODY_BYTES = 1024 * 1024
DEFAULT_API_BASE_URL = "https://api.line.me"
#: Deepest JSON nesting a webhook body may have (LINE's bodies are about 5 deep).
MAX_JSON_DEPTH = 64
#: (connect, read) timeout in seconds of every call to the LINE API.
DEFAULT_API_TIMEOUT: tuple[float, float] = (3.05, 10.0)
#: The local server: connections served at once, the wait for any one read, the wait for a whole request.
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_REQUEST_TIMEOUT = 30.0
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


_JSON_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKETS_RE = re.compile(r"[\[\]{}]")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text, counted without parsing it (strings are
    skipped), so a body nested 100,000 deep costs a scan, not a recursion."""
    brackets = _JSON_BRACKETS_RE.findall(_JSON_STRING_RE.sub("", text))
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


class SeenEvents:
    """Webhook event ids already handled.

    Local: an LRU in memory in front of a SQLite table (kept `ttl` seconds), which survives a process
    restart on the same machine (a warm Lambda, the local server); the LRU alone remains if SQLite cannot
    be used. Shared (`store`: an ObjectStore, or a zero-argument callable returning one, built on first
    use): `claim_shared` writes ``cache/webhook_events/<id>.json`` with ``If-None-Match: *``, so exactly one
    container of all those sharing the bucket claims an event.
    """

    def __init__(
        self,
        path: str | Path | None,
        *,
        ttl: float = 24 * 3600,
        memory: int = 4096,
        store: Any | Callable[[], Any] | None = None,
        store_retry_after: float = 30.0,
    ) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._recent: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._memory = memory
        self._conn: sqlite3.Connection | None = None
        self._marks = 0
        self._store = store
        self._store_lock = threading.Lock()
        self.store_retry_after = store_retry_after
        self._store_down_until = 0.0
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
        """Record the id locally; True if this container did not see it before."""
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

    def _shared_store(self) -> Any | None:
        if self._store is None or hasattr(self._store, "put"):
            return self._store
        with self._store_lock:
            if not hasattr(self._store, "put"):
                self._store = self._store()
        return self._store

    def claim_shared(self, event_id: str) -> bool | None:
        """Claim the event for this container in the shared store.

        True: claimed now (answer it); False: the claim exists already (another container, or an earlier
        delivery, has it: do not answer); None: the store cannot tell (none configured, an id that is not a
        ULID, or the store failing: then it is skipped for `store_retry_after` seconds).
        """
        if self._store is None:
            return None
        try:
            key = layout.webhook_event_key(event_id)
        except InvalidArgumentValue as exc:
            log.warning("seen events: no shared claim", extra={"event_id": event_id, "error": str(exc)})
            return None
        if time.monotonic() < self._store_down_until:
            return None
        claim = {
            "event_id": event_id,
            "claimed_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        try:
            store = self._shared_store()
            if store is None:
                return None
            store.put(
                key,
                json.dumps(claim).encode("utf-8"),
                content_type="application/json",
                if_none_match=True,
            )
        except PreconditionFailed:
            return False
        except Exception as exc:  # the store down or refusing: the local dedupe still holds
            self._store_down_until = time.monotonic() + self.store_retry_after
            log.warning(
                "seen events: shared claim failed; relying on this container's ids",
                extra={
                    "key": key,
                    "error": f"{type(exc).__name__}: {exc}",
                    "retry_after_seconds": self.store_retry_after,
                },
            )
            return None
        log.info("seen events: claimed", extra={"key": key})
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
    seen: the duplicate-event registry (local ids, and the shared claims when it has a store).
    max_body_bytes: bodies over this are refused with 413.
    api_timeout: (connect, read) seconds of each LINE API call; a failed reply is logged, not retried
        (only a refused connection is retried, twice).
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
        api_timeout: tuple[float, float] = DEFAULT_API_TIMEOUT,
    ) -> None:
        if not channel_secret or not access_token:
            raise ValueError(
                "LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN are required to run the LINE bot"
            )
        self.parser = WebhookParser(channel_secret)
        self.configuration = Configuration(
            access_token=access_token, host=api_base_url or DEFAULT_API_BASE_URL
        )
        from urllib3.util import Retry

        # Only a connection that was never made is retried; a sent reply is never sent again.
        self.configuration.retries = Retry(total=2, connect=2, read=0, status=0, redirect=0, other=0)
        self.api_timeout = api_timeout
        self._service = service
        self._service_lock = threading.Lock()
        self.seen = seen or SeenEvents(None)
        self.max_body_bytes = max_body_bytes

    @classmethod
    def from_settings(cls, settings: Any | None = None, *, service: Any | None = None) -> LineWebhookApp:
        """The app from the environment; ValueError naming the missing LINE_* variables.

        The shared event claims go to the cache bucket: PDF_BUCKET_NAME's when set, else the lake's store.
        """
        from report_app.service import ReportService
        from report_app.settings import ReportSettings

        settings = settings or ReportSettings.from_env()
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

        def cache_store() -> Any:
            from lake.store import open_store

            bucket = settings.pdf_bucket_name
            return open_store(f"s3://{bucket}" if bucket else settings.lake_uri)

        return cls(
            settings.line_channel_secret,
            settings.line_channel_access_token,
            service if service is not None else (lambda: ReportService.from_settings(settings)),
            api_base_url=settings.line_api_base_url,
            seen=SeenEvents(seen_path, store=cache_store),
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
        if not self.parser.signature_validator.validate(text, signature):
            log.warning("webhook refused: invalid signature")
            return Response.text(401, "invalid signature")
        depth = json_depth(text)
        if depth > MAX_JSON_DEPTH:
            log.warning("webhook refused: signed body nested %d deep (at most %d)", depth, MAX_JSON_DEPTH)
            return Response.text(400, "invalid webhook body: nested too deeply")
        try:
            events = self.parser.parse(text, signature)
        except InvalidSignatureError:
            log.warning("webhook refused: invalid signature")
            return Response.text(401, "invalid signature")
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            RecursionError,
        ) as exc:  # signed, not a webhook
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
            log.info(
                "webhook event ignored", extra={"event_type": getattr(event, "type", type(event).__name__)}
            )
            return
        event_id = getattr(event, "webhook_event_id", None)
        context = getattr(event, "delivery_context", None)
        redelivery = bool(context is not None and getattr(context, "is_redelivery", False))
        if event_id and not self.seen.first_time(event_id):
            log.info("webhook duplicate skipped", extra={"event_id": event_id, "reason": "seen"})
            return
        claimed = self.seen.claim_shared(event_id) if event_id else None
        if claimed is False:
            log.info("webhook duplicate skipped", extra={"event_id": event_id, "reason": "claimed-elsewhere"})
            return
        if claimed is None and redelivery:  # nobody can say it was not answered: do not risk a second answer
            log.info("webhook duplicate skipped", extra={"event_id": event_id, "reason": "redelivery"})
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
        log.info(
            "report answered", extra={"ticker": result.symbol, "date": result.date, "cache": result.cache}
        )
        return reply_texts(result.text, result.pdf_url)

    def reply(self, reply_token: str, texts: list[str]) -> bool:
        """Send the reply (with `api_timeout`); False, and a warning, when it failed. Never retried: the
        reply token is single-use and LINE may have received it."""
        request = ReplyMessageRequest(replyToken=reply_token, messages=[TextMessage(text=t) for t in texts])
        started = time.monotonic()
        try:
            with ApiClient(self.configuration) as client:
                MessagingApi(client).reply_message(request, _request_timeout=self.api_timeout)
        except Exception as exc:  # a timeout, a refused connection, an expired token: log it and move on
            log.warning(
                "LINE reply failed after %.1fs: %s: %s", time.monotonic() - started, type(exc).__name__, exc
            )
            return False
        return True


class _DeadlineReader(io.RawIOBase):
    """The socket's reads, each waiting at most `read_timeout` seconds and none past `deadline` (a
    `time.monotonic()` value, or None): a client that dribbles a request cannot hold a thread longer."""

    def __init__(self, sock: socket.socket, read_timeout: float) -> None:
        self.sock = sock
        self.read_timeout = read_timeout
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wait = self.read_timeout
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request did not arrive in time")
            wait = min(wait, left)
        self.sock.settimeout(wait)
        return self.sock.recv_into(buffer)


def make_http_handler(
    app: LineWebhookApp,
    *,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
):
    """A `http.server` request handler class serving `app`.

    Each read waits at most `read_timeout` seconds and a request (request line, headers, body) must arrive
    within `request_timeout` seconds of the connection asking for it; otherwise the connection is closed
    (408 when the headers came but the body did not). Writes wait at most `read_timeout` per send.
    """
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        server_version = "tickerlake-bot"
        protocol_version = "HTTP/1.1"
        timeout = read_timeout  # the socket's timeout: also bounds each write

        def setup(self) -> None:
            super().setup()
            self.rfile.close()  # replaced by a reader with a deadline (closing it keeps the socket open)
            self._reader = _DeadlineReader(self.connection, read_timeout)
            self.rfile = io.BufferedReader(self._reader)

        def handle_one_request(self) -> None:
            self._reader.deadline = time.monotonic() + request_timeout
            super().handle_one_request()

        def _read_body(self, length: int) -> bytes | None:
            """The body, or None (after a 408) when it did not arrive in time or the client went away."""
            try:
                body = self.rfile.read(length) if length else b""
            except TimeoutError:
                body = None
            except OSError as exc:
                log.info("http %s body not read: %s", self.address_string(), exc)
                self.close_connection = True
                return None
            if body is None or len(body) < length:
                self.close_connection = True
                if body is None:
                    log.warning("http %s request body timed out", self.address_string())
                    self._send(Response.text(408, "request timeout"), "POST")
                return None
            return body

        def _send(self, response: Response, method: str) -> None:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(response.body)

        def _serve(self, method: str) -> None:
            length_header = self.headers.get("Content-Length", "0")
            try:
                length = int(length_header)
            except ValueError:
                length = -1
            if length < 0:
                self.close_connection = True
                response = Response.text(400, "bad Content-Length")
            elif length > app.max_body_bytes:  # refused before reading it
                self.close_connection = True
                response = Response.text(413, "body too large")
            else:
                body = self._read_body(length)
                if body is None:
                    return
                self._reader.deadline = None  # the request is in: handling it is not the client's time
                try:
                    response = app.handle(method, self.path, dict(self.headers.items()), body)
                except Exception:  # always answer: a bug must not leave the client waiting
                    log.exception("webhook request failed")
                    response = Response.text(500, "internal error")
            self._send(response, method)

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self._serve("POST")

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve("HEAD")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.info("http %s %s", self.address_string(), format % args)

    return Handler


_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 5\r\n\r\nbusy\n"
)


def make_server(
    app: LineWebhookApp,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
):
    """A threading HTTP server serving the webhook (call `serve_forever()`).

    At most `max_connections` connections are served at once, each by its own thread; a connection
    beyond that is answered 503 (``Retry-After: 1``) and closed at once, without a thread. Reads are
    bounded as `make_http_handler` says, so a slow or silent client holds its thread for at most
    `request_timeout` seconds (an idle keep-alive connection: `read_timeout`).
    """
    from http.server import ThreadingHTTPServer

    for name, value in (
        ("max_connections", max_connections),
        ("read_timeout", read_timeout),
        ("request_timeout", request_timeout),
    ):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")

    class BoundedServer(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

        def __init__(self) -> None:
            self.slots = threading.BoundedSemaphore(max_connections)
            self.max_connections = max_connections
            self.refused = 0
            super().__init__(
                (host, port),
                make_http_handler(app, read_timeout=read_timeout, request_timeout=request_timeout),
            )

        def process_request(self, request: Any, client_address: Any) -> None:
            if not self.slots.acquire(blocking=False):
                self.refused += 1
                log.warning(
                    "http %s refused: %d connections already being served (503)",
                    client_address[0],
                    self.max_connections,
                )
                try:
                    request.settimeout(1.0)
                    request.sendall(_BUSY_RESPONSE)
                except OSError:
                    pass
                self.shutdown_request(request)
                return
            try:
                super().process_request(request, client_address)
            except BaseException:
                self.slots.release()
                raise

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            try:
                super().process_request_thread(request, client_address)
            finally:
                self.slots.release()

    return BoundedServer()


def event_body(events: list[dict[str, Any]], destination: str = "U0") -> bytes:
    """A webhook body (for tests and local trials)."""
    return json.dumps({"destination": destination, "events": events}).encode("utf-8")
