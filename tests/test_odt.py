"""OpenDocument text (.odt) pages: headings, lists, tables, notes and what is left out.

The files are built here the way LibreOffice Writer writes them (a stored ``mimetype`` first, ``content.xml``
with automatic styles and list styles, ``styles.xml`` with the named heading styles, ``meta.xml`` with the
title), so each test shows one habit of the format.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from bot.core.docs import odt
from bot.core.docs.model import ReadError
from tests.test_docs import ask, docs_env, run_cli

NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
      'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
      'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
      'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
      'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
      'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/" '
      'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" office:version="1.3"')

STYLES = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-styles {NS}><office:styles>'
          '<style:style style:name="Standard" style:family="paragraph"/>'
          '<style:style style:name="Heading" style:family="paragraph" style:parent-style-name="Standard"/>'
          '<style:style style:name="Heading_20_1" style:display-name="Heading 1" style:family="paragraph" '
          'style:parent-style-name="Heading"/>'
          '<style:style style:name="Heading_20_2" style:display-name="Heading 2" style:family="paragraph" '
          'style:parent-style-name="Heading"/>'
          '<style:style style:name="Title" style:family="paragraph" style:parent-style-name="Heading"/>'
          '<style:style style:name="List_20_Number" style:display-name="List Number" style:family="paragraph" '
          'style:list-style-name="Numbering_20_123"/>'
          '<text:list-style style:name="Numbering_20_123" style:display-name="Numbering 123">'
          '<text:list-level-style-number text:level="1" style:num-format="1"/>'
          '<text:list-level-style-number text:level="2" style:num-format="a"/></text:list-style>'
          '</office:styles></office:document-styles>')

AUTOMATIC = ('<office:automatic-styles>'
             '<style:style style:name="P1" style:family="paragraph" style:parent-style-name="Standard"/>'
             '<style:style style:name="P2" style:family="paragraph" style:parent-style-name="Heading_20_2"/>'
             '<text:list-style style:name="L1"><text:list-level-style-number text:level="1" style:num-format="1"/>'
             '<text:list-level-style-bullet text:level="2" text:bullet-char="•"/></text:list-style>'
             '<text:list-style style:name="L2"><text:list-level-style-bullet text:level="1" text:bullet-char="•"/>'
             '</text:list-style></office:automatic-styles>')


def _odt(body: str, title: str = "Circulation desk manual", manifest_extra: str = "") -> bytes:
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {NS}>{AUTOMATIC}'
               f'<office:body><office:text><text:sequence-decls><text:sequence-decl text:display-outline-level="0" '
               f'text:name="Table"/></text:sequence-decls>{body}</office:text></office:body></office:document-content>')
    meta = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {NS}><office:meta>'
            f'<dc:title>{title}</dc:title></office:meta></office:document-meta>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        zf.writestr("content.xml", content)
        zf.writestr("styles.xml", STYLES)
        zf.writestr("meta.xml", meta)
        zf.writestr("META-INF/manifest.xml", '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
                    f'<manifest:file-entry manifest:full-path="content.xml">{manifest_extra}</manifest:file-entry>'
                    '</manifest:manifest>')
    return buf.getvalue()


MANUAL = (
    '<text:table-of-content text:name="Table of Contents1"><text:index-body>'
    '<text:p text:style-name="P1">Receiving a book from a partner<text:tab/>1</text:p>'
    '<text:p text:style-name="P1">Courier days<text:tab/>2</text:p></text:index-body></text:table-of-content>'
    '<text:h text:style-name="Heading_20_1" text:outline-level="1">Receiving a book from a partner</text:h>'
    '<text:p text:style-name="P1">Work at the RS bench.<text:s text:c="2"/>One book at a time.'
    '<office:annotation><dc:creator>Pat</dc:creator><text:p>is this still true?</text:p></office:annotation></text:p>'
    '<text:list text:style-name="L1">'
    '<text:list-item><text:p text:style-name="P1">Open Fulfillment &gt; Resource Sharing &gt; Receiving Items.</text:p>'
    '</text:list-item>'
    '<text:list-item><text:p text:style-name="P1">Type the External Identifier<text:note text:id="ftn1" '
    'text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body><text:p>Marlow prints it '
    'as Request ID.</text:p></text:note-body></text:note> and click OK.</text:p>'
    '<text:list><text:list-item><text:p>check the lender’s band first</text:p></text:list-item></text:list>'
    '</text:list-item>'
    '<text:list-item><text:p text:style-name="P1">Scan the book’s own barcode<text:soft-page-break/> as the '
    'temporary barcode.</text:p></text:list-item></text:list>'
    '<text:tracked-changes><text:changed-region text:id="ct1"><text:deletion><text:p>Call the coordinator for every '
    'book.</text:p></text:deletion></text:changed-region></text:tracked-changes>'
    '<text:h text:style-name="P2" text:outline-level="2">Courier days</text:h>'
    '<table:table table:name="Table1"><table:table-column table:number-columns-repeated="3"/>'
    '<table:table-header-rows><table:table-row><table:table-cell><text:p>Day</text:p></table:table-cell>'
    '<table:table-cell><text:p>Carrier</text:p></table:table-cell><table:table-cell><text:p>Time</text:p>'
    '</table:table-cell></table:table-row></table:table-header-rows>'
    '<table:table-row><table:table-cell table:number-columns-spanned="2"><text:p>Tuesday by state courier</text:p>'
    '</table:table-cell><table:covered-table-cell/><table:table-cell><text:p>2:15 pm</text:p></table:table-cell>'
    '</table:table-row><table:table-row><table:table-cell><text:p>Friday</text:p></table:table-cell>'
    '<table:table-cell><text:p>UPS</text:p></table:table-cell><table:table-cell><text:p>11:00</text:p>'
    '</table:table-cell><table:table-cell table:number-columns-repeated="1020"/></table:table-row></table:table>'
    '<text:h text:outline-level="2">Who pays for postage?</text:h>'
    '<text:p text:style-name="P1">We pay to send books back; the lender pays to send them to us.'
    '<draw:frame draw:name="Frame1"><draw:text-box><text:p>Keep every receipt in the blue folder.</text:p>'
    '</draw:text-box></draw:frame></text:p>'
    '<text:h text:outline-level="2">Packing a parcel</text:h>'
    '<text:list><text:list-item><text:p text:style-name="List_20_Number">Wrap the book in bubble wrap.</text:p>'
    '</text:list-item><text:list-item><text:p text:style-name="List_20_Number">Put the slip on top.</text:p>'
    '</text:list-item></text:list>'
    '<text:h text:outline-level="2">What to bring to the desk</text:h>'
    '<text:list text:style-name="L2"><text:list-item><text:p>your badge</text:p></text:list-item>'
    '<text:list-item><text:p>the courier log</text:p></text:list-item></text:list>')


def test_an_odt_manual_becomes_sections_procedures_faqs_and_tables() -> None:
    html = odt.to_html(_odt(MANUAL), "manual.odt")
    assert "<title>Circulation desk manual</title>" in html
    assert "<h1>Receiving a book from a partner</h1>" in html and "<h2>Courier days</h2>" in html
    assert "Work at the RS bench.  One book at a time." in html
    # the numbered list, its note in brackets where it is cited, the nested bullet list, the soft page break
    assert ("<ol><li><p>Open Fulfillment &gt; Resource Sharing &gt; Receiving Items.</p></li><li><p>Type the "
            "External Identifier [Marlow prints it as Request ID.] and click OK.</p><ul><li><p>check the lender’s "
            "band first</p></li></ul></li><li><p>Scan the book’s own barcode as the temporary barcode.</p>") in html
    # a cell merged across two columns stands in both (so the next cell keeps its column); the empty rest of
    # a row is not 1,020 cells
    assert "<tr><td>Tuesday by state courier</td><td>Tuesday by state courier</td><td>2:15 pm</td></tr>" in html
    assert "<tr><td>Friday</td><td>UPS</td><td>11:00</td></tr>" in html
    # a list numbered through its paragraphs' style; a bullet list stays bullets
    assert "<ol><li><p>Wrap the book in bubble wrap.</p></li>" in html
    assert "<ul><li><p>your badge</p></li>" in html
    assert "Keep every receipt in the blue folder." in html  # a text frame's words follow its paragraph
    for gone in ("is this still true", "Call the coordinator for every book", "<td>1</td>", "\t2"):
        assert gone not in html, gone  # comments, tracked deletions, the table of contents
    assert html.count("Receiving a book from a partner") == 1


def test_an_odt_file_in_a_folder_is_indexed_answered_and_walked(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.core.services import Services
    from bot.edges import settings as settings_mod
    from bot.frontends.chat import run_chat

    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "circ-desk-manual.odt").write_bytes(_odt(MANUAL))
    docs_env(monkeypatch, tmp_path, str(folder))
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    rep = json.loads(out)
    assert code == 0 and rep["added"] == 1, rep
    (src,) = rep["sources"]
    assert src["status"] == "ok" and src["procedures"] == 2 and src["faqs"] == 1
    got = ask(capsys, "courier days and times?")
    assert got["answered"] and got["results"][0]["id"] == "circ-desk-manual#courier-days"
    assert got["results"][0]["source"] == "circ-desk-manual.odt#courier-days"
    assert "Tuesday by state courier | Tuesday by state courier | 2:15 pm" in got["results"][0]["answer"]
    assert ask(capsys, "who pays the postage for P2P books")["results"][0]["id"] == \
        "circ-desk-manual#who-pays-for-postage"
    out_io = io.StringIO()
    run_chat(Services(settings_mod.load()), io.StringIO(), out_io,
             lines=["walk circ-desk-manual#receiving-a-book-from-a-partner", "next", "back", "quit"])
    text = out_io.getvalue()
    assert "Step 1 of 3" in text and "Step 2 of 3" in text and "Request ID" in text


@pytest.mark.parametrize(("data", "sentence"), [
    (b"not a zip at all", "not an OpenDocument text file"),
    (_odt("<text:p>x</text:p>", manifest_extra='<manifest:encryption-data manifest:checksum="x"/>'),
     "password-protected"),
    (_odt("<text:p>never closed"), "not well-formed XML"),
], ids=["not-a-zip", "encrypted", "malformed"])
def test_a_broken_or_locked_odt_gets_one_sentence(data: bytes, sentence: str) -> None:
    with pytest.raises(ReadError, match=sentence):
        odt.to_html(data, "broken.odt")


def test_an_odt_part_with_a_doctype_is_refused_and_a_spreadsheet_is_named() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("content.xml", f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><office:document-content '
                                   f'{NS}><office:body><office:text><text:p>&e;</text:p></office:text></office:body>'
                                   '</office:document-content>')
    with pytest.raises(ReadError, match="DOCTYPE"):
        odt.to_html(buf.getvalue(), "evil.odt")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("content.xml", f'<?xml version="1.0"?><office:document-content {NS}><office:body>'
                                   '<office:spreadsheet/></office:body></office:document-content>')
    with pytest.raises(ReadError, match="not a text document"):
        odt.to_html(buf.getvalue(), "sheet.odt")


def _with_styles(extra: str, body: str) -> str:
    data = _odt(body)
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info in src.infolist():
            raw = src.read(info)
            if info.filename == "content.xml":
                raw = raw.replace(b"</office:automatic-styles>", extra.encode() + b"</office:automatic-styles>")
            zf.writestr(info, raw)
    return odt.to_html(buf.getvalue(), "x.odt")


def test_numbered_headings_hidden_text_notes_in_headings_and_list_headers() -> None:
    """Headings numbered through a list stay headings; hidden text (a hidden style, a hidden section, a paragraph
    a hidden-paragraph field hides) never reaches an answer; a note in a heading follows it; a list header is
    the line above its list, not a step; a heading's shown number stands apart from its words."""
    body = (
        '<text:list text:style-name="L1"><text:list-item><text:h text:outline-level="1"><text:number>1.</text:number>'
        'Opening the building</text:h><text:list><text:list-header><text:p>Before you start, check the alarm panel.'
        '</text:p></text:list-header><text:list-item><text:p>Disarm the alarm.</text:p></text:list-item>'
        '<text:list-item><text:p>Unlock the door.</text:p></text:list-item></text:list></text:list-item>'
        '<text:list-item><text:h text:outline-level="1">Closing the building</text:h></text:list-item></text:list>'
        '<text:p>Leave at 21:00.<text:span text:style-name="T9">SECRET: override code 4321.</text:span></text:p>'
        '<text:section text:name="Old" text:display="none"><text:p>Old policy: fines are 10 cents.</text:p>'
        '</text:section><text:p><text:hidden-paragraph text:condition="ooow:1" text:is-hidden="true"/>Draft only.'
        '</text:p><text:h text:outline-level="1">Fines<text:note text:id="n1" text:note-class="footnote">'
        '<text:note-citation>1</text:note-citation><text:note-body><text:p>Abolished for children in 2021.</text:p>'
        '</text:note-body></text:note></text:h><text:p>Adults pay 25 cents a day.</text:p>')
    html = _with_styles('<style:style style:name="T9" style:family="text"><style:text-properties '
                        'text:display="none"/></style:style>', body)
    assert "<h1>1. Opening the building</h1>" in html and "<h1>Closing the building</h1>" in html
    # (the list inside takes its style's second level: bullets)
    assert "<p>Before you start, check the alarm panel.</p><ul><li><p>Disarm the alarm.</p></li>" in html
    assert "<h1>Fines</h1><p>[Abolished for children in 2021.]</p>" in html
    for hidden in ("SECRET", "4321", "10 cents", "Draft only"):
        assert hidden not in html, hidden


def test_merged_cells_keep_their_columns_and_a_table_bomb_is_one_sentence() -> None:
    table = ('<table:table><table:table-row><table:table-cell><text:p>Patron</text:p></table:table-cell>'
             '<table:table-cell><text:p>Books</text:p></table:table-cell><table:table-cell><text:p>DVDs</text:p>'
             '</table:table-cell></table:table-row><table:table-row><table:table-cell><text:p>Visitors</text:p>'
             '</table:table-cell><table:table-cell table:number-columns-spanned="2"><text:p>2 days</text:p>'
             '</table:table-cell><table:covered-table-cell/></table:table-row><table:table-row>'
             '<table:table-cell table:number-rows-spanned="2"><text:p>Students</text:p></table:table-cell>'
             '<table:table-cell><text:p>21 days</text:p></table:table-cell><table:table-cell><text:p>3 days</text:p>'
             '</table:table-cell></table:table-row><table:table-row><table:covered-table-cell/><table:table-cell>'
             '<text:p>Grad: 90 days</text:p></table:table-cell><table:table-cell><text:p>Grad: 7 days</text:p>'
             '</table:table-cell></table:table-row></table:table>')
    html = odt.to_html(_odt(table), "t.odt")
    assert "<tr><td>Visitors</td><td>2 days</td><td>2 days</td></tr>" in html
    assert "<tr><td></td><td>Grad: 90 days</td><td>Grad: 7 days</td></tr>" in html
    bomb = ("<table:table>" + '<table:table-row><table:table-cell table:number-columns-repeated="50"><text:p>x'
            "</text:p></table:table-cell></table:table-row>" * 2100 + "</table:table>")
    with pytest.raises(ReadError, match=r"bomb\.odt has tables of more than 100,000 cells"):
        odt.to_html(_odt(bomb), "bomb.odt")


def test_a_flat_odt_is_read_like_a_packaged_one() -> None:
    flat = (f'<?xml version="1.0" encoding="UTF-8"?><office:document {NS} office:mimetype='
            '"application/vnd.oasis.opendocument.text"><office:meta><dc:title>Flat manual</dc:title></office:meta>'
            f'{AUTOMATIC}<office:body><office:text>{MANUAL}</office:text></office:body></office:document>')
    html = odt.to_html(flat.encode(), "manual.fodt", flat=True)
    assert "<title>Flat manual</title>" in html and "<h2>Courier days</h2>" in html
    with pytest.raises(ReadError, match="DOCTYPE"):
        odt.to_html(b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><office:document/>', "e.fodt", flat=True)
