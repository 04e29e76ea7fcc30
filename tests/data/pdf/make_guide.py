"""Writes lending-guide.pdf, the PDF test page: an imagined library's lending guide as a PDF export looks
(running header and page numbers on every page, headings on their own lines, wrapped paragraphs, numbered
steps, bullets, several pages). Run with fpdf2 installed (pip install fpdf2); it is not a dependency of the
bot, which reads PDFs with pypdf."""

from pathlib import Path

from fpdf import FPDF  # type: ignore[import-not-found]


class Guide(FPDF):
    def header(self) -> None:
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, "Birchfield University Libraries - Interlibrary Services", align="C")
        self.ln(10)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, f"Page {self.page_no()} of {{nb}}", align="C")


pdf = Guide()
pdf.alias_nb_pages()
pdf.set_auto_page_break(True, margin=18)


def heading(text: str, size: int = 14) -> None:
    pdf.set_font("Helvetica", "B", size)
    pdf.multi_cell(0, 8, text)
    pdf.ln(1)


def para(text: str) -> None:
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, text)
    pdf.ln(2)


pdf.add_page()
heading("Lending Guide for P2P Requests", 18)
para("This guide is for the lending desk at Birchfield. It covers what happens to a request from the moment a "
     "partner asks for one of our books until the book is back on our shelf. Questions go to the ILS team.")
heading("Morning pick list")
para("The pick list is printed at 8:45 every weekday, before the first courier run.")
for n, step in enumerate(("Open Fulfillment > Resource Requests > Pick From Shelf.",
                          "Choose the BIRCH_LEND circulation desk.",
                          "Print the list and take it to the stacks with a book truck.",
                          "Scan each pulled book into Shipping Items before lunch."), 1):
    para(f"{n}. {step}")
heading("Books we cannot find")
para("Search the shelf, the sorting room and the new books display. If the book is still missing after two "
     "searches, mark the request Will Supply: No and add the note NOS so the partner's request moves on.")
pdf.add_page()
heading("Packing for the state courier")
para("Every book travels in a padded envelope with its shipping slip inside the front cover. Heavy art books "
     "go in the blue plastic tubs, never in envelopes.")
para("Do not send:")
for item in ("reference books", "items from Special Collections", "anything with a loose spine"):
    para(f"- {item}")
heading("Overdue loans to partners")
para("When a partner keeps a book more than thirty days past its due date, email their RS desk from the "
     "shared ill@birchfield.example address and copy the head of Access Services.")
pdf.add_page()
heading("Courier schedule")
para("The state courier collects on Monday and Thursday at 1:30 pm from the loading dock behind the library.")

out = Path(__file__).with_name("lending-guide.pdf")
pdf.output(str(out))
