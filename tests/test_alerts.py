"""lake.alerts: one alert per incident (not per retry), a record in the lake, log and SNS sinks."""

import json
import logging

import boto3
import pytest

from lake import layout
from lake.alerts import (
    SNS_TOPIC_ENV,
    AlertDeliveryError,
    LogSink,
    SnsSink,
    default_sink,
    find_alert,
    incident_id,
    raise_alert,
)
from lake.api import Lake
from lake.logs import fields_of

T, D = "D05.SI", "2025-06-10"


class Recorder:
    name = "recorder"

    def __init__(self, fail=False):
        self.sent, self.fail = [], fail

    def send(self, alert):
        if self.fail:
            raise AlertDeliveryError("pager down")
        self.sent.append(alert)
        return f"msg-{len(self.sent)}"


@pytest.fixture
def lake(tmp_path):
    return Lake.open(str(tmp_path / "lake"))


def test_alert_is_recorded_under_its_date_and_incident_id(lake):
    alert = raise_alert(
        lake, "quarantine", "prices", T, D, "close must be > 0", rule="parse", sink=Recorder()
    )
    assert alert.key == f"alerts/{D}/{incident_id('quarantine', 'prices', T, D, 'parse')}.json"
    record = json.loads(lake.store.get(alert.key).data)
    assert (record["ticker"], record["date"], record["reason"]) == (T, D, "close must be > 0")
    assert record["deliveries"] == {"recorder": "msg-1"}


def test_the_same_incident_alerts_once(lake):
    sink = Recorder()
    first = raise_alert(lake, "quarantine", "prices", T, D, "close must be > 0", run_id="run-1", sink=sink)
    again = raise_alert(
        lake, "quarantine", "prices", T, D, "close must be > 0 (retry 2)", run_id="run-2", sink=sink
    )
    assert first is not None and again is None
    assert len(sink.sent) == 1


def test_another_rule_or_date_is_another_incident(lake):
    sink = Recorder()
    raise_alert(lake, "quality", "prices", T, D, "x", rule="continuity", sink=sink)
    raise_alert(lake, "quality", "prices", T, D, "x", rule="freshness", sink=sink)
    raise_alert(lake, "quality", "prices", T, "2025-06-11", "x", rule="continuity", sink=sink)
    assert len(sink.sent) == 3


def test_incident_id_ignores_reason_and_run():
    assert incident_id("quality", "prices", T, D, "continuity") == incident_id(
        "quality", "prices", T, D, "continuity"
    )
    assert incident_id("quality", "prices", T, D, "a") != incident_id("quality", "prices", T, D, "b")


def test_failed_delivery_records_nothing_so_the_retry_alerts(lake):
    with pytest.raises(AlertDeliveryError):
        raise_alert(lake, "quarantine", "prices", T, D, "bad", sink=Recorder(fail=True))
    assert find_alert(lake, D, incident_id("quarantine", "prices", T, D)) is None
    assert raise_alert(lake, "quarantine", "prices", T, D, "bad", sink=Recorder()) is not None


def test_log_sink_writes_one_structured_line(lake, caplog):
    with caplog.at_level(logging.INFO, logger="tickerlake.lake.alerts"):
        alert = raise_alert(lake, "quarantine", "raw", T, D, "not JSON", sink=LogSink())
        raise_alert(lake, "quarantine", "raw", T, D, "not JSON", sink=LogSink())
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]  # the repeat is deduplicated
    assert record.getMessage() == "lake.alert"
    assert fields_of(record) == {
        "incident": alert.incident_id,
        "kind": "quarantine",
        "dataset": "raw",
        "ticker": T,
        "date": D,
        "rule": None,
        "run_id": None,
        "reason": "not JSON",
    }
    [repeat] = [r for r in caplog.records if r.getMessage() == "lake.alert deduplicated"]
    assert (repeat.incident, repeat.key) == (alert.incident_id, layout.alert_key(D, alert.incident_id))


def test_default_sink_is_the_log_without_a_topic(monkeypatch):
    monkeypatch.delenv(SNS_TOPIC_ENV, raising=False)
    assert [sink.name for sink in default_sink()] == ["log"]


@pytest.mark.parametrize(
    ("field", "value"), [("kind", "Bad Kind"), ("ticker", "../x"), ("date", "2025-02-30")]
)
def test_invalid_identity_is_refused(lake, field, value):
    args = {"kind": "quality", "dataset": "prices", "ticker": T, "date": D} | {field: value}
    with pytest.raises(ValueError):
        raise_alert(lake, reason="x", sink=[], **args)


def test_hostile_sns_topic_is_refused():
    with pytest.raises(ValueError, match="ARN"):
        SnsSink("https://example.com/topic", client=object())


def _topic_with_queue():
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="tickerlake-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"alerts-{id(sns)}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )
    return topic, sqs, queue


@pytest.mark.s3
def test_sns_sink_publishes_the_alert_record(moto_server, lake):
    topic, sqs, queue = _topic_with_queue()
    alert = raise_alert(lake, "quarantine", "prices", T, D, "close must be > 0", sink=SnsSink(topic))
    assert alert.deliveries["sns"]
    [message] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2)["Messages"]
    assert json.loads(message["Body"])["incident_id"] == alert.incident_id


@pytest.mark.s3
def test_topic_from_the_environment_is_used_by_default_and_alerts_once(moto_server, lake, monkeypatch):
    topic, sqs, queue = _topic_with_queue()
    monkeypatch.setenv(SNS_TOPIC_ENV, topic)
    raise_alert(lake, "quality", "prices", T, D, "stale", rule="freshness")
    raise_alert(lake, "quality", "prices", T, D, "stale", rule="freshness")
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1


@pytest.mark.s3
def test_alert_record_lives_in_an_s3_lake(moto_server, s3_bucket):
    lake = Lake.open(f"s3://{s3_bucket}/lake")
    lake.init()
    alert = raise_alert(lake, "quarantine", "prices", T, D, "bad", sink=[])
    assert lake.store.exists(layout.alert_key(D, alert.incident_id))
    assert raise_alert(lake, "quarantine", "prices", T, D, "bad", sink=[]) is None
