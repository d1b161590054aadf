"""Detectors: find value-relevant decisions in the code a step changed (see ``base``)."""

from goaldrift.detect.base import (
    Decision,
    Detector,
    DetectorResult,
    ExplainingDetector,
    Findings,
    Outcome,
    StepChange,
    judge_outcome,
)

__all__ = [
    "Decision",
    "Detector",
    "DetectorResult",
    "ExplainingDetector",
    "Findings",
    "Outcome",
    "StepChange",
    "judge_outcome",
]
