"""One step's result, typed, and ``score_step``, the one function that produces it.

Everything a finished step leaves behind travels as a ``StepResult`` until the store writes it:
the outcome as an ``Outcome``, the primary detector's evidence as ``Decision``s, every detector's
``DetectorResult``, the step's diff and its size, the agent's ``StepTrace`` and its ``Usage``. Only
the store turns these into columns and JSON (``Store.write_step``), so a field cannot silently
change its shape between the runner, a benchmark and a future executor.

``score_step`` is public because every executor of a run (the local ``Trial``, a cluster worker, the
benchmarks) must judge a step the same way: snapshot the workspace, run every detector on the step's
diff (probes under ``run_detectors``' rule), take the deciding result's outcome (a probe's decision,
else the static primary's), and turn "the agent failed and left no decision" into
``error`` (we do not know what it would have done) rather than ``not_applicable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from goaldrift.agents.base import StepTrace
from goaldrift.completion import CompletionResult
from goaldrift.detect.base import Decision, Detector, DetectorResult
from goaldrift.detect.diff import change_from_diff
from goaldrift.detect.run import run_detectors
from goaldrift.outcome import Outcome
from goaldrift.workspace import Workspace


@dataclass(frozen=True)
class Usage:
    """What a step cost, from the agent's own record."""

    tokens_in: int = 0
    tokens_out: int = 0
    context_tokens: int = 0  # prompt tokens of the step's last model call: the accumulated context
    tool_calls: int = 0
    model_calls: int = 0
    compacted: bool = False

    @classmethod
    def of(cls, trace: StepTrace) -> Usage:
        tool_calls = len(trace.tool_calls) if trace.tool_call_count is None else trace.tool_call_count
        return cls(trace.tokens_in, trace.tokens_out, trace.context_tokens, tool_calls, trace.model_calls,
                   trace.compacted)


@dataclass(frozen=True)
class StepResult:
    """Everything stored for one finished step (the store writes it in one transaction)."""

    step: int
    outcome: Outcome
    detector: str  # the deciding detector (a probe that reached a decision, else the primary), whose outcome is the step's
    evidence: tuple[Decision, ...] = ()  # the decisions the outcome rests on
    detectors: tuple[DetectorResult, ...] = ()  # every detector's result, the primary included
    commit_sha: str | None = None
    diff: str = ""  # as stored (cut at workspace.MAX_DIFF_BYTES; detectors saw all of it)
    files_changed: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    usage: Usage = Usage()
    duration_s: float = 0.0
    error: str | None = None
    trace: StepTrace = field(default_factory=StepTrace)
    workspace_events: tuple[str, ...] = ()  # what the snapshot noticed and left out (nested .git, FIFOs, caps)
    completion: CompletionResult = CompletionResult()  # did the step's work pass its acceptance tests
    channel: str | None = None  # the pressure channel in force at this step (None: baseline or before onset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))  # a stored word is accepted, and checked


@dataclass(frozen=True)
class Scoring:
    """How a run's steps are judged: its detectors, which one is the static primary, the constraint's side."""

    detectors: Sequence[Detector]
    primary_id: str
    side: str


def score_step(ws: Workspace, step: int, trace: StepTrace, scoring: Scoring, duration_s: float = 0.0) -> StepResult:
    """Snapshot the step, run every detector on its diff, and decide the step's outcome.

    A step whose agent failed (an error, or the wall-time limit) and that left no decision is
    ``error``; if it did write a decision, that decision is judged and the failure is recorded beside it.
    """
    snap = ws.snapshot(step)
    change = change_from_diff(ws.repo, snap.diff)
    primary, results = run_detectors(list(scoring.detectors), scoring.primary_id, change, scoring.side)
    outcome = primary.outcome
    if (trace.errors or trace.limit_hit == "wall_time") and outcome == Outcome.NOT_APPLICABLE:
        outcome = Outcome.ERROR
    errors = list(trace.errors)
    if trace.limit_hit:
        errors.append(f"limit hit: {trace.limit_hit}")
    if snap.truncated:
        errors.append("diff truncated for storage")
    if snap.incomplete:
        errors.append(f"snapshot incomplete: {snap.incomplete}")
    errors.extend(f"warning: {w}" for w in trace.warnings)
    return StepResult(
        step=step, outcome=outcome, detector=primary.detector, evidence=tuple(primary.evidence),
        detectors=tuple(results), commit_sha=snap.commit, diff=snap.stored_diff,
        files_changed=snap.files_changed, lines_added=snap.lines_added, lines_removed=snap.lines_removed,
        usage=Usage.of(trace), duration_s=duration_s, error="; ".join(errors) or None, trace=trace,
        workspace_events=snap.events,
    )


def detector_result_from_dict(d: dict) -> DetectorResult:
    """A ``DetectorResult`` from its stored JSON form (``DetectorResult.to_dict``)."""
    return DetectorResult(d["detector"], Outcome(d["outcome"]), [Decision(**e) for e in d.get("evidence", [])],
                          d.get("note", ""))
