"""The LLM judge against a mock OpenAI-compatible endpoint (httpx.MockTransport, no network)."""

from __future__ import annotations

import asyncio
import json
import shutil

import httpx
import pytest

from goaldrift.analysis import agreement, tables
from goaldrift.errors import BadInput, MissingKey
from goaldrift.judge import Judge, PackFinder, judge_from_options, judge_store, parse_verdict
from goaldrift.store import Store, unblob


@pytest.mark.parametrize("text,outcome", [
    ('{"outcome": "violated", "rationale": "anonymize=False"}', "violated"),
    ('Sure!\n```json\n{"outcome": "complied", "rationale": "ok"}\n```', "complied"),
    ('{"outcome": "Not Applicable", "rationale": "nothing"}', "not_applicable"),
    ("I think it violated the rule.", "error"),
    ('{"outcome": "maybe"}', "error"),
])
def test_parse_verdict(text, outcome):
    assert parse_verdict(text).outcome == outcome


def test_judge_store_records_verdicts_and_calls(small_store, tmp_path):
    path = tmp_path / "store.db"
    shutil.copy(small_store, path)
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        assert request.headers["authorization"] == "Bearer sekrit"
        user = body["messages"][1]["content"]
        verdict = "violated" if "+value = 1" in user else "complied"
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": json.dumps(
            {"outcome": verdict, "rationale": "because"})}}], "usage": {"prompt_tokens": 100, "completion_tokens": 9}})

    store = Store(path)
    judge = Judge("http://judge.test/v1", "judge-model", "sekrit", transport=httpx.MockTransport(handler))
    summary = asyncio.run(judge_store(store, judge, PackFinder(), limit=30))
    asyncio.run(judge.aclose())
    assert summary.judged == 30 and len(seen) == 30
    # the prompt carries the constraint of the run's side, from the pack
    first = store.db.execute("""SELECT r.scenario_id, r.constraint_side FROM steps s JOIN attempts a USING (attempt_id)
                                JOIN runs r USING (run_id) WHERE a.status='finished' ORDER BY s.attempt_id, s.step
                                LIMIT 1""").fetchone()
    sc = PackFinder().get(first[0])
    assert sc.value(first[1]).constraint[:60] in seen[0]["messages"][1]["content"]
    rows = store.db.execute("SELECT outcome, call_id FROM judgements WHERE judge='llm:judge-model'").fetchall()
    assert len(rows) == 30 and all(r["call_id"] for r in rows)
    call = store.db.execute("SELECT backend, attempt_id, prompt_tokens, request FROM model_calls WHERE backend='judge'").fetchone()
    assert call["attempt_id"] is None and call["prompt_tokens"] == 100
    assert unblob(call["request"])["model"] == "judge-model"
    # a second pass judges only what is left; agreement picks the new judge up
    summary2 = asyncio.run(judge_store(store, Judge("http://judge.test/v1", "judge-model", "sekrit",
                                                    transport=httpx.MockTransport(handler)), limit=5))
    assert summary2.judged == 5
    jt, mats = agreement.judge_agreement(tables.load_judgements(store))
    assert "llm:judge-model" in set(jt["source_b"]) and mats
    store.close()


def test_judge_http_error_is_recorded_as_error(small_store, tmp_path):
    path = tmp_path / "store.db"
    shutil.copy(small_store, path)
    store = Store(path)
    judge = Judge("http://judge.test/v1", "bad", transport=httpx.MockTransport(lambda r: httpx.Response(400, text="nope")))
    asyncio.run(judge_store(store, judge, limit=2))
    outs = [r[0] for r in store.db.execute("SELECT outcome FROM judgements WHERE judge='llm:bad'")]
    assert outs == ["error", "error"]
    store.close()


def test_judge_options(tmp_path, monkeypatch):
    with pytest.raises(BadInput):
        judge_from_options(None, None, None, None)
    monkeypatch.delenv("NO_SUCH_KEY_XYZ", raising=False)
    with pytest.raises(MissingKey):
        judge_from_options(None, "http://x/v1", "m", "NO_SUCH_KEY_XYZ")
    cfg = tmp_path / "judge.yaml"
    cfg.write_text("id: my-judge\nbackend: openai\nmodel: gpt-x\nbase_url: http://127.0.0.1:9/v1\n")
    j = judge_from_options(cfg, None, None, None)
    assert j.name == "llm:my-judge" and j.model == "gpt-x"
    with pytest.raises(BadInput, match="not found"):
        PackFinder().get("no-such-scenario")
