"""The data docs site: static HTML rendered from the quality reports, written into the lake's store.

Why not Great Expectations' own Data Docs: in GX 1.24 their pages load jQuery, Bootstrap, bootstrap-table,
Vega and Font Awesome from public CDNs (about twenty external URLs per page) and the index tables are
*rendered by that JavaScript*, so offline - a laptop without network, a locked-down VPC, a test - they
show no results; each site also ships 4 MB of fonts. This site is plain HTML and one stylesheet, no
script and no external reference, rendered from the same validation results (the GX suite's results and
the rules' results), so it reads the same from a local folder, a presigned S3 URL or
``tickerlake quality docs --serve``.

Files (``lake.layout.quality_docs_key``)::

    quality/docs/index.html          one row per dataset: suite, verdict, counts, last check, recent runs
    quality/docs/<dataset>.html      the latest report: every expectation / rule with failing examples,
                                     and the expectation suite as generated from the pandera model
    quality/docs/results.json        the reports shown, machine-readable
    quality/docs/static/style.css
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lake import layout

if TYPE_CHECKING:
    from lake.api import Lake
    from pipelines.quality import QualityReport

__all__ = ["DocsSite", "build_docs", "render_site"]

logger = logging.getLogger("tickerlake.pipelines.quality")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #1d2330; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; font-size: .9rem; }
th, td { border: 1px solid #d5d9e0; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f1f3f6; }
.pass { color: #176b2c; font-weight: 600; } .warn { color: #8a5a00; font-weight: 600; }
.fail { color: #a4161a; font-weight: 600; }
code { font-size: .85em; } ul.examples { margin: 0; padding-left: 1.1rem; }
.meta { color: #5c6475; font-size: .85rem; }
"""


@dataclass(frozen=True)
class DocsSite:
    """Where the site was written: its index key, every key written, and a local path or URI to open."""

    index_key: str
    keys: tuple[str, ...]
    location: str


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _page(title: str, body: str, *, css: str = "static/style.css") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{_e(title)}</title><link rel="stylesheet" href="{_e(css)}"></head>\n'
        f"<body>\n{body}\n</body></html>\n"
    )


def _status(status: str) -> str:
    return f'<span class="{_e(status)}">{_e(status.upper())}</span>'


def _verdict(report: QualityReport) -> str:
    return _status("pass" if report.passed else "fail")


def _index(
    reports: Sequence[QualityReport], history: dict[str, list[QualityReport]], built: dt.datetime
) -> str:
    rows = []
    for report in reports:
        c = report.counts
        recent = " ".join(
            f'<span class="{"pass" if r.passed else "fail"}" title="{_e(r.checked_at.isoformat())}">'
            f"{'✓' if r.passed else '✗'}</span>"
            for r in history.get(report.dataset, [])
        )
        rows.append(
            "<tr>"
            f'<td><a href="{_e(report.dataset)}.html">{_e(report.dataset)}</a></td>'
            f"<td><code>{_e(report.suite)}</code></td>"
            f"<td>{_verdict(report)}</td>"
            f"<td>{c['rows']}</td><td>{c['results']}</td><td>{c['passed']}</td><td>{c['warned']}</td>"
            f"<td>{c['failed']}</td>"
            f"<td>{_e(', '.join(report.tickers) or 'all')}</td>"
            f"<td>{_e(report.start or '…')} .. {_e(report.end or '…')}</td>"
            f"<td>{_e(report.checked_at.strftime('%Y-%m-%d %H:%M:%S UTC'))}</td>"
            f"<td>{recent}</td>"
            "</tr>"
        )
    table = (
        "<table><thead><tr><th>dataset</th><th>expectation suite</th><th>result</th><th>rows</th>"
        "<th>checks</th><th>passed</th><th>warned</th><th>failed</th><th>tickers</th><th>dates</th>"
        "<th>checked at</th><th>recent runs</th></tr></thead><tbody>"
        + (
            "".join(rows)
            or '<tr><td colspan="12">no quality report yet: run tickerlake quality check</td></tr>'
        )
        + "</tbody></table>"
    )
    body = (
        "<h1>tickerlake data quality</h1>"
        f'<p class="meta">Built {_e(built.strftime("%Y-%m-%d %H:%M:%S UTC"))}. Expectation suites are generated '
        "from the pandera models; the rules (completeness, freshness, unique_latest, continuity, consistency, "
        'plausible_range) are described in docs/quality.md. <a href="results.json">results.json</a></p>'
        + table
    )
    return _page("tickerlake data quality", body)


def _dataset_page(report: QualityReport) -> str:
    from schemas.expectations import expectation_specs

    results = []
    for result in sorted(
        report.results, key=lambda r: ({"fail": 0, "warn": 1}.get(r.status, 2), r.kind, r.name)
    ):
        examples = "".join(
            f"<li>{_e(e.ticker or '-')} {_e(e.date or '-')}: {_e(e.detail)}</li>" for e in result.examples
        )
        results.append(
            "<tr>"
            f"<td><code>{_e(result.name)}</code></td><td>{_e(result.kind)}</td><td>{_status(result.status)}</td>"
            f"<td>{result.checked}</td><td>{result.failed}</td><td>{_e(result.message)}</td>"
            f"<td>{f'<ul class=examples>{examples}</ul>' if examples else ''}</td>"
            "</tr>"
        )
    suite_rows = "".join(
        f"<tr><td><code>{_e(spec.label)}</code></td><td><code>{_e(spec.type)}</code></td>"
        f"<td><code>{_e(json.dumps(spec.kwargs, default=str))}</code></td></tr>"
        for spec in expectation_specs(report.dataset)
    )
    body = (
        f'<p><a href="index.html">← all datasets</a></p><h1>{_e(report.dataset)}: {_verdict(report)}</h1>'
        f'<p class="meta">{_e(report.summary())}<br>checked at {_e(report.checked_at.isoformat())} in '
        f"{report.duration_seconds:.2f} s</p>"
        "<h2>Validation results</h2><table><thead><tr><th>check</th><th>kind</th><th>status</th>"
        "<th>checked</th><th>failed</th><th>message</th><th>failing examples (ticker date: detail)</th>"
        f"</tr></thead><tbody>{''.join(results)}</tbody></table>"
        f"<h2>Expectation suite <code>{_e(report.suite)}</code></h2>"
        "<table><thead><tr><th>name</th><th>expectation</th><th>arguments</th></tr></thead>"
        f"<tbody>{suite_rows}</tbody></table>"
    )
    return _page(f"{report.dataset} data quality", body)


def render_site(
    reports: Sequence[QualityReport],
    history: dict[str, list[QualityReport]] | None = None,
    *,
    built: dt.datetime | None = None,
) -> dict[str, bytes]:
    """The site's files (name under ``quality/docs/`` -> bytes) for the latest report of each dataset."""
    latest: dict[str, QualityReport] = {}
    for report in reports:
        if report.dataset not in latest or report.checked_at > latest[report.dataset].checked_at:
            latest[report.dataset] = report
    ordered = [latest[name] for name in layout.DATASETS if name in latest]
    built = built or dt.datetime.now(dt.UTC)
    files = {
        "index.html": _index(ordered, history or {}, built).encode(),
        "static/style.css": _CSS.lstrip().encode(),
        "results.json": json.dumps([r.to_dict() for r in ordered], indent=1, ensure_ascii=False).encode(),
    }
    for report in ordered:
        files[f"{report.dataset}.html"] = _page_bytes(report)
    return files


def _page_bytes(report: QualityReport) -> bytes:
    return _dataset_page(report).encode()


_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css", ".json": "application/json"}


def content_type(name: str) -> str:
    return next((t for ext, t in _CONTENT_TYPES.items() if name.endswith(ext)), "application/octet-stream")


def build_docs(
    lake: Lake,
    reports: Sequence[QualityReport] | None = None,
    *,
    refresh: bool = False,
    history: int = 10,
) -> DocsSite:
    """Write the data docs site into the lake (through its store: a local folder or S3).

    ``reports`` default to the latest saved report of each dataset (``pipelines.quality.load_reports``); a
    dataset with month objects but no saved report - or every dataset when ``refresh`` - is checked now
    (``check_dataset`` over the whole dataset) and the new report saved. The index is written last, so a
    reader never finds an index pointing at a page not yet written.
    """
    from pipelines.quality import check_dataset, load_reports, save_report

    saved = {name: load_reports(lake, name, limit=history) for name in layout.DATASETS}
    if reports is None:
        chosen = []
        for name in layout.DATASETS:
            if saved[name] and not refresh:
                chosen.append(saved[name][0])
            elif lake.months(name):
                report = check_dataset(lake, name)
                save_report(lake, report)
                saved[name].insert(0, report)
                chosen.append(report)
        reports = chosen
    files = render_site(reports, {name: list(reversed(runs[:history])) for name, runs in saved.items()})
    written = []
    for name in sorted(files, key=lambda n: n == "index.html"):  # index last
        key = layout.quality_docs_key(name)
        lake.store.put(
            key,
            files[name],
            metadata={"data-classification": lake.data_classification},
            tags={"source": "quality"},
            content_type=content_type(name),
        )
        written.append(key)
    index_key = layout.quality_docs_key("index.html")
    logger.info("pipelines.quality docs written", extra={"key": index_key, "files": len(written)})
    return DocsSite(index_key, tuple(written), docs_location(lake, index_key))


def docs_location(lake: Lake, key: str) -> str:
    """A local file path for a folder lake, else the object's URI (``s3://bucket/prefix/<key>``)."""
    uri = lake.uri
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return f"{unquote(urlparse(uri).path).rstrip('/')}/{key}"
    return f"{uri.rstrip('/')}/{key}"
