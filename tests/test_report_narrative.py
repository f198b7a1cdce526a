"""The narrative: four sections in Thai and English, rules, number injection and the guarded LLM path."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from report_app.document import ReportDocument, build_document
from report_app.formatting import NarrativeRejected, check_no_literal_numbers, format_value, inject
from report_app.narrative import SECTIONS, assess, build_narrative, rules_narrative
from tests.report_factory import make_report_data


class FakeLLM:
    """An OpenAI-shaped client returning a canned answer and recording the request."""

    def __init__(self, answer: str | Exception) -> None:
        self.answer = answer
        self.requests: list[dict] = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))

    def _create(self, **request):
        self.requests.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=self.answer))])


def llm_answer(**overrides) -> str:
    body = {
        "story": "{{close}} is where DBS19 closed; the trend is up.",
        "know": "RSI sits at {{rsi_14}}, percentile {{rsi_14_percentile}}; the SMA 200 is {{sma_200}}.",
        "action": "Momentum (MACD histogram {{macd_hist}}) supports adding on dips.",
        "watch": "Watch the lower band at {{bb_lower}}.",
    }
    body.update(overrides)
    return json.dumps(body)


@pytest.mark.parametrize("lang", ["th", "en"])
def test_rules_narrative_has_the_four_sections_in_the_language(lang):
    narrative = rules_narrative(make_report_data(), lang)
    assert list(narrative.sections) == list(SECTIONS)
    assert all(narrative.sections[name].strip() for name in SECTIONS)
    assert narrative.recommendation in ("BUY", "HOLD", "SELL")
    assert narrative.source == "rules"
    if lang == "th":
        assert "คำแนะนำ" in narrative.sections["action"]
    else:
        assert narrative.sections["action"].startswith("Recommendation: ")


def test_rules_narrative_cites_the_lake_numbers_formatted():
    data = make_report_data()
    text = " ".join(rules_narrative(data, "en").sections.values())
    assert "63.2" in text  # rsi_14 63.2109
    assert "+0.111" in text  # macd_hist 0.1112
    assert format_value("close", data.indicators["close"]) in text
    assert "1.88%" in text  # atr_pct 1.8765


def test_missing_values_leave_their_sentences_out():
    data = make_report_data(percentiles={}, features={})
    text = " ".join(rules_narrative(data, "en").sections.values())
    assert "n/a" not in text and "None" not in text and "nan" not in text
    assert "percentile" not in text


def test_uptrend_is_a_buy_and_downtrend_a_sell():
    up = {"close": 110, "sma_50": 100, "sma_200": 90, "macd_hist": 0.5, "rsi_14": 60}
    down = {"close": 80, "sma_50": 90, "sma_200": 100, "macd_hist": -0.5, "rsi_14": 40}
    assert assess(up).recommendation == "BUY"
    assert assess(down).recommendation == "SELL"
    assert assess({}).recommendation == "HOLD"


def test_overbought_rsi_and_high_uncertainty_temper_a_buy():
    hot = {
        "close": 110,
        "sma_50": 100,
        "sma_200": 90,
        "macd_hist": -0.1,
        "rsi_14": 82,
        "uncertainty_score": 90,
    }
    assert assess({**hot, "rsi_14": 60, "uncertainty_score": 10}).recommendation == "BUY"
    verdict = assess(hot)
    assert verdict.recommendation == "HOLD"
    assert "r_rsi_overbought" in verdict.reasons and "r_uncertain" in verdict.reasons


def test_inject_replaces_placeholders_with_formatted_values():
    assert (
        inject("RSI {{rsi_14}} / {{ volume_ratio }}", {"rsi_14": 71.234, "volume_ratio": 2.5})
        == "RSI 71.2 / 2.50x"
    )
    assert inject("{{rsi_14}}", {"rsi_14": None}, "th") == "ไม่มีข้อมูล"


def test_inject_refuses_an_unknown_placeholder():
    with pytest.raises(NarrativeRejected, match="unknown placeholder"):
        inject("{{made_up}}", {"rsi_14": 1.0})


@pytest.mark.parametrize(
    "text",
    ["RSI is 71 today", "ราคา ๓๕ บาท", "up 5%", "{{rsi_14}} and 3.2", "target ½ of it"],
)
def test_literal_numbers_are_rejected(text):
    with pytest.raises(NarrativeRejected):
        check_no_literal_numbers(text, ["DBS19"])


@pytest.mark.parametrize(
    "text", ["DBS19 above SMA 200 and RSI(14)", "near its 52-week high", "D05.SI {{close}}"]
)
def test_symbols_and_indicator_labels_are_not_numbers(text):
    check_no_literal_numbers(text, ["DBS19", "D05.SI"])


@pytest.mark.parametrize("lang", ["th", "en"])
def test_llm_narrative_gets_the_exact_numbers_injected(lang):
    data = make_report_data()
    client = FakeLLM(llm_answer())
    narrative = build_narrative(data, lang, client=client)
    assert narrative.source == "llm"
    assert "63.2" in narrative.sections["know"] and "{{" not in narrative.sections["know"]
    assert format_value("bb_lower", data.indicators["bb_lower"]) in narrative.sections["watch"]
    assert narrative.recommendation == assess(data.values()).recommendation
    request = client.requests[0]
    assert request["response_format"] == {"type": "json_object"}
    assert "never write a digit" in request["messages"][0]["content"]


@pytest.mark.parametrize(
    "answer",
    [
        llm_answer(know="RSI is 72.5, very high."),  # a number the model wrote itself
        llm_answer(watch="Watch {{imaginary_level}}."),  # a placeholder that does not exist
        "this is not json",
        json.dumps({"story": "only one section"}),
        TimeoutError("the API timed out"),
    ],
)
def test_a_bad_llm_answer_falls_back_to_the_rules(answer, caplog):
    caplog.set_level(logging.WARNING, logger="tickerlake.report_app.narrative")
    data = make_report_data()
    narrative = build_narrative(data, "en", client=FakeLLM(answer))
    assert narrative.source == "rules"
    assert narrative.sections == rules_narrative(data, "en").sections
    assert "using the rules" in caplog.text
    assert "72.5" not in " ".join(narrative.sections.values())


def test_without_a_client_the_rules_are_used_and_no_call_is_made():
    assert build_narrative(make_report_data(), "th").source == "rules"


def test_unsupported_language_is_refused():
    with pytest.raises(ValueError, match="lang"):
        build_narrative(make_report_data(), "fr")


def test_document_round_trips_through_json_and_has_the_lineage_footer():
    document = build_document(make_report_data())
    again = ReportDocument.from_dict(json.loads(json.dumps(document.to_dict())))
    assert again.to_dict() == document.to_dict()
    for lang in ("th", "en"):
        text = again.text(lang)
        assert "DBS19" in text and "D05.SI" in text
        assert "processed/indicators/month=2025-11/data.parquet" in text
        assert "v-ind-1" in text and "computation_version 1" in text and "2025-11-11T10:00:00Z" in text
    assert "เรื่องราวของหุ้น" in again.text("th")
    assert "The stock's story" in again.text("en")


def test_document_from_anything_else_is_refused():
    with pytest.raises((ValueError, KeyError, TypeError)):
        ReportDocument.from_dict({"schema": 1, "symbol": "X"})
