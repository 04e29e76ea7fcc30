"""PDF documents as a documentation source, read by their layout: headings by size and weight, paragraphs,
lists and tables rebuilt, the page frame (running headers, footers, page numbers) and a table of contents left
out; scans, locked, damaged and endless files refused with a sentence.

``tests/data/pdf/lending-guide.pdf`` was made with fpdf2 (``make_guide.py``): a running header and "Page N of
M" on every page, headings on their own lines, wrapped paragraphs, numbered steps and bullets.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from bot.core.docs import pdf, readers
from bot.core.docs.model import ReadError
from bot.core.docs.sections import topics_for
from bot.core.kb import Topic
from bot.core.services import Services
from bot.edges import settings as settings_mod
from tests.conftest import DATA
from tests.test_docs import _Site, ask, docs_env, run_cli

GUIDE = DATA / "pdf" / "lending-guide.pdf"


@pytest.fixture
def site() -> Iterator[_Site]:
    s = _Site()
    yield s
    s.stop()


def _pdf(pages: list[list[tuple[str, float, float, float, str]]]) -> bytes:
    """A PDF whose pages draw (font, size, x, y, text): F1 Helvetica, F2 Helvetica-Bold, F3 ZapfDingbats."""
    w = PdfWriter()
    for items in pages:
        page = w.add_blank_page(612, 792)
        fonts = DictionaryObject()
        for key, base in (("/F1", "/Helvetica"), ("/F2", "/Helvetica-Bold"), ("/F3", "/ZapfDingbats")):
            fonts[NameObject(key)] = w._add_object(DictionaryObject({
                NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject(base)}))
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
        ops = []
        for font, size, x, y, text in items:
            escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"BT /{font} {size} Tf {x} {y} Td ({escaped}) Tj ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Contents")] = w._add_object(stream)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _sections(data: bytes) -> dict[str, Topic]:
    text, kind = pdf.to_text(data, "guide.pdf")
    return {t.id: t for t in topics_for(readers.parse("guide.pdf", text, kind), "guide", "guide.pdf", "guide.pdf")}


def test_a_pdf_guide_becomes_sections_without_its_running_header_and_page_numbers() -> None:
    text, kind = pdf.to_text(GUIDE.read_bytes(), "guide.pdf")
    assert kind == "markdown" and "Interlibrary Services" not in text and "Page 1 of 3" not in text
    assert text.startswith("# Lending Guide for P2P Requests {#lending-guide-for-p2p-requests @page=1}\n")
    assert "\n## Morning pick list {#morning-pick-list @page=1}\n" in text  # a link to it opens its page
    got = _sections(GUIDE.read_bytes())
    pick = got["guide#morning-pick-list"]
    assert pick.kind == "procedure" and pick.steps[1].text == "Choose the BIRCH_LEND circulation desk."
    assert len(pick.steps) == 4 and "8:45 every weekday" in pick.body
    assert pick.trail == ("Lending Guide for P2P Requests",)
    assert "anything with a loose spine" in got["guide#packing-for-the-state-courier"].body
    assert "Monday and Thursday at 1:30 pm" in got["guide#courier-schedule"].body  # the last page's section


def test_the_frame_is_the_margins_that_repeat_and_the_body_is_never_dropped() -> None:
    def page(n: int, title: str) -> list[tuple[str, float, float, float, str]]:
        return [("F1", 8, 72, 770, "Ashgrove ILL manual - Confidential"), ("F2", 16, 72, 700, f"Chapter {n}: {title}"),
                ("F1", 10, 72, 680, f"What to do about {title.lower()}."),
                ("F1", 10, 72, 660, "Questions? Ask in the ILL channel."), ("F1", 8, 72, 40, f"Page {n} of 2"),
                ("F1", 8, 500, 40, "Updated 2026-03-01")]
    text, _ = pdf.to_text(_pdf([page(1, "Receiving"), page(2, "Returning")]), "m.pdf")
    assert "Confidential" not in text and "Page 1" not in text and "Updated" not in text  # two pages suffice
    assert "# Chapter 1: Receiving" in text and "# Chapter 2: Returning" in text  # numbered headings stay
    assert text.count("Questions? Ask in the ILL channel.") == 2  # a repeated body line is content
    one, _ = pdf.to_text(_pdf([page(1, "Receiving")]), "m.pdf")
    assert "Page 1 of 2" not in one and "Confidential" in one  # one page: only its page number is surely frame


def test_lists_bullets_tables_contents_hyphens_and_ligatures_are_rebuilt() -> None:
    data = _pdf([[
        ("F2", 18, 72, 740, "Contents"), ("F1", 10, 72, 720, "Receiving ........................ 2"),
        ("F1", 10, 72, 705, "Returning ........................ 3"),
        ("F2", 18, 72, 660, "Receiving"), ("F1", 10, 72, 640, "The staff mem-"),
        ("F1", 10, 72, 628, "ber on duty will \xaend"),  # 0xAE: the "fi" ligature in StandardEncoding
        ("F1", 10, 72, 616, "the book. Then:"),
        ("F1", 12, 72, 596, "1."), ("F1", 10, 90, 597, "Open Receiving Items."),
        ("F1", 12, 72, 582, "2."), ("F1", 10, 90, 583, "Scan the band."),
        ("F2", 14, 72, 550, "Never ship"), ("F3", 12, 72, 530, "l"), ("F1", 10, 90, 531, "Reference books"),
        ("F3", 12, 72, 516, "l"), ("F1", 10, 90, 517, "DVDs"),
        ("F2", 10, 72, 490, "Item type"), ("F2", 10, 200, 490, "Loan days"),
        ("F1", 10, 72, 476, "Books"), ("F1", 10, 200, 476, "28"), ("F1", 10, 72, 462, "Theses"), ("F1", 10, 200, 462, "14"),
    ]])
    text, kind = pdf.to_text(data, "m.pdf")
    assert kind == "markdown" and "Contents" not in text and "....." not in text
    assert "The staff member on duty will find the book. Then:" in text  # mended, and NFKC for the ligature
    assert "1. Open Receiving Items.\n2. Scan the band." in text
    assert "- Reference books\n- DVDs" in text  # bullets drawn as symbol-font glyphs at another size
    assert "| Item type | Loan days |" in text and "| Books | 28 |" in text and "# Item" not in text
    got = _sections(data)
    assert len(got["guide#receiving"].steps) == 2 and "Theses" in got["guide#never-ship"].body


def test_a_pdf_in_one_size_falls_back_to_the_plain_text_rules() -> None:
    data = _pdf([[("F1", 10, 72, 700, "Courier days"), ("F1", 10, 72, 680, "The courier comes on Tuesdays."),
                  ("F1", 10, 72, 650, "Step 1: Open the tub."), ("F1", 10, 72, 636, "Step 2: Sort the books.")]])
    text, kind = pdf.to_text(data, "m.pdf")
    assert kind == "text" and text.splitlines()[0] == "Courier days"
    assert _sections(data)["guide#courier-days"].kind == "procedure"


def _blank_pdf() -> bytes:
    w = PdfWriter()
    w.add_blank_page(width=612, height=792)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _locked_pdf() -> bytes:
    w = PdfWriter(clone_from=PdfReader(GUIDE))
    w.encrypt(user_password="s3cret", owner_password="s3cret-owner")
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


@pytest.mark.parametrize(("make", "sentence"), [
    (lambda: b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage", "is a damaged PDF"),
    (lambda: b"<html>not a pdf at all</html>", "is not a PDF"),
    (_blank_pdf, "has no text to read (a scanned PDF"),
    (_locked_pdf, "is password-protected"),
], ids=["garbage", "not-pdf", "scan", "locked"])
def test_a_pdf_that_cannot_be_read_says_why_in_one_sentence(make: Callable[[], bytes], sentence: str) -> None:
    with pytest.raises(ReadError, match=sentence.replace("(", r"\(")) as err:
        pdf.to_text(make(), "guide.pdf")
    assert "guide.pdf" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-128", "AES-256"])
def test_a_pdf_locked_only_against_editing_is_read(algorithm: str) -> None:
    w = PdfWriter(clone_from=PdfReader(GUIDE))
    w.encrypt(user_password="", owner_password="owner-only", algorithm=algorithm)
    buf = io.BytesIO()
    w.write(buf)
    assert "Morning pick list" in pdf.to_text(buf.getvalue(), "guide.pdf")[0]


def test_the_work_on_one_pdf_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    two = _pdf([[("F1", 10, 72, 700, "one")], [("F1", 10, 72, 700, "two")]])
    monkeypatch.setattr(pdf, "MAX_PAGES", 1)
    with pytest.raises(ReadError, match="has 2 pages, more than 1"):
        pdf.to_text(two, "big.pdf")
    monkeypatch.setattr(pdf, "MAX_PAGES", 1000)
    monkeypatch.setattr(pdf, "MAX_SECONDS", -1.0)  # a page tree that draws forever is cut off between pages
    with pytest.raises(ReadError, match="takes too long to read"):
        pdf.to_text(two, "slow.pdf")
    monkeypatch.setattr(pdf, "MAX_SECONDS", 20.0)
    monkeypatch.setattr(pdf, "MAX_CHARS", 2)
    with pytest.raises(ReadError, match="characters of text"):
        pdf.to_text(two, "long.pdf")


def test_a_pdf_in_a_folder_is_indexed_answered_walked_and_kept_when_it_breaks(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.frontends.chat import run_chat

    folder = tmp_path / "guides"
    folder.mkdir()
    shutil.copy(GUIDE, folder / "lending-guide.pdf")
    docs_env(monkeypatch, tmp_path, str(folder))
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    assert code == 0 and json.loads(out)["sources"][0]["procedures"] == 1
    got = ask(capsys, "a partner has kept our book way past the due date, who do we email")
    best = got["results"][0]
    assert got["answered"] and best["id"] == "lending-guide#overdue-loans-to-partners"
    assert best["source"] == "lending-guide.pdf#page=2" and "thirty days" in best["answer"]  # the page opens
    assert not ask(capsys, "what is the wifi password for guests")["answered"]

    out_io = io.StringIO()
    run_chat(Services(settings_mod.load()), io.StringIO(), out_io,
             lines=["walk lending-guide#morning-pick-list", "next", "quit"])
    assert "Step 1 of 4" in out_io.getvalue() and "Choose the BIRCH_LEND circulation desk" in out_io.getvalue()

    (folder / "lending-guide.pdf").write_bytes(_blank_pdf())  # replaced by a scan
    code, _, err = run_cli(capsys, "docs", "index", "--json")
    assert code == 1 and "has no text to read" in err
    assert "1:30 pm" in ask(capsys, "what time does the courier collect on thursdays")["results"][0]["answer"]


def test_a_pdf_over_http_is_read_by_its_content_type(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str], site: _Site) -> None:
    site.pages["/files/guide"] = (200, "application/pdf", GUIDE.read_bytes(), {"ETag": '"p1"'})
    docs_env(monkeypatch, tmp_path, f"{site.url}/files/guide")
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    assert code == 0 and json.loads(out)["added"] == 1
    best = ask(capsys, "which books can't we send to partners")["results"][0]
    assert best["source"] == f"{site.url}/files/guide#page=2" and best["id"] == "files-guide#packing-for-the-state-courier"
    assert json.loads(run_cli(capsys, "docs", "index", "--json")[1])["changed"] == 0
    assert site.requests[-1][1].get("If-None-Match") == '"p1"'


def test_a_pdf_served_as_html_is_still_read_as_a_pdf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str], site: _Site) -> None:
    site.pages["/d/guide"] = (200, "text/html", GUIDE.read_bytes(), {})
    docs_env(monkeypatch, tmp_path, f"{site.url}/d/guide")
    rep = json.loads(run_cli(capsys, "docs", "index", "--json")[1])
    assert rep["sources"][0]["procedures"] == 1
    assert "thirty days" in ask(capsys, "partner kept our book past the due date, who do we email")["results"][0]["answer"]


def test_a_second_review_numbered_headings_bold_phrases_steps_and_list_ends() -> None:
    data = _pdf([[
        ("F2", 18, 72, 700, "Desk guide"), ("F2", 18, 72, 676, "Introduction"),  # two headings, not one
        ("F1", 10, 72, 656, "Staff read this first."),
        ("F2", 16, 72, 620, "1. Purpose"), ("F1", 10, 72, 600, "Why the desk exists."),  # a numbered heading
        ("F1", 10, 72, 570, "We never send rare books, maps or"),
        ("F2", 10, 72, 558, "anything the curator marked as fragile or unique to"),  # bold words inside a sentence
        ("F1", 10, 72, 546, "any partner library."),
        ("F2", 14, 72, 510, "Shipping"), ("F1", 10, 72, 490, "Step 1: Scan the barcode."),
        ("F1", 10, 72, 478, "Step 2: Print the slip."),
        ("F2", 14, 72, 440, "Renewing"), ("F1", 10, 72, 420, "1."), ("F1", 10, 86, 420, "Open the request."),
        ("F1", 10, 72, 408, "2."), ("F1", 10, 86, 408, "Press Renew, then"), ("F1", 10, 86, 396, "close the form."),
        ("F1", 10, 72, 384, "After that the partner hears from Alma by email."),  # not a step: back at the margin
        ("F1", 10, 72, 350, "Slips go to the tray, which the desk prints"),
        ("F1", 10, 72, 338, "- and staff file them by the partner's name."),  # a wrapped line, no list
    ]])
    text, kind = pdf.to_text(data, "g.pdf")
    assert kind == "markdown" and "# Desk guide {#" in text and "# Introduction {#" in text
    assert "# 1\\. Purpose" in text  # a heading whose number stays a number
    assert "We never send rare books, maps or anything the curator marked as fragile or unique to any partner" \
           " library." in text
    got = _sections(data)
    assert [s.text for s in got["guide#shipping"].steps] == ["Scan the barcode.", "Print the slip."]
    renew = got["guide#renewing"]
    assert [s.text for s in renew.steps] == ["Open the request.", "Press Renew, then close the form."]
    assert "After that the partner hears from Alma by email." in renew.body
    assert "Slips go to the tray, which the desk prints - and staff file them by the partner" in got[
        "guide#renewing"].body


def test_pdf_text_is_shown_word_for_word_never_as_markdown() -> None:
    lines = ["~~~ a divider of tildes", "See [the policy](http://evil.example/p) and <script>x</script>.",
             "Use _under_ and __init__ &amp; &copy; as typed.", "2024. A year of lending.", "Pipes a | b | c stay text.",
             "# not a heading", "Self-", "service kiosk and the mem-", "ber on duty."]
    items = [("F2", 16, 72, 720, "Odd text")] + [("F1", 10, 72, 700 - 14 * k, t) for k, t in enumerate(lines)]
    got = _sections(_pdf([items]))
    (section,) = got.values()
    body = section.body
    for literal in ("~~~ a divider of tildes", "See [the policy](http://evil.example/p) and <script>x</script>.",
                    "Use _under_ and __init__ &amp; &copy; as typed.", "2024. A year of lending.",
                    "Pipes a | b | c stay text.", "# not a heading", "Self-service kiosk and the member on duty."):
        assert literal in body, literal
    assert len(got) == 1  # nothing in it made a heading


def test_words_drawn_one_by_one_keep_their_spaces_and_a_printers_fake_bold_is_read_once() -> None:
    from pypdf.generic._font import Font

    helvetica = Font.from_core_font_name("/Helvetica")
    x, items = 72.0, []
    for word in "Patrons may borrow WWW items".split():
        items.append(("F1", 10, x, 700, word))
        x += helvetica.get_text_width(word + " ") / 100  # each word where the last one and a space end (10 pt)
    x = 72.0
    for letter in "Patrons":  # letter by letter, each where the last one ends
        items.append(("F1", 10, x, 680, letter))
        x += helvetica.get_text_width(letter) / 100
    items += [("F2", 14, 72, 660, "Returns policy"), ("F2", 14, 72.4, 660, "Returns policy"),
              ("F1", 10, 72, 640, "Bring it back.")]
    text, _ = pdf.to_text(_pdf([items]), "w.pdf")
    assert "Patrons may borrow WWW items\n\nPatrons\n" in text and "# Returns policy {#" in text
    assert text.count("Returns policy") == 1


def test_a_list_number_set_apart_from_its_words_is_still_a_list_number() -> None:
    # a hanging indent wider than an em at a small size; reportlab's bare "3"; "10)" crowded against its text
    data = _pdf([[("F2", 14, 72, 700, "Renewing a loan"),
                  ("F1", 9, 72, 680, "1."), ("F1", 9, 96, 680, "Open the loan."),
                  ("F1", 9, 72, 668, "2."), ("F1", 9, 96, 668, "Click Renew."),
                  ("F1", 9, 72, 656, "3"), ("F1", 9, 96, 656, "Email the partner desk."),
                  ("F1", 9, 72, 644, "10)"), ("F1", 9, 85.5, 644, "Close the form.")]])
    text, _ = pdf.to_text(data, "l.pdf")
    assert "1. Open the loan.\n2. Click Renew.\n3. Email the partner desk.\n10. Close the form." in text
    assert "|" not in text


def test_a_table_cell_wrapped_over_lines_stays_in_its_row_and_column() -> None:
    data = _pdf([[("F2", 14, 72, 720, "Courier zones"), ("F1", 10, 72, 700, "Each partner has one day."),
                  ("F1", 10, 72, 680, "Partner"), ("F1", 10, 200, 680, "Day"), ("F1", 10, 280, 680, "Instructions"),
                  ("F1", 10, 72, 640, "Oakridge College"), ("F1", 10, 200, 640, "Monday"),
                  # the long cell set bottom-aligned: its first lines above the row's baseline
                  ("F1", 10, 280, 664, "Leave parcels at the dock"), ("F1", 10, 280, 652, "behind the gym and sign"),
                  ("F1", 10, 280, 640, "the log book"),
                  ("F1", 10, 72, 622, "Hillcrest University"), ("F1", 10, 200, 622, "Thursday"),
                  ("F1", 10, 280, 622, "Front desk"),
                  ("F1", 10, 72, 590, "Ask the RS desk about any other partner.")]])
    text, _ = pdf.to_text(data, "t.pdf")
    assert ("| Partner | Day | Instructions |\n| --- | --- | --- |\n"
            "| Oakridge College | Monday | Leave parcels at the dock behind the gym and sign the log book |\n"
            "| Hillcrest University | Thursday | Front desk |\n\nAsk the RS desk about any other partner.") in text


def test_a_library_s_pages_printed_to_pdf_answer_as_the_pages_do(tmp_path: Path) -> None:
    """otherdocs3 (7 pages: Confluence and LibGuides exports, a LibAnswers FAQ, markdown, plain text) and the
    same pages printed to PDF (``tests/data/render_pages.py``) give the same sections, and the questions written
    about the pages get the same first answer from both."""
    from tests.fidelity import compare

    got = compare(tmp_path, DATA / "otherdocs3", DATA / "otherdocs3-pdf", DATA / "otherdocs3-dev.jsonl")
    assert got.sections[0] == got.sections[1] and len(got.sections[0]) == 73
    assert got.faqs == (12, 12) and got.procedures[1] >= got.procedures[0] - 1  # (a checklist prints as "[ ]")
    assert got.same_first_answer >= 0.95 * got.questions  # 70 of 70 when written


def test_a_heading_set_in_the_top_margin_of_each_page_is_a_heading_not_a_running_header() -> None:
    pages = [[("F2", 16, 72, 770, f"Part {n}"), ("F1", 10, 72, 740, f"What part {n} covers, in a sentence."),
              ("F1", 8, 72, 30, "Ashgrove ILL manual")] for n in (1, 2, 3)]
    text, _ = pdf.to_text(_pdf(pages), "p.pdf")
    assert all(f"# Part {n} {{#" in text for n in (1, 2, 3)) and "Ashgrove ILL manual" not in text


def test_page_numbers_go_wherever_they_sit_and_a_roman_numeral_heading_stays() -> None:
    pages = [[("F2", 16, 72, 700, "II"), ("F1", 10, 72, 680, "The second part of the guide."),
              ("F1", 10, 300, 90, "ii")],  # front matter numbering, above the bottom margin
             [("F1", 10, 300, 720, "3"), ("F2", 16, 72, 700, "Receiving"), ("F1", 10, 72, 680, "Scan the band.")]]
    text, _ = pdf.to_text(_pdf(pages), "p.pdf")
    assert "# II {#ii" in text and "\nii\n" not in text and "\n3\n" not in text and "Scan the band." in text
