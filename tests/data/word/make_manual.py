"""Writes circ-desk-manual.docx, the Word test page (an imagined library's desk manual, in Word's own
default template: styles named "Heading N", "List Number" and "List Bullet" whose numbering lives in the
style, a table, a hyperlink). Run with python-docx installed (pip install python-docx); it is not a
dependency of the bot, which reads .docx with the standard library and lxml."""

from pathlib import Path

from docx import Document  # type: ignore[import-not-found]

doc = Document()
doc.core_properties.title = "Ashgrove Library P2P desk manual"
doc.add_heading("Ashgrove Library P2P desk manual", level=0)
doc.add_paragraph("Kept by the Access Services team. Ask in #ashgrove-rs when something here is out of date.")

doc.add_heading("Borrowed books", level=1)
doc.add_heading("Checking in a book that arrived from a partner", level=2)
doc.add_paragraph("Do this at the RS desk as soon as the courier bag is opened.")
for step in ("Open Fulfillment > Resource Sharing > Receiving Items.",
             "Scan the partner's barcode from the band around the book, not any barcode of ours.",
             "Choose the ASHG_RS_DESK receiving location and press Receive.",
             "Put the printed hold slip in the book and shelve it on the P2P hold shelf by surname."):
    doc.add_paragraph(step, style="List Number")
doc.add_heading("What if the band has no barcode?", level=2)
doc.add_paragraph("Search the request by the partner's External Identifier written on the band, then receive "
                  "it from the request itself. Never make up a barcode.")

doc.add_heading("Lent books", level=1)
doc.add_heading("Pulling and packing the morning list", level=2)
for step in ("Print the Pick From Shelf list at 9:30.", "Pull every book on it before noon.",
             "Wrap each book with its slip and put it in the grey state courier tub."):
    doc.add_paragraph(step, style="List Number")
doc.add_paragraph("Things that never go in the tub:")
for item in ("reference books", "anything marked NOS after two searches"):
    doc.add_paragraph(item, style="List Bullet")

doc.add_heading("Courier pickup days", level=2)
table = doc.add_table(rows=3, cols=2)
for r, (day, time) in enumerate((("Day", "Pickup"), ("Tuesday", "2:15 pm"), ("Friday", "11:00 am"))):
    table.cell(r, 0).text = day
    table.cell(r, 1).text = time
doc.add_paragraph("The driver will not wait: tubs must be at the loading dock ten minutes early.")

doc.save(str(Path(__file__).with_name("circ-desk-manual.docx")))
