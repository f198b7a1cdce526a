"""The report chart: price with SMA 20/50/200 and Bollinger bands, an RSI panel and a volume panel.

Drawn from the precomputed indicators rows (`close`, `sma_*`, `bb_*`, `rsi_14`, `volume_ratio`,
`volume_sma_20`) of the last ~120 sessions; nothing is recomputed. The day's volume is
`volume_ratio x volume_sma_20`, both precomputed. Uses matplotlib's object API on an Agg canvas (no pyplot
global state), so it is safe in a threaded server and in Lambda.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # headless everywhere (Lambda, CI); must precede any pyplot import elsewhere

import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from report_app.report import CHART_SESSIONS  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ChartDataMissing(ValueError):
    """No indicator history to draw."""


def _compact_volume(value: float, _position: int) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    return (
        pd.to_numeric(frame[name], errors="coerce") if name in frame else pd.Series(float("nan"), frame.index)
    )


def render_chart(
    history: pd.DataFrame | None,
    title: str,
    *,
    sessions: int = CHART_SESSIONS,
    dpi: int = 110,
) -> bytes:
    """PNG bytes of the three-panel chart of the last `sessions` rows of `history` (indicator rows).

    Examples
    --------
    >>> png = render_chart(lake.read_dataset("indicators", ["D05.SI"]), "DBS19")   # doctest: +SKIP
    >>> png[:8] == PNG_SIGNATURE
    True
    """
    if history is None or history.empty or "close" not in history:
        raise ChartDataMissing(f"no indicator history to chart for {title}")
    frame = history.sort_values("date").tail(sessions).reset_index(drop=True)
    x = pd.to_datetime(frame["date"].astype(str).str[:10])

    figure = Figure(figsize=(9, 6.4), dpi=dpi)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(3, 1, height_ratios=[3.2, 1.2, 1.1], hspace=0.08)
    price = figure.add_subplot(grid[0])
    rsi = figure.add_subplot(grid[1], sharex=price)
    volume = figure.add_subplot(grid[2], sharex=price)

    upper, lower = _col(frame, "bb_upper"), _col(frame, "bb_lower")
    price.fill_between(x, lower, upper, color="#9ecae1", alpha=0.25, linewidth=0, label="Bollinger 20, 2σ")
    price.plot(x, _col(frame, "close"), color="#111111", linewidth=1.6, label="Close")
    for name, color in (("sma_20", "#1f77b4"), ("sma_50", "#ff7f0e"), ("sma_200", "#d62728")):
        series = _col(frame, name)
        if series.notna().any():
            price.plot(x, series, color=color, linewidth=1.0, label=name.upper().replace("_", " "))
    price.set_title(title, fontsize=11, loc="left")
    price.legend(loc="upper left", fontsize=7, ncols=5, frameon=False)
    price.grid(alpha=0.25)

    rsi.plot(x, _col(frame, "rsi_14"), color="#6a3d9a", linewidth=1.1)
    rsi.axhspan(70, 100, color="#d62728", alpha=0.08)
    rsi.axhspan(0, 30, color="#2ca02c", alpha=0.08)
    for level in (30, 70):
        rsi.axhline(level, color="#888888", linewidth=0.6, linestyle="--")
    rsi.set_ylim(0, 100)
    rsi.set_ylabel("RSI 14", fontsize=8)
    rsi.grid(alpha=0.25)

    day_volume = _col(frame, "volume_ratio") * _col(frame, "volume_sma_20")
    width = 0.8 if len(frame) < 2 else max((x.iloc[-1] - x.iloc[0]).days / len(frame) * 0.8, 0.4)
    volume.bar(x, day_volume, color="#7f7f7f", width=width)
    volume.plot(x, _col(frame, "volume_sma_20"), color="#ff7f0e", linewidth=0.9)
    volume.yaxis.set_major_formatter(FuncFormatter(_compact_volume))
    volume.set_ylabel("Volume", fontsize=8)
    volume.grid(alpha=0.25)

    for axis in (price, rsi):
        axis.tick_params(labelbottom=False)
    for axis in (price, rsi, volume):
        axis.tick_params(labelsize=7)
    figure.autofmt_xdate(rotation=0, ha="center")

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def to_base64(png: bytes) -> str:
    """The chart as the cache's ``chart.b64`` text."""
    return base64.b64encode(png).decode("ascii")


def from_base64(text: str) -> bytes:
    """Decode ``chart.b64``; ValueError if it is not a base64 PNG (a corrupt cache entry)."""
    png = base64.b64decode(text.strip(), validate=True)
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("chart.b64 does not hold a PNG image")
    return png
