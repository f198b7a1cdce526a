"""How each number of a report is written, and the injection of numbers into narrative templates.

A narrative (built-in rules or an LLM) never writes a number itself: it writes a placeholder such as
``{{rsi_14}}`` and `inject` replaces it with the exact value from the lake, formatted here. For an LLM
text, `check_no_literal_numbers` first refuses any digit the model wrote outside a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
# ASCII, Thai and other Unicode decimal digits, and spelled-out fractions like "½".
_DIGIT_RE = re.compile(r"[\d\u0e50-\u0e59\u00bc-\u00be\u2150-\u215e]")
# Indicator names carry their window ("SMA 200", "RSI(14)", "52-week"): labels, not figures.
_LABEL_RE = re.compile(
    r"\b(?:SMA|EMA|RSI|ATR|VWAP|BB|MACD)[\s_\-(]{0,2}(?:200|50|26|20|14|12)\b\)?(?:/26/9)?"
    r"|\b52[\s\-]?(?:week|wk|สัปดาห์)",
    re.IGNORECASE,
)

NOT_AVAILABLE = {"th": "ไม่มีข้อมูล", "en": "n/a"}

_PRICE = {
    "open", "high", "low", "close", "adj_close", "sma_20", "sma_50", "sma_200", "ema_12", "ema_26",
    "bb_upper", "bb_middle", "bb_lower", "vwap_20", "atr_14", "fact_eps",
}  # fmt: skip
_SIGNED_PCT = {
    "price_vwap_pct", "sma_20_dev_pct", "sma_50_dev_pct", "sma_200_dev_pct", "gap_pct",
    "dist_52w_high_pct", "dist_52w_low_pct",
}  # fmt: skip
_FRACTION_SIGNED_PCT = {"ret_1d", "ret_5d", "ret_20d"}  # log returns as fractions
_FRACTION_PCT = {"vol_20d"}  # annualised sigma as a fraction


class NarrativeRejected(ValueError):
    """A narrative template that cannot be used: unknown placeholder, or a number written literally."""


def _compact(value: float) -> str:
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:,.2f}{suffix}"
    return f"{value:,.0f}"


def _price_decimals(value: float) -> int:
    """Two decimals for prices of 1 and more; more for penny prices so 0.5012 does not read as 0.50."""
    size = abs(value)
    return 2 if size >= 1 or size == 0 else 4 if size >= 0.001 else 6


def format_value(name: str, value: float | None, lang: str = "en") -> str:
    """The text of one figure as every report shows it (``rsi_14`` 71.234 -> ``71.2``)."""
    if value is None:
        return NOT_AVAILABLE.get(lang, "n/a")
    if name in _PRICE:
        return f"{value:,.{_price_decimals(value)}f}"
    if name in ("macd", "macd_signal", "macd_hist"):
        return f"{value:+.{max(3, _price_decimals(value))}f}"
    if name in _SIGNED_PCT:
        return f"{value:+.2f}%"
    if name in ("atr_pct", "range_pct"):
        return f"{value:.2f}%"
    if name in _FRACTION_SIGNED_PCT:
        return f"{value * 100:+.2f}%"
    if name in _FRACTION_PCT:
        return f"{value * 100:.1f}%"
    if name.endswith("_percentile"):
        return f"{value:.0f}"
    if "_freq_" in name:
        return f"{value:.0f}%"
    if name == "volume_ratio":
        return f"{value:.2f}x"
    if name in ("volume", "volume_sma_20"):
        return f"{value:,.0f}"
    if name in ("rsi_14", "uncertainty_score", "fact_pe_ratio", "fact_forward_pe"):
        return f"{value:.1f}"
    if name.startswith("zscore") or name.endswith(("_zscore_20", "_norm")):
        return f"{value:+.2f}"
    if name == "fact_market_cap":
        return _compact(value)
    return f"{value:,.2f}"


def placeholders(template: str) -> list[str]:
    """The placeholder names of a template, in order."""
    return PLACEHOLDER_RE.findall(template)


def check_no_literal_numbers(text: str, allowed: Iterable[str] = ()) -> None:
    """Raise NarrativeRejected if `text` has a digit outside its placeholders.

    `allowed` are literal tokens that may contain digits (the ticker ``DBS19``, the Yahoo symbol ``D05.SI``,
    the company name); indicator labels with their window ("SMA 200", "RSI 14", "52-week") are allowed too.
    """
    stripped = PLACEHOLDER_RE.sub(" ", text)
    for token in sorted((t for t in allowed if t), key=len, reverse=True):
        stripped = stripped.replace(token, " ")
    stripped = _LABEL_RE.sub(" ", stripped)
    match = _DIGIT_RE.search(stripped)
    if match:
        start = max(match.start() - 20, 0)
        raise NarrativeRejected(
            f"the text writes a number itself near {stripped[start : match.end() + 20]!r}"
        )


def inject(template: str, values: Mapping[str, float | None], lang: str = "en") -> str:
    """Replace every ``{{name}}`` with the formatted value; NarrativeRejected for an unknown name."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise NarrativeRejected(f"unknown placeholder {{{{{name}}}}}")
        return format_value(name, values[name], lang)

    return PLACEHOLDER_RE.sub(replace, template)
