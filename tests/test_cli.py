from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.frontends.cli import main
from tests.conftest import ROOT


def test_ask_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--json", "--top", "2", "how do I receive a borrowed item"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["query"] == "how do I receive a borrowed item"
    assert out["answered"] is True
    assert len(out["results"]) == 2
    first = out["results"][0]
    assert first["id"] == "borrow-receive"
    assert "Receiving Items" in first["answer"]
    assert isinstance(first["score"], float) and first["source"]


def test_ask_reads_one_question_per_line(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("return a borrowed book\n\nwhat time does the cafe open\n"))
    assert main(["ask", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    # one object per line, the blank one too: the n-th answer is the n-th line's (review V10)
    assert [(x["query"], x["answered"]) for x in lines] == [("return a borrowed book", True), ("", False),
                                                            ("what time does the cafe open", False)]
    assert lines[0]["results"][0]["id"] == "borrow-return" and lines[1]["results"] == []


def test_ask_with_an_empty_question_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """`ask ""` read standard input (waiting forever at a terminal) and printed nothing."""
    assert main(["ask", "  "]) == 2
    assert "ask needs a question" in capsys.readouterr().err
    assert main(["ask", "", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"query": "", "answered": False, "results": []}


def test_eval_prints_the_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(ROOT / "tests" / "data" / "paraphrases.jsonl"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    for key in ("top1", "recall_at_3", "mrr", "abstention_oos", "answered_wrong", "latency_p50_ms",
                "latency_p95_ms"):
        assert key in rep
    assert rep["questions"] == 47


def test_a_real_process_answers(tmp_path: object) -> None:
    proc = subprocess.run([sys.executable, "-m", "bot", "ask", "--json", "keep both slips?"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    assert json.loads(proc.stdout)["results"][0]["id"] == "faq-keep-slips"


def test_bad_knowledge_dir_is_a_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("P2PBOT_KNOWLEDGE_DIR", str(tmp_path / "no-such-folder"))
    assert main(["ask", "anything"]) == 2
    assert "knowledge base problem" in capsys.readouterr().err


def test_an_empty_knowledge_dir_is_allowed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # answers may come from P2PBOT_DOCS alone; with nothing at all the bot says it found nothing
    monkeypatch.setenv("P2PBOT_KNOWLEDGE_DIR", str(tmp_path))
    monkeypatch.setenv("P2PBOT_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["ask", "--json", "how do I receive a borrowed item"]) == 0
    assert json.loads(capsys.readouterr().out) == {"query": "how do I receive a borrowed item", "answered": False,
                                                     "results": []}


def test_chat_answers_and_quits() -> None:
    from bot.core.services import Services
    from bot.edges.settings import Settings
    from bot.frontends.chat import run_chat

    out = io.StringIO()
    run_chat(Services(Settings(database_url="sqlite://")), io.StringIO(), out,
             lines=["how do I receive a borrowed item", "help", "/p2p walk receiving items", "stop", "/p2pfoo",
                    "/p2p", "quit"])
    text = out.getvalue()
    assert "Receiving a P2P item borrowed from a partner" in text
    assert "3. Open Fulfillment > Resource Sharing > Receiving Items." in text
    # the help names the commands as typed in the chat; Slack's spelling works here too
    assert "`help`" in text and "`/p2p help`" not in text
    assert "Step 1 of 8" in text and "Type `walk borrow-receive` to start it again." in text
    assert "Anything else is treated as a question" in text and "`/p2p`" not in text
    assert text.count("What I can do") == 2  # `help`, and `/p2p` alone; "/p2pfoo" is not the command


def test_lookup_from_the_cli_against_a_sandbox_process(tmp_path: object, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Two real processes: `p2p-bot sandbox` and `p2p-bot lookup`, as on a clean clone."""
    import os
    import re
    from pathlib import Path

    sb = subprocess.Popen([sys.executable, "-m", "bot", "sandbox", "--port", "0"], stdout=subprocess.PIPE,
                          text=True, cwd=ROOT)
    try:
        assert sb.stdout is not None
        first = sb.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+/almaws/v1)\s+demo API key: (\S+)", first)
        assert m, first
        url, key = m.groups()
        import httpx

        body = httpx.get(f"{url}/task-lists/rs/lending-requests", params={"library": "GELMAN", "status": "WILL_SUPPLY"},
                         headers={"Authorization": f"apikey {key}", "Accept": "application/json"}).json()
        ext = body["user_resource_sharing_request"][0]["external_id"]
        env = {**os.environ, "ALMA_API_URL": url, "ALMA_API_KEY": key,
               "P2PBOT_DATABASE_URL": f"sqlite:///{Path(str(tmp_path)) / 'cli.sqlite3'}"}
        out = subprocess.run([sys.executable, "-m", "bot", "lookup", ext, "--json"], capture_output=True, text=True,
                             env=env, cwd=ROOT, timeout=120)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["found"][0]["status"] == "WILL_SUPPLY" and data["found"][0]["topic_id"] == "lend-pull-ship"
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert main(["lookup", "\x01bad", "--json"]) == 2  # in this process: the same command line, no second start
        assert "control characters" in json.loads(capsys.readouterr().out)["error"]
        # a miss says the borrowing side is not indexed when no Analytics report is configured (the shortcut)
        assert main(["lookup", "NO-SUCH-ID-77", "--json"]) == 1
        assert any("no Analytics report is configured" in n for n in json.loads(capsys.readouterr().out)["not_indexed"])
        assert main(["lookup", "NO-SUCH-ID-77"]) == 1  # in words: "not found" only of what could be searched
        first, second = capsys.readouterr().out.splitlines()[:2]
        assert "NO-SUCH-ID-77 in what I can search of" in first and second.startswith("Not indexed yet")
        # an institution that is not configured is said, not silently skipped
        assert main(["sync", "--institution", "XYZ"]) == 2
        assert "no institution XYZ is configured" in capsys.readouterr().err
    finally:
        sb.terminate()
        sb.wait(timeout=10)


def test_scripted_demo_shows_a_question_a_walkthrough_and_a_lookup() -> None:
    from bot.frontends.chat import run_demo

    out = io.StringIO()
    assert run_demo(io.StringIO(), out, scripted=True) == 0
    text = out.getvalue()
    assert "3. Open Fulfillment > Resource Sharing > Receiving Items." in text  # the question
    assert "Step 2 of 8" in text and "Step 3 of 8" in text  # `next`, `next`, `back`
    assert "Borrowing (our patron)" in text and "Status:   Shipped physically" in text  # the lookup
    assert "Next:     The lender has shipped it" in text


@pytest.mark.parametrize(("argv", "env", "phrase"), [
    (["serve", "--port", "0"], {}, "SLACK_BOT_TOKEN"),
    (["socket"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN"),  # no signing secret asked for
    (["socket"], {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, "starting with xapp-"),
    (["socket"], {"SLACK_BOT_TOKEN": "xapp-1", "SLACK_APP_TOKEN": "xoxb-2"}, "starting with xoxb-"),
    (["lookup", "X"], {}, "no Alma institution is configured"),
    (["expiry-check", "--date", "yesterday"], {"ALMA_API_URL": "http://127.0.0.1:9", "ALMA_API_KEY": "k"},
     "--date wants a real calendar day as YYYY-MM-DD"),
    (["expiry-check", "--date", "2026-02-31"], {"ALMA_API_URL": "http://127.0.0.1:9", "ALMA_API_KEY": "k"},
     "not '2026-02-31'"),
])
def test_missing_configuration_is_a_sentence(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                             argv: list[str], env: dict[str, str], phrase: str) -> None:
    for var in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "ALMA_API_URL", "ALMA_API_KEY",
                "P2PBOT_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(argv) == 2
    assert phrase in capsys.readouterr().err


def test_eval_and_ask_refuse_bad_input_in_a_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "ok", "topics": []}\n[1, 2]\n', encoding="utf-8")
    assert main(["eval", str(bad)]) == 2
    assert "line 2" in capsys.readouterr().err
    typed = tmp_path / "typed.jsonl"  # a string where a list belongs was once split into letters and scored
    typed.write_text('{"q": "how do I return a borrowed book", "topics": "borrow-return"}\n', encoding="utf-8")
    assert main(["eval", str(typed)]) == 2
    assert "lists of text" in capsys.readouterr().err
    (tmp_path / "latin1.jsonl").write_bytes(b'\xff\xfe\x00bad')
    assert main(["eval", str(tmp_path / "latin1.jsonl")]) == 2
    assert "latin1.jsonl is not UTF-8" in capsys.readouterr().err
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    assert main(["eval", str(tmp_path / "empty.jsonl")]) == 2
    assert "holds no questions" in capsys.readouterr().err
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b'\xef\xbb\xbf{"q": "returns", "topics": ["borrow-return"], "facts": []}\n')
    assert main(["eval", str(bom)]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["ask", "--top", "0", "returns"])
    assert exc.value.code == 2 and "less than 1" in capsys.readouterr().err


def test_a_knowledge_file_changed_with_its_time_kept_is_read_again(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """cp -p, rsync -t and tar keep a file's modification time: the cached answer index must still notice a
    same-size change (its key holds the change time too, which no copy tool can set back)."""
    import os

    folder = tmp_path / "kb"
    folder.mkdir()
    page = folder / "t.md"
    text = "---\nid: t\ntitle: Quokka care\nkind: reference\nkeywords: [quokka]\n---\nFeed the quokka daily.\n"
    page.write_text(text, encoding="utf-8")
    monkeypatch.setenv("P2PBOT_KNOWLEDGE_DIR", str(folder))
    monkeypatch.setenv("P2PBOT_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["ask", "--json", "quokka"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["id"] == "t"
    before = page.stat()
    page.write_text(text.replace("quokka", "wombat").replace("Quokka", "Wombat"), encoding="utf-8")
    os.utime(page, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert page.stat().st_mtime_ns == before.st_mtime_ns and page.stat().st_size == before.st_size
    assert main(["ask", "--json", "wombat"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["id"] == "t"


def test_chat_says_a_broken_knowledge_folder_before_the_first_question(tmp_path: Path) -> None:
    env = {**__import__("os").environ, "P2PBOT_EXTRA_KNOWLEDGE": str(tmp_path / "nope"),
           "P2PBOT_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "bot", "chat"], input="quit\n", capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)
    assert done.returncode == 2
    assert f"{tmp_path / 'nope'}: this folder does not exist" in done.stderr and "line 0" not in done.stderr
    assert "you>" not in done.stdout  # nothing was asked of the person first


def test_check_knowledge_without_a_folder_checks_what_the_bot_loads(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("P2PBOT_EXTRA_KNOWLEDGE", str(tmp_path / "nope"))
    assert main(["check-knowledge"]) == 1
    err = capsys.readouterr().err
    assert "nope: this folder does not exist" in err and "1 problem in" in err
    monkeypatch.delenv("P2PBOT_EXTRA_KNOWLEDGE")
    assert main(["check-knowledge"]) == 0
    assert capsys.readouterr().out.startswith("ok: 38 topics (22 procedures, ")


def test_an_unknown_procedure_name_is_said_back_cut_short() -> None:
    """Review V10: `walk <10,000 letters>` repeated all of them."""
    from bot.core.services import Services
    from bot.edges import settings as settings_mod
    from commands import dispatch
    from commands.context import Context
    from commands.replies import TextReply

    reply = dispatch(Context(services=Services(settings_mod.load())), "walk " + "x" * 10_000)
    assert isinstance(reply, TextReply) and "I don't know a procedure called" in reply.text
    assert len(reply.text) < 250 and "x" * 79 + "…" in reply.text
