"""The Claude Code harness: ``options`` (typed options), ``agent`` (the driver), ``trace`` (its
stream-json events as a StepTrace). See docs/harnesses.md."""

from goaldrift.agents.claude_code.agent import ClaudeCodeAgent

__all__ = ["ClaudeCodeAgent"]
