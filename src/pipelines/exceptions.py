"""Narrow exceptions of the pipelines: a caller catches exactly what it can handle."""

from __future__ import annotations

import datetime as dt

_MAX_SHOWN = 60


def shown(value: object) -> str:
    """A short, safe representation of a value for an error message."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + f"... ({len(text)} characters)"


class PipelineError(Exception):
    """Base class of every error raised by the pipelines."""


class SourceError(PipelineError):
    """A source could not deliver the data asked for.

    ``transient`` says whether trying again later may help (network trouble, rate limit); the orchestrator
    retries with backoff, the source itself never does.
    """

    def __init__(
        self,
        message: str,
        *,
        symbol: str,
        start: dt.date | None = None,
        end: dt.date | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.symbol = symbol
        self.start = start
        self.end = end
        self.transient = transient


class PayloadError(PipelineError, ValueError):
    """A raw envelope that cannot become prices rows.

    The message names the field, the row (index in ``payload.history``, or None for an envelope-level
    field) and the offending value; the same three are attributes.
    """

    def __init__(self, problem: str, *, field: str, row: int | None = None, value: object = None) -> None:
        where = f"payload.history[{row}].{field}" if row is not None else field
        super().__init__(f"{where}: {problem} (value: {shown(value)})")
        self.field = field
        self.row = row
        self.value = value
        self.problem = problem


class UnknownTicker(PipelineError, LookupError):
    """A well-formed ticker that is not in the universe; ``suggestion`` is the closest known one, if any."""

    def __init__(self, text: str, suggestion: str | None) -> None:
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        super().__init__(f"ticker {text!r} is not in the universe{hint}")
        self.text = text
        self.suggestion = suggestion
