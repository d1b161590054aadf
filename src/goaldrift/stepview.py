"""One stored run, read back for a human: what ``goaldrift show`` prints.

Everything comes from the store, nothing from the workspace (it may be compacted or deleted): the
run's row, its counted attempt (the finished one, else the latest), each step's outcome, the request
the agent got (the last user message of the step's first model call, exactly as sent), the agent's
transcript (the stored ``StepTrace``: tool calls with inputs and outputs), the diff with the lines the
primary detector cited as evidence marked, and every detector's verdict (plus LLM-judge verdicts).

The text is the agent's and the model's, so it is hostile: ``printable`` strips every control and
format character but newline and tab before anything reaches a terminal (an escape sequence could
rewrite the screen, hide lines or set the window title; a bidi override could reorder what is read).
A field that is one line (a verdict's note, an evidence line's file and snippet) goes through
``one_line``, which shows a line break as ``\\n``: the agent names its files, and a file called
``x.py<newline>anon-ast: complied`` would otherwise print a verdict line of its own.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from goaldrift.errors import BadInput
from goaldrift.store import Store, unblob

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def printable(text: Any) -> str:
    """``text`` without control or format characters (ESC, CSI, BEL, bidi overrides...), bar \\n and \\t."""
    s = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return "".join(c for c in s if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf"))


def one_line(text: Any) -> str:
    """``printable`` for a field that must stay one line: a line break is shown as ``\\n``."""
    return printable(text).replace("\n", "\\n")


@dataclass
class DiffLine:
    text: str
    evidence: bool = False  # a line the primary detector cited


@dataclass
class StepView:
    step: int
    outcome: str
    detector: str
    error: str | None
    request: str
    trace: dict[str, Any]
    diff: list[DiffLine]
    verdicts: list[dict[str, Any]]  # every detector's result
    judgements: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)


def resolve_run(store: Store, prefix: str) -> str:
    """The run id that ``prefix`` starts; bad input (exit 2) if none or several do."""
    if not re.fullmatch(r"[0-9a-f]{1,16}", prefix):
        raise BadInput(f"run {prefix!r}: a run id is hexadecimal (`goaldrift show` lists them)")
    ids = [r[0] for r in store.db.execute("SELECT run_id FROM runs WHERE run_id LIKE ? ORDER BY run_id LIMIT 6",
                                          (prefix + "%",))]
    if not ids:
        raise BadInput(f"run {prefix!r}: no run of {store.path} starts with it")
    if len(ids) > 1:
        more = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
        raise BadInput(f"run {prefix!r} is ambiguous ({more}): give more characters")
    return ids[0]


def list_runs(store: Store) -> list[dict[str, Any]]:
    return [dict(r) for r in store.db.execute(
        "SELECT run_id, model_id, scenario_id, condition, repeat, status FROM runs "
        "ORDER BY model_id, scenario_id, condition, repeat")]


def run_header(store: Store, run_id: str) -> dict[str, Any]:
    """The run's row and its counted attempt (finished, else the latest); ``attempt`` None if never started."""
    run = dict(store.db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone())
    attempt = store.db.execute(
        "SELECT attempt_id, number, status, error FROM attempts WHERE run_id=? "
        "ORDER BY status='finished' DESC, number DESC LIMIT 1", (run_id,)).fetchone()
    run.pop("spec_json", None)
    run["attempt"] = dict(attempt) if attempt else None
    return run


def step_outcomes(store: Store, attempt_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in store.db.execute(
        "SELECT step, outcome, completion, detector, tool_calls, tokens_in, duration_s, error FROM steps "
        "WHERE attempt_id=? ORDER BY step", (attempt_id,))]


def step_view(store: Store, attempt_id: int, step: int) -> StepView:
    row = store.db.execute("SELECT * FROM steps WHERE attempt_id=? AND step=?", (attempt_id, step)).fetchone()
    if row is None:
        have = [r["step"] for r in step_outcomes(store, attempt_id)]
        raise BadInput(f"--step {step}: attempt {attempt_id} has no such step (stored: "
                       f"{', '.join(map(str, have)) or 'none'})")
    evidence = json.loads(row["evidence_json"])
    judgements = [dict(r) for r in store.db.execute(
        "SELECT judge, outcome, rationale FROM judgements WHERE attempt_id=? AND step=?", (attempt_id, step))]
    return StepView(
        step=step, outcome=row["outcome"], detector=row["detector"], error=row["error"],
        request=_request(store, attempt_id, step), trace=unblob(row["trace"]) or {},
        diff=mark_evidence(unblob(row["diff"], as_json=False) or "", evidence),
        verdicts=json.loads(row["detectors_json"]), judgements=judgements,
        usage={k: row[k] for k in ("tokens_in", "tokens_out", "model_calls", "tool_calls", "duration_s")},
    )


def _request(store: Store, attempt_id: int, step: int) -> str:
    call = store.db.execute("SELECT request FROM model_calls WHERE attempt_id=? AND step=? ORDER BY call_id "
                            "LIMIT 1", (attempt_id, step)).fetchone()
    body = unblob(call["request"]) if call else None
    messages = body.get("messages", []) if isinstance(body, dict) else []
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts
                content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content)
    return "(no model call recorded for this step)"


def mark_evidence(diff: str, evidence: list[dict[str, Any]]) -> list[DiffLine]:
    """The diff's lines, with each added line at an evidence (file, post-step line) marked."""
    cited = {(e.get("file"), e.get("line")) for e in evidence}
    out: list[DiffLine] = []
    file: str | None = None
    line = 0
    for text in diff.splitlines():
        if text.startswith("+++ "):
            file = text[6:] if text.startswith("+++ b/") else None
        elif (m := _HUNK.match(text)) is not None:
            line = int(m.group(1))
        elif text.startswith("+"):
            out.append(DiffLine(text, (file, line) in cited))
            line += 1
            continue
        elif text.startswith(" "):
            line += 1
        out.append(DiffLine(text))
    return out
