"""The LINE webhook: signature checks, hostile requests, splitting, duplicates, replies to a fake LINE API."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import hmac
import json
import logging
import os
import random
import select
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from lake import layout
from lake.exceptions import InvalidArgumentValue
from pipelines.exceptions import UnknownTicker
from report_app import lambda_handler
from report_app.line_bot import (
    DEFAULT_API_TIMEOUT,
    MAX_MESSAGE_CHARS,
    MAX_MESSAGES,
    LineWebhookApp,
    SeenEvents,
    event_body,
    make_server,
    parse_request_text,
    reply_texts,
    split_message,
    utf16_len,
)
from tickerlake_cli.main import app as cli

SECRET = "test-channel-secret"
TOKEN = "test-access-token"


class FakeLineApi:
    """A tiny LINE Messaging API on 127.0.0.1 that records the reply POSTs."""

    def __init__(self) -> None:
        self.replies: list[dict] = []
        self.headers: list[dict] = []
        self.received = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.replies.append({"path": self.path, "body": json.loads(body)})
                outer.headers.append(dict(self.headers.items()))
                outer.received.set()
                payload = b'{"sentMessages": [{"id": "461230966842064897", "quoteToken": "q"}]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeResult:
    def __init__(self, text: str, pdf_url: str | None = "https://example.invalid/r.pdf") -> None:
        self.text, self.pdf_url = text, pdf_url
        self.symbol, self.date, self.cache = "D05.SI", "2025-11-11", "miss"


class FakeService:
    """Answers DBS19 with a fixed text; anything else is unknown with the suggestion DBS19."""

    def __init__(self, text: str = "report for DBS19") -> None:
        self.text = text
        self.calls: list[tuple] = []

    def report(self, ticker, date=None, lang="th"):
        self.calls.append((ticker, date, lang))
        if ticker.upper() != "DBS19":
            raise UnknownTicker(ticker.upper(), "DBS19")
        return FakeResult(f"{self.text} [{lang}]")


@pytest.fixture
def line_api():
    api = FakeLineApi()
    yield api
    api.close()


@pytest.fixture
def service():
    return FakeService()


@pytest.fixture
def app(line_api, service, tmp_path):
    return LineWebhookApp(
        SECRET,
        TOKEN,
        service,
        api_base_url=line_api.url,
        seen=SeenEvents(tmp_path / "seen.db"),
        max_body_bytes=64_000,
    )


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def text_event(text: str = "DBS19", *, event_id: str = "01HEVENT0001", redelivery: bool = False) -> dict:
    return {
        "type": "message",
        "mode": "active",
        "timestamp": 1731300000000,
        "source": {"type": "user", "userId": "U1234567890abcdef"},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": redelivery},
        "replyToken": f"reply-{event_id}",
        "message": {"id": "468789577898", "type": "text", "quoteToken": "q", "text": text},
    }


def post(app, body: bytes, headers: dict | None = None):
    return app.handle(
        "POST", "/callback", headers if headers is not None else {"X-Line-Signature": sign(body)}, body
    )


# ------------------------------------------------------------------------------------- security


def test_signed_request_is_answered_with_a_reply(app, line_api, service):
    response = post(app, event_body([text_event("DBS19")]))
    assert response.status == 200
    assert len(line_api.replies) == 1
    reply = line_api.replies[0]
    assert reply["path"] == "/v2/bot/message/reply"
    assert reply["body"]["replyToken"] == "reply-01HEVENT0001"
    texts = [m["text"] for m in reply["body"]["messages"]]
    assert texts[0] == "report for DBS19 [th]"
    assert texts[-1].endswith("https://example.invalid/r.pdf")
    assert line_api.headers[0]["Authorization"] == f"Bearer {TOKEN}"


def test_missing_signature_header_is_refused_without_processing(app, line_api, service):
    assert post(app, event_body([text_event()]), headers={}).status == 400
    assert service.calls == [] and line_api.replies == []


def test_wrong_signature_is_refused(app, line_api, service):
    body = event_body([text_event()])
    assert post(app, body, {"X-Line-Signature": sign(body, "another-secret")}).status == 401
    assert service.calls == [] and line_api.replies == []


def test_tampered_body_is_refused(app, line_api, service):
    body = event_body([text_event("DBS19")])
    signature = sign(body)
    tampered = body.replace(b"DBS19", b"UOB19")
    assert post(app, tampered, {"x-line-signature": signature}).status == 401
    assert service.calls == []


def test_huge_body_is_refused_before_verification(app, service):
    body = b'{"events": [' + b" " * 70_000 + b"]}"
    assert post(app, body).status == 413
    assert service.calls == []


@pytest.mark.parametrize("body", [b"not json at all", b'{"no_events": true}', b"[1, 2, 3]"])
def test_signed_but_malformed_body_is_a_400(app, service, body):
    assert post(app, body).status == 400
    assert service.calls == []


def test_non_utf8_body_is_a_400(app):
    body = b"\xff\xfe\x00garbage"
    assert post(app, body).status == 400


def test_other_paths_and_methods(app):
    assert app.handle("GET", "/callback", {}, b"").status == 405
    assert app.handle("POST", "/elsewhere", {}, b"").status == 404
    assert app.handle("GET", "/health", {}, b"").status == 200


def test_app_refuses_to_start_without_credentials(service):
    with pytest.raises(ValueError, match="LINE_CHANNEL_SECRET"):
        LineWebhookApp("", TOKEN, service)


def test_from_settings_names_the_missing_variables(monkeypatch):
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "x")
    with pytest.raises(ValueError, match="LINE_CHANNEL_ACCESS_TOKEN"):
        LineWebhookApp.from_settings()


# ------------------------------------------------------------------------------------- behaviour


def test_unknown_ticker_gets_a_suggestion(app, line_api):
    assert post(app, event_body([text_event("DBS91")])).status == 200
    texts = [m["text"] for m in line_api.replies[0]["body"]["messages"]]
    assert len(texts) == 1
    assert "DBS19" in texts[0] and "did you mean" in texts[0]


def test_language_and_date_words_are_passed_on(app, service):
    post(app, event_body([text_event("dbs19 en 2025-11-10")]))
    assert service.calls == [("dbs19", "2025-11-10", "en")]


def test_redelivered_event_is_not_answered(app, line_api, service):
    assert post(app, event_body([text_event(redelivery=True)])).status == 200
    assert service.calls == [] and line_api.replies == []


def test_same_event_id_twice_produces_one_report(app, line_api, service):
    body = event_body([text_event(event_id="01HSAME")])
    assert post(app, body).status == 200
    assert post(app, body).status == 200
    assert len(service.calls) == 1 and len(line_api.replies) == 1


def test_seen_event_ids_survive_a_restart(tmp_path):
    assert SeenEvents(tmp_path / "seen.db").first_time("01HX") is True
    assert SeenEvents(tmp_path / "seen.db").first_time("01HX") is False


def test_non_text_events_are_acknowledged_and_ignored(app, line_api, service):
    follow = {
        "type": "follow",
        "mode": "active",
        "timestamp": 1,
        "source": {"type": "user", "userId": "U1"},
        "webhookEventId": "01HFOLLOW",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": "r",
        "follow": {"isUnblocked": False},
    }
    assert post(app, event_body([follow])).status == 200
    assert service.calls == [] and line_api.replies == []


def test_a_failing_service_still_replies_with_an_apology(line_api, tmp_path):
    class Broken:
        def report(self, *args):
            raise RuntimeError("boom")

    app = LineWebhookApp(SECRET, TOKEN, Broken(), api_base_url=line_api.url)
    assert post(app, event_body([text_event()])).status == 200
    assert "Sorry" in line_api.replies[0]["body"]["messages"][0]["text"]


def test_unreachable_line_api_does_not_fail_the_webhook(service):
    app = LineWebhookApp(SECRET, TOKEN, service, api_base_url="http://127.0.0.1:9")
    assert post(app, event_body([text_event()])).status == 200


# ------------------------------------------------------------------------------------- splitting


def test_split_keeps_every_chunk_within_the_limit_and_loses_nothing():
    text = "\n\n".join(f"paragraph {i} " + "word " * 300 for i in range(12))
    chunks = split_message(text)
    assert all(utf16_len(c) <= MAX_MESSAGE_CHARS for c in chunks)
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())


def test_split_counts_emoji_as_two_units():
    chunks = split_message("📊" * 3000)
    assert all(utf16_len(c) <= MAX_MESSAGE_CHARS for c in chunks) and len(chunks) == 2


def test_reply_has_at_most_five_messages_with_the_pdf_link_last():
    texts = reply_texts("x " * 20_000, "https://example.invalid/r.pdf")
    assert len(texts) == MAX_MESSAGES
    assert texts[-1].endswith("https://example.invalid/r.pdf")
    assert texts[-2].endswith("…")
    assert all(utf16_len(t) <= MAX_MESSAGE_CHARS for t in texts)


def test_long_report_reaches_the_fake_line_server_split(line_api, tmp_path):
    service = FakeService("บรรทัดรายงาน " * 1200)  # ~15,600 characters
    app = LineWebhookApp(SECRET, TOKEN, service, api_base_url=line_api.url)
    post(app, event_body([text_event()]))
    messages = line_api.replies[0]["body"]["messages"]
    assert 2 <= len(messages) <= MAX_MESSAGES
    assert all(len(m["text"]) <= MAX_MESSAGE_CHARS for m in messages)


def test_parse_request_text():
    assert parse_request_text(" DBS19 ") == ("DBS19", None, "th")
    assert parse_request_text("D05.SI english") == ("D05.SI", None, "en")


# ------------------------------------------------------------------------------------- servers


def test_local_server_serves_the_webhook(app, line_api):
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/callback"
        body = event_body([text_event()])
        request = urllib.request.Request(url, body, {"X-Line-Signature": sign(body)}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        bad = urllib.request.Request(url, body, {"X-Line-Signature": "forged"}, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad, timeout=10)
        assert refused.value.code == 401
        assert len(line_api.replies) == 1
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("encoded", [False, True])
def test_lambda_handler_accepts_api_gateway_payloads(app, line_api, version, encoded):
    body = event_body([text_event(event_id=f"01HLAMBDA{version}{encoded}")])
    raw = base64.b64encode(body).decode() if encoded else body.decode()
    headers = {"x-line-signature": sign(body), "content-type": "application/json"}
    if version == "1.0":
        event = {
            "httpMethod": "POST",
            "path": "/callback",
            "headers": headers,
            "body": raw,
            "isBase64Encoded": encoded,
        }
    else:
        event = {
            "version": "2.0",
            "rawPath": "/callback",
            "requestContext": {"http": {"method": "POST"}},
            "headers": headers,
            "body": raw,
            "isBase64Encoded": encoded,
        }
    lambda_handler.reset_app(app)
    try:
        assert lambda_handler.handler(event, None)["statusCode"] == 200
        event["headers"] = {"x-line-signature": sign(b"other")}
        assert lambda_handler.handler(event, None)["statusCode"] == 401
    finally:
        lambda_handler.reset_app(None)
    assert len(line_api.replies) == 1


def test_lambda_handler_without_configuration_refuses(monkeypatch):
    lambda_handler.reset_app(None)
    event = {"httpMethod": "POST", "path": "/callback", "headers": {}, "body": "{}"}
    assert lambda_handler.handler(event, None)["statusCode"] == 500
    assert lambda_handler.handler({"nothing": True}, None)["statusCode"] == 400


# ------------------------------------------------------------------------------------- issue 16: hostile input

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid() -> str:
    """A fresh LINE-style webhookEventId (a ULID)."""
    return "01J" + "".join(random.choice(_CROCKFORD) for _ in range(23))


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    "body",
    [
        b'{"destination": "U0", "events": ' + _deep(100_000) + b"}",
        b'{"destination": "U0", "events": [{"type": "message", "x": ' + _deep(100_000) + b"}]}",
        b'{"destination": "U0", "events": [], "x": "' + b"[" * 5000 + b'"}',  # inside a string: not nesting
    ],
    ids=["events", "inside-an-event", "brackets-in-a-string"],
)
def test_signed_body_nested_100000_deep_is_a_400(line_api, service, body):
    app = LineWebhookApp(SECRET, TOKEN, service, api_base_url=line_api.url)  # the default 1 MiB limit
    assert len(body) < app.max_body_bytes
    response = post(app, body)  # no RecursionError escapes
    if b'"x": "' in body:
        assert response.status == 200  # a flat body whose string holds brackets is fine
    else:
        assert response.status == 400 and b"nested" in response.body
    assert service.calls == []


def test_deep_body_gets_an_answer_from_the_local_server(line_api, service):
    app = LineWebhookApp(SECRET, TOKEN, service, api_base_url=line_api.url)
    server = make_server(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        body = b'{"events": ' + _deep(100_000) + b"}"
        url = f"http://127.0.0.1:{server.server_address[1]}/callback"
        request = urllib.request.Request(url, body, {"X-Line-Signature": sign(body)}, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400
    finally:
        server.shutdown()
        server.server_close()


def _handler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "process_request_thread" in t.name and t.is_alive()]


def _closed_by_server(sock: socket.socket, wait: float) -> bool:
    """Whether the server closed (or answered and closed) the connection within `wait` seconds."""
    sock.settimeout(wait)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_default_bounds_are_documented_values():
    from report_app import line_bot

    assert line_bot.DEFAULT_MAX_CONNECTIONS < 120 and line_bot.DEFAULT_REQUEST_TIMEOUT < 60
    assert line_bot.DEFAULT_READ_TIMEOUT <= line_bot.DEFAULT_REQUEST_TIMEOUT
    help_text = CliRunner().invoke(cli, ["bot", "serve", "--help"], terminal_width=200).output
    for option in ("--max-connections", "--read-timeout", "--request-timeout"):
        assert option in help_text


def test_120_slow_connections_hold_a_bounded_number_of_threads_for_a_bounded_time(app, line_api):
    limit, request_timeout = 8, 2.0
    server = make_server(app, "127.0.0.1", 0, max_connections=limit, read_timeout=1.0, request_timeout=2.0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = server.server_address[1]
    before = len(_handler_threads())
    sockets: list[socket.socket] = []
    try:
        started = time.monotonic()
        for i in range(120):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i % 2:  # headers that never end
                sock.sendall(b"POST /callback HTTP/1.1\r\nHost: x\r\nX-Line-Signature: abc\r\n")
            else:  # a body that never comes
                sock.sendall(
                    b"POST /callback HTTP/1.1\r\nHost: x\r\nX-Line-Signature: abc\r\n"
                    b"Content-Length: 1000\r\n\r\n" + b"{" * 10
                )
            sockets.append(sock)
        # while they hold every slot (a silent client is dropped after the 1 s read timeout), one more
        # connection is answered 503 at once, without a thread
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        extra.settimeout(3)
        assert extra.recv(64).startswith(b"HTTP/1.1 503")
        extra.close()
        assert server.refused >= 120 - limit + 1
        peak = 0
        while time.monotonic() - started < 0.8:
            peak = max(peak, len(_handler_threads()) - before)
            time.sleep(0.02)
        assert peak <= limit
        # every slow connection is closed by the server within the request timeout (plus slack) ...
        assert all(
            _closed_by_server(s, request_timeout + 3.0 - (time.monotonic() - started)) for s in sockets
        )
        while _handler_threads() and len(_handler_threads()) > before and time.monotonic() - started < 10:
            time.sleep(0.05)
        assert len(_handler_threads()) - before <= 0
        assert time.monotonic() - started < request_timeout + 4.0
        # ... and the server still answers a real request
        body = event_body([text_event(event_id=ulid())])
        url = f"http://127.0.0.1:{port}/callback"
        request = urllib.request.Request(url, body, {"X-Line-Signature": sign(body)}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        for sock in sockets:
            sock.close()
        server.shutdown()
        server.server_close()


def test_a_client_dribbling_its_headers_is_cut_at_the_request_timeout(app):
    server = make_server(app, "127.0.0.1", 0, max_connections=4, read_timeout=1.0, request_timeout=2.0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    sock = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5)
    try:
        started = time.monotonic()
        sock.sendall(b"POST /callback HTTP/1.1\r\nX-Slow: ")
        closed = False
        while not closed and time.monotonic() - started < 8:
            try:
                sock.sendall(b"a")  # one byte every 0.4 s: each read is well inside the read timeout
            except OSError:
                closed = True
                break
            readable, _, _ = select.select([sock], [], [], 0.4)
            if readable:
                closed = _closed_by_server(sock, 0.5)
        elapsed = time.monotonic() - started
        assert closed and elapsed < 4.0, elapsed
    finally:
        sock.close()
        server.shutdown()
        server.server_close()


class SilentLineApi:
    """A LINE API that accepts connections, reads the request and never answers."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self.requests = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(conn)
            conn.settimeout(2)
            try:
                if conn.recv(65536).startswith(b"POST "):
                    self.requests += 1
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        for conn in self.connections:
            conn.close()


def test_a_line_api_that_never_answers_times_out_and_is_not_retried(service, caplog):
    api = SilentLineApi()
    try:
        app = LineWebhookApp(SECRET, TOKEN, service, api_base_url=api.url, api_timeout=(1.0, 1.0))
        answered: list = []
        caplog.set_level(logging.WARNING, logger="tickerlake.report_app.line_bot")
        started = time.monotonic()
        worker = threading.Thread(target=lambda: answered.append(post(app, event_body([text_event()]))))
        worker.start()
        worker.join(timeout=15)
        assert not worker.is_alive(), "the handler hung on the LINE API"
        assert answered[0].status == 200 and time.monotonic() - started < 8
        assert "LINE reply failed" in caplog.text
        time.sleep(1.5)  # a retry would have connected again by now
        assert (len(api.connections), api.requests) == (1, 1)
    finally:
        api.close()


def test_every_line_api_call_carries_the_timeout(service, monkeypatch):
    seen: list = []
    from linebot.v3.messaging import MessagingApi

    monkeypatch.setattr(MessagingApi, "reply_message", lambda self, request, **kw: seen.append(kw))
    app = LineWebhookApp(SECRET, TOKEN, service, api_base_url="http://127.0.0.1:9")
    post(app, event_body([text_event()]))
    assert seen == [{"_request_timeout": DEFAULT_API_TIMEOUT}]
    assert app.configuration.retries.read == 0 and app.configuration.retries.total == 2


# ------------------------------------------------------------------------------------- issue 16: redeliveries


def _settings_of(lake, line_api, tmp_path, name: str, **overrides):
    from report_app.settings import ReportSettings

    return ReportSettings(
        lake_uri=lake.uri,
        cache_sqlite_path=tmp_path / name / "cache.db",
        line_channel_secret=SECRET,
        line_channel_access_token=TOKEN,
        line_api_base_url=line_api.url,
        **overrides,
    )


def _container(lake, line_api, tmp_path, name: str, **overrides):
    """One bot container: its own SQLite dedupe file, the shared lake (as `from_settings` wires it)."""
    service = FakeService()
    settings = _settings_of(lake, line_api, tmp_path, name, **overrides)
    return LineWebhookApp.from_settings(settings, service=service), service


def test_webhook_event_key_accepts_ulids_only():
    event_id = ulid()
    assert layout.webhook_event_key(event_id) == f"cache/webhook_events/{event_id}.json"
    for bad in ("01HEVENT0001", event_id.lower(), "../" + event_id[3:], event_id + "0", "", None):
        with pytest.raises(InvalidArgumentValue):
            layout.webhook_event_key(bad)


def test_an_event_delivered_to_two_containers_is_answered_once(lake, line_api, tmp_path):
    a, service_a = _container(lake, line_api, tmp_path, "a")
    b, service_b = _container(lake, line_api, tmp_path, "b")
    event_id = ulid()
    body = event_body([text_event(event_id=event_id)])
    assert post(a, body).status == 200
    assert post(b, body).status == 200  # another container: its SQLite never saw it
    redelivered = event_body([text_event(event_id=event_id, redelivery=True)])
    assert post(b, redelivered).status == 200
    assert len(service_a.calls) + len(service_b.calls) == 1 and len(line_api.replies) == 1
    claim = json.loads(lake.store.get(f"cache/webhook_events/{event_id}.json").data)
    assert claim["event_id"] == event_id and claim["pid"] == os.getpid()


def test_concurrent_deliveries_to_two_containers_answer_once(lake, line_api, tmp_path):
    apps = [_container(lake, line_api, tmp_path, name) for name in ("a", "b")]
    body = event_body([text_event(event_id=ulid())])
    barrier = threading.Barrier(8)

    def deliver(i: int) -> int:
        barrier.wait()
        return post(apps[i % 2][0], body).status

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(deliver, range(8))) == [200] * 8
    assert sum(len(service.calls) for _, service in apps) == 1 and len(line_api.replies) == 1


def test_a_redelivery_nobody_answered_is_answered_once(lake, line_api, tmp_path):
    a, service_a = _container(lake, line_api, tmp_path, "a")
    b, service_b = _container(lake, line_api, tmp_path, "b")
    body = event_body([text_event(event_id=ulid(), redelivery=True)])  # the first delivery was lost
    assert post(a, body).status == 200 and post(b, body).status == 200
    assert len(service_a.calls) + len(service_b.calls) == 1 and len(line_api.replies) == 1


def test_claims_go_to_the_pdf_bucket_when_set(lake, line_api, tmp_path, s3_bucket):
    from lake.store import S3Store

    bucket = S3Store(f"s3://{s3_bucket}")
    bucket.client.create_bucket(Bucket=s3_bucket)
    a, _ = _container(lake, line_api, tmp_path, "a", pdf_bucket_name=s3_bucket)
    event_id = ulid()
    post(a, event_body([text_event(event_id=event_id)]))
    assert bucket.exists(f"cache/webhook_events/{event_id}.json")
    assert not lake.store.exists(f"cache/webhook_events/{event_id}.json")


class _BrokenStore:
    def put(self, *args, **kwargs):
        raise ConnectionError("store down")


def test_store_down_answers_first_deliveries_and_drops_redeliveries(line_api, service, tmp_path, caplog):
    seen = SeenEvents(tmp_path / "seen.db", store=_BrokenStore())
    app = LineWebhookApp(SECRET, TOKEN, service, api_base_url=line_api.url, seen=seen)
    caplog.set_level(logging.WARNING)
    assert post(app, event_body([text_event(event_id=ulid())])).status == 200
    assert post(app, event_body([text_event(event_id=ulid(), redelivery=True)])).status == 200
    assert len(service.calls) == 1 and "shared claim failed" in caplog.text


def test_a_failing_app_still_answers_on_lambda_and_the_local_server(monkeypatch, line_api, service):
    app = LineWebhookApp(SECRET, TOKEN, service, api_base_url=line_api.url)
    monkeypatch.setattr(app, "handle", lambda *args: (_ for _ in ()).throw(RuntimeError("bug")))
    lambda_handler.reset_app(app)
    try:
        event = {"httpMethod": "POST", "path": "/callback", "headers": {}, "body": "{}"}
        assert lambda_handler.handler(event, None)["statusCode"] == 500
    finally:
        lambda_handler.reset_app(None)
    server = make_server(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/callback"
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(urllib.request.Request(url, b"{}", method="POST"), timeout=10)
        assert failed.value.code == 500
    finally:
        server.shutdown()
        server.server_close()
