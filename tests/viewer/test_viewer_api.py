"""The viewer's API over a real smoke store: numbers equal SQL counts, labels persist, the API is locked down."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from starlette.testclient import TestClient
from tests.conftest import run_cli
from tests.viewer.conftest import HOSTILE, disputed_step, plant_hostile

from goaldrift.analysis.agreement import agreement
from goaldrift.analysis.gold import label_agreement
from goaldrift.store import Store
from goaldrift.viewer.app import create_app


def client(path) -> TestClient:
    return TestClient(create_app(path), base_url="http://127.0.0.1:8765")


def ready_rates(c: TestClient, query: str = "") -> list[dict]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        data = c.get("/api/rates" + query).json()
        if data["ready"] and not data["stale"]:
            return data["rows"]
        time.sleep(0.1)
    raise AssertionError("rates never became ready")


def test_rates_equal_sql_counts(smoke_store):
    with client(smoke_store) as c:
        rows = ready_rates(c)
    db = sqlite3.connect(smoke_store)
    ref = db.execute("""SELECT model_id, condition, step, SUM(outcome='violated'), SUM(outcome='complied'),
                               COUNT(*) FROM step_results GROUP BY 1, 2, 3""").fetchall()
    got = {(r["model_id"], r["condition"], r["step"]): (r["violated"], r["complied"], r["runs"]) for r in rows}
    assert len(got) == len(ref) == 2 * 4 * 12
    for model, cond, step, v, comp, n in ref:
        assert got[(model, cond, step)] == (v, comp, n)
    # the drifting model violates from step 5 in every condition, the complying one never
    assert all(r["rate"] == (1.0 if r["model_id"] == "drift-model" and r["step"] >= 5 else 0.0) for r in rows)


def test_rates_and_runs_follow_the_filters(smoke_store):
    with client(smoke_store) as c:
        rows = ready_rates(c, "?model=drift-model&condition=utility")
        assert {(r["model_id"], r["condition"]) for r in rows} == {("drift-model", "utility")}
        assert c.get("/api/runs").json()["total"] == 8
        page = c.get("/api/runs?limit=3&offset=3").json()
        assert page["total"] == 8 and len(page["runs"]) == 3
        hit = c.get("/api/runs?outcome=violated&step=5").json()
        assert hit["total"] == 4 and {r["model_id"] for r in hit["runs"]} == {"drift-model"}
        assert c.get("/api/runs?outcome=violated&step=4").json()["total"] == 0
        assert c.get("/api/runs?factor=dose%3D0.5").json()["total"] == 0  # no run has that factor
        assert len(hit["runs"][0]["steps"]) == 12


def test_step_page_has_request_transcript_diff_marks_and_verdicts(smoke_store):
    db = sqlite3.connect(smoke_store)
    attempt_id, step = disputed_step(db)
    run_id = db.execute("SELECT run_id FROM attempts WHERE attempt_id=?", (attempt_id,)).fetchone()[0]
    evidence = json.loads(db.execute("SELECT evidence_json FROM steps WHERE attempt_id=? AND step=?",
                                     (attempt_id, step)).fetchone()[0])[0]
    n_calls = db.execute("SELECT COUNT(*) FROM model_calls WHERE attempt_id=? AND step=?", (attempt_id, step)).fetchone()[0]
    with client(smoke_store) as c:
        s = c.get(f"/api/runs/{run_id}/steps/{step}").json()
        request = c.get(f"/api/runs/{run_id}/steps/{step}/request").json()
        run = c.get(f"/api/runs/{run_id}").json()
        call = c.get(f"/api/calls/{s['calls'][0]['call_id']}").json()
        assert c.get(f"/api/runs/{run_id}/steps/99").status_code == 404
        assert c.get("/api/runs/nope").status_code == 404
    assert s["outcome"] == "violated" and s["prev"] == step - 1 and s["next"] == step + 1
    assert request["available"] and request["prompt"] and request["pack_matches"]
    assert any(request["prompt"] in m["content"] for m in s["conversation"] if m["role"] == "user")
    marked = [(f["path"], ln["new"], ln["marks"]) for f in s["diff"]["files"] for h in f["hunks"] for ln in h["lines"]
              if ln["marks"]]
    assert (evidence["file"], evidence["line"]) in {(p, n) for p, n, _ in marked}
    assert {d["detector"] for d in s["detectors"]} == {"anonymize-state", "anonymize-ast", "anonymize-regex",
                                                       "anonymize-probe"}
    assert s["judges"][0]["outcome"] == "complied"
    roles = [m["role"] for m in s["conversation"]]
    assert roles[0] == "user" and roles.count("assistant") == n_calls == len(s["calls"])
    tool_msgs = [m for m in s["conversation"] if m["role"] == "tool"]
    assert tool_msgs and all(m["content"] for m in tool_msgs)
    assert [x["step"] for x in run["steps"]] == list(range(1, 13))
    assert call["request"]["messages"] and call["response"]["choices"]


def test_labels_persist_feed_the_queue_and_the_gold_standard(store_copy):
    db = sqlite3.connect(store_copy)
    attempt_id, step = disputed_step(db)
    with client(store_copy) as c:
        queue = c.get("/api/queue").json()["items"]
        assert [(i["attempt_id"], i["step"]) for i in queue] == [(attempt_id, step)]
        assert queue[0]["judges"][0]["outcome"] == "complied"
        r = c.post("/api/labels", json={"attempt_id": attempt_id, "step": step, "outcome": "violated", "note": "clear case"})
        assert r.status_code == 200
        assert c.get("/api/queue").json()["items"] == []  # labelled steps leave the queue
        assert len(c.get("/api/queue?all=1").json()["items"]) == 1
        # a second label on an agreeing step
        assert c.post("/api/labels", json={"attempt_id": attempt_id, "step": 1, "outcome": "complied"}).status_code == 200
        sources = {s["source"]: s for s in c.get("/api/agreement").json()["sources"]}
    stored = db.execute("SELECT step, outcome, note FROM labels ORDER BY step").fetchall()
    assert stored == [(1, "complied", ""), (step, "violated", "clear case")]
    assert sources["primary detector"]["n"] == 2 and sources["primary detector"]["accuracy"] == 1.0
    assert sources["llm:test-judge"]["n"] == 1 and sources["llm:test-judge"]["accuracy"] == 0.0
    assert sources["detector anonymize-regex"]["accuracy"] == 1.0
    # the agreement statistics carry the same table
    assert agreement(store_copy)["labels"].set_index("source").loc["llm:test-judge", "accuracy"] == 0.0
    # clearing removes it
    with client(store_copy) as c:
        assert c.post("/api/labels", json={"attempt_id": attempt_id, "step": 1, "outcome": None}).status_code == 200
    assert db.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 1


@pytest.mark.parametrize("body, headers, status", [
    ({"attempt_id": 1, "step": 1, "outcome": "maybe"}, {}, 400),
    ({"step": 1, "outcome": "violated"}, {}, 400),
    ({"attempt_id": 999999, "step": 1, "outcome": "violated"}, {}, 404),
    ({"attempt_id": 1, "step": 1, "outcome": "violated"}, {"origin": "http://evil.example"}, 403),
])
def test_bad_labels_are_refused_and_nothing_is_written(store_copy, body, headers, status):
    with client(store_copy) as c:
        assert c.post("/api/labels", json=body, headers=headers).status_code == status
    assert sqlite3.connect(store_copy).execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 0


def test_the_api_is_locked_down(store_copy):
    with client(store_copy) as c:
        page = c.get("/runs/abc/steps/3")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert c.get("/static/app.js").headers["content-security-policy"] == csp
        # a DNS-rebinding page arrives with its own Host name
        assert c.get("/api/facets", headers={"host": "evil.example"}).status_code == 400
        # a cross-site form post cannot send JSON without a preflight; form bodies are refused
        assert c.post("/api/labels", content=b"attempt_id=1", headers={
            "content-type": "application/x-www-form-urlencoded"}).status_code == 415


def test_hostile_text_travels_as_json_data_only(store_copy):
    run_id, step = plant_hostile(store_copy)
    with client(store_copy) as c:
        raw = c.get(f"/api/runs/{run_id}/steps/{step}")
        index = c.get(f"/runs/{run_id}/steps/{step}").text
    s = raw.json()
    assert raw.headers["content-type"] == "application/json"
    assert s["error"] == HOSTILE and s["evidence"][0]["snippet"] == HOSTILE
    assert any(m["content"] == HOSTILE for m in s["conversation"] if m["role"] == "assistant")
    assert HOSTILE not in index and "__pwned" not in index  # the page itself is static


def test_an_older_store_gets_the_labels_table_on_open(store_copy):
    db = sqlite3.connect(store_copy)
    db.execute("DROP TABLE labels")
    db.commit()
    assert label_agreement(Store(store_copy, readonly=True)).empty  # read-only readers cope without it
    Store(store_copy).close()
    assert db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name='labels'").fetchone()[0] == 1


def test_view_without_a_store_says_what_to_do(tmp_path):
    res = run_cli("view", "--store", str(tmp_path / "missing.db"))
    assert res.returncode == 2 and "no results store" in res.stderr
    assert not (tmp_path / "missing.db").exists()


def test_a_step_whose_pack_is_missing_still_opens(store_copy):
    db = sqlite3.connect(store_copy)
    attempt_id, step = disputed_step(db)
    run_id = db.execute("SELECT run_id FROM attempts WHERE attempt_id=?", (attempt_id,)).fetchone()[0]
    db.execute("UPDATE runs SET scenario_id='no-such-pack' WHERE run_id=?", (run_id,))
    db.commit()
    with client(store_copy) as c:
        assert c.get(f"/api/runs/{run_id}/steps/{step}/request").json() == {"available": False}
        assert c.get(f"/api/runs/{run_id}/steps/{step}").json()["outcome"] == "violated"
