"""The ticker universe: DR symbols of the seed system (``DBS19``) and the Yahoo symbols they track.

``universe.csv`` (next to this module) has one row per listing: ``dr_symbol`` (empty for a plain Yahoo
ticker), ``yahoo_symbol``, ``name``, ``exchange``, ``currency``, ``quote_type``, ``sector``.

``Universe.resolve(text)`` matches a DR or Yahoo symbol exactly (case-insensitive, trimmed); failing
that, it suggests the closest known symbol (or, for longer text, the listing whose name contains it), so a
typo like ``DBS91`` answers "did you mean DBS19?". Text that is not shaped like a ticker or a name
(quotes, slashes, control characters, over 40 characters) is refused with ``InvalidTicker``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rapidfuzz import fuzz, process

from lake.exceptions import InvalidTicker
from lake.layout import validate_ticker
from pipelines.exceptions import UnknownTicker, shown
from pipelines.settings import PipelineSettings

UNIVERSE_CSV = Path(__file__).with_name("universe.csv")
_COLUMNS = ("dr_symbol", "yahoo_symbol", "name", "exchange", "currency", "quote_type", "sector")
_TEXT_RE = re.compile(r"[A-Z0-9][A-Z0-9 .\-=^&]{0,39}|\^[A-Z0-9.\-=^]{1,23}")
_SYMBOL_CUTOFF = 70.0  # rapidfuzz ratio: DBS91 ~ DBS19 scores 80, unrelated short symbols stay below 60
_NAME_CUTOFF = 90.0  # partial ratio of the text inside a listing's name
_NAME_MIN_LENGTH = 4


@dataclass(frozen=True)
class Listing:
    """One row of the universe."""

    yahoo_symbol: str
    dr_symbol: str | None
    name: str
    exchange: str
    currency: str
    quote_type: str = "EQUITY"
    sector: str | None = None


@dataclass(frozen=True)
class Resolution:
    """The answer of ``Universe.resolve``.

    ``symbol`` is the Yahoo symbol and ``dr`` the DR symbol (None for a plain ticker) when the text matched
    a listing exactly; otherwise both are None and ``suggestion`` is the closest known symbol, if any.
    """

    symbol: str | None
    dr: str | None
    exact: bool
    suggestion: str | None = None
    listing: Listing | None = None

    @property
    def found(self) -> bool:
        return self.exact and self.symbol is not None


def normalize_text(text: object) -> str:
    """Trimmed, upper-case ticker text; refuses anything not shaped like a ticker or a name."""
    if not isinstance(text, str):
        raise InvalidTicker(f"ticker {shown(text)} is not valid: expected text such as 'DBS19' or 'D05.SI'")
    cleaned = " ".join(text.split()).upper()
    if not _TEXT_RE.fullmatch(cleaned) or ".." in cleaned:
        raise InvalidTicker(
            f"ticker {shown(text)} is not valid: expected 1-40 characters of A-Z, 0-9, space, "
            "'.', '-', '=', '^', '&' (e.g. 'DBS19', 'D05.SI')"
        )
    return cleaned


class Universe:
    """The listings, indexed by DR and Yahoo symbol."""

    def __init__(self, listings: list[Listing]) -> None:
        self._listings = list(listings)
        self._by_symbol: dict[str, Listing] = {}
        for listing in self._listings:
            keys = [listing.yahoo_symbol] + ([listing.dr_symbol] if listing.dr_symbol else [])
            for key in keys:
                other = self._by_symbol.get(key)
                if other is not None:
                    raise ValueError(
                        f"universe symbol {key!r} appears twice ({other.yahoo_symbol}, {listing.yahoo_symbol})"
                    )
                self._by_symbol[key] = listing
        self._symbol_choices = list(self._by_symbol)
        self._name_choices = [listing.name.upper() for listing in self._listings]

    def __iter__(self) -> Iterator[Listing]:
        return iter(self._listings)

    def __len__(self) -> int:
        return len(self._listings)

    @property
    def symbols(self) -> list[str]:
        """The Yahoo symbols, in file order (the Dagster ticker partitions)."""
        return [listing.yahoo_symbol for listing in self._listings]

    def lookup(self, text: str) -> Listing | None:
        """The listing whose DR or Yahoo symbol is exactly ``text`` (trimmed, case-insensitive)."""
        return self._by_symbol.get(normalize_text(text))

    def yahoo_symbol(self, text: str) -> str:
        """The Yahoo symbol for a DR symbol or a listed Yahoo symbol; any other well-formed Yahoo symbol as is."""
        listing = self.lookup(text)
        return listing.yahoo_symbol if listing else validate_ticker(normalize_text(text))

    def resolve(self, text: str) -> Resolution:
        """Exact match on DR or Yahoo symbol, else a fuzzy suggestion (None when nothing is close).

        Examples
        --------
        >>> load_universe().resolve(" dbs19 ").symbol
        'D05.SI'
        >>> load_universe().resolve("DBS91").suggestion
        'DBS19'
        """
        query = normalize_text(text)
        listing = self._by_symbol.get(query)
        if listing is not None:
            return Resolution(listing.yahoo_symbol, listing.dr_symbol, True, None, listing)
        return Resolution(None, None, False, self._suggest(query))

    def require(self, text: str) -> Resolution:
        """Like ``resolve`` but raises ``UnknownTicker`` (with the suggestion) when there is no exact match."""
        resolution = self.resolve(text)
        if not resolution.found:
            raise UnknownTicker(normalize_text(text), resolution.suggestion)
        return resolution

    def _suggest(self, query: str) -> str | None:
        match = process.extractOne(
            query, self._symbol_choices, scorer=fuzz.ratio, score_cutoff=_SYMBOL_CUTOFF
        )
        if match is not None:
            return match[0]
        if len(query.replace(" ", "")) >= _NAME_MIN_LENGTH:
            match = process.extractOne(
                query, self._name_choices, scorer=fuzz.partial_ratio, score_cutoff=_NAME_CUTOFF
            )
            if match is not None:
                listing = self._listings[match[2]]
                return listing.dr_symbol or listing.yahoo_symbol
        return None


def read_universe(path: str | Path) -> Universe:
    """Read and validate a universe CSV: a header naming at least ``yahoo_symbol`` (other columns optional,
    in any order; a UTF-8 byte-order mark, as spreadsheets write it, is fine), then one listing a row.

    Raises
    ------
    ValueError
        Naming the file, and the line of a bad row (an invalid or repeated symbol): the file cannot be read,
        is not UTF-8 CSV, is empty, lacks the ``yahoo_symbol`` column or lists no ticker.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return _read_rows(path, csv.DictReader(handle))
    except OSError as exc:
        raise ValueError(f"universe file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"universe file {path} is not UTF-8 text: {exc.reason} at byte {exc.start}"
        ) from None
    except csv.Error as exc:
        raise ValueError(f"universe file {path} is not a readable CSV: {exc}") from None


def _read_rows(path: str | Path, reader: csv.DictReader) -> Universe:
    if reader.fieldnames is None:
        raise ValueError(f"universe file {path} is empty: expected a CSV whose header names yahoo_symbol")
    missing = [c for c in ("yahoo_symbol",) if c not in reader.fieldnames]
    if missing:
        raise ValueError(f"universe file {path} lacks columns {missing}; has {reader.fieldnames}")
    listings = []
    first_line: dict[str, int] = {}
    for row in reader:
        line = reader.line_num  # the file's line (blank lines and multi-line quoted cells counted)
        try:
            cell = {name: (value or "").strip() for name, value in row.items() if isinstance(name, str)}
            dr = cell.get("dr_symbol") or None
            yahoo = validate_ticker(cell.get("yahoo_symbol", ""))
            listing = Listing(
                yahoo_symbol=yahoo,
                dr_symbol=validate_ticker(dr) if dr else None,
                name=cell.get("name") or yahoo,
                exchange=cell.get("exchange", ""),
                currency=cell.get("currency", ""),
                quote_type=cell.get("quote_type") or "EQUITY",
                sector=cell.get("sector") or None,
            )
            for symbol in filter(None, (listing.yahoo_symbol, listing.dr_symbol)):
                if symbol in first_line:
                    raise ValueError(f"symbol {symbol!r} appears twice (first on line {first_line[symbol]})")
                first_line[symbol] = line
        except ValueError as exc:
            raise ValueError(f"universe file {path}, line {line}: {exc}") from exc
        listings.append(listing)
    if not listings:
        raise ValueError(f"universe file {path} lists no ticker")
    return Universe(listings)


@lru_cache(maxsize=1)
def _bundled() -> Universe:
    return read_universe(UNIVERSE_CSV)


@lru_cache(maxsize=4)
def _from_file(path: str, mtime_ns: int) -> Universe:
    return read_universe(path)


def universe_path() -> Path | None:
    """The user's universe file (``TICKERLAKE_UNIVERSE``), or None for the bundled one."""
    value = PipelineSettings.from_env().universe
    return value.expanduser() if value else None


def load_universe(path: str | Path | None = None) -> Universe:
    """The universe in ``path``, else in ``TICKERLAKE_UNIVERSE``, else the bundled one (each cached until
    its file changes). A missing file or a bad row is a ValueError naming the file (and the line)."""
    path = Path(path) if path is not None else universe_path()
    if path is None:
        return _bundled()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise ValueError(f"universe file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    return _from_file(str(path), mtime)
