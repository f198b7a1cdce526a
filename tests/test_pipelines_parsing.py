"""Raw fetch -> prices rows: ``parse_fetch`` (one fetch, keeping its good bars and rejecting each bad one with
an exact message) and the strict ``parse_envelope`` (the first problem refuses the whole envelope)."""

import copy
import datetime as dt
import json

import pytest

from pipelines.exceptions import PayloadError
from pipelines.parsing import (
    PRICE_COLUMNS,
    Rejected,
    parse_envelope,
    parse_envelopes,
    parse_fetch,
)


def _row(date, o=10.0, h=11.0, lo=9.5, c=10.5, adj=10.4, v=1000):
    return {"date": date, "open": o, "high": h, "low": lo, "close": c, "adj_close": adj, "volume": v,
            "dividends": 0.0, "splits": 0.0}  # fmt: skip


def envelope(*rows, **fields):
    rows = rows or (_row("2025-06-10"),)
    base = {
        "envelope_version": 1,
        "source": "yfinance",
        "ticker": "DBS19",
        "symbol": "D05.SI",
        "as_of": rows[-1]["date"] if isinstance(rows[-1], dict) and "date" in rows[-1] else "2025-06-10",
        "fetched_at": "2025-06-10T10:00:00.000000Z",
        "request": {"start": "2025-06-10", "end": "2025-06-10", "interval": "1d"},
        "payload": {"history": list(rows), "facts": {"name": "DBS Group Holdings Ltd"}},
    }
    base.update(fields)
    return base


def test_valid_envelope_becomes_prices_rows():
    frame = parse_envelope(json.dumps(envelope()).encode(), expected_symbol="D05.SI")
    assert list(frame.columns) == list(PRICE_COLUMNS)
    assert frame.to_dict("records") == [{"ticker": "D05.SI", "date": dt.date(2025, 6, 10), "open": 10.0,
                                         "high": 11.0, "low": 9.5, "close": 10.5, "adj_close": 10.4,
                                         "volume": 1000}]  # fmt: skip
    assert str(frame["volume"].dtype) == "int64"


def test_text_dict_and_bytes_parse_the_same():
    document = envelope(_row("2025-06-09"), _row("2025-06-10"))
    by_dict = parse_envelope(document)
    assert by_dict.equals(parse_envelope(json.dumps(document)))
    assert by_dict.equals(parse_envelope(json.dumps(document).encode()))
    assert len(by_dict) == 2


def test_expected_symbol_may_be_the_dr_symbol_asked_for():
    assert len(parse_envelope(envelope(), expected_symbol="DBS19")) == 1


def test_asian_bar_dated_ahead_of_the_utc_date_is_not_future():
    # A Tokyo bar of 2025-06-11 fetched at 2025-06-10T23:30Z (08:30 in Tokyo).
    document = envelope(_row("2025-06-11"), fetched_at="2025-06-10T23:30:00Z")
    assert len(parse_envelope(document)) == 1


def _with_row(**changes):
    row = _row("2025-06-10")
    for key, value in changes.items():
        if value is _DELETE:
            del row[key]
        else:
            row[key] = value
    return envelope(row, as_of="2025-06-10")


_DELETE = object()

BAD_ROWS = [
    ("missing close", _with_row(close=_DELETE), "payload.history[0].close: is missing (value: None)"),
    ("null close", _with_row(close=None), "payload.history[0].close: must not be null (value: None)"),
    ("text close", _with_row(close="abc"), "payload.history[0].close: must be a number (value: 'abc')"),
    ("numeric text", _with_row(open="10.0"), "payload.history[0].open: must be a number (value: '10.0')"),
    ("boolean volume", _with_row(volume=True), "payload.history[0].volume: must be a number (value: True)"),
    ("negative close", _with_row(close=-1.5, low=-2.0),
     "payload.history[0].low: must be greater than 0 (value: -2.0)"),
    ("zero adj close", _with_row(adj_close=0), "payload.history[0].adj_close: must be greater than 0 (value: 0)"),
    ("NaN high", _with_row(high=float("nan")), "payload.history[0].high: must be a finite number (value: nan)"),
    ("inf open", _with_row(open=float("inf")), "payload.history[0].open: must be a finite number (value: inf)"),
    ("negative volume", _with_row(volume=-5), "payload.history[0].volume: must be a whole number >= 0 (value: -5)"),
    ("fractional volume", _with_row(volume=10.5),
     "payload.history[0].volume: must be a whole number >= 0 (value: 10.5)"),
    ("negative dividend", _with_row(dividends=-0.1), "payload.history[0].dividends: must be >= 0 (value: -0.1)"),
    ("high below low", _with_row(high=9.0, low=9.5, open=9.5, close=9.5),
     "payload.history[0].high: must be >= low 9.5 (value: 9.0)"),
    ("open above high", _with_row(open=11.5),
     "payload.history[0].open: must lie within [low, high] = [9.5, 11.0] (value: 11.5)"),
    ("close below low", _with_row(close=9.0),
     "payload.history[0].close: must lie within [low, high] = [9.5, 11.0] (value: 9.0)"),
    ("bad date", _with_row(date="2025-02-30"), "payload.history[0].date: must be a date written YYYY-MM-DD "
                                                "(value: '2025-02-30')"),
    ("missing date", _with_row(date=_DELETE), "payload.history[0].date: is missing (value: None)"),
    ("row not an object", envelope([1, 2, 3]), "payload.history[0].<row>: must be an object (value: [1, 2, 3])"),
]  # fmt: skip


@pytest.mark.parametrize(("document", "message"), [c[1:] for c in BAD_ROWS], ids=[c[0] for c in BAD_ROWS])
def test_bad_row_is_refused_naming_field_row_and_value(document, message):
    with pytest.raises(PayloadError) as caught:
        parse_envelope(document)
    assert str(caught.value) == message


def test_error_exposes_field_row_and_value():
    with pytest.raises(PayloadError) as caught:
        parse_envelope(envelope(_row("2025-06-09"), _row("2025-06-10", c="abc")))
    assert (caught.value.field, caught.value.row, caught.value.value) == ("close", 1, "abc")
    assert isinstance(caught.value, ValueError)


def test_duplicate_date_is_refused():
    with pytest.raises(PayloadError) as caught:
        parse_envelope(envelope(_row("2025-06-09"), _row("2025-06-10"), _row("2025-06-10")))
    assert str(caught.value) == (
        "payload.history[2].date: is a duplicate of the previous row's date (value: '2025-06-10')"
    )


def test_unsorted_dates_are_refused():
    with pytest.raises(PayloadError) as caught:
        parse_envelope(envelope(_row("2025-06-10"), _row("2025-06-09"), as_of="2025-06-09"))
    assert str(caught.value) == (
        "payload.history[1].date: is before the previous row's date 2025-06-10 (dates must ascend) "
        "(value: '2025-06-09')"
    )


def test_date_after_fetched_at_is_refused():
    document = envelope(_row("2025-06-12"), fetched_at="2025-06-10T10:00:00Z")
    with pytest.raises(PayloadError) as caught:
        parse_envelope(document)
    assert str(caught.value) == (
        "payload.history[0].date: is in the future of fetched_at 2025-06-10T10:00:00Z (value: '2025-06-12')"
    )


def test_as_of_must_be_the_last_bar():
    with pytest.raises(PayloadError) as caught:
        parse_envelope(envelope(_row("2025-06-09"), as_of="2025-06-10"))
    assert str(caught.value) == "as_of: differs from the last bar's date 2025-06-09 (value: '2025-06-10')"


def test_empty_history_is_refused():
    document = envelope()
    document["payload"]["history"] = []
    with pytest.raises(PayloadError) as caught:
        parse_envelope(document)
    assert str(caught.value) == "payload.history: is empty: no daily bar (value: [])"


def test_missing_history_is_refused():
    document = envelope()
    del document["payload"]["history"]
    with pytest.raises(
        PayloadError, match=r"^payload\.history: must be a list of daily bars \(value: None\)$"
    ):
        parse_envelope(document)


@pytest.mark.parametrize("field", ["source", "symbol", "as_of", "fetched_at", "payload"])
def test_missing_envelope_field_is_refused(field):
    document = envelope()
    del document[field]
    with pytest.raises(PayloadError) as caught:
        parse_envelope(document)
    assert str(caught.value) == f"{field}: is missing (value: None)"
    assert caught.value.row is None


def test_truncated_json_is_refused():
    raw = json.dumps(envelope()).encode()[:-25]
    with pytest.raises(PayloadError) as caught:
        parse_envelope(raw)
    assert caught.value.field == "<document>"
    assert str(caught.value).startswith("<document>: is not valid JSON: ")
    assert "line 1 column" in str(caught.value)


def test_json_that_is_not_an_object_is_refused():
    with pytest.raises(PayloadError) as caught:
        parse_envelope(b"[1, 2]")
    assert str(caught.value) == "<document>: must be a JSON object (value: 'list')"


def test_non_utf8_bytes_are_refused():
    with pytest.raises(PayloadError, match=r"^<document>: is not UTF-8 text"):
        parse_envelope(b"\xff\xfe{}")


def test_nan_literal_in_json_is_refused():
    raw = json.dumps(envelope()).replace('"close": 10.5', '"close": NaN')
    with pytest.raises(PayloadError) as caught:
        parse_envelope(raw)
    assert str(caught.value) == "payload.history[0].close: must be a finite number (value: nan)"


def test_other_symbol_than_expected_is_refused():
    with pytest.raises(PayloadError) as caught:
        parse_envelope(envelope(), expected_symbol="U11.SI")
    assert str(caught.value) == "symbol: differs from the expected symbol 'U11.SI' (value: 'D05.SI')"


def test_unsafe_symbol_is_refused():
    with pytest.raises(PayloadError) as caught:
        parse_envelope(envelope(symbol="../../etc"))
    assert str(caught.value) == "symbol: must be a Yahoo symbol such as 'D05.SI' (value: '../../etc')"


@pytest.mark.parametrize(
    ("value", "message"),
    [("2025-06-10 10:00", "fetched_at: must carry a time zone (UTC) (value: '2025-06-10 10:00')"),
     ("yesterday", "fetched_at: must be an ISO 8601 timestamp (value: 'yesterday')"),
     (1749549600, "fetched_at: must be an ISO 8601 timestamp (value: 1749549600)")],
)  # fmt: skip
def test_bad_fetched_at_is_refused(value, message):
    with pytest.raises(PayloadError) as caught:
        parse_envelope(envelope(fetched_at=value))
    assert str(caught.value) == message


def test_parsing_does_not_modify_the_input():
    document = envelope()
    before = copy.deepcopy(document)
    parse_envelope(document)
    assert document == before


def test_many_envelopes_become_one_frame():
    frame = parse_envelopes(
        [envelope(_row("2025-06-09")), envelope(_row("2025-06-10"))], expected_symbol="D05.SI"
    )
    assert [d.isoformat() for d in frame["date"]] == ["2025-06-09", "2025-06-10"]
    assert parse_envelopes([]).columns.tolist() == list(PRICE_COLUMNS)


def test_many_envelopes_must_ascend():
    with pytest.raises(PayloadError) as caught:
        parse_envelopes([envelope(_row("2025-06-10")), envelope(_row("2025-06-10"))])
    assert str(caught.value) == (
        "payload.history[0].date: does not follow the previous envelope's last date 2025-06-10 (value: '2025-06-10')"
    )


def test_many_envelopes_must_share_a_symbol():
    with pytest.raises(PayloadError, match=r"^symbol: differs from the previous envelopes' symbol 'D05.SI'"):
        parse_envelopes([envelope(_row("2025-06-09")), envelope(_row("2025-06-10"), symbol="U11.SI")])


def _dates(frame):
    return [d.isoformat() for d in frame["date"]]


def test_fetch_of_good_bars_is_every_bar_oldest_first():
    document = envelope(
        _row("2025-06-05"), _row("2025-06-06"), _row("2025-06-09"), _row("2025-06-10", c=10.9)
    )
    frame, rejected = parse_fetch(json.dumps(document).encode(), expected_symbol="D05.SI")
    assert rejected == []
    assert list(frame.columns) == list(PRICE_COLUMNS)
    assert _dates(frame) == ["2025-06-05", "2025-06-06", "2025-06-09", "2025-06-10"]
    assert frame["close"].tolist() == [10.5, 10.5, 10.5, 10.9]
    assert (frame["ticker"] == "D05.SI").all() and str(frame["volume"].dtype) == "int64"
    assert frame.equals(parse_envelope(document))  # the strict parser agrees on a clean fetch


@pytest.mark.parametrize(("document", "message"), [c[1:] for c in BAD_ROWS], ids=[c[0] for c in BAD_ROWS])
def test_bad_bar_is_rejected_naming_field_row_and_value_and_the_good_bars_are_kept(document, message):
    bad = document["payload"]["history"][0]
    fetch = envelope(bad, _row("2025-06-11"), _row("2025-06-09"), fetched_at="2025-06-11T10:00:00Z")
    frame, rejected = parse_fetch(fetch)
    assert _dates(frame) == ["2025-06-09", "2025-06-11"]
    [item] = rejected
    assert isinstance(item, Rejected)
    assert item.reason == message  # row 0: the bad bar's place in the fetch
    assert item.record == bad  # the bar as given
    readable = isinstance(bad, dict) and bad.get("date") == "2025-06-10"
    assert item.date == ("2025-06-10" if readable else None)


def test_rejected_bar_names_its_own_row():
    fetch = envelope(_row("2025-06-06"), _row("2025-06-09", h=9.0), _row("2025-06-10", c="abc"))
    frame, rejected = parse_fetch(fetch)
    assert _dates(frame) == ["2025-06-06"]
    assert [(r.date, r.reason) for r in rejected] == [
        ("2025-06-09", "payload.history[1].high: must be >= low 9.5 (value: 9.0)"),
        ("2025-06-10", "payload.history[2].close: must be a number (value: 'abc')"),
    ]


def test_a_date_given_twice_sets_aside_every_bar_of_that_date():
    fetch = envelope(
        _row("2025-06-06"), _row("2025-06-09", c=10.0), _row("2025-06-10"), _row("2025-06-09", c=11.0)
    )
    frame, rejected = parse_fetch(fetch)
    assert _dates(frame) == ["2025-06-06", "2025-06-10"]
    assert [(r.date, r.reason) for r in rejected] == [
        ("2025-06-09", "payload.history[1].date: is a duplicate date (rows 1, 3): the bar is ambiguous "
                       "(value: '2025-06-09')"),
        ("2025-06-09", "payload.history[3].date: is a duplicate date (rows 1, 3): the bar is ambiguous "
                       "(value: '2025-06-09')"),
    ]  # fmt: skip


def test_a_date_given_twice_is_ambiguous_even_when_one_bar_is_bad():
    fetch = envelope(_row("2025-06-09", c=12.0), _row("2025-06-09"))
    frame, rejected = parse_fetch(fetch)
    assert frame.empty
    assert [r.reason for r in rejected] == [
        "payload.history[0].close: must lie within [low, high] = [9.5, 11.0] (value: 12.0)",
        "payload.history[1].date: is a duplicate date (rows 0, 1): the bar is ambiguous (value: '2025-06-09')",
    ]


def test_bar_after_fetched_at_is_rejected_and_the_earlier_bars_kept():
    fetch = envelope(_row("2025-06-10"), _row("2025-06-12"), fetched_at="2025-06-10T10:00:00Z")
    frame, rejected = parse_fetch(fetch)
    assert _dates(frame) == ["2025-06-10"]
    assert [(r.date, r.reason) for r in rejected] == [
        ("2025-06-12", "payload.history[1].date: is in the future of fetched_at 2025-06-10T10:00:00Z "
                       "(value: '2025-06-12')")
    ]  # fmt: skip


def test_fetch_with_an_asian_bar_dated_ahead_of_the_utc_date_keeps_it():
    frame, rejected = parse_fetch(envelope(_row("2025-06-11"), fetched_at="2025-06-10T23:30:00Z"))
    assert (_dates(frame), rejected) == (["2025-06-11"], [])


@pytest.mark.parametrize("date", ["2025-02-30", "2025-W24-2", "10/06/2025", 20250610, None])
def test_unreadable_bar_date_is_rejected_without_a_date(date):
    frame, rejected = parse_fetch(envelope(_row(date), _row("2025-06-10")))
    assert _dates(frame) == ["2025-06-10"]
    [item] = rejected
    assert item.date is None
    assert item.reason == f"payload.history[0].date: must be a date written YYYY-MM-DD (value: {date!r})"


def test_bars_in_any_order_come_out_sorted():
    frame, rejected = parse_fetch(envelope(_row("2025-06-10"), _row("2025-06-06"), _row("2025-06-09")))
    assert (_dates(frame), rejected) == (["2025-06-06", "2025-06-09", "2025-06-10"], [])


def test_as_of_must_be_a_date_but_is_not_compared_with_the_bars():
    frame, _ = parse_fetch(envelope(_row("2025-06-09"), as_of="2025-06-10"))
    assert _dates(frame) == ["2025-06-09"]
    with pytest.raises(PayloadError) as caught:
        parse_fetch(envelope(as_of="2025-02-30"))
    assert str(caught.value) == "as_of: must be a date written YYYY-MM-DD (value: '2025-02-30')"


def test_fetch_whose_every_bar_is_bad_is_an_empty_frame_with_the_prices_columns():
    frame, rejected = parse_fetch(envelope(_row("2025-06-09", v=-1), _row("2025-06-10", adj=0)))
    assert frame.empty and list(frame.columns) == list(PRICE_COLUMNS)
    assert [r.date for r in rejected] == ["2025-06-09", "2025-06-10"]


def _without(field):
    document = envelope()
    del document[field]
    return document


def _history(value):
    document = envelope()
    document["payload"]["history"] = value
    return document


ENVELOPE_PROBLEMS = [
    ("not JSON", json.dumps(envelope()).encode()[:-25], "<document>: is not valid JSON: "),
    ("not an object", b"[1, 2]", "<document>: must be a JSON object (value: 'list')"),
    ("not UTF-8", b"\xff\xfe{}", "<document>: is not UTF-8 text"),
    ("key given twice", b'{"source": "a", "source": "b"}', "source: is given twice in one object"),
    *[(f"no {f}", _without(f), f"{f}: is missing (value: None)")
      for f in ("source", "symbol", "as_of", "fetched_at", "payload")],
    ("source not text", envelope(source=7), "source: must be the name of a source (value: 7)"),
    ("unsafe symbol", envelope(symbol="../../etc"), "symbol: must be a Yahoo symbol such as 'D05.SI'"),
    ("naive fetched_at", envelope(fetched_at="2025-06-10 10:00"), "fetched_at: must carry a time zone"),
    ("fetched_at ahead", envelope(fetched_at="2099-01-01T00:00:00Z"), "fetched_at: is in the future"),
    ("payload not object", envelope(payload=None), "payload: must be an object (value: None)"),
    ("no history", _history(None), "payload.history: must be a list of daily bars (value: None)"),
    ("history not list", _history({"0": _row("2025-06-10")}), "payload.history: must be a list of daily bars"),
    ("empty history", _history([]), "payload.history: is empty: no daily bar (value: [])"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "message"), [c[1:] for c in ENVELOPE_PROBLEMS], ids=[c[0] for c in ENVELOPE_PROBLEMS]
)
def test_envelope_problem_refuses_the_whole_fetch(raw, message):
    with pytest.raises(PayloadError) as caught:
        parse_fetch(raw)
    assert str(caught.value).startswith(message)
    assert caught.value.row is None


def test_fetch_for_another_symbol_is_refused_and_a_dr_symbol_is_its_yahoo_symbol():
    with pytest.raises(PayloadError) as caught:
        parse_fetch(envelope(), expected_symbol="U11.SI")
    assert str(caught.value) == "symbol: differs from the expected symbol 'U11.SI' (value: 'D05.SI')"
    frame, _ = parse_fetch(envelope(), expected_symbol="DBS19")
    assert frame["ticker"].tolist() == ["D05.SI"]


def test_parse_fetch_reads_text_bytes_and_dicts_alike_and_leaves_the_input_alone():
    document = envelope(_row("2025-06-09"), _row("2025-06-10", c="x"))
    before = copy.deepcopy(document)
    results = [parse_fetch(raw) for raw in (document, json.dumps(document), json.dumps(document).encode())]
    assert document == before
    for frame, rejected in results[1:]:
        assert frame.equals(results[0][0]) and rejected == results[0][1]
