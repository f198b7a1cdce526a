"""Logs under `tickerlake.*` with structured fields (JSON lines on Lambda), and the cache metrics as
CloudWatch Embedded Metric Format lines."""

from __future__ import annotations

import ast
import datetime as dt
import io
import json
import logging
import re
from pathlib import Path

import pytest

from lake.logs import JsonFormatter, TextFormatter, configure_logging
from lake.store import LocalStore
from report_app.cache import CacheEntry, ReportCache
from report_app.cache_events import CacheEvent, CacheEventLog
from report_app.chart import render_chart, to_base64
from report_app.document import build_document
from report_app.metrics import NAMESPACE, EmfEmitter, emf_record
from report_app.settings import ReportSettings
from tests.report_factory import DATE, SYMBOL, make_report_data

SRC = Path(__file__).resolve().parents[1] / "src"
REPORT_KEY = f"cache/reports/{SYMBOL}/{DATE}/report.json"
TS = dt.datetime(2025, 11, 12, 3, 15, tzinfo=dt.UTC)


def _record(message: str, level: int = logging.INFO, **fields) -> logging.LogRecord:
    record = logging.LogRecord("tickerlake.test", level, __file__, 1, message, None, None)
    record.__dict__.update(fields)
    return record


@pytest.fixture
def json_logs(monkeypatch):
    """The tickerlake logger as on Lambda: JSON lines into a buffer (the handler removed afterwards)."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "tickerlake-bot")
    monkeypatch.delenv("TICKERLAKE_LOG_FORMAT", raising=False)
    out = io.StringIO()
    root = logging.getLogger("tickerlake")
    before = (root.level, root.propagate)
    handler = configure_logging("INFO", stream=out)
    yield out
    root.removeHandler(handler)
    root.setLevel(before[0])
    root.propagate = before[1]


# ------------------------------------------------------------------------------------------- formatters


def test_the_json_formatter_writes_one_object_with_the_extra_fields():
    line = JsonFormatter().format(_record("cache hit", tier="l1", key=REPORT_KEY))
    body = json.loads(line)
    assert "\n" not in line
    assert {k: body[k] for k in ("level", "logger", "message", "tier", "key")} == {
        "level": "INFO",
        "logger": "tickerlake.test",
        "message": "cache hit",
        "tier": "l1",
        "key": REPORT_KEY,
    }
    assert dt.datetime.fromisoformat(body["timestamp"]).tzinfo is not None


def test_the_json_formatter_keeps_the_exception_and_serialises_any_value():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = _record("failed", logging.ERROR, path=Path("/tmp/x"))
        record.exc_info = sys.exc_info()
    body = json.loads(JsonFormatter().format(record))
    assert body["path"] == "/tmp/x" and "RuntimeError: boom" in body["exception"]


def test_the_text_formatter_appends_the_fields_readably():
    line = TextFormatter().format(_record("cache miss", key=REPORT_KEY, reason="absent or expired"))
    assert line == f'INFO tickerlake.test: cache miss key={REPORT_KEY} reason="absent or expired"'


def test_json_is_the_default_on_lambda_and_text_elsewhere(monkeypatch):
    root = logging.getLogger("tickerlake")
    level, propagate = root.level, root.propagate
    try:
        monkeypatch.delenv("TICKERLAKE_LOG_FORMAT", raising=False)
        monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
        assert isinstance(configure_logging("INFO", stream=io.StringIO()).formatter, TextFormatter)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "tickerlake-bot")
        handler = configure_logging("INFO", stream=io.StringIO())
        assert isinstance(handler.formatter, JsonFormatter)
        assert [h for h in root.handlers if getattr(h, "_tickerlake", False)] == [handler]  # replaced
        monkeypatch.setenv("TICKERLAKE_LOG_FORMAT", "text")
        handler = configure_logging(stream=io.StringIO())
        assert isinstance(handler.formatter, TextFormatter)
    finally:
        for h in [h for h in root.handlers if getattr(h, "_tickerlake", False)]:
            root.removeHandler(h)
        root.setLevel(level)
        root.propagate = propagate


# ------------------------------------------------------------------------------------------- the code's logs


def test_a_cache_miss_write_and_hit_log_json_lines_with_tier_and_key(tmp_path, json_logs):
    data = make_report_data()
    entry = CacheEntry(build_document(data), to_base64(render_chart(data.history, "DBS19")))
    cache = ReportCache.create("sqlite", sqlite_path=tmp_path / "l1.db", store=None, ttl_hours=24)
    assert cache.get(SYMBOL, DATE).tier == "miss"
    cache.put(SYMBOL, DATE, entry)
    assert cache.get(SYMBOL, DATE).tier == "l1"
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    assert [(b["message"], b.get("tier"), b["key"]) for b in lines] == [
        ("cache miss", "miss", REPORT_KEY),
        ("cache write", None, REPORT_KEY),
        ("cache hit", "l1", REPORT_KEY),
    ]
    assert lines[0]["reason"] and lines[1]["expires_at"]
    assert {b["logger"] for b in lines} == {"tickerlake.report_app.cache"}


def test_an_unwritable_event_store_logs_the_key_and_the_error_as_fields(tmp_path, json_logs):
    (tmp_path / "blocker").write_text("a file where the lake's folder should be")
    log = CacheEventLog(LocalStore(tmp_path / "blocker" / "lake"), background=False)
    log.record(CacheEvent(TS, SYMBOL, DATE, "th", "l1", 0.8))
    log.flush()
    [body] = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    assert body["message"] == "cache events not written; kept for the next flush"
    assert body["key"].startswith("ops/cache_events/day=2025-11-12/") and body["events"] == 1
    assert body["error"]


def _logger_names() -> list[tuple[str, str]]:
    names = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "getLogger" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant):
                    names.append((path.name, arg.value))
                elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                    names.append((path.name, arg.values[0].value + "…"))
                # a computed name: quietening third-party loggers (pipelines/quality.py), not writing
    return names


def test_every_project_logger_is_under_the_tickerlake_namespace():
    third_party = {"sqlglot", "great_expectations"}  # quietened, not written to
    wrong = [
        (file, name)
        for file, name in _logger_names()
        if not (name == "tickerlake" or name.startswith("tickerlake."))
        and name.split(".")[0] not in third_party
    ]
    assert wrong == []


@pytest.mark.parametrize("module", ["report_app/cache.py", "report_app/cache_events.py"])
def test_cache_logs_carry_fields_not_key_value_text(module):
    calls = []
    for node in ast.walk(ast.parse((SRC / module).read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) in ("debug", "info", "warning", "error", "exception")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            calls.append(node.args[0].value)
    assert calls and [text for text in calls if "=%" in text] == []


_LEVELS = ("debug", "info", "warning", "error", "exception", "critical")
#: ``word=%s`` / ``word={...}``: a field written into the message text instead of passed as `extra=`.
_KEY_VALUE = re.compile(r"\b[A-Za-z_][\w.]*=(%|\{)")
#: Files allowed to keep `k=v` messages (none: every file logs its fields as `extra=`).
_KEY_VALUE_ALLOWED: set[str] = set()


def _message_text(node: ast.expr) -> str | None:
    """The literal text of a log message, a formatted value shown as ``{``; None if it is not literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        left = _message_text(node.left)
        right = _message_text(node.right) if isinstance(node.op, ast.Add) else ""
        return None if left is None or right is None else left + right
    if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "format":
        return _message_text(node.func.value)  # type: ignore[attr-defined]
    return None


def _log_calls(tree: ast.AST):
    """(call, message node) of every stdlib logging call. Dagster's ``context.log`` is left out: it takes
    only a message (no `extra=`), so readable text is all it can carry."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if ast.unparse(node.func.value).endswith("context.log"):
            continue
        if node.func.attr in _LEVELS and node.args:
            yield node, node.args[0]
        elif node.func.attr == "log" and len(node.args) >= 2:
            yield node, node.args[1]


def _key_value_messages(source: str) -> list[tuple[int, str]]:
    found = []
    for call, message in _log_calls(ast.parse(source)):
        text = _message_text(message)
        if text is not None and _KEY_VALUE.search(text):
            found.append((call.lineno, text))
    return found


@pytest.mark.parametrize(
    "source",
    [
        'log.info("pdf write key=%s bytes=%d", key, n)',
        'logger.warning(\n    "seen events: claim failed key=%s "\n    "error=%s", key, exc\n)',
        'log.info(f"report {t} status={status}")',
        'log.log(logging.INFO, "event_id=%r skipped", event_id)',
        'logging.getLogger("tickerlake.x").error("lake.write key={}".format(key))',
    ],
)
def test_the_key_value_scan_finds_fields_written_into_the_message(source):
    assert len(_key_value_messages(source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        'log.info("pdf write", extra={"key": key, "bytes": n})',
        'log.warning("report chart skipped: %s", exc)',
        'context.log.info(f"report {t} status={status}")',
        "np.log(x)",
    ],
)
def test_the_key_value_scan_passes_constant_messages_with_fields(source):
    assert _key_value_messages(source) == []


def test_no_log_message_in_src_carries_key_value_text():
    """Fields go in `extra=` (JSON fields on Lambda, ``k=v`` appended by the text formatter), never in the
    message: a message stays one constant that Logs Insights can group by."""
    offenders, calls = [], 0
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        source = path.read_text(encoding="utf-8")
        calls += sum(1 for _ in _log_calls(ast.parse(source)))
        if relative not in _KEY_VALUE_ALLOWED:
            offenders += [f"{relative}:{line}: {text!r}" for line, text in _key_value_messages(source)]
    assert calls > 50  # the scan sees the project's log calls
    assert offenders == [], "pass these as extra= fields:\n" + "\n".join(offenders)


def test_no_extra_field_overwrites_a_log_record_attribute():
    """`extra={"name": ...}` raises KeyError when the line is logged (and `module`, `created`... would
    corrupt the record): rename such a field, e.g. `object_name`."""
    reserved = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
    clashes = []
    for path in sorted(SRC.rglob("*.py")):
        for call, _message in _log_calls(ast.parse(path.read_text(encoding="utf-8"))):
            for keyword in call.keywords:
                if keyword.arg == "extra" and isinstance(keyword.value, ast.Dict):
                    names = [k.value for k in keyword.value.keys if isinstance(k, ast.Constant)]
                    clashes += [f"{path.relative_to(SRC)}:{call.lineno}: {n}" for n in names if n in reserved]
    assert clashes == []


# ------------------------------------------------------------------------------------------- EMF


def _event(tier: str = "miss", **overrides) -> CacheEvent:
    values = dict(ts=TS, ticker=SYMBOL, date=DATE, lang="th", tier=tier, lookup_ms=31.5)
    if tier == "miss":
        values.update(generate_ms=1200.25, ttl_hours=24.0, reason="absent-or-expired")
    values.update(overrides)
    return CacheEvent(**values)


def assert_valid_emf(body: dict) -> None:
    """The required members of the EMF specification (CloudWatch_Embedded_Metric_Format_Specification)."""
    aws = body["_aws"]
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] > 0
    directives = aws["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 1024
        dimension_sets = directive["Dimensions"]
        assert isinstance(dimension_sets, list)
        for dimension_set in dimension_sets:
            assert isinstance(dimension_set, list) and len(dimension_set) <= 30
            for name in dimension_set:  # a dimension names a top-level string member
                assert isinstance(body[name], str)
        metrics = directive["Metrics"]
        assert 1 <= len(metrics) <= 100
        for metric in metrics:  # a metric names a top-level number (or list of numbers)
            assert isinstance(metric["Name"], str) and metric["Name"] in body
            assert isinstance(body[metric["Name"]], (int, float)) and not isinstance(
                body[metric["Name"]], bool
            )
            assert metric.get("Unit", "None") in ("Count", "Milliseconds", "None")


def test_a_miss_is_a_valid_emf_object_with_its_latencies():
    body = emf_record(_event("miss"), function="tickerlake-bot")
    assert_valid_emf(body)
    [directive] = body["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE == "tickerlake"
    assert directive["Dimensions"] == [["Function", "Tier"], ["Function"]]
    assert body["_aws"]["Timestamp"] == int(TS.timestamp() * 1000)
    assert (body["Function"], body["Tier"], body["Ticker"], body["Reason"]) == (
        "tickerlake-bot",
        "miss",
        SYMBOL,
        "absent-or-expired",
    )
    assert (body["CacheLookups"], body["CacheHits"], body["CacheMisses"], body["CacheErrors"]) == (1, 0, 1, 0)
    assert (body["LookupLatency"], body["GenerateLatency"], body["Latency"]) == (31.5, 1200.25, 1231.75)


def test_a_hit_counts_as_a_hit_and_has_no_generation_metric():
    body = emf_record(_event("l2", lookup_ms=12.0), function="f")
    assert_valid_emf(body)
    names = [m["Name"] for m in body["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert "GenerateLatency" not in names and "GenerateLatency" not in body
    assert (body["CacheHits"], body["CacheMisses"], body["Tier"]) == (1, 0, "l2")


def test_the_event_log_writes_one_emf_line_per_lookup(tmp_path):
    out = io.StringIO()
    log = CacheEventLog(LocalStore(tmp_path), background=False, metrics=EmfEmitter("fn", stream=out))
    log.record(_event("miss"))
    log.record(_event("l1", lookup_ms=0.8))
    bodies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [b["Tier"] for b in bodies] == ["miss", "l1"]
    for body in bodies:
        assert_valid_emf(body)
    assert log.pending == 2  # the metrics line is extra: the event is still buffered for the lake


@pytest.mark.parametrize(
    ("mode", "on_lambda", "emits"),
    [("auto", False, False), ("auto", True, True), ("emf", False, True), ("off", True, False)],
)
def test_tickerlake_metrics_decides_whether_lines_are_written(monkeypatch, mode, on_lambda, emits):
    monkeypatch.setenv("TICKERLAKE_METRICS", mode)
    if on_lambda:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "tickerlake-bot")
    else:
        monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    emitter = EmfEmitter.from_settings(ReportSettings.from_env())
    assert (emitter is not None) == emits
    if emitter is not None:
        assert emitter.function == ("tickerlake-bot" if on_lambda else "local")


def test_a_broken_metrics_stream_never_fails_the_lookup(tmp_path):
    class Broken(io.StringIO):
        def write(self, text):
            raise OSError("stdout closed")

    log = CacheEventLog(LocalStore(tmp_path), background=False, metrics=EmfEmitter("fn", stream=Broken()))
    log.record(_event("l1", lookup_ms=0.8))
    assert log.pending == 1
