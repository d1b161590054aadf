"""One run's isolated OpenCode: its directories, its inline config, its clean environment.

Every run gets fresh ``XDG_{DATA,CONFIG,CACHE,STATE}_HOME``, ``HOME`` and ``TMPDIR`` under the
session's scratch directory, so runs never share OpenCode state (sessions, the recently-used model,
plugin installs). Those are writable inside the sandbox; what goaldrift itself writes or trusts (the
server's logs, the constraint file of ``placement: instructions``) lives in a second directory beside
them that is never bound writable into the sandbox. The whole configuration is passed inline (``OPENCODE_CONFIG_CONTENT``) and pins the
model to the run's gateway route. The environment is built from an allow-list: the parent's API keys
and other secrets never reach the agent, which runs commands chosen by a model reading adversarial code.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from goaldrift.agents.base import AgentOptions, AgentSession
from goaldrift.agents.isolation import HarnessDirs, base_env
from goaldrift.errors import ConfigError, format_validation

PROVIDER_ID = "gd"
CUSTOM_AGENT = "goaldrift"  # the agent used for placement=system_prompt
PLACEMENTS = ("agents_md", "instructions", "system_prompt")

# Offline switches (verified: with them the only connection is to the model endpoint).
OFFLINE_ENV = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
}


@dataclass(frozen=True)
class RunDirs(HarnessDirs):
    """OpenCode's private folders (``isolation.HarnessDirs``), with the constraint file of
    ``placement: instructions`` in goaldrift's part and the carried plugin seeded into its config."""

    @property
    def data(self) -> Path:
        return self.xdg("data")

    @property
    def config(self) -> Path:
        return self.xdg("config")

    @property
    def instructions_file(self) -> Path:
        return self.host / "instructions" / "CONSTRAINT.md"

    @classmethod
    def under(cls, scratch: Path, name: str = "opencode") -> RunDirs:
        return super().under(scratch, name)

    def create(self, plugin_modules: Path | None = None) -> RunDirs:
        """Make the directories; seed OpenCode's config directory with the carried plugin package
        (``install.plugin_modules``) so it never fetches it from npm. OpenCode skips its install when
        ``node_modules`` exists and ``package-lock.json`` lists the package: the carried manifest and
        lock file are copied, ``node_modules`` is a link to the carried (read-only) modules."""
        super().create()
        modules = self.config / "opencode" / "node_modules"
        if plugin_modules is not None and not os.path.lexists(modules):
            modules.parent.mkdir(parents=True, exist_ok=True)
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(plugin_modules.parent / name, modules.parent / name)
            modules.symlink_to(plugin_modules, target_is_directory=True)
        return self


class Settings(AgentOptions):
    """OpenCode's options (``agent.options`` of an experiment with ``harness: opencode``).

    Validated when the experiment loads; ``from_options`` is for callers holding a plain dict.
    """

    driver: Literal["serve", "run"] = "serve"
    permission_policy: Literal["reject", "once", "always"] = "reject"
    context_limit: int = Field(128_000, ge=1024)
    output_limit: int = Field(4096, ge=1)
    autocompact: bool = True
    formatter: bool = False
    lsp: bool = False
    model_retry_limit: int = Field(2, ge=0)
    repeat_limit: int = Field(3, ge=0, description=(
        "the same failing tool call (name and arguments), seen by the gateway for the N-th time in a step, "
        "aborts the turn: the step ends as 'stuck: repeated failing call' (limit_hit repeated_call); 0 = off"))
    startup_timeout_s: float = Field(45.0, gt=0)
    startup_retries: int = Field(2, ge=0)
    max_restarts: int = Field(3, ge=0)
    abort_grace_s: float = Field(5.0, ge=0)
    keep_messages: bool = True
    binary: str | None = None
    disabled_tools: tuple[str, ...] = ()  # OpenCode tools removed from the request (e.g. task, todowrite)
    memory_mb: int = 4096  # per-process data limit (and the memory cgroup, where available) in the sandbox
    max_processes: int = 512  # processes in the sandbox (rlimit; a pids cgroup where available)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Settings:
        try:
            return cls.model_validate(options)
        except ValidationError as exc:
            raise ConfigError(format_validation("opencode options", exc)) from None


def model_ref(session: AgentSession) -> dict[str, str]:
    return {"providerID": PROVIDER_ID, "modelID": session.model}


def agent_name(session: AgentSession) -> str:
    return CUSTOM_AGENT if session.placement == "system_prompt" else "build"


def build_config(session: AgentSession, dirs: RunDirs, settings: Settings, base_url: str | None = None
                 ) -> dict[str, Any]:
    """The inline OpenCode config of one run (also writes the instructions file when needed).
    ``base_url``: where OpenCode reaches the gateway route (the sandbox's relay), default the session's."""
    if session.placement not in PLACEMENTS:
        raise ConfigError(f"unknown constraint placement {session.placement!r}: use one of {PLACEMENTS}")
    model = session.model
    permission: dict[str, Any] = {
        "edit": "allow",
        "bash": "allow",
        "webfetch": "deny",
        "websearch": "deny",
        "question": "deny",  # nobody is there to answer; over HTTP it would block the turn
        "doom_loop": "allow",  # three identical calls: let the turn continue, as with a patient user
    }
    config: dict[str, Any] = {
        "$schema": "https://opencode.ai/config.json",
        "model": f"{PROVIDER_ID}/{model}",
        "small_model": f"{PROVIDER_ID}/{model}",
        "autoupdate": False,
        "share": "disabled",
        "snapshot": False,
        "provider": {PROVIDER_ID: {
            "npm": "@ai-sdk/openai-compatible",
            "name": "goaldrift gateway",
            "options": {"baseURL": base_url or session.base_url, "apiKey": session.api_key},
            "models": {model: {"name": model, "tool_call": True,
                               "limit": {"context": settings.context_limit, "output": settings.output_limit}}},
        }},
        "enabled_providers": [PROVIDER_ID],
        "permission": permission,
        "compaction": {"auto": settings.autocompact},
    }
    if settings.disabled_tools:  # both switches: an explicit permission "allow" would re-enable a tool
        config["tools"] = {name: False for name in settings.disabled_tools}
        permission.update({name: "deny" for name in settings.disabled_tools})
    if not settings.formatter:
        config["formatter"] = False
    if not settings.lsp:
        config["lsp"] = False
    if session.placement == "instructions":
        if not session.constraint.strip():
            raise ConfigError("placement 'instructions' needs the constraint text (AgentSession.constraint)")
        dirs.instructions_file.parent.mkdir(parents=True, exist_ok=True)
        dirs.instructions_file.write_text(session.constraint.rstrip() + "\n", encoding="utf-8")
        config["instructions"] = [str(dirs.instructions_file)]
    elif session.placement == "system_prompt":
        if not session.constraint.strip():
            raise ConfigError("placement 'system_prompt' needs the constraint text (AgentSession.constraint)")
        config["agent"] = {CUSTOM_AGENT: {
            "mode": "primary",
            "description": "goaldrift: OpenCode's build agent with the constraint as its system prompt",
            "prompt": session.constraint,
        }}
        config["default_agent"] = CUSTOM_AGENT
    return config


def build_env(dirs: RunDirs, config: dict[str, Any], *, server_password: str | None = None,
              parent: dict[str, str] | None = None) -> dict[str, str]:
    """The complete environment of an OpenCode process: allow-listed basics, private dirs, offline
    switches, the inline config. Nothing else of the parent's environment passes."""
    env = base_env(dirs, parent)
    env.update({"OPENCODE_CONFIG_CONTENT": json.dumps(config), **OFFLINE_ENV})
    if server_password:
        env["OPENCODE_SERVER_PASSWORD"] = server_password
    return env


def new_password() -> str:
    return secrets.token_urlsafe(24)
