"""The finished report of one (ticker, date): narratives in both languages, key figures and lineage.

A `ReportDocument` is what the cache stores as ``report.json``: enough to write the chat text in either
language and to render the PDF again without reading the lake.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from report_app.formatting import format_value
from report_app.narrative import LANGS, SECTION_TITLES, Narrative, build_narrative
from report_app.report import DataSource, ReportData

SCHEMA_VERSION = 1

KEY_FIGURES: tuple[str, ...] = (
    "close", "ret_1d", "ret_20d", "sma_20", "sma_50", "sma_200", "rsi_14", "rsi_14_percentile", "macd_hist",
    "bb_upper", "bb_lower", "atr_pct", "atr_pct_percentile", "volume_ratio", "price_vwap_pct",
    "uncertainty_score", "vol_20d", "dist_52w_high_pct", "fact_market_cap", "fact_pe_ratio",
)  # fmt: skip

FIGURE_LABELS = {
    "th": {
        "close": "ราคาปิด", "ret_1d": "ผลตอบแทน 1 วัน", "ret_20d": "ผลตอบแทน 20 วัน", "sma_20": "SMA 20",
        "sma_50": "SMA 50", "sma_200": "SMA 200", "rsi_14": "RSI 14", "rsi_14_percentile": "เปอร์เซ็นไทล์ RSI",
        "macd_hist": "ฮิสโตแกรม MACD", "bb_upper": "Bollinger บน", "bb_lower": "Bollinger ล่าง",
        "atr_pct": "ATR (% ของราคา)", "atr_pct_percentile": "เปอร์เซ็นไทล์ ATR",
        "volume_ratio": "ปริมาณ / เฉลี่ย 20 วัน", "price_vwap_pct": "ราคาเทียบ VWAP 20",
        "uncertainty_score": "คะแนนความไม่แน่นอน", "vol_20d": "ความผันผวนรายปี (20 วัน)",
        "dist_52w_high_pct": "ห่างจากจุดสูงสุด 52 สัปดาห์", "fact_market_cap": "มูลค่าตลาด",
        "fact_pe_ratio": "P/E",
    },
    "en": {
        "close": "Close", "ret_1d": "1-day return", "ret_20d": "20-day return", "sma_20": "SMA 20",
        "sma_50": "SMA 50", "sma_200": "SMA 200", "rsi_14": "RSI 14", "rsi_14_percentile": "RSI percentile",
        "macd_hist": "MACD histogram", "bb_upper": "Bollinger upper", "bb_lower": "Bollinger lower",
        "atr_pct": "ATR (% of price)", "atr_pct_percentile": "ATR percentile",
        "volume_ratio": "Volume / 20-day avg", "price_vwap_pct": "Price vs VWAP 20",
        "uncertainty_score": "Uncertainty score", "vol_20d": "Annualised volatility (20d)",
        "dist_52w_high_pct": "From 52-week high", "fact_market_cap": "Market cap", "fact_pe_ratio": "P/E",
    },
}  # fmt: skip

UI_TEXT = {
    "th": {
        "key_figures": "ตัวเลขสำคัญ",
        "sources": "ข้อมูลที่ใช้และที่มา",
        "source_line": "{dataset}: {key} (เวอร์ชัน {version}; คำนวณเมื่อ {computed_at}; computation_version {cv})",
        "raw_line": "{dataset}: {key} (เวอร์ชัน {version}; ดึงข้อมูลเมื่อ {computed_at})",
        "narrative_rules": "บทวิเคราะห์สร้างจากกฎในระบบ ตัวเลขทุกตัวมาจากข้อมูลที่คำนวณไว้แล้วใน data lake",
        "narrative_llm": "บทวิเคราะห์เขียนโดย AI ตัวเลขทุกตัวถูกแทรกโดยระบบจากข้อมูลใน data lake",
        "disclaimer": "ข้อมูลนี้ไม่ใช่คำแนะนำการลงทุน โปรดศึกษาข้อมูลก่อนตัดสินใจ",
        "pdf": "รายงาน PDF",
        "report_for": "รายงานหุ้น",
    },
    "en": {
        "key_figures": "Key figures",
        "sources": "Data used and lineage",
        "source_line": "{dataset}: {key} (version {version}; computed at {computed_at}; computation_version {cv})",
        "raw_line": "{dataset}: {key} (version {version}; fetched at {computed_at})",
        "narrative_rules": "Narrative written by built-in rules; every number comes from precomputed lake data.",
        "narrative_llm": "Narrative written by an AI model; every number was inserted by the system from the lake.",
        "disclaimer": "This is not investment advice.",
        "pdf": "PDF report",
        "report_for": "Stock report",
    },
}

SECTION_ICONS = {"story": "📖", "know": "💡", "action": "🎯", "watch": "👀"}


@dataclass
class ReportDocument:
    """The cached report: what `report.json` holds."""

    symbol: str
    display: str
    date: str
    name: str
    currency: str
    figures: dict[str, float | None]
    narratives: dict[str, Narrative]
    sources: list[DataSource]
    generated_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "symbol": self.symbol,
            "display": self.display,
            "date": self.date,
            "name": self.name,
            "currency": self.currency,
            "figures": dict(self.figures),
            "narratives": {lang: n.to_dict() for lang, n in self.narratives.items()},
            "sources": [s.to_dict() for s in self.sources],
            "generated_at": self.generated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportDocument:
        """Rebuild from `to_dict` output; ValueError/KeyError/TypeError for anything else."""
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"report.json schema {data.get('schema')!r}, expected {SCHEMA_VERSION}")
        narratives = {lang: Narrative.from_dict(n) for lang, n in data["narratives"].items()}
        if not narratives:
            raise ValueError("report.json has no narrative")
        figures = data["figures"]
        if not isinstance(figures, Mapping):
            raise TypeError("report.json figures is not an object")
        return cls(
            symbol=str(data["symbol"]),
            display=str(data["display"]),
            date=str(data["date"]),
            name=str(data["name"]),
            currency=str(data["currency"]),
            figures={k: (None if v is None else float(v)) for k, v in figures.items()},
            narratives=narratives,
            sources=[DataSource.from_dict(s) for s in data["sources"]],
            generated_at=str(data["generated_at"]),
        )

    # ----------------------------------------------------------------------------------- rendering

    def narrative(self, lang: str) -> Narrative:
        if lang in self.narratives:
            return self.narratives[lang]
        return next(iter(self.narratives.values()))

    def figure_rows(self, lang: str) -> list[tuple[str, str]]:
        """(label, formatted value) of the key figures that have a value."""
        labels = FIGURE_LABELS.get(lang, FIGURE_LABELS["en"])
        rows = []
        for name in KEY_FIGURES:
            value = self.figures.get(name)
            if value is None:
                continue
            text = format_value(name, value, lang)
            if name == "close" and self.currency:
                text = f"{text} {self.currency}"
            rows.append((labels[name], text))
        return rows

    def source_lines(self, lang: str) -> list[str]:
        ui = UI_TEXT.get(lang, UI_TEXT["en"])
        lines = []
        for s in self.sources:
            template = ui["raw_line"] if s.dataset == "raw" else ui["source_line"]
            lines.append(
                template.format(
                    dataset=s.dataset,
                    key=s.key,
                    version=s.version_id or "-",
                    computed_at=s.computed_at or "-",
                    cv=s.computation_version or "-",
                )
            )
        return lines

    def footer_note(self, lang: str) -> str:
        ui = UI_TEXT.get(lang, UI_TEXT["en"])
        return ui["narrative_llm"] if self.narrative(lang).source == "llm" else ui["narrative_rules"]

    def title(self, lang: str) -> str:
        shown = self.display if self.display == self.symbol else f"{self.display} ({self.symbol})"
        return (
            f"{shown} · {self.name} · {self.date}" if self.name != self.display else f"{shown} · {self.date}"
        )

    def text(self, lang: str = "th") -> str:
        """The chat text: title, the four sections, key figures, and the transparency footer."""
        ui = UI_TEXT.get(lang, UI_TEXT["en"])
        narrative = self.narrative(lang)
        titles = SECTION_TITLES[narrative.lang]
        parts = [f"📊 {ui['report_for']} {self.title(lang)}"]
        for name in ("story", "know", "action", "watch"):
            parts.append(f"{SECTION_ICONS[name]} {titles[name]}\n{narrative.sections[name]}")
        figures = "\n".join(f"• {label}: {value}" for label, value in self.figure_rows(lang))
        if figures:
            parts.append(f"📌 {ui['key_figures']}\n{figures}")
        footer = [f"ℹ️ {ui['sources']}"] + [f"- {line}" for line in self.source_lines(lang)]
        footer += [self.footer_note(lang), ui["disclaimer"]]
        parts.append("\n".join(footer))
        return "\n\n".join(parts)


def build_document(
    data: ReportData, *, langs: tuple[str, ...] = LANGS, client: Any | None = None
) -> ReportDocument:
    """Build the narratives (every language in `langs`) and collect the key figures and lineage."""
    values = data.values()
    return ReportDocument(
        symbol=data.symbol,
        display=str(data.display),
        date=data.date,
        name=data.name,
        currency=data.currency,
        figures={name: values.get(name) for name in KEY_FIGURES},
        narratives={lang: build_narrative(data, lang, client=client) for lang in langs},
        sources=list(data.sources),
    )
