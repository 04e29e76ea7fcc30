"""Renders each page of a documentation folder as a PDF, the way a library prints its wiki pages to PDF: the
page's blocks as our readers see them (headings, paragraphs, lists, tables) through fpdf2's HTML writer, one
PDF per page under the same name. ``otherdocs3-pdf/`` was made with
``python tests/data/pdf/render_pages.py tests/data/otherdocs3 tests/data/otherdocs3-pdf`` (needs fpdf2, which is
not a dependency of the bot)."""

import html
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from fpdf import FPDF  # type: ignore[import-not-found]

from bot.core.docs import readers

PLAIN = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u2026": "...",
         "\u2192": "->", "\u203a": ">"}  # the core PDF fonts have no glyphs for these


def esc(text: str) -> str:
    for a, b in PLAIN.items():
        text = text.replace(a, b)
    return html.escape(text.encode("latin-1", "replace").decode("latin-1"))


def render(src: Path, dst: Path) -> None:
    for p in sorted(src.rglob("*")):
        kind = readers.kind_for(p.name)
        if not p.is_file() or kind not in ("markdown", "html", "text"):
            continue
        page = readers.parse(str(p), p.read_text(encoding="utf-8", errors="replace"), kind)
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
        target = (dst / p.relative_to(src)).with_suffix(".pdf")
        target.parent.mkdir(parents=True, exist_ok=True)
        pdf.output(str(target))


if __name__ == "__main__":
    render(Path(sys.argv[1]), Path(sys.argv[2]))
