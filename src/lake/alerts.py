"""Alerts: one per incident, never one per retry.

An incident is identified by a stable hash of (kind, dataset, ticker, date, rule): the same failure seen
again (an orchestrator retry, a re-run of the checks) has the same id. ``raise_alert`` looks for the
incident's record ``alerts/<date>/<incident id>.json`` in the lake; when it exists nothing is sent and
None is returned. Otherwise the sinks are notified *first* and the record written *after*: if a sink
fails, no record is written and the next attempt alerts again (at-least-once delivery; deduplicated once
delivered). Two writers racing on the very same incident may both alert (the store has no conditional
put); retries of one partition are sequential, so in practice they do not.

Sinks (``AlertSink``): ``LogSink`` writes one structured log line (logger ``lake.alerts``, WARNING);
``SnsSink`` publishes to an SNS topic. ``default_sink()`` is the log sink, plus SNS when
``TICKERLAKE_ALERT_SNS_TOPIC`` holds a topic ARN (endpoint and region from the standard AWS variables,
e.g. ``AWS_ENDPOINT_URL`` for a moto server).

Examples
--------
>>> alert = raise_alert(lake, "quarantine", "prices", "D05.SI", "2025-06-10", "close must be > 0")  # doctest: +SKIP
>>> raise_alert(lake, "quarantine", "prices", "D05.SI", "2025-06-10", "close must be > 0") is None  # doctest: +SKIP
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lake import layout
from lake.exceptions import InvalidArgumentValue, LakeError, ObjectNotFound

if TYPE_CHECKING:
    from lake.api import Lake

__all__ = [
    "SNS_TOPIC_ENV",
    "Alert",
    "AlertDeliveryError",
    "AlertSink",
    "LogSink",
    "SnsSink",
    "default_sink",
    "find_alert",
    "incident_id",
    "raise_alert",
]

logger = logging.getLogger("tickerlake.lake.alerts")

SNS_TOPIC_ENV = "TICKERLAKE_ALERT_SNS_TOPIC"
_KIND_RE = re.compile(r"[a-z][a-z0-9_\-]{0,31}")
_SNS_SUBJECT_MAX = 100


class AlertDeliveryError(LakeError):
    """A sink could not deliver an alert (no record was written: the next attempt alerts again)."""


@dataclass(frozen=True)
class Alert:
    """One incident, as recorded in ``alerts/<date>/<incident_id>.json``."""

    incident_id: str
    kind: str
    dataset: str
    ticker: str | None
    date: str
    rule: str | None
    reason: str
    run_id: str | None
    raised_at: dt.datetime
    deliveries: dict[str, str | None] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return layout.alert_key(self.date, self.incident_id)

    @property
    def subject(self) -> str:
        where = " ".join(part for part in (self.dataset, self.ticker, self.date) if part)
        return f"tickerlake {self.kind}: {where}"[:_SNS_SUBJECT_MAX]

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "kind": self.kind,
            "dataset": self.dataset,
            "ticker": self.ticker,
            "date": self.date,
            "rule": self.rule,
            "reason": self.reason,
            "run_id": self.run_id,
            "raised_at": self.raised_at.isoformat(),
            "deliveries": dict(self.deliveries),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        return cls(
            incident_id=data["incident_id"],
            kind=data["kind"],
            dataset=data["dataset"],
            ticker=data.get("ticker"),
            date=data["date"],
            rule=data.get("rule"),
            reason=data["reason"],
            run_id=data.get("run_id"),
            raised_at=dt.datetime.fromisoformat(data["raised_at"]),
            deliveries=dict(data.get("deliveries") or {}),
        )


@runtime_checkable
class AlertSink(Protocol):
    """Somewhere an alert is sent. ``send`` returns a delivery id (e.g. the SNS message id) or None, and
    raises on failure."""

    name: str

    def send(self, alert: Alert) -> str | None: ...


class LogSink:
    """One structured WARNING line per alert on the ``lake.alerts`` logger."""

    name = "log"

    def send(self, alert: Alert) -> str | None:
        logger.warning(
            "lake.alert",
            extra={
                "incident": alert.incident_id,
                "kind": alert.kind,
                "dataset": alert.dataset,
                "ticker": alert.ticker,
                "date": alert.date,
                "rule": alert.rule,
                "run_id": alert.run_id,
                "reason": alert.reason[:500],
            },
        )
        return None


class SnsSink:
    """Publishes each alert to an SNS topic: subject ``tickerlake <kind>: <dataset> <ticker> <date>``, the
    JSON record as message, and message attributes kind / dataset / incident_id for subscription filters.
    """

    name = "sns"

    def __init__(self, topic_arn: str, *, client: Any = None) -> None:
        if not isinstance(topic_arn, str) or not topic_arn.startswith("arn:"):
            raise InvalidArgumentValue(
                f"SNS topic {topic_arn!r} is not valid: expected an ARN (arn:aws:sns:...)"
            )
        self.topic_arn = topic_arn
        if client is None:
            import boto3

            region = topic_arn.split(":")[3] or None
            client = boto3.session.Session(region_name=region).client("sns")
        self.client = client

    def send(self, alert: Alert) -> str | None:
        try:
            response = self.client.publish(
                TopicArn=self.topic_arn,
                Subject=alert.subject,
                Message=json.dumps(alert.to_dict(), ensure_ascii=False),
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in (
                        ("kind", alert.kind),
                        ("dataset", alert.dataset),
                        ("incident_id", alert.incident_id),
                    )
                },
            )
        except Exception as exc:  # noqa: BLE001 - botocore's errors are many; the caller needs one
            raise AlertDeliveryError(f"SNS publish to {self.topic_arn} failed: {exc}") from exc
        return response.get("MessageId")


def default_sink() -> list[AlertSink]:
    """The log sink, plus an ``SnsSink`` when ``TICKERLAKE_ALERT_SNS_TOPIC`` is set."""
    sinks: list[AlertSink] = [LogSink()]
    from lake.config import LakeSettings

    topic = LakeSettings.from_env().alert_topic_arn  # TICKERLAKE_ALERT_SNS_TOPIC or ALERTS_TOPIC_ARN
    if topic:
        sinks.append(SnsSink(topic))
    return sinks


def incident_id(kind: str, dataset: str, ticker: str | None, date: str, rule: str | None = None) -> str:
    """A stable id (24 hex) for the incident: SHA-256 of its identifying fields, never of the reason text
    or the time (those change between retries)."""
    identity = json.dumps([kind, dataset, ticker, date, rule], separators=(",", ":"))
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


def find_alert(lake: Lake, date: str, incident: str) -> Alert | None:
    """The recorded alert of an incident, or None."""
    try:
        return Alert.from_dict(json.loads(lake.store.get(layout.alert_key(date, incident)).data))
    except ObjectNotFound:
        return None


def raise_alert(
    lake: Lake,
    kind: str,
    dataset: str,
    ticker: str | None,
    date: str | dt.date,
    reason: str,
    *,
    rule: str | None = None,
    run_id: str | None = None,
    sink: AlertSink | Sequence[AlertSink] | None = None,
) -> Alert | None:
    """Alert once per incident: notify the sinks and record ``alerts/<date>/<incident id>.json``.

    Parameters
    ----------
    kind:
        What happened: ``quarantine``, ``quality``, ``source`` ... (lowercase word).
    dataset:
        ``raw`` or a processed dataset.
    ticker, date:
        The partition (``ticker`` may be None for a dataset-wide incident; ``date`` is required).
    reason:
        Human-readable; not part of the incident's identity.
    rule:
        The failing rule or check, part of the identity (two rules failing on one partition are two
        incidents).
    run_id:
        The run that saw it (recorded, not part of the identity).
    sink:
        One sink or several (default: ``default_sink()``).

    Returns
    -------
    Alert | None
        The alert raised, or None when this incident was already alerted.

    Raises
    ------
    AlertDeliveryError
        A sink failed; nothing was recorded, so a retry alerts again.
    """
    if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
        raise InvalidArgumentValue(f"alert kind {kind!r} is not valid: expected a lowercase word")
    dataset = "raw" if dataset == "raw" else layout.validate_dataset(dataset)
    ticker = None if ticker is None else layout.validate_ticker(ticker)
    day = layout.validate_date(date)
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidArgumentValue(f"alert reason {reason!r} is not valid: expected a non-empty text")
    incident = incident_id(kind, dataset, ticker, day, rule)
    key = layout.alert_key(day, incident)
    if lake.store.exists(key):
        logger.info("lake.alert deduplicated", extra={"incident": incident, "key": key})
        return None
    sinks = default_sink() if sink is None else ([sink] if isinstance(sink, AlertSink) else list(sink))
    alert = Alert(incident, kind, dataset, ticker, day, rule, reason, run_id, dt.datetime.now(dt.UTC))
    deliveries = {}
    for target in sinks:
        deliveries[target.name] = target.send(alert)
    alert = Alert(**{**alert.__dict__, "deliveries": deliveries})
    tags = {"source": "alert", "kind": kind, "dataset": dataset}
    if ticker:
        tags["ticker"] = ticker
    lake.store.put(
        key,
        json.dumps(alert.to_dict(), indent=1, ensure_ascii=False).encode(),
        metadata={"data-classification": lake.data_classification, "incident-id": incident},
        tags=tags,
        content_type="application/json",
    )
    return alert
