"""The PDF report (reportlab): chart, the four sections, key figures and the lineage footer, in Thai and English.

The Thai font (TLWG Loma, regular and bold) ships in `report_app/fonts/` so Lambda and CI need no system
font. When `uharfbuzz` is importable, reportlab shapes the text and Thai combining marks are positioned
exactly; without it the marks fall at the font's default positions, which stay legible with Loma.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import threading
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from report_app.document import UI_TEXT, ReportDocument
from report_app.narrative import RECOMMENDATION_WORDS, SECTION_TITLES, SECTIONS
from report_app.settings import ReportSettings

FONT_DIR = Path(__file__).parent / "fonts"
FONT = "Loma"
FONT_BOLD = "Loma-Bold"
# Shaping needs uharfbuzz; TICKERLAKE_PDF_SHAPING=0 turns it off (to compare, or to work around a shaper bug).
SHAPING = importlib.util.find_spec("uharfbuzz") is not None
_font_lock = threading.Lock()
_RECOMMENDATION_COLORS = {"BUY": "#1a7f37", "HOLD": "#9a6700", "SELL": "#cf222e"}


def register_fonts() -> None:
    """Register the shipped Thai font family with reportlab (idempotent, thread-safe)."""
    with _font_lock:
        if FONT in pdfmetrics.getRegisteredFontNames():
            return
        pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "Loma.ttf")))
        pdfmetrics.registerFont(TTFont(FONT_BOLD, str(FONT_DIR / "Loma-Bold.ttf")))
        pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    shaping = 1 if SHAPING and ReportSettings.from_env().pdf_shaping else 0
    base = ParagraphStyle(
        "base", fontName=FONT, fontSize=10.5, leading=16, alignment=TA_LEFT, shaping=shaping
    )
    return {
        "body": base,
        "title": ParagraphStyle("title", parent=base, fontName=FONT_BOLD, fontSize=17, leading=24),
        "subtitle": ParagraphStyle(
            "subtitle", parent=base, fontSize=9.5, textColor=colors.HexColor("#555555")
        ),
        "h2": ParagraphStyle(
            "h2", parent=base, fontName=FONT_BOLD, fontSize=13, leading=20, spaceBefore=8, spaceAfter=2
        ),
        "small": ParagraphStyle(
            "small", parent=base, fontSize=7.5, leading=10.5, textColor=colors.HexColor("#444444")
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=9, leading=12.5),
    }


def _para(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _figures_table(doc: ReportDocument, lang: str, styles: dict[str, ParagraphStyle]) -> Table | None:
    rows = doc.figure_rows(lang)
    if not rows:
        return None
    half = (len(rows) + 1) // 2
    left, right = rows[:half], rows[half:] + [("", "")] * (half - len(rows[half:]))
    data = [
        [
            _para(a, styles["cell"]),
            _para(b, styles["cell"]),
            _para(c, styles["cell"]),
            _para(d, styles["cell"]),
        ]
        for (a, b), (c, d) in zip(left, right, strict=True)
    ]
    table = Table(data, colWidths=[48 * mm, 37 * mm, 48 * mm, 37 * mm])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#cccccc")),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f3f4f6")),
                ("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#f3f4f6")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def _language_pages(
    doc: ReportDocument, lang: str, chart_png: bytes | None, styles: dict[str, ParagraphStyle]
) -> list:
    ui = UI_TEXT[lang]
    narrative = doc.narrative(lang)
    titles = SECTION_TITLES[narrative.lang]
    color = _RECOMMENDATION_COLORS[narrative.recommendation]
    word = escape(RECOMMENDATION_WORDS[narrative.lang][narrative.recommendation])
    story: list = [
        _para(f"{ui['report_for']} {doc.display}", styles["title"]),
        _para(doc.title(lang), styles["subtitle"]),
        Spacer(1, 3 * mm),
        Paragraph(f'<font color="{color}"><b>{word}</b></font>', styles["h2"]),
    ]
    if chart_png:
        image = Image(io.BytesIO(chart_png))
        scale = (170 * mm) / image.imageWidth
        image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
        story += [Spacer(1, 2 * mm), image]
    table = _figures_table(doc, lang, styles)
    if table is not None:
        story += [KeepTogether([_para(ui["key_figures"], styles["h2"]), table])]
    for name in SECTIONS:
        story.append(
            KeepTogether([_para(titles[name], styles["h2"]), _para(narrative.sections[name], styles["body"])])
        )
    story += [Spacer(1, 4 * mm), _para(ui["sources"], styles["h2"])]
    story += [_para(line, styles["small"]) for line in doc.source_lines(lang)]
    story += [Spacer(1, 2 * mm), _para(doc.footer_note(lang), styles["small"])]
    story += [_para(ui["disclaimer"], styles["small"])]
    return story


def render_pdf(
    doc: ReportDocument, chart_png: bytes | None, *, langs: tuple[str, ...] = ("th", "en")
) -> bytes:
    """The report PDF: one part per language in `langs` (each starting on a new page).

    Examples
    --------
    >>> pdf = render_pdf(document, chart_png)                          # doctest: +SKIP
    >>> pdf[:5]
    b'%PDF-'
    """
    register_fonts()
    styles = _styles()
    buffer = io.BytesIO()
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

    def footer(canvas, _doc) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(18 * mm, 10 * mm, f"tickerlake · {doc.display} ({doc.symbol}) · {doc.date}")
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"{generated} · {canvas.getPageNumber()}")
        canvas.restoreState()

    template = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
        title=f"{doc.display} {doc.date}",
        author="tickerlake",
        subject=f"Stock report {doc.display} ({doc.symbol}) {doc.date}",
    )
    story: list = []
    for index, lang in enumerate(lang for lang in langs if lang in doc.narratives):
        if index:
            story.append(PageBreak())
        story += _language_pages(doc, lang, chart_png, styles)
    template.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
