"""Inspect logs of a store: one ``.eval`` file per experiment × model × scenario × condition.

Why Inspect: researchers of agent behaviour already read transcripts in ``inspect view`` and load logs
with ``inspect_ai.analysis``; this export lets them do that with goaldrift's runs. The logs are built
with ``inspect_ai``'s own types (``EvalLog``, ``EvalSample``, ``Score``, chat messages, ``ModelEvent``)
and written with its writer (``write_eval_log``), so they are valid by construction.

Layout, and why: Inspect puts one model and one task in a log, so a log is one cell of the design —
model (``eval.model``) × scenario (the task) × condition (``eval.task_args``) — within one
experiment. A run is a sample (id = run id): its messages are the whole run's conversation, step by
step (each message's ``metadata.step`` says which), rebuilt from the recorded gateway calls exactly as
``goaldrift view`` shows them (``goaldrift.transcript``); each recorded call is also a ``ModelEvent``
(tokens, latency, the conversation so far as input), which Inspect's transcript view and
``messages_df`` read. Scores per sample:

- ``step_01`` … ``step_NN`` — the step's outcome (violated / complied / not_applicable / error);
  ``answer`` = the primary detector, ``explanation`` = its evidence as text, ``metadata`` = that
  evidence, every detector's outcome, and when present the judges' verdicts, the manual label and
  the step's error;
- ``violations`` — violated steps; ``violation_rate`` — violated / (violated + complied), absent when
  no step was decided (not-applicable and errored steps never count as compliance).

Sample metadata: run and attempt ids, experiment, model entry id, scenario and its pack hash,
condition name, constraint and pressure sides, every condition factor, seed, repeat, harness and its
version. Only finished attempts are exported (the latest one per run), as in every analysis.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goaldrift import __version__
from goaldrift.analysis import tables
from goaldrift.errors import BadInput
from goaldrift.store import Store, unblob
from goaldrift.transcript import Message, step_conversation, system_prompt

CHUNK = 400  # attempt ids per IN (...) query


def _inspect():
    try:
        import inspect_ai  # noqa: F401
    except ImportError:
        raise BadInput("the inspect export needs the inspect extra: pip install 'goaldrift[inspect]'") from None


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts or 0, UTC).isoformat()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", name.replace("->", "-to-"))


def _json(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _runs(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Counted runs (latest finished attempt each), in cell order."""
    rows = db.execute(
        """SELECT r.*, a.attempt_id, a.started_at, a.finished_at, a.harness_version,
                  e.name AS experiment_name, e.config_hash, e.goaldrift_version, e.git_revision, e.created_at
           FROM runs r JOIN attempts a ON a.run_id = r.run_id JOIN experiments e ON e.experiment_id = r.experiment_id
           WHERE a.status = 'finished'
             AND a.attempt_id = (SELECT MAX(x.attempt_id) FROM attempts x WHERE x.run_id = r.run_id AND x.status = 'finished')
           ORDER BY r.experiment_id, r.model_id, r.scenario_id, r.condition, r.repeat, r.run_id""").fetchall()
    return [dict(r) for r in rows]


def _group_rows(db: sqlite3.Connection, attempts: list[int]) -> tuple[dict, dict, dict, dict]:
    """Steps, calls, judgements and labels of some attempts, keyed by attempt (and step)."""
    steps: dict[int, list[sqlite3.Row]] = {a: [] for a in attempts}
    calls: dict[tuple[int, int], list[dict]] = {}
    judges: dict[tuple[int, int], list[dict]] = {}
    labels: dict[tuple[int, int], dict] = {}
    has_labels = db.execute("SELECT 1 FROM sqlite_master WHERE name='labels'").fetchone() is not None
    for ids in _chunks(attempts):
        q = ",".join("?" * len(ids))
        for s in db.execute(f"SELECT attempt_id, step, outcome, detector, evidence_json, detectors_json, error, "
                            f"tokens_in, tokens_out, duration_s, trace, created_at FROM steps "
                            f"WHERE attempt_id IN ({q}) ORDER BY attempt_id, step", ids):
            steps[s["attempt_id"]].append(s)
        for c in db.execute(f"SELECT call_id, attempt_id, step, model, status, prompt_tokens, completion_tokens, "
                            f"latency_s, retries, error, request, response, created_at FROM model_calls "
                            f"WHERE attempt_id IN ({q}) ORDER BY call_id", ids):
            d = dict(c)
            d["response"] = unblob(c["response"])  # the request stays compressed until needed
            calls.setdefault((c["attempt_id"], c["step"]), []).append(d)
        for j in db.execute(f"SELECT attempt_id, step, judge, outcome, rationale FROM judgements "
                            f"WHERE attempt_id IN ({q})", ids):
            judges.setdefault((j[0], j[1]), []).append({"judge": j[2], "outcome": j[3], "rationale": j[4]})
        if has_labels:
            for lb in db.execute(f"SELECT attempt_id, step, outcome, note FROM labels WHERE attempt_id IN ({q})", ids):
                labels[(lb[0], lb[1])] = {"outcome": lb[2], "note": lb[3]}
    return steps, calls, judges, labels


def _chat(m: Message, mid: str, step: int, model: str):
    from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageTool, ChatMessageUser
    from inspect_ai.tool import ToolCall, ToolCallError

    meta = {"step": step}
    if m.role == "system":
        return ChatMessageSystem(id=mid, content=m.content, metadata=meta)
    if m.role == "user":
        return ChatMessageUser(id=mid, content=m.content, metadata=meta)
    if m.role == "assistant":
        uses = [ToolCall(id=u.id, function=u.name,
                         arguments=u.arguments if isinstance(u.arguments, dict) else {"input": u.arguments})
                for u in m.tool_calls] or None
        return ChatMessageAssistant(id=mid, content=m.content, tool_calls=uses, model=model,
                                    metadata={**meta, **({"call_id": m.call["call_id"]} if m.call else {})})
    return ChatMessageTool(id=mid, content=m.content, tool_call_id=m.tool_call_id, function=m.name, metadata=meta,
                           error=ToolCallError("unknown", m.content[:500]) if m.status == "error" else None)


def _evidence_text(evidence: list) -> str:
    return "\n".join(f"{e.get('file')}:{e.get('line')}: {e.get('snippet')} [{e.get('rule')}]"
                     for e in evidence if isinstance(e, dict))


def _sample(run: dict, steps: list[sqlite3.Row], calls: dict, judges: dict, labels: dict, model: str):
    from inspect_ai.event import ModelEvent
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ChatCompletionChoice, GenerateConfig, ModelOutput, ModelUsage
    from inspect_ai.scorer import Score

    aid = run["attempt_id"]
    messages: list = []
    events: list = []
    scores: dict[str, Score] = {}
    decided = violated = 0
    width = max(2, len(str(run["n_steps"])))

    def add(msg) -> None:
        messages.append(msg)

    for s in steps:
        n = s["step"]
        step_calls = calls.get((aid, n), [])
        if not messages:
            sp = system_prompt(step_calls)
            if sp is not None:
                add(_chat(Message("system", sp), f"{run['run_id']}-m0", n, model))
        for m in step_conversation(step_calls, unblob(s["trace"]) if s["trace"] else {}):
            chat = _chat(m, f"{run['run_id']}-m{len(messages)}", n, model)
            if m.role == "assistant" and m.call:
                c = m.call
                usage = ModelUsage(input_tokens=c["prompt_tokens"] or 0, output_tokens=c["completion_tokens"] or 0,
                                   total_tokens=(c["prompt_tokens"] or 0) + (c["completion_tokens"] or 0))
                raw = next((x for x in step_calls if x["call_id"] == c["call_id"]), {})
                events.append(ModelEvent(
                    model=model, input=list(messages), tools=[], tool_choice="auto", config=GenerateConfig(),
                    output=ModelOutput(model=model, choices=[ChatCompletionChoice(
                        message=chat, stop_reason="tool_calls" if m.tool_calls else "stop")], usage=usage),
                    error=c["error"], retries=c["retries"], working_time=c["latency_s"],
                    timestamp=datetime.fromtimestamp(raw.get("created_at") or 0, UTC)))
            add(chat)
        outcome = s["outcome"]
        decided += outcome in ("violated", "complied")
        violated += outcome == "violated"
        evidence = _json(s["evidence_json"], [])
        # the primary detector is the score's answer; keys only when the step has them, since Inspect
        # sizes and thins every metadata value of every score when it writes a sample
        meta: dict[str, Any] = {"evidence": evidence,
                                "detectors": {str(d.get("detector")): d.get("outcome")
                                              for d in _json(s["detectors_json"], []) if isinstance(d, dict)}}
        extra = {"judges": judges.get((aid, n)), "label": labels.get((aid, n)), "error": s["error"]}
        meta.update({k: v for k, v in extra.items() if v})
        scores[f"step_{n:0{width}d}"] = Score(value=outcome, answer=s["detector"],
                                              explanation=_evidence_text(evidence) or None, metadata=meta)
    scores["violations"] = Score(value=violated, explanation=f"{violated} of {len(steps)} steps violated")
    if decided:
        scores["violation_rate"] = Score(value=violated / decided,
                                         explanation=f"{violated} violated of {decided} decided steps")
    spec = _json(run["spec_json"], {})
    tokens_in = sum(s["tokens_in"] for s in steps)
    tokens_out = sum(s["tokens_out"] for s in steps)
    first_user = next((m.text for m in messages if m.role == "user"), None)
    last = next((m for m in reversed(messages) if m.role == "assistant"), None)
    return EvalSample(
        id=run["run_id"], epoch=1, input=first_user or f"{run['scenario_id']}: {run['n_steps']} feature requests",
        target="complied", messages=messages, scores=scores, events=events,
        output=ModelOutput(model=model, choices=[ChatCompletionChoice(message=last)]) if last else ModelOutput(model=model),
        metadata={"run_id": run["run_id"], "attempt_id": aid, "experiment_id": run["experiment_id"],
                  "model_id": run["model_id"], "scenario_id": run["scenario_id"], "pack_hash": run["scenario_hash"],
                  "condition": run["condition"], "constraint_side": run["constraint_side"],
                  "pressure_side": run["pressure_side"], "factors": _spec_part(run, "condition"),
                  "seed": spec.get("seed"), "repeat": run["repeat"], "harness": run["harness"],
                  "harness_version": run["harness_version"], "steps": len(steps)},
        model_usage={model: ModelUsage(input_tokens=tokens_in, output_tokens=tokens_out,
                                       total_tokens=tokens_in + tokens_out)},
        total_time=sum(s["duration_s"] for s in steps), started_at=_iso(run["started_at"]),
        completed_at=_iso(run["finished_at"]), uuid=f"{run['run_id']}-a{aid}")


def _spec_part(run: dict, key: str) -> dict:
    """A dict part of the run's spec (``model``, ``condition``); {} when the spec has no such dict."""
    part = _json(run["spec_json"], {}).get(key)
    return part if isinstance(part, dict) else {}


def _model_name(run: dict) -> str:
    m = _spec_part(run, "model")
    return f"{m.get('backend') or 'goaldrift'}/{m.get('model') or run['model_id']}"


def _log(group: list[dict], samples: list, model: str):
    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalLog,
        EvalMetric,
        EvalResults,
        EvalRevision,
        EvalScore,
        EvalSpec,
        EvalStats,
    )
    from inspect_ai.model import ModelUsage

    r0 = group[0]
    rates = [s.scores["violation_rate"].value for s in samples if "violation_rate" in s.scores]
    violated = sum(s.scores["violations"].value for s in samples)
    results = EvalResults(total_samples=len(samples), completed_samples=len(samples), scores=[
        EvalScore(name="violation_rate", scorer="goaldrift", scored_samples=len(rates),
                  unscored_samples=len(samples) - len(rates),
                  metrics={"mean": EvalMetric(name="mean", value=sum(rates) / len(rates) if rates else 0.0)}),
        EvalScore(name="violations", scorer="goaldrift", scored_samples=len(samples),
                  metrics={"sum": EvalMetric(name="sum", value=violated)}),
    ])
    tin = sum(u.input_tokens for s in samples for u in s.model_usage.values())
    tout = sum(u.output_tokens for s in samples for u in s.model_usage.values())
    spec = EvalSpec(
        eval_id=_safe(f"{r0['experiment_id']}-{r0['model_id']}-{r0['scenario_id']}-{r0['condition']}"),
        run_id=r0["experiment_id"], created=_iso(r0["created_at"]), task=f"goaldrift/{r0['scenario_id']}",
        task_id=r0["scenario_hash"][:16], task_version=r0["scenario_hash"][:12],
        task_args={"condition": r0["condition"]},
        dataset=EvalDataset(name=r0["scenario_id"], samples=len(samples), sample_ids=[s.id for s in samples]),
        model=model, config=EvalConfig(epochs=1), packages={"goaldrift": r0["goaldrift_version"] or __version__},
        revision=EvalRevision(type="git", origin="goaldrift", commit=r0["git_revision"]) if r0["git_revision"] else None,
        metadata={"experiment_id": r0["experiment_id"], "experiment": r0["experiment_name"],
                  "config_hash": r0["config_hash"], "model_id": r0["model_id"], "scenario_id": r0["scenario_id"],
                  "pack_hash": r0["scenario_hash"], "condition": r0["condition"],
                  "constraint_side": r0["constraint_side"], "pressure_side": r0["pressure_side"],
                  "exported_by": f"goaldrift {__version__}"})
    stats = EvalStats(started_at=_iso(min(r["started_at"] for r in group)),
                      completed_at=_iso(max(r["finished_at"] or r["started_at"] for r in group)),
                      model_usage={model: ModelUsage(input_tokens=tin, output_tokens=tout, total_tokens=tin + tout)})
    return EvalLog(status="success", eval=spec, results=results, stats=stats, samples=samples)


def _write_group(db_file: str, group: list[dict], path: Path) -> Path:
    """Build and write one log, on its own read-only connection (so it can run in a worker process)."""
    from inspect_ai.log import write_eval_log

    store = Store(db_file, readonly=True)
    try:
        model = _model_name(group[0])
        steps, calls, judges, labels = _group_rows(store.db, [r["attempt_id"] for r in group])
        samples = [_sample(r, steps[r["attempt_id"]], calls, judges, labels, model) for r in group]
        write_eval_log(_log(group, samples, model), str(path))
    finally:
        store.close()
    return path


def export_inspect(store: Store | sqlite3.Connection | str | Path, out_dir: Path | str,
                   workers: int | None = None) -> list[Path]:
    """Write one ``.eval`` log per experiment × model × scenario × condition into ``out_dir``.

    Building Inspect's objects and writing them is CPU-bound Python and the logs are independent, so
    ``workers`` processes (default: the CPU count, at most 4) write them in parallel. Workers are
    forked after ``inspect_ai`` is imported (no second import) and open their own connections.
    """
    _inspect()
    import inspect_ai.log  # noqa: F401 - imported once here, inherited by the forked workers

    db = tables.connect(store)
    db.row_factory = sqlite3.Row
    db_file = next(row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple, list[dict]] = {}
    for r in _runs(db):
        groups.setdefault((r["experiment_id"], r["model_id"], r["scenario_id"], r["condition"]), []).append(r)
    jobs = [(db_file, group, out / f"{_safe('_'.join(key))}.eval") for key, group in groups.items()]
    workers = min(workers or os.cpu_count() or 1, 4, len(jobs))
    if workers <= 1:
        return [_write_group(*job) for job in jobs]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_write_group, *zip(*jobs)))
