"""``CodexAgent``: the pinned Codex CLI as a goaldrift ``Agent`` (docs/harnesses.md).

Step 1 is ``codex exec --json … <prompt>``; every later step is ``codex exec --json … resume
<thread_id> <prompt>``, so one Codex thread (its session file under the run's private ``CODEX_HOME``)
spans the run. Codex speaks OpenAI Responses (custom providers must: chat completions support was
removed), so the run's route is a custom provider ``gd`` with ``wire_api = "responses"``, its base
URL the route's ``…/r/<token>/v1`` and its key the route's token (``GD_GATEWAY_TOKEN``).

Everything is configured on the command line (``-c key=value``, TOML values), which Codex reads over
any ``config.toml``: a file the agent could have written into its home never decides the provider.
Offline: ``check_for_update_on_startup = false``, ``analytics.enabled = false``, and the sandbox has no
other route anyway. The provider retries a failed request ``model_retry_limit`` times and never
reconnects a stream (``stream_max_retries = 0``): the two loops nest, so both at N would make
(N + 1)² calls, and the gateway's backends already retried upstream. Codex's sandbox and approval
prompts are off (``--dangerously-bypass-approvals-and-sandbox``): goaldrift's sandbox is the boundary.
``CODEX_HOME`` is ``<run>/agent/codex/home/.codex``; Codex declines to create its helper links when
that is under ``/tmp`` (a warning only, seen in tests).

Constraint placement:
- ``agents_md``: the workspace's ``AGENTS.md``, Codex's own instruction file (sent as a user message
  "# AGENTS.md instructions for <dir>" at the start of the thread);
- ``instructions``: the constraint as the global ``$CODEX_HOME/AGENTS.md`` (bound read-only);
- ``system_prompt``: ``developer_instructions`` (default; a developer message after Codex's own
  prompt) or ``model_instructions_file`` (``prompt_mode: replace``: Codex's prompt is replaced).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from goaldrift.agents.base import AgentSession, StepTrace
from goaldrift.agents.cli_harness import CliAgent, write_constraint
from goaldrift.agents.codex import trace
from goaldrift.agents.codex.options import CodexOptions
from goaldrift.agents.npm_harness import HARNESS_PACKAGES
from goaldrift.sandbox.hostfiles import UnsafeFile

PROVIDER = "gd"
TOKEN_VARIABLE = "GD_GATEWAY_TOKEN"


def _toml(value: Any) -> str:
    """A TOML value for ``-c``: JSON strings, numbers and booleans are valid TOML."""
    return json.dumps(value)


class CodexAgent(CliAgent):
    name = "codex"
    package = HARNESS_PACKAGES["codex"]
    options_model: ClassVar[type[CodexOptions]] = CodexOptions
    settings: CodexOptions | None

    def prepare(self, session: AgentSession, gateway_url: str) -> dict[str, str]:
        assert self.dirs is not None and self.settings is not None
        codex_home = self.dirs.home / ".codex"
        codex_home.mkdir(parents=True, exist_ok=True)
        self.session_file = trace.SessionFile(codex_home)
        retries = self.settings.model_retry_limit
        provider = (f'{{name="goaldrift gateway", base_url={_toml(gateway_url + "/v1")}, '
                    f'env_key="{TOKEN_VARIABLE}", wire_api="responses", '
                    f"request_max_retries={retries}, stream_max_retries=0}}")
        config = {"model_provider": _toml(PROVIDER), f"model_providers.{PROVIDER}": provider,
                  "check_for_update_on_startup": "false", "analytics.enabled": "false"}
        if self.settings.context_window:
            config["model_context_window"] = str(self.settings.context_window)
        if session.placement == "instructions":
            self.readonly(write_constraint(codex_home / "AGENTS.md", session.constraint))
        elif session.placement == "system_prompt" and self.settings.prompt_mode == "replace":
            prompt = self.readonly(write_constraint(self.dirs.host / "instructions" / "PROMPT.md",
                                                    session.constraint))
            config["model_instructions_file"] = _toml(str(prompt))
        elif session.placement == "system_prompt":
            config["developer_instructions"] = _toml(session.constraint)
        self.config = config
        return {"CODEX_HOME": str(codex_home), TOKEN_VARIABLE: session.api_key}

    def argv(self, prompt: str) -> list[str]:
        assert self.session is not None
        argv = [str(self.binary), "exec", "--json", "--skip-git-repo-check",
                "--dangerously-bypass-approvals-and-sandbox", "-m", self.session.model]
        for key, value in self.config.items():
            argv += ["-c", f"{key}={value}"]
        if self.session_id:
            argv += ["resume", self.session_id]
        return [*argv, prompt]

    def count(self, event: dict[str, Any]) -> tuple[int, int]:
        return trace.count(event)

    def fold(self, events: list[dict[str, Any]]) -> StepTrace:
        thread_id = self.session_id or next((e.get("thread_id") for e in events
                                             if e.get("type") == "thread.started"), None)
        try:
            lines = self.session_file.read_new(thread_id)
            error = None
        except UnsafeFile as exc:
            lines, error = [], f"session record unavailable: {exc}"
        folded, found = trace.fold(events, lines)
        self.session_id = self.session_id or found
        if error:
            folded.raw["session_file_error"] = error
        return folded
