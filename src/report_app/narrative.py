"""The report's narrative in Thai (default) or English, in the seed system's four sections.

1. story  - the stock's story (trend and recent moves)
2. know   - what you need to know (momentum, volatility, volume, each against its own history)
3. action - what to do now: BUY / HOLD / SELL with the reason
4. watch  - what to watch (levels and conditions that would change the call)

The built-in rules decide the recommendation and write every sentence from templates with placeholders.
When an OpenAI client is available (OPENAI_API_KEY), an LLM may write the prose instead, under the same
contract: it writes ``{{rsi_14}}``-style placeholders, the code injects the exact numbers, and any number
the model wrote itself makes the whole LLM text rejected (the rules narrative is used). No number in a
report is ever invented.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from report_app.formatting import (
    NarrativeRejected,
    check_no_literal_numbers,
    inject,
    placeholders,
)
from report_app.report import ReportData
from report_app.settings import ReportSettings

log = logging.getLogger(f"tickerlake.{__name__}")

LANGS = ("th", "en")
SECTIONS = ("story", "know", "action", "watch")
RECOMMENDATIONS = ("BUY", "HOLD", "SELL")
DEFAULT_LLM_MODEL = "gpt-4o-mini"

SECTION_TITLES = {
    "th": {
        "story": "เรื่องราวของหุ้น",
        "know": "สิ่งที่ต้องรู้",
        "action": "ควรทำอย่างไรตอนนี้",
        "watch": "สิ่งที่ต้องจับตา",
    },
    "en": {
        "story": "The stock's story",
        "know": "What you need to know",
        "action": "What to do now",
        "watch": "What to watch",
    },
}
RECOMMENDATION_WORDS = {
    "th": {"BUY": "ซื้อ (BUY)", "HOLD": "ถือ (HOLD)", "SELL": "ขาย (SELL)"},
    "en": {"BUY": "BUY", "HOLD": "HOLD", "SELL": "SELL"},
}

# Sentences of the rules narrative. A sentence is said only when every placeholder in it has a value.
_T: dict[str, dict[str, str]] = {
    "th": {
        "close": "{name} ({display}) ปิดที่ {{{{close}}}} {currency} ณ วันที่ {date}",
        "trend_up": "ราคาอยู่เหนือเส้นค่าเฉลี่ย SMA 20 ({{sma_20}}), SMA 50 ({{sma_50}}) และ SMA 200 ({{sma_200}}) ครบทุกเส้น เป็นแนวโน้มขาขึ้นที่ชัดเจน",
        "trend_down": "ราคาอยู่ใต้เส้นค่าเฉลี่ย SMA 20 ({{sma_20}}), SMA 50 ({{sma_50}}) และ SMA 200 ({{sma_200}}) ทุกเส้น เป็นแนวโน้มขาลง",
        "trend_long_up": "ราคายังอยู่เหนือ SMA 200 ({{sma_200}}) แนวโน้มระยะยาวยังเป็นขาขึ้น แต่ระยะสั้นยังผสมกัน (SMA 50 อยู่ที่ {{sma_50}})",
        "trend_long_down": "ราคาอยู่ใต้ SMA 200 ({{sma_200}}) แนวโน้มระยะยาวยังอ่อนแอ แม้ระยะสั้นจะมีแรงขึ้นบ้าง (SMA 50 อยู่ที่ {{sma_50}})",
        "trend_short": "ราคาห่างจาก SMA 50 ที่ {{sma_50_dev_pct}} (SMA 50 = {{sma_50}}) ข้อมูล SMA 200 ยังไม่พอ",
        "ret_20d": "ผลตอบแทนช่วง 20 วันทำการล่าสุด {{ret_20d}} และ 5 วันล่าสุด {{ret_5d}}",
        "high_52w": "ราคาห่างจากจุดสูงสุดรอบ 52 สัปดาห์ {{dist_52w_high_pct}} และจากจุดต่ำสุด {{dist_52w_low_pct}}",
        "rsi_overbought": "RSI อยู่ที่ {{rsi_14}} เข้าเขตซื้อมากเกินไป (overbought) สูงกว่าช่วงปีที่ผ่านมาถึงเปอร์เซ็นไทล์ที่ {{rsi_14_percentile}}; ในรอบปี RSI เกิน 70 เพียง {{rsi_freq_above_70}} ของวันทำการ",
        "rsi_oversold": "RSI อยู่ที่ {{rsi_14}} เข้าเขตขายมากเกินไป (oversold) อยู่ที่เปอร์เซ็นไทล์ที่ {{rsi_14_percentile}} ของรอบปี; ในรอบปี RSI ต่ำกว่า 30 เพียง {{rsi_freq_below_30}} ของวันทำการ",
        "rsi_neutral": "RSI อยู่ที่ {{rsi_14}} (เปอร์เซ็นไทล์ที่ {{rsi_14_percentile}} ของรอบปี) ยังอยู่ในโซนกลาง",
        "macd_up": "MACD ({{macd}}) อยู่เหนือเส้นสัญญาณ ({{macd_signal}}) ฮิสโตแกรม {{macd_hist}} โมเมนตัมเป็นบวก",
        "macd_down": "MACD ({{macd}}) อยู่ใต้เส้นสัญญาณ ({{macd_signal}}) ฮิสโตแกรม {{macd_hist}} โมเมนตัมอ่อนลง",
        "vol_high": "ความผันผวนสูง: ATR เท่ากับ {{atr_pct}} ของราคา อยู่ที่เปอร์เซ็นไทล์ที่ {{atr_pct_percentile}} ของรอบปี",
        "vol_low": "ความผันผวนต่ำ: ATR เท่ากับ {{atr_pct}} ของราคา อยู่ที่เปอร์เซ็นไทล์ที่ {{atr_pct_percentile}} ของรอบปี",
        "vol_normal": "ความผันผวนปกติ: ATR เท่ากับ {{atr_pct}} ของราคา (เปอร์เซ็นไทล์ที่ {{atr_pct_percentile}})",
        "volume_high": "ปริมาณซื้อขายสูงผิดปกติ {{volume_ratio}} ของค่าเฉลี่ย 20 วัน (เปอร์เซ็นไทล์ที่ {{volume_ratio_percentile}})",
        "volume_low": "ปริมาณซื้อขายเบาบาง {{volume_ratio}} ของค่าเฉลี่ย 20 วัน (เปอร์เซ็นไทล์ที่ {{volume_ratio_percentile}})",
        "volume_normal": "ปริมาณซื้อขาย {{volume_ratio}} ของค่าเฉลี่ย 20 วัน",
        "vwap": "ราคาเทียบกับ VWAP 20 วัน ({{vwap_20}}) อยู่ที่ {{price_vwap_pct}}",
        "uncertainty": "คะแนนความไม่แน่นอน {{uncertainty_score}} (เปอร์เซ็นไทล์ที่ {{uncertainty_score_percentile}})",
        "recommend": "คำแนะนำ: {recommendation}",
        "why": "เหตุผล:",
        "r_above_sma200": "ราคาอยู่เหนือ SMA 200 ({{sma_200}})",
        "r_below_sma200": "ราคาอยู่ใต้ SMA 200 ({{sma_200}})",
        "r_above_sma50": "ราคาอยู่เหนือ SMA 50 ({{sma_50}})",
        "r_below_sma50": "ราคาอยู่ใต้ SMA 50 ({{sma_50}})",
        "r_golden": "SMA 50 อยู่เหนือ SMA 200 (โครงสร้างขาขึ้น)",
        "r_death": "SMA 50 อยู่ใต้ SMA 200 (โครงสร้างขาลง)",
        "r_macd_pos": "ฮิสโตแกรม MACD เป็นบวก ({{macd_hist}})",
        "r_macd_neg": "ฮิสโตแกรม MACD เป็นลบ ({{macd_hist}})",
        "r_rsi_overbought": "RSI สูงเกินไป ({{rsi_14}}) เสี่ยงต่อการย่อตัว",
        "r_rsi_oversold": "RSI ต่ำมาก ({{rsi_14}}) มีโอกาสฟื้นตัว",
        "r_uncertain": "ความไม่แน่นอนสูง ({{uncertainty_score}}) จึงควรระวังมากขึ้น",
        "r_none": "สัญญาณยังไม่ชัดเจนพอ",
        "buy_hint": "ทยอยสะสมได้ โดยตั้งจุดตัดขาดทุนห่างราว 2 เท่าของ ATR ({{atr_14}})",
        "hold_hint": "ถือรอดูสัญญาณที่ชัดเจนขึ้นก่อน ยังไม่ควรเพิ่มหรือลดสถานะมาก",
        "sell_hint": "พิจารณาลดสถานะหรือรอให้ราคากลับขึ้นเหนือ SMA 50 ({{sma_50}}) ก่อนกลับเข้าซื้อ",
        "w_bands": "กรอบ Bollinger: แนวรับ {{bb_lower}} แนวต้าน {{bb_upper}}",
        "w_sma50": "SMA 50 ที่ {{sma_50}} เป็นแนวสำคัญ หากหลุด/ผ่านจะเปลี่ยนภาพระยะกลาง",
        "w_rsi": "RSI ({{rsi_14}}): เกิน 70 คือร้อนแรงเกินไป ต่ำกว่า 30 คืออ่อนแอเกินไป",
        "w_atr": "ราคาเคลื่อนไหวเฉลี่ยวันละ {{atr_14}} ({{atr_pct}}) ตั้งจุดตัดขาดทุนให้เหมาะกับความผันผวนนี้",
        "w_uncertainty": "คะแนนความไม่แน่นอน {{uncertainty_score}} สูง ข่าวหรือเหตุการณ์อาจทำให้ราคาแกว่งแรง",
        "w_volume": "ปริมาณซื้อขายที่ผิดปกติ ({{volume_ratio}}) อาจบอกถึงการเปลี่ยนแนวโน้ม",
    },
    "en": {
        "close": "{name} ({display}) closed at {{{{close}}}} {currency} on {date}.",
        "trend_up": "The price is above its SMA 20 ({{sma_20}}), SMA 50 ({{sma_50}}) and SMA 200 ({{sma_200}}): an established uptrend.",
        "trend_down": "The price is below its SMA 20 ({{sma_20}}), SMA 50 ({{sma_50}}) and SMA 200 ({{sma_200}}): a downtrend.",
        "trend_long_up": "The price holds above the SMA 200 ({{sma_200}}), so the long-term trend is up, but the shorter averages are mixed (SMA 50 at {{sma_50}}).",
        "trend_long_down": "The price is below the SMA 200 ({{sma_200}}): the long-term trend is weak even if the short term has bounced (SMA 50 at {{sma_50}}).",
        "trend_short": "The price is {{sma_50_dev_pct}} from its SMA 50 ({{sma_50}}); there is not enough history for the SMA 200 yet.",
        "ret_20d": "It returned {{ret_20d}} over the last 20 sessions and {{ret_5d}} over the last 5.",
        "high_52w": "It trades {{dist_52w_high_pct}} from its 52-week high and {{dist_52w_low_pct}} from its 52-week low.",
        "rsi_overbought": "RSI is {{rsi_14}}, overbought, at percentile {{rsi_14_percentile}} of the past year; RSI was above 70 on only {{rsi_freq_above_70}} of sessions.",
        "rsi_oversold": "RSI is {{rsi_14}}, oversold, at percentile {{rsi_14_percentile}} of the past year; RSI was below 30 on only {{rsi_freq_below_30}} of sessions.",
        "rsi_neutral": "RSI is {{rsi_14}} (percentile {{rsi_14_percentile}} of the past year): neutral.",
        "macd_up": "MACD ({{macd}}) is above its signal line ({{macd_signal}}), histogram {{macd_hist}}: momentum is positive.",
        "macd_down": "MACD ({{macd}}) is below its signal line ({{macd_signal}}), histogram {{macd_hist}}: momentum is fading.",
        "vol_high": "Volatility is high: ATR is {{atr_pct}} of the price, percentile {{atr_pct_percentile}} of the year.",
        "vol_low": "Volatility is low: ATR is {{atr_pct}} of the price, percentile {{atr_pct_percentile}} of the year.",
        "vol_normal": "Volatility is normal: ATR is {{atr_pct}} of the price (percentile {{atr_pct_percentile}}).",
        "volume_high": "Volume is unusually heavy at {{volume_ratio}} its 20-day average (percentile {{volume_ratio_percentile}}).",
        "volume_low": "Volume is thin at {{volume_ratio}} its 20-day average (percentile {{volume_ratio_percentile}}).",
        "volume_normal": "Volume is {{volume_ratio}} its 20-day average.",
        "vwap": "Against its 20-session VWAP ({{vwap_20}}) the price stands at {{price_vwap_pct}}.",
        "uncertainty": "Uncertainty score {{uncertainty_score}} (percentile {{uncertainty_score_percentile}}).",
        "recommend": "Recommendation: {recommendation}",
        "why": "Why:",
        "r_above_sma200": "the price is above the SMA 200 ({{sma_200}})",
        "r_below_sma200": "the price is below the SMA 200 ({{sma_200}})",
        "r_above_sma50": "the price is above the SMA 50 ({{sma_50}})",
        "r_below_sma50": "the price is below the SMA 50 ({{sma_50}})",
        "r_golden": "the SMA 50 is above the SMA 200 (bullish structure)",
        "r_death": "the SMA 50 is below the SMA 200 (bearish structure)",
        "r_macd_pos": "the MACD histogram is positive ({{macd_hist}})",
        "r_macd_neg": "the MACD histogram is negative ({{macd_hist}})",
        "r_rsi_overbought": "RSI is stretched ({{rsi_14}}), a pullback is likely",
        "r_rsi_oversold": "RSI is deeply oversold ({{rsi_14}}), a rebound is possible",
        "r_uncertain": "uncertainty is high ({{uncertainty_score}}), so extra caution",
        "r_none": "the signals are not clear enough",
        "buy_hint": "Build a position gradually, with a stop about two ATRs ({{atr_14}} each) below.",
        "hold_hint": "Hold and wait for a clearer signal before adding or trimming.",
        "sell_hint": "Consider trimming, or wait for the price to recover the SMA 50 ({{sma_50}}) before buying.",
        "w_bands": "Bollinger range: support {{bb_lower}}, resistance {{bb_upper}}.",
        "w_sma50": "The SMA 50 at {{sma_50}} is the key level: crossing it changes the medium-term picture.",
        "w_rsi": "RSI ({{rsi_14}}): above 70 is overheated, below 30 is oversold.",
        "w_atr": "The average daily move is {{atr_14}} ({{atr_pct}}): size stops to this volatility.",
        "w_uncertainty": "The uncertainty score is high ({{uncertainty_score}}): news can swing the price hard.",
        "w_volume": "Unusual volume ({{volume_ratio}}) can announce a change of trend.",
    },
}


@dataclass
class Narrative:
    """The four sections of a report in one language, numbers already injected."""

    lang: str
    recommendation: str
    sections: dict[str, str]
    source: str = "rules"  # "rules" | "llm"
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.lang,
            "recommendation": self.recommendation,
            "sections": dict(self.sections),
            "source": self.source,
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Narrative:
        sections = data["sections"]
        if data["lang"] not in LANGS or data["recommendation"] not in RECOMMENDATIONS:
            raise ValueError(
                f"not a narrative: lang={data['lang']!r} recommendation={data['recommendation']!r}"
            )
        if not isinstance(sections, Mapping) or set(sections) != set(SECTIONS):
            raise ValueError(f"not a narrative: sections {sorted(sections)!r}")
        return cls(
            lang=data["lang"],
            recommendation=data["recommendation"],
            sections={name: str(sections[name]) for name in SECTIONS},
            source=str(data.get("source", "rules")),
            reasons=[str(r) for r in data.get("reasons", [])],
        )


@dataclass(frozen=True)
class Assessment:
    """The rules' call: a score, the recommendation it maps to and the reason keys behind it."""

    recommendation: str
    score: int
    reasons: tuple[str, ...]


def _gt(values: Mapping[str, float | None], a: str, b: str) -> bool | None:
    x, y = values.get(a), values.get(b)
    return None if x is None or y is None else x > y


def assess(values: Mapping[str, float | None]) -> Assessment:
    """Trend (price vs SMA 50/200, SMA 50 vs 200) and momentum (MACD histogram) vote; RSI extremes lean
    against the crowd; a high uncertainty score tempers a BUY. Score >= 2 is BUY, <= -2 is SELL."""
    score, reasons = 0, []
    for check, up, down in (
        (_gt(values, "close", "sma_200"), "r_above_sma200", "r_below_sma200"),
        (_gt(values, "close", "sma_50"), "r_above_sma50", "r_below_sma50"),
        (_gt(values, "sma_50", "sma_200"), "r_golden", "r_death"),
    ):
        if check is not None:
            score += 1 if check else -1
            reasons.append(up if check else down)
    hist = values.get("macd_hist")
    if hist is not None and hist != 0:
        score += 1 if hist > 0 else -1
        reasons.append("r_macd_pos" if hist > 0 else "r_macd_neg")
    rsi = values.get("rsi_14")
    if rsi is not None and rsi >= 70:
        score -= 1
        reasons.append("r_rsi_overbought")
    elif rsi is not None and rsi <= 30:
        score += 1
        reasons.append("r_rsi_oversold")
    uncertainty = values.get("uncertainty_score")
    if uncertainty is not None and uncertainty > 75 and score > 0:
        score -= 1
        reasons.append("r_uncertain")
    recommendation = "BUY" if score >= 2 else "SELL" if score <= -2 else "HOLD"
    return Assessment(recommendation, score, tuple(reasons) or ("r_none",))


def _available(template: str, values: Mapping[str, float | None]) -> bool:
    return all(values.get(name) is not None for name in placeholders(template))


def _sentences(lang: str, keys: list[str], values: Mapping[str, float | None]) -> list[str]:
    texts = _T[lang]
    return [inject(texts[key], values, lang) for key in keys if _available(texts[key], values)]


def _join(lang: str, sentences: list[str]) -> str:
    return ("\n" if lang == "th" else " ").join(sentences)


def rules_narrative(data: ReportData, lang: str = "th") -> Narrative:
    """The built-in narrative: deterministic, from the indicators and percentiles only."""
    if lang not in LANGS:
        raise ValueError(f"lang {lang!r} is not supported: expected one of {', '.join(LANGS)}")
    v = data.values()
    t = _T[lang]
    verdict = assess(v)

    story = []
    if v.get("close") is not None:
        story.append(
            inject(
                t["close"].format(
                    name=data.name, display=data.display, currency=data.currency, date=data.date
                ),
                v,
                lang,
            ).replace("  ", " ")
        )
    above = [_gt(v, "close", f"sma_{n}") for n in (20, 50, 200)]
    if all(a is True for a in above):
        story += _sentences(lang, ["trend_up"], v)
    elif all(a is False for a in above):
        story += _sentences(lang, ["trend_down"], v)
    elif above[2] is True:
        story += _sentences(lang, ["trend_long_up"], v)
    elif above[2] is False:
        story += _sentences(lang, ["trend_long_down"], v)
    else:
        story += _sentences(lang, ["trend_short"], v)
    story += _sentences(lang, ["ret_20d", "high_52w"], v)

    know_keys = []
    rsi = v.get("rsi_14")
    if rsi is not None:
        know_keys.append("rsi_overbought" if rsi >= 70 else "rsi_oversold" if rsi <= 30 else "rsi_neutral")
    if v.get("macd_hist") is not None:
        know_keys.append("macd_up" if v["macd_hist"] > 0 else "macd_down")
    atr_rank = v.get("atr_pct_percentile")
    if atr_rank is not None:
        know_keys.append("vol_high" if atr_rank >= 80 else "vol_low" if atr_rank <= 20 else "vol_normal")
    ratio = v.get("volume_ratio")
    if ratio is not None:
        know_keys.append("volume_high" if ratio > 2 else "volume_low" if ratio < 0.7 else "volume_normal")
    know_keys += ["vwap", "uncertainty"]
    know = _sentences(lang, know_keys, v)

    word = RECOMMENDATION_WORDS[lang][verdict.recommendation]
    reasons = _sentences(lang, list(verdict.reasons), v) or [t["r_none"]]
    hint = {"BUY": "buy_hint", "HOLD": "hold_hint", "SELL": "sell_hint"}[verdict.recommendation]
    action = [t["recommend"].format(recommendation=word), t["why"]]
    action += [f"- {reason}" for reason in reasons]
    action += _sentences(lang, [hint], v)

    watch_keys = ["w_bands", "w_sma50", "w_rsi", "w_atr"]
    if (v.get("uncertainty_score") or 0) > 75:
        watch_keys.append("w_uncertainty")
    if ratio is not None and (ratio > 2 or ratio < 0.7):
        watch_keys.append("w_volume")
    watch = [f"- {sentence}" for sentence in _sentences(lang, watch_keys, v)]

    return Narrative(
        lang=lang,
        recommendation=verdict.recommendation,
        sections={
            "story": _join(lang, story),
            "know": _join(lang, know),
            "action": "\n".join(action),
            "watch": "\n".join(watch),
        },
        source="rules",
        reasons=list(verdict.reasons),
    )


# --------------------------------------------------------------------------------------------- LLM path


def _llm_prompt(data: ReportData, lang: str, verdict: Assessment) -> list[dict[str, str]]:
    values = {name: value for name, value in data.values().items() if value is not None}
    language = "Thai" if lang == "th" else "English"
    system = (
        f"You are an equity analyst writing a short stock report in {language} for a chat app. "
        "Write four sections as a JSON object with the keys story, know, action, watch "
        "(the stock's story; what you need to know; what to do now; what to watch). "
        "STRICT RULE: never write a digit or a number yourself. Wherever a figure is needed, write a "
        "placeholder with double braces naming one of the available fields, e.g. {{rsi_14}} or {{close}}; "
        "the exact value is inserted by the system. Refer to indicators by name without their window "
        "(say 'the long-term average' or 'SMA', not a number). "
        f"The recommendation is {verdict.recommendation} (decided by the rules); explain it in the action "
        "section and do not contradict it. Output only the JSON object."
    )
    user = json.dumps(
        {
            "ticker": data.display,
            "company": data.name,
            "date": data.date,
            "available_fields": sorted(values),
            "values_for_your_reasoning_only": values,
            "rule_reasons": list(verdict.reasons),
        },
        ensure_ascii=False,
        default=str,
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def llm_narrative(
    data: ReportData, lang: str, client: Any, *, model: str | None = None, timeout: float = 30.0
) -> Narrative:
    """The LLM-written narrative with injected numbers; raises NarrativeRejected (or the client's error)."""
    verdict = assess(data.values())
    response = client.chat.completions.create(
        model=model or ReportSettings.from_env().openai_model or DEFAULT_LLM_MODEL,
        messages=_llm_prompt(data, lang, verdict),
        response_format={"type": "json_object"},
        temperature=0.2,
        timeout=timeout,
    )
    content = response.choices[0].message.content or ""
    try:
        body = json.loads(content)
    except ValueError as exc:
        raise NarrativeRejected(f"the model's answer is not JSON: {exc}") from None
    if not isinstance(body, dict) or any(not isinstance(body.get(name), str) for name in SECTIONS):
        raise NarrativeRejected(f"the model's answer lacks the sections {', '.join(SECTIONS)}")
    values = data.values()
    allowed = {data.display or "", data.symbol, data.name}
    sections = {}
    for name in SECTIONS:
        template = body[name].strip()
        if not template:
            raise NarrativeRejected(f"the model left the section {name!r} empty")
        check_no_literal_numbers(template, allowed)
        sections[name] = inject(template, values, lang)
    word = RECOMMENDATION_WORDS[lang][verdict.recommendation]
    sections["action"] = _T[lang]["recommend"].format(recommendation=word) + "\n" + sections["action"]
    return Narrative(lang, verdict.recommendation, sections, source="llm", reasons=list(verdict.reasons))


def openai_client_from_env() -> Any | None:
    """An OpenAI client when OPENAI_API_KEY is set, else None (the rules narrative is used)."""
    return openai_client(ReportSettings.from_env().openai_api_key)


def openai_client(key: str | None) -> Any | None:
    """An OpenAI client for `key`, or None without one (the rules narrative is used)."""
    if not key:
        return None
    from openai import OpenAI  # imported lazily: the rules path never needs it

    return OpenAI(api_key=key, max_retries=1, timeout=30.0)


def build_narrative(data: ReportData, lang: str = "th", *, client: Any | None = None) -> Narrative:
    """The report narrative: the LLM's when a client is given and its text passes the checks, else rules.

    Parameters
    ----------
    data: the report data.
    lang: ``"th"`` (default) or ``"en"``.
    client: an OpenAI-compatible client (``client.chat.completions.create``); None uses the rules.

    Examples
    --------
    >>> build_narrative(data, "en").sections["action"].splitlines()[0]   # doctest: +SKIP
    'Recommendation: HOLD'
    """
    if lang not in LANGS:
        raise ValueError(f"lang {lang!r} is not supported: expected one of {', '.join(LANGS)}")
    if client is not None:
        try:
            return llm_narrative(data, lang, client)
        except NarrativeRejected as exc:
            log.warning(
                "narrative: LLM text rejected for %s %s (%s); using the rules", data.symbol, data.date, exc
            )
        except Exception as exc:  # the LLM is optional: any client failure falls back to the rules
            log.warning(
                "narrative: LLM call failed for %s %s (%s: %s); using the rules",
                data.symbol,
                data.date,
                type(exc).__name__,
                exc,
            )
    return rules_narrative(data, lang)
