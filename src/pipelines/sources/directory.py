"""The ``dir:PATH`` source: raw envelopes read from a folder, so recorded or hand-made payloads - good and
bad - can be fed through the whole graph.

Every ``*.json`` file under the folder (recursively, any name; sorted by path) holds one envelope: one
recorded fetch, with as many bars as that fetch returned. A file is *routed* to a (Yahoo symbol, as-of
date) by, in order:

1. ``manifest.json`` at the folder's root, when present: a JSON list of objects with ``file`` (path
   relative to the folder), ``symbol`` and ``as_of`` (the bad-payload corpus in tests/fixtures/bad_payloads
   has one); the manifest wins over the file's content, so a payload claiming another ticker is still
   delivered to the partition it was meant to poison;
2. the document itself: ``symbol`` (and the asked ``ticker``) and ``as_of``;
3. the path, as in the lake's raw layout: ``.../ticker=<T>/date=<D>/...json``.

A file none of these route is skipped with a warning (``DirectorySource.unroutable`` lists them).

What ``fetch`` returns: a ``FileEnvelope`` per routed file whose symbol (or asked ticker) is the one asked
and whose as-of date is in [start, end], oldest first. A ``FileEnvelope`` is a ``dict`` - the decoded
document - with three attributes: ``path``, ``raw`` (the file's bytes, verbatim) and ``error``
(None, or why the file is not a usable envelope: not UTF-8, not JSON, not an object). For such an
*unreadable* file the dict is a stub ``{"source": "dir", "symbol", "ticker", "as_of", "unreadable": <error>,
"path"}`` built from the routing, so the caller can name the partition. Callers store ``raw_body(envelope)``
(the verbatim bytes for a file, strict JSON for any other source) and parse those bytes with
``pipelines.parsing.parse_fetch``: a bad file (or a bad bar in it) is then refused with the exact
``PayloadError`` message and can be quarantined with its bytes untouched (``Lake.put_raw`` refuses bytes that are not a JSON object, so an
unreadable file goes straight to ``Lake.quarantine("raw", ...)``).

Examples
--------
>>> from pipelines.sources import get_source
>>> source = get_source("dir:tests/fixtures/bad_payloads")  # doctest: +SKIP
>>> [raw_body(e)[:20] for e in source.fetch("D05.SI", "2025-06-10", "2025-06-10")]  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lake.layout import parse_partition, validate_date, validate_ticker
from pipelines.exceptions import SourceError
from pipelines.sources.calendars import date_range
from pipelines.sources.envelope import envelope_bytes

__all__ = ["MANIFEST_NAME", "DirectorySource", "FileEnvelope", "raw_body", "unreadable_reason"]

logger = logging.getLogger("tickerlake.pipelines.sources")

MANIFEST_NAME = "manifest.json"
SCHEME = "dir:"


class FileEnvelope(dict):
    """An envelope read from a file: the decoded document (or a routing stub) plus ``path``, ``raw`` (the
    file's bytes, verbatim), ``error`` (why the file is unreadable, else None) and the partition it was
    routed to (``symbol``, ``as_of``; ``asked`` is the document's own ``ticker`` field, if any)."""

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        path: Path,
        raw: bytes,
        error: str | None,
        symbol: str,
        as_of: str,
        asked: str | None = None,
    ) -> None:
        super().__init__(document)
        self.path = path
        self.raw = raw
        self.error = error
        self.symbol = symbol
        self.as_of = as_of
        self.asked = asked


def raw_body(envelope: Mapping[str, Any]) -> bytes:
    """The bytes to store for an envelope: a file's own bytes, verbatim; otherwise strict JSON."""
    if isinstance(envelope, FileEnvelope):
        return envelope.raw
    return envelope_bytes(envelope)


def unreadable_reason(envelope: Mapping[str, Any]) -> str | None:
    """Why an envelope from a file is not a JSON object (None for a readable one or another source)."""
    return envelope.error if isinstance(envelope, FileEnvelope) else None


def _decode(raw: bytes) -> tuple[Any, str | None]:
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text: {exc.reason}"
    except (ValueError, RecursionError) as exc:
        return None, f"not valid JSON: {str(exc) or type(exc).__name__}"
    if not isinstance(document, dict):
        return None, f"not a JSON object but {type(document).__name__}"
    return document, None


def _route_value(value: Any, check: Any) -> str | None:
    try:
        return check(value) if isinstance(value, str) else None
    except ValueError:
        return None


class DirectorySource:
    """Envelopes from the ``*.json`` files under ``root`` (see the module docstring for routing and the
    treatment of unreadable files). The folder is rescanned on each ``fetch``, so files may be added
    between runs."""

    name = "dir"
    source_tag = "dir"  # where its fetches are stored: raw/dir/

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise ValueError(f"source folder {str(root)!r} does not exist or is not a folder")
        self.unroutable: list[Path] = []

    def __repr__(self) -> str:
        return f"DirectorySource({str(self.root)!r})"

    def _manifest(self) -> dict[str, tuple[str | None, str | None]]:
        path = self.root / MANIFEST_NAME
        if not path.is_file():
            return {}
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable JSON manifest: {exc}") from None
        if not isinstance(entries, list):
            raise ValueError(f"{path}: expected a JSON list of {{file, symbol, as_of}} objects")
        routes = {}
        for entry in entries:
            if isinstance(entry, Mapping) and isinstance(entry.get("file"), str):
                routes[entry["file"]] = (
                    _route_value(entry.get("symbol"), validate_ticker),
                    _route_value(entry.get("as_of"), validate_date),
                )
        return routes

    def _read(self, path: Path, manifest: dict[str, tuple[str | None, str | None]]) -> FileEnvelope | None:
        relative = path.relative_to(self.root).as_posix()
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc}", symbol="-") from exc
        document, error = _decode(raw)
        content = document or {}
        symbol, as_of = manifest.get(relative, (None, None))
        asked = content.get("ticker") if isinstance(content.get("ticker"), str) else None
        symbol = symbol or _route_value(content.get("symbol"), validate_ticker)
        as_of = as_of or _route_value(content.get("as_of"), validate_date)
        if symbol is None or as_of is None:
            try:
                path_symbol, path_date = parse_partition("/" + relative)
            except ValueError:
                path_symbol = path_date = None
            symbol, as_of = symbol or path_symbol, as_of or path_date
        if symbol is None or as_of is None:
            logger.warning(
                "source.dir unroutable: no symbol/as_of in manifest, content or path",
                extra={"file": str(path)},
            )
            self.unroutable.append(path)
            return None
        if error is not None:
            stub = {"source": "dir", "symbol": symbol, "ticker": symbol, "as_of": as_of, "unreadable": error}
            return FileEnvelope(
                {**stub, "path": relative}, path=path, raw=raw, error=error, symbol=symbol, as_of=as_of
            )
        return FileEnvelope(content, path=path, raw=raw, error=None, symbol=symbol, as_of=as_of, asked=asked)

    def fetch(self, symbol: str, start: dt.date | str, end: dt.date | str) -> list[FileEnvelope]:
        """The routed envelopes of ``symbol`` (Yahoo or asked DR symbol) with as-of in [start, end]."""
        from pipelines.sources.universe import load_universe

        wanted = validate_ticker(symbol)
        try:
            yahoo = load_universe().yahoo_symbol(wanted)
        except ValueError:
            yahoo = wanted
        start_d, end_d = date_range(start, end)
        manifest = self._manifest()
        self.unroutable = []
        found: list[tuple[str, str, FileEnvelope]] = []
        for path in sorted(self.root.rglob("*.json")):
            if path == self.root / MANIFEST_NAME or not path.is_file():
                continue
            envelope = self._read(path, manifest)
            if envelope is None:
                continue
            if wanted not in (envelope.symbol, envelope.asked) and yahoo != envelope.symbol:
                continue
            if start_d.isoformat() <= envelope.as_of <= end_d.isoformat():
                found.append((envelope.as_of, path.as_posix(), envelope))
        found.sort(key=lambda item: (item[0], item[1]))
        return [envelope for _, _, envelope in found]


def directory_source(spec: str, **options: Any) -> DirectorySource:
    """``dir:PATH`` -> ``DirectorySource(PATH)``."""
    if not spec.startswith(SCHEME) or not spec[len(SCHEME) :].strip():
        raise ValueError(f"source {spec!r} is not valid: expected dir:PATH")
    if options:
        raise ValueError(f"source {spec!r} takes no options, got {', '.join(options)}")
    return DirectorySource(spec[len(SCHEME) :].strip())
