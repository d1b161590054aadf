"""Every integration larkhub knows, by name.

Entries are ``"module:function"`` strings so that importing the registry never imports a vendor
module (and never needs its credentials); ``create`` imports on demand and calls the module's
``build(transport=None)`` factory.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from larkhub.integrations.base import IntegrationClient
from larkhub.integrations.transport import Transport

INTEGRATIONS: dict[str, str] = {
    "geocoding": "larkhub.integrations.geocoding:build",
    "exchange_rates": "larkhub.integrations.exchange_rates:build",
    "tax": "larkhub.integrations.tax:build",
    # new integrations: add one line above this marker ("name": "larkhub.integrations.<module>:build")
}


class UnknownIntegration(KeyError):
    def __init__(self, name: str):
        super().__init__(f"unknown integration {name!r}; known: {', '.join(available())}")


def available() -> list[str]:
    return sorted(INTEGRATIONS)


def factory(name: str) -> Callable[..., IntegrationClient]:
    try:
        target = INTEGRATIONS[name]
    except KeyError:
        raise UnknownIntegration(name) from None
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr or "build")


def create(name: str, *, transport: Transport | None = None) -> IntegrationClient:
    """Build the client of integration ``name`` (with its credential) on ``transport``."""
    return factory(name)(transport=transport)
