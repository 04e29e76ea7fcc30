"""The library's own documentation: readers, sections, the incremental index, answers, citations, walks.

Pages in ``tests/data/docs`` were written for these tests by an imaginary library (markdown, HTML, plain
text), different in structure from the seed; the raw seed itself is read from ``../shared/seed`` when present.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.core.docs import readers
from bot.core.docs.indexer import DocsIndexer, load_topics
from bot.core.docs.readers import _flavoured
from bot.core.docs.sections import topics_for
from bot.core.services import Services
from bot.edges import settings as settings_mod
from bot.edges.store import Store
from bot.frontends.cli import main
from tests.conftest import DATA, ROOT, migrated_copy, shared_file

DOCS = DATA / "docs"


def docs_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, docs: str) -> None:
    empty = tmp_path / "no-knowledge"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("P2PBOT_KNOWLEDGE_DIR", str(empty))
    monkeypatch.setenv("P2PBOT_DOCS", docs)
    if not (tmp_path / "bot.sqlite3").exists():
        migrated_copy(tmp_path / "bot.sqlite3")
    monkeypatch.setenv("P2PBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    monkeypatch.setenv("P2PBOT_CACHE_DIR", str(tmp_path / "cache"))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def ask(capsys: pytest.CaptureFixture[str], question: str) -> dict[str, Any]:
    code, out, _ = run_cli(capsys, "ask", "--json", question)
    assert code == 0
    return json.loads(out)  # type: ignore[no-any-return]


# -- readers ----------------------------------------------------------------------------------------------
def test_html_reader_drops_the_chrome_and_keeps_headings_lists_tables_and_anchors() -> None:
    page = readers.read_html("shipping.html", (DOCS / "lending" / "shipping.html").read_text())
    text = json.dumps([b.__dict__ for b in page.blocks])
    assert page.title == "Lending: packing and shipping"  # the page, not the site in the browser tab
    for chrome in ("Sign in", "Contact the web team", "window.analytics", "font-family", "Wiki pages"):
        assert chrome not in text
    heads = {b.anchor: b.text for b in page.blocks if b.kind == "heading"}
    assert heads["pack"] == "Packing a book for the courier"
    assert heads["damaged"] == "What do we do when a lent book comes back damaged?"
    lists = [b for b in page.blocks if b.kind == "list" and b.ordered]
    assert lists[1].items[3].startswith("Wrap the book in bubble wrap")
    assert "Two or more books for the same partner can share one mailer." in lists[1].items[3]
    table = next(b for b in page.blocks if b.kind == "table")
    assert table.rows[2] == ("Media mail", "Everyone else", "about $4 a book")


def test_markdown_reader_keeps_heading_levels_lists_and_tables() -> None:
    page = readers.read_markdown("receiving.md", (DOCS / "borrowing" / "receiving.md").read_text())
    heads = [(b.level, b.text) for b in page.blocks if b.kind == "heading"]
    assert heads[0] == (1, "Borrowing desk manual")
    assert (3, "What if the lender's band is missing?") in heads
    assert any(b.kind == "table" and b.rows[1] == ("Book", "4 weeks", "1") for b in page.blocks)


def test_plain_text_headings_are_short_lines_without_end_punctuation() -> None:
    text = ("Desk Guide\nWhat this covers.\nOpening the Desk\nTurn on the lights.\nStep 1: Unlock the drawer.\n"
            "Step 2: Count the float.\nIs the float always the same?\nYes, fifty dollars.\n")
    page = readers.read_text("guide.txt", text)
    heads = [b.text for b in page.blocks if b.kind == "heading"]
    assert heads == ["Desk Guide", "Opening the Desk", "Is the float always the same?"]
    topics = topics_for(page, "guide", "guide.txt", "/docs/guide.txt")
    by_title = {t.title: t for t in topics}
    assert [s.text for s in by_title["Opening the Desk"].steps] == ["Unlock the drawer.", "Count the float."]
    faq = by_title["Is the float always the same?"]
    assert faq.kind == "faq" and faq.body == "Yes, fifty dollars."
    assert faq.id == "guide#is-the-float-always-the-same"


def test_an_faq_question_may_set_the_scene_in_one_sentence_first() -> None:
    """Help-desk exports title an FAQ with the situation, then the question: one sentence before it is still
    the question; a paragraph of several sentences that ends asking something is not."""
    text = ("Desk FAQ\n\n"
            "A patron wants to renew a P2P book at the desk on an evening shift. Can we do it for them?\n\n"
            "Not at the desk: the patron asks in Primo and the lender decides.\n\n"
            "Scanning tips\n\n"
            "The scanner beeps twice. The screen stays blank. Did the scan go through?\n\n"
            "Scan again after a pause.\n")
    page = readers.read_text("faq.txt", text)
    heads = [b.text for b in page.blocks if b.kind == "heading"]
    assert heads == ["Desk FAQ", "A patron wants to renew a P2P book at the desk on an evening shift. Can we do it for them?",
                     "Scanning tips"]
    faq = {t.title: t for t in topics_for(page, "faq", "faq.txt", "/docs/faq.txt")}[heads[1]]
    assert faq.kind == "faq" and "lender decides" in faq.body


def test_wiki_flavoured_markdown_shows_its_text_not_its_markup() -> None:
    """GitBook, Docusaurus/HackMD, Obsidian and [TOC] markup is reduced to what the wiki shows; a code block
    keeps it."""
    text = ("# Onboarding\n\n[TOC]\n\n"
            '{% hint style="info" %}\nYou need the Partners Manager role.\n{% endhint %}\n\n'
            ":::warning Keep it first\nThe rule must sit at the top.\n:::\n\n"
            "> [!tip] Who can request\n> Faculty and Staff only.\n\n"
            "See [[Temporary Item Creation Rule]] and [[Rota Templates|the rota]].\n\n"
            "## Review\n\n{% tabs %}\n{% tab title=\"Partner profile\" %}\n1. Open Partners.\n2. Save.\n"
            "{% endtab %}\n{% endtabs %}\n\n```\n:::not-a-box\n{% raw %}\n```\n")
    page = readers.read_markdown("onboarding.md", text)
    shown = "\n".join(b.text or "\n".join(b.items) for b in page.blocks)
    for markup in ("{%", "[TOC]", "[!tip]", "[[", "]]", ":::warning"):
        assert markup not in shown.replace(":::not-a-box\n{% raw %}", ""), markup
    for kept in ("You need the Partners Manager role.", "Keep it first", "The rule must sit at the top.",
                 "Who can request", "Faculty and Staff only.", "Temporary Item Creation Rule", "the rota",
                 "Partner profile:", ":::not-a-box\n{% raw %}"):
        assert kept in shown, kept
    review = {t.title: t for t in topics_for(page, "onboarding", "onboarding.md", "/docs/onboarding.md")}["Review"]
    assert [st.text for st in review.steps] == ["Open Partners.", "Save."]


def test_wiki_markup_reduction_leaves_code_quoted_templates_and_prose_alone() -> None:
    """Review R15: a fence closes only on its own kind of fence; inline and indented code, a template's own
    tags quoted in prose and a line that merely starts with ":::" keep their text; a long line of brackets is
    read in linear time (it took 42 s for 40 KB)."""
    text = ("# Page\n\n```python\n{% hint %}\n```js\n:::note\n```\n\n:::note After the fence\n\n"
            "Use `{% include footer.html %}` or `x[[0]]`; a[[1]] stays.\n\n::: this line stays whole\n\n"
            "Write {% if patron %}Dear{% endif %} or {% raw %} in the letter.\n\n"
            "    {% hint %} indented code\n\n" + "[[" * 20000 + "\n")
    shown = _flavoured(text)
    assert "```python\n{% hint %}\n```js\n:::note\n```" in shown and "\nAfter the fence\n" in shown
    for kept in ("`{% include footer.html %}`", "`x[[0]]`", "a[[1]] stays", "::: this line stays whole",
                 "{% if patron %}Dear{% endif %} or {% raw %}", "    {% hint %} indented code"):
        assert kept in shown, kept
    assert readers.read_markdown("page.md", text).blocks


def test_a_chatty_line_is_no_faq_title() -> None:
    assert not readers._is_question("Hi team, thanks for covering the desk today. Could you also check the hold shelf?")
    assert readers._is_question("Alma did not print a slip after I scanned the book. What should I check?")


def test_text_printed_to_pages_loses_its_running_footer_and_keeps_its_tables() -> None:
    """Text saved from a paginated document: form feeds between pages, a footer with the page number on
    each page. The footer is no heading and no part of any answer; the heading after a page break is one;
    tab-separated rows are a table."""
    text = ("CIRCULATION DESK CHEAT SHEET\n\nReceiving a P2P Book\nStep 1: Open Receive Items.\n"
            "Step 2: Scan the ext id.\n\nBirch Library Circulation\tPage 1 of 2\n"
            "\fCourier Days\nThe state courier comes Monday and Thursday.\nDay\tPickup time\nMonday\t10:00\n"
            "Thursday\t14:00\n\nBirch Library Circulation\tPage 2 of 2\n")
    page = readers.read_text("sheet.txt", text)
    assert [b.text for b in page.blocks if b.kind == "heading"] == [
        "CIRCULATION DESK CHEAT SHEET", "Receiving a P2P Book", "Courier Days"]
    assert not any("Page 1" in b.text or "Birch Library Circulation" in b.text for b in page.blocks)
    tables = [b.rows for b in page.blocks if b.kind == "table"]
    assert tables == [(("Day", "Pickup time"), ("Monday", "10:00"), ("Thursday", "14:00"))]
    topics = {t.title: t for t in topics_for(page, "sheet", "sheet.txt", "/docs/sheet.txt")}
    assert [s.text for s in topics["Receiving a P2P Book"].steps] == ["Open Receive Items.", "Scan the ext id."]
    # without form feeds, a repeated "Page N of M" line still goes; one line with a tab is no table
    flat = "Desk Notes\nOpen at nine.\nDesk Notes, Page 1 of 2\nClosing\nLock up.\nName:\tPat\nDesk Notes, Page 2 of 2\n"
    blocks = readers.read_text("flat.txt", flat).blocks
    assert not any("Page" in b.text for b in blocks) and not any(b.kind == "table" for b in blocks)
    assert [b.text for b in blocks if b.kind == "heading"] == ["Desk Notes", "Closing"]


def test_page_furniture_is_never_a_step_a_value_or_the_title() -> None:
    """What only looks like furniture stays: the same last step on two pages ("Click Save."), a lone number
    closing a page that is a value (page numbers count up page by page; "7" then "3" do not), and the title
    on page 1 that the pages after it repeat as their running header."""
    sops = ("Receiving Loans\n\n1. Open Receiving Items.\n2. Click Save.\n\nPage 1 of 2\n"
            "\fReturning Loans\n\n1. Open Return Items.\n2. Print the label.\n3. Click Save.\n\nPage 2 of 2\n")
    topics = {t.title: t for t in topics_for(readers.read_text("s.txt", sops), "s", "s.txt", "/s.txt")}
    assert [s.text for s in topics["Receiving Loans"].steps] == ["Open Receiving Items.", "Click Save."]
    assert [s.text for s in topics["Returning Loans"].steps][-1] == "Click Save."
    values = "Loan Periods\n\nBooks\n21\n\nDVDs\n7\n\fRenewals\n\nRenew at the desk.\n\nOverdue fines\n3\n"
    bodies = {t.title: t.body for t in topics_for(readers.read_text("v.txt", values), "v", "v.txt", "/v.txt")}
    assert bodies["DVDs"] == "7" and bodies["Overdue fines"] == "3"
    numbered = "Loan Periods\n\nBooks\n21\nDVDs\n7\n\n1\fRenewals\n\nRenew twice.\n\n2\f"
    blocks = [b.text for b in readers.read_text("n.txt", numbered).blocks]
    assert "7" in " ".join(blocks) and "1" not in blocks and "2" not in blocks
    cover = ("Circulation Manual\nBirch Library\n\nThis manual covers the desk.\n"
             "\fCirculation Manual\n\nRenewals\nRenew at the desk.\n\fCirculation Manual\n\nFines\nFines are 25 cents.\n")
    page = readers.read_text("c.txt", cover)
    assert page.title == "Circulation Manual"
    assert [b.text for b in page.blocks].count("Circulation Manual") == 1


def test_values_that_come_back_at_page_edges_are_content_not_furniture() -> None:
    """A label with other numbers on each page ("Loan period 14 days", "28 days") is a value unless one of its
    numbers counts the pages; short pages whose every line is an edge keep their lines; a sentence that
    mentions "page 2 of 2" is no footer; tab rows keep an empty first or last cell."""
    values = ("Renewals\n\nStaff renew twice.\n1. Scan the card.\n2. Press F9.\nLoan period 14 days\n"
              "\fHolds\n\nHolds wait a week.\n1. Print the slips.\n2. Shelve them.\nLoan period 28 days\n")
    text = " ".join(b.text for b in readers.read_text("v.txt", values).blocks)
    assert "Loan period 14 days" in text and "Loan period 28 days" in text
    hours = ("Branch hours\n\nMain branch\nMonday to Friday 9-5\nSunday closed\n"
             "\fBranch hours\n\nNorth branch\nMonday to Friday 10-4\nSunday closed\n")
    bodies = {t.title: t.body for t in topics_for(readers.read_text("h.txt", hours), "h", "h.txt", "/h.txt")}
    assert bodies == {"Main branch": "Monday to Friday 9-5\nSunday closed",
                      "North branch": "Monday to Friday 10-4\nSunday closed"}
    ill = ("Interlibrary loan\nFill in the form. The signature box is on page 2 of 2\nDesk copy, Page 1 of 2\n"
           "Delivery\nItems arrive at the desk.\nDesk copy, Page 2 of 2\n")
    blocks = [b.text for b in readers.read_text("i.txt", ill).blocks]
    assert "Fill in the form. The signature box is on page 2 of 2" in blocks
    assert not any("Desk copy" in b for b in blocks)
    tabs = "Phones\n\nDesk\t4040\n\tMain desk after hours\nOffice\t4050\nFax\t\n"
    (table,) = [b.rows for b in readers.read_text("t.txt", tabs).blocks if b.kind == "table"]
    assert table == (("Desk", "4040"), ("", "Main desk after hours"), ("Office", "4050"), ("Fax", ""))


def test_pdftotext_layout_numbered_headings_aligned_tables_and_bylines() -> None:
    """A Word manual through pdftotext -layout: numbered section headings over their own paragraphs and
    "Step N:" lines (not one long procedure), a byline with middle dots (no heading), columns lined up with
    spaces (a table, its header row a blank line above the rows), a two-part running header and "Page N"."""
    header = "Birch Main Desk" + " " * 40 + "Evening Procedures\n\n"
    text = (header + "          Evening Desk Procedures\n\n       Access Services · Birch Main Desk · Revised August 2024\n\n"
            "       1. Who this is for\n\n       Evening staff at the main desk.\n       Students ask the supervisor.\n\n"
            "       2. A patron returns a LOAN book\n\n       Scan it in before 9 p.m.:\n\n"
            "       Step 1: Open Return Items.\n\n       Step 2: Scan the barcode on the book.\n\n"
            "                                   Page 1\n\f" + header +
            "       3. Problems and who to call\n\n"
            "       Problem                       What to do                Who follows up\n\n"
            "       Barcodes differ               Put it in the slot        Borrowing desk\n"
            "       No slip prints                Check Quick Printing      Supervisor\n\n"
            "                                   Page 2\n\f" + header + "       4. Closing\n\n       Lock the tub.\n"
            "       Switch off the printer.\n\n                                   Page 3\n")
    page = readers.read_text("desk.txt", text)
    topics = {t.title: t for t in topics_for(page, "d", "desk.txt", "/desk.txt")}
    assert page.title == "Evening Desk Procedures"
    assert set(topics) == {"Evening Desk Procedures", "1. Who this is for", "2. A patron returns a LOAN book",
                           "3. Problems and who to call", "4. Closing"}
    assert topics["Evening Desk Procedures"].body == "Access Services · Birch Main Desk · Revised August 2024"
    assert [s.text for s in topics["2. A patron returns a LOAN book"].steps] == [
        "Open Return Items.", "Scan the barcode on the book."]
    empty = readers.read_text("l.txt", "Loan Periods\n\nItem type      Loan period      Renewals\nBook           28 days"
                                       "          2\nReserve book                    0\nDVD            7 days           1\n")
    assert [b.rows for b in empty.blocks if b.kind == "table"] == [(
        ("Item type", "Loan period", "Renewals"), ("Book", "28 days", "2"), ("Reserve book", "", "0"),
        ("DVD", "7 days", "1"))]  # an empty cell keeps its column
    assert topics["3. Problems and who to call"].body == (
        "Problem | What to do | Who follows up\nBarcodes differ | Put it in the slot | Borrowing desk\n"
        "No slip prints | Check Quick Printing | Supervisor")
    assert not any("Evening Procedures" in t.body or "Page" in t.body for t in topics.values())
    # numbered steps, with or without blank lines between them, are still steps
    steps = "Receiving\n\n1. Open Receiving Items\n\n2. Scan the barcode\n\n3. Click Save\n"
    (topic,) = topics_for(readers.read_text("r.txt", steps), "r", "r.txt", "/r.txt")
    assert topic.is_procedure and len(topic.steps) == 3


def test_numbered_lines_are_steps_unless_a_whole_series_has_text_of_its_own() -> None:
    """A step keeps its indented notes and wrapped lines and its walkthrough, whatever verb it starts with; a
    series of bare numbered lines each over its own paragraphs or sub-list is a run of sections, siblings,
    none the page title; one of them with nothing under it stays a line, never lost."""
    notes = ("Opening the Library\n\n1. Unlock the front doors\n2. Turn on the lights\n"
             "3. Start the self-checkout machines\n   Each takes two minutes to boot.\n   Restart one that errs.\n"
             "4. Log in to the staff computer\n")
    (topic,) = topics_for(readers.read_text("o.txt", notes), "o", "o.txt", "/o.txt")
    assert len(topic.steps) == 4
    wrapped = ("Processing Holds\n\n1. Pull each item on the pick list and bring it back to the\n   desk in the "
               "printed order\n2. Shelve the items on the hold shelf by surname\n")
    (topic,) = topics_for(readers.read_text("w.txt", wrapped), "w", "w.txt", "/w.txt")
    assert [s.text for s in topic.steps] == [
        "Pull each item on the pick list and bring it back to the desk in the printed order",
        "Shelve the items on the hold shelf by surname"]
    manual = ("1. Introduction\n\nThis manual describes the desk.\nRead it before your first shift.\n\n"
              "2. Checking out an item\n\nA patron brings items to the desk.\n\n   1. Scan the card\n"
              "   2. Scan each item\n\n3. Returning an item\n\nItems come through the book drop.\n\n"
              "   1. Scan the item in Return mode\n   2. Check it for damage\n")
    page = readers.read_text("m.txt", manual)
    topics = {t.title: t for t in topics_for(page, "m", "m.txt", "/m.txt")}
    assert page.title == "" and set(topics) == {"1. Introduction", "2. Checking out an item", "3. Returning an item"}
    assert all(not t.trail for t in topics.values())
    assert len(topics["2. Checking out an item"].steps) == 2
    rules = ("Staff Rules\n\n1. No food at the desk\nDrinks in closed cups are fine.\nThis applies to all shifts.\n\n"
             "2. Phones on silent\nCalls happen in the break room.\nEmergencies are the exception.\n\n"
             "3. Badges visible at all times\n")
    text = " ".join(t.body for t in topics_for(readers.read_text("r.txt", rules), "r", "r.txt", "/r.txt"))
    assert "Badges visible at all times" in text


def test_review_r12_word_text_steps_imperative_manuals_table_headers_and_columns() -> None:
    """Word's .txt drops indents: a step's one-line note right under it is still the step's (whatever its
    verb); numbered headings over numbered lists of their own are sections whatever their verbs; a table's
    header row repeated on each page keeps its first; a step set off with spaces is no table column."""
    laptop = ("Laptop Returns\n\n1.\tInspect the laptop for damage\nPhotograph any damage.\n"
              "2.\tWipe the keyboard\nUse a sanitising cloth.\n3.\tRecharge it in the cart\n")
    (topic,) = topics_for(readers.read_text("l.txt", laptop), "l", "l.txt", "/l.txt")
    assert [s.text for s in topic.steps] == ["Inspect the laptop for damage\nPhotograph any damage.",
                                            "Wipe the keyboard\nUse a sanitising cloth.", "Recharge it in the cart"]
    manual = ("Desk Manual\n\n1. Check out items\n\nPatrons need their card.\n\n   1. Scan the card\n"
              "   2. Scan each item\n\n2. Check in returned items\n\nUse Return mode.\n\n   1. Scan the item\n"
              "   2. Sort it onto the cart\n")
    topics = {t.title: t for t in topics_for(readers.read_text("m.txt", manual), "m", "m.txt", "/m.txt")}
    assert [len(topics[h].steps) for h in ("1. Check out items", "2. Check in returned items")] == [2, 2]
    rows_a = "".join(f"Atlas {n}           Floor 2   G100{n}\n" for n in range(6))
    rows_b = "".join(f"Folio {n}           Floor 1   N10{n}\n" for n in range(6))
    pages = ("Staff Handbook\nShelving\n\nWhere each collection lives.\n\f"
             f"Staff Handbook\nCollection        Floor     Call numbers\n{rows_a}\f"
             f"Staff Handbook\nCollection        Floor     Call numbers\n{rows_b}\n")
    rows = [r for b in readers.read_text("h.txt", pages).blocks if b.kind == "table" for r in b.rows]
    assert rows.count(("Collection", "Floor", "Call numbers")) == 1 and ("Folio 5", "Floor 1", "N105") in rows
    fines = ("Fines\n\nItem type      Fine per hour      Maximum\nLaptop         $5.00              $50.00\n\n"
             "   1.   Open the patron's Fines and Fees tab.\n   2.   Click Waive.\n")
    (table,) = [b.rows for b in readers.read_text("f.txt", fines).blocks if b.kind == "table"]
    assert table[0] == ("Item type", "Fine per hour", "Maximum")


def test_a_numbered_faq_is_questions_and_a_sentence_cut_by_a_page_break_is_whole() -> None:
    faq = ("Desk FAQ\n\n1. How long can a patron keep a laptop?\nFour hours.\n\n2. Can a patron renew a laptop?\n"
           "No, they borrow it again.\n\n3. What if a charger is lost?\nCharge the $25 fee in Alma.\n")
    topics = topics_for(readers.read_text("f.txt", faq), "f", "f.txt", "/f.txt")
    assert [(t.kind, t.body) for t in topics] == [("faq", "Four hours."), ("faq", "No, they borrow it again."),
                                                  ("faq", "Charge the $25 fee in Alma.")]
    cut = ("Returning a laptop\n\n1. Scan the laptop in Return Items.\n2. Plug it into the cart, then write the\n\n"
           "Page 1 of 2\n\fslot number on the laptop sheet.\n\nPage 2 of 2\n")
    (topic,) = topics_for(readers.read_text("c.txt", cut), "c", "c.txt", "/c.txt")
    assert [s.text for s in topic.steps][-1] == "Plug it into the cart, then write the slot number on the laptop sheet."


def test_plain_pdftotext_lone_step_numbers_and_one_cell_a_line_tables() -> None:
    """Plain pdftotext puts a step's number on a line of its own and a table one cell a line: the steps are
    steps again, and the cells are not a staircase of headings each under the one before."""
    text = ("Desk Manual\n\nCheck-out works like this.\n\nTo check out an item:\n1.\n\nOpen Manage Patron Services.\n\n"
            "2.\n\nScan the patron's card and\nthen each item.\n\nLoan periods\n\nPatron group\n\nBooks\n\n"
            "Laptops\n\nUndergraduate\n\n28 days\n\n4 hours\n\nAsk the supervisor about anything else.\n")
    page = readers.read_text("m.txt", text)
    topics = topics_for(page, "m", "m.txt", "/m.txt")
    steps = [s.text for t in topics for s in t.steps]
    assert steps == ["Open Manage Patron Services.", "Scan the patron's card and then each item."]
    assert max(b.level for b in page.blocks if b.kind == "heading") <= 3


def test_a_skip_link_that_leaves_the_page_is_text_and_a_site_logo_is_no_page_title() -> None:
    html = ("<html><head><title>Renewals - Maple Staff Wiki</title></head><body><div class='logo'><h1>"
            "<a href='/'>Maple Staff Wiki</a></h1></div><main><p>Go to <a href='/search'>Skip to search</a> for "
            "the fastest path.</p><h2>Holds</h2><p>Items with holds cannot be renewed.</p></main></body></html>")
    page = readers.read_html("r.html", html)
    assert page.title == "Renewals"
    assert "Go to Skip to search for the fastest path." in [b.text for b in page.blocks]
    site_first = ("<html><head><title>Staff Wiki | Lost and Found</title></head><body><h1>Lost and Found</h1>"
                  "<p>Lost items wait at the desk.</p></body></html>")
    assert readers.read_html("l.html", site_first).title == "Lost and Found"
    several = ("<html><head><title>Maple Staff Wiki</title></head><body><div class='wiki-content'><p>Welcome.</p>"
               "<h1>Renewals</h1><p>Renew from the record.</p><h1>Holds</h1><p>No renewals with holds.</p>"
               "</div></body></html>")
    ids = [t.id for t in topics_for(readers.read_html("w.html", several), "w", "w.html", "/w.html")]
    assert ids == ["w#maple-staff-wiki", "w#renewals", "w#holds"]


def test_a_word_web_page_title_paragraph_is_the_page_title() -> None:
    html = ('<html><body><div class=WordSection1><p class=MsoTitle>Returns at Birch</p>'
            "<h1>Scanning</h1><p class=MsoNormal>Scan the temporary barcode.</p></div></body></html>")
    page = readers.read_html("r.htm", html)
    assert page.title == "Returns at Birch"
    assert [b.text for b in page.blocks if b.kind == "heading"] == ["Returns at Birch", "Scanning"]


def test_accordion_toggles_are_questions_and_a_comment_thread_is_chrome() -> None:
    """A SharePoint-style accordion: each question a bare <button aria-expanded>, its answer the panel after
    it. Each is its own FAQ section (not lost with the page's buttons, not merged into the question above),
    a question is never the chapter of the next one, and the comment thread under the page is no section."""
    html = ("<html><body><div class='sp-siteNav'><a href='/'>Home</a></div><div class='CanvasZone'>"
            "<h2>Desk FAQ</h2><p>Answers for the front desk.</p>"
            "<h3>Can a patron renew a P2P book?</h3><p>Yes, once, if the lender allows it.</p>"
            "<div class='ms-CollapsibleSection'>"
            "<button aria-expanded='false'><span>What if the book arrives damaged?</span></button>"
            "<div role='region'><p>Photograph it and email the lender before you receive it.</p></div>"
            "<button aria-expanded='false'><span>Who pays return postage?</span></button>"
            "<div role='region'><p>We do, from the ILL budget.</p></div></div>"
            "<h4>Where do expired requests go?</h4><p>The expiry job cancels them overnight.</p></div>"
            "<div class='CommentsWrapper'><h3>Comments</h3><p>Was this page helpful?</p><button>Like</button></div>"
            "</body></html>")
    page = readers.read_html("faq.html", html)
    topics = {t.title: t for t in topics_for(page, "faq", "faq.html", "/docs/faq.html")}
    assert set(topics) == {"Desk FAQ", "Can a patron renew a P2P book?", "What if the book arrives damaged?",
                           "Who pays return postage?", "Where do expired requests go?"}
    assert topics["What if the book arrives damaged?"].body == "Photograph it and email the lender before you receive it."
    assert topics["Can a patron renew a P2P book?"].body == "Yes, once, if the lender allows it."
    for q in ("What if the book arrives damaged?", "Who pays return postage?", "Where do expired requests go?"):
        assert topics[q].kind == "faq" and topics[q].trail == ("Desk FAQ",), q


def test_word_web_page_wrapped_source_lines_are_spaces_and_its_list_paragraphs_are_steps() -> None:
    """Word's "Save as Web Page" wraps paragraphs in the source at about 80 characters and writes a numbered
    list as MsoListParagraph paragraphs with the number in an mso-list:Ignore span."""
    item = ("<p class=MsoListParagraphCxSpMiddle style='text-indent:-.25in;mso-list:l0 level1 lfo1'>"
            "<![if !supportLists]><span style='mso-list:Ignore'>{n}.<span style='font:7.0pt \"Times New Roman\"'>"
            "&nbsp;&nbsp;&nbsp; </span></span><![endif]>{text}</p>\n")
    html = ("<html><body><div class=WordSection1><h1><a name=\"_Toc1\"></a>Receiving a Borrowed Book</h1>\n"
            "<p class=MsoNormal>Open parcels at the RS workbench behind the counter,\nnever at the front counter.</p>\n"
            + item.format(n=1, text="Find\nthe lender&#8217;s paperwork and compare\nthe barcodes.")
            + item.format(n=2, text="In\nAlma go to Fulfillment &gt; Resource\nSharing &gt; Receiving Items.")
            + "<p class=MsoNormal>Line one<br>\nline two</p></div></body></html>")
    page = readers.read_html("r.htm", html)
    (topic,) = topics_for(page, "r", "r.htm", "/r.htm")
    assert [s.text for s in topic.steps] == ["Find the lender\u2019s paperwork and compare the barcodes.",
                                            "In Alma go to Fulfillment > Resource Sharing > Receiving Items."]
    assert "Open parcels at the RS workbench behind the counter, never at the front counter." in topic.body
    assert "Line one\nline two" in topic.body  # a <br> is still a line break


def test_a_mediawiki_heading_whose_id_sounds_like_chrome_is_still_a_heading() -> None:
    html = ("<html><body><div id='mw-content-text'><div class='mw-parser-output'>"
            "<h2><span class='mw-headline' id='Rotas'>Rotas</span></h2><p>The rota template is LOAN P2P.</p>"
            "<h2><span class='mw-headline' id='Related_pages'>Related pages</span><span class='mw-editsection'>"
            "[<a href='/edit'>edit</a>]</span></h2><ul><li><a href='/a'>Onboarding a partner</a></li></ul>"
            "</div></div></body></html>")
    topics = {t.title: t.body for t in topics_for(readers.read_html("w.html", html), "w", "w.html", "/w.html")}
    assert topics == {"Rotas": "The rota template is LOAN P2P.", "Related pages": "- Onboarding a partner"}


def test_word_text_export_bullets_and_numbers_with_tabs_are_lists_not_tables() -> None:
    text = ("Never Do This\n\u2022\tType the External Identifier into Return Items.\n"
            "\u2022\tReuse an old pull slip.\n\nReturning\n1.\tGo to Return Items.\n2.\tScan the book.\n")
    topics = {t.title: t for t in topics_for(readers.read_text("c.txt", text), "c", "c.txt", "/c.txt")}
    assert topics["Never Do This"].body == "- Type the External Identifier into Return Items.\n- Reuse an old pull slip."
    assert [s.text for s in topics["Returning"].steps] == ["Go to Return Items.", "Scan the book."]


def test_a_bullet_over_numbered_sub_steps_is_a_procedure_and_step_headings_over_them_stay_headings() -> None:
    """A Notion export: "## Step 1: …" headings, each over a toggle (a bullet) holding numbered sub-steps.
    Each step heading is its own procedure, not folded into the section before it."""
    md = ("# Onboarding a partner\n\n## Before you open Alma\n\nAgree the expiry time by email.\n\n"
          "## Step 1: Copy the partner\n\n- Copy from the Community tab\n    1. Open the Community tab.\n"
          "    2. Search by symbol.\n    3. Click Copy.\n\n## Step 2: Add them to the rota\n\n"
          "- Put the partner in the rota\n    1. Open Rota Templates.\n    2. Click Add Partners.\n")
    topics = {t.title: t for t in topics_for(readers.read_markdown("o.md", md), "o", "o.md", "/o.md")}
    assert topics["Before you open Alma"].body == "Agree the expiry time by email."
    one = topics["Step 1: Copy the partner"]
    assert one.kind == "procedure"
    assert [s.text for s in one.steps] == ["Open the Community tab.", "Search by symbol.", "Click Copy."]
    assert one.body.startswith("Copy from the Community tab\n1. Open the Community tab.")
    assert [s.text for s in topics["Step 2: Add them to the rota"].steps] == ["Open Rota Templates.",
                                                                             "Click Add Partners."]


def test_a_page_is_named_by_its_main_heading_not_its_tab_title_and_skip_links_are_no_text() -> None:
    html = ("<html><head><title>Desk FAQ: P2P and LOAN - Ask Us - RBSU Libraries</title></head><body>"
            "<a href='#main' class='sr-only'>Skip to Main Content</a><div id='main'><p>Answers for staff.</p>"
            "<h2>Who pays postage?</h2><p>We pay the return postage.</p></div></body></html>")
    page = readers.read_html("faq.html", html)
    assert page.title == "Desk FAQ: P2P and LOAN"
    assert "Skip to Main Content" not in [b.text for b in page.blocks]
    with_h1 = html.replace("<div id='main'>", "<div id='main'><h1>P2P desk questions</h1>")
    assert readers.read_html("faq.html", with_h1).title == "P2P desk questions"


def test_only_an_accordions_question_toggle_is_a_heading() -> None:
    """A menu button, a language picker and "Show more" are not questions (the text after them stays in its
    section); an icon's ligature is not part of a question; a hidden answer right after its toggle is kept
    even without aria-controls."""
    html = ("<html><body><main><h1>Courier schedule</h1><div class='toolbar'>"
            "<button aria-haspopup='menu' aria-expanded='false'>Share this page</button>"
            "<button aria-expanded='false'>English</button></div>"
            "<p>The courier arrives Monday and Thursday at 10 am.</p>"
            "<h2>Renewals</h2><p>Items can be renewed twice.</p>"
            "<button aria-expanded='false' aria-controls='more1'>Show more</button>"
            "<div id='more1'><p>Staff can grant one extra renewal.</p></div>"
            "<h2>Desk FAQ</h2><div class='faq-item'><button aria-expanded='false'>Can a patron renew twice?"
            "<i class='material-icons' aria-hidden='true'>expand_more</i></button>"
            "<div hidden><p>Yes, from their account.</p></div></div></main></body></html>")
    topics = {t.title: t for t in topics_for(readers.read_html("c.html", html), "c", "c.html", "/c.html")}
    assert set(topics) == {"Courier schedule", "Renewals", "Can a patron renew twice?"}
    assert topics["Courier schedule"].body == "The courier arrives Monday and Thursday at 10 am."
    assert topics["Renewals"].body == "Items can be renewed twice.\nStaff can grant one extra renewal."
    assert topics["Can a patron renew twice?"].kind == "faq"
    assert topics["Can a patron renew twice?"].body == "Yes, from their account."


def test_a_bootstrap_4_accordion_keeps_its_questions_and_print_is_no_question() -> None:
    html = ("<html><body><main><h1>Circulation FAQ</h1><p>Answers for the desk.</p><div class='accordion' id='a'>"
            "<div class='card'><div class='card-header' id='h1'><h2 class='mb-0'><button class='btn btn-link' "
            "type='button' data-toggle='collapse' data-target='#c1' aria-expanded='true' aria-controls='c1'>"
            "How many renewals are allowed?</button></h2></div><div id='c1' class='collapse show'>"
            "<div class='card-body'>Three, unless there is a hold.</div></div></div></div>"
            "<h2>Opening the desk</h2><button aria-expanded='false' aria-controls='p1'>Print</button>"
            "<div id='p1'><p>Double-sided only.</p></div><p>Turn on the self-check at 8:50.</p></main></body></html>")
    topics = {t.title: t for t in topics_for(readers.read_html("f.html", html), "f", "f.html", "/f.html")}
    assert topics["How many renewals are allowed?"].kind == "faq"
    assert topics["How many renewals are allowed?"].body == "Three, unless there is a hold."
    assert "Print" not in topics and "Double-sided only." in topics["Opening the desk"].body


def test_camel_case_names_are_chrome_only_when_every_part_is_a_chrome_word() -> None:
    html = ("<html><body><div class='pageWrapper'><div class='CommentsWrapper'><p>Great page, thanks!</p></div>"
            "<h1>Receiving items</h1><div class='articleHeaderText'><p>Read this before your first shift.</p></div>"
            "<div class='stepsWithSidebarNotes'><p>Scan each item in Receiving Items.</p></div>"
            "<div class='panel'><div class='panelHeader'><b>RUSH items go straight to the hold shelf</b></div>"
            "<div class='panelContent'><p>Not on the sorting cart.</p></div></div></div></body></html>")
    (topic,) = topics_for(readers.read_html("r.html", html), "r", "r.html", "/r.html")
    for kept in ("Read this before your first shift.", "Scan each item in Receiving Items.",
                 "RUSH items go straight to the hold shelf"):
        assert kept in topic.body
    assert "Great page" not in topic.body


def test_step_headings_stay_together_and_a_loose_sub_step_keeps_its_second_paragraph() -> None:
    """When one "Step N" heading has numbered sub-steps of its own, its siblings stay headings too (not two
    folded and one left out); a second paragraph of a nested step carries on under it, with no number."""
    md = ("# Receiving a loan\n\n## Step 1: Open Receiving Items\n\nGo to the page.\n\n## Step 2: Scan\n\n"
          "Scan the barcode.\n\n## Step 3: Check the slip\n\n- If the slip is missing:\n  1. Print a new one.\n"
          "  2. Put it in the book.\n")
    titles = [t.title for t in topics_for(readers.read_markdown("s.md", md), "s", "s.md", "/s.md")]
    assert titles == ["Step 1: Open Receiving Items", "Step 2: Scan", "Step 3: Check the slip"]
    loose = ("# Sending a loan\n\n1. Pull the item.\n2. Pack it:\n\n   1. Wrap it in bubble wrap.\n\n"
             "      Use two layers for DVDs.\n\n   2. Put the slip on top.\n\n3. Put the box in the bin.\n")
    (topic,) = topics_for(readers.read_markdown("l.md", loose), "l", "l.md", "/l.md")
    assert [s.text for s in topic.steps][1] == ("Pack it:\n1. Wrap it in bubble wrap.\n   Use two layers for DVDs.\n"
                                                "2. Put the slip on top.")


def test_a_notion_html_toggle_over_numbered_lists_is_a_procedure() -> None:
    html = ("<html><body><article class='page'><h1 class='page-title'>Onboarding</h1><div class='page-body'>"
            "<h2>Adding a partner</h2><ul class='toggle'><li><details open=''><summary>Copy the partner record"
            "</summary><ol class='numbered-list' start='1'><li>Open Partners.</li></ol><ol class='numbered-list' "
            "start='2'><li>Click Copy.</li></ol><ol class='numbered-list' start='3'><li>Save the new record.</li>"
            "</ol></details></li></ul></div></article></body></html>")
    topics = {t.title: t for t in topics_for(readers.read_html("n.html", html), "n", "n.html", "/n.html")}
    assert [s.text for s in topics["Adding a partner"].steps] == ["Open Partners.", "Click Copy.",
                                                                  "Save the new record."]
    assert topics["Adding a partner"].body.startswith("Copy the partner record\n1. Open Partners.")


def test_tab_lines_that_are_lists_or_sentences_are_not_tables() -> None:
    text = ("Receiving a Loan\n\n1.\tOpen Receiving Items.\n2.\tScan the barcode, then check the slip:\n"
            "a.\tIf the slip says RUSH, put it on the hold shelf.\nb.\tIf the slip is missing, print one.\n"
            "3.\tClick Save.\n\nContacts\n\nFor lending, call Jane Smith\tx4521 during the day.\n"
            "After hours leave a message\tthe voicemail is checked at 9 am.\n\nLoan Periods\n\n"
            "\u2022\tBooks\t21 days\n\u2022\tDVDs\t7 days\n")
    page = readers.read_text("t.txt", text)
    assert not [b for b in page.blocks if b.kind == "table"]
    topics = {t.title: t for t in topics_for(page, "t", "t.txt", "/t.txt")}
    assert [s.text.split("\n")[0] for s in topics["Receiving a Loan"].steps] == [
        "Open Receiving Items.", "Scan the barcode, then check the slip:", "Click Save."]
    assert "- If the slip says RUSH" in topics["Receiving a Loan"].body
    assert topics["Contacts"].body.startswith("For lending, call Jane Smith x4521 during the day.")
    assert topics["Loan Periods"].body == "- Books 21 days\n- DVDs 7 days"


def test_a_long_bare_line_is_a_heading_when_the_text_is_not_wrapped() -> None:
    """One paragraph a line (a wiki or word-processor export): a bare line up to 80 characters followed by
    its text is a heading. In a text wrapped at a fixed width such a line may be a sentence cut short."""
    para = "What to do: check the request, then call the lender and ask them to confirm the shipment date. " * 2
    text = (f"Troubleshooting\n\nFirst problem\n{para}\n\n"
            f"Pick list is empty but partners say they sent requests\n{para}\n")
    heads = [b.text for b in readers.read_text("t.txt", text).blocks if b.kind == "heading"]
    assert heads == ["Troubleshooting", "First problem", "Pick list is empty but partners say they sent requests"]
    wrapped = ("Troubleshooting\n\nFirst problem\nWhat to do: check the request, then call the lender.\n\n"
               "The desk keeps a log of every parcel that leaves the building so\nWe can answer lenders later.\n")
    heads = [b.text for b in readers.read_text("t.txt", wrapped).blocks if b.kind == "heading"]
    assert "The desk keeps a log of every parcel that leaves the building so" not in heads
    # lines a long heading is not: a list of bare statements, a date line, a signature
    lines = ("Borrowing requests that arrive after 3pm go into the blue bin\n"
             "Lending requests that arrive before noon go on the grey cart\n"
             "Returned items from partner libraries wait on the top shelf\n")
    other = (f"Workroom\n\n{para}\n\n{lines}\n"
             f"Updated 14 March 2026 by the resource sharing team at Hartwell\n{para}\n\n"
             f"Jane Smith, Resource Sharing Coordinator, Hartwell College\nPlease write to her for anything else.\n")
    heads = [b.text for b in readers.read_text("w.txt", other).blocks if b.kind == "heading"]
    assert heads == ["Workroom"]
    # ... but a list in a heading is a heading, and so is a long one over steps
    legit = (f"Handbook\n\n{para}\n\nSUNY P2P partners Stony Brook, Binghamton, Albany, and Buffalo\n{para}\n\n"
             "Receiving a borrowed book when the courier bag arrives at the desk\n1. Go to Receive Items.\n"
             "2. Scan the barcode.\n")
    heads = [b.text for b in readers.read_text("h.txt", legit).blocks if b.kind == "heading"]
    assert heads == ["Handbook", "SUNY P2P partners Stony Brook, Binghamton, Albany, and Buffalo",
                     "Receiving a borrowed book when the courier bag arrives at the desk"]


def test_a_markdown_checklist_is_a_procedure() -> None:
    page = readers.read_markdown("c.md", "# Adding a partner\n\n## Copy it\n\n- [ ] Open the Community tab.\n"
                                 "- [x] Tick the profile and click Copy.\n- [ ] Save.\n")
    (copy,) = [t for t in topics_for(page, "c", "c.md", "/docs/c.md") if t.title == "Copy it"]
    assert copy.is_procedure
    assert [s.text for s in copy.steps] == ["Open the Community tab.", "Tick the profile and click Copy.", "Save."]


def test_the_raw_seed_becomes_sections_with_heading_paths_procedures_and_faqs() -> None:
    seed = shared_file("seed", "000_2bf0e7b1c971e324.txt")
    page = readers.read_text(str(seed), seed.read_text(encoding="utf-8"))
    topics = topics_for(page, "seed", seed.name, str(seed))
    by_title = {t.title: t for t in topics}
    receive = by_title["Part I: Incoming Books"]
    assert receive.kind == "procedure" and len(receive.steps) == 7
    assert receive.heading_path().endswith("How to Process Borrowed Peer to Peer (P2P) Items › Part I: Incoming Books")
    assert "Receiving Items" in receive.steps[1].text
    tou = next(t for t in topics if t.title.startswith("Loan, Borrowing, Resource Sharing"))
    assert len(tou.steps) == 10
    assert sum(t.kind == "faq" for t in topics) >= 8
    assert statistics.median(len(t.body) for t in topics) < 1000
    assert max(len(t.body) for t in topics if t.kind != "procedure") <= 1500  # long prose is cut into passages


# -- the index, the CLI and answers --------------------------------------------------------------------
def test_seed_alone_indexes_and_answers_from_the_right_section(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    seed = shared_file("seed", "000_2bf0e7b1c971e324.txt")
    folder = tmp_path / "wiki"
    folder.mkdir()
    shutil.copy(seed, folder / seed.name)
    docs_env(monkeypatch, tmp_path, str(folder))
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    assert code == 0
    rep = json.loads(out)
    assert set(rep) == {"sources", "added", "changed", "removed"}
    assert rep["added"] == 1 and rep["sources"][0]["status"] == "ok"
    assert set(rep["sources"][0]) == {"source", "sections", "procedures", "faqs", "status"}
    assert rep["sources"][0]["procedures"] >= 15 and rep["sources"][0]["faqs"] >= 8

    got = ask(capsys, "how do I receive a P2P book that arrived from a partner")
    best = got["results"][0]
    assert got["answered"] and best["id"].endswith("#part-i-incoming-books")
    assert "Receiving Items" in best["answer"] and "Temporary barcode" in best["answer"]
    assert best["source"] == f"{seed.name}#part-i-incoming-books"
    assert len(best["answer"]) < 1500

    got = ask(capsys, "what should rs_auto_request_lending be set to")
    assert got["results"][0]["id"].endswith("#other-resource-sharing-settings")
    assert "rs_auto_request_lending" in got["results"][0]["answer"]
    assert not ask(capsys, "how do I book a study room for my group")["answered"]


def test_pages_in_three_formats_answer_with_their_section_and_citation(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs_env(monkeypatch, tmp_path, str(DOCS))
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    assert code == 0 and json.loads(out)["added"] == 3
    cases = [
        ("how do I pack a book for the courier", "lending-shipping#pack", "lending/shipping.html#pack",
         "padded mailer"),
        ("the lender's band is missing from the book", "borrowing-receiving#what-if-the-lender-s-band-is-missing",
         "borrowing/receiving.md#what-if-the-lender-s-band-is-missing", "Borrowing Requests task list"),
        ("how many borrowing requests can a patron have open", "policies#request-limits",
         "policies.txt#request-limits", "ten"),
        ("receiving a set with several volumes", "borrowing-receiving#receiving-a-multi-volume-set",
         "borrowing/receiving.md#receiving-a-multi-volume-set", "Add volume"),
    ]
    for question, wanted, source, fact in cases:
        got = ask(capsys, question)
        assert got["answered"], question
        best = got["results"][0]
        assert (best["id"], best["source"]) == (wanted, source), question
        assert fact in best["answer"]
    assert "Wiki pages" not in json.dumps(ask(capsys, "what are the wiki pages"))
    assert not ask(capsys, "what is the wifi password for guests")["answered"]


def test_an_index_survives_a_new_process_without_rereading_pages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "docs"
    shutil.copytree(DOCS, folder)
    docs_env(monkeypatch, tmp_path, str(folder))
    assert run_cli(capsys, "docs", "index")[0] == 0
    shutil.rmtree(folder / "lending")  # a new process must answer from the store, not from the pages
    env = {**__import__("os").environ, "P2PBOT_CACHE_DIR": str(tmp_path / "other-cache")}
    proc = subprocess.run([sys.executable, "-m", "bot", "ask", "--json", "how do I pack a book for the courier"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=True)
    assert json.loads(proc.stdout)["results"][0]["id"] == "lending-shipping#pack"


def test_a_process_indexes_at_start_when_the_index_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    docs_env(monkeypatch, tmp_path, str(DOCS))
    got = ask(capsys, "how long can a partner keep our book")
    assert got["results"][0]["id"] == "lending-shipping#overdue"
    code, out, _ = run_cli(capsys, "docs", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and {p["slug"] for p in listed["pages"]} == {"borrowing-receiving", "lending-shipping", "policies"}
    assert listed["sources"][0]["status"] == "ok"


def test_adding_changing_and_deleting_pages_is_reflected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "docs"
    shutil.copytree(DOCS, folder)
    docs_env(monkeypatch, tmp_path, str(folder))
    assert run_cli(capsys, "docs", "index")[0] == 0
    unchanged = json.loads(run_cli(capsys, "docs", "index", "--json")[1])
    assert (unchanged["added"], unchanged["changed"], unchanged["removed"]) == (0, 0, 0)

    (folder / "parking.md").write_text("# Staff parking\n\n## Evening permits\n\nEvening staff park in lot C "
                                       "with the orange permit from the security office.\n")
    policies = folder / "policies.txt"
    policies.write_text(policies.read_text().replace("at most ten borrowing requests", "at most twelve borrowing requests"))
    (folder / "lending" / "shipping.html").unlink()
    rep = json.loads(run_cli(capsys, "docs", "index", "--json")[1])
    assert (rep["added"], rep["changed"], rep["removed"]) == (1, 1, 1)

    got = ask(capsys, "where do evening staff park")
    assert got["results"][0]["id"] == "parking#evening-permits" and "lot C" in got["results"][0]["answer"]
    limit = ask(capsys, "how many borrowing requests can a patron have open")["results"][0]
    assert limit["id"] == "policies#request-limits" and "twelve" in limit["answer"]  # same id, new text
    assert all(not r["id"].startswith("lending-shipping#")
               for r in ask(capsys, "how do I pack a book for the courier")["results"])


def test_an_unreadable_source_is_reported_and_keeps_its_sections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder, other = tmp_path / "docs", tmp_path / "more"
    shutil.copytree(DOCS, folder)
    other.mkdir()
    (other / "hours.md").write_text("# Desk hours\n\n## Weekend hours\n\nThe borrowing desk opens at noon on Saturdays.\n")
    docs_env(monkeypatch, tmp_path, f"{folder} {other}")
    assert run_cli(capsys, "docs", "index")[0] == 0

    (folder / "policies.txt").write_bytes(b"\x81\x8d\x90\x00 not text at all")  # a page that became binary
    shutil.rmtree(other)  # a whole source gone (unmounted share)
    code, out, err = run_cli(capsys, "docs", "index", "--json")
    assert code == 1
    states = {s["source"]: s for s in json.loads(out)["sources"]}
    assert states[str(folder)]["status"] == "failed" and "policies.txt is not text" in states[str(folder)]["detail"]
    assert states[str(other)]["status"] == "failed" and "does not exist" in states[str(other)]["detail"]
    assert f"could not read {other}" in err
    # the last good sections of both are still answered
    assert ask(capsys, "how many borrowing requests can a patron have open")["results"][0]["id"] == "policies#request-limits"
    assert ask(capsys, "when does the borrowing desk open on saturday")["results"][0]["id"] == "hours#weekend-hours"


def test_a_sub_folder_that_cannot_be_opened_is_reported_and_keeps_its_pages(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review V10: a sub-folder whose permissions changed was passed over in silence, so its pages looked
    deleted (removed 1, status ok, exit 0). The permission error is made at os.scandir: the suite may run as
    root, whom chmod does not stop."""
    folder = tmp_path / "docs"
    (folder / "policies").mkdir(parents=True)
    (folder / "desk.md").write_text("# Desk\n\n## Courier days\n\nThe courier comes on Tuesday.\n")
    (folder / "policies" / "limits.md").write_text("# Limits\n\n## Request limits\n\nAt most ten open requests.\n")
    docs_env(monkeypatch, tmp_path, str(folder))
    assert json.loads(run_cli(capsys, "docs", "index", "--json")[1])["added"] == 2
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if str(path).endswith(os.sep + "policies"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    (folder / "desk.md").write_text("# Desk\n\n## Courier days\n\nThe courier comes on Thursday.\n")
    code, out, err = run_cli(capsys, "docs", "index", "--json")
    rep = json.loads(out)
    assert code == 1 and rep["removed"] == 0 and rep["changed"] == 1  # the readable page still lands
    assert rep["sources"][0]["status"] == "failed"
    assert "policies cannot be opened (Permission denied)" in rep["sources"][0]["detail"]
    assert "policies" in err
    assert ask(capsys, "how many open requests can a patron have")["results"][0]["id"] == "policies-limits#request-limits"
    assert "Thursday" in ask(capsys, "which day does the courier come")["results"][0]["answer"]


def test_a_folder_listed_but_not_entered_odd_links_and_odd_names_are_named_and_never_hang(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review R17: a sub-folder that can be listed but not entered (r--) stopped the whole run with a
    traceback; a link named like a page to a pipe hung it (to /dev/zero it read without end); a link that loops
    was called missing; a file name that is not UTF-8 stopped the run."""
    folder = tmp_path / "docs"
    (folder / "noexec").mkdir(parents=True)
    (folder / "desk.md").write_text("# Desk\n\n## Courier days\n\nThe courier comes on Tuesday.\n")
    (folder / "noexec" / "limits.md").write_text("# Limits\n\n## Request limits\n\nAt most ten open requests.\n")
    docs_env(monkeypatch, tmp_path, str(folder))
    assert run_cli(capsys, "docs", "index")[0] == 0
    os.mkfifo(tmp_path / "fifo")
    (folder / "pipe.md").symlink_to(tmp_path / "fifo")
    (folder / "zero.md").symlink_to("/dev/zero")
    (folder / "loop.md").symlink_to(folder / "loop.md")
    os.close(os.open(os.fsencode(folder) + b"/Pr\xeat.md", os.O_CREAT | os.O_WRONLY))
    real_stat = Path.stat

    def stat(self: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        if self.parent.name == "noexec":  # as for a folder without its x bit (the suite may run as root)
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(Path, "stat", stat)
    done: list[tuple[int, str, str]] = []
    worker = threading.Thread(target=lambda: done.append(run_cli(capsys, "docs", "index", "--json")), daemon=True)
    worker.start()
    worker.join(60)
    assert done, "docs index hung on a link to a pipe or a device"
    code, out, _ = done[0]
    rep = json.loads(out)
    detail = rep["sources"][0]["detail"]
    assert code == 1 and rep["removed"] == 0
    assert "noexec cannot be opened (Permission denied)" in detail
    assert "loop.md is a link that leads back to itself" in detail
    assert "t.md has a name that is not UTF-8; rename it" in detail
    monkeypatch.setattr(Path, "stat", real_stat)
    assert ask(capsys, "how many open requests can a patron have")["results"][0]["id"] == "noexec-limits#request-limits"


def test_a_link_to_a_page_that_moved_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "desk.md").write_text("# Desk\n\n## Courier days\n\nThe courier comes on Tuesday.\n")
    (folder / "moved-page.md").symlink_to(tmp_path / "gone.md")
    docs_env(monkeypatch, tmp_path, str(folder))
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    detail = json.loads(out)["sources"][0]["detail"]
    assert code == 1 and f"moved-page.md is a link to {tmp_path / 'gone.md'}, which does not exist" in detail
    assert ask(capsys, "which day does the courier come")["results"][0]["id"] == "desk#courier-days"


def test_a_failed_source_that_is_no_longer_configured_leaves_the_listing(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder, missing = tmp_path / "docs", tmp_path / "nope.md"
    shutil.copytree(DOCS, folder)
    docs_env(monkeypatch, tmp_path, f"{folder} {missing}")
    assert run_cli(capsys, "docs", "index")[0] == 1  # nope.md does not exist
    docs_env(monkeypatch, tmp_path, str(folder))  # the person takes it out of P2PBOT_DOCS
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    assert code == 0 and [s["source"] for s in json.loads(out)["sources"]] == [str(folder)]
    assert str(missing) not in run_cli(capsys, "docs", "list")[1]


def test_walk_goes_through_a_procedure_from_indexed_documentation(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    from bot.frontends.chat import run_chat

    docs_env(monkeypatch, tmp_path, str(DOCS))
    out = io.StringIO()
    run_chat(Services(settings_mod.load()), io.StringIO(), out,
             lines=["walk borrowing-receiving#receiving-a-single-volume-item", "next", "next", "back", "quit"])
    text = out.getvalue()
    assert "Step 1 of 6" in text and "Receiving Items" in text
    assert "› Receiving a single-volume item ==" in text  # the heading above says which page's steps these are
    assert "Step 3 of 6" in text and "Check that the title on screen matches" in text
    after_back = text.split("Step 3 of 6")[-1]
    assert "Step 2 of 6" in after_back and "request number printed on the lender's band" in after_back


def _chat(lines: list[str]) -> str:
    from bot.frontends.chat import run_chat

    out = io.StringIO()
    run_chat(Services(settings_mod.load()), io.StringIO(), out, lines=[*lines, "quit"])
    return out.getvalue()


_COURIER = "# Courier\n\n## Packing a tote\n\n1. Use a blue tote.\n2. Slip out.\n3. Zip-tie it.\n"
_RECEIVE = ("# Receiving\n\n## Receiving a book\n\n1. Open Receiving Items.\n2. Scan the External Identifier.\n"
            "3. Scan the temporary barcode.\n4. Print the receive slip.\n")
# the same procedure with a step put in before the third
_RECEIVE_5 = (_RECEIVE.replace("2. Scan", "2. Check the slip.\n3. Scan").replace("3. Scan the temp", "4. Scan the temp")
              .replace("4. Print", "5. Print"))


def _pages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
           **pages: str) -> Path:
    """A folder of markdown pages (name=text), indexed as P2PBOT_DOCS alone."""
    folder = tmp_path / "pages"
    folder.mkdir(exist_ok=True)
    for name, text in pages.items():
        (folder / f"{name}.md").write_text(text)
    docs_env(monkeypatch, tmp_path, str(folder))
    assert run_cli(capsys, "docs", "index")[0] == 0
    return folder


@pytest.mark.parametrize("change", ["page removed", "steps become prose"])
def test_a_walkthrough_whose_procedure_left_the_documentation_is_closed_with_a_sentence(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str) -> None:
    """Review V10: a walkthrough open on a page that was then removed raised on walk/next/stop/done (the person
    could not even stop it), and one whose steps became prose said "all 0 steps. Nice work." """
    folder = _pages(monkeypatch, tmp_path, capsys, courier=_COURIER, receive=_RECEIVE)
    assert "Step 2 of 3" in _chat(["walk courier#packing-a-tote", "next"])
    if change == "page removed":
        (folder / "courier.md").unlink()
    else:
        (folder / "courier.md").write_text(_COURIER.replace("1. ", "First ").replace("2. ", "then ")
                                           .replace("3. ", "and "))
    assert run_cli(capsys, "docs", "index")[0] == 0
    said = _chat(["next"])
    assert "Traceback" not in said and "0 steps" not in said
    assert "“Courier › Packing a tote”, is no longer in the documentation" in said and "walkthrough is closed" in said
    after = _chat(["next", "walk", "done"])  # closed once: from now on nothing is open
    assert "No walkthrough is open" in after and "Which procedure?" in after and "no longer" not in after
    assert "Step 1 of 4" in _chat(["walk receive#receiving-a-book"])  # another one starts as usual


def test_a_gone_procedure_on_slack_buttons_and_the_home_tab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The same walkthrough seen from Slack: an old Next button answers with the sentence, and the App Home tab
    draws (no open walkthrough) instead of raising."""
    from bot.frontends.slack.home import facts
    from commands import buttons
    from commands.context import Context
    from commands.replies import TextReply

    folder = _pages(monkeypatch, tmp_path, capsys, courier=_COURIER)
    services = Services(settings_mod.load())
    walk = services.walkthroughs.start("U9", services.engine.by_id["courier#packing-a-tote"])
    (folder / "courier.md").write_text("# Courier\n\n## Totes\n\nBlue ones.\n")
    assert run_cli(capsys, "docs", "index")[0] == 0
    services = Services(settings_mod.load())  # a process started after the re-index
    assert facts(services, "U9").walk is None  # the tab draws; it only looks, so the news is not lost there
    reply = buttons.move_walk(Context(services=services, user_id="U9", surface="slack"), walk.token, "next")
    assert isinstance(reply, TextReply) and "“Courier › Packing a tote”, is no longer in the documentation" in reply.text
    again = buttons.move_walk(Context(services=services, user_id="U9", surface="slack"), walk.token, "next")
    assert isinstance(again, TextReply) and "“Courier › Packing a tote” is no longer in the documentation" in again.text


def test_a_process_that_has_not_caught_up_never_closes_or_restarts_a_walkthrough(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review R17: each process checked walkthroughs against its own copy of the documentation and wrote the
    verdict, so a replica that had not re-read the index yet closed a walkthrough on a page just added, or
    turned a changed one back and forth between its old and new steps."""
    folder = _pages(monkeypatch, tmp_path, capsys, receive=_RECEIVE)
    late = Services(settings_mod.load())  # a replica: loads the documentation as it is now, then falls behind
    assert "receive#receiving-a-book" in late.engine.by_id
    (folder / "courier.md").write_text(_COURIER)  # a page added, and the receiving steps changed
    (folder / "receive.md").write_text(_RECEIVE_5)
    assert run_cli(capsys, "docs", "index")[0] == 0
    now = Services(settings_mod.load())
    walk = now.walkthroughs.start("U1", now.engine.by_id["courier#packing-a-tote"])
    other = now.walkthroughs.start("U2", now.engine.by_id["receive#receiving-a-book"])
    assert "courier#packing-a-tote" not in late.engine.by_id  # (it has not looked again yet)
    seen = late.walkthroughs.active_for("U1")
    assert seen is not None and seen.id == walk.id and seen.total == 3 and not seen.note
    seen = late.walkthroughs.active_for("U2")
    assert seen is not None and seen.id == other.id and seen.total == 5 and not seen.note and seen.version == 0


def test_an_id_that_now_names_another_procedure_closes_the_walkthrough(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review V11: a second "Steps" put in above the person's took its id (the first of a name keeps the bare
    slug), and 'walk' resumed the other procedure as if it had only changed."""
    lending = "# Desk\n\n## Lending\n\n### Steps\n\n1. Pull the book.\n2. Print the slip.\n3. Ship it.\n"
    folder = _pages(monkeypatch, tmp_path, capsys, desk=lending)
    assert "Step 2 of 3" in _chat(["walk desk#steps", "next"])
    (folder / "desk.md").write_text(lending.replace("## Lending", "## Emergency\n\n### Steps\n\n1. Call Campus "
                                                    "Safety.\n2. Leave.\n3. Wait outside.\n\n## Lending"))
    assert run_cli(capsys, "docs", "index")[0] == 0
    said = _chat(["walk"])
    assert "“Lending › Steps”, is no longer in the documentation" in said and "Campus Safety" not in said


def test_nice_work_only_at_the_end_and_no_kept_sections_claimed_for_a_source_never_read(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review V11: "finished at step 2 of 3. Nice work."; and "its last good sections are kept" for a source
    that never had any."""
    _pages(monkeypatch, tmp_path, capsys, courier=_COURIER)
    early = _chat(["walk courier#packing-a-tote", "next", "done"])
    assert "finished at step 2 of 3." in early and "Nice work" not in early
    assert "all 3 steps. Nice work." in _chat(["walk courier#packing-a-tote", "next", "next", "next"])
    docs_env(monkeypatch, tmp_path, f"{tmp_path / 'pages'} {tmp_path / 'never'}")
    code, _, err = run_cli(capsys, "docs", "index")
    assert code == 1 and "never does not exist" in err and "last good sections" not in err


def test_a_walkthrough_stored_with_its_bare_heading_is_not_taken_for_another(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review R18: rows that kept only the heading ("Steps") were closed as gone once the place was compared."""
    from sqlalchemy import update

    from bot.edges.store import walkthroughs

    lending = "# Desk\n\n## Lending\n\n### Steps\n\n1. Pull the book.\n2. Print the slip.\n3. Ship it.\n"
    _pages(monkeypatch, tmp_path, capsys, desk=lending)
    walks = Services(settings_mod.load()).walkthroughs
    walk = walks.start("U1", walks.topics["desk#steps"])
    with walks.store.begin() as conn:
        conn.execute(update(walkthroughs).values(title="Steps"))
    again = walks.active_for("U1")
    assert again is not None and again.id == walk.id and not again.note


def test_done_and_stop_end_a_changed_walkthrough_and_only_its_owner_moves_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review R17: Stop on a procedure that had changed restarted it instead; another person's click restarted
    or closed someone's walkthrough before being told it was not theirs."""
    from bot.core.walkthrough import WalkError

    folder = _pages(monkeypatch, tmp_path, capsys, receive=_RECEIVE)
    walks = Services(settings_mod.load()).walkthroughs
    mine = walks.move(walks.start("U1", walks.topics["receive#receiving-a-book"]).token, "next", "U1")
    (folder / "receive.md").write_text(_RECEIVE_5)
    assert run_cli(capsys, "docs", "index")[0] == 0
    walks = Services(settings_mod.load()).walkthroughs
    with pytest.raises(WalkError, match="belongs to someone else"):
        walks.move(mine.token, "next", "U2")
    assert walks.get(mine.id, settle=False).version == mine.version  # untouched by the stranger
    stopped = walks.move(mine.token, "stop", "U1")
    assert stopped.moved and stopped.status == "stopped" and not stopped.note


def test_a_walkthrough_from_before_schema_5_keeps_its_steps_digest_from_then_on(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review R17: rows written before the digest existed never got one, so a later change that kept the number
    of steps went unnoticed for them."""
    from sqlalchemy import select, update

    from bot.edges.store import walkthroughs

    folder = _pages(monkeypatch, tmp_path, capsys, receive=_RECEIVE)
    walks = Services(settings_mod.load()).walkthroughs
    walk = walks.start("U1", walks.topics["receive#receiving-a-book"])
    with walks.store.begin() as conn:  # as the upgrade leaves it
        conn.execute(update(walkthroughs).values(fingerprint="", title=""))
    assert walks.active_for("U1") is not None
    with walks.store.engine.connect() as conn:
        kept = conn.execute(select(walkthroughs.c.fingerprint, walkthroughs.c.title)).one()
    assert len(kept.fingerprint) == 64 and kept.title == "Receiving › Receiving a book"
    (folder / "receive.md").write_text(_RECEIVE.replace("Print the receive slip", "Print the slip and band it"))
    assert run_cli(capsys, "docs", "index")[0] == 0
    changed = Services(settings_mod.load()).walkthroughs.active_for("U1")
    assert changed is not None and changed.id == walk.id and "changed since you started it" in changed.note


@pytest.mark.parametrize("typed", ["walk", "next"])
def test_a_walkthrough_whose_steps_changed_starts_again_and_says_why(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], typed: str) -> None:
    """Review V10: a step inserted before the person's step made 'resume' land on a step they had done; review
    R17: 'next' then moved on from the new step 1 without a word."""
    folder = _pages(monkeypatch, tmp_path, capsys, receive=_RECEIVE)
    assert "Step 3 of 4" in _chat(["walk receive#receiving-a-book", "next", "next"])
    (folder / "receive.md").write_text(_RECEIVE_5)
    assert run_cli(capsys, "docs", "index")[0] == 0
    said = _chat([typed])
    assert "Step 1 of 5" in said and "This procedure changed since you started it" in said
    assert "Resuming where you left off" not in said and "Step 2 of 5" not in said
    again = _chat(["next", "walk"])  # told once; then it carries on from where the person is
    assert "Step 2 of 5" in again and "Check the slip" in again and again.count("changed since") == 0
    assert "Resuming where you left off" in again


def test_a_database_made_again_from_scratch_never_gets_the_old_cached_answers(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The cached answer index is keyed by the index's generation: a new database at the same address (its
    count starting over) must not find the old database's cached index."""
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "desk.md").write_text("# Desk\n\n## Courier days\n\nThe courier comes on Tuesday.\n")
    docs_env(monkeypatch, tmp_path, str(folder))
    assert run_cli(capsys, "docs", "index")[0] == 0
    assert ask(capsys, "which day does the courier come")["results"][0]["id"] == "desk#courier-days"
    (tmp_path / "bot.sqlite3").unlink()
    (folder / "desk.md").write_text("# Desk\n\n## Printer\n\nThe slip printer is WHIT-CIRC-01.\n")
    docs_env(monkeypatch, tmp_path, str(folder))  # a fresh, migrated database at the same path
    assert run_cli(capsys, "docs", "index")[0] == 0
    assert [r["id"] for r in ask(capsys, "which printer prints the slips")["results"]] == ["desk#printer"]


def test_a_walk_on_a_section_at_the_top_of_a_page_names_the_page() -> None:
    from bot.core.docs import readers as r

    html = ("<html><head><title>Interlibrary Loan - Staff Wiki</title></head><body><main><h2>Requesting a book</h2>"
            "<ol><li>Open the form.</li><li>Fill in the title.</li></ol></main></body></html>")
    topics = topics_for(r.read_html("ill.html", html), "ill", "ill.html", "/ill.html")
    assert [t.place_title for t in topics if t.is_procedure] == ["Interlibrary Loan › Requesting a book"]


def test_a_text_manual_with_numbered_chapters_and_numbered_steps_inside_them() -> None:
    """Review V11: "1. OPENING … 1. Unlock the door. 2. Switch on …" broke the chapters' count, so a chapter
    became a step of the one before and the chapters nested under each other."""
    from bot.core.docs import readers as r

    text = ("DESK MANUAL\n\n1. OPENING\n\nDo these in order.\n1. Unlock the door.\n2. Switch on the receipt "
            "printer.\n\n2. RECEIVING\n\n2.1 Unpacking\nOpen each package at the counter.\n\n3. SHIPPING\n\n"
            "3.1 Packing\nUse a size 6 envelope.\n")
    topics = {t.id: t for t in topics_for(r.read_text("/x/manual.txt", text), "m", "manual.txt", "/x/manual.txt")}
    assert [s.text for s in topics["m#1-opening"].steps] == ["Unlock the door.", "Switch on the receipt printer."]
    assert topics["m#2-1-unpacking"].trail == ("DESK MANUAL", "2. RECEIVING")
    assert topics["m#3-1-packing"].trail == ("DESK MANUAL", "3. SHIPPING")


def test_review_r18_symptom_headings_mixed_case_chapters_and_notes_after_the_last_step() -> None:
    """Review R18: a symptom heading over "Cause" became a paragraph of the problem before it; "3. Closing" went
    on the steps of "2. Receiving" when chapters are not in capitals; a note after the last step that only
    uses "following" in passing was glued to that step."""
    from bot.core.docs import readers as r

    trouble = ("Troubleshooting\nThe receive slip does not print\nCause\nNo default printer.\n"
               "The hold slip will not print when the item is received\nCause\nQuick Printing is off.\n")
    titles = [t.title for t in topics_for(r.read_text("/x/t.txt", trouble), "t", "t.txt", "/x/t.txt")]
    assert titles.count("Cause") == 2
    manual = ("Desk manual\n\n1. Opening\n\n1. Unlock the door.\n2. Switch on the printer.\n\n2. Receiving\n\n"
              "1. Scan the slip.\n2. Print the label.\n\n3. Closing\n\nLock the door and set the alarm.\n")
    ids = {t.id: t for t in topics_for(r.read_text("/x/m.txt", manual), "m", "m.txt", "/x/m.txt")}
    assert "m#3-closing" in ids and len(ids["m#2-receiving"].steps) == 2
    md = ("# Desk\n\n## Closing\n\n1. Lock the door.\n2. Set the alarm; the following morning it is unset.\n\n"
          "- Keys are in the office safe.\n")
    closing = next(t for t in topics_for(r.read_markdown("/x/d.md", md), "d", "d.md", "/x/d.md") if t.is_procedure)
    assert "Keys" not in closing.steps[-1].text


def test_a_confluence_info_box_title_is_not_the_page_title() -> None:
    """Review V11: an info macro's "title" paragraph ("Before you start") became the page's title and the
    top of every breadcrumb."""
    from bot.core.docs import readers as r

    html = ("<html><head><title>P2P Troubleshooting - Interlibrary Services - Wiki</title></head><body>"
            "<div id='main'><h1 id='title-text'>P2P Troubleshooting</h1><div id='main-content' class='wiki-content'>"
            "<div class='confluence-information-macro confluence-information-macro-information'><p class='title'>"
            "Before you start</p><div class='confluence-information-macro-body'><p>Ask the evening supervisor.</p>"
            "</div></div><h2>Item arrived with no paperwork</h2><p>Search by title.</p></div></div></body></html>")
    page = r.read_html("/x/t.html", html)
    assert page.title == "P2P Troubleshooting"
    assert all(t.trail[:1] != ("Before you start",) for t in topics_for(page, "t", "t.html", "/x/t.html"))


def test_plain_text_keeps_the_list_under_a_last_step_and_a_sentence_without_its_full_stop() -> None:
    """Review V11: in plain text, the boxes listed under a procedure's last step ("check the boxes listed
    below") were cut off the step, so the walkthrough lost them; and a section's last sentence without its
    full stop right before a heading was taken as a heading, so the fact in it answered nothing."""
    from bot.core.docs import readers as r

    text = ("Desk manual\nWorkflow profiles\nThey decide how requests behave.\n"
            "1. Go to Configuration | Fulfillment | Resource Sharing | Workflow Profiles.\n"
            "2. Add \u201cP2P Borrowing\u201d, check the boxes listed below, then Add and Close.\n"
            "\u00b7 Automatic renew, Conditional, Will supply\n"
            "3. Add \u201cP2P Lending\u201d, check the boxes listed below, then Add and Close.\n"
            "\u00b7 Borrower recall, Cancel reply, Staff renewal\n"
            "Background\nThe profiles stay in the Network Zone because they share an ISO symbol.\n"
            "More information on this issue can be found in Salesforce case #07877638\n"
            "Adding partners from the directory\nDownloading a partner\nFollow the steps below.\n")
    topics = {t.title: t for t in topics_for(r.read_text("/x/m.txt", text), "m", "m.txt", "/x/m.txt")}
    steps = topics["Workflow profiles"].steps
    assert len(steps) == 3 and "Borrower recall, Cancel reply, Staff renewal" in steps[2].text
    assert "Automatic renew" in steps[1].text and "Borrower recall" not in steps[1].text
    assert "Salesforce case #07877638" in topics["Background"].body
    assert "Adding partners" not in topics["Background"].body and "Downloading a partner" in topics


def test_a_heading_without_an_id_is_linked_by_its_words() -> None:
    """Review V10: a heading with no id of its own (and no element with an id around it) was linked to a made-up
    slug, so the link opened the top of the page; a text fragment makes the browser scroll to the heading."""
    from bot.core.docs import readers as r

    html = ("<html><body><h1>TLG Courier Service</h1><p>The TLG courier comes twice a week.</p>"
            "<dl><dt>Can we send DVDs, CDs &amp; maps?</dt><dd>Not by courier.</dd></dl>"
            "<h2 id='packing'>Packing</h2><p>Thirty pounds at most, per tote.</p></body></html>")
    page = r.read_html("https://wiki.example.edu/courier.html", html)
    links = {t.title: t.link for t in topics_for(page, "courier", "courier.html", "https://wiki.example.edu/courier.html")}
    assert links["TLG Courier Service"] == "https://wiki.example.edu/courier.html#:~:text=TLG%20Courier%20Service"
    assert links["Packing"] == "https://wiki.example.edu/courier.html#packing"  # its own id
    assert links["Can we send DVDs, CDs & maps?"] == \
        "https://wiki.example.edu/courier.html#:~:text=Can%20we%20send%20DVDs%2C%20CDs%20%26%20maps%3F"
    # the same heading twice ("Steps" under each procedure): each is found by its own first words
    twice = ("<html><body><h2 id='recv'>Receiving</h2><h3>Steps</h3><ol><li>Open Receiving Items.</li></ol>"
             "<h2 id='ret'>Returning</h2><h3>Steps</h3><ol><li>Open Return Items.</li></ol></body></html>")
    steps = [t.link for t in topics_for(r.read_html("https://w.example.edu/p.html", twice), "p", "p.html",
                                        "https://w.example.edu/p.html") if t.title == "Steps"]
    assert len(steps) == 2 and steps[0] != steps[1]
    assert steps == ["https://w.example.edu/p.html#:~:text=Open%20Receiving%20Items.",
                     "https://w.example.edu/p.html#:~:text=Open%20Return%20Items."]
    assert r.text_fragment("word " * 100).count("word") == 40  # whole words, at most 200 characters
    # a Word file turned into HTML has no anchors at all: its citation names the heading instead
    word = {t.title: t.link for t in topics_for(page, "courier", "courier.docx", "/x/courier.docx", fragments=False)}
    assert word["Can we send DVDs, CDs & maps?"].endswith("#can-we-send-dvds-cds-maps")


def test_pages_read_by_older_readers_are_read_again_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Review R17: an unchanged page is never parsed again, so what new readers make of it (a link by a
    heading's words) reached only pages edited after the upgrade."""
    from bot.core.docs.indexer import READERS_KEY, READERS_VERSION

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "courier.html").write_text("<html><body><h2>Courier days</h2><p>The courier comes on Tuesday.</p>"
                                         "</body></html>")
    (folder / "desk.md").write_text("# Desk\n\n## Printer\n\nThe slip printer is WHIT-CIRC-01.\n")
    docs_env(monkeypatch, tmp_path, str(folder))
    assert run_cli(capsys, "docs", "index")[0] == 0
    store = Store(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    assert store.cache_get(READERS_KEY)[0] == READERS_VERSION  # type: ignore[index]
    store.cache_put(READERS_KEY, READERS_VERSION - 1)  # as a database indexed by the older readers is
    rep = json.loads(run_cli(capsys, "docs", "index", "--json")[1])
    assert (rep["added"], rep["changed"], rep["removed"]) == (0, 2, 0)
    rep = json.loads(run_cli(capsys, "docs", "index", "--json")[1])
    assert (rep["added"], rep["changed"], rep["removed"]) == (0, 0, 0)  # once
    # review V11: while another source could not be read, every run read every page again
    store.cache_put(READERS_KEY, READERS_VERSION - 1)
    docs_env(monkeypatch, tmp_path, f"{folder} {tmp_path / 'missing'}")
    reports = [json.loads(run_cli(capsys, "docs", "index", "--json")[1]) for _ in range(2)]
    assert [r["changed"] for r in reports] == [2, 0]
    store.close()


def test_walk_alone_suggests_a_procedure_that_exists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bot.frontends.chat import run_chat

    docs_env(monkeypatch, tmp_path, str(DOCS))
    out = io.StringIO()
    run_chat(Services(settings_mod.load()), io.StringIO(), out, lines=["walk", "quit"])
    hint = out.getvalue()
    assert "Which procedure? e.g." in hint and "borrow-return" not in hint  # only the library's pages here
    suggested = hint.split("walk ", 1)[1].split("`", 1)[0]
    assert Services(settings_mod.load()).engine.by_id[suggested].is_procedure


# -- HTTP sources -------------------------------------------------------------------------------------------
class _Site:
    """A small web server on loopback whose pages, statuses and headers the test changes between runs."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str, bytes, dict[str, str]]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append((self.path, dict(self.headers)))
                status, ctype, body, headers = site.pages.get(self.path, (404, "text/html", b"<h1>Not found</h1>", {}))
                if status == 200 and headers.get("ETag") and self.headers.get("If-None-Match") == headers["ETag"]:
                    status, body = 304, b""
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status != 304:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # stop() waits for the loop's next poll: the default half second, per test
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[_Site]:
    s = _Site()
    yield s
    s.stop()


def test_an_html_page_over_http_is_indexed_cited_and_read_again_only_when_changed(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], site: _Site) -> None:
    html = (DOCS / "lending" / "shipping.html").read_bytes()
    site.pages["/wiki/lending"] = (200, "text/html; charset=utf-8", html, {"ETag": '"v1"'})
    url = f"{site.url}/wiki/lending"
    docs_env(monkeypatch, tmp_path, url)
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    assert code == 0 and json.loads(out)["added"] == 1

    best = ask(capsys, "how do I pack a book for the courier")["results"][0]
    assert best["source"] == f"{url}#pack" and "padded mailer" in best["answer"]

    rep = json.loads(run_cli(capsys, "docs", "index", "--json")[1])
    assert (rep["added"], rep["changed"]) == (0, 0)
    assert site.requests[-1][1].get("If-None-Match") == '"v1"'  # a conditional GET, answered 304

    site.pages["/wiki/lending"] = (200, "text/html", html.replace(b"before 3 p.m.", b"before 2 p.m."), {"ETag": '"v2"'})
    rep = json.loads(run_cli(capsys, "docs", "index", "--json")[1])
    assert rep["changed"] == 1
    assert "before 2 p.m." in ask(capsys, "how do I pack a book for the courier")["results"][0]["answer"]


def test_files_in_utf16_or_in_the_charset_their_meta_names_are_read(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Notepad's "Unicode" is UTF-16 with a byte-order mark; a page in ISO-8859-1 says so in its <meta>."""
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "notes.txt").write_bytes("Courier Days\r\nThe courier comes on Tuesday \u2013 never on Friday.\r\n"
                                       .encode("utf-16"))
    (folder / "desk.html").write_bytes(b'<html><head><meta charset="iso-8859-1"></head><body><h1>Caf\xe9 rules</h1>'
                                       b"<p>No food near the caf\xe9 returns bin.</p></body></html>")
    docs_env(monkeypatch, tmp_path, str(folder))
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    assert code == 0 and json.loads(out)["added"] == 2, out
    assert ask(capsys, "which day does the courier come")["results"][0]["answer"] == \
        "The courier comes on Tuesday \u2013 never on Friday."
    assert ask(capsys, "cafe returns bin food")["results"][0]["title"] == "Caf\u00e9 rules"


def test_charset_labels_are_read_as_browsers_read_them() -> None:
    """ISO-8859-1 and ASCII labels mean Windows-1252; a byte-order mark outranks any label; text that is valid
    multi-byte UTF-8 is UTF-8 whatever single-byte charset a label claims."""
    quotes = "Don\u2019t bring food \u2013 it\u2019s \u201cforbidden\u201d"
    assert quotes in readers.decode_page(b'<meta charset="iso-8859-1"><p>' + quotes.encode("cp1252"))
    assert quotes in readers.decode_page(quotes.encode("cp1252"), "us-ascii")
    assert readers.decode_page(b"\xef\xbb\xbf<meta charset=windows-1252><p>" + quotes.encode()).endswith(quotes)
    assert readers.decode_page(b'<meta charset="windows-1252"><p>' + quotes.encode()).endswith(quotes)
    assert readers.decode_page("<p>Caf\u00e9".encode("utf-8"), "iso-8859-1") == "<p>Caf\u00e9"


@pytest.mark.parametrize(("ctype", "body"), [
    # Word's web page served with no charset in the header: its own <meta> says windows-1252
    ("text/html", b'<html><head><meta http-equiv=Content-Type content="text/html; charset=windows-1252"></head>'
                  b"<body><h1>Returns</h1><p>Scan the book\x92s barcode \x96 never the lender\x92s slip.</p></body></html>"),
    # the header's charset is wrong (the page is windows-1252): a guess, not replacement characters
    ("text/html; charset=utf-8", b"<html><body><h1>Returns</h1><p>Scan the book\x92s barcode \x96 never the "
                                 b"lender\x92s slip.</p></body></html>"),
    # UTF-8 with no word about it anywhere
    ("text/html", "<html><body><h1>Returns</h1><p>Scan the book’s barcode – never the lender’s slip.</p></body>"
                  "</html>".encode()),
])
def test_a_served_page_is_decoded_in_its_own_character_set(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], site: _Site,
        ctype: str, body: bytes) -> None:
    site.pages["/returns.htm"] = (200, ctype, body, {})
    docs_env(monkeypatch, tmp_path, f"{site.url}/returns.htm")
    assert run_cli(capsys, "docs", "index")[0] == 0
    answer = ask(capsys, "scan which barcode on returns")["results"][0]["answer"]
    assert answer == "Scan the book\u2019s barcode \u2013 never the lender\u2019s slip."


def test_an_odt_served_as_a_zip_is_read_as_an_odt(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], site: _Site) -> None:
    from tests.test_odt import MANUAL, _odt

    site.pages["/files/manual"] = (200, "application/zip", _odt(MANUAL), {})
    docs_env(monkeypatch, tmp_path, f"{site.url}/files/manual")
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    (src,) = json.loads(out)["sources"]
    assert code == 0 and src["status"] == "ok" and src["procedures"] == 2, src


@pytest.mark.parametrize(("status", "ctype", "headers", "sentence"), [
    (404, "text/html", {}, "was not found (HTTP 404)"),
    (401, "text/html", {}, "asks for a login (HTTP 401)"),
    (302, "text/html", {"Location": "/sso/login?next=/wiki/lending"}, "sends visitors to a login page"),
    (200, "image/png", {}, "is not a web page (it is image/png)"),
])
def test_a_url_that_cannot_be_read_says_why_and_keeps_its_sections(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], site: _Site,
        status: int, ctype: str, headers: dict[str, str], sentence: str) -> None:
    html = (DOCS / "lending" / "shipping.html").read_bytes()
    site.pages["/wiki/lending"] = (200, "text/html", html, {})
    site.pages["/sso/login"] = (200, "text/html", b"<form><input type='password' name='p'></form>", {})
    url = f"{site.url}/wiki/lending"
    docs_env(monkeypatch, tmp_path, url)
    assert run_cli(capsys, "docs", "index")[0] == 0

    site.pages["/wiki/lending"] = (status, ctype, b"\x89PNG" if ctype == "image/png" else b"", headers)
    code, out, err = run_cli(capsys, "docs", "index", "--json")
    assert code == 1
    assert json.loads(out)["sources"][0]["status"] == "failed"
    assert sentence in err and url in err
    assert ask(capsys, "how do I pack a book for the courier")["results"][0]["id"].endswith("#pack")


def test_a_page_not_found_served_as_http_200_keeps_the_sections(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], site: _Site) -> None:
    """Review V10: a wiki that answers a moved page with HTTP 200 and "Page not found" replaced its sections."""
    site.pages["/wiki/lending"] = (200, "text/html", (DOCS / "lending" / "shipping.html").read_bytes(), {})
    url = f"{site.url}/wiki/lending"
    docs_env(monkeypatch, tmp_path, url)
    assert run_cli(capsys, "docs", "index")[0] == 0
    gone = ("<html><head><title>Page not found &ndash; Staff Wiki</title></head><body><nav>Home | Search</nav>"
            "<h1>Oops! That page can’t be found.</h1><p>It looks like nothing was found at this location.</p>"
            "</body></html>").encode()
    site.pages["/wiki/lending"] = (200, "text/html", gone, {})
    code, out, err = run_cli(capsys, "docs", "index", "--json")
    assert code == 1 and json.loads(out)["changed"] == 0
    assert 'shows a "page not found" page (though it answered HTTP 200)' in err
    assert ask(capsys, "how do I pack a book for the courier")["results"][0]["id"].endswith("#pack")


@pytest.mark.parametrize(("html", "gone"), [
    ("<title>404 Not Found</title><h1>Not Found</h1><p>nginx</p>", True),
    ("<title>Harborview | Page Not Found</title><p>Try the search.</p>", True),
    ("<title>Error 404</title>", True),
    ("<title>Receiving - Wiki</title><h1>What if the item is not found on the shelf?</h1><p>Mark it missing.</p>",
     False),
    ("<title>Items not found - Wiki</title><h1>Items not found</h1><p>Search the shelf again.</p>", False),
    # review R17: real short pages that name a 404 or an article, and 404 pages it missed
    ("<title>404 errors when opening a request link</title><h1>404 errors when opening a request link</h1>", False),
    ("<title>Article not found - KB</title><h1>Article not found</h1><p>Ask the desk.</p>", False),
    ("<title>Lost items</title><h1>Not found</h1>" + "<p>A long page about lost items.</p>" * 400, False),
    ("<title>Page Not Found (404)</title>", True),
    ("<title>Error: Page Not Found</title>", True),
    ("<title>Staff wiki</title><h1>The page could not be found.</h1>", True),
    ("<title>Page not found - Staff wiki</title>" + "<li>a menu item</li>" * 3000, True),  # menus do not hide it
    ("<title>Receiving - Staff wiki</title><p>There is currently no text in this page.</p>", True),  # MediaWiki
])
def test_what_counts_as_a_page_not_found(html: str, gone: bool) -> None:
    from bot.core.docs.indexer import soft_404

    assert soft_404(html) is gone


def test_sections_from_the_store_match_what_was_parsed(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    indexer = DocsIndexer(store)
    try:
        assert indexer.run([str(DOCS)]).ok
    finally:
        indexer.close()
    loaded = {t.id: t for t in load_topics(store, [str(DOCS)])}
    page = readers.read_markdown(str(DOCS / "borrowing" / "receiving.md"), (DOCS / "borrowing" / "receiving.md").read_text())
    parsed = {t.id: t for t in topics_for(page, "borrowing-receiving", "borrowing/receiving.md",
                                          str(DOCS / "borrowing" / "receiving.md"))}
    for tid, t in parsed.items():
        assert loaded[tid] == t
    store.close()


def test_the_clock_reindexes_and_status_shows_freshness_and_failed_sources(monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    from datetime import timedelta

    from bot.frontends import clock
    from bot.frontends.text import to_text
    from commands.context import Context
    from commands.status import overview_reply

    folder = tmp_path / "docs"
    shutil.copytree(DOCS, folder)
    docs_env(monkeypatch, tmp_path, str(folder))
    monkeypatch.setenv("P2PBOT_DOCS_REFRESH_MINUTES", "45")
    services = Services(settings_mod.load())
    question = "how long can a partner keep our book"
    best = services.engine.ask(question).best
    assert best is not None and "Six weeks" in best.answer

    sched = clock.build(services)
    assert sched.get_job("docs-index").trigger.interval == timedelta(minutes=45)

    page = folder / "lending" / "shipping.html"
    page.write_text(page.read_text().replace("Six weeks", "Eight weeks"))
    clock.reindex_docs(services)
    best = services.engine.ask(question).best
    assert best is not None and "Eight weeks" in best.answer
    shown = " ".join(to_text(overview_reply(Context(services))).split())  # what the person reads, unwrapped
    assert "Documentation index" in shown and "sections, checked just now" in shown

    shutil.rmtree(folder)
    clock.reindex_docs(services)
    text = " ".join(to_text(overview_reply(Context(services))).split())
    assert "last read failed" in text and "does not exist" in text
    best = services.engine.ask(question).best
    assert best is not None and "Eight weeks" in best.answer  # the last good sections still answer
    services.close()


def test_a_long_running_process_sees_a_reindex_made_by_another(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    import bot.core.services as services_mod

    folder = tmp_path / "docs"
    shutil.copytree(DOCS, folder)
    docs_env(monkeypatch, tmp_path, str(folder))
    monkeypatch.setattr(services_mod, "DOCS_RECHECK_S", 0.0)
    services = Services(settings_mod.load())
    assert services.engine.ask("where do evening staff park").answered is False
    (folder / "parking.md").write_text("# Staff parking\n\n## Evening permits\n\nEvening staff park in lot C.\n")
    assert run_cli(capsys, "docs", "index")[0] == 0  # as another process would
    old = services.engine
    # the old engine answers at once (a Slack request must be acknowledged within 3 s) while the new one is
    # built in the background and then takes its place
    assert old.ask("where do evening staff park").answered is False
    deadline = time.monotonic() + 30
    while services.engine is old and time.monotonic() < deadline:
        time.sleep(0.05)
    best = services.engine.ask("where do evening staff park").best
    assert best is not None and best.topic.id == "parking#evening-permits"
    services.close()


def test_shipped_topics_and_indexed_pages_answer_together_and_slack_links_the_source(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, site: _Site) -> None:
    from bot.frontends.blocks import answer_message
    from bot.frontends.text import answer_text

    html = (DOCS / "lending" / "shipping.html").read_bytes()
    site.pages["/wiki/lending"] = (200, "text/html", html, {})
    url = f"{site.url}/wiki/lending"
    monkeypatch.setenv("P2PBOT_DOCS", f"{url} {DOCS / 'policies.txt'}")
    if not (tmp_path / "bot.sqlite3").exists():
        migrated_copy(tmp_path / "bot.sqlite3")
    monkeypatch.setenv("P2PBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    monkeypatch.setenv("P2PBOT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("P2PBOT_KNOWLEDGE_DIR", raising=False)
    services = Services(settings_mod.load())
    engine = services.engine  # indexes at first use: the documentation was never indexed
    shipped = engine.ask("how do I receive a borrowed item").best
    assert shipped is not None and shipped.topic.id == "borrow-receive"
    res = engine.ask("how do I pack a book for the courier")
    assert res.answered and res.hits[0].topic.id == "wiki-lending#pack"

    blocks = json.dumps(answer_message(res, "how do I pack a book for the courier").blocks)
    assert f"<{url}#pack|" in blocks  # a working link to the section
    assert "Packing a book for the courier" in blocks
    text = answer_text(res)
    assert f"{url}#pack" in text and "Lending: packing and shipping" in text

    local = engine.ask("is there a limit on open borrowing requests per patron")
    assert local.hits[0].topic.id == "policies#request-limits"
    assert "policies.txt › Interlibrary Services Policies › Request Limits" in answer_text(local)
    services.close()


def test_plain_text_wrapped_at_a_fixed_width_keeps_its_paragraphs_and_headings() -> None:
    text = ("Courier Desk Handbook\n\nThis handbook is for the staff who meet the state courier each morning\n"
            "and sort what it brings.\n\nSorting the Morning Delivery\n\nThe courier arrives between 8 and 9. "
            "Sign the manifest only after you\nhave counted the bins.\n\n1. Count the bins and compare the number "
            "with the manifest.\n2. Open each bin and separate our returning books from borrowed books\n"
            "   that patrons are waiting for.\n\nWhat if a bin is missing?\n\nWrite \"short one bin\" on the "
            "manifest and email the\nCourier Office the same day.\n\nHoliday Schedule\n================\n\n"
            "The courier does not run on state holidays.\n")
    page = readers.read_text("desk.txt", text)
    assert [b.text for b in page.blocks if b.kind == "heading"] == [
        "Courier Desk Handbook", "Sorting the Morning Delivery", "What if a bin is missing?", "Holiday Schedule"]
    topics = {t.title: t for t in topics_for(page, "desk", "desk.txt", "/desk.txt")}
    sorting = topics["Sorting the Morning Delivery"]
    assert sorting.steps[1].text == ("Open each bin and separate our returning books from borrowed books "
                                     "that patrons are waiting for.")
    assert topics["What if a bin is missing?"].body.endswith("email the Courier Office the same day.")


def test_html_definition_lists_and_details_are_faq_pairs() -> None:
    html = ("<html><body><main><h1>Desk FAQ</h1><dl><dt id='fines'>Do partners pay fines?</dt>"
            "<dd><p>No, lending partners never pay overdue fines.</p></dd><dt>Who signs the manifest?</dt>"
            "<dd>Whoever counts the bins.</dd></dl></main></body></html>")
    topics = {t.title: t for t in topics_for(readers.read_html("faq.html", html), "faq", "faq.html", "/faq.html")}
    fines = topics["Do partners pay fines?"]
    assert fines.kind == "faq" and fines.id == "faq#fines" and fines.body == "No, lending partners never pay overdue fines."
    assert topics["Who signs the manifest?"].body == "Whoever counts the bins."


def test_two_processes_indexing_at_once_agree(tmp_path: Path) -> None:
    from tests.conftest import in_threads

    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    Store(url).close()  # the schema exists; the pages do not
    errors: list[BaseException] = []
    reports: list[Any] = []

    def index() -> None:
        store = Store(url)
        indexer = DocsIndexer(store)
        try:
            reports.append(indexer.run([str(DOCS)]))
        except BaseException as exc:  # the test reports it below
            errors.append(exc)
        finally:
            indexer.close()
            store.close()

    in_threads(index, 3)
    assert not errors and all(r.ok for r in reports)
    store = Store(url)
    assert len({t.id for t in load_topics(store, [str(DOCS)])}) == 19
    store.close()


def test_an_edit_that_keeps_the_size_and_time_is_still_seen_right_after_an_index(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    page = folder / "hours.md"
    page.write_text("# Desk hours\n\n## Saturday\n\nThe desk opens at noon.\n")
    stamp = page.stat().st_mtime_ns
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    indexer = DocsIndexer(store)
    try:
        assert indexer.run([str(folder)]).added == 1
        page.write_text("# Desk hours\n\n## Saturday\n\nThe desk opens at nine.\n")  # as long as "noon"
        os.utime(page, ns=(stamp, stamp))  # same size, same time: as on a file system with a coarse clock
        assert indexer.run([str(folder)]).changed == 1
    finally:
        indexer.close()
    assert "nine" in load_topics(store, [str(folder)])[0].body
    store.close()


def test_a_wiki_export_without_semantic_tags_loses_its_chrome() -> None:
    html = ("<html><head><title>ILL Receiving - Staff Wiki</title></head><body>"
            "<div id='header'><div class='aui-header'>Staff Wiki <a href='/login'>Log in</a></div></div>"
            "<div id='main'><ol id='breadcrumbs'><li>Home</li><li>Access Services</li></ol>"
            "<div id='main-content' class='wiki-content'><p>How the desk receives interlibrary loans.</p>"
            "<h2 id='ILLReceiving-Checkingin'>Checking in</h2><ol><li><p>Open <strong>Receiving Items</strong>.</p></li>"
            "<li><p>Scan the band.</p></li></ol></div></div><div id='footer'>Powered by the wiki</div></body></html>")
    topics = topics_for(readers.read_html("x.html", html), "ill-receiving", "https://wiki/x", "https://wiki/x")
    text = " ".join(t.body for t in topics)
    for chrome in ("Log in", "Home", "Access Services", "Powered by"):
        assert chrome not in text
    checking = next(t for t in topics if t.title == "Checking in")
    assert [s.text for s in checking.steps] == ["Open Receiving Items.", "Scan the band."]
    assert checking.link == "https://wiki/x#ILLReceiving-Checkingin"


def test_a_failed_engine_refresh_keeps_the_old_engine_answering(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    import bot.core.services as services_mod
    from bot.core.docs import catalog

    folder = tmp_path / "docs"
    shutil.copytree(DOCS, folder)
    docs_env(monkeypatch, tmp_path, str(folder))
    monkeypatch.setattr(services_mod, "DOCS_RECHECK_S", 0.0)
    services = Services(settings_mod.load())
    old = services.engine
    (folder / "parking.md").write_text("# Staff parking\n\nEvening staff park in lot C.\n")
    assert run_cli(capsys, "docs", "index")[0] == 0

    def broken(*_a: object, **_k: object) -> object:
        raise MemoryError("no room for a new engine")

    monkeypatch.setattr(catalog, "load_engine", broken)
    assert services.engine is old  # starts the refresh in the background
    deadline = time.monotonic() + 30
    while services._refreshing and time.monotonic() < deadline:
        time.sleep(0.05)
    assert services._engine is old and not services._refreshing  # (asking .engine again would retry at once here)
    assert "could not build the answer engine" in caplog.text
    services.close()


def test_a_long_index_run_says_how_far_it_got(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from bot.frontends import cli

    docs_env(monkeypatch, tmp_path, str(DOCS))
    monkeypatch.setattr(cli, "PROGRESS_EVERY_S", 0.0)  # every page counts as "a few seconds later"
    code, _, err = run_cli(capsys, "docs", "index")
    assert code == 0
    assert f"p2p-bot: {DOCS}: 1 of 3 pages checked…" in err and f"{DOCS}: 2 of 3 pages checked…" in err
    monkeypatch.setattr(cli, "PROGRESS_EVERY_S", 3600.0)
    assert "pages checked" not in run_cli(capsys, "docs", "index")[2]  # a quick run says nothing


# -- pages as site generators, help desks and mail programs write them (otherdocs6) -----------------------------
def test_invisible_characters_and_screen_reader_labels_are_not_part_of_a_heading() -> None:
    page = readers.read_html("faq.html", """<html><head><title>FAQ - Help</title></head><body><main>
        <h1 id="s-la-faq-title"><span class="sr-only">Question: </span>A returned book did not match. What now?</h1>
        <div class="sr-only">Answer</div>
        <h2 id="before">Before you start<a class="hash-link" href="#before">\u200b</a></h2>
        <p>Check the barcode\u00ad first.</p></main></body></html>""")
    headings = [b.text for b in page.blocks if b.kind == "heading"]
    assert page.title == "A returned book did not match. What now?"
    assert headings == ["A returned book did not match. What now?", "Before you start"]
    assert not any(b.text == "Answer" for b in page.blocks) and "Check the barcode first." in json.dumps(
        [b.text for b in page.blocks])


def test_a_definition_list_term_links_to_the_heading_above_it() -> None:
    page = readers.read_html("wiki.html", """<html><body><div id="mw-content-text">
        <h2><span class="mw-headline" id="Words_you_will_hear">Words you will hear</span></h2>
        <dl><dt>Rota</dt><dd>The ordered list of partners a request is offered to.</dd>
            <dt>TOU</dt><dd>Terms of use: loan period and renewals.</dd></dl></div></body></html>""")
    terms = [b for b in page.blocks if b.kind == "heading" and b.text in ("Rota", "TOU")]
    assert [(b.anchor, b.target) for b in terms] == [("rota", "Words_you_will_hear"), ("tou", "Words_you_will_hear")]


def test_a_saved_email_is_read_by_its_subject_with_its_questions_and_without_headers_quotes_or_signature() -> None:
    mail = "\n".join([
        "From: Priya Natarajan <pn@example.edu>", "To: ILS Staff <staff@example.edu>",
        "Subject: RE: Adding a partner -- what I do",
        "Date: Wed, 12 Mar 2025 16:47:09 -0400", "X-Mailer: Microsoft Outlook 16.0", "",
        "Hi all,", "", "Here is what I do in Alma when we add a partner.", "",
        "On Tue, Mar 11, 2025 Dana wrote:", "> Can you put the partner steps in writing? If you're out",
        "> nobody else knows the order.", "",
        "QUESTIONS FROM THE MEETING", "",
        "Q: Why do we bother editing the expiry time if the Community profile", "   already has one?",
        "A: Because the copied value is what the other library typed for", "   themselves.", "",
        "Q: Mei asked what happens if step 4 is skipped.",
        "A: The temporary item lands in the wrong location.", "",
        "Thanks,", "Priya", "", "--", "Priya Natarajan (she/her)", "Alma Systems Librarian", "x4520"])
    page = readers.read_text("mail.txt", mail)
    assert page.title == "Adding a partner -- what I do"
    text = json.dumps([(b.text, b.items) for b in page.blocks])
    assert "From:" not in text and "X-Mailer" not in text and "Alma Systems Librarian" not in text
    assert "> " not in text and "Can you put the partner steps in writing?" in text
    topics = {t.title: t for t in topics_for(page, "mail", "mail.txt", "/mail.txt")}
    why = topics["Why do we bother editing the expiry time if the Community profile already has one?"]
    assert why.body.startswith("Because the copied value")
    assert "Mei asked what happens if step 4 is skipped." in topics
    assert topics["Mei asked what happens if step 4 is skipped."].body.startswith("The temporary item lands in the wrong")


def test_a_q_line_without_an_answer_line_is_still_only_a_paragraph() -> None:
    page = readers.read_text("notes.txt", "Notes\n\nQ: this is how we label queue shelves in the back room.\n"
                                          "We keep them tidy.\n")
    assert [b.text for b in page.blocks if b.kind == "heading"] == ["Notes"]


def test_screen_reader_classes_hide_labels_but_never_headings_tables_or_the_content() -> None:
    page = readers.read_html("p.html", """<html><body>
        <main class="offscreen"><h1><span class="sr-only">Question: </span>How many items can students borrow?</h1>
        <p>Students may borrow ten items.</p>
        <h2 class="visually-hidden">Opening hours</h2><p>The desk opens at 8.</p>
        <table class="visually-hidden"><caption class="sr-only">Visits per branch</caption>
          <tr><th>Branch</th><th>Visits</th></tr><tr><td>North</td><td>412</td></tr></table>
        </main></body></html>""")
    text = json.dumps([(b.text, b.rows) for b in page.blocks])
    assert page.title == "How many items can students borrow?"
    assert [b.text for b in page.blocks if b.kind == "heading"] == ["How many items can students borrow?", "Opening hours"]
    assert "Students may borrow ten items." in text and "North" in text and "412" in text


def test_a_zero_width_space_between_words_separates_them() -> None:
    page = readers.read_html("z.html", "<html><body><main><h1>Renewals</h1>"
                                       "<p>Renew\u200bonline\u200bor by phone at the ILL\u200bdesk.</p></main></body></html>")
    assert "Renew online or by phone at the ILL desk." in [b.text for b in page.blocks]


def test_definition_terms_find_their_heading_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A glossary of thousands of terms: no search of the page per term (it was quadratic)."""
    def no_scan(root: Any, path: str) -> Any:
        assert "preceding::" not in path, path
        return original(root, path)

    original = readers._first
    monkeypatch.setattr(readers, "_first", no_scan)
    terms = "".join(f"<dt>Term {k}</dt><dd>Meaning {k}.</dd>" for k in range(300))
    page = readers.read_html("g.html", f'<html><body><main><h2 id="glossary">Glossary</h2><dl>{terms}</dl></main></body></html>')
    targets = {b.target for b in page.blocks if b.kind == "heading" and b.text.startswith("Term")}
    assert targets == {"glossary"}


def test_text_that_only_looks_like_mail_keeps_its_lines() -> None:
    memo = "\n".join(["From: Dana", "To: Circulation", "Subject: Shelving", "", "Shelve LOAN books on the hold rack.",
                      "", "Best practice", "Wipe each laptop on return.", "", "Thanks,", "Anna",
                      "P.S. The sorter is off on Sundays."])
    page = readers.read_text("memo.txt", memo)
    text = json.dumps([b.text for b in page.blocks])
    assert page.title == "Shelving" and "From: Dana" not in text
    assert "Wipe each laptop on return." in text and "The sorter is off on Sundays." in text
    rota = "\n".join(["From: Dana", "To: Desk", "Subject: Weekend rota", "", "Weekend cover:", "--",
                      "Sat 5th: Anna", "Sun 6th: Bob"])
    assert "Sun 6th: Bob" in json.dumps([b.text for b in readers.read_text("rota.txt", rota).blocks])
    log = "Date: 2025-03-01\nSubject: nightly run\nX-Run: 42\n\n> job started\n> job finished\n"
    assert "> job started" in json.dumps([b.text for b in readers.read_text("run.log.txt", log).blocks])
    quiz = "Quiz\n\nQ: Where do LOAN books go first?\nA: Front desk\nB: ILL office in room 204\nAnswer: B\n"
    assert not [t for t in topics_for(readers.read_text("quiz.txt", quiz), "q", "quiz.txt", "/quiz.txt")
                if t.body.startswith("Front desk")]


def test_mail_subjects_are_decoded_and_a_saved_eml_is_indexed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    page = readers.read_text("m.txt", "From: a@b.edu\nTo: c@d.edu\nSubject: =?UTF-8?B?SG9sZHMgc2hlbGYgY2zDqWFyYW5jZQ==?=\n\n"
                                      "Clear the holds shelf on Fridays.\n")
    assert page.title == "Holds shelf cléarance"
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "microfilm.eml").write_bytes(
        b"From: Dana <d@example.edu>\r\nTo: staff@example.edu\r\nSubject: Microfilm loans to LOAN partners\r\n"
        b"Date: Tue, 11 Mar 2025 09:02:00 -0400\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"We do not lend microfilm reels to LOAN partners; reject those lending requests with the reason "
        b"Non-circulating format.\r\n")
    (folder / "empty.eml").write_bytes(b"From: x@y.z\r\nSubject: only a picture\r\nContent-Type: image/png\r\n\r\nAAAA\r\n")
    docs_env(monkeypatch, tmp_path, str(folder))
    code, out, _ = run_cli(capsys, "docs", "index", "--json")
    rep = json.loads(out)
    assert code == 1 and rep["added"] == 1  # the message with no text is named, the other one read
    assert rep["sources"][0]["detail"] == f"{folder / 'empty.eml'} is an e-mail with no text to read (only attachments or images)"
    got = ask(capsys, "do we lend microfilm reels to loan partners")
    assert got["answered"] and "Non-circulating format" in got["results"][0]["answer"]
    assert got["results"][0]["id"] == "microfilm#microfilm-loans-to-loan-partners"
    assert got["results"][0]["source"] == "microfilm.eml#microfilm-loans-to-loan-partners"


@pytest.mark.parametrize(("text", "shown"), [
    # review R16: a list's indented lines are its text (Obsidian indents nested items with a tab)
    ("- Pull slips\n\t- see [[Pull slips#Printing|printing slips]] and [[Shipping]]",
     "- Pull slips\n\t- see printing slips and Shipping"),
    ("1. step\n    {% hint %}nested hint{% endhint %} [[L]]", "1. step\n    nested hint L"),
    # a list item's end closes the fence it held; a quoted fence is a fence
    ("- item\n  ```\n  code [[x]]\n- next [[Page|label]]", "- item\n  ```\n  code [[x]]\n- next label"),
    ("> ```\n> {% hint %} [[q]]\n> ```\n> after [[A|b]]", "> ```\n> {% hint %} [[q]]\n> ```\n> after b"),
    # an indented code block after a paragraph's blank line stays code
    ("Para\n\n    {% hint %} code [[x]]\n\nback [[y]]", "Para\n\n    {% hint %} code [[x]]\n\nback y"),
    # MkDocs admonitions and Docusaurus titles in attributes
    ('!!! note "Keep it first"\n    The rule [[Rules|must]] sit at the top.', "Keep it first\n    The rule must sit at the top."),
    (':::caution{title="Careful"}\nbody\n:::', "Careful\nbody\n"),
])
def test_wiki_markup_in_lists_quotes_and_admonitions(text: str, shown: str) -> None:
    assert _flavoured(text) == shown


def test_a_run_of_backticks_is_read_in_linear_time() -> None:
    """Review R16: the inline-code pattern backtracked on a run of backticks (81 s for 2,000); spans are now
    paired in one pass. A line of 100,000 backticks after a letter is no code span and is kept whole."""
    line = "a" + "`" * 100_000
    assert _flavoured(line) == line
    assert _flavoured("x ``a`b`` [[y]] `[[z]]`") == "x ``a`b`` y `[[z]]`"


def test_a_first_question_with_a_comma_can_head_an_faq() -> None:
    assert readers._is_question("If a patron loses a P2P book, who pays? What is the fee?")
