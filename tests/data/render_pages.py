"""Renders each page of a documentation folder as a PDF or a Word document, the way a library prints its wiki
to PDF or keeps its procedures in Word: the page's blocks as our readers see them (headings, paragraphs,
lists, tables), one file per page under the same name.

    python tests/data/render_pages.py pdf tests/data/otherdocs3 tests/data/otherdocs3-pdf    # needs fpdf2
    python tests/data/render_pages.py docx tests/data/otherdocs3 tests/data/otherdocs3-docx  # needs python-docx

PDFs go through fpdf2's HTML writer; Word files use Word's own styles (Title, Heading N, List Number, List
Bullet, a table) through python-docx. Neither package is a dependency of the bot.
"""

import html
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.core.docs import readers
from bot.core.docs.model import Page

PLAIN = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u2026": "...",
         "\u2192": "->", "\u203a": ">"}  # the core PDF fonts have no glyphs for these


def as_pdf(page: Page, target: Path) -> None:
    from fpdf import FPDF  # type: ignore[import-not-found]

    def esc(text: str) -> str:
        for a, b in PLAIN.items():
            text = text.replace(a, b)
        return html.escape(text.encode("latin-1", "replace").decode("latin-1"))

    out = []
    for b in page.blocks:
        if b.kind == "heading":
            level = min(b.level, 6) or 1
            out.append(f"<h{level}>{esc(b.text)}</h{level}>")
        elif b.kind == "list":
            tag = "ol" if b.ordered else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + f"</{tag}>")
        elif b.kind == "table":
            out.append("<table border='1'>" + "".join(
                "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in b.rows) + "</table>")
        elif b.text:
            out.append(f"<p>{esc(b.text)}</p>")
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    pdf.write_html("".join(out))
    pdf.output(str(target))


def as_docx(page: Page, target: Path) -> None:
    from docx import Document  # type: ignore[import-not-found]

    doc = Document()
    if page.title:
        doc.core_properties.title = page.title
    for b in page.blocks:
        if b.kind == "heading":
            doc.add_heading(b.text, level=min(max(b.level, 1), 9))
        elif b.kind == "list":
            for item in b.items:
                doc.add_paragraph(item, style="List Number" if b.ordered else "List Bullet")
        elif b.kind == "table" and b.rows:
            table = doc.add_table(rows=len(b.rows), cols=max(len(r) for r in b.rows))
            for i, row in enumerate(b.rows):
                for j, cell in enumerate(row):
                    table.cell(i, j).text = cell
        elif b.text:
            doc.add_paragraph(b.text)
    doc.save(str(target))


def render(fmt: str, src: Path, dst: Path) -> None:
    write = as_pdf if fmt == "pdf" else as_docx
    for p in sorted(src.rglob("*")):
        kind = readers.kind_for(p.name)
        if not p.is_file() or kind not in ("markdown", "html", "text"):
            continue
        target = (dst / p.relative_to(src)).with_suffix("." + fmt)
        target.parent.mkdir(parents=True, exist_ok=True)
        write(readers.parse(str(p), p.read_text(encoding="utf-8", errors="replace"), kind), target)


if __name__ == "__main__":
    render(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
