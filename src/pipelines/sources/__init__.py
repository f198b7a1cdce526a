"""Sources of raw daily market data, all returning the same raw envelope (see ``envelope``).

- ``sample``: offline, deterministic, realistic bars (the default for local runs and tests);
- ``yahoo`` (alias ``yfinance``): Yahoo Finance through yfinance;
- ``dir:PATH``: the envelope files of a folder, verbatim (recorded or hand-made payloads, good or bad).

Examples
--------
>>> import datetime as dt
>>> source = get_source("sample")
>>> envelopes = source.fetch("DBS19", dt.date(2025, 6, 2), dt.date(2025, 6, 6))
>>> trading_days("D05.SI", "2025-06-02", "2025-06-06")[0]
datetime.date(2025, 6, 2)
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from pipelines.exceptions import SourceError, UnknownTicker
from pipelines.sources.calendars import CALENDAR_EPOCH, Exchange, exchange_for, trading_days
from pipelines.sources.directory import DirectorySource, FileEnvelope, raw_body, unreadable_reason
from pipelines.sources.envelope import RawEnvelope, envelope_bytes, make_envelope
from pipelines.sources.sample import SampleSource
from pipelines.sources.universe import Listing, Resolution, Universe, load_universe
from pipelines.sources.yahoo import YahooSource


class Source(Protocol):
    """What every source offers."""

    name: str
    source_tag: str  # the lake's raw area its fetches are stored under: yfinance, sample or dir

    def fetch(self, symbol: str, start: dt.date | str, end: dt.date | str) -> list[RawEnvelope]:
        """The envelopes of one call for [start, end] (inclusive): one holding every bar (sample, Yahoo),
        or one per recorded file (dir); each is stored as one raw fetch."""
        ...


_SOURCES: dict[str, type] = {"sample": SampleSource, "yahoo": YahooSource, "yfinance": YahooSource}
SOURCE_NAMES: tuple[str, ...] = ("sample", "yahoo")


def get_source(name: str, **options: Any) -> Source:
    """A source by name (``sample``, ``yahoo``/``yfinance``, ``dir:PATH``); ``options`` go to its constructor."""
    if isinstance(name, str) and name.strip().startswith("dir:"):
        from pipelines.sources.directory import directory_source

        return directory_source(name.strip(), **options)
    cls = _SOURCES.get(name.strip().lower()) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"source {name!r} is not known: expected one of {', '.join(SOURCE_NAMES)} or dir:PATH"
        )
    return cls(**options)


__all__ = [
    "CALENDAR_EPOCH",
    "DirectorySource",
    "FileEnvelope",
    "Exchange",
    "Listing",
    "RawEnvelope",
    "Resolution",
    "SOURCE_NAMES",
    "SampleSource",
    "Source",
    "SourceError",
    "UnknownTicker",
    "Universe",
    "YahooSource",
    "envelope_bytes",
    "exchange_for",
    "get_source",
    "load_universe",
    "make_envelope",
    "raw_body",
    "trading_days",
    "unreadable_reason",
]
