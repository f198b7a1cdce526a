"""Raw envelope -> ``prices`` rows, refusing anything that is not a clean daily bar.

``parse_envelope`` checks the envelope (JSON, required fields, symbol, timestamps) and every history row
(types, finiteness, positivity, OHLC consistency), then the rows together (ascending unique dates, none in
the future of ``fetched_at``, the last one being ``as_of``). The first problem found raises ``PayloadError``
naming the field, the row and the value, e.g.::

    payload.history[0].close: must be greater than 0 (value: -1.5)

``parse_fetch`` (what the stages use on a raw fetch) checks the envelope the same way but each row on its
own: it returns the good rows and, for each bad one, a ``Rejected`` with such a message.

A date is "in the future" when it is later than the calendar date at ``fetched_at`` anywhere on Earth
(UTC+14): trading dates are exchange-local, so a Tokyo bar may be dated a day after the UTC date of its fetch.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from lake.layout import validate_ticker
from pipelines.exceptions import PayloadError

__all__ = ["PRICE_COLUMNS", "PayloadError", "Rejected", "parse_envelope", "parse_envelopes", "parse_fetch"]

PRICE_COLUMNS = ("ticker", "date", "open", "high", "low", "close", "adj_close", "volume")
_PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")
_OPTIONAL_FIELDS = ("dividends", "splits")
_ENVELOPE_FIELDS = ("source", "symbol", "as_of", "fetched_at", "payload")
_LATEST_OFFSET = dt.timedelta(hours=14)  # the easternmost time zone
_CLOCK_SKEW = dt.timedelta(hours=1)  # a fetcher's clock may run this far ahead of ours
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")  # fromisoformat alone also takes week dates (2025-W24-2)
_MAX_VOLUME = 2**63 - 1  # int64
#: An envelope holds one fetch of daily bars (a few KiB); anything this large is refused before decoding.
MAX_ENVELOPE_BYTES = 8 * 1024 * 1024


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (json keeps the last one silently: ``{"close": -1,
    "close": 10}`` would pass while another reader sees -1)."""
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise PayloadError("is given twice in one object: the value is ambiguous", field=key, value=value)
        document[key] = value
    return document


def _load(raw: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    if isinstance(raw, bytes | bytearray | str) and len(raw) > MAX_ENVELOPE_BYTES:
        raise PayloadError(
            f"is too large: {len(raw)} bytes, at most {MAX_ENVELOPE_BYTES}",
            field="<document>",
            value=raw[:40],
        )
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(
                f"is not UTF-8 text: {exc.reason}", field="<document>", value=raw[:40]
            ) from exc
    if not isinstance(raw, str):
        raise PayloadError("must be JSON text, bytes or a dict", field="<document>", value=type(raw).__name__)
    try:
        document = json.loads(raw, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        excerpt = raw[max(0, exc.pos - 20) : exc.pos + 20]
        raise PayloadError(
            f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            field="<document>",
            value=excerpt,
        ) from exc
    except PayloadError:
        raise
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise PayloadError(f"is not valid JSON: {exc}", field="<document>", value=raw[:40]) from exc
    except RecursionError as exc:
        raise PayloadError(
            "is not valid JSON: nested too deeply", field="<document>", value=raw[:40]
        ) from exc
    if not isinstance(document, dict):
        raise PayloadError("must be a JSON object", field="<document>", value=type(document).__name__)
    return document


def _date(value: Any, *, field: str, row: int | None = None) -> dt.date:
    if isinstance(value, str) and _DATE_RE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise PayloadError("must be a date written YYYY-MM-DD", field=field, row=row, value=value)


def _fetched_at(value: Any) -> dt.datetime:
    when = None
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    if when is None:
        raise PayloadError("must be an ISO 8601 timestamp", field="fetched_at", value=value)
    if when.tzinfo is None:
        raise PayloadError("must carry a time zone (UTC)", field="fetched_at", value=value)
    when = when.astimezone(dt.UTC)
    if when > _utc_now() + _CLOCK_SKEW:
        raise PayloadError(
            "is in the future: a fetch cannot have happened yet", field="fetched_at", value=value
        )
    return when


def _number(record: Mapping[str, Any], field: str, row: int, *, required: bool = True) -> float | None:
    if field not in record:
        if required:
            raise PayloadError("is missing", field=field, row=row, value=None)
        return None
    value = record[field]
    if value is None:
        raise PayloadError("must not be null", field=field, row=row, value=value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError("must be a number", field=field, row=row, value=value)
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range (JSON allows 1000...0 with 400 digits)
        number = math.inf
    if not math.isfinite(number):
        raise PayloadError("must be a finite number", field=field, row=row, value=value)
    return number


def _row(record: Any, row: int) -> dict[str, Any]:
    if not isinstance(record, Mapping):
        raise PayloadError("must be an object", field="<row>", row=row, value=record)
    if "date" not in record:
        raise PayloadError("is missing", field="date", row=row, value=None)
    out: dict[str, Any] = {"date": _date(record["date"], field="date", row=row)}
    for field in _PRICE_FIELDS:
        price = _number(record, field, row)
        if price <= 0:
            raise PayloadError("must be greater than 0", field=field, row=row, value=record[field])
        out[field] = price
    volume = _number(record, "volume", row)
    if volume < 0 or not volume.is_integer():
        raise PayloadError("must be a whole number >= 0", field="volume", row=row, value=record["volume"])
    if volume > _MAX_VOLUME:
        raise PayloadError(f"must be at most {_MAX_VOLUME}", field="volume", row=row, value=record["volume"])
    out["volume"] = int(volume)
    for field in _OPTIONAL_FIELDS:
        if record.get(field) is not None:
            extra = _number(record, field, row)
            if extra < 0:
                raise PayloadError("must be >= 0", field=field, row=row, value=record[field])
    high, low = out["high"], out["low"]
    if high < low:
        raise PayloadError(f"must be >= low {low!r}", field="high", row=row, value=record["high"])
    for field in ("open", "close"):
        if not low <= out[field] <= high:
            raise PayloadError(
                f"must lie within [low, high] = [{low!r}, {high!r}]",
                field=field,
                row=row,
                value=record[field],
            )
    return out


def parse_envelope(
    raw: bytes | str | Mapping[str, Any], *, expected_symbol: str | None = None
) -> pd.DataFrame:
    """The ``prices`` rows of a raw envelope: ticker (the Yahoo symbol), date, open, high, low, close,
    adj_close, volume; one row per history entry, oldest first.

    Parameters
    ----------
    raw:
        The envelope as stored (JSON bytes or text) or already decoded.
    expected_symbol:
        The Yahoo (or the asked DR) symbol the caller meant to read; a different one is refused.

    Raises
    ------
    PayloadError
        The first problem found, naming field, row and value (also ``.field``, ``.row``, ``.value``).

    Examples
    --------
    >>> from pipelines.sources import SampleSource
    >>> envelope = SampleSource().fetch("D05.SI", "2025-06-02", "2025-06-02")[0]
    >>> parse_envelope(envelope, expected_symbol="D05.SI").columns.tolist()
    ['ticker', 'date', 'open', 'high', 'low', 'close', 'adj_close', 'volume']
    """
    return _frame(*_parse(raw, expected_symbol))


def _frame(symbol: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns: dict[str, Any] = {
        "ticker": np.array([symbol] * len(rows), dtype=object),
        "date": np.array([row["date"] for row in rows], dtype=object),
    }
    for name in _PRICE_FIELDS:
        columns[name] = np.array([row[name] for row in rows], dtype=np.float64)
    columns["volume"] = np.array([row["volume"] for row in rows], dtype=np.int64)
    return pd.DataFrame(columns, copy=False)


class Rejected(NamedTuple):
    """A history row refused by ``parse_fetch``: its date (None when unreadable), why, the row as given."""

    date: str | None
    reason: str
    record: Any


def parse_fetch(
    raw: bytes | str | Mapping[str, Any], *, expected_symbol: str | None = None
) -> tuple[pd.DataFrame, list[Rejected]]:
    """The ``prices`` rows of one fetch, keeping the good rows of a fetch that has some bad ones.

    The envelope itself (JSON, fields, symbol, fetched_at, a non-empty history) must be sound, else
    ``PayloadError`` as ``parse_envelope`` raises it. Each history row is then checked on its own: a row
    that fails (types, finiteness, positivity, OHLC consistency, a date after ``fetched_at``) is returned in
    the second list with the ``PayloadError`` message naming field, row and value — so one bad bar in ten
    years sets aside that bar, not the fetch. A date given in more than one row is ambiguous (which bar
    holds?): every row of that date is rejected. Rows may come in any order; they come out oldest first.
    ``as_of`` must be a date but is not compared with the bars (the bars are what is stored).
    """
    document = _load(raw)
    symbol, history, fetched_at = _envelope(document, expected_symbol)
    latest_date = (fetched_at + _LATEST_OFFSET).date()
    good: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    texts = [_date_text(record) for record in history]
    rows_of: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        if text is not None:
            rows_of.setdefault(text, []).append(i)
    for i, record in enumerate(history):
        try:
            row = _row(record, i)
            day = row["date"]
            repeated = rows_of.get(day.isoformat(), [i])
            if len(repeated) > 1:
                raise PayloadError(
                    f"is a duplicate date (rows {', '.join(map(str, repeated))}): the bar is ambiguous",
                    field="date",
                    row=i,
                    value=day.isoformat(),
                )
            _check_not_after(day, latest_date, document["fetched_at"], i)
        except PayloadError as exc:
            rejected.append(Rejected(texts[i], str(exc), record))
            continue
        good.append(row)
    good.sort(key=lambda row: row["date"])
    return _frame(symbol, good), rejected


def _date_text(record: Any) -> str | None:
    """The ISO date of a history row when it reads as one (to file a rejected row under), else None."""
    text = record.get("date") if isinstance(record, Mapping) else None
    if not isinstance(text, str) or not _DATE_RE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def _check_not_after(day: dt.date, latest_date: dt.date, fetched_at: Any, row: int) -> None:
    """A bar cannot be dated after its fetch (`latest_date`: the fetch's date anywhere on Earth)."""
    if day > latest_date:
        raise PayloadError(
            f"is in the future of fetched_at {fetched_at}", field="date", row=row, value=day.isoformat()
        )


def _envelope(document: Mapping[str, Any], expected_symbol: str | None) -> tuple[str, list[Any], dt.datetime]:
    """(symbol, history list, fetched_at) of an envelope whose fields are sound; PayloadError otherwise."""
    for field in _ENVELOPE_FIELDS:
        if field not in document:
            raise PayloadError("is missing", field=field, value=None)
    if not isinstance(document["source"], str) or not document["source"]:
        raise PayloadError("must be the name of a source", field="source", value=document["source"])
    symbol = document["symbol"]
    try:
        validate_ticker(symbol)
    except ValueError:
        raise PayloadError("must be a Yahoo symbol such as 'D05.SI'", field="symbol", value=symbol) from None
    if expected_symbol is not None and not _is_expected(symbol, document.get("ticker"), expected_symbol):
        raise PayloadError(
            f"differs from the expected symbol {expected_symbol!r}", field="symbol", value=symbol
        )
    _date(document["as_of"], field="as_of")
    fetched_at = _fetched_at(document["fetched_at"])
    payload = document["payload"]
    if not isinstance(payload, Mapping):
        raise PayloadError("must be an object", field="payload", value=payload)
    history = payload.get("history")
    if not isinstance(history, list):
        raise PayloadError("must be a list of daily bars", field="payload.history", value=history)
    if not history:
        raise PayloadError("is empty: no daily bar", field="payload.history", value=history)
    return symbol, history, fetched_at


def parse_envelopes(
    raws: Iterable[bytes | str | Mapping[str, Any]], *, expected_symbol: str | None = None
) -> pd.DataFrame:
    """Many envelopes of one symbol (e.g. the daily raw objects of a backfill) as one ``prices`` frame,
    each checked as by ``parse_envelope``; dates must ascend strictly across envelopes too."""
    symbol, rows = None, []
    for raw in raws:
        this_symbol, this_rows = _parse(raw, expected_symbol)
        if symbol is not None and this_symbol != symbol:
            raise PayloadError(
                f"differs from the previous envelopes' symbol {symbol!r}", field="symbol", value=this_symbol
            )
        if rows and this_rows[0]["date"] <= rows[-1]["date"]:
            raise PayloadError(
                f"does not follow the previous envelope's last date {rows[-1]['date'].isoformat()}",
                field="date",
                row=0,
                value=this_rows[0]["date"].isoformat(),
            )
        symbol = this_symbol
        rows.extend(this_rows)
    return _frame(symbol or "", rows)


def _is_expected(symbol: str, asked: object, expected: str) -> bool:
    """The envelope is for ``expected``: its symbol is it, or it was asked as ``expected`` (a DR symbol)
    and ``symbol`` is the Yahoo symbol that DR symbol maps to (an envelope's own ``ticker`` field cannot
    vouch for an unrelated symbol)."""
    if symbol == expected:
        return True
    if asked != expected:
        return False
    from pipelines.sources.universe import load_universe  # the universe only for DR symbols

    try:
        return load_universe().yahoo_symbol(expected) == symbol
    except ValueError:
        return False


def _parse(
    raw: bytes | str | Mapping[str, Any], expected_symbol: str | None
) -> tuple[str, list[dict[str, Any]]]:
    """(symbol, checked rows) of one envelope."""
    document = _load(raw)
    symbol, history, fetched_at = _envelope(document, expected_symbol)
    as_of = _date(document["as_of"], field="as_of")

    rows = [_row(record, i) for i, record in enumerate(history)]
    latest_date = (fetched_at + _LATEST_OFFSET).date()
    for i, row in enumerate(rows):
        day = row["date"]
        if i and day == rows[i - 1]["date"]:
            raise PayloadError(
                "is a duplicate of the previous row's date", field="date", row=i, value=day.isoformat()
            )
        if i and day < rows[i - 1]["date"]:
            raise PayloadError(
                f"is before the previous row's date {rows[i - 1]['date'].isoformat()} (dates must ascend)",
                field="date",
                row=i,
                value=day.isoformat(),
            )
        _check_not_after(day, latest_date, document["fetched_at"], i)
    if rows[-1]["date"] != as_of:
        raise PayloadError(
            f"differs from the last bar's date {rows[-1]['date'].isoformat()}",
            field="as_of",
            value=document["as_of"],
        )

    return symbol, rows
