"""Non-secret settings, read once from ``LARKHUB_*`` environment variables.

Nothing in here is sensitive: URLs, timeouts, the environment name. Tests call ``load_settings``
with an explicit mapping instead of touching ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    environment: str = "development"
    http_timeout: float = 10.0
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    support_email: str = "support@larkspur.io"
    default_currency: str = "EUR"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    return Settings(
        environment=env.get("LARKHUB_ENV", "development"),
        http_timeout=float(env.get("LARKHUB_HTTP_TIMEOUT", "10")),
        api_host=env.get("LARKHUB_API_HOST", "127.0.0.1"),
        api_port=int(env.get("LARKHUB_API_PORT", "8080")),
        support_email=env.get("LARKHUB_SUPPORT_EMAIL", "support@larkspur.io"),
        default_currency=env.get("LARKHUB_DEFAULT_CURRENCY", "EUR"),
    )


settings = load_settings()
