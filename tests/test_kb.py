from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core import kb
from bot.frontends.cli import main
from tests.conftest import ROOT, shared_file

GOOD = """---
id: {id}
title: A test procedure
kind: procedure
keywords: [test]
related: [{related}]
---
Intro line.

## Steps
1. Open Fulfillment > Resource Sharing > Receiving Items.
2. Click Save.
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_listed_topic_id_exists(topics: list[kb.Topic]) -> None:
    listing = shared_file("knowledge-topics.md").read_text(encoding="utf-8")
    wanted = set(re.findall(r"^\| `([a-z0-9-]+)` \|", listing, flags=re.M))
    procedures = set(re.findall(r"^\| `([a-z0-9-]+)` \| \*\*steps\*\*", listing, flags=re.M))
    assert len(wanted) >= 38
    have = {t.id: t for t in topics}
    assert wanted - set(have) == set()
    for tid in procedures:
        assert have[tid].kind == "procedure" and len(have[tid].steps) >= 2, tid


def test_shipped_folder_checks_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-knowledge", str(ROOT / "knowledge")]) == 0
    assert "ok: " in capsys.readouterr().out


def test_front_matter_fields_and_steps(topics: list[kb.Topic]) -> None:
    ids = {t.id for t in topics}
    for t in topics:
        assert t.title and t.kind in kb.KINDS and t.keywords, t.id
        assert set(t.related) <= ids
        if t.kind == "faq":
            assert t.question.endswith("?")
    receive = next(t for t in topics if t.id == "borrow-receive")
    texts = [s.text for s in receive.steps]
    assert [s.number for s in receive.steps] == list(range(1, len(texts) + 1))
    assert any("Fulfillment > Resource Sharing > Receiving Items" in s for s in texts)
    assert all(s.line > 0 for s in receive.steps)
    # step lines point at the real source line
    src = Path(receive.path).read_text(encoding="utf-8").splitlines()
    assert src[receive.steps[2].line - 1].startswith("3. Open Fulfillment")


def test_facts_carry_over_exactly(topics: list[kb.Topic]) -> None:
    text = {t.id: t.intro + "\n" + "\n".join(s.text for s in t.sections) for t in topics}
    assert "Every Day at 02:00" in text["config-expiry-job"]
    assert "rs_disable_lending_auto_assign" in text["config-other-settings"]
    assert "07877638" in text["suny-nz-partners"] and "servicedesk@wrlc.org" in text["suny-nz-partners"]
    assert "CLSBORR" in text["config-temp-locations"] and "_FU" in text["config-temp-locations"]
    assert "Fulfillment > Configuration > Printing" in text["faq-no-slip"]
    assert "LCCN (010)" in text["config-rs-library"]


# Closed-class words: a run of words that contains several of them reads as a sentence, not as a name.
FUNCTION_WORDS = set("""the a an to and of in for your you is it that on with be by this then if from as at or are
    next will when which not no can have has was were been there their they we our its into than also only all
    any each other so but do does must should would could may might these those both such what how where who
    why about after before while because through between without""".split())
SHINGLE = 8  # words per run: a copied clause of eight words fails the test
PROSE_FUNCTION_WORDS = 3  # ... when the run has at least this many function words
PROSE_PLAIN_WORDS = 4  # ... or at least this many plain lowercase words ("allow requests to roll automatically")
_WORD = re.compile(r"[A-Za-z0-9_]+")


def _is_name_line(line: str) -> bool:
    """A seed line that only names things: a list item of at most six words (a status, a checkbox, a role,
    an institution), a '·' list of checkbox names, or a table cell. Knowledge must repeat these exactly."""
    s = line.strip()
    short_item = s.startswith("- ") and len(_WORD.findall(s)) <= 6
    return short_item or s.startswith("·") or s.endswith("|")


def _is_plain(word: str) -> bool:
    """An ordinary lowercase word: not a name (menu items, settings, statuses and institutions are
    capitalised in the seed), not a code (digits, underscores) and not a function word."""
    return word.islower() and word.isalpha() and word not in FUNCTION_WORDS


def _shingles(text: str, n: int = SHINGLE, seed: bool = False) -> set[tuple[str, ...]]:
    """Every run of ``n`` words, lowercased. For the seed only runs that read as prose are kept: some plain
    word and either 3+ function words or 4+ plain words. So a run made only of menu names, setting names,
    status labels, institution names and codes may match, and the seed's name lines break the runs."""
    chunks: list[list[str]] = [[]]
    for line in text.splitlines():
        if seed and _is_name_line(line):
            chunks.append([])
        else:
            chunks[-1].extend(_WORD.findall(line))
    out = set()
    for words in chunks:
        for i in range(len(words) - n + 1):
            run = words[i:i + n]
            plain = sum(_is_plain(w) for w in run)
            function = sum(w.lower() in FUNCTION_WORDS for w in run)
            if not seed or (plain and (function >= PROSE_FUNCTION_WORDS or plain >= PROSE_PLAIN_WORDS)):
                out.add(tuple(w.lower() for w in run))
    return out


def test_no_sentence_is_copied_from_the_seed() -> None:
    seed = shared_file("seed", "000_2bf0e7b1c971e324.txt").read_text(encoding="utf-8")
    seed_sh = _shingles(seed, seed=True)
    # the check must bite: seed prose pasted as is is caught, even when dense; names and paths are not
    for start in ("Although the formal pilot", "Large lending rotas allow"):
        pasted = next(line for line in seed.splitlines() if line.startswith(start))
        assert _shingles(pasted) & seed_sh, start
    facts = ("Open Configuration > Fulfillment > General > Fulfillment Jobs Configuration and choose Every Day at "
             "02:00. Leave Loaned item to patron, Physically received by library, Ready to be sent, Renewed by "
             "partner, Returned by patron. Set rs_allow_actions_on_scan_in to true. Partners include the "
             "Independent Colleges and Universities of Florida (ICUF) and the State University of New York (SUNY).")
    assert not _shingles(facts) & seed_sh
    failures = []
    for path in sorted((ROOT / "knowledge").glob("*.md")):
        # the whole file: titles, FAQ questions, keywords and alternate phrasings are our words too; only
        # the ``source`` line names the seed's heading as it is (a citation)
        text = "\n".join(ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("source:"))
        failures += [f"{path.name}: {' '.join(run)}" for run in sorted(_shingles(text) & seed_sh)]
    assert not failures, "knowledge repeats the seed word for word:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    ("files", "expect_file", "expect_line", "phrase"),
    [
        ({"a.md": "id: x\ntitle: y\n"}, "a.md", 1, "no front matter"),
        ({"a.md": "---\ntitle: T\nkind: faq\nquestion: Q?\n---\nbody\n"}, "a.md", 1, "has no 'id'"),
        ({"a.md": GOOD.format(id="dup", related="b"), "b.md": GOOD.format(id="dup", related="dup")},
         "b.md", 2, "already used by"),
        ({"a.md": "---\nid: p\ntitle: P\nkind: procedure\n---\nJust prose, no steps.\n"}, "a.md", 6,
         "needs a '## Steps' section"),
        ({"a.md": GOOD.format(id="a", related="nowhere")}, "a.md", 6, "'nowhere', which is not a topic id"),
        ({"a.md": "---\nid: a\ntitle: [unclosed\nkind: faq\n---\n"}, "a.md", 4, "not valid YAML"),
        ({"a.md": "---\nid: a\ntitle: A\nkind: recipe\n---\n"}, "a.md", 4, "not one of procedure"),
    ],
)
def test_bad_files_are_named_with_their_line(tmp_path: Path, files: dict[str, str], expect_file: str,
                                             expect_line: int, phrase: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    with pytest.raises(kb.KnowledgeError) as info:
        kb.load_dir(tmp_path)
    err = info.value
    assert Path(err.path).name == expect_file
    assert err.line == expect_line
    assert phrase in str(err)
    assert f"{expect_file}, line {expect_line}" in str(err)
    assert main(["check-knowledge", str(tmp_path)]) == 1
    assert phrase in capsys.readouterr().err


def test_a_library_can_add_its_own_documents(tmp_path: Path) -> None:
    write(tmp_path, "local.md", GOOD.format(id="local-proc", related="local-proc"))
    topics = kb.load_dir(tmp_path)
    assert [t.id for t in topics] == ["local-proc"]
    assert topics[0].steps[0].text.startswith("Open Fulfillment")


def test_steps_must_be_numbered(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "---\nid: a\ntitle: A\nkind: procedure\n---\n## Steps\n- first\n- second\n")
    with pytest.raises(kb.KnowledgeError, match="numbered list"):
        kb.load_dir(tmp_path)


def test_a_local_folder_is_checked_and_loaded_on_top_of_the_shipped_topics(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.core.services import Services
    from bot.edges.settings import Settings

    local = tmp_path / "ours"
    write(local, "hold-shelf.md", GOOD.format(id="local-hold-shelf", related="borrow-receive"))
    assert main(["check-knowledge", str(local)]) == 0  # `related` may point at a shipped topic
    assert "ok: 1 topic (" in capsys.readouterr().out
    assert main(["check-knowledge", str(local), "--alone"]) == 1  # by itself that link is broken
    write(local, "clash.md", GOOD.format(id="borrow-receive", related="local-hold-shelf"))
    assert main(["check-knowledge", str(local)]) == 1
    assert "already used by" in capsys.readouterr().err
    (local / "clash.md").unlink()
    svc = Services(Settings(database_url="sqlite://", extra_knowledge=(str(local),)))
    assert {"local-hold-shelf", "borrow-receive"} <= set(svc.engine.by_id)
    svc.close()


def test_alternate_phrasings_are_read_and_checked(tmp_path: Path) -> None:
    """``asks`` lists how staff ask for a topic (searched, never shown); anything but a list is refused by line."""
    text = GOOD.format(id="a", related="a").replace(
        "keywords: [test]\n", 'keywords: [test]\nasks:\n  - "book came in, now what"\n  - scan in a loan\n')
    write(tmp_path, "a.md", text)
    (topic,) = kb.load_dir(tmp_path)
    assert topic.asks == ("book came in, now what", "scan in a loan")
    write(tmp_path, "a.md", GOOD.format(id="a", related="a").replace("keywords: [test]\n",
                                                                      "keywords: [test]\nasks: {x: 1}\n"))
    with pytest.raises(kb.KnowledgeError) as info:
        kb.load_dir(tmp_path)
    assert info.value.line == 6 and "'asks' must be a list" in str(info.value)


def test_every_shipped_topic_has_alternate_phrasings(topics: list[kb.Topic]) -> None:
    for t in topics:
        assert len(t.asks) >= 8, t.id
        assert all(2 <= len(a.split()) <= 30 for a in t.asks), t.id


@pytest.mark.parametrize(
    ("asks", "phrase"),
    [
        ("asks: [true, 42]\n", "'asks' must be a list of phrases"),
        ("asks: [[a, b]]\n", "'asks' must be a list of phrases"),
        ("asks: [" + ", ".join(f'"phrase {i}"' for i in range(61)) + "]\n", "keep it to the 60 best"),
        ('asks: ["' + "word " * 31 + '"]\n', "has 31 words"),
    ],
)
def test_alternate_phrasings_in_a_bad_shape_are_a_sentence(tmp_path: Path, asks: str, phrase: str) -> None:
    write(tmp_path, "a.md", GOOD.format(id="a", related="a").replace("keywords: [test]\n", "keywords: [test]\n" + asks))
    with pytest.raises(kb.KnowledgeError) as info:
        kb.load_dir(tmp_path)
    assert info.value.line == 6 and phrase in str(info.value)


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.format(id="a", related="a").replace("Intro line.", "Intro line, café.")
    (tmp_path / "a.md").write_bytes(text.encode("latin-1"))
    with pytest.raises(kb.KnowledgeError) as info:
        kb.load_dir(tmp_path)
    assert info.value.line == 8 and "not UTF-8" in str(info.value)
    # a byte-order mark (Windows editors write one) is not part of the text
    (tmp_path / "a.md").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (topic,) = kb.load_dir(tmp_path)
    assert topic.id == "a" and topic.intro == "Intro line, café."
