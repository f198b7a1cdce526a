"""The ticker universe: its file, exact resolution, fuzzy suggestions and hostile text."""

import csv
from pathlib import Path

import pytest

from lake.exceptions import InvalidTicker
from pipelines.exceptions import UnknownTicker
from pipelines.sources import load_universe
from pipelines.sources.universe import UNIVERSE_CSV, read_universe

REFERENCE = (
    Path(__file__).resolve().parents[2] / "shared" / "reference" / "dr_tickers.csv"
)  # beside the checkout


@pytest.fixture(scope="module")
def universe():
    return load_universe()


def test_universe_holds_the_56_dr_mappings_and_plain_tickers(universe):
    drs = {listing.dr_symbol: listing.yahoo_symbol for listing in universe if listing.dr_symbol}
    assert len(drs) == 56
    assert drs["DBS19"] == "D05.SI" and drs["TENCENT19"] == "0700.HK" and drs["MSN19"] == "MSN.HM"
    plain = [listing.yahoo_symbol for listing in universe if not listing.dr_symbol]
    assert {"GOOGL", "AMZN", "SPY"} <= set(plain)


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared reference not present")
def test_universe_matches_the_seed_systems_mapping(universe):
    with REFERENCE.open() as handle:
        reference = {row["Symbol"]: row["Ticker"] for row in csv.DictReader(handle)}
    assert {listing.dr_symbol: listing.yahoo_symbol for listing in universe if listing.dr_symbol} == reference


@pytest.mark.parametrize(
    ("text", "symbol", "dr"),
    [("DBS19", "D05.SI", "DBS19"), (" dbs19\t", "D05.SI", "DBS19"), ("d05.si", "D05.SI", "DBS19"),
     ("GOOGL", "GOOGL", None), ("0700.HK", "0700.HK", "TENCENT19")],
)  # fmt: skip
def test_exact_match_on_dr_or_yahoo_symbol(universe, text, symbol, dr):
    resolution = universe.resolve(text)
    assert (resolution.symbol, resolution.dr, resolution.exact, resolution.suggestion) == (
        symbol,
        dr,
        True,
        None,
    )
    assert resolution.found


@pytest.mark.parametrize(("text", "suggestion"), [("DBS91", "DBS19"), ("DBS", "DBS19"), ("NVDA91", "NVDA19"),
                                                  ("tencent", "TENCENT19")])  # fmt: skip
def test_typo_gets_a_suggestion(universe, text, suggestion):
    resolution = universe.resolve(text)
    assert (resolution.symbol, resolution.exact, resolution.suggestion) == (None, False, suggestion)


@pytest.mark.parametrize("text", ["QWERTYXYZ", "ZZZZ", "XYZ", "HELLO WORLD"])
def test_garbage_gets_no_suggestion(universe, text):
    resolution = universe.resolve(text)
    assert (resolution.symbol, resolution.suggestion) == (None, None)
    assert not resolution.found


@pytest.mark.parametrize("text", ["../x", "A/B", "'; DROP TABLE prices; --", "", "   ", "X" * 41, "DBS19\x00",
                                  None, 19, "ดีบีเอส"])  # fmt: skip
def test_hostile_text_is_refused_cleanly(universe, text):
    with pytest.raises(InvalidTicker, match="is not valid"):
        universe.resolve(text)


def test_require_raises_with_the_suggestion(universe):
    with pytest.raises(
        UnknownTicker, match=r"ticker 'DBS91' is not in the universe; did you mean DBS19\?"
    ) as caught:
        universe.require("dbs91")
    assert caught.value.suggestion == "DBS19"
    assert universe.require("DBS19").symbol == "D05.SI"


def test_duplicate_symbol_in_a_universe_file_is_refused(tmp_path):
    lines = UNIVERSE_CSV.read_text().splitlines()
    path = tmp_path / "universe.csv"
    path.write_text("\n".join([*lines, lines[1]]) + "\n")
    with pytest.raises(ValueError, match="appears twice"):
        read_universe(path)


def test_invalid_symbol_in_a_universe_file_names_the_line(tmp_path):
    path = tmp_path / "universe.csv"
    path.write_text(UNIVERSE_CSV.read_text().splitlines()[0] + "\nX19,bad/symbol,Bad,SGX,SGD,EQUITY,\n")
    with pytest.raises(ValueError, match=r"line 2: ticker 'bad/symbol' is not valid"):
        read_universe(path)
