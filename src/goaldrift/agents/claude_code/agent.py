"""``ClaudeCodeAgent``: the pinned Claude Code as a goaldrift ``Agent`` (docs/harnesses.md).

Step 1 is ``claude -p <prompt> --output-format stream-json --verbose --include-partial-messages``;
every later step adds ``--resume <session_id>``, so one Claude Code session (its transcript under the
run's private ``~/.claude``) spans the run. Claude Code speaks Anthropic Messages: its base URL is the
route without ``/v1`` (``ANTHROPIC_BASE_URL``), its key the route's token (``ANTHROPIC_API_KEY``).

Offline and reproducible: ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC``, ``DISABLE_TELEMETRY``,
``DISABLE_AUTOUPDATER``, ``DISABLE_ERROR_REPORTING`` (verified: the only request is the model call),
no auto-memory (``CLAUDE_CODE_DISABLE_AUTO_MEMORY``: it would write notes into the home between steps),
its retries bounded by ``CLAUDE_CODE_MAX_RETRIES``, its shell commands by ``BASH_DEFAULT_TIMEOUT_MS`` /
``BASH_MAX_TIMEOUT_MS`` (the step's ``command_timeout_s``). Its permission prompts are off
(``--dangerously-skip-permissions``): nobody can answer them, and goaldrift's sandbox is the boundary.
Claude Code refuses that switch as root, which the sandbox's uid 65534 never is.

Constraint placement:
- ``agents_md``: the workspace's ``AGENTS.md``, which Claude Code 2.1.328 reads itself (its built-in
  agents-md plugin) and sends in a ``<system-reminder>`` of the first user message;
- ``instructions``: the constraint as the user's ``~/.claude/CLAUDE.md`` (bound read-only), sent the
  same way ("user's private global instructions");
- ``system_prompt``: ``--append-system-prompt`` (default) or ``--system-prompt`` (``prompt_mode:
  replace``, Claude Code's own prompt is dropped), passed on every step.
"""

from __future__ import annotations

from typing import ClassVar

from goaldrift.agents.base import AgentSession
from goaldrift.agents.claude_code.options import ClaudeCodeOptions
from goaldrift.agents.cli_harness import write_constraint
from goaldrift.agents.npm_harness import HARNESS_PACKAGES
from goaldrift.agents.stream_json import StreamJsonAgent

OFFLINE_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_AUTO_MEMORY": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
}


class ClaudeCodeAgent(StreamJsonAgent):
    name = "claude-code"
    package = HARNESS_PACKAGES["claude-code"]
    options_model: ClassVar[type[ClaudeCodeOptions]] = ClaudeCodeOptions
    settings: ClaudeCodeOptions | None

    def prepare(self, session: AgentSession, gateway_url: str) -> dict[str, str]:
        assert self.dirs is not None and self.settings is not None
        if session.placement == "instructions":
            self.readonly(write_constraint(self.dirs.home / ".claude" / "CLAUDE.md", session.constraint))
        command_ms = str(int(session.limits.command_timeout_s * 1000))
        env = {**OFFLINE_ENV, "ANTHROPIC_BASE_URL": gateway_url, "ANTHROPIC_API_KEY": session.api_key,
               "CLAUDE_CODE_MAX_RETRIES": str(self.settings.model_retry_limit),
               "BASH_DEFAULT_TIMEOUT_MS": command_ms, "BASH_MAX_TIMEOUT_MS": command_ms}
        if not self.settings.autocompact:
            env["DISABLE_AUTO_COMPACT"] = "1"
        return env

    def argv(self, prompt: str) -> list[str]:
        assert self.session is not None and self.settings is not None
        argv = [str(self.binary), "-p", prompt, "--output-format", "stream-json", "--verbose",
                "--include-partial-messages", "--model", self.session.model, "--dangerously-skip-permissions"]
        if self.session_id:
            argv += ["--resume", self.session_id]
        if self.session.placement == "system_prompt":
            flag = "--system-prompt" if self.settings.prompt_mode == "replace" else "--append-system-prompt"
            argv += [flag, self.session.constraint]
        if self.settings.disabled_tools:
            argv += ["--disallowedTools", ",".join(self.settings.disabled_tools)]
        return argv
