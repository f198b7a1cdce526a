"""What the commands print: one `--format table|csv|json` choice and one renderer for all of them.

- `table`: a rich table for people. A terminal folds a long value (never cuts it); a pipe or a file gets a
  console as wide as the table, so no value is folded there. A caption (a row count) goes to stderr.
- `csv`: the `csv` module's dialect (RFC 4180 quoting), a header row, then one line per row. A null is an
  empty cell; a list or an object is its JSON text.
- `json`: one document on stdout: an array with one object per row (`[]` when there is none), or the
  command's own object where it documents one (`run`'s summary, `cache stats`, `report`).

In every format stdout holds only the data: progress, captions and notes go to stderr, so
`tickerlake ... --format csv > file.csv` is a clean file. Rich is imported only to draw a table.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import json
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TextIO

import typer


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        case_sensitive=False,
        help="table (for people), csv (a header row, then the rows) or json (one document).",
    ),
]


# --- values ---------------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A JSON-ready value: ISO dates and times, numbers (NaN and infinities as null), lists and objects."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Arrow gives a MAP as a list of (key, value) pairs
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): plain(v) for k, v in value}
        return [plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        return plain(value.item())
    return str(value)


def text(value: Any) -> str:
    """A value as one CSV or table cell: empty for null, JSON text for a list or an object."""
    value = plain(value)
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def print_json(document: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(plain(document), ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def flatten(document: Mapping[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """A nested object as `field`/`value` rows (`rows.prices`, …): a summary as a table or a CSV."""
    rows: list[dict[str, Any]] = []
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(flatten(value, f"{name}."))
        else:
            rows.append({"field": name, "value": value})
    return rows


# --- rows -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of a command's rows: the key in each row (the CSV header and JSON name), its table heading,
    and how the table shows a value (default: the CSV text, `-` for null)."""

    key: str
    label: str | None = None
    show: Callable[[Any], str] | None = None
    justify: str = "left"

    def cell(self, value: Any) -> str:
        if self.show is not None:
            return self.show(value)
        shown = text(value)
        return shown if shown != "" or value == "" else "-"


class Renderer:
    """Writes rows as they come in the chosen format: JSON (an array, valid even when the rows stop
    part-way), CSV, or a table (buffered: it needs the column widths; the caller bounds the rows)."""

    def __init__(
        self,
        columns: Sequence[Column | str],
        output: OutputFormat,
        *,
        title: str | None = None,
        null: str | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.columns = [c if isinstance(c, Column) else Column(c) for c in columns]
        self.output = OutputFormat(output)
        self.title = title
        self.null = null  # how the table shows a null (default: the column's own rule)
        self.out = out or sys.stdout
        self.started = False
        self.rows = 0
        self.cells: list[list[str]] = []

    @property
    def names(self) -> list[str]:
        return [c.key for c in self.columns]

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        """Rows as sequences of values, in the order of the columns."""
        if self.output is OutputFormat.json:
            for values in rows:
                row = json.dumps(
                    {k: plain(v) for k, v in zip(self.names, values, strict=True)},
                    ensure_ascii=False,
                    indent=2,
                )
                body = "\n".join("  " + line for line in row.splitlines())
                self.out.write(("[\n" if not self.started else ",\n") + body)
                self.started = True
                self.rows += 1
        elif self.output is OutputFormat.csv:
            writer = csv.writer(self.out, lineterminator="\n")
            self._header(writer)
            for values in rows:
                writer.writerow([text(v) for v in values])
                self.rows += 1
        else:
            for values in rows:
                self.cells.append(
                    [
                        self.null if v is None and self.null is not None else column.cell(v)
                        for column, v in zip(self.columns, values, strict=True)
                    ]
                )
                self.rows += 1
        self.out.flush()

    def write_dicts(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.write([row.get(name) for name in self.names] for row in rows)

    def _header(self, writer: Any) -> None:
        if not self.started:
            writer.writerow(self.names)
            self.started = True

    def finish(self, complete: bool = True, caption: str | None = None) -> None:
        """Close the output; `complete` is False when the rows stopped part-way (a JSON array is closed
        only if a row was written, so a stopped result is never mistaken for an empty one). The caption
        goes to stderr, after a table."""
        if self.output is OutputFormat.json:
            if self.started:
                self.out.write("\n]\n")
            elif complete:
                self.out.write("[]\n")
        elif self.output is OutputFormat.csv:
            if complete:
                self._header(csv.writer(self.out, lineterminator="\n"))
        elif complete or self.cells:
            self._table()
            if caption:
                print(caption, file=sys.stderr)
        self.out.flush()

    def _table(self) -> None:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        shown = Table(title=self.title, title_justify="left")
        for column in self.columns:
            shown.add_column(escape(column.label or column.key), overflow="fold", justify=column.justify)
        for line in self.cells:
            shown.add_row(*(escape(cell) if cell != self.null else f"[dim]{cell}[/dim]" for cell in line))
        console = Console(file=self.out)
        widths = [
            max(
                len(part)
                for cell in [column.label or column.key, *(line[i] for line in self.cells)]
                for part in cell.split("\n")
            )
            for i, column in enumerate(self.columns)
        ]
        needed = max(sum(widths) + 3 * len(widths) + 1, len(self.title or ""))
        if not console.is_terminal and needed > console.width:
            console = Console(file=self.out, width=needed)
        console.print(shown)


def render(
    rows: Iterable[Mapping[str, Any]],
    output: OutputFormat,
    columns: Sequence[Column | str],
    *,
    title: str | None = None,
    caption: str | None = None,
) -> None:
    """Print a command's rows (mappings by column key) in the chosen format."""
    renderer = Renderer(columns, output, title=title)
    renderer.write_dicts(rows)
    renderer.finish(caption=caption)


def note(message: str) -> None:
    """A line for people, never data: on stderr in every format."""
    print(message, file=sys.stderr)
