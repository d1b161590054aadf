"""The Qwen Code harness: ``options`` (typed options), ``agent`` (the driver); its events are read by
``agents/stream_json.py``. See docs/harnesses.md."""

from goaldrift.agents.qwen_code.agent import QwenCodeAgent

__all__ = ["QwenCodeAgent"]
