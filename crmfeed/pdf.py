"""HTML (the subset fpdf2 renders: headings, paragraphs, bold, lists, tables) to PDF, in a CJK
font a PyPI package ships (WenQuanYi Micro Hei, which covers Latin too), so 上海客户 prints
as itself with nothing installed from the operating system.

Loading the font costs about half a second of CPU per style, so documents are made in a worker
thread, at most `PDF_CONCURRENCY` at a time, and at most `PDF_QUEUE` made or waiting (more are
refused with PdfBusy, so a burst of prints cannot pile up without bound). Images are
refused: a template must not make the server read a file or fetch a URL."""

from __future__ import annotations

import asyncio
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path

from fpdf import FPDF

FONT_PACKAGE = "paperang_p2_fonts_cjk"
FONT_FILE = "fonts/wqy-microhei.ttc"
FAMILY = "cjk"
STYLES = ("", "B")  # italics are not offered: the font has no italic face
PDF_CONCURRENCY = 2
PDF_QUEUE = 8
_slots = asyncio.Semaphore(PDF_CONCURRENCY)
_pending = 0


class PdfBusy(RuntimeError):
    """Too many documents are being made: try again shortly."""


class PdfError(ValueError):
    """The HTML cannot be laid out (a message a template author can act on)."""


@cache
def font_path() -> Path:
    resource = files(FONT_PACKAGE) / FONT_FILE
    with as_file(resource) as path:  # a real file for an installed (unzipped) package
        return Path(path)


def _no_images(src: str) -> str:
    raise PdfError(f"images are not printed (the template asks for {src[:80]!r}).")


class _Document(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        for style in STYLES:
            self.add_font(FAMILY, style, str(font_path()))
        self.set_title(title)
        self.set_creator("crmfeed")
        self.set_auto_page_break(auto=True, margin=15)
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, size=8)
        self.cell(0, 6, f"{self.page_no()} / {{nb}}", align="C")


def render_html(html: str, title: str) -> bytes:
    """The PDF of `html` (blocking: call `render` from async code)."""
    document = _Document(title)
    document.add_page()
    document.set_font(FAMILY, size=10)
    try:
        document.write_html(html, font_family=FAMILY, image_map=_no_images)
    except PdfError:
        raise
    # Only fpdf2's layout of the template's HTML runs here, and it fails on markup it cannot
    # lay out in several ways besides FPDFException (NotImplementedError for an unknown list
    # type, an assertion for a nested table, ZeroDivisionError for colspan="0"): each is the
    # template's fault, answered as such.
    except Exception as error:
        raise PdfError(f"the template's HTML cannot be laid out: {error}") from error
    return bytes(document.output())


async def render(html: str, title: str) -> bytes:
    global _pending
    if _pending >= PDF_QUEUE:
        raise PdfBusy
    _pending += 1
    try:
        async with _slots:
            return await asyncio.to_thread(render_html, html, title)
    finally:
        _pending -= 1
