"""Word documents (.docx) as a documentation source: read through the HTML reader, indexed, answered and walked;
damaged, oversized and hostile files refused with a sentence; documents no reader opens named, not ignored.

``tests/data/word/circ-desk-manual.docx`` was made with Word's default template (python-docx,
``make_manual.py``): its headings, numbered and bulleted lists take their numbering from the styles, as in
files people save from Word.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.docs import readers, word
from bot.core.docs.model import ReadError
from bot.core.docs.sections import topics_for
from bot.core.kb import Topic
from bot.core.services import Services
from bot.edges import settings as settings_mod
from tests.conftest import DATA
from tests.test_docs import _Site, ask, docs_env, run_cli

MANUAL = DATA / "word" / "circ-desk-manual.docx"
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


@pytest.fixture
def site() -> Iterator[_Site]:
    s = _Site()
    yield s
    s.stop()


def _docx(body: str, *, numbering: str = "", styles: str = "", extra: dict[str, bytes | str] | None = None,
          ns: str = W) -> bytes:
    """A minimal .docx around ``body`` (WordprocessingML paragraphs); ``extra`` adds or replaces parts."""
    parts: dict[str, bytes | str] = {
        "[Content_Types].xml": "<Types xmlns='http://schemas.openxmlformats.org/package/2006/content-types'/>",
        "word/document.xml": f"<?xml version='1.0'?><w:document xmlns:w='{ns}'><w:body>{body}</w:body></w:document>"}
    if numbering:
        parts["word/numbering.xml"] = f"<w:numbering xmlns:w='{ns}'>{numbering}</w:numbering>"
    if styles:
        parts["word/styles.xml"] = f"<w:styles xmlns:w='{ns}'>{styles}</w:styles>"
    parts.update(extra or {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _p(text: str, style: str = "", num: tuple[int, int] | None = None) -> str:
    ppr = ""
    if style or num:
        ppr = "<w:pPr>" + (f"<w:pStyle w:val='{style}'/>" if style else "") + (
            f"<w:numPr><w:ilvl w:val='{num[1]}'/><w:numId w:val='{num[0]}'/></w:numPr>" if num else "") + "</w:pPr>"
    return f"<w:p>{ppr}<w:r><w:t xml:space='preserve'>{text}</w:t></w:r></w:p>"


def _sections(data: bytes) -> list[Topic]:
    page = readers.parse("manual.docx", word.to_html(data, "manual.docx"), "html")
    return list(topics_for(page, "manual", "manual.docx", "manual.docx"))


def test_a_word_manual_becomes_sections_procedures_faqs_and_tables() -> None:
    got = {t.id: t for t in _sections(MANUAL.read_bytes())}
    receive = got["manual#checking-in-a-book-that-arrived-from-a-partner"]
    assert receive.kind == "procedure" and receive.trail == ("Borrowed books",)
    assert receive.steps[0].text == "Open Fulfillment > Resource Sharing > Receiving Items."
    assert len(receive.steps) == 4 and "ASHG_RS_DESK" in receive.steps[2].text
    faq = got["manual#what-if-the-band-has-no-barcode"]
    assert faq.kind == "faq" and "External Identifier" in faq.body
    pull = got["manual#pulling-and-packing-the-morning-list"]
    assert len(pull.steps) == 3 and "anything marked NOS after two searches" in pull.body  # the bullets stay
    assert "Friday | 11:00 am" in got["manual#courier-pickup-days"].body  # a table keeps its rows


def test_word_lists_follow_their_number_format_and_nesting() -> None:
    numbering = ("<w:abstractNum w:abstractNumId='1'><w:lvl w:ilvl='0'><w:numFmt w:val='decimal'/></w:lvl>"
                 "<w:lvl w:ilvl='1'><w:numFmt w:val='bullet'/></w:lvl></w:abstractNum>"
                 "<w:abstractNum w:abstractNumId='2'><w:lvl w:ilvl='0'><w:numFmt w:val='bullet'/></w:lvl></w:abstractNum>"
                 "<w:num w:numId='5'><w:abstractNumId w:val='1'/></w:num><w:num w:numId='6'><w:abstractNumId w:val='2'/></w:num>")
    styles = ("<w:style w:styleId='Kop2'><w:name w:val='heading 2'/></w:style>"  # a Dutch Word: ids are translated
              "<w:style w:styleId='MyTitle'><w:name w:val='Section title'/><w:basedOn w:val='Kop2'/></w:style>")
    body = (_p("Renewing a loan for a partner", "Kop2") + _p("Open the request.", num=(5, 0))
            + _p("a note under step one", num=(5, 1)) + _p("Press Renew.", num=(5, 0))
            + _p("Things to remember", "MyTitle") + _p("partners may refuse", num=(6, 0))
            + _p("numbering switched off", num=(0, 0)))
    html = word.to_html(_docx(body, numbering=numbering, styles=styles), "x.docx")
    assert "<h2>Renewing a loan for a partner</h2><ol><li>Open the request.<ul><li>a note under step one</li></ul>" \
           "</li><li>Press Renew.</li></ol>" in html
    assert "<h2>Things to remember</h2><ul><li>partners may refuse</li></ul><p>numbering switched off</p>" in html


def test_deleted_text_and_field_codes_stay_out_and_hyperlinks_keep_their_words() -> None:
    body = ("<w:p><w:r><w:t>Keep </w:t></w:r><w:del><w:r><w:delText>old words</w:delText></w:r></w:del>"
            "<w:ins><w:r><w:t>new words </w:t></w:r></w:ins><w:r><w:instrText> HYPERLINK x </w:instrText></w:r>"
            "<w:hyperlink><w:r><w:t>the wiki</w:t></w:r></w:hyperlink><w:r><w:tab/><w:t>end</w:t></w:r></w:p>")
    html = word.to_html(_docx(body), "x.docx")
    assert "<p>Keep new words the wiki end</p>" in html and "old words" not in html and "HYPERLINK" not in html


@pytest.mark.parametrize(("data", "sentence"), [
    (b"PK\x03\x04 truncated", "is not a Word .docx file the bot can read"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 an old .doc or an encrypted file", "password-protected or an old .doc"),
    (_docx("").replace(b"word/document.xml", b"word/documenx.xml"), "has no word/document.xml"),
], ids=["truncated", "ole", "no-document"])
def test_a_file_that_is_not_a_readable_docx_is_refused_with_a_sentence(data: bytes, sentence: str) -> None:
    with pytest.raises(ReadError, match=sentence.replace(".", r"\.")):
        word.to_html(data, "manual.docx")


def test_entities_are_refused_unread_and_a_huge_part_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    for part, prolog in (("word/document.xml", f"<!DOCTYPE d [<!ENTITY x SYSTEM 'file://{secret}'>]>"),
                         ("word/styles.xml", "<!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;'>]>")):
        body = "<w:body><w:p><w:r><w:t>before &x; after</w:t></w:r></w:p></w:body>" if part == "word/document.xml" else ""
        data = _docx(_p("plain text"), extra={part: f"<?xml version='1.0'?>{prolog}<w:x xmlns:w='{W}'>{body}</w:x>"})
        with pytest.raises(ReadError, match="declares entities") as err:
            word.to_html(data, "evil.docx")
        assert "TOP-SECRET-VALUE" not in str(err.value)

    utf16 = (f"<?xml version='1.0' encoding='UTF-16'?><!DOCTYPE d [<!ENTITY x 'boo'>]><w:document xmlns:w='{W}'>"
             "<w:body><w:p><w:r><w:t>a &x; b</w:t></w:r></w:p></w:body></w:document>").encode("utf-16")
    with pytest.raises(ReadError, match="declares entities"):  # the bytes hide it from a plain search
        word.to_html(_docx("", extra={"word/document.xml": utf16}), "evil16.docx")

    monkeypatch.setattr(word, "MAX_XML_BYTES", 1000)
    data = _docx(_p("x" * 5000))  # compresses to a few bytes, unpacks past the limit
    with pytest.raises(ReadError, match="too large to read"):
        word.to_html(data, "bomb.docx")


def _flip_compressed_byte(data: bytes) -> bytes:
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("word/document.xml")
    at = info.header_offset + 30 + len(info.filename) + 5
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def _encrypted_flag(data: bytes) -> bytes:
    raw = bytearray(data)
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set "encrypted" in the local and central headers
        at = raw.find(sig)
        while at >= 0:
            flag = at + (6 if sig == b"PK\x03\x04" else 8)
            raw[flag] |= 1
            at = raw.find(sig, at + 4)
    return bytes(raw)


@pytest.mark.parametrize("data", [
    _flip_compressed_byte(_docx(_p("some words that compress " * 40))),
    _encrypted_flag(_docx(_p("secret"))),
    _docx(_p("Heading with an odd level", num=None).replace("<w:r>", "<w:pPr><w:outlineLvl w:val='\u00b2'/></w:pPr><w:r>")),
    _docx(_p("item", num=(1, 0)), numbering="<w:abstractNum w:abstractNumId='1'><w:lvl w:ilvl='x'><w:numFmt "
          "w:val='bullet'/></w:lvl></w:abstractNum><w:num w:numId='1'><w:abstractNumId w:val='1'/></w:num>"),
], ids=["bad-deflate", "encrypted-entry", "unicode-digit", "letter-level"])
def test_a_broken_or_odd_file_is_one_sentence_or_read_never_a_crash(data: bytes) -> None:
    try:
        html = word.to_html(data, "odd.docx")
    except ReadError as exc:
        assert "odd.docx" in str(exc) and "\n" not in str(exc)
    else:
        assert "<body>" in html


def test_strict_open_xml_is_read_and_a_file_without_a_body_is_refused() -> None:
    strict = _docx(_p("Strict words"), ns=word.STRICT_W.decode())
    assert "<p>Strict words</p>" in word.to_html(strict, "strict.docx")
    empty = _docx("", extra={"word/document.xml": f"<w:document xmlns:w='{W}'/>"})
    with pytest.raises(ReadError, match="has no document body"):
        word.to_html(empty, "empty.docx")


def test_contents_text_boxes_hidden_text_and_placeholders_stay_out_notes_and_merged_cells_stay_in() -> None:
    styles = ("<w:style w:styleId='Heading1'><w:name w:val='heading 1'/></w:style>"
              "<w:style w:styleId='TOCHeading'><w:name w:val='TOC Heading'/><w:basedOn w:val='Heading1'/>"
              "<w:pPr><w:outlineLvl w:val='9'/></w:pPr></w:style>"
              "<w:style w:styleId='TOC1'><w:name w:val='toc 1'/></w:style>")
    notes = (f"<w:footnotes xmlns:w='{W}'><w:footnote w:type='separator' w:id='-1'><w:p><w:r><w:t>---</w:t></w:r>"
             "</w:p></w:footnote><w:footnote w:id='1'><w:p><w:r><w:t>Since March 2025.</w:t></w:r></w:p>"
             "</w:footnote></w:footnotes>")
    textbox = ("<mc:AlternateContent xmlns:mc='http://schemas.openxmlformats.org/markup-compatibility/2006'>"
               "<mc:Choice Requires='wps'><w:txbxContent><w:p><w:r><w:t>Extension 4411</w:t></w:r></w:p>"
               "</w:txbxContent></mc:Choice><mc:Fallback><w:txbxContent><w:p><w:r><w:t>Extension 4411</w:t>"
               "</w:r></w:p></w:txbxContent></mc:Fallback></mc:AlternateContent>")
    merged = ("<w:tbl><w:tr><w:tc><w:tcPr><w:vMerge w:val='restart'/></w:tcPr>" + _p("Tuesday") + "</w:tc><w:tc>"
              + _p("State courier") + "</w:tc></w:tr><w:tr><w:tc><w:tcPr><w:vMerge/></w:tcPr>" + _p("")
              + "</w:tc><w:tc>" + _p("UPS") + "</w:tc></w:tr>"
              "<w:tr><w:tc>" + "<w:tbl><w:tr><w:tc>" + _p("inner") + "</w:tc></w:tr></w:tbl>" + "</w:tc></w:tr></w:tbl>")
    body = (_p("Contents", "TOCHeading") + _p("Receiving 3", "TOC1") + _p("Receiving", "Heading1")
            + f"<w:p><w:r><w:t>Call the desk.</w:t></w:r><w:r>{textbox}</w:r></w:p>"
            + "<w:p><w:r><w:t>Visible.</w:t></w:r><w:r><w:rPr><w:vanish/></w:rPr><w:t>HIDDEN</w:t></w:r>"
            "<w:r><w:t> Courier runs daily.</w:t></w:r><w:r><w:footnoteReference w:id='1'/></w:r></w:p>"
            "<w:sdt><w:sdtPr><w:showingPlcHdr/></w:sdtPr><w:sdtContent>" + _p("Click or tap here to enter text.")
            + "</w:sdtContent></w:sdt>" + merged)
    html = word.to_html(_docx(body, styles=styles, extra={"word/footnotes.xml": notes}), "x.docx")
    assert "Contents" not in html and "Receiving 3" not in html and "<h1>Receiving</h1>" in html
    assert html.count("Extension 4411") == 1 and "Call the desk. Extension 4411" in html
    assert "HIDDEN" not in html and "Click or tap" not in html and "---" not in html
    assert "Courier runs daily. [Since March 2025.]" in html
    assert "<tr><td>Tuesday</td><td>UPS</td></tr>" in html and html.count("inner") == 1


def test_list_styles_overrides_and_second_level_list_styles_keep_their_kind_and_depth() -> None:
    styles = ("<w:style w:styleId='Bullets'><w:name w:val='My bullets'/><w:pPr><w:numPr><w:numId w:val='7'/>"
              "</w:numPr></w:pPr></w:style>"
              "<w:style w:styleId='ListNumber'><w:name w:val='List Number'/><w:pPr><w:numPr><w:numId w:val='3'/>"
              "</w:numPr></w:pPr></w:style>"
              "<w:style w:styleId='ListNumber2'><w:name w:val='List Number 2'/><w:pPr><w:numPr><w:numId w:val='4'/>"
              "</w:numPr></w:pPr></w:style>")
    numbering = ("<w:abstractNum w:abstractNumId='1'><w:lvl w:ilvl='0'><w:numFmt w:val='bullet'/></w:lvl></w:abstractNum>"
                 "<w:abstractNum w:abstractNumId='2'><w:numStyleLink w:val='Bullets'/></w:abstractNum>"
                 "<w:abstractNum w:abstractNumId='3'><w:lvl w:ilvl='0'><w:numFmt w:val='decimal'/></w:lvl></w:abstractNum>"
                 "<w:abstractNum w:abstractNumId='4'><w:lvl w:ilvl='0'><w:numFmt w:val='decimalFullWidth'/></w:lvl>"
                 "</w:abstractNum>"
                 "<w:num w:numId='7'><w:abstractNumId w:val='1'/></w:num><w:num w:numId='8'><w:abstractNumId w:val='2'/></w:num>"
                 "<w:num w:numId='3'><w:abstractNumId w:val='3'/></w:num><w:num w:numId='4'><w:abstractNumId w:val='4'/></w:num>"
                 "<w:num w:numId='9'><w:abstractNumId w:val='3'/><w:lvlOverride w:ilvl='0'><w:lvl w:ilvl='0'>"
                 "<w:numFmt w:val='bullet'/></w:lvl></w:lvlOverride></w:num>"
                 # a list style defined in numbering.xml alone (Word's own way): one list defines it, one uses it
                 "<w:abstractNum w:abstractNumId='5'><w:styleLink w:val='Dots'/><w:lvl w:ilvl='0'><w:numFmt "
                 "w:val='bullet'/></w:lvl></w:abstractNum><w:abstractNum w:abstractNumId='6'><w:numStyleLink "
                 "w:val='Dots'/></w:abstractNum><w:num w:numId='10'><w:abstractNumId w:val='6'/></w:num>")
    body = (_p("reference books", num=(8, 0)) + _p("rare books", num=(8, 0)) + _p("x", "Heading1")
            + _p("Open the request.", "ListNumber") + _p("check the band", "ListNumber2") + _p("Press Receive.", "ListNumber")
            + _p("y", "Heading1") + _p("overridden", num=(9, 0)) + _p("z", "Heading1") + _p("dotted", num=(10, 0)))
    html = word.to_html(_docx(body, styles=styles, numbering=numbering), "x.docx")
    assert "<ul><li>reference books</li><li>rare books</li></ul>" in html
    assert "<ol><li>Open the request.<ol><li>check the band</li></ol></li><li>Press Receive.</li></ol>" in html
    assert "<ul><li>overridden</li></ul>" in html and "<ul><li>dotted</li></ul>" in html


def test_a_word_file_in_a_folder_is_indexed_answered_and_walked_and_an_old_doc_beside_it_is_named(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.frontends.chat import run_chat

    folder = tmp_path / "manuals"
    folder.mkdir()
    shutil.copy(MANUAL, folder / "circ-desk-manual.docx")
    (folder / "old-policy.doc").write_bytes(b"\xd0\xcf\x11\xe0 Word 97")
    (folder / "logo.png").write_bytes(b"\x89PNG")  # a page's picture: not a document, not mentioned
    (folder / "~$rc-desk-manual.docx").write_bytes(b"Word's lock file")
    docs_env(monkeypatch, tmp_path, str(folder))
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    rep = json.loads(out)
    assert code == 0 and rep["added"] == 1
    (src,) = rep["sources"]
    assert src["status"] == "ok" and src["procedures"] == 2 and src["faqs"] == 1
    assert src["detail"].endswith("not read, not being .md, .html/.htm, .txt, .docx, .odt, .pdf or .mht: old-policy.doc")
    assert "logo.png" not in src["detail"]
    code, out, _ = run_cli(capsys, "docs", "index")
    assert "ok; not read, not being .md, .html/.htm, .txt, .docx, .odt, .pdf or .mht: old-policy.doc" in out
    assert "(not read, not being" in run_cli(capsys, "docs", "list")[1]

    got = ask(capsys, "which days does the courier pick up")
    assert got["answered"] and got["results"][0]["id"] == "circ-desk-manual#courier-pickup-days"
    assert got["results"][0]["source"] == "circ-desk-manual.docx#courier-pickup-days"
    assert "Tuesday | 2:15 pm" in got["results"][0]["answer"]
    assert not ask(capsys, "what is the wifi password for guests")["answered"]

    out_io = io.StringIO()
    run_chat(Services(settings_mod.load()), io.StringIO(), out_io,
             lines=["walk circ-desk-manual#checking-in-a-book-that-arrived-from-a-partner", "next", "back", "quit"])
    text = out_io.getvalue()
    assert "Step 1 of 4" in text and "Step 2 of 4" in text and "partner's barcode from the band" in text


def test_a_damaged_word_file_is_reported_and_keeps_its_sections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "manuals"
    folder.mkdir()
    page = folder / "circ-desk-manual.docx"
    shutil.copy(MANUAL, page)
    docs_env(monkeypatch, tmp_path, str(folder))
    assert run_cli(capsys, "docs", "index")[0] == 0
    page.write_bytes(MANUAL.read_bytes()[:2000])  # a copy cut short
    code, _, err = run_cli(capsys, "docs", "index", "--json")
    assert code == 1 and "is not a Word .docx file the bot can read" in err
    assert ask(capsys, "which days does the courier pick up")["results"][0]["id"] == \
        "circ-desk-manual#courier-pickup-days"


def test_a_word_file_over_http_is_read_by_its_content_type(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str], site: _Site) -> None:
    site.pages["/files/manual"] = (200, readers.WORD_TYPE, MANUAL.read_bytes(), {"ETag": '"w1"'})
    site.pages["/files/desk.docx"] = (200, "application/octet-stream", MANUAL.read_bytes(), {})
    docs_env(monkeypatch, tmp_path, f"{site.url}/files/manual {site.url}/files/desk.docx")
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    assert code == 0 and json.loads(out)["added"] == 2
    best = ask(capsys, "what if the band has no barcode")["results"][0]
    assert best["source"].endswith("#what-if-the-band-has-no-barcode") and "External Identifier" in best["answer"]
    assert json.loads(run_cli(capsys, "docs", "index", "--json")[1])["changed"] == 0
    assert site.requests[-2][1].get("If-None-Match") == '"w1"' or site.requests[-1][1].get("If-None-Match") == '"w1"'


def test_a_reader_that_slips_on_one_page_costs_that_page_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "manuals"
    folder.mkdir()
    shutil.copy(MANUAL, folder / "circ-desk-manual.docx")
    (folder / "hours.md").write_text("# Desk hours\n\n## Weekend hours\n\nThe borrowing desk opens at noon on Saturdays.\n")
    docs_env(monkeypatch, tmp_path, str(folder))

    def slip(data: bytes, location: str) -> str:
        raise IndexError("a bug in a reader")

    monkeypatch.setattr(word, "to_html", slip)
    code, out, err = run_cli(capsys, "docs", "index", "--json")
    assert code == 1 and "circ-desk-manual.docx could not be read (IndexError)" in err
    assert json.loads(out)["added"] == 1  # the markdown page beside it
    assert ask(capsys, "when does the borrowing desk open on saturday")["results"][0]["id"] == "hours#weekend-hours"


def test_a_library_s_pages_kept_in_word_answer_as_the_pages_do(tmp_path: Path) -> None:
    """otherdocs3 and the same pages written with Word's styles (``tests/data/render_pages.py``) give the same
    sections, procedures and FAQ pairs, and the same first answer to the questions written about the pages."""
    from tests.fidelity import compare

    got = compare(tmp_path, DATA / "otherdocs3", DATA / "otherdocs3-docx", DATA / "otherdocs3-dev.jsonl")
    assert got.sections[0] == got.sections[1] and len(got.sections[0]) == 73
    assert got.procedures == (24, 24) and got.faqs == (12, 12)
    assert got.same_first_answer >= 0.95 * got.questions  # 70 of 70 when written


def test_status_names_the_documents_a_folder_holds_that_no_reader_opens(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    from bot.frontends import clock
    from bot.frontends.text import to_text
    from commands.context import Context
    from commands.status import overview_reply

    folder = tmp_path / "manuals"
    folder.mkdir()
    shutil.copy(MANUAL, folder / "circ-desk-manual.docx")
    (folder / "2019 policy.rtf").write_text("{\\rtf1 old}")
    docs_env(monkeypatch, tmp_path, str(folder))
    services = Services(settings_mod.load())
    clock.reindex_docs(services)
    shown = " ".join(to_text(overview_reply(Context(services))).split())
    assert "sections, checked just now (not read, not being .md, .html/.htm, .txt, .docx, .odt, .pdf or .mht: 2019 policy.rtf)" \
        in shown
    services.close()


def _web_archive(html: str, charset: str = "windows-1252") -> bytes:
    """A page saved as one file, the way Word's "Single File Web Page" and Confluence's "Export to Word" write
    it: a MIME multipart/related message, the page in quoted-printable, a picture beside it."""
    from email.mime.image import MIMEImage
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    msg = MIMEMultipart("related")
    msg["Subject"] = "Exported From Confluence"
    page = MIMEText(html, "html", charset)
    msg.attach(page)
    msg.attach(MIMEImage(b"\x89PNG\r\n\x1a\n", "png"))
    return msg.as_bytes()


CONFLUENCE_WORD = ("<html xmlns:o='urn:schemas-microsoft-com:office:office'><head><title>Receiving P2P books</title>"
                   "</head><body><h1>Receiving P2P books</h1><div class='Section1'><h2 id='Receiving-Steps'>Steps"
                   "</h2><ol><li>Open Fulfillment &gt; Resource Sharing &gt; Receiving Items.</li><li>Type the "
                   "lender\u2019s External Identifier and click OK.</li><li>Scan the book\u2019s own barcode as the "
                   "temporary barcode.</li></ol><h2 id='Receiving-Pickup'>Courier pickup</h2><p>The courier "
                   "collects on Tuesday and Friday at noon, from the loading dock behind the " + "staff car park " * 8
                   + "building.</p></div></body></html>")


def test_web_archives_and_confluence_word_exports_are_read_as_their_page_and_an_old_binary_doc_is_named(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Confluence's "Export to Word" writes a MIME web archive under a .doc name; Word and browsers save a
    page as .mht the same way. Both are read as the page inside (quoted-printable, its own character set);
    a .doc that is a plain web page is read as one; a real Word 97-2003 .doc is named, not guessed at."""
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "Receiving+P2P+books.doc").write_bytes(_web_archive(CONFLUENCE_WORD))
    (folder / "returns.mht").write_bytes(_web_archive(
        "<html><body><h1>Returns</h1><h2>Sending a book home</h2><ol><li>Open Return Items.</li>"
        "<li>Scan the item barcode, never the External Identifier.</li></ol></body></html>", "utf-8"))
    (folder / "faq.doc").write_bytes(b"<html><body><h2>Who pays postage?</h2><p>The lender pays the outbound "
                                     b"postage and we pay the return.</p></body></html>")
    (folder / "old-policy.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 Word 97")
    docs_env(monkeypatch, tmp_path, str(folder))
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    rep = json.loads(out)
    assert code == 0 and rep["added"] == 3, rep
    (src,) = rep["sources"]
    assert src["status"] == "ok" and src["procedures"] == 2 and src["faqs"] == 1
    assert src["detail"].endswith(": old-policy.doc")
    got = ask(capsys, "what do I type when a P2P book arrives")
    assert got["answered"] and got["results"][0]["id"] == "receiving-p2p-books#receiving-steps"
    assert "lender\u2019s External Identifier" in got["results"][0]["answer"]  # windows-1252, quoted-printable
    assert got["results"][0]["source"] == "Receiving+P2P+books.doc#Receiving-Steps"
    got = ask(capsys, "which days does the courier collect")
    assert got["results"][0]["id"] == "receiving-p2p-books#receiving-pickup"
    assert "staff car park staff car park" in got["results"][0]["answer"]  # soft line breaks joined
    assert ask(capsys, "do I scan the external identifier when returning")["results"][0]["id"] == \
        "returns#sending-a-book-home"
    assert ask(capsys, "who pays the postage")["results"][0]["id"] == "faq#who-pays-postage"
    # a single old .doc named as the source gets a sentence saying what to do
    docs_env(monkeypatch, tmp_path, str(folder / "old-policy.doc"))
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    (src,) = json.loads(out)["sources"]
    assert src["status"] == "failed" and "save it as .docx" in src["detail"]


def test_a_web_archive_without_a_page_or_with_a_broken_charset_gets_a_sentence_or_its_words() -> None:
    from bot.core.docs import readers
    from bot.core.docs.model import ReadError

    with pytest.raises(ReadError, match="holds no web page"):
        readers.mhtml_to_html(b"MIME-Version: 1.0\nContent-Type: text/plain\n\nhello\n", "a.mht")
    odd = (b"MIME-Version: 1.0\nContent-Type: text/html; charset=x-no-such-charset\n"
           b"Content-Transfer-Encoding: quoted-printable\n\n<p>Caf=E9 hours</p>\n")
    assert "Caf\u00e9 hours" in readers.mhtml_to_html(odd, "b.mht")
    assert readers.sniff_doc(b"\xd0\xcf\x11\xe0rest") is None
    assert readers.sniff_doc(b"Date: Mon\r\nMIME-Version: 1.0\r\n") == "mhtml"
    assert readers.sniff_doc(b"\xef\xbb\xbf<!DOCTYPE html><html>") == "html"
    assert readers.sniff_doc(b"{\\rtf1\\ansi") is None


def test_damaged_or_odd_web_archives_get_one_sentence_or_their_page() -> None:
    from bot.core.docs import readers
    from bot.core.docs.model import ReadError

    head = b'MIME-Version: 1.0\nContent-Type: multipart/related; boundary="B"\n\n--B\n'
    truncated = head + b"Content-Type: text/html; charset=UTF-8\nContent-Transfer-Encod"
    bad64 = head + b"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n!!!not*base64@@@\n--B--\n"
    for data in (truncated, bad64):
        with pytest.raises(ReadError, match="damaged web archive"):
            readers.mhtml_to_html(data, "x.mht")
    # a charset that lies (utf-8 named, Windows-1252 bytes), and one Python does not know (UTF-8 bytes)
    lie = head + b"Content-Type: text/html; charset=utf-8\n\n<p>Caf\xe9 hours</p>\n--B--\n"
    odd = head + b"Content-Type: text/html; charset=x-mac-foo\n\n<p>Caf\xc3\xa9 hours</p>\n--B--\n"
    assert "Caf\u00e9 hours" in readers.mhtml_to_html(lie, "l.mht")
    assert "Caf\u00e9 hours" in readers.mhtml_to_html(odd, "o.mht")
    deep = b"MIME-Version: 1.0\n" + b"".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n'.encode() for i in range(3000))
    with pytest.raises(ReadError, match=r"nested too deeply|not a readable web archive"):
        readers.mhtml_to_html(deep, "deep.mht")
    assert readers.mhtml_to_html(b"<html><body><h1>Plain</h1></body></html>", "p.mht").startswith("<html>")
    big = head + b"Content-Type: text/html\n\n<p>" + b"x" * (readers.MAX_PAGE_BYTES + 10) + b"</p>\n--B--\n"
    with pytest.raises(ReadError, match="larger than 5 MB"):
        readers.mhtml_to_html(big, "big.mht")


def test_a_doc_is_read_as_what_its_bytes_are(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A .docx renamed .doc, an XHTML page with its XML declaration, a UTF-16 web page: read. RTF and an empty
    file: named as what they are."""
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(MANUAL, folder / "renamed.doc")
    (folder / "xhtml.doc").write_bytes(b'<?xml version="1.0" encoding="utf-8"?><html><body><h2>Who pays postage?'
                                       b"</h2><p>We pay the return postage.</p></body></html>")
    (folder / "wide.doc").write_bytes("<html><body><h2>Hold shelf</h2><p>Holds wait 10 days.</p></body></html>"
                                      .encode("utf-16"))
    docs_env(monkeypatch, tmp_path, str(folder))
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    rep = json.loads(out)
    assert code == 0 and rep["added"] == 3, rep
    assert ask(capsys, "who pays the postage")["results"][0]["id"] == "xhtml#who-pays-postage"
    assert ask(capsys, "how long do holds wait on the hold shelf")["results"][0]["id"] == "wide#hold-shelf"
    for name, data, sentence in (("notes.doc", b"{\\rtf1\\ansi Hello}", "is a Rich Text (RTF) file"),
                                 ("blank.doc", b"", "is empty")):
        (tmp_path / name).write_bytes(data)
        docs_env(monkeypatch, tmp_path, str(tmp_path / name))
        (src,) = json.loads(run_cli(capsys, "docs", "index", "--json")[1])["sources"]
        assert src["status"] == "failed" and sentence in src["detail"], src


def test_a_web_archive_cut_short_is_damaged_and_keeps_the_last_good_sections(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.core.docs import readers

    folder = tmp_path / "exports"
    folder.mkdir()
    whole = _web_archive(CONFLUENCE_WORD)
    (folder / "page.mht").write_bytes(whole)
    docs_env(monkeypatch, tmp_path, str(folder))
    assert json.loads(run_cli(capsys, "docs", "index", "--json")[1])["added"] == 1
    (folder / "page.mht").write_bytes(whole[: len(whole) // 2])
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    (src,) = json.loads(out)["sources"]
    assert code == 1 and src["status"] == "failed" and "damaged web archive" in src["detail"], src
    assert ask(capsys, "which days does the courier collect")["results"][0]["id"] == "page#receiving-pickup"
    # IE's "<!-- saved from url=... -->" before the page, an .odt renamed .doc: read as what they are
    assert readers.sniff_doc(b"<!-- saved from url=(0042)http://wiki/x -->\r\n<html><body>") == "html"
    odt_head = b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/vnd.oasis.opendocument.text"
    assert readers.sniff_doc(odt_head) == "odt"
    assert readers.sniff_package(odt_head, "/files/manual") == "odt"
