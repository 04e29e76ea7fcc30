"""PDF documents as a documentation source: their pages' text without running headers, footers and page
numbers, read by the plain-text rules; scans, locked and damaged files refused with a sentence.

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

from bot.core.docs import pdf, readers
from bot.core.docs.model import ReadError
from bot.core.docs.sections import topics_for
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


def test_a_pdf_guide_becomes_sections_without_its_running_header_and_page_numbers() -> None:
    text = pdf.to_text(GUIDE.read_bytes(), "guide.pdf")
    assert "Interlibrary Services" not in text and "Page 1 of 3" not in text  # the frame of every page
    got = {t.id: t for t in topics_for(readers.parse("guide.pdf", text, "text"), "guide", "guide.pdf", "guide.pdf")}
    pick = got["guide#morning-pick-list"]
    assert pick.kind == "procedure" and [s.text for s in pick.steps][1] == "Choose the BIRCH_LEND circulation desk."
    assert len(pick.steps) == 4 and "8:45 every weekday" in pick.body
    assert "anything with a loose spine" in got["guide#packing-for-the-state-courier"].body
    assert "Monday and Thursday at 1:30 pm" in got["guide#courier-schedule"].body  # the last page's section


def test_running_lines_are_those_at_the_edge_of_most_pages_the_same_or_counting_the_pages() -> None:
    titles = ("Receiving", "Returning", "Lending", "Shipping")
    pages = [["ACME Library manual", f"Chapter {n}: {titles[n - 1]}",
              f"Body text {'abcd'[n - 1]} that mentions ACME Library manual.", f"Staff guide, page {n + 1}",
              f"- {n} -"] for n in range(1, 5)]
    pages[2].insert(0, "Revised 2026")  # once only: content
    kept = pdf._without_running_lines(pages)
    assert kept[0] == ["Chapter 1: Receiving", "Body text a that mentions ACME Library manual."]
    assert kept[2][0] == "Revised 2026"
    two = [["Title line", "Text"], ["Title line", "More"]]
    assert pdf._without_running_lines(two) == two  # two pages prove nothing


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
    (lambda: b"not a pdf at all", "is a damaged PDF"),
    (_blank_pdf, "has no text to read (a scanned PDF"),
    (_locked_pdf, "is password-protected"),
], ids=["garbage", "not-pdf", "scan", "locked"])
def test_a_pdf_that_cannot_be_read_says_why_in_one_sentence(make: Callable[[], bytes], sentence: str) -> None:
    with pytest.raises(ReadError, match=sentence.replace("(", r"\(")) as err:
        pdf.to_text(make(), "guide.pdf")
    assert "guide.pdf" in str(err.value) and "\n" not in str(err.value)


def test_a_pdf_locked_only_against_editing_is_read() -> None:
    w = PdfWriter(clone_from=PdfReader(GUIDE))
    w.encrypt(user_password="", owner_password="owner-only")
    buf = io.BytesIO()
    w.write(buf)
    assert "Morning pick list" in pdf.to_text(buf.getvalue(), "guide.pdf")


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
    assert best["source"] == "lending-guide.pdf#overdue-loans-to-partners" and "thirty days" in best["answer"]
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
    assert best["source"] == f"{site.url}/files/guide#packing-for-the-state-courier"
    assert json.loads(run_cli(capsys, "docs", "index", "--json")[1])["changed"] == 0
    assert site.requests[-1][1].get("If-None-Match") == '"p1"'
