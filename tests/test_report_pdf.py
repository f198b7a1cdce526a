"""The chart and the PDF: rendered from hand-made data, read back with pypdf, page 1 rasterised."""

from __future__ import annotations

import io
import shutil
import subprocess

import pypdf
import pytest

from report_app.chart import PNG_SIGNATURE, ChartDataMissing, from_base64, render_chart, to_base64
from report_app.document import build_document
from report_app.formatting import format_value
from report_app.pdf import FONT_DIR, render_pdf
from tests.report_factory import DATE, make_report_data


@pytest.fixture(scope="module")
def data():
    return make_report_data()


@pytest.fixture(scope="module")
def chart_png(data) -> bytes:
    return render_chart(data.history, "DBS19 (D05.SI)")


@pytest.fixture(scope="module")
def pdf_bytes(data, chart_png) -> bytes:
    return render_pdf(build_document(data), chart_png)


def _text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_chart_is_a_png_and_round_trips_through_base64(chart_png):
    assert chart_png.startswith(PNG_SIGNATURE)
    assert from_base64(to_base64(chart_png)) == chart_png


def test_chart_uses_only_the_last_sessions(data):
    short = render_chart(data.history.tail(30), "x")
    assert short.startswith(PNG_SIGNATURE)


def test_chart_without_history_is_refused():
    with pytest.raises(ChartDataMissing):
        render_chart(None, "x")


@pytest.mark.parametrize("bad", ["not base64!!", "bm90IGEgcG5n"])
def test_chart_base64_that_is_not_a_png_is_refused(bad):
    with pytest.raises(ValueError):
        from_base64(bad)


def test_pdf_reads_back_with_ticker_numbers_sections_and_lineage(pdf_bytes, data):
    reader = pypdf.PdfReader(io.BytesIO(pdf_bytes))
    assert len(reader.pages) >= 2  # the Thai part, then the English part
    text = _text(pdf_bytes)
    assert "DBS19" in text and "D05.SI" in text and DATE in text
    for name in ("close", "rsi_14", "sma_200", "atr_pct"):
        assert format_value(name, data.values()[name]) in text, name
    for title in ("The stock's story", "What you need to know", "What to do now", "What to watch"):
        assert title in text
    assert "v-ind-1" in text and "computation_version" in text


def test_pdf_embeds_the_shipped_thai_font(pdf_bytes):
    reader = pypdf.PdfReader(io.BytesIO(pdf_bytes))
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert any("Loma" in name for name in fonts)
    assert (FONT_DIR / "Loma.ttf").exists() and (FONT_DIR / "LICENSE-Loma.txt").exists()


def _base_letters(text: str) -> str:
    """Thai without its above/below marks, and without the private-use variants a shaper substitutes for
    them (with uharfbuzz, a tone mark becomes a PUA glyph in the text layer and SARA AM is decomposed)."""
    text = text.replace("\u0e33", "\u0e32")
    marks = {0x0E31, *range(0x0E34, 0x0E3B), *range(0x0E47, 0x0E4F)}
    return "".join(ch for ch in text if ord(ch) not in marks and not 0xF700 <= ord(ch) <= 0xF7FF)


def test_pdf_text_layer_has_the_thai_section_titles(pdf_bytes):
    text = _base_letters(_text(pdf_bytes))
    for title in ("รายงานหุ้น", "ตัวเลขสำคัญ", "เรื่องราวของหุ้น", "ควรทำอย่างไรตอนนี้"):
        assert _base_letters(title) in text, title


def test_pdf_without_a_chart_still_renders(data):
    pdf = render_pdf(build_document(data), None, langs=("en",))
    assert pdf.startswith(b"%PDF-")
    assert "DBS19" in _text(pdf)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_first_page_rasterises(pdf_bytes, tmp_path):
    source = tmp_path / "report.pdf"
    source.write_bytes(pdf_bytes)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(source), str(tmp_path / "page")],
        check=True,
    )
    pages = list(tmp_path.glob("page*.png"))
    assert len(pages) == 1
    png = pages[0].read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 20_000  # a real page, not a blank one
