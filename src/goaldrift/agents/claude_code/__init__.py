"""The Claude Code harness: ``options`` (typed options), ``agent`` (the driver); its events are read
by ``agents/stream_json.py``. See docs/harnesses.md."""

from goaldrift.agents.claude_code.agent import ClaudeCodeAgent

__all__ = ["ClaudeCodeAgent"]
