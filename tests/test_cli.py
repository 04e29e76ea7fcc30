from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from bot.__main__ import main
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
    assert [x["answered"] for x in lines] == [True, False]
    assert lines[0]["results"][0]["id"] == "borrow-return"


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


def test_bad_knowledge_dir_is_a_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: object,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("P2PBOT_KNOWLEDGE_DIR", str(tmp_path))
    assert main(["ask", "anything"]) == 2
    assert "knowledge base problem" in capsys.readouterr().err


def test_chat_answers_and_quits() -> None:
    from bot.chat import run_chat
    from bot.services import Services
    from bot.settings import Settings

    out = io.StringIO()
    run_chat(Services(Settings(database_url="sqlite://")), io.StringIO(), out,
             lines=["how do I receive a borrowed item", "help", "quit"])
    text = out.getvalue()
    assert "Receiving a P2P item borrowed from a partner" in text
    assert "3. Open Fulfillment > Resource Sharing > Receiving Items." in text
    assert "/p2p help" in text
