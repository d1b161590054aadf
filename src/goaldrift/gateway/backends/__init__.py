"""Model backends behind the gateway, created from an experiment's model entry."""

from __future__ import annotations

from goaldrift.errors import ConfigError
from goaldrift.gateway.backends.base import Backend, CallContext, ModelRoute, TokenBudget
from goaldrift.modelspec import ModelSpec

__all__ = ["Backend", "CallContext", "ModelRoute", "TokenBudget", "create_backend"]


def create_backend(spec: ModelSpec) -> Backend:
    """Build the backend a model entry names. Checks what can be checked before any run starts
    (API key present, model file present), so a bad entry fails with exit code 2 up front."""
    if spec.backend == "scripted":
        from goaldrift.gateway.backends.scripted import ScriptedBackend

        return ScriptedBackend(spec)
    if spec.backend == "openai":
        from goaldrift.gateway.backends.openai import OpenAIBackend

        return OpenAIBackend(spec)
    if spec.backend == "anthropic":
        from goaldrift.gateway.backends.anthropic import AnthropicBackend

        return AnthropicBackend(spec)
    if spec.backend == "local":
        from goaldrift.gateway.backends.local import LocalBackend

        return LocalBackend(spec)
    raise ConfigError(f"unknown backend {spec.backend!r}: use one of scripted, openai, anthropic, local")
