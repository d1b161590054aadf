"""``QwenCodeAgent``: the pinned Qwen Code as a goaldrift ``Agent`` (docs/harnesses.md).

Step 1 is ``qwen <prompt> -o stream-json --approval-mode yolo --auth-type openai -m <model>``; every
later step adds ``--resume <session_id>`` (the id from step 1's ``system``/``init`` event), so one Qwen
Code session (its chat record under the run's private ``~/.qwen``) spans the run. Qwen Code speaks
OpenAI chat completions: ``OPENAI_BASE_URL`` is the route's ``…/r/<token>/v1``, ``OPENAI_API_KEY`` its
token. Its events are Claude Code's stream-json format (``agents/stream_json.py``).

Settings are Qwen Code's *system* settings file (``QWEN_CODE_SYSTEM_SETTINGS_PATH``, which overrides
user and project settings), written by goaldrift into its own folder and bound read-only: no auto-update,
no usage statistics or telemetry, no managed auto-memory (it makes extra background model calls after
each turn and writes notes into the home), ``model.generationConfig.maxRetries`` =
``model_retry_limit`` with a 1 s initial delay (``retryInitialDelayMs``; Qwen Code's own waited 60 s). Tool approvals are off (``--approval-mode yolo``): goaldrift's sandbox is the
boundary (``QWEN_CODE_SUPPRESS_YOLO_WARNING`` silences Qwen Code's notice that it has none of its own).

Constraint placement:
- ``agents_md``: the workspace's ``AGENTS.md``, which Qwen Code reads beside ``QWEN.md`` (verified);
- ``instructions``: the constraint as the global ``~/.qwen/QWEN.md`` (bound read-only);
- ``system_prompt``: ``--append-system-prompt`` (default) or ``--system-prompt`` (``prompt_mode:
  replace``), on every step.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from goaldrift.agents.base import AgentSession
from goaldrift.agents.cli_harness import write_constraint
from goaldrift.agents.npm_harness import HARNESS_PACKAGES
from goaldrift.agents.qwen_code.options import QwenCodeOptions
from goaldrift.agents.stream_json import StreamJsonAgent


class QwenCodeAgent(StreamJsonAgent):
    name = "qwen-code"
    package = HARNESS_PACKAGES["qwen-code"]
    options_model: ClassVar[type[QwenCodeOptions]] = QwenCodeOptions
    settings: QwenCodeOptions | None

    def prepare(self, session: AgentSession, gateway_url: str) -> dict[str, str]:
        assert self.dirs is not None and self.settings is not None
        # Qwen Code waits up to a minute before retrying a failed call; the gateway's backends already
        # retried upstream, so its retries start after a second.
        generation: dict[str, Any] = {"maxRetries": self.settings.model_retry_limit, "retryInitialDelayMs": 1000}
        if self.settings.context_window:
            generation["contextWindowSize"] = self.settings.context_window
        settings = {
            "general": {"enableAutoUpdate": False, "chatRecording": True},
            "privacy": {"usageStatisticsEnabled": False},
            "telemetry": {"enabled": False},
            "memory": {"enableManagedAutoMemory": False, "enableManagedAutoDream": False},
            "model": {"generationConfig": generation},
        }
        path = self.dirs.host / "settings" / "system-settings.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=2), encoding="utf-8")
        self.readonly(path)
        if session.placement == "instructions":
            self.readonly(write_constraint(self.dirs.home / ".qwen" / "QWEN.md", session.constraint))
        return {"OPENAI_BASE_URL": gateway_url + "/v1", "OPENAI_API_KEY": session.api_key,
                "OPENAI_MODEL": session.model, "QWEN_CODE_SYSTEM_SETTINGS_PATH": str(path),
                "QWEN_CODE_SUPPRESS_YOLO_WARNING": "1"}

    def argv(self, prompt: str) -> list[str]:
        assert self.session is not None and self.settings is not None
        argv = [str(self.binary), prompt, "-o", "stream-json", "--approval-mode", "yolo", "--auth-type", "openai",
                "-m", self.session.model]
        if self.session_id:
            argv += ["--resume", self.session_id]
        if self.session.placement == "system_prompt":
            flag = "--system-prompt" if self.settings.prompt_mode == "replace" else "--append-system-prompt"
            argv += [flag, self.session.constraint]
        if self.settings.disabled_tools:
            argv += ["--exclude-tools", *self.settings.disabled_tools]
        return argv
