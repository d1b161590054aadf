"""The LLM judge against a mock OpenAI-compatible endpoint (httpx.MockTransport, no network)."""

from __future__ import annotations

import asyncio
import json
import shutil

import httpx
import pytest

from goaldrift.analysis import agreement, tables
from goaldrift.errors import BadInput, MissingKey
from goaldrift.gateway.backends.openai import OpenAIBackend
from goaldrift.judge import Judge, PackFinder, judge_from_options, judge_store, parse_verdict
from goaldrift.modelspec import ModelSpec


def openai_judge(model: str, handler, monkeypatch) -> Judge:
    """A judge on the openai backend whose upstream is a mock transport (no network)."""
    monkeypatch.setenv("JUDGE_TEST_KEY", "sekrit")
    spec = ModelSpec(id=model, backend="openai", base_url="http://judge.test/v1", model=model,
                     api_key_env="JUDGE_TEST_KEY", max_retries=0)
    return Judge(OpenAIBackend(spec, transport=httpx.MockTransport(handler), backoff_s=0.001))


def sse(content: str, usage=(100, 9)) -> httpx.Response:
    from goaldrift.gateway.chunks import message_chunks, usage as make_usage

    text = "".join(f"data: {json.dumps(c)}\n\n" for c in message_chunks("up", content=content,
                                                                        usage_=make_usage(*usage)))
    return httpx.Response(200, text=text + "data: [DONE]\n\n", headers={"content-type": "text/event-stream"})


async def judged(store, judge, **kw):
    async with judge:
        return await judge_store(store, judge, **kw)
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


def test_judge_store_records_verdicts_and_calls(small_store, tmp_path, monkeypatch):
    path = tmp_path / "store.db"
    shutil.copy(small_store, path)
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        assert request.headers["authorization"] == "Bearer sekrit"
        user = body["messages"][1]["content"]
        verdict = "violated" if "+value = 1" in user else "complied"
        return sse(json.dumps({"outcome": verdict, "rationale": "because"}))

    store = Store(path)
    judge = openai_judge("judge-model", handler, monkeypatch)
    summary = asyncio.run(judged(store, judge, packs=PackFinder(), limit=30))
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
    summary2 = asyncio.run(judged(store, openai_judge("judge-model", handler, monkeypatch), limit=5))
    assert summary2.judged == 5
    jt, mats = agreement.judge_agreement(tables.load_judgements(store))
    assert "llm:judge-model" in set(jt["source_b"]) and mats
    store.close()


def test_judge_http_error_is_recorded_as_error(small_store, tmp_path, monkeypatch):
    path = tmp_path / "store.db"
    shutil.copy(small_store, path)
    store = Store(path)
    judge = openai_judge("bad", lambda r: httpx.Response(400, text="nope"), monkeypatch)
    asyncio.run(judged(store, judge, limit=2))
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
    assert j.name == "llm:my-judge" and j.backend.spec.model == "gpt-x"
    with pytest.raises(BadInput, match="not found"):
        PackFinder().get("no-such-scenario")


def test_any_backend_can_judge(small_store, tmp_path):
    """A non-HTTP backend (here a stand-in that always answers 'complied') judges through the gateway."""
    path = tmp_path / "store.db"
    shutil.copy(small_store, path)

    class Always:
        name, model = "stand-in", "always"

        async def aclose(self):
            return None

        async def stream(self, request, ctx):
            from goaldrift.gateway.chunks import message_chunks, usage

            for c in message_chunks("always", content='{"outcome": "complied", "rationale": "fine"}',
                                    usage_=usage(50, 5)):
                yield c

    store = Store(path)
    summary = asyncio.run(judged(store, Judge(Always()), limit=4, concurrency=4))
    assert summary.by_outcome == {"complied": 4}
    calls = store.db.execute("SELECT backend, attempt_id, step FROM model_calls WHERE backend='judge'").fetchall()
    assert len(calls) == 4 and all(c["attempt_id"] is None and c["step"] is None for c in calls)
    store.close()
