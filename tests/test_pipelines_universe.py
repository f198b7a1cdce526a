"""The ticker universe: its file, exact resolution, fuzzy suggestions and hostile text."""

import csv
import os
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
    return load_universe(UNIVERSE_CSV)  # the bundled file, whatever TICKERLAKE_UNIVERSE says


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


# -- the user's universe file: TICKERLAKE_UNIVERSE -------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def own_universe(tmp_path, monkeypatch):
    """Point TICKERLAKE_UNIVERSE at a file of the test's making; returns a writer for its text."""
    path = tmp_path / "my_universe.csv"
    monkeypatch.setenv("TICKERLAKE_UNIVERSE", str(path))

    def write(text: str) -> Path:
        return _write(path, text)

    return write


def test_without_the_variable_the_bundled_universe_is_used(monkeypatch):
    monkeypatch.delenv("TICKERLAKE_UNIVERSE", raising=False)
    assert load_universe().symbols == read_universe(UNIVERSE_CSV).symbols
    monkeypatch.setenv("TICKERLAKE_UNIVERSE", "  ")  # blank counts as unset
    assert len(load_universe()) == len(read_universe(UNIVERSE_CSV))


def test_universe_file_named_by_the_variable_is_the_universe(own_universe):
    own_universe("yahoo_symbol\nAAPL\nD05.SI\n7203.T\n")
    universe = load_universe()
    assert universe.symbols == ["AAPL", "D05.SI", "7203.T"]  # file order
    assert universe.resolve("d05.si").symbol == "D05.SI"
    assert not universe.resolve("DBS19").found  # the bundled DR mapping is not mixed in
    aapl = universe.lookup("AAPL")
    assert (aapl.name, aapl.dr_symbol, aapl.quote_type, aapl.sector) == ("AAPL", None, "EQUITY", None)


def test_optional_columns_are_read_in_any_order(own_universe):
    own_universe(
        "name,yahoo_symbol,sector,dr_symbol,currency\nToyota Motor,7203.T,Consumer Cyclical,TOYOTA80,JPY\n"
    )
    listing = load_universe().lookup("TOYOTA80")
    assert (listing.yahoo_symbol, listing.name, listing.sector, listing.currency, listing.exchange) == (
        "7203.T", "Toyota Motor", "Consumer Cyclical", "JPY", ""
    )  # fmt: skip


def test_a_spreadsheets_byte_order_mark_is_not_part_of_the_header(own_universe, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffyahoo_symbol,name\r\nD05.SI,DBS\r\n".encode())
    own_universe(path.read_text(encoding="utf-8"))
    assert load_universe().symbols == ["D05.SI"]


def test_editing_the_file_is_seen_by_the_next_load(own_universe):
    path = own_universe("yahoo_symbol\nAAPL\n")
    assert load_universe().symbols == ["AAPL"]
    _write(path, "yahoo_symbol\nAAPL\nMSFT\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a later modification time
    assert load_universe().symbols == ["AAPL", "MSFT"]


def test_the_sources_resolve_through_the_users_universe(own_universe):
    from pipelines.sources import SampleSource

    own_universe("dr_symbol,yahoo_symbol,name\nMYDBS,D05.SI,My DBS\n")
    [envelope] = SampleSource().fetch("MYDBS", "2025-06-02", "2025-06-06")
    assert (envelope["ticker"], envelope["symbol"]) == ("MYDBS", "D05.SI")
    assert envelope["payload"]["facts"]["name"] == "My DBS"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [("yahoo_symbol\nAAPL\nbad/symbol\n", 3, "ticker 'bad/symbol' is not valid"),
     ("yahoo_symbol,name\nAAPL,Apple\n,No symbol\n", 3, "ticker '' is not valid"),
     ("yahoo_symbol\nAAPL\n\n\nMSFT\naapl\n", 6, "ticker 'aapl' is not valid"),  # blank lines counted
     ('yahoo_symbol,name\nAAPL,"Apple\nInc."\nx y,z\n', 4, "ticker 'x y' is not valid"),  # a cell of 2 lines
     ("dr_symbol,yahoo_symbol\n,AAPL\nDR/1,MSFT\n", 3, "ticker 'DR/1' is not valid"),
     ("yahoo_symbol\nAAPL\nMSFT\nAAPL\n", 4, "symbol 'AAPL' appears twice (first on line 2)"),
     ("dr_symbol,yahoo_symbol\nAAPL19,AAPL\nAAPL,MSFT\n", 3, "symbol 'AAPL' appears twice (first on line 2)")],
    ids=["invalid", "empty symbol", "after blank lines", "after a multi-line cell", "bad dr symbol",
         "repeated", "dr repeats a yahoo symbol"],
)  # fmt: skip
def test_bad_row_is_refused_naming_the_file_and_its_line(own_universe, text, line, message):
    path = own_universe(text)
    with pytest.raises(ValueError) as caught:
        load_universe()
    assert str(caught.value).startswith(f"universe file {path}, line {line}: {message}")


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "is empty: expected a CSV whose header names yahoo_symbol"),
     ("yahoo_symbol,name\n", "lists no ticker"),
     ("yahoo_symbol\n\n\n", "lists no ticker"),
     ("symbol,name\nAAPL,Apple\n", "lacks columns ['yahoo_symbol']; has ['symbol', 'name']")],
    ids=["empty file", "header only", "header and blank lines", "no yahoo_symbol column"],
)  # fmt: skip
def test_file_without_a_ticker_is_a_clear_error(own_universe, text, message):
    path = own_universe(text)
    with pytest.raises(ValueError) as caught:
        load_universe()
    assert str(caught.value) == f"universe file {path} {message}"


def test_missing_file_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "nowhere" / "universe.csv"
    monkeypatch.setenv("TICKERLAKE_UNIVERSE", str(path))
    with pytest.raises(ValueError) as caught:
        load_universe()
    assert str(caught.value) == f"universe file {str(path)!r} cannot be read: No such file or directory"


def test_a_folder_or_a_non_utf8_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKERLAKE_UNIVERSE", str(tmp_path))
    with pytest.raises(ValueError, match=rf"^universe file '{tmp_path}' cannot be read: Is a directory$"):
        load_universe()
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("yahoo_symbol,name\nD05.SI,Soci\u00e9t\u00e9\n".encode("latin-1"))
    monkeypatch.setenv("TICKERLAKE_UNIVERSE", str(latin))
    with pytest.raises(ValueError, match=rf"^universe file {latin} is not UTF-8 text"):
        load_universe()


def test_an_explicit_path_wins_over_the_variable(own_universe, tmp_path):
    own_universe("yahoo_symbol\nAAPL\n")
    other = _write(tmp_path / "other.csv", "yahoo_symbol\nMSFT\n")
    assert load_universe(other).symbols == ["MSFT"]
    assert load_universe().symbols == ["AAPL"]
