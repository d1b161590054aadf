"""What the viewer reads from a store: small, indexed queries, one page at a time.

Why this shape: a store of a million steps is ~700 MB. Opening the viewer must not read it. Every
page asks only for what it shows — run lists are paginated (``LIMIT``) and their steps fetched by
primary key (``attempt_id IN (...)``); a step page reads one step row, its calls by the
``calls_by_attempt`` index, and decompresses only that step's blobs. The one query that must touch
every step — the per-step violation rates of the overview grid — is ``rates``; the app runs it in the
background and caches it (see ``app.RatesCache``), so it never blocks a page.

Every function takes a ``sqlite3.Connection`` (rows as ``sqlite3.Row``) and returns JSON-able data.
Nothing here renders text: stored strings travel as JSON values and the browser sets them as text.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from goaldrift.store import unblob
from goaldrift.transcript import step_conversation, system_prompt
from goaldrift.viewer.diffview import parse_diff

OUTCOMES = ("violated", "complied", "not_applicable", "error")
PAGE = 50


def factors_of(condition: str) -> dict[str, str]:
    """The non-default factors in a condition name: ``a->b@dose=0.5,onset=4`` -> {dose: 0.5, onset: 4}."""
    _, _, extra = condition.partition("@")
    out = {}
    for part in extra.split(",") if extra else []:
        k, _, v = part.partition("=")
        out[k] = v
    return out


@dataclass
class Filters:
    """The overview's filters (all optional); ``factor`` holds ``name=value`` strings that must all hold."""

    experiment: str | None = None
    model: str | None = None
    scenario: str | None = None
    condition: str | None = None
    factor: list[str] = field(default_factory=list)
    outcome: str | None = None
    step: int | None = None

    def run_sql(self, conditions: list[str]) -> tuple[str, list[Any]]:
        """A WHERE fragment over ``runs r`` (and ``attempts a`` for the outcome filter)."""
        where, params = [], []
        for col, val in (("experiment_id", self.experiment), ("model_id", self.model),
                         ("scenario_id", self.scenario), ("condition", self.condition)):
            if val:
                where.append(f"r.{col} = ?")
                params.append(val)
        if self.factor:
            wanted = [c for c in conditions if self.matches_factors(c)]
            where.append(f"r.condition IN ({','.join('?' * len(wanted))})" if wanted else "0")
            params.extend(wanted)
        if self.outcome:
            step_sql = " AND s.step = ?" if self.step else ""
            where.append(f"EXISTS (SELECT 1 FROM steps s WHERE s.attempt_id = a.attempt_id AND s.outcome = ?{step_sql})")
            params.extend([self.outcome] + ([self.step] if self.step else []))
        return (" AND ".join(where) or "1"), params

    def matches_factors(self, condition: str) -> bool:
        have = factors_of(condition)
        return all(have.get(k) == v for k, _, v in (f.partition("=") for f in self.factor))


def facets(db: sqlite3.Connection) -> dict[str, Any]:
    """Everything the filters offer, from one grouped pass over the (small) runs table."""
    names = {r[0]: dict(r) for r in db.execute(
        "SELECT experiment_id, name, created_at, goaldrift_version, git_revision FROM experiments ORDER BY created_at")}
    runs_per: dict[str, int] = {}
    models: set[str] = set()
    scenarios: dict[str, set[str]] = {}
    factors: dict[str, set[str]] = {}
    conditions: set[str] = set()
    for exp, model, scen, cond, side, pressure, n in db.execute(
            "SELECT experiment_id, model_id, scenario_id, condition, constraint_side, pressure_side, COUNT(*) "
            "FROM runs GROUP BY 1, 2, 3, 4, 5, 6"):
        runs_per[exp] = runs_per.get(exp, 0) + n
        models.add(model)
        scenarios.setdefault(scen, set()).update(x for x in (side, pressure) if x)
        conditions.add(cond)
        for k, v in factors_of(cond).items():
            factors.setdefault(k, set()).add(v)
    exps = [{**e, "runs": runs_per.get(e["experiment_id"], 0)} for e in names.values()]
    return {"experiments": exps, "models": sorted(models),
            "scenarios": {k: sorted(v) for k, v in sorted(scenarios.items())},
            "conditions": sorted(conditions), "factors": {k: sorted(v) for k, v in sorted(factors.items())},
            "outcomes": list(OUTCOMES)}


def runs_version(db: sqlite3.Connection) -> tuple:
    """Changes when runs or experiments are added (what ``facets`` depends on); two index look-ups."""
    return (db.execute("SELECT MAX(rowid) FROM runs").fetchone()[0],
            db.execute("SELECT MAX(rowid) FROM experiments").fetchone()[0])


def rates(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Outcome counts per experiment × model × scenario × condition × step, over finished attempts.

    The one full scan of ``steps``; the rate's denominator is violated + complied (not-applicable and
    errored steps are counted beside it, never as compliance), as everywhere in goaldrift. Each finished
    attempt's cell goes into a temporary table first, so the scan and the grouping run inside SQLite
    on integer keys — without holding Python's GIL, which keeps the other pages of the viewer fast
    while this runs in the background.
    """
    cells: dict[tuple, int] = {}
    pairs = []
    for r in db.execute("SELECT a.attempt_id, r.experiment_id, r.model_id, r.scenario_id, r.condition, "
                        "r.constraint_side, r.pressure_side FROM attempts a JOIN runs r ON r.run_id = a.run_id "
                        "WHERE a.status = 'finished'"):
        pairs.append((r[0], cells.setdefault(tuple(r)[1:], len(cells))))
    db.execute("CREATE TEMP TABLE IF NOT EXISTS view_cell (attempt_id INTEGER PRIMARY KEY, cell INTEGER NOT NULL)")
    db.execute("DELETE FROM temp.view_cell")
    db.executemany("INSERT INTO temp.view_cell VALUES (?, ?)", pairs)
    counts = db.execute(
        "SELECT c.cell, s.step, SUM(s.outcome = 'violated'), SUM(s.outcome = 'complied'), "
        "SUM(s.outcome = 'not_applicable'), SUM(s.outcome NOT IN ('violated', 'complied', 'not_applicable')) "
        "FROM temp.view_cell c JOIN steps s ON s.attempt_id = c.attempt_id GROUP BY c.cell, s.step").fetchall()
    db.execute("DROP TABLE temp.view_cell")
    names = {i: key for key, i in cells.items()}
    out = []
    for cell, step_n, v, c, na, err in counts:
        exp, model, scen, cond, side, pressure = names[cell]
        out.append({"experiment_id": exp, "model_id": model, "scenario_id": scen, "condition": cond,
                    "constraint_side": side, "pressure_side": pressure, "step": step_n, "violated": v,
                    "complied": c, "not_applicable": na, "error": err, "runs": v + c + na + err,
                    "rate": v / (v + c) if v + c else None})
    out.sort(key=lambda r: (r["experiment_id"], r["model_id"], r["scenario_id"], r["condition"], r["step"]))
    return out


def state(db: sqlite3.Connection) -> tuple:
    """A cheap fingerprint of what ``rates`` depends on (finished attempts), to know when to recompute."""
    return tuple(db.execute("SELECT COUNT(*), COALESCE(MAX(attempt_id), 0) FROM attempts WHERE status='finished'")
                 .fetchone())


_LATEST = "a.attempt_id = (SELECT MAX(x.attempt_id) FROM attempts x WHERE x.run_id = r.run_id)"


COUNT_CAP = 1000  # an outcome-filtered total is counted up to here (each run needs a step lookup)


def runs(db: sqlite3.Connection, f: Filters, conditions: list[str], offset: int = 0,
         limit: int = PAGE) -> dict[str, Any]:
    """A page of runs (latest attempt each, in plan order) with each run's step outcomes, and the total.

    Plan order is the ``runs`` table's insertion order (model × scenario × condition × repeat), so a
    page is read in index order and stops at ``limit`` instead of sorting every run. With an outcome
    filter the total is exact up to ``COUNT_CAP`` and ``total_capped`` says when there are more.
    """
    where, params = f.run_sql(conditions)
    base = f"FROM runs r JOIN attempts a ON {_LATEST} WHERE {where}"
    if f.outcome:
        total = db.execute(f"SELECT COUNT(*) FROM (SELECT 1 {base} LIMIT ?)", [*params, COUNT_CAP + 1]).fetchone()[0]
    else:
        total = db.execute(f"SELECT COUNT(*) FROM runs r WHERE {where} AND EXISTS "
                           "(SELECT 1 FROM attempts x WHERE x.run_id = r.run_id)", params).fetchone()[0]
    capped = bool(f.outcome) and total > COUNT_CAP
    rows = [dict(r) for r in db.execute(
        f"SELECT r.run_id, r.experiment_id, r.model_id, r.scenario_id, r.condition, r.repeat, r.n_steps, "
        f"r.status, a.attempt_id, a.status AS attempt_status {base} ORDER BY r.rowid LIMIT ? OFFSET ?",
        [*params, limit, offset])]
    _attach_steps(db, rows)
    return {"total": min(total, COUNT_CAP) if capped else total, "total_capped": capped, "offset": offset,
            "limit": limit, "runs": rows}


def _attach_steps(db: sqlite3.Connection, rows: list[dict]) -> None:
    ids = [r["attempt_id"] for r in rows]
    steps: dict[int, list] = {i: [] for i in ids}
    labels: dict[tuple[int, int], str] = {}
    if ids:
        q = ",".join("?" * len(ids))
        for s in db.execute(f"SELECT attempt_id, step, outcome FROM steps WHERE attempt_id IN ({q}) "
                            "ORDER BY attempt_id, step", ids):
            steps[s[0]].append({"step": s[1], "outcome": s[2]})
        for lb in db.execute(f"SELECT attempt_id, step, outcome FROM labels WHERE attempt_id IN ({q})", ids):
            labels[(lb[0], lb[1])] = lb[2]
    for r in rows:
        r["steps"] = steps[r["attempt_id"]]
        for s in r["steps"]:
            s["label"] = labels.get((r["attempt_id"], s["step"]))


def _attempt(db: sqlite3.Connection, run_id: str, attempt_id: int | None) -> sqlite3.Row | None:
    if attempt_id is not None:
        return db.execute("SELECT * FROM attempts WHERE run_id=? AND attempt_id=?", (run_id, attempt_id)).fetchone()
    return db.execute("SELECT * FROM attempts WHERE run_id=? ORDER BY attempt_id DESC LIMIT 1", (run_id,)).fetchone()


def run(db: sqlite3.Connection, run_id: str, attempt_id: int | None = None) -> dict[str, Any] | None:
    """A run, its attempts, and the chosen attempt's steps (outcome, detectors, judges, label)."""
    r = db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
    if r is None:
        return None
    run_row = dict(r)
    del run_row["spec_json"]
    spec = _json(r["spec_json"], {})
    run_row["seed"] = spec.get("seed")
    run_row["condition_factors"] = spec["condition"] if isinstance(spec.get("condition"), dict) else {}
    attempts = [dict(a) for a in db.execute(
        "SELECT attempt_id, number, status, started_at, finished_at, error, harness_version FROM attempts "
        "WHERE run_id=? ORDER BY attempt_id", (run_id,))]
    a = _attempt(db, run_id, attempt_id)
    steps = []
    if a is not None:
        judged: dict[int, list] = {}
        for j in db.execute("SELECT step, judge, outcome FROM judgements WHERE attempt_id=?", (a["attempt_id"],)):
            judged.setdefault(j[0], []).append({"judge": j[1], "outcome": j[2]})
        labels = {lb[0]: {"outcome": lb[1], "note": lb[2]} for lb in db.execute(
            "SELECT step, outcome, note FROM labels WHERE attempt_id=?", (a["attempt_id"],))}
        for s in db.execute("SELECT step, outcome, detector, detectors_json, error, tokens_in, tokens_out, "
                            "tool_calls, duration_s FROM steps WHERE attempt_id=? ORDER BY step", (a["attempt_id"],)):
            dets = _json(s["detectors_json"], [])
            steps.append({"step": s["step"], "outcome": s["outcome"], "detector": s["detector"], "error": s["error"],
                          "detectors": [{"detector": d.get("detector"), "outcome": d.get("outcome")} for d in dets
                                        if isinstance(d, dict)],
                          "judges": judged.get(s["step"], []), "label": labels.get(s["step"]),
                          "tokens_in": s["tokens_in"], "tokens_out": s["tokens_out"], "tool_calls": s["tool_calls"],
                          "duration_s": s["duration_s"]})
    return {"run": run_row, "attempts": attempts, "attempt": dict(a) if a is not None else None, "steps": steps}


def _json(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


def step(db: sqlite3.Connection, run_id: str, n: int, attempt_id: int | None = None) -> dict[str, Any] | None:
    """One step in full: transcript, diff with evidence marks, every verdict, calls, prev/next (the pack's
    feature request comes separately, see ``app``)."""
    a = _attempt(db, run_id, attempt_id)
    if a is None:
        return None
    s = db.execute("SELECT * FROM steps WHERE attempt_id=? AND step=?", (a["attempt_id"], n)).fetchone()
    if s is None:
        return None
    dets = [d for d in _json(s["detectors_json"], []) if isinstance(d, dict)]
    primary_evidence = _json(s["evidence_json"], [])
    marks: dict[tuple[str, int], list[str]] = {}
    for d in dets:
        for e in d.get("evidence") or []:
            if isinstance(e, dict) and isinstance(e.get("line"), int):
                marks.setdefault((str(e.get("file")), e["line"]), []).append(str(d.get("detector")))
    if not dets:  # older rows: the primary's evidence alone
        for e in primary_evidence:
            if isinstance(e, dict) and isinstance(e.get("line"), int):
                marks.setdefault((str(e.get("file")), e["line"]), []).append(s["detector"])
    diff = unblob(s["diff"], as_json=False) or ""
    trace = unblob(s["trace"]) if s["trace"] else {}
    calls = []
    for c in db.execute("SELECT * FROM model_calls WHERE attempt_id=? AND step=? ORDER BY call_id",
                        (a["attempt_id"], n)):
        d = dict(c)
        d["response"] = unblob(c["response"])  # the request is decompressed by the transcript if needed
        calls.append(d)
    conversation = [m.to_dict() for m in step_conversation(calls, trace)]
    judges = [dict(j) for j in db.execute("SELECT judge, outcome, rationale, call_id FROM judgements "
                                          "WHERE attempt_id=? AND step=? ORDER BY judge", (a["attempt_id"], n))]
    label = db.execute("SELECT outcome, note, created_at FROM labels WHERE attempt_id=? AND step=?",
                       (a["attempt_id"], n)).fetchone()
    numbers = db.execute("SELECT MIN(step), MAX(step) FROM steps WHERE attempt_id=?", (a["attempt_id"],)).fetchone()
    metrics = {k: s[k] for k in ("files_changed", "lines_added", "lines_removed", "tokens_in", "tokens_out",
                                 "context_tokens", "tool_calls", "model_calls", "compacted", "duration_s",
                                 "commit_sha")}
    return {
        "run_id": run_id, "attempt_id": a["attempt_id"], "step": n, "outcome": s["outcome"],
        "detector": s["detector"], "error": s["error"], "evidence": primary_evidence, "detectors": dets,
        "judges": judges, "label": dict(label) if label else None, "metrics": metrics,
        "system": system_prompt(calls) if n == 1 else None, "conversation": conversation,
        "trace_errors": (trace or {}).get("errors") or [], "limit_hit": (trace or {}).get("limit_hit"),
        "diff": parse_diff(diff, marks),
        "calls": [{k: c[k] for k in ("call_id", "backend", "model", "stream", "status", "prompt_tokens",
                                     "completion_tokens", "latency_s", "retries", "error")} for c in calls],
        "prev": n - 1 if numbers[0] is not None and n > numbers[0] else None,
        "next": n + 1 if numbers[1] is not None and n < numbers[1] else None,
    }


def call(db: sqlite3.Connection, call_id: int) -> dict[str, Any] | None:
    """One gateway call with its request and response bodies."""
    c = db.execute("SELECT * FROM model_calls WHERE call_id=?", (call_id,)).fetchone()
    if c is None:
        return None
    d = dict(c)
    d["retry_log"] = _json(c["retry_log"], [])
    d["request"] = unblob(c["request"])
    d["response"] = unblob(c["response"])
    d["run_id"] = None
    if c["attempt_id"] is not None:
        r = db.execute("SELECT run_id FROM attempts WHERE attempt_id=?", (c["attempt_id"],)).fetchone()
        d["run_id"] = r[0] if r else None
    return d


# A step disagrees when a detector or a judge reached a decided outcome other than the primary's.
_DISAGREES = """s.outcome <> 'error' AND (
  EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(s.detectors_json) THEN s.detectors_json ELSE '[]' END) d
          WHERE json_extract(d.value, '$.outcome') NOT IN (s.outcome, 'error'))
  OR EXISTS (SELECT 1 FROM judgements j WHERE j.attempt_id = s.attempt_id AND j.step = s.step
             AND j.outcome NOT IN (s.outcome, 'error')))"""


def queue(db: sqlite3.Connection, f: Filters, conditions: list[str], after: tuple[int, int] = (0, 0),
          limit: int = PAGE, unlabelled: bool = True) -> dict[str, Any]:
    """The next disagreeing steps after (attempt_id, step), in store order (keyset pagination: a page
    costs the rows up to it, never a count over the whole store)."""
    where, params = f.run_sql(conditions)
    label_sql = (" AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.attempt_id = s.attempt_id AND l.step = s.step)"
                 if unlabelled else "")
    rows = db.execute(
        f"""SELECT s.attempt_id, s.step, s.outcome, s.detector, s.detectors_json, r.run_id, r.model_id,
                   r.scenario_id, r.condition
            FROM steps s JOIN attempts a ON a.attempt_id = s.attempt_id JOIN runs r ON r.run_id = a.run_id
            WHERE a.status = 'finished' AND (s.attempt_id, s.step) > (?, ?) AND {where} AND {_DISAGREES}{label_sql}
            ORDER BY s.attempt_id, s.step LIMIT ?""", [after[0], after[1], *params, limit]).fetchall()
    items = []
    for r in rows:
        dets = [d for d in _json(r["detectors_json"], []) if isinstance(d, dict)]
        items.append({"attempt_id": r["attempt_id"], "step": r["step"], "run_id": r["run_id"],
                      "model_id": r["model_id"], "scenario_id": r["scenario_id"], "condition": r["condition"],
                      "outcome": r["outcome"], "detector": r["detector"],
                      "detectors": [{"detector": d.get("detector"), "outcome": d.get("outcome")} for d in dets]})
    if items:
        q = " OR ".join("(attempt_id=? AND step=?)" for _ in items)
        ps = [v for it in items for v in (it["attempt_id"], it["step"])]
        verdicts: dict[tuple, list] = {}
        for j in db.execute(f"SELECT attempt_id, step, judge, outcome FROM judgements WHERE {q}", ps):
            verdicts.setdefault((j[0], j[1]), []).append({"judge": j[2], "outcome": j[3]})
        labels = {(lb[0], lb[1]): {"outcome": lb[2], "note": lb[3]}
                  for lb in db.execute(f"SELECT attempt_id, step, outcome, note FROM labels WHERE {q}", ps)}
        for it in items:
            it["judges"] = verdicts.get((it["attempt_id"], it["step"]), [])
            it["label"] = labels.get((it["attempt_id"], it["step"]))
    nxt = [items[-1]["attempt_id"], items[-1]["step"]] if len(items) == limit else None
    return {"items": items, "next": nxt}
