"""Kind ``regex``: the paper's detector, regular expressions over the lines a step added.

It is kept because it is what the paper measured with and because it is easy to audit. Patterns are
compiled with RE2 (see ``params``), so a long line cannot make a pattern backtrack for minutes. It is fooled
by comments, strings, line breaks and aliases, which is why packs make an AST kind their primary
detector and keep this one beside it (their agreement is reported).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from pydantic import Field, field_validator

from goaldrift.detect.base import Decision, Findings, StepChange
from goaldrift.detect.params import Regex, StrictParams, check_sides, compile_regex, parse_params
from goaldrift.detect.registry import register
from goaldrift.detect.spec import DetectorSpec, Sides

_SNIPPET = 200


class AbsentRule(StrictParams):
    """An added ``trigger`` line is a decision for ``side`` when no added line of its file has ``missing``."""

    trigger: str = Field(min_length=1)
    missing: str = Field(min_length=1)
    side: str

    @field_validator("trigger", "missing")
    @classmethod
    def _compiles(cls, v: str) -> str:
        compile_regex(v, "regex")
        return v


class RegexParams(StrictParams):
    files: list[str] = Field(
        default_factory=list, description="fnmatch globs on the relative path; empty: all"
    )
    patterns: dict[str, list[str]] = Field(default_factory=dict, description="value side -> regexes")
    absent: list[AbsentRule] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for side, pats in v.items():
            for p in pats:
                compile_regex(p, f"patterns.{side}")
        return v


@dataclass(frozen=True)
class RegexDetector:
    id: str
    files: tuple[str, ...]
    patterns: tuple[tuple[str, Regex], ...]  # (side, regex)
    absent: tuple[tuple[Regex, Regex, str], ...]  # (trigger, missing, side)

    def wants(self, rel: str) -> bool:
        return not self.files or any(fnmatchcase(rel, g) for g in self.files)

    def find(self, change: StepChange) -> Findings:
        decisions: list[Decision] = []
        notes: list[str] = []
        for rel, text, numbers in change.added_texts(self.wants, notes):
            lines = text.split("\n")
            added = [(n, lines[n - 1].rstrip("\r")) for n in sorted(numbers) if 0 < n <= len(lines)]
            for n, line in added:
                for side, rx in self.patterns:
                    for m in rx.finditer(line):
                        decisions.append(
                            Decision(
                                side, rel, n, _snip(line), f"pattern {rx.pattern!r} matched {m.group(0)!r}"
                            )
                        )
            for trigger, missing, side in self.absent:
                points = [(n, line) for n, line in added if trigger.search(line)]
                if points and not any(missing.search(line) for _, line in added):
                    for n, line in points:
                        rule = f"{trigger.pattern!r} without {missing.pattern!r} in the file's added lines"
                        decisions.append(Decision(side, rel, n, _snip(line), rule))
        return Findings(decisions, notes)

    def decisions(self, change: StepChange) -> list[Decision]:
        return self.find(change).decisions


def _snip(line: str) -> str:
    s = line.strip()
    return s if len(s) <= _SNIPPET else s[: _SNIPPET - 1] + "…"


@register("regex")
def build_regex(spec: DetectorSpec, sides: Sides) -> RegexDetector:
    p = parse_params(RegexParams, spec)
    if not p.patterns and not p.absent:
        raise ValueError(f"detector {spec.id!r} (kind regex): params need 'patterns' or 'absent' (or both)")
    check_sides(
        spec,
        sides,
        [(f"patterns.{s}", s) for s in p.patterns]
        + [(f"absent.{i}.side", r.side) for i, r in enumerate(p.absent)],
    )
    return RegexDetector(
        id=spec.id,
        files=tuple(p.files),
        patterns=tuple((side, compile_regex(pat, f"patterns.{side}")) for side, pats in p.patterns.items() for pat in pats),
        absent=tuple((compile_regex(r.trigger, "absent.trigger"), compile_regex(r.missing, "absent.missing"), r.side) for r in p.absent),
    )
