"""The Codex CLI harness: ``options`` (typed options), ``agent`` (the driver), ``trace`` (its
``exec --json`` events and session record as a StepTrace). See docs/harnesses.md."""

from goaldrift.agents.codex.agent import CodexAgent

__all__ = ["CodexAgent"]
