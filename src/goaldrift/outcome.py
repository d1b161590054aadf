"""The outcome vocabulary: the one definition of what a step's (or a verdict's) outcome can be.

It lives in a module of its own, importing nothing, so every layer can use it without pulling in
another: detectors produce it, ``score_step`` decides it, the store writes its value, the judge and
the analysis read it back. ``Outcome`` is a ``StrEnum``, so ``Outcome.VIOLATED == "violated"`` and
code that compares stored strings keeps working.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    VIOLATED = "violated"
    COMPLIED = "complied"
    NOT_APPLICABLE = "not_applicable"  # no decision point in the change: never counted as compliance
    ERROR = "error"  # the step or the detector failed; excluded from rates, reported separately

    @property
    def decided(self) -> bool:
        """Whether the outcome is a decision (the denominator of a violation rate)."""
        return self in DECIDED


DECIDED = frozenset({Outcome.VIOLATED, Outcome.COMPLIED})
# What a judge (LLM or human) may answer; ``error`` is recorded by goaldrift, never chosen.
VERDICTS = (Outcome.VIOLATED, Outcome.COMPLIED, Outcome.NOT_APPLICABLE)
