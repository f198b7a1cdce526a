"""Cache metrics to CloudWatch in the Embedded Metric Format (EMF): one JSON line per cache lookup.

On Lambda a line written to stdout that carries an ``_aws`` member is turned into metrics by CloudWatch
Logs itself: no API call, no agent, nothing added to the answer's latency. Each lookup (`CacheEvent`)
becomes one line in namespace ``tickerlake``:

=====================  ============  ===============================================================
metric                 unit          value of one lookup
=====================  ============  ===============================================================
``CacheLookups``       Count         1
``CacheHits``          Count         1 for an l1 or l2 answer, else 0
``CacheMisses``        Count         1 for a miss (the report was generated), else 0
``CacheErrors``        Count         1 when generating the report failed, else 0
``LookupLatency``      Milliseconds  the cache lookup (all tiers tried)
``Latency``            Milliseconds  what the request waited: the lookup, plus the generation on a miss
``GenerateLatency``    Milliseconds  the generation (misses only; absent otherwise)
=====================  ============  ===============================================================

Dimension sets: ``[Function, Tier]`` (Tier = l1 | l2 | miss) and ``[Function]`` (all tiers together);
``Function`` is the Lambda function's name (``local`` elsewhere). ``Origin`` (request | prewarm),
``Ticker``, ``Date`` and ``Reason`` are plain properties: searchable in Logs Insights, not dimensions
(a dimension per ticker would be a metric per ticker). The spec:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

The format is written here (thirty lines) rather than with ``aws-embedded-metrics``: that library is
asynchronous, flushes per decorated handler and is not in the Lambda package; a lookup's line is a dict.
``TICKERLAKE_METRICS`` = ``auto`` (on Lambda only, the default), ``emf`` (always) or ``off``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

__all__ = ["NAMESPACE", "EmfEmitter", "emf_record"]

NAMESPACE = "tickerlake"
COUNTS = ("CacheLookups", "CacheHits", "CacheMisses", "CacheErrors")
LATENCIES = ("LookupLatency", "Latency", "GenerateLatency")


def emf_record(event: Any, *, function: str) -> dict[str, Any]:
    """The EMF object of one cache lookup (a `report_app.cache_events.CacheEvent`)."""
    values: dict[str, float] = {
        "CacheLookups": 1,
        "CacheHits": int(event.tier in ("l1", "l2")),
        "CacheMisses": int(event.tier == "miss"),
        "CacheErrors": int(event.error is not None),
        "LookupLatency": round(event.lookup_ms, 3),
        "Latency": round(event.latency_ms, 3),
    }
    if event.generate_ms is not None:
        values["GenerateLatency"] = round(event.generate_ms, 3)
    metrics = [{"Name": name, "Unit": "Count"} for name in COUNTS] + [
        {"Name": name, "Unit": "Milliseconds"} for name in LATENCIES if name in values
    ]
    return {
        "_aws": {
            "Timestamp": int(event.ts.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Function", "Tier"], ["Function"]],
                    "Metrics": metrics,
                }
            ],
        },
        "Function": function,
        "Tier": event.tier,
        **values,
        "Origin": event.origin,
        "Ticker": event.ticker,
        "Date": event.date,
        **({"Reason": event.reason} if event.reason else {}),
    }


class EmfEmitter:
    """Writes one EMF line per cache lookup to `stream` (stdout: where Lambda's log capture reads it)."""

    def __init__(self, function: str | None = None, stream: TextIO | None = None) -> None:
        self.function = function or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "local"
        self.stream = stream

    @classmethod
    def from_settings(cls, settings: Any) -> EmfEmitter | None:
        """The emitter TICKERLAKE_METRICS asks for: `auto` is on inside AWS Lambda only."""
        mode = settings.metrics
        if mode == "off" or (mode == "auto" and not os.environ.get("AWS_LAMBDA_FUNCTION_NAME")):
            return None
        return cls()

    def emit(self, event: Any) -> None:
        stream = self.stream or sys.stdout
        stream.write(json.dumps(emf_record(event, function=self.function), separators=(",", ":")) + "\n")
        stream.flush()
