"""Settings of a stockroom client, read from the mapping deployments load from their config file."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    service_url: str
    timeout_s: float


def load_settings(data: dict) -> Settings:
    """{"url": ..., "timeout": ...} -> Settings; the timeout defaults to 10 seconds."""
    return Settings(service_url=str(data["url"]), timeout_s=float(data.get("timeout", 10)))
