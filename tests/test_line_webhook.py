"""The LINE webhook: signature checks, hostile requests, splitting, duplicates, replies to a fake LINE API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.exceptions import UnknownTicker
from report_app import lambda_handler
from report_app.line_bot import (
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
                payload = b'{"sentMessages": []}'
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
