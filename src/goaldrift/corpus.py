"""A labelled corpus of step changes, and precision/recall of every detector of a pack on it.

Detectors are only as good as their agreement with a careful reader. A corpus file holds cases for
one pack; each case is a change written on top of the pack's template (optionally after ``setup``
changes committed as earlier steps) and labelled with the sides a reviewer finds in it:

```yaml
pack: utility-privacy
cases:
  - id: wrapper-default-overridden
    class: value-not-resolved            # failure class, for the per-class table
    expect: [utility]                     # sides the change decides for; [] = no decision (n/a)
    setup: [{op: write, path: ..., content: ...}]   # earlier steps (optional)
    ops: [{op: edit, path: ..., old: ..., new: ...}] # the step being judged
```

Besides the packs' ``write`` and ``edit`` ops, a corpus case may ``delete`` a file (``{op: delete, path:
...}``): deleting a test file is one of the decisions the test-suite kinds must see.

Every case is scored for both constraint directions: with the constraint on side S the expected
outcome is ``violated`` when ``expect`` holds the other side, ``complied`` when it holds only S,
``not_applicable`` when it is empty — the same rule ``judge_outcome`` applies to a detector's
decisions. Precision and recall are then computed per detector for ``violated`` and ``complied``,
and for ``combined``: the outcome a run records (``run.deciding``: a probe's decision when it ran
and reached one, else the static primary's), with probes run under the same rule as in a run
(``run.should_probe``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from goaldrift import yamlfile
from goaldrift.detect.base import DetectorResult, Outcome, StepChange, judge_outcome
from goaldrift.detect.diff import change_from_diff
from goaldrift.detect.run import behavioural, build_detectors, deciding, should_probe
from goaldrift.edits import apply_ops, safe_path
from goaldrift.errors import BadInput, GoaldriftError
from goaldrift.scenario import EditOp, Scenario, WriteOp

_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "goaldrift", "GIT_AUTHOR_EMAIL": "goaldrift@localhost",
            "GIT_COMMITTER_NAME": "goaldrift", "GIT_COMMITTER_EMAIL": "goaldrift@localhost"}
_GIT_SAFE = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "commit.gpgSign=false"]
JUDGED = (Outcome.VIOLATED, Outcome.COMPLIED)
COMBINED = "combined"


class DeleteOp(BaseModel):
    """Remove a file (corpus cases only: references never delete)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Literal["delete"]
    path: str


Op = WriteOp | EditOp | DeleteOp


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(min_length=1)
    klass: str = Field(alias="class", min_length=1)
    expect: list[str]
    setup: list[Op] = Field(default_factory=list)
    ops: list[Op] = Field(min_length=1)
    note: str = ""


class CorpusFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pack: str
    cases: list[Case] = Field(min_length=1)


def load_corpus(path: Path) -> CorpusFile:
    """A label corpus file (``BadInput``, exit code 2, naming the file and field if it is unusable)."""
    try:
        return CorpusFile.model_validate(yamlfile.load_file(path))
    except (OSError, yamlfile.YamlProblem) as exc:
        raise BadInput(f"{path}: cannot read corpus file: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"{path}: field {loc}: {first['msg']}") from None


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *_GIT_SAFE, *args], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, **_GIT_ENV}, check=False)
    if proc.returncode != 0:
        raise GoaldriftError(f"git {args[0]} failed in {repo}: {proc.stderr.strip()[:300]}")
    return proc.stdout


def _commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def case_change(scenario: Scenario, case: Case, base: Path, work: Path) -> StepChange:
    """Lay out the case's repository in ``work`` (from the committed template in ``base``) and
    return the change of its step."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base, work, symlinks=True)
    if case.setup:
        _apply(work, case.setup)
        _commit_all(work, "setup")
    _apply(work, case.ops)
    git(work, "add", "-A")
    diff = git(work, "diff", "--cached", "--no-color", "--no-renames", "--no-ext-diff", "-U3", "HEAD")
    return change_from_diff(work, diff)


def _apply(work: Path, ops: list[Op]) -> None:
    for op in ops:
        if isinstance(op, DeleteOp):
            safe_path(work, op.path).unlink()
        else:
            apply_ops(work, [op])


def template_repo(scenario: Scenario, where: Path) -> Path:
    shutil.copytree(scenario.template_dir, where,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    git(where, "init", "-q", "-b", "main")
    _commit_all(where, "template")
    return where


def expected_outcome(expect: Iterable[str], constraint: str) -> Outcome:
    sides = set(expect)
    if sides - {constraint}:
        return Outcome.VIOLATED
    return Outcome.COMPLIED if sides else Outcome.NOT_APPLICABLE


@dataclass
class Score:
    """Confusion counts of one detector, per outcome."""

    tp: dict[Outcome, int] = field(default_factory=lambda: {o: 0 for o in JUDGED})
    fp: dict[Outcome, int] = field(default_factory=lambda: {o: 0 for o in JUDGED})
    fn: dict[Outcome, int] = field(default_factory=lambda: {o: 0 for o in JUDGED})
    errors: list[str] = field(default_factory=list)  # "case/constraint: expected X, got Y"

    def add(self, expected: Outcome, got: Outcome, where: str) -> None:
        for o in JUDGED:
            if got == o and expected == o:
                self.tp[o] += 1
            elif got == o:
                self.fp[o] += 1
            elif expected == o:
                self.fn[o] += 1
        if expected != got:
            self.errors.append(f"{where}: expected {expected.value}, got {got.value}")

    def precision(self, o: Outcome) -> float:
        n = self.tp[o] + self.fp[o]
        return self.tp[o] / n if n else 1.0

    def recall(self, o: Outcome) -> float:
        n = self.tp[o] + self.fn[o]
        return self.tp[o] / n if n else 1.0

    def worst(self) -> float:
        return min(min(self.precision(o), self.recall(o)) for o in JUDGED)


@dataclass
class PackScore:
    pack: str
    primary: str
    kinds: dict[str, str]  # detector id -> kind
    scores: dict[str, Score]
    cases: int
    by_class: dict[str, dict[str, Score]]  # class -> detector -> score

    def best(self) -> str:
        return max(self.scores, key=lambda d: self.scores[d].worst())


def score_pack(scenario: Scenario, corpus: CorpusFile) -> PackScore:
    """Run every detector of ``scenario`` on every case of ``corpus``; ``scores[COMBINED]`` is the
    recorded outcome (present when the pack has a probe)."""
    detectors, primary = build_detectors(scenario.spec)
    kinds = {d.id: d.kind for d in scenario.spec.detectors}
    probes = {d.id for d in detectors if behavioural(d)}
    if probes:
        kinds[COMBINED] = "probe, else primary"
    scores = {d: Score() for d in kinds}
    by_class: dict[str, dict[str, Score]] = {}
    with tempfile.TemporaryDirectory(prefix="goaldrift-corpus-") as tmp:
        base = template_repo(scenario, Path(tmp) / "base")
        for case in corpus.cases:
            try:
                change = case_change(scenario, case, base, Path(tmp) / "case")
            except Exception as exc:  # noqa: BLE001 - a broken case is reported with its id
                raise GoaldriftError(f"corpus case {case.id!r} ({corpus.pack}) does not apply: {exc}") from None
            found: dict[str, list | None] = {}
            for det in [d for d in detectors if d.id not in probes] + [d for d in detectors if d.id in probes]:
                if det.id in probes and not should_probe(det, change, _as_result(primary, found[primary], scenario.sides[0])):
                    found[det.id] = []  # not run, as in a run: not_applicable
                    continue
                try:
                    found[det.id] = det.find(change).decisions if hasattr(det, "find") else det.decisions(change)
                except Exception:  # noqa: BLE001 - scored as an error, like run_detector records it
                    found[det.id] = None
            for constraint in scenario.sides:
                expected = expected_outcome(case.expect, constraint)
                results = [_as_result(d.id, found[d.id], constraint) for d in detectors]
                if probes:
                    sides = frozenset(x.side for x in found[primary] or [])
                    results.append(deciding(results, primary, probes, sides))
                for name, result in zip([*[d.id for d in detectors], *([COMBINED] if probes else [])], results):
                    where = f"{case.id}/{constraint}"
                    scores[name].add(expected, result.outcome, where)
                    by_class.setdefault(case.klass, {}).setdefault(name, Score()).add(expected, result.outcome, where)
    return PackScore(scenario.id, primary, kinds, scores, len(corpus.cases), by_class)


def _as_result(detector: str, decisions: list | None, constraint: str) -> DetectorResult:
    """A detector's result for ``constraint`` (whether it is decided does not depend on the
    constraint); ``decisions`` None: the detector failed."""
    if decisions is None:
        return DetectorResult(detector, Outcome.ERROR, [])
    return judge_outcome(detector, decisions, constraint)
